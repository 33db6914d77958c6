/*
 * Unit tests of the HTTP server (gateway/http*.c): requests, keep-alive and
 * pipelining, limits, late finishing after the client left, streaming, TLS.
 * The harness (loop on this thread, a client thread) is http_fixture.h.
 */
#include "http_fixture.h"

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#define NCHUNKS 1000
#define CHUNK   512

/* ---- handlers (loop thread) ------------------------------------------------------ */

/* Records the request and answers "<METHOD> <path> <body>". */
static void h_echo(gw_http_req_t *r, void *ctx)
{
    fx_t *fx = ctx;
    snprintf(fx->method, sizeof fx->method, "%s", gw_http_method(r));
    snprintf(fx->path, sizeof fx->path, "%s", gw_http_path(r));
    snprintf(fx->query, sizeof fx->query, "%s", gw_http_query(r));
    snprintf(fx->peer[fx->nreq++ ? 1 : 0], sizeof fx->peer[0], "%s", gw_http_peer(r));
    size_t n;
    const char *body = gw_http_body(r, &n);
    ocsf_buf_t out;
    ocsf_buf_init(&out);
    ocsf_buf_puts(&out, gw_http_method(r));
    ocsf_buf_putc(&out, ' ');
    ocsf_buf_puts(&out, gw_http_path(r));
    ocsf_buf_putc(&out, ' ');
    ocsf_buf_put(&out, body, n);
    gw_http_respond(r, 200, "text/plain", "X-Extra: 1\r\n", out.p, out.len);
    ocsf_buf_dispose(&out);
}

static void h_params(gw_http_req_t *r, void *ctx)
{
    fx_t *fx = ctx;
    static const char *names[] = {"sandbox", "q", "limit", "empty"};
    for (int i = 0; i < 4; i++)
        fx->param_rc[i] = gw_http_param(r, names[i], fx->param[i], sizeof fx->param[i]);
    char small[4];
    assert_int_equal(gw_http_param(r, "limit", small, 1), -ENOSPC); /* "5" + NUL */
    assert_int_equal(gw_http_param(r, "q", small, 3), -ENOSPC);
    assert_int_equal(gw_http_param(r, "nul", small, sizeof small), -EINVAL);
    assert_int_equal(gw_http_param(r, "broken", small, sizeof small), -EINVAL);
    assert_int_equal(gw_http_param(r, "absent", small, sizeof small), -ENOENT);
    assert_string_equal(gw_http_header(r, "x-TOKEN"), "Secret");
    assert_null(gw_http_header(r, "X-Absent"));
    h_echo(r, ctx);
}

/* ---- requests and responses ------------------------------------------------------- */

static void c_params(fx_t *fx)
{
    cl_t c;
    CHECK(cl_connect(&c, fx->port, NULL) == 0);
    CHECK(cl_sends(&c, "GET /v1/logs?sandbox=a%20b%2Fc&q=x+y&limit=5&empty&nul=a%00b&broken=%zz"
                       " HTTP/1.1\r\nHost: t\r\nX-Token: Secret\r\n\r\n") == 0);
    CHECK(cl_response(&c, &fx->resp[0]) == 0);
    cl_close(&c);
}

static void get_query_params(void **state)
{
    (void)state;
    fx_t *fx = fx_start(&(gw_http_config_t){.port = 0}, h_params);
    fx_client(fx, c_params);
    fx_join(fx);
    assert_string_equal(fx->method, "GET");
    assert_string_equal(fx->path, "/v1/logs");
    assert_string_equal(fx->query, "sandbox=a%20b%2Fc&q=x+y&limit=5&empty&nul=a%00b&broken=%zz");
    assert_int_equal(fx->param_rc[0], 5);
    assert_string_equal(fx->param[0], "a b/c");
    assert_string_equal(fx->param[1], "x y");
    assert_string_equal(fx->param[2], "5");
    assert_int_equal(fx->param_rc[3], 0);
    assert_string_equal(fx->param[3], "");
    assert_true(strncmp(fx->peer[0], "127.0.0.1:", 10) == 0);
    resp_t *r = &fx->resp[0];
    assert_int_equal(r->status, 200);
    assert_string_equal(r->body.p, "GET /v1/logs ");
    /* the whole, deterministic header set */
    assert_string_equal(r->head.p, "content-type: text/plain\ncontent-length: 13\n"
                                   "x-extra: 1\nconnection: keep-alive\n");
    fx_stop(fx);
}

