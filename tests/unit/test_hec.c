/*
 * Unit tests of the Splunk HEC sink (exporters/hec/) against
 * tests/tools/hec_receiver.py (run from the repo root). Each test starts its
 * own receiver and plays the engine: it sends the events still EXP_RETRY
 * again after every send, and checks the verdicts, the return codes and
 * what the receiver stored (counts and metadata.uid, no loss, duplicates
 * only for batches that were resent after a lost ack).
 */
#include "unit.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "exporters/sink.h"

#define RECEIVER "tests/tools/hec_receiver.py"
#define TOKEN    "s3cret-T0KEN-do-not-log"
#define T0       1795737600123LL
#define MAXEV    64

static char tmpdir[256];
static pid_t rx_pid;
static int rx_port;
static bool rx_tls; /* the receiver speaks https (its cert is not checked here) */
static char logs[8192];
static atomic_bool stop_flag;

/* ---- the receiver ------------------------------------------------------- */

static void rx_start(const char *const *extra)
{
    const char *argv[24] = {"/usr/bin/python3", RECEIVER, "--token", TOKEN};
    size_t n = 4;
    for (; extra && *extra && n < 22; extra++)
        argv[n++] = *extra;
    argv[n] = NULL;
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    rx_pid = fork();
    assert_true(rx_pid >= 0);
    if (rx_pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fd[1]);
    char line[32] = {0};
    size_t k = 0;
    while (k + 1 < sizeof line && read(fd[0], line + k, 1) == 1 && line[k] != '\n')
        k++;
    close(fd[0]);
    rx_port = atoi(line);
    if (rx_port <= 0)
        fail_msg("hec_receiver.py did not print its port");
}

static void rx_stop(void)
{
    if (rx_pid > 0) {
        kill(rx_pid, SIGTERM);
        waitpid(rx_pid, NULL, 0);
    }
    rx_pid = 0;
    rx_tls = false;
}

static size_t rx_body(char *p, size_t size, size_t n, void *userp)
{
    ocsf_buf_put(userp, p, size * n);
    return size * n;
}

/* GET /_stats (body NULL) or POST /_control body; returns the reply. */
static json_t *rx_call(const char *body)
{
    char url[128];
    snprintf(url, sizeof url, "%s://127.0.0.1:%d/%s", rx_tls ? "https" : "http", rx_port,
             body ? "_control" : "_stats");
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, rx_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    if (body)
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    assert_int_equal(curl_easy_perform(e), CURLE_OK);
    curl_easy_cleanup(e);
    json_t *j = json_loadb(b.p, b.len, 0, NULL);
    ocsf_buf_dispose(&b);
    assert_non_null(j);
    return j;
}

static void rx_control(const char *body)
{
    json_decref(rx_call(body));
}

static long long stat_int(const char *key)
{
    json_t *j = rx_call(NULL);
    long long v = json_integer_value(json_object_get(j, key));
    json_decref(j);
    return v;
}

/* How many times the receiver stored each uid u-0..u-(n-1); fails on others. */
static void stored_counts(int *count, int n)
{
    memset(count, 0, sizeof(int) * (size_t)n);
    json_t *j = rx_call(NULL);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(j, "uids"), i, v)
    {
        int k = -1;
        assert_int_equal(sscanf(json_string_value(v), "u-%d", &k), 1);
        assert_true(k >= 0 && k < n);
        count[k]++;
    }
    json_decref(j);
}

/* ---- the engine's side ------------------------------------------------- */

static char ev_json[MAXEV][256];
static exp_event_t evs[MAXEV];

static void make_events(int n)
{
    for (int i = 0; i < n; i++) {
        int len = snprintf(ev_json[i], sizeof ev_json[i],
                           "{\"metadata\":{\"uid\":\"u-%d\",\"version\":\"1.7.0\"},"
                           "\"class_uid\":4001,\"time\":%lld,\"message\":\"ev %d\"}",
                           i, T0 + i, i);
        evs[i] = (exp_event_t){.seq = (uint64_t)i + 1,
                               .json = ev_json[i],
                               .json_len = (size_t)len,
                               .sandbox = "",
                               .class_uid = 4001,
                               .class_name = "Network Activity",
                               .time_ms = T0 + i};
    }
}

static void log_cb(void *ctx, const char *msg)
{
    (void)ctx;
    size_t l = strlen(logs);
    snprintf(logs + l, sizeof logs - l, "%s\n", msg);
}

static const exp_common_t common = {.name = "siem",
                                    .state_dir = "/nonexistent",
                                    .hostname = "testhost",
                                    .ocsf_version = "1.7.0",
                                    .stop = &stop_flag,
                                    .log = log_cb};

