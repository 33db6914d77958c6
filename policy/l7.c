/*
 * l7.c: decisions on HTTP requests inside intercepted tunnels (policy.h),
 * with OpenShell's semantics (its sandbox-policy.rego, allow_request /
 * deny_request):
 *
 *   - the candidates are the endpoints of every rule that matches host, port
 *     and binary (not only the first rule pol_decide named);
 *   - when none of them has L7 settings, the request is allowed (plain);
 *     otherwise only the L7 ones decide, plain ones grant nothing;
 *   - an endpoint's `path` glob selects it for the request's path;
 *   - some selected endpoint allows (access preset, or a rule whose method,
 *     path and query match) and no selected endpoint's deny rule matches;
 *   - a violation is let through only when every selected endpoint is in
 *     audit mode (`enforcement` absent means audit, as in OpenShell).
 *
 * Allocation-free and reentrant: the canonical path and the walk state
 * live on the caller's stack; the index is only read.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "policy/pol_internal.h"

bool pol_endpoint_inspects(const pol_endpoint_t *e)
{
    if (!e || (e->tls && strcmp(e->tls, "skip") == 0))
        return false;
    return (e->protocol && strcmp(e->protocol, "rest") == 0) || e->access || e->nl7_allow ||
           e->nl7_deny;
}

typedef struct {
    const pol_query_t *q;
    const char *method, *canon, *query;
    bool canon_ok, has_es;
    size_t checked; /* the last rank whose binaries were checked */
    bool checked_ok;
    size_t nplain, nl7, nsel;
    const pol_rule_t *plain_rule, *l7_rule, *sel_rule; /* the first of each kind */
    size_t plain_rank, l7_rank, sel_rank;
    const pol_endpoint_t *sel_ep;
    bool audit_l7, audit_sel; /* every L7 / selected endpoint is in audit mode */
    bool es_refused, query_bad;
    const pol_rule_t *allow_rule, *deny_rule;
    size_t allow_rank, deny_rank;
    const pol_endpoint_t *allow_ep, *deny_ep;
    long allow_idx; /* -1: the access preset */
    size_t deny_idx;
} l7_walk_t;

static bool method_matches(const char *rule, const char *method)
{
    return strcmp(rule, "*") == 0 || strcasecmp(rule, method) == 0 ||
           (strcmp(rule, "GET") == 0 && strcasecmp(method, "HEAD") == 0);
}

/* 1 matches, 0 does not, <0 the query cannot be checked. */
static int rule_matches(const l7_walk_t *w, const pol_l7_rule_t *r, bool deny)
{
    if (!method_matches(r->method, w->method) ||
        !pol_l7_glob(r->path, w->canon, strlen(w->canon), true))
        return 0;
    return pol__l7_query_match(r, w->query, deny);
}

static bool is_audit(const pol_endpoint_t *e)
{
    return !e->enforcement || strcmp(e->enforcement, "audit") == 0;
}

/* Deny rules, then the allow side, of one selected endpoint. */
static void l7_endpoint(l7_walk_t *w, size_t rank, const pol_rule_t *r, const pol_endpoint_t *e)
{
    for (size_t i = 0; i < e->nl7_deny && rank < w->deny_rank; i++) {
        int m = rule_matches(w, &e->l7_deny[i], true);
        w->query_bad |= m < 0;
        if (m > 0)
            w->deny_rank = rank, w->deny_rule = r, w->deny_ep = e, w->deny_idx = i;
    }
    if (rank >= w->allow_rank)
        return;
    if (e->access && pol__l7_access_allows(e->access, w->method)) {
        w->allow_rank = rank, w->allow_rule = r, w->allow_ep = e, w->allow_idx = -1;
        return;
    }
    for (size_t i = 0; i < e->nl7_allow; i++) {
        int m = rule_matches(w, &e->l7_allow[i], false);
        w->query_bad |= m < 0;
        if (m > 0) {
            w->allow_rank = rank, w->allow_rule = r, w->allow_ep = e, w->allow_idx = (long)i;
            return;
        }
    }
}

static bool l7_visit(void *ctx, size_t rank, const pol_rule_t *r, const pol_endpoint_t *e)
{
    l7_walk_t *w = ctx;
    if (rank != w->checked) {
        w->checked = rank;
        w->checked_ok = w->q->any_binary || pol__binary_ok(r, w->q);
    }
    if (!w->checked_ok)
        return true;
    if (!pol_endpoint_inspects(e)) {
        w->nplain++;
        if (rank < w->plain_rank)
            w->plain_rank = rank, w->plain_rule = r;
        return true;
    }
    w->nl7++;
    w->audit_l7 &= is_audit(e);
    if (rank < w->l7_rank)
        w->l7_rank = rank, w->l7_rule = r;
    if (!w->canon_ok || (e->path && !pol_l7_glob(e->path, w->canon, strlen(w->canon), true)))
        return true;
    w->nsel++;
    w->audit_sel &= is_audit(e);
    if (rank < w->sel_rank)
        w->sel_rank = rank, w->sel_rule = r, w->sel_ep = e;
    if (w->has_es && !e->allow_encoded_slash)
        w->es_refused = true;
    l7_endpoint(w, rank, r, e);
    return true;
}

/* ---- texts --------------------------------------------------------------------------- */

