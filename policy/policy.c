/*
 * policy.c: the plain tree's lifecycle, composition with provider layers,
 * and the canonical JSON and its SHA-256.
 *
 * Canonical JSON: compact, keys sorted at every level (jansson's
 * JSON_SORT_KEYS), so rules come out sorted by key; endpoints and binaries
 * keep their order (they are lists); ports are sorted when parsed. The kept
 * sections sit at the top level beside version and network_policies, as in
 * the YAML, so the JSON is OpenShell-shaped too.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "policy/pol_internal.h"

pol_policy_t *pol_policy_create(void)
{
    pol_policy_t *p = pol__xcalloc(1, sizeof *p);
    p->schema_version = 1;
    return p;
}

void pol_policy_destroy(pol_policy_t *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nrules; i++)
        pol__rule_dispose(&p->rules[i]);
    free(p->rules);
    free(p->sections_json);
    free(p->warnings);
    free(p);
}

pol_policy_t *pol_policy_clone(const pol_policy_t *p)
{
    pol_policy_t *c = pol_policy_create();
    if (!p)
        return c;
    c->schema_version = p->schema_version;
    c->sections_json = pol__xstrdup(p->sections_json);
    c->warnings = pol__xstrdup(p->warnings);
    for (size_t i = 0; i < p->nrules; i++)
        pol__rule_copy(pol__add_rule(c), &p->rules[i]);
    return c;
}

void pol_provider_rule_name(const char *instance, char *out, size_t outlen)
{
    if (!outlen)
        return;
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    ocsf_buf_puts(&b, POL__PROVIDER);
    const char *s = instance ? instance : "";
    size_t n = strlen(s);
    while (n && !isalnum((unsigned char)s[n - 1])) /* trimmed: '_' and what becomes '_' */
        n--;
    size_t i = 0;
    while (i < n && !isalnum((unsigned char)s[i]))
        i++;
    for (; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        ocsf_buf_putc(&b, isalnum(ch) && ch < 0x80 ? (char)tolower(ch) : '_');
    }
    if (b.len == POL__PROVIDER_LEN)
        ocsf_buf_puts(&b, "unnamed");
    snprintf(out, outlen, "%s", ocsf_buf_cstr(&b));
    ocsf_buf_dispose(&b);
}

pol_policy_t *pol_compose_named(const pol_policy_t *base, const pol_provider_ref_t *refs, size_t n)
{
    pol_policy_t *c = pol_policy_clone(base);
    for (size_t i = 0; i < n; i++) {
        const pol_policy_t *layer = refs[i].profile ? refs[i].profile->as_policy : NULL;
        bool again = false; /* the same instance attached twice is one layer */
        for (size_t j = 0; j < i && !again; j++)
            again = refs[j].name && refs[i].name && strcmp(refs[j].name, refs[i].name) == 0;
        if (!layer || !layer->nrules || again)
            continue;
        char key[POL__MAX_KEY + 1], want[POL__MAX_KEY - 16];
        pol_provider_rule_name(refs[i].name ? refs[i].name : refs[i].profile->id, want,
                               sizeof want);
        snprintf(key, sizeof key, "%s", want);
        for (unsigned k = 2; pol__find_rule(c, key) >= 0; k++)
            snprintf(key, sizeof key, "%s_%u", want, k);
        pol_rule_t *r = pol__add_rule(c);
        pol__rule_copy(r, &layer->rules[0]);
        free(r->key), free(r->name), free(r->layer);
        r->key = pol__xstrdup(key);
        r->name = pol__xstrdup(key);
        r->layer = pol__xstrdup(key);
    }
    return c;
}

pol_policy_t *pol_compose(const pol_policy_t *base, pol_provider_t *const *providers, size_t n)
{
    pol_provider_ref_t *refs = pol__xcalloc(n, sizeof *refs);
    for (size_t i = 0; i < n; i++)
        refs[i] = (pol_provider_ref_t){providers[i] ? providers[i]->id : NULL, providers[i]};
    pol_policy_t *c = pol_compose_named(base, refs, n);
    free(refs);
    return c;
}

/* ---- canonical JSON ------------------------------------------------------------- */

static void set_str(json_t *o, const char *key, const char *v)
{
    if (v)
        json_object_set_new(o, key, json_string(v));
}

static json_t *endpoint_json(const pol_endpoint_t *e)
{
    json_t *o = e->extra_json ? json_loads(e->extra_json, 0, NULL) : NULL;
    if (!json_is_object(o)) {
        json_decref(o);
        o = json_object();
    }
    set_str(o, "host", e->host);
    json_t *ports = json_array();
    for (size_t i = 0; i < e->nports; i++)
        json_array_append_new(ports, json_integer(e->ports[i]));
    json_object_set_new(o, "ports", ports);
    set_str(o, "protocol", e->protocol);
    set_str(o, "access", e->access);
    set_str(o, "enforcement", e->enforcement);
    pol__l7_json(e, o);
    return o;
}

static json_t *rule_json(const pol_rule_t *r, bool with_layers)
{
    json_t *o = json_object();
    set_str(o, "name", r->name);
    if (with_layers)
        set_str(o, "layer", r->layer);
    json_t *eps = json_array();
    for (size_t i = 0; i < r->nendpoints; i++)
        json_array_append_new(eps, endpoint_json(&r->endpoints[i]));
    json_object_set_new(o, "endpoints", eps);
    json_t *bins = json_array();
    for (size_t i = 0; i < r->nbinaries; i++) {
        json_t *b = json_object();
        set_str(b, "path", r->binaries[i]);
        json_array_append_new(bins, b);
    }
    json_object_set_new(o, "binaries", bins);
    return o;
}

json_t *pol__to_json_tree(const pol_policy_t *p, bool with_layers)
{
    json_t *root = p->sections_json ? json_loads(p->sections_json, 0, NULL) : NULL;
    if (!json_is_object(root)) {
        json_decref(root);
        root = json_object();
    }
    json_object_set_new(root, "version", json_integer(p->schema_version));
    json_t *rules = json_object();
    for (size_t i = 0; i < p->nrules; i++)
        json_object_set_new(rules, p->rules[i].key, rule_json(&p->rules[i], with_layers));
    json_object_set_new(root, "network_policies", rules);
    return root;
}

char *pol_to_json(const pol_policy_t *p, bool with_layers)
{
    json_t *root = pol__to_json_tree(p, with_layers);
    char *s = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(root);
    if (!s)
        abort(); /* OOM (every string in the tree is valid UTF-8) */
    return s;
}

void pol_hash(const pol_policy_t *p, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    char *json = pol_to_json(p, false);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(json, strlen(json), md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        abort(); /* SHA-256 is always there: a broken libcrypto */
    free(json);
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}
