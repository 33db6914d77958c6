/*
 * http.c: the listener, the connections and their I/O (see README.md for the
 * life of a connection). Request building and responses are in http_req.c,
 * TLS in http_tls.c.
 *
 * Thread: the loop thread of the server only.
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/http_internal.h"

#define DEFAULT_MAX_HEAD (16u * 1024)
#define DEFAULT_MAX_BODY (64u * 1024 * 1024)
#define DEFAULT_IDLE_MS  60000u

typedef struct {
    uv_write_t w;
    gw__conn_t *c;
    char *p;
    size_t n;
} write_req_t;

static void conn_pump(gw__conn_t *c);
static void conn_update_reading(gw__conn_t *c);

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p)
        abort(); /* small fixed allocation: OOM policy of ocsf_buf_t */
    return p;
}

/* ---- server lifetime ------------------------------------------------------ */

static void srv_unref(gw_http_server_t *s)
{
    if (--s->refs > 0)
        return;
    SSL_CTX_free(s->tls);
    free(s);
}

static void on_listener_closed(uv_handle_t *h)
{
    srv_unref(h->data);
}

/* ---- closing ----------------------------------------------------------------- */

static void conn_free(gw__conn_t *c)
{
    gw_http_server_t *s = c->srv;
    gw_http_req_t *r = c->req;
    c->req = NULL;
    if (r)
        gw__req_detach(r); /* may run the close callback */
    gw__tls_conn_free(c);
    ocsf_buf_dispose(&c->in);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
    srv_unref(s);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
    gw__conn_t *c = h->data;
    if (--c->open_handles == 0)
        conn_free(c);
}

void gw__conn_close(gw__conn_t *c)
{
    if (c->closing)
        return;
    c->closing = true;
    c->reading = false;
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
}

static void on_shutdown(uv_shutdown_t *sr, int status)
{
    gw__conn_t *c = sr->data;
    if (status < 0 || c->peer_eof)
        gw__conn_close(c);
}

static void on_timer(uv_timer_t *t);

/* After the last response: close_notify, FIN, then read and discard until
 * the client closes too (or the linger time ends), so the kernel does not
 * answer unread request bytes with a reset that destroys our response. */
static void conn_linger(gw__conn_t *c)
{
    if (c->peer_eof) {
        gw__conn_close(c);
        return;
    }
    c->phase = GW__LINGER;
    if (c->ssl)
        gw__tls_shutdown(c);
    if (c->closing)
        return;
    c->shut.data = c;
    if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
        gw__conn_close(c);
        return;
    }
    unsigned ms = c->srv->idle_ms < GW__LINGER_MS ? c->srv->idle_ms : GW__LINGER_MS;
    uv_timer_start(&c->timer, on_timer, ms, 0);
    conn_update_reading(c);
}

/* ---- writing ------------------------------------------------------------- */

static void on_write(uv_write_t *w, int status)
{
    write_req_t *wr = (write_req_t *)w;
    gw__conn_t *c = wr->c;
    c->pending -= wr->n;
    free(wr->p);
    free(wr);
    if (c->closing)
        return;
    if (status < 0) {
        gw__conn_close(c);
        return;
    }
    if (c->pending > 0)
        return;
    if (c->phase == GW__FLUSH) {
        uv_timer_start(&c->timer, on_timer, 0, 0); /* resume from the loop */
    } else if (c->phase == GW__HANDLER && c->req && c->req->drain_cb) {
        gw_http_req_t *r = c->req;
        r->drain_cb(r, r->drain_ctx);
    }
}

int gw__conn_send_raw(gw__conn_t *c, char *p, size_t n)
{
    if (c->closing) {
        free(p);
        return -EPIPE;
    }
    write_req_t *wr = xcalloc(1, sizeof *wr);
    wr->c = c;
    wr->p = p;
    wr->n = n;
    uv_buf_t buf = uv_buf_init(p, (unsigned)n);
    if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, &buf, 1, on_write) < 0) {
        free(p);
        free(wr);
        gw__conn_close(c);
        return -EPIPE;
    }
    c->pending += n;
    return 0;
}

int gw__conn_send(gw__conn_t *c, ocsf_buf_t *b)
{
    char *p = b->p;
    size_t n = b->len;
    ocsf_buf_init(b);
    if (c->closing) {
        free(p);
        return -EPIPE;
    }
    if (n == 0) {
        free(p);
        return 0;
    }
    if (!c->ssl)
        return gw__conn_send_raw(c, p, n);
    int rc = gw__tls_write(c, p, n);
    free(p);
    return rc;
}

