/*
 * hec.c: the Splunk HTTP Event Collector sink (exp_sink_hec, type "hec").
 *
 * One batch is one POST of <url>/services/collector/event: one JSON envelope
 * per event, concatenated ({"time":S.mmm,"host":..,"source":..,
 * "sourcetype":..,"index":..,"event":<the OCSF JSON verbatim>}), gzip when
 * `gzip: on`, `Authorization: Splunk <token>` and a stable
 * `X-Splunk-Request-Channel`. The verdicts follow Splunk's documented reply
 * codes (hec__classify): 200 code 0 is OK (or, with `ack: on`, the indexer
 * ack of its ackId, polled on /services/collector/ack); 408, 429, 5xx and
 * code 9 retry the batch; a 400 with `invalid-event-number: N` makes the
 * events before N OK, event N permanent and leaves the rest to resend; a
 * 400 without N, or a 413, is split in halves down to the one bad event;
 * 401, 403 and codes 1-4, 7, 10, 14, 16 (the token, the index, the channel)
 * pause the exporter. /services/collector/health is asked before the first
 * batch and after every pause or retry.
 *
 * Files: this one holds the protocol (envelopes, reply verdicts, acks,
 * health, open and close); hec_io.c the libcurl / libuv driver;
 * hec_conf.c the options; hec_internal.h what they share.
 *
 * Threads: everything runs on the exporter's thread. The sink owns a private
 * uv_loop that drives one libcurl multi handle (curl_multi_socket_action
 * with a uv_poll per socket and one uv_timer); send runs that loop until its
 * request is done, its timeout passes or *common->stop becomes true (checked
 * every HEC_STOP_POLL_MS). The multi handle keeps connections alive between
 * batches.
 *
 * Secrets and logs: the token is only ever in the Authorization header; no
 * reply byte reaches err or a log line without ocsf_text_escape.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <uv.h>
#include <zlib.h>

#include "exporters/hec/hec_internal.h"
#include "exporters/sink.h"
#include "ocsf/ocsf.h"

#define HEC_TEXT_MAX 120 /* Splunk's text, escaped, in a reason or err */

/* ---- replies ------------------------------------------------------------ */

typedef struct {
    int code;                        /* -1: none */
    long long bad;                   /* invalid-event-number, -1: none */
    long long ack_id;                /* -1: none */
    char text[HEC_TEXT_MAX * 4 + 8]; /* escaped */
} hec_reply_t;

static void hec__parse_reply(const ocsf_buf_t *resp, hec_reply_t *r)
{
    r->code = -1;
    r->bad = -1;
    r->ack_id = -1;
    r->text[0] = 0;
    json_t *j = json_loadb(resp->p ? resp->p : "", resp->len, 0, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return;
    }
    json_t *v = json_object_get(j, "code");
    if (json_is_integer(v))
        r->code = (int)json_integer_value(v);
    if (json_is_integer(v = json_object_get(j, "invalid-event-number")))
        r->bad = json_integer_value(v);
    if (json_is_integer(v = json_object_get(j, "ackId")))
        r->ack_id = json_integer_value(v);
    if (json_is_string(v = json_object_get(j, "text"))) {
        ocsf_buf_t b;
        ocsf_buf_init(&b);
        ocsf_text_escape(&b, json_string_value(v), json_string_length(v), HEC_TEXT_MAX,
                         OCSF_ESC_MSG);
        snprintf(r->text, sizeof r->text, "%s", ocsf_buf_cstr(&b));
        ocsf_buf_dispose(&b);
    }
    json_decref(j);
}

typedef enum { HEC_A_OK, HEC_A_RETRY, HEC_A_PAUSE, HEC_A_BAD_EVENT, HEC_A_SPLIT } hec_action_t;

