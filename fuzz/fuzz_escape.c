/*
 * fuzz_escape.c: the two escapers on arbitrary bytes.
 *
 * ocsf_json_escape(): the output is one quoted JSON string (valid UTF-8,
 * no raw C0/DEL/C1/U+2028/U+2029) that jansson parses back to the input with
 * every ill-formed byte replaced by U+FFFD; for valid UTF-8 of at most
 * OCSF_MAX_FIELD bytes that is the input itself. An input 0xfe, k, rest...
 * is also run as OCSF_MAX_FIELD - 8 + (k & 7) bytes of 'a' then rest (the
 * Makefile caps inputs at 64 KiB), so the fuzzer's bytes straddle the cut at
 * any alignment: the result must be the input cut to MAX_FIELD-3..MAX_FIELD
 * bytes, on a UTF-8 boundary when it can be.
 *
 * ocsf_text_escape(): with limit = first byte and flags 0 / OCSF_ESC_SPACE,
 * and unlimited with OCSF_ESC_SPACE|OCSF_ESC_QUOTE. The output is valid
 * UTF-8 without controls, bidi controls, raw `[` `]` (nor raw space / `"`
 * when asked); every backslash starts \xHH or \uHHHH, and undoing those
 * gives back the input, or a prefix cut on a UTF-8 boundary plus "...".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz/check.h"
#include "ocsf/ocsf.h"

#define BIG_MARK 0xfe
#define BIG_PAD  (OCSF_MAX_FIELD - 8) /* plus 0..7 from the second byte */

/* Whether got[0..gotn) is in[0..n) with each ill-formed byte replaced by
 * U+FFFD (what ocsf_json_escape promises). */
CHK_ORACLE static bool sanitized_is(const char *in, size_t n, const char *got, size_t gotn)
{
    const unsigned char *u = (const unsigned char *)in;
    uint32_t cp;
    size_t o = 0;
    for (size_t i = 0, len; i < n; i += len) {
        len = chk_utf8_seq(u + i, n - i, &cp);
        const char *want = len ? in + i : "\xef\xbf\xbd";
        size_t wn = len ? len : 3;
        if (gotn - o < wn || memcmp(got + o, want, wn) != 0)
            return false;
        o += wn;
        len = len ? len : 1;
    }
    return o == gotn;
}

/* Escapes in[0..n) as JSON, checks the shape, returns the parsed string. */
static json_t *json_escape_checked(const char *in, size_t n, ocsf_buf_t *out)
{
    json_error_t jerr;
    ocsf_buf_init(out);
    ocsf_json_escape(out, in, n);
    if (out->len < 2 || out->p[0] != '"' || out->p[out->len - 1] != '"')
        chk_fail("json_escape: not a quoted string", out->p, out->len, 0);
    chk_clean("json_escape", out->p, out->len, CHK_JSON_LINE);
    json_t *j = json_loadb(out->p, out->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!j || !json_is_string(j)) {
        fprintf(stderr, "jansson: %s (at byte %d)\n", jerr.text, jerr.position);
        chk_fail("json_escape: jansson does not parse it as a string", out->p, out->len, 0);
    }
    return j;
}

static void fuzz_json(const char *in, size_t n)
{
    ocsf_buf_t out;
    json_t *j = json_escape_checked(in, n, &out);
    const char *got = json_string_value(j);
    size_t gotn = json_string_length(j);
    if (n <= OCSF_MAX_FIELD && chk_utf8(in, n) && (gotn != n || (n && memcmp(got, in, n) != 0)))
        chk_fail("json_escape: valid UTF-8 does not round-trip", out.p, out.len, 0);
    if (n <= OCSF_MAX_FIELD && !sanitized_is(in, n, got, gotn))
        chk_fail("json_escape: parsed string is not the input with U+FFFD for bad bytes", out.p,
                 out.len, 0);
    json_decref(j);
    ocsf_buf_dispose(&out);
}

/* The fuzzer's bytes (after mark and shift) sit across the OCSF_MAX_FIELD
 * cut. */
