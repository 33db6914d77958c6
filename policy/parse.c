/*
 * parse.c: policy documents and provider profiles, from the node tree
 * (yaml.c) to pol_policy_t, checked against OpenShell's shape.
 *
 * Every error is "origin:line: path.key: reason", the path naming where in
 * the document ("network_policies.gh.endpoints[0].hosst: unknown key").
 * File text in errors is escaped (pol__shown).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/pol_internal.h"

/* The checker's context and helpers are shared with parse_l7.c. */
typedef pol__pc_t pc_t;
#define pc_fail       pol__pc_fail
#define pc_push       pol__pc_push
#define pc_push_index pol__pc_push_index
#define want          pol__pc_want
#define want_string   pol__pc_want_string

int pol__pc_fail(pc_t *c, const pn_t *at, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ocsf_buf_t o;
    ocsf_buf_init(&o);
    pol__shown(&o, c->origin, strlen(c->origin));
    pol__errf(c->err, c->errlen, "%s:%zu: %.*s%s%s", o.p, at->line, (int)c->path.len, c->path.p,
              c->path.len ? ": " : "", msg);
    ocsf_buf_dispose(&o);
    return -EINVAL;
}

void pol__pc_warn(pc_t *c, const pn_t *at, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pol__shown(&c->warnings, c->origin, strlen(c->origin));
    char line[32];
    snprintf(line, sizeof line, ":%zu: ", at->line);
    ocsf_buf_puts(&c->warnings, line);
    ocsf_buf_put(&c->warnings, c->path.p, c->path.len);
    ocsf_buf_puts(&c->warnings, c->path.len ? ": " : "");
    ocsf_buf_puts(&c->warnings, msg);
    ocsf_buf_putc(&c->warnings, '\n');
}

/* Appends ".key" (or "key" at the top) to the path; returns the old length. */
size_t pol__pc_push(pc_t *c, const pn_t *key)
{
    size_t mark = c->path.len;
    if (mark)
        ocsf_buf_putc(&c->path, '.');
    pol__shown(&c->path, key->s, key->n);
    return mark;
}

size_t pol__pc_push_index(pc_t *c, size_t i)
{
    size_t mark = c->path.len;
    char idx[32];
    snprintf(idx, sizeof idx, "[%zu]", i);
    ocsf_buf_puts(&c->path, idx);
    return mark;
}

static const char *kind_name(const pn_t *n)
{
    return n->kind == PN_MAP ? "a mapping" : n->kind == PN_SEQ ? "a list" : "a scalar";
}

int pol__pc_want(pc_t *c, const pn_t *n, pn_kind_t kind)
{
    if (n->kind == kind)
        return 0;
    return pc_fail(c, n, "expected %s, found %s",
                   kind == PN_MAP   ? "a mapping"
                   : kind == PN_SEQ ? "a list"
                                    : "a scalar",
                   kind_name(n));
}

int pol__pc_want_string(pc_t *c, const pn_t *n, char **out)
{
    int rc = want(c, n, PN_SCALAR);
    if (rc)
        return rc;
    if (n->plain && (n->n == 0 || strcmp(n->s, "~") == 0 || strcmp(n->s, "null") == 0))
        return pc_fail(c, n, "expected a string, found null");
    free(*out);
    *out = pol__xstrndup(n->s, n->n);
    return 0;
}

static bool in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

/* ---- endpoints ----------------------------------------------------------------- */

static int parse_port(pc_t *c, const pn_t *n, uint16_t *out)
{
    int rc = want(c, n, PN_SCALAR);
    if (rc)
        return rc;
    unsigned long v = 0;
    bool ok = n->n > 0 && n->n <= 5;
    for (size_t i = 0; ok && i < n->n; i++) {
        ok = n->s[i] >= '0' && n->s[i] <= '9';
        v = v * 10 + (unsigned long)(n->s[i] - '0');
    }
    if (!ok || v < 1 || v > 65535) {
        ocsf_buf_t b;
        ocsf_buf_init(&b);
        rc = pc_fail(c, n, "port '%s' is not a number in 1..65535", pol__shown(&b, n->s, n->n));
        ocsf_buf_dispose(&b);
        return rc;
    }
    *out = (uint16_t)v;
    return 0;
}

