/*
 * fuzz_render.c: ocsf_render_json() (the human line of any JSON event) on
 * arbitrary bytes, in the three formats.
 *
 * Invariants (abort() on the first one broken):
 *  - the return is 0 or -EINVAL, the same in every format; on -EINVAL
 *    nothing was appended and the error text is one clean, NUL-terminated
 *    line (jansson quotes input bytes in its messages);
 *  - a line is valid UTF-8 without C0, DEL, C1, U+2028/9 or bidi controls
 *    (invalid UTF-8 in the input must come out as U+FFFD, never raw);
 *  - every backslash starts \xHH or \uHHHH: only the escaper writes one;
 *  - brackets never nest and always close: every `[` and `]` is the
 *    renderer's, so no byte of the event can open or close a context;
 *  - the CLI and file lines end with the short line (a prefix, then the
 *    same shorthand), and rendering again gives the same bytes.
 * The corpus: `tollgate ocsf samples`, fuzz/seeds/ and OpenShell's events
 * (tests/fixtures/openshell/shorthand.jsonl, one "event" per seed).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "fuzz/check.h"
#include "ocsf/ocsf.h"

static const ocsf_line_fmt_t fmts[] = {OCSF_LINE_SHORT, OCSF_LINE_CLI, OCSF_LINE_FILE};
#define NFMTS (sizeof fmts / sizeof fmts[0])

CHK_ORACLE static void check_escapes(const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\')
            continue;
        size_t digits = i + 1 < n && s[i + 1] == 'x' ? 2 : i + 1 < n && s[i + 1] == 'u' ? 4 : 0;
        if (digits == 0)
            chk_fail("a backslash that starts no escape", s, n, i);
        for (size_t k = 0; k < digits; k++)
            if (i + 2 + k >= n || !memchr(hex, s[i + 2 + k], 16))
                chk_fail("an escape without its hex digits", s, n, i);
        i += 1 + digits;
    }
}

CHK_ORACLE static void check_brackets(const char *s, size_t n)
{
    int depth = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '[' && ++depth > 1)
            chk_fail("nested '[': a value opened a bracket", s, n, i);
        if (s[i] == ']' && --depth < 0)
            chk_fail("']' without '[': a value closed a bracket", s, n, i);
    }
    if (depth != 0)
        chk_fail("a '[' that never closes", s, n, 0);
}

static void check_line(const ocsf_buf_t *b)
{
    chk_clean("rendered line", b->p, b->len, CHK_TEXT_LINE);
    check_escapes(b->p, b->len);
    check_brackets(b->p, b->len);
}

static void check_error(int rc, const ocsf_buf_t *b, const char *err, size_t errlen)
{
    if (rc != -EINVAL)
        chk_fail("ocsf_render_json returned neither 0 nor -EINVAL", NULL, 0, 0);
    if (b->len != 0)
        chk_fail("a failed render appended bytes", b->p, b->len, 0);
    size_t n = strnlen(err, errlen);
    if (n == errlen || n == 0)
        chk_fail("render error text is empty or not NUL-terminated", err, errlen, 0);
    chk_clean("render error text", err, n, CHK_TEXT_LINE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *json = (const char *)data;
    ocsf_buf_t lines[NFMTS], again;
    char err[256];
    int rc0 = 0;
    ocsf_buf_init(&again);
    for (size_t f = 0; f < NFMTS; f++) {
        ocsf_buf_init(&lines[f]);
        memset(err, 0x55, sizeof err); /* a missing NUL must show */
        int rc = ocsf_render_json(json, size, fmts[f], &lines[f], err, sizeof err);
        if (f == 0)
            rc0 = rc;
        else if (rc != rc0)
            chk_fail("the formats disagree on whether the input renders", NULL, 0, 0);
        if (rc != 0) {
            check_error(rc, &lines[f], err, sizeof err);
            continue;
        }
        check_line(&lines[f]);
        if (f > 0 &&
            (lines[f].len < lines[0].len ||
             memcmp(lines[f].p + lines[f].len - lines[0].len, lines[0].p, lines[0].len) != 0))
            chk_fail("a prefixed line does not end with the short line", lines[f].p, lines[f].len,
                     0);
    }
    if (rc0 == 0) {
        if (ocsf_render_json(json, size, OCSF_LINE_SHORT, &again, NULL, 0) != 0 ||
            again.len != lines[0].len || memcmp(again.p, lines[0].p, again.len) != 0)
            chk_fail("rendering again gives other bytes", again.p, again.len, 0);
    }
    for (size_t f = 0; f < NFMTS; f++)
        ocsf_buf_dispose(&lines[f]);
    ocsf_buf_dispose(&again);
    return 0;
}
