/*
 * update_l7.c: the updates OpenShell's `policy update` names by rule or by
 * method and path: --remove-rule NAME, --add-allow and --add-deny
 * HOST:PORT:METHOD:PATH (OpenShell's merge semantics: the HOST:PORT names
 * exactly one endpoint of the base policy, protocol rest; an `access` preset
 * is expanded into allow rules before one is added; a deny needs an allow
 * base). Provider layers are never a target.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy/pol_internal.h"

/* ---- the spec ------------------------------------------------------------------- */

static int spec_fail(char *err, size_t errlen, const char *flag, const char *why, const char *s)
{
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    pol__errf(err, errlen, "%s %s in '%s'", flag, why, pol__shown(&b, s, strlen(s)));
    ocsf_buf_dispose(&b);
    return -EINVAL;
}

int pol_l7_spec_parse(const char *s, const char *flag, pol_l7_spec_t *out, char *err, size_t errlen)
{
    const char *part[4];
    size_t len[4], n = 0;
    memset(out, 0, sizeof *out);
    for (const char *p = s;; n++) {
        size_t k = strcspn(p, ":");
        if (n < 4)
            part[n] = p, len[n] = k;
        if (!p[k]) {
            n++;
            break;
        }
        p += k + 1;
    }
    if (n != 4)
        return spec_fail(err, errlen, flag, "expects HOST:PORT:METHOD:PATH_GLOB", s);
    unsigned long port = 0;
    bool ok = len[1] > 0 && len[1] <= 5;
    for (size_t i = 0; ok && i < len[1]; i++) {
        ok = part[1][i] >= '0' && part[1][i] <= '9';
        port = port * 10 + (unsigned long)(part[1][i] - '0');
    }
    if (len[0] == 0)
        return spec_fail(err, errlen, flag, "has an empty host", s);
    if (!ok || port == 0 || port > 65535)
        return spec_fail(err, errlen, flag, "has a port that is not a number in 1..65535", s);
    if (len[2] == 0)
        return spec_fail(err, errlen, flag, "has an empty METHOD", s);
    for (size_t i = 0; i < len[2]; i++)
        if (part[2][i] == ' ' || part[2][i] == '\t')
            return spec_fail(err, errlen, flag, "has whitespace in its METHOD", s);
    const char *path = part[3];
    if (len[3] == 0)
        return spec_fail(err, errlen, flag, "has an empty path", s);
    if (path[0] != '/' && strcmp(path, "**") != 0 && strncmp(path, "**/", 3) != 0)
        return spec_fail(err, errlen, flag, "path must start with '/' or be '**'", s);
    out->host = pol__xstrndup(part[0], len[0]);
    for (char *c = out->host; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    char why[256];
    if (pol_host_pattern_check(out->host, why, sizeof why) != 0) {
        pol__errf(err, errlen, "%s: %s", flag, why);
        pol_l7_spec_dispose(out);
        return -EINVAL;
    }
    out->port = (uint16_t)port;
    out->method = pol__xstrndup(part[2], len[2]);
    for (char *c = out->method; *c; c++)
        if (*c >= 'a' && *c <= 'z')
            *c = (char)(*c - 'a' + 'A');
    out->path = pol__xstrdup(path);
    return 0;
}

void pol_l7_spec_dispose(pol_l7_spec_t *s)
{
    if (!s)
        return;
    free(s->host);
    free(s->method);
    free(s->path);
    memset(s, 0, sizeof *s);
}

/* ---- --remove-rule ---------------------------------------------------------------- */

int pol__update_remove_rules(pol_policy_t *p, const pol_update_t *u, ocsf_buf_t *sum, char *err,
                             size_t errlen)
{
    for (size_t k = 0; k < u->nremove_rules; k++) {
        const char *name = u->remove_rules[k];
        ocsf_buf_t b;
        ocsf_buf_init(&b);
        pol__shown(&b, name, strlen(name));
        int i = pol__is_provider_key(name) ? -2 : pol__find_rule(p, name);
        if (i < 0)
            pol__errf(err, errlen, "remove-rule: '%s' %s", b.p,
                      i == -2 ? "is a provider layer: providers are composed after the base, "
                                "no update can remove them"
                              : "is not a rule of the policy");
        ocsf_buf_dispose(&b);
        if (i < 0)
            return i == -2 ? -EPERM : -ENOENT;
        pol__rule_dispose(&p->rules[i]);
        memmove(&p->rules[i], &p->rules[i + 1], (p->nrules - (size_t)i - 1) * sizeof *p->rules);
        p->nrules--;
        if (sum->len)
            ocsf_buf_puts(sum, "; ");
        ocsf_buf_puts(sum, "remove-rule ");
        ocsf_buf_puts(sum, name);
    }
    return 0;
}

/* ---- --add-allow / --add-deny ------------------------------------------------------- */

static bool has_port(const pol_endpoint_t *e, uint16_t port)
{
    for (size_t i = 0; i < e->nports; i++)
        if (e->ports[i] == port)
            return true;
    return false;
}

/* The one base endpoint on s's host and port (its rule in *rule), or NULL
 * with err: none, or several (OpenShell refuses to guess which to widen). */
static pol_endpoint_t *target(pol_policy_t *p, const pol_l7_spec_t *s, const char *flag,
                              const char **rule, char *err, size_t errlen)
{
    pol_endpoint_t *hit = NULL;
    ocsf_buf_t names;
    ocsf_buf_init(&names);
    size_t n = 0;
    for (size_t i = 0; i < p->nrules; i++) {
        pol_rule_t *r = &p->rules[i];
        if (pol__is_provider_key(r->key))
            continue;
        for (size_t k = 0; k < r->nendpoints; k++) {
            pol_endpoint_t *e = &r->endpoints[k];
            if (strcasecmp(e->host, s->host) != 0 || !has_port(e, s->port))
                continue;
            hit = e, *rule = r->key, n++;
            ocsf_buf_puts(&names, names.len ? ", " : "");
            ocsf_buf_puts(&names, r->key);
        }
    }
    ocsf_buf_cstr(&names);
    if (n == 0)
        pol__errf(err, errlen, "%s: endpoint %s:%u was not found in the current policy", flag,
                  s->host, (unsigned)s->port);
    else if (n > 1)
        pol__errf(err, errlen,
                  "%s: endpoint %s:%u is in several rules (%s); it cannot say which binary "
                  "scope to widen: set the whole policy instead",
                  flag, s->host, (unsigned)s->port, names.p);
    else if (!hit->protocol || strcmp(hit->protocol, "rest") != 0)
        pol__errf(err, errlen, "%s: endpoint %s:%u %s%s%s; method/path rules need protocol rest",
                  flag, s->host, (unsigned)s->port,
                  hit->protocol ? "uses protocol '" : "has no L7 inspection (no protocol)",
                  hit->protocol ? hit->protocol : "", hit->protocol ? "'" : "");
    ocsf_buf_dispose(&names);
    return n == 1 && hit->protocol && strcmp(hit->protocol, "rest") == 0 ? hit : NULL;
}

static void push_rule(pol_l7_rule_t **arr, size_t *n, const char *method, const char *path)
{
    for (size_t i = 0; i < *n; i++)
        if ((*arr)[i].nquery == 0 && strcmp((*arr)[i].method, method) == 0 &&
            strcmp((*arr)[i].path, path) == 0)
            return; /* already there */
    *arr = pol__grow(*arr, *n, sizeof **arr);
    pol_l7_rule_t *r = &(*arr)[(*n)++];
    memset(r, 0, sizeof *r);
    r->method = pol__xstrdup(method);
    r->path = pol__xstrdup(path);
}

/* `access` becomes the allow rules it stands for (OpenShell's expansion), so
 * that a rule can be added beside it (access and rules are exclusive). */
static void expand_access(pol_endpoint_t *e)
{
    static const char *const rw[] = {"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH"};
    if (!e->access)
        return;
    size_t n = strcmp(e->access, "read-only") == 0    ? 3
               : strcmp(e->access, "read-write") == 0 ? 6
                                                      : 0;
    if (strcmp(e->access, "full") == 0)
        push_rule(&e->l7_allow, &e->nl7_allow, "*", "**");
    for (size_t i = 0; i < n; i++)
        push_rule(&e->l7_allow, &e->nl7_allow, rw[i], "**");
    free(e->access);
    e->access = NULL;
}

static int add_one(pol_policy_t *p, const pol_l7_spec_t *s, bool allow, ocsf_buf_t *sum, char *err,
                   size_t errlen)
{
    const char *flag = allow ? "add-allow" : "add-deny", *rule = NULL;
    pol_endpoint_t *e = target(p, s, flag, &rule, err, errlen);
    if (!e)
        return -EINVAL;
    if (allow) {
        expand_access(e);
        push_rule(&e->l7_allow, &e->nl7_allow, s->method, s->path);
    } else if (!e->access && !e->nl7_allow) {
        pol__errf(err, errlen,
                  "add-deny: endpoint %s:%u has no allow base; give it access or allow rules "
                  "first",
                  s->host, (unsigned)s->port);
        return -EINVAL;
    } else {
        push_rule(&e->l7_deny, &e->nl7_deny, s->method, s->path);
    }
    if (sum->len)
        ocsf_buf_puts(sum, "; ");
    ocsf_buf_puts(sum, flag);
    ocsf_buf_putc(sum, ' ');
    ocsf_buf_puts(sum, rule);
    ocsf_buf_putc(sum, ' ');
    ocsf_buf_puts(sum, s->host);
    ocsf_buf_putc(sum, ':');
    ocsf_buf_put_i64(sum, s->port);
    ocsf_buf_putc(sum, ' ');
    ocsf_buf_puts(sum, s->method);
    ocsf_buf_putc(sum, ' ');
    ocsf_buf_puts(sum, s->path);
    return 0;
}

int pol__update_l7(pol_policy_t *p, const pol_update_t *u, ocsf_buf_t *sum, char *err,
                   size_t errlen)
{
    for (size_t i = 0; i < u->nallow; i++)
        if (add_one(p, &u->allow[i], true, sum, err, errlen))
            return -EINVAL;
    for (size_t i = 0; i < u->ndeny; i++)
        if (add_one(p, &u->deny[i], false, sum, err, errlen))
            return -EINVAL;
    return 0;
}

int pol__update_loads(const pol_policy_t *p, char *err, size_t errlen)
{
    char *yaml = pol_to_yaml(p, false);
    char why[1024];
    pol_policy_t *back =
        pol_parse_yaml(yaml, strlen(yaml), "the updated policy", false, why, sizeof why);
    free(yaml);
    if (!back) {
        pol__errf(err, errlen, "the update would make a policy that does not load: %s", why);
        return -EINVAL;
    }
    pol_policy_destroy(back);
    return 0;
}
