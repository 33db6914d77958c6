/*
 * bench_policy.c: how long one policy decision takes, with the compiled
 * index (pol_decide) and with a naive peer, in one run.
 *
 * For policies of 10, 100 and 1,000 rules (exact hosts, `*.` and `**.`
 * globs mixed; exact and `**` binary globs; some rules with two ports or
 * two endpoints), 4,096 queries are generated: allowed through each kind of
 * host, allowed through an ancestor's exe, denied for the binary, denied
 * for the endpoint. Each decision is timed alone (the clock's own cost,
 * measured first, is subtracted), for BENCH_SECONDS (default 0.5) per row;
 * p50, p99 and the mean are printed. The peer is a linear scan over the
 * rules in the same order, with the same matching (pol_host_match,
 * pol_path_match) and the same reasons; the ratio is its latency over the
 * index's. Before timing, every query is decided both ways and the answers
 * compared (allowed, rule, reason), and pol_decide is checked to allocate
 * nothing (a counting malloc; not in sanitizer builds).
 *
 * A benchmark, not a test: exit 1 only when a check fails or setup does.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ocsf/ocsf.h"
#include "policy/policy.h"

#define NQUERIES   4096
#define MAX_SAMPLE (1u << 21)

#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

/* ---- a counting malloc (glibc), to show pol_decide allocates nothing -------- */

#if !SANITIZED && defined(__GLIBC__)
#define COUNTING 1
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
static volatile size_t nallocs;
void *malloc(size_t n)
{
    nallocs++;
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t size)
{
    nallocs++;
    return __libc_calloc(n, size);
}
void *realloc(void *p, size_t n)
{
    nallocs++;
    return __libc_realloc(p, n);
}
#else
#define COUNTING 0
static volatile size_t nallocs;
#endif

static volatile uint64_t sink;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint32_t rng_state = 0x2545f491u;
static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state % n;
}

/* ---- the policy and the queries ------------------------------------------------ */

typedef struct {
    char host[128];
    const char *exes[3];
    char exe_buf[3][96];
    size_t nexes;
    uint16_t port;
} query_t;

/* Rule i: its first host kind is i % 3 (exact, `*.`, `**.`). Keys are
 * zero-padded so document order is the canonical order the index uses. */
static void rule_hosts(size_t i, char *h1, size_t len)
{
    switch (i % 3) {
    case 0: snprintf(h1, len, "api%zu.svc%zu.example.com", i, i % 37); break;
    case 1: snprintf(h1, len, "*.cdn%zu.example.net", i); break;
    default: snprintf(h1, len, "**.corp%zu.internal.org", i); break;
    }
}

static char *policy_yaml(size_t nrules)
{
    ocsf_buf_t y;
    ocsf_buf_init(&y);
    ocsf_buf_puts(&y, "version: 1\nnetwork_policies:\n");
    for (size_t i = 0; i < nrules; i++) {
        char h1[96], line[512];
        rule_hosts(i, h1, sizeof h1);
        snprintf(line, sizeof line,
                 "  r%05zu:\n    endpoints:\n"
                 "      - {host: \"%s\", ports: [443%s]}\n"
                 "%s"
                 "    binaries: [{path: /usr/bin/tool%zu}%s]\n",
                 i, h1, i % 4 == 0 ? ", 80" : "",
                 i % 5 == 0 ? "      - {host: mirror-shared.example.org, port: 443}\n" : "", i % 20,
                 i % 2 ? ", {path: \"/usr/lib/node_modules/@scope*/**\"}" : "");
        ocsf_buf_puts(&y, line);
    }
    ocsf_buf_cstr(&y);
    return y.p;
}