static void c_post(fx_t *fx)
{
    cl_t c;
    CHECK(cl_connect(&c, fx->port, NULL) == 0);
    CHECK(cl_sends(&c, "POST /echo HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello") == 0);
    usleep(20000); /* the body arrives in a second read */
    CHECK(cl_sends(&c, " world") == 0);
    CHECK(cl_response(&c, &fx->resp[0]) == 0);
    cl_close(&c);
}

static void post_content_length(void **state)
{
    (void)state;
    fx_t *fx = fx_start(&(gw_http_config_t){.port = 0}, h_echo);
    fx_client(fx, c_post);
    fx_join(fx);
    assert_int_equal(fx->resp[0].status, 200);
    assert_string_equal(fx->resp[0].body.p, "POST /echo hello world");
    fx_stop(fx);
}

static void c_chunked(fx_t *fx)
{
    cl_t c;
    CHECK(cl_connect(&c, fx->port, NULL) == 0);
    CHECK(cl_sends(&c, "POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel") == 0);
    usleep(20000);
    CHECK(cl_sends(&c, "lo\r\n6;ext=1\r\n world\r\n") == 0);
    usleep(20000);
    CHECK(cl_sends(&c, "0\r\nX-Trailer: t\r\n\r\n") == 0);
    CHECK(cl_response(&c, &fx->resp[0]) == 0);
    cl_close(&c);
}

static void chunked_request_body(void **state)
{
    (void)state;
    fx_t *fx = fx_start(&(gw_http_config_t){.port = 0}, h_echo);
    fx_client(fx, c_chunked);
    fx_join(fx);
    assert_int_equal(fx->resp[0].status, 200);
    assert_string_equal(fx->resp[0].body.p, "POST /up hello world");
    fx_stop(fx);
}

static void c_keep_alive(fx_t *fx)
{
    cl_t c;
    CHECK(cl_connect(&c, fx->port, NULL) == 0);
    CHECK(cl_sends(&c, "GET /one HTTP/1.1\r\nHost: t\r\n\r\n") == 0);
    CHECK(cl_response(&c, &fx->resp[0]) == 0);
    CHECK(cl_sends(&c, "PUT /two HTTP/1.1\r\nContent-Length: 1\r\n\r\nx") == 0);
    CHECK(cl_response(&c, &fx->resp[1]) == 0);
    cl_close(&c);
}

static void keep_alive_two_requests(void **state)
{
    (void)state;
    fx_t *fx = fx_start(&(gw_http_config_t){.port = 0}, h_echo);
    fx_client(fx, c_keep_alive);
    fx_join(fx);
    assert_int_equal(fx->nreq, 2);
    assert_string_equal(fx->peer[0], fx->peer[1]); /* one connection */
    assert_string_equal(fx->resp[0].body.p, "GET /one ");
    assert_string_equal(fx->resp[1].body.p, "PUT /two x");
    assert_non_null(strstr(fx->resp[1].head.p, "connection: keep-alive\n"));
    fx_stop(fx);
}

static void c_pipelined(fx_t *fx)
{
    cl_t c;
    CHECK(cl_connect(&c, fx->port, NULL) == 0);
    CHECK(cl_sends(&c,
                   "GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz"
                   "GET /c HTTP/1.1\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\n\r\n") == 0);
    for (int i = 0; i < 3; i++)
        CHECK(cl_response(&c, &fx->resp[i]) == 0);
    fx->closed = cl_closed(&c);
    cl_close(&c);
}

