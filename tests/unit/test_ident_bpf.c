/*
 * test_ident_bpf.c: the BPF task_file iterator (proxy/ident_bpf.c) against
 * the /proc scan as the oracle. Every identity case (this process, an exec'd
 * child, a socket shared by two binaries, fork without exec, a socket passed
 * with SCM_RIGHTS, one in flight, threads, a thread with an fd table of its
 * own, many dups, several lookups in one batch) goes through a cache whose
 * holders come from BPF and one with TOLLGATE_IDENT_BPF=0: the same holders
 * (pid, other pid, exes, limits) and the same verdict (rc, pid, exe), and
 * the counters say that BPF answered. Also: a run that fails mid-walk is
 * never used (the scan answers, an ambiguous socket stays ambiguous), and
 * every BPF fd of this process is close-on-exec.
 *
 * Needs root (CAP_BPF, CAP_PERFMON) and kernel BTF: skipped with the reason
 * otherwise. As root with /sys/kernel/btf/vmlinux present, a BPF path that
 * does not load is a failure, not a skip.
 */
#include "ident_fixture.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>

static px_ident_cache_t *c_bpf, *c_scan;
static char skip_why[300];

static int setup(void **state)
{
    (void)state;
    char why[256];
    if (px__ident_bpf_get(why, sizeof why) == NULL) {
        bool must = geteuid() == 0 && access("/sys/kernel/btf/vmlinux", R_OK) == 0;
        if (must) {
            fprintf(stderr, "BPF iterator did not load as root with BTF: %s\n", why);
            return -1;
        }
        snprintf(skip_why, sizeof skip_why, "BPF unavailable: %s", why);
        return 0;
    }
    c_bpf = px_ident_cache_create();
    setenv("TOLLGATE_IDENT_BPF", "0", 1);
    c_scan = px_ident_cache_create();
    unsetenv("TOLLGATE_IDENT_BPF");
    assert_non_null(c_bpf);
    assert_non_null(c_scan);
    px_ident_cache_set_fresh_ns(c_bpf, 0); /* this binary was just linked */
    px_ident_cache_set_fresh_ns(c_scan, 0);
    px_ident_cache_stats_t st;
    px_ident_cache_stats(c_bpf, &st);
    assert_true(st.bpf);
    px_ident_cache_stats(c_scan, &st);
    assert_false(st.bpf);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    px_ident_cache_destroy(c_bpf);
    px_ident_cache_destroy(c_scan);
    return 0;
}