/* What a reply to an event POST means (Splunk's documented codes). */
static hec_action_t hec__classify(long status, const hec_reply_t *r)
{
    if (status == 200)
        return r->code <= 0 ? HEC_A_OK : HEC_A_RETRY;
    if (status == 401 || status == 403 || (r->code >= 1 && r->code <= 4))
        return HEC_A_PAUSE;
    if (status == 408 || status == 429 || status >= 500 || r->code == 9 || r->code == 8)
        return HEC_A_RETRY;
    if (status == 413)
        return HEC_A_SPLIT;
    if (status == 400) {
        /* 7 incorrect index, 10 channel missing, 14 ack disabled, 16 query auth */
        if (r->code == 7 || r->code == 10 || r->code == 14 || r->code == 16)
            return HEC_A_PAUSE;
        if (r->code == 11) /* invalid data channel: Splunk dropped it, a resend opens it */
            return HEC_A_RETRY;
        return r->bad >= 0 ? HEC_A_BAD_EVENT : HEC_A_SPLIT;
    }
    return HEC_A_PAUSE; /* 3xx, 404, 405...: the url is wrong */
}

static void hec__reply_err(long status, const hec_reply_t *r, const char *what, char *err,
                           size_t errlen)
{
    if (r->code >= 0)
        snprintf(err, errlen, "%s: HTTP %ld, code %d: %.400s", what, status, r->code, r->text);
    else
        snprintf(err, errlen, "%s: HTTP %ld", what, status);
}

/* ---- envelopes ---------------------------------------------------------- */

/* ,"sourcetype":"ocsf:network_activity" for the event's class (cached). */
static const ocsf_buf_t *hec__sourcetype(hec_t *h, const exp_event_t *ev)
{
    for (size_t i = 0; i < h->n_st; i++)
        if (h->st[i].class_uid == ev->class_uid)
            return &h->st[i].st;
    size_t slot = h->n_st < HEC_ST_CACHE ? h->n_st++ : (size_t)ev->class_uid % HEC_ST_CACHE;
    ocsf_buf_t *b = &h->st[slot].st;
    h->st[slot].class_uid = ev->class_uid;
    b->len = 0;
    char name[96] = "ocsf:";
    size_t k = 5;
    for (const char *s = ev->class_name ? ev->class_name : "unknown"; *s && k + 1 < sizeof name;
         s++)
        name[k++] = *s == ' ' ? '_' : (*s >= 'A' && *s <= 'Z') ? (char)(*s - 'A' + 'a') : *s;
    ocsf_buf_puts(b, ",\"sourcetype\":");
    ocsf_json_escape(b, name, k);
    return b;
}

static void hec__envelope(hec_t *h, ocsf_buf_t *out, const exp_event_t *ev)
{
    int64_t sec = ev->time_ms / 1000, ms = ev->time_ms % 1000;
    if (ms < 0) {
        sec--;
        ms += 1000;
    }
    char frac[5] = {'.', (char)('0' + ms / 100), (char)('0' + ms / 10 % 10), (char)('0' + ms % 10),
                    0};
    ocsf_buf_puts(out, "{\"time\":");
    ocsf_buf_put_i64(out, sec);
    ocsf_buf_put(out, frac, 4);
    ocsf_buf_put(out, h->meta.p, h->meta.len);
    if (!hec__set(h->cfg->sourcetype)) { /* else it is in meta */
        const ocsf_buf_t *st = hec__sourcetype(h, ev);
        ocsf_buf_put(out, st->p, st->len);
    }
    ocsf_buf_puts(out, ",\"event\":");
    ocsf_buf_put(out, ev->json, ev->json_len);
    ocsf_buf_putc(out, '}');
}

