/*
 * api.c: the gateway HTTP API.
 *
 *   GET  /v1/health    no auth: {"status":"ok",...}
 *   GET  /metrics      Prometheus text
 *   POST /v1/events    NDJSON of OCSF events; replied once the accepted ones
 *                      are durable: {"accepted":N,"rejected":M,"errors":[...]}
 *   GET  /v1/logs      query (filter, then the last `limit`), text or JSON
 *                      lines; follow=1 streams new events (chunked);
 *                      after=SEQ: every match past sequence SEQ instead
 *                      (a follower resuming where it stopped)
 *   GET  /v1/ca        the TLS interception CA's certificate, PEM (never its key)
 *
 * Thread: the loop thread; decoding and spool reads run on the libuv
 * threadpool (uv_queue_work) and come back in their after-work callbacks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "gateway/gw_internal.h"

#define FOLLOW_BATCH       2000
#define FOLLOW_HIGH_WATER  (1u << 20) /* bytes queued to a follower before pausing */
#define LOGS_DEFAULT_LIMIT 200

static void maybe_finish(gw__t *g)
{
    if (g->stopping && !g->waiting && !g->work_in_flight && !g->followers &&
        !uv_is_closing((uv_handle_t *)&g->wake))
        uv_close((uv_handle_t *)&g->wake, NULL);
}

static void reply_json(gw_http_req_t *req, int status, const char *json)
{
    gw_http_respond(req, status, "application/json", NULL, json, strlen(json));
}

static void reply_error(gw_http_req_t *req, int status, const char *msg)
{
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    ocsf_buf_puts(&b, "{\"error\":");
    ocsf_json_escape(&b, msg, strlen(msg));
    ocsf_buf_puts(&b, "}");
    gw_http_respond(req, status, "application/json",
                    status == 401 ? "WWW-Authenticate: Bearer realm=\"tollgate\"\r\n" : NULL, b.p,
                    b.len);
    ocsf_buf_dispose(&b);
}

static bool authorized(gw__t *g, gw_http_req_t *req)
{
    const char *h = gw_http_header(req, "authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    const char *t = h + 7;
    while (*t == ' ')
        t++;
    size_t n = strlen(t);
    while (n && t[n - 1] == ' ')
        n--;
    return n == GW_TOKEN_HEX && CRYPTO_memcmp(t, g->token, GW_TOKEN_HEX) == 0;
}

/* ---- GET /v1/health, /metrics ------------------------------------------------ */

static void handle_health(gw__t *g, gw_http_req_t *req)
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"status\":\"%s\",\"version\":\"%s\",\"ocsf\":\"1.7.0\",\"written_seq\":%llu}",
             g->stopping ? "stopping" : "ok", TOLLGATE_VERSION,
             (unsigned long long)col_written_seq(g->col));
    reply_json(req, 200, body);
}

static void metric(ocsf_buf_t *b, const char *name, const char *type, const char *help,
                   const char *labels, uint64_t v)
{
    char line[512];
    if (help)
        snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type),
            ocsf_buf_puts(b, line);
    snprintf(line, sizeof line, "%s%s %llu\n", name, labels ? labels : "", (unsigned long long)v);
    ocsf_buf_puts(b, line);
}

static void followers_metrics(gw__t *g, ocsf_buf_t *b);