static void make_query(query_t *q, size_t nrules)
{
    size_t r = rnd((uint32_t)nrules);
    char pat[96];
    rule_hosts(r, pat, sizeof pat);
    uint32_t what = rnd(100);
    q->port = rnd(10) ? 443 : (r % 4 == 0 ? 80 : 8443);
    if (what < 15) { /* no such endpoint */
        snprintf(q->host, sizeof q->host, "nohost%u.example.com", rnd(100000));
    } else if (what < 20) { /* an exact host many rules share */
        snprintf(q->host, sizeof q->host, "mirror-shared.example.org");
        q->port = 443;
    } else if (pat[0] != '*') {
        snprintf(q->host, sizeof q->host, "%s", pat);
    } else if (pat[1] == '.') {
        snprintf(q->host, sizeof q->host, "img%u%s", rnd(100), pat + 1);
    } else {
        snprintf(q->host, sizeof q->host, "a.b%u.c%s", rnd(100), pat + 2);
    }
    if (rnd(8) == 0)
        q->host[0] = (char)(q->host[0] - 'a' + 'A'); /* case does not matter */
    size_t hl = strlen(q->host);
    if (rnd(16) == 0 && hl + 1 < sizeof q->host)
        memcpy(q->host + hl, ".", 2); /* nor does a trailing dot */
    q->nexes = 1;
    snprintf(q->exe_buf[0], sizeof q->exe_buf[0], "/usr/bin/tool%zu", r % 20);
    if (what >= 60 && what < 75 && r % 2) /* the rule's ** binary */
        snprintf(q->exe_buf[0], sizeof q->exe_buf[0], "/usr/lib/node_modules/@scope%u/x/cli.js",
                 rnd(9));
    if (what >= 75 && what < 90) { /* allowed through an ancestor */
        snprintf(q->exe_buf[0], sizeof q->exe_buf[0], "/usr/bin/curl");
        snprintf(q->exe_buf[1], sizeof q->exe_buf[1], "/bin/bash");
        snprintf(q->exe_buf[2], sizeof q->exe_buf[2], "/usr/bin/tool%zu", r % 20);
        q->nexes = 3;
    }
    if (what >= 90) { /* denied for the binary */
        snprintf(q->exe_buf[0], sizeof q->exe_buf[0], "/tmp/evil%u", rnd(1000));
        snprintf(q->exe_buf[1], sizeof q->exe_buf[1], "/bin/sh");
        q->nexes = 2;
    }
    for (size_t i = 0; i < 3; i++)
        q->exes[i] = q->exe_buf[i];
}

/* ---- the peer: a linear scan, same matching, same reasons ------------------------ */

static bool port_in(const pol_endpoint_t *e, uint16_t port)
{
    for (size_t i = 0; i < e->nports; i++)
        if (e->ports[i] == port)
            return true;
    return false;
}

static void scan_reason(const pol_query_t *q, const pol_rule_t *matched, pol_decision_t *d)
{
    if (!matched) {
        snprintf(d->reason, sizeof d->reason, "endpoint %s:%u is not allowed by any policy",
                 q->host, q->port);
        return;
    }
    int n = snprintf(d->reason, sizeof d->reason,
                     "binary '%s' not allowed in policy '%s' "
                     "(ancestors: [",
                     q->exes[0], matched->key);
    for (size_t i = 1; i < q->nexes && n > 0 && (size_t)n < sizeof d->reason; i++)
        n += snprintf(d->reason + n, sizeof d->reason - (size_t)n, "%s%s", i > 1 ? " -> " : "",
                      q->exes[i]);
    if (n > 0 && (size_t)n < sizeof d->reason)
        snprintf(d->reason + n, sizeof d->reason - (size_t)n, "])");
}

