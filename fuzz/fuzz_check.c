/*
 * fuzz_check.c: ocsf_check() (jtok.c's tokenizer, check.c's schema walk) on
 * arbitrary bytes, with jansson as the oracle of what is JSON.
 *
 * Invariants (abort() on the first one broken):
 *  - the count returned is the number of callbacks (without
 *    OCSF_CHECK_FIRST), and with it at most one callback;
 *  - path and message are printable UTF-8 lines (bytes from the event are
 *    escaped);
 *  - the tokenizer and jansson agree on what is JSON: a text one takes and
 *    the other refuses is a bug, except what each bounds on purpose
 *    (jansson refuses integers beyond 64 bits and stops at a raw NUL byte;
 *    the tokenizer nests at most JT_MAX_DEPTH levels);
 *  - a text jansson sees duplicate keys in is never valid.
 */
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "fuzz/check.h"
#include "ocsf/ocsf.h"

typedef struct {
    int n;
    bool not_json, duplicate;
} seen_t;

static void on_problem(void *ctx, const char *path, const char *msg)
{
    seen_t *s = ctx;
    s->n++;
    s->not_json |= strncmp(msg, "not JSON", 8) == 0;
    s->duplicate |= strcmp(msg, "duplicate key") == 0;
    chk_clean("problem path", path, strlen(path), CHK_TEXT_LINE);
    chk_clean("problem message", msg, strlen(msg), CHK_TEXT_LINE);
}

static int depth_of(const uint8_t *d, size_t n)
{
    int depth = 0, max = 0;
    bool str = false;
    for (size_t i = 0; i < n; i++) {
        if (str) {
            if (d[i] == '\\')
                i++;
            else if (d[i] == '"')
                str = false;
        } else if (d[i] == '"') {
            str = true;
        } else if (d[i] == '{' || d[i] == '[') {
            max = ++depth > max ? depth : max;
        } else if (d[i] == '}' || d[i] == ']') {
            depth--;
        }
    }
    return max;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ocsf_checker_t *c;
    if (!c)
        c = ocsf_checker_new();
    seen_t all = {0}, first = {0};
    int problems = ocsf_check(c, (const char *)data, size, NULL, 0, on_problem, &all);
    if (problems != all.n || problems < 0)
        chk_fail("ocsf_check() returned another count than its callbacks", NULL, 0, 0);
    int one = ocsf_check(c, (const char *)data, size, NULL, OCSF_CHECK_FIRST, on_problem, &first);
    if ((one == 0) != (problems == 0) || first.n > 1)
        chk_fail("OCSF_CHECK_FIRST changed the verdict or called back twice", NULL, 0, 0);

    /* the oracle: jansson on the same bytes */
    json_error_t e;
    json_t *j = json_loadb((const char *)data, size, JSON_ALLOW_NUL | JSON_DECODE_ANY, &e);
    /* (jansson reads a raw NUL byte as the end of the text: not JSON here) */
    if (j && all.not_json && depth_of(data, size) <= 64 && !memchr(data, 0, size))
        chk_fail("jansson takes a text the tokenizer refuses", (const char *)data, size, 0);
    /* numbers past an int64 or a double: JSON to the tokenizer, refused by
     * the checker ("out of range"), refused by jansson */
    if (!j && !all.not_json && !strstr(e.text, "too big") && !strstr(e.text, "overflow"))
        chk_fail("the tokenizer takes a text jansson refuses", e.text, strlen(e.text), 0);
    json_decref(j);
    if (!all.not_json) {
        j = json_loadb((const char *)data, size,
                       JSON_ALLOW_NUL | JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &e);
        if (!j && strstr(e.text, "duplicate") && problems == 0)
            chk_fail("an event with duplicate keys is valid", (const char *)data, size, 0);
        json_decref(j);
    }
    return 0;
}
