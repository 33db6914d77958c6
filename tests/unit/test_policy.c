/* Unit tests of policy/: parsing, globs, decisions, hashing, updates,
 * provider layers, rendering. Run from the repository root (the codex
 * scenario reads providers/codex.yaml). */
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "policy/policy.h"
#include "policy_docs.h"

/* ---- parsing ------------------------------------------------------------------- */

static void parse_every_field(void **state)
{
    (void)state;
    pol_policy_t *p = parse_ok(full_doc);
    assert_int_equal(p->schema_version, 1);
    assert_int_equal(p->nrules, 2);
    const pol_rule_t *r = &p->rules[0];
    assert_string_equal(r->key, "github");
    assert_string_equal(r->name, "GitHub access");
    assert_string_equal(r->layer, "base");
    assert_int_equal(r->nendpoints, 2);
    const pol_endpoint_t *e = &r->endpoints[0];
    assert_string_equal(e->host, "api.github.com");
    assert_int_equal(e->nports, 3);
    assert_int_equal(e->ports[0], 80);
    assert_int_equal(e->ports[1], 443);
    assert_int_equal(e->ports[2], 8443);
    assert_string_equal(e->protocol, "rest");
    assert_string_equal(e->access, "read-only");
    assert_string_equal(e->enforcement, "audit");
    assert_string_equal(e->extra_json, "{\"allowed_ips\":[\"10.0.0.0/8\"]}");
    assert_int_equal(e->nl7_allow, 0);
    assert_int_equal(e->nl7_deny, 1);
    assert_string_equal(e->l7_deny[0].method, "POST"); /* upper-cased */
    assert_string_equal(e->l7_deny[0].path, "/**/info/refs*");
    assert_true(pol_endpoint_inspects(e));
    e = &r->endpoints[1];
    assert_string_equal(e->host, "*.githubusercontent.com");
    assert_int_equal(e->nports, 1);
    assert_null(e->protocol);
    assert_null(e->access);
    assert_null(e->enforcement);
    assert_null(e->extra_json);
    assert_false(pol_endpoint_inspects(e));
    assert_int_equal(r->nbinaries, 2);
    assert_string_equal(r->binaries[0], "/usr/bin/git");
    assert_string_equal(r->binaries[1], "/usr/bin/gh");
    r = &p->rules[1];
    assert_string_equal(r->key, "npm");
    assert_null(r->name);
    assert_int_equal(r->nbinaries, 0);
    assert_string_equal(p->sections_json,
                        "{\"filesystem_policy\":{\"include_workdir\":true,\"read_only\":[\"/usr\","
                        "\"/lib\"]},\"landlock\":{\"compatibility\":\"best_effort\"},\"process\":"
                        "{\"run_as_user\":\"sandbox\"}}");
    pol_policy_destroy(p);
}

static void parse_empty_and_minimal(void **state)
{
    (void)state;
    pol_policy_t *p = parse_ok("version: 1\n");
    assert_int_equal(p->nrules, 0);
    assert_null(p->sections_json);
    pol_policy_destroy(p);
    p = parse_ok("version: 1\nnetwork_policies:\n");
    assert_int_equal(p->nrules, 0);
    pol_policy_destroy(p);
}

typedef struct {
    const char *yaml;
    const char *want; /* the error starts with this */
} reject_t;

#define HDR "version: 1\nnetwork_policies:\n  gh:\n"
#define EP1 HDR "    endpoints:\n      - host: "