static void add_port(pol_endpoint_t *e, uint16_t port)
{
    e->ports = pol__grow(e->ports, e->nports, sizeof *e->ports);
    e->ports[e->nports++] = port;
}

static int parse_ports(pc_t *c, const pn_t *n, pol_endpoint_t *e)
{
    int rc = want(c, n, PN_SEQ);
    for (size_t i = 0; rc == 0 && i < n->nkids; i++) {
        size_t mark = pc_push_index(c, i);
        uint16_t port;
        if ((rc = parse_port(c, n->kids[i], &port)) == 0)
            add_port(e, port);
        c->path.len = mark;
    }
    return rc;
}

/* What an endpoint's fields leave for the checks of the whole endpoint. */
typedef struct {
    json_t *extra;       /* kept keys enforced outside policy/ (allowed_ips) */
    const pn_t *port;    /* `port:` (OpenShell: ignored when `ports:` has any) */
    const pn_t *ports;   /* `ports:` */
    const pn_t *allowed; /* `allowed_ips:` */
    uint16_t port_v;
} ep_ctx_t;

static int endpoint_field(pc_t *c, const pn_t *k, const pn_t *v, pol_endpoint_t *e, ep_ctx_t *x)
{
    const char *key = k->s;
    if (strcmp(key, "host") == 0) {
        int rc = want_string(c, v, &e->host);
        if (rc)
            return rc;
        for (char *p = e->host; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        char why[256];
        if (pol_host_pattern_check(e->host, why, sizeof why))
            return pc_fail(c, v, "%s", why);
        return 0;
    }
    if (strcmp(key, "port") == 0) {
        x->port = v;
        return parse_port(c, v, &x->port_v);
    }
    if (strcmp(key, "ports") == 0) {
        x->ports = v;
        return parse_ports(c, v, e);
    }
    int rc = pol__l7_field(c, k, v, e);
    if (rc != -ENOENT)
        return rc;
    if (strcmp(key, "allowed_ips") == 0) { /* enforced by the proxy */
        x->allowed = v;
        if ((rc = pol__allowed_ips_check(c, v)) == 0)
            json_object_set_new(x->extra, key, pn_to_json(v));
        return rc;
    }
    return pc_fail(c, k, "unknown key");
}

/* OpenShell's host rules of a whole endpoint: a host, except that a non-tcp
 * endpoint may give only allowed_ips (any host on the port: refused by name
 * here); tcp wants a DNS name. */
static int endpoint_host_check(pc_t *c, const pn_t *n, const pol_endpoint_t *e, const ep_ctx_t *x)
{
    bool tcp = e->protocol && strcmp(e->protocol, "tcp") == 0;
    if (!e->host && tcp)
        return pc_fail(c, n,
                       "protocol tcp requires a DNS hostname; hostless allowed_ips endpoints are "
                       "supported only by the forward proxy");
    if (!e->host && x->allowed && x->allowed->kind == PN_SEQ && x->allowed->nkids)
        return pc_fail(c, n,
                       "host: missing; an endpoint with only allowed_ips (any host on the port, "
                       "limited by address) is not supported by tollgate yet");
    if (!e->host)
        return pc_fail(c, n,
                       "endpoint host must not be empty unless allowed_ips constrains a non-TCP "
                       "proxy endpoint");
    unsigned char a[16];
    if (tcp && (inet_pton(AF_INET, e->host, a) == 1 || inet_pton(AF_INET6, e->host, a) == 1))
        return pc_fail(
            c, n, "protocol tcp endpoint '%s' must use a DNS hostname, not an IP literal", e->host);
    return 0;
}

static int parse_endpoint(pc_t *c, const pn_t *n, pol_endpoint_t *e)
{
    int rc = want(c, n, PN_MAP);
    if (rc)
        return rc;
    ep_ctx_t x = {.extra = json_object()};
    json_t *extra = x.extra;
    for (size_t i = 0; rc == 0 && i + 1 < n->nkids; i += 2) {
        size_t mark = pc_push(c, n->kids[i]);
        rc = endpoint_field(c, n->kids[i], n->kids[i + 1], e, &x);
        c->path.len = mark;
    }
    if (rc == 0 && x.port && e->nports) { /* OpenShell: ports wins, port is ignored */
        bool listed = false;
        for (size_t i = 0; i < e->nports; i++)
            listed |= e->ports[i] == x.port_v;
        if (!listed)
            pol__pc_warn(c, x.port, "port %u is ignored: ports is set (as in OpenShell)",
                         (unsigned)x.port_v);
    } else if (rc == 0 && x.port) {
        add_port(e, x.port_v);
    }
    if (rc == 0)
        rc = endpoint_host_check(c, n, e, &x);
    if (rc == 0 && e->nports == 0)
        rc = pc_fail(c, n, "endpoint '%s' must declare at least one port (port: or ports:)",
                     e->host);
    if (rc == 0)
        rc = pol__l7_check(c, n, e);
    if (rc == 0) {
        pol__ports_normalise(e->ports, &e->nports);
        if (json_object_size(extra))
            e->extra_json = json_dumps(extra, JSON_COMPACT | JSON_SORT_KEYS);
    }
    json_decref(extra);
    return rc;
}

static int parse_endpoints(pc_t *c, const pn_t *n, pol_rule_t *r)
{
    int rc = want(c, n, PN_SEQ);
    for (size_t i = 0; rc == 0 && i < n->nkids; i++) {
        size_t mark = pc_push_index(c, i);
        rc = parse_endpoint(c, n->kids[i], pol__add_endpoint(r));
        c->path.len = mark;
    }
    return rc;
}

/* ---- binaries: "- path: /usr/bin/x" (both), "- /usr/bin/x" (providers only) ---- */

/* `harness:` (a bool): deprecated and ignored by OpenShell, so here too. */
static int binary_harness(pc_t *c, const pn_t *k, const pn_t *v)
{
    static const char *const ok[] = {"true", "True", "TRUE", "false", "False", "FALSE", NULL};
    bool is_bool = false;
    for (const char *const *o = ok; v->kind == PN_SCALAR && v->plain && *o; o++)
        is_bool |= strcmp(v->s, *o) == 0;
    if (!is_bool)
        return pc_fail(c, v, "expected true or false");
    pol__pc_warn(c, k, "deprecated and ignored (as in OpenShell)");
    return 0;
}

static int parse_binary(pc_t *c, const pn_t *n, pol_rule_t *r)
{
    const pn_t *v = n;
    int rc = 0;
    if (n->kind == PN_MAP) {
        v = NULL;
        for (size_t i = 0; rc == 0 && i + 1 < n->nkids; i += 2) {
            size_t mark = pc_push(c, n->kids[i]);
            if (strcmp(n->kids[i]->s, "path") == 0)
                v = n->kids[i + 1];
            else if (strcmp(n->kids[i]->s, "harness") == 0)
                rc = binary_harness(c, n->kids[i], n->kids[i + 1]);
            else
                rc = pc_fail(c, n->kids[i], "unknown key");
            c->path.len = mark;
        }
        if (rc == 0 && !v)
            rc = pc_fail(c, n, "binary without a path");
    } else if (!c->provider) {
        rc = pc_fail(c, n, "expected a mapping {path: ...}, found %s", kind_name(n));
    }
    char *path = NULL;
    if (rc == 0)
        rc = want_string(c, v, &path);
    const char *why;
    if (rc == 0)
        pol__binary_normalise(path);
    if (rc == 0 && pol__binary_check(path, &why))
        rc = pc_fail(c, v, "%s", why);
    if (rc == 0 && !pol__has_binary(r, path))
        pol__add_binary(r, path);
    free(path);
    return rc;
}

static int parse_binaries(pc_t *c, const pn_t *n, pol_rule_t *r)
{
    int rc = want(c, n, PN_SEQ);
    for (size_t i = 0; rc == 0 && i < n->nkids; i++) {
        size_t mark = pc_push_index(c, i);
        rc = parse_binary(c, n->kids[i], r);
        c->path.len = mark;
    }
    return rc;
}

/* ---- policies ------------------------------------------------------------------ */

static int parse_rule(pc_t *c, const pn_t *k, const pn_t *v, pol_rule_t *r)
{
    const char *why;
    if (pol__key_check(k->s, &why))
        return pc_fail(c, k, "%s", why);
    if (!c->allow_provider_keys && pol__is_provider_key(k->s))
        return pc_fail(c, k,
                       "keys starting with '_provider_' are reserved for provider layers "
                       "(attach the provider instead)");
    r->key = pol__xstrndup(k->s, k->n);
    r->layer = pol__xstrdup(pol__is_provider_key(k->s) ? k->s : POL__BASE_LAYER);
    int rc = want(c, v, PN_MAP);
    for (size_t i = 0; rc == 0 && i + 1 < v->nkids; i += 2) {
        const pn_t *fk = v->kids[i], *fv = v->kids[i + 1];
        size_t mark = pc_push(c, fk);
        if (strcmp(fk->s, "name") == 0)
            rc = want_string(c, fv, &r->name);
        else if (strcmp(fk->s, "endpoints") == 0)
            rc = parse_endpoints(c, fv, r);
        else if (strcmp(fk->s, "binaries") == 0)
            rc = parse_binaries(c, fv, r);
        else
            rc = pc_fail(c, fk, "unknown key");
        c->path.len = mark;
    }
    return rc;
}

static int parse_network_policies(pc_t *c, const pn_t *n, pol_policy_t *p)
{
    if (n->kind == PN_SCALAR && n->plain && n->n == 0)
        return 0; /* `network_policies:` with nothing: no rules */
    int rc = want(c, n, PN_MAP);
    for (size_t i = 0; rc == 0 && i + 1 < n->nkids; i += 2) {
        size_t mark = pc_push(c, n->kids[i]);
        rc = parse_rule(c, n->kids[i], n->kids[i + 1], pol__add_rule(p));
        c->path.len = mark;
    }
    return rc;
}

static int parse_version(pc_t *c, const pn_t *n, pol_policy_t *p)
{
    if (n->kind != PN_SCALAR || !n->plain || strcmp(n->s, "1") != 0) {
        ocsf_buf_t b;
        ocsf_buf_init(&b);
        int rc = pc_fail(c, n, "version must be 1, found '%s'",
                         n->kind == PN_SCALAR ? pol__shown(&b, n->s, n->n) : kind_name(n));
        ocsf_buf_dispose(&b);
        return rc;
    }
    p->schema_version = 1;
    return 0;
}

static int parse_policy(pc_t *c, const pn_t *root, pol_policy_t *p)
{
    int rc = want(c, root, PN_MAP);
    json_t *sections = json_object();
    p->schema_version = 0; /* until `version: 1` is read */
    for (size_t i = 0; rc == 0 && i + 1 < root->nkids; i += 2) {
        const pn_t *k = root->kids[i], *v = root->kids[i + 1];
        size_t mark = pc_push(c, k);
        if (strcmp(k->s, "version") == 0)
            rc = parse_version(c, v, p);
        else if (strcmp(k->s, "network_policies") == 0)
            rc = parse_network_policies(c, v, p);
        else if ((rc = pol__section(c, k, v)) == -ENOENT)
            rc = pc_fail(c, k, "unknown key");
        else if (rc == 0 && strcmp(k->s, "network_middlewares") != 0 &&
                 !(v->kind == PN_SCALAR && v->plain && v->n == 0))
            json_object_setn_new(sections, k->s, k->n, pn_to_json(v)); /* kept, shown */
        c->path.len = mark;
    }
    if (rc == 0 && p->schema_version != 1)
        rc = pc_fail(c, root, "version: missing (version: 1)");
    if (rc == 0 && json_object_size(sections))
        p->sections_json = json_dumps(sections, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(sections);
    return rc;
}

pol_policy_t *pol_parse_yaml(const char *yaml, size_t len, const char *origin,
                             bool allow_provider_keys, char *err, size_t errlen)
{
    pc_t c = {.origin = origin ? origin : "<policy>",
              .err = err,
              .errlen = errlen,
              .allow_provider_keys = allow_provider_keys};
    pn_t *root = NULL;
    if (pn_parse(yaml, len, c.origin, &root, err, errlen))
        return NULL;
    ocsf_buf_init(&c.path);
    ocsf_buf_init(&c.warnings);
    pol_policy_t *p = pol_policy_create();
    int rc = parse_policy(&c, root, p);
    if (rc == 0 && c.warnings.len)
        p->warnings = pol__xstrndup(c.warnings.p, c.warnings.len);
    ocsf_buf_dispose(&c.warnings);
    ocsf_buf_dispose(&c.path);
    pn_free(root);
    if (rc) {
        pol_policy_destroy(p);
        return NULL;
    }
    return p;
}

/* Reads at most POL__MAX_DOC bytes; a bigger file is an error. */
static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    ocsf_buf_t o, data;
    ocsf_buf_init(&o);
    ocsf_buf_init(&data);
    pol__shown(&o, path, strlen(path));
    FILE *f = fopen(path, "rb");
    if (!f) {
        pol__errf(err, errlen, "%s: %s", o.p, strerror(errno));
        goto fail;
    }
    char chunk[16384];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && data.len <= POL__MAX_DOC)
        ocsf_buf_put(&data, chunk, n);
    bool bad = ferror(f) != 0;
    fclose(f);
    if (bad || data.len > POL__MAX_DOC) {
        pol__errf(err, errlen, "%s: %s", o.p,
                  bad ? "read error" : "larger than 8 MiB (a policy is smaller)");
        goto fail;
    }
    ocsf_buf_dispose(&o);
    *len = data.len;
    ocsf_buf_cstr(&data);
    return data.p;
fail:
    ocsf_buf_dispose(&data);
    ocsf_buf_dispose(&o);
    return NULL;
}

