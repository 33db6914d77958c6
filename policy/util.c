/*
 * util.c: memory (abort on OOM), text checks, and the plain-tree helpers
 * (copy, dispose, append) every other policy/ file uses.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/pol_internal.h"

/* ---- memory ------------------------------------------------------------------ */

void *pol__xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        abort(); /* OOM policy: small fixed allocations abort */
    return p;
}

void *pol__xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        abort();
    return p;
}

char *pol__xstrndup(const char *s, size_t n)
{
    char *d = pol__xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *pol__xstrdup(const char *s)
{
    return s ? pol__xstrndup(s, strlen(s)) : NULL;
}

void *pol__grow(void *arr, size_t n, size_t size)
{
    if (n & (n - 1))
        return arr; /* not a power of two: there is room */
    size_t cap = n ? 2 * n : 1;
    if (cap > SIZE_MAX / size)
        abort();
    void *p = realloc(arr, cap * size);
    if (!p)
        abort();
    return p;
}

/* ---- text ---------------------------------------------------------------------- */

void pol__errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    /* snprintf may cut inside a UTF-8 sequence: end cleanly. */
    size_t n = strlen(err);
    if (n == errlen - 1)
        err[pol__utf8_cut(err, n)] = '\0';
}

const char *pol__shown(ocsf_buf_t *b, const char *s, size_t n)
{
    ocsf_text_escape(b, s, n, POL__SHOWN, OCSF_ESC_MSG);
    return ocsf_buf_cstr(b);
}

bool pol__utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        size_t len;
        uint32_t v, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            len = 2, v = c & 0x1f, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3, v = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4, v = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((u[i + k] & 0xc0) != 0x80)
                return false;
            v = (v << 6) | (u[i + k] & 0x3f);
        }
        if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

size_t pol__utf8_cut(const char *s, size_t n)
{
    /* Walk back to the start of the last sequence; keep it only if whole. */
    const unsigned char *u = (const unsigned char *)s;
    size_t m = n;
    while (m > 0 && n - m < 4 && (u[m - 1] & 0xc0) == 0x80)
        m--;
    if (m == 0 || u[m - 1] < 0x80)
        return n; /* ASCII end, or stray continuation bytes: nothing to repair */
    unsigned char lead = u[m - 1];
    size_t want = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
    return n - (m - 1) >= want ? n : m - 1;
}

bool pol__has_ctl(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return true;
    return false;
}

bool pol__is_provider_key(const char *key)
{
    return key && strncmp(key, POL__PROVIDER, POL__PROVIDER_LEN) == 0;
}

int pol__binary_check(const char *path, const char **why)
{
    size_t n = strlen(path);
    if (n == 0)
        *why = "empty binary path";
    else if (n > POL__MAX_PATH)
        *why = "binary path longer than 4096 bytes";
    else if (path[0] != '/')
        *why = "binary path must be absolute";
    else if (pol__has_ctl(path, n))
        *why = "control character in binary path";
    else if (!pol__utf8_valid(path, n))
        *why = "invalid UTF-8 in binary path";
    else if (strstr(path, "/../") || (n >= 3 && strcmp(path + n - 3, "/..") == 0))
        *why = "'..' in binary path (the kernel reports resolved paths: write the resolved one)";
    else if (strstr(path, "//") || strstr(path, "/./") ||
             (n >= 2 && strcmp(path + n - 2, "/.") == 0))
        *why = "binary path is not normalised ('//' or '/./')";
    else if (n > 1 && path[n - 1] == '/')
        *why = "binary path ends with '/' (a directory; use /dir/** for every binary under it)";
    else
        return 0;
    return -EINVAL;
}

void pol__binary_normalise(char *path)
{
    size_t w = 0;
    for (size_t r = 0; path[r];) {
        if (path[r] == '/' && w > 0 && path[w - 1] == '/') {
            r++; /* "//" */
        } else if (path[r] == '.' && w > 0 && path[w - 1] == '/' &&
                   (path[r + 1] == '/' || path[r + 1] == '\0')) {
            r += path[r + 1] ? 2 : 1; /* "/./" or a final "/." */
        } else {
            path[w++] = path[r++];
        }
    }
    path[w] = '\0';
}

int pol__key_check(const char *key, const char **why)
{
    size_t n = strlen(key);
    if (n == 0)
        *why = "empty rule name";
    else if (n > POL__MAX_KEY)
        *why = "rule name longer than 300 bytes";
    else if (pol__has_ctl(key, n) || strpbrk(key, " \t"))
        *why = "control character or space in rule name";
    else if (!pol__utf8_valid(key, n))
        *why = "invalid UTF-8 in rule name";
    else
        return 0;
    return -EINVAL;
}

