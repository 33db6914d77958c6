/*
 * server.c: the proxy's listener and connections: accept (with a cap),
 * read the request head with http-parser (bounded, timed), hand it to
 * decide.c, write refusals, close. A kept-alive connection comes back here
 * for each next request head (px__head_begin).
 *
 * A connection is freed when its last libuv handle has closed (client,
 * upstream, timer) and no threadpool or DNS work is in flight.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "proxy/px_internal.h"

#include "gateway/gateway.h" /* gw_parse_listen */

int64_t px__now_ms(void)
{
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    return tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

void px__conn_maybe_free(px_conn_t *c)
{
    if (c->handles > 0 || c->work_busy || c->gai_busy)
        return;
    px_t *p = c->px;
    if (c->prev)
        c->prev->next = c->next;
    else
        p->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    ocsf_buf_dispose(&c->url);
    ocsf_buf_dispose(&c->hdrs);
    ocsf_buf_dispose(&c->rest);
    ocsf_buf_dispose(&c->path);
    px__mitm_free(c);
    px_cidrs_dispose(&c->allowed_ips);
    if (c->ai)
        uv_freeaddrinfo(c->ai);
    free(c->ident);
    free(c);
    p->st.active--;
    p->open--;
}

static void on_handle_closed(uv_handle_t *h)
{
    px_conn_t *c = h->data;
    c->handles--;
    px__conn_maybe_free(c);
}

static void on_up_closed(uv_handle_t *h)
{
    px_conn_t *c = h->data;
    free(h);
    c->handles--;
    px__conn_maybe_free(c);
}

void px__up_close(px_conn_t *c)
{
    if (!c->up)
        return;
    px__splice_close(c); /* no poll may outlive the socket it splices */
    uv_close((uv_handle_t *)c->up, on_up_closed);
    c->up = NULL;
    c->up_gen++;
}

void px__conn_close(px_conn_t *c)
{
    if (c->closing)
        return;
    c->closing = true;
    c->phase = PX_CLOSING;
    px__event_http(c);   /* a forwarded request that ends without a response head */
    px__mitm_closing(c); /* an intercepted request in flight: its event */
    px__splice_close(c); /* a spliced tunnel's pipes and polls */
    if (c->opened_event)
        px__event_close(c);
    uv_close((uv_handle_t *)&c->client, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    px__up_close(c);
    if (c->gai_busy)
        uv_cancel((uv_req_t *)&c->gai);
    px__conn_maybe_free(c);
}

typedef struct {
    uv_write_t w;
    px_conn_t *c;
    char data[];
} refusal_t;

static void on_refusal_written(uv_write_t *w, int status)
{
    refusal_t *r = (refusal_t *)w;
    (void)status;
    px__conn_close(r->c);
    free(r);
}

/* The longest reason put in a header or the status line; the JSON body
 * has it whole. */
#define PX__REASON_HDR_MAX 300

/* `s` as header text (RFC 9110 5.5 field-value, reason-phrase): printable
 * ASCII kept, a backslash and every other byte (CR, LF, controls, UTF-8)
 * as \xNN, so a hostname cannot end the line or add a header; cut at
 * PX__REASON_HDR_MAX bytes of input with "...". */
static void put_header_text(ocsf_buf_t *out, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(s);
    for (size_t i = 0; i < n && i < PX__REASON_HDR_MAX; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '\\') {
            ocsf_buf_putc(out, (char)ch);
            continue;
        }
        char e[4] = {'\\', 'x', hex[ch >> 4], hex[ch & 15]};
        ocsf_buf_put(out, e, sizeof e);
    }
    if (n > PX__REASON_HDR_MAX)
        ocsf_buf_puts(out, "...");
}

void px__refusal(ocsf_buf_t *out, int status, const char *error, const char *detail,
                 const char *reason, bool close)
{
    static const struct {
        int code;
        const char *text;
    } st[] = {{400, "Bad Request"},     {403, "Forbidden"},
              {408, "Request Timeout"}, {431, "Request Header Fields Too Large"},
              {502, "Bad Gateway"},     {503, "Service Unavailable"}};
    const char *text = "Error";
    for (size_t i = 0; i < sizeof st / sizeof st[0]; i++)
        if (st[i].code == status)
            text = st[i].text;
    ocsf_buf_t body;
    ocsf_buf_init(&body);
    ocsf_buf_puts(&body, "{\"error\":");
    ocsf_json_escape(&body, error, strlen(error));
    if (detail) {
        ocsf_buf_puts(&body, ",\"detail\":");
        ocsf_json_escape(&body, detail, strlen(detail));
    }
    if (reason) {
        ocsf_buf_puts(&body, ",\"reason\":");
        ocsf_json_escape(&body, reason, strlen(reason));
    }
    ocsf_buf_puts(&body, "}\n");
    /* why, where a client that shows only the head (curl -I, a browser's
     * network tab) sees it: the reason phrase and X-Tollgate-Reason */
    const char *why = reason ? reason : detail;
    ocsf_buf_puts(out, "HTTP/1.1 ");
    ocsf_buf_put_i64(out, status);
    ocsf_buf_putc(out, ' ');
    ocsf_buf_puts(out, text);
    if (why) {
        ocsf_buf_puts(out, " (");
        put_header_text(out, why);
        ocsf_buf_putc(out, ')');
    }
    ocsf_buf_puts(out, "\r\nContent-Type: application/json\r\n");
    if (why) {
        ocsf_buf_puts(out, "X-Tollgate-Reason: ");
        put_header_text(out, why);
        ocsf_buf_puts(out, "\r\n");
    }
    ocsf_buf_puts(out, "Content-Length: ");
    ocsf_buf_put_i64(out, (int64_t)body.len);
    ocsf_buf_puts(out, close ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n");
    ocsf_buf_put(out, body.p, body.len);
    ocsf_buf_dispose(&body);
}

void px__refuse(px_conn_t *c, int status, const char *error, const char *detail, const char *reason)
{
    if (c->closing || c->phase == PX_REFUSE)
        return;
    c->phase = PX_REFUSE;
    uv_read_stop((uv_stream_t *)&c->client);
    ocsf_buf_t out;
    ocsf_buf_init(&out);
    px__refusal(&out, status, error, detail, reason, true);
    refusal_t *r = malloc(sizeof *r + out.len);
    if (!r)
        abort();
    memcpy(r->data, out.p, out.len);
    r->c = c;
    uv_buf_t b = uv_buf_init(r->data, (unsigned)out.len);
    if (uv_write(&r->w, (uv_stream_t *)&c->client, &b, 1, on_refusal_written) != 0) {
        free(r);
        px__conn_close(c);
    }
    ocsf_buf_dispose(&out);
}

/* ---- the request head ------------------------------------------------------------- */

static int on_url(http_parser *hp, const char *at, size_t n)
{
    px_conn_t *c = hp->data;
    if (c->url.len + n > PX__MAX_URL)
        return -1;
    ocsf_buf_put(&c->url, at, n);
    return 0;
}

static int on_hfield(http_parser *hp, const char *at, size_t n)
{
    px_conn_t *c = hp->data;
    if (c->in_value || c->nhdrs == 0) {
        if (c->nhdrs && c->in_value)
            ocsf_buf_putc(&c->hdrs, '\0');
        c->nhdrs++;
        c->in_value = false;
    }
    ocsf_buf_put(&c->hdrs, at, n);
    return 0;
}

static int on_hvalue(http_parser *hp, const char *at, size_t n)
{
    px_conn_t *c = hp->data;
    if (!c->in_value) {
        ocsf_buf_putc(&c->hdrs, '\0');
        c->in_value = true;
    }
    ocsf_buf_put(&c->hdrs, at, n);
    return 0;
}

static int on_headers_complete(http_parser *hp)
{
    px_conn_t *c = hp->data;
    if (c->nhdrs)
        ocsf_buf_putc(&c->hdrs, '\0');
    c->head_done = true;
    snprintf(c->method, sizeof c->method, "%s", http_method_str(hp->method));
    c->is_connect = hp->method == HTTP_CONNECT;
    c->client_ka = http_should_keep_alive(hp) != 0;
    http_parser_pause(hp, 1);
    return 0;
}

static const http_parser_settings head_settings = {
    .on_url = on_url,
    .on_header_field = on_hfield,
    .on_header_value = on_hvalue,
    .on_headers_complete = on_headers_complete,
};

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h;
    (void)hint;
    buf->base = malloc(65536);
    buf->len = buf->base ? 65536 : 0;
}

/* False when a header name holds whitespace ("Transfer-Encoding : chunked"):
 * RFC 9112 5.1 says 400, since servers disagree on what such a field is. */
static bool header_names_clean(const px_conn_t *c)
{
    const char *h = c->hdrs.p;
    for (size_t i = 0; h && i < c->nhdrs; i++) {
        const char *value = h + strlen(h) + 1;
        if (strpbrk(h, " \t") || !*h)
            return false;
        h = value + strlen(value) + 1;
    }
    return true;
}

/* Feeds bytes of a request head. 1: the head is complete (what follows it
 * is in c->rest, the decision has started); -1: refused; 0: more needed. */
static int head_feed(px_conn_t *c, const char *data, size_t n)
{
    size_t done = http_parser_execute(&c->parser, &head_settings, data, n);
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    c->head_bytes += c->head_done ? done : n;
    if (c->head_bytes > (size_t)c->px->cfg.max_head) {
        px__refuse(c, 431, "head_too_large", "the request head is over the proxy's limit", NULL);
        return -1;
    }
    if (e != HPE_OK && e != HPE_PAUSED) {
        px__refuse(c, e == HPE_CB_url ? 431 : 400, "bad_request", http_errno_description(e), NULL);
        return -1;
    }
    if (!c->head_done)
        return 0;
    if (!header_names_clean(c)) {
        px__refuse(c, 400, "bad_request", "whitespace in a header name (RFC 9112 5.1)", NULL);
        return -1;
    }
    /* paused in on_headers_complete, http-parser has not consumed the LF
     * that ends the head (it is always the next byte): it is not the
     * tunnel's or the body's (relay.c feeds the parser one LF to resume) */
    if (done < n && data[done] == '\n')
        done++;
    ocsf_buf_put(&c->rest, data + done, n - done);
    uv_read_stop((uv_stream_t *)&c->client);
    uv_timer_stop(&c->timer);
    c->phase = PX_DECIDE;
    px__decide(c);
    return 1;
}

static void on_head_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    px_conn_t *c = s->data;
    if (n < 0) {
        free(buf->base);
        px__conn_close(c);
        return;
    }
    if (n > 0 && c->head_bytes == 0 && c->nreq > 1) /* a kept-alive connection's next head */
        uv_timer_start(&c->timer, px__on_timer, (uint64_t)c->px->cfg.head_timeout_ms, 0);
    head_feed(c, buf->base, (size_t)n);
    free(buf->base);
}

