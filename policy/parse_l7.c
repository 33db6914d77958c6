/*
 * parse_l7.c: the L7 keys of an endpoint (protocol, access, enforcement,
 * rules, deny_rules, tls, path, allow_encoded_slash), checked against
 * OpenShell's shape and semantics, into the typed fields of pol_endpoint_t;
 * and those fields back to the canonical JSON shape.
 *
 * Every OpenShell key or protocol tollgate does not enforce fails the load
 * with "origin:line: path.key: not supported by tollgate yet": nothing is
 * accepted and ignored. Warnings (deprecated `tls` values, L7 endpoints
 * without `enforcement`) go to the checker's warnings buffer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy/pol_internal.h"

typedef pol__pc_t pc_t;

#define NOT_YET "not supported by tollgate yet"

/* OpenShell endpoint keys tollgate does not enforce. */
static const char *const refused_endpoint_keys[] = {
    "websocket_credential_rewrite",
    "request_body_credential_rewrite",
    "allow_uninspected_credentials",
    "persisted_queries",
    "graphql_persisted_queries",
    "graphql_max_body_bytes",
    "credential_signing",
    "signing_service",
    "signing_region",
    "credential_binding",
    "json_rpc",
    "mcp",
    NULL,
};

/* OpenShell protocols tollgate does not enforce. */
static const char *const refused_protocols[] = {"websocket", "graphql", "sql",
                                                "json-rpc",  "mcp",     NULL};

/* Rule keys of those protocols (GraphQL, SQL, MCP). */
static const char *const refused_rule_keys[] = {
    "command", "operation_type", "operation_name", "fields", "tool", "params", NULL,
};

static bool one_of(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

static void lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

/* A string among `allowed`; the error lists them. */
static int want_enum(pc_t *c, const pn_t *v, char **out, const char *const *allowed,
                     const char *list)
{
    int rc = pol__pc_want_string(c, v, out);
    if (rc || one_of(*out, allowed))
        return rc;
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    rc = pol__pc_fail(c, v, "'%s' is not valid (%s)", pol__shown(&b, v->s, v->n), list);
    ocsf_buf_dispose(&b);
    return rc;
}

static int want_bool(pc_t *c, const pn_t *v, bool *out)
{
    static const char *const yes[] = {"true", "True", "TRUE", NULL};
    static const char *const no[] = {"false", "False", "FALSE", NULL};
    if (v->kind == PN_SCALAR && v->plain && (one_of(v->s, yes) || one_of(v->s, no))) {
        *out = one_of(v->s, yes);
        return 0;
    }
    return pol__pc_fail(c, v, "expected true or false");
}

/* ---- globs and methods ------------------------------------------------------------ */

/* Checks an L7 glob (path: starts with '/' or '*'). */
static int check_glob(pc_t *c, const pn_t *v, const char *s, bool path)
{
    size_t n = strlen(s);
    const char *why = NULL;
    int depth = 0;
    for (size_t i = 0; i < n && !why; i++) {
        if (s[i] == '\\' && ++i == n)
            why = "a glob ends with a lone '\\'";
        else if (s[i] == '[' && depth++)
            why = "'[' inside a [...] class";
        else if (s[i] == ']' && depth)
            depth = 0;
        else if (s[i] == '{' || s[i] == '}')
            why = "brace alternation ({a,b}) in globs is " NOT_YET;
    }
    if (n == 0)
        why = "empty glob";
    else if (n > POL__MAX_L7_GLOB)
        why = "glob longer than 1024 bytes";
    else if (pol__has_ctl(s, n) || !pol__utf8_valid(s, n))
        why = "control character or invalid UTF-8 in glob";
    else if (!why && depth)
        why = "unclosed '[' in glob";
    else if (!why && path && s[0] != '/' && s[0] != '*')
        why = "a path glob starts with '/' (or is **)";
    return why ? pol__pc_fail(c, v, "%s", why) : 0;
}

/* A method: an HTTP token (upper-cased) or "*". */
static int check_method(pc_t *c, const pn_t *v, char *m)
{
    size_t n = strlen(m);
    bool ok = n > 0 && n <= 32;
    for (size_t i = 0; ok && i < n; i++) {
        char ch = m[i];
        ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
             (ch && strchr("!#$%&'*+-.^_`|~", ch));
        if (ch >= 'a' && ch <= 'z')
            m[i] = (char)(ch - 'a' + 'A');
    }
    if (ok && strchr(m, '*') && strcmp(m, "*") != 0)
        ok = false;
    if (ok)
        return 0;
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    int rc = pol__pc_fail(c, v, "method '%s' is not an HTTP method (GET, POST, ..., or \"*\")",
                          pol__shown(&b, v->s, v->n));
    ocsf_buf_dispose(&b);
    return rc;
}

/* ---- query matchers: {key: "glob"} or {key: {any: [...]}} (OpenShell's YAML has no
 * {glob: ..} form: refused as an unknown key) ---- */

static void add_glob(pol_l7_query_t *q, const char *g)
{
    q->globs = pol__grow(q->globs, q->nglobs, sizeof *q->globs);
    q->globs[q->nglobs++] = pol__xstrdup(g);
}

static int parse_matcher_map(pc_t *c, const pn_t *v, pol_l7_query_t *q)
{
    const pn_t *any = NULL;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i + 1 < v->nkids; i += 2) {
        size_t mark = pol__pc_push(c, v->kids[i]);
        if (strcmp(v->kids[i]->s, "any") == 0)
            any = v->kids[i + 1];
        else
            rc = pol__pc_fail(c, v->kids[i], "unknown key (a matcher is a glob or {any: [..]})");
        c->path.len = mark;
    }
    if (rc == 0 && !any)
        rc = pol__pc_fail(c, v, "a matcher is a glob or {any: [..]}");
    char *s = NULL;
    if (rc == 0 && any && (rc = pol__pc_want(c, any, PN_SEQ)) == 0 && any->nkids == 0)
        rc = pol__pc_fail(c, any, "any: [] matches nothing");
    for (size_t i = 0; rc == 0 && any && i < any->nkids && i < POL__MAX_L7_RULES; i++) {
        if ((rc = pol__pc_want_string(c, any->kids[i], &s)) == 0 &&
            (rc = check_glob(c, any->kids[i], s, false)) == 0)
            add_glob(q, s);
    }
    q->any = any != NULL;
    free(s);
    return rc;
}