static void handle_metrics(gw__t *g, gw_http_req_t *req)
{
    col_stats_t st;
    col_stats(g->col, &st);
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    metric(&b, "tollgate_events_in_total", "counter", "Events accepted by the collector.", NULL,
           st.appended);
    metric(&b, "tollgate_events_rejected_total", "counter",
           "Ingest lines rejected (malformed, invalid, or refused).", NULL,
           atomic_load(&g->ingest_rejected) + st.encode_errors);
    metric(&b, "tollgate_events_repaired_total", "counter",
           "Ingested events stored as received though not valid OCSF "
           "(gateway.ingest_invalid = repair); exported as repaired casts.",
           NULL, atomic_load(&g->ingest_repaired));
    metric(&b, "tollgate_events_dropped_total", "counter",
           "Events dropped because the ring was full (spool.when_full = drop_newest).", NULL,
           st.dropped);
    metric(&b, "tollgate_appends_blocked_total", "counter",
           "Appends that waited for room in the ring (backpressure).", NULL, st.blocked);
    metric(&b, "tollgate_ring_used_bytes", "gauge", "Bytes in the ring.", NULL, st.ring_used);
    metric(&b, "tollgate_ring_size_bytes", "gauge", "Size of the ring.", NULL, st.ring_bytes);
    metric(&b, "tollgate_spool_bytes", "gauge", "Bytes in the spool.", NULL, st.spool_bytes);
    metric(&b, "tollgate_spool_segments", "gauge", "Segment files in the spool.", NULL,
           st.segments);
    metric(&b, "tollgate_spool_fsyncs_total", "counter", "fdatasync calls on the spool.", NULL,
           st.fsyncs);
    metric(&b, "tollgate_spool_written_sequence", "gauge", "Highest sequence written.", NULL,
           st.written_seq);
    metric(&b, "tollgate_spool_recovered_bytes_cut", "gauge",
           "Bytes of a torn tail cut at the last start.", NULL, st.recovered_bytes_cut);
    metric(&b, "tollgate_http_unauthorized_total", "counter", "Requests refused with 401.", NULL,
           atomic_load(&g->unauthorized));
    gw_http_stats_t hs;
    gw_http_server_stats(g->http, &hs);
    metric(&b, "tollgate_http_over_cap_total", "counter",
           "API connections closed at accept: over the connection cap.", NULL, hs.over_cap);
    metric(&b, "tollgate_http_accept_failed_total", "counter",
           "API accepts that failed (EMFILE, ENFILE).", NULL, hs.accept_failed);
    metric(&b, "tollgate_spool_full", "gauge",
           "1 while the spool is over spool.max_bytes, held for an exporter.", NULL, st.full);
    if (g->ca) { /* px_ca is loop-thread only: so is this handler */
        px_ca_stats_t cs;
        px_ca_stats(g->ca, &cs);
        metric(&b, "tollgate_tls_leaf_hits_total", "counter",
               "Intercepted TLS handshakes served a cached leaf certificate.", NULL, cs.leaf_hits);
        metric(&b, "tollgate_tls_leaf_misses_total", "counter",
               "Intercepted TLS handshakes that had to sign a new leaf certificate.", NULL,
               cs.leaf_misses);
    }
    followers_metrics(g, &b);
    exp_engine_metrics(g->exporters, &b);
    gw__ksource_metrics(g, &b);
    gw_http_respond(req, 200, "text/plain; version=0.0.4", NULL, b.p, b.len);
    ocsf_buf_dispose(&b);
}

/* GET /v1/status: the collector and every exporter, for `tollgate status`. */
static void handle_status(gw__t *g, gw_http_req_t *req)
{
    col_stats_t st;
    col_stats(g->col, &st);
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    char head[512];
    snprintf(head, sizeof head,
             "{\"collector\":{\"appended\":%llu,\"dropped\":%llu,\"written_sequence\":%llu,"
             "\"first_sequence\":%llu,\"spool_bytes\":%llu,\"segments\":%llu,\"full\":%s,"
             "\"retention_floor\":%lld},",
             (unsigned long long)st.appended, (unsigned long long)st.dropped,
             (unsigned long long)st.written_seq, (unsigned long long)col_first_seq(g->col),
             (unsigned long long)st.spool_bytes, (unsigned long long)st.segments,
             st.full ? "true" : "false",
             st.retention_floor == UINT64_MAX ? -1LL : (long long)st.retention_floor);
    ocsf_buf_puts(&b, head);
    ocsf_buf_t ex;
    ocsf_buf_init(&ex);
    exp_engine_status_json(g->exporters, &ex);
    ocsf_buf_put(&b, ex.p + 1, ex.len - 1); /* {"exporters":[...]} without its brace */
    ocsf_buf_dispose(&ex);
    gw_http_respond(req, 200, "application/json", NULL, b.p, b.len);
    ocsf_buf_dispose(&b);
}

/* GET /v1/ca: the certificate intercepted tunnels chain to, for clients'
 * trust stores (`tollgate ca`). The key stays in <state>/ca/ca.key. */
static void handle_ca(gw__t *g, gw_http_req_t *req)
{
    if (!g->ca) {
        reply_error(req, 503, "no CA");
        return;
    }
    const char *pem = px_ca_cert_pem(g->ca);
    gw_http_respond(req, 200, "application/x-pem-file", NULL, pem, strlen(pem));
}

/* ---- POST /v1/events ----------------------------------------------------------- */