static void scan_decide(const pol_policy_t *p, const pol_query_t *q, pol_decision_t *d)
{
    d->allowed = false;
    d->rule = d->layer = NULL;
    d->reason[0] = '\0';
    if (p->nrules == 0) {
        snprintf(d->reason, sizeof d->reason, "network connections not allowed by policy");
        return;
    }
    const pol_rule_t *matched = NULL;
    for (size_t r = 0; r < p->nrules; r++) {
        const pol_rule_t *ru = &p->rules[r];
        bool ep = false;
        for (size_t e = 0; e < ru->nendpoints && !ep; e++)
            ep = port_in(&ru->endpoints[e], q->port) &&
                 pol_host_match(ru->endpoints[e].host, q->host);
        if (!ep)
            continue;
        if (!matched)
            matched = ru;
        for (size_t x = 0; x < q->nexes; x++)
            for (size_t b = 0; b < ru->nbinaries; b++)
                if (pol_path_match(ru->binaries[b], q->exes[x])) {
                    d->allowed = true;
                    d->rule = ru->key;
                    d->layer = ru->layer;
                    return;
                }
    }
    scan_reason(q, matched, d);
}

/* ---- timing ------------------------------------------------------------------------ */

typedef struct {
    const pol_index_t *ix;
    const pol_policy_t *p;
    pol_query_t *qs;
} ctx_t;

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static uint64_t clock_cost(void)
{
    static uint64_t s[4096];
    for (size_t i = 0; i < 4096; i++) {
        uint64_t t0 = now_ns();
        s[i] = now_ns() - t0;
    }
    qsort(s, 4096, sizeof *s, u64_cmp);
    return s[2048];
}

typedef struct {
    double p50, p99, mean;
    size_t n;
} lat_t;

static lat_t measure(const ctx_t *c, bool index, double secs, uint64_t clock, uint64_t *samples)
{
    uint64_t budget = (uint64_t)(secs * 1e9), total = 0;
    size_t n = 0;
    pol_decision_t d;
    for (size_t i = 0; i < NQUERIES; i++) /* warm up */
        index ? pol_decide(c->ix, &c->qs[i], &d) : scan_decide(c->p, &c->qs[i], &d);
    /* whole passes over the queries, at least one */
    uint64_t start = now_ns();
    while (n < MAX_SAMPLE && (n == 0 || n % NQUERIES || now_ns() - start < budget)) {
        const pol_query_t *q = &c->qs[n % NQUERIES];
        uint64_t t0 = now_ns();
        if (index)
            pol_decide(c->ix, q, &d);
        else
            scan_decide(c->p, q, &d);
        uint64_t dt = now_ns() - t0;
        sink += d.allowed + (unsigned char)d.reason[0];
        dt = dt > clock ? dt - clock : 0;
        samples[n++] = dt;
        total += dt;
    }
    qsort(samples, n, sizeof *samples, u64_cmp);
    return (lat_t){(double)samples[n / 2], (double)samples[n * 99 / 100], (double)total / (double)n,
                   n};
}

/* ---- one policy size ------------------------------------------------------------------ */

static int check(const ctx_t *c, size_t *allowed)
{
    pol_decision_t a, b;
    *allowed = 0;
    for (size_t i = 0; i < NQUERIES; i++) {
        pol_decide(c->ix, &c->qs[i], &a);
        scan_decide(c->p, &c->qs[i], &b);
        bool same = a.allowed == b.allowed && strcmp(a.reason, b.reason) == 0 &&
                    (!a.allowed || strcmp(a.rule, b.rule) == 0);
        if (!same) {
            fprintf(stderr, "bench_policy: %s:%u: index %s (%s), scan %s (%s)\n", c->qs[i].host,
                    c->qs[i].port, a.allowed ? a.rule : "denied", a.reason,
                    b.allowed ? b.rule : "denied", b.reason);
            return -1;
        }
        *allowed += a.allowed;
    }
    size_t before = nallocs;
    for (size_t i = 0; i < NQUERIES; i++)
        pol_decide(c->ix, &c->qs[i], &a);
    if (COUNTING && nallocs != before) {
        fprintf(stderr, "bench_policy: pol_decide allocated %zu times\n", nallocs - before);
        return -1;
    }
    return 0;
}

