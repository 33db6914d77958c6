/*
 * relay.c: bytes both ways once the upstream is connected. A CONNECT gets
 * "200 Connection Established" and becomes a tunnel. A forwarded request is
 * rewritten to origin form (Proxy-* and hop-by-hop headers dropped, Host
 * from the URL) and relayed with its framing known: the request body
 * through the request's http_parser (Content-Length or chunked), the
 * response through a response parser (Content-Length, chunked, or until
 * the upstream closes; HEAD, 1xx, 204 and 304 have no body). Both are
 * relayed as they were written; the parsers only find where they end.
 *
 * Keep-alive: once a response has ended, its upstream goes idle in the
 * pool (upstream_pool.c: framing known, nobody said close, same caller
 * and destination only) or is closed, and, when the client asked for
 * keep-alive and the response head (relayed unchanged, so the client
 * reads the same) allows it, the client connection reads its next request
 * head (px__head_begin). Otherwise the client side is shut down once its
 * queue is flushed, then closed. The client is not read while a response
 * is outstanding: pipelined bytes wait in c->rest (at most one read). A
 * reused upstream that closes or resets before any response byte gets the
 * request again on a fresh connection to the same address, once, when the
 * request is idempotent and had no body (fwd_retry); else 502.
 *
 * Plain tunnels go through relay_splice.c instead (splice(2) through a
 * pipe per direction, no byte in user space) once the 200 and the bytes
 * that came with the head are written; this copy relay is their fallback
 * (no pipe could be made) and the path of forwarded requests. A forwarded
 * Content-Length body with PX__SPLICE_BODY_MIN bytes or more still to come
 * (request: px__relay_start; response: on_fwd_up_read) is spliced too, all
 * but its last byte: the source's libuv reads stop, relay_splice.c moves
 * the bytes once the destination's queue is out, then px__fwd_body_spliced
 * lowers the parser's content_length by what moved and reads on here, so
 * the parser itself sees the body's end and what follows it (pipelined
 * requests, bytes past a response) exactly as without splice.
 *
 * Backpressure: a side whose peer has more than PX__HIGH_WATER bytes queued
 * stops being read until the queue falls under PX__LOW_WATER. Half-close
 * (tunnels): EOF from one side shuts down writing to the other once its
 * queue is flushed; the connection ends when both sides are done.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/px_internal.h"

typedef struct {
    uv_write_t w;
    px_conn_t *c;
    bool to_up, pooled; /* pooled: data is a PX__BUF read buffer */
    unsigned up_gen;    /* to_up: the upstream it was written to */
    size_t len;
    char *data;
} wreq_t;

static void on_client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void on_up_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void on_fwd_client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void on_fwd_up_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

/* Read buffers come from a small per-proxy pool and go back to it once
 * written: a malloc/free per read made glibc hand pages back and fault them
 * in again (measured: 144 page faults per MB relayed). */
static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    px_t *p = ((px_conn_t *)h->data)->px;
    (void)hint;
    buf->base = p->nbufs ? p->bufs[--p->nbufs] : malloc(PX__BUF);
    buf->len = buf->base ? PX__BUF : 0;
}

static void buf_release(px_t *p, char *b)
{
    if (b && p->nbufs < (int)(sizeof p->bufs / sizeof p->bufs[0]))
        p->bufs[p->nbufs++] = b;
    else
        free(b);
}

static void maybe_done(px_conn_t *c)
{
    if (c->client_eof && c->up_eof && c->up_pending == 0 && c->client_pending == 0)
        px__conn_close(c);
}

/* A request on a reused upstream that has had no response byte and can be
 * sent again (idempotent, no body), not yet retried. */
static bool can_retry(const px_conn_t *c)
{
    return c->reused && !c->retried && c->replayable && !c->resp_started && c->bytes_in == 0;
}

