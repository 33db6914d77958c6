/*
 * mitm_http.c: the HTTP/1.1 requests inside an intercepted tunnel, one at
 * a time, over the plaintext mitm.c hands over.
 *
 * Per request: the head (mitm_frame.c: framing, the Host header and an
 * absolute-form target must name the CONNECT host, else 400/403 and the
 * end), then pol_l7_decide with the sandbox's current index and the
 * identity the CONNECT decision used. Denied: 403 with the proxy's JSON
 * body; the body, whose framing http-parser knows, is read and dropped and
 * the connection stays usable (not after `Expect: 100-continue` with a
 * body, nor an upgrade: those close). Allowed (audit violations too): the
 * head and body go upstream as the client wrote them, the response comes
 * back as the upstream wrote it, its end found by an HTTP_RESPONSE parser
 * (Content-Length, chunked, the upstream's close; HEAD, 1xx, 204, 304
 * without a body; interim 1xx relayed). A 101 to an upgrade request turns
 * the tunnel into bytes both ways. Bytes the client sends after a request
 * wait (in cin) until the response has ended: pipelining is serialised.
 *
 * One HTTP Activity event per request that reached a decision, when the
 * exchange ends (so it carries the status and the bytes both ways): engine
 * `l7`, the policy rule, the L7 rule that matched in firewall_rule.uid, the
 * reason in status_detail.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/mitm_internal.h"

#define CHUNK (16u << 10) /* plaintext taken from a side per step */

/* ---- events ------------------------------------------------------------------------- */

static void req_event(px__mitm_t *m)
{
    px_conn_t *c = m->c;
    if (!m->event_pending)
        return;
    m->event_pending = false;
    ocsf_event_t ev;
    px__evbufs_t b;
    ocsf_buf_t qb;
    ocsf_buf_init(&qb);
    int act = ocsf_http_activity(ocsf_str(m->method));
    px__event_base(c, &ev, OCSF_CLASS_HTTP, act, m->audit ? OCSF_SEV_LOW : OCSF_SEV_INFO, &b);
    if (act == OCSF_OTHER)
        ev.activity_other = ocsf_str(m->method);
    ocsf_str_t path = {m->path.len ? m->path.p : "/", m->path.len ? m->path.len : 1};
    ocsf_str_t query =
        m->has_query ? (ocsf_str_t){m->query.len ? m->query.p : "", m->query.len} : OCSF_NOSTR;
    px__event_url(c, &ev, m->method, m->tls ? "https" : "http", path, query, &qb);
    ocsf_event_verdict(&ev, m->allowed, *m->rule ? ocsf_str(m->rule) : OCSF_NOSTR, OCSF_STR("l7"),
                       *m->reason ? ocsf_str(m->reason) : OCSF_NOSTR);
    if (*m->matched)
        ev.rule_uid = ocsf_str(m->matched);
    ev.http_status = m->status > 0 ? m->status : OCSF_NONE;
    ev.bytes_in = (int64_t)m->req_in;
    ev.bytes_out = (int64_t)m->req_out;
    ev.start_time = m->req_start;
    ev.end_time = px__now_ms();
    ev.duration = ev.end_time - ev.start_time;
    if (m->allowed)
        c->px->st.allowed++;
    else
        c->px->st.denied++;
    c->px->hooks.emit(c->px->hooks.ctx, &ev);
    ocsf_buf_dispose(&qb);
}

void px__mitm_event_refuse(px__mitm_t *m, const char *reason)
{
    px_conn_t *c = m->c;
    ocsf_event_t ev;
    px__evbufs_t b;
    px__event_base(c, &ev, OCSF_CLASS_NETWORK, 5 /* Refuse */, OCSF_SEV_MEDIUM, &b);
    ocsf_event_verdict(&ev, false, *c->rule ? ocsf_str(c->rule) : OCSF_NOSTR, OCSF_STR("l7"),
                       ocsf_str(reason));
    c->px->st.denied++;
    c->px->hooks.emit(c->px->hooks.ctx, &ev);
}

void px__mitm_http_close(px__mitm_t *m)
{
    req_event(m); /* an exchange cut short: what is known of it */
}

/* ---- replies from the proxy ---------------------------------------------------------- */

void px__mitm_reply(px__mitm_t *m, int status, const char *error, const char *detail,
                    const char *reason, bool close)
{
    ocsf_buf_t out;
    ocsf_buf_init(&out);
    px__refusal(&out, status, error, detail, reason, close);
    if (px__mitm_send(m, false, out.p, out.len) != 0)
        px__conn_close(m->c);
    ocsf_buf_dispose(&out);
}