static const reject_t rejects[] = {
    /* unknown keys, each level */
    {EP1 "a.com\n        port: 443\n        hosst: x\n",
     "t.yaml:7: network_policies.gh.endpoints[0].hosst: unknown key"},
    {HDR "    nmae: x\n", "t.yaml:4: network_policies.gh.nmae: unknown key"},
    {HDR "    binaries:\n      - pth: /usr/bin/x\n",
     "t.yaml:5: network_policies.gh.binaries[0].pth: unknown key"},
    /* ports */
    {EP1 "a.com\n        port: 0\n",
     "t.yaml:6: network_policies.gh.endpoints[0].port: port '0' is not a number in 1..65535"},
    {EP1 "a.com\n        port: 65536\n",
     "t.yaml:6: network_policies.gh.endpoints[0].port: port '65536' is not"},
    {EP1 "a.com\n        port: -1\n", "t.yaml:6: network_policies.gh.endpoints[0].port: port '-1'"},
    {EP1 "a.com\n        port: https\n",
     "t.yaml:6: network_policies.gh.endpoints[0].port: port 'https'"},
    {EP1 "a.com\n        ports: [443, 70000]\n",
     "t.yaml:6: network_policies.gh.endpoints[0].ports[1]: port '70000'"},
    {EP1 "a.com\n        port: [443]\n",
     "t.yaml:6: network_policies.gh.endpoints[0].port: expected a scalar, found a list"},
    {EP1 "a.com\n",
     "t.yaml:5: network_policies.gh.endpoints[0]: endpoint 'a.com' must declare at least one port"},
    {EP1 "a.com\n        ports: []\n",
     "t.yaml:5: network_policies.gh.endpoints[0]: endpoint 'a.com' must declare at least one port"},
    {HDR "    endpoints:\n      - port: 443\n",
     "t.yaml:5: network_policies.gh.endpoints[0]: endpoint host must not be empty unless "
     "allowed_ips"},
    {HDR "    endpoints:\n      - {port: 443, allowed_ips: [10.0.0.0/8]}\n",
     "t.yaml:5: network_policies.gh.endpoints[0]: host: missing; an endpoint with only "
     "allowed_ips (any host on the port, limited by address) is not supported by tollgate yet"},
    {HDR "    endpoints:\n      - {port: 443, protocol: tcp, allowed_ips: [10.0.0.0/8]}\n",
     "t.yaml:5: network_policies.gh.endpoints[0]: protocol tcp requires a DNS hostname"},
    {EP1 "10.0.0.1\n        port: 443\n        protocol: tcp\n",
     "t.yaml:5: network_policies.gh.endpoints[0]: protocol tcp endpoint '10.0.0.1' must use a DNS "
     "hostname"},
    /* host globs */
    {EP1 "\"*\"\n        port: 443\n",
     "t.yaml:5: network_policies.gh.endpoints[0].host: host '*': a bare wildcard"},
    {EP1 "\"**\"\n        port: 443\n",
     "t.yaml:5: network_policies.gh.endpoints[0].host: host '**'"},
    {EP1 "\"*.com\"\n        port: 443\n",
     "t.yaml:5: network_policies.gh.endpoints[0].host: host '*.com': TLD wildcard is not allowed"},
    {EP1 "\"**.com\"\n        port: 443\n",
     "t.yaml:5: network_policies.gh.endpoints[0].host: host '**.com': TLD wildcard"},
    {EP1 "\"a.**.x.com\"\n        port: 443\n",
     "t.yaml:5: network_policies.gh.endpoints[0].host: host 'a.**.x.com': invalid host wildcard"},
    {EP1 "\"a.b*.x.com\"\n        port: 443\n",
     "t.yaml:5: network_policies.gh.endpoints[0].host: host 'a.b*.x.com': invalid host wildcard"},
    {EP1 "\"a**.x.com\"\n        port: 443\n",
     "t.yaml:5: network_policies.gh.endpoints[0].host: host 'a**.x.com': invalid host wildcard"},
    {EP1 "\"*.github.com:443\"\n        port: 443\n",
     "t.yaml:5: network_policies.gh.endpoints[0].host: host '*.github.com:443': a host has no "
     "port"},
    {EP1 "a..x.com\n        port: 443\n",
     "t.yaml:5: network_policies.gh.endpoints[0].host: host 'a..x.com': empty label"},
    {EP1 "x.com.\n        port: 443\n",
     "t.yaml:5: network_policies.gh.endpoints[0].host: host 'x.com.': empty label"},
    {EP1 "\"\"\n        port: 443\n",
     "t.yaml:5: network_policies.gh.endpoints[0].host: host '': empty host"},
    {EP1 "\"a b.com\"\n        port: 443\n",
     "t.yaml:5: network_policies.gh.endpoints[0].host: host 'a b.com': invalid character"},
    /* version */
    {"version: 2\n", "t.yaml:1: version: version must be 1, found '2'"},
    {"version: \"1\"\n", "t.yaml:1: version: version must be 1, found '1'"},
    {"network_policies: {}\n", "t.yaml:1: version: missing"},
    /* reserved keys */
    {"version: 1\nnetwork_policies:\n  _provider_codex:\n    endpoints: []\n",
     "t.yaml:3: network_policies._provider_codex: keys starting with '_provider_' are reserved"},
    /* YAML itself */
    {"version: 1\nnetwork_policies:\n  gh:\n    endpoints: [\n",
     "t.yaml:5: network_policies.gh.endpoints: YAML syntax error: "},
    {"version: 1\nversion: 1\n", "t.yaml:2: version: duplicate key"},
    {"version: 1\nx: \xff\n", "t.yaml:2: YAML syntax error: invalid leading UTF-8 octet"},
    {"a: &x 1\nb: *x\n", "t.yaml:2: b: YAML aliases are not supported"},
    {"", "t.yaml:1: empty document"},
    {"- 1\n", "t.yaml:1: expected a mapping, found a list"},
    {"version: 1\n---\nversion: 1\n", "t.yaml:2: more than one YAML document"},
    /* binaries */
    {HDR "    binaries: [{path: usr/bin/x}]\n",
     "t.yaml:4: network_policies.gh.binaries[0]: binary path must be absolute"},
    {HDR "    binaries: [{path: \"/usr/bin/\\tx\"}]\n",
     "t.yaml:4: network_policies.gh.binaries[0]: control character in binary path"},
    {HDR "    endpoints: {host: a.com}\n",
     "t.yaml:4: network_policies.gh.endpoints: expected a list, found a mapping"},
};