static void on_written(uv_write_t *w, int status)
{
    wreq_t *r = (wreq_t *)w;
    px_conn_t *c = r->c;
    size_t *pending = r->to_up ? &c->up_pending : &c->client_pending;
    *pending -= r->len;
    if (r->pooled)
        buf_release(c->px, r->data);
    else
        free(r->data);
    bool stale = r->to_up && r->up_gen != c->up_gen; /* to an upstream closed since */
    bool to_up = r->to_up;
    free(r);
    if (c->closing || stale)
        return;
    if (status < 0 && to_up && !c->is_connect && c->phase == PX_RELAY && can_retry(c))
        return; /* a reused upstream that died: its read's EOF or error retries */
    if (status < 0 && to_up && !c->is_connect && c->phase == PX_RELAY) {
        /* the upstream stopped taking the request (it may be answering
         * early, 413...): its response still goes back, then the end */
        c->req_done = true;
        c->client_ka = false;
        uv_read_stop((uv_stream_t *)&c->client);
        return;
    }
    if (status < 0) {
        px__conn_close(c);
        return;
    }
    if (c->phase != PX_RELAY)
        return;                  /* the next request head, or a refusal */
    if (px__splice_waiting(c)) { /* a spliced tunnel starts once its queues are out */
        if (c->up_pending == 0 && c->client_pending == 0)
            px__splice_go(c);
        return;
    }
    px__splice_kick(c); /* a spliced body starts once its destination's queue is out */
    if (c->closing || c->phase != PX_RELAY)
        return;
    /* resume the sides that were paused for a full queue */
    if (c->is_connect) {
        if (c->up_pending < PX__LOW_WATER && !c->client_eof)
            uv_read_start((uv_stream_t *)&c->client, alloc_cb, on_client_read);
        if (c->client_pending < PX__LOW_WATER && !c->up_eof && c->up)
            uv_read_start((uv_stream_t *)c->up, alloc_cb, on_up_read);
        maybe_done(c);
        return;
    }
    /* (not a side whose body is being spliced: libuv must not read it) */
    if (c->up_pending < PX__LOW_WATER && !c->req_done && c->up &&
        !px__splice_reading(c, PX__BODY_REQ))
        uv_read_start((uv_stream_t *)&c->client, alloc_cb, on_fwd_client_read);
    if (c->client_pending < PX__LOW_WATER && !c->resp_done && c->up &&
        !px__splice_reading(c, PX__BODY_RESP))
        uv_read_start((uv_stream_t *)c->up, alloc_cb, on_fwd_up_read);
}

/* Queues len bytes of data (taking ownership) toward one side. */
static int send_to_(px_conn_t *c, bool to_up, char *data, size_t len, bool pooled)
{
    wreq_t *r = malloc(sizeof *r);
    if (!r) {
        free(data);
        return -1;
    }
    r->c = c;
    r->pooled = pooled;
    r->to_up = to_up;
    r->up_gen = c->up_gen;
    r->len = len;
    r->data = data;
    uv_buf_t b = uv_buf_init(data, (unsigned)len);
    uv_stream_t *s = to_up ? (uv_stream_t *)c->up : (uv_stream_t *)&c->client;
    if (uv_write(&r->w, s, &b, 1, on_written) != 0) {
        if (pooled)
            buf_release(c->px, data);
        else
            free(data);
        free(r);
        return -1;
    }
    *(to_up ? &c->up_pending : &c->client_pending) += len;
    if (to_up)
        c->bytes_out += len;
    return 0;
}

static int send_to(px_conn_t *c, bool to_up, char *data, size_t len)
{
    return send_to_(c, to_up, data, len, false);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    free(req);
}

static void half_close(px_conn_t *c, bool toward_up)
{
    uv_shutdown_t *req = malloc(sizeof *req);
    uv_stream_t *s = toward_up ? (uv_stream_t *)c->up : (uv_stream_t *)&c->client;
    if (!req || !s || uv_shutdown(req, s, on_shutdown) != 0)
        free(req);
}

/* Bytes read from one side go to the other; `from_client` says which. */
static void relay_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf, bool from_client)
{
    px_conn_t *c = s->data;
    uv_timer_again(&c->timer);
    if (n <= 0) {
        buf_release(c->px, buf->base);
        if (n == 0)
            return;
        if (n != UV_EOF) {
            px__conn_close(c);
            return;
        }
        *(from_client ? &c->client_eof : &c->up_eof) = true;
        uv_read_stop(s);
        half_close(c, from_client);
        maybe_done(c);
        return;
    }
    if (!from_client)
        c->bytes_in += (size_t)n;
    if (send_to_(c, from_client, buf->base, (size_t)n, true) != 0) {
        px__conn_close(c);
        return;
    }
    if ((from_client ? c->up_pending : c->client_pending) > PX__HIGH_WATER)
        uv_read_stop(s); /* backpressure: resumed from on_written */
}