/* The request body of events [lo, hi): h->body, or h->zbody when gzip. */
static const ocsf_buf_t *hec__build(hec_t *h, const exp_batch_t *b, size_t lo, size_t hi)
{
    h->body.len = 0;
    for (size_t i = lo; i < hi; i++)
        hec__envelope(h, &h->body, &b->ev[i]);
    if (!h->cfg->gzip)
        return &h->body;
    deflateReset(&h->z);
    h->zbody.len = 0;
    ocsf_buf_reserve(&h->zbody, deflateBound(&h->z, h->body.len));
    h->z.next_in = (Bytef *)h->body.p;
    h->z.avail_in = (uInt)h->body.len;
    h->z.next_out = (Bytef *)h->zbody.p;
    h->z.avail_out = (uInt)(h->zbody.cap);
    if (deflate(&h->z, Z_FINISH) != Z_STREAM_END)
        abort(); /* deflateBound was not enough: a zlib bug */
    h->zbody.len = h->zbody.cap - h->z.avail_out;
    return &h->zbody;
}

/* ---- health and acks ---------------------------------------------------- */

/* EXP_SEND_DONE when HEC says it is healthy (or has no health endpoint). */
static int hec__health(hec_t *h, char *err, size_t errlen)
{
    CURLcode rc = hec__perform(h, h->url_health, NULL, false);
    if (rc != CURLE_OK) {
        hec__curl_err(h, rc, "HEC health check", err, errlen);
        return EXP_SEND_RETRY;
    }
    if (h->status == 200 || h->status == 404) /* 404: a proxy or an old HEC without it */
        return EXP_SEND_DONE;
    hec_reply_t r;
    hec__parse_reply(&h->resp, &r);
    hec__reply_err(h->status, &r, "HEC is not healthy", err, errlen);
    return EXP_SEND_RETRY;
}

/* 1 when the reply to an ack query says ack_id is indexed. */
static int hec__acked(const ocsf_buf_t *resp, long long ack_id)
{
    json_t *j = json_loadb(resp->p ? resp->p : "", resp->len, 0, NULL);
    char key[24];
    snprintf(key, sizeof key, "%lld", ack_id);
    json_t *v = json_object_get(json_object_get(j, "acks"), key);
    int yes = json_is_true(v);
    json_decref(j);
    return yes;
}

/* Polls /services/collector/ack until ack_id is indexed: EXP_SEND_DONE, or
 * EXP_SEND_RETRY after ack_timeout (the whole batch is sent again). */
static int hec__wait_ack(hec_t *h, long long ack_id, char *err, size_t errlen)
{
    ocsf_buf_t q;
    ocsf_buf_init(&q);
    ocsf_buf_puts(&q, "{\"acks\":[");
    ocsf_buf_put_i64(&q, ack_id);
    ocsf_buf_puts(&q, "]}");
    uv_update_time(&h->loop);
    uint64_t deadline = uv_now(&h->loop) + (uint64_t)h->cfg->ack_timeout_ms, pause = 20;
    int rc = EXP_SEND_RETRY;
    for (;;) {
        if (hec__perform(h, h->url_ack, &q, false) == CURLE_OK && h->status == 200 &&
            hec__acked(&h->resp, ack_id)) {
            rc = EXP_SEND_DONE;
            break;
        }
        uv_update_time(&h->loop);
        uint64_t now = uv_now(&h->loop);
        if (now >= deadline) {
            h->m_ack_timeouts++;
            snprintf(err, errlen, "no indexer ack for ackId %lld within %lld ms", ack_id,
                     (long long)h->cfg->ack_timeout_ms);
            break;
        }
        if (!hec__sleep(h, pause < deadline - now ? pause : deadline - now)) {
            snprintf(err, errlen, "stopping while waiting for the indexer ack");
            break;
        }
        pause = pause * 2 > 1000 ? 1000 : pause * 2;
    }
    ocsf_buf_dispose(&q);
    return rc;
}

/* ---- send --------------------------------------------------------------- */

static void hec__mark(exp_batch_t *b, size_t lo, size_t hi, exp_verdict_t v)
{
    for (size_t i = lo; i < hi; i++)
        exp_batch_set(b, i, v, NULL);
}

static void hec__permanent(exp_batch_t *b, size_t i, long status, const hec_reply_t *r)
{
    char why[sizeof r->text + 64];
    hec__reply_err(status, r, "HEC rejected the event", why, sizeof why);
    exp_batch_set(b, i, EXP_PERMANENT, why);
}