typedef struct {
    void *cfg;
    void *sink;
} tsink_t;

/* Opens a sink on the receiver; kv is "key", "value", ..., NULL. */
static tsink_t open_hec(const char *scheme, const char *const *kv)
{
    tsink_t h = {calloc(1, exp_sink_hec.config_size), NULL};
    char err[256], url[96];
    assert_int_equal(conf_defaults(exp_sink_hec.options, h.cfg), 0);
    snprintf(url, sizeof url, "%s://127.0.0.1:%d", scheme, rx_port);
    assert_int_equal(conf_set(exp_sink_hec.options, h.cfg, "url", url, err, sizeof err), 0);
    assert_int_equal(conf_set(exp_sink_hec.options, h.cfg, "token", TOKEN, err, sizeof err), 0);
    assert_int_equal(conf_set(exp_sink_hec.options, h.cfg, "timeout", "5s", err, sizeof err), 0);
    for (; kv && kv[0]; kv += 2)
        if (conf_set(exp_sink_hec.options, h.cfg, kv[0], kv[1], err, sizeof err) != 0)
            fail_msg("conf_set %s: %s", kv[0], err);
    assert_int_equal(exp_sink_hec.check(h.cfg, err, sizeof err), 0);
    if (exp_sink_hec.open(&common, h.cfg, &h.sink, err, sizeof err) != 0)
        fail_msg("open: %s", err);
    return h;
}

static void close_hec(tsink_t *h)
{
    exp_sink_hec.close(h->sink);
    exp_sink_hec.dispose(h->cfg);
    free(h->cfg);
}

typedef struct {
    uint8_t verdict[MAXEV]; /* final, per event */
    char *reason[MAXEV];
    int rcs[32]; /* what each send returned */
    int nrcs;
    char err[512]; /* the last err */
} run_t;

/* One send of the events of ev[0..n) not yet decided. */
static int send_pending(tsink_t *h, run_t *r, int n)
{
    exp_event_t sub[MAXEV];
    int idx[MAXEV];
    uint8_t v[MAXEV];
    char *reason[MAXEV] = {0};
    size_t m = 0;
    for (int i = 0; i < n; i++)
        if (r->verdict[i] == EXP_RETRY) {
            idx[m] = i;
            v[m] = EXP_RETRY;
            sub[m++] = evs[i];
        }
    exp_batch_t b = {sub, m, 0, v, reason, "1.7.0"};
    r->err[0] = 0;
    int rc = exp_sink_hec.send(h->sink, &b, r->err, sizeof r->err);
    for (size_t k = 0; k < m; k++) {
        r->verdict[idx[k]] = v[k];
        if (reason[k]) {
            free(r->reason[idx[k]]);
            r->reason[idx[k]] = reason[k];
        }
    }
    if (r->nrcs < 32)
        r->rcs[r->nrcs++] = rc;
    return rc;
}

/* Plays the engine until every event is decided or rounds run out. */
static void deliver(tsink_t *h, run_t *r, int n, int rounds)
{
    for (int k = 0; k < rounds; k++) {
        bool pending = false;
        for (int i = 0; i < n; i++)
            pending |= r->verdict[i] == EXP_RETRY;
        if (!pending)
            return;
        send_pending(h, r, n);
    }
}

static void run_free(run_t *r)
{
    for (int i = 0; i < MAXEV; i++)
        free(r->reason[i]);
}

static int setup(void **state)
{
    (void)state;
    logs[0] = 0;
    atomic_store(&stop_flag, false);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rx_stop();
    assert_null(strstr(logs, TOKEN));
    return 0;
}

/* ---- tests -------------------------------------------------------------- */

/* All OK in one request; the envelope as documented; gzip counted. */
static void test_ok_envelope_gzip(void **state)
{
    (void)state;
    char out[320];
    snprintf(out, sizeof out, "%s/events.ndjson", tmpdir);
    unlink(out);
    rx_start((const char *[]){"--out", out, NULL});
    make_events(40);
    tsink_t h = open_hec("http", NULL);
    run_t r = {0};
    deliver(&h, &r, 40, 1);
    assert_int_equal(r.rcs[0], EXP_SEND_DONE);
    for (int i = 0; i < 40; i++)
        assert_int_equal(r.verdict[i], EXP_OK);
    int count[40];
    stored_counts(count, 40);
    for (int i = 0; i < 40; i++)
        assert_int_equal(count[i], 1);
    assert_int_equal(stat_int("gzip_posts"), 1);
    assert_int_equal(stat_int("health_checks"), 1);

    FILE *f = fopen(out, "r");
    assert_non_null(f);
    char line[1024];
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    json_t *env = json_loads(line, 0, NULL);
    assert_non_null(env);
    assert_string_equal(json_string_value(json_object_get(env, "sourcetype")),
                        "ocsf:network_activity");
    assert_string_equal(json_string_value(json_object_get(env, "host")), "testhost");
    assert_string_equal(json_string_value(json_object_get(env, "source")), "tollgate");
    assert_null(json_object_get(env, "index"));
    assert_true(json_real_value(json_object_get(env, "time")) == 1795737600.123);
    json_t *uid =
        json_object_get(json_object_get(json_object_get(env, "event"), "metadata"), "uid");
    assert_string_equal(json_string_value(uid), "u-0");
    json_decref(env);
    run_free(&r);
    close_hec(&h);
}

