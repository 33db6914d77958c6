/*
 * l7_path.c: the request side of L7 decisions: the path canonicaliser
 * (OpenShell's rules, so a policy sees the path the upstream dispatches on),
 * the L7 glob (OPA's glob.match: `*` stops at '/' in paths, `**` does not),
 * and query-string matchers. Untrusted input; no allocation; bounded stack.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "policy/pol_internal.h"

#define SLASH_SENTINEL 0x01 /* a decoded %2F inside a segment (raw 0x01 is refused) */

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool pchar_literal(unsigned char b)
{
    return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') ||
           (b && strchr("-._~!$&'()*+,;=:@", b));
}

/* Percent-decodes p[0..n) into dec (n bytes at most); %2F becomes the
 * sentinel (or an error). */
static int decode_path(const char *p, size_t n, bool allow_es, unsigned char *dec, size_t *dn,
                       const char **why)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)p[i];
        if (b < 0x20 || b == 0x7f) {
            *why = "control byte in the path";
            return -EINVAL;
        }
        if (b >= 0x80) {
            *why = "raw non-ASCII byte in the path (must be %-encoded)";
            return -EINVAL;
        }
        if (b == '#') {
            *why = "fragment in the request target";
            return -EINVAL;
        }
        if (b == '%') {
            int hi = i + 2 < n ? hexval((unsigned char)p[i + 1]) : -1;
            int lo = i + 2 < n ? hexval((unsigned char)p[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                *why = "invalid %-escape in the path";
                return -EINVAL;
            }
            b = (unsigned char)(hi << 4 | lo);
            i += 2;
            if (b == '/' && !allow_es) {
                *why = "encoded '/' (%2F) in the path, and the endpoint does not set "
                       "allow_encoded_slash";
                return -EINVAL;
            }
            if (b == '/')
                b = SLASH_SENTINEL;
            else if (b < 0x20 || b == 0x7f) {
                *why = "%-encoded control byte in the path";
                return -EINVAL;
            }
        }
        dec[o++] = b;
    }
    *dn = o;
    return 0;
}

typedef struct {
    uint16_t off, len;
} seg_t;

