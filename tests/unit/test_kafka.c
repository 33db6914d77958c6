/*
 * Unit tests of the Kafka sink (exporters/kafka/) against librdkafka's
 * in-process mock cluster: what is sent is consumed back with a plain
 * consumer and compared by metadata.uid; faults are injected with the mock's
 * request errors and broker down/up. The test plays the engine: it resends
 * the events left EXP_RETRY. Each case has its own cluster.
 *
 * TEST_KAFKA_DEBUG=1 prints every send result and the sink's log lines.
 */
#include "unit.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "exporters/sink.h"

#define TOPIC          "ocsf"
#define PARTS          3
#define APIKEY_PRODUCE 0
#define MAX_EVENTS     1000

/* 0, 1, 2, ...: "the first n events" for send_batch */
static size_t all_idx[MAX_EVENTS];

/* ---- fixture: a mock cluster, a sink, log lines ---------------------------- */

typedef struct {
    rd_kafka_t *mock_rk;
    rd_kafka_mock_cluster_t *mc;
    const char *bootstraps;
    void *cfg;
    void *sink;
    atomic_bool stop;
    exp_common_t common;
    char *logs[256];
    size_t nlogs;
} fx_t;

static void fx_log(void *ctx, const char *msg)
{
    fx_t *fx = ctx;
    /* every line the sink logs must be one clean line */
    assert_true(unit_clean_line(msg, strlen(msg)));
    if (fx->nlogs < 256)
        fx->logs[fx->nlogs++] = strdup(msg);
}

static int setup(void **state)
{
    char errstr[256];
    fx_t *fx = calloc(1, sizeof *fx);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof errstr);
    fx->mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!fx->mock_rk)
        return -1;
    fx->mc = rd_kafka_mock_cluster_new(fx->mock_rk, 3);
    if (!fx->mc)
        return -1;
    fx->bootstraps = rd_kafka_mock_cluster_bootstraps(fx->mc);
    if (rd_kafka_mock_topic_create(fx->mc, TOPIC, PARTS, 3) != 0)
        return -1;
    fx->common = (exp_common_t){.name = "kafka-test",
                                .state_dir = "/nonexistent",
                                .hostname = "host",
                                .ocsf_version = "1.7.0",
                                .stop = &fx->stop,
                                .log = fx_log,
                                .log_ctx = fx};
    fx->cfg = calloc(1, exp_sink_kafka.config_size);
    conf_defaults(exp_sink_kafka.options, fx->cfg);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    exp_sink_kafka.close(fx->sink);
    exp_sink_kafka.dispose(fx->cfg);
    free(fx->cfg);
    rd_kafka_mock_cluster_destroy(fx->mc);
    rd_kafka_destroy(fx->mock_rk);
    for (size_t i = 0; i < fx->nlogs; i++)
        free(fx->logs[i]);
    free(fx);
    return 0;
}

static void set(fx_t *fx, const char *key, const char *value)
{
    char err[512];
    int rc = conf_set(exp_sink_kafka.options, fx->cfg, key, value, err, sizeof err);
    if (rc == -ENOENT)
        rc = exp_sink_kafka.set_extra(fx->cfg, key, value, err, sizeof err);
    if (rc)
        fail_msg("%s=%s: %s", key, value, err);
}

/* Opens the sink on the mock cluster (extra key=value pairs, NULL-ended). */
static void open_sink(fx_t *fx, const char *brokers, ...)
{
    char err[512];
    va_list ap;
    set(fx, "brokers", brokers ? brokers : fx->bootstraps);
    set(fx, "topic", TOPIC);
    set(fx, "rdkafka.retry.backoff.ms", "50");
    va_start(ap, brokers);
    for (const char *k; (k = va_arg(ap, const char *));)
        set(fx, k, va_arg(ap, const char *));
    va_end(ap);
    assert_int_equal(exp_sink_kafka.check(fx->cfg, err, sizeof err), 0);
    if (exp_sink_kafka.open(&fx->common, fx->cfg, &fx->sink, err, sizeof err) != 0)
        fail_msg("open: %s", err);
}

/* ---- events and batches ------------------------------------------------------ */

typedef struct {
    exp_event_t *ev;
    char **json;
    char **uid;
    size_t n;
} events_t;

