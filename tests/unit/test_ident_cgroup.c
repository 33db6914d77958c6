/*
 * test_ident_cgroup.c: the cgroup fast path of px_ident_lookup
 * (px_ident_cache_set_cgroup) against the /proc scan as the oracle: a cache
 * with the cgroup and one without give the same answer (rc, pid, exe) for
 * every case but the one documented in ident.c (a socket made inside, held
 * inside, and also by a process outside the cgroup), and the counters say
 * which path answered. Needs root and a writable cgroup v2 tree (skipped
 * otherwise): this process joins a cgroup of its own for the test and goes
 * back after.
 */
#include "tests/unit/ident_fixture.h"

#include <errno.h>
#include <linux/magic.h>
#include <sys/statfs.h>

static char cg_dir[256], cg_root[64], cg_home[512];

static bool is_cgroup2(const char *path)
{
    struct statfs f;
    return statfs(path, &f) == 0 && f.f_type == CGROUP2_SUPER_MAGIC;
}

/* Writes pid (0: this process) to dir/cgroup.procs. */
static void move_to(const char *dir, pid_t pid)
{
    char path[600], text[24];
    snprintf(path, sizeof path, "%s/cgroup.procs", dir);
    int n = snprintf(text, sizeof text, "%d\n", (int)pid);
    write_file(path, text, (size_t)n, 0644);
}