struct gw__ingest {
    uv_work_t work;
    gw__t *g;
    gw_http_req_t *req;
    const char *body;
    size_t len;
    size_t accepted, rejected, listed, duplicates, repaired;
    uint64_t ticket; /* the last accepted event's */
    ocsf_buf_t errors;
    gw__ingest_t *next;
};

static void reject(gw__ingest_t *in, size_t line, const char *why)
{
    in->rejected++;
    if (in->listed >= (size_t)in->g->cfg.max_errors)
        return;
    if (in->listed++)
        ocsf_buf_putc(&in->errors, ',');
    ocsf_buf_puts(&in->errors, "{\"line\":");
    ocsf_buf_put_i64(&in->errors, (int64_t)line);
    ocsf_buf_puts(&in->errors, ",\"reason\":");
    ocsf_json_escape(&in->errors, why, strlen(why));
    ocsf_buf_putc(&in->errors, '}');
}

/* The checker of this thread (the threadpool's, the Kafka source's): its
 * buffers grow once and are reused by every event the thread checks. */
static pthread_key_t checker_key;
static pthread_once_t checker_once = PTHREAD_ONCE_INIT;

static void checker_free(void *c)
{
    ocsf_checker_free(c);
}

static void checker_init(void)
{
    pthread_key_create(&checker_key, checker_free);
}

ocsf_checker_t *gw__checker(void)
{
    pthread_once(&checker_once, checker_init);
    ocsf_checker_t *c = pthread_getspecific(checker_key);
    if (!c) {
        c = ocsf_checker_new();
        pthread_setspecific(checker_key, c);
    }
    return c;
}

/* One line: check against its OCSF version's schema, append as received.
 * Threadpool. */
static void ingest_line(gw__ingest_t *in, size_t lineno, const char *p, size_t n)
{
    gw__t *g = in->g;
    char err[512];
    ocsf_ingest_t ev;
    if (n > (size_t)g->cfg.max_line) {
        snprintf(err, sizeof err, "line of %zu bytes is over gateway.max_line (%lld)", n,
                 (long long)g->cfg.max_line);
        reject(in, lineno, err);
        return;
    }
    unsigned flags = g->cfg.ingest_invalid == 0 ? OCSF_INGEST_REPAIR : 0;
    if (ocsf_ingest(gw__checker(), p, n, flags, &ev, err, sizeof err) != 0) {
        reject(in, lineno, err);
        return;
    }
    uint64_t t;
    if (gw__dedup_seen(g->dedup, ev.digest)) {
        /* stored already (a resent batch): accepted, not stored twice; the reply
         * still waits until what was stored before it is durable */
        in->accepted++;
        in->duplicates++;
        t = atomic_load(&g->last_ticket);
        in->ticket = t > in->ticket ? t : in->ticket;
        return;
    }
    int rc = col_append_raw(g->col, &ev, &t, err, sizeof err);
    if (rc == 0) {
        in->accepted++;
        in->repaired += ev.repaired;
        in->ticket = t;
        uint64_t prev = atomic_load(&g->last_ticket);
        while (prev < t && !atomic_compare_exchange_weak(&g->last_ticket, &prev, t))
            ;
        return;
    }
    gw__dedup_forget(g->dedup, ev.digest);
    if (rc == -EAGAIN)
        reject(in, lineno, "dropped: the spool is full (spool.when_full = drop_newest)");
    else if (rc == -ESHUTDOWN)
        reject(in, lineno, "the gateway is stopping");
    else
        reject(in, lineno, err);
}

static void ingest_work(uv_work_t *w)
{
    gw__ingest_t *in = w->data;
    const char *p = in->body, *end = in->body + in->len;
    size_t lineno = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        size_t n = (size_t)(le - p);
        lineno++;
        if (n && p[n - 1] == '\r')
            n--;
        if (strspn(p, " \t") < n)
            ingest_line(in, lineno, p, n);
        p = nl ? nl + 1 : end;
    }
}

