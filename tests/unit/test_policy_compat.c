/* test_policy_compat.c: OpenShell's shapes the policy module takes (issue
 * 16): provider instances as layers, OpenShell's host wildcards in the
 * index, binary paths normalised, port and ports, sections checked and
 * kept. The fixture verdicts themselves are e2e (test_policy_compat.py).
 * Run from the repository root (it reads providers/). */
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "policy_docs.h"

typedef struct {
    const char *yaml;
    const char *want; /* the error starts with this */
} reject_t;

#define HDR "version: 1\nnetwork_policies:\n  gh:\n"
#define EP1 HDR "    endpoints:\n      - host: "

/* What OpenShell refuses is refused, with its validation messages' meaning. */
static const reject_t rejects[] = {
    /* allowed_ips: addresses, none always blocked */
    {EP1 "a.com\n        port: 443\n        allowed_ips: [127.0.0.1]\n",
     "t.yaml:7: network_policies.gh.endpoints[0].allowed_ips[0]: '127.0.0.1': falls within an "
     "always-blocked range"},
    {EP1 "a.com\n        port: 443\n        allowed_ips: [10.0.0.0/8, 169.254.169.254]\n",
     "t.yaml:7: network_policies.gh.endpoints[0].allowed_ips[1]: '169.254.169.254': falls within"},
    {EP1 "a.com\n        port: 443\n        allowed_ips: [0.0.0.0/0]\n",
     "t.yaml:7: network_policies.gh.endpoints[0].allowed_ips[0]: '0.0.0.0/0': falls within"},
    {EP1 "a.com\n        port: 443\n        allowed_ips: [\"fe80::1\"]\n",
     "t.yaml:7: network_policies.gh.endpoints[0].allowed_ips[0]: 'fe80::1': falls within"},
    {EP1 "a.com\n        port: 443\n        allowed_ips: [\"::/0\"]\n",
     "t.yaml:7: network_policies.gh.endpoints[0].allowed_ips[0]: '::/0': falls within"},
    {EP1 "a.com\n        port: 443\n        allowed_ips: [10.0.0.0/33]\n",
     "t.yaml:7: network_policies.gh.endpoints[0].allowed_ips[0]: '10.0.0.0/33': bad prefix"},
    {EP1 "a.com\n        port: 443\n        allowed_ips: [db.internal]\n",
     "t.yaml:7: network_policies.gh.endpoints[0].allowed_ips[0]: 'db.internal': not an IPv4"},
    {HDR "    binaries: [/usr/bin/x]\n",
     "t.yaml:4: network_policies.gh.binaries[0]: expected a mapping {path: ...}, found a scalar"},
    {HDR "    binaries: [{path: /usr/../usr/bin/curl}]\n",
     "t.yaml:4: network_policies.gh.binaries[0]: '..' in binary path"},
    {HDR "    binaries: [{path: /usr/bin/..}]\n",
     "t.yaml:4: network_policies.gh.binaries[0]: '..' in binary path"},
    {HDR "    binaries: [{path: /usr/bin/}]\n",
     "t.yaml:4: network_policies.gh.binaries[0]: binary path ends with '/'"},
    {HDR "    binaries: [{path: /usr/bin/x, harness: maybe}]\n",
     "t.yaml:4: network_policies.gh.binaries[0].harness: expected true or false"},
    /* the top level and its sections (OpenShell's schema) */
    {"version: 1\nnetwork_polices:\n  gh: {}\n", "t.yaml:2: network_polices: unknown key"},
    {"version: 1\nprocess: {run_as_user: root}\n",
     "t.yaml:2: process.run_as_user: run_as_user must be 'sandbox' or a numeric UID/GID in range "
     "[1, 4294967294], got 'root'"},
    {"version: 1\nprocess: {run_as_group: \"0\"}\n",
     "t.yaml:2: process.run_as_group: run_as_group must be 'sandbox'"},
    {"version: 1\nprocess: {run_as_user: \"4294967295\"}\n",
     "t.yaml:2: process.run_as_user: run_as_user must be"},
    {"version: 1\nprocess: {user: x}\n", "t.yaml:2: process.user: unknown key"},
    {"version: 1\nfilesystem_policy: {read_only: [/usr/../etc/shadow]}\n",
     "t.yaml:2: filesystem_policy.read_only[0]: path contains '..' traversal component"},
    {"version: 1\nfilesystem_policy: {read_write: [\"/\"]}\n",
     "t.yaml:2: filesystem_policy.read_write[0]: read-write path is overly broad"},
    {"version: 1\nfilesystem_policy: {read_only: [usr]}\n",
     "t.yaml:2: filesystem_policy.read_only[0]: path must be absolute"},
    {"version: 1\nfilesystem_policy: {include_workdir: yes}\n",
     "t.yaml:2: filesystem_policy.include_workdir: expected true or false"},
    {"version: 1\nfilesystem_policy: {read_olny: [/usr]}\n",
     "t.yaml:2: filesystem_policy.read_olny: unknown key"},
    {"version: 1\nlandlock: {compatibility: strict}\n",
     "t.yaml:2: landlock.compatibility: 'strict' is not valid"},
    {"version: 1\nnetwork_middlewares:\n  r: {middleware: openshell/regex}\n",
     "t.yaml:2: network_middlewares: not supported by tollgate yet"},
};