static void on_client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    relay_read(s, n, buf, true);
}

static void on_up_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    relay_read(s, n, buf, false);
}

static bool hop_by_hop(const char *name)
{
    static const char *const drop[] = {
        "proxy-connection", "proxy-authorization", "connection", "keep-alive", "te", "trailer",
        "upgrade"};
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
        if (strcasecmp(name, drop[i]) == 0)
            return true;
    return false;
}

/* True when name is one of the tokens of the client's Connection header:
 * those fields are for this hop only (RFC 9110 7.6.1). */
static bool connection_listed(const px_conn_t *c, const char *name)
{
    const char *h = c->hdrs.p;
    size_t n = strlen(name);
    for (size_t i = 0; h && i < c->nhdrs; i++) {
        const char *value = h + strlen(h) + 1;
        if (strcasecmp(h, "connection") == 0)
            for (const char *t = value; *t;) {
                t += strspn(t, " \t,");
                size_t len = strcspn(t, " \t,");
                if (len == n && strncasecmp(t, name, n) == 0)
                    return true;
                t += len;
            }
        h = value + strlen(value) + 1;
    }
    return false;
}

/* The forwarded request's head, in origin form. Host comes from the URL the
 * policy judged, not from the client's Host header (RFC 7230 5.4: one
 * allowed name must not reach another virtual host on the same address). */
static void forward_head(px_conn_t *c, ocsf_buf_t *out)
{
    ocsf_buf_puts(out, c->method);
    ocsf_buf_putc(out, ' ');
    ocsf_buf_put(out, c->path.p, c->path.len);
    ocsf_buf_puts(out, " HTTP/1.1\r\nHost: ");
    bool v6 = strchr(c->host_asked, ':') != NULL;
    ocsf_buf_puts(out, v6 ? "[" : "");
    ocsf_buf_puts(out, c->host_asked);
    ocsf_buf_puts(out, v6 ? "]" : "");
    if (c->port != 80) {
        ocsf_buf_putc(out, ':');
        ocsf_buf_put_i64(out, c->port);
    }
    ocsf_buf_puts(out, "\r\n");
    const char *h = c->hdrs.p;
    for (size_t i = 0; h && i < c->nhdrs; i++) {
        const char *name = h, *value = h + strlen(h) + 1;
        h = value + strlen(value) + 1;
        if (hop_by_hop(name) || strcasecmp(name, "host") == 0 || connection_listed(c, name))
            continue;
        ocsf_buf_puts(out, name);
        ocsf_buf_puts(out, ": ");
        ocsf_buf_puts(out, value);
        ocsf_buf_puts(out, "\r\n");
    }
    /* without close the upstream may be pooled after the response; a
     * client that keeps its connection must not be told close by the
     * response head it reads unchanged */
    ocsf_buf_puts(out, c->client_ka ? "\r\n" : "Connection: close\r\n\r\n");
}

/* ---- forwarded requests ---------------------------------------------------------- */

static int req_complete(http_parser *hp)
{
    px_conn_t *c = hp->data;
    c->req_done = true;
    http_parser_pause(hp, 1); /* what follows is the next request's */
    return 0;
}

static const http_parser_settings req_body_settings = {.on_message_complete = req_complete};

static int resp_headers(http_parser *hp)
{
    px_conn_t *c = hp->data;
    if (hp->status_code == 101)
        return -1; /* no Upgrade was forwarded: not a response to this request */
    if (hp->status_code / 100 == 1)
        return 0; /* interim (100 Continue, 103): relayed, the final one follows */
    c->resp_status = hp->status_code;
    c->resp_body_cl = !(hp->flags & F_CHUNKED) && !hp->uses_transfer_encoding &&
                      hp->content_length != ULLONG_MAX && strcmp(c->method, "HEAD") != 0;
    px__event_http(c);
    return strcmp(c->method, "HEAD") == 0 ? 1 : 0; /* 1: no body */
}

static int resp_complete(http_parser *hp)
{
    px_conn_t *c = hp->data;
    if (hp->status_code / 100 == 1)
        return 0;
    c->resp_done = true;
    http_parser_pause(hp, 1); /* bytes after it are not the client's */
    return 0;
}

