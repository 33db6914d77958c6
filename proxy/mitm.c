/*
 * mitm.c: TLS interception of a CONNECT tunnel whose endpoint the policy
 * inspects (decide.c sets c->inspect), on the loop: no thread, no blocking
 * call. After the 200 the client's first byte decides: 0x16 (a TLS
 * handshake record) → the proxy is the client's TLS server, with a leaf for
 * the CONNECT host from the CA (px_ca_server_ctx; an SNI that names another
 * host is refused with an alert and a NET:REFUSE) and the upstream's TLS
 * client (SNI the CONNECT host unless an IP literal, verified against the
 * system store plus proxy.upstream_ca, host name or IP checked, ALPN
 * http/1.1 only); anything else → plain HTTP both ways. OpenSSL runs over
 * memory BIOs: bytes read from a socket go into the SSL's read BIO, what
 * it writes is taken from its write BIO and queued with uv_write.
 * mitm_http.c then runs the requests over the plaintext.
 *
 * Memory: a socket is not read while its unread backlog (ciphertext in the
 * read BIO or raw bytes, plus unhandled plaintext) is over PX__HIGH_WATER;
 * mitm_http.c stops taking bytes toward a side with more than
 * PX__HIGH_WATER queued; a write's completion runs the pump again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "proxy/mitm_internal.h"

typedef struct {
    uv_write_t w;
    px_conn_t *c;
    bool to_up;
    size_t len;
    char data[];
} mwreq_t;

static void pump(px__mitm_t *m);
static void on_cl_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void on_up_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void ssl_err_text(const char *what, char *out, size_t n)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    snprintf(out, n, "%s: %s", what, r ? r : "unknown error");
}

/* ---- the proxy's TLS contexts (made on first use, kept until px_destroy) ---------- */

static int on_sni(SSL *ssl, int *alert, void *arg);