static void ingest_reply(gw__ingest_t *in)
{
    gw__t *g = in->g;
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    ocsf_buf_puts(&b, "{\"accepted\":");
    ocsf_buf_put_i64(&b, (int64_t)in->accepted);
    ocsf_buf_puts(&b, ",\"rejected\":");
    ocsf_buf_put_i64(&b, (int64_t)in->rejected);
    ocsf_buf_puts(&b, ",\"duplicates\":");
    ocsf_buf_put_i64(&b, (int64_t)in->duplicates);
    ocsf_buf_puts(&b, ",\"repaired\":");
    ocsf_buf_put_i64(&b, (int64_t)in->repaired);
    ocsf_buf_puts(&b, ",\"errors\":[");
    ocsf_buf_put(&b, in->errors.p, in->errors.len);
    ocsf_buf_puts(&b, "]}");
    atomic_fetch_add(&g->ingest_accepted, in->accepted);
    atomic_fetch_add(&g->ingest_rejected, in->rejected);
    atomic_fetch_add(&g->ingest_repaired, in->repaired);
    int status = in->accepted || !in->rejected ? 200 : 400;
    gw_http_respond(in->req, status, "application/json", NULL, b.p, b.len);
    ocsf_buf_dispose(&b);
    ocsf_buf_dispose(&in->errors);
    free(in);
}

static void ingest_after(uv_work_t *w, int status)
{
    gw__ingest_t *in = w->data;
    gw__t *g = in->g;
    (void)status;
    g->work_in_flight--;
    if (in->ticket && col_durable_ticket(g->col) < in->ticket) {
        in->next = g->waiting; /* replied from gw__api_on_commit */
        g->waiting = in;
    } else {
        ingest_reply(in);
    }
    maybe_finish(g);
}

static void handle_ingest(gw__t *g, gw_http_req_t *req)
{
    gw__ingest_t *in = calloc(1, sizeof *in);
    if (!in) {
        reply_error(req, 503, "out of memory");
        return;
    }
    in->g = g;
    in->req = req;
    in->body = gw_http_body(req, &in->len);
    ocsf_buf_init(&in->errors);
    in->work.data = in;
    g->work_in_flight++;
    int rc = uv_queue_work(&g->loop, &in->work, ingest_work, ingest_after);
    if (rc) {
        g->work_in_flight--;
        free(in);
        reply_error(req, 503, uv_strerror(rc));
    }
}

/* ---- GET /v1/logs ------------------------------------------------------------- */

typedef enum { LOGS_QUERY, LOGS_SCAN, LOGS_FOLLOW, LOGS_DONE } logs_phase_t;

struct gw__logs {
    gw__logs_t *next; /* g->followers */
    uv_work_t work;
    gw__t *g;
    gw_http_req_t *req;
    col_filter_t f;
    bool text, follow, busy, gone, streaming, listed;
    bool stored;    /* format=json&stored=1: the bytes as stored, repaired ones too (to render) */
    bool has_after; /* after=SEQ: scan from after + 1, no limit */
    uint64_t after;
    logs_phase_t phase;
    uint64_t next_seq, end_seq, id;
    int rc;
    ocsf_buf_t out;
};

static int render_cb(const col_record_t *r, void *ctx)
{
    gw__logs_t *l = ctx;
    if (!l->text) {
        /* an event stored as received though not valid OCSF leaves repaired,
         * like through every exporter */
        char why[256];
        if (!r->repaired || l->stored ||
            ocsf_cast(gw__checker(), r->json, r->json_len, NULL, OCSF_CAST_REPAIR, &l->out, why,
                      sizeof why) != 0)
            ocsf_buf_put(&l->out, r->json, r->json_len);
        ocsf_buf_putc(&l->out, '\n');
        return 0;
    }
    char err[256];
    if (ocsf_render_json(r->json, r->json_len, OCSF_LINE_CLI, &l->out, err, sizeof err) != 0) {
        ocsf_buf_puts(&l->out, "[undecodable event, sequence ");
        ocsf_buf_put_i64(&l->out, (int64_t)r->seq);
        ocsf_buf_puts(&l->out, ": ");
        ocsf_text_escape(&l->out, err, strlen(err), 200, 0);
        ocsf_buf_putc(&l->out, ']');
    }
    ocsf_buf_putc(&l->out, '\n');
    return 0;
}

static void logs_work(uv_work_t *w)
{
    gw__logs_t *l = w->data;
    col_t *c = l->g->col;
    uint64_t next = l->next_seq;
    if (l->phase == LOGS_QUERY)
        l->rc = col_query(c, &l->f, render_cb, l, &next);
    else
        l->rc = col_read(c, &l->f, l->next_seq, FOLLOW_BATCH, render_cb, l, &next);
    l->next_seq = next;
}

