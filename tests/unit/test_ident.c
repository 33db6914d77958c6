/*
 * Unit tests of proxy/ident.c: /proc/net/tcp rows, socket inodes and
 * lookups over real sockets on 127.0.0.1 and ::1 made in this process, with
 * children that exec /bin/sleep. Timings are printed, not asserted. (The
 * hash cache has its own file: test_ident_cache.c.)
 */
#include "ident_fixture.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

static const char *g_argv0;

/* ---- /proc/net/tcp rows --------------------------------------------------------- */

#define ROW_TAIL " 01 00000000:00000000 00:00000000 00000000  1000        0 "

static void parse_row_le_samples(void **state)
{
    (void)state;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    px_tcp_row_t r;
    uint8_t want[16];
    assert_int_equal(
        px_ident_parse_tcp_row("   0: 0100007F:8DD1 0200A8C0:0050 0A 00000000:00000000 "
                               "00:00000000 00000000     0        0 780001 1 "
                               "00000000b557b60b 100 0 0 10 0",
                               false, &r),
        0);
    inet_pton(AF_INET, "127.0.0.1", want);
    assert_memory_equal(r.laddr, want, 4);
    inet_pton(AF_INET, "192.168.0.2", want);
    assert_memory_equal(r.raddr, want, 4);
    assert_int_equal(r.lport, 0x8DD1);
    assert_int_equal(r.rport, 80);
    assert_int_equal(r.inode, 780001);
    assert_int_equal(r.family, AF_INET);
    assert_int_equal(px_ident_parse_tcp_row("  12: 00000000000000000000000001000000:1F90 "
                                            "0000000000000000FFFF00000100007F:D431" ROW_TAIL
                                            "4242 1 0000000000000000 20 4 30 10 -1\n",
                                            true, &r),
                     0);
    inet_pton(AF_INET6, "::1", want);
    assert_memory_equal(r.laddr, want, 16);
    inet_pton(AF_INET6, "::ffff:127.0.0.1", want);
    assert_memory_equal(r.raddr, want, 16);
    assert_int_equal(r.lport, 8080);
    assert_int_equal(r.rport, 0xD431);
    assert_int_equal(r.inode, 4242);
#else
    skip();
#endif
}

/* Rows written the way the kernel writes them (%08X of each 32-bit word as
 * stored in memory), parsed back, on any byte order. */
static void parse_row_kernel_format(void **state)
{
    (void)state;
    struct in6_addr a6, b6;
    inet_pton(AF_INET6, "2001:db8::dead:beef", &a6);
    inet_pton(AF_INET6, "fe80::1:2", &b6);
    uint32_t wa[4], wb[4];
    memcpy(wa, &a6, 16);
    memcpy(wb, &b6, 16);
    char line[512];
    snprintf(line, sizeof line,
             "%4d: %08X%08X%08X%08X:%04X %08X%08X%08X%08X:%04X" ROW_TAIL "%llu 1 0 20 4 30 10 -1\n",
             3, wa[0], wa[1], wa[2], wa[3], 443u, wb[0], wb[1], wb[2], wb[3], 65535u,
             18446744073709551615ull);
    px_tcp_row_t r;
    assert_int_equal(px_ident_parse_tcp_row(line, true, &r), 0);
    assert_memory_equal(r.laddr, &a6, 16);
    assert_memory_equal(r.raddr, &b6, 16);
    assert_int_equal(r.lport, 443);
    assert_int_equal(r.rport, 65535);
    assert_true(r.inode == UINT64_MAX);

    struct in_addr a4, b4;
    inet_pton(AF_INET, "10.1.2.3", &a4);
    inet_pton(AF_INET, "172.16.254.9", &b4);
    snprintf(line, sizeof line, "%4d: %08X:%04X %08X:%04X" ROW_TAIL "99 1 0 20 4 30 10 -1\n", 0,
             a4.s_addr, 1u, b4.s_addr, 3128u);
    assert_int_equal(px_ident_parse_tcp_row(line, false, &r), 0);
    assert_memory_equal(r.laddr, &a4, 4);
    assert_memory_equal(r.raddr, &b4, 4);
    assert_int_equal(r.lport, 1);
    assert_int_equal(r.rport, 3128);
    assert_int_equal(r.inode, 99);
}

