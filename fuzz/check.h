/*
 * check.h: the oracles the fuzz targets share (header only: the Makefile
 * builds each fuzz/fuzz_*.c as its own program).
 *
 * Written apart from ocsf/ on purpose: a check that reused the library's own
 * UTF-8 decoder would agree with its bugs. chk_fail() prints what broke and
 * where, then aborts, so libFuzzer saves the input as a crash.
 */
#ifndef TOLLGATE_FUZZ_CHECK_H
#define TOLLGATE_FUZZ_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The oracles are not what the fuzzer should explore: no coverage
 * feedback (and none of its cost) from them. */
#define CHK_ORACLE __attribute__((no_sanitize("coverage")))

/* Length (1..4) of the well-formed UTF-8 sequence at s[0..n) and its code
 * point in *cp; 0 when ill-formed (Unicode Table 3-7: no overlongs, no
 * surrogates, nothing above U+10FFFF, no truncated sequence). */
CHK_ORACLE static inline size_t chk_utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xbf;
    size_t len;
    uint32_t v;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, v = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, v = c & 0x0f, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, v = c & 0x07, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if (i > 1 && (s[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    *cp = v;
    return len;
}

CHK_ORACLE static inline bool chk_utf8(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    uint32_t cp;
    for (size_t i = 0, len; i < n; i += len)
        if ((len = chk_utf8_seq(u + i, n - i, &cp)) == 0)
            return false;
    return true;
}

/* Whether well-formed sequences cover s[0..upto) (the last may end past
 * upto, within n): a cut at or before upto can then fall on a boundary. */
CHK_ORACLE static inline bool chk_utf8_through(const char *s, size_t n, size_t upto)
{
    const unsigned char *u = (const unsigned char *)s;
    uint32_t cp;
    for (size_t i = 0, len; i < upto && i < n; i += len)
        if ((len = chk_utf8_seq(u + i, n - i, &cp)) == 0)
            return false;
    return true;
}

/* What a scan forbids (chk_scan). */
enum {
    CHK_UTF8 = 1u << 0, /* ill-formed UTF-8 */
    CHK_C0 = 1u << 1,   /* bytes 0x00-0x1f */
    CHK_DEL = 1u << 2,  /* 0x7f */
    CHK_C1 = 1u << 3,   /* U+0080-U+009F */
    CHK_LSEP = 1u << 4, /* U+2028, U+2029: line breaks to JavaScript */
    CHK_BIDI = 1u << 5, /* what ocsf_text_escape calls format code points */
};
#define CHK_JSON_LINE (CHK_UTF8 | CHK_C0 | CHK_DEL | CHK_C1 | CHK_LSEP)
#define CHK_TEXT_LINE (CHK_UTF8 | CHK_C0 | CHK_DEL | CHK_C1 | CHK_LSEP | CHK_BIDI)

CHK_ORACLE static inline bool chk_bidi(uint32_t cp)
{
    return (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff;
}

/* Offset of the first byte `forbid` rules out, or SIZE_MAX; *why says what
 * it is. An ill-formed byte is skipped when CHK_UTF8 is not asked for. */
CHK_ORACLE static inline size_t chk_scan(const char *s, size_t n, unsigned forbid, const char **why)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, len;
    uint32_t cp;
    for (; i < n; i += len) {
        len = chk_utf8_seq(u + i, n - i, &cp);
        if (len == 0) {
            *why = "ill-formed UTF-8";
            if (forbid & CHK_UTF8)
                return i;
            len = 1;
            continue;
        }
        if ((forbid & CHK_C0) && cp < 0x20)
            *why = "raw control byte";
        else if ((forbid & CHK_DEL) && cp == 0x7f)
            *why = "raw DEL";
        else if ((forbid & CHK_C1) && cp >= 0x80 && cp <= 0x9f)
            *why = "raw C1 control";
        else if ((forbid & CHK_LSEP) && (cp == 0x2028 || cp == 0x2029))
            *why = "raw U+2028/U+2029";
        else if ((forbid & CHK_BIDI) && chk_bidi(cp))
            *why = "raw bidi/format code point";
        else
            continue;
        return i;
    }
    return SIZE_MAX;
}

/* Prints `what` and s[from..] (at most 256 bytes; `\` and bytes outside
 * printable ASCII as \xHH), then aborts. */
__attribute__((noreturn)) static inline void chk_fail(const char *what, const char *s, size_t n,
                                                      size_t from)
{
    fprintf(stderr, "\nfuzz invariant broken: %s\n", what);
    if (s) {
        if (from > n)
            from = 0;
        size_t end = n - from > 256 ? from + 256 : n;
        fprintf(stderr, "  at byte %zu of %zu: ", from, n);
        for (size_t i = from; i < end; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c >= 0x20 && c < 0x7f && c != '\\')
                fputc(c, stderr);
            else
                fprintf(stderr, "\\x%02x", c);
        }
        fprintf(stderr, "%s\n", end < n ? "..." : "");
    }
    abort();
}

/* Aborts unless s[0..n) passes chk_scan(forbid). */
CHK_ORACLE static inline void chk_clean(const char *what, const char *s, size_t n, unsigned forbid)
{
    const char *why = NULL;
    size_t at = chk_scan(s, n, forbid, &why);
    if (at != SIZE_MAX) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s: %s", what, why);
        chk_fail(msg, s, n, at);
    }
}

#endif