#define NEED_BPF()                                                                                 \
    do {                                                                                           \
        if (c_bpf == NULL) {                                                                       \
            print_message("skipped: %s\n", skip_why);                                              \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static uint64_t inode_of(const conn_t *c)
{
    uint64_t ino = 0;
    char reason[256];
    int rc =
        px_ident_socket_inode((const struct sockaddr *)&c->peer, (const struct sockaddr *)&c->local,
                              PX_IDENT_VIA_AUTO, &ino, reason, sizeof reason);
    if (rc != 0)
        fail_msg("inode: %d %s", rc, reason);
    return ino;
}

static void bpf_counts(uint64_t *runs, uint64_t *fallbacks)
{
    px_ident_cache_stats_t st;
    px_ident_cache_stats(c_bpf, &st);
    *runs = st.bpf_runs;
    *fallbacks = st.bpf_fallbacks;
}

/* The holders by both ways, compared field by field; returns BPF's. */
static void same_holders(uint64_t ino, px__holders_t *hb)
{
    px__holders_t *hs = calloc(1, sizeof *hs);
    assert_non_null(hs);
    uint64_t runs0, fb0, runs1, fb1;
    bpf_counts(&runs0, &fb0);
    px__ident_find_holders(px__ident_cache_scan(c_bpf), ino, hb);
    bpf_counts(&runs1, &fb1);
    assert_int_equal(runs1, runs0 + 1); /* BPF answered, */
    assert_int_equal(fb1, fb0);         /* without falling back */
    px__ident_find_holders(px__ident_cache_scan(c_scan), ino, hs);
    assert_int_equal(hb->err, hs->err);
    assert_int_equal(hb->pid, hs->pid);
    assert_int_equal(hb->other_pid, hs->other_pid);
    if (hb->pid != 0)
        assert_int_equal(hb->fd, hs->fd); /* its first fd on the socket */
    assert_string_equal(hb->exe, hs->exe);
    assert_string_equal(hb->other_exe, hs->other_exe);
    assert_int_equal(hb->capped, hs->capped);
    free(hs);
}

/* Both caches' px_ident_lookup: the same rc, pid, exe. Returns the rc. */
static int same_verdict(const conn_t *c, int *pid)
{
    px_ident_t *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    char ra[1024], rb[1024];
    int rca = ident_lookup(c_bpf, c, a, ra, sizeof ra);
    int rcb = ident_lookup(c_scan, c, b, rb, sizeof rb);
    if (rca != rcb)
        fail_msg("BPF: %d (%s), scan: %d (%s)", rca, ra, rcb, rb);
    assert_int_equal(a->pid, b->pid);
    assert_string_equal(a->exe, b->exe);
    assert_string_equal(a->sha256, b->sha256);
    /* an ambiguous answer names the same two; a "no holder" reason may add
     * that the scan could not read some processes (BPF sees every one) */
    if (rca == -EEXIST)
        assert_string_equal(ra, rb);
    *pid = a->pid;
    free(a);
    free(b);
    return rca;
}

/* Holders and verdict of c: expect rc and, when 0, pid. */
static void check(const conn_t *c, int want_rc, int want_pid)
{
    px__holders_t *h = calloc(1, sizeof *h);
    assert_non_null(h);
    same_holders(inode_of(c), h);
    int pid = 0;
    assert_int_equal(same_verdict(c, &pid), want_rc);
    if (want_rc == 0)
        assert_int_equal(pid, want_pid);
    free(h);
}

static void self_v4_v6(void **state)
{
    (void)state;
    NEED_BPF();
    conn_t c;
    assert_int_equal(conn_open(&c, AF_INET, "127.0.0.1", AF_INET, "127.0.0.1"), 0);
    check(&c, 0, getpid());
    conn_close(&c);
    if (conn_open(&c, AF_INET6, "::1", AF_INET6, "::1") == 0) {
        check(&c, 0, getpid());
        conn_close(&c);
    }
}

static void child_exec(void **state)
{
    (void)state;
    NEED_BPF();
    conn_t c;
    assert_int_equal(conn_open(&c, AF_INET, "127.0.0.1", AF_INET, "127.0.0.1"), 0);
    pid_t kid = spawn_keeping(c.cfd, "/bin/sleep");
    close(c.cfd);
    c.cfd = -1;
    check(&c, 0, kid);
    reap(kid);
    conn_close(&c);
}

/* This process and a /bin/sleep child: two binaries, ambiguous. */
static void shared_ambiguous(void **state)
{
    (void)state;
    NEED_BPF();
    conn_t c;
    assert_int_equal(conn_open(&c, AF_INET, "127.0.0.1", AF_INET, "127.0.0.1"), 0);
    pid_t kid = spawn_keeping(c.cfd, "/bin/sleep");
    check(&c, -EEXIST, 0);
    reap(kid);
    conn_close(&c);
}

/* Two copies of one binary: the same path and file, the lowest pid. And
 * one copy at another path: ambiguous. */
static void fork_same_exe_and_copy(void **state)
{
    (void)state;
    NEED_BPF();
    conn_t c;
    assert_int_equal(conn_open(&c, AF_INET, "127.0.0.1", AF_INET, "127.0.0.1"), 0);
    pid_t a = spawn_keeping(c.cfd, "/bin/sleep"), b = spawn_keeping(c.cfd, "/bin/sleep");
    close(c.cfd);
    c.cfd = -1;
    check(&c, 0, a < b ? a : b);
    char dir[64], copy[128];
    make_tmpdir(dir);
    snprintf(copy, sizeof copy, "%s/sleep", dir);
    copy_file(sleep_path(), copy);
    reap(b);
    /* the same bytes at another path: another binary */
    conn_t d;
    assert_int_equal(conn_open(&d, AF_INET, "127.0.0.1", AF_INET, "127.0.0.1"), 0);
    pid_t x = spawn_keeping(d.cfd, "/bin/sleep"), y = spawn_keeping(d.cfd, copy);
    close(d.cfd);
    d.cfd = -1;
    check(&d, -EEXIST, 0);
    reap(x);
    reap(y);
    reap(a);
    unlink(copy);
    rmdir(dir);
    conn_close(&c);
    conn_close(&d);
}

/* fork without exec: the parent and the child, one exe: the lowest pid;
 * the parent lets go: the child. */
static void fork_no_exec(void **state)
{
    (void)state;
    NEED_BPF();
    conn_t c;
    assert_int_equal(conn_open(&c, AF_INET, "127.0.0.1", AF_INET, "127.0.0.1"), 0);
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid_t kid = fork();
    assert_true(kid >= 0);
    if (kid == 0) {
        char b;
        close(p[1]);
        (void)!read(p[0], &b, 1);
        _exit(0);
    }
    close(p[0]);
    check(&c, 0, getpid() < kid ? getpid() : kid);
    close(c.cfd);
    c.cfd = -1;
    check(&c, 0, kid);
    close(p[1]);
    waitpid(kid, NULL, 0);
    conn_close(&c);
}

/* SCM_RIGHTS: in flight (sent, not yet received) no one holds the socket;
 * then a forked child receives and keeps it: the child. */
static void scm_rights(void **state)
{
    (void)state;
    NEED_BPF();
    conn_t c;
    assert_int_equal(conn_open(&c, AF_INET, "127.0.0.1", AF_INET, "127.0.0.1"), 0);
    int sp[2], go[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    assert_int_equal(pipe2(go, O_CLOEXEC), 0);
    send_fd(sp[0], c.cfd);
    close(c.cfd);
    c.cfd = -1;
    check(&c, -ENOENT, 0); /* in flight */
    pid_t kid = fork();
    assert_true(kid >= 0);
    if (kid == 0) {
        char b;
        close(go[1]);
        struct msghdr m = {0};
        union {
            struct cmsghdr h;
            char b[CMSG_SPACE(sizeof(int))];
        } u;
        struct iovec iov = {.iov_base = &b, .iov_len = 1};
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        m.msg_control = u.b;
        m.msg_controllen = sizeof u.b;
        if (recvmsg(sp[1], &m, MSG_CMSG_CLOEXEC) != 1)
            _exit(1);
        (void)!write(sp[1], "k", 1);
        (void)!read(go[0], &b, 1); /* keeps it until the parent says */
        _exit(0);
    }
    close(go[0]);
    char k;
    assert_int_equal(read(sp[0], &k, 1), 1); /* received */
    check(&c, 0, kid);
    close(go[1]);
    waitpid(kid, NULL, 0);
    close(sp[0]);
    close(sp[1]);
    conn_close(&c);
}

/* ---- threads ------------------------------------------------------------------ */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stage; /* 1: the thread is ready; 2: the test is done */
    int keep;  /* -1: share the table; else unshare it and keep this fd */
} thr_t;

static void *thr_run(void *arg)
{
    thr_t *t = arg;
    if (t->keep >= 0 && unshare(CLONE_FILES) != 0)
        t->keep = -2;
    pthread_mutex_lock(&t->mu);
    t->stage = 1;
    pthread_cond_broadcast(&t->cv);
    while (t->stage != 2)
        pthread_cond_wait(&t->cv, &t->mu);
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

static void thr_start(thr_t *t, pthread_t *th, int keep)
{
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    t->stage = 0;
    t->keep = keep;
    assert_int_equal(pthread_create(th, NULL, thr_run, t), 0);
    pthread_mutex_lock(&t->mu);
    while (t->stage != 1)
        pthread_cond_wait(&t->cv, &t->mu);
    pthread_mutex_unlock(&t->mu);
}

static void thr_stop(thr_t *t, pthread_t th)
{
    pthread_mutex_lock(&t->mu);
    t->stage = 2;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    pthread_join(th, NULL);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
}

/* Threads sharing the table: one process, this one (not one per thread). */
static void threads_one_process(void **state)
{
    (void)state;
    NEED_BPF();
    enum { N = 4 };
    thr_t t[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++)
        thr_start(&t[i], &th[i], -1);
    conn_t c;
    assert_int_equal(conn_open(&c, AF_INET, "127.0.0.1", AF_INET, "127.0.0.1"), 0);
    check(&c, 0, getpid());
    for (int i = 0; i < N; i++)
        thr_stop(&t[i], th[i]);
    conn_close(&c);
}

/* Opens c and parks its socket in a thread with an fd table of its own
 * (unshare(CLONE_FILES): a copy of the socket there), first handing it to a
 * /bin/sleep child when kid is not NULL; then this thread closes its fd. */
static void park_in_own_table(conn_t *c, thr_t *t, pthread_t *th, pid_t *kid)
{
    assert_int_equal(conn_open(c, AF_INET, "127.0.0.1", AF_INET, "127.0.0.1"), 0);
    thr_start(t, th, c->cfd);
    assert_int_equal(t->keep, c->cfd); /* unshared, with a copy of the socket */
    if (kid != NULL)
        *kid = spawn_keeping(c->cfd, "/bin/sleep");
    close(c->cfd);
    c->cfd = -1;
}

/* A thread with a table of its own (unshare(CLONE_FILES)) keeps the socket
 * that this thread then closes: /proc/<pid>/fd (the leader's table) does
 * not show it, so the scan finds no holder; BPF sees the thread's record and
 * names this process (fd unknown in the leader's table). Both refuse: the
 * holder's own check finds no fd on the socket in the leader's table. */
static void thread_own_table(void **state)
{
    (void)state;
    NEED_BPF();
    conn_t c;
    thr_t t;
    pthread_t th;
    park_in_own_table(&c, &t, &th, NULL);
    uint64_t hidden0 = px__ident_bpf_hidden();
    px__holders_t *hb = calloc(1, sizeof *hb), *hs = calloc(1, sizeof *hs);
    assert_non_null(hb);
    assert_non_null(hs);
    px__ident_find_holders(px__ident_cache_scan(c_bpf), inode_of(&c), hb);
    px__ident_find_holders(px__ident_cache_scan(c_scan), inode_of(&c), hs);
    assert_int_equal(hb->pid, getpid());
    assert_int_equal(hb->fd, -1);
    assert_int_equal(hb->other_pid, 0);
    assert_int_equal(hs->pid, 0);
    assert_true(px__ident_bpf_hidden() > hidden0);
    int pid = -1;
    assert_int_equal(same_verdict(&c, &pid), -ENOENT);
    free(hb);
    free(hs);
    thr_stop(&t, th);
    conn_close(&c);
}

/* The attack the thread's table would allow: this process keeps the socket
 * only in a thread with a table of its own and hands it to another binary
 * (a /bin/sleep child). The scan sees only the child and names it; BPF sees
 * both processes: ambiguous, refused. Stricter than the scan, by design. */
static void thread_own_table_hides_a_holder(void **state)
{
    (void)state;
    NEED_BPF();
    conn_t c;
    thr_t t;
    pthread_t th;
    pid_t kid;
    park_in_own_table(&c, &t, &th, &kid);
    px_ident_t *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    char ra[1024], rb[1024];
    assert_int_equal(ident_lookup(c_scan, &c, b, rb, sizeof rb), 0);
    assert_int_equal(b->pid, kid); /* the scan is fooled */
    assert_int_equal(ident_lookup(c_bpf, &c, a, ra, sizeof ra), -EEXIST);
    assert_non_null(strstr(ra, "/bin/sleep"));
    free(a);
    free(b);
    reap(kid);
    thr_stop(&t, th);
    conn_close(&c);
}

/* This process holds the socket under 201 fds: one holder. */
static void many_dups(void **state)
{
    (void)state;
    NEED_BPF();
    conn_t c;
    assert_int_equal(conn_open(&c, AF_INET, "127.0.0.1", AF_INET, "127.0.0.1"), 0);
    int dups[200];
    for (int i = 0; i < 200; i++)
        assert_true((dups[i] = fcntl(c.cfd, F_DUPFD_CLOEXEC, 0)) >= 0);
    check(&c, 0, getpid());
    for (int i = 0; i < 200; i++)
        close(dups[i]);
    conn_close(&c);
}

/* ---- batches -------------------------------------------------------------------- */

typedef struct {
    const conn_t *c;
    px_ident_t *id;
    int rc;
    char reason[512];
    pthread_t th;
} job_t;

static void *job_run(void *arg)
{
    job_t *j = arg;
    j->rc = ident_lookup(c_bpf, j->c, j->id, j->reason, sizeof j->reason);
    return NULL;
}

/* Lookups queued together: one BPF run serves them, each exact (ours, a
 * child's, an ambiguous one). */
static void batch_one_run(void **state)
{
    (void)state;
    NEED_BPF();
    enum { N = 6 };
    conn_t c[N];
    pid_t kids[N] = {0};
    for (int i = 0; i < N; i++) {
        assert_int_equal(conn_open(&c[i], AF_INET, "127.0.0.1", AF_INET, "127.0.0.1"), 0);
        if (i % 3 == 1) { /* a child's */
            kids[i] = spawn_keeping(c[i].cfd, "/bin/sleep");
            close(c[i].cfd);
            c[i].cfd = -1;
        } else if (i % 3 == 2) { /* ours and a child's: ambiguous */
            kids[i] = spawn_keeping(c[i].cfd, "/bin/sleep");
        }
    }
    uint64_t runs0, fb0, runs1, fb1;
    bpf_counts(&runs0, &fb0);
    px__ident_scan_t *s = px__ident_cache_scan(c_bpf);
    px__ident_scan_pause(s, true);
    job_t jobs[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = (job_t){.c = &c[i], .id = calloc(1, sizeof(px_ident_t))};
        assert_non_null(jobs[i].id);
        assert_int_equal(pthread_create(&jobs[i].th, NULL, job_run, &jobs[i]), 0);
    }
    for (int i = 0; i < 5000 && px__ident_scan_queued(s) < N; i++) {
        struct timespec ms1 = {0, 1000 * 1000};
        nanosleep(&ms1, NULL);
    }
    assert_int_equal(px__ident_scan_queued(s), N);
    px__ident_scan_pause(s, false);
    for (int i = 0; i < N; i++)
        pthread_join(jobs[i].th, NULL);
    bpf_counts(&runs1, &fb1);
    assert_int_equal(runs1, runs0 + 1);
    assert_int_equal(fb1, fb0);
    for (int i = 0; i < N; i++) {
        int pid = 0;
        if (i % 3 == 2) {
            assert_int_equal(jobs[i].rc, -EEXIST);
        } else {
            if (jobs[i].rc != 0)
                fail_msg("lookup %d: %d %s", i, jobs[i].rc, jobs[i].reason);
            assert_int_equal(jobs[i].id->pid, i % 3 == 0 ? getpid() : kids[i]);
        }
        assert_int_equal(same_verdict(&c[i], &pid), jobs[i].rc);
        free(jobs[i].id);
    }
    for (int i = 0; i < N; i++) {
        if (kids[i] > 0)
            reap(kids[i]);
        conn_close(&c[i]);
    }
}

/* ---- failures ------------------------------------------------------------------- */

/* A run that fails after the first holder is dropped: the /proc scan
 * answers, so a socket of two binaries is still ambiguous, not the first
 * holder alone. And a run that fails after every record the same. */
static void fault_falls_back(void **state)
{
    (void)state;
    NEED_BPF();
    conn_t c;
    assert_int_equal(conn_open(&c, AF_INET, "127.0.0.1", AF_INET, "127.0.0.1"), 0);
    pid_t kid = spawn_keeping(c.cfd, "/bin/sleep");
    for (unsigned after = 0; after <= 5; after += 5) {
        uint64_t runs0, fb0, runs1, fb1;
        bpf_counts(&runs0, &fb0);
        px__ident_bpf_fault(EIO, after);
        px_ident_t *id = calloc(1, sizeof *id);
        char reason[1024];
        assert_int_equal(ident_lookup(c_bpf, &c, id, reason, sizeof reason), -EEXIST);
        free(id);
        bpf_counts(&runs1, &fb1);
        assert_int_equal(runs1, runs0);
        assert_int_equal(fb1, fb0 + 1);
    }
    reap(kid);
    conn_close(&c);
}

/* Every BPF object fd of this process (maps, programs, links, BTF) is
 * close-on-exec: nothing reaches a child. */
static void fds_cloexec(void **state)
{
    (void)state;
    NEED_BPF();
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int seen = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char path[320], link[128];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(path, link, sizeof link - 1);
        if (n <= 0)
            continue;
        link[n] = '\0';
        /* anon_inode:bpf-map, bpf-prog, bpf_link, btf... */
        if (strncmp(link, "anon_inode:bpf", 14) != 0 && strncmp(link, "anon_inode:btf", 14) != 0)
            continue;
        int fd = atoi(e->d_name);
        int fl = fcntl(fd, F_GETFD);
        if (!(fl & FD_CLOEXEC))
            fail_msg("fd %d (%s) is not close-on-exec", fd, link);
        seen++;
    }
    closedir(d);
    assert_true(seen >= 2); /* at least the map and the link */
}

/* Timing of one lookup's holders by each way (printed, not asserted). */
static void timings(void **state)
{
    (void)state;
    NEED_BPF();
    conn_t c;
    assert_int_equal(conn_open(&c, AF_INET, "127.0.0.1", AF_INET, "127.0.0.1"), 0);
    uint64_t ino = inode_of(&c);
    px__holders_t *h = calloc(1, sizeof *h);
    assert_non_null(h);
    enum { R = 50 };
    double t0 = now_us();
    for (int i = 0; i < R; i++)
        px__ident_find_holders(px__ident_cache_scan(c_bpf), ino, h);
    double t1 = now_us();
    for (int i = 0; i < R; i++)
        px__ident_find_holders(px__ident_cache_scan(c_scan), ino, h);
    double t2 = now_us();
    print_message("timing: holders by BPF %.0f us, by the /proc scan %.0f us\n", (t1 - t0) / R,
                  (t2 - t1) / R);
    free(h);
    conn_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(self_v4_v6),
        cmocka_unit_test(child_exec),
        cmocka_unit_test(shared_ambiguous),
        cmocka_unit_test(fork_same_exe_and_copy),
        cmocka_unit_test(fork_no_exec),
        cmocka_unit_test(scm_rights),
        cmocka_unit_test(threads_one_process),
        cmocka_unit_test(thread_own_table),
        cmocka_unit_test(thread_own_table_hides_a_holder),
        cmocka_unit_test(many_dups),
        cmocka_unit_test(batch_one_run),
        cmocka_unit_test(fault_falls_back),
        cmocka_unit_test(fds_cloexec),
        cmocka_unit_test(timings),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