/* gzip off: plain bodies; index and a fixed sourcetype in the envelope;
 * keep-alive: five batches, one TCP connection; the channel is stable. */
static void test_plain_keepalive_channel(void **state)
{
    (void)state;
    rx_start(NULL);
    make_events(10);
    tsink_t h = open_hec(
        "http", (const char *[]){"gzip", "off", "index", "audit", "sourcetype", "ocsf", NULL});
    for (int k = 0; k < 5; k++) {
        run_t r = {0};
        deliver(&h, &r, 10, 1);
        assert_int_equal(r.rcs[0], EXP_SEND_DONE);
        run_free(&r);
    }
    close_hec(&h);
    json_t *st = rx_call(NULL); /* its own connection is the second */
    assert_int_equal(json_integer_value(json_object_get(st, "gzip_posts")), 0);
    assert_int_equal(json_integer_value(json_object_get(st, "events")), 50);
    assert_int_equal(json_integer_value(json_object_get(st, "connections")), 2);
    json_decref(st);
    h = open_hec("http", NULL); /* a restart: same name and host, same channel */
    run_t r = {0};
    deliver(&h, &r, 10, 1);
    json_t *j = rx_call(NULL);
    json_t *ch = json_object_get(j, "channels");
    assert_int_equal(json_array_size(ch), 1);
    assert_int_equal(strlen(json_string_value(json_array_get(ch, 0))), 36);
    json_decref(j);
    run_free(&r);
    close_hec(&h);
}

/* 503 x3, 429: four retries of the whole batch, then all OK, stored once. */
static void test_503_storm(void **state)
{
    (void)state;
    rx_start((const char *[]){"--script", "503,503,503,429", NULL});
    make_events(20);
    tsink_t h = open_hec("http", NULL);
    run_t r = {0};
    deliver(&h, &r, 20, 10);
    assert_int_equal(r.nrcs, 5);
    for (int k = 0; k < 4; k++)
        assert_int_equal(r.rcs[k], EXP_SEND_RETRY);
    assert_int_equal(r.rcs[4], EXP_SEND_DONE);
    int count[20];
    stored_counts(count, 20);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(r.verdict[i], EXP_OK);
        assert_int_equal(count[i], 1);
    }
    json_t *j = rx_call(NULL);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "statuses"), "503")), 3);
    json_decref(j);
    run_free(&r);
    close_hec(&h);
}

/* 400 invalid-event-number 3: 0-2 OK, 3 permanent with Splunk's text, 4-9
 * resent by the engine, no duplicates. */
static void test_invalid_event_number(void **state)
{
    (void)state;
    rx_start(NULL);
    rx_control("{\"reject_uids\":[\"u-3\"]}");
    make_events(10);
    tsink_t h = open_hec("http", NULL);
    run_t r = {0};
    assert_int_equal(send_pending(&h, &r, 10), EXP_SEND_DONE);
    for (int i = 0; i < 3; i++)
        assert_int_equal(r.verdict[i], EXP_OK);
    assert_int_equal(r.verdict[3], EXP_PERMANENT);
    assert_non_null(r.reason[3]);
    assert_non_null(strstr(r.reason[3], "Invalid data format"));
    for (int i = 4; i < 10; i++)
        assert_int_equal(r.verdict[i], EXP_RETRY);
    deliver(&h, &r, 10, 3);
    int count[10];
    stored_counts(count, 10);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(r.verdict[i], i == 3 ? EXP_PERMANENT : EXP_OK);
        assert_int_equal(count[i], i == 3 ? 0 : 1);
    }
    run_free(&r);
    close_hec(&h);
}

/* A 400 without an event number on one event: permanent. A 413 on a batch:
 * split in halves, all delivered once. */
