/*
 * http_fixture.h: the harness of test_http.c (header-only, like unit.h).
 *
 * The loop runs on the test thread; a client thread speaks BSD sockets (and
 * OpenSSL for TLS), parses the responses with http_parser and records what
 * it saw. The client never calls cmocka: CHECK() notes the line of its first
 * failed check, which fx_join() asserts on the test thread after joining.
 */
#ifndef TOLLGATE_HTTP_FIXTURE_H
#define TOLLGATE_HTTP_FIXTURE_H

#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "gateway/http.h"

#define NRESP 4

/* ---- the client side (client thread) ---------------------------------------- */

typedef struct {
    int status, complete, last; /* last callback: 1 field, 2 value */
    size_t nchunks;
    ocsf_buf_t head; /* "name: value\n", names lowercased */
    ocsf_buf_t body;
} resp_t;

typedef struct {
    int fd;
    SSL *ssl;
    http_parser p;
    resp_t *cur;
    char buf[16384];
    size_t off, len;
} cl_t;

static int cp_field(http_parser *p, const char *at, size_t n)
{
    resp_t *r = ((cl_t *)p->data)->cur;
    if (r->last != 1 && r->head.len)
        ocsf_buf_putc(&r->head, '\n');
    for (size_t i = 0; i < n; i++)
        ocsf_buf_putc(&r->head, (char)(at[i] >= 'A' && at[i] <= 'Z' ? at[i] + 32 : at[i]));
    r->last = 1;
    return 0;
}

static int cp_value(http_parser *p, const char *at, size_t n)
{
    resp_t *r = ((cl_t *)p->data)->cur;
    if (r->last != 2)
        ocsf_buf_puts(&r->head, ": ");
    ocsf_buf_put(&r->head, at, n);
    r->last = 2;
    return 0;
}

static int cp_headers(http_parser *p)
{
    resp_t *r = ((cl_t *)p->data)->cur;
    r->status = (int)p->status_code;
    if (r->head.len)
        ocsf_buf_putc(&r->head, '\n');
    ocsf_buf_cstr(&r->head);
    return 0;
}

static int cp_body(http_parser *p, const char *at, size_t n)
{
    ocsf_buf_put(&((cl_t *)p->data)->cur->body, at, n);
    return 0;
}

static int cp_chunk(http_parser *p)
{
    if (p->content_length > 0)
        ((cl_t *)p->data)->cur->nchunks++;
    return 0;
}

static int cp_done(http_parser *p)
{
    resp_t *r = ((cl_t *)p->data)->cur;
    r->complete = 1;
    ocsf_buf_cstr(&r->body);
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings cl_settings = {
    .on_header_field = cp_field,
    .on_header_value = cp_value,
    .on_headers_complete = cp_headers,
    .on_body = cp_body,
    .on_chunk_header = cp_chunk,
    .on_message_complete = cp_done,
};

static int cl_connect(cl_t *c, int port, SSL_CTX *tls)
{
    memset(c, 0, sizeof *c);
    http_parser_init(&c->p, HTTP_RESPONSE);
    c->p.data = c;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0)
        return -1;
    if (!tls)
        return 0;
    c->ssl = SSL_new(tls);
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_tlsext_host_name(c->ssl, "localhost");
    SSL_set1_host(c->ssl, "localhost");
    return SSL_connect(c->ssl) == 1 && SSL_get_verify_result(c->ssl) == X509_V_OK ? 0 : -1;
}

static void cl_close(cl_t *c)
{
    SSL_free(c->ssl);
    close(c->fd);
}

static int cl_send(cl_t *c, const void *p, size_t n)
{
    if (c->ssl)
        return SSL_write(c->ssl, p, (int)n) == (int)n ? 0 : -1;
    for (size_t off = 0; off < n;) {
        ssize_t k = send(c->fd, (const char *)p + off, n - off, MSG_NOSIGNAL);
        if (k <= 0)
            return -1;
        off += (size_t)k;
    }
    return 0;
}

static int cl_sends(cl_t *c, const char *s)
{
    return cl_send(c, s, strlen(s));
}

static ssize_t cl_recv(cl_t *c, char *p, size_t n)
{
    if (c->ssl) {
        int k = SSL_read(c->ssl, p, (int)n);
        return k > 0 ? k : 0;
    }
    return recv(c->fd, p, n, 0);
}

