/*
 * http_req.c: a request from the parser's callbacks to its response: the
 * http_parser settings that build it, its accessors, the query parameters,
 * whole and chunked responses, and its two owners (connection, handler).
 *
 * Thread: the loop thread of the server only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/http_internal.h"

/* Request-line framing counted against max_head besides the URL: method,
 * spaces, "HTTP/1.1", CRLF. Each header adds ": " and CRLF. */
#define LINE_OVERHEAD   16
#define HEADER_OVERHEAD 4

/* ---- owners ---------------------------------------------------------------------- */

static void req_unref(gw_http_req_t *r)
{
    if (--r->refs > 0)
        return;
    ocsf_buf_dispose(&r->url);
    ocsf_buf_dispose(&r->pathq);
    ocsf_buf_dispose(&r->hbuf);
    ocsf_buf_dispose(&r->body);
    free(r->hdrs);
    free(r);
}

void gw__req_detach(gw_http_req_t *r)
{
    r->conn = NULL;
    if (r->dispatched && r->close_cb)
        r->close_cb(r, r->close_ctx); /* the handler still holds it */
    req_unref(r);
}

/* The handler is done: the connection moves on, both owners let go. */
static void req_finish(gw_http_req_t *r)
{
    gw__conn_t *c = r->conn;
    if (c) {
        r->conn = NULL;
        c->req = NULL;
        gw__conn_request_done(c, r->keep_alive);
        r->refs--; /* the connection's; the handler's is below */
    }
    req_unref(r);
}

static gw__conn_t *live_conn(const gw_http_req_t *r)
{
    return r->conn && !r->conn->closing ? r->conn : NULL;
}

/* ---- parser callbacks -------------------------------------------------------- */

/* Stops the parser; the connection answers `status` with `msg` (static). */
static int refuse(gw__conn_t *c, int status, const char *msg)
{
    c->err_status = status;
    c->err_msg = msg;
    return -1;
}

static int head_add(gw__conn_t *c, size_t n)
{
    c->head_bytes += n;
    return c->head_bytes > c->srv->max_head ? refuse(c, 431, "request head too large") : 0;
}

static int on_message_begin(http_parser *p)
{
    gw__conn_t *c = p->data;
    if (c->req) /* cannot happen: the parser is paused while a request is out */
        return refuse(c, 400, "request while busy");
    gw_http_req_t *r = calloc(1, sizeof *r);
    if (!r)
        abort(); /* small fixed allocation */
    r->refs = 1; /* the connection's */
    r->conn = c;
    ocsf_buf_init(&r->url);
    ocsf_buf_init(&r->pathq);
    ocsf_buf_init(&r->hbuf);
    ocsf_buf_init(&r->body);
    memcpy(r->peer, c->peer, sizeof r->peer);
    c->req = r;
    c->head_bytes = 0;
    c->err_status = 0;
    c->err_msg = NULL;
    c->in_body = false;
    return head_add(c, LINE_OVERHEAD);
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    gw__conn_t *c = p->data;
    if (head_add(c, n) < 0)
        return -1;
    ocsf_buf_put(&c->req->url, at, n);
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    gw__conn_t *c = p->data;
    gw_http_req_t *r = c->req;
    bool fresh = r->nhdrs == 0 || r->hdr_in_value;
    if (head_add(c, n + (fresh ? HEADER_OVERHEAD : 0)) < 0)
        return -1;
    if (fresh) {
        if (r->hdr_in_value)
            ocsf_buf_putc(&r->hbuf, '\0');
        if (r->nhdrs == r->hcap) { /* bounded by max_head: each costs >= 5 bytes */
            r->hcap = r->hcap ? 2 * r->hcap : 16;
            r->hdrs = realloc(r->hdrs, r->hcap * sizeof *r->hdrs);
            if (!r->hdrs)
                abort();
        }
        r->hdrs[r->nhdrs++] = (gw__hdr_t){.name = r->hbuf.len, .value = 0};
        r->hdr_in_value = false;
    }
    ocsf_buf_put(&r->hbuf, at, n);
    return 0;
}