/* n real OCSF events (the samples, cycled), each with its own metadata.uid;
 * event big (if < n) gets a message of big_bytes bytes. */
static void make_events(events_t *e, size_t n, size_t big, size_t big_bytes)
{
    static char sandboxes[MAX_SAMPLES][64];
    ocsf_event_t s[MAX_SAMPLES];
    size_t ns = ocsf_samples(s, MAX_SAMPLES);
    char *filler = NULL;
    e->n = n;
    e->ev = calloc(n, sizeof *e->ev);
    e->json = calloc(n, sizeof *e->json);
    e->uid = calloc(n, sizeof *e->uid);
    for (size_t i = 0; i < n; i++) {
        ocsf_event_t ev = s[i % ns];
        snprintf(ev.uid, sizeof ev.uid, "00000000-0000-4000-8000-%012zu", i);
        if (i == big) {
            filler = malloc(big_bytes);
            memset(filler, 'x', big_bytes);
            ev.message = (ocsf_str_t){filler, big_bytes};
        }
        e->json[i] = unit_encode(&ev);
        e->uid[i] = strdup(ev.uid);
        snprintf(sandboxes[i % ns], sizeof sandboxes[0], "%.*s", (int)ev.container_name.n,
                 ev.container_name.p ? ev.container_name.p : "");
        e->ev[i] = (exp_event_t){.seq = i,
                                 .json = e->json[i],
                                 .json_len = strlen(e->json[i]),
                                 .sandbox = sandboxes[i % ns],
                                 .sandbox_len = strlen(sandboxes[i % ns]),
                                 .class_uid = ev.class_uid,
                                 .class_name = ocsf_class_name(ev.class_uid),
                                 .time_ms = ev.time};
    }
    free(filler);
}

static void free_events(events_t *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->json[i]);
        free(e->uid[i]);
    }
    free(e->ev);
    free(e->json);
    free(e->uid);
}

typedef struct {
    exp_batch_t b;
    int rc;
    char err[512];
} sent_t;

/* Sends events idx[0..n) as one batch. */
static void send_batch(fx_t *fx, const events_t *e, const size_t *idx, size_t n, sent_t *out)
{
    exp_event_t *ev = calloc(n, sizeof *ev);
    for (size_t i = 0; i < n; i++)
        ev[i] = e->ev[idx[i]];
    out->b = (exp_batch_t){.ev = ev,
                           .n = n,
                           .verdict = calloc(n, 1),
                           .reason = calloc(n, sizeof(char *)),
                           .ocsf_version = "1.7.0"};
    out->err[0] = '\0';
    out->rc = exp_sink_kafka.send(fx->sink, &out->b, out->err, sizeof out->err);
    if (getenv("TEST_KAFKA_DEBUG")) {
        size_t cnt[3] = {0, 0, 0};
        for (size_t i = 0; i < n; i++)
            cnt[out->b.verdict[i]]++;
        fprintf(stderr, "# send %zu: rc %d retry %zu ok %zu perm %zu err '%s'\n", n, out->rc,
                cnt[0], cnt[1], cnt[2], out->err);
        for (size_t i = 0; i < fx->nlogs; i++)
            fprintf(stderr, "#   log: %s\n", fx->logs[i]);
    }
}

static void free_sent(sent_t *s)
{
    for (size_t i = 0; i < s->b.n; i++)
        free(s->b.reason[i]);
    free(s->b.reason);
    free(s->b.verdict);
    free((void *)s->b.ev);
}

/* The engine's loop: resend what stays EXP_RETRY, up to rounds times.
 * Returns the number of rounds it took; fails if something stays. */
static int send_until_done(fx_t *fx, const events_t *e, int rounds, uint8_t *verdicts)
{
    size_t *todo = malloc(e->n * sizeof *todo), n = e->n;
    for (size_t i = 0; i < n; i++)
        todo[i] = i;
    int r;
    for (r = 1; r <= rounds && n > 0; r++) {
        sent_t s;
        send_batch(fx, e, todo, n, &s);
        assert_int_not_equal(s.rc, EXP_SEND_PAUSE);
        size_t left = 0;
        for (size_t i = 0; i < n; i++) {
            verdicts[todo[i]] = s.b.verdict[i];
            if (s.b.verdict[i] == EXP_RETRY)
                todo[left++] = todo[i];
        }
        if (left > 0)
            assert_true(s.err[0] != '\0'); /* a partial result says why */
        n = left;
        free_sent(&s);
    }
    free(todo);
    if (n > 0)
        fail_msg("%zu events still EXP_RETRY after %d rounds", n, rounds);
    return r - 1;
}

