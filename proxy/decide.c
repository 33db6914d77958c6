/*
 * decide.c: from a complete request head to a connected upstream, or a
 * refusal: target → who is calling (threadpool) → pinned hash → policy →
 * DNS (uv_getaddrinfo) → SSRF guard on each address → dial. One event per
 * decision: for a forwarded request that is its HTTP:<METHOD> event, which,
 * when allowed, waits for the response head to carry the status.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/bypass.h"
#include "proxy/px_internal.h"

static const ocsf_product_t product = {OCSF_STR("tollgate-proxy"), OCSF_STR(TOLLGATE_VENDOR),
                                       OCSF_STR(TOLLGATE_VERSION)};

/* ---- events ------------------------------------------------------------------------ */

static void sockaddr_text(const struct sockaddr_storage *ss, char *ip, size_t n, int64_t *port)
{
    ip[0] = '\0';
    *port = OCSF_NONE;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const void *)ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, (socklen_t)n);
        *port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const void *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, (socklen_t)n);
        *port = ntohs(a->sin6_port);
    }
}

/* The parts every event of this connection has. */
void px__event_base(px_conn_t *c, ocsf_event_t *ev, int cls, int act, int sev, px__evbufs_t *b)
{
    px_t *p = c->px;
    ocsf_event_init(ev);
    ocsf_event_begin(ev, cls, act, sev, px__now_ms(), &product);
    ev->log_name = OCSF_STR("sandbox");
    ev->device_hostname = ocsf_str(p->hooks.hostname ? p->hooks.hostname : "localhost");
    ev->device_type_id = 0;
    ev->container_name = ocsf_str(p->hooks.sandbox_name);
    ev->container_uid = ocsf_str(p->hooks.sandbox_uid);
    sockaddr_text(&c->peer, b->src_ip, sizeof b->src_ip, &ev->src.port);
    ev->src.ip = *b->src_ip ? ocsf_str(b->src_ip) : OCSF_NOSTR;
    sockaddr_text(&c->local, b->proxy_ip, sizeof b->proxy_ip, &ev->proxy.port);
    ev->proxy.ip = *b->proxy_ip ? ocsf_str(b->proxy_ip) : OCSF_NOSTR;
    if (c->ident && c->ident_rc == 0) {
        ev->actor.pid = c->ident->pid;
        ev->actor.name = ocsf_str(c->ident->exe); /* the exe path, as OpenShell shows it */
        px_argv_redact(c->ident->cmdline, c->ident->cmdline_len, b->cmd, sizeof b->cmd);
        ev->actor.cmd_line = ocsf_str(b->cmd);
        ocsf_process_set_file(&ev->actor, ocsf_str(c->ident->exe),
                              c->ident->sha256[0] ? ocsf_str(c->ident->sha256) : OCSF_NOSTR);
    }
    ev->dst.domain = *c->host_asked ? ocsf_str(c->host_asked) : OCSF_NOSTR;
    ev->dst.ip = *c->ip ? ocsf_str(c->ip) : OCSF_NOSTR;
    ev->dst.port = c->port ? c->port : OCSF_NONE;
}

void px__event_url(px_conn_t *c, ocsf_event_t *ev, const char *method, const char *scheme,
                   ocsf_str_t path, ocsf_str_t query, ocsf_buf_t *qbuf)
{
    ev->http_method = ocsf_str(method);
    ev->url_scheme = ocsf_str(scheme);
    ev->url_hostname = ocsf_str(c->host_asked);
    ev->url_port = c->port;
    ev->url_path = path;
    ev->url_query = query;
    if (query.p && !c->px->cfg.log_query_values) { /* secrets ride in query values */
        qbuf->len = 0;
        px_query_redact(query.p, query.n, qbuf);
        ev->url_query = (ocsf_str_t){qbuf->len ? qbuf->p : "", qbuf->len};
    }
}

static void http_fields(px_conn_t *c, ocsf_event_t *ev, ocsf_buf_t *qbuf)
{
    const char *q = c->path.p ? memchr(c->path.p, '?', c->path.len) : NULL;
    ocsf_str_t path =
        c->path.p ? (ocsf_str_t){c->path.p, q ? (size_t)(q - c->path.p) : c->path.len} : OCSF_NOSTR;
    ocsf_str_t query =
        q ? (ocsf_str_t){q + 1, c->path.len - (size_t)(q + 1 - c->path.p)} : OCSF_NOSTR;
    px__event_url(c, ev, c->method, "http", path, query, qbuf);
    ev->http_status = c->resp_status > 0 ? c->resp_status : OCSF_NONE; /* what the client got */
}