static void header_start_value(gw_http_req_t *r)
{
    ocsf_buf_putc(&r->hbuf, '\0');
    r->hdrs[r->nhdrs - 1].value = r->hbuf.len;
    r->hdr_in_value = true;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    gw__conn_t *c = p->data;
    gw_http_req_t *r = c->req;
    if (head_add(c, n) < 0)
        return -1;
    if (!r->hdr_in_value)
        header_start_value(r);
    ocsf_buf_put(&r->hbuf, at, n);
    return 0;
}

/* Splits the request target into path and query (http_parser_parse_url). */
static int split_target(gw_http_req_t *r, bool is_connect)
{
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (r->url.len == 0 || http_parser_parse_url(r->url.p, r->url.len, is_connect, &u) != 0)
        return -1;
    ocsf_str_t path = OCSF_STR("/"), query = OCSF_STR("");
    if (u.field_set & (1u << UF_PATH))
        path = (ocsf_str_t){r->url.p + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len};
    else if (is_connect)
        path = (ocsf_str_t){r->url.p, r->url.len};
    if (u.field_set & (1u << UF_QUERY))
        query = (ocsf_str_t){r->url.p + u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len};
    ocsf_buf_put(&r->pathq, path.p, path.n);
    ocsf_buf_putc(&r->pathq, '\0');
    r->query_off = r->pathq.len;
    ocsf_buf_put(&r->pathq, query.p, query.n);
    ocsf_buf_putc(&r->pathq, '\0');
    return 0;
}

static bool wants_continue(const http_parser *p, const gw_http_req_t *r)
{
    const char *e = gw_http_header(r, "Expect");
    bool body = (p->flags & F_CHUNKED) || ((p->flags & F_CONTENTLENGTH) && p->content_length);
    return e && strcasecmp(e, "100-continue") == 0 && body && p->http_major == 1 &&
           p->http_minor >= 1;
}

static int on_headers_complete(http_parser *p)
{
    gw__conn_t *c = p->data;
    gw_http_req_t *r = c->req;
    if (r->nhdrs) {
        if (!r->hdr_in_value)
            header_start_value(r);
        ocsf_buf_putc(&r->hbuf, '\0');
    }
    r->method = http_method_str((enum http_method)p->method);
    r->http_major = p->http_major;
    r->http_minor = p->http_minor;
    r->head_only = p->method == HTTP_HEAD;
    if (r->url.len > UINT16_MAX) /* http_parser_url holds 16-bit offsets */
        return refuse(c, 414, "request target too long");
    if (split_target(r, p->method == HTTP_CONNECT) < 0)
        return refuse(c, 400, "invalid request target");
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > c->srv->max_body)
        return refuse(c, 413, "request body too large"); /* before reading any of it */
    const char *why = NULL;
    int status = c->srv->check_head ? c->srv->check_head(r, c->srv->ctx, &why) : 0;
    if (status) /* e.g. 401: before any of the body is read */
        return refuse(c, status, why ? why : "request refused");
    c->in_body = true;
    /* the whole body in one allocation (it was a realloc per doubling: on
     * an ingest of MBs, copies and page faults on the loop thread) */
    if ((p->flags & F_CONTENTLENGTH) && p->content_length)
        ocsf_buf_reserve(&r->body, (size_t)p->content_length + 1);
    if (wants_continue(p, r)) {
        ocsf_buf_t b;
        ocsf_buf_init(&b);
        ocsf_buf_puts(&b, "HTTP/1.1 100 Continue\r\n\r\n");
        gw__conn_send(c, &b);
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    gw__conn_t *c = p->data;
    gw_http_req_t *r = c->req;
    if (n > c->srv->max_body - r->body.len)
        return refuse(c, 413, "request body too large");
    ocsf_buf_put(&r->body, at, n);
    return 0;
}

static int on_message_complete(http_parser *p)
{
    gw__conn_t *c = p->data;
    gw_http_req_t *r = c->req;
    ocsf_buf_cstr(&r->body);
    r->keep_alive = http_should_keep_alive(p) && !p->upgrade;
    http_parser_pause(p, 1); /* the next request waits for this one's response */
    return 0;
}

void gw__req_settings(http_parser_settings *s)
{
    http_parser_settings_init(s);
    s->on_message_begin = on_message_begin;
    s->on_url = on_url;
    s->on_header_field = on_header_field;
    s->on_header_value = on_header_value;
    s->on_headers_complete = on_headers_complete;
    s->on_body = on_body;
    s->on_message_complete = on_message_complete;
}

