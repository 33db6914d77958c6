/*
 * update.c: incremental updates of a base policy (`policy update
 * --add-endpoint/--remove-endpoint/--binary/--rule-name`; --remove-rule,
 * --add-allow and --add-deny are in update_l7.c).
 *
 * An update works on a copy and returns it whole or not at all. It takes a
 * base policy only: one holding a provider layer is refused, and no update
 * can name a `_provider_` rule, so provider layers (composed afterwards) can
 * never lose an endpoint to an update.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/pol_internal.h"

#define DEFAULT_ACCESS      "read-write"
#define DEFAULT_PROTOCOL    "rest"
#define DEFAULT_ENFORCEMENT "enforce"

/* ---- endpoint specs ------------------------------------------------------------ */

static bool one_of(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

/* OpenShell's --add-endpoint protocols tollgate does not enforce. */
static const char *const refused_protocols[] = {"websocket", "sql", "graphql",
                                                "json-rpc",  "mcp", NULL};

static int spec_field(const char *name, const char *v, size_t n, char **out, char *err,
                      size_t errlen)
{
    static const char *const access[] = {"read-only", "read-write", "full", NULL};
    static const char *const enforcement[] = {"enforce", "audit", NULL};
    static const char *const protocol[] = {"rest", "tcp", NULL};
    if (n == 0)
        return 0; /* empty: the default */
    char *s = pol__xstrndup(v, n);
    bool ok = n <= 32;
    if (strcmp(name, "access") == 0)
        ok = ok && one_of(s, access);
    else if (strcmp(name, "enforcement") == 0)
        ok = ok && one_of(s, enforcement);
    else if (strcmp(name, "protocol") == 0)
        ok = ok && one_of(s, protocol);
    for (size_t i = 0; ok && i < n; i++)
        ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
             s[i] == '_';
    if (!ok) {
        ocsf_buf_t b;
        ocsf_buf_init(&b);
        pol__errf(err, errlen, "%s '%s' is %s%s", name, pol__shown(&b, v, n),
                  one_of(s, refused_protocols) ? "not supported by tollgate yet" : "not valid",
                  strcmp(name, "access") == 0        ? " (read-only, read-write, full)"
                  : strcmp(name, "enforcement") == 0 ? " (enforce, audit)"
                                                     : " (rest, tcp)");
        ocsf_buf_dispose(&b);
        free(s);
        return -EINVAL;
    }
    *out = s;
    return 0;
}

static int spec_port(const char *v, size_t n, bool allow_zero, uint16_t *out, char *err,
                     size_t errlen)
{
    unsigned long port = 0;
    bool ok = n > 0 && n <= 5;
    for (size_t i = 0; ok && i < n; i++) {
        ok = v[i] >= '0' && v[i] <= '9';
        port = port * 10 + (unsigned long)(v[i] - '0');
    }
    if (ok && port <= 65535 && (port > 0 || allow_zero)) {
        *out = (uint16_t)port;
        return 0;
    }
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    pol__errf(err, errlen, "port '%s' is not a number in %s..65535", pol__shown(&b, v, n),
              allow_zero ? "0" : "1");
    ocsf_buf_dispose(&b);
    return -EINVAL;
}

/* OpenShell's sixth field: comma-separated options. */
static int spec_options(const char *v, size_t n, pol_endpoint_spec_t *out, char *err, size_t errlen)
{
    static const char *const credential[] = {"allow-uninspected-credentials",
                                             "websocket-credential-rewrite",
                                             "request-body-credential-rewrite", NULL};
    static const char ip[] = "allowed-ip=";
    if (n == 0) {
        pol__errf(err, errlen, "empty options field; omit it when no option is needed");
        return -EINVAL;
    }
    for (const char *o = v, *end = v + n; o <= end;) {
        const char *comma = memchr(o, ',', (size_t)(end - o));
        size_t len = comma ? (size_t)(comma - o) : (size_t)(end - o);
        char *opt = pol__xstrndup(o, len);
        ocsf_buf_t b;
        ocsf_buf_init(&b);
        int rc = 0;
        if (len > sizeof ip - 1 && strncmp(opt, ip, sizeof ip - 1) == 0) {
            out->allowed_ips =
                pol__grow(out->allowed_ips, out->nallowed_ips, sizeof *out->allowed_ips);
            out->allowed_ips[out->nallowed_ips++] = pol__xstrdup(opt + sizeof ip - 1);
        } else if (one_of(opt, credential)) {
            pol__errf(err, errlen,
                      "option '%s' is not supported by tollgate yet (tollgate injects no "
                      "credential)",
                      opt);
            rc = -EINVAL;
        } else {
            pol__errf(err, errlen,
                      "option '%s' is not valid (allowed-ip=IP|CIDR; OpenShell's credential "
                      "options are not supported by tollgate yet)",
                      pol__shown(&b, o, len));
            rc = -EINVAL;
        }
        ocsf_buf_dispose(&b);
        free(opt);
        if (rc)
            return rc;
        if (!comma)
            break;
        o = comma + 1;
    }
    return 0;
}

/* HOST or [IPV6], then ":PORT", then (allow_extras) up to four fields. */
int pol_endpoint_spec_parse(const char *s, bool allow_extras, pol_endpoint_spec_t *out, char *err,
                            size_t errlen)
{
    static const char *const extras[] = {"access", "protocol", "enforcement"};
    memset(out, 0, sizeof *out);
    const char *host = s, *p;
    size_t hl;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        host = s + 1;
        hl = close ? (size_t)(close - host) : 0;
        p = close ? close + 1 : s + strlen(s);
        if (!close || (*p && *p != ':')) {
            pol__errf(err, errlen, "expected [IPV6]:PORT");
            return -EINVAL;
        }
    } else {
        p = strchr(s, ':');
        p = p ? p : s + strlen(s);
        hl = (size_t)(p - s);
    }
    out->host = pol__xstrndup(host, hl);
    for (char *c = out->host; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    int rc = pol_host_pattern_check(out->host, err, errlen);
    const char *field = *p ? p + 1 : NULL;
    if (rc == 0 && !field && allow_extras) {
        pol__errf(err, errlen, "expected HOST:PORT[:ACCESS[:PROTOCOL[:ENFORCEMENT[:OPTIONS]]]]");
        rc = -EINVAL;
    }
    for (int i = -1; rc == 0 && field; i++) {
        const char *end = strchr(field, ':');
        size_t n = end ? (size_t)(end - field) : strlen(field);
        if (i == -1) {
            rc = spec_port(field, n, !allow_extras, &out->port, err, errlen);
        } else if (!allow_extras || i >= 4) {
            pol__errf(err, errlen, "too many fields (expected %s)",
                      allow_extras ? "HOST:PORT[:ACCESS[:PROTOCOL[:ENFORCEMENT[:OPTIONS]]]]"
                                   : "HOST:PORT");
            rc = -EINVAL;
        } else if (i == 3) {
            /* the rest of the spec: an IPv6 allowed-ip holds colons */
            rc = spec_options(field, strlen(field), out, err, errlen);
            end = NULL;
        } else {
            char **dst = i == 0 ? &out->access : i == 1 ? &out->protocol : &out->enforcement;
            rc = spec_field(extras[i], field, n, dst, err, errlen);
        }
        field = end ? end + 1 : NULL;
    }
    if (rc == 0 && out->protocol && strcmp(out->protocol, "tcp") == 0 &&
        (out->access || out->enforcement)) {
        pol__errf(err, errlen, "protocol tcp does not support access or enforcement");
        rc = -EINVAL;
    }
    if (rc)
        pol_endpoint_spec_dispose(out);
    return rc;
}

void pol_endpoint_spec_dispose(pol_endpoint_spec_t *s)
{
    if (!s)
        return;
    free(s->host);
    free(s->access);
    free(s->protocol);
    free(s->enforcement);
    for (size_t i = 0; i < s->nallowed_ips; i++)
        free(s->allowed_ips[i]);
    free(s->allowed_ips);
    memset(s, 0, sizeof *s);
}

/* ---- the summary --------------------------------------------------------------- */

static void put_hostport(ocsf_buf_t *b, const char *host, uint16_t port)
{
    bool v6 = strchr(host, ':') != NULL;
    if (v6)
        ocsf_buf_putc(b, '[');
    ocsf_buf_puts(b, host);
    ocsf_buf_puts(b, v6 ? "]:" : ":");
    ocsf_buf_put_i64(b, port);
}

static void put_binaries(ocsf_buf_t *b, const pol_update_t *u)
{
    ocsf_buf_puts(b, " binaries=[");
    for (size_t i = 0; i < u->nbinaries; i++) {
        if (i)
            ocsf_buf_puts(b, ", ");
        ocsf_buf_puts(b, u->binaries[i]);
    }
    ocsf_buf_putc(b, ']');
}

static void put_clause_sep(ocsf_buf_t *b)
{
    if (b->len)
        ocsf_buf_puts(b, "; ");
}

/* ---- removal ----------------------------------------------------------------------- */

static void remove_endpoint_at(pol_rule_t *r, size_t k)
{
    pol__endpoint_dispose(&r->endpoints[k]);
    memmove(&r->endpoints[k], &r->endpoints[k + 1], (r->nendpoints - k - 1) * sizeof *r->endpoints);
    r->nendpoints--;
}

static void remove_rule_at(pol_policy_t *p, size_t i)
{
    pol__rule_dispose(&p->rules[i]);
    memmove(&p->rules[i], &p->rules[i + 1], (p->nrules - i - 1) * sizeof *p->rules);
    p->nrules--;
}

/* Removes the port (or, port 0, the endpoint) from one endpoint. */
static bool remove_from(pol_rule_t *r, size_t k, uint16_t port)
{
    pol_endpoint_t *e = &r->endpoints[k];
    size_t w = 0;
    for (size_t i = 0; i < e->nports; i++)
        if (port != 0 && e->ports[i] != port)
            e->ports[w++] = e->ports[i];
    if (w == e->nports)
        return false;
    e->nports = w;
    if (w == 0)
        remove_endpoint_at(r, k);
    return true;
}

static int remove_spec(pol_policy_t *p, const pol_endpoint_spec_t *s, ocsf_buf_t *sum, char *err,
                       size_t errlen)
{
    ocsf_buf_t keys;
    ocsf_buf_init(&keys);
    for (size_t i = p->nrules; i-- > 0;) {
        pol_rule_t *r = &p->rules[i];
        bool hit = false;
        for (size_t k = r->nendpoints; k-- > 0;)
            if (strcmp(r->endpoints[k].host, s->host) == 0)
                hit |= remove_from(r, k, s->port);
        if (!hit)
            continue;
        if (keys.len)
            ocsf_buf_putc(&keys, ',');
        ocsf_buf_puts(&keys, r->key);
        if (r->nendpoints == 0)
            remove_rule_at(p, i);
    }
    int rc = 0;
    if (keys.len == 0) {
        ocsf_buf_t b;
        ocsf_buf_init(&b);
        put_hostport(&b, s->host, s->port);
        pol__errf(err, errlen, "remove-endpoint: %s%s is not in the policy", ocsf_buf_cstr(&b),
                  s->port ? "" : " (any port)");
        ocsf_buf_dispose(&b);
        rc = -ENOENT;
    } else {
        put_clause_sep(sum);
        ocsf_buf_puts(sum, "remove-endpoint ");
        ocsf_buf_put(sum, keys.p, keys.len);
        ocsf_buf_puts(sum, " endpoints=[");
        put_hostport(sum, s->host, s->port);
        ocsf_buf_putc(sum, ']');
    }
    ocsf_buf_dispose(&keys);
    return rc;
}

/* ---- addition ----------------------------------------------------------------------- */

/* allow_<host>_<port>: lower-case alphanumerics kept, anything else '_'. */
static char *auto_key(const pol_endpoint_spec_t *s)
{
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    ocsf_buf_puts(&b, "allow_");
    for (const char *c = s->host; *c; c++) {
        char ch = (*c >= 'A' && *c <= 'Z') ? (char)(*c - 'A' + 'a') : *c;
        bool keep = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
        ocsf_buf_putc(&b, keep ? ch : '_');
    }
    ocsf_buf_putc(&b, '_');
    ocsf_buf_put_i64(&b, s->port);
    ocsf_buf_cstr(&b);
    return b.p;
}

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* {"allowed_ips": [...]} of a spec (the endpoint's extra_json), or NULL. */
static char *spec_extra(const pol_endpoint_spec_t *s)
{
    if (!s->nallowed_ips)
        return NULL;
    json_t *a = json_array();
    for (size_t i = 0; i < s->nallowed_ips; i++)
        json_array_append_new(a, json_string(s->allowed_ips[i]));
    json_t *o = json_pack("{s:o}", "allowed_ips", a);
    char *j = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    if (!j)
        abort();
    return j;
}

static void add_spec(pol_rule_t *r, const pol_endpoint_spec_t *s)
{
    const char *protocol = s->protocol ? s->protocol : DEFAULT_PROTOCOL;
    bool tcp = strcmp(protocol, "tcp") == 0; /* plain: no L7 keys (defaults or not) */
    const char *access = tcp ? NULL : s->access ? s->access : DEFAULT_ACCESS;
    const char *enforcement = tcp ? NULL : s->enforcement ? s->enforcement : DEFAULT_ENFORCEMENT;
    char *extra = spec_extra(s);
    for (size_t k = 0; k < r->nendpoints; k++) {
        const pol_endpoint_t *e = &r->endpoints[k];
        if (strcmp(e->host, s->host) || !str_eq(e->access, access) ||
            !str_eq(e->protocol, protocol) || !str_eq(e->enforcement, enforcement) ||
            !str_eq(e->extra_json, extra))
            continue;
        for (size_t i = 0; i < e->nports; i++)
            if (e->ports[i] == s->port) {
                free(extra);
                return; /* already there */
            }
    }
    pol_endpoint_t *e = pol__add_endpoint(r);
    e->host = pol__xstrdup(s->host);
    e->ports = pol__xmalloc(sizeof *e->ports);
    e->ports[0] = s->port;
    e->nports = 1;
    e->access = pol__xstrdup(access);
    e->protocol = pol__xstrdup(protocol);
    e->enforcement = pol__xstrdup(enforcement);
    e->extra_json = extra;
}

static size_t find_or_add_rule(pol_policy_t *p, const char *key)
{
    int i = pol__find_rule(p, key);
    if (i >= 0)
        return (size_t)i;
    pol_rule_t *r = pol__add_rule(p);
    r->key = pol__xstrdup(key);
    r->name = pol__xstrdup(key);
    r->layer = pol__xstrdup(POL__BASE_LAYER);
    return p->nrules - 1;
}

static void add_binaries(pol_rule_t *r, const pol_update_t *u)
{
    for (size_t i = 0; i < u->nbinaries; i++)
        if (!pol__has_binary(r, u->binaries[i]))
            pol__add_binary(r, u->binaries[i]);
}

/* One clause per rule, in the order the rules were first named. */
static void add_all(pol_policy_t *p, const pol_update_t *u, ocsf_buf_t *sum)
{
    char **keys = pol__xcalloc(u->nadd, sizeof *keys);
    for (size_t i = 0; i < u->nadd; i++) {
        keys[i] = u->rule_name ? pol__xstrdup(u->rule_name) : auto_key(&u->add[i]);
        size_t r = find_or_add_rule(p, keys[i]);
        add_spec(&p->rules[r], &u->add[i]);
        add_binaries(&p->rules[r], u);
    }
    for (size_t i = 0; i < u->nadd; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(keys[j], keys[i]) == 0;
        if (seen)
            continue;
        put_clause_sep(sum);
        ocsf_buf_puts(sum, "add-endpoint ");
        ocsf_buf_puts(sum, keys[i]);
        ocsf_buf_puts(sum, " endpoints=[");
        for (size_t j = i, n = 0; j < u->nadd; j++) {
            if (strcmp(keys[j], keys[i]))
                continue;
            if (n++)
                ocsf_buf_puts(sum, ", ");
            put_hostport(sum, u->add[j].host, u->add[j].port);
        }
        ocsf_buf_putc(sum, ']');
        put_binaries(sum, u);
    }
    for (size_t i = 0; i < u->nadd; i++)
        free(keys[i]);
    free(keys);
}

/* ---- checks ----------------------------------------------------------------------- */

static int check_spec(const pol_endpoint_spec_t *s, bool add, char *err, size_t errlen)
{
    char why[256];
    const char *what = add ? "add-endpoint" : "remove-endpoint";
    if (!s->host || pol_host_pattern_check(s->host, why, sizeof why)) {
        pol__errf(err, errlen, "%s: %s", what, s->host ? why : "no host");
        return -EINVAL;
    }
    for (const char *c = s->host; *c; c++)
        if (*c >= 'A' && *c <= 'Z') {
            pol__errf(err, errlen, "%s: host must be lower-case (pol_endpoint_spec_parse)", what);
            return -EINVAL;
        }
    if (add && s->port == 0) {
        pol__errf(err, errlen, "add-endpoint: port must be in 1..65535");
        return -EINVAL;
    }
    /* hand-built specs: only what the parser accepts (an update must load back) */
    static const char *const access[] = {"read-only", "read-write", "full", NULL};
    bool tcp = s->protocol && strcmp(s->protocol, "tcp") == 0;
    if (add && ((s->protocol && !tcp && strcmp(s->protocol, "rest") != 0) ||
                (s->access && (tcp || !one_of(s->access, access))) ||
                (s->enforcement && (tcp || (strcmp(s->enforcement, "enforce") != 0 &&
                                            strcmp(s->enforcement, "audit") != 0))))) {
        pol__errf(err, errlen,
                  "add-endpoint: protocol rest or tcp, access read-only, read-write or full, "
                  "enforcement enforce or audit (tcp: neither)");
        return -EINVAL;
    }
    return 0;
}

static int check_update(const pol_policy_t *base, const pol_update_t *u, char *err, size_t errlen)
{
    const char *why;
    for (size_t i = 0; base && i < base->nrules; i++) {
        if (pol__is_provider_key(base->rules[i].key)) {
            ocsf_buf_t b;
            ocsf_buf_init(&b);
            pol__errf(err, errlen,
                      "the policy holds provider layer '%s': updates apply to the base policy "
                      "(providers are composed after)",
                      pol__shown(&b, base->rules[i].key, strlen(base->rules[i].key)));
            ocsf_buf_dispose(&b);
            return -EINVAL;
        }
    }
    /* --binary with only removals and no --rule-name names no rule to add it to */
    size_t others = u->nremove_rules + u->nallow + u->ndeny;
    if ((u->nadd == 0 && u->nremove == 0 && u->nbinaries == 0 && others == 0) ||
        (u->nadd == 0 && u->nbinaries && !u->rule_name)) {
        pol__errf(err, errlen,
                  u->nbinaries ? "--binary needs --add-endpoint or --rule-name"
                               : "empty update: nothing to add or remove");
        return -EINVAL;
    }
    if (u->rule_name) {
        int rc = 0;
        if (pol__key_check(u->rule_name, &why))
            rc = -EINVAL;
        else if (pol__is_provider_key(u->rule_name))
            why = "provider layers cannot be updated", rc = -EPERM;
        else if (u->nadd == 0 && u->nbinaries && base && pol__find_rule(base, u->rule_name) < 0)
            why = "no such rule", rc = -ENOENT;
        if (rc) {
            ocsf_buf_t b;
            ocsf_buf_init(&b);
            pol__errf(err, errlen, "rule name '%s': %s",
                      pol__shown(&b, u->rule_name, strlen(u->rule_name)), why);
            ocsf_buf_dispose(&b);
            return rc;
        }
    }
    for (size_t i = 0; i < u->nbinaries; i++) {
        if (pol__binary_check(u->binaries[i], &why)) {
            ocsf_buf_t b;
            ocsf_buf_init(&b);
            pol__errf(err, errlen, "binary '%s': %s",
                      pol__shown(&b, u->binaries[i], strlen(u->binaries[i])), why);
            ocsf_buf_dispose(&b);
            return -EINVAL;
        }
    }
    for (size_t i = 0; i < u->nadd; i++)
        if (check_spec(&u->add[i], true, err, errlen))
            return -EINVAL;
    for (size_t i = 0; i < u->nremove; i++)
        if (check_spec(&u->remove[i], false, err, errlen))
            return -EINVAL;
    return 0;
}

/* ---- the update -------------------------------------------------------------------- */

static void put_summary(char *summary, size_t summarylen, ocsf_buf_t *sum)
{
    if (!summary || !summarylen)
        return;
    size_t n = sum->len < summarylen - 1 ? sum->len : pol__utf8_cut(sum->p, summarylen - 1);
    if (n)
        memcpy(summary, sum->p, n);
    summary[n] = '\0';
}

pol_policy_t *pol_apply_update(const pol_policy_t *base, const pol_update_t *u, char *summary,
                               size_t summarylen, char *err, size_t errlen)
{
    if (summary && summarylen)
        summary[0] = '\0';
    if (check_update(base, u, err, errlen))
        return NULL;
    pol_policy_t *p = pol_policy_clone(base);
    ocsf_buf_t sum;
    ocsf_buf_init(&sum);
    for (size_t i = 0; i < u->nremove; i++) {
        if (remove_spec(p, &u->remove[i], &sum, err, errlen))
            goto fail;
    }
    if (pol__update_remove_rules(p, u, &sum, err, errlen))
        goto fail;
    if (u->nadd) {
        add_all(p, u, &sum);
    } else if (u->nbinaries) {
        int r = pol__find_rule(p, u->rule_name);
        if (r < 0) {
            pol__errf(err, errlen, "rule name: the rule was removed by this update");
            goto fail;
        }
        add_binaries(&p->rules[r], u);
        put_clause_sep(&sum);
        ocsf_buf_puts(&sum, "add-binary ");
        ocsf_buf_puts(&sum, u->rule_name);
        put_binaries(&sum, u);
    }
    if (pol__update_l7(p, u, &sum, err, errlen) || pol__update_loads(p, err, errlen))
        goto fail;
    ocsf_buf_cstr(&sum);
    put_summary(summary, summarylen, &sum);
    ocsf_buf_dispose(&sum);
    return p;
fail:
    ocsf_buf_dispose(&sum);
    pol_policy_destroy(p);
    return NULL;
}