pol_policy_t *pol_load_file(const char *path, bool allow_provider_keys, char *err, size_t errlen)
{
    size_t len = 0;
    char *data = read_file(path, &len, err, errlen);
    if (!data)
        return NULL;
    pol_policy_t *p = pol_parse_yaml(data, len, path, allow_provider_keys, err, errlen);
    free(data);
    return p;
}

/* ---- provider profiles ----------------------------------------------------------- */

static const char *const credential_keys[] = {
    "name",        "description", "env_vars",      "required",    "auth_style", "header_name",
    "query_param", "refresh",     "path_template", "token_grant", NULL,
};

/* Credentials are the gateway's business; here they are only checked. */
static int check_credentials(pc_t *c, const pn_t *n)
{
    int rc = want(c, n, PN_SEQ);
    for (size_t i = 0; rc == 0 && i < n->nkids; i++) {
        size_t mark = pc_push_index(c, i);
        const pn_t *cred = n->kids[i];
        rc = want(c, cred, PN_MAP);
        for (size_t k = 0; rc == 0 && k + 1 < cred->nkids; k += 2) {
            size_t m2 = pc_push(c, cred->kids[k]);
            if (!in_list(cred->kids[k]->s, credential_keys))
                rc = pc_fail(c, cred->kids[k], "unknown key");
            c->path.len = m2;
        }
        c->path.len = mark;
    }
    return rc;
}

