/*
 * escape.c: the two escapers every byte from outside goes through.
 *
 * ocsf_json_escape(): into a JSON string. Output is valid UTF-8 JSON for any
 * input: invalid UTF-8 becomes U+FFFD, control characters (C0, DEL, C1) and
 * the JavaScript line separators become \u escapes, so an event is one line.
 *
 * ocsf_text_escape(): into a human log line. Anything that could move the
 * cursor, colour the terminal, start a new line, reorder text (bidi
 * controls) or open/close a context bracket is written as \xHH (bytes) or
 * \uHHHH (code points). Only a backslash written by this function starts an
 * escape, so the line cannot be forged.
 */
#include <string.h>

#include "ocsf/ocsf_internal.h"

static const char hex[] = "0123456789abcdef";

size_t ocsf__utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        len = 2, v = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, v = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

size_t ocsf__utf8_cut(const char *s, size_t n)
{
    /* s[n] exists (the caller cuts a longer string). Back up over at most 3
     * continuation bytes so that s[m] starts a sequence. */
    const unsigned char *u = (const unsigned char *)s;
    size_t m = n;
    while (m > 0 && n - m < 3 && (u[m] & 0xc0) == 0x80)
        m--;
    return (u[m] & 0xc0) == 0x80 ? n : m;
}

/* 0: copy; 1: escape (ASCII); 2: non-ASCII, decode. */
// clang-format off
static const unsigned char json_class[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};
// clang-format on

static void put_u4(ocsf_buf_t *b, uint32_t cp)
{
    char e[6] = {'\\',        'u', hex[(cp >> 12) & 15], hex[(cp >> 8) & 15], hex[(cp >> 4) & 15],
                 hex[cp & 15]};
    ocsf_buf_put(b, e, 6);
}

void ocsf_json_escape(ocsf_buf_t *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    if (n > OCSF_MAX_FIELD)
        n = ocsf__utf8_cut(s, OCSF_MAX_FIELD);
    /* Worst case 6 output bytes per input byte, +2 quotes. */
    ocsf_buf_reserve(b, n * 6 + 2);
    char *o = b->p + b->len;
    *o++ = '"';
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (run < n && json_class[u[run]] == 0)
            run++;
        memcpy(o, s + i, run - i);
        o += run - i;
        i = run;
        if (i >= n)
            break;
        unsigned char c = u[i];
        if (json_class[c] == 1) {
            *o++ = '\\';
            switch (c) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '\n': *o++ = 'n'; break;
            case '\r': *o++ = 'r'; break;
            case '\t': *o++ = 't'; break;
            default:
                memcpy(o, "u00", 3);
                o[3] = hex[c >> 4];
                o[4] = hex[c & 15];
                o += 5;
            }
            i++;
            continue;
        }
        uint32_t cp;
        size_t len = ocsf__utf8_decode(u + i, n - i, &cp);
        if (len == 0) {
            memcpy(o, "\xef\xbf\xbd", 3); /* U+FFFD */
            o += 3;
            i++;
        } else if ((cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029) {
            b->len = (size_t)(o - b->p);
            put_u4(b, cp);
            o = b->p + b->len;
            i += len;
        } else {
            memcpy(o, s + i, len);
            o += len;
            i += len;
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->p);
}

/* Code points that reorder or hide text on a terminal. */
static bool is_format_cp(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x200b && cp <= 0x200f) ||
           (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff;
}

static void put_x(ocsf_buf_t *b, unsigned char c)
{
    char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
    ocsf_buf_put(b, e, 4);
}

/* A byte the human escaper copies as it is (ASCII only). */
static bool text_plain(unsigned char c, unsigned flags)
{
    if (c < 0x20 || c >= 0x7f)
        return false;
    if (c == ' ')
        return !(flags & OCSF_ESC_SPACE);
    if (c == '"')
        return !(flags & OCSF_ESC_QUOTE);
    if (c == '\\' || c == '[' || c == ']')
        return (flags & OCSF_ESC_MSG) != 0;
    return true;
}

void ocsf_text_escape(ocsf_buf_t *b, const char *s, size_t n, size_t limit, unsigned flags)
{
    const unsigned char *u = (const unsigned char *)s;
    bool cut = false;
    if (limit && n > limit) {
        n = ocsf__utf8_cut(s, limit > 3 ? limit - 3 : 0);
        cut = true;
    }
    size_t i = 0;
    while (i < n) {
        size_t run = i; /* copy the run of bytes that need nothing at once */
        while (run < n && text_plain(u[run], flags))
            run++;
        if (run > i) {
            ocsf_buf_put(b, s + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = u[i];
        if (c < 0x80) {
            put_x(b, c);
            i++;
            continue;
        }
        uint32_t cp;
        size_t len = ocsf__utf8_decode(u + i, n - i, &cp);
        if (len == 0) {
            put_x(b, c);
            i++;
        } else if (is_format_cp(cp)) {
            put_u4(b, cp);
            i += len;
        } else {
            ocsf_buf_put(b, s + i, len);
            i += len;
        }
    }
    if (cut)
        ocsf_buf_put(b, "...", 3);
}
