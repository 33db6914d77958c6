/*
 * bench_downgrade.c: how fast ocsf_cast() (cast_tok.c) rewrites events from
 * one bundled OCSF version to another, on one core, against two peers:
 * jansson's own parse + compact sorted dump of the same events (the least a
 * jansson-based rewrite can cost) and the reference cast on a jansson tree
 * (cast.c, what tollgate ran before).
 *
 * The events are the samples (`tollgate ocsf samples`), taken round-robin,
 * as 1.7.0 and (metadata.version rewritten) as 1.8.0 and 1.1.0 sources.
 * Each row runs for BENCH_SECONDS (default 0.5), best of 3. A benchmark, not
 * a test: it exits 1 only when an operation fails.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "ocsf/check.h"
#include "ocsf/ocsf.h"

#define REPS      3
#define MAX_EV    32
#define GOAL_RATE 200e3

typedef struct {
    ocsf_buf_t src[3][MAX_EV]; /* the samples as 1.7.0, 1.8.0, 1.1.0 */
    ocsf_buf_t *json;          /* the source of this row */
    size_t n, bytes;
    ocsf_buf_t out;
    const ocsf_schema_t *to;
    ocsf_checker_t *c;
    bool failed;
} bench_t;

typedef void (*batch_fn)(bench_t *b);

static volatile size_t sink;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One pass over every sample. */
static void run_cast(bench_t *b)
{
    char err[256];
    for (size_t i = 0; i < b->n; i++) {
        b->out.len = 0;
        if (ocsf_cast(b->c, b->json[i].p, b->json[i].len, b->to, 0, &b->out, err, sizeof err)) {
            fprintf(stderr, "bench_downgrade: %s: %s\n", ocsf_schema_version(b->to), err);
            b->failed = true;
        }
        sink += b->out.len;
    }
}

static void run_ref(bench_t *b)
{
    char err[256];
    for (size_t i = 0; i < b->n; i++) {
        b->out.len = 0;
        if (ocsf__cast_ref(b->c, b->json[i].p, b->json[i].len, b->to, 0, &b->out, err,
                           sizeof err)) {
            fprintf(stderr, "bench_downgrade: ref %s: %s\n", ocsf_schema_version(b->to), err);
            b->failed = true;
        }
        sink += b->out.len;
    }
}

static void run_jansson(bench_t *b)
{
    json_error_t e;
    for (size_t i = 0; i < b->n; i++) {
        json_t *j = json_loadb(b->src[0][i].p, b->src[0][i].len, 0, &e);
        char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        b->failed |= !s;
        sink += s ? strlen(s) : 0;
        free(s);
        json_decref(j);
    }
}

/* Best ns per event over REPS runs of at least `secs` each. */
static double measure(batch_fn fn, bench_t *b, double secs)
{
    uint64_t budget = (uint64_t)(secs * 1e9);
    double best = 0;
    fn(b);
    for (int r = 0; r < REPS && !b->failed; r++) {
        uint64_t evs = 0, t0 = now_ns(), dt;
        do {
            fn(b);
            evs += b->n;
            dt = now_ns() - t0;
        } while (dt < budget && !b->failed);
        double ns = (double)dt / (double)evs;
        if (r == 0 || ns < best)
            best = ns;
    }
    return best;
}

static void row(const char *name, double ns, size_t avg_bytes)
{
    double rate = 1e9 / ns;
    printf("  %-26s %10.0f ev/s %9.1f ns/ev %8.1f MB/s\n", name, rate, ns,
           rate * (double)avg_bytes / 1e6);
}

int main(void)
{
    static bench_t b;
    ocsf_event_t evs[MAX_EV];
    char err[256];
    const char *s = getenv("BENCH_SECONDS");
    double secs = s && *s ? strtod(s, NULL) : 0.5;
    if (!(secs > 0 && secs <= 60)) {
        fprintf(stderr, "bench_downgrade: BENCH_SECONDS: expected seconds in (0, 60]\n");
        return 1;
    }
    cpu_set_t set;
    int cpu = sched_getcpu();
    CPU_ZERO(&set);
    if (cpu >= 0) {
        CPU_SET(cpu, &set);
        sched_setaffinity(0, sizeof set, &set);
    }
    b.n = ocsf_samples(evs, MAX_EV);
    b.n = b.n < MAX_EV ? b.n : MAX_EV;
    static const char *const srcv[3] = {"1.7.0", "1.8.0", "1.1.0"};
    for (size_t i = 0; i < b.n; i++) {
        for (int k = 0; k < 3; k++)
            ocsf_buf_init(&b.src[k][i]);
        if (ocsf_encode(&evs[i], &b.src[0][i], err, sizeof err) != 0) {
            fprintf(stderr, "bench_downgrade: encode: %s\n", err);
            return 1;
        }
        const char *at = memmem(b.src[0][i].p, b.src[0][i].len, "\"version\":\"1.7.0\"", 17);
        for (int k = 1; k < 3 && at; k++) {
            ocsf_buf_put(&b.src[k][i], b.src[0][i].p, b.src[0][i].len);
            memcpy(b.src[k][i].p + (at - b.src[0][i].p) + 11, srcv[k], 5);
        }
        b.bytes += b.src[0][i].len;
    }
    b.json = b.src[0];
    b.c = ocsf_checker_new();
    ocsf_buf_init(&b.out);
    size_t avg = b.bytes / (b.n ? b.n : 1);
    printf("bench_downgrade: %zu sample events (%zu bytes on average), one core (cpu %d), "
           "jansson %s, %.1fs x %d per row\n",
           b.n, avg, cpu, JANSSON_VERSION, secs, REPS);
    double peer = measure(run_jansson, &b, secs);
    row("jansson parse+dump (peer)", peer, avg);
    static const struct {
        int src;
        const char *to;
    } rows[] = {{0, "1.3.0"}, {0, "1.1.0"}, {1, "1.7.0"}, {2, "1.7.0"}, {0, "1.8.0"}, {0, "1.7.0"}};
    double worst = 0;
    for (size_t r = 0; r < sizeof rows / sizeof *rows && !b.failed; r++) {
        char name[48];
        b.json = b.src[rows[r].src];
        b.to = ocsf_schema_find(rows[r].to, 5);
        bool copy = rows[r].src == 0 && !strcmp(rows[r].to, "1.7.0");
        double ns = measure(run_cast, &b, secs);
        snprintf(name, sizeof name, "cast %s -> %s%s", srcv[rows[r].src], rows[r].to,
                 copy ? " (copy)" : "");
        row(name, ns, avg);
        if (copy)
            continue;
        double ref = measure(run_ref, &b, secs);
        printf("  %-26s %10.2fx jansson parse+dump, %.2fx the jansson cast (%.0f ev/s)\n", "",
               peer / ns, ref / ns, 1e9 / ref);
        worst = ns > worst ? ns : worst;
    }
    if (!b.failed)
        printf("  %-26s %10.0f ev/s (goal >= %.0f: %s)\n", "slowest cast", 1e9 / worst, GOAL_RATE,
               1e9 / worst >= GOAL_RATE ? "PASS" : "MISS");
    for (size_t i = 0; i < b.n; i++)
        for (int k = 0; k < 3; k++)
            ocsf_buf_dispose(&b.src[k][i]);
    ocsf_buf_dispose(&b.out);
    ocsf_checker_free(b.c);
    return b.failed ? 1 : 0;
}