static void parse_rejections(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(rejects); i++) {
        char err[512] = "";
        const char *y = rejects[i].yaml;
        pol_policy_t *p = pol_parse_yaml(y, strlen(y), "t.yaml", false, err, sizeof err);
        if (p)
            fail_msg("case %zu: accepted:\n%s", i, y);
        if (strncmp(err, rejects[i].want, strlen(rejects[i].want)) != 0)
            fail_msg("case %zu:\n got: %s\nwant: %s...", i, err, rejects[i].want);
        assert_true(unit_clean_line(err, strlen(err)));
    }
}

static void parse_errors_are_escaped(void **state)
{
    (void)state;
    /* a key with an ESC and a newline, and a host with a bell */
    const char *docs[] = {
        "version: 1\nnetwork_policies:\n  gh:\n    \"x\\e[31m\\ny\": 1\n",
        "version: 1\nnetwork_policies:\n  gh:\n    endpoints: [{host: \"a\\ab.com\", port: 1}]\n",
        "version: 1\nnetwork_policies:\n  \"a\\x1bb\":\n    endpoints: []\n",
    };
    for (size_t i = 0; i < ARRAY_LEN(docs); i++) {
        char err[512] = "";
        char origin[] = "evil\x1b[2J.yaml";
        assert_null(pol_parse_yaml(docs[i], strlen(docs[i]), origin, false, err, sizeof err));
        assert_true(strlen(err) > 10);
        if (!unit_clean_line(err, strlen(err)))
            fail_msg("case %zu: raw control byte in: %s", i, err);
    }
}

static void provider_keys_allowed_when_asked(void **state)
{
    (void)state;
    const char *y = "version: 1\nnetwork_policies:\n  _provider_x:\n    endpoints: []\n";
    char err[256];
    pol_policy_t *p = pol_parse_yaml(y, strlen(y), "t.yaml", true, err, sizeof err);
    assert_non_null(p);
    assert_string_equal(p->rules[0].layer, "_provider_x");
    pol_policy_destroy(p);
}

static void load_file_errors(void **state)
{
    (void)state;
    char err[256];
    assert_null(pol_load_file("/nonexistent/policy.yaml", false, err, sizeof err));
    assert_string_equal(err, "/nonexistent/policy.yaml: No such file or directory");
    char path[] = "/tmp/test_policy_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("version: 1\nnetwork_policies:\n  a:\n    endpoints: [{host: a.com, port: 1}]\n", f);
    fclose(f);
    pol_policy_t *p = pol_load_file(path, false, err, sizeof err);
    assert_non_null(p);
    assert_int_equal(p->nrules, 1);
    pol_policy_destroy(p);
    remove(path);
}

/* ---- globs ------------------------------------------------------------------------ */

typedef struct {
    const char *pattern, *subject;
    bool match;
} glob_case_t;

static const glob_case_t host_cases[] = {
    {"api.github.com", "api.github.com", true},
    {"api.github.com", "API.GitHub.COM", true},
    {"api.github.com", "api.github.com.", true}, /* trailing dot ignored */
    {"api.github.com", "xapi.github.com", false},
    {"api.github.com", "github.com", false},
    {"*.github.com", "api.github.com", true},
    {"*.github.com", "API.github.com.", true},
    {"*.github.com", "a.b.github.com", false}, /* * is one label */
    {"*.github.com", "github.com", false},
    {"*.github.com", ".github.com", false},
    {"*.github.com", "apigithub.com", false},
    {"**.example.com", "a.example.com", true},
    {"**.example.com", "a.b.c.example.com", true},
    {"**.example.com", "example.com", false}, /* ** needs at least one label */
    {"**.example.com", "badexample.com", false},
    {"**.example.com", "a.example.com.evil.net", false},
    {"10.0.0.1", "10.0.0.1", true}, /* IP literals: exact text */
    {"10.0.0.1", "10.0.0.10", false},
    {"::1", "::1", true},
    /* OpenShell's other shapes: `*` within the first label, whole `*` labels later */
    {"api-*.example.com", "api-eu.example.com", true},
    {"api-*.example.com", "api-.example.com", true}, /* `*` may be empty, as in OPA's glob */
    {"api-*.example.com", "api.example.com", false},
    {"api-*.example.com", "api-eu.x.example.com", false}, /* `*` stays in its label */
    {"*-aiplatform.googleapis.com", "us-central1-aiplatform.googleapis.com", true},
    {"*-aiplatform.googleapis.com", "aiplatform.googleapis.com", false},
    {"*.s3.*.amazonaws.com", "bucket.s3.eu-west-1.amazonaws.com", true},
    {"*.s3.*.amazonaws.com", "bucket.s3.amazonaws.com", false},
    {"*.s3.*.amazonaws.com", "a.b.s3.eu-west-1.amazonaws.com", false},
    {"*.s3.*.amazonaws.com", "BUCKET.S3.x.AMAZONAWS.com.", true},
    {"s3.*.amazonaws.com", "s3.us-east-2.amazonaws.com", true},
    {"s3.*.amazonaws.com", "s3.dualstack.us-east-2.amazonaws.com", false},
    {"**.s3.*.amazonaws.com", "a.b.s3.x.amazonaws.com", true},
    {"**.s3.*.amazonaws.com", "s3.x.amazonaws.com", false},
    {"a*b*c.x.com", "abxxbc.x.com", true},
    {"a*b*c.x.com", "abxxb.x.com", false},
    {"*.x.com", "a..x.com", false},
};