void px__event_open(px_conn_t *c, bool allowed, const char *engine, const char *reason)
{
    ocsf_event_t ev;
    px__evbufs_t b;
    int cls = c->is_connect ? OCSF_CLASS_NETWORK : OCSF_CLASS_HTTP;
    int act = c->is_connect ? OCSF_NET_OPEN : ocsf_http_activity(ocsf_str(c->method));
    if (!c->is_connect && act == OCSF_OTHER)
        act = OCSF_OTHER;
    ocsf_buf_t qbuf;
    ocsf_buf_init(&qbuf);
    px__event_base(c, &ev, cls, act, OCSF_SEV_INFO, &b);
    if (!c->is_connect)
        http_fields(c, &ev, &qbuf);
    ocsf_event_verdict(&ev, allowed, c->dec.rule ? ocsf_str(c->dec.rule) : OCSF_NOSTR,
                       ocsf_str(engine), reason ? ocsf_str(reason) : OCSF_NOSTR);
    if (allowed) {
        c->opened_event = true;
        c->px->st.allowed++;
    } else {
        c->px->st.denied++;
    }
    c->px->hooks.emit(c->px->hooks.ctx, &ev);
    ocsf_buf_dispose(&qbuf);
}

void px__event_http(px_conn_t *c)
{
    if (!c->http_pending)
        return;
    c->http_pending = false;
    px__event_open(c, true, "policy", NULL);
}

void px__event_close(px_conn_t *c)
{
    ocsf_event_t ev;
    px__evbufs_t b;
    px__event_base(c, &ev, OCSF_CLASS_NETWORK, OCSF_NET_CLOSE, OCSF_SEV_INFO, &b);
    ocsf_event_verdict(&ev, true, c->dec.rule ? ocsf_str(c->dec.rule) : OCSF_NOSTR,
                       OCSF_STR("policy"), OCSF_NOSTR);
    ev.start_time = c->start_ms;
    ev.end_time = px__now_ms();
    ev.duration = ev.end_time - ev.start_time;
    ev.bytes_in = (int64_t)c->bytes_in;
    ev.bytes_out = (int64_t)c->bytes_out;
    c->px->st.bytes_in += c->bytes_in;
    c->px->st.bytes_out += c->bytes_out;
    c->px->hooks.emit(c->px->hooks.ctx, &ev);
}

void px__event_fail(px_conn_t *c, const char *reason)
{
    ocsf_event_t ev;
    px__evbufs_t b;
    px__event_base(c, &ev, OCSF_CLASS_NETWORK, OCSF_NET_FAIL, OCSF_SEV_LOW, &b);
    ocsf_event_verdict(&ev, true, c->dec.rule ? ocsf_str(c->dec.rule) : OCSF_NOSTR,
                       OCSF_STR("policy"), OCSF_NOSTR);
    ev.status_id = OCSF_STATUS_FAILURE;
    ev.status_detail = ocsf_str(reason);
    c->px->st.failed++;
    c->px->hooks.emit(c->px->hooks.ctx, &ev);
}

static void event_finding(px_conn_t *c, const char *uid, const char *title, const char *detail,
                          const char *unmapped)
{
    ocsf_event_t ev;
    px__evbufs_t b;
    px__event_base(c, &ev, OCSF_CLASS_FINDING, OCSF_FINDING_CREATE, OCSF_SEV_HIGH, &b);
    const ocsf_endpoint_t none = {.port = OCSF_NONE}; /* 2004 has no endpoints */
    ev.src = ev.dst = ev.proxy = none;
    ev.finding_uid = ocsf_str(uid);
    ev.finding_type = ocsf_str(uid);
    ev.finding_title = ocsf_str(title);
    ev.confidence_id = OCSF_CONF_HIGH;
    ev.status_id = OCSF_FSTATUS_NEW;
    ev.message = ocsf_str(detail);
    ev.unmapped = unmapped ? ocsf_str(unmapped) : OCSF_NOSTR;
    c->px->hooks.emit(c->px->hooks.ctx, &ev);
}

static void deny(px_conn_t *c, const char *engine, const char *error, const char *reason)
{
    char detail[600];
    if (c->is_connect)
        snprintf(detail, sizeof detail, "CONNECT %.255s:%u not permitted by %s", c->host_asked,
                 c->port, !strcmp(engine, "ssrf") ? "the SSRF guard" : "policy");
    else
        snprintf(detail, sizeof detail, "%s %.255s:%u not permitted by %s", c->method,
                 c->host_asked, c->port, !strcmp(engine, "ssrf") ? "the SSRF guard" : "policy");
    c->resp_status = 403;
    px__event_open(c, false, engine, reason);
    px__refuse(c, 403, error, detail, reason);
}