static void parse_row_rejects(void **state)
{
    (void)state;
    static const char *const bad4[] = {
        "",
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
        "timeout inode",
        "   0: 0100007F:8DD1",
        "   0: 0100007F:8DD1 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0",
        "   0: 0100007G:8DD1 00000000:0000" ROW_TAIL "1",
        "   0: 100007F:8DD1 00000000:0000" ROW_TAIL "1",
        "   0: 0100007F:8DD 00000000:0000" ROW_TAIL "1",
        "   0: 0100007F:8DD1 00000000:0000" ROW_TAIL "12x",
        "   0: 0100007F:8DD1 00000000:0000" ROW_TAIL "-1",
        "   0: 0100007F:8DD1 00000000:0000" ROW_TAIL "99999999999999999999999",
        "   0 0100007F:8DD1 00000000:0000" ROW_TAIL "1",
        "   0: 00000000000000000000000001000000:1F90 "
        "00000000000000000000000000000000:0000" ROW_TAIL "1",
    };
    px_tcp_row_t r;
    for (size_t i = 0; i < sizeof bad4 / sizeof bad4[0]; i++)
        assert_int_equal(px_ident_parse_tcp_row(bad4[i], false, &r), -EINVAL);
    assert_int_equal(
        px_ident_parse_tcp_row("   0: 0100007F:8DD1 00000000:0000" ROW_TAIL "1", true, &r),
        -EINVAL);
    assert_int_equal(px_ident_parse_tcp_row(NULL, false, &r), -EINVAL);
}

/* ---- socket inodes -------------------------------------------------------------- */

/* Both ways find the inode fstat gives for the client socket. */
static void check_inode(int lfam, const char *laddr, int cfam, const char *caddr)
{
    conn_t c;
    if (conn_open(&c, lfam, laddr, cfam, caddr) != 0) {
        print_message("no %s here: skipped\n", laddr);
        return;
    }
    struct stat st;
    assert_int_equal(fstat(c.cfd, &st), 0);
    static const px_ident_via_t vias[] = {PX_IDENT_VIA_AUTO, PX_IDENT_VIA_NETLINK,
                                          PX_IDENT_VIA_PROCFS};
    for (size_t i = 0; i < 3; i++) {
        uint64_t ino = 0;
        char reason[256];
        int rc = px_ident_socket_inode((struct sockaddr *)&c.peer, (struct sockaddr *)&c.local,
                                       vias[i], &ino, reason, sizeof reason);
        if (rc != 0)
            fail_msg("%s via %d: %d %s", laddr, (int)vias[i], rc, reason);
        assert_true(ino == (uint64_t)st.st_ino);
    }
    conn_close(&c);
}

static void inode_ipv4(void **state)
{
    (void)state;
    check_inode(AF_INET, "127.0.0.1", AF_INET, "127.0.0.1");
}

static void inode_ipv6(void **state)
{
    (void)state;
    check_inode(AF_INET6, "::1", AF_INET6, "::1");
}

/* An AF_INET6 client to an IPv4 listener sits in tcp6 as ::ffff:a.b.c.d,
 * while the proxy sees it as AF_INET; the other way round, an AF_INET
 * client to a dual-stack listener appears IPv4-mapped to the proxy. */
static void inode_ipv4_mapped(void **state)
{
    (void)state;
    check_inode(AF_INET, "127.0.0.1", AF_INET6, "::ffff:127.0.0.1");
    check_inode(AF_INET6, "::", AF_INET, "127.0.0.1");
}