static void pipelined_requests(void **state)
{
    (void)state;
    fx_t *fx = fx_start(&(gw_http_config_t){.port = 0}, h_echo);
    fx_client(fx, c_pipelined);
    fx_join(fx);
    assert_int_equal(fx->nreq, 3); /* nothing after Connection: close */
    assert_string_equal(fx->resp[0].body.p, "GET /a ");
    assert_string_equal(fx->resp[1].body.p, "POST /b xyz");
    assert_string_equal(fx->resp[2].body.p, "GET /c ");
    assert_non_null(strstr(fx->resp[2].head.p, "connection: close\n"));
    assert_true(fx->closed);
    fx_stop(fx);
}

static void c_http10(fx_t *fx)
{
    cl_t c;
    CHECK(cl_connect(&c, fx->port, NULL) == 0);
    CHECK(cl_sends(&c, "GET /old HTTP/1.0\r\n\r\n") == 0);
    CHECK(cl_response(&c, &fx->resp[0]) == 0);
    fx->closed = cl_closed(&c);
    cl_close(&c);
}

static void http10_closes(void **state)
{
    (void)state;
    fx_t *fx = fx_start(&(gw_http_config_t){.port = 0}, h_echo);
    fx_client(fx, c_http10);
    fx_join(fx);
    assert_int_equal(fx->resp[0].status, 200);
    assert_non_null(strstr(fx->resp[0].head.p, "connection: close\n"));
    assert_true(fx->closed);
    fx_stop(fx);
}

static void c_continue(fx_t *fx)
{
    cl_t c;
    CHECK(cl_connect(&c, fx->port, NULL) == 0);
    CHECK(cl_sends(&c, "POST /e HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n") ==
          0);
    CHECK(cl_response(&c, &fx->resp[0]) == 0); /* the 100, before any body byte */
    CHECK(cl_sends(&c, "ok") == 0);
    CHECK(cl_response(&c, &fx->resp[1]) == 0);
    cl_close(&c);
}

static void expect_continue(void **state)
{
    (void)state;
    fx_t *fx = fx_start(&(gw_http_config_t){.port = 0}, h_echo);
    fx_client(fx, c_continue);
    fx_join(fx);
    assert_int_equal(fx->resp[0].status, 100);
    assert_int_equal(fx->resp[1].status, 200);
    assert_string_equal(fx->resp[1].body.p, "POST /e ok");
    fx_stop(fx);
}

/* ---- refusals ------------------------------------------------------------------- */

static const char *refused_request;

static void c_refused(fx_t *fx)
{
    cl_t c;
    CHECK(cl_connect(&c, fx->port, NULL) == 0);
    CHECK(cl_sends(&c, refused_request) == 0);
    CHECK(cl_response(&c, &fx->resp[0]) == 0);
    fx->closed = cl_closed(&c);
    cl_close(&c);
}

/* Sends `req` to a server with small limits; expects `status` with a JSON
 * error body, then the connection closed, and the handler never called. */
static void expect_refusal(const char *req, int status)
{
    gw_http_config_t cfg = {.port = 0, .max_head = 1024, .max_body = 1000};
    fx_t *fx = fx_start(&cfg, h_echo);
    refused_request = req;
    fx_client(fx, c_refused);
    fx_join(fx);
    assert_int_equal(fx->resp[0].status, status);
    assert_non_null(strstr(fx->resp[0].head.p, "content-type: application/json\n"));
    assert_non_null(strstr(fx->resp[0].head.p, "connection: close\n"));
    json_error_t je;
    json_t *j = json_loads(fx->resp[0].body.p, 0, &je);
    assert_non_null(j);
    assert_true(json_is_string(json_object_get(j, "error")));
    json_decref(j);
    assert_true(fx->closed);
    assert_int_equal(fx->nreq, 0);
    fx_stop(fx);
}

static void head_too_large_431(void **state)
{
    (void)state;
    char req[4096];
    int n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nX-Big: ");
    memset(req + n, 'a', 2000);
    snprintf(req + n + 2000, sizeof req - (size_t)n - 2000, "\r\n\r\n");
    expect_refusal(req, 431);
}

static void body_too_large_413(void **state)
{
    (void)state;
    /* no body follows: the 413 must come from the head alone */
    expect_refusal("POST /x HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n", 413);
}

