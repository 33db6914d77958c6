/*
 * bench_downgrade.c: how fast ocsf_downgrade() rewrites tollgate's events as
 * OCSF 1.3.0 and 1.1.0, on one core, against the peer: jansson's own parse
 * + compact sorted dump of the same events (the least a jansson-based
 * rewrite can cost).
 *
 * The events are the samples (`tollgate ocsf samples`), taken round-robin.
 * Each row runs for BENCH_SECONDS (default 0.5), best of 3. A benchmark, not
 * a test: it exits 1 only when an operation fails.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "ocsf/downgrade.h"
#include "ocsf/ocsf.h"

#define REPS      3
#define MAX_EV    32
#define GOAL_RATE 50e3

typedef struct {
    ocsf_buf_t json[MAX_EV];
    size_t n, bytes;
    ocsf_buf_t out;
    const char *version;
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
static void run_downgrade(bench_t *b)
{
    char err[256];
    for (size_t i = 0; i < b->n; i++) {
        b->out.len = 0;
        if (ocsf_downgrade(b->json[i].p, b->json[i].len, b->version, &b->out, err, sizeof err)) {
            fprintf(stderr, "bench_downgrade: %s: %s\n", b->version, err);
            b->failed = true;
        }
        sink += b->out.len;
    }
}

static void run_jansson(bench_t *b)
{
    json_error_t e;
    for (size_t i = 0; i < b->n; i++) {
        json_t *j = json_loadb(b->json[i].p, b->json[i].len, 0, &e);
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
    for (size_t i = 0; i < b.n; i++) {
        ocsf_buf_init(&b.json[i]);
        if (ocsf_encode(&evs[i], &b.json[i], err, sizeof err) != 0) {
            fprintf(stderr, "bench_downgrade: encode: %s\n", err);
            return 1;
        }
        b.bytes += b.json[i].len;
    }
    ocsf_buf_init(&b.out);
    size_t avg = b.bytes / (b.n ? b.n : 1);
    printf("bench_downgrade: %zu sample events (%zu bytes on average), one core (cpu %d), "
           "jansson %s, %.1fs x %d per row\n",
           b.n, avg, cpu, JANSSON_VERSION, secs, REPS);
    double peer = measure(run_jansson, &b, secs);
    row("jansson parse+dump (peer)", peer, avg);
    static const char *const versions[] = {"1.3.0", "1.1.0", "1.7.0"};
    double worst = 0;
    for (size_t v = 0; v < 3 && !b.failed; v++) {
        char name[40];
        b.version = versions[v];
        double ns = measure(run_downgrade, &b, secs);
        snprintf(name, sizeof name, "downgrade to %s%s", versions[v], v == 2 ? " (copy)" : "");
        row(name, ns, avg);
        if (v < 2) {
            printf("  %-26s %10.2fx jansson parse+dump\n", "", peer / ns);
            worst = ns > worst ? ns : worst;
        }
    }
    if (!b.failed)
        printf("  %-26s %10.0f ev/s (goal >= %.0f: %s)\n", "slowest target", 1e9 / worst, GOAL_RATE,
               1e9 / worst >= GOAL_RATE ? "PASS" : "MISS");
    for (size_t i = 0; i < b.n; i++)
        ocsf_buf_dispose(&b.json[i]);
    ocsf_buf_dispose(&b.out);
    return b.failed ? 1 : 0;
}
