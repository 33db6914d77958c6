/*
 * http.h: a small HTTP/1.1 server on a libuv loop, for the gateway API.
 *
 * Requests are parsed by Debian's http-parser (libhttp-parser); there is no
 * hand-written parser. One request at a time per connection (keep-alive,
 * pipelined requests wait their turn), bounded heads and bodies, optional
 * TLS (OpenSSL, memory BIOs), chunked streaming responses.
 *
 * Thread: everything here runs on the loop thread that created the server,
 * and only there.
 *
 * Ownership of a request: the server hands each complete request to the
 * handler. The handler must finish it exactly once, now or later, with
 * gw_http_respond() or gw_http_stream_end(); until then the request (its
 * method, path, headers, body) stays valid even if the client goes away.
 * When the client goes away first, the close callback (if set) runs once,
 * from the loop (never from inside a gw_http_* call), writes become no-ops
 * returning -EPIPE, and finishing only releases it. A client that ends its
 * sending side (EOF) while its request is with the handler counts as gone.
 */
#ifndef TOLLGATE_GW_HTTP_H
#define TOLLGATE_GW_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

typedef struct gw_http_server gw_http_server_t;
typedef struct gw_http_req gw_http_req_t;

/* Called on the loop thread with a complete request (head and body). */
typedef void (*gw_http_handler_cb)(gw_http_req_t *req, void *ctx);
/* Called once when the client of an unfinished request goes away. */
typedef void (*gw_http_close_cb)(gw_http_req_t *req, void *ctx);

typedef struct {
    const char *host; /* listen address, "127.0.0.1" or "::1" */
    int port;         /* 0: pick a free port (see gw_http_server_port) */
    size_t max_head;  /* bytes of request line + headers; over: 431. default 16 KiB */
    size_t max_body;  /* bytes of body; over: 413 (sent before reading it). default 64 MiB */
    unsigned idle_timeout_ms; /* keep-alive idle / slow head; default 60000 */
    const char *tls_cert;     /* PEM files; both NULL: plain HTTP */
    const char *tls_key;
    /* Optional, on the loop thread: called when a request's head is complete,
     * before any byte of its body is read, with the handler's ctx. A non-zero
     * HTTP status refuses the request at once (*msg: the error text, static):
     * it is answered and the connection closes, its body never buffered. */
    int (*check_head)(gw_http_req_t *req, void *ctx, const char **msg);
    /* Connections at once; more are closed at accept (counted). 0: 1024. */
    size_t max_conns;
} gw_http_config_t;

/* Connections closed at accept because of max_conns, and accepts that failed
 * (EMFILE, ENFILE: logged at most once a minute). */
typedef struct {
    uint64_t over_cap, accept_failed;
} gw_http_stats_t;
void gw_http_server_stats(const gw_http_server_t *s, gw_http_stats_t *st);

/* Binds and listens. Returns 0 or a negative errno (err says what: "listen
 * 127.0.0.1:17670: address already in use"). The host must be an IP literal
 * (no name lookup on the loop). If SIGPIPE is still at its default action it
 * is set to ignored (process-wide), so a client that goes away fails a write
 * with EPIPE instead of killing the process. */
int gw_http_server_create(uv_loop_t *loop, const gw_http_config_t *cfg, gw_http_handler_cb cb,
                          void *ctx, gw_http_server_t **out, char *err, size_t errlen);
/* The bound port (useful with port 0). */
int gw_http_server_port(const gw_http_server_t *s);
/* Stops listening and closes every connection (unfinished requests get their
 * close callback); memory is freed once the loop has run the closes. Accepts
 * NULL. */
void gw_http_server_destroy(gw_http_server_t *s);

/* ---- the request (borrowed; valid until finished) ---------------------- */
const char *gw_http_method(const gw_http_req_t *r); /* "GET" */
const char *gw_http_path(const gw_http_req_t *r);   /* "/v1/logs", without the query, raw */
const char *gw_http_query(const gw_http_req_t *r);  /* "sandbox=a&limit=5" or "" */
const char *gw_http_body(const gw_http_req_t *r, size_t *len); /* NUL-terminated too */
/* Case-insensitive header lookup; NULL when absent; the first of repeats. */
const char *gw_http_header(const gw_http_req_t *r, const char *name);
/* Query parameter, percent-decoded into buf (NUL-terminated; '+' is a
 * space). Returns its length, -ENOENT when absent, -ENOSPC when it does not
 * fit in buflen, -EINVAL when the value holds %00 or a broken %-escape. The
 * first occurrence wins. */
int gw_http_param(const gw_http_req_t *r, const char *name, char *buf, size_t buflen);
/* The peer address, "127.0.0.1:54321". */
const char *gw_http_peer(const gw_http_req_t *r);

void gw_http_set_close_cb(gw_http_req_t *r, gw_http_close_cb cb, void *ctx);

/* ---- finishing ---------------------------------------------------------- */
/* A whole response with Content-Length. `extra_headers` is NULL or lines
 * each ending in "\r\n" (e.g. "WWW-Authenticate: Bearer\r\n"); it and
 * content_type are trusted text (no CR/LF from clients). A status outside
 * 200..599 becomes 500. HEAD, 204 and 304 send no body. After
 * gw_http_stream_begin it writes `body` as a last chunk and ends the stream. */
void gw_http_respond(gw_http_req_t *r, int status, const char *content_type,
                     const char *extra_headers, const void *body, size_t len);

/* A chunked response: begin, write chunks, end. begin and write return 0,
 * -EPIPE when the client is gone (finish anyway), -EINVAL when called out of
 * order. gw_http_pending() is the bytes queued but not yet written to the
 * socket (ciphertext with TLS): a producer stops at its own limit and resumes
 * from the drain callback. An HTTP/1.0 client gets the body unframed and the
 * connection closes after it. */
int gw_http_stream_begin(gw_http_req_t *r, int status, const char *content_type);
int gw_http_stream_write(gw_http_req_t *r, const void *p, size_t len);
size_t gw_http_pending(const gw_http_req_t *r);
/* Called once each time the pending bytes fall to 0 after a write, while
 * the request is unfinished and its client is there. */
void gw_http_set_drain_cb(gw_http_req_t *r, gw_http_close_cb cb, void *ctx);
void gw_http_stream_end(gw_http_req_t *r); /* without begin: a 500 */

#endif
