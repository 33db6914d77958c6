/*
 * glob.c: host and binary-path patterns.
 *
 * Hosts: exact (ASCII case-insensitive), `*.<suffix>` (exactly one more
 * label) or `**.<suffix>` (one or more labels, so `**.example.com` does not
 * match example.com itself). The suffix has at least two labels. A queried
 * host's trailing dot is ignored. These two functions are the reference the
 * compiled index (index.c) must agree with.
 *
 * Paths: `*` matches within one path segment (no '/'), `**` across
 * segments (any bytes), and a `**` that is a whole segment also matches
 * zero directories ("/a/" "**" "/b" matches /a/b). No allocation: a one-row
 * dynamic programme over the path, paths up to POL__MAX_PATH bytes.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "policy/pol_internal.h"

static bool host_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == ':';
}

int pol_host_pattern_check(const char *pattern, char *err, size_t errlen)
{
    size_t n = strlen(pattern);
    const char *why = NULL;
    size_t wild = 0; /* length of the wildcard label, 0 when exact */
    if (n == 0)
        why = "empty host";
    else if (n > POL__MAX_HOST)
        why = "host longer than 253 bytes";
    else if (strcmp(pattern, "*") == 0 || strcmp(pattern, "**") == 0)
        why = "a bare wildcard would allow every host";
    if (!why) {
        if (strncmp(pattern, "**.", 3) == 0)
            wild = 2;
        else if (strncmp(pattern, "*.", 2) == 0)
            wild = 1;
        const char *rest = pattern + (wild ? wild + 1 : 0);
        size_t labels = 0, label_len = 0;
        for (const char *c = rest;; c++) {
            if (*c == '.' || *c == '\0') {
                if (label_len == 0) {
                    why = "empty label in host";
                    break;
                }
                if (label_len > 63) {
                    why = "host label longer than 63 bytes";
                    break;
                }
                labels++;
                label_len = 0;
                if (*c == '\0')
                    break;
                continue;
            }
            if (*c == '*') {
                why = "a wildcard must be the whole leftmost label (*.x.com or **.x.com)";
                break;
            }
            if (!host_char_ok(*c)) {
                why = "invalid character in host";
                break;
            }
            label_len++;
        }
        if (!why && wild && labels < 2)
            why = "a wildcard needs a suffix of at least two labels (*.example.com, not *.com)";
    }
    if (!why)
        return 0;
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    pol__errf(err, errlen, "host '%s': %s", pol__shown(&b, pattern, n), why);
    ocsf_buf_dispose(&b);
    return -EINVAL;
}

bool pol_host_match(const char *pattern, const char *host)
{
    size_t hl = strlen(host);
    if (hl && host[hl - 1] == '.')
        hl--;
    size_t wild = strncmp(pattern, "**.", 3) == 0 ? 2 : strncmp(pattern, "*.", 2) == 0 ? 1 : 0;
    if (!wild)
        return strlen(pattern) == hl && strncasecmp(pattern, host, hl) == 0;
    const char *suffix = pattern + wild + 1;
    size_t sl = strlen(suffix);
    /* host = <prefix> "." <suffix>, prefix not empty */
    if (hl < sl + 2 || host[hl - sl - 1] != '.' || strncasecmp(host + hl - sl, suffix, sl) != 0)
        return false;
    return wild == 2 || memchr(host, '.', hl - sl - 1) == NULL;
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