/* ---- one exchange ---------------------------------------------------------------------- */

static void next_request(px__mitm_t *m)
{
    px__frame_reset(&m->f);
    m->req_done = m->resp_done = m->resp_started = m->ws = m->had_upgrade = false;
    m->st = PX_M_HEAD;
}

/* The request is refused before any decision on it could be made (its
 * target or Host names another host, or is malformed): an event, a reply,
 * the end. */
static void refuse_req(px__mitm_t *m, int status, const char *why)
{
    m->allowed = false;
    m->status = status;
    snprintf(m->reason, sizeof m->reason, "%s", why);
    req_event(m);
    px__mitm_reply(m, status, status == 403 ? "policy_denied" : "bad_request", why, NULL, true);
    px__mitm_finish(m);
}

static void deny_req(px__mitm_t *m)
{
    char detail[400];
    snprintf(detail, sizeof detail, "%s %.*s not permitted by policy", m->method,
             (int)(m->path.len > 300 ? 300 : m->path.len), m->path.p ? m->path.p : "");
    m->status = 403;
    req_event(m);
    bool body = px__frame_has_body(&m->f);
    /* the body's framing is known, so it can be read and dropped; after
     * Expect: 100-continue the client may never send it, after an upgrade
     * the bytes are another protocol's */
    bool keep =
        px__frame_keep_alive(&m->f) && !(body && m->f.expect_continue) && !px__frame_upgrade(&m->f);
    px__mitm_reply(m, 403, "policy_denied", detail, m->reason, !keep);
    if (!keep) {
        px__mitm_finish(m);
        return;
    }
    px__frame_resume(&m->f);
    m->st = PX_M_DRAIN;
}

static void begin_req(px__mitm_t *m)
{
    px_conn_t *c = m->c;
    m->nreq++;
    snprintf(m->method, sizeof m->method, "%s", m->f.method);
    m->req_in = m->req_out = 0;
    m->status = 0;
    m->req_start = px__now_ms();
    m->allowed = m->audit = false;
    snprintf(m->rule, sizeof m->rule, "%s", c->rule);
    m->matched[0] = m->reason[0] = '\0';
    m->event_pending = true;
}

/* A complete head: target and Host, then the L7 decision. */
static void decide(px__mitm_t *m)
{
    px_conn_t *c = m->c;
    char why[512];
    begin_req(m);
    int rc = px__frame_target(&m->f, c->host, c->port, &m->path, &m->query, &m->has_query, why,
                              sizeof why);
    if (rc != 0) {
        refuse_req(m, rc == -EPERM ? 403 : 400, why);
        return;
    }
    uint64_t version = 0;
    const pol_index_t *ix = c->px->hooks.policy(c->px->hooks.ctx, &version);
    if (!ix) {
        snprintf(m->reason, sizeof m->reason, "network connections not allowed by policy");
        deny_req(m);
        return;
    }
    const char *exes[PX_MAX_ANCESTORS + 1];
    size_t nexes = px__conn_exes(c, exes, PX_MAX_ANCESTORS + 1);
    pol_query_t q = {c->host, c->port, exes, nexes, c->ident_rc != 0};
    pol_l7_decision_t d;
    pol_l7_decide(ix, &q, m->method, ocsf_buf_cstr(&m->path),
                  m->has_query ? ocsf_buf_cstr(&m->query) : NULL, &d);
    if (d.rule) /* borrowed from the index, which may change under the tunnel */
        snprintf(m->rule, sizeof m->rule, "%s", d.rule);
    snprintf(m->matched, sizeof m->matched, "%s", d.matched);
    m->allowed = d.allowed;
    m->audit = d.allowed && d.violation;
    if (m->audit)
        snprintf(m->reason, sizeof m->reason, "audit: %s", d.reason);
    else if (!d.allowed)
        snprintf(m->reason, sizeof m->reason, "%s",
                 d.reason[0] ? d.reason : "not allowed by the endpoint's L7 rules");
    if (!d.allowed) {
        deny_req(m);
        return;
    }
    m->st = PX_M_WAIT;
}

/* An allowed request that cannot go upstream, or a response that went
 * wrong: 502 when the client has had no byte of a response, else a close. */
