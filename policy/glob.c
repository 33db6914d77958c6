/*
 * glob.c: host and binary-path patterns.
 *
 * Hosts (OpenShell's shape and semantics, its rego `glob.match` with `.` as
 * the delimiter): exact (ASCII case-insensitive); `*` within a label matches
 * any run of bytes of that label (`*.x.com` one label, `api-*.x.com`,
 * `*-ai.x.com`); a later label may be a whole `*` (`*.s3.*.amazonaws.com`);
 * `**` as the whole first label matches one label or more, so
 * `**.example.com` does not match example.com itself. `*.com`/`**.com`,
 * bare `*`/`**` and other shapes are refused. A queried host's trailing dot
 * is ignored. These two functions are the reference the compiled index
 * (index.c) must agree with.
 *
 * Paths: `*` matches within one path segment (no '/'), `**` across
 * segments (any bytes), and a `**` that is a whole segment also matches
 * zero directories ("/a/" "**" "/b" matches /a/b). No allocation: a one-row
 * dynamic programme over the path, paths up to POL__MAX_PATH bytes.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "policy/pol_internal.h"

static bool host_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '*';
}

/* OpenShell's wildcard shape: `**` only as the whole first label; a `*`
 * inside the first label (`api-*`, `*-aiplatform`); a later label is a
 * whole `*` or has no star. */
static const char *host_label_why(const char *label, size_t n, bool first)
{
    if (n == 0)
        return "empty label in host";
    if (n > 63)
        return "host label longer than 63 bytes";
    bool star = memchr(label, '*', n) != NULL;
    bool dstar = n >= 2 && memmem(label, n, "**", 2) != NULL;
    if (!star)
        return NULL;
    if (first ? dstar && n != 2 : dstar || n != 1)
        return "invalid host wildcard: middle DNS label wildcards must be the entire label '*' "
               "and recursive '**' is only allowed as the entire first label";
    return NULL;
}

static const char *host_pattern_why(const char *pattern, size_t n)
{
    if (n == 0)
        return "empty host";
    if (n > POL__MAX_HOST)
        return "host longer than 253 bytes";
    if (strcmp(pattern, "*") == 0 || strcmp(pattern, "**") == 0)
        return "a bare wildcard would allow every host";
    if (memchr(pattern, ':', n)) {
        unsigned char a6[16];
        if (inet_pton(AF_INET6, pattern, a6) == 1)
            return NULL; /* an IPv6 literal, without brackets */
        return "a host has no port or scheme (write the port in port:)";
    }
    size_t labels = 0;
    for (const char *l = pattern;; labels++) {
        const char *dot = strchr(l, '.');
        size_t ln = dot ? (size_t)(dot - l) : strlen(l);
        for (size_t i = 0; i < ln; i++)
            if (!host_char_ok(l[i]))
                return "invalid character in host";
        const char *why = host_label_why(l, ln, labels == 0);
        if (why)
            return why;
        if (!dot)
            break;
        l = dot + 1;
    }
    labels++;
    if ((strncmp(pattern, "*.", 2) == 0 || strncmp(pattern, "**.", 3) == 0) && labels <= 2)
        return "TLD wildcard is not allowed; use subdomain wildcards like '*.example.com' instead";
    return NULL;
}

int pol_host_pattern_check(const char *pattern, char *err, size_t errlen)
{
    size_t n = strlen(pattern);
    const char *why = host_pattern_why(pattern, n);
    if (!why)
        return 0;
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    pol__errf(err, errlen, "host '%s': %s", pol__shown(&b, pattern, n), why);
    ocsf_buf_dispose(&b);
    return -EINVAL;
}

/* One label against a label pattern: `*` any run of bytes (an empty one
 * too), other bytes ASCII case-insensitive. Iterative, backtracking to the
 * last star only: linear in practice. */
static bool label_match(const char *p, size_t pn, const char *s, size_t sn)
{
    size_t pi = 0, si = 0, star = SIZE_MAX, mark = 0;
    while (si < sn) {
        if (pi < pn && p[pi] == '*') {
            star = pi++;
            mark = si;
        } else if (pi < pn && tolower((unsigned char)p[pi]) == tolower((unsigned char)s[si])) {
            pi++;
            si++;
        } else if (star != SIZE_MAX) {
            pi = star + 1;
            si = ++mark;
        } else {
            return false;
        }
    }
    while (pi < pn && p[pi] == '*')
        pi++;
    return pi == pn;
}