static int run_size(size_t nrules, double secs, uint64_t clock, uint64_t *samples)
{
    char err[256];
    char *yaml = policy_yaml(nrules);
    uint64_t t0 = now_ns();
    pol_policy_t *p = pol_parse_yaml(yaml, strlen(yaml), "bench.yaml", false, err, sizeof err);
    uint64_t t1 = now_ns();
    free(yaml);
    if (!p) {
        fprintf(stderr, "bench_policy: %s\n", err);
        return -1;
    }
    pol_index_t *ix = pol_index_build(p);
    uint64_t t2 = now_ns();
    static query_t qs[NQUERIES];
    static pol_query_t pq[NQUERIES];
    for (size_t i = 0; i < NQUERIES; i++) {
        make_query(&qs[i], nrules);
        pq[i] = (pol_query_t){qs[i].host, qs[i].port, qs[i].exes, qs[i].nexes, false};
    }
    ctx_t c = {ix, p, pq};
    size_t endpoints = 0, allowed = 0;
    for (size_t i = 0; i < p->nrules; i++)
        endpoints += p->rules[i].nendpoints;
    int rc = check(&c, &allowed);
    if (rc == 0) {
        lat_t a = measure(&c, true, secs, clock, samples);
        lat_t b = measure(&c, false, secs, clock, samples);
        printf("  %5zu %5zu %9.2f %8.1f  %-12s %8.0f %8.0f %8.0f %9zu\n", nrules, endpoints,
               (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e3, "index", a.p50, a.p99, a.mean,
               a.n);
        printf("  %5s %5s %9s %8s  %-12s %8.0f %8.0f %8.0f %9zu\n", "", "", "", "", "linear scan",
               b.p50, b.p99, b.mean, b.n);
        printf("  %5s %5s %9s %8s  %-12s %7.1fx %7.1fx %7.1fx   (%zu/%d allowed)\n", "", "", "", "",
               "ratio", b.p50 / (a.p50 > 0 ? a.p50 : 1), b.p99 / (a.p99 > 0 ? a.p99 : 1),
               b.mean / (a.mean > 0 ? a.mean : 1), allowed, NQUERIES);
    }
    pol_index_destroy(ix);
    pol_policy_destroy(p);
    return rc;
}

static double bench_seconds(void)
{
    const char *s = getenv("BENCH_SECONDS");
    if (!s || !*s)
        return 0.5;
    char *end;
    double v = strtod(s, &end);
    if (*end || !(v > 0 && v <= 60)) {
        fprintf(stderr, "bench_policy: BENCH_SECONDS=%s: expected seconds in (0, 60]\n", s);
        return -1;
    }
    return v;
}

int main(void)
{
    double secs = bench_seconds();
    if (secs < 0)
        return 2;
    cpu_set_t set;
    int cpu = sched_getcpu();
    CPU_ZERO(&set);
    if (cpu >= 0) {
        CPU_SET(cpu, &set);
        sched_setaffinity(0, sizeof set, &set);
    }
    uint64_t *samples = malloc(MAX_SAMPLE * sizeof *samples);
    if (!samples)
        return 1;
    uint64_t clock = clock_cost();
    printf("policy decisions: pol_decide (compiled index) vs a linear scan of the rules\n"
           "(same matching, same reasons); %d queries, each decision timed alone, clock cost "
           "%llu ns subtracted;\n%.2f s per row, pinned to cpu %d%s\n\n",
           NQUERIES, (unsigned long long)clock, secs, cpu,
           SANITIZED ? "; SANITIZERS ON: numbers are not representative" : "");
    printf("  %5s %5s %9s %8s  %-12s %8s %8s %8s %9s\n", "rules", "endp", "parse ms", "build us",
           "", "p50 ns", "p99 ns", "mean ns", "decisions");
    int rc = 0;
    static const size_t sizes[] = {10, 100, 1000};
    for (size_t i = 0; i < 3 && rc == 0; i++)
        rc = run_size(sizes[i], secs, clock, samples);
    if (rc == 0)
        printf("\nchecks: index == scan on every query (allowed, rule, reason); pol_decide "
               "allocations: %s\n",
               COUNTING ? "0" : "not counted (sanitizer build)");
    free(samples);
    return rc ? 1 : 0;
}