/* ---- consuming back ------------------------------------------------------------ */

typedef struct {
    size_t count;
    size_t *seen; /* [events] how many times each uid came back */
    size_t bad;   /* messages whose headers or key did not match */
} consumed_t;

static const char *header(rd_kafka_message_t *m, const char *name, size_t *len)
{
    rd_kafka_headers_t *h = NULL;
    const void *v = NULL;
    if (rd_kafka_message_headers(m, &h) != 0 || rd_kafka_header_get_last(h, name, &v, len) != 0)
        return NULL;
    return v;
}

/* Checks one consumed message against the event it names; counts it. */
static void check_message(const events_t *e, int key_mode, rd_kafka_message_t *m, consumed_t *c)
{
    json_error_t je;
    json_t *j = json_loadb(m->payload, m->len, 0, &je);
    assert_non_null(j);
    const char *uid = json_string_value(json_object_get(json_object_get(j, "metadata"), "uid"));
    assert_non_null(uid);
    long long idx = -1;
    sscanf(uid + 24, "%lld", &idx);
    assert_true(idx >= 0 && (size_t)idx < e->n);
    assert_string_equal(uid, e->uid[idx]);
    c->seen[idx]++;
    c->count++;
    char cls[16];
    size_t hl;
    snprintf(cls, sizeof cls, "%lld", json_integer_value(json_object_get(j, "class_uid")));
    const char *hv = header(m, "ocsf_class_uid", &hl);
    if (!hv || hl != strlen(cls) || memcmp(hv, cls, hl) != 0)
        c->bad++;
    hv = header(m, "ocsf_version", &hl);
    if (!hv || hl != 5 || memcmp(hv, "1.7.0", 5) != 0)
        c->bad++;
    const exp_event_t *ev = &e->ev[idx];
    if (key_mode == 0 && (m->key_len != ev->sandbox_len ||
                          (ev->sandbox_len && memcmp(m->key, ev->sandbox, m->key_len))))
        c->bad++;
    if (key_mode == 1 && (m->key_len != strlen(cls) || memcmp(m->key, cls, m->key_len)))
        c->bad++;
    if (key_mode == 2 && m->key != NULL)
        c->bad++;
    json_decref(j);
}

/* Reads every partition of TOPIC from the beginning to its end. */
static void consume_all(fx_t *fx, const events_t *e, int key_mode, consumed_t *c)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", fx->bootstraps, errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "group.id", "test", errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    assert_non_null(rk);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(PARTS);
    for (int p = 0; p < PARTS; p++)
        rd_kafka_topic_partition_list_add(parts, TOPIC, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(rk, parts), 0);
    rd_kafka_topic_partition_list_destroy(parts);

    memset(c, 0, sizeof *c);
    c->seen = calloc(e->n, sizeof *c->seen);
    int eof = 0;
    time_t end = time(NULL) + 30;
    while (eof < PARTS && time(NULL) < end) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            eof++;
        else if (m->err == 0)
            check_message(e, key_mode, m, c);
        rd_kafka_message_destroy(m);
    }
    assert_int_equal(eof, PARTS);
    rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
}

static size_t metric(fx_t *fx, const char *name);

/* ---- the cases --------------------------------------------------------------------- */

/* A batch is produced once, acknowledged, and reads back with its uids,
 * headers and sandbox keys. */
static void send_and_consume(void **state)
{
    fx_t *fx = *state;
    events_t e;
    consumed_t c;
    sent_t s;
    make_events(&e, 300, SIZE_MAX, 0);
    open_sink(fx, NULL, NULL);
    send_batch(fx, &e, all_idx, e.n, &s);
    assert_int_equal(s.rc, EXP_SEND_DONE);
    for (size_t i = 0; i < e.n; i++)
        assert_int_equal(s.b.verdict[i], EXP_OK);
    free_sent(&s);
    consume_all(fx, &e, 0, &c);
    assert_int_equal(c.count, e.n);
    for (size_t i = 0; i < e.n; i++)
        assert_int_equal(c.seen[i], 1);
    assert_int_equal(c.bad, 0);
    assert_int_equal(metric(fx, "producer_recreated_total"), 0);
    free(c.seen);
    free_events(&e);
}