/* Reads one response into r (initialised here). 0, or -1 on EOF/error. */
static int cl_response(cl_t *c, resp_t *r)
{
    memset(r, 0, sizeof *r);
    ocsf_buf_cstr(&r->head);
    ocsf_buf_cstr(&r->body);
    c->cur = r;
    for (;;) {
        if (c->off < c->len) {
            c->off += http_parser_execute(&c->p, &cl_settings, c->buf + c->off, c->len - c->off);
            enum http_errno e = HTTP_PARSER_ERRNO(&c->p);
            if (e == HPE_PAUSED) {
                http_parser_pause(&c->p, 0);
                return 0;
            }
            if (e != HPE_OK)
                return -1;
            continue;
        }
        ssize_t k = cl_recv(c, c->buf, sizeof c->buf);
        if (k <= 0) {
            http_parser_execute(&c->p, &cl_settings, NULL, 0);
            return r->complete ? 0 : -1;
        }
        c->off = 0;
        c->len = (size_t)k;
    }
}

/* True when the server closed (EOF or reset) with nothing more to say. */
static bool cl_closed(cl_t *c)
{
    char b[256];
    return c->off == c->len && cl_recv(c, b, sizeof b) <= 0;
}

static void resp_dispose(resp_t *r)
{
    ocsf_buf_dispose(&r->head);
    ocsf_buf_dispose(&r->body);
}

/* ---- the fixture: loop, server, client thread ------------------------------- */

typedef struct fx fx_t;

struct fx {
    uv_loop_t loop;
    uv_async_t wake;
    uv_timer_t guard, later;
    gw_http_server_t *srv;
    int port;
    bool timed_out;
    pthread_t th;
    atomic_int client_done;
    void (*client)(fx_t *);
    SSL_CTX *cctx;
    char dir[64], cert[128], key[128];

    /* the handler's side (loop thread) */
    int nreq, nclose, ndrain, nwritten, seq, close_seq, finish_seq;
    char method[16], path[64], query[128], peer[2][64];
    char param[4][32];
    int param_rc[4];
    gw_http_req_t *held;

    /* the client's side (client thread; read after join) */
    int cl_fail; /* line of the first failed check */
    resp_t resp[NRESP];
    bool closed;
};

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c) && !fx->cl_fail)                                                                  \
            fx->cl_fail = __LINE__;                                                                \
    } while (0)

static void on_wake(uv_async_t *a)
{
    (void)a;
}

static void on_guard(uv_timer_t *t)
{
    fx_t *fx = t->data;
    fx->timed_out = true;
    uv_stop(&fx->loop);
}

static fx_t *fx_start(const gw_http_config_t *cfg, gw_http_handler_cb h)
{
    fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    uv_async_init(&fx->loop, &fx->wake, on_wake);
    uv_timer_init(&fx->loop, &fx->guard);
    uv_timer_init(&fx->loop, &fx->later);
    fx->guard.data = fx->later.data = fx;
    uv_timer_start(&fx->guard, on_guard, 15000, 0);
    char err[256] = "";
    int rc = gw_http_server_create(&fx->loop, cfg, h, fx, &fx->srv, err, sizeof err);
    if (rc != 0)
        fail_msg("create: %d %s", rc, err);
    fx->port = gw_http_server_port(fx->srv);
    assert_true(fx->port > 0);
    return fx;
}

static void *client_main(void *arg)
{
    fx_t *fx = arg;
    fx->client(fx);
    atomic_store(&fx->client_done, 1);
    uv_async_send(&fx->wake);
    return NULL;
}

static void fx_client(fx_t *fx, void (*fn)(fx_t *))
{
    fx->client = fn;
    assert_int_equal(pthread_create(&fx->th, NULL, client_main, fx), 0);
}

static bool client_finished(fx_t *fx)
{
    return atomic_load(&fx->client_done) != 0;
}

static void fx_wait(fx_t *fx, bool (*done)(fx_t *))
{
    while (!done(fx) && !fx->timed_out)
        uv_run(&fx->loop, UV_RUN_ONCE);
    assert_false(fx->timed_out);
}

static void fx_join(fx_t *fx)
{
    fx_wait(fx, client_finished);
    pthread_join(fx->th, NULL);
    if (fx->cl_fail)
        fail_msg("client check failed at line %d", fx->cl_fail);
}

static void fx_stop(fx_t *fx)
{
    gw_http_server_destroy(fx->srv);
    uv_close((uv_handle_t *)&fx->wake, NULL);
    uv_close((uv_handle_t *)&fx->guard, NULL);
    uv_close((uv_handle_t *)&fx->later, NULL);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    for (int i = 0; i < NRESP; i++)
        resp_dispose(&fx->resp[i]);
    SSL_CTX_free(fx->cctx);
    if (fx->dir[0]) {
        unlink(fx->cert);
        unlink(fx->key);
        rmdir(fx->dir);
    }
    free(fx);
}

#endif