/* Request text for a message: printable ASCII kept, other bytes \xHH,
 * at most `cap` input bytes ("..." when cut). */
static void shown(char *out, size_t outlen, const char *s, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, i = 0;
    for (; s[i] && i < cap && o + 5 < outlen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\', out[o++] = 'x', out[o++] = hex[c >> 4], out[o++] = hex[c & 15];
        }
    }
    if (s[i] && o + 4 <= outlen)
        memcpy(out + o, "...", 3), o += 3;
    out[o] = '\0';
}

static void put_matched(pol_l7_decision_t *d, const char *kind, long idx, const pol_l7_rule_t *r)
{
    snprintf(d->matched, sizeof d->matched, "%s[%ld] %s %s%s", kind, idx, r->method, r->path,
             r->nquery ? " (+query)" : "");
}

static void violation(pol_l7_decision_t *d, const pol_rule_t *r, bool audit)
{
    d->violation = true;
    d->audit = audit;
    d->allowed = audit;
    d->rule = r ? r->key : NULL;
}

/* The request could not be checked at all: refused whatever the enforcement. */
static void refuse(pol_l7_decision_t *d, const l7_walk_t *w, const char *m, const char *p,
                   const char *why)
{
    violation(d, w->sel_rule ? w->sel_rule : w->l7_rule, false);
    snprintf(d->matched, sizeof d->matched, "request refused");
    snprintf(d->reason, sizeof d->reason, "%s %s refused: %s", m, p, why);
}

static void decide_l7(pol_l7_decision_t *d, const l7_walk_t *w, const char *m, const char *p)
{
    if (w->nsel == 0) {
        violation(d, w->l7_rule, w->audit_l7);
        snprintf(d->matched, sizeof d->matched, "no endpoint path");
        snprintf(d->reason, sizeof d->reason,
                 "%s %s not allowed: no endpoint of policy '%s' selects this path", m, p,
                 w->l7_rule->key);
    } else if (w->deny_rule) {
        violation(d, w->deny_rule, w->audit_sel);
        put_matched(d, "deny_rules", (long)w->deny_idx, &w->deny_ep->l7_deny[w->deny_idx]);
        snprintf(d->reason, sizeof d->reason, "%s %s blocked by deny_rules[%zu] of policy '%s'", m,
                 p, w->deny_idx, w->deny_rule->key);
    } else if (w->allow_rule) {
        d->allowed = true;
        d->rule = w->allow_rule->key;
        if (w->allow_idx < 0)
            snprintf(d->matched, sizeof d->matched, "access %s", w->allow_ep->access);
        else
            put_matched(d, "rules", w->allow_idx, &w->allow_ep->l7_allow[w->allow_idx]);
    } else {
        violation(d, w->sel_rule, w->audit_sel);
        snprintf(d->matched, sizeof d->matched, "no rule");
        if (w->sel_ep->access)
            snprintf(d->reason, sizeof d->reason, "%s %s not allowed by access %s of policy '%s'",
                     m, p, w->sel_ep->access, w->sel_rule->key);
        else
            snprintf(d->reason, sizeof d->reason, "%s %s not allowed by the rules of policy '%s'",
                     m, p, w->sel_rule->key);
    }
}

void pol_l7_decide(const pol_index_t *ix, const pol_query_t *q, const char *method,
                   const char *path, const char *query, pol_l7_decision_t *out)
{
    char canon[POL__MAX_PATH + 1], m[48], p[320];
    const char *why = NULL;
    memset(out, 0, sizeof *out);
    method = method ? method : "";
    path = path ? path : "";
    bool ok = pol_l7_canon_path(path, strlen(path), true, canon, sizeof canon, &why) == 0;
    l7_walk_t w = {.q = q,
                   .method = method,
                   .canon = canon,
                   .query = query,
                   .canon_ok = ok,
                   .has_es = ok && strstr(canon, "%2F") != NULL,
                   .checked = SIZE_MAX,
                   .plain_rank = SIZE_MAX,
                   .l7_rank = SIZE_MAX,
                   .sel_rank = SIZE_MAX,
                   .audit_l7 = true,
                   .audit_sel = true,
                   .allow_rank = SIZE_MAX,
                   .deny_rank = SIZE_MAX};
    pol__ix_each(ix, q, l7_visit, &w);
    shown(m, sizeof m, method, 32);
    shown(p, sizeof p, ok ? canon : path, 256);
    if (w.nl7 == 0 && w.nplain) {
        out->allowed = true;
        out->rule = w.plain_rule->key;
        snprintf(out->matched, sizeof out->matched, "plain endpoint (no L7 rules)");
    } else if (w.nl7 == 0) {
        violation(out, NULL, false);
        snprintf(out->reason, sizeof out->reason, "%s %s: no policy allows this endpoint", m, p);
    } else if (!ok) {
        refuse(out, &w, m, p, why);
    } else if (w.es_refused) {
        refuse(out, &w, m, p,
               "encoded '/' (%2F) in the path, and the endpoint does not set allow_encoded_slash");
    } else if (w.query_bad && !w.deny_rule) {
        refuse(out, &w, m, p,
               "its query string cannot be decoded (or is over 8 KiB) for the "
               "query rules");
    } else {
        decide_l7(out, &w, m, p);
    }
}