/* The state of one request, for the next one on a kept-alive connection. */
static void request_reset(px_conn_t *c)
{
    c->head_bytes = 0;
    c->head_done = c->in_value = false;
    c->url.len = c->hdrs.len = c->path.len = 0;
    c->nhdrs = 0;
    c->method[0] = c->host_asked[0] = c->host[0] = c->ip[0] = '\0';
    c->is_connect = c->host_is_ip = false;
    c->port = 0;
    free(c->ident);
    c->ident = NULL;
    c->ident_rc = 0;
    c->ident_reason[0] = '\0';
    memset(&c->dec, 0, sizeof c->dec);
    c->rule[0] = '\0';
    px_cidrs_dispose(&c->allowed_ips);
    if (c->ai)
        uv_freeaddrinfo(c->ai);
    c->ai = c->ai_next = NULL;
    c->bytes_in = c->bytes_out = 0;
    c->client_eof = c->up_eof = c->opened_event = false;
    c->resp_status = 0;
    c->client_ka = c->req_done = c->resp_done = c->resp_started = c->http_pending = false;
    c->reused = c->replayable = c->retried = c->retrying = c->resp_extra = false;
    c->resp_body_cl = false;
}

void px__head_begin(px_conn_t *c)
{
    px_t *p = c->px;
    if (c->nreq++ > 0)
        request_reset(c);
    c->phase = PX_HEAD;
    c->start_ms = px__now_ms();
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    bool waiting = c->nreq > 1 && c->rest.len == 0;
    uv_timer_start(&c->timer, px__on_timer,
                   (uint64_t)(waiting ? p->cfg.idle_timeout_ms : p->cfg.head_timeout_ms), 0);
    if (c->rest.len) { /* pipelined: the next head came with the last request */
        ocsf_buf_t pending = c->rest;
        ocsf_buf_init(&c->rest);
        int rc = head_feed(c, pending.p, pending.len);
        ocsf_buf_dispose(&pending);
        if (rc != 0)
            return;
    }
    uv_read_start((uv_stream_t *)&c->client, alloc_cb, on_head_read);
}

