/*
 * Unit tests of proxy/ident_scan.c: concurrent lookups share one /proc scan
 * and each still gets the answer a scan of its own gives (holder, lowest
 * pid of one exe, ambiguous when binaries differ, no holder); nothing is
 * remembered between scans (a replaced holder is named, not the old one);
 * a holder whose uid is not the socket's is found. Scans are held back
 * (px__ident_scan_pause) so that a batch forms for sure.
 */
#include "ident_fixture.h"

#include <errno.h>
#include <grp.h>
#include <pthread.h>

/* One lookup on its own thread. */
typedef struct {
    px_ident_cache_t *cache;
    const conn_t *c;
    px_ident_t *id;
    int rc;
    char reason[512];
    pthread_t th;
} job_t;

static void *job_run(void *arg)
{
    job_t *j = arg;
    j->rc = ident_lookup(j->cache, j->c, j->id, j->reason, sizeof j->reason);
    return NULL;
}

/* Runs the lookups of conns[0..n) on n threads as one batch: scans are held
 * until all n are queued. */
static void run_batch(px_ident_cache_t *cache, conn_t *conns, job_t *jobs, size_t n)
{
    px__ident_scan_t *s = px__ident_cache_scan(cache);
    px__ident_scan_pause(s, true);
    for (size_t i = 0; i < n; i++) {
        jobs[i] = (job_t){.cache = cache, .c = &conns[i], .id = calloc(1, sizeof(px_ident_t))};
        assert_non_null(jobs[i].id);
        assert_int_equal(pthread_create(&jobs[i].th, NULL, job_run, &jobs[i]), 0);
    }
    for (int i = 0; i < 5000 && px__ident_scan_queued(s) < n; i++) {
        struct timespec ms1 = {0, 1000 * 1000};
        nanosleep(&ms1, NULL);
    }
    assert_int_equal(px__ident_scan_queued(s), n);
    px__ident_scan_pause(s, false);
    for (size_t i = 0; i < n; i++)
        pthread_join(jobs[i].th, NULL);
}

static void free_jobs(job_t *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(jobs[i].id);
}

static void stats_of(px_ident_cache_t *cache, uint64_t *scans, uint64_t *scanned)
{
    px_ident_cache_stats_t st;
    px_ident_cache_stats(cache, &st);
    *scans = st.scans;
    *scanned = st.scanned;
}

/* Six lookups, six /bin/sleep holders, one scan. */
static void batch_one_scan(void **state)
{
    (void)state;
    enum { N = 6 };
    conn_t conns[N];
    pid_t kids[N];
    job_t jobs[N];
    char hex[65];
    sha256_of(sleep_path(), hex);
    for (int i = 0; i < N; i++) {
        assert_int_equal(conn_open(&conns[i], AF_INET, "127.0.0.1", AF_INET, "127.0.0.1"), 0);
        kids[i] = spawn_keeping(conns[i].cfd, "/bin/sleep");
        close(conns[i].cfd);
        conns[i].cfd = -1;
    }
    px_ident_cache_t *cache = px_ident_cache_create();
    run_batch(cache, conns, jobs, N);
    for (int i = 0; i < N; i++) {
        if (jobs[i].rc != 0)
            fail_msg("lookup %d: %d %s", i, jobs[i].rc, jobs[i].reason);
        assert_int_equal(jobs[i].id->pid, kids[i]);
        assert_string_equal(jobs[i].id->exe, sleep_path());
        assert_string_equal(jobs[i].id->sha256, hex);
    }
    uint64_t scans, scanned;
    stats_of(cache, &scans, &scanned);
    assert_int_equal(scans, 1);
    assert_int_equal(scanned, N);
    free_jobs(jobs, N);
    for (int i = 0; i < N; i++) {
        reap(kids[i]);
        conn_close(&conns[i]);
    }
    px_ident_cache_destroy(cache);
}

static int recv_fd(int sock)
{
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int))];
    } u;
    char one;
    struct iovec iov = {.iov_base = &one, .iov_len = 1};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b};
    assert_int_equal(recvmsg(sock, &m, MSG_CMSG_CLOEXEC), 1);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    assert_non_null(cm);
    int fd;
    memcpy(&fd, CMSG_DATA(cm), sizeof fd);
    return fd;
}

/* One batch, four kinds of answer, each the same as a lookup alone gives:
 *   0 shared by this process and a /bin/sleep child: ambiguous;
 *   1 shared with a fork() child (no exec, one exe): the lower pid;
 *   2 held only by a /bin/sleep child: that child;
 *   3 only in flight in an SCM_RIGHTS message: no holder. */