static void chunked_body_too_large_413(void **state)
{
    (void)state;
    static char req[2048];
    int n = snprintf(req, sizeof req, "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 3; i++) {
        n += snprintf(req + n, sizeof req - (size_t)n, "190\r\n");
        memset(req + n, 'b', 400);
        n += 400;
        n += snprintf(req + n, sizeof req - (size_t)n, "\r\n");
    }
    expect_refusal(req, 413);
}

static void garbage_400(void **state)
{
    (void)state;
    expect_refusal("\x01\x02 nonsense \xff\r\n\r\n", 400);
}

static void smuggling_400(void **state)
{
    (void)state;
    expect_refusal("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "0\r\n\r\n",
                   400);
}

static void c_idle(fx_t *fx)
{
    cl_t c, d;
    CHECK(cl_connect(&c, fx->port, NULL) == 0); /* says nothing */
    CHECK(cl_connect(&d, fx->port, NULL) == 0);
    CHECK(cl_sends(&d, "GET /slow HTTP/1.1\r\nHost:") == 0); /* a head that never ends */
    fx->closed = cl_closed(&c) && cl_closed(&d);
    cl_close(&c);
    cl_close(&d);
    CHECK(cl_connect(&c, fx->port, NULL) == 0); /* idle after a response */
    CHECK(cl_sends(&c, "GET / HTTP/1.1\r\n\r\n") == 0);
    CHECK(cl_response(&c, &fx->resp[0]) == 0);
    CHECK(cl_closed(&c));
    cl_close(&c);
}

static void idle_timeout(void **state)
{
    (void)state;
    fx_t *fx = fx_start(&(gw_http_config_t){.port = 0, .idle_timeout_ms = 100}, h_echo);
    uint64_t t0 = uv_hrtime();
    fx_client(fx, c_idle);
    fx_join(fx);
    assert_true(fx->closed);
    assert_int_equal(fx->resp[0].status, 200);
    assert_true(uv_hrtime() - t0 < 3000000000u); /* well before the client's 5 s */
    fx_stop(fx);
}

/* ---- late finishing, client gone ------------------------------------------------ */

static void on_gone(gw_http_req_t *r, void *ctx)
{
    fx_t *fx = ctx;
    assert_ptr_equal(r, fx->held);
    fx->nclose++;
    fx->close_seq = ++fx->seq;
    /* still readable, writes refused */
    assert_string_equal(gw_http_path(r), "/hold");
    assert_int_equal(gw_http_stream_begin(r, 200, "text/plain"), -EPIPE);
    assert_int_equal(gw_http_stream_write(r, "x", 1), -EPIPE);
    assert_int_equal(gw_http_pending(r), 0);
}

static void on_late(uv_timer_t *t)
{
    fx_t *fx = t->data;
    if (fx->nclose == 0) { /* the client has not been noticed gone yet */
        uv_timer_start(&fx->later, on_late, 10, 0);
        return;
    }
    gw_http_respond(fx->held, 200, "text/plain", NULL, "late", 4); /* only releases */
    fx->held = NULL;
    fx->finish_seq = ++fx->seq;
}

static void h_hold(gw_http_req_t *r, void *ctx)
{
    fx_t *fx = ctx;
    fx->nreq++;
    fx->held = r;
    gw_http_set_close_cb(r, on_gone, fx);
    uv_timer_start(&fx->later, on_late, 50, 0);
}

static void c_send_and_leave(fx_t *fx)
{
    cl_t c;
    CHECK(cl_connect(&c, fx->port, NULL) == 0);
    CHECK(cl_sends(&c, "GET /hold HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc") == 0);
    cl_close(&c); /* gone before any answer */
}

static bool late_finished(fx_t *fx)
{
    return fx->finish_seq != 0;
}

static void late_response_after_disconnect(void **state)
{
    (void)state;
    fx_t *fx = fx_start(&(gw_http_config_t){.port = 0}, h_hold);
    fx_client(fx, c_send_and_leave);
    fx_join(fx);
    fx_wait(fx, late_finished);
    assert_int_equal(fx->nreq, 1);
    assert_int_equal(fx->nclose, 1);
    assert_true(fx->close_seq < fx->finish_seq);
    fx_stop(fx); /* ASan: no use after free, no leak */
}

