/*
 * kafka.c: the Kafka sink (exporter type "kafka"), on librdkafka.
 *
 * Config (keys relative to the exporter; parsed in kafka_conf.c):
 *   brokers     bootstrap.servers (required)
 *   topic       the topic every event goes to (required)
 *   key         sandbox | class | none: the message key is the sandbox name
 *               (device.container.name; no key when the event has none), the
 *               class_uid in decimal ("4001"), or absent (librdkafka's
 *               partitioner spreads the events)
 *   timeout     how long send waits for every delivery report (default 30s)
 *   rdkafka.<p> any librdkafka property <p>, checked by librdkafka
 *               (its own error text), applied after our defaults:
 *               enable.idempotence=true, acks=all, compression.codec=gzip,
 *               linger.ms=20, client.id=tollgate-<exporter name>.
 *
 * Each message: value = the OCSF JSON line, key per `key`, headers
 * ocsf_class_uid (decimal) and ocsf_version. The message opaque is the
 * index in the batch.
 *
 * Delivery: an event is EXP_OK only from a delivery report (DR) without
 * error. Per-message permanent errors (too large, invalid) are
 * EXP_PERMANENT with the error text; unknown topic and auth failures make
 * send return EXP_SEND_PAUSE; everything else stays EXP_RETRY.
 *
 * Invariant: when send returns, no message of its batch is left in the
 * producer. Every DR was served, or the remaining messages were purged
 * (RD_KAFKA_PURGE_F_QUEUE | INFLIGHT) and their DRs served, or the
 * producer was destroyed. So librdkafka never delivers an event after the
 * engine was told EXP_RETRY for it, except for a purged in-flight request
 * the broker had already taken: a duplicate of the batch being sent, which
 * the contract allows. It is also why a DR's opaque can be a bare index.
 *
 * Fatal errors (rd_kafka_fatal_error: an idempotent producer that cannot
 * keep its guarantees) destroy the producer and create a new one; the
 * events not acknowledged stay EXP_RETRY.
 *
 * Threads: open, send and close run on the exporter's thread. librdkafka's
 * callbacks (DR, error, log) are all served by rd_kafka_poll() on that same
 * thread (logs through log.queue), never on librdkafka's own threads.
 * metrics may run on any thread: it reads atomics only.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "exporters/kafka/kafka_internal.h"
#include "exporters/sink.h"
#include "ocsf/ocsf.h"

#define KAFKA_POLL_MS      100
#define KAFKA_PURGE_MS     5000  /* how long to wait for the DRs of purged messages */
#define KAFKA_LOG_EVERY_MS 30000 /* the same librdkafka error at most this often */

typedef struct {
    exp_common_t common;       /* a copy; its strings are the engine's, alive until close */
    const kafka_config_t *cfg; /* borrowed: dispose runs after close */
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;

    /* the batch being sent (only during send) */
    exp_batch_t *batch;
    size_t outstanding;            /* produced, DR not served yet */
    bool pause;                    /* an auth / unknown topic error was seen */
    char pause_why[256];           /* escaped */
    rd_kafka_resp_err_t retry_err; /* the last retriable DR error */

    /* log rate limit: error code and when it was logged */
    rd_kafka_resp_err_t last_logged;
    int64_t last_logged_ms;

    atomic_uint_fast64_t recreated, fatal_errors, queue_full, purged;
} kafka_sink_t;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Writes prefix + text escaped (from librdkafka or a broker: untrusted) +
 * suffix into out, cut to outlen. prefix and suffix are ours. */
void kafka__escape(char *out, size_t outlen, const char *prefix, const char *text,
                   const char *suffix)
{
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    ocsf_buf_puts(&b, prefix);
    ocsf_text_escape(&b, text, strlen(text), 400, OCSF_ESC_MSG);
    ocsf_buf_puts(&b, suffix);
    size_t n = b.len < outlen ? b.len : outlen - 1;
    memcpy(out, b.p, n);
    out[n] = '\0';
    ocsf_buf_dispose(&b);
}

static void escape_into(char *out, size_t outlen, const char *text)
{
    kafka__escape(out, outlen, "", text, "");
}

