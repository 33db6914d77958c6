/*
 * fuzz_validate.c: ocsf_validate() on arbitrary bytes.
 *
 * The validator is created once, on the first input, and shared by all the
 * runs (it is read-only after create; the process exit frees it). The
 * target must not crash; the callback counts the problems, and the count
 * must be what ocsf_validate() returns. It also holds the callback to its
 * contract in ocsf.h: path and message are printable UTF-8 lines (bytes
 * from the event are escaped).
 */
#include <stdint.h>
#include <string.h>

#include "fuzz/check.h"
#include "ocsf/ocsf.h"

static void count_problem(void *ctx, const char *path, const char *msg)
{
    ++*(int *)ctx;
    chk_clean("problem path", path, strlen(path), CHK_TEXT_LINE);
    chk_clean("problem message", msg, strlen(msg), CHK_TEXT_LINE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ocsf_validator_t *v;
    if (!v) {
        char err[256];
        v = ocsf_validator_create(err, sizeof err);
        if (!v)
            chk_fail("ocsf_validator_create failed", err, strlen(err), 0);
    }
    int counted = 0;
    int problems = ocsf_validate(v, (const char *)data, size, count_problem, &counted);
    if (problems != counted || problems < 0)
        chk_fail("ocsf_validate() returned another count than its callbacks", NULL, 0, 0);
    return 0;
}