static int parse_query(pc_t *c, const pn_t *n, pol_l7_rule_t *r)
{
    int rc = pol__pc_want(c, n, PN_MAP);
    if (rc == 0 && n->nkids / 2 > POL__MAX_L7_RULES)
        rc = pol__pc_fail(c, n, "more than 1024 query matchers");
    for (size_t i = 0; rc == 0 && i + 1 < n->nkids; i += 2) {
        const pn_t *k = n->kids[i], *v = n->kids[i + 1];
        size_t mark = pol__pc_push(c, k);
        r->query = pol__grow(r->query, r->nquery, sizeof *r->query);
        pol_l7_query_t *q = &r->query[r->nquery++];
        memset(q, 0, sizeof *q);
        q->key = pol__xstrndup(k->s, k->n);
        if (k->n == 0 || pol__has_ctl(k->s, k->n) || !pol__utf8_valid(k->s, k->n))
            rc = pol__pc_fail(c, k, "a query key is a non-empty UTF-8 text");
        else if (v->kind == PN_MAP)
            rc = parse_matcher_map(c, v, q);
        else {
            char *s = NULL;
            if ((rc = pol__pc_want_string(c, v, &s)) == 0 && (rc = check_glob(c, v, s, false)) == 0)
                add_glob(q, s);
            free(s);
        }
        c->path.len = mark;
    }
    return rc;
}

/* ---- rules ---------------------------------------------------------------------------- */

static int rule_key(pc_t *c, const pn_t *k, const pn_t *v, pol_l7_rule_t *r)
{
    int rc;
    if (strcmp(k->s, "method") == 0)
        return (rc = pol__pc_want_string(c, v, &r->method)) ? rc : check_method(c, v, r->method);
    if (strcmp(k->s, "path") == 0)
        return (rc = pol__pc_want_string(c, v, &r->path)) ? rc : check_glob(c, v, r->path, true);
    if (strcmp(k->s, "query") == 0)
        return parse_query(c, v, r);
    if (one_of(k->s, refused_rule_keys))
        return pol__pc_fail(c, k, NOT_YET);
    return pol__pc_fail(c, k, "unknown key");
}