/* One log line; every %s argument must already be escaped. */
__attribute__((format(printf, 2, 3))) static void kafka_log(kafka_sink_t *s, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    if (!s->common.log)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    s->common.log(s->common.log_ctx, line);
}

/* ---- librdkafka callbacks (exporter thread, from rd_kafka_poll) ---------- */

static bool err_is_pause(rd_kafka_resp_err_t e)
{
    switch (e) {
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED: return true;
    default: return false;
    }
}

static bool err_is_permanent(rd_kafka_resp_err_t e)
{
    switch (e) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR__INVALID_ARG: return true;
    default: return false;
    }
}

static void set_pause(kafka_sink_t *s, rd_kafka_resp_err_t e, const char *text)
{
    char suffix[80];
    if (s->pause)
        return;
    snprintf(suffix, sizeof suffix, " (%s)", rd_kafka_err2name(e));
    s->pause = true;
    kafka__escape(s->pause_why, sizeof s->pause_why, "", text ? text : rd_kafka_err2str(e), suffix);
}

static void kafka_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    kafka_sink_t *s = opaque;
    exp_batch_t *b = s->batch;
    size_t i = (size_t)(uintptr_t)m->_private;
    char reason[512], shown[400];

    if (!b || i >= b->n)
        return; /* cannot happen: see the invariant at the top */
    if (s->outstanding > 0)
        s->outstanding--;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        b->verdict[i] = EXP_OK;
        return;
    }
    if (err_is_permanent(m->err)) {
        escape_into(shown, sizeof shown, rd_kafka_err2str(m->err));
        snprintf(reason, sizeof reason, "kafka: %s (%s)", shown, rd_kafka_err2name(m->err));
        exp_batch_set(b, i, EXP_PERMANENT, reason);
    } else if (err_is_pause(m->err)) {
        set_pause(s, m->err, NULL);
    } else if (m->err != RD_KAFKA_RESP_ERR__PURGE_QUEUE &&
               m->err != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) {
        s->retry_err = m->err;
    }
}

/* Logs at most once per KAFKA_LOG_EVERY_MS per error code. */
static void log_limited(kafka_sink_t *s, rd_kafka_resp_err_t e, const char *what, const char *text)
{
    int64_t t = now_ms();
    char shown[512];
    if (e == s->last_logged && t - s->last_logged_ms < KAFKA_LOG_EVERY_MS)
        return;
    s->last_logged = e;
    s->last_logged_ms = t;
    escape_into(shown, sizeof shown, text);
    kafka_log(s, "[exporter:kafka] %s: %s (%s)", what, shown, rd_kafka_err2name(e));
}

static void kafka_error_cb(rd_kafka_t *rk, int e, const char *reason, void *opaque)
{
    (void)rk;
    kafka_sink_t *s = opaque;
    if (err_is_pause((rd_kafka_resp_err_t)e))
        set_pause(s, (rd_kafka_resp_err_t)e, reason);
    if (e == RD_KAFKA_RESP_ERR__FATAL)
        return; /* send logs it when it recreates the producer */
    log_limited(s, (rd_kafka_resp_err_t)e, "librdkafka", reason);
}

static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    kafka_sink_t *s = rd_kafka_opaque(rk);
    char f[64], shown[512];
    if (!s || level > 4) /* warnings and worse */
        return;
    escape_into(f, sizeof f, fac);
    escape_into(shown, sizeof shown, buf);
    kafka_log(s, "[exporter:kafka] librdkafka %s: %s", f, shown);
}

/* ---- the producer ---------------------------------------------------------- */

static int conf_put(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
                    size_t errlen)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr) == RD_KAFKA_CONF_OK)
        return 0;
    escape_into(err, errlen, errstr);
    return -EINVAL;
}