static int check_provider_id(pc_t *c, const pn_t *v, const char *id)
{
    size_t n = strlen(id);
    bool ok = n > 0 && n <= POL__MAX_ID;
    for (size_t i = 0; ok && i < n; i++)
        ok = (id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9') || id[i] == '-' ||
             id[i] == '_';
    return ok ? 0 : pc_fail(c, v, "a provider id is 1 to 64 of [a-z0-9_-]");
}

/* OpenShell's categories, spelled as it writes them (`-` read as `_`). */
static int provider_category(pc_t *c, const pn_t *v, pol_provider_t *pr)
{
    static const char *const cats[] = {"other",     "inference", "agent",     "source_control",
                                       "messaging", "data",      "knowledge", NULL};
    int rc = want_string(c, v, &pr->category);
    for (char *p = pr->category; rc == 0 && *p; p++)
        *p = *p == '-' ? '_' : (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : *p;
    if (rc || in_list(pr->category, cats))
        return rc;
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    rc = pc_fail(c, v,
                 "unsupported provider profile category '%s' (other, inference, agent, "
                 "source_control, messaging, data, knowledge)",
                 pol__shown(&b, v->s, v->n));
    ocsf_buf_dispose(&b);
    return rc;
}

static int provider_field(pc_t *c, const pn_t *k, const pn_t *v, pol_provider_t *pr, pol_rule_t *r)
{
    static const char *const shown_only[] = {"description", "source", "scope", NULL};
    const char *key = k->s;
    if (strcmp(key, "id") == 0) {
        int rc = want_string(c, v, &pr->id);
        return rc ? rc : check_provider_id(c, v, pr->id);
    }
    if (strcmp(key, "category") == 0)
        return provider_category(c, v, pr);
    if (strcmp(key, "resource_version") == 0 || strcmp(key, "inference_capable") == 0)
        return want(c, v, PN_SCALAR);
    if (strcmp(key, "annotations") == 0)
        return want(c, v, PN_MAP);
    if (strcmp(key, "display_name") == 0)
        return want_string(c, v, &pr->display_name);
    if (in_list(key, shown_only)) {
        char *s = NULL;
        int rc = want_string(c, v, &s);
        free(s);
        return rc;
    }
    if (strcmp(key, "discovery") == 0)
        return want(c, v, PN_MAP);
    if (strcmp(key, "credentials") == 0)
        return check_credentials(c, v);
    if (strcmp(key, "endpoints") == 0)
        return parse_endpoints(c, v, r);
    if (strcmp(key, "binaries") == 0)
        return parse_binaries(c, v, r);
    return pc_fail(c, k, "unknown key");
}

static int parse_provider(pc_t *c, const pn_t *root, pol_provider_t *pr, pol_rule_t *r)
{
    int rc = want(c, root, PN_MAP);
    for (size_t i = 0; rc == 0 && i + 1 < root->nkids; i += 2) {
        size_t mark = pc_push(c, root->kids[i]);
        rc = provider_field(c, root->kids[i], root->kids[i + 1], pr, r);
        c->path.len = mark;
    }
    if (rc == 0 && !pr->id)
        rc = pc_fail(c, root, "id: missing");
    if (rc == 0 && !pr->display_name)
        rc = pc_fail(c, root, "display_name: missing");
    if (rc)
        return rc;
    if (!pr->category)
        pr->category = pol__xstrdup("other");
    /* The layer of an instance named like the profile (pol_compose_named
     * renames it after the instance). */
    char key[POL__PROVIDER_LEN + POL__MAX_ID + 1];
    pol_provider_rule_name(pr->id, key, sizeof key);
    r->key = pol__xstrdup(key);
    r->layer = pol__xstrdup(key);
    r->name = pol__xstrdup(key);
    r->profile = pol__xstrdup(pr->id);
    return 0;
}

pol_provider_t *pol_provider_parse(const char *yaml, size_t len, const char *origin, char *err,
                                   size_t errlen)
{
    pc_t c = {
        .origin = origin ? origin : "<provider>", .err = err, .errlen = errlen, .provider = true};
    pn_t *root = NULL;
    if (pn_parse(yaml, len, c.origin, &root, err, errlen))
        return NULL;
    ocsf_buf_init(&c.path);
    ocsf_buf_init(&c.warnings);
    pol_provider_t *pr = pol__xcalloc(1, sizeof *pr);
    pr->as_policy = pol_policy_create();
    pr->as_policy->schema_version = 1;
    int rc = parse_provider(&c, root, pr, pol__add_rule(pr->as_policy));
    if (rc == 0 && c.warnings.len)
        pr->as_policy->warnings = pol__xstrndup(c.warnings.p, c.warnings.len);
    ocsf_buf_dispose(&c.warnings);
    ocsf_buf_dispose(&c.path);
    pn_free(root);
    if (rc) {
        pol_provider_destroy(pr);
        return NULL;
    }
    return pr;
}

void pol_provider_destroy(pol_provider_t *pr)
{
    if (!pr)
        return;
    free(pr->id);
    free(pr->display_name);
    free(pr->category);
    pol_policy_destroy(pr->as_policy);
    free(pr);
}