/* ---- reading the request ----------------------------------------------------- */

const char *gw_http_method(const gw_http_req_t *r)
{
    return r->method;
}

const char *gw_http_path(const gw_http_req_t *r)
{
    return r->pathq.p;
}

const char *gw_http_query(const gw_http_req_t *r)
{
    return r->pathq.p + r->query_off;
}

const char *gw_http_body(const gw_http_req_t *r, size_t *len)
{
    if (len)
        *len = r->body.len;
    return r->body.p;
}

const char *gw_http_header(const gw_http_req_t *r, const char *name)
{
    for (size_t i = 0; i < r->nhdrs; i++)
        if (strcasecmp(r->hbuf.p + r->hdrs[i].name, name) == 0)
            return r->hbuf.p + r->hdrs[i].value;
    return NULL;
}

const char *gw_http_peer(const gw_http_req_t *r)
{
    return r->peer;
}

void gw_http_set_close_cb(gw_http_req_t *r, gw_http_close_cb cb, void *ctx)
{
    r->close_cb = cb;
    r->close_ctx = ctx;
}

void gw_http_set_drain_cb(gw_http_req_t *r, gw_http_close_cb cb, void *ctx)
{
    r->drain_cb = cb;
    r->drain_ctx = ctx;
}

/* ---- query parameters ---------------------------------------------------------- */