/* What a 200 means: with acks on, only the indexer ack makes it OK. */
static int hec__accepted(hec_t *h, exp_batch_t *b, size_t lo, size_t hi, const hec_reply_t *r,
                         char *err, size_t errlen)
{
    if (h->cfg->ack && r->ack_id >= 0) {
        int rc = hec__wait_ack(h, r->ack_id, err, errlen);
        if (rc != EXP_SEND_DONE)
            return rc;
    } else if (h->cfg->ack && !h->warned_no_ack) {
        h->warned_no_ack = true;
        h->common.log(h->common.log_ctx, "ack is on but HEC answered without an ackId (is "
                                         "indexer acknowledgment on for the token?): events "
                                         "count as delivered on the 200 alone");
    }
    hec__mark(b, lo, hi, EXP_OK);
    return EXP_SEND_DONE;
}

/* Sends events [lo, hi) as one request and sets their verdicts. */
static int hec__send_range(hec_t *h, exp_batch_t *b, size_t lo, size_t hi, char *err, size_t errlen)
{
    const ocsf_buf_t *body = hec__build(h, b, lo, hi);
    CURLcode crc = hec__perform(h, h->url_event, body, h->cfg->gzip);
    if (crc != CURLE_OK) {
        hec__curl_err(h, crc, "HEC request failed", err, errlen);
        return EXP_SEND_RETRY;
    }
    hec_reply_t r;
    hec__parse_reply(&h->resp, &r);
    size_t n = hi - lo;
    switch (hec__classify(h->status, &r)) {
    case HEC_A_OK: return hec__accepted(h, b, lo, hi, &r, err, errlen);
    case HEC_A_RETRY:
        hec__reply_err(h->status, &r, "HEC busy or failing", err, errlen);
        return EXP_SEND_RETRY;
    case HEC_A_PAUSE:
        hec__reply_err(h->status, &r, "HEC refused the token or configuration", err, errlen);
        return EXP_SEND_PAUSE;
    case HEC_A_BAD_EVENT:
        if ((unsigned long long)r.bad < n) {
            hec__mark(b, lo, lo + (size_t)r.bad, EXP_OK);
            hec__permanent(b, lo + (size_t)r.bad, h->status, &r);
            return EXP_SEND_DONE;
        }
        break; /* an index outside the request: find the bad one */
    case HEC_A_SPLIT: break;
    }
    if (n == 1) {
        hec__permanent(b, lo, h->status, &r);
        return EXP_SEND_DONE;
    }
    h->m_splits++;
    int rc = hec__send_range(h, b, lo, lo + n / 2, err, errlen);
    return rc != EXP_SEND_DONE ? rc : hec__send_range(h, b, lo + n / 2, hi, err, errlen);
}

static int hec__send(void *sink, exp_batch_t *b, char *err, size_t errlen)
{
    hec_t *h = sink;
    if (b->n == 0)
        return EXP_SEND_DONE;
    int rc = EXP_SEND_DONE;
    if (h->need_health)
        rc = hec__health(h, err, errlen);
    if (rc == EXP_SEND_DONE)
        rc = hec__send_range(h, b, 0, b->n, err, errlen);
    h->need_health = rc != EXP_SEND_DONE;
    return rc;
}

/* ---- open and close ----------------------------------------------------- */

static pthread_once_t hec__curl_once = PTHREAD_ONCE_INIT;

static void hec__curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* A name-based (SHA-1, version 5 layout) UUID of the exporter name and host:
 * the same channel after every restart. */
static void hec__channel(const exp_common_t *c, char out[37])
{
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    ocsf_buf_puts(&b, "tollgate-hec-channel");
    ocsf_buf_put(&b, "", 1);
    ocsf_buf_puts(&b, c->name ? c->name : "");
    ocsf_buf_put(&b, "", 1);
    ocsf_buf_puts(&b, c->hostname ? c->hostname : "");
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!EVP_Digest(b.p, b.len, md, &len, EVP_sha1(), NULL))
        abort();
    ocsf_buf_dispose(&b);
    ocsf_uuid_v4(md, out); /* sets the variant bits */
    out[14] = '5';         /* ocsf_uuid_v4 writes the version nibble as 4 */
}