static const http_parser_settings resp_settings = {
    .on_headers_complete = resp_headers,
    .on_message_complete = resp_complete,
};

/* The bytes of a Content-Length body the parser still expects (0: another
 * framing). Only while the parser is in such a body: a request not done
 * (Transfer-Encoding without chunked is refused for requests), a final
 * response with resp_body_cl not done. */
static uint64_t cl_left(const http_parser *hp)
{
    if ((hp->flags & F_CHUNKED) || hp->uses_transfer_encoding || hp->content_length == ULLONG_MAX)
        return 0;
    return hp->content_length;
}

/* relay_splice.c is done with a body (all but its last byte moved): the
 * parser is told and the copy relay reads the rest. A request body whose
 * upstream stopped taking it (!ok) ends as in on_written. */
void px__fwd_body_spliced(px_conn_t *c, int body, uint64_t moved, bool ok)
{
    if (c->closing || c->phase != PX_RELAY || !c->up)
        return;
    if (body == PX__BODY_REQ && !ok) {
        c->req_done = true;
        c->client_ka = false;
        return;
    }
    if (body == PX__BODY_REQ) {
        c->parser.content_length -= moved;
        if (c->up_pending < PX__LOW_WATER)
            uv_read_start((uv_stream_t *)&c->client, alloc_cb, on_fwd_client_read);
        return;
    }
    c->resp.content_length -= moved;
    if (c->client_pending < PX__LOW_WATER)
        uv_read_start((uv_stream_t *)c->up, alloc_cb, on_fwd_up_read);
}

/* Request bytes through the parser: *used of them belong to this request.
 * -1 when the framing is invalid. */
static int req_feed(px_conn_t *c, const char *p, size_t n, size_t *used)
{
    *used = http_parser_execute(&c->parser, &req_body_settings, p, n);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    return e == HPE_OK || (e == HPE_PAUSED && c->req_done) ? 0 : -1;
}

/* The exchange cannot go on: an error reply when the client has had no
 * byte of the response yet, else a plain close. */
static void fwd_fail(px_conn_t *c, int status, const char *error, const char *detail)
{
    px__splice_close(c); /* a body being spliced goes no further */
    if (c->up)
        uv_read_stop((uv_stream_t *)c->up);
    if (c->resp_started) {
        px__conn_close(c);
        return;
    }
    c->resp_status = status;
    px__refuse(c, status, error, detail, NULL);
}

void px__fwd_end_upstream(px_conn_t *c)
{
    px__event_http(c);
    if (c->opened_event)
        px__event_close(c);
    c->opened_event = false;
    px__up_close(c);
}

/* The response ended: its events, then the upstream idles in the pool
 * (upstream_pool.c) when its framing was known and neither side said
 * close, else it is closed. */
static void fwd_end_or_pool(px_conn_t *c)
{
    px__pool_key_t key;
    bool pool = c->up && c->resp_done && c->req_done && !c->resp_extra && !c->up_eof &&
                c->up_pending == 0 && c->client_ka && !c->px->closing &&
                http_should_keep_alive(&c->resp) && px__pool_key_of(c, &key);
    if (!pool) {
        px__fwd_end_upstream(c);
        return;
    }
    px__event_http(c);
    if (c->opened_event)
        px__event_close(c);
    c->opened_event = false;
    px__pool_put(c, &key);
}

/* A uv_shutdown's callback: the queued writes are out; the connection closes. */
static void on_final_shutdown(uv_shutdown_t *req, int status)
{
    px_conn_t *c = req->data;
    (void)status;
    free(req);
    if (!c->closing)
        px__conn_close(c);
}

void px__shutdown_client(px_conn_t *c)
{
    uv_shutdown_t *req = malloc(sizeof *req);
    if (!req)
        abort();
    req->data = c;
    if (uv_shutdown(req, (uv_stream_t *)&c->client, on_final_shutdown) != 0) {
        free(req);
        px__conn_close(c);
    }
}

/* The response has ended: the next request, or the end (once the
 * response is flushed: uv_shutdown waits for the queued writes). */
