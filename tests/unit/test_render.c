/*
 * Unit tests of the human line (ocsf/render_json.c): OpenShell's own cases
 * (tests/fixtures/openshell/shorthand.jsonl, or $TOLLGATE_OPENSHELL_FIXTURES;
 * run from the repository root), tollgate's samples, the line prefixes, the
 * cuts, and escaping of hostile bytes in every rendered field of every class.
 */
#include <errno.h>
#include <jansson.h>

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
    /* OpenShell's cut: 256 bytes, then "..." */
    assert_int_equal(strlen(r), strlen("[reason:") + 256 + 3 + 1);
    assert_memory_equal(r + strlen(r) - 4, "...]", 4);
    free(s);
    /* CONFIG keeps its whole message (OpenShell does) */
    ev = *sample("config_loaded");
    ev.message = (ocsf_str_t){msg, sizeof msg};
    s = unit_render(&ev, OCSF_LINE_SHORT);
    assert_non_null(strstr(s, "[INFO] "));
    const char *m = strstr(s, "[INFO] ") + 7;
    assert_int_equal(strcspn(m, " "), sizeof msg);
    free(s);
    /* [msg:] is cut at 120 bytes plus "..." */
    char json[400];
    int len = snprintf(json, sizeof json, "{\"class_uid\":4001,\"message\":\"%.*s\"}",
                       (int)sizeof msg, msg);
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    assert_int_equal(ocsf_render_json(json, (size_t)len, OCSF_LINE_SHORT, &b, NULL, 0), 0);
    s = (char *)ocsf_buf_cstr(&b);
    m = strstr(s, "[msg:");
    assert_non_null(m);
    assert_int_equal(strlen(m), strlen("[msg:") + 120 + 3 + 1);
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
        "NET:FAIL [LOW] FAILED /usr/bin/curl(77) -> pkgs.internal.example:443 "
        "[policy:internal_pkgs engine:policy] [reason:dns lookup",
        "NET:LISTEN [INFO] /usr/local/bin/tollgate(4242) -> 127.0.0.1:3128",
        "HTTP:GET [INFO]",
        "HTTP:POST [MED]",
        "FINDING:CREATE [HIGH] \"pinned binary /usr/bin/curl changed its SHA-256\" "
        "[type:binary_hash_changed previous_sha256:",
        "CONFIG:LOADED [INFO]",
        "CONFIG:UPDATED [INFO]",
        "CONFIG:FAILED [MED] policy update for sandbox default rejected [version:2 hash:",
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

/* ---- OpenShell's cases ---------------------------------------------------- */

static char *render_json(const char *json, size_t n, ocsf_line_fmt_t fmt)
{
    char err[256];
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    if (ocsf_render_json(json, n, fmt, &b, err, sizeof err) != 0)
        fail_msg("render: %s", err);
    ocsf_buf_cstr(&b);
    return b.p;
}

/* Each line's event renders to its "tollgate" line when it has one (an
 * escaping difference, README.md there), else to OpenShell's "shorthand". */
static void openshell_fixtures(void **state)
{
    (void)state;
    const char *path = getenv("TOLLGATE_OPENSHELL_FIXTURES");
    FILE *f = fopen(path ? path : "tests/fixtures/openshell/shorthand.jsonl", "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0, cases = 0, failed = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t je;
        json_t *rec = json_loads(line, 0, &je);
        if (!rec)
            fail_msg("fixture %zu: %s", cases + 1, je.text);
        json_t *want = json_object_get(rec, "tollgate");
        if (!want)
            want = json_object_get(rec, "shorthand");
        char *ev = json_dumps(json_object_get(rec, "event"), JSON_COMPACT);
        assert_non_null(ev);
        char *got = render_json(ev, strlen(ev), OCSF_LINE_SHORT);
        if (strcmp(got, json_string_value(want)) != 0) {
            print_error("%s:\n  got  %s\n  want %s\n",
                        json_string_value(json_object_get(rec, "name")), got,
                        json_string_value(want));
            failed++;
        }
        cases++;
        free(got);
        free(ev);
        json_decref(rec);
    }
    free(line);
    fclose(f);
    assert_true(cases >= 40);
    assert_int_equal(failed, 0);
}

static void not_an_object(void **state)
{
    (void)state;
    static const char *const bad[] = {"", "[1,2]", "\"x\"", "{\"a\":", "nul\x1b[2J"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[64];
        ocsf_buf_t b;
        ocsf_buf_init(&b);
        assert_int_equal(
            ocsf_render_json(bad[i], strlen(bad[i]), OCSF_LINE_CLI, &b, err, sizeof err), -EINVAL);
        assert_int_equal(b.len, 0);
        assert_true(unit_clean_line(err, strlen(err)));
        ocsf_buf_dispose(&b);
    }
    /* an empty object still makes a line */
    char *s = render_json("{}", 2, OCSF_LINE_SHORT);
    assert_string_equal(s, "EVENT: [INFO]");
    free(s);
}