/* ---- the plain tree ------------------------------------------------------------- */

void pol__endpoint_dispose(pol_endpoint_t *e)
{
    free(e->host);
    free(e->ports);
    free(e->protocol);
    free(e->access);
    free(e->enforcement);
    free(e->extra_json);
    pol__l7_dispose(e);
    memset(e, 0, sizeof *e);
}

void pol__endpoint_copy(pol_endpoint_t *dst, const pol_endpoint_t *src)
{
    dst->host = pol__xstrdup(src->host);
    dst->nports = src->nports;
    dst->ports = pol__xmalloc(src->nports * sizeof *dst->ports);
    if (src->nports)
        memcpy(dst->ports, src->ports, src->nports * sizeof *dst->ports);
    dst->protocol = pol__xstrdup(src->protocol);
    dst->access = pol__xstrdup(src->access);
    dst->enforcement = pol__xstrdup(src->enforcement);
    dst->extra_json = pol__xstrdup(src->extra_json);
    pol__l7_copy(dst, src);
}

void pol__rule_dispose(pol_rule_t *r)
{
    for (size_t i = 0; i < r->nendpoints; i++)
        pol__endpoint_dispose(&r->endpoints[i]);
    free(r->endpoints);
    for (size_t i = 0; i < r->nbinaries; i++)
        free(r->binaries[i]);
    free(r->binaries);
    free(r->key);
    free(r->name);
    free(r->layer);
    free(r->profile);
    memset(r, 0, sizeof *r);
}

void pol__rule_copy(pol_rule_t *dst, const pol_rule_t *src)
{
    memset(dst, 0, sizeof *dst);
    dst->key = pol__xstrdup(src->key);
    dst->name = pol__xstrdup(src->name);
    dst->layer = pol__xstrdup(src->layer);
    dst->profile = pol__xstrdup(src->profile);
    for (size_t i = 0; i < src->nendpoints; i++)
        pol__endpoint_copy(pol__add_endpoint(dst), &src->endpoints[i]);
    for (size_t i = 0; i < src->nbinaries; i++)
        pol__add_binary(dst, src->binaries[i]);
}

pol_rule_t *pol__add_rule(pol_policy_t *p)
{
    p->rules = pol__grow(p->rules, p->nrules, sizeof *p->rules);
    pol_rule_t *r = &p->rules[p->nrules++];
    memset(r, 0, sizeof *r);
    return r;
}

pol_endpoint_t *pol__add_endpoint(pol_rule_t *r)
{
    r->endpoints = pol__grow(r->endpoints, r->nendpoints, sizeof *r->endpoints);
    pol_endpoint_t *e = &r->endpoints[r->nendpoints++];
    memset(e, 0, sizeof *e);
    return e;
}

void pol__add_binary(pol_rule_t *r, const char *path)
{
    r->binaries = pol__grow(r->binaries, r->nbinaries, sizeof *r->binaries);
    r->binaries[r->nbinaries++] = pol__xstrdup(path);
}

bool pol__has_binary(const pol_rule_t *r, const char *path)
{
    for (size_t i = 0; i < r->nbinaries; i++)
        if (strcmp(r->binaries[i], path) == 0)
            return true;
    return false;
}

static int port_cmp(const void *a, const void *b)
{
    uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;
    return (x > y) - (x < y);
}

void pol__ports_normalise(uint16_t *ports, size_t *n)
{
    if (*n < 2)
        return;
    qsort(ports, *n, sizeof *ports, port_cmp);
    size_t w = 1;
    for (size_t i = 1; i < *n; i++)
        if (ports[i] != ports[w - 1])
            ports[w++] = ports[i];
    *n = w;
}

int pol__find_rule(const pol_policy_t *p, const char *key)
{
    for (size_t i = 0; i < p->nrules; i++)
        if (strcmp(p->rules[i].key, key) == 0)
            return (int)i;
    return -1;
}

int pol__rule_cmp(const void *a, const void *b)
{
    const pol_rule_t *x = a, *y = b;
    int px = pol__is_provider_key(x->key), py = pol__is_provider_key(y->key);
    return px != py ? px - py : strcmp(x->key, y->key);
}

int pol__rule_ptr_cmp(const void *a, const void *b)
{
    return pol__rule_cmp(*(const pol_rule_t *const *)a, *(const pol_rule_t *const *)b);
}
