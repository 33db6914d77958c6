/*
 * fuzz_ingest.c: the gateway's ingest line path on arbitrary bytes:
 * ocsf_ingest(), as gateway/api.c runs it on every line of POST /v1/events
 * (strict, and with OCSF_INGEST_REPAIR, the default), then what the
 * collector and the exporters do with what it accepts.
 *
 * The contract: whatever the gateway accepts, it stores as received and
 * re-emits as valid OCSF, in every bundled version.
 *
 * Invariants (abort() on the first one broken):
 *  - the return is 0 or -EINVAL; a refusal says why in one clean line (it
 *    goes back to the client and into logs);
 *  - an accepted event is JSON to jansson too (the oracle);
 *  - strict: the stored form (the writer's sequence and logged_time
 *    inserted at `at`) is valid for ocsf_check, and gives back the same
 *    digest (ocsf_ingest_stored_digest: dedup after a restart);
 *  - repaired: ocsf_cast to its own version with OCSF_CAST_REPAIR succeeds
 *    and is valid;
 *  - cast to each bundled version, an accepted event is valid there, or the
 *    cast refuses with a reason (never a crash, never invalid output);
 *  - every cast (ocsf_cast, cast_tok.c) is the same JSON value as the
 *    reference on a jansson tree (ocsf__cast_ref, cast.c), or both refuse.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "fuzz/check.h"
#include "ocsf/check.h"
#include "ocsf/downgrade.h"
#include "ocsf/ocsf.h"

static void print_problem(void *ctx, const char *path, const char *msg)
{
    ++*(int *)ctx;
    fprintf(stderr, "  problem: %s: %s\n", path, msg);
}

static void check_error(int rc, const char *err, size_t errlen)
{
    if (rc != -EINVAL)
        chk_fail("ocsf_ingest returned neither 0 nor -EINVAL", NULL, 0, 0);
    size_t n = strnlen(err, errlen);
    if (n == errlen)
        chk_fail("ingest error text is not NUL-terminated", err, errlen, 0);
    if (n == 0)
        chk_fail("ingest rejected a line without saying why", NULL, 0, 0);
    chk_clean("ingest error text", err, n, CHK_C0 | CHK_DEL | CHK_C1 | CHK_LSEP | CHK_BIDI);
}

static void must_be_valid(ocsf_checker_t *c, const char *json, size_t n, const char *what)
{
    int counted = 0;
    if (ocsf_check(c, json, n, NULL, 0, print_problem, &counted) != 0)
        chk_fail(what, json, n, 0);
}

static const char *const versions[] = {"1.1.0", "1.3.0", "1.7.0", "1.8.0"};

/* ocsf_cast and the reference agree: same verdict, same JSON value. */
static int cast_both(ocsf_checker_t *v, const char *json, size_t n, const ocsf_schema_t *s,
                     unsigned flags, ocsf_buf_t *out, char *err, size_t errlen)
{
    ocsf_buf_t ref;
    char rerr[512];
    ocsf_buf_init(&ref);
    int a = ocsf_cast(v, json, n, s, flags, out, err, errlen);
    int b = ocsf__cast_ref(v, json, n, s, flags, &ref, rerr, sizeof rerr);
    if ((a == 0) != (b == 0))
        chk_fail("ocsf_cast and the reference disagree on the verdict", a ? err : rerr,
                 strlen(a ? err : rerr), 0);
    if (a == 0) {
        json_t *x = json_loadb(out->p, out->len, JSON_ALLOW_NUL, NULL);
        json_t *y = json_loadb(ref.p, ref.len, JSON_ALLOW_NUL, NULL);
        if (!x || !y || !json_equal(x, y))
            chk_fail("ocsf_cast and the reference give different events", out->p, out->len, 0);
        json_decref(x);
        json_decref(y);
    }
    ocsf_buf_dispose(&ref);
    return a;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ocsf_checker_t *c, *v;
    if (!c) {
        c = ocsf_checker_new();
        v = ocsf_checker_new();
    }
    char err[512];
    ocsf_ingest_t in;
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    for (int mode = 0; mode < 2; mode++) {
        memset(err, 0x55, sizeof err); /* a missing NUL must show */
        int rc = ocsf_ingest(c, (const char *)data, size, mode ? OCSF_INGEST_REPAIR : 0, &in, err,
                             sizeof err);
        if (rc != 0) {
            check_error(rc, err, sizeof err);
            continue;
        }
        json_error_t e;
        json_t *j = json_loadb(in.json, in.len, JSON_ALLOW_NUL, &e);
        if (!j)
            chk_fail("ingest accepted what jansson does not parse", e.text, strlen(e.text), 0);
        json_decref(j);
        /* as the collector stores it */
        b.len = 0;
        ocsf_buf_put(&b, in.json, in.at);
        ocsf_buf_puts(&b, "\"logged_time\":1767225600123,\"sequence\":42,");
        ocsf_buf_put(&b, in.json + in.at, in.len - in.at);
        uint8_t digest[32];
        if (ocsf_ingest_stored_digest(v, b.p, b.len, digest) != 0 ||
            memcmp(digest, in.digest, 32) != 0)
            chk_fail("the stored record does not give the ingest digest back", b.p, b.len, 0);
        ocsf_buf_t out;
        ocsf_buf_init(&out);
        if (!in.repaired) {
            must_be_valid(v, b.p, b.len, "an accepted event, as stored, is not valid");
        } else {
            if (cast_both(v, b.p, b.len, NULL, OCSF_CAST_REPAIR, &out, err, sizeof err) == 0)
                must_be_valid(v, out.p, out.len, "a repaired event's cast is not valid");
            else
                check_error(-EINVAL, err, sizeof err);
        }
        for (size_t i = 0; i < sizeof versions / sizeof *versions; i++) {
            out.len = 0;
            const ocsf_schema_t *s = ocsf_schema_find(versions[i], 5);
            if (cast_both(v, b.p, b.len, s, in.repaired ? OCSF_CAST_REPAIR : 0, &out, err,
                          sizeof err) == 0)
                must_be_valid(v, out.p, out.len, "a cast of an accepted event is not valid");
            else
                check_error(-EINVAL, err, sizeof err);
        }
        ocsf_buf_dispose(&out);
    }
    ocsf_buf_dispose(&b);
    return 0;
}
