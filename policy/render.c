/*
 * render.c: the YAML rendering for `policy get` and the line diff of two
 * renderings.
 *
 * The rendering is block YAML that pol_parse_yaml() reads back to the same
 * canonical JSON (with allow_provider_keys when it holds layers). Rules come
 * in the canonical order (base rules by key, then provider layers by key);
 * everything else is sorted by key too, so the same hash renders the same.
 * A string is written plain when that is unambiguous, otherwise as a JSON
 * string, which is also a YAML double-quoted scalar.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/pol_internal.h"

/* ---- scalars ---------------------------------------------------------------------- */

static bool plain_ok(const char *s, size_t n)
{
    static const char *const yaml11[] = {"y",  "Y",  "n",  "N",  "yes", "Yes", "YES", "no", "No",
                                         "NO", "on", "On", "ON", "off", "Off", "OFF", NULL};
    if (n == 0)
        return false;
    char c0 = s[0];
    if (!((c0 >= 'a' && c0 <= 'z') || (c0 >= 'A' && c0 <= 'Z') || (c0 >= '0' && c0 <= '9') ||
          c0 == '/' || c0 == '_'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("_./@+-", c)))
            return false;
    }
    for (size_t i = 0; yaml11[i]; i++)
        if (strcmp(s, yaml11[i]) == 0)
            return false;
    return !pn_plain_is_typed(s, n);
}

static void y_str(ocsf_buf_t *b, const char *s, size_t n)
{
    if (plain_ok(s, n))
        ocsf_buf_put(b, s, n);
    else
        ocsf_json_escape(b, s, n);
}

static void y_indent(ocsf_buf_t *b, int indent)
{
    for (int i = 0; i < indent; i++)
        ocsf_buf_putc(b, ' ');
}

static void y_scalar(ocsf_buf_t *b, json_t *v)
{
    if (json_is_string(v)) {
        y_str(b, json_string_value(v), json_string_length(v));
        return;
    }
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    if (!s)
        abort();
    ocsf_buf_puts(b, s);
    free(s);
}

static void y_value(ocsf_buf_t *b, json_t *v, int indent);

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of o, sorted, from `indent`; the first key's indentation is
 * already written when `first_inline`. */
static void y_object(ocsf_buf_t *b, json_t *o, int indent, bool first_inline)
{
    size_t n = json_object_size(o), i = 0;
    const char **keys = pol__xmalloc(n * sizeof *keys);
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) keys[i++] = k;
    qsort(keys, n, sizeof *keys, str_cmp);
    for (i = 0; i < n; i++) {
        if (i || !first_inline)
            y_indent(b, indent);
        y_str(b, keys[i], strlen(keys[i]));
        ocsf_buf_putc(b, ':');
        y_value(b, json_object_get(o, keys[i]), indent + 2);
    }
    free(keys);
}

/* Writes " scalar\n" or "\n" + a nested block. */
static void y_value(ocsf_buf_t *b, json_t *v, int indent)
{
    bool empty = (json_is_object(v) && json_object_size(v) == 0) ||
                 (json_is_array(v) && json_array_size(v) == 0);
    if (!json_is_object(v) && !json_is_array(v)) {
        ocsf_buf_putc(b, ' ');
        y_scalar(b, v);
        ocsf_buf_putc(b, '\n');
    } else if (empty) {
        ocsf_buf_puts(b, json_is_object(v) ? " {}\n" : " []\n");
    } else if (json_is_object(v)) {
        ocsf_buf_putc(b, '\n');
        y_object(b, v, indent, false);
    } else {
        ocsf_buf_putc(b, '\n');
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            y_indent(b, indent);
            ocsf_buf_putc(b, '-');
            if (json_is_object(item) && json_object_size(item)) {
                ocsf_buf_putc(b, ' ');
                y_object(b, item, indent + 2, true);
            } else {
                y_value(b, item, indent + 2);
            }
        }
    }
}

/* ---- the document ----------------------------------------------------------------- */

