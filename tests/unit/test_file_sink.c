/* Unit tests of the file sink (exporters/file/), driven through
 * exp_sink_file.open/send/close with real OCSF events in a fresh temp dir. */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "exporters/sink.h"

static char tmpdir[256], dir[300];
static atomic_bool stop_flag;
static int log_lines;

static int setup_dir(void **state)
{
    (void)state;
    if (unit_tmpdir_make(tmpdir, sizeof tmpdir, "file") != 0)
        return -1;
    snprintf(dir, sizeof dir, "%s/out", tmpdir);
    log_lines = 0;
    return 0;
}

static int teardown_dir(void **state)
{
    (void)state;
    umount2(dir, MNT_DETACH); /* the ENOSPC test's tmpfs; EINVAL otherwise */
    unit_tmpdir_remove(tmpdir);
    return 0;
}

static void on_log(void *ctx, const char *msg)
{
    (void)ctx;
    log_lines++;
    print_message("  [sink log] %s\n", msg);
}

/* ---- config and lifecycle ------------------------------------------------ */

/* A config from the sink's own table: "key=value" pairs, dir preset. */
static void *config(const char *const *kv)
{
    void *cfg = calloc(1, exp_sink_file.config_size);
    assert_non_null(cfg);
    assert_int_equal(conf_defaults(exp_sink_file.options, cfg), 0);
    char err[256];
    assert_int_equal(conf_set(exp_sink_file.options, cfg, "dir", dir, err, sizeof err), 0);
    for (; kv && *kv; kv++) {
        char key[64];
        const char *eq = strchr(*kv, '=');
        snprintf(key, sizeof key, "%.*s", (int)(eq - *kv), *kv);
        if (conf_set(exp_sink_file.options, cfg, key, eq + 1, err, sizeof err) != 0)
            fail_msg("conf_set %s: %s", *kv, err);
    }
    assert_int_equal(exp_sink_file.check(cfg, err, sizeof err), 0);
    return cfg;
}

static void *open_sink(const void *cfg)
{
    exp_common_t common = {.name = "archive",
                           .state_dir = tmpdir,
                           .hostname = "h",
                           .ocsf_version = "1.7.0",
                           .stop = &stop_flag,
                           .log = on_log};
    void *sink = NULL;
    char err[256];
    if (exp_sink_file.open(&common, cfg, &sink, err, sizeof err) != 0)
        fail_msg("open: %s", err);
    return sink;
}

static void free_config(void *cfg)
{
    exp_sink_file.dispose(cfg);
    free(cfg);
}

/* ---- events -------------------------------------------------------------- */

/* n real events: sample (k % count) with metadata.sequence k, k from k0. */
typedef struct {
    char **json;
    exp_event_t *ev;
    size_t n;
} events_t;

static events_t make_events(size_t k0, size_t n)
{
    ocsf_event_t s[MAX_SAMPLES];
    size_t ns = ocsf_samples(s, MAX_SAMPLES);
    events_t e = {calloc(n, sizeof(char *)), calloc(n, sizeof(exp_event_t)), n};
    for (size_t i = 0; i < n; i++) {
        ocsf_event_t ev = s[(k0 + i) % ns];
        ev.sequence = (int64_t)(k0 + i);
        e.json[i] = unit_encode(&ev);
        e.ev[i] = (exp_event_t){.seq = k0 + i,
                                .json = e.json[i],
                                .json_len = strlen(e.json[i]),
                                .sandbox = "",
                                .class_uid = ev.class_uid,
                                .class_name = "x",
                                .time_ms = ev.time};
    }
    return e;
}

static void free_events(events_t *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->json[i]);
    free(e->json);
    free(e->ev);
}

/* Sends e once; returns the send rc, verdicts in v (n bytes). */
static int send_events(void *sink, const events_t *e, uint8_t *v, char *err, size_t errlen)
{
    char **reason = calloc(e->n, sizeof(char *));
    exp_batch_t b = {
        .ev = e->ev, .n = e->n, .verdict = v, .reason = reason, .ocsf_version = "1.7.0"};
    for (size_t i = 0; i < e->n; i++) {
        v[i] = EXP_RETRY;
        b.bytes += e->ev[i].json_len;
    }
    err[0] = '\0';
    int rc = exp_sink_file.send(sink, &b, err, errlen);
    for (size_t i = 0; i < e->n; i++)
        free(reason[i]);
    free(reason);
    return rc;
}