void px__on_timer(uv_timer_t *t)
{
    px_conn_t *c = t->data;
    if (c->phase == PX_HEAD && c->head_bytes == 0 && c->nreq > 1)
        px__conn_close(c); /* a kept-alive connection, idle between requests */
    else if (c->phase == PX_HEAD)
        px__refuse(c, 408, "timeout", "the request head did not arrive in time", NULL);
    else
        px__conn_close(c); /* an idle tunnel, or a response that does not end */
}

static void on_connection(uv_stream_t *ls, int status)
{
    px_t *p = ls->data;
    if (status < 0 && !p->closing) { /* EMFILE, ENFILE: libuv dropped it with its reserve fd */
        p->accept_failed++;
        uint64_t now = uv_now(p->loop);
        if (!p->last_accept_log_ms || now - p->last_accept_log_ms >= 60000) {
            p->last_accept_log_ms = now;
            fprintf(stderr, "[proxy] accept failed: %s (%llu so far); connections refused\n",
                    uv_strerror(status), (unsigned long long)p->accept_failed);
        }
    }
    if (status < 0 || p->closing)
        return;
    px_conn_t *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->px = p;
    uv_tcp_init(p->loop, &c->client);
    uv_timer_init(p->loop, &c->timer);
    c->client.data = c->timer.data = c;
    c->handles = 2;
    c->next = p->conns;
    if (p->conns)
        p->conns->prev = c;
    p->conns = c;
    p->open++;
    p->st.conns++;
    p->st.active++;
    if (uv_accept(ls, (uv_stream_t *)&c->client) != 0 ||
        p->st.active > (uint64_t)p->cfg.max_conns) {
        px__conn_close(c);
        return;
    }
    int len = sizeof c->peer;
    uv_tcp_getpeername(&c->client, (struct sockaddr *)&c->peer, &len);
    len = sizeof c->local;
    uv_tcp_getsockname(&c->client, (struct sockaddr *)&c->local, &len);
    uv_tcp_nodelay(&c->client, 1);
    px__head_begin(c);
}