/* ---- reading and parsing -------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    gw__conn_t *c = h->data;
    *buf = uv_buf_init(c->srv->rbuf, sizeof c->srv->rbuf);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

/* Reads while there is room for what arrives; stops at the stash limit. */
static void conn_update_reading(gw__conn_t *c)
{
    bool want = !c->closing && !c->peer_eof &&
                (c->phase == GW__LINGER ||
                 (c->in.len - c->in_off < GW__STASH_MAX && gw__tls_backlog(c) < GW__STASH_MAX));
    if (want == c->reading)
        return;
    c->reading = want;
    if (!want) {
        uv_read_stop((uv_stream_t *)&c->tcp);
    } else if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
        c->reading = false;
        gw__conn_close(c);
    }
}

static void stash_compact(gw__conn_t *c)
{
    if (c->in_off == c->in.len) {
        c->in.len = c->in_off = 0;
    } else if (c->in_off > 0) {
        memmove(c->in.p, c->in.p + c->in_off, c->in.len - c->in_off);
        c->in.len -= c->in_off;
        c->in_off = 0;
    }
}

/* A request the parser or a callback refused: answer it and close. */
static void conn_fail(gw__conn_t *c, enum http_errno e)
{
    int status = c->err_status ? c->err_status : e == HPE_HEADER_OVERFLOW ? 431 : 400;
    const char *msg = c->err_msg                 ? c->err_msg
                      : e == HPE_HEADER_OVERFLOW ? "request head too large"
                                                 : http_errno_description(e); /* static */
    gw_http_req_t *r = c->req;
    c->req = NULL;
    if (r)
        gw__req_detach(r);
    c->keep_alive = false;
    c->phase = GW__FLUSH;
    uv_timer_stop(&c->timer);
    gw__respond_error(c, status, msg);
}

static void conn_dispatch(gw__conn_t *c)
{
    gw_http_req_t *r = c->req;
    c->phase = GW__HANDLER;
    c->keep_alive = r->keep_alive;
    uv_timer_stop(&c->timer);
    r->dispatched = true;
    r->refs++; /* the handler's */
    c->srv->cb(r, c->srv->ctx);
    /* r may be gone now; c stays valid until its close callbacks ran */
}

/* Runs the parser over the stash: to the end, to a complete request (the
 * parser pauses in on_message_complete) or to an error. */
static void conn_parse(gw__conn_t *c)
{
    size_t n = http_parser_execute(&c->parser, &c->srv->settings, c->in.p + c->in_off,
                                   c->in.len - c->in_off);
    c->in_off += n;
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    stash_compact(c);
    if (e == HPE_PAUSED)
        conn_dispatch(c);
    else if (e != HPE_OK)
        conn_fail(c, e);
}

static void conn_on_eof(gw__conn_t *c)
{
    c->peer_eof = true;
    c->reading = false;
    /* In FLUSH the response finishes first; everything else is a client that
     * went away (an unfinished request gets its close callback). */
    if (c->phase != GW__FLUSH)
        gw__conn_close(c);
}

/* Handshake failure, a plain-HTTP client, a broken record: let the alert
 * out, then close. A request with the handler learns it from its close
 * callback. */
static void conn_tls_failed(gw__conn_t *c)
{
    if (c->closing)
        return;
    if (c->phase != GW__READ) {
        gw__conn_close(c);
        return;
    }
    gw_http_req_t *r = c->req;
    c->req = NULL;
    if (r)
        gw__req_detach(r);
    c->keep_alive = false;
    c->phase = GW__FLUSH;
    uv_timer_start(&c->timer, on_timer, 0, 0);
}

static void conn_pump(gw__conn_t *c)
{
    for (;;) {
        if (c->closing)
            return;
        int got = 0;
        if (c->ssl && !c->tls_failed) {
            got = gw__tls_pull(c);
            if (got == -ECONNRESET) {
                conn_on_eof(c);
                return;
            }
            if (got < 0) {
                conn_tls_failed(c);
                return;
            }
        }
        if (c->phase != GW__READ || c->in.len == c->in_off)
            break;
        conn_parse(c);
        if (!c->ssl || got == 0)
            break;
    }
    conn_update_reading(c);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    gw__conn_t *c = st->data;
    if (nread == 0 || c->closing)
        return;
    if (nread < 0) {
        conn_on_eof(c);
        return;
    }
    if (c->phase == GW__LINGER || c->tls_failed)
        return; /* discarded */
    if (c->ssl) {
        if (gw__tls_feed(c, buf->base, (size_t)nread) < 0) {
            gw__conn_close(c);
            return;
        }
    } else {
        ocsf_buf_put(&c->in, buf->base, (size_t)nread);
    }
    if (c->phase == GW__READ && c->in_body)
        uv_timer_start(&c->timer, on_timer, c->srv->idle_ms, 0); /* the body progresses */
    conn_pump(c);
}