/* 40 events sent with key = `key` all read back, none bad; key_mode: as
 * check_message() checks the key. */
static void key_round_trip(fx_t *fx, const char *key, int key_mode)
{
    events_t e;
    consumed_t c;
    uint8_t v[40];
    make_events(&e, 40, SIZE_MAX, 0);
    open_sink(fx, NULL, "key", key, NULL);
    send_until_done(fx, &e, 1, v);
    consume_all(fx, &e, key_mode, &c);
    assert_int_equal(c.count, e.n);
    assert_int_equal(c.bad, 0);
    free(c.seen);
    free_events(&e);
}

static void key_class_and_none(void **state)
{
    key_round_trip(*state, "class", 1);
}

static void key_none(void **state)
{
    key_round_trip(*state, "none", 2);
}

/* Retriable Produce errors: everything ends EXP_OK over resends, every uid
 * reads back (duplicates allowed), nothing is dead-lettered. */
static void retriable_errors_lose_nothing(void **state)
{
    fx_t *fx = *state;
    events_t e;
    consumed_t c;
    uint8_t v[500];
    make_events(&e, 500, SIZE_MAX, 0);
    open_sink(fx, NULL, "timeout", "2s", NULL);
    rd_kafka_mock_push_request_errors(
        fx->mc, APIKEY_PRODUCE, 6, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR__TRANSPORT,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
    send_until_done(fx, &e, 10, v);
    for (size_t i = 0; i < e.n; i++)
        assert_int_equal(v[i], EXP_OK);
    consume_all(fx, &e, 0, &c);
    for (size_t i = 0; i < e.n; i++)
        assert_true(c.seen[i] >= 1);
    assert_true(c.count >= e.n);
    assert_int_equal(c.bad, 0);
    free(c.seen);
    free_events(&e);
}

static void *up_later(void *arg)
{
    fx_t *fx = arg;
    sleep(3);
    rd_kafka_mock_broker_set_up(fx->mc, 1);
    return NULL;
}

/* A broker down for 3 s: its partition's events stay EXP_RETRY (1 s send
 * timeout, purged) until it is back, the others' are OK; then all are
 * delivered. */
static void broker_down_then_up(void **state)
{
    fx_t *fx = *state;
    events_t e;
    consumed_t c;
    sent_t s;
    uint8_t v[300];
    make_events(&e, 300, SIZE_MAX, 0);
    /* partition p led by broker p + 1; no key and no sticky partitioning:
     * the events spread over all three */
    for (int p = 0; p < PARTS; p++)
        rd_kafka_mock_partition_set_leader(fx->mc, TOPIC, p, p + 1);
    open_sink(fx, NULL, "timeout", "1s", "key", "none", "rdkafka.sticky.partitioning.linger.ms",
              "0", NULL);
    send_batch(fx, &e, all_idx, 10, &s); /* connected, metadata known */
    assert_int_equal(s.rc, EXP_SEND_DONE);
    free_sent(&s);

    rd_kafka_mock_broker_set_down(fx->mc, 1);
    pthread_t t;
    pthread_create(&t, NULL, up_later, fx);
    send_batch(fx, &e, all_idx, e.n, &s);
    size_t retry = 0;
    for (size_t i = 0; i < e.n; i++)
        retry += s.b.verdict[i] == EXP_RETRY;
    assert_true(retry > 0);   /* the outage was seen */
    assert_true(retry < e.n); /* the other brokers took theirs */
    free_sent(&s);
    send_until_done(fx, &e, 20, v);
    pthread_join(t, NULL);
    consume_all(fx, &e, 2, &c);
    for (size_t i = 0; i < e.n; i++)
        assert_true(c.seen[i] >= 1);
    free(c.seen);
    free_events(&e);
}

/* One event over message.max.bytes: EXP_PERMANENT with a reason, the rest
 * OK; it never reaches the topic. */
static void too_large_is_permanent(void **state)
{
    fx_t *fx = *state;
    events_t e;
    consumed_t c;
    sent_t s;
    make_events(&e, 50, 7, 40000);
    open_sink(fx, NULL, "rdkafka.message.max.bytes", "20000", NULL);
    send_batch(fx, &e, all_idx, e.n, &s);
    assert_int_equal(s.rc, EXP_SEND_DONE);
    for (size_t i = 0; i < e.n; i++)
        assert_int_equal(s.b.verdict[i], i == 7 ? EXP_PERMANENT : EXP_OK);
    assert_non_null(s.b.reason[7]);
    assert_non_null(strstr(s.b.reason[7], "MSG_SIZE_TOO_LARGE"));
    free_sent(&s);
    consume_all(fx, &e, 0, &c);
    assert_int_equal(c.count, e.n - 1);
    assert_int_equal(c.seen[7], 0);
    free(c.seen);
    free_events(&e);
}

/* A broker that answers a Produce with a permanent per-message error: those
 * events are dead-letter material (the DR path), a resend of the rest OK. */
static void broker_permanent_error(void **state)
{
    fx_t *fx = *state;
    events_t e;
    sent_t s;
    make_events(&e, 1, SIZE_MAX, 0);
    open_sink(fx, NULL, NULL);
    rd_kafka_mock_push_request_errors(fx->mc, APIKEY_PRODUCE, 1, RD_KAFKA_RESP_ERR_INVALID_MSG);
    send_batch(fx, &e, all_idx, 1, &s);
    assert_int_equal(s.b.verdict[0], EXP_PERMANENT);
    assert_non_null(s.b.reason[0]);
    assert_non_null(strstr(s.b.reason[0], "INVALID_MSG"));
    assert_null(strstr(s.b.reason[0], "class_uid")); /* never the payload */
    free_sent(&s);
    free_events(&e);
}

/* Topic authorization refused: send says PAUSE with why; nothing is OK. */
static void auth_error_pauses(void **state)
{
    fx_t *fx = *state;
    events_t e;
    sent_t s;
    make_events(&e, 5, SIZE_MAX, 0);
    open_sink(fx, NULL, "key", "none", "rdkafka.linger.ms", "200", NULL);
    rd_kafka_mock_push_request_errors(
        fx->mc, APIKEY_PRODUCE, 3, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    send_batch(fx, &e, all_idx, 5, &s);
    assert_int_equal(s.rc, EXP_SEND_PAUSE);
    assert_non_null(strstr(s.err, "TOPIC_AUTHORIZATION_FAILED"));
    for (size_t i = 0; i < 5; i++)
        assert_int_not_equal(s.b.verdict[i], EXP_PERMANENT);
    free_sent(&s);
    free_events(&e);
}

/* An idempotence error the producer cannot recover from: it is recreated,
 * the batch's events stay EXP_RETRY, and the next send delivers them. */
static void fatal_error_recreates_producer(void **state)
{
    fx_t *fx = *state;
    events_t e;
    consumed_t c;
    sent_t s;
    uint8_t v[20];
    make_events(&e, 20, SIZE_MAX, 0);
    /* a sequence the broker did not expect: fatal for an idempotent producer */
    open_sink(fx, NULL, "timeout", "5s", NULL);
    send_batch(fx, &e, all_idx, 1, &s); /* the producer has its id */
    free_sent(&s);
    rd_kafka_mock_push_request_errors(fx->mc, APIKEY_PRODUCE, 1,
                                      RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    send_batch(fx, &e, all_idx + 1, 19, &s);
    assert_true(s.rc == EXP_SEND_RETRY || s.rc == EXP_SEND_DONE);
    assert_non_null(strstr(s.err, "fatal"));
    free_sent(&s);
    assert_int_equal(metric(fx, "producer_recreated_total"), 1);
    send_until_done(fx, &e, 3, v);
    consume_all(fx, &e, 0, &c);
    for (size_t i = 0; i < e.n; i++)
        assert_true(c.seen[i] >= 1);
    free(c.seen);
    free_events(&e);
}

/* No broker at all: open still works, send gives up after its timeout with
 * everything EXP_RETRY, and a stop request ends it at once. */
static void no_broker_and_stop(void **state)
{
    fx_t *fx = *state;
    events_t e;
    sent_t s;
    make_events(&e, 10, SIZE_MAX, 0);
    open_sink(fx, "127.0.0.1:1", "timeout", "700ms", NULL);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    send_batch(fx, &e, all_idx, 10, &s);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double took = (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
    assert_int_equal(s.rc, EXP_SEND_RETRY);
    assert_non_null(strstr(s.err, "10 of 10 events not acknowledged within 700 ms"));
    for (size_t i = 0; i < 10; i++)
        assert_int_equal(s.b.verdict[i], EXP_RETRY);
    assert_true(took >= 0.6 && took < 6.0);
    free_sent(&s);

    atomic_store(&fx->stop, true);
    clock_gettime(CLOCK_MONOTONIC, &a);
    send_batch(fx, &e, all_idx, 10, &s);
    clock_gettime(CLOCK_MONOTONIC, &b);
    took = (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
    assert_int_equal(s.rc, EXP_SEND_RETRY);
    assert_true(took < 0.5);
    free_sent(&s);
    free_events(&e);
}

/* Config: rdkafka.* goes through librdkafka's checks with its text. */
static void config_errors(void **state)
{
    fx_t *fx = *state;
    char err[512] = "";
    assert_int_equal(
        exp_sink_kafka.set_extra(fx->cfg, "rdkafka.no.such.prop", "1", err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "No such configuration property"));
    assert_non_null(strstr(err, "no.such.prop"));
    err[0] = '\0';
    assert_int_equal(exp_sink_kafka.set_extra(fx->cfg, "rdkafka.acks", "banana", err, sizeof err),
                     -EINVAL);
    assert_non_null(strstr(err, "Invalid value"));
    assert_int_equal(exp_sink_kafka.set_extra(fx->cfg, "rdkafka.acks", "1", err, sizeof err), 0);
    assert_int_equal(exp_sink_kafka.set_extra(fx->cfg, "nope", "1", err, sizeof err), -ENOENT);
    /* a hostile property name comes back escaped */
    assert_int_equal(
        exp_sink_kafka.set_extra(fx->cfg, "rdkafka.a\nb\x1b[31m", "1", err, sizeof err), -EINVAL);
    assert_true(unit_clean_line(err, strlen(err)));
    /* required keys */
    assert_int_equal(exp_sink_kafka.check(fx->cfg, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "brokers"));
    set(fx, "brokers", fx->bootstraps);
    assert_int_equal(exp_sink_kafka.check(fx->cfg, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "topic"));
    assert_int_not_equal(conf_set(exp_sink_kafka.options, fx->cfg, "key", "uid", err, sizeof err),
                         0);
}

/* ---- metrics -------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    size_t value;
    int found;
} metric_q_t;

static void metric_emit(void *ctx, const char *line)
{
    metric_q_t *q = ctx;
    char want[256];
    snprintf(want, sizeof want, "tollgate_exporter_kafka_%s{exporter=\"kafka-test\"} ", q->name);
    if (strncmp(line, want, strlen(want)) == 0) {
        q->value = strtoull(line + strlen(want), NULL, 10);
        q->found = 1;
    }
}

static size_t metric(fx_t *fx, const char *name)
{
    metric_q_t q = {name, 0, 0};
    exp_sink_kafka.metrics(fx->sink, metric_emit, &q);
    assert_true(q.found);
    return q.value;
}

int main(void)
{
    for (size_t i = 0; i < MAX_EVENTS; i++)
        all_idx[i] = i;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(config_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(send_and_consume, setup, teardown),
        cmocka_unit_test_setup_teardown(key_class_and_none, setup, teardown),
        cmocka_unit_test_setup_teardown(key_none, setup, teardown),
        cmocka_unit_test_setup_teardown(too_large_is_permanent, setup, teardown),
        cmocka_unit_test_setup_teardown(broker_permanent_error, setup, teardown),
        cmocka_unit_test_setup_teardown(auth_error_pauses, setup, teardown),
        cmocka_unit_test_setup_teardown(retriable_errors_lose_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(broker_down_then_up, setup, teardown),
        cmocka_unit_test_setup_teardown(fatal_error_recreates_producer, setup, teardown),
        cmocka_unit_test_setup_teardown(no_broker_and_stop, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