static void host_globs(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(host_cases); i++) {
        const glob_case_t *c = &host_cases[i];
        if (pol_host_match(c->pattern, c->subject) != c->match)
            fail_msg("host case %zu: %s vs %s should %smatch", i, c->pattern, c->subject,
                     c->match ? "" : "not ");
    }
}

static void host_pattern_checks(void **state)
{
    (void)state;
    static const char *const good[] = {"a.com",
                                       "*.github.com",
                                       "**.example.com",
                                       "localhost",
                                       "10.0.0.1",
                                       "::1",
                                       "*.a.b.c.d.com",
                                       "x_y-z.io",
                                       "api-*.x.com",
                                       "*x.y.com",
                                       "*.s3.*.amazonaws.com",
                                       "*-aiplatform.googleapis.com",
                                       "a.*.x.com",
                                       "*.*.x.com",
                                       "fe80::1"};
    static const char *const bad[] = {
        "*",         "**",     "*.com",      "**.com",   "a.**.com", "a.b*.x.com", "a**.x.com",
        "***.x.com", "a..com", ".a.com",     "a.com.",   "",         "a/b.com",    "x.com:443",
        "*.x.com:1", "[::1]",  "a.com/path", "a?.x.com", "{a,b}.com"};
    char err[256];
    for (size_t i = 0; i < ARRAY_LEN(good); i++)
        if (pol_host_pattern_check(good[i], err, sizeof err))
            fail_msg("%s refused: %s", good[i], err);
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        if (pol_host_pattern_check(bad[i], err, sizeof err) != -EINVAL)
            fail_msg("%s accepted", bad[i]);
}

static const glob_case_t path_cases[] = {
    {"/usr/bin/curl", "/usr/bin/curl", true},
    {"/usr/bin/curl", "/usr/bin/curl2", false},
    {"/usr/bin/*", "/usr/bin/curl", true},
    {"/usr/bin/*", "/usr/bin/sub/curl", false}, /* * stays in a segment */
    {"/usr/bin/py*", "/usr/bin/python3", true},
    {"/usr/bin/py*3", "/usr/bin/python3", true},
    {"/usr/bin/py*3", "/usr/bin/python3.11", false},
    {"/usr/lib/node_modules/@openai/**", "/usr/lib/node_modules/@openai/codex/bin/codex.js", true},
    {"/usr/lib/node_modules/@openai/**", "/usr/lib/node_modules/@openai/codex", true},
    {"/usr/lib/node_modules/@openai/**", "/usr/lib/node_modules/@evil/codex", false},
    {"/usr/lib/node_modules/@openai/**", "/usr/lib/node_modules/@openai", false},
    {"/opt/**/bin/tool", "/opt/bin/tool", true}, /* ** segment: zero directories too */
    {"/opt/**/bin/tool", "/opt/a/b/bin/tool", true},
    {"/opt/**/bin/tool", "/opt/a/b/bin/tool2", false},
    {"/opt/**/bin/tool", "/optx/bin/tool", false},
    {"/opt/*/bin/*", "/opt/v1/bin/x", true},
    {"/opt/*/bin/*", "/opt/v1/v2/bin/x", false},
    {"/a/**", "/a/", true},
    {"**", "/anything/at/all", true},
};

static void path_globs(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(path_cases); i++) {
        const glob_case_t *c = &path_cases[i];
        if (pol_path_match(c->pattern, c->subject) != c->match)
            fail_msg("path case %zu: %s vs %s should %smatch", i, c->pattern, c->subject,
                     c->match ? "" : "not ");
    }
}

/* The definition of path globs, written the slow way. */
static bool ref_match(const char *p, const char *s)
{
    if (!*p)
        return !*s;
    if (p[0] == '/' && p[1] == '*' && p[2] == '*' && p[3] == '/') {
        if (s[0] != '/')
            return false;
        for (size_t j = 0; s[j]; j++) /* "/" then (any "/")? */
            if (s[j] == '/' && ref_match(p + 4, s + j + 1))
                return true;
        return false;
    }
    if (p[0] == '*' && p[1] == '*') {
        for (size_t k = 0;; k++) {
            if (ref_match(p + 2, s + k))
                return true;
            if (!s[k])
                return false;
        }
    }
    if (p[0] == '*') {
        for (size_t k = 0;; k++) {
            if (ref_match(p + 1, s + k))
                return true;
            if (!s[k] || s[k] == '/')
                return false;
        }
    }
    return *s == *p && ref_match(p + 1, s + 1);
}