static void send_ok(void *sink, const events_t *e)
{
    uint8_t *v = malloc(e->n);
    char err[256];
    int rc = send_events(sink, e, v, err, sizeof err);
    if (rc != EXP_SEND_DONE)
        fail_msg("send: %d %s", rc, err);
    for (size_t i = 0; i < e->n; i++)
        assert_int_equal(v[i], EXP_OK);
    free(v);
}

/* The NDJSON bytes of events a..b of e. */
static void expect_lines(ocsf_buf_t *want, const events_t *e)
{
    for (size_t i = 0; i < e->n; i++) {
        ocsf_buf_put(want, e->json[i], strlen(e->json[i]));
        ocsf_buf_putc(want, '\n');
    }
}

/* ---- files --------------------------------------------------------------- */

static void today(char out[11])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

/* dir/<name from fmt>, in one of 4 rotating static buffers. */
static const char *path_of(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *path_of(const char *fmt, ...)
{
    static char p[4][512];
    static unsigned next;
    char name[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    char *out = p[next++ % 4];
    snprintf(out, sizeof p[0], "%s/%s", dir, name);
    return out;
}

static bool exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* Appends the whole file at p to out; false when it cannot be read. */
static bool slurp(const char *p, ocsf_buf_t *out)
{
    FILE *f = fopen(p, "rb");
    if (!f)
        return false;
    char chunk[8192];
    size_t r;
    while ((r = fread(chunk, 1, sizeof chunk, f)) > 0)
        ocsf_buf_put(out, chunk, r);
    fclose(f);
    return true;
}

/* Runs the real zstd binary: `zstd -dc p`, appended to out. */
static void unzstd(const char *p, ocsf_buf_t *out)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "zstd -q -dc '%s'", p);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    char chunk[8192];
    size_t r;
    while ((r = fread(chunk, 1, sizeof chunk, f)) > 0)
        ocsf_buf_put(out, chunk, r);
    int st = pclose(f);
    if (st != 0)
        fail_msg("zstd -dc %s: exit status %d", p, st);
}

static void assert_same_bytes(const ocsf_buf_t *got, const ocsf_buf_t *want)
{
    if (got->len != want->len || memcmp(got->p, want->p, got->len) != 0) {
        size_t i = 0;
        while (i < got->len && i < want->len && got->p[i] == want->p[i])
            i++;
        fail_msg("contents differ: got %zu bytes, want %zu, first difference at %zu", got->len,
                 want->len, i);
    }
}

static size_t count_files(const char *suffix)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -c -- '%s$'", dir, suffix);
    FILE *f = popen(cmd, "r");
    size_t n = 0;
    if (fscanf(f, "%zu", &n) != 1)
        n = 0;
    pclose(f);
    return n;
}

/* ---- tests --------------------------------------------------------------- */

static void content_line_by_line(void **state)
{
    (void)state;
    void *cfg = config((const char *[]){"compress=none", NULL});
    void *sink = open_sink(cfg);
    events_t a = make_events(1, 40), b = make_events(41, 7);
    send_ok(sink, &a);
    send_ok(sink, &b);
    exp_sink_file.close(sink);
    char day[11];
    today(day);
    ocsf_buf_t got, want;
    ocsf_buf_init(&got);
    ocsf_buf_init(&want);
    assert_true(slurp(path_of("ocsf-%s.jsonl", day), &got));
    expect_lines(&want, &a);
    expect_lines(&want, &b);
    /* line by line: each is the exact JSON of one event, in order */
    ocsf_buf_cstr(&got);
    char *save = NULL, *line = strtok_r(got.p, "\n", &save);
    for (size_t i = 0; i < a.n + b.n; i++, line = strtok_r(NULL, "\n", &save)) {
        assert_non_null(line);
        assert_string_equal(line, i < a.n ? a.json[i] : b.json[i - a.n]);
    }
    assert_null(line);
    got.len = 0;
    assert_true(slurp(path_of("ocsf-%s.jsonl", day), &got));
    assert_same_bytes(&got, &want);
    ocsf_buf_dispose(&got);
    ocsf_buf_dispose(&want);
    free_events(&a);
    free_events(&b);
    free_config(cfg);
}