/* Creates s->rk and s->rkt from the config. 0 or -EINVAL with err. */
static int producer_create(kafka_sink_t *s, char *err, size_t errlen)
{
    const kafka_config_t *cfg = s->cfg;
    char client_id[256], errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    snprintf(client_id, sizeof client_id, "tollgate-%s", s->common.name ? s->common.name : "");
    if (conf_put(conf, "bootstrap.servers", cfg->brokers, err, errlen) ||
        conf_put(conf, "client.id", client_id, err, errlen))
        goto fail_conf;
    for (size_t i = 0; i < kafka__n_defaults; i++)
        if (conf_put(conf, kafka__defaults[i][0], kafka__defaults[i][1], err, errlen))
            goto fail_conf;
    for (size_t i = 0; i < cfg->nprops; i++)
        if (conf_put(conf, cfg->props[i].name, cfg->props[i].value, err, errlen))
            goto fail_conf;
    /* ours, whatever the user set: callbacks on this thread */
    if (conf_put(conf, "log.queue", "true", err, errlen))
        goto fail_conf;
    rd_kafka_conf_set_opaque(conf, s);
    rd_kafka_conf_set_dr_msg_cb(conf, kafka_dr_cb);
    rd_kafka_conf_set_error_cb(conf, kafka_error_cb);
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);

    s->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!s->rk) {
        escape_into(err, errlen, errstr);
        goto fail_conf;
    }
    rd_kafka_set_log_queue(s->rk, NULL); /* logs to the main queue: rd_kafka_poll */
    s->rkt = rd_kafka_topic_new(s->rk, cfg->topic, NULL);
    if (!s->rkt) {
        escape_into(errstr, sizeof errstr, cfg->topic);
        snprintf(err, errlen, "topic '%s': %s", errstr, rd_kafka_err2str(rd_kafka_last_error()));
        rd_kafka_destroy(s->rk);
        s->rk = NULL;
        return -EINVAL;
    }
    return 0;

fail_conf:
    rd_kafka_conf_destroy(conf);
    return -EINVAL;
}

static void producer_destroy(kafka_sink_t *s)
{
    if (s->rkt)
        rd_kafka_topic_destroy(s->rkt);
    if (s->rk)
        rd_kafka_destroy(s->rk);
    s->rkt = NULL;
    s->rk = NULL;
}

/* After a fatal error: a fresh producer (new producer id), counted. */
static void producer_recreate(kafka_sink_t *s, const char *why)
{
    char err[512], shown[512];
    escape_into(shown, sizeof shown, why);
    kafka_log(s, "[exporter:kafka] fatal producer error: %s; creating a new producer", shown);
    producer_destroy(s);
    atomic_fetch_add(&s->recreated, 1);
    if (producer_create(s, err, sizeof err) != 0)
        kafka_log(s, "[exporter:kafka] cannot create the producer: %s", err);
}

/* ---- open / close ---------------------------------------------------------- */

static int kafka_open(const exp_common_t *common, const void *config, void **sink, char *err,
                      size_t errlen)
{
    const kafka_config_t *cfg = config;
    if (kafka__check(cfg, err, errlen) != 0)
        return -EINVAL;
    kafka_sink_t *s = calloc(1, sizeof *s);
    if (!s)
        abort();
    s->common = *common;
    s->cfg = cfg;
    if (producer_create(s, err, errlen) != 0) {
        free(s);
        return -EINVAL;
    }
    *sink = s;
    return 0;
}