/* {method, path, query}: the body of an allow or a deny rule. */
static int parse_rule_body(pc_t *c, const pn_t *n, pol_l7_rule_t *r)
{
    int rc = pol__pc_want(c, n, PN_MAP);
    for (size_t i = 0; rc == 0 && i + 1 < n->nkids; i += 2) {
        size_t mark = pol__pc_push(c, n->kids[i]);
        rc = rule_key(c, n->kids[i], n->kids[i + 1], r);
        c->path.len = mark;
    }
    if (rc == 0 && !r->method)
        rc = pol__pc_fail(c, n, "method: missing (GET, POST, ..., or \"*\" for any)");
    if (rc == 0 && !r->path)
        rc = pol__pc_fail(c, n, "path: missing (a glob: /repos/x, /v1/*, ** for any)");
    return rc;
}

/* rules: [{allow: {...}}] */
static int parse_allow_item(pc_t *c, const pn_t *n, pol_l7_rule_t *r)
{
    int rc = pol__pc_want(c, n, PN_MAP);
    const pn_t *body = NULL;
    for (size_t i = 0; rc == 0 && i + 1 < n->nkids; i += 2) {
        size_t mark = pol__pc_push(c, n->kids[i]);
        if (strcmp(n->kids[i]->s, "allow") == 0)
            rc = parse_rule_body(c, body = n->kids[i + 1], r);
        else
            rc = pol__pc_fail(c, n->kids[i], "unknown key (a rule is {allow: {method, path}})");
        c->path.len = mark;
    }
    if (rc == 0 && !body)
        rc = pol__pc_fail(c, n, "a rule without allow: (rules: [{allow: {method, path}}])");
    return rc;
}

static int parse_rules(pc_t *c, const pn_t *n, bool allow, pol_l7_rule_t **arr, size_t *count)
{
    int rc = pol__pc_want(c, n, PN_SEQ);
    if (rc == 0 && n->nkids == 0)
        rc = pol__pc_fail(c, n,
                          allow ? "rules: [] allows nothing; use access: full, or remove rules"
                                : "deny_rules: [] denies nothing; remove it");
    if (rc == 0 && n->nkids > POL__MAX_L7_RULES)
        rc = pol__pc_fail(c, n, "more than 1024 rules");
    for (size_t i = 0; rc == 0 && i < n->nkids; i++) {
        size_t mark = pol__pc_push_index(c, i);
        *arr = pol__grow(*arr, *count, sizeof **arr);
        pol_l7_rule_t *r = &(*arr)[(*count)++];
        memset(r, 0, sizeof *r);
        rc = allow ? parse_allow_item(c, n->kids[i], r) : parse_rule_body(c, n->kids[i], r);
        c->path.len = mark;
    }
    return rc;
}

/* ---- the endpoint ------------------------------------------------------------------------ */

static int parse_protocol(pc_t *c, const pn_t *v, pol_endpoint_t *e)
{
    int rc = pol__pc_want_string(c, v, &e->protocol);
    if (rc)
        return rc;
    lower(e->protocol);
    if (strcmp(e->protocol, "rest") == 0 || strcmp(e->protocol, "tcp") == 0)
        return 0;
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    pol__shown(&b, v->s, v->n);
    if (one_of(e->protocol, refused_protocols))
        rc = pol__pc_fail(c, v, NOT_YET " (protocol %s; tollgate enforces rest and tcp)", b.p);
    else
        rc = pol__pc_fail(c, v,
                          "unknown protocol '%s' (expected rest or tcp; websocket, graphql, sql, "
                          "json-rpc and mcp are " NOT_YET ")",
                          b.p);
    ocsf_buf_dispose(&b);
    return rc;
}

static int parse_tls(pc_t *c, const pn_t *v, pol_endpoint_t *e)
{
    static const char *const tls[] = {"skip", "terminate", "passthrough", NULL};
    int rc = want_enum(c, v, &e->tls, tls, "skip; terminate and passthrough are deprecated");
    if (rc == 0 && strcmp(e->tls, "skip") != 0)
        pol__pc_warn(c, v,
                     "'tls: %s' is deprecated and has no effect: TLS is intercepted automatically "
                     "for inspected endpoints (use 'tls: skip' to turn that off)",
                     e->tls);
    return rc;
}