static void on_gone_finish(gw_http_req_t *r, void *ctx)
{
    on_gone(r, ctx);
    gw_http_stream_end(r); /* finishing from inside the close callback */
    ((fx_t *)ctx)->held = NULL;
}

static void h_hold_finish_in_close(gw_http_req_t *r, void *ctx)
{
    fx_t *fx = ctx;
    fx->nreq++;
    fx->held = r;
    gw_http_set_close_cb(r, on_gone_finish, fx);
}

static bool closed_once(fx_t *fx)
{
    return fx->nclose == 1;
}

static void finish_inside_close_cb(void **state)
{
    (void)state;
    fx_t *fx = fx_start(&(gw_http_config_t){.port = 0}, h_hold_finish_in_close);
    fx_client(fx, c_send_and_leave);
    fx_join(fx);
    fx_wait(fx, closed_once);
    assert_null(fx->held);
    fx_stop(fx);
}

static void c_wait_for_close(fx_t *fx)
{
    cl_t c;
    CHECK(cl_connect(&c, fx->port, NULL) == 0);
    CHECK(cl_sends(&c, "GET /hold HTTP/1.1\r\n\r\n") == 0);
    fx->closed = cl_closed(&c);
    cl_close(&c);
}

static bool one_request(fx_t *fx)
{
    return fx->nreq == 1;
}

static void h_hold_only(gw_http_req_t *r, void *ctx)
{
    fx_t *fx = ctx;
    fx->nreq++;
    fx->held = r;
    gw_http_set_close_cb(r, on_gone, fx);
}

static void destroy_with_held_request(void **state)
{
    (void)state;
    fx_t *fx = fx_start(&(gw_http_config_t){.port = 0}, h_hold_only);
    fx_client(fx, c_wait_for_close);
    fx_wait(fx, one_request);
    gw_http_server_destroy(fx->srv);
    fx->srv = NULL;
    fx_wait(fx, closed_once);
    uv_run(&fx->loop, UV_RUN_NOWAIT);                   /* the server's memory goes now */
    gw_http_respond(fx->held, 200, NULL, NULL, "x", 1); /* outlives its server */
    fx->held = NULL;
    fx_join(fx);
    assert_true(fx->closed);
    fx_stop(fx);
}

/* ---- streaming -------------------------------------------------------------------- */

static void produce(gw_http_req_t *r, void *ctx)
{
    fx_t *fx = ctx;
    char chunk[CHUNK];
    fx->ndrain++;
    while (fx->nwritten < NCHUNKS && gw_http_pending(r) < 8192) {
        memset(chunk, 'a' + fx->nwritten % 26, sizeof chunk);
        int n = snprintf(chunk, sizeof chunk, "chunk-%04d:", fx->nwritten);
        chunk[n] = '.';
        assert_int_equal(gw_http_stream_write(r, chunk, sizeof chunk), 0);
        fx->nwritten++;
    }
    if (fx->nwritten == NCHUNKS)
        gw_http_stream_end(r);
}

static void h_stream(gw_http_req_t *r, void *ctx)
{
    fx_t *fx = ctx;
    fx->nreq++;
    gw_http_set_drain_cb(r, produce, fx);
    assert_int_equal(gw_http_stream_begin(r, 200, "application/x-ndjson"), 0);
    fx->ndrain--; /* produce() counts drains; this first call is not one */
    produce(r, fx);
}

static void c_stream(fx_t *fx)
{
    cl_t c;
    CHECK(cl_connect(&c, fx->port, NULL) == 0);
    CHECK(cl_sends(&c, "GET /stream HTTP/1.1\r\n\r\n") == 0);
    usleep(100000); /* let the server queue up against the limit */
    CHECK(cl_response(&c, &fx->resp[0]) == 0);
    CHECK(cl_sends(&c, "GET /again HTTP/1.1\r\n\r\n") == 0); /* the framing held */
    CHECK(cl_response(&c, &fx->resp[1]) == 0);
    cl_close(&c);
}