static void kafka_close(void *sink)
{
    kafka_sink_t *s = sink;
    if (!s)
        return;
    if (s->rk) {
        /* nothing of ours is queued (the send invariant); serve what is left */
        rd_kafka_purge(s->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(s->rk, 0);
    }
    producer_destroy(s);
    free(s);
}

/* ---- send ------------------------------------------------------------------ */

static rd_kafka_resp_err_t produce_one(kafka_sink_t *s, const exp_batch_t *b, size_t i)
{
    const exp_event_t *ev = &b->ev[i];
    char cls[16];
    const char *key = NULL;
    size_t key_len = 0;
    int cls_len = snprintf(cls, sizeof cls, "%d", ev->class_uid);
    const char *ver = b->ocsf_version          ? b->ocsf_version
                      : s->common.ocsf_version ? s->common.ocsf_version
                                               : "1.7.0";

    if (s->cfg->key == KAFKA_KEY_SANDBOX && ev->sandbox_len > 0) {
        key = ev->sandbox;
        key_len = ev->sandbox_len;
    } else if (s->cfg->key == KAFKA_KEY_CLASS) {
        key = cls;
        key_len = (size_t)cls_len;
    }
    return rd_kafka_producev(
        s->rk, RD_KAFKA_V_RKT(s->rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_VALUE((void *)ev->json, ev->json_len), RD_KAFKA_V_KEY(key, key_len),
        RD_KAFKA_V_HEADER("ocsf_class_uid", cls, (ssize_t)cls_len),
        RD_KAFKA_V_HEADER("ocsf_version", ver, -1), RD_KAFKA_V_OPAQUE((void *)(uintptr_t)i),
        RD_KAFKA_V_END);
}

static bool must_stop(const kafka_sink_t *s, int64_t deadline)
{
    return s->pause || (s->common.stop && atomic_load(s->common.stop)) || now_ms() >= deadline ||
           rd_kafka_fatal_error(s->rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* Produces the batch; stops early (events left EXP_RETRY) on stop, timeout,
 * pause or a fatal error. A full queue is backpressure: poll and retry. */
static void produce_all(kafka_sink_t *s, exp_batch_t *b, int64_t deadline)
{
    char reason[512];
    for (size_t i = 0; i < b->n; i++) {
        rd_kafka_resp_err_t e;
        while ((e = produce_one(s, b, i)) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            atomic_fetch_add(&s->queue_full, 1);
            rd_kafka_poll(s->rk, 10);
            if (must_stop(s, deadline))
                return;
        }
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            s->outstanding++;
        } else if (err_is_permanent(e)) {
            snprintf(reason, sizeof reason, "kafka: %s (%s)", rd_kafka_err2str(e),
                     rd_kafka_err2name(e));
            exp_batch_set(b, i, EXP_PERMANENT, reason);
        } else if (err_is_pause(e)) {
            set_pause(s, e, NULL);
            return;
        } else if (e == RD_KAFKA_RESP_ERR__FATAL) {
            return;
        } else {
            s->retry_err = e;
        }
        if ((i & 1023) == 1023) {
            rd_kafka_poll(s->rk, 0); /* serve DRs as we go */
            if (must_stop(s, deadline))
                return;
        }
    }
}

/* Takes back whatever is still in the producer and serves its DRs. If some
 * never come, the producer goes (see the invariant). */
static void purge_rest(kafka_sink_t *s)
{
    if (s->outstanding == 0)
        return;
    atomic_fetch_add(&s->purged, s->outstanding);
    rd_kafka_purge(s->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    int64_t end = now_ms() + KAFKA_PURGE_MS;
    while (s->outstanding > 0 && now_ms() < end)
        rd_kafka_poll(s->rk, KAFKA_POLL_MS);
    if (s->outstanding > 0) {
        kafka_log(s,
                  "[exporter:kafka] %zu purged messages without a delivery report; "
                  "creating a new producer",
                  s->outstanding);
        producer_recreate(s, "purge did not complete");
        s->outstanding = 0;
    }
}

/* The batch's result and err, from its verdicts. */
static int summarize(kafka_sink_t *s, const exp_batch_t *b, bool fatal, char *err, size_t errlen)
{
    size_t ok = 0, perm = 0, retry = 0;
    for (size_t i = 0; i < b->n; i++) {
        ok += b->verdict[i] == EXP_OK;
        perm += b->verdict[i] == EXP_PERMANENT;
        retry += b->verdict[i] == EXP_RETRY;
    }
    if (s->pause) {
        snprintf(err, errlen, "topic %s: %s", s->cfg->topic, s->pause_why);
        return EXP_SEND_PAUSE;
    }
    if (retry == 0)
        return EXP_SEND_DONE;
    bool stopping = s->common.stop && atomic_load(s->common.stop);
    if (fatal || stopping)
        snprintf(err, errlen, "%zu of %zu events not acknowledged: %s", retry, b->n,
                 fatal ? "fatal producer error, producer recreated" : "stopping");
    else
        snprintf(err, errlen, "%zu of %zu events not acknowledged within %" PRId64 " ms: %s", retry,
                 b->n, s->cfg->timeout_ms,
                 s->retry_err ? rd_kafka_err2str(s->retry_err) : "no delivery report");
    return ok + perm == 0 ? EXP_SEND_RETRY : EXP_SEND_DONE;
}

static int kafka_send(void *sink, exp_batch_t *b, char *err, size_t errlen)
{
    kafka_sink_t *s = sink;
    char why[512];

    if (!s->rk) { /* an earlier recreate failed */
        producer_recreate(s, "no producer");
        if (!s->rk) {
            snprintf(err, errlen, "cannot create the Kafka producer");
            return EXP_SEND_RETRY;
        }
    }
    rd_kafka_poll(s->rk, 0); /* serve what came in between sends (logs, errors) */
    int64_t deadline = now_ms() + s->cfg->timeout_ms;
    s->batch = b;
    s->outstanding = 0;
    s->pause = false;
    s->retry_err = RD_KAFKA_RESP_ERR_NO_ERROR;

    produce_all(s, b, deadline);
    /* flush, not poll: it also sends what linger.ms would hold back, since
     * nothing more of this batch is coming; it serves the DRs like poll */
    while (s->outstanding > 0 && !must_stop(s, deadline)) {
        int64_t left = deadline - now_ms();
        rd_kafka_flush(s->rk, left < KAFKA_POLL_MS ? (int)(left > 0 ? left : 0) : KAFKA_POLL_MS);
    }
    purge_rest(s);
    bool fatal = s->rk && rd_kafka_fatal_error(s->rk, why, sizeof why) != 0;
    if (fatal) {
        atomic_fetch_add(&s->fatal_errors, 1);
        producer_recreate(s, why);
    }
    int rc = summarize(s, b, fatal, err, errlen);
    s->batch = NULL;
    return rc;
}

/* ---- metrics (any thread) ---------------------------------------------------- */

static void kafka_metrics(void *sink, void (*emit)(void *ctx, const char *line), void *ctx)
{
    kafka_sink_t *s = sink;
    char name[256], line[512];
    static const struct {
        const char *metric, *help;
        size_t off;
    } counters[] = {
        {"producer_recreated_total",
         "Kafka producers destroyed and created anew after a fatal error.",
         offsetof(kafka_sink_t, recreated)},
        {"fatal_errors_total", "Fatal errors librdkafka reported (idempotence lost, fenced).",
         offsetof(kafka_sink_t, fatal_errors)},
        {"queue_full_total", "Produce calls refused because librdkafka's queue was full.",
         offsetof(kafka_sink_t, queue_full)},
        {"purged_total", "Messages purged from librdkafka's queue undelivered (retried later).",
         offsetof(kafka_sink_t, purged)},
    };
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    /* a label value: escape like Prometheus wants (\, " and newline) */
    for (const char *p = s->common.name ? s->common.name : ""; *p; p++) {
        if (*p == '\\' || *p == '"')
            ocsf_buf_putc(&b, '\\');
        if (*p == '\n')
            ocsf_buf_puts(&b, "\\n");
        else
            ocsf_buf_putc(&b, *p);
    }
    snprintf(name, sizeof name, "%s", ocsf_buf_cstr(&b));
    ocsf_buf_dispose(&b);
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++) {
        const atomic_uint_fast64_t *c = (const void *)((const char *)s + counters[i].off);
        snprintf(line, sizeof line, "# HELP tollgate_exporter_kafka_%s %s", counters[i].metric,
                 counters[i].help);
        emit(ctx, line);
        snprintf(line, sizeof line, "# TYPE tollgate_exporter_kafka_%s counter",
                 counters[i].metric);
        emit(ctx, line);
        snprintf(line, sizeof line, "tollgate_exporter_kafka_%s{exporter=\"%s\"} %" PRIuFAST64,
                 counters[i].metric, name, (uint_fast64_t)atomic_load(c));
        emit(ctx, line);
    }
}

const exp_sink_type_t exp_sink_kafka = {
    .type = "kafka",
    .options = kafka__options,
    .config_size = sizeof(kafka_config_t),
    .set_extra = kafka__set_extra,
    .check = kafka__check,
    .open = kafka_open,
    .send = kafka_send,
    .metrics = kafka_metrics,
    .close = kafka_close,
    .dispose = kafka__dispose,
};