/* Classes OpenShell has no line for: the class caption, its activity. */
static void other_classes(void **state)
{
    (void)state;
    static const char ev[] =
        "{\"class_uid\":1001,\"class_name\":\"File System Activity\",\"activity_id\":1,"
        "\"activity_name\":\"Create\",\"severity_id\":4,\"action_id\":2,\"action\":\"Denied\","
        "\"actor\":{\"process\":{\"name\":\"sh\",\"pid\":7}},\"status_id\":2,"
        "\"status_detail\":\"read-only\",\"message\":\"create /etc/x\","
        "\"unmapped\":{\"k\":\"v\"}}";
    char *s = render_json(ev, sizeof ev - 1, OCSF_LINE_SHORT);
    assert_string_equal(s, "FILE_SYSTEM:CREATE [HIGH] DENIED sh(7) [k:v reason:read-only] "
                           "[msg:create /etc/x]");
    free(s);
    static const char auth[] = "{\"class_uid\":3002,\"class_name\":\"Authentication\","
                               "\"activity_name\":\"Logon\",\"disposition_id\":2,"
                               "\"disposition\":\"Blocked\"}";
    s = render_json(auth, sizeof auth - 1, OCSF_LINE_SHORT);
    assert_string_equal(s, "AUTHENTICATION:LOGON [INFO] BLOCKED");
    free(s);
}

/* ---- escaping: hostile bytes in every rendered field ---------------------- */

/* One event per class, and the paths of the strings its line shows. */
static const struct {
    const char *json;
    const char *paths[10];
} hostile[] = {
    {"{\"class_uid\":4001,\"activity_name\":\"Open\",\"severity_id\":3,\"action_id\":2,"
     "\"action\":\"Denied\",\"actor\":{\"process\":{\"name\":\"c\",\"pid\":1}},"
     "\"dst_endpoint\":{\"domain\":\"d\",\"port\":1},\"connection_info\":{\"protocol_name\":\"t\"},"
     "\"firewall_rule\":{\"name\":\"n\",\"type\":\"t\"},\"status_detail\":\"r\","
     "\"metadata\":{\"log_name\":\"s\"}}",
     {"activity_name", "action", "actor.process.name", "dst_endpoint.domain",
      "connection_info.protocol_name", "firewall_rule.name", "firewall_rule.type", "status_detail",
      "metadata.log_name", "actor.process.file.path"}},
    {"{\"class_uid\":4001,\"activity_name\":\"Open\",\"message\":\"m\"}", {"message"}},
    {"{\"class_uid\":4002,\"action_id\":2,\"http_request\":{\"http_method\":\"GET\",\"url\":{"
     "\"scheme\":\"http\",\"hostname\":\"h\",\"path\":\"/p\",\"query\":\"q\"}},"
     "\"status_detail\":\"r\",\"unmapped\":{\"k\":\"v\"}}",
     {"http_request.http_method", "http_request.url.scheme", "http_request.url.hostname",
      "http_request.url.path", "http_request.url.query_string", "status_detail", "unmapped.k"}},
    {"{\"class_uid\":4002,\"http_request\":{\"url\":{\"url_string\":\"u\"}}}",
     {"http_request.url.url_string"}},
    {"{\"class_uid\":4007,\"activity_name\":\"Open\",\"src_endpoint\":{\"ip\":\"i\"},"
     "\"auth_type_id\":99,\"auth_type\":\"a\"}",
     {"src_endpoint.ip", "auth_type"}},
    {"{\"class_uid\":1007,\"activity_name\":\"Launch\",\"process\":{\"name\":\"n\",\"pid\":1,"
     "\"cmd_line\":\"c\"}}",
     {"process.name", "process.cmd_line", "process.file.path"}},
    {"{\"class_uid\":2004,\"disposition_id\":2,\"disposition\":\"Blocked\",\"confidence_id\":1,"
     "\"confidence\":\"Low\",\"finding_info\":{\"title\":\"t\",\"uid\":\"u\"},"
     "\"status_detail\":\"r\",\"unmapped\":{\"k\":\"v\"}}",
     {"disposition", "confidence", "finding_info.title", "finding_info.uid", "status_detail",
      "unmapped.k"}},
    {"{\"class_uid\":6002,\"activity_name\":\"Start\",\"app\":{\"name\":\"a\"},\"status_id\":1,"
     "\"status\":\"Success\"}",
     {"activity_name", "app.name", "status"}},
    {"{\"class_uid\":5019,\"state_id\":99,\"state\":\"s\",\"message\":\"m\",\"status_detail\":"
     "\"r\","
     "\"unmapped\":{\"source\":\"s\",\"policy_version\":\"v\",\"policy_hash\":\"h\"}}",
     {"state", "message", "status_detail", "unmapped.source", "unmapped.policy_version",
      "unmapped.policy_hash"}},
    {"{\"class_uid\":5019,\"state_id\":99,\"state\":\"s\",\"policy\":{\"version\":\"v\","
     "\"uid\":\"h\"}}",
     {"policy.version", "policy.uid"}},
    {"{\"class_uid\":6003,\"status_id\":1,\"status\":\"Success\",\"ai_model\":{\"name\":\"m\","
     "\"ai_provider\":\"p\"},\"api\":{\"operation\":\"o\"}}",
     {"status", "ai_model.name", "ai_model.ai_provider", "api.operation"}},
    {"{\"class_uid\":0,\"message\":\"m\",\"unmapped\":{\"k\":\"v\"}}", {"message", "unmapped.k"}},
    {"{\"class_uid\":1001,\"class_name\":\"c\",\"activity_name\":\"a\",\"message\":\"m\","
     "\"disposition_id\":99,\"disposition\":\"d\"}",
     {"class_name", "activity_name", "message", "disposition"}},
};