static char *hec__url(const char *base, const char *path)
{
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    size_t len = n + strlen(path) + 1;
    char *s = malloc(len);
    if (!s)
        abort();
    snprintf(s, len, "%.*s%s", (int)n, base, path);
    return s;
}

static struct curl_slist *hec__header(struct curl_slist *l, const char *name, const char *value)
{
    size_t len = strlen(name) + strlen(value) + 3;
    char *s = malloc(len);
    if (!s)
        abort();
    snprintf(s, len, "%s: %s", name, value);
    struct curl_slist *r = curl_slist_append(l, s);
    explicit_bzero(s, len); /* it may be the token */
    free(s);
    if (!r)
        abort();
    return r;
}

static void hec__headers(hec_t *h)
{
    const hec_config_t *c = h->cfg;
    size_t len = strlen(c->token) + 8;
    char *auth = malloc(len);
    if (!auth)
        abort();
    snprintf(auth, len, "Splunk %s", c->token);
    for (int gz = 0; gz < 2; gz++) {
        struct curl_slist *l = hec__header(NULL, "Authorization", auth);
        l = hec__header(l, "X-Splunk-Request-Channel", h->channel);
        l = hec__header(l, "Content-Type", "application/json");
        l = curl_slist_append(l, "Expect:"); /* no 100-continue round trip */
        if (gz)
            l = hec__header(l, "Content-Encoding", "gzip");
        if (!l)
            abort();
        *(gz ? &h->hdr_gzip : &h->hdr_plain) = l;
    }
    explicit_bzero(auth, len);
    free(auth);
}

static void hec__meta(hec_t *h)
{
    const hec_config_t *c = h->cfg;
    const char *host = hec__set(c->host) ? c->host : h->common.hostname ? h->common.hostname : "";
    ocsf_buf_puts(&h->meta, ",\"host\":");
    ocsf_json_escape(&h->meta, host, strlen(host));
    ocsf_buf_puts(&h->meta, ",\"source\":");
    ocsf_json_escape(&h->meta, c->source ? c->source : "", c->source ? strlen(c->source) : 0);
    if (hec__set(c->index)) {
        ocsf_buf_puts(&h->meta, ",\"index\":");
        ocsf_json_escape(&h->meta, c->index, strlen(c->index));
    }
    if (hec__set(c->sourcetype)) {
        ocsf_buf_puts(&h->meta, ",\"sourcetype\":");
        ocsf_json_escape(&h->meta, c->sourcetype, strlen(c->sourcetype));
    }
}

/* Frees h after whatever open got to (NULL members are skipped). */
static void hec__free(hec_t *h, bool loop_up)
{
    hec__io_free(h, loop_up);
    curl_slist_free_all(h->hdr_plain);
    curl_slist_free_all(h->hdr_gzip);
    free(h->url_event);
    free(h->url_ack);
    free(h->url_health);
    ocsf_buf_dispose(&h->meta);
    for (size_t i = 0; i < HEC_ST_CACHE; i++)
        ocsf_buf_dispose(&h->st[i].st);
    ocsf_buf_dispose(&h->resp);
    ocsf_buf_dispose(&h->body);
    ocsf_buf_dispose(&h->zbody);
    free(h);
}

