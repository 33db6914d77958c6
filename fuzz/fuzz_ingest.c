/*
 * fuzz_ingest.c: the gateway's ingest line path on arbitrary bytes:
 * ocsf_decode_checked() (decode, then check against schemas/ in one parse),
 * as gateway/api.c runs it on every line of POST /v1/events.
 *
 * The contract: whatever the gateway accepts, it re-emits as valid OCSF
 * 1.7.0. The validator is created once, on the first input, and shared by
 * all the runs (read-only after create; the process exit frees it).
 *
 * Invariants (abort() on the first one broken):
 *  - the return is 0 or -EINVAL;
 *  - a rejected line leaves an error text that is NUL-terminated, non-empty
 *    and one clean line (no C0/DEL/C1, U+2028/U+2029 or bidi controls: it
 *    goes back to the client and into logs);
 *  - an accepted event encodes (ocsf_encode), and ocsf_validate() finds 0
 *    problems in the encoding;
 *  - the same holds for the event as the collector stores it: metadata.uid
 *    filled when empty (collector.c make_rec), metadata.sequence and
 *    metadata.logged_time assigned by the writer.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "fuzz/check.h"
#include "ocsf/ocsf.h"

static void print_problem(void *ctx, const char *path, const char *msg)
{
    ++*(int *)ctx;
    fprintf(stderr, "  problem: %s: %s\n", path, msg);
}

static void check_error(int rc, const char *err, size_t errlen)
{
    if (rc != -EINVAL)
        chk_fail("ocsf_decode_checked returned neither 0 nor -EINVAL", NULL, 0, 0);
    size_t n = strnlen(err, errlen);
    if (n == errlen)
        chk_fail("ingest error text is not NUL-terminated", err, errlen, 0);
    if (n == 0)
        chk_fail("ingest rejected a line without saying why", NULL, 0, 0);
    chk_clean("ingest error text", err, n, CHK_C0 | CHK_DEL | CHK_C1 | CHK_LSEP | CHK_BIDI);
}

/* Encodes ev and holds the encoding to the schema. */
static void reemit(const ocsf_validator_t *v, const ocsf_event_t *ev, const char *what)
{
    char err[512] = "", msg[128];
    ocsf_buf_t enc;
    ocsf_buf_init(&enc);
    if (ocsf_encode(ev, &enc, err, sizeof err) != 0) {
        snprintf(msg, sizeof msg, "an accepted event does not encode (%s)", what);
        chk_fail(msg, err, strlen(err), 0);
    }
    chk_clean("encoding of an accepted event", enc.p, enc.len, CHK_JSON_LINE);
    int counted = 0;
    if (ocsf_validate(v, enc.p, enc.len, print_problem, &counted) != 0 || counted != 0) {
        snprintf(msg, sizeof msg, "the encoding of an accepted event is not valid OCSF 1.7.0 (%s)",
                 what);
        chk_fail(msg, enc.p, enc.len, 0);
    }
    ocsf_buf_dispose(&enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ocsf_validator_t *v;
    char err[512];
    ocsf_event_t ev;
    if (!v) {
        v = ocsf_validator_create(err, sizeof err);
        if (!v)
            chk_fail("ocsf_validator_create failed", err, strlen(err), 0);
    }
    memset(err, 0x55, sizeof err); /* a missing NUL must show */
    int rc = ocsf_decode_checked(v, (const char *)data, size, &ev, err, sizeof err);
    if (rc != 0) {
        check_error(rc, err, sizeof err);
        ocsf_event_dispose(&ev); /* left disposed: must be harmless */
        return 0;
    }
    reemit(v, &ev, "as decoded");

    /* as the collector stores it */
    if (!ev.uid[0]) {
        static const uint8_t rnd[16] = {0x5e, 0xed, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
        ocsf_uuid_v4(rnd, ev.uid);
    }
    ev.sequence = 42;
    ev.logged_time = 1767225600123; /* 2026-01-01T00:00:00.123Z */
    reemit(v, &ev, "as stored");
    ocsf_event_dispose(&ev);
    return 0;
}