int pol__l7_field(pc_t *c, const pn_t *k, const pn_t *v, pol_endpoint_t *e)
{
    static const char *const access[] = {"read-only", "read-write", "full", NULL};
    static const char *const enforcement[] = {"enforce", "audit", NULL};
    const char *key = k->s;
    int rc;
    if (strcmp(key, "protocol") == 0)
        return parse_protocol(c, v, e);
    if (strcmp(key, "access") == 0)
        return want_enum(c, v, &e->access, access, "read-only, read-write, full");
    if (strcmp(key, "enforcement") == 0)
        return want_enum(c, v, &e->enforcement, enforcement, "enforce, audit");
    if (strcmp(key, "tls") == 0)
        return parse_tls(c, v, e);
    if (strcmp(key, "path") == 0) {
        if ((rc = pol__pc_want_string(c, v, &e->path)) || (rc = check_glob(c, v, e->path, true)))
            return rc;
        return strcmp(e->path, "**") == 0 || e->path[0] == '/'
                   ? 0
                   : pol__pc_fail(c, v, "an endpoint path starts with '/' or is '**'");
    }
    if (strcmp(key, "allow_encoded_slash") == 0)
        return want_bool(c, v, &e->allow_encoded_slash);
    if (strcmp(key, "rules") == 0)
        return parse_rules(c, v, true, &e->l7_allow, &e->nl7_allow);
    if (strcmp(key, "deny_rules") == 0)
        return parse_rules(c, v, false, &e->l7_deny, &e->nl7_deny);
    if (one_of(key, refused_endpoint_keys))
        return pol__pc_fail(c, k, NOT_YET);
    return -ENOENT;
}

int pol__l7_check(pc_t *c, const pn_t *at, pol_endpoint_t *e)
{
    bool tcp = e->protocol && strcmp(e->protocol, "tcp") == 0;
    bool rest = e->protocol && strcmp(e->protocol, "rest") == 0;
    bool l7 = rest || e->access || e->nl7_allow || e->nl7_deny;
    bool l7_only = e->enforcement || e->path || e->allow_encoded_slash;
    if (tcp && (l7 || l7_only))
        return pol__pc_fail(c, at,
                            "protocol tcp does not support L7 fields (access, rules, deny_rules, "
                            "enforcement, path, allow_encoded_slash); remove them");
    if (e->access && e->nl7_allow)
        return pol__pc_fail(c, at, "rules and access are mutually exclusive");
    if (rest && !e->access && !e->nl7_allow)
        return pol__pc_fail(c, at,
                            "protocol rest requires rules or access to define allowed traffic");
    if (e->nl7_deny && !e->protocol)
        return pol__pc_fail(c, at, "deny_rules require protocol (L7 inspection must be enabled)");
    if (e->nl7_deny && !e->access && !e->nl7_allow)
        return pol__pc_fail(c, at,
                            "deny_rules require rules or access to define the base allow set");
    if (!l7 && l7_only)
        return pol__pc_fail(c, at,
                            "enforcement, path and allow_encoded_slash have no effect without "
                            "protocol rest, access or rules");
    if (l7 && e->tls && strcmp(e->tls, "skip") == 0)
        return pol__pc_fail(c, at,
                            "tls: skip turns interception off, so access, rules and deny_rules "
                            "could not be enforced; remove tls: skip or those keys");
    if (l7 && !e->enforcement)
        pol__pc_warn(c, at,
                     "enforcement not set: L7 violations are logged and let through (audit), as "
                     "in OpenShell; set enforcement: enforce to block them");
    return 0;
}

/* ---- the tree: JSON, copy, dispose ----------------------------------------------------------- */

