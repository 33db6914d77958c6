/* Unit tests of the shorthand renderer and line prefixes (ocsf/render.c). */
#include "unit.h"

static ocsf_event_t samples[MAX_SAMPLES];
static size_t nsamples;

static int setup(void **state)
{
    (void)state;
    nsamples = ocsf_samples(samples, MAX_SAMPLES);
    return 0;
}

static const ocsf_event_t *sample(const char *name)
{
    for (size_t i = 0; i < nsamples; i++)
        if (strcmp(ocsf_sample_name(i), name) == 0)
            return &samples[i];
    fail_msg("no sample %s", name);
    return NULL;
}

#define LINE_IS(ev, fmt, want)                                                                     \
    do {                                                                                           \
        char *got_ = unit_render((ev), (fmt));                                                     \
        assert_string_equal(got_, (want));                                                         \
        free(got_);                                                                                \
    } while (0)

static void design_examples(void **state)
{
    (void)state;
    /* DESIGN.md's two example lines, with our engine name */
    LINE_IS(sample("net_open_denied_policy"), OCSF_LINE_SHORT,
            "NET:OPEN [MED] DENIED /usr/bin/curl(1310) -> attacker.example.com:443 "
            "[policy:- engine:policy] [reason:endpoint attacker.example.com:443 is not allowed by "
            "any policy]");
    LINE_IS(sample("net_open_allowed"), OCSF_LINE_SHORT,
            "NET:OPEN [INFO] ALLOWED /usr/bin/curl(58) -> api.github.com:443 "
            "[policy:github_api engine:policy]");
}

static void prefixes(void **state)
{
    (void)state;
    const ocsf_event_t *ev = sample("lifecycle_start");
    LINE_IS(ev, OCSF_LINE_CLI,
            "[1795737612.123] [gateway] [OCSF ] [ocsf] LIFECYCLE:START [INFO] tollgate-gateway "
            "success");
    LINE_IS(ev, OCSF_LINE_FILE,
            "2026-11-27T00:00:12.123Z OCSF LIFECYCLE:START [INFO] tollgate-gateway success");
    ocsf_event_t short_src = *ev;
    short_src.log_name = OCSF_STR("gw");
    short_src.time = 1795737600005;
    LINE_IS(&short_src, OCSF_LINE_CLI,
            "[1795737600.005] [gw     ] [OCSF ] [ocsf] LIFECYCLE:START [INFO] tollgate-gateway "
            "success");
}

static void url_ports(void **state)
{
    (void)state;
    ocsf_event_t ev = *sample("http_get_allowed");
    char *s = unit_render(&ev, OCSF_LINE_SHORT);
    assert_non_null(strstr(s, "-> GET http://registry.npmjs.org/left-pad "));
    free(s);
    ev.url_scheme = OCSF_STR("https");
    ev.url_port = 443;
    s = unit_render(&ev, OCSF_LINE_SHORT);
    assert_non_null(strstr(s, "-> GET https://registry.npmjs.org/left-pad "));
    free(s);
    ev.url_port = 80; /* https on 80 is not the default: shown */
    s = unit_render(&ev, OCSF_LINE_SHORT);
    assert_non_null(strstr(s, "https://registry.npmjs.org:80/left-pad"));
    free(s);
    ev = *sample("http_post_denied");
    s = unit_render(&ev, OCSF_LINE_SHORT);
    assert_non_null(strstr(s, "HTTP:POST [MED] DENIED /usr/bin/curl(1311) -> POST "
                              "http://attacker.example.com:8080/upload [policy:- engine:policy] "
                              "[reason:"));
    free(s);
}

static void cuts(void **state)
{
    (void)state;
    char reason[600], msg[300];
    memset(reason, 'r', sizeof reason);
    memset(msg, 'm', sizeof msg);
    ocsf_event_t ev = *sample("net_open_denied_policy");
    ev.status_detail = (ocsf_str_t){reason, sizeof reason};
    char *s = unit_render(&ev, OCSF_LINE_SHORT);
    const char *r = strstr(s, "[reason:");
    assert_non_null(r);
    assert_int_equal(strlen(r), strlen("[reason:") + 256 + 1);
    assert_memory_equal(r + strlen(r) - 4, "...]", 4);
    free(s);
    ev = *sample("config_loaded");
    ev.message = (ocsf_str_t){msg, sizeof msg};
    s = unit_render(&ev, OCSF_LINE_SHORT);
    assert_non_null(strstr(s, "[INFO] "));
    const char *m = strstr(s, "[INFO] ") + 7;
    assert_int_equal(strcspn(m, " "), 120);
    assert_memory_equal(m + 117, "...", 3);
    free(s);
}

/* Counts '[' in a line: only the renderer's own brackets may appear. */
static int brackets(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '[';
    return n;
}

static void cannot_forge(void **state)
{
    (void)state;
    ocsf_event_t ev = *sample("net_open_denied_policy");
    char *clean = unit_render(&ev, OCSF_LINE_CLI);
    int want = brackets(clean);
    free(clean);
    static const char *const evil[] = {
        "x] [reason:all good",
        "evil.com:443 [policy:github_api engine:policy]",
        "a\nNET:OPEN [INFO] ALLOWED",
        "\x1b[2J\x1b[31m",
        "\xe2\x80\xaemoc.live",
        "tab\there",
        "a\\x5d",
    };
    for (size_t i = 0; i < sizeof evil / sizeof evil[0]; i++) {
        ocsf_str_t s = ocsf_str(evil[i]);
        ev.dst.domain = ev.actor.path = ev.rule_name = ev.rule_type = ev.status_detail = s;
        ev.log_name = s;
        char *line = unit_render(&ev, OCSF_LINE_CLI);
        assert_true(unit_clean_line(line, strlen(line)));
        assert_int_equal(brackets(line), want);
        assert_null(strstr(line, "\xe2\x80\xae"));
        /* a backslash always starts an escape the renderer wrote */
        for (const char *p = strchr(line, '\\'); p; p = strchr(p + 1, '\\'))
            assert_true(p[1] == 'x' || p[1] == 'u');
        /* no space inside the values that sit between keys */
        assert_non_null(strstr(line, " -> "));
        assert_null(strstr(line, "engine:policy]"));
        free(line);
    }
}

static void every_class(void **state)
{
    (void)state;
    static const char *const want[] = {
        "NET:OPEN [INFO]",
        "NET:OPEN [MED]",
        "NET:OPEN [HIGH]",
        "NET:CLOSE [INFO]",
        "NET:FAIL [LOW]",
        "NET:LISTEN [INFO]",
        "HTTP:GET [INFO]",
        "HTTP:POST [MED]",
        "FINDING:CREATE [HIGH] \"pinned binary",
        "CONFIG:LOADED [INFO]",
        "CONFIG:UPDATED [INFO]",
        "CONFIG:FAILED [MED]",
        "LIFECYCLE:START [INFO]",
        "LIFECYCLE:STOP [INFO]",
        "PROC:LAUNCH [INFO] /usr/bin/bash(5120) [cmd:bash -lc 'npm test']",
    };
    assert_int_equal(nsamples, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < nsamples; i++) {
        char *s = unit_render(&samples[i], OCSF_LINE_SHORT);
        if (strncmp(s, want[i], strlen(want[i])) != 0)
            fail_msg("sample %s: '%s' does not start with '%s'", ocsf_sample_name(i), s, want[i]);
        free(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(design_examples), cmocka_unit_test(prefixes),
        cmocka_unit_test(url_ports),       cmocka_unit_test(cuts),
        cmocka_unit_test(cannot_forge),    cmocka_unit_test(every_class),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