static void bad_event_is_permanent(void **state)
{
    (void)state;
    void *cfg = config((const char *[]){"compress=none", NULL});
    void *sink = open_sink(cfg);
    events_t e = make_events(1, 3);
    static const char two_lines[] = "{\"a\":1}\n{\"b\":2}";
    e.ev[1].json = two_lines;
    e.ev[1].json_len = sizeof two_lines - 1;
    uint8_t v[3];
    char err[256];
    assert_int_equal(send_events(sink, &e, v, err, sizeof err), EXP_SEND_DONE);
    assert_int_equal(v[0], EXP_OK);
    assert_int_equal(v[1], EXP_PERMANENT);
    assert_int_equal(v[2], EXP_OK);
    exp_sink_file.close(sink);
    char day[11];
    today(day);
    ocsf_buf_t got, want;
    ocsf_buf_init(&got);
    ocsf_buf_init(&want);
    assert_true(slurp(path_of("ocsf-%s.jsonl", day), &got));
    ocsf_buf_put(&want, e.json[0], strlen(e.json[0]));
    ocsf_buf_putc(&want, '\n');
    ocsf_buf_put(&want, e.json[2], strlen(e.json[2]));
    ocsf_buf_putc(&want, '\n');
    assert_same_bytes(&got, &want);
    ocsf_buf_dispose(&got);
    ocsf_buf_dispose(&want);
    free_events(&e);
    free_config(cfg);
}

static void config_checks(void **state)
{
    (void)state;
    void *cfg = calloc(1, exp_sink_file.config_size);
    char err[256];
    assert_int_equal(conf_defaults(exp_sink_file.options, cfg), 0);
    assert_int_equal(exp_sink_file.check(cfg, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "dir"));
    assert_int_not_equal(conf_set(exp_sink_file.options, cfg, "compress", "gzip", err, sizeof err),
                         0);
    assert_int_not_equal(conf_set(exp_sink_file.options, cfg, "fsync", "always", err, sizeof err),
                         0);
    assert_int_equal(conf_set(exp_sink_file.options, cfg, "nope", "1", err, sizeof err), -ENOENT);
    free_config(cfg);
}

/* Size rotation: every rotated file is a .zst that the real zstd turns back
 * into exactly its lines; with the active file they are every line sent. */
static void rotate_by_size_zstd(void **state)
{
    (void)state;
    void *cfg = config((const char *[]){"rotate_bytes=8KiB", "keep_files=0", NULL});
    void *sink = open_sink(cfg);
    ocsf_buf_t want, got;
    ocsf_buf_init(&want);
    ocsf_buf_init(&got);
    for (size_t k = 0; k < 30; k++) {
        events_t e = make_events(1 + k * 5, 5);
        send_ok(sink, &e);
        expect_lines(&want, &e);
        free_events(&e);
    }
    exp_sink_file.close(sink);
    char day[11];
    today(day);
    size_t zst = count_files("\\.jsonl\\.zst");
    assert_true(zst >= 3);
    assert_int_equal(count_files("\\.[0-9]*\\.jsonl"), 0); /* all compressed */
    assert_int_equal(count_files("\\.tmp"), 0);
    for (unsigned long n = 1; n <= zst; n++) {
        const char *p = path_of("ocsf-%s.%lu.jsonl.zst", day, n);
        assert_true(exists(p));
        size_t before = got.len;
        unzstd(p, &got);
        assert_true(got.len > before);
        assert_int_equal(got.p[got.len - 1], '\n'); /* whole lines only */
    }
    slurp(path_of("ocsf-%s.jsonl", day), &got); /* absent right after a rotation */
    assert_same_bytes(&got, &want);
    ocsf_buf_dispose(&want);
    ocsf_buf_dispose(&got);
    free_config(cfg);
}