static void test_400_and_413(void **state)
{
    (void)state;
    rx_start((const char *[]){"--script", "400,413", NULL});
    make_events(8);
    tsink_t h = open_hec("http", NULL);
    run_t r = {0};
    assert_int_equal(send_pending(&h, &r, 1), EXP_SEND_DONE);
    assert_int_equal(r.verdict[0], EXP_PERMANENT);
    assert_non_null(strstr(r.reason[0], "HTTP 400"));
    run_t r2 = {0};
    deliver(&h, &r2, 8, 1);
    assert_int_equal(r2.rcs[0], EXP_SEND_DONE);
    int count[8];
    stored_counts(count, 8);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(r2.verdict[i], EXP_OK);
        assert_int_equal(count[i], 1);
    }
    assert_int_equal(stat_int("event_posts"), 4); /* 400, 413, two halves */
    run_free(&r);
    run_free(&r2);
    close_hec(&h);
}

/* A wrong token: PAUSE (the token nowhere in err), then OK once fixed. */
static void test_token_pause(void **state)
{
    (void)state;
    rx_start(NULL);
    rx_control("{\"token\":\"another\"}");
    make_events(5);
    tsink_t h = open_hec("http", NULL);
    run_t r = {0};
    assert_int_equal(send_pending(&h, &r, 5), EXP_SEND_PAUSE);
    assert_non_null(strstr(r.err, "403"));
    assert_non_null(strstr(r.err, "code 4"));
    assert_null(strstr(r.err, TOKEN));
    assert_int_equal(stat_int("events"), 0);
    rx_control("{\"token\":\"" TOKEN "\"}");
    assert_int_equal(send_pending(&h, &r, 5), EXP_SEND_DONE);
    assert_int_equal(stat_int("events"), 5);
    assert_int_equal(stat_int("health_checks"), 2); /* first send and after the pause */
    run_free(&r);
    close_hec(&h);
}

/* Unhealthy: RETRY without posting; a dropped connection: RETRY; a closed
 * port: open works, send retries. */
static void test_health_and_outages(void **state)
{
    (void)state;
    rx_start(NULL);
    rx_control("{\"healthy\":false}");
    make_events(4);
    tsink_t h = open_hec("http", NULL);
    run_t r = {0};
    assert_int_equal(send_pending(&h, &r, 4), EXP_SEND_RETRY);
    assert_non_null(strstr(r.err, "not healthy"));
    assert_int_equal(stat_int("event_posts"), 0);
    /* curl resends once on a fresh connection when a reused one dies
     * unanswered: drop both */
    rx_control("{\"healthy\":true,\"drop\":2}");
    assert_int_equal(send_pending(&h, &r, 4), EXP_SEND_RETRY);
    assert_int_equal(send_pending(&h, &r, 4), EXP_SEND_DONE);
    assert_int_equal(stat_int("events"), 4);
    close_hec(&h);
    rx_stop();
    h = open_hec("http", NULL); /* nobody listens on rx_port now */
    run_t r2 = {0};
    assert_int_equal(send_pending(&h, &r2, 4), EXP_SEND_RETRY);
    assert_int_equal(r2.verdict[0], EXP_RETRY);
    run_free(&r);
    run_free(&r2);
    close_hec(&h);
}

/* Acks on: OK only after the ack; no ack within ack_timeout: RETRY, and the
 * resend duplicates exactly that batch. */