static void inode_bad_args(void **state)
{
    (void)state;
    struct sockaddr_storage a, b;
    socklen_t len;
    uint64_t ino;
    char reason[128];
    sa_set(&a, &len, AF_INET, "127.0.0.1", 1);
    sa_set(&b, &len, AF_INET6, "::1", 2);
    assert_int_equal(px_ident_socket_inode((struct sockaddr *)&a, (struct sockaddr *)&b,
                                           PX_IDENT_VIA_AUTO, &ino, reason, sizeof reason),
                     -EINVAL);
    struct sockaddr un = {.sa_family = AF_UNIX};
    assert_int_equal(
        px_ident_socket_inode(&un, &un, PX_IDENT_VIA_AUTO, &ino, reason, sizeof reason), -EINVAL);
    assert_int_equal(
        px_ident_socket_inode(NULL, (struct sockaddr *)&a, PX_IDENT_VIA_AUTO, &ino, NULL, 0),
        -EINVAL);
    /* nothing listens on port 1 of ::1 from port 2: not found, said so */
    sa_set(&a, &len, AF_INET6, "::1", 2);
    sa_set(&b, &len, AF_INET6, "::1", 1);
    for (int via = PX_IDENT_VIA_AUTO; via <= PX_IDENT_VIA_PROCFS; via++) {
        assert_int_equal(px_ident_socket_inode((struct sockaddr *)&a, (struct sockaddr *)&b,
                                               (px_ident_via_t)via, &ino, reason, sizeof reason),
                         -ENOENT);
        assert_non_null(strstr(reason, "no TCP socket from [::1]:2 to [::1]:1"));
    }
}

/* ---- lookups ------------------------------------------------------------------------ */

/* The connection's client end is this very process. */
static void check_self(int family, const char *addr)
{
    conn_t c;
    if (conn_open(&c, family, addr, family, addr) != 0) {
        print_message("no %s here: skipped\n", addr);
        return;
    }
    px_ident_cache_t *cache = px_ident_cache_create();
    px_ident_t *id = calloc(1, sizeof *id);
    char reason[512], want[PATH_MAX], path[64], hex[65];
    int rc = ident_lookup(cache, &c, id, reason, sizeof reason);
    if (rc != 0)
        fail_msg("lookup: %d %s", rc, reason);
    assert_int_equal(id->pid, getpid());
    link_of("/proc/self/exe", want, sizeof want);
    assert_string_equal(id->exe, want);
    assert_false(id->exe_deleted);
    sha256_of(want, hex);
    assert_string_equal(id->sha256, hex);
    const char *base = strrchr(g_argv0, '/') ? strrchr(g_argv0, '/') + 1 : g_argv0;
    assert_int_equal(strncmp(id->name, base, 15), 0);
    assert_int_equal(strncmp(id->cmdline, g_argv0, strlen(g_argv0)), 0);
    assert_true(id->nancestors >= 1);
    assert_int_equal(id->ancestor_pids[0], getppid());
    snprintf(path, sizeof path, "/proc/%d/exe", (int)getppid());
    link_of(path, want, sizeof want);
    assert_string_equal(id->ancestors[0], want);
    int last = id->ancestor_pids[id->nancestors - 1];
    assert_true(last == 1 || id->nancestors == PX_MAX_ANCESTORS || last > 0);
    free(id);
    px_ident_cache_destroy(cache);
    conn_close(&c);
}

static void lookup_self_ipv4(void **state)
{
    (void)state;
    check_self(AF_INET, "127.0.0.1");
}

static void lookup_self_ipv6(void **state)
{
    (void)state;
    check_self(AF_INET6, "::1");
}