static void path_globs_match_reference(void **state)
{
    (void)state;
    static const char pat_chars[] = "/a*b";
    static const char path_chars[] = "/ab";
    unsigned seed = 7;
#define RND() (seed = seed * 1103515245u + 12345u, (seed >> 16) & 0x7fff)
    for (int i = 0; i < 200000; i++) {
        char pat[12], path[12];
        size_t pl = RND() % 10, sl = RND() % 11;
        for (size_t k = 0; k < pl; k++)
            pat[k] = pat_chars[RND() % 4];
        pat[pl] = '\0';
        for (size_t k = 0; k < sl; k++)
            path[k] = path_chars[RND() % 3];
        path[sl] = '\0';
        if (pol_path_match(pat, path) != ref_match(pat, path))
            fail_msg("'%s' vs '%s': got %d", pat, path, pol_path_match(pat, path));
    }
#undef RND
}

/* ---- decisions ------------------------------------------------------------------------ */

static const char decide_doc[] =
    "version: 1\n"
    "network_policies:\n"
    "  web:\n"
    "    endpoints:\n"
    "      - {host: example.com, ports: [80, 443]}\n"
    "      - {host: \"*.cdn.net\", port: 443}\n"
    "    binaries: [{path: /usr/bin/curl}]\n"
    "  deep:\n"
    "    endpoints: [{host: \"**.corp.internal\", port: 8443}]\n"
    "    binaries: [{path: \"/opt/**\"}]\n"
    "  agent:\n"
    "    endpoints: [{host: api.openai.com, port: 443}]\n"
    "    binaries: [{path: \"/usr/lib/node_modules/@openai/**\"}, {path: /usr/local/bin/codex}]\n"
    "  wget:\n"
    "    endpoints: [{host: example.com, port: 443}]\n"
    "    binaries: [{path: /usr/bin/wget}]\n"
    "  nobin:\n"
    "    endpoints: [{host: nobody.io, port: 443}]\n";

static void decide_ports_and_hosts(void **state)
{
    (void)state;
    pol_policy_t *p = parse_ok(decide_doc);
    pol_index_t *ix = pol_index_build(p);
    pol_policy_destroy(p); /* the index keeps its own copy */
    exes_t curl = EXES("/usr/bin/curl");
    pol_decision_t d = decide(ix, "example.com", 443, curl);
    assert_true(d.allowed);
    assert_string_equal(d.rule, "web");
    assert_string_equal(d.layer, "base");
    assert_string_equal(d.reason, "");
    assert_true(decide(ix, "EXAMPLE.com.", 80, curl).allowed);
    assert_false(decide(ix, "example.com", 8080, curl).allowed);
    assert_false(decide(ix, "example.com", 0, curl).allowed);
    assert_true(decide(ix, "img.cdn.net", 443, curl).allowed);
    assert_false(decide(ix, "a.img.cdn.net", 443, curl).allowed);
    assert_false(decide(ix, "img.cdn.net", 80, curl).allowed);
    exes_t opt = EXES("/opt/tool/bin/x");
    assert_true(decide(ix, "a.b.corp.internal", 8443, opt).allowed);
    assert_false(decide(ix, "corp.internal", 8443, opt).allowed);
    /* another rule allows wget on the same endpoint */
    d = decide(ix, "example.com", 443, EXES("/usr/bin/wget"));
    assert_true(d.allowed);
    assert_string_equal(d.rule, "wget");
    assert_false(decide(ix, "example.com", 80, EXES("/usr/bin/wget")).allowed);
    /* a rule with no binaries allows nothing */
    assert_false(decide(ix, "nobody.io", 443, curl).allowed);
    pol_index_destroy(ix);
}

static void decide_binaries_and_ancestors(void **state)
{
    (void)state;
    pol_policy_t *p = parse_ok(decide_doc);
    pol_index_t *ix = pol_index_build(p);
    /* node running codex's JS: the caller matches the ** glob */
    pol_decision_t d =
        decide(ix, "api.openai.com", 443, EXES("/usr/lib/node_modules/@openai/codex/bin/codex.js"));
    assert_true(d.allowed);
    assert_string_equal(d.rule, "agent");
    /* curl started by codex: an ancestor matches */
    d = decide(ix, "api.openai.com", 443,
               EXES("/usr/bin/curl", "/bin/bash", "/usr/local/bin/codex", "/sbin/init"));
    assert_true(d.allowed);
    /* neither the caller nor an ancestor */
    d = decide(ix, "api.openai.com", 443, EXES("/usr/bin/curl", "/bin/bash"));
    assert_false(d.allowed);
    assert_null(d.rule);
    pol_index_destroy(ix);
    pol_policy_destroy(p);
}