static void logs_after(uv_work_t *w, int status);

static void logs_list(gw__logs_t *l, bool on)
{
    gw__t *g = l->g;
    if (on && !l->listed) {
        l->next = g->followers;
        g->followers = l;
        l->listed = true;
    } else if (!on && l->listed) {
        for (gw__logs_t **pp = &g->followers; *pp; pp = &(*pp)->next)
            if (*pp == l) {
                *pp = l->next;
                break;
            }
        l->listed = false;
    }
}

static void logs_free(gw__logs_t *l)
{
    gw__t *g = l->g;
    logs_list(l, false);
    if (l->streaming)
        gw_http_stream_end(l->req);
    else
        reply_error(l->req, 503, "the gateway is stopping");
    ocsf_buf_dispose(&l->out);
    free(l);
    maybe_finish(g);
}

/* Starts the next read when there is something to read and room for it. */
static void logs_pump(gw__logs_t *l)
{
    gw__t *g = l->g;
    if (l->busy || l->gone)
        return;
    if (l->phase == LOGS_SCAN && l->next_seq > l->end_seq)
        l->phase = l->follow ? LOGS_FOLLOW : LOGS_DONE;
    if (l->phase == LOGS_DONE || (l->phase == LOGS_FOLLOW && g->stopping)) {
        logs_free(l);
        return;
    }
    if (l->phase == LOGS_FOLLOW && col_written_seq(g->col) < l->next_seq)
        return; /* wait for gw__api_on_commit */
    if (l->streaming && gw_http_pending(l->req) > FOLLOW_HIGH_WATER)
        return; /* wait for the drain callback */
    l->busy = true;
    l->work.data = l;
    g->work_in_flight++;
    if (uv_queue_work(&g->loop, &l->work, logs_work, logs_after) != 0) {
        g->work_in_flight--;
        l->busy = false;
        logs_free(l);
    }
}

static void logs_after(uv_work_t *w, int status)
{
    gw__logs_t *l = w->data;
    gw__t *g = l->g;
    (void)status;
    l->busy = false;
    g->work_in_flight--;
    if (l->gone || l->rc < 0) {
        logs_free(l);
        return;
    }
    if (!l->streaming) {
        gw_http_stream_begin(l->req, 200,
                             l->text ? "text/plain; charset=utf-8" : "application/x-ndjson");
        l->streaming = true;
    }
    if (l->out.len && gw_http_stream_write(l->req, l->out.p, l->out.len) != 0)
        l->gone = true;
    l->out.len = 0;
    if (l->phase == LOGS_QUERY)
        l->phase = l->follow ? LOGS_FOLLOW : LOGS_DONE;
    if (l->out.cap > (4u << 20))
        ocsf_buf_dispose(&l->out);
    logs_pump(l);
}

static void logs_on_close(gw_http_req_t *req, void *ctx)
{
    gw__logs_t *l = ctx;
    (void)req;
    l->gone = true;
    if (!l->busy)
        logs_free(l);
}

static void logs_on_drain(gw_http_req_t *req, void *ctx)
{
    (void)req;
    logs_pump(ctx);
}

static int parse_enum(const char *v, const char *const *names, const int *ids, size_t n, int *out)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (*v && !*end) {
        *out = (int)x;
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(v, names[i]) == 0) {
            *out = ids[i];
            return 0;
        }
    return -EINVAL;
}

/* The first /v1/logs parameter whose value cannot be decoded (a %00, a
 * broken %-escape, too long): a 400 naming it, never a silent default. */
static const char *logs_bad_param(gw_http_req_t *req)
{
    static const char *const names[] = {"sandbox", "since",  "until",        "source",
                                        "class",   "action", "min_severity", "limit",
                                        "format",  "follow", "stored",       "after"};
    static char msg[128];
    char v[512];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        int rc = gw_http_param(req, names[i], v, sizeof v);
        if (rc == -EINVAL || rc == -ENOSPC) {
            snprintf(msg, sizeof msg, "%s: %s", names[i],
                     rc == -EINVAL ? "holds %00 or a broken %-escape" : "too long");
            return msg;
        }
    }
    return NULL;
}