static void h_stream_then_echo(gw_http_req_t *r, void *ctx)
{
    if (strcmp(gw_http_path(r), "/stream") == 0)
        h_stream(r, ctx);
    else
        h_echo(r, ctx);
}

static void stream_1000_chunks(void **state)
{
    (void)state;
    fx_t *fx = fx_start(&(gw_http_config_t){.port = 0}, h_stream_then_echo);
    fx_client(fx, c_stream);
    fx_join(fx);
    resp_t *r = &fx->resp[0];
    assert_int_equal(r->status, 200);
    assert_non_null(strstr(r->head.p, "transfer-encoding: chunked\n"));
    assert_int_equal(r->nchunks, NCHUNKS);
    assert_int_equal(r->body.len, (size_t)NCHUNKS * CHUNK);
    for (int i = 0; i < NCHUNKS; i++) {
        char want[16];
        int n = snprintf(want, sizeof want, "chunk-%04d:", i);
        const char *got = r->body.p + (size_t)i * CHUNK;
        assert_memory_equal(got, want, (size_t)n);
        assert_int_equal(got[CHUNK - 1], 'a' + i % 26);
    }
    assert_true(fx->ndrain > 0); /* the producer waited for the socket */
    assert_string_equal(fx->resp[1].body.p, "GET /again ");
    fx_stop(fx);
}

/* ---- TLS -------------------------------------------------------------------------- */