/* Sets the string at a dotted path, making the objects on the way. */
static void set_path(json_t *o, const char *path, const char *s, size_t n)
{
    char key[64];
    const char *dot;
    while ((dot = strchr(path, '.'))) {
        snprintf(key, sizeof key, "%.*s", (int)(dot - path), path);
        json_t *next = json_object_get(o, key);
        if (!json_is_object(next)) {
            next = json_object();
            json_object_set_new(o, key, next);
        }
        o = next;
        path = dot + 1;
    }
    json_object_set_new(o, path, json_stringn_nocheck(s, n));
}

static int count_brackets(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '[' || *s == ']';
    return n;
}

/* The JSON text with raw byte 0xff in place of each "\u00ff": jansson only
 * writes valid UTF-8, the renderer must also read what it is not. */
static char *with_raw_ff(char *json)
{
    for (char *p = strstr(json, "\xc3\xbf"); p; p = strstr(p, "\xc3\xbf")) {
        p[0] = (char)0xff;
        memmove(p + 1, p + 2, strlen(p + 2) + 1);
    }
    return json;
}

static void check_hostile(const char *json, const char *path, int brackets, ocsf_line_fmt_t fmt)
{
#define EVIL(lit)                                                                                  \
    {                                                                                              \
        (lit), sizeof(lit) - 1                                                                     \
    }
    static const struct {
        const char *s;
        size_t n;
    } evil[] = {
        EVIL("x] [reason:all good"), EVIL("a\nNET:OPEN [INFO] ALLOWED"),
        EVIL("\x1b[2J\x1b[31mred"),  EVIL("\xe2\x80\xaemoc.live"),
        EVIL("nul\0byte"),           EVIL("bell\a del\x7f c1\xc2\x9b"),
        EVIL("bad \xc3\xbf utf8"),   EVIL("back\\x5d slash"),
        EVIL("\"quoted\" \t tab"),   EVIL("\xe2\x80\xa8 line sep"),
    };
#undef EVIL
    for (size_t i = 0; i < sizeof evil / sizeof evil[0]; i++) {
        json_t *ev = json_loads(json, 0, NULL);
        assert_non_null(ev);
        set_path(ev, path, evil[i].s, evil[i].n);
        char *text = with_raw_ff(json_dumps(ev, JSON_COMPACT | JSON_ENCODE_ANY));
        char *line = render_json(text, strlen(text), fmt);
        if (!unit_clean_line(line, strlen(line)) || count_brackets(line) != brackets ||
            strstr(line, "\xe2\x80\xae") || strstr(line, "\xe2\x80\xa8"))
            fail_msg("%s = evil[%zu]: %s", path, i, line);
        for (const char *p = strchr(line, '\\'); p; p = strchr(p + 1, '\\'))
            if (p[1] != 'x' && p[1] != 'u')
                fail_msg("%s = evil[%zu]: stray backslash: %s", path, i, line);
        if (i == 6 && !strstr(line, "\xef\xbf\xbd")) /* invalid UTF-8 reads as U+FFFD */
            fail_msg("%s: no U+FFFD: %s", path, line);
        free(line);
        free(text);
        json_decref(ev);
    }
}

static void hostile_fields(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof hostile / sizeof hostile[0]; c++) {
        char *clean = render_json(hostile[c].json, strlen(hostile[c].json), OCSF_LINE_CLI);
        int brackets = count_brackets(clean);
        free(clean);
        for (size_t p = 0; p < 10 && hostile[c].paths[p]; p++)
            check_hostile(hostile[c].json, hostile[c].paths[p], brackets, OCSF_LINE_CLI);
    }
}

/* An unmapped key is as hostile as a value. */
static void hostile_keys(void **state)
{
    (void)state;
    static const char ev[] = "{\"class_uid\":2004,\"finding_info\":{\"title\":\"t\",\"uid\":\"u\"},"
                             "\"unmapped\":{\"a]\\n[b \\u001b[31m\":\"v\"}}";
    char *s = render_json(ev, sizeof ev - 1, OCSF_LINE_SHORT);
    assert_string_equal(s, "FINDING: [INFO] \"t\" [type:u a\\x5d\\x0a\\x5bb\\x20\\x1b\\x5b31m:v]");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(design_examples),    cmocka_unit_test(prefixes),
        cmocka_unit_test(url_ports),          cmocka_unit_test(cuts),
        cmocka_unit_test(cannot_forge),       cmocka_unit_test(every_class),
        cmocka_unit_test(openshell_fixtures), cmocka_unit_test(not_an_object),
        cmocka_unit_test(other_classes),      cmocka_unit_test(hostile_fields),
        cmocka_unit_test(hostile_keys),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
