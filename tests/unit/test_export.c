/* Unit tests of the export engine with a scripted sink: checkpoints,
 * resume, retries, dead letters, pause, retention floor, config errors. */
#include "unit.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "collector/export.h"

#define T0     1795737600000LL
#define MAXSEQ 100000

static char tmpdir[256], spool[300];

static int setup_dir(void **state)
{
    (void)state;
    if (unit_tmpdir_make(tmpdir, sizeof tmpdir, "exp") != 0)
        return -1;
    snprintf(spool, sizeof spool, "%s/spool", tmpdir);
    return 0;
}

static int teardown_dir(void **state)
{
    (void)state;
    unit_tmpdir_remove(tmpdir);
    return 0;
}

/* ---- the scripted sink -------------------------------------------------- */

typedef struct {
    int rc_script[16]; /* whole-batch answers, one per send, then DONE */
    size_t nscript, sent_calls;
    uint64_t reject_seq; /* EXP_PERMANENT for this sequence (0: none) */
    uint64_t flaky_seq;  /* EXP_RETRY once for this sequence */
    bool flaky_done;
    unsigned count[MAXSEQ]; /* deliveries per sequence */
    size_t max_batch;
    pthread_mutex_t mu;
} script_t;

static script_t S;

typedef struct {
    char *label;
} fake_cfg_t;

static const conf_option_t fake_options[] = {
    {"label", CONF_STRING, "x", 0, 0, NULL, offsetof(fake_cfg_t, label), "a label"},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL},
};

static int fake_open(const exp_common_t *common, const void *config, void **sink, char *err,
                     size_t errlen)
{
    (void)config, (void)err, (void)errlen;
    *sink = (void *)common;
    return 0;
}

static int fake_send(void *sink, exp_batch_t *b, char *err, size_t errlen)
{
    (void)sink;
    pthread_mutex_lock(&S.mu);
    size_t call = S.sent_calls++;
    if (b->n > S.max_batch)
        S.max_batch = b->n;
    if (call < S.nscript && S.rc_script[call] != EXP_SEND_DONE) {
        int rc = S.rc_script[call];
        pthread_mutex_unlock(&S.mu);
        snprintf(err, errlen, "scripted failure %zu", call);
        return rc;
    }
    for (size_t i = 0; i < b->n; i++) {
        uint64_t seq = b->ev[i].seq;
        /* every event is a whole JSON object */
        assert_true(b->ev[i].json_len > 2 && b->ev[i].json[0] == '{' &&
                    b->ev[i].json[b->ev[i].json_len - 1] == '}');
        if (seq == S.reject_seq) {
            exp_batch_set(b, i, EXP_PERMANENT, "scripted: too large");
        } else if (seq == S.flaky_seq && !S.flaky_done) {
            S.flaky_done = true; /* stays EXP_RETRY */
        } else {
            if (seq < MAXSEQ)
                S.count[seq]++;
            exp_batch_set(b, i, EXP_OK, NULL);
        }
    }
    pthread_mutex_unlock(&S.mu);
    return EXP_SEND_DONE;
}

static void fake_close(void *sink)
{
    (void)sink;
}

static const exp_sink_type_t fake_sink = {
    .type = "fake",
    .options = fake_options,
    .config_size = sizeof(fake_cfg_t),
    .open = fake_open,
    .send = fake_send,
    .close = fake_close,
};

static void script_reset(void)
{
    pthread_mutex_destroy(&S.mu);
    memset(&S, 0, sizeof S);
    pthread_mutex_init(&S.mu, NULL);
}

/* ---- helpers ------------------------------------------------------------ */

static col_t *open_col(void)
{
    col_config_t cfg;
    col_config_default(&cfg);
    cfg.spool_dir = spool;
    cfg.fsync = COL_FSYNC_NEVER;
    col_t *c = NULL;
    char err[256];
    if (col_create(&cfg, &c, err, sizeof err) != 0)
        fail_msg("col_create: %s", err);
    return c;
}

static uint64_t col_stats_appended(col_t *c);