static void batch_mixed_answers(void **state)
{
    (void)state;
    enum { N = 4 };
    conn_t conns[N];
    job_t jobs[N];
    for (int i = 0; i < N; i++)
        assert_int_equal(conn_open(&conns[i], AF_INET, "127.0.0.1", AF_INET, "127.0.0.1"), 0);
    pid_t only = spawn_keeping(conns[2].cfd, "/bin/sleep");
    close(conns[2].cfd);
    conns[2].cfd = -1;
    int sp[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    send_fd(sp[0], conns[3].cfd);
    close(conns[3].cfd);
    conns[3].cfd = -1;
    pid_t amb = spawn_keeping(conns[0].cfd, "/bin/sleep");
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid_t forked = fork();
    assert_true(forked >= 0);
    if (forked == 0) {
        char b;
        close(p[1]);
        close(conns[0].cfd);      /* keeps conns[1] only */
        (void)!read(p[0], &b, 1); /* until the parent closes p[1] */
        _exit(0);
    }
    close(p[0]);

    px_ident_cache_t *cache = px_ident_cache_create();
    px_ident_cache_set_fresh_ns(cache, 0); /* this binary was just linked */
    run_batch(cache, conns, jobs, N);
    uint64_t scans, scanned;
    stats_of(cache, &scans, &scanned);
    assert_int_equal(scans, 1);
    assert_int_equal(scanned, N);

    char want[32];
    assert_int_equal(jobs[0].rc, -EEXIST);
    assert_non_null(strstr(jobs[0].reason, "socket shared by processes with different binaries"));
    assert_non_null(strstr(jobs[0].reason, sleep_path()));
    snprintf(want, sizeof want, "(pid %d)", (int)amb);
    assert_non_null(strstr(jobs[0].reason, want));
    assert_int_equal(jobs[0].id->pid, 0);
    if (jobs[1].rc != 0)
        fail_msg("fork-shared: %d %s", jobs[1].rc, jobs[1].reason);
    assert_int_equal(jobs[1].id->pid, getpid() < forked ? getpid() : forked);
    assert_int_equal(jobs[2].rc, 0);
    assert_int_equal(jobs[2].id->pid, only);
    assert_int_equal(jobs[3].rc, -ENOENT);
    assert_non_null(strstr(jobs[3].reason, "no process holds the client socket"));

    /* the same answers one at a time */
    for (int i = 0; i < N; i++) {
        px_ident_t *id = calloc(1, sizeof *id);
        char reason[512];
        assert_int_equal(ident_lookup(cache, &conns[i], id, reason, sizeof reason), jobs[i].rc);
        assert_int_equal(id->pid, jobs[i].id->pid);
        free(id);
    }
    /* the fork child gone: this process alone holds 1 */
    close(p[1]);
    waitpid(forked, NULL, 0);
    job_t again[N];
    run_batch(cache, conns, again, N);
    assert_int_equal(again[1].rc, 0);
    assert_int_equal(again[1].id->pid, getpid());
    for (int i = 0; i < N; i += 2)
        assert_int_equal(again[i].rc, jobs[i].rc);
    free_jobs(again, N);
    free_jobs(jobs, N);
    reap(amb);
    reap(only);
    close(sp[0]);
    close(sp[1]);
    for (int i = 0; i < N; i++)
        conn_close(&conns[i]);
    px_ident_cache_destroy(cache);
}

/* Nothing is remembered between lookups: the socket passes from one holder
 * to another (kept in flight meanwhile), and the next lookup names the new
 * one, with its own exe. */
static void holder_replaced(void **state)
{
    (void)state;
    char dir[64], real[PATH_MAX], agent[PATH_MAX + 16], reason[512];
    make_tmpdir(dir);
    assert_non_null(realpath(dir, real));
    snprintf(agent, sizeof agent, "%s/agent", real);
    copy_file(sleep_path(), agent);
    conn_t c;
    assert_int_equal(conn_open(&c, AF_INET, "127.0.0.1", AF_INET, "127.0.0.1"), 0);
    int sp[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    pid_t first = spawn_keeping(c.cfd, "/bin/sleep");
    send_fd(sp[0], c.cfd);
    close(c.cfd);
    c.cfd = -1;
    px_ident_cache_t *cache = px_ident_cache_create();
    px_ident_t *id = calloc(1, sizeof *id);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ident_lookup(cache, &c, id, reason, sizeof reason), 0);
        assert_int_equal(id->pid, first);
        assert_string_equal(id->exe, sleep_path());
    }
    reap(first); /* the socket lives on in flight */
    assert_int_equal(ident_lookup(cache, &c, id, reason, sizeof reason), -ENOENT);
    int fd = recv_fd(sp[1]);
    pid_t second = spawn_keeping(fd, agent);
    close(fd);
    assert_int_equal(ident_lookup(cache, &c, id, reason, sizeof reason), 0);
    assert_int_equal(id->pid, second);
    assert_string_equal(id->exe, agent);
    reap(second);
    unlink(agent);
    rmdir(dir);
    close(sp[0]);
    close(sp[1]);
    free(id);
    px_ident_cache_destroy(cache);
    conn_close(&c);
}