static void rotate_by_time(void **state)
{
    (void)state;
    void *cfg = config((const char *[]){"rotate_interval=500ms", "compress=none", NULL});
    void *sink = open_sink(cfg);
    events_t a = make_events(1, 4), b = make_events(5, 4), c = make_events(9, 2);
    send_ok(sink, &a);
    usleep(600 * 1000);
    send_ok(sink, &b); /* rotates a's file first */
    send_ok(sink, &c); /* well within 500 ms: same file as b */
    exp_sink_file.close(sink);
    char day[11];
    today(day);
    ocsf_buf_t got, want;
    ocsf_buf_init(&got);
    ocsf_buf_init(&want);
    assert_true(slurp(path_of("ocsf-%s.%lu.jsonl", day, 1ul), &got));
    expect_lines(&want, &a);
    assert_same_bytes(&got, &want);
    got.len = want.len = 0;
    assert_true(slurp(path_of("ocsf-%s.jsonl", day), &got));
    expect_lines(&want, &b);
    expect_lines(&want, &c);
    assert_same_bytes(&got, &want);
    assert_false(exists(path_of("ocsf-%s.%lu.jsonl", day, 2ul)));
    ocsf_buf_dispose(&got);
    ocsf_buf_dispose(&want);
    free_events(&a);
    free_events(&b);
    free_events(&c);
    free_config(cfg);
}

typedef struct {
    ocsf_buf_t text;
} metrics_t;

static void on_metric(void *ctx, const char *line)
{
    metrics_t *m = ctx;
    ocsf_buf_puts(&m->text, line);
    ocsf_buf_putc(&m->text, '\n');
}

static long metric(void *sink, const char *name)
{
    metrics_t m;
    ocsf_buf_init(&m.text);
    exp_sink_file.metrics(sink, on_metric, &m);
    char key[160];
    snprintf(key, sizeof key, "%s{exporter=\"archive\"} ", name);
    const char *p = strstr(ocsf_buf_cstr(&m.text), key);
    long v = p ? strtol(p + strlen(key), NULL, 10) : -1;
    ocsf_buf_dispose(&m.text);
    return v;
}

/* Each batch is over rotate_bytes, so each send ends in a rotation. */
static void retention(const char *keep, unsigned long want_first)
{
    void *cfg = config((const char *[]){"rotate_bytes=1KiB", "compress=none", keep, NULL});
    void *sink = open_sink(cfg);
    for (size_t k = 0; k < 6; k++) {
        events_t e = make_events(1, 3); /* the same bytes each time */
        send_ok(sink, &e);
        free_events(&e);
    }
    char day[11];
    today(day);
    assert_int_equal(metric(sink, "tollgate_exporter_file_files_rotated_total"), 6);
    assert_int_equal(metric(sink, "tollgate_exporter_file_files_removed_total"),
                     (long)want_first - 1);
    assert_true(metric(sink, "tollgate_exporter_file_bytes_written_total") > 6 * 1024);
    exp_sink_file.close(sink);
    for (unsigned long n = 1; n <= 6; n++) /* the oldest went first */
        assert_int_equal(exists(path_of("ocsf-%s.%lu.jsonl", day, n)), n >= want_first);
    free_config(cfg);
}

static void retention_by_count(void **state)
{
    (void)state;
    retention("keep_files=2", 5);
}

static void retention_by_bytes(void **state)
{
    (void)state;
    /* room for three and a half batches: the three newest stay */
    events_t e = make_events(1, 3);
    size_t one = 0;
    for (size_t i = 0; i < e.n; i++)
        one += e.ev[i].json_len + 1;
    free_events(&e);
    char keep[64];
    snprintf(keep, sizeof keep, "keep_bytes=%zu", one * 3 + one / 2);
    retention(keep, 4);
}

