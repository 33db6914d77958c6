/* Unit tests of the two escapers (ocsf/escape.c). */
#include "unit.h"

#include <jansson.h>

static char *jesc(const char *s, size_t n)
{
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    ocsf_json_escape(&b, s, n);
    ocsf_buf_cstr(&b);
    return b.p;
}

static char *tesc(const char *s, size_t n, size_t limit, unsigned flags)
{
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    ocsf_text_escape(&b, s, n, limit, flags);
    ocsf_buf_cstr(&b);
    return b.p;
}

#define JSON_IS(in, want)                                                                          \
    do {                                                                                           \
        char *got_ = jesc((in), sizeof(in) - 1);                                                   \
        assert_string_equal(got_, (want));                                                         \
        free(got_);                                                                                \
    } while (0)

#define TEXT_IS(in, limit, flags, want)                                                            \
    do {                                                                                           \
        char *got_ = tesc((in), sizeof(in) - 1, (limit), (flags));                                 \
        assert_string_equal(got_, (want));                                                         \
        free(got_);                                                                                \
    } while (0)

static void json_plain_and_specials(void **state)
{
    (void)state;
    JSON_IS("api.github.com", "\"api.github.com\"");
    JSON_IS("a\"b\\c", "\"a\\\"b\\\\c\"");
    JSON_IS("l1\nl2\rl3\tx", "\"l1\\nl2\\rl3\\tx\"");
    JSON_IS("\x1b[31mred", "\"\\u001b[31mred\"");
    JSON_IS("nul\0here", "\"nul\\u0000here\"");
    JSON_IS("del\x7f", "\"del\\u007f\"");
    JSON_IS("", "\"\"");
}

static void json_utf8(void **state)
{
    (void)state;
    JSON_IS("caf\xc3\xa9", "\"caf\xc3\xa9\"");                           /* valid 2-byte kept */
    JSON_IS("\xf0\x9f\x94\x92", "\"\xf0\x9f\x94\x92\"");                 /* valid 4-byte kept */
    JSON_IS("bad\xff", "\"bad\xef\xbf\xbd\"");                           /* invalid byte: U+FFFD */
    JSON_IS("\xc0\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\"");                 /* overlong '/' */
    JSON_IS("\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""); /* surrogate */
    JSON_IS("\xf4\x90\x80\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    JSON_IS("trunc\xe2\x82", "\"trunc\xef\xbf\xbd\xef\xbf\xbd\"");
    JSON_IS("c1\xc2\x9b", "\"c1\\u009b\"");     /* C1 CSI */
    JSON_IS("ls\xe2\x80\xa8", "\"ls\\u2028\""); /* line separator */
}

static void json_always_parses(void **state)
{
    (void)state;
    /* every 2-byte combination, parsed back by jansson */
    char in[2];
    for (int a = 0; a < 256; a++) {
        for (int b = 0; b < 256; b += 7) {
            in[0] = (char)a, in[1] = (char)b;
            char *s = jesc(in, 2);
            json_error_t e;
            json_t *j = json_loads(s, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
            assert_non_null(j);
            assert_true(json_is_string(j));
            assert_true(unit_clean_line(s, strlen(s)));
            json_decref(j);
            free(s);
        }
    }
}

static void json_cut_at_limit(void **state)
{
    (void)state;
    size_t n = OCSF_MAX_FIELD + 10;
    char *big = malloc(n);
    memset(big, 'a', n);
    /* a 3-byte sequence straddling the limit must not be split */
    memcpy(big + OCSF_MAX_FIELD - 1, "\xe2\x82\xac", 3);
    char *s = jesc(big, n);
    size_t len = strlen(s);
    assert_int_equal(len, (size_t)OCSF_MAX_FIELD - 1 + 2);
    json_error_t e;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &e);
    assert_non_null(j);
    json_decref(j);
    free(s);
    free(big);
}

static void text_escapes(void **state)
{
    (void)state;
    TEXT_IS("api.github.com", 0, 0, "api.github.com");
    TEXT_IS("a b", 0, 0, "a b");
    TEXT_IS("a b", 0, OCSF_ESC_SPACE, "a\\x20b");
    TEXT_IS("x]\n[reason:y", 0, 0, "x\\x5d\\x0a\\x5breason:y");
    TEXT_IS("\x1b[31mred", 0, 0, "\\x1b\\x5b31mred");
    TEXT_IS("back\\slash", 0, 0, "back\\x5cslash");
    TEXT_IS("nul\0x", 0, 0, "nul\\x00x");
    TEXT_IS("bad\xff", 0, 0, "bad\\xff");
    TEXT_IS("caf\xc3\xa9", 0, 0, "caf\xc3\xa9");
    TEXT_IS("rtl\xe2\x80\xae", 0, 0, "rtl\\u202e"); /* bidi override */
    TEXT_IS("c1\xc2\x9b", 0, 0, "c1\\u009b");
    TEXT_IS("say \"hi\"", 0, OCSF_ESC_QUOTE, "say \\x22hi\\x22");
}

static void text_limits(void **state)
{
    (void)state;
    TEXT_IS("0123456789", 10, 0, "0123456789");
    TEXT_IS("0123456789a", 10, 0, "0123456...");
    /* cut on a UTF-8 boundary: the euro sign (3 bytes) is not split */
    TEXT_IS("012345\xe2\x82\xac", 8, 0, "01234...");
    TEXT_IS("0\xe2\x82\xac"
            "56789",
            6, 0, "0...");
    TEXT_IS("\xe2\x82\xac"
            "4567",
            6, 0, "\xe2\x82\xac...");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_plain_and_specials),
        cmocka_unit_test(json_utf8),
        cmocka_unit_test(json_always_parses),
        cmocka_unit_test(json_cut_at_limit),
        cmocka_unit_test(text_escapes),
        cmocka_unit_test(text_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