static void fwd_response_done(px_conn_t *c)
{
    bool keep = c->client_ka && c->req_done && !c->px->closing &&
                http_should_keep_alive(&c->resp) &&
                /* an HTTP/1.0 client keeps only what the head it reads says */
                (c->parser.http_minor > 0 || (c->resp.flags & F_CONNECTION_KEEP_ALIVE));
    fwd_end_or_pool(c);
    if (keep) {
        px__head_begin(c);
        return;
    }
    uv_read_stop((uv_stream_t *)&c->client);
    c->phase = PX_CLOSING;
    px__shutdown_client(c);
}

static void on_fwd_client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    px_conn_t *c = s->data;
    size_t used;
    uv_timer_again(&c->timer);
    if (n <= 0) {
        buf_release(c->px, buf->base);
        if (n < 0) /* the client left (or reset) before its request ended */
            px__conn_close(c);
        return;
    }
    if (req_feed(c, buf->base, (size_t)n, &used) != 0) {
        buf_release(c->px, buf->base);
        fwd_fail(c, 400, "bad_request", http_errno_description(HTTP_PARSER_ERRNO(&c->parser)));
        return;
    }
    if (c->req_done) { /* the rest is the next request's: read no more until the response ends */
        ocsf_buf_put(&c->rest, buf->base + used, (size_t)n - used);
        uv_read_stop(s);
    }
    if (used == 0) {
        buf_release(c->px, buf->base);
        return;
    }
    if (send_to_(c, true, buf->base, used, true) != 0) {
        px__conn_close(c);
        return;
    }
    if (c->up_pending > PX__HIGH_WATER)
        uv_read_stop(s); /* backpressure: resumed from on_written */
}

static void on_redialed(uv_connect_t *req, int status)
{
    px_conn_t *c = req->data;
    if (c->closing || status == UV_ECANCELED)
        return;
    if (status != 0) {
        px__up_close(c);
        c->retrying = false;
        fwd_fail(c, 502, "bad_gateway", "the upstream could not be reached again");
        return;
    }
    px__relay_start(c); /* c->retrying: the head again, nothing else */
}

/* The reused upstream closed or reset before any response byte: the request
 * (idempotent, no body) goes once more, on a fresh connection to the same
 * address. No event for the dead one: the request's NET:CLOSE comes once. */
static void fwd_retry(px_conn_t *c)
{
    px__up_close(c);
    c->retried = c->retrying = true;
    c->reused = false;
    c->bytes_out = 0;
    c->px->pool_retries++;
    c->up = malloc(sizeof *c->up);
    if (!c->up)
        abort();
    uv_tcp_init(c->px->loop, c->up);
    c->up->data = c;
    c->handles++;
    c->connect_req.data = c;
    if (uv_tcp_connect(&c->connect_req, c->up, (struct sockaddr *)&c->up_addr, on_redialed) != 0) {
        px__up_close(c);
        c->retrying = false;
        fwd_fail(c, 502, "bad_gateway", "the upstream could not be reached again");
    }
}

static void on_fwd_up_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    px_conn_t *c = s->data;
    uv_timer_again(&c->timer);
    if (n <= 0) {
        buf_release(c->px, buf->base);
        if (n == 0)
            return;
        if (can_retry(c)) {
            fwd_retry(c);
            return;
        }
        if (n == UV_EOF) /* ends a close-delimited body */
            http_parser_execute(&c->resp, &resp_settings, NULL, 0);
        if (c->resp_done)
            fwd_response_done(c);
        else
            fwd_fail(c, 502, "bad_gateway", "the upstream closed before its response ended");
        return;
    }
    size_t used = http_parser_execute(&c->resp, &resp_settings, buf->base, (size_t)n);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->resp);
    if (e != HPE_OK && !(e == HPE_PAUSED && c->resp_done)) {
        buf_release(c->px, buf->base);
        fwd_fail(c, 502, "bad_gateway", "the upstream's response is not valid HTTP");
        return;
    }
    /* bytes past the response's end (an upstream that says too much) are
     * dropped with the upstream connection (never pooled) */
    c->bytes_in += used;
    if (used < (size_t)n)
        c->resp_extra = true;
    if (used) {
        c->resp_started = true;
        if (send_to_(c, false, buf->base, used, true) != 0) {
            px__conn_close(c);
            return;
        }
    } else {
        buf_release(c->px, buf->base);
    }
    if (c->resp_done) {
        fwd_response_done(c);
        return;
    }
    /* a long Content-Length body: spliced but its last byte, which comes
     * back here (the parser sees the end and what follows, as ever) */
    uint64_t left = c->resp_body_cl ? cl_left(&c->resp) : 0;
    if (left >= PX__SPLICE_BODY_MIN && px__splice_body(c, PX__BODY_RESP, left - 1)) {
        uv_read_stop(s);
        px__splice_kick(c); /* once the head and first bytes are written */
        return;
    }
    if (c->client_pending > PX__HIGH_WATER)
        uv_read_stop(s); /* backpressure: resumed from on_written */
}