static void human_log_lines(void **state)
{
    (void)state;
    void *cfg = config((const char *[]){"human_log=on", "compress=none", NULL});
    void *sink = open_sink(cfg);
    events_t e = make_events(0, 16);
    /* not JSON (raw control bytes in a string), with bytes that must not reach
     * the log raw: ocsf_render_json refuses it, the line is marked */
    static const char evil[] = "{\"class_uid\":4001,\"x\":\"\x1b[31m\r\"}";
    e.ev[15].json = evil;
    e.ev[15].json_len = sizeof evil - 1;
    uint8_t v[16];
    char err[256];
    assert_int_equal(send_events(sink, &e, v, err, sizeof err), EXP_SEND_DONE);
    exp_sink_file.close(sink);
    char day[11];
    today(day);
    ocsf_buf_t got;
    ocsf_buf_init(&got);
    assert_true(slurp(path_of("tollgate-%s.log", day), &got));
    ocsf_buf_cstr(&got);
    char *save = NULL, *line = strtok_r(got.p, "\n", &save);
    for (size_t i = 0; i < 15; i++, line = strtok_r(NULL, "\n", &save)) {
        ocsf_event_t ev;
        char derr[256];
        assert_non_null(line);
        assert_int_equal(ocsf_decode(e.json[i], strlen(e.json[i]), &ev, derr, sizeof derr), 0);
        char *want = unit_render(&ev, OCSF_LINE_FILE);
        assert_string_equal(line, want);
        free(want);
        ocsf_event_dispose(&ev);
    }
    assert_non_null(line); /* the undecodable one: a clean, marked line */
    assert_true(unit_clean_line(line, strlen(line)));
    assert_non_null(strstr(line, "OCSF EVENT:4001 [seq:15] [undecoded:"));
    assert_null(strtok_r(NULL, "\n", &save));
    ocsf_buf_dispose(&got);
    free_events(&e);
    free_config(cfg);
}

static void write_file(const char *p, const char *bytes, size_t n, const char *mode)
{
    FILE *f = fopen(p, mode);
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    fclose(f);
}

/* A crash left half a line at the end: open cuts it, the next send goes on
 * after the last whole line. Also for the human log. */
static void torn_tail_is_cut(void **state)
{
    (void)state;
    void *cfg = config((const char *[]){"human_log=on", NULL});
    events_t a = make_events(1, 5), b = make_events(6, 5);
    void *sink = open_sink(cfg);
    send_ok(sink, &a);
    exp_sink_file.close(sink);
    char day[11];
    today(day);
    char data[512], human[512];
    snprintf(data, sizeof data, "%s", path_of("ocsf-%s.jsonl", day));
    snprintf(human, sizeof human, "%s", path_of("tollgate-%s.log", day));
    ocsf_buf_t h1, got, want;
    ocsf_buf_init(&h1);
    ocsf_buf_init(&got);
    ocsf_buf_init(&want);
    assert_true(slurp(human, &h1));
    write_file(data, a.json[0], strlen(a.json[0]) / 2, "ab");
    write_file(human, "2026-01-01T00:00:00.000Z OCSF NET:OP", 36, "ab");
    sink = open_sink(cfg);
    assert_true(slurp(data, &got));
    expect_lines(&want, &a);
    assert_same_bytes(&got, &want);
    got.len = 0;
    assert_true(slurp(human, &got));
    assert_same_bytes(&got, &h1);
    send_ok(sink, &b);
    exp_sink_file.close(sink);
    got.len = 0;
    assert_true(slurp(data, &got));
    expect_lines(&want, &b);
    assert_same_bytes(&got, &want);
    ocsf_buf_dispose(&h1);
    ocsf_buf_dispose(&got);
    ocsf_buf_dispose(&want);
    free_events(&a);
    free_events(&b);
    free_config(cfg);
}

/* What crashes leave: a rotated .jsonl with a half-written .zst.tmp; a
 * rotated .jsonl whose .zst was complete; the torn active file of an
 * earlier day. Open repairs all three. */