/* The socket's uid (sock_diag's idiag_uid: whoever created it) need not be
 * its holder's: a child that drops to nobody and execs keeps the socket, and
 * is found (why the scan does not skip processes of other uids). Root only. */
static void holder_other_uid(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        print_message("not root: skipped\n");
        return;
    }
    conn_t c;
    assert_int_equal(conn_open(&c, AF_INET, "127.0.0.1", AF_INET, "127.0.0.1"), 0);
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid_t kid = fork();
    assert_true(kid >= 0);
    if (kid == 0) {
        close(p[0]);
        dup2(c.cfd, 9);
        if (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 ||
            setresuid(65534, 65534, 65534) != 0)
            _exit(126);
        execl("/bin/sleep", "sleep", "30", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    char b;
    assert_int_equal(read(p[0], &b, 1), 0); /* exec happened */
    close(p[0]);
    close(c.cfd);
    c.cfd = -1;
    struct stat st;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d", (int)kid);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_uid, 65534);
    px_ident_cache_t *cache = px_ident_cache_create();
    px_ident_t *id = calloc(1, sizeof *id);
    char reason[512];
    int rc = ident_lookup(cache, &c, id, reason, sizeof reason);
    if (rc != 0)
        fail_msg("lookup: %d %s", rc, reason);
    assert_int_equal(id->pid, kid);
    assert_string_equal(id->exe, sleep_path());
    reap(kid);
    free(id);
    px_ident_cache_destroy(cache);
    conn_close(&c);
}

/* Threads looking up their sockets again and again, unpaused: every answer
 * exact; how many lookups a scan served is printed. */
static void threads_exact(void **state)
{
    (void)state;
    enum { T = 8, ROUNDS = 15 };
    conn_t conns[T];
    for (int i = 0; i < T; i++)
        assert_int_equal(conn_open(&conns[i], AF_INET, "127.0.0.1", AF_INET, "127.0.0.1"), 0);
    px_ident_cache_t *cache = px_ident_cache_create();
    px_ident_cache_set_fresh_ns(cache, 0);
    double t0 = now_us();
    for (int r = 0; r < ROUNDS; r++) {
        job_t jobs[T];
        for (int i = 0; i < T; i++) {
            jobs[i] = (job_t){.cache = cache, .c = &conns[i], .id = calloc(1, sizeof(px_ident_t))};
            assert_int_equal(pthread_create(&jobs[i].th, NULL, job_run, &jobs[i]), 0);
        }
        for (int i = 0; i < T; i++) {
            pthread_join(jobs[i].th, NULL);
            if (jobs[i].rc != 0)
                fail_msg("lookup: %d %s", jobs[i].rc, jobs[i].reason);
            assert_int_equal(jobs[i].id->pid, getpid());
        }
        free_jobs(jobs, T);
    }
    double us = now_us() - t0;
    uint64_t scans, scanned;
    stats_of(cache, &scans, &scanned);
    assert_int_equal(scanned, T * ROUNDS);
    assert_true(scans >= 1 && scans <= scanned);
    print_message("timing: %d lookups on %d threads in %.0f us (%.0f us each), %llu scans "
                  "(%.1f lookups per scan)\n",
                  T * ROUNDS, T, us, us / (T * ROUNDS), (unsigned long long)scans,
                  (double)scanned / (double)scans);
    for (int i = 0; i < T; i++)
        conn_close(&conns[i]);
    px_ident_cache_destroy(cache);
}

int main(void)
{
    /* the /proc scan's own batching and rules (test_ident_bpf.c holds the
     * BPF step to the same answers) */
    setenv("TOLLGATE_IDENT_BPF", "0", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(batch_one_scan),  cmocka_unit_test(batch_mixed_answers),
        cmocka_unit_test(holder_replaced), cmocka_unit_test(holder_other_uid),
        cmocka_unit_test(threads_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