/* ---- the target ---------------------------------------------------------------------- */

/* CONNECT host:port, or an absolute http:// URL. 0, or a refusal sent. */
static int parse_target(px_conn_t *c)
{
    struct http_parser_url u;
    const char *url = ocsf_buf_cstr(&c->url);
    char host[sizeof c->host_asked];
    http_parser_url_init(&u);
    if (http_parser_parse_url(url, c->url.len, c->is_connect, &u) != 0 ||
        !(u.field_set & (1 << UF_HOST))) {
        px__refuse(c, 400, "bad_request",
                   c->is_connect ? "CONNECT needs host:port"
                                 : "this is a proxy: use an absolute http:// URL or CONNECT",
                   NULL);
        return -1;
    }
    if (!c->is_connect) {
        const char *sch = url + u.field_data[UF_SCHEMA].off;
        size_t sl = u.field_data[UF_SCHEMA].len;
        if (!(u.field_set & (1 << UF_SCHEMA)) || sl != 4 || strncasecmp(sch, "http", 4) != 0) {
            px__refuse(c, 400, "bad_request",
                       sl == 5 && !strncasecmp(sch, "https", 5)
                           ? "https:// in absolute form: use CONNECT"
                           : "only http:// URLs are forwarded",
                       NULL);
            return -1;
        }
        const char *path = u.field_set & (1 << UF_PATH) ? url + u.field_data[UF_PATH].off : "/";
        size_t pl = u.field_set & (1 << UF_PATH) ? u.field_data[UF_PATH].len : 1;
        ocsf_buf_put(&c->path, path, pl);
        if (u.field_set & (1 << UF_QUERY)) {
            ocsf_buf_putc(&c->path, '?');
            ocsf_buf_put(&c->path, url + u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len);
        }
    }
    size_t hl = u.field_data[UF_HOST].len;
    if (hl >= sizeof host || !(u.field_set & (1 << UF_PORT) || !c->is_connect)) {
        px__refuse(c, 400, "bad_request",
                   c->is_connect ? "CONNECT needs host:port" : "the host is too long", NULL);
        return -1;
    }
    memcpy(host, url + u.field_data[UF_HOST].off, hl);
    host[hl] = '\0';
    c->port = u.field_set & (1 << UF_PORT) ? u.port : 80;
    memcpy(c->host_asked, host, hl + 1);
    if (c->port == 0 ||
        px_host_normalize(host, c->host, sizeof c->host, &c->host_is_ip, &c->host_addr) != 0) {
        px__refuse(c, 400, "bad_request", "not a valid host:port", NULL);
        return -1;
    }
    return 0;
}

/* ---- dialling -------------------------------------------------------------------------- */

static void dial_next(px_conn_t *c);

static void on_connected(uv_connect_t *req, int status)
{
    px_conn_t *c = req->data;
    if (c->closing || status == UV_ECANCELED)
        return;
    if (status == 0) {
        if (c->is_connect && c->inspect) {
            px__event_open(c, true, "policy", NULL);
            px__mitm_start(c); /* TLS terminated, every request decided (mitm.c) */
            return;
        }
        if (c->is_connect) {
            px__event_open(c, true, "policy", NULL);
        } else {
            /* HTTP:<METHOD> waits for the response head and its status
             * (px__event_http); this upstream gets its NET:CLOSE */
            c->http_pending = true;
            c->opened_event = true;
        }
        px__relay_start(c);
        return;
    }
    /* this address failed: the next one, on a fresh handle */
    px__up_close(c);
    dial_next(c);
}

static void fail(px_conn_t *c, const char *why)
{
    char detail[400];
    snprintf(detail, sizeof detail, "connection to %.255s:%u failed", c->host_asked, c->port);
    px__event_fail(c, why);
    px__refuse(c, 502, "upstream_unreachable", detail, why);
}