static void crash_mid_compression(void **state)
{
    (void)state;
    events_t e = make_events(1, 6);
    ocsf_buf_t lines, got;
    ocsf_buf_init(&lines);
    ocsf_buf_init(&got);
    expect_lines(&lines, &e);
    assert_int_equal(mkdir(dir, 0750), 0);
    write_file(path_of("ocsf-%s.%lu.jsonl", "2020-01-01", 1ul), lines.p, lines.len, "wb");
    write_file(path_of("ocsf-%s.%lu.jsonl.zst.tmp", "2020-01-01", 1ul), "\x28\xb5\x2f", 3, "wb");
    write_file(path_of("ocsf-%s.%lu.jsonl.zst.tmp", "2020-01-01", 2ul), "\x28\xb5", 2, "wb");
    write_file(path_of("ocsf-%s.%lu.jsonl", "2020-01-02", 1ul), lines.p, lines.len, "wb");
    char cmd[1200];
    const char *two = path_of("ocsf-%s.%lu.jsonl", "2020-01-02", 1ul);
    snprintf(cmd, sizeof cmd, "zstd -q -c '%s' > '%s.zst'", two, two);
    assert_int_equal(system(cmd), 0);
    write_file(path_of("ocsf-%s.jsonl", "2020-01-03"), lines.p, lines.len, "wb");
    write_file(path_of("ocsf-%s.jsonl", "2020-01-03"), "{\"torn", 6, "ab");

    void *cfg = config(NULL);
    void *sink = open_sink(cfg);
    exp_sink_file.close(sink);
    assert_int_equal(count_files("\\.tmp"), 0);
    assert_int_equal(count_files("\\.[0-9]*\\.jsonl"), 0);
    assert_false(exists(path_of("ocsf-%s.jsonl", "2020-01-03")));
    const char *days[] = {"2020-01-01", "2020-01-02", "2020-01-03"};
    for (size_t i = 0; i < 3; i++) {
        got.len = 0;
        unzstd(path_of("ocsf-%s.%lu.jsonl.zst", days[i], 1ul), &got);
        assert_same_bytes(&got, &lines);
    }
    ocsf_buf_dispose(&lines);
    ocsf_buf_dispose(&got);
    free_events(&e);
    free_config(cfg);
}

/* ENOSPC on a 64 KiB tmpfs: RETRY with the errno text, nothing marked OK,
 * the file still ends in a whole line; after space is freed the same batch
 * goes through. */
static void enospc_then_resend(void **state)
{
    (void)state;
    assert_int_equal(mkdir(dir, 0750), 0);
    if (mount("tmpfs", dir, "tmpfs", 0, "size=64k") != 0) {
        print_message("cannot mount a tmpfs (%s): ENOSPC test skipped\n", strerror(errno));
        skip();
    }
    char filler[512];
    snprintf(filler, sizeof filler, "%s/filler", dir);
    char *junk = calloc(1, 24 << 10);
    write_file(filler, junk, 24 << 10, "wb");
    free(junk);
    void *cfg = config((const char *[]){"compress=none", NULL});
    void *sink = open_sink(cfg);
    ocsf_buf_t want, got;
    ocsf_buf_init(&want);
    ocsf_buf_init(&got);
    char err[256], day[11];
    today(day);
    int rc = EXP_SEND_DONE;
    events_t e = {0};
    uint8_t v[8];
    for (size_t k = 0; k < 100 && rc == EXP_SEND_DONE; k++) {
        free_events(&e);
        e = make_events(1 + k * 8, 8);
        rc = send_events(sink, &e, v, err, sizeof err);
        if (rc == EXP_SEND_DONE)
            expect_lines(&want, &e);
    }
    assert_int_equal(rc, EXP_SEND_RETRY);
    assert_non_null(strstr(err, strerror(ENOSPC)));
    for (size_t i = 0; i < e.n; i++)
        assert_int_equal(v[i], EXP_RETRY);
    assert_true(slurp(path_of("ocsf-%s.jsonl", day), &got));
    assert_same_bytes(&got, &want); /* not torn: exactly the acknowledged lines */
    assert_int_equal(unlink(filler), 0);
    rc = send_events(sink, &e, v, err, sizeof err);
    if (rc != EXP_SEND_DONE)
        fail_msg("resend: %d %s", rc, err);
    for (size_t i = 0; i < e.n; i++)
        assert_int_equal(v[i], EXP_OK);
    expect_lines(&want, &e);
    exp_sink_file.close(sink);
    got.len = 0;
    assert_true(slurp(path_of("ocsf-%s.jsonl", day), &got));
    assert_same_bytes(&got, &want);
    free_events(&e);
    ocsf_buf_dispose(&want);
    ocsf_buf_dispose(&got);
    free_config(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(config_checks, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(content_line_by_line, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(bad_event_is_permanent, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(rotate_by_size_zstd, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(rotate_by_time, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(retention_by_count, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(retention_by_bytes, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(human_log_lines, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(torn_tail_is_cut, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(crash_mid_compression, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(enospc_then_resend, setup_dir, teardown_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