static int unhex(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* The next decoded byte of [*s, e): 0..255, -1 at the end, -2 for a broken
 * %-escape. '+' is a space. */
static int next_byte(const char **s, const char *e)
{
    if (*s >= e)
        return -1;
    int ch = (unsigned char)*(*s)++;
    if (ch == '+')
        return ' ';
    if (ch != '%')
        return ch;
    if (e - *s < 2)
        return -2;
    int hi = unhex((unsigned char)(*s)[0]), lo = unhex((unsigned char)(*s)[1]);
    if (hi < 0 || lo < 0)
        return -2;
    *s += 2;
    return hi * 16 + lo;
}

static bool key_is(const char *s, const char *e, const char *name)
{
    const unsigned char *n = (const unsigned char *)name;
    for (;;) {
        int b = next_byte(&s, e);
        if (b == -1)
            return *n == '\0';
        if (b < 0 || *n == '\0' || b != *n++)
            return false;
    }
}

static int decode_value(const char *s, const char *e, char *buf, size_t buflen)
{
    size_t n = 0;
    for (int b; (b = next_byte(&s, e)) != -1; n++) {
        if (b == -2 || b == 0)
            return -EINVAL; /* broken escape, or %00 */
        if (n < buflen)
            buf[n] = (char)b;
    }
    if (n >= buflen)
        return -ENOSPC;
    buf[n] = '\0';
    return (int)n; /* n < max_head */
}

int gw_http_param(const gw_http_req_t *r, const char *name, char *buf, size_t buflen)
{
    const char *q = gw_http_query(r);
    while (*q) {
        const char *end = q + strcspn(q, "&");
        const char *eq = memchr(q, '=', (size_t)(end - q));
        if (key_is(q, eq ? eq : end, name))
            return decode_value(eq ? eq + 1 : end, end, buf, buflen);
        q = *end ? end + 1 : end;
    }
    return -ENOENT;
}

/* ---- responses ---------------------------------------------------------------------- */

static void put_status(ocsf_buf_t *b, int status, const char *content_type)
{
    const char *reason = http_status_str((enum http_status)status);
    ocsf_buf_puts(b, "HTTP/1.1 ");
    ocsf_buf_put_i64(b, status);
    ocsf_buf_putc(b, ' ');
    ocsf_buf_puts(b, reason[0] == '<' ? "Unknown" : reason); /* "<unknown>" */
    ocsf_buf_puts(b, "\r\n");
    if (content_type && *content_type) {
        ocsf_buf_puts(b, "Content-Type: ");
        ocsf_buf_puts(b, content_type);
        ocsf_buf_puts(b, "\r\n");
    }
}

static void put_tail(ocsf_buf_t *b, const char *extra_headers, bool keep_alive)
{
    if (extra_headers)
        ocsf_buf_puts(b, extra_headers);
    ocsf_buf_puts(b, keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n");
}

static int sane_status(int status)
{
    return status >= 200 && status <= 599 ? status : 500;
}

void gw__respond_error(gw__conn_t *c, int status, const char *msg)
{
    ocsf_buf_t body, b;
    ocsf_buf_init(&body);
    ocsf_buf_init(&b);
    ocsf_buf_puts(&body, "{\"error\":");
    ocsf_json_escape(&body, msg, strlen(msg));
    ocsf_buf_puts(&body, "}\n");
    put_status(&b, status, "application/json");
    ocsf_buf_puts(&b, "Content-Length: ");
    ocsf_buf_put_i64(&b, (int64_t)body.len);
    ocsf_buf_puts(&b, "\r\n");
    put_tail(&b, status == 401 ? "WWW-Authenticate: Bearer realm=\"tollgate\"\r\n" : NULL, false);
    ocsf_buf_put(&b, body.p, body.len);
    ocsf_buf_dispose(&body);
    gw__conn_send(c, &b);
}

void gw_http_respond(gw_http_req_t *r, int status, const char *content_type,
                     const char *extra_headers, const void *body, size_t len)
{
    if (r->streaming) {
        gw_http_stream_write(r, body, len);
        gw_http_stream_end(r);
        return;
    }
    gw__conn_t *c = live_conn(r);
    if (c) {
        status = sane_status(status);
        bool bodyless = status == 204 || status == 304;
        ocsf_buf_t b;
        ocsf_buf_init(&b);
        ocsf_buf_reserve(&b, 256 + len);
        put_status(&b, status, content_type);
        if (!bodyless) {
            ocsf_buf_puts(&b, "Content-Length: ");
            ocsf_buf_put_i64(&b, (int64_t)len);
            ocsf_buf_puts(&b, "\r\n");
        }
        put_tail(&b, extra_headers, r->keep_alive);
        if (!bodyless && !r->head_only)
            ocsf_buf_put(&b, body, len);
        gw__conn_send(c, &b);
    }
    req_finish(r);
}

int gw_http_stream_begin(gw_http_req_t *r, int status, const char *content_type)
{
    if (r->streaming)
        return -EINVAL;
    r->streaming = true;
    r->chunked = r->http_major > 1 || (r->http_major == 1 && r->http_minor >= 1);
    if (!r->chunked)
        r->keep_alive = false; /* HTTP/1.0: the body ends with the connection */
    gw__conn_t *c = live_conn(r);
    if (!c)
        return -EPIPE;
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    put_status(&b, sane_status(status), content_type);
    if (r->chunked)
        ocsf_buf_puts(&b, "Transfer-Encoding: chunked\r\n");
    put_tail(&b, NULL, r->keep_alive);
    return gw__conn_send(c, &b);
}

int gw_http_stream_write(gw_http_req_t *r, const void *p, size_t len)
{
    if (!r->streaming)
        return -EINVAL;
    gw__conn_t *c = live_conn(r);
    if (!c)
        return -EPIPE;
    if (len == 0 || r->head_only)
        return 0; /* an empty chunk would end the body */
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    ocsf_buf_reserve(&b, len + 24);
    if (r->chunked) {
        char size[24];
        int n = snprintf(size, sizeof size, "%zx\r\n", len);
        ocsf_buf_put(&b, size, (size_t)n);
    }
    ocsf_buf_put(&b, p, len);
    if (r->chunked)
        ocsf_buf_puts(&b, "\r\n");
    return gw__conn_send(c, &b);
}

size_t gw_http_pending(const gw_http_req_t *r)
{
    gw__conn_t *c = live_conn(r);
    return c ? c->pending : 0;
}

void gw_http_stream_end(gw_http_req_t *r)
{
    if (!r->streaming) {
        gw_http_respond(r, 500, NULL, NULL, NULL, 0); /* ended without a beginning */
        return;
    }
    gw__conn_t *c = live_conn(r);
    if (c && r->chunked && !r->head_only) {
        ocsf_buf_t b;
        ocsf_buf_init(&b);
        ocsf_buf_puts(&b, "0\r\n\r\n");
        gw__conn_send(c, &b);
    }
    req_finish(r);
}