static void dial_next(px_conn_t *c)
{
    char reason[256] = "no address passed the SSRF guard";
    bool blocked_any = false;
    for (; c->ai_next; c->ai_next = c->ai_next->ai_next) {
        struct addrinfo *a = c->ai_next;
        if (a->ai_family != AF_INET && a->ai_family != AF_INET6)
            continue;
        ((struct sockaddr_in *)a->ai_addr)->sin_port = htons(c->port);
        if (!px_ssrf_check(a->ai_addr, c->port, &c->allowed_ips,
                           c->px->cfg.test_allow_loopback != 0, reason, sizeof reason)) {
            blocked_any = true;
            continue;
        }
        if (a->ai_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)a->ai_addr)->sin_addr, c->ip, sizeof c->ip);
        else
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)a->ai_addr)->sin6_addr, c->ip,
                      sizeof c->ip);
        memcpy(&c->up_addr, a->ai_addr,
               a->ai_addrlen < sizeof c->up_addr ? a->ai_addrlen : sizeof c->up_addr);
        px__pool_key_t key;
        if (!c->is_connect && px__pool_key_of(c, &key) && (c->up = px__pool_take(c, &key))) {
            /* an idle upstream of the same caller, destination and address */
            c->reused = true;
            c->ai_next = a->ai_next;
            c->connect_req.data = c;
            on_connected(&c->connect_req, 0);
            return;
        }
        c->up = malloc(sizeof *c->up);
        if (!c->up)
            abort();
        uv_tcp_init(c->px->loop, c->up);
        c->up->data = c;
        c->handles++;
        c->connect_req.data = c;
        c->ai_next = a->ai_next;
        if (uv_tcp_connect(&c->connect_req, c->up, a->ai_addr, on_connected) == 0)
            return;
        px__up_close(c);
        if (!c->ai_next)
            break;
    }
    if (blocked_any && !*c->ip) {
        char title[400], unm[600];
        snprintf(title, sizeof title, "blocked a connection to an internal address for %.200s",
                 c->host_asked);
        ocsf_buf_t u;
        ocsf_buf_init(&u);
        ocsf_str_t k[] = {OCSF_STR("host"), OCSF_STR("reason")};
        ocsf_str_t v[] = {ocsf_str(c->host_asked), ocsf_str(reason)};
        ocsf_unmapped_build(&u, k, v, 2);
        snprintf(unm, sizeof unm, "%.*s", (int)(u.len < sizeof unm - 1 ? u.len : 0), u.p);
        ocsf_buf_dispose(&u);
        event_finding(c, "ssrf_attempt", title, reason, *unm ? unm : NULL);
        deny(c, "ssrf", "ssrf_denied", reason);
        return;
    }
    fail(c, *c->ip ? "connection refused or unreachable" : reason);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *ai)
{
    px_conn_t *c = req->data;
    c->gai_busy = false;
    c->ai = ai;
    c->ai_next = ai;
    if (c->closing) {
        px__conn_maybe_free(c); /* nothing is in flight any more */
        return;
    }
    if (status != 0) {
        char why[300];
        snprintf(why, sizeof why, "dns lookup of %.200s failed: %s", c->host, uv_strerror(status));
        fail(c, why);
        return;
    }
    dial_next(c);
}

/* ---- policy ------------------------------------------------------------------------------ */

/* The endpoint's allowed_ips, from its extra JSON ("allowed_ips":[...]). */
static void load_allowed_ips(px_conn_t *c)
{
    const pol_endpoint_t *ep = c->dec.endpoint;
    if (!ep || !ep->extra_json)
        return;
    const char *a = strstr(ep->extra_json, "\"allowed_ips\":[");
    if (!a)
        return;
    char items[32][64];
    const char *ptrs[32];
    size_t n = 0;
    for (const char *p = a + 15; *p && *p != ']' && n < 32;) {
        if (*p != '"') {
            p++;
            continue;
        }
        const char *e = strchr(p + 1, '"');
        if (!e)
            break;
        snprintf(items[n], sizeof items[n], "%.*s", (int)(e - p - 1), p + 1);
        ptrs[n] = items[n];
        n++;
        p = e + 1;
    }
    char err[128];
    px_cidrs_parse(ptrs, n, &c->allowed_ips, err, sizeof err);
}

size_t px__conn_exes(px_conn_t *c, const char **exes, size_t max)
{
    size_t n = 0;
    if (c->ident_rc != 0 || !c->ident || max == 0)
        return 0;
    exes[n++] = c->ident->exe;
    for (int i = 0; i < c->ident->nancestors && n < max; i++)
        if (c->ident->ancestors[i][0]) /* unreadable ancestors are left out */
            exes[n++] = c->ident->ancestors[i];
    return n;
}