static SSL_CTX *srv_ctx(px_t *p)
{
    if (p->mitm_srv_ctx)
        return p->mitm_srv_ctx;
    SSL_CTX *x = SSL_CTX_new(TLS_server_method());
    if (!x)
        return NULL;
    SSL_CTX_set_min_proto_version(x, TLS1_2_VERSION);
    SSL_CTX_set_options(x, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_tlsext_servername_callback(x, on_sni);
    p->mitm_srv_ctx = x;
    return x;
}

static SSL_CTX *up_ctx(px_t *p, char *err, size_t n)
{
    static const unsigned char alpn[] = "\x08http/1.1";
    if (p->mitm_up_ctx)
        return p->mitm_up_ctx;
    ERR_clear_error();
    SSL_CTX *x = SSL_CTX_new(TLS_client_method());
    if (!x) {
        ssl_err_text("upstream TLS context", err, n);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(x, TLS1_2_VERSION);
    SSL_CTX_set_options(x, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_verify(x, SSL_VERIFY_PEER, NULL);
    const char *extra = p->cfg.upstream_ca && *p->cfg.upstream_ca ? p->cfg.upstream_ca : NULL;
    if (SSL_CTX_set_default_verify_paths(x) != 1 ||
        (extra && SSL_CTX_load_verify_locations(x, extra, NULL) != 1) ||
        SSL_CTX_set_alpn_protos(x, alpn, sizeof alpn - 1) != 0) {
        ssl_err_text(extra ? "proxy.upstream_ca could not be loaded" : "upstream TLS setup", err,
                     n);
        SSL_CTX_free(x);
        return NULL;
    }
    p->mitm_up_ctx = x;
    return x;
}

int px__mitm_check_config(px_t *p, char *err, size_t errlen)
{
    const char *ca = p->cfg.upstream_ca;
    char why[256];
    if (!ca || !*ca)
        return 0;
    FILE *f = fopen(ca, "re");
    if (!f) {
        snprintf(err, errlen, "proxy.upstream_ca: %s: %s", ca, strerror(errno));
        return -EINVAL;
    }
    fclose(f);
    if (up_ctx(p, why, sizeof why))
        return 0;
    snprintf(err, errlen, "proxy.upstream_ca: %s: no PEM certificate could be loaded (%s)", ca,
             why);
    return -EINVAL;
}

void px__mitm_px_free(px_t *p)
{
    SSL_CTX_free(p->mitm_srv_ctx);
    SSL_CTX_free(p->mitm_up_ctx);
    p->mitm_srv_ctx = p->mitm_up_ctx = NULL;
}

/* The client's SNI must name the CONNECT host; the leaf is made for that
 * host (an IP literal when the client sent no SNI). */
static int on_sni(SSL *ssl, int *alert, void *arg)
{
    px__mitm_t *m = SSL_get_app_data(ssl);
    px_conn_t *c = m->c;
    const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    char norm[PX_HOST_MAX], err[256];
    (void)arg;
    if (sni) {
        bool is_ip;
        struct sockaddr_storage ss;
        if (px_host_normalize(sni, norm, sizeof norm, &is_ip, &ss) != 0 ||
            strcmp(norm, c->host) != 0) {
            snprintf(m->cl_err, sizeof m->cl_err,
                     "TLS SNI %.200s does not match the CONNECT host %.200s", sni, c->host_asked);
            *alert = SSL_AD_UNRECOGNIZED_NAME;
            return SSL_TLSEXT_ERR_ALERT_FATAL;
        }
    }
    SSL_CTX *leaf = px_ca_server_ctx(c->px->hooks.ca, c->host, err, sizeof err);
    if (!leaf) {
        snprintf(m->cl_err, sizeof m->cl_err, "no certificate for %.200s: %.200s", c->host_asked,
                 err);
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    SSL_set_SSL_CTX(ssl, leaf); /* takes its own reference */
    SSL_CTX_free(leaf);
    return SSL_TLSEXT_ERR_OK;
}

/* ---- sockets ----------------------------------------------------------------------- */

static uv_stream_t *stream(px__mitm_t *m, bool up)
{
    return up ? (uv_stream_t *)m->c->up : (uv_stream_t *)&m->c->client;
}

static void on_mwritten(uv_write_t *w, int status)
{
    mwreq_t *r = (mwreq_t *)w;
    px_conn_t *c = r->c;
    px__mitm_t *m = c->mitm;
    if (m)
        (r->to_up ? &m->up : &m->cl)->pending -= r->len;
    free(r);
    if (c->closing || !m)
        return;
    if (status < 0) {
        px__conn_close(c);
        return;
    }
    if (m->st != PX_M_ENDING)
        pump(m);
}

/* Queues r (taking ownership) toward one side's socket. */
static int write_req(px__mitm_t *m, bool to_up, mwreq_t *r, size_t len)
{
    uv_stream_t *s = stream(m, to_up);
    r->c = m->c;
    r->to_up = to_up;
    r->len = len;
    uv_buf_t b = uv_buf_init(r->data, (unsigned)len);
    if (!s || uv_write(&r->w, s, &b, 1, on_mwritten) != 0) {
        free(r);
        return -1;
    }
    (to_up ? &m->up : &m->cl)->pending += len;
    if (to_up)
        m->c->bytes_out += len;
    return 0;
}

static mwreq_t *wreq_new(size_t len)
{
    mwreq_t *r = malloc(sizeof *r + len);
    if (!r)
        abort(); /* OOM policy: len is bounded by the relay's limits */
    return r;
}

/* What the SSL of one side wrote goes to its socket. */
static int flush(px__mitm_t *m, bool up)
{
    px__mside_t *s = up ? &m->up : &m->cl;
    size_t k;
    if (!s->ssl)
        return 0;
    while ((k = BIO_ctrl_pending(s->wbio)) > 0) {
        mwreq_t *r = wreq_new(k);
        int got = BIO_read(s->wbio, r->data, (int)k);
        if (got <= 0) {
            free(r);
            return -1;
        }
        if (write_req(m, up, r, (size_t)got) != 0)
            return -1;
    }
    return 0;
}

int px__mitm_send(px__mitm_t *m, bool to_up, const char *p, size_t n)
{
    px__mside_t *s = to_up ? &m->up : &m->cl;
    if (!n)
        return 0;
    if (!s->ssl) {
        mwreq_t *r = wreq_new(n);
        memcpy(r->data, p, n);
        return write_req(m, to_up, r, n);
    }
    while (n) {
        int chunk = n > (1u << 30) ? 1 << 30 : (int)n;
        ERR_clear_error();
        int w = SSL_write(s->ssl, p, chunk); /* a memory BIO takes it all */
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return flush(m, to_up);
}

size_t px__mitm_fill(px__mitm_t *m, bool up, ocsf_buf_t *dst, size_t max)
{
    px__mside_t *s = up ? &m->up : &m->cl;
    if (s->plain_eof || !s->hs_done || max == 0)
        return 0;
    if (!s->ssl) {
        size_t k = s->raw.len < max ? s->raw.len : max;
        ocsf_buf_put(dst, s->raw.p, k);
        memmove(s->raw.p, s->raw.p + k, s->raw.len - k);
        s->raw.len -= k;
        if (!s->raw.len && s->sock_eof)
            s->plain_eof = true;
        return k;
    }
    ocsf_buf_reserve(dst, max);
    ERR_clear_error();
    int r = SSL_read(s->ssl, dst->p + dst->len, (int)max);
    flush(m, up); /* TLS 1.3 post-handshake messages may answer */
    if (r > 0) {
        dst->len += (size_t)r;
        return (size_t)r;
    }
    int e = SSL_get_error(s->ssl, r);
    if (e != SSL_ERROR_WANT_READ || s->sock_eof)
        s->plain_eof = true; /* close_notify, the socket's end, or a TLS error */
    return 0;
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h;
    (void)hint;
    buf->base = malloc(PX__BUF);
    buf->len = buf->base ? PX__BUF : 0;
}

static void set_reading(px__mitm_t *m, bool up, bool want)
{
    px__mside_t *s = up ? &m->up : &m->cl;
    uv_stream_t *st = stream(m, up);
    if (!st || want == s->reading)
        return;
    if (want)
        uv_read_start(st, alloc_cb, up ? on_up_read : on_cl_read);
    else
        uv_read_stop(st);
    s->reading = want;
}

static size_t backlog(const px__mside_t *s, const ocsf_buf_t *plain)
{
    return (s->ssl ? BIO_ctrl_pending(s->rbio) : s->raw.len) + plain->len;
}

/* Reads a socket only while its backlog is under the high water mark. */
static void flow(px__mitm_t *m)
{
    bool live = m->st != PX_M_ENDING;
    set_reading(m, false, live && !m->cl.sock_eof && backlog(&m->cl, &m->cin) < PX__HIGH_WATER);
    set_reading(m, true,
                live && m->st != PX_M_PEEK && !m->up.sock_eof &&
                    backlog(&m->up, &m->uin) < PX__HIGH_WATER);
}

/* ---- TLS set-up and handshakes --------------------------------------------------------- */

static int side_tls(px__mside_t *s, SSL_CTX *ctx)
{
    s->ssl = SSL_new(ctx);
    s->rbio = BIO_new(BIO_s_mem());
    s->wbio = BIO_new(BIO_s_mem());
    if (!s->ssl || !s->rbio || !s->wbio) {
        BIO_free(s->rbio);
        BIO_free(s->wbio);
        SSL_free(s->ssl);
        s->ssl = NULL;
        return -1;
    }
    BIO_set_mem_eof_return(s->rbio, -1); /* empty: "retry", until the socket ends */
    SSL_set_bio(s->ssl, s->rbio, s->wbio);
    s->hs_done = false;
    return 0;
}

/* The upstream's TLS client: SNI, the name (or address) its certificate must
 * carry, ALPN (from the context). */
static int up_tls(px__mitm_t *m)
{
    px_conn_t *c = m->c;
    char err[256];
    SSL_CTX *x = up_ctx(c->px, err, sizeof err);
    if (!x || side_tls(&m->up, x) != 0) {
        snprintf(m->up_err, sizeof m->up_err, "%s", x ? "out of memory" : err);
        return -1;
    }
    SSL_set_connect_state(m->up.ssl);
    X509_VERIFY_PARAM *vp = SSL_get0_param(m->up.ssl);
    X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    int ok = c->host_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, c->host)
                           : SSL_set_tlsext_host_name(m->up.ssl, c->host) == 1 &&
                                 X509_VERIFY_PARAM_set1_host(vp, c->host, 0) == 1;
    if (!ok) {
        snprintf(m->up_err, sizeof m->up_err, "upstream TLS: %.200s is not a usable name",
                 c->host_asked);
        return -1;
    }
    return 0;
}

/* The client's first byte: 0x16 starts a TLS handshake; anything else is
 * plain HTTP. 0, or -1 when the connection was closed. */
static int setup(px__mitm_t *m, unsigned char first)
{
    px_conn_t *c = m->c;
    m->st = PX_M_HEAD;
    if (first != 0x16)
        return 0;
    m->tls = true;
    SSL_CTX *sx = srv_ctx(c->px);
    if (!sx || side_tls(&m->cl, sx) != 0) {
        px__conn_close(c);
        return -1;
    }
    SSL_set_app_data(m->cl.ssl, m);
    SSL_set_accept_state(m->cl.ssl);
    if (up_tls(m) != 0) {
        /* the client still gets its TLS, and a 502 for its first request */
        px__event_fail(c, m->up_err);
        m->up.plain_eof = true;
    }
    return 0;
}

static void handshake(px__mitm_t *m, bool up)
{
    px__mside_t *s = up ? &m->up : &m->cl;
    if (!s->ssl || s->hs_done || (up && m->up_err[0]))
        return;
    ERR_clear_error();
    int r = SSL_do_handshake(s->ssl);
    int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(s->ssl, r);
    flush(m, up);
    if (r == 1) {
        s->hs_done = true;
        return;
    }
    if (e == SSL_ERROR_WANT_READ && !s->sock_eof)
        return;
    if (!up) { /* the client gave up (an untrusted CA...) or was refused (SNI) */
        if (m->cl_err[0])
            px__mitm_event_refuse(m, m->cl_err);
        px__conn_close(m->c);
        return;
    }
    long v = SSL_get_verify_result(s->ssl);
    if (v != X509_V_OK)
        snprintf(m->up_err, sizeof m->up_err,
                 "upstream TLS certificate of %.200s failed verification: %s", m->c->host_asked,
                 X509_verify_cert_error_string(v));
    else if (s->sock_eof)
        snprintf(m->up_err, sizeof m->up_err, "upstream %.200s closed during the TLS handshake",
                 m->c->host_asked);
    else
        ssl_err_text("upstream TLS handshake failed", m->up_err, sizeof m->up_err);
    s->plain_eof = true;
    px__event_fail(m->c, m->up_err);
}

static void pump(px__mitm_t *m)
{
    px_conn_t *c = m->c;
    if (c->closing || m->st == PX_M_PEEK || m->st == PX_M_ENDING) {
        if (!c->closing)
            flow(m);
        return;
    }
    if (m->tls) {
        handshake(m, false);
        if (c->closing)
            return;
        handshake(m, true);
    }
    px__mitm_http_step(m);
    if (!c->closing)
        flow(m);
}

/* ---- reads ----------------------------------------------------------------------------- */

static void side_put(px__mside_t *s, const char *p, size_t n)
{
    if (s->ssl)
        BIO_write(s->rbio, p, (int)n);
    else
        ocsf_buf_put(&s->raw, p, n);
}

static void side_eof(px__mitm_t *m, bool up)
{
    px__mside_t *s = up ? &m->up : &m->cl;
    s->sock_eof = true;
    if (s->ssl)
        BIO_set_mem_eof_return(s->rbio, 0);
    set_reading(m, up, false);
}

/* Bytes from the client (also those that came with the CONNECT head). */
static int client_bytes(px__mitm_t *m, const char *p, size_t n)
{
    if (m->st == PX_M_PEEK && setup(m, (unsigned char)p[0]) != 0)
        return -1;
    side_put(&m->cl, p, n);
    return 0;
}

static void on_cl_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    px_conn_t *c = st->data;
    px__mitm_t *m = c->mitm;
    uv_timer_again(&c->timer);
    int rc = 0;
    if (n > 0)
        rc = client_bytes(m, buf->base, (size_t)n);
    else if (n < 0 && m->st == PX_M_PEEK)
        rc = (px__conn_close(c), -1); /* left before saying anything */
    else if (n < 0)
        side_eof(m, false);
    free(buf->base);
    if (n != 0 && rc == 0)
        pump(m);
}

static void on_up_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    px_conn_t *c = st->data;
    px__mitm_t *m = c->mitm;
    uv_timer_again(&c->timer);
    if (n > 0) {
        c->bytes_in += (size_t)n;
        side_put(&m->up, buf->base, (size_t)n);
    } else if (n < 0) {
        side_eof(m, true);
    }
    free(buf->base);
    if (n != 0)
        pump(m);
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

void px__mitm_start(px_conn_t *c)
{
    static const char ok[] = "HTTP/1.1 200 Connection Established\r\n\r\n";
    px__mitm_t *m = calloc(1, sizeof *m);
    if (!m)
        abort();
    m->c = c;
    c->mitm = m;
    c->phase = PX_RELAY;
    m->st = PX_M_PEEK;
    m->cl.hs_done = m->up.hs_done = true; /* until TLS says otherwise */
    px__frame_init(&m->f, (size_t)c->px->cfg.max_head);
    uv_tcp_nodelay(c->up, 1);
    mwreq_t *r = wreq_new(sizeof ok - 1);
    memcpy(r->data, ok, sizeof ok - 1);
    if (write_req(m, false, r, sizeof ok - 1) != 0) {
        px__conn_close(c);
        return;
    }
    uint64_t idle = (uint64_t)c->px->cfg.idle_timeout_ms;
    uv_timer_start(&c->timer, px__on_timer, idle, idle); /* reset by every read */
    if (c->rest.len) {                                   /* bytes that came with the CONNECT head */
        ocsf_buf_t first = c->rest;
        ocsf_buf_init(&c->rest);
        int rc = client_bytes(m, first.p, first.len);
        ocsf_buf_dispose(&first);
        if (rc != 0)
            return;
    }
    pump(m);
}

void px__mitm_finish(px__mitm_t *m)
{
    px_conn_t *c = m->c;
    if (m->st == PX_M_ENDING || c->closing)
        return;
    m->st = PX_M_ENDING;
    set_reading(m, false, false);
    set_reading(m, true, false);
    if (m->cl.ssl && m->cl.hs_done) {
        ERR_clear_error();
        SSL_shutdown(m->cl.ssl); /* close_notify */
        flush(m, false);
    }
    px__shutdown_client(c);
}

void px__mitm_closing(px_conn_t *c)
{
    if (c->mitm)
        px__mitm_http_close(c->mitm);
}

void px__mitm_free(px_conn_t *c)
{
    px__mitm_t *m = c->mitm;
    if (!m)
        return;
    SSL_free(m->cl.ssl); /* frees its BIOs */
    SSL_free(m->up.ssl);
    ocsf_buf_dispose(&m->cl.raw);
    ocsf_buf_dispose(&m->up.raw);
    ocsf_buf_dispose(&m->cin);
    ocsf_buf_dispose(&m->uin);
    ocsf_buf_dispose(&m->path);
    ocsf_buf_dispose(&m->query);
    px__frame_dispose(&m->f);
    free(m);
    c->mitm = NULL;
}