/* A throwaway self-signed P-256 certificate for localhost in a temp dir. */
static void make_cert(fx_t *fx)
{
    snprintf(fx->dir, sizeof fx->dir, "/tmp/test_http.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->cert, sizeof fx->cert, "%s/cert.pem", fx->dir);
    snprintf(fx->key, sizeof fx->key, "%s/key.pem", fx->dir);
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    assert_true(pk && x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pk);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext =
        X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    assert_non_null(ext);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    assert_true(X509_sign(x, pk, EVP_sha256()) > 0);
    FILE *f = fopen(fx->cert, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, x), 1);
    fclose(f);
    f = fopen(fx->key, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(pk);
}

static void c_tls(fx_t *fx)
{
    cl_t c;
    /* a plain-HTTP client on the TLS port: no HTTP answer, a closed socket */
    CHECK(cl_connect(&c, fx->port, NULL) == 0);
    CHECK(cl_sends(&c, "GET /plain HTTP/1.1\r\n\r\n") == 0);
    char b[256];
    ssize_t n = recv(c.fd, b, sizeof b, 0);
    CHECK(n <= 0 || memcmp(b, "HTTP/", n < 5 ? (size_t)n : 5) != 0);
    while (n > 0)
        n = recv(c.fd, b, sizeof b, 0);
    cl_close(&c);
    /* then TLS: two requests on one connection, one streamed */
    CHECK(cl_connect(&c, fx->port, fx->cctx) == 0);
    CHECK(cl_sends(&c, "POST /tls?x=1 HTTP/1.1\r\nContent-Length: 6\r\n\r\nsecret") == 0);
    CHECK(cl_response(&c, &fx->resp[0]) == 0);
    CHECK(cl_sends(&c, "GET /stream HTTP/1.1\r\nConnection: close\r\n\r\n") == 0);
    CHECK(cl_response(&c, &fx->resp[1]) == 0);
    cl_close(&c);
}

static void tls_round_trip(void **state)
{
    (void)state;
    fx_t *tmp = calloc(1, sizeof *tmp); /* the cert must exist before the server */
    assert_non_null(tmp);
    make_cert(tmp);
    gw_http_config_t cfg = {.port = 0, .tls_cert = tmp->cert, .tls_key = tmp->key};
    fx_t *fx = fx_start(&cfg, h_stream_then_echo);
    memcpy(fx->dir, tmp->dir, sizeof fx->dir);
    memcpy(fx->cert, tmp->cert, sizeof fx->cert);
    memcpy(fx->key, tmp->key, sizeof fx->key);
    free(tmp);
    fx->cctx = SSL_CTX_new(TLS_client_method());
    assert_int_equal(SSL_CTX_load_verify_locations(fx->cctx, fx->cert, NULL), 1);
    SSL_CTX_set_verify(fx->cctx, SSL_VERIFY_PEER, NULL);
    fx_client(fx, c_tls);
    fx_join(fx);
    assert_int_equal(fx->nreq, 2); /* the plain-HTTP request never reached the handler */
    assert_string_equal(fx->resp[0].body.p, "POST /tls secret");
    assert_string_equal(fx->query, "x=1");
    assert_int_equal(fx->resp[1].nchunks, NCHUNKS);
    assert_int_equal(fx->resp[1].body.len, (size_t)NCHUNKS * CHUNK);
    assert_non_null(strstr(fx->resp[1].head.p, "connection: close\n"));
    fx_stop(fx);
}

/* ---- create() errors ---------------------------------------------------------- */

static void create_errors(void **state)
{
    (void)state;
    fx_t *fx = fx_start(&(gw_http_config_t){.host = "127.0.0.1", .port = 0}, h_echo);
    gw_http_server_t *s = (gw_http_server_t *)1;
    char err[256], want[128];
    gw_http_config_t cfg = {.host = "127.0.0.1", .port = fx->port};
    assert_int_equal(gw_http_server_create(&fx->loop, &cfg, h_echo, fx, &s, err, sizeof err),
                     -EADDRINUSE);
    assert_null(s);
    snprintf(want, sizeof want, "listen 127.0.0.1:%d: address already in use", fx->port);
    assert_string_equal(err, want);
    cfg = (gw_http_config_t){.host = "localhost", .port = 1};
    assert_int_equal(gw_http_server_create(&fx->loop, &cfg, h_echo, fx, &s, err, sizeof err),
                     -EINVAL);
    assert_string_equal(err, "listen localhost:1: not an IP address");
    cfg = (gw_http_config_t){.port = 70000};
    assert_int_equal(gw_http_server_create(&fx->loop, &cfg, h_echo, fx, &s, err, sizeof err),
                     -EINVAL);
    cfg = (gw_http_config_t){.port = 0, .tls_cert = "/nonexistent/c.pem", .tls_key = "/x"};
    assert_int_equal(gw_http_server_create(&fx->loop, &cfg, h_echo, fx, &s, err, sizeof err),
                     -EINVAL);
    assert_true(strncmp(err, "tls: certificate /nonexistent/c.pem: ", 37) == 0);
    cfg = (gw_http_config_t){.port = 0, .tls_cert = "/x"};
    assert_int_equal(gw_http_server_create(&fx->loop, &cfg, h_echo, fx, &s, err, sizeof err),
                     -EINVAL);
    cfg = (gw_http_config_t){.host = "::1", .port = 0}; /* IPv6, when the host has it */
    int rc = gw_http_server_create(&fx->loop, &cfg, h_echo, fx, &s, err, sizeof err);
    assert_true(rc == 0 || rc == -EADDRNOTAVAIL || rc == -EAFNOSUPPORT);
    gw_http_server_destroy(s); /* NULL on failure */
    gw_http_server_destroy(NULL);
    fx_stop(fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(get_query_params),
        cmocka_unit_test(post_content_length),
        cmocka_unit_test(chunked_request_body),
        cmocka_unit_test(keep_alive_two_requests),
        cmocka_unit_test(pipelined_requests),
        cmocka_unit_test(http10_closes),
        cmocka_unit_test(expect_continue),
        cmocka_unit_test(head_too_large_431),
        cmocka_unit_test(body_too_large_413),
        cmocka_unit_test(chunked_body_too_large_413),
        cmocka_unit_test(garbage_400),
        cmocka_unit_test(smuggling_400),
        cmocka_unit_test(idle_timeout),
        cmocka_unit_test(late_response_after_disconnect),
        cmocka_unit_test(finish_inside_close_cb),
        cmocka_unit_test(destroy_with_held_request),
        cmocka_unit_test(stream_1000_chunks),
        cmocka_unit_test(tls_round_trip),
        cmocka_unit_test(create_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