/* The response is written: next request, or the end. */
static void conn_after_response(gw__conn_t *c)
{
    if (!c->keep_alive || c->srv->destroyed) {
        conn_linger(c);
        return;
    }
    c->phase = GW__READ;
    c->in_body = false;
    http_parser_pause(&c->parser, 0);
    uv_timer_start(&c->timer, on_timer, c->srv->idle_ms, 0);
    conn_pump(c);
    if (!c->closing && c->peer_eof && c->phase == GW__READ)
        gw__conn_close(c); /* the client said all it had to say */
}

static void on_timer(uv_timer_t *t)
{
    gw__conn_t *c = t->data;
    switch (c->phase) {
    case GW__READ: /* idle keep-alive, slow head or stalled body */
    case GW__LINGER: gw__conn_close(c); break;
    case GW__FLUSH:
        if (c->pending == 0)
            conn_after_response(c);
        break;
    case GW__HANDLER: break;
    }
}

void gw__conn_request_done(gw__conn_t *c, bool keep_alive)
{
    if (c->closing)
        return;
    c->phase = GW__FLUSH;
    c->keep_alive = c->keep_alive && keep_alive;
    if (c->pending == 0)
        uv_timer_start(&c->timer, on_timer, 0, 0); /* resume from the loop, not from here */
}

/* ---- accepting ------------------------------------------------------------ */

static void format_peer(uv_tcp_t *tcp, char *out, size_t outlen)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    snprintf(out, outlen, "?");
    if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) < 0)
        return;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        uv_ip4_name(a, ip, sizeof ip);
        port = ntohs(a->sin_port);
        snprintf(out, outlen, "%s:%d", ip, port);
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        uv_ip6_name(a, ip, sizeof ip);
        port = ntohs(a->sin6_port);
        snprintf(out, outlen, "[%s]:%d", ip, port);
    }
}

static void on_stray_closed(uv_handle_t *h)
{
    free(h->data); /* a connection that never got going */
}

/* An accept that failed (EMFILE, ENFILE: libuv already dropped the
 * connection with its reserve fd): counted, logged once a minute. */
static void accept_failed(gw_http_server_t *s, int status)
{
    s->accept_failed++;
    uint64_t now = uv_now(s->loop);
    if (s->last_accept_log_ms && now - s->last_accept_log_ms < 60000)
        return;
    s->last_accept_log_ms = now;
    fprintf(stderr, "[gateway:http] accept failed: %s (%llu so far); connections refused\n",
            uv_strerror(status), (unsigned long long)s->accept_failed);
}

void gw_http_server_stats(const gw_http_server_t *s, gw_http_stats_t *st)
{
    st->over_cap = s ? s->over_cap : 0;
    st->accept_failed = s ? s->accept_failed : 0;
}

static void on_connection(uv_stream_t *ls, int status)
{
    gw_http_server_t *s = ls->data;
    if (status < 0 && !s->destroyed)
        accept_failed(s, status);
    if (status < 0 || s->destroyed)
        return;
    gw__conn_t *c = xcalloc(1, sizeof *c);
    if (uv_tcp_init(s->loop, &c->tcp) < 0) {
        free(c);
        return;
    }
    c->tcp.data = c;
    if (uv_accept(ls, (uv_stream_t *)&c->tcp) < 0 || s->refs > s->max_conns) {
        s->over_cap += s->refs > s->max_conns; /* refs: the listener + one per connection */
        uv_close((uv_handle_t *)&c->tcp, on_stray_closed);
        return;
    }
    uv_timer_init(s->loop, &c->timer);
    c->timer.data = c;
    c->open_handles = 2;
    c->srv = s;
    s->refs++;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    ocsf_buf_init(&c->in);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->phase = GW__READ;
    uv_tcp_nodelay(&c->tcp, 1);
    format_peer(&c->tcp, c->peer, sizeof c->peer);
    if (s->tls && gw__tls_conn_init(c, s->tls) < 0) {
        gw__conn_close(c);
        return;
    }
    uv_timer_start(&c->timer, on_timer, s->idle_ms, 0);
    conn_update_reading(c);
}