static const char *logs_params(gw_http_req_t *req, gw__logs_t *l)
{
    static const char *const cls_n[] = {"network", "net",       "http",    "finding",
                                        "config",  "lifecycle", "process", "proc"};
    static const int cls_i[] = {4001, 4001, 4002, 2004, 5019, 6002, 1007, 1007};
    static const char *const act_n[] = {"allowed", "denied"};
    static const int act_i[] = {1, 2};
    static const char *const sev_n[] = {"info", "informational", "low",      "med",  "medium",
                                        "high", "crit",          "critical", "fatal"};
    static const int sev_i[] = {1, 1, 2, 3, 3, 4, 5, 5, 6};
    char v[512];
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    int64_t now = tv.tv_sec * 1000 + tv.tv_usec / 1000;
    col_filter_init(&l->f);
    l->f.limit = LOGS_DEFAULT_LIMIT;
    const char *bad = logs_bad_param(req);
    if (bad)
        return bad;
    int sb = gw_http_param(req, "sandbox", l->f.sandbox, sizeof l->f.sandbox);
    if (sb == -ENOSPC || sb == -EINVAL)
        return "sandbox: not a sandbox name";
    if (gw_http_param(req, "since", v, sizeof v) >= 0 && gw_parse_time(v, now, &l->f.since_ms))
        return "since: not a duration (30s, 5m, 2h, 7d, 1h30m) or RFC 3339 time";
    if (gw_http_param(req, "until", v, sizeof v) >= 0 && gw_parse_time(v, now, &l->f.until_ms))
        return "until: not a duration (30s, 5m, 2h, 7d, 1h30m) or RFC 3339 time";
    if (gw_http_param(req, "source", v, sizeof v) >= 0) {
        if (strcmp(v, "gateway") == 0)
            l->f.source = COL_SRC_GATEWAY;
        else if (strcmp(v, "sandbox") == 0)
            l->f.source = COL_SRC_SANDBOX;
        else if (strcmp(v, "all") != 0)
            return "source: one of gateway, sandbox, all";
    }
    if (gw_http_param(req, "class", v, sizeof v) >= 0 &&
        parse_enum(v, cls_n, cls_i, sizeof cls_i / sizeof cls_i[0], &l->f.class_uid))
        return "class: a class_uid or one of network, http, finding, config, lifecycle, process";
    if (gw_http_param(req, "action", v, sizeof v) >= 0 &&
        parse_enum(v, act_n, act_i, 2, &l->f.action_id))
        return "action: allowed, denied or an action_id";
    if (gw_http_param(req, "min_severity", v, sizeof v) >= 0 &&
        parse_enum(v, sev_n, sev_i, sizeof sev_i / sizeof sev_i[0], &l->f.min_severity))
        return "min_severity: info, low, medium, high, critical, fatal or a severity_id";
    if (gw_http_param(req, "limit", v, sizeof v) >= 0) {
        char *end;
        long long n = strtoll(v, &end, 10);
        if (*end || end == v || n < 0 || n > 100000)
            return "limit: 0 (everything) to 100000";
        l->f.limit = (size_t)n;
    }
    if (gw_http_param(req, "format", v, sizeof v) >= 0) {
        if (strcmp(v, "text") == 0)
            l->text = true;
        else if (strcmp(v, "json") != 0)
            return "format: json or text";
    }
    if (gw_http_param(req, "after", v, sizeof v) >= 0) {
        char *end;
        errno = 0;
        unsigned long long a = strtoull(v, &end, 10);
        if (*end || end == v || *v == '-' || errno)
            return "after: a sequence number (0 or more)";
        if (gw_http_param(req, "limit", v, sizeof v) >= 0)
            return "after and limit: one or the other (after takes every match past it)";
        l->has_after = true;
        l->after = a;
    }
    if (gw_http_param(req, "follow", v, sizeof v) >= 0)
        l->follow = strcmp(v, "1") == 0 || strcmp(v, "true") == 0;
    if (gw_http_param(req, "stored", v, sizeof v) >= 0)
        l->stored = strcmp(v, "1") == 0 || strcmp(v, "true") == 0;
    return NULL;
}