static void denial_reasons_verbatim(void **state)
{
    (void)state;
    pol_policy_t *p = parse_ok(decide_doc);
    pol_index_t *ix = pol_index_build(p);
    pol_decision_t d = decide(ix, "evil.com", 443, EXES("/usr/bin/curl"));
    assert_false(d.allowed);
    assert_string_equal(d.reason, "endpoint evil.com:443 is not allowed by any policy");
    d = decide(ix, "example.com", 443, EXES("/usr/bin/python3", "/bin/bash", "/usr/bin/node"));
    assert_string_equal(d.reason, "binary '/usr/bin/python3' not allowed in policy 'web' "
                                  "(ancestors: [/bin/bash -> /usr/bin/node])");
    d = decide(ix, "example.com", 443, EXES("/usr/bin/python3"));
    assert_string_equal(d.reason,
                        "binary '/usr/bin/python3' not allowed in policy 'web' (ancestors: [])");
    pol_index_destroy(ix);
    pol_policy_destroy(p);

    p = parse_ok("version: 1\n");
    ix = pol_index_build(p);
    d = decide(ix, "example.com", 443, EXES("/usr/bin/curl"));
    assert_false(d.allowed);
    assert_string_equal(d.reason, "network connections not allowed by policy");
    pol_index_destroy(ix);
    pol_policy_destroy(p);
}

/* Long untrusted text: the reason is cut on a UTF-8 boundary, never mid-way. */
static void denial_reason_caps(void **state)
{
    (void)state;
    pol_policy_t *p = parse_ok(decide_doc);
    pol_index_t *ix = pol_index_build(p);
    char exe[2048], anc[700];
    for (size_t shift = 0; shift < 3; shift++) {
        /* shift ASCII bytes, then 2- and 3-byte sequences up to the end */
        memset(exe, 0, sizeof exe);
        memcpy(exe, "/tmp/", 5);
        memset(exe + 5, 'x', shift);
        for (size_t i = 5 + shift; i + 2 < sizeof exe - 1; i += 2)
            memcpy(exe + i, "\xc3\xa9", 2); /* é */
        memset(anc, 0, sizeof anc);
        memset(anc, 'a', shift + 1);
        for (size_t i = shift + 1; i + 3 < sizeof anc - 1; i += 3)
            memcpy(anc + i, "\xe2\x82\xac", 3); /* € */
        pol_decision_t d = decide(ix, "example.com", 443, EXES(exe, anc, anc, anc, anc));
        size_t n = strlen(d.reason);
        assert_true(n < sizeof d.reason);
        assert_true(unit_clean_line(d.reason, n));
        assert_memory_equal(d.reason, "binary '/tmp/", 13);
        assert_non_null(strstr(d.reason, "...' not allowed in policy 'web' (ancestors: [a"));
        assert_memory_equal(d.reason + n - 3, "...", 3);
    }
    char host[600];
    memset(host, 'h', sizeof host - 1);
    host[sizeof host - 1] = '\0';
    pol_decision_t d = decide(ix, host, 443, EXES("/usr/bin/curl"));
    assert_true(strstr(d.reason, "...:443 is not allowed by any policy") != NULL);
    pol_index_destroy(ix);
    pol_policy_destroy(p);
}

/* The index must agree with a scan of the rules in order (the definition). */
static bool scan_allows(const pol_policy_t *p, const pol_query_t *q, size_t *rule)
{
    for (size_t r = 0; r < p->nrules; r++) {
        const pol_rule_t *ru = &p->rules[r];
        for (size_t e = 0; e < ru->nendpoints; e++) {
            bool port = false;
            for (size_t k = 0; k < ru->endpoints[e].nports; k++)
                port |= ru->endpoints[e].ports[k] == q->port;
            if (!port || !pol_host_match(ru->endpoints[e].host, q->host))
                continue;
            for (size_t x = 0; x < q->nexes; x++)
                for (size_t b = 0; b < ru->nbinaries; b++)
                    if (pol_path_match(ru->binaries[b], q->exes[x])) {
                        *rule = r;
                        return true;
                    }
        }
    }
    return false;
}