static void openshell_refusals(void **state)
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

static void provider_rule_names(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"my-github", "_provider_my_github"},
        {"Work GitHub!", "_provider_work_github"},
        {"...", "_provider_unnamed"},
        {"", "_provider_unnamed"},
        {"__x__", "_provider_x"},
        {"google-vertex-ai", "_provider_google_vertex_ai"},
        {"caf\xc3\xa9", "_provider_caf"},
    };
    char out[128];
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        pol_provider_rule_name(cases[i][0], out, sizeof out);
        assert_string_equal(out, cases[i][1]);
    }
    pol_provider_rule_name("codex", out, 8);
    assert_string_equal(out, "_provid");
}

static void instances_compose_as_layers(void **state)
{
    (void)state;
    pol_policy_t *base = parse_ok("version: 1\nnetwork_policies:\n  mine:\n    endpoints: [{host: "
                                  "a.com, port: 443}]\n    binaries: [{path: /usr/bin/a}]\n");
    pol_provider_t *gh = provider_file("providers/github.yaml");
    pol_provider_t *codex = provider_file("providers/codex.yaml");
    pol_provider_ref_t refs[] = {
        {"work-github", gh}, {"Work GitHub", gh}, {"work-github", gh}, {"codex", codex}};
    pol_policy_t *c = pol_compose_named(base, refs, ARRAY_LEN(refs));
    assert_int_equal(c->nrules, 4); /* the same instance twice is one layer */
    assert_string_equal(c->rules[1].key, "_provider_work_github");
    assert_string_equal(c->rules[1].name, "_provider_work_github");
    assert_string_equal(c->rules[1].layer, "_provider_work_github");
    assert_string_equal(c->rules[1].profile, "github");
    assert_string_equal(c->rules[2].key, "_provider_work_github_2"); /* keys collide: _2 */
    assert_string_equal(c->rules[3].key, "_provider_codex");
    assert_string_equal(c->rules[3].profile, "codex");
    assert_null(c->rules[0].profile);
    /* the rendering names the profile beside the layer */
    char *y = pol_to_yaml(c, true);
    assert_non_null(strstr(y, "  # layer: _provider_work_github_2 (profile: github)\n"));
    assert_non_null(strstr(y, "  # layer: base\n  mine:\n"));
    free(y);
    pol_index_t *ix = pol_index_build(c);
    pol_decision_t d = decide(ix, "github.com", 443, EXES("/usr/bin/git"));
    assert_true(d.allowed);
    assert_string_equal(d.layer, "_provider_work_github");
    pol_index_destroy(ix);
    pol_policy_destroy(c);
    pol_provider_destroy(codex);
    pol_provider_destroy(gh);
    pol_policy_destroy(base);
}

