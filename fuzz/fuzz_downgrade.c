/*
 * fuzz_downgrade.c: ocsf_downgrade() on arbitrary bytes, to 1.3.0 and 1.1.0
 * (what a downgrading exporter runs on every event it ships).
 *
 * Invariants (abort() on the first one broken):
 *  - the return is 0 or -EINVAL; on error nothing is appended to out and
 *    err is one clean line;
 *  - on success the output is one line of JSON (no raw control bytes,
 *    well-formed UTF-8) that jansson parses to an object whose
 *    metadata.version is the target;
 *  - downgrading the output again to the same version gives the same bytes.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "fuzz/check.h"
#include "ocsf/downgrade.h"

static void one(const uint8_t *data, size_t size, const char *to)
{
    ocsf_buf_t out, again;
    char err[512];
    ocsf_buf_init(&out);
    ocsf_buf_init(&again);
    int rc = ocsf_downgrade((const char *)data, size, to, &out, err, sizeof err);
    if (rc != 0) {
        if (rc != -EINVAL)
            chk_fail("ocsf_downgrade returned neither 0 nor -EINVAL", NULL, 0, 0);
        if (out.len != 0)
            chk_fail("a failed downgrade appended output", out.p, out.len, 0);
        chk_clean("downgrade error text", err, strnlen(err, sizeof err), CHK_TEXT_LINE);
    } else {
        chk_clean("downgraded event", out.p, out.len, CHK_JSON_LINE);
        json_error_t je;
        json_t *o = json_loadb(out.p, out.len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
        if (!json_is_object(o))
            chk_fail("the downgraded event is not a JSON object", out.p, out.len, 0);
        const char *v =
            json_string_value(json_object_get(json_object_get(o, "metadata"), "version"));
        if (!v || strcmp(v, to) != 0)
            chk_fail("metadata.version is not the target", out.p, out.len, 0);
        json_decref(o);
        if (ocsf_downgrade(out.p, out.len, to, &again, err, sizeof err) != 0)
            chk_fail("a downgraded event does not downgrade again", err, strlen(err), 0);
        if (again.len != out.len || memcmp(again.p, out.p, out.len) != 0)
            chk_fail("downgrading twice changes the bytes", again.p, again.len, 0);
    }
    ocsf_buf_dispose(&out);
    ocsf_buf_dispose(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one(data, size, "1.3.0");
    one(data, size, "1.1.0");
    return 0;
}