static void handle_logs(gw__t *g, gw_http_req_t *req)
{
    static uint64_t ids;
    gw__logs_t *l = calloc(1, sizeof *l);
    if (!l) {
        reply_error(req, 503, "out of memory");
        return;
    }
    l->g = g;
    l->req = req;
    l->id = ++ids;
    ocsf_buf_init(&l->out);
    const char *bad = logs_params(req, l);
    if (bad) {
        reply_error(req, 400, bad);
        free(l);
        return;
    }
    l->end_seq = col_written_seq(g->col);
    l->next_seq = l->has_after && l->after < UINT64_MAX ? l->after + 1 : 1;
    l->phase = l->f.limit && !l->has_after ? LOGS_QUERY : LOGS_SCAN;
    logs_list(l, true);
    gw_http_set_close_cb(req, logs_on_close, l);
    gw_http_set_drain_cb(req, logs_on_drain, l);
    logs_pump(l);
}

static void followers_metrics(gw__t *g, ocsf_buf_t *b)
{
    uint64_t written = col_written_seq(g->col);
    bool first = true;
    for (gw__logs_t *l = g->followers; l; l = l->next) {
        if (l->phase != LOGS_FOLLOW && l->phase != LOGS_SCAN)
            continue;
        char labels[64];
        snprintf(labels, sizeof labels, "{reader=\"logs-%llu\"}", (unsigned long long)l->id);
        uint64_t lag = written + 1 > l->next_seq ? written + 1 - l->next_seq : 0;
        metric(b, "tollgate_reader_lag_events", "gauge",
               first ? "Events written but not yet read, per reader." : NULL, labels, lag);
        first = false;
    }
}

/* ---- dispatch and hooks ------------------------------------------------------- */

int gw__api_check_head(gw_http_req_t *req, void *ctx, const char **msg)
{
    gw__t *g = ctx;
    if (strcmp(gw_http_path(req), "/v1/health") == 0 || authorized(g, req))
        return 0;
    atomic_fetch_add(&g->unauthorized, 1);
    *msg = "missing or wrong bearer token (see <state>/token)";
    return 401;
}

void gw__api_handle(gw_http_req_t *req, void *ctx)
{
    gw__t *g = ctx;
    const char *m = gw_http_method(req), *path = gw_http_path(req);
    atomic_fetch_add(&g->requests, 1);
    if (strcmp(path, "/v1/health") == 0 && strcmp(m, "GET") == 0) {
        handle_health(g, req);
        return;
    }
    bool known = strcmp(path, "/metrics") == 0 || strcmp(path, "/v1/events") == 0 ||
                 strcmp(path, "/v1/status") == 0 || strcmp(path, "/v1/logs") == 0 ||
                 strcmp(path, "/v1/ca") == 0 || strncmp(path, "/v1/sandboxes", 13) == 0;
    if (!known) {
        reply_error(req, 404, "no such endpoint");
        return;
    }
    if (!authorized(g, req)) {
        atomic_fetch_add(&g->unauthorized, 1);
        reply_error(req, 401, "missing or wrong bearer token (see <state>/token)");
        return;
    }
    if (g->stopping) {
        reply_error(req, 503, "the gateway is stopping");
        return;
    }
    if (gw__api_sandbox(g, req))
        return;
    if (strcmp(path, "/metrics") == 0 && strcmp(m, "GET") == 0)
        handle_metrics(g, req);
    else if (strcmp(path, "/v1/events") == 0 && strcmp(m, "POST") == 0)
        handle_ingest(g, req);
    else if (strcmp(path, "/v1/logs") == 0 && strcmp(m, "GET") == 0)
        handle_logs(g, req);
    else if (strcmp(path, "/v1/status") == 0 && strcmp(m, "GET") == 0)
        handle_status(g, req);
    else if (strcmp(path, "/v1/ca") == 0 && strcmp(m, "GET") == 0)
        handle_ca(g, req);
    else
        reply_error(req, 405, "method not allowed");
}

void gw__api_on_commit(gw__t *g)
{
    uint64_t durable = col_durable_ticket(g->col);
    for (gw__ingest_t **pp = &g->waiting; *pp;) {
        gw__ingest_t *in = *pp;
        if (in->ticket <= durable) {
            *pp = in->next;
            ingest_reply(in);
        } else {
            pp = &in->next;
        }
    }
    for (gw__logs_t *l = g->followers, *next; l; l = next) {
        next = l->next; /* logs_pump may free l */
        logs_pump(l);
    }
    maybe_finish(g);
}

void gw__api_stop(gw__t *g)
{
    for (gw__logs_t *l = g->followers, *next; l; l = next) {
        next = l->next;
        if (l->busy)
            l->gone = true; /* freed in logs_after */
        else
            logs_free(l);
    }
}