static void y_ports(ocsf_buf_t *b, const pol_endpoint_t *e)
{
    if (e->nports == 1) {
        ocsf_buf_puts(b, "port: ");
        ocsf_buf_put_i64(b, e->ports[0]);
        ocsf_buf_putc(b, '\n');
        return;
    }
    ocsf_buf_puts(b, "ports: [");
    for (size_t i = 0; i < e->nports; i++) {
        if (i)
            ocsf_buf_puts(b, ", ");
        ocsf_buf_put_i64(b, e->ports[i]);
    }
    ocsf_buf_puts(b, "]\n");
}

static void y_field(ocsf_buf_t *b, int indent, const char *key, const char *v)
{
    if (!v)
        return;
    y_indent(b, indent);
    ocsf_buf_puts(b, key);
    ocsf_buf_puts(b, ": ");
    y_str(b, v, strlen(v));
    ocsf_buf_putc(b, '\n');
}

static void y_endpoint(ocsf_buf_t *b, const pol_endpoint_t *e)
{
    const char *host = e->host ? e->host : "";
    ocsf_buf_puts(b, "      - host: ");
    y_str(b, host, strlen(host));
    ocsf_buf_putc(b, '\n');
    y_indent(b, 8);
    y_ports(b, e);
    y_field(b, 8, "protocol", e->protocol);
    y_field(b, 8, "access", e->access);
    y_field(b, 8, "enforcement", e->enforcement);
    json_t *extra = e->extra_json ? json_loads(e->extra_json, 0, NULL) : NULL;
    if (!json_is_object(extra)) {
        json_decref(extra);
        extra = json_object();
    }
    pol__l7_json(e, extra); /* tls, path, rules, deny_rules, ... */
    y_object(b, extra, 8, false);
    json_decref(extra);
}

static void y_rule(ocsf_buf_t *b, const pol_rule_t *r, bool with_layers)
{
    if (with_layers) {
        ocsf_buf_puts(b, "  # layer: ");
        ocsf_text_escape(b, r->layer, strlen(r->layer), 0, OCSF_ESC_MSG);
        if (r->profile) {
            ocsf_buf_puts(b, " (profile: ");
            ocsf_text_escape(b, r->profile, strlen(r->profile), 0, OCSF_ESC_MSG);
            ocsf_buf_putc(b, ')');
        }
        ocsf_buf_putc(b, '\n');
    }
    y_indent(b, 2);
    y_str(b, r->key, strlen(r->key));
    ocsf_buf_puts(b, ":\n");
    y_field(b, 4, "name", r->name);
    ocsf_buf_puts(b, r->nendpoints ? "    endpoints:\n" : "    endpoints: []\n");
    for (size_t i = 0; i < r->nendpoints; i++)
        y_endpoint(b, &r->endpoints[i]);
    ocsf_buf_puts(b, r->nbinaries ? "    binaries:\n" : "    binaries: []\n");
    for (size_t i = 0; i < r->nbinaries; i++) {
        ocsf_buf_puts(b, "      - path: ");
        y_str(b, r->binaries[i], strlen(r->binaries[i]));
        ocsf_buf_putc(b, '\n');
    }
}

char *pol_to_yaml(const pol_policy_t *p, bool with_layers)
{
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    ocsf_buf_puts(&b, "version: ");
    ocsf_buf_put_i64(&b, p->schema_version);
    ocsf_buf_putc(&b, '\n');
    ocsf_buf_puts(&b, p->nrules ? "network_policies:\n" : "network_policies: {}\n");
    const pol_rule_t **order = pol__xmalloc(p->nrules * sizeof *order);
    for (size_t i = 0; i < p->nrules; i++)
        order[i] = &p->rules[i];
    qsort(order, p->nrules, sizeof *order, pol__rule_ptr_cmp);
    for (size_t i = 0; i < p->nrules; i++)
        y_rule(&b, order[i], with_layers);
    free(order);
    json_t *sections = p->sections_json ? json_loads(p->sections_json, 0, NULL) : NULL;
    if (json_is_object(sections))
        y_object(&b, sections, 0, false);
    json_decref(sections);
    ocsf_buf_cstr(&b);
    return b.p;
}

/* ---- diff ------------------------------------------------------------------------------- */

typedef struct {
    const char **s; /* line starts */
    size_t *n;      /* line lengths (without '\n') */
    size_t count;
} lines_t;