static int hec__open(const exp_common_t *common, const void *config, void **sink, char *err,
                     size_t errlen)
{
    const hec_config_t *c = config;
    int rc = hec__check(c, err, errlen);
    if (rc)
        return rc;
    if (hec__set(c->ca_file) && access(c->ca_file, R_OK) != 0) {
        rc = -errno;
        ocsf_buf_t b;
        ocsf_buf_init(&b);
        ocsf_text_escape(&b, c->ca_file, strlen(c->ca_file), 200, 0);
        snprintf(err, errlen, "hec: ca_file %s: %s", ocsf_buf_cstr(&b), strerror(-rc));
        ocsf_buf_dispose(&b);
        return rc;
    }
    pthread_once(&hec__curl_once, hec__curl_init);
    hec_t *h = calloc(1, sizeof *h);
    if (!h)
        abort();
    h->common = *common;
    h->cfg = c;
    if (hec__set(c->channel))
        snprintf(h->channel, sizeof h->channel, "%.63s", c->channel);
    else
        hec__channel(common, h->channel);
    h->url_event = hec__url(c->url, "/services/collector/event");
    h->url_health = hec__url(c->url, "/services/collector/health");
    char ack_path[128];
    snprintf(ack_path, sizeof ack_path, "/services/collector/ack?channel=%s", h->channel);
    h->url_ack = hec__url(c->url, ack_path);
    hec__headers(h);
    hec__meta(h);
    if (uv_loop_init(&h->loop) != 0) {
        snprintf(err, errlen, "hec: cannot create its event loop");
        hec__free(h, false);
        return -ENOMEM;
    }
    if (hec__start_io(h) != 0 ||
        deflateInit2(&h->z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        snprintf(err, errlen, "hec: cannot create its HTTP client");
        hec__free(h, true);
        return -ENOMEM;
    }
    h->need_health = true;
    if (c->insecure && h->common.log)
        h->common.log(h->common.log_ctx,
                      "WARNING: insecure_skip_verify is on: the HEC certificate is NOT verified; "
                      "anyone on the path can read the audit events and the token");
    *sink = h;
    return 0;
}

static void hec__close(void *sink)
{
    hec_t *h = sink;
    if (!h)
        return;
    deflateEnd(&h->z);
    hec__free(h, true);
}

static void hec__metrics(void *sink, void (*emit)(void *ctx, const char *line), void *ctx)
{
    hec_t *h = sink;
    ocsf_buf_t name;
    ocsf_buf_init(&name);
    for (const char *s = h->common.name ? h->common.name : ""; *s; s++) {
        if (*s == '"' || *s == '\\' || *s == '\n')
            ocsf_buf_putc(&name, '\\');
        ocsf_buf_putc(&name, *s == '\n' ? 'n' : *s);
    }
    const struct {
        const char *metric, *help;
        uint64_t v;
    } rows[] = {
        {"tollgate_hec_requests_total", "HTTP requests the HEC exporter sent.", h->m_requests},
        {"tollgate_hec_transport_errors_total",
         "HEC requests that failed in transport (connect, TLS, timeout).", h->m_errors},
        {"tollgate_hec_sent_bytes_total", "Request body bytes the HEC exporter sent.", h->m_bytes},
        {"tollgate_hec_ack_timeouts_total", "HEC batches whose indexer acknowledgement timed out.",
         h->m_ack_timeouts},
        {"tollgate_hec_batch_splits_total",
         "HEC batches split because the receiver refused their size.", h->m_splits},
    };
    char line[512];
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        snprintf(line, sizeof line, "# HELP %s %s", rows[i].metric, rows[i].help);
        emit(ctx, line);
        snprintf(line, sizeof line, "# TYPE %s counter", rows[i].metric);
        emit(ctx, line);
        snprintf(line, sizeof line, "%s{exporter=\"%s\"} %llu", rows[i].metric,
                 ocsf_buf_cstr(&name), (unsigned long long)rows[i].v);
        emit(ctx, line);
    }
    ocsf_buf_dispose(&name);
}

const exp_sink_type_t exp_sink_hec = {
    .type = "hec",
    .options = hec__options,
    .config_size = sizeof(hec_config_t),
    .set_extra = NULL,
    .check = hec__check,
    .open = hec__open,
    .send = hec__send,
    .metrics = hec__metrics,
    .close = hec__close,
    .dispose = hec__dispose,
};