static void index_agrees_with_scan(void **state)
{
    (void)state;
    static const char *const labels[] = {"a", "b", "api", "x", "corp", "net", "com", ""};
    static const char *const bins[] = {"/usr/bin/a", "/usr/bin/b", "/opt/x/bin/c", "/usr/bin/z"};
    ocsf_buf_t y;
    ocsf_buf_init(&y);
    ocsf_buf_puts(&y, "version: 1\nnetwork_policies:\n");
    unsigned seed = 12345;
#define RND() (seed = seed * 1103515245u + 12345u, (seed >> 16) & 0x7fff)
    static const char *const wild[] = {"", "*.", "**."};
    /* first labels may hold a `*` (api-*, *i); later ones may be a whole `*` */
    static const char *const first[] = {"a", "b", "api", "x", "corp", "ap*", "*i", "*"};
    static const char *const mid[] = {"a", "b", "api", "x", "corp", "net", "com", "*"};
    for (int r = 0; r < 60; r++) {
        char line[256];
        const char *w = wild[RND() % 3];
        const char *l1 = *w ? mid[RND() % 8] : first[RND() % 8], *l2 = mid[RND() % 8],
                   *l3 = labels[RND() % 7];
        const char *bin = bins[RND() % 3];
        int port2 = 80 + (int)(RND() % 3);
        snprintf(line, sizeof line,
                 "  r%02d:\n    endpoints: [{host: \"%s%s.%s.%s\", ports: [443, %d]}]\n"
                 "    binaries: [{path: \"%s\"}, {path: \"/opt/*/bin/*\"}]\n",
                 r, w, l1, l2, l3, port2, bin);
        ocsf_buf_puts(&y, line);
    }
    pol_policy_t *p = parse_ok(ocsf_buf_cstr(&y));
    ocsf_buf_dispose(&y);
    pol_index_t *ix = pol_index_build(p);
    for (int i = 0; i < 20000; i++) {
        char host[128];
        size_t hl = 0;
        int n = 1 + (int)(RND() % 5);
        for (int k = 0; k < n; k++)
            hl += (size_t)snprintf(host + hl, sizeof host - hl, "%s%s", k ? "." : "",
                                   labels[RND() % 8]);
        if (RND() % 10 == 0)
            snprintf(host + hl, sizeof host - hl, ".");
        const char *exes[] = {bins[RND() % 4], bins[RND() % 4]};
        pol_query_t q = {host, (uint16_t)(RND() % 2 ? 443 : 80 + RND() % 4), exes, 1 + RND() % 2,
                         false};
        pol_decision_t d;
        pol_decide(ix, &q, &d);
        size_t rule = 0;
        bool want = scan_allows(p, &q, &rule);
        if (want != d.allowed || (want && strcmp(d.rule, p->rules[rule].key) != 0))
            fail_msg("%s:%u: index %d (%s), scan %d (%s)", host, q.port, d.allowed,
                     d.rule ? d.rule : "-", want, want ? p->rules[rule].key : "-");
    }
#undef RND
    pol_index_destroy(ix);
    pol_policy_destroy(p);
}

/* ---- canonical JSON and hash ---------------------------------------------------------- */

static void same_content_same_hash(void **state)
{
    (void)state;
    pol_policy_t *a = parse_ok(doc_block), *b = parse_ok(doc_flow);
    char ha[65], hb[65];
    pol_hash(a, ha);
    pol_hash(b, hb);
    assert_string_equal(ha, hb);
    assert_int_equal(strlen(ha), 64);
    char *ja = pol_to_json(a, false), *jb = pol_to_json(b, false);
    assert_string_equal(ja, jb);
    assert_string_equal(
        ja, "{\"landlock\":{\"compatibility\":\"best_effort\"},\"network_policies\":{\"a_rule\":{"
            "\"binaries\":[],\"endpoints\":[{\"host\":\"a.com\",\"ports\":[443],\"rules\":[{"
            "\"allow\":{\"method\":\"GET\",\"path\":\"**\"}}]}]},\"b_rule\":{\"binaries\":[{"
            "\"path\":\"/usr/bin/b\"}],\"endpoints\":[{\"access\":\"full\",\"host\":\"b.com\","
            "\"ports\":[80,443],\"protocol\":\"rest\"}],"
            "\"name\":\"B\"}},\"version\":1}");
    free(ja);
    free(jb);
    /* any change of content changes the hash: a section, a port, a binary */
    static const char *const changed[] = {
        "version: 1\nnetwork_policies: {a_rule: {endpoints: [{host: a.com, port: 443, rules: "
        "[{allow: {method: GET, path: '**'}}]}]}, b_rule: {name: B, binaries: [{path: "
        "/usr/bin/b}], "
        "endpoints: "
        "[{host: b.com, ports: [80, 443], protocol: rest, access: full}]}}\nlandlock: "
        "{compatibility: "
        "hard_requirement}\n",
        "version: 1\nnetwork_policies: {a_rule: {endpoints: [{host: a.com, port: 443, rules: "
        "[{allow: {method: GET, path: '**'}}]}]}, b_rule: {name: B, binaries: [{path: "
        "/usr/bin/b}], "
        "endpoints: "
        "[{host: b.com, ports: [81, 443], protocol: rest, access: full}]}}\nlandlock: "
        "{compatibility: "
        "best_effort}\n",
        "version: 1\nnetwork_policies: {a_rule: {endpoints: [{host: a.com, port: 443, rules: "
        "[{allow: {method: GET, path: '**'}}]}]}, b_rule: {name: B, binaries: [{path: "
        "/usr/bin/c}], "
        "endpoints: "
        "[{host: b.com, ports: [80, 443], protocol: rest, access: full}]}}\nlandlock: "
        "{compatibility: "
        "best_effort}\n",
    };
    for (size_t i = 0; i < ARRAY_LEN(changed); i++) {
        pol_policy_t *c = parse_ok(changed[i]);
        char hc[65];
        pol_hash(c, hc);
        if (strcmp(hc, ha) == 0)
            fail_msg("changed case %zu has the same hash", i);
        pol_policy_destroy(c);
    }
    pol_policy_destroy(a);
    pol_policy_destroy(b);
}

