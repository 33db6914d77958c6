/* Unit tests of the proxy's refusal (proxy/server.c px__refusal): the
 * reason reaches the status line and X-Tollgate-Reason escaped, so bytes
 * from a hostname or a header cannot end a line or add a header; the JSON
 * body keeps it whole. */
#include "unit.h"

#include <string.h>

#include "proxy/px_internal.h"

/* The head of out (up to the blank line), NUL-terminated in head. */
static void head_of(const ocsf_buf_t *out, char *head, size_t n)
{
    const char *end = memmem(out->p, out->len, "\r\n\r\n", 4);
    assert_non_null(end);
    size_t len = (size_t)(end - out->p);
    assert_true(len < n);
    memcpy(head, out->p, len);
    head[len] = '\0';
}

static void reason_in_status_line_and_header(void **state)
{
    (void)state;
    ocsf_buf_t out;
    ocsf_buf_init(&out);
    px__refusal(&out, 502, "upstream_unreachable", "connection to api.github.com:443 failed",
                "dns lookup of api.github.com failed", true);
    char head[1024], want[1024];
    head_of(&out, head, sizeof head);
    size_t body = out.len - strlen(head) - 4;
    snprintf(want, sizeof want,
             "HTTP/1.1 502 Bad Gateway (dns lookup of api.github.com failed)\r\n"
             "Content-Type: application/json\r\n"
             "X-Tollgate-Reason: dns lookup of api.github.com failed\r\n"
             "Content-Length: %zu\r\n"
             "Connection: close",
             body);
    assert_string_equal(head, want);
    assert_non_null(
        strstr(ocsf_buf_cstr(&out), "\"reason\":\"dns lookup of api.github.com failed\""));
    ocsf_buf_dispose(&out);
}

static void detail_stands_in_for_a_missing_reason(void **state)
{
    (void)state;
    ocsf_buf_t out;
    ocsf_buf_init(&out);
    px__refusal(&out, 502, "bad_gateway", "the upstream closed before its response ended", NULL,
                false);
    char head[1024];
    head_of(&out, head, sizeof head);
    assert_non_null(strstr(head, "\r\nX-Tollgate-Reason: the upstream closed before its "
                                 "response ended\r\n"));
    assert_null(strstr(head, "Connection: close"));
    ocsf_buf_dispose(&out);
}

static void hostile_bytes_are_escaped(void **state)
{
    (void)state;
    ocsf_buf_t out;
    ocsf_buf_init(&out);
    px__refusal(&out, 403, "policy_denied", NULL,
                "endpoint a\r\nX-Injected: 1\x01\x7f\\\xc3\xa4.example:443 is not allowed", true);
    char head[1024];
    head_of(&out, head, sizeof head);
    for (const char *p = head; *p; p++)
        if (*p != '\r' && *p != '\n')
            assert_true(*p >= 0x20 && *p < 0x7f);
    assert_null(strstr(head, "\nX-Injected"));
    assert_non_null(strstr(head, "X-Tollgate-Reason: endpoint a\\x0d\\x0aX-Injected: "
                                 "1\\x01\\x7f\\x5c\\xc3\\xa4.example:443 is not allowed\r\n"));
    ocsf_buf_dispose(&out);
}

static void long_reason_is_cut(void **state)
{
    (void)state;
    char why[2000];
    memset(why, 'a', sizeof why - 1);
    why[sizeof why - 1] = '\0';
    ocsf_buf_t out;
    ocsf_buf_init(&out);
    px__refusal(&out, 502, "upstream_unreachable", NULL, why, true);
    char head[4096];
    head_of(&out, head, sizeof head);
    assert_true(strlen(head) < 1000);
    assert_non_null(strstr(head, "aaa...)\r\n"));
    assert_non_null(strstr(ocsf_buf_cstr(&out), why)); /* the body has it whole */
    ocsf_buf_dispose(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reason_in_status_line_and_header),
        cmocka_unit_test(detail_stands_in_for_a_missing_reason),
        cmocka_unit_test(hostile_bytes_are_escaped),
        cmocka_unit_test(long_reason_is_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
