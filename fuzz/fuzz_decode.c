/*
 * fuzz_decode.c: ocsf_decode() on arbitrary bytes, and the round trip on
 * every event it accepts.
 *
 * Invariants (abort() on the first one broken):
 *  - a rejected input leaves an error text that is safe on a terminal
 *    (no control bytes: it names keys that came from outside);
 *  - an accepted event encodes, and the encoding is one line of JSON: valid
 *    UTF-8, no raw C0/DEL/C1 and no raw U+2028/U+2029 (ocsf.h: every string
 *    reaches JSON through ocsf_json_escape());
 *  - the encoding decodes again to an equal event (ocsf_event_equal), and
 *    encoding that event gives the same bytes: encode(decode(x)) is stable;
 *  - ocsf_render_json() of the encoding, in all three formats, is one line
 *    without control bytes or bidi controls, and the same for both (equal)
 *    events.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz/check.h"
#include "ocsf/ocsf.h"

static const ocsf_line_fmt_t fmts[] = {OCSF_LINE_SHORT, OCSF_LINE_CLI, OCSF_LINE_FILE};
#define NFMTS (sizeof fmts / sizeof fmts[0])

static void check_error(const char *err, size_t errlen)
{
    size_t n = strnlen(err, errlen);
    if (n == errlen)
        chk_fail("decode error text is not NUL-terminated", err, errlen, 0);
    if (n == 0)
        chk_fail("decode failed without saying why", NULL, 0, 0);
    chk_clean("decode error text", err, n, CHK_C0 | CHK_DEL | CHK_C1 | CHK_LSEP | CHK_BIDI);
}

static void render_all(const ocsf_buf_t *enc, ocsf_buf_t lines[NFMTS])
{
    char err[256];
    for (size_t f = 0; f < NFMTS; f++) {
        ocsf_buf_init(&lines[f]);
        if (ocsf_render_json(enc->p, enc->len, fmts[f], &lines[f], err, sizeof err) != 0)
            chk_fail("an encoded event does not render", err, strlen(err), 0);
        chk_clean("rendered line", lines[f].p, lines[f].len, CHK_TEXT_LINE);
    }
}

static void round_trip(const ocsf_event_t *ev1)
{
    char err[256] = "";
    ocsf_buf_t enc1, enc2, lines1[NFMTS], lines2[NFMTS];
    ocsf_event_t ev2;
    ocsf_buf_init(&enc1);
    ocsf_buf_init(&enc2);

    if (ocsf_encode(ev1, &enc1, err, sizeof err) != 0)
        chk_fail("a decoded event does not encode", err, strlen(err), 0);
    chk_clean("encoding", enc1.p, enc1.len, CHK_JSON_LINE);

    if (ocsf_decode(enc1.p, enc1.len, &ev2, err, sizeof err) != 0) {
        fprintf(stderr, "decode of the encoding: %s\n", err);
        chk_fail("the encoding of a decoded event does not decode", enc1.p, enc1.len, 0);
    }
    if (!ocsf_event_equal(ev1, &ev2))
        chk_fail("decode(encode(decode(x))) != decode(x)", enc1.p, enc1.len, 0);

    if (ocsf_encode(&ev2, &enc2, err, sizeof err) != 0)
        chk_fail("the re-decoded event does not encode", err, strlen(err), 0);
    if (enc1.len != enc2.len || memcmp(enc1.p, enc2.p, enc1.len) != 0) {
        size_t i = 0;
        while (i < enc1.len && i < enc2.len && enc1.p[i] == enc2.p[i])
            i++;
        fprintf(stderr, "first encoding from byte %zu:\n", i);
        chk_fail("encode(decode(x)) is not stable; second encoding", enc2.p, enc2.len, i);
    }

    render_all(&enc1, lines1);
    render_all(&enc2, lines2);
    for (size_t f = 0; f < NFMTS; f++) {
        if (lines1[f].len != lines2[f].len ||
            (lines1[f].len && memcmp(lines1[f].p, lines2[f].p, lines1[f].len) != 0))
            chk_fail("equal events render differently", lines2[f].p, lines2[f].len, 0);
        ocsf_buf_dispose(&lines1[f]);
        ocsf_buf_dispose(&lines2[f]);
    }

    ocsf_event_dispose(&ev2);
    ocsf_buf_dispose(&enc2);
    ocsf_buf_dispose(&enc1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    ocsf_event_t ev;
    memset(err, 0x55, sizeof err); /* a missing NUL must show */
    if (ocsf_decode((const char *)data, size, &ev, err, sizeof err) != 0) {
        check_error(err, sizeof err);
        ocsf_event_dispose(&ev); /* left disposed: must be harmless */
        return 0;
    }
    round_trip(&ev);
    ocsf_event_dispose(&ev);
    return 0;
}