static void test_ack(void **state)
{
    (void)state;
    rx_start((const char *[]){"--ack", "--ack-delay", "0.3", NULL});
    make_events(6);
    tsink_t h = open_hec("http", (const char *[]){"ack", "on", "ack_timeout", "700ms", NULL});
    run_t r = {0};
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_int_equal(send_pending(&h, &r, 6), EXP_SEND_DONE);
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_true((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 >= 300);
    assert_true(stat_int("ack_queries") >= 2);
    for (int i = 0; i < 6; i++)
        assert_int_equal(r.verdict[i], EXP_OK);

    rx_control("{\"ack_never\":true,\"reset_stats\":true}");
    run_t r2 = {0};
    assert_int_equal(send_pending(&h, &r2, 6), EXP_SEND_RETRY);
    assert_non_null(strstr(r2.err, "ackId"));
    for (int i = 0; i < 6; i++)
        assert_int_equal(r2.verdict[i], EXP_RETRY);
    rx_control("{\"ack_never\":false}");
    assert_int_equal(send_pending(&h, &r2, 6), EXP_SEND_DONE);
    int count[6];
    stored_counts(count, 6);
    for (int i = 0; i < 6; i++)
        assert_int_equal(count[i], 2); /* the batch whose ack never came, resent once */
    run_free(&r);
    run_free(&r2);
    close_hec(&h);
}

static void *set_stop_later(void *arg)
{
    (void)arg;
    usleep(300 * 1000);
    atomic_store(&stop_flag, true);
    return NULL;
}

/* *stop while waiting for a 60 s ack: send returns within a second. */
static void test_stop(void **state)
{
    (void)state;
    rx_start((const char *[]){"--ack", NULL});
    rx_control("{\"ack_never\":true}");
    make_events(3);
    tsink_t h = open_hec("http", (const char *[]){"ack", "on", NULL});
    pthread_t t;
    pthread_create(&t, NULL, set_stop_later, NULL);
    time_t t0 = time(NULL);
    run_t r = {0};
    assert_int_equal(send_pending(&h, &r, 3), EXP_SEND_RETRY);
    assert_true(time(NULL) - t0 <= 2);
    pthread_join(t, NULL);
    run_free(&r);
    close_hec(&h);
}

static int sh(const char *cmd)
{
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* TLS: verification on by default (a self-signed cert fails), passes with
 * ca_file; insecure_skip_verify works and is logged. */
static void test_tls(void **state)
{
    (void)state;
    char cert[320], key[320], cmd[1200];
    snprintf(cert, sizeof cert, "%s/cert.pem", tmpdir);
    snprintf(key, sizeof key, "%s/key.pem", tmpdir);
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
             "-addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout %s -out %s "
             ">/dev/null 2>&1",
             key, cert);
    if (sh(cmd) != 0)
        skip();
    rx_start((const char *[]){"--tls", cert, key, NULL});
    rx_tls = true;
    make_events(5);
    tsink_t h = open_hec("https", NULL);
    run_t r = {0};
    assert_int_equal(send_pending(&h, &r, 5), EXP_SEND_RETRY);
    assert_non_null(strstr(r.err, "certificate"));
    close_hec(&h);
    assert_int_equal(stat_int("events"), 0);

    h = open_hec("https", (const char *[]){"ca_file", cert, NULL});
    assert_int_equal(send_pending(&h, &r, 5), EXP_SEND_DONE);
    close_hec(&h);
    assert_int_equal(stat_int("events"), 5);
    assert_null(strstr(logs, "insecure"));

    h = open_hec("https", (const char *[]){"insecure_skip_verify", "on", NULL});
    assert_non_null(strstr(logs, "insecure_skip_verify is on"));
    run_t r2 = {0};
    assert_int_equal(send_pending(&h, &r2, 5), EXP_SEND_DONE);
    assert_int_equal(stat_int("events"), 10);
    run_free(&r);
    run_free(&r2);
    close_hec(&h);
}

/* Config errors: missing keys, bad url, a token with a newline, ca_file. */
static void test_config(void **state)
{
    (void)state;
    void *cfg = calloc(1, exp_sink_hec.config_size);
    char err[256];
    const conf_option_t *o = exp_sink_hec.options;
    assert_int_equal(conf_defaults(o, cfg), 0);
    assert_int_equal(exp_sink_hec.check(cfg, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "url"));
    assert_int_equal(conf_set(o, cfg, "url", "ftp://x", err, sizeof err), 0);
    assert_int_equal(conf_set(o, cfg, "token", "a\nb", err, sizeof err), 0);
    assert_int_equal(exp_sink_hec.check(cfg, err, sizeof err), -EINVAL);
    assert_int_equal(conf_set(o, cfg, "url", "https://splunk:8088/", err, sizeof err), 0);
    assert_int_equal(exp_sink_hec.check(cfg, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "token"));
    assert_null(strstr(err, "a\nb"));
    assert_int_equal(conf_set(o, cfg, "token", "t", err, sizeof err), 0);
    assert_int_equal(exp_sink_hec.check(cfg, err, sizeof err), 0);
    assert_int_equal(conf_set(o, cfg, "gzip", "maybe", err, sizeof err), -EINVAL);
    assert_int_equal(conf_set(o, cfg, "ca_file", "/nonexistent/ca.pem", err, sizeof err), 0);
    void *sink = NULL;
    assert_true(exp_sink_hec.open(&common, cfg, &sink, err, sizeof err) < 0);
    assert_null(sink);
    exp_sink_hec.dispose(cfg);
    free(cfg);
}

int main(void)
{
    if (unit_tmpdir_make(tmpdir, sizeof tmpdir, "hec") != 0)
        return 1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ok_envelope_gzip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plain_keepalive_channel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_503_storm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_event_number, setup, teardown),
        cmocka_unit_test_setup_teardown(test_400_and_413, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_pause, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health_and_outages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unit_tmpdir_remove(tmpdir);
    curl_global_cleanup();
    return rc;
}