/* The parent closes its copy; a child running /bin/sleep holds the socket. */
static void lookup_child_exec(void **state)
{
    (void)state;
    conn_t c;
    assert_int_equal(conn_open(&c, AF_INET, "127.0.0.1", AF_INET, "127.0.0.1"), 0);
    pid_t child = spawn_keeping(c.cfd, "/bin/sleep");
    close(c.cfd);
    c.cfd = -1;
    px_ident_cache_t *cache = px_ident_cache_create();
    px_ident_t *id = calloc(1, sizeof *id);
    char reason[512], hex[65], me[PATH_MAX];
    int rc = ident_lookup(cache, &c, id, reason, sizeof reason);
    if (rc != 0)
        fail_msg("lookup: %d %s", rc, reason);
    assert_int_equal(id->pid, child);
    assert_string_equal(id->exe, sleep_path());
    assert_string_equal(id->name, "sleep");
    /* the arguments as the kernel has them, each ended by a NUL */
    assert_int_equal(id->cmdline_len, sizeof "sleep\0"
                                             "30");
    assert_memory_equal(id->cmdline,
                        "sleep\0"
                        "30",
                        sizeof "sleep\0"
                               "30");
    sha256_of(sleep_path(), hex);
    assert_string_equal(id->sha256, hex);
    assert_int_equal(id->ancestor_pids[0], getpid());
    link_of("/proc/self/exe", me, sizeof me);
    assert_string_equal(id->ancestors[0], me);
    reap(child);
    free(id);
    px_ident_cache_destroy(cache);
    conn_close(&c);
}

/* This process and a /bin/sleep child both hold it: ambiguous. */
static void lookup_shared_ambiguous(void **state)
{
    (void)state;
    conn_t c;
    assert_int_equal(conn_open(&c, AF_INET6, "::1", AF_INET6, "::1"), 0);
    pid_t child = spawn_keeping(c.cfd, "/bin/sleep");
    px_ident_cache_t *cache = px_ident_cache_create();
    px_ident_t *id = calloc(1, sizeof *id);
    char reason[8192];
    assert_int_equal(ident_lookup(cache, &c, id, reason, sizeof reason), -EEXIST);
    print_message("reason: %s\n", reason);
    assert_non_null(strstr(reason, "socket shared by processes with different binaries: "));
    char want[64];
    snprintf(want, sizeof want, "(pid %d)", (int)child);
    assert_non_null(strstr(reason, want));
    snprintf(want, sizeof want, "(pid %d)", (int)getpid());
    assert_non_null(strstr(reason, want));
    assert_non_null(strstr(reason, sleep_path()));
    assert_int_equal(id->pid, 0);
    reap(child);
    free(id);
    px_ident_cache_destroy(cache);
    conn_close(&c);
}

/* fork without exec: same exe in two processes, the lowest pid wins; once
 * the parent lets go, the child. */
static void lookup_fork_same_exe(void **state)
{
    (void)state;
    conn_t c;
    assert_int_equal(conn_open(&c, AF_INET, "127.0.0.1", AF_INET, "127.0.0.1"), 0);
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        char b;
        close(p[1]);
        (void)!read(p[0], &b, 1); /* until the parent closes its end */
        _exit(0);
    }
    close(p[0]);
    px_ident_cache_t *cache = px_ident_cache_create();
    px_ident_cache_set_fresh_ns(cache, 0); /* this binary was just linked */
    px_ident_t *id = calloc(1, sizeof *id);
    char reason[512];
    assert_int_equal(ident_lookup(cache, &c, id, reason, sizeof reason), 0);
    assert_int_equal(id->pid, getpid() < child ? getpid() : child);
    close(c.cfd);
    c.cfd = -1;
    assert_int_equal(ident_lookup(cache, &c, id, reason, sizeof reason), 0);
    assert_int_equal(id->pid, child);
    px_ident_cache_stats_t st;
    px_ident_cache_stats(cache, &st);
    assert_int_equal(st.misses, 1); /* one exe, hashed once */
    assert_int_equal(st.hits, 1);
    close(p[1]);
    waitpid(child, NULL, 0);
    free(id);
    px_ident_cache_destroy(cache);
    conn_close(&c);
}

/* Both ends closed: no socket at all. */
static void lookup_closed(void **state)
{
    (void)state;
    conn_t c;
    assert_int_equal(conn_open(&c, AF_INET, "127.0.0.1", AF_INET, "127.0.0.1"), 0);
    close(c.cfd);
    c.cfd = -1;
    px_ident_cache_t *cache = px_ident_cache_create();
    px_ident_t *id = calloc(1, sizeof *id);
    char reason[512];
    assert_int_equal(ident_lookup(cache, &c, id, reason, sizeof reason), -ENOENT);
    print_message("reason: %s\n", reason);
    assert_non_null(strstr(reason, "no TCP socket from 127.0.0.1:"));
    free(id);
    px_ident_cache_destroy(cache);
    conn_close(&c);
}