/* ---- lifecycle ------------------------------------------------------------------- */

#define O(f) offsetof(px_config_t, f)
const conf_option_t px_options[] = {
    {"proxy.listen", CONF_STRING, "127.0.0.1:3128", 0, 0, NULL, O(listen),
     "the proxy's address (HTTP_PROXY / HTTPS_PROXY point here)"},
    {"proxy.sandbox", CONF_STRING, "default", 0, 0, NULL, O(sandbox),
     "the sandbox whose policy the proxy enforces and whose name its events carry"},
    {"proxy.max_connections", CONF_INT, "4096", 1, 1000000, NULL, O(max_conns),
     "connections at once; more are closed on accept"},
    {"proxy.max_head", CONF_BYTES, "8KiB", 1024, 1 << 20, NULL, O(max_head),
     "request line + headers; over: 431"},
    {"proxy.head_timeout", CONF_DURATION, "10s", 100, 600000, NULL, O(head_timeout_ms),
     "a request head must arrive within this"},
    {"proxy.idle_timeout", CONF_DURATION, "5m", 1000, 86400000, NULL, O(idle_timeout_ms),
     "a tunnel or forwarded exchange with no traffic either way, or a kept-alive "
     "connection with no next request, is closed"},
    {"proxy.require_binary_identity", CONF_INT, "1", 0, 1, NULL, O(require_identity),
     "1: a caller whose binary cannot be named is denied; 0: endpoint-only decisions"},
    {"proxy.test_allow_loopback", CONF_INT, "0", 0, 1, NULL, O(test_allow_loopback),
     "TESTS ONLY: let the SSRF guard pass loopback upstreams"},
    {"proxy.log_query_values", CONF_INT, "0", 0, 1, NULL, O(log_query_values),
     "1: URL query values are kept in events and lines; 0: each value is <redacted> (keys "
     "kept), so secrets in URLs never reach the trail"},
    {"proxy.upstream_ca", CONF_STRING, NULL, 0, 0, NULL, O(upstream_ca),
     "a PEM file of extra CAs trusted, besides the system store, for the upstream TLS of "
     "intercepted tunnels (private CAs, tests); unset: the system store only"},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL},
};