static void up_fail(px__mitm_t *m, const char *why)
{
    char detail[400];
    if (m->resp_started) {
        px__conn_close(m->c);
        return;
    }
    snprintf(detail, sizeof detail, "the exchange with %.255s:%u failed", m->c->host_asked,
             m->c->port);
    m->status = 502;
    if (!m->reason[0] || m->audit)
        snprintf(m->reason, sizeof m->reason, "%s", why);
    req_event(m);
    px__mitm_reply(m, 502, "bad_gateway", detail, why, true);
    px__mitm_finish(m);
}

static bool step_wait(px__mitm_t *m)
{
    if (m->up_err[0]) {
        up_fail(m, m->up_err);
        return false;
    }
    if (!m->up.hs_done)
        return false;
    if (m->up.sock_eof || m->up.plain_eof) {
        up_fail(m, "the upstream closed the connection");
        return false;
    }
    http_parser_init(&m->resp, HTTP_RESPONSE);
    m->resp.data = m;
    m->had_upgrade = px__frame_upgrade(&m->f);
    px__frame_resume(&m->f);
    m->st = PX_M_BODY;
    return true;
}

/* ---- reading the client ------------------------------------------------------------------- */

/* More client plaintext when all of cin was fed: 0 when none came (and
 * the connection may have ended: *gone). */
static size_t more_client(px__mitm_t *m, bool *gone)
{
    *gone = false;
    if (m->fed < m->cin.len)
        return 0;
    size_t n = px__mitm_fill(m, false, &m->cin, CHUNK);
    if (n == 0 && m->cl.plain_eof)
        *gone = true;
    return n;
}

static bool step_head(px__mitm_t *m)
{
    bool gone;
    char err[200];
    size_t used;
    if (!m->cl.hs_done)
        return false;
    if (m->cin.len == 0 && m->up.sock_eof && !m->up_err[0]) {
        px__mitm_finish(m); /* the upstream closed between requests */
        return false;
    }
    size_t n = more_client(m, &gone);
    if (gone) {
        if (m->cin.len == 0)
            px__mitm_finish(m);
        else
            px__conn_close(m->c); /* a head cut short */
        return false;
    }
    int rc = px__frame_feed(&m->f, m->cin.p + m->fed, m->cin.len - m->fed, &used, err, sizeof err);
    m->fed += used;
    if (rc != 0) { /* malformed heads are not decisions: no event */
        px__mitm_reply(m, rc == -E2BIG ? 431 : 400, rc == -E2BIG ? "head_too_large" : "bad_request",
                       err, NULL, true);
        px__mitm_finish(m);
        return false;
    }
    if (m->f.head_done) {
        decide(m);
        return true;
    }
    return n > 0 || used > 0;
}

/* The request's bytes (the head, then the body) go upstream; or, denied,
 * the body is dropped. */
static bool step_body(px__mitm_t *m)
{
    bool drain = m->st == PX_M_DRAIN, gone;
    char err[200];
    size_t used;
    if (!drain && m->up.pending > PX__HIGH_WATER)
        return false; /* backpressure: the write's completion pumps again */
    size_t n = more_client(m, &gone);
    if (gone) {
        px__conn_close(m->c); /* the client left inside its request */
        return false;
    }
    int rc = px__frame_feed(&m->f, m->cin.p + m->fed, m->cin.len - m->fed, &used, err, sizeof err);
    m->fed += used;
    if (rc != 0) {
        if (drain)
            px__conn_close(m->c);
        else
            up_fail(m, err); /* an invalid body: the upstream has part of it */
        return false;
    }
    if (!drain && m->fed && px__mitm_send(m, true, m->cin.p, m->fed) != 0) {
        px__conn_close(m->c);
        return false;
    }
    if (!drain)
        m->req_out += m->fed;
    memmove(m->cin.p, m->cin.p + m->fed, m->cin.len - m->fed);
    m->cin.len -= m->fed;
    m->fed = 0;
    if (m->f.msg_done) {
        m->req_done = true;
        if (drain)
            next_request(m);
        else
            m->st = PX_M_RESP;
        return true;
    }
    return n > 0 || used > 0;
}

/* ---- the response ------------------------------------------------------------------------- */

static int resp_headers(http_parser *hp)
{
    px__mitm_t *m = hp->data;
    if (hp->status_code == 101) {
        if (!m->had_upgrade || !hp->upgrade)
            return -1; /* no upgrade was asked for */
        m->ws = true;
        m->status = 101;
        return 0;
    }
    if (hp->status_code / 100 == 1)
        return 0; /* interim (100 Continue, 103): relayed, the final one follows */
    m->status = hp->status_code;
    return strcmp(m->method, "HEAD") == 0 ? 1 : 0; /* 1: no body */
}