static void split_lines(char *text, lines_t *l)
{
    memset(l, 0, sizeof *l);
    for (char *p = text; *p;) {
        char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        l->s = pol__grow(l->s, l->count, sizeof *l->s);
        l->n = pol__grow(l->n, l->count, sizeof *l->n);
        l->s[l->count] = p;
        l->n[l->count++] = len;
        p += len + (nl ? 1 : 0);
    }
}

static bool line_eq(const lines_t *a, size_t i, const lines_t *b, size_t j)
{
    return a->n[i] == b->n[j] && memcmp(a->s[i], b->s[j], a->n[i]) == 0;
}

static void put_line(ocsf_buf_t *o, char mark, const char *s, size_t n)
{
    ocsf_buf_putc(o, mark);
    ocsf_buf_put(o, s, n);
    ocsf_buf_putc(o, '\n');
}

/* LCS over the middle part (after the common prefix and suffix are cut);
 * past ~16M cells the middle is shown as removed-then-added. */
static void diff_middle(ocsf_buf_t *o, const lines_t *a, size_t a0, size_t a1, const lines_t *b,
                        size_t b0, size_t b1)
{
    size_t na = a1 - a0, nb = b1 - b0;
    if (na && nb && (na + 1) * (nb + 1) <= (16u << 20)) {
        size_t w = nb + 1;
        unsigned *t = pol__xcalloc((na + 1) * w, sizeof *t);
        for (size_t i = na; i-- > 0;)
            for (size_t j = nb; j-- > 0;)
                t[i * w + j] = line_eq(a, a0 + i, b, b0 + j)
                                   ? t[(i + 1) * w + j + 1] + 1
                                   : (t[(i + 1) * w + j] > t[i * w + j + 1] ? t[(i + 1) * w + j]
                                                                            : t[i * w + j + 1]);
        size_t i = 0, j = 0;
        while (i < na || j < nb) {
            if (i < na && j < nb && line_eq(a, a0 + i, b, b0 + j)) {
                put_line(o, ' ', a->s[a0 + i], a->n[a0 + i]);
                i++, j++;
            } else if (i < na && (j == nb || t[(i + 1) * w + j] >= t[i * w + j + 1])) {
                put_line(o, '-', a->s[a0 + i], a->n[a0 + i]);
                i++;
            } else {
                put_line(o, '+', b->s[b0 + j], b->n[b0 + j]);
                j++;
            }
        }
        free(t);
        return;
    }
    for (size_t i = a0; i < a1; i++)
        put_line(o, '-', a->s[i], a->n[i]);
    for (size_t j = b0; j < b1; j++)
        put_line(o, '+', b->s[j], b->n[j]);
}

char *pol_diff(const pol_policy_t *a, const pol_policy_t *b)
{
    char *ya = pol_to_yaml(a, true), *yb = pol_to_yaml(b, true);
    lines_t la, lb;
    split_lines(ya, &la);
    split_lines(yb, &lb);
    size_t pre = 0, suf = 0;
    while (pre < la.count && pre < lb.count && line_eq(&la, pre, &lb, pre))
        pre++;
    while (suf < la.count - pre && suf < lb.count - pre &&
           line_eq(&la, la.count - 1 - suf, &lb, lb.count - 1 - suf))
        suf++;
    ocsf_buf_t o;
    ocsf_buf_init(&o);
    if (pre != la.count || pre != lb.count) {
        enum { CONTEXT = 3 };
        size_t from = pre > CONTEXT ? pre - CONTEXT : 0;
        for (size_t i = from; i < pre; i++)
            put_line(&o, ' ', la.s[i], la.n[i]);
        diff_middle(&o, &la, pre, la.count - suf, &lb, pre, lb.count - suf);
        for (size_t i = la.count - suf; i < la.count && i < la.count - suf + CONTEXT; i++)
            put_line(&o, ' ', la.s[i], la.n[i]);
    }
    ocsf_buf_cstr(&o);
    free(la.s);
    free(la.n);
    free(lb.s);
    free(lb.n);
    free(ya);
    free(yb);
    return o.p;
}