static int setup(void **state)
{
    (void)state;
    const char *roots[] = {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"};
    for (size_t i = 0; i < 2 && !cg_root[0]; i++)
        if (is_cgroup2(roots[i]))
            snprintf(cg_root, sizeof cg_root, "%s", roots[i]);
    if (geteuid() != 0 || !cg_root[0])
        return 0;
    /* where this process is now ("0::/path"), to go back */
    char line[400] = "";
    FILE *f = fopen("/proc/self/cgroup", "re");
    while (f && fgets(line, sizeof line, f) && strncmp(line, "0::", 3) != 0)
        line[0] = '\0';
    if (f)
        fclose(f);
    line[strcspn(line, "\n")] = '\0';
    if (strncmp(line, "0::", 3) != 0)
        return 0;
    snprintf(cg_home, sizeof cg_home, "%s%s", cg_root, line + 3);
    snprintf(cg_dir, sizeof cg_dir, "%s/tollgate-test-%d", cg_root, (int)getpid());
    if (mkdir(cg_dir, 0755) != 0)
        cg_dir[0] = '\0';
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (cg_dir[0]) {
        move_to(cg_home, 0);
        rmdir(cg_dir);
    }
    return 0;
}

/* One lookup by each cache. */
typedef struct {
    int rc, pid;
    char exe[4096], reason[512];
} answer_t;

static void ask(px_ident_cache_t *cache, const conn_t *c, answer_t *a)
{
    px_ident_t *id = calloc(1, sizeof *id);
    assert_non_null(id);
    a->rc = ident_lookup(cache, c, id, a->reason, sizeof a->reason);
    a->pid = id->pid;
    snprintf(a->exe, sizeof a->exe, "%s", id->exe);
    free(id);
}

static void counts(px_ident_cache_t *cache, uint64_t *fast, uint64_t *fallback)
{
    px_ident_cache_stats_t st;
    px_ident_cache_stats(cache, &st);
    *fast = st.cgroup_fast;
    *fallback = st.cgroup_fallback;
}

/* Asks both caches about c: the same answer; which path answered. */
static void same(px_ident_cache_t *fast, px_ident_cache_t *oracle, const conn_t *c, bool want_fast,
                 int want_rc, int want_pid)
{
    answer_t a, b;
    uint64_t f0, b0, f1, b1;
    counts(fast, &f0, &b0);
    ask(fast, c, &a);
    counts(fast, &f1, &b1);
    ask(oracle, c, &b);
    if (a.rc != b.rc || a.pid != b.pid || strcmp(a.exe, b.exe) != 0)
        fail_msg("cgroup %d pid %d %s (%s) / scan %d pid %d %s (%s)", a.rc, a.pid, a.exe, a.reason,
                 b.rc, b.pid, b.exe, b.reason);
    assert_int_equal(a.rc, want_rc);
    assert_int_equal(a.pid, want_pid);
    assert_int_equal(f1 - f0, want_fast ? 1 : 0);
    assert_int_equal(b1 - b0, want_fast ? 0 : 1);
}

static void fast_path_matches_scan(void **state)
{
    (void)state;
    if (!cg_dir[0])
        skip();
    enum { N = 7 };
    conn_t c[N];
    /* 6 is made outside the cgroup, the others inside */
    assert_int_equal(conn_open(&c[6], AF_INET, "127.0.0.1", AF_INET, "127.0.0.1"), 0);
    move_to(cg_dir, 0);
    for (int i = 0; i < N - 1; i++)
        assert_int_equal(conn_open(&c[i], AF_INET, "127.0.0.1", AF_INET, "127.0.0.1"), 0);
    /* 1: with a fork child (no exec, this exe): the lower pid */
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid_t forked = fork();
    assert_true(forked >= 0);
    if (forked == 0) {
        char b;
        close(p[1]);
        for (int i = 0; i < N; i++)
            if (i != 1)
                close(c[i].cfd);
        (void)!read(p[0], &b, 1);
        _exit(0);
    }
    close(p[0]);
    /* 2: with /bin/sleep inside: ambiguous */
    pid_t amb = spawn_keeping(c[2].cfd, "/bin/sleep");
    /* 3: /bin/sleep alone */
    pid_t only = spawn_keeping(c[3].cfd, "/bin/sleep");
    /* 4: in flight only */
    int sp[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    send_fd(sp[0], c[4].cfd);
    /* 5: made inside, held only by a process outside */
    pid_t out5 = spawn_keeping(c[5].cfd, "/bin/sleep");
    move_to(cg_home, out5);
    /* 6: made outside, passed in: held by this process (inside) */
    for (int i = 3; i <= 5; i++) {
        close(c[i].cfd);
        c[i].cfd = -1;
    }

    px_ident_cache_t *fast = px_ident_cache_create(), *oracle = px_ident_cache_create();
    px_ident_cache_set_fresh_ns(fast, 0);
    px_ident_cache_set_fresh_ns(oracle, 0);
    px_ident_cache_set_cgroup(fast, cg_dir);
    int me = getpid(), low = me < forked ? me : forked;

    same(fast, oracle, &c[0], true, 0, me);
    same(fast, oracle, &c[1], true, 0, low);
    same(fast, oracle, &c[2], true, -EEXIST, 0);
    same(fast, oracle, &c[3], true, 0, only);
    same(fast, oracle, &c[4], false, -ENOENT, 0);
    same(fast, oracle, &c[5], false, 0, out5);
    same(fast, oracle, &c[6], false, 0, me);

    reap(amb);
    reap(only);
    reap(out5);
    close(p[1]);
    waitpid(forked, NULL, 0);
    close(sp[0]);
    close(sp[1]);
    for (int i = 0; i < N; i++)
        conn_close(&c[i]);
    move_to(cg_home, 0);
    px_ident_cache_destroy(fast);
    px_ident_cache_destroy(oracle);
}

/* A socket made outside and passed in is never answered by the fast path;
 * one made inside and held inside and outside is (ident.c: the case the
 * fast path assumes away): the cgroup names the inside holder where the
 * scan says ambiguous. */
static void made_outside_and_held_outside(void **state)
{
    (void)state;
    if (!cg_dir[0])
        skip();
    px_ident_cache_t *fast = px_ident_cache_create(), *oracle = px_ident_cache_create();
    px_ident_cache_set_fresh_ns(fast, 0);
    px_ident_cache_set_fresh_ns(oracle, 0);
    px_ident_cache_set_cgroup(fast, cg_dir);
    conn_t out, in;
    /* made outside, held by this process once it is inside: the scan */
    assert_int_equal(conn_open(&out, AF_INET, "127.0.0.1", AF_INET, "127.0.0.1"), 0);
    move_to(cg_dir, 0);
    same(fast, oracle, &out, false, 0, getpid());
    /* made inside, held inside (this process) and outside (sleep) */
    assert_int_equal(conn_open(&in, AF_INET, "127.0.0.1", AF_INET, "127.0.0.1"), 0);
    pid_t away = spawn_keeping(in.cfd, "/bin/sleep");
    move_to(cg_home, away);
    answer_t a, b;
    ask(fast, &in, &a);
    ask(oracle, &in, &b);
    assert_int_equal(b.rc, -EEXIST);
    assert_int_equal(a.rc, 0);
    assert_int_equal(a.pid, getpid());
    /* a cgroup that is not the socket's (removed and made again): the scan */
    move_to(cg_home, 0);
    char other[300];
    snprintf(other, sizeof other, "%s-other", cg_dir);
    assert_int_equal(mkdir(other, 0755), 0);
    px_ident_cache_set_cgroup(fast, other);
    ask(fast, &in, &a);
    assert_int_equal(a.rc, -EEXIST);
    assert_int_equal(rmdir(other), 0);
    /* a cgroup that does not exist: the scan */
    px_ident_cache_set_cgroup(fast, "/sys/fs/cgroup/no-such-tollgate-cgroup");
    ask(fast, &in, &a);
    assert_int_equal(a.rc, -EEXIST);
    reap(away);
    conn_close(&out);
    conn_close(&in);
    px_ident_cache_destroy(fast);
    px_ident_cache_destroy(oracle);
}

/* cgroup.procs read in pieces, with pids that exited, gives the holders. */
static void many_processes(void **state)
{
    (void)state;
    if (!cg_dir[0])
        skip();
    enum { K = 40 };
    pid_t kids[K];
    conn_t c;
    move_to(cg_dir, 0);
    assert_int_equal(conn_open(&c, AF_INET, "127.0.0.1", AF_INET, "127.0.0.1"), 0);
    int dn = open("/dev/null", O_RDONLY | O_CLOEXEC);
    for (int i = 0; i < K; i++)
        kids[i] = spawn_keeping(i == K - 1 ? c.cfd : dn, "/bin/sleep");
    close(c.cfd);
    c.cfd = -1;
    px_ident_cache_t *fast = px_ident_cache_create(), *oracle = px_ident_cache_create();
    px_ident_cache_set_fresh_ns(fast, 0);
    px_ident_cache_set_fresh_ns(oracle, 0);
    px_ident_cache_set_cgroup(fast, cg_dir);
    same(fast, oracle, &c, true, 0, kids[K - 1]);
    for (int i = 0; i < K; i++)
        reap(kids[i]);
    close(dn);
    conn_close(&c);
    move_to(cg_home, 0);
    px_ident_cache_destroy(fast);
    px_ident_cache_destroy(oracle);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fast_path_matches_scan),
        cmocka_unit_test(made_outside_and_held_outside),
        cmocka_unit_test(many_processes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