static int resp_complete(http_parser *hp)
{
    px__mitm_t *m = hp->data;
    if (hp->status_code / 100 == 1 && hp->status_code != 101)
        return 0;
    m->resp_done = true;
    http_parser_pause(hp, 1); /* what follows is the next response, or websocket */
    return 0;
}

static const http_parser_settings resp_settings = {
    .on_headers_complete = resp_headers,
    .on_message_complete = resp_complete,
};

static void exchange_end(px__mitm_t *m)
{
    req_event(m);
    if (m->ws) {
        m->st = PX_M_WS;
        return;
    }
    bool keep = m->req_done && px__frame_keep_alive(&m->f) && http_should_keep_alive(&m->resp) &&
                !m->cl.plain_eof && !m->up.sock_eof && !m->c->px->closing;
    if (keep)
        next_request(m);
    else
        px__mitm_finish(m); /* once the response is flushed */
}

static bool step_resp(px__mitm_t *m)
{
    size_t n = 0;
    if (m->resp_done || m->cl.pending > PX__HIGH_WATER)
        return false;
    if (m->uin.len == 0) {
        n = px__mitm_fill(m, true, &m->uin, CHUNK);
        if (n == 0 && m->up.plain_eof) {
            http_parser_execute(&m->resp, &resp_settings, NULL, 0); /* close-delimited */
            if (m->resp_done)
                exchange_end(m);
            else
                up_fail(m, "the upstream closed before its response ended");
            return false;
        }
        if (n == 0)
            return false;
    }
    size_t used = http_parser_execute(&m->resp, &resp_settings, m->uin.p, m->uin.len);
    enum http_errno e = HTTP_PARSER_ERRNO(&m->resp);
    if (e != HPE_OK && !(e == HPE_PAUSED && m->resp_done)) {
        up_fail(m, "the upstream's response is not valid HTTP");
        return false;
    }
    if (used) {
        m->resp_started = true;
        m->req_in += used;
        if (px__mitm_send(m, false, m->uin.p, used) != 0) {
            px__conn_close(m->c);
            return false;
        }
    }
    if (!m->ws) /* bytes past a response are the upstream's mistake: dropped */
        m->uin.len = 0;
    else {
        memmove(m->uin.p, m->uin.p + used, m->uin.len - used);
        m->uin.len -= used;
    }
    if (m->resp_done) {
        exchange_end(m);
        return true;
    }
    return n > 0 || used > 0;
}

/* After a 101: bytes both ways as they come. */
static bool step_ws(px__mitm_t *m)
{
    bool progress = false;
    if (m->up.pending <= PX__HIGH_WATER) {
        if (m->cin.len == 0)
            px__mitm_fill(m, false, &m->cin, CHUNK);
        if (m->cin.len) {
            if (px__mitm_send(m, true, m->cin.p, m->cin.len) != 0)
                return px__conn_close(m->c), false;
            m->cin.len = 0;
            progress = true;
        }
    }
    if (m->cl.pending <= PX__HIGH_WATER) {
        if (m->uin.len == 0)
            px__mitm_fill(m, true, &m->uin, CHUNK);
        if (m->uin.len) {
            if (px__mitm_send(m, false, m->uin.p, m->uin.len) != 0)
                return px__conn_close(m->c), false;
            m->uin.len = 0;
            progress = true;
        }
    }
    if (!progress && (m->cl.plain_eof || m->up.plain_eof))
        px__mitm_finish(m);
    return progress;
}

void px__mitm_http_step(px__mitm_t *m)
{
    px_conn_t *c = m->c;
    for (;;) {
        bool p = false;
        switch (m->st) {
        case PX_M_HEAD: p = step_head(m); break;
        case PX_M_WAIT: p = step_wait(m); break;
        case PX_M_BODY:
        case PX_M_DRAIN: p = step_body(m); break;
        case PX_M_WS: p = step_ws(m); break;
        default: break;
        }
        if (c->closing)
            return;
        if (m->st == PX_M_BODY || m->st == PX_M_RESP)
            p |= step_resp(m);
        if (c->closing || m->st == PX_M_ENDING || m->st == PX_M_PEEK || !p)
            return;
    }
}