static void append_n(col_t *c, int n)
{
    static const ocsf_product_t p = {OCSF_STR("t"), OCSF_STR("tollgate"), OCSF_STR("0")};
    for (int i = 0; i < n; i++) {
        ocsf_event_t ev;
        ocsf_event_init(&ev);
        ocsf_event_begin(&ev, OCSF_CLASS_NETWORK, OCSF_NET_OPEN, OCSF_SEV_INFO, T0 + i, &p);
        ev.log_name = OCSF_STR("sandbox");
        ev.container_name = OCSF_STR("sb");
        ev.device_type_id = 0;
        ev.dst.domain = OCSF_STR("example.com");
        ev.dst.port = 443;
        ocsf_event_verdict(&ev, true, OCSF_NOSTR, OCSF_STR("policy"), OCSF_NOSTR);
        char err[128];
        assert_int_equal(col_append(c, &ev, NULL, err, sizeof err), 0);
    }
    /* written, so the tests know the last sequence */
    uint64_t want = col_stats_appended(c);
    for (int k = 0; k < 500 && col_written_seq(c) < want; k++)
        usleep(10000);
    assert_true(col_written_seq(c) >= want);
}

static uint64_t col_stats_appended(col_t *c)
{
    col_stats_t st;
    col_stats(c, &st);
    return st.appended;
}

static exp_config_t fake_config(const char *name)
{
    exp_config_t c;
    memset(&c, 0, sizeof c);
    conf_defaults(exp_options, &c);
    c.name = strdup(name);
    c.type = strdup("fake");
    c.sink = &fake_sink;
    c.sink_config = calloc(1, sizeof(fake_cfg_t));
    conf_defaults(fake_options, c.sink_config);
    c.batch_events = 100;
    c.linger_ms = 5;
    c.retry_initial_ms = 10;
    c.retry_max_ms = 40;
    return c;
}

static void fake_dispose(exp_config_t *c)
{
    conf_dispose(fake_options, c->sink_config);
    free(c->sink_config);
    conf_dispose(exp_options, c);
    free(c->name);
    free(c->type);
}

static exp_engine_t *start(col_t *c, exp_config_list_t *l)
{
    exp_engine_t *e = NULL;
    char err[512];
    if (exp_engine_start(c, tmpdir, "host", l, &e, err, sizeof err) != 0)
        fail_msg("exp_engine_start: %s", err);
    return e;
}

/* waits until the exporter's checkpoint reaches seq (5 s at most) */
static void wait_ckpt(exp_engine_t *e, size_t i, uint64_t seq)
{
    exp_stats_t st;
    for (int k = 0; k < 500; k++) {
        exp_engine_stats(e, i, &st);
        if (st.checkpoint >= seq)
            return;
        usleep(10000);
    }
    fail_msg("checkpoint %llu, want %llu", (unsigned long long)st.checkpoint,
             (unsigned long long)seq);
}

static uint64_t read_ckpt(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/exporters/%s.ckpt", tmpdir, name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    unsigned long long v = 0;
    assert_int_equal(fscanf(f, "%llu", &v), 1);
    fclose(f);
    return v;
}

/* ---- tests -------------------------------------------------------------- */

static void test_delivers_and_resumes(void **state)
{
    (void)state;
    script_reset();
    col_t *c = open_col();
    append_n(c, 250);
    exp_config_list_t l = {0};
    exp_config_t cfg = fake_config("one");
    l.v = &cfg;
    l.n = 1;
    exp_engine_t *e = start(c, &l);
    uint64_t last = col_written_seq(c);
    wait_ckpt(e, 0, last);
    exp_stats_t st;
    exp_engine_stats(e, 0, &st);
    assert_int_equal(st.delivered, last);
    assert_int_equal(st.lag_events, 0);
    assert_true(S.max_batch <= 100); /* batch.max_events holds */
    exp_engine_stop(e);
    assert_int_equal(read_ckpt("one"), last);

    /* more events while it is down; a restart resumes at the checkpoint */
    append_n(c, 40);
    uint64_t last2 = col_written_seq(c);
    e = start(c, &l);
    wait_ckpt(e, 0, last2);
    exp_engine_stop(e);
    for (uint64_t s = 1; s <= last2; s++)
        if (S.count[s] != 1)
            fail_msg("sequence %llu delivered %u times", (unsigned long long)s, S.count[s]);
    col_destroy(c);
    fake_dispose(&cfg);
}