/* The label after position `end` (exclusive) going left: sets *start. */
static size_t label_left(const char *s, size_t end, size_t *start)
{
    size_t i = end;
    while (i > 0 && s[i - 1] != '.')
        i--;
    *start = i;
    return end - i;
}

bool pol_host_match(const char *pattern, const char *host)
{
    size_t hl = strlen(host);
    if (hl && host[hl - 1] == '.')
        hl--;
    size_t pl = strlen(pattern);
    if (!memchr(pattern, '*', pl))
        return pl == hl && strncasecmp(pattern, host, hl) == 0;
    if (hl == 0 || host[0] == '.' || memmem(host, hl, "..", 2))
        return false; /* an empty label matches no pattern */
    bool recursive = strncmp(pattern, "**.", 3) == 0;
    size_t pfirst = recursive ? 3 : 0; /* the labels matched one by one */
    size_t pend = pl, hend = hl;
    for (;;) { /* right to left, one label of each */
        size_t ps, hs;
        size_t pn = label_left(pattern, pend, &ps);
        size_t hn = label_left(host, hend, &hs);
        if (!label_match(pattern + ps, pn, host + hs, hn))
            return false;
        if (ps == pfirst) /* `**` takes one label or more; else the host must be used up */
            return recursive ? hs > 0 : hs == 0;
        if (hs == 0)
            return false;
        pend = ps - 1;
        hend = hs - 1;
    }
}

/* ---- paths ------------------------------------------------------------------------ */

/* reach[i]: the pattern read so far can match s[0..i); lo and hi bound
 * the reachable positions, so a literal byte costs only their span. One
 * token at a time: a literal byte, `*`, `**`, or slash-star-star-slash. */
static bool glob_dp(const char *p, const char *s, size_t n)
{
    bool reach[POL__MAX_PATH + 1];
    memset(reach, 0, n + 1);
    reach[0] = true;
    size_t lo = 0, hi = 0;
    while (*p) {
        size_t nlo = SIZE_MAX, nhi = 0;
        if (p[0] == '/' && p[1] == '*' && p[2] == '*' && p[3] == '/') {
            /* "/" or "/" any "/" */
            bool slash_before = false;
            for (size_t i = lo; i <= n; i++) {
                bool was = reach[i];
                reach[i] = slash_before && s[i - 1] == '/';
                if (reach[i]) {
                    nlo = nlo == SIZE_MAX ? i : nlo;
                    nhi = i;
                }
                if (was && i < n && s[i] == '/')
                    slash_before = true;
            }
            p += 4;
        } else if (p[0] == '*' && p[1] == '*') {
            memset(reach + lo, 1, n - lo + 1);
            nlo = lo, nhi = n;
            p += 2;
        } else if (p[0] == '*') {
            nlo = lo, nhi = hi;
            for (size_t i = lo + 1; i <= n; i++) {
                if (!reach[i] && reach[i - 1] && s[i - 1] != '/')
                    reach[i] = true;
                if (reach[i])
                    nhi = i;
                else if (i > hi)
                    break;
            }
            p += 1;
        } else {
            for (size_t i = hi < n ? hi + 1 : n; i > lo; i--) {
                reach[i] = reach[i - 1] && s[i - 1] == *p;
                if (reach[i]) {
                    nhi = nhi ? nhi : i;
                    nlo = i;
                }
            }
            reach[lo] = false;
            p += 1;
        }
        if (nlo == SIZE_MAX)
            return false;
        lo = nlo, hi = nhi;
    }
    return reach[n];
}

bool pol_path_match(const char *pattern, const char *path)
{
    const char *star = strchr(pattern, '*');
    if (!star)
        return strcmp(pattern, path) == 0;
    /* Cheap rejections first: the literal text before the first `*` must
     * start the path, the text after the last `*` must end it (a slash
     * either side of `**` belongs to the literal text, so both hold). */
    size_t pre = (size_t)(star - pattern);
    if (strncmp(pattern, path, pre) != 0)
        return false;
    size_t n = strlen(path);
    if (n > POL__MAX_PATH)
        return false;
    const char *last = strrchr(pattern, '*') + 1;
    size_t suf = strlen(last);
    if (suf > n || memcmp(last, path + n - suf, suf) != 0)
        return false;
    /* The prefix matched: run from one byte before the first `*`, so a
     * slash-star-star-slash token is read whole. */
    size_t off = pre ? pre - 1 : 0;
    return glob_dp(pattern + off, path + off, n - off);
}