static void fuzz_json_big(const uint8_t *data, size_t size)
{
    if (size < 3)
        return;
    size_t pad = BIG_PAD + (data[1] & 7), n = pad + size - 2;
    if (n <= OCSF_MAX_FIELD)
        return;
    char *big = malloc(n);
    if (!big)
        abort();
    memset(big, 'a', pad);
    memcpy(big + pad, data + 2, size - 2);

    ocsf_buf_t out;
    json_t *j = json_escape_checked(big, n, &out);
    const char *got = json_string_value(j);
    size_t gotn = json_string_length(j);
    bool valid = chk_utf8_through(big, n, OCSF_MAX_FIELD), ok = false;
    for (size_t m = OCSF_MAX_FIELD; !ok && m >= OCSF_MAX_FIELD - 3; m--) {
        if (valid && !chk_utf8(big, m))
            continue; /* valid up to the cut: it must fall on a boundary */
        ok = sanitized_is(big, m, got, gotn);
    }
    if (!ok)
        chk_fail("json_escape: an oversized input is not cut to OCSF_MAX_FIELD-3..MAX on a "
                 "UTF-8 boundary",
                 out.p + out.len - 64, 64, 0);
    json_decref(j);
    ocsf_buf_dispose(&out);
    free(big);
}

CHK_ORACLE static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Writes code point cp (below U+10000) as UTF-8 at o; returns the length. */
CHK_ORACLE static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    o[0] = (char)(0xe0 | cp >> 12);
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
}

/* Undoes ocsf_text_escape() on s[0..n) into out (n bytes suffice); returns
 * the length. Aborts on a backslash that starts no escape. */
CHK_ORACLE static size_t unescape(char *out, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] != '\\') {
            out[o++] = s[i++];
            continue;
        }
        size_t digits = i + 1 < n && s[i + 1] == 'x' ? 2 : i + 1 < n && s[i + 1] == 'u' ? 4 : 0;
        if (!digits || i + 2 + digits > n)
            chk_fail("text_escape: a backslash that starts no escape", s, n, i);
        uint32_t v = 0;
        for (size_t k = 0; k < digits; k++) {
            int h = hexval(s[i + 2 + k]);
            if (h < 0)
                chk_fail("text_escape: bad hex digit in an escape", s, n, i);
            v = v << 4 | (uint32_t)h;
        }
        if (digits == 2)
            out[o++] = (char)v;
        else
            o += put_utf8(out + o, v);
        i += 2 + digits;
    }
    return o;
}

static void fuzz_text(const char *in, size_t n, size_t limit, unsigned flags)
{
    ocsf_buf_t out;
    ocsf_buf_init(&out);
    ocsf_text_escape(&out, in, n, limit, flags);
    chk_clean("text_escape", out.p, out.len, CHK_TEXT_LINE);
    for (size_t i = 0; i < out.len; i++) {
        char c = out.p[i];
        if (c == '[' || c == ']')
            chk_fail("text_escape: raw bracket", out.p, out.len, i);
        if (c == ' ' && (flags & OCSF_ESC_SPACE))
            chk_fail("text_escape: raw space with OCSF_ESC_SPACE", out.p, out.len, i);
        if (c == '"' && (flags & OCSF_ESC_QUOTE))
            chk_fail("text_escape: raw quote with OCSF_ESC_QUOTE", out.p, out.len, i);
    }

    size_t body = out.len;
    bool cut = limit && n > limit;
    if (cut) {
        if (out.len < 3 || memcmp(out.p + out.len - 3, "...", 3) != 0)
            chk_fail("text_escape: a cut value does not end in \"...\"", out.p, out.len, 0);
        body -= 3;
    }
    char *back = malloc(body + 1);
    if (!back)
        abort();
    size_t backn = unescape(back, out.p, body);
    size_t want_max = cut ? (limit > 3 ? limit - 3 : 0) : n;
    size_t want_min = cut ? (want_max > 3 ? want_max - 3 : 0) : n;
    if (backn < want_min || backn > want_max || (backn && memcmp(back, in, backn) != 0))
        chk_fail("text_escape: unescaped output is not the input (or its cut prefix)", out.p,
                 out.len, 0);
    if (cut && chk_utf8_through(in, n, want_max) && !chk_utf8(in, backn))
        chk_fail("text_escape: valid UTF-8 cut inside a sequence", out.p, out.len, 0);
    free(back);
    ocsf_buf_dispose(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    fuzz_json(in, size);
    if (size && data[0] == BIG_MARK)
        fuzz_json_big(data, size);

    size_t limit = size ? data[0] : 0;
    fuzz_text(in, size, limit, 0);
    fuzz_text(in, size, limit, OCSF_ESC_SPACE);
    fuzz_text(in, size, 0, OCSF_ESC_SPACE | OCSF_ESC_QUOTE);
    return 0;
}