/* ---- the server --------------------------------------------------------------- */

/* A listening socket, bound synchronously so that every failure is reported
 * here and nothing needs the loop to be cleaned up. */
static int listen_socket(const char *host, int port, int *bound, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    bool v6 = strchr(host, ':') != NULL;
    const char *lb = v6 ? "[" : "", *rb = v6 ? "]" : "";
    int rc = v6 ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss)
                : uv_ip4_addr(host, port, (struct sockaddr_in *)&ss);
    if (rc < 0) {
        snprintf(err, errlen, "listen %s%s%s:%d: not an IP address", lb, host, rb, port);
        return -EINVAL;
    }
    socklen_t sl = v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 511) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        goto fail;
    *bound =
        ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
fail:
    rc = -errno;
    if (fd >= 0)
        close(fd);
    snprintf(err, errlen, "listen %s%s%s:%d: %s", lb, host, rb, port, uv_strerror(rc));
    return rc;
}

static int check_config(const gw_http_config_t *cfg, char *err, size_t errlen)
{
    if (cfg->port < 0 || cfg->port > 65535) {
        snprintf(err, errlen, "listen: port %d is not in 0..65535", cfg->port);
        return -EINVAL;
    }
    if (!cfg->tls_cert != !cfg->tls_key) {
        snprintf(err, errlen, "tls: tls_cert and tls_key go together");
        return -EINVAL;
    }
    return 0;
}

/* libuv writes with write(2): a peer that went away would kill the process
 * with SIGPIPE instead of failing the write with EPIPE. */
static void ignore_sigpipe(void)
{
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, NULL);
    }
}

int gw_http_server_create(uv_loop_t *loop, const gw_http_config_t *cfg, gw_http_handler_cb cb,
                          void *ctx, gw_http_server_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!loop || !cfg || !cb) {
        snprintf(err, errlen, "http server: loop, config and handler are required");
        return -EINVAL;
    }
    int rc = check_config(cfg, err, errlen);
    if (rc < 0)
        return rc;
    gw_http_server_t *s = xcalloc(1, sizeof *s);
    s->loop = loop;
    s->cb = cb;
    s->ctx = ctx;
    s->check_head = cfg->check_head;
    s->max_conns = cfg->max_conns ? cfg->max_conns : 1024;
    s->max_head = cfg->max_head ? cfg->max_head : DEFAULT_MAX_HEAD;
    s->max_body = cfg->max_body ? cfg->max_body : DEFAULT_MAX_BODY;
    s->idle_ms = cfg->idle_timeout_ms ? cfg->idle_timeout_ms : DEFAULT_IDLE_MS;
    gw__req_settings(&s->settings);
    if (cfg->tls_cert && !(s->tls = gw__tls_ctx_create(cfg->tls_cert, cfg->tls_key, err, errlen))) {
        rc = -EINVAL;
        goto fail_free;
    }
    int fd = listen_socket(cfg->host ? cfg->host : "127.0.0.1", cfg->port, &s->port, err, errlen);
    if (fd < 0) {
        rc = fd;
        goto fail_tls;
    }
    if ((rc = uv_tcp_init(loop, &s->listener)) < 0) {
        close(fd);
        snprintf(err, errlen, "listen: %s", uv_strerror(rc));
        goto fail_tls;
    }
    s->listener.data = s;
    s->refs = 1;
    if ((rc = uv_tcp_open(&s->listener, fd)) < 0)
        close(fd); /* not owned by the handle */
    else
        rc = uv_listen((uv_stream_t *)&s->listener, 511, on_connection);
    if (rc < 0) {
        /* Unlikely after a successful listen(): the handle exists, so its
         * memory is released by the loop (uv_close), not here. */
        snprintf(err, errlen, "listen: %s", uv_strerror(rc));
        uv_close((uv_handle_t *)&s->listener, on_listener_closed);
        return rc;
    }
    ignore_sigpipe();
    *out = s;
    return 0;
fail_tls:
    SSL_CTX_free(s->tls);
fail_free:
    free(s);
    return rc;
}

int gw_http_server_port(const gw_http_server_t *s)
{
    return s ? s->port : -EINVAL;
}

void gw_http_server_destroy(gw_http_server_t *s)
{
    if (!s || s->destroyed)
        return;
    s->destroyed = true;
    uv_close((uv_handle_t *)&s->listener, on_listener_closed);
    for (gw__conn_t *c = s->conns; c; c = c->next)
        gw__conn_close(c); /* unlinked later, in conn_free */
}