static void after_identity(px_conn_t *c)
{
    px_t *p = c->px;
    char reason[600];
    const char *exes[PX_MAX_ANCESTORS + 1];
    size_t nexes = 0;
    if (c->ident_rc != 0 && p->cfg.require_identity) {
        snprintf(reason, sizeof reason, "caller identity unknown: %s", c->ident_reason);
        deny(c, "identity", "policy_denied", reason);
        return;
    }
    if (c->ident_rc == 0 && c->ident->sha256[0] && p->hooks.pin) {
        char pinned[65] = "";
        if (p->hooks.pin(p->hooks.ctx, c->ident->exe, c->ident->sha256, pinned) == -EPERM) {
            char title[400], unm[300];
            snprintf(reason, sizeof reason, "binary integrity check failed: %.400s hash changed",
                     c->ident->exe);
            snprintf(title, sizeof title, "pinned binary %.300s changed its SHA-256",
                     c->ident->exe);
            snprintf(unm, sizeof unm, "{\"pinned_sha256\":\"%.64s\",\"sha256\":\"%.64s\"}", pinned,
                     c->ident->sha256);
            event_finding(c, "binary_hash_changed", title, reason, unm);
            deny(c, "identity", "policy_denied", reason);
            return;
        }
    }
    nexes = px__conn_exes(c, exes, PX_MAX_ANCESTORS + 1);
    uint64_t version = 0;
    const pol_index_t *ix = p->hooks.policy(p->hooks.ctx, &version);
    pol_query_t q = {c->host, c->port, exes, nexes, c->ident_rc != 0};
    if (!ix) {
        deny(c, "policy", "policy_denied", "network connections not allowed by policy");
        return;
    }
    pol_decide(ix, &q, &c->dec);
    if (!c->dec.allowed) {
        deny(c, "policy", "policy_denied", c->dec.reason);
        return;
    }
    /* an inspected endpoint: the tunnel is intercepted (mitm.c), which
     * needs the CA; evaluated before dec.endpoint is forgotten below */
    c->inspect = c->is_connect && pol_endpoint_inspects(c->dec.endpoint);
    if (c->inspect && !p->hooks.ca) {
        snprintf(reason, sizeof reason,
                 "endpoint %.255s:%u has L7 rules, which need TLS interception, and this proxy "
                 "has no CA",
                 c->host_asked, c->port);
        deny(c, "l7", "policy_denied", reason);
        return;
    }
    load_allowed_ips(c);
    /* c->dec.rule points into the index: keep our own copy for later events */
    snprintf(c->rule, sizeof c->rule, "%s", c->dec.rule ? c->dec.rule : "");
    c->dec.rule = c->rule;
    c->dec.endpoint = NULL;
    if (c->host_is_ip) {
        c->ai = NULL;
        c->single.ai_family = c->host_addr.ss_family;
        c->single.ai_addr = (struct sockaddr *)&c->host_addr;
        c->single.ai_addrlen = c->host_addr.ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                                                 : sizeof(struct sockaddr_in6);
        c->ai_next = &c->single;
        dial_next(c);
        return;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    c->gai.data = c;
    c->gai_busy = true;
    if (uv_getaddrinfo(p->loop, &c->gai, on_resolved, c->host, NULL, &hints) != 0) {
        c->gai_busy = false;
        fail(c, "dns lookup could not start");
    }
}

static int ident_run(void *arg)
{
    px_conn_t *c = arg;
    return px_ident_lookup(c->px->idcache, (struct sockaddr *)&c->peer,
                           (struct sockaddr *)&c->local, c->ident, c->ident_reason,
                           sizeof c->ident_reason);
}

static void ident_work(uv_work_t *w)
{
    px_conn_t *c = w->data;
    /* a sandbox's proxy: the client's socket is in the sandbox's namespace */
    c->ident_rc = px_netns_run(c->px->cfg.client_netns_fd, ident_run, c);
}

static void ident_after(uv_work_t *w, int status)
{
    px_conn_t *c = w->data;
    c->work_busy = false;
    if (c->closing || status == UV_ECANCELED) {
        px__conn_maybe_free(c);
        return;
    }
    after_identity(c);
}

void px__decide(px_conn_t *c)
{
    if (parse_target(c) != 0)
        return;
    c->ident = calloc(1, sizeof *c->ident);
    if (!c->ident) {
        px__refuse(c, 503, "overloaded", "out of memory", NULL);
        return;
    }
    c->work.data = c;
    c->work_busy = true;
    if (uv_queue_work(c->px->loop, &c->work, ident_work, ident_after) != 0) {
        c->work_busy = false;
        c->ident_rc = -EIO;
        snprintf(c->ident_reason, sizeof c->ident_reason, "identity lookup could not start");
        after_identity(c);
    }
}