static void test_retry_dead_letter_pause(void **state)
{
    (void)state;
    script_reset();
    col_t *c = open_col();
    append_n(c, 60);
    S.rc_script[0] = EXP_SEND_RETRY;
    S.rc_script[1] = EXP_SEND_PAUSE;
    S.rc_script[2] = EXP_SEND_RETRY;
    S.nscript = 3;
    S.reject_seq = 7;
    S.flaky_seq = 9;
    exp_config_list_t l = {0};
    exp_config_t cfg = fake_config("two");
    cfg.retry_max_ms = 100; /* the pause lasts retry.max */
    l.v = &cfg;
    l.n = 1;
    exp_engine_t *e = start(c, &l);
    uint64_t last = col_written_seq(c);
    /* while paused, the state shows */
    bool saw_pause = false;
    for (int k = 0; k < 300 && !saw_pause; k++) {
        exp_stats_t st;
        exp_engine_stats(e, 0, &st);
        saw_pause = st.paused;
        usleep(1000);
    }
    assert_true(saw_pause);
    wait_ckpt(e, 0, last);
    exp_stats_t st;
    exp_engine_stats(e, 0, &st);
    assert_false(st.paused);
    assert_int_equal(st.dead_lettered, 1);
    assert_int_equal(st.delivered, last - 1);
    assert_true(st.retried >= 3);
    assert_true(strstr(st.last_error, "scripted failure") != NULL);
    ocsf_buf_t m;
    ocsf_buf_init(&m);
    exp_engine_metrics(e, &m);
    assert_non_null(
        strstr(ocsf_buf_cstr(&m), "tollgate_exporter_dead_lettered_total{exporter=\"two\"} 1\n"));
    ocsf_buf_dispose(&m);
    exp_engine_stop(e);
    for (uint64_t s = 1; s <= last; s++)
        assert_int_equal(S.count[s], s == 7 ? 0 : 1); /* the flaky one only once, too */
    /* the dead letter: one line with the reason and the event */
    char path[512];
    snprintf(path, sizeof path, "%s/dlq/two.jsonl", tmpdir);
    json_error_t je;
    json_t *dl = json_load_file(path, JSON_DISABLE_EOF_CHECK, &je);
    assert_non_null(dl);
    assert_int_equal(json_integer_value(json_object_get(dl, "sequence")), 7);
    assert_string_equal(json_string_value(json_object_get(dl, "reason")), "scripted: too large");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(dl, "event"), "metadata"), "sequence")),
                     7);
    json_decref(dl);
    col_destroy(c);
    fake_dispose(&cfg);
}

static void test_floor_holds_retention(void **state)
{
    (void)state;
    script_reset();
    col_t *c = open_col();
    append_n(c, 10);
    exp_config_list_t l = {0};
    exp_config_t cfg[2] = {fake_config("fast"), fake_config("off")};
    cfg[1].enabled = 0;
    l.v = cfg;
    l.n = 2;
    exp_engine_t *e = start(c, &l);
    uint64_t last = col_written_seq(c);
    wait_ckpt(e, 0, last);
    col_stats_t cs;
    for (int k = 0; k < 100; k++) {
        col_stats(c, &cs);
        if (cs.retention_floor == last + 1)
            break;
        usleep(10000);
    }
    /* the disabled exporter holds nothing */
    assert_int_equal(cs.retention_floor, last + 1);
    exp_engine_stop(e);
    col_destroy(c);
    for (int i = 0; i < 2; i++)
        fake_dispose(&cfg[i]);
}

/* past spool.max_bytes, a floor holds the oldest segment: new events are
 * dropped (when_full = drop_newest), counted, and nothing the floor holds
 * is deleted; once the floor moves, retention frees space again */
