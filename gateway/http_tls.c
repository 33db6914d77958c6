/*
 * http_tls.c: TLS for the HTTP server with OpenSSL 3 over two memory BIOs.
 * The socket stays with libuv: ciphertext read from it goes into rbio,
 * SSL_read turns it into plaintext for the parser (c->in), SSL_write puts
 * ciphertext into wbio, and whatever wbio holds (handshake, records, alerts)
 * is handed to uv_write. OpenSSL never touches a file descriptor.
 *
 * Thread: the loop thread of the server only. The OpenSSL error queue is
 * cleared around every call so one connection's error never shows up in
 * another's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/err.h>

#include "gateway/http_internal.h"

#define READ_STEP  (16 * 1024) /* one TLS record */
#define WRITE_STEP (64 * 1024) /* plaintext encrypted per flush */

/* "tls: <what> <path>: <OpenSSL's reason>"; the queue is cleared. */
static void tls_error(char *err, size_t errlen, const char *what, const char *path)
{
    unsigned long e = ERR_peek_last_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    snprintf(err, errlen, "tls: %s %s: %s", what, path, reason ? reason : "failed");
    ERR_clear_error();
}

SSL_CTX *gw__tls_ctx_create(const char *cert, const char *key, char *err, size_t errlen)
{
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        tls_error(err, errlen, "context", "for");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        tls_error(err, errlen, "certificate", cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        tls_error(err, errlen, "key", key);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        tls_error(err, errlen, "key (does not match the certificate)", key);
        goto fail;
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

int gw__tls_conn_init(gw__conn_t *c, SSL_CTX *ctx)
{
    SSL *ssl = SSL_new(ctx);
    BIO *r = BIO_new(BIO_s_mem()), *w = BIO_new(BIO_s_mem());
    if (!ssl || !r || !w) {
        SSL_free(ssl);
        BIO_free(r);
        BIO_free(w);
        ERR_clear_error();
        return -ENOMEM;
    }
    BIO_set_mem_eof_return(r, -1); /* empty: "retry", not end of stream */
    BIO_set_mem_eof_return(w, -1);
    SSL_set_bio(ssl, r, w); /* ssl owns both */
    SSL_set_accept_state(ssl);
    c->ssl = ssl;
    c->rbio = r;
    c->wbio = w;
    return 0;
}

void gw__tls_conn_free(gw__conn_t *c)
{
    SSL_free(c->ssl); /* NULL for plain connections */
    c->ssl = NULL;
    c->rbio = c->wbio = NULL;
}

int gw__tls_feed(gw__conn_t *c, const char *p, size_t n)
{
    if (n > 0 && BIO_write(c->rbio, p, (int)n) != (int)n) { /* n <= the read buffer */
        ERR_clear_error();
        return -ENOMEM;
    }
    return 0;
}

size_t gw__tls_backlog(const gw__conn_t *c)
{
    return c->ssl ? BIO_ctrl_pending(c->rbio) : 0;
}

/* Hands everything in wbio to the socket. */
static int tls_flush(gw__conn_t *c)
{
    size_t n;
    while ((n = BIO_ctrl_pending(c->wbio)) > 0) {
        char *p = malloc(n);
        if (!p)
            abort(); /* bounded by WRITE_STEP plus a record */
        int got = BIO_read(c->wbio, p, (int)n);
        if (got <= 0) {
            free(p);
            ERR_clear_error();
            return -EPROTO;
        }
        if (gw__conn_send_raw(c, p, (size_t)got) < 0)
            return -EPIPE;
    }
    return 0;
}

int gw__tls_pull(gw__conn_t *c)
{
    int added = 0, rc = 0;
    while (c->in.len - c->in_off < GW__STASH_MAX) {
        ocsf_buf_reserve(&c->in, READ_STEP);
        ERR_clear_error();
        int n = SSL_read(c->ssl, c->in.p + c->in.len, READ_STEP);
        if (n > 0) {
            c->in.len += (size_t)n;
            added += n;
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e != SSL_ERROR_WANT_READ) {
            rc = e == SSL_ERROR_ZERO_RETURN ? -ECONNRESET : -EPROTO;
            c->tls_failed = rc == -EPROTO; /* no SSL_shutdown after a fatal error */
        }
        break;
    }
    ERR_clear_error();
    /* handshake messages and alerts go out even when the read failed */
    if (tls_flush(c) < 0 && rc == 0)
        rc = -EPIPE;
    return rc < 0 ? rc : added;
}

int gw__tls_write(gw__conn_t *c, const char *p, size_t n)
{
    if (c->tls_failed)
        return -EPIPE;
    while (n > 0) {
        int k = n > WRITE_STEP ? WRITE_STEP : (int)n;
        ERR_clear_error();
        if (SSL_write(c->ssl, p, k) != k) { /* mem BIOs: all or a fatal error */
            ERR_clear_error();
            c->tls_failed = true;
            gw__conn_close(c);
            return -EPIPE;
        }
        p += k;
        n -= (size_t)k;
        if (tls_flush(c) < 0)
            return -EPIPE;
    }
    return 0;
}

void gw__tls_shutdown(gw__conn_t *c)
{
    if (c->tls_failed || !SSL_is_init_finished(c->ssl))
        return;
    ERR_clear_error();
    SSL_shutdown(c->ssl); /* queues close_notify; we do not wait for the peer's */
    ERR_clear_error();
    tls_flush(c);
}