void px_config_default(px_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    conf_defaults(px_options, cfg);
}

void px_config_dispose(px_config_t *cfg)
{
    conf_dispose(px_options, cfg);
}

static void emit_listen(px_t *p)
{
    ocsf_event_t ev;
    static const ocsf_product_t prod = {OCSF_STR("tollgate-proxy"), OCSF_STR(TOLLGATE_VENDOR),
                                        OCSF_STR(TOLLGATE_VERSION)};
    ocsf_event_init(&ev);
    ocsf_event_begin(&ev, OCSF_CLASS_NETWORK, OCSF_NET_LISTEN, OCSF_SEV_INFO, px__now_ms(), &prod);
    ev.log_name = OCSF_STR("sandbox");
    ev.device_hostname = ocsf_str(p->hooks.hostname ? p->hooks.hostname : "localhost");
    ev.device_type_id = 0;
    ev.container_name = ocsf_str(p->hooks.sandbox_name);
    ev.container_uid = ocsf_str(p->hooks.sandbox_uid);
    ev.src.ip = ocsf_str(p->host);
    ev.src.port = p->port;
    ev.status_id = OCSF_STATUS_SUCCESS;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    ev.actor.pid = getpid();
    ev.actor.name = OCSF_STR("tollgate");
    ocsf_process_set_file(&ev.actor, ocsf_str(exe), OCSF_NOSTR);
    p->hooks.emit(p->hooks.ctx, &ev);
}

static void on_failed_listener_closed(uv_handle_t *h)
{
    px_t *p = h->data;
    px_ident_cache_destroy(p->idcache);
    px__mitm_px_free(p);
    free(p);
}

static void on_listener_closed(uv_handle_t *h)
{
    px_t *p = h->data;
    p->open--;
}

/* splice(2) into a socket whose peer left raises SIGPIPE (as write(2)
 * does): the error must come back as EPIPE instead. */
static void ignore_sigpipe(void)
{
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, NULL);
    }
}

/* The proxy's switches in the environment (tests and benchmarks) are 0 or
 * 1; anything else is refused by name rather than read as "not 0". */
static int check_env_switches(char *err, size_t errlen)
{
    static const char *const names[] = {"TOLLGATE_PROXY_SPLICE", "TOLLGATE_IDENT_BPF",
                                        "TOLLGATE_IDENT_FULL_SCAN"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const char *v = getenv(names[i]);
        if (v != NULL && strcmp(v, "0") != 0 && strcmp(v, "1") != 0) {
            snprintf(err, errlen, "%s: set to something other than 0 or 1", names[i]);
            return -EINVAL;
        }
    }
    return 0;
}