static void test_cap_with_floor(void **state)
{
    (void)state;
    col_config_t cfg;
    col_config_default(&cfg);
    cfg.spool_dir = spool;
    cfg.fsync = COL_FSYNC_NEVER;
    cfg.segment_bytes = 64 << 10;
    cfg.retention_bytes = 64 << 10;
    cfg.max_bytes = 256 << 10;
    cfg.when_full = COL_FULL_DROP_NEWEST;
    cfg.ring_bytes = 64 << 10;
    col_t *c = NULL;
    char err[256];
    assert_int_equal(col_create(&cfg, &c, err, sizeof err), 0);
    col_set_retention_floor(c, 1);
    static const ocsf_product_t p = {OCSF_STR("t"), OCSF_STR("tollgate"), OCSF_STR("0")};
    col_stats_t st;
    for (int i = 0; i < 20000; i++) {
        ocsf_event_t ev;
        ocsf_event_init(&ev);
        ocsf_event_begin(&ev, OCSF_CLASS_NETWORK, OCSF_NET_OPEN, OCSF_SEV_INFO, T0 + i, &p);
        ev.log_name = OCSF_STR("sandbox");
        ev.device_type_id = 0;
        ev.dst.domain = OCSF_STR("example.com");
        ev.dst.port = 443;
        ocsf_event_verdict(&ev, true, OCSF_NOSTR, OCSF_STR("policy"), OCSF_NOSTR);
        int rc = col_append(c, &ev, NULL, err, sizeof err);
        assert_true(rc == 0 || rc == -EAGAIN);
        if (i % 1000 == 999)
            usleep(20000);
    }
    usleep(1200000); /* a retention pass */
    col_stats(c, &st);
    assert_true(st.full);
    assert_true(st.dropped > 0);
    assert_int_equal(col_first_seq(c), 1); /* the floor held the oldest segment */
    assert_true(st.spool_bytes <= (uint64_t)cfg.max_bytes + (uint64_t)cfg.segment_bytes * 2);
    col_set_retention_floor(c, UINT64_MAX);
    for (int k = 0; k < 300; k++) {
        col_stats(c, &st);
        if (!st.full)
            break;
        usleep(10000);
    }
    assert_false(st.full);
    assert_true(col_first_seq(c) > 1);
    col_destroy(c);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void expect_config_error(const char *yaml, const char *want)
{
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/cfg.yaml", tmpdir);
    write_file(path, yaml);
    exp_config_list_t l = {0};
    conf_list_t hook = exp_config_list_hook(&l);
    int rc = conf_load_file_lists(path, NULL, NULL, 0, &hook, 1, err, sizeof err);
    exp_config_list_dispose(&l);
    assert_int_not_equal(rc, 0);
    if (!strstr(err, want))
        fail_msg("error '%s' does not contain '%s'", err, want);
}

static void test_config(void **state)
{
    (void)state;
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/cfg.yaml", tmpdir);
    write_file(path, "exporters:\n"
                     "  - name: archive\n"
                     "    type: file\n"
                     "    dir: /tmp/x\n"
                     "    batch: {max_events: 10, linger: 1s}\n"
                     "    ocsf_version: 1.3.0\n");
    exp_config_list_t l = {0};
    conf_list_t hook = exp_config_list_hook(&l);
    int rc = conf_load_file_lists(path, NULL, NULL, 0, &hook, 1, err, sizeof err);
    if (rc)
        fail_msg("%s", err);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.v[0].name, "archive");
    assert_int_equal(l.v[0].batch_events, 10);
    assert_int_equal(l.v[0].linger_ms, 1000);
    assert_string_equal(exp_ocsf_versions[l.v[0].ocsf_version], "1.3.0");
    exp_config_list_dispose(&l);

    expect_config_error("exporters:\n  - {name: a, type: file, dir: /x, bogus: 1}\n",
                        "cfg.yaml:2: exporters: a: unknown key 'bogus' for type file");
    expect_config_error("exporters:\n  - name: a\n    type: smoke\n",
                        "cfg.yaml:3: exporters: a: type 'smoke' is not one of");
    expect_config_error("exporters:\n  - {type: file, dir: /x}\n", "an exporter needs a name");
    expect_config_error("exporters:\n  - {name: a, type: file, dir: /x}\n"
                        "  - {name: a, type: file, dir: /y}\n",
                        "cfg.yaml:3: exporters: name 'a' is used twice");
    expect_config_error("exporters:\n  - name: a\n    type: file\n    dir: /x\n"
                        "    ocsf_version: 2.0\n",
                        "cfg.yaml:5: exporters: a: ocsf_version");
    expect_config_error("exporters:\n  - {name: 'a b', type: file}\n", "name 'a b'");
    expect_config_error("exporters:\n  - just-a-string\n", "each item must be a mapping");
}

int main(void)
{
    pthread_mutex_init(&S.mu, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_delivers_and_resumes, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_retry_dead_letter_pause, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_floor_holds_retention, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_cap_with_floor, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_config, setup_dir, teardown_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
