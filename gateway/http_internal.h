/*
 * http_internal.h: what the files of the HTTP server share (http.c: server,
 * connections and I/O; http_req.c: building, reading and finishing requests;
 * http_tls.c: OpenSSL over memory BIOs). Nobody outside gateway/ includes it.
 *
 * Thread: the loop thread of the server, like everything in http.h.
 */
#ifndef TOLLGATE_GW_HTTP_INTERNAL_H
#define TOLLGATE_GW_HTTP_INTERNAL_H

#include <http_parser.h>
#include <openssl/ssl.h>

#include "gateway/http.h"
#include "ocsf/ocsf.h"

/* Received bytes held while a request is with its handler (pipelined
 * requests, or TLS plaintext not yet parsed): over this, reading stops. */
#define GW__STASH_MAX (64 * 1024)
/* The longest a connection lingers after its last response, reading and
 * discarding, so that closing does not reset the response away. */
#define GW__LINGER_MS 2000u

typedef struct gw__conn gw__conn_t;

/* A header: offsets of its NUL-terminated name and value in req->hbuf. */
typedef struct {
    size_t name, value;
} gw__hdr_t;

struct gw_http_req {
    gw__conn_t *conn; /* NULL once detached (finished, or the client went away) */
    /* Owners: the connection (from the first byte until it detaches) and the
     * handler (from dispatch until it finishes). Freed when both are gone. */
    unsigned refs;
    bool dispatched, streaming, chunked, head_only, keep_alive, hdr_in_value;

    gw_http_close_cb close_cb, drain_cb;
    void *close_ctx, *drain_ctx;

    const char *method; /* static, from http_method_str() */
    ocsf_buf_t url;     /* the raw request target */
    ocsf_buf_t pathq;   /* "path\0query\0" */
    size_t query_off;   /* of the query in pathq */
    ocsf_buf_t hbuf;    /* "name\0value\0" per header */
    gw__hdr_t *hdrs;    /* nhdrs entries, hcap allocated */
    size_t nhdrs, hcap;
    ocsf_buf_t body; /* always NUL-terminated after the head */
    unsigned short http_major, http_minor;
    char peer[64];
};

/* What a connection is doing. */
typedef enum {
    GW__READ,    /* reading a request (or idle keep-alive): the parser runs */
    GW__HANDLER, /* a request is with the handler: reading only fills the stash */
    GW__FLUSH,   /* the response is finished; waiting for the writes to complete */
    GW__LINGER,  /* shut down after the last response; discarding until EOF */
} gw__phase_t;

struct gw__conn {
    uv_tcp_t tcp;
    uv_timer_t timer; /* idle / slow head / body progress / linger / resume */
    uv_shutdown_t shut;
    gw_http_server_t *srv;
    gw__conn_t *prev, *next; /* srv->conns */
    int open_handles;        /* tcp + timer; freed when 0 after closing */

    http_parser parser;
    gw_http_req_t *req; /* being read, or with the handler; NULL between */
    ocsf_buf_t in;      /* received plaintext not yet parsed: in.p[in_off..in.len) */
    size_t in_off;
    size_t head_bytes;   /* of the request being read */
    int err_status;      /* set by a parser callback that refuses: 400, 413, 414, 431 */
    const char *err_msg; /* and why (static text) */
    size_t pending;      /* bytes handed to uv_write, not yet completed */
    gw__phase_t phase;
    bool reading, closing, peer_eof, keep_alive, in_body;
    char peer[64];

    SSL *ssl;        /* NULL: plain HTTP */
    bool tls_failed; /* a fatal TLS error: no more SSL calls but SSL_free */
    BIO *rbio;       /* network -> SSL (owned by ssl) */
    BIO *wbio;       /* SSL -> network (owned by ssl) */
};

struct gw_http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    gw_http_handler_cb cb;
    void *ctx;
    int (*check_head)(gw_http_req_t *req, void *ctx, const char **msg);
    size_t max_head, max_body, max_conns;
    uint64_t over_cap, accept_failed, last_accept_log_ms;
    unsigned idle_ms;
    int port;
    SSL_CTX *tls;
    http_parser_settings settings;
    gw__conn_t *conns;
    size_t refs; /* the listener handle + one per connection */
    bool destroyed;
    char rbuf[64 * 1024]; /* every read lands here, then is copied or decrypted */
};

/* ---- http.c -------------------------------------------------------------- */
/* Sends b's bytes (as plaintext: encrypted first with TLS) and takes its
 * storage (b is left empty). Returns 0, or -EPIPE when the connection is
 * closing or the write failed (then it is closing). */
int gw__conn_send(gw__conn_t *c, ocsf_buf_t *b);
/* Sends bytes that are already on the wire format; takes p (malloc'd). */
int gw__conn_send_raw(gw__conn_t *c, char *p, size_t n);
/* The request with the handler is finished and its response queued. */
void gw__conn_request_done(gw__conn_t *c, bool keep_alive);
/* Closes now (pending writes are cancelled). Idempotent. */
void gw__conn_close(gw__conn_t *c);

/* ---- http_req.c ---------------------------------------------------------- */
/* The http_parser callbacks that build c->req. */
void gw__req_settings(http_parser_settings *s);
/* The connection lets go of its request (closing or failed): the close
 * callback runs if a handler holds it, then it is freed if nobody does. */
void gw__req_detach(gw_http_req_t *r);
/* Queues a whole response on a connection (not tied to a request): the
 * error answers 400, 413, 431. */
void gw__respond_error(gw__conn_t *c, int status, const char *msg);

/* ---- http_tls.c ---------------------------------------------------------- */
/* Server context from PEM files; NULL with err on failure. */
SSL_CTX *gw__tls_ctx_create(const char *cert, const char *key, char *err, size_t errlen);
/* Per connection: 0 or -ENOMEM. gw__tls_conn_free accepts a plain conn. */
int gw__tls_conn_init(gw__conn_t *c, SSL_CTX *ctx);
void gw__tls_conn_free(gw__conn_t *c);
/* Ciphertext from the socket. 0 or -ENOMEM. */
int gw__tls_feed(gw__conn_t *c, const char *p, size_t n);
/* Decrypts into c->in until GW__STASH_MAX; sends what the handshake wants.
 * Returns bytes added (>= 0), -ECONNRESET on close_notify, -EPROTO on a
 * TLS error (handshake failure, a plain-HTTP client). */
int gw__tls_pull(gw__conn_t *c);
/* Ciphertext waiting in the read BIO. */
size_t gw__tls_backlog(const gw__conn_t *c);
/* Encrypts and sends. 0 or -EPIPE. */
int gw__tls_write(gw__conn_t *c, const char *p, size_t n);
/* Queues close_notify. */
void gw__tls_shutdown(gw__conn_t *c);

#endif