static json_t *rule_json(const pol_l7_rule_t *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "method", json_string(r->method ? r->method : ""));
    json_object_set_new(o, "path", json_string(r->path ? r->path : ""));
    if (r->nquery) {
        json_t *q = json_object();
        for (size_t i = 0; i < r->nquery; i++) {
            const pol_l7_query_t *m = &r->query[i];
            json_t *v;
            if (!m->any && m->nglobs == 1) {
                v = json_string(m->globs[0]);
            } else {
                json_t *any = json_array();
                for (size_t g = 0; g < m->nglobs; g++)
                    json_array_append_new(any, json_string(m->globs[g]));
                v = json_object();
                json_object_set_new(v, "any", any);
            }
            json_object_set_new(q, m->key, v);
        }
        json_object_set_new(o, "query", q);
    }
    return o;
}

void pol__l7_json(const pol_endpoint_t *e, json_t *o)
{
    if (e->tls)
        json_object_set_new(o, "tls", json_string(e->tls));
    if (e->path)
        json_object_set_new(o, "path", json_string(e->path));
    if (e->allow_encoded_slash)
        json_object_set_new(o, "allow_encoded_slash", json_true());
    if (e->nl7_allow) {
        json_t *a = json_array();
        for (size_t i = 0; i < e->nl7_allow; i++) {
            json_t *item = json_object();
            json_object_set_new(item, "allow", rule_json(&e->l7_allow[i]));
            json_array_append_new(a, item);
        }
        json_object_set_new(o, "rules", a);
    }
    if (e->nl7_deny) {
        json_t *d = json_array();
        for (size_t i = 0; i < e->nl7_deny; i++)
            json_array_append_new(d, rule_json(&e->l7_deny[i]));
        json_object_set_new(o, "deny_rules", d);
    }
}

static pol_l7_rule_t *rules_copy(const pol_l7_rule_t *src, size_t n)
{
    if (!n)
        return NULL;
    pol_l7_rule_t *d = pol__xcalloc(n, sizeof *d);
    for (size_t i = 0; i < n; i++) {
        d[i].method = pol__xstrdup(src[i].method);
        d[i].path = pol__xstrdup(src[i].path);
        d[i].nquery = src[i].nquery;
        d[i].query = src[i].nquery ? pol__xcalloc(src[i].nquery, sizeof *d[i].query) : NULL;
        for (size_t k = 0; k < src[i].nquery; k++) {
            const pol_l7_query_t *s = &src[i].query[k];
            pol_l7_query_t *q = &d[i].query[k];
            q->key = pol__xstrdup(s->key);
            q->any = s->any;
            q->nglobs = s->nglobs;
            q->globs = pol__xcalloc(s->nglobs, sizeof *q->globs);
            for (size_t g = 0; g < s->nglobs; g++)
                q->globs[g] = pol__xstrdup(s->globs[g]);
        }
    }
    return d;
}

static void rules_free(pol_l7_rule_t *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < r[i].nquery; k++) {
            for (size_t g = 0; g < r[i].query[k].nglobs; g++)
                free(r[i].query[k].globs[g]);
            free(r[i].query[k].globs);
            free(r[i].query[k].key);
        }
        free(r[i].query);
        free(r[i].method);
        free(r[i].path);
    }
    free(r);
}

void pol__l7_copy(pol_endpoint_t *dst, const pol_endpoint_t *src)
{
    dst->tls = pol__xstrdup(src->tls);
    dst->path = pol__xstrdup(src->path);
    dst->allow_encoded_slash = src->allow_encoded_slash;
    dst->l7_allow = rules_copy(src->l7_allow, src->nl7_allow);
    dst->nl7_allow = src->nl7_allow;
    dst->l7_deny = rules_copy(src->l7_deny, src->nl7_deny);
    dst->nl7_deny = src->nl7_deny;
}

void pol__l7_dispose(pol_endpoint_t *e)
{
    free(e->tls);
    free(e->path);
    rules_free(e->l7_allow, e->nl7_allow);
    rules_free(e->l7_deny, e->nl7_deny);
}

bool pol__l7_access_allows(const char *access, const char *method)
{
    static const char *const ro[] = {"GET", "HEAD", "OPTIONS", NULL};
    static const char *const rw[] = {"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", NULL};
    if (!access)
        return false;
    if (strcmp(access, "full") == 0)
        return true;
    const char *const *list = strcmp(access, "read-only") == 0    ? ro
                              : strcmp(access, "read-write") == 0 ? rw
                                                                  : NULL;
    for (; list && *list; list++)
        if (strcasecmp(method, *list) == 0)
            return true;
    return false;
}