static void json_sections_and_layers(void **state)
{
    (void)state;
    pol_policy_t *p = parse_ok(full_doc);
    char *j = pol_to_json(p, false);
    json_t *root = json_loads(j, 0, NULL);
    assert_non_null(root);
    assert_true(json_is_true(
        json_object_get(json_object_get(root, "filesystem_policy"), "include_workdir")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(root, "process"), "run_as_user")),
        "sandbox");
    assert_non_null(json_object_get(root, "landlock"));
    assert_null(strstr(j, "\"layer\""));
    json_decref(root);
    free(j);
    j = pol_to_json(p, true);
    assert_non_null(strstr(j, "\"layer\":\"base\""));
    free(j);
    pol_policy_destroy(p);
}

static void yaml_round_trip(void **state)
{
    (void)state;
    pol_policy_t *p = parse_ok(full_doc);
    char *y = pol_to_yaml(p, false);
    pol_policy_t *q = parse_ok(y);
    char h1[65], h2[65];
    pol_hash(p, h1);
    pol_hash(q, h2);
    if (strcmp(h1, h2) != 0)
        fail_msg("round trip changed the policy:\n%s", y);
    free(y);
    /* with layers: comments, and provider keys read back when allowed */
    pol_provider_t *codex = provider_file("providers/codex.yaml");
    pol_policy_t *c = pol_compose(p, &codex, 1);
    y = pol_to_yaml(c, true);
    assert_non_null(strstr(y, "  # layer: _provider_codex (profile: codex)\n  _provider_codex:\n"));
    assert_non_null(strstr(y, "  # layer: base\n  github:\n"));
    char err[256];
    pol_policy_t *c2 = pol_parse_yaml(y, strlen(y), "get.yaml", true, err, sizeof err);
    assert_non_null(c2);
    char *j1 = pol_to_json(c, true), *j2 = pol_to_json(c2, true);
    assert_string_equal(j1, j2);
    free(j1);
    free(j2);
    free(y);
    pol_policy_destroy(c2);
    pol_policy_destroy(c);
    pol_provider_destroy(codex);
    pol_policy_destroy(q);
    pol_policy_destroy(p);
}

/* fuzz_policy's finds (fuzz/crashes/policy-*.yaml): each either fails with
 * a clean message or renders to YAML that parses back to the same hash. */
static void policy_find(const char *path, char *buf, size_t n)
{
    char err[512];
    pol_policy_t *p = pol_parse_yaml(buf, n, "f.yaml", false, err, sizeof err);
    if (!p) {
        assert_true(unit_clean_line(err, strlen(err)));
    } else {
        char *y = pol_to_yaml(p, false);
        pol_policy_t *q = pol_parse_yaml(y, strlen(y), "rt.yaml", true, err, sizeof err);
        if (!q)
            fail_msg("%s: the rendering does not parse: %s", path, err);
        char h1[65], h2[65];
        pol_hash(p, h1);
        pol_hash(q, h2);
        assert_string_equal(h1, h2);
        pol_policy_destroy(q);
        pol_policy_destroy(p);
        free(y);
    }
}

static void fuzz_regressions(void **state)
{
    (void)state;
    assert_true(unit_each_find("fuzz/crashes/policy-*.yaml", policy_find) >= 1);
}

/* a key YAML could not write back as a plain key is refused with its line */
static void refuses_overlong_keys(void **state)
{
    (void)state;
    char doc[2048], err[512];
    char key[400];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    snprintf(doc, sizeof doc, "version: 1\n%s: 1\n", key);
    pol_policy_t *p = pol_parse_yaml(doc, strlen(doc), "f.yaml", false, err, sizeof err);
    assert_null(p);
    assert_non_null(strstr(err, "f.yaml:2:"));
    assert_non_null(strstr(err, "mapping key of 399 bytes"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fuzz_regressions),
        cmocka_unit_test(refuses_overlong_keys),
        cmocka_unit_test(parse_every_field),
        cmocka_unit_test(parse_empty_and_minimal),
        cmocka_unit_test(parse_rejections),
        cmocka_unit_test(parse_errors_are_escaped),
        cmocka_unit_test(provider_keys_allowed_when_asked),
        cmocka_unit_test(load_file_errors),
        cmocka_unit_test(host_globs),
        cmocka_unit_test(host_pattern_checks),
        cmocka_unit_test(path_globs),
        cmocka_unit_test(path_globs_match_reference),
        cmocka_unit_test(decide_ports_and_hosts),
        cmocka_unit_test(decide_binaries_and_ancestors),
        cmocka_unit_test(denial_reasons_verbatim),
        cmocka_unit_test(denial_reason_caps),
        cmocka_unit_test(index_agrees_with_scan),
        cmocka_unit_test(same_content_same_hash),
        cmocka_unit_test(json_sections_and_layers),
        cmocka_unit_test(yaml_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