static bool is_dots(const unsigned char *s, size_t n)
{
    return (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.');
}

/* Splits dec (starting with '/') into segments, strips ";params", resolves
 * dot segments; returns the count or -EINVAL. */
static int resolve(const unsigned char *dec, size_t dn, seg_t *st, const char **why)
{
    size_t top = 0, start = 1;
    for (size_t i = 1; i <= dn; i++) {
        if (i < dn && dec[i] != '/')
            continue;
        bool last = i == dn;
        size_t len = i - start;
        const unsigned char *semi = memchr(dec + start, ';', len);
        if (semi)
            len = (size_t)(semi - (dec + start));
        const unsigned char *s = dec + start;
        start = i + 1;
        if (len == 2 && s[0] == '.' && s[1] == '.') {
            if (top == 0) {
                *why = "'..' above the root of the path";
                return -EINVAL;
            }
            top--;
            if (last)
                st[top++] = (seg_t){0, 0};
        } else if (len == 1 && s[0] == '.') {
            if (last)
                st[top++] = (seg_t){0, 0};
        } else if (len > 0 || last) {
            st[top++] = (seg_t){(uint16_t)(s - dec), (uint16_t)len};
        }
    }
    return (int)top;
}

/* A dot segment hidden behind an encoded slash. */
static bool residual_dots(const unsigned char *dec, const seg_t *st, int nseg)
{
    for (int k = 0; k < nseg; k++) {
        const unsigned char *s = dec + st[k].off;
        size_t from = 0;
        for (size_t i = 0; i <= st[k].len; i++) {
            if (i < st[k].len && s[i] != SLASH_SENTINEL)
                continue;
            if (is_dots(s + from, i - from))
                return true;
            from = i + 1;
        }
    }
    return false;
}

int pol_l7_canon_path(const char *path, size_t len, bool allow_encoded_slash, char *out,
                      size_t outlen, const char **why)
{
    static const char hex[] = "0123456789ABCDEF";
    unsigned char dec[POL__MAX_PATH];
    seg_t st[POL__MAX_PATH / 2 + 1];
    size_t dn = 0;
    *why = "path longer than 4096 bytes";
    if (len > POL__MAX_PATH)
        return -E2BIG;
    if (len == 0)
        path = "/", len = 1;
    if (path[0] != '/') {
        *why = "not an origin-form path (it must start with '/')";
        return -EINVAL;
    }
    int rc = decode_path(path, len, allow_encoded_slash, dec, &dn, why);
    int nseg = rc ? rc : resolve(dec, dn, st, why);
    if (nseg < 0)
        return nseg;
    if (residual_dots(dec, st, nseg)) {
        *why = "a '.' or '..' segment behind an encoded slash";
        return -EINVAL;
    }
    size_t o = 0;
    *why = "path longer than 4096 bytes";
    for (int k = 0; k < nseg || k == 0; k++) {
        if (o + 1 >= outlen || o >= POL__MAX_PATH)
            return -E2BIG;
        out[o++] = '/';
        for (size_t i = 0; k < nseg && i < st[k].len; i++) {
            unsigned char b = dec[st[k].off + i];
            bool lit = b != SLASH_SENTINEL && pchar_literal(b);
            if (o + (lit ? 1 : 3) >= outlen || o + (lit ? 1 : 3) > POL__MAX_PATH)
                return -E2BIG;
            if (lit) {
                out[o++] = (char)b;
                continue;
            }
            b = b == SLASH_SENTINEL ? '/' : b;
            out[o++] = '%', out[o++] = hex[b >> 4], out[o++] = hex[b & 15];
        }
    }
    out[o] = '\0';
    return 0;
}

/* ---- the glob ------------------------------------------------------------------------ */

/* Reads a [class] at p (after '['): sets *end past ']' and returns whether
 * c is in it; *end NULL when unclosed (then '[' is a literal). */
static bool class_match(const char *p, unsigned char c, const char **end)
{
    bool neg = *p == '!' || *p == '^', in = false;
    p += neg;
    for (bool first = true; *p && (first || *p != ']'); first = false) {
        unsigned char lo = (unsigned char)(*p == '\\' && p[1] ? *++p : *p), hi = lo;
        p++;
        if (*p == '-' && p[1] && p[1] != ']') {
            hi = (unsigned char)(p[1] == '\\' && p[2] ? p[2] : p[1]);
            p += p[1] == '\\' && p[2] ? 3 : 2;
        }
        in |= c >= lo && c <= hi;
    }
    *end = *p == ']' ? p + 1 : NULL;
    return in != neg;
}

/* One single-byte token at p matched against c; *next past it. */
static bool byte_token(const char *p, unsigned char c, bool path, const char **next)
{
    if (*p == '?') {
        *next = p + 1;
        return !(path && c == '/');
    }
    if (*p == '[') {
        const char *end;
        bool in = class_match(p + 1, c, &end);
        if (end) {
            *next = end;
            return in && !(path && c == '/');
        }
    }
    if (*p == '\\' && p[1])
        p++;
    *next = p + 1;
    return c == (unsigned char)*p;
}

bool pol_l7_glob(const char *p, const char *s, size_t n, bool path)
{
    if (strcmp(p, "**") == 0)
        return true;
    if (!strpbrk(p, "*?[\\"))
        return strlen(p) == n && memcmp(p, s, n) == 0;
    if (n > L7_MAX_SUBJECT)
        return false;
    bool reach[L7_MAX_SUBJECT + 1];
    memset(reach, 0, n + 1);
    reach[0] = true;
    while (*p) {
        bool any = false;
        if (p[0] == '*') {
            bool star2 = p[1] == '*';
            p += star2 ? 2 : 1;
            for (size_t i = 1; i <= n; i++)
                reach[i] = reach[i] || (reach[i - 1] && (star2 || !path || s[i - 1] != '/'));
            any = true; /* reach[i] only grows: still reachable */
        } else {
            const char *next = p, *unused;
            byte_token(p, 0, path, &next); /* where the token ends does not depend on the byte */
            for (size_t i = n; i > 0; i--) {
                reach[i] = reach[i - 1] && byte_token(p, (unsigned char)s[i - 1], path, &unused);
                any |= reach[i];
            }
            reach[0] = false;
            p = next;
        }
        if (!any && !reach[0])
            return false;
    }
    return reach[n];
}

/* ---- query strings ------------------------------------------------------------------- */

/* Decodes one query component (%HH, '+' as space) into out (cap bytes);
 * -EINVAL on a bad escape, invalid UTF-8 or too long. */
static int query_decode(const char *s, size_t n, char *out, size_t cap, size_t *on)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++, o++) {
        if (o >= cap)
            return -EINVAL;
        unsigned char b = (unsigned char)s[i];
        if (b == '+') {
            b = ' ';
        } else if (b == '%') {
            int hi = i + 2 < n ? hexval((unsigned char)s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return -EINVAL;
            b = (unsigned char)(hi << 4 | lo);
            i += 2;
        }
        out[o] = (char)b;
    }
    *on = o;
    return pol__utf8_valid(out, o) ? 0 : -EINVAL;
}

static bool value_matches(const pol_l7_query_t *m, const char *v, size_t n)
{
    for (size_t g = 0; g < m->nglobs; g++)
        if (pol_l7_glob(m->globs[g], v, n, false))
            return true;
    return false;
}

/* For one matcher: counts the request's values of its key and how many
 * match. -EINVAL when the query cannot be decoded. */
static int query_scan(const pol_l7_query_t *m, const char *q, size_t *nvals, size_t *nmatch)
{
    char key[L7_MAX_SUBJECT], val[L7_MAX_SUBJECT];
    size_t klen = strlen(m->key);
    *nvals = *nmatch = 0;
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t plen = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', plen);
        size_t kn = eq ? (size_t)(eq - q) : plen, dk, dv;
        if (plen && query_decode(q, kn, key, sizeof key, &dk))
            return -EINVAL;
        if (plen && dk == klen && memcmp(key, m->key, klen) == 0) {
            const char *v = eq ? eq + 1 : q + plen;
            if (query_decode(v, (size_t)(q + plen - v), val, sizeof val, &dv))
                return -EINVAL;
            (*nvals)++;
            *nmatch += value_matches(m, val, dv);
        }
        q = amp ? amp + 1 : NULL;
    }
    return 0;
}

int pol__l7_query_match(const pol_l7_rule_t *r, const char *query, bool deny)
{
    for (size_t i = 0; i < r->nquery; i++) {
        size_t nvals, nmatch;
        if (query && strlen(query) > L7_MAX_SUBJECT)
            return -E2BIG;
        if (query_scan(&r->query[i], query, &nvals, &nmatch))
            return -EINVAL;
        /* allow: every value of the key matches (and there is one); deny:
         * some value matches (a missing key does not deny), as OpenShell. */
        bool ok = deny ? nmatch > 0 : nvals > 0 && nmatch == nvals;
        if (!ok)
            return 0;
    }
    return 1;
}