/* The socket lives on, but only inside an SCM_RIGHTS message in flight:
 * no process has it among its fds. */
static void lookup_no_holder(void **state)
{
    (void)state;
    conn_t c;
    assert_int_equal(conn_open(&c, AF_INET, "127.0.0.1", AF_INET, "127.0.0.1"), 0);
    int sp[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    send_fd(sp[0], c.cfd);
    close(c.cfd);
    c.cfd = -1;
    px_ident_cache_t *cache = px_ident_cache_create();
    px_ident_t *id = calloc(1, sizeof *id);
    char reason[512];
    assert_int_equal(ident_lookup(cache, &c, id, reason, sizeof reason), -ENOENT);
    print_message("reason: %s\n", reason);
    static const char want[] = "no process holds the client socket (it may have exited)";
    assert_int_equal(strncmp(reason, want, sizeof want - 1), 0);
    close(sp[0]);
    close(sp[1]);
    free(id);
    px_ident_cache_destroy(cache);
    conn_close(&c);
}

/* The binary the child runs is deleted and its path reused: the ident says
 * deleted and hashes the file that runs, not the one at the path now. */
static void lookup_deleted_exe(void **state)
{
    (void)state;
    char dir[64], exe[PATH_MAX + 16], repl[PATH_MAX + 16], real[PATH_MAX], hex[65], other[65];
    make_tmpdir(dir);
    assert_non_null(realpath(dir, real));
    snprintf(exe, sizeof exe, "%s/agent", real);
    snprintf(repl, sizeof repl, "%s/agent.new", real);
    copy_file(sleep_path(), exe);
    conn_t c;
    assert_int_equal(conn_open(&c, AF_INET, "127.0.0.1", AF_INET, "127.0.0.1"), 0);
    pid_t child = spawn_keeping(c.cfd, exe);
    close(c.cfd);
    c.cfd = -1;
    write_file(repl, "#!/bin/sh\necho innocent\n", 24, 0755);
    assert_int_equal(rename(repl, exe), 0);

    px_ident_cache_t *cache = px_ident_cache_create();
    px_ident_t *id = calloc(1, sizeof *id);
    char reason[512];
    assert_int_equal(ident_lookup(cache, &c, id, reason, sizeof reason), 0);
    assert_int_equal(id->pid, child);
    assert_string_equal(id->exe, exe);
    assert_true(id->exe_deleted);
    sha256_of(sleep_path(), hex);
    assert_string_equal(id->sha256, hex);
    sha256_of(exe, other);
    assert_string_not_equal(id->sha256, other);
    reap(child);
    unlink(exe);
    rmdir(dir);
    free(id);
    px_ident_cache_destroy(cache);
    conn_close(&c);
}

/* A shell run from a copy that is then deleted starts /bin/sleep with the
 * socket and closes its own copy: the ancestor's path comes without the
 * kernel's " (deleted)". */
static void lookup_deleted_ancestor(void **state)
{
    (void)state;
    char dir[64], real[PATH_MAX], shell[PATH_MAX + 16], sh[PATH_MAX], me[PATH_MAX], reason[512];
    make_tmpdir(dir);
    assert_non_null(realpath(dir, real));
    assert_non_null(realpath("/bin/sh", sh));
    snprintf(shell, sizeof shell, "%s/shell", real);
    copy_file(sh, shell);
    conn_t c;
    assert_int_equal(conn_open(&c, AF_INET, "127.0.0.1", AF_INET, "127.0.0.1"), 0);
    char *const argv[] = {"sh", "-c", "/bin/sleep 30 & exec 9>&-; wait", NULL};
    pid_t shpid = spawn_argv(c.cfd, shell, argv);
    close(c.cfd);
    c.cfd = -1;
    unlink(shell);
    px_ident_cache_t *cache = px_ident_cache_create();
    px_ident_t *id = calloc(1, sizeof *id);
    int rc = -1;
    for (int i = 0; i < 300 && (rc != 0 || strcmp(id->name, "sleep") != 0); i++) {
        struct timespec ms10 = {0, 10 * 1000 * 1000};
        nanosleep(&ms10, NULL); /* until sleep runs and the shell let go */
        rc = ident_lookup(cache, &c, id, reason, sizeof reason);
    }
    assert_int_equal(rc, 0);
    assert_string_equal(id->exe, sleep_path());
    assert_int_equal(id->ancestor_pids[0], shpid);
    assert_string_equal(id->ancestors[0], shell);
    assert_int_equal(id->ancestor_pids[1], getpid());
    link_of("/proc/self/exe", me, sizeof me);
    assert_string_equal(id->ancestors[1], me);
    reap(id->pid);
    reap(shpid);
    rmdir(dir);
    free(id);
    px_ident_cache_destroy(cache);
    conn_close(&c);
}

/* An ancestor whose name holds ") 9 (": the parent pid is read after the
 * last ')' of /proc/<pid>/stat, not from inside the name. */
static void lookup_ancestor_odd_name(void **state)
{
    (void)state;
    conn_t c;
    assert_int_equal(conn_open(&c, AF_INET, "127.0.0.1", AF_INET, "127.0.0.1"), 0);
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid_t mid = fork();
    assert_true(mid >= 0);
    if (mid == 0) {
        close(p[0]);
        prctl(PR_SET_NAME, "x) 9 (y", 0, 0, 0);
        pid_t k = fork();
        if (k == 0) {
            dup2(c.cfd, 9); /* not close-on-exec */
            execl("/bin/sleep", "sleep", "30", (char *)NULL);
            _exit(127);
        }
        close(c.cfd); /* the grandchild holds it alone */
        (void)!write(p[1], &k, sizeof k);
        waitpid(k, NULL, 0);
        _exit(0);
    }
    close(p[1]);
    pid_t kid = 0;
    assert_int_equal(read(p[0], &kid, sizeof kid), (ssize_t)sizeof kid);
    close(p[0]);
    close(c.cfd);
    c.cfd = -1;
    px_ident_cache_t *cache = px_ident_cache_create();
    px_ident_t *id = calloc(1, sizeof *id);
    char reason[512];
    int rc = -1;
    for (int i = 0; i < 300 && (rc != 0 || strcmp(id->name, "sleep") != 0); i++) {
        struct timespec ms10 = {0, 10 * 1000 * 1000};
        nanosleep(&ms10, NULL); /* until the grandchild runs sleep */
        rc = ident_lookup(cache, &c, id, reason, sizeof reason);
    }
    if (rc != 0)
        fail_msg("me %d, middle %d: lookup: %d %s", (int)getpid(), (int)mid, rc, reason);
    assert_int_equal(id->pid, kid);
    assert_true(id->nancestors >= 2);
    assert_int_equal(id->ancestor_pids[0], mid);
    assert_int_equal(id->ancestor_pids[1], getpid());
    reap(kid);
    waitpid(mid, NULL, 0);
    free(id);
    px_ident_cache_destroy(cache);
    conn_close(&c);
}

static void lookup_bad_args(void **state)
{
    (void)state;
    px_ident_cache_t *cache = px_ident_cache_create();
    px_ident_t *id = calloc(1, sizeof *id);
    struct sockaddr_storage a;
    socklen_t len;
    char reason[128];
    sa_set(&a, &len, AF_INET, "127.0.0.1", 1);
    struct sockaddr un = {.sa_family = AF_UNIX};
    assert_int_equal(px_ident_lookup(cache, &un, (struct sockaddr *)&a, id, reason, sizeof reason),
                     -EINVAL);
    assert_int_equal(px_ident_lookup(cache, NULL, NULL, id, NULL, 0), -EINVAL);
    assert_int_equal(px_ident_lookup(NULL, (struct sockaddr *)&a, (struct sockaddr *)&a, id, reason,
                                     sizeof reason),
                     -EINVAL);
    free(id);
    px_ident_cache_destroy(cache);
}

/* ---- timings (printed) ------------------------------------------------------------------ */

enum { REPS = 51 };

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median of REPS calls of one socket-inode way, in microseconds. */
static double inode_time(const conn_t *c, px_ident_via_t via)
{
    double t[REPS];
    for (int i = 0; i < REPS; i++) {
        uint64_t ino;
        double t0 = now_us();
        int rc = px_ident_socket_inode((const struct sockaddr *)&c->peer,
                                       (const struct sockaddr *)&c->local, via, &ino, NULL, 0);
        t[i] = now_us() - t0;
        assert_int_equal(rc, 0);
    }
    qsort(t, REPS, sizeof t[0], cmp_double);
    return t[REPS / 2];
}

static void timings(void **state)
{
    (void)state;
    conn_t c;
    assert_int_equal(conn_open(&c, AF_INET, "127.0.0.1", AF_INET, "127.0.0.1"), 0);
    px_ident_t *id = calloc(1, sizeof *id);
    char reason[512], self[PATH_MAX];
    double warm[REPS];
    px_ident_cache_t *cache = px_ident_cache_create();
    px_ident_cache_set_fresh_ns(cache, 0); /* this binary was just linked */
    double t0 = now_us();
    assert_int_equal(ident_lookup(cache, &c, id, reason, sizeof reason), 0);
    double cold = now_us() - t0;
    for (int i = 0; i < REPS; i++) {
        t0 = now_us();
        assert_int_equal(ident_lookup(cache, &c, id, reason, sizeof reason), 0);
        warm[i] = now_us() - t0;
    }
    qsort(warm, REPS, sizeof warm[0], cmp_double);
    struct stat st;
    link_of("/proc/self/exe", self, sizeof self);
    assert_int_equal(stat(self, &st), 0);
    int procs = 0;
    DIR *d = opendir("/proc");
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;)
        procs += e->d_name[0] >= '0' && e->d_name[0] <= '9';
    if (d != NULL)
        closedir(d);
    print_message("timing (%d processes): lookup cold %.0f us (hashes %lld bytes), warm "
                  "median %.0f us, min %.0f us; socket inode (median): auto %.1f us, netlink "
                  "%.1f us, /proc/net/tcp %.1f us\n",
                  procs, cold, (long long)st.st_size, warm[REPS / 2], warm[0],
                  inode_time(&c, PX_IDENT_VIA_AUTO), inode_time(&c, PX_IDENT_VIA_NETLINK),
                  inode_time(&c, PX_IDENT_VIA_PROCFS));
    px_ident_cache_destroy(cache);
    free(id);
    conn_close(&c);
}

int main(int argc, char **argv)
{
    (void)argc;
    g_argv0 = argv[0];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_row_le_samples),
        cmocka_unit_test(parse_row_kernel_format),
        cmocka_unit_test(parse_row_rejects),
        cmocka_unit_test(inode_ipv4),
        cmocka_unit_test(inode_ipv6),
        cmocka_unit_test(inode_ipv4_mapped),
        cmocka_unit_test(inode_bad_args),
        cmocka_unit_test(lookup_self_ipv4),
        cmocka_unit_test(lookup_self_ipv6),
        cmocka_unit_test(lookup_child_exec),
        cmocka_unit_test(lookup_shared_ambiguous),
        cmocka_unit_test(lookup_fork_same_exe),
        cmocka_unit_test(lookup_closed),
        cmocka_unit_test(lookup_no_holder),
        cmocka_unit_test(lookup_deleted_exe),
        cmocka_unit_test(lookup_deleted_ancestor),
        cmocka_unit_test(lookup_ancestor_odd_name),
        cmocka_unit_test(lookup_bad_args),
        cmocka_unit_test(timings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