int px_create(uv_loop_t *loop, const px_config_t *cfg, const px_hooks_t *hooks, px_t **out,
              char *err, size_t errlen)
{
    px_t *p = calloc(1, sizeof *p);
    struct sockaddr_storage ss;
    int rc;
    if (!p)
        return -ENOMEM;
    p->loop = loop;
    p->cfg = *cfg;
    p->hooks = *hooks;
    if (gw_parse_listen(cfg->listen, p->host, sizeof p->host, &p->port) != 0) {
        snprintf(err, errlen, "proxy.listen: '%s' is not HOST:PORT", cfg->listen);
        free(p);
        return -EINVAL;
    }
    if (uv_ip4_addr(p->host, p->port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(p->host, p->port, (struct sockaddr_in6 *)&ss) != 0) {
        snprintf(err, errlen, "proxy.listen: '%s' is not an IP address", p->host);
        free(p);
        return -EINVAL;
    }
    if ((rc = px__mitm_check_config(p, err, errlen)) != 0 || /* a setting is used or refused */
        (rc = check_env_switches(err, errlen)) != 0) {
        free(p);
        return rc;
    }
    const char *sp = getenv("TOLLGATE_PROXY_SPLICE");
    p->no_splice = sp && strcmp(sp, "0") == 0;
    ignore_sigpipe();
    p->idcache = px_ident_cache_create();
    if (p->idcache != NULL)
        px_ident_cache_set_cgroup(p->idcache, cfg->client_cgroup);
    uv_tcp_init(loop, &p->listener);
    p->listener.data = p;
    p->open = 1;
    if ((rc = uv_tcp_bind(&p->listener, (struct sockaddr *)&ss, 0)) != 0 ||
        (rc = uv_listen((uv_stream_t *)&p->listener, 511, on_connection)) != 0) {
        snprintf(err, errlen, "listen %s: %s", cfg->listen, uv_strerror(rc));
        p->closing = true;
        /* freed by the close callback, once the caller's loop runs it */
        uv_close((uv_handle_t *)&p->listener, on_failed_listener_closed);
        return rc;
    }
    int len = sizeof ss;
    uv_tcp_getsockname(&p->listener, (struct sockaddr *)&ss, &len);
    p->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                            : ((struct sockaddr_in6 *)&ss)->sin6_port);
    emit_listen(p);
    *out = p;
    return 0;
}

int px_port(const px_t *p)
{
    return p->port;
}

void px_stats(const px_t *p, px_stats_t *st)
{
    *st = p->st;
    px_ident_cache_stats_t is;
    px_ident_cache_stats(p->idcache, &is);
    st->ident_bpf = is.bpf;
    st->ident_bpf_runs = is.bpf_runs;
    st->ident_proc_scans = is.scans - is.bpf_runs;
    st->ident_cgroup_fast = is.cgroup_fast;
    st->splice_tunnels = p->splice_tunnels;
    st->splice_bodies = p->splice_bodies;
    st->splice_fallbacks = p->splice_fallbacks;
    st->upstream_reused = p->pool_hits;
}

static void free_when_closed(uv_idle_t *idle)
{
    px_t *p = idle->data;
    if (p->open > 0)
        return;
    uv_idle_stop(idle);
    uv_close((uv_handle_t *)idle, (uv_close_cb)free);
    px_ident_cache_destroy(p->idcache);
    px__mitm_px_free(p);
    while (p->nbufs)
        free(p->bufs[--p->nbufs]);
    free(p);
}

void px_destroy(px_t *p)
{
    if (!p)
        return;
    p->closing = true;
    uv_close((uv_handle_t *)&p->listener, on_listener_closed);
    px__pool_close_all(p);
    for (px_conn_t *c = p->conns, *next; c; c = next) {
        next = c->next;
        px__conn_close(c);
    }
    uv_idle_t *idle = malloc(sizeof *idle);
    if (!idle)
        return;
    uv_idle_init(p->loop, idle);
    idle->data = p;
    uv_idle_start(idle, free_when_closed);
}