static void openshell_hosts_in_the_index(void **state)
{
    (void)state;
    pol_policy_t *p = parse_ok("version: 1\nnetwork_policies:\n"
                               "  s3:\n    endpoints:\n"
                               "      - {host: '*.s3.*.amazonaws.com', port: 443}\n"
                               "      - {host: 's3.*.amazonaws.com', port: 443}\n"
                               "    binaries: [{path: /usr/bin/aws}]\n"
                               "  vertex:\n    endpoints:\n"
                               "      - {host: '*-aiplatform.googleapis.com', port: 443}\n"
                               "    binaries: [{path: /usr/bin/python3}]\n"
                               "  api:\n    endpoints:\n"
                               "      - {host: 'api-*.example.com', port: 443}\n"
                               "      - {host: '*.example.com', port: 443}\n"
                               "    binaries: [{path: /usr/bin/curl}]\n");
    pol_index_t *ix = pol_index_build(p);
    pol_decision_t d = decide(ix, "b.s3.eu-west-1.amazonaws.com", 443, EXES("/usr/bin/aws"));
    assert_true(d.allowed);
    assert_string_equal(d.rule, "s3");
    d = decide(ix, "S3.us-east-2.AMAZONAWS.com.", 443, EXES("/usr/bin/aws"));
    assert_true(d.allowed);
    d = decide(ix, "a.b.s3.eu-west-1.amazonaws.com", 443, EXES("/usr/bin/aws"));
    assert_false(d.allowed);
    assert_string_equal(d.reason,
                        "endpoint a.b.s3.eu-west-1.amazonaws.com:443 is not allowed by any policy");
    d = decide(ix, "europe-west4-aiplatform.googleapis.com", 443, EXES("/usr/bin/curl"));
    assert_false(d.allowed);
    assert_string_equal(d.reason, "binary '/usr/bin/curl' not allowed in policy 'vertex' "
                                  "(ancestors: [])");
    d = decide(ix, "api-eu.example.com", 443, EXES("/usr/bin/curl"));
    assert_true(d.allowed);
    d = decide(ix, "x..example.com", 443, EXES("/usr/bin/curl"));
    assert_false(d.allowed);
    d = decide(ix, ".example.com", 443, EXES("/usr/bin/curl"));
    assert_false(d.allowed);
    pol_index_destroy(ix);
    pol_policy_destroy(p);
}

static void binaries_ports_and_sections(void **state)
{
    (void)state;
    pol_policy_t *p = parse_ok("version: 1\n"
                               "filesystem_policy: {include_workdir: true, read_only: [/usr], "
                               "read_write: [/tmp]}\n"
                               "landlock: {compatibility: hard_requirement}\n"
                               "process: {run_as_user: sandbox, run_as_group: 1500}\n"
                               "network_middlewares: {}\n"
                               "network_policies:\n  x:\n"
                               "    endpoints:\n"
                               "      - {host: a.com, port: 80, ports: [443, 8443]}\n"
                               "      - {host: b.com, port: 443, ports: [443]}\n"
                               "      - {host: c.com, port: 8080}\n"
                               "    binaries:\n"
                               "      - {path: /usr//bin/./curl}\n"
                               "      - {path: /usr/bin/curl, harness: true}\n"
                               "      - {path: /opt/**/bin/*}\n");
    const pol_rule_t *r = &p->rules[0];
    assert_int_equal(r->nbinaries, 2); /* normalised, then deduplicated */
    assert_string_equal(r->binaries[0], "/usr/bin/curl");
    /* ports wins over port, as in OpenShell (with a warning when port is lost) */
    assert_int_equal(r->endpoints[0].nports, 2);
    assert_int_equal(r->endpoints[0].ports[0], 443);
    assert_int_equal(r->endpoints[1].nports, 1);
    assert_int_equal(r->endpoints[2].ports[0], 8080);
    assert_non_null(p->warnings);
    assert_non_null(strstr(p->warnings, "t.yaml:9: network_policies.x.endpoints[0]: port 80 is "
                                        "ignored: ports is set (as in OpenShell)\n"));
    assert_null(strstr(p->warnings, "endpoints[1]: port"));
    assert_non_null(strstr(p->warnings, "t.yaml:2: filesystem_policy: checked and kept, not "
                                        "enforced by tollgate"));
    assert_non_null(strstr(p->warnings, "binaries[1].harness: deprecated and ignored"));
    /* the sections are kept (an empty network_middlewares is nothing) */
    assert_non_null(strstr(p->sections_json, "\"process\":{\"run_as_group\":1500,"));
    assert_null(strstr(p->sections_json, "network_middlewares"));
    pol_policy_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(openshell_refusals),
        cmocka_unit_test(provider_rule_names),
        cmocka_unit_test(instances_compose_as_layers),
        cmocka_unit_test(openshell_hosts_in_the_index),
        cmocka_unit_test(binaries_ports_and_sections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