/* RFC 9110 9.2.2 */
static bool idempotent(const char *m)
{
    static const char *const ok[] = {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strcmp(m, ok[i]) == 0)
            return true;
    return false;
}

/* The head and the body bytes that came with it go upstream; the client is
 * read on only while the request has more. 0, or -1 when refused. */
static int fwd_start(px_conn_t *c, ocsf_buf_t *first)
{
    size_t lf, used = 0;
    http_parser_init(&c->resp, HTTP_RESPONSE);
    c->resp.data = c;
    c->resp_body_cl = false;
    http_parser_pause(&c->parser, 0);
    /* the parser stopped before the head's last LF (server.c dropped it):
     * that LF, then the bytes that came with the head; used: how many of
     * those are this request's body */
    if (req_feed(c, "\n", 1, &lf) != 0 ||
        (!c->req_done && c->rest.len && req_feed(c, c->rest.p, c->rest.len, &used) != 0)) {
        fwd_fail(c, 400, "bad_request", http_errno_description(HTTP_PARSER_ERRNO(&c->parser)));
        return -1;
    }
    forward_head(c, first);
    c->replayable = c->req_done && used == 0 && idempotent(c->method);
    if (used) { /* what is left is the next request's (pipelined) */
        ocsf_buf_put(first, c->rest.p, used);
        memmove(c->rest.p, c->rest.p + used, c->rest.len - used);
        c->rest.len -= used;
    }
    return 0;
}

void px__relay_start(px_conn_t *c)
{
    c->phase = PX_RELAY;
    uv_tcp_nodelay(c->up, 1);
    ocsf_buf_t first;
    ocsf_buf_init(&first);
    if (c->is_connect) {
        static const char ok[] = "HTTP/1.1 200 Connection Established\r\n\r\n";
        char *d = malloc(sizeof ok - 1);
        if (!d || (memcpy(d, ok, sizeof ok - 1), send_to(c, false, d, sizeof ok - 1)) != 0) {
            px__conn_close(c);
            return;
        }
        ocsf_buf_put(&first, c->rest.p, c->rest.len); /* bytes that came with the head */
        ocsf_buf_dispose(&c->rest);
    } else if (c->retrying) { /* the same head on a fresh upstream (no body) */
        c->retrying = false;
        http_parser_init(&c->resp, HTTP_RESPONSE);
        c->resp.data = c;
        c->resp_body_cl = false;
        forward_head(c, &first);
    } else if (fwd_start(c, &first) != 0) {
        ocsf_buf_dispose(&first);
        return;
    }
    if (first.len && send_to(c, true, first.p, first.len) != 0) {
        px__conn_close(c);
        return;
    }
    if (!first.len)
        ocsf_buf_dispose(&first);
    uint64_t idle = (uint64_t)c->px->cfg.idle_timeout_ms;
    uv_timer_start(&c->timer, px__on_timer, idle, idle); /* reset by every read */
    if (c->is_connect && !c->inspect && px__splice_prepare(c))
        return; /* relay_splice.c, once the 200 (and first bytes) are written */
    if (c->is_connect) {
        uv_read_start((uv_stream_t *)&c->client, alloc_cb, on_client_read);
        uv_read_start((uv_stream_t *)c->up, alloc_cb, on_up_read);
        return;
    }
    /* a long Content-Length request body: spliced but its last byte (read
     * here, with what follows it), once the head is written */
    uint64_t left = c->req_done ? 0 : cl_left(&c->parser);
    if (left >= PX__SPLICE_BODY_MIN && px__splice_body(c, PX__BODY_REQ, left - 1))
        px__splice_kick(c);
    else if (!c->req_done)
        uv_read_start((uv_stream_t *)&c->client, alloc_cb, on_fwd_client_read);
    if (!c->closing && c->up)
        uv_read_start((uv_stream_t *)c->up, alloc_cb, on_fwd_up_read);
}
