/* Unit tests of policy/, second part: endpoint specs, updates, provider
 * profiles and layers, the codex scenario. Run from the repository root (the codex
 * scenario reads providers/codex.yaml). */
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include <jansson.h>

#include "policy/policy.h"
#include "policy_docs.h"

/* ---- parsing ------------------------------------------------------------------- */

typedef struct {
    const char *yaml;
    const char *want; /* the error starts with this */
} reject_t;

static pol_endpoint_spec_t spec(const char *s, bool add)
{
    pol_endpoint_spec_t e;
    char err[256];
    if (pol_endpoint_spec_parse(s, add, &e, err, sizeof err))
        fail_msg("spec %s: %s", s, err);
    return e;
}

static void endpoint_specs(void **state)
{
    (void)state;
    pol_endpoint_spec_t e = spec("Registry.NPMjs.org:443", true);
    assert_string_equal(e.host, "registry.npmjs.org");
    assert_int_equal(e.port, 443);
    assert_null(e.access);
    assert_null(e.protocol);
    assert_null(e.enforcement);
    pol_endpoint_spec_dispose(&e);
    e = spec("api.x.com:8443:read-only:rest:audit", true);
    assert_string_equal(e.access, "read-only");
    assert_string_equal(e.protocol, "rest");
    assert_string_equal(e.enforcement, "audit");
    pol_endpoint_spec_dispose(&e);
    e = spec("api.x.com:443::tcp", true);
    assert_null(e.access);
    assert_string_equal(e.protocol, "tcp");
    pol_endpoint_spec_dispose(&e);
    e = spec("[::1]:8080", true);
    assert_string_equal(e.host, "::1");
    assert_int_equal(e.port, 8080);
    pol_endpoint_spec_dispose(&e);
    e = spec("*.npmjs.org:0", false); /* removal: port 0 is every port */
    assert_int_equal(e.port, 0);
    pol_endpoint_spec_dispose(&e);

    static const struct {
        const char *s;
        bool add;
        const char *want;
    } bad[] = {
        {"a.com", true, "expected HOST:PORT"},
        {"a.com:0", true, "port '0' is not a number in 1..65535"},
        {"a.com:65536", true, "port '65536'"},
        {"a.com:https", true, "port 'https'"},
        {"a.com:443:write", true, "access 'write' is not valid (read-only, read-write, full)"},
        {"a.com:443:read-only:rest:block", true, "enforcement 'block' is not valid"},
        {"a.com:443:read-only:rest:audit:x", true, "option 'x' is not valid"},
        {"a.com:443:read-only:rest:audit:", true, "empty options field"},
        {"a.com:443::::allow-uninspected-credentials", true, "not supported by tollgate yet"},
        {"a.com:443::grpc", true, "protocol 'grpc' is not valid (rest, tcp)"},
        {"a.com:443::websocket", true, "protocol 'websocket' is not supported by tollgate yet"},
        {"a.com:443:read-only:tcp", true, "protocol tcp does not support access or enforcement"},
        {"a.com:443:read-only", false, "too many fields (expected HOST:PORT)"},
        {"*.com:443", true, "host '*.com': TLD wildcard is not allowed"},
        {"a.**.com:443", true, "host 'a.**.com': invalid host wildcard"},
        {"[::1:443", true, "expected [IPV6]:PORT"},
        {"a\x1b[2Jb.com:443", true, "host 'a\\x1b[2jb.com': invalid character"},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        char err[256] = "";
        if (pol_endpoint_spec_parse(bad[i].s, bad[i].add, &e, err, sizeof err) == 0)
            fail_msg("spec %zu accepted", i);
        if (!strstr(err, bad[i].want) && strncmp(err, bad[i].want, strlen(bad[i].want)))
            fail_msg("spec %zu:\n got: %s\nwant: %s", i, err, bad[i].want);
        assert_true(unit_clean_line(err, strlen(err)));
    }
}

static const char base_doc[] = "version: 1\n"
                               "network_policies:\n"
                               "  pypi:\n"
                               "    endpoints:\n"
                               "      - {host: pypi.org, port: 443}\n"
                               "      - {host: files.pythonhosted.org, ports: [80, 443]}\n"
                               "    binaries: [{path: /usr/bin/pip}]\n";

static pol_policy_t *update_ok(const pol_policy_t *base, pol_update_t *u, char *summary, size_t len)
{
    char err[256] = "";
    pol_policy_t *p = pol_apply_update(base, u, summary, len, err, sizeof err);
    if (!p)
        fail_msg("update: %s", err);
    return p;
}

static void update_add(void **state)
{
    (void)state;
    pol_policy_t *base = parse_ok(base_doc);
    pol_endpoint_spec_t add[] = {spec("registry.npmjs.org:443", true)};
    char *bins[] = {"/usr/bin/node"};
    pol_update_t u = {.add = add, .nadd = 1, .binaries = bins, .nbinaries = 1};
    char summary[256];
    pol_policy_t *p = update_ok(base, &u, summary, sizeof summary);
    assert_string_equal(summary, "add-endpoint allow_registry_npmjs_org_443 "
                                 "endpoints=[registry.npmjs.org:443] binaries=[/usr/bin/node]");
    assert_int_equal(p->nrules, 2);
    const pol_rule_t *r = &p->rules[1];
    assert_string_equal(r->key, "allow_registry_npmjs_org_443");
    assert_string_equal(r->layer, "base");
    assert_string_equal(r->endpoints[0].host, "registry.npmjs.org");
    assert_string_equal(r->endpoints[0].access, "read-write");
    assert_string_equal(r->endpoints[0].protocol, "rest");
    assert_string_equal(r->endpoints[0].enforcement, "enforce");
    assert_int_equal(r->nbinaries, 1);
    assert_int_equal(base->nrules, 1); /* the base is untouched */

    /* the same update again: deduplicated, nothing new */
    pol_policy_t *p2 = update_ok(p, &u, summary, sizeof summary);
    char h1[65], h2[65];
    pol_hash(p, h1);
    pol_hash(p2, h2);
    assert_string_equal(h1, h2);
    pol_policy_destroy(p2);

    /* one rule per endpoint without a rule name; glob hosts get '_' */
    pol_endpoint_spec_t two[] = {spec("a.com:443", true), spec("*.b.com:8443", true)};
    pol_update_t u2 = {.add = two, .nadd = 2};
    p2 = update_ok(base, &u2, summary, sizeof summary);
    assert_string_equal(summary, "add-endpoint allow_a_com_443 endpoints=[a.com:443] binaries=[]; "
                                 "add-endpoint allow___b_com_8443 endpoints=[*.b.com:8443] "
                                 "binaries=[]");
    assert_int_equal(p2->nrules, 3);
    pol_policy_destroy(p2);
    for (size_t i = 0; i < ARRAY_LEN(two); i++)
        pol_endpoint_spec_dispose(&two[i]);
    pol_endpoint_spec_dispose(&add[0]);
    pol_policy_destroy(p);
    pol_policy_destroy(base);
}

static void update_rule_name(void **state)
{
    (void)state;
    pol_policy_t *base = parse_ok(base_doc);
    pol_endpoint_spec_t add[] = {spec("pypi.org:443", true), spec("test.pypi.org:443", true)};
    char *bins[] = {"/usr/bin/pip", "/usr/bin/python3"};
    pol_update_t u = {.add = add, .nadd = 2, .binaries = bins, .nbinaries = 2, .rule_name = "pypi"};
    char summary[256];
    pol_policy_t *p = update_ok(base, &u, summary, sizeof summary);
    assert_string_equal(summary, "add-endpoint pypi endpoints=[pypi.org:443, test.pypi.org:443] "
                                 "binaries=[/usr/bin/pip, /usr/bin/python3]");
    assert_int_equal(p->nrules, 1);
    const pol_rule_t *r = &p->rules[0];
    /* pypi.org:443 differs (access etc. were absent in the base): appended */
    assert_int_equal(r->nendpoints, 4);
    assert_string_equal(r->endpoints[3].host, "test.pypi.org");
    assert_int_equal(r->nbinaries, 2); /* /usr/bin/pip deduplicated */
    assert_string_equal(r->binaries[1], "/usr/bin/python3");

    /* binaries only, into an existing rule */
    char *more[] = {"/usr/local/bin/uv"};
    pol_update_t u2 = {.binaries = more, .nbinaries = 1, .rule_name = "pypi"};
    pol_policy_t *p2 = update_ok(p, &u2, summary, sizeof summary);
    assert_string_equal(summary, "add-binary pypi binaries=[/usr/local/bin/uv]");
    assert_int_equal(p2->rules[0].nbinaries, 3);
    pol_policy_destroy(p2);
    for (size_t i = 0; i < ARRAY_LEN(add); i++)
        pol_endpoint_spec_dispose(&add[i]);
    pol_policy_destroy(p);
    pol_policy_destroy(base);
}

static void update_remove(void **state)
{
    (void)state;
    pol_policy_t *base = parse_ok(base_doc);
    char summary[256];
    /* one port of a two-port endpoint */
    pol_endpoint_spec_t rm[] = {spec("files.pythonhosted.org:80", false)};
    pol_update_t u = {.remove = rm, .nremove = 1};
    pol_policy_t *p = update_ok(base, &u, summary, sizeof summary);
    assert_string_equal(summary, "remove-endpoint pypi endpoints=[files.pythonhosted.org:80]");
    assert_int_equal(p->rules[0].nendpoints, 2);
    assert_int_equal(p->rules[0].endpoints[1].nports, 1);
    assert_int_equal(p->rules[0].endpoints[1].ports[0], 443);
    pol_policy_destroy(p);
    /* every endpoint: the rule goes */
    pol_endpoint_spec_t all[] = {spec("pypi.org:443", false),
                                 spec("files.pythonhosted.org:0", false)};
    pol_update_t u2 = {.remove = all, .nremove = 2};
    p = update_ok(base, &u2, summary, sizeof summary);
    assert_int_equal(p->nrules, 0);
    assert_string_equal(summary, "remove-endpoint pypi endpoints=[pypi.org:443]; "
                                 "remove-endpoint pypi endpoints=[files.pythonhosted.org:0]");
    pol_policy_destroy(p);
    pol_endpoint_spec_dispose(&rm[0]);
    for (size_t i = 0; i < ARRAY_LEN(all); i++)
        pol_endpoint_spec_dispose(&all[i]);
    pol_policy_destroy(base);
}

static void update_errors(void **state)
{
    (void)state;
    pol_policy_t *base = parse_ok(base_doc);
    pol_endpoint_spec_t absent[] = {spec("pypi.org:80", false)};
    pol_endpoint_spec_t add[] = {spec("a.com:443", true)};
    char *bins[] = {"/usr/bin/x"};
    char *relbin[] = {"bin/x"};
    pol_update_t cases[] = {
        {.remove = absent, .nremove = 1},
        {.add = add, .nadd = 1, .rule_name = "_provider_codex"},
        {.binaries = bins, .nbinaries = 1, .rule_name = "nosuch"},
        {.binaries = bins, .nbinaries = 1},
        {.add = add, .nadd = 1, .binaries = relbin, .nbinaries = 1},
        {.add = add, .nadd = 1, .rule_name = "bad name"},
        /* removals and --binary without --rule-name: no rule to add it to (it crashed
         * the gateway: found by make soak) */
        {.remove = absent, .nremove = 1, .binaries = bins, .nbinaries = 1},
        {0},
    };
    static const char *const want[] = {
        "remove-endpoint: pypi.org:80 is not in the policy",
        "rule name '_provider_codex': provider layers cannot be updated",
        "rule name 'nosuch': no such rule",
        "--binary needs --add-endpoint or --rule-name",
        "binary 'bin/x': binary path must be absolute",
        "rule name 'bad name': control character or space in rule name",
        "--binary needs --add-endpoint or --rule-name",
        "empty update: nothing to add or remove",
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char err[256] = "", summary[64] = "x";
        pol_policy_t *p =
            pol_apply_update(base, &cases[i], summary, sizeof summary, err, sizeof err);
        if (p)
            fail_msg("update case %zu accepted", i);
        if (strcmp(err, want[i]) != 0)
            fail_msg("update case %zu:\n got: %s\nwant: %s", i, err, want[i]);
        assert_string_equal(summary, "");
    }
    /* a composed policy is not a base */
    pol_provider_t *codex = provider_file("providers/codex.yaml");
    pol_policy_t *composed = pol_compose(base, &codex, 1);
    pol_update_t u = {.add = add, .nadd = 1};
    char err[256];
    assert_null(pol_apply_update(composed, &u, NULL, 0, err, sizeof err));
    assert_string_equal(err, "the policy holds provider layer '_provider_codex': updates apply "
                             "to the base policy (providers are composed after)");
    pol_policy_destroy(composed);
    pol_provider_destroy(codex);
    pol_endpoint_spec_dispose(&absent[0]);
    pol_endpoint_spec_dispose(&add[0]);
    pol_policy_destroy(base);
}

/* ---- providers ------------------------------------------------------------------------ */

static void providers_parse(void **state)
{
    (void)state;
    pol_provider_t *codex = provider_file("providers/codex.yaml");
    assert_string_equal(codex->id, "codex");
    assert_string_equal(codex->display_name, "Codex");
    const pol_policy_t *p = codex->as_policy;
    assert_int_equal(p->nrules, 1);
    assert_string_equal(p->rules[0].key, "_provider_codex");
    assert_string_equal(p->rules[0].layer, "_provider_codex");
    assert_int_equal(p->rules[0].nendpoints, 4);
    assert_int_equal(p->rules[0].nbinaries, 3);
    assert_string_equal(p->rules[0].binaries[2], "/usr/lib/node_modules/@openai/**");
    pol_provider_destroy(codex);

    pol_provider_t *gh = provider_file("providers/github.yaml");
    p = gh->as_policy;
    assert_string_equal(p->rules[0].key, "_provider_github");
    assert_string_equal(p->rules[0].name, "_provider_github");
    assert_string_equal(p->rules[0].profile, "github");
    assert_string_equal(gh->category, "source_control");
    /* OpenShell's api.github.com read-only and github.com clone/fetch rules (its
     * GraphQL endpoint is left out: tollgate cannot inspect GraphQL) */
    assert_int_equal(p->rules[0].nendpoints, 2);
    assert_string_equal(p->rules[0].endpoints[0].host, "api.github.com");
    assert_string_equal(p->rules[0].endpoints[0].access, "read-only");
    assert_string_equal(p->rules[0].endpoints[1].host, "github.com");
    assert_null(p->rules[0].endpoints[1].access);
    assert_int_equal(p->rules[0].endpoints[1].nl7_allow, 4);
    assert_string_equal(p->rules[0].endpoints[1].l7_allow[3].path, "/**/git-upload-pack");
    assert_int_equal(p->rules[0].nbinaries, 4);
    pol_provider_destroy(gh);

    /* the policy form of binaries works in providers too; errors name file:line:key */
    const char *y = "id: x\ndisplay_name: X\nendpoints: [{host: x.com, port: 443}]\n"
                    "binaries: [{path: /bin/x}]\n";
    char err[256];
    pol_provider_t *pr = pol_provider_parse(y, strlen(y), "x.yaml", err, sizeof err);
    assert_non_null(pr);
    assert_string_equal(pr->as_policy->rules[0].binaries[0], "/bin/x");
    pol_provider_destroy(pr);
    static const reject_t bad[] = {
        {"id: x\nendpoints: [{host: x.com, prot: 443}]\n", "x.yaml:2: endpoints[0].prot: unknown"},
        {"id: x\ncolour: red\n", "x.yaml:2: colour: unknown key"},
        {"display_name: X\n", "x.yaml:1: id: missing"},
        {"id: x\n", "x.yaml:1: display_name: missing"},
        {"id: X Y\n", "x.yaml:1: id: a provider id is"},
        {"id: x\ncredentials: [{name: k, envvars: [K]}]\n",
         "x.yaml:2: credentials[0].envvars: unknown key"},
        {"id: x\ncategory: games\n", "x.yaml:2: category: unsupported provider profile category"},
        {"id: x\ndisplay_name: X\nendpoints: [{host: s3.amazonaws.com, port: 443, protocol: "
         "rest, access: full, credential_signing: sigv4, signing_service: s3}]\n",
         "x.yaml:3: endpoints[0].credential_signing: not supported by tollgate yet"},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        err[0] = '\0';
        if (pol_provider_parse(bad[i].yaml, strlen(bad[i].yaml), "x.yaml", err, sizeof err))
            fail_msg("provider case %zu accepted", i);
        if (strncmp(err, bad[i].want, strlen(bad[i].want)))
            fail_msg("provider case %zu:\n got: %s\nwant: %s", i, err, bad[i].want);
    }
}

static void compose_layers(void **state)
{
    (void)state;
    pol_policy_t *base = parse_ok(base_doc);
    pol_provider_t *prs[] = {provider_file("providers/codex.yaml"),
                             provider_file("providers/github.yaml"),
                             provider_file("providers/codex.yaml")};
    pol_policy_t *c = pol_compose(base, prs, 3);
    assert_int_equal(c->nrules, 3); /* codex twice is one layer */
    assert_string_equal(c->rules[0].key, "pypi");
    assert_string_equal(c->rules[1].layer, "_provider_codex");
    assert_string_equal(c->rules[2].layer, "_provider_github");
    pol_index_t *ix = pol_index_build(c);
    pol_decision_t d = decide(ix, "github.com", 443, EXES("/usr/bin/git"));
    assert_true(d.allowed);
    assert_string_equal(d.rule, "_provider_github");
    assert_string_equal(d.layer, "_provider_github");
    pol_index_destroy(ix);
    pol_policy_destroy(c);
    for (size_t i = 0; i < ARRAY_LEN(prs); i++)
        pol_provider_destroy(prs[i]);
    pol_policy_destroy(base);
}

/* "Adding an endpoint made ab.chatgpt.com disappear" cannot happen: updates
 * take the base, provider layers are composed after. */
static void codex_scenario(void **state)
{
    (void)state;
    pol_policy_t *base = parse_ok(base_doc);
    pol_provider_t *codex = provider_file("providers/codex.yaml");
    pol_endpoint_spec_t add[] = {spec("registry.npmjs.org:443", true)};
    char *bins[] = {"/usr/bin/node"};
    pol_update_t u = {.add = add, .nadd = 1, .binaries = bins, .nbinaries = 1};
    char summary[256];
    pol_policy_t *updated = update_ok(base, &u, summary, sizeof summary);
    pol_policy_t *eff = pol_compose(updated, &codex, 1);
    static const char *const hosts[] = {"api.openai.com", "auth.openai.com", "chatgpt.com",
                                        "ab.chatgpt.com"};
    int ci = -1;
    for (size_t i = 0; i < eff->nrules; i++)
        if (strcmp(eff->rules[i].key, "_provider_codex") == 0)
            ci = (int)i;
    assert_true(ci >= 0);
    assert_int_equal(eff->rules[ci].nendpoints, 4);
    pol_index_t *ix = pol_index_build(eff);
    for (size_t i = 0; i < ARRAY_LEN(hosts); i++) {
        assert_string_equal(eff->rules[ci].endpoints[i].host, hosts[i]);
        pol_decision_t d = decide(ix, hosts[i], 443, EXES("/usr/local/bin/codex"));
        if (!d.allowed)
            fail_msg("%s:443 denied: %s", hosts[i], d.reason);
        assert_string_equal(d.rule, "_provider_codex");
    }
    pol_decision_t d = decide(ix, "registry.npmjs.org", 443, EXES("/usr/bin/node"));
    assert_true(d.allowed);
    assert_string_equal(d.rule, "allow_registry_npmjs_org_443");
    /* removing a provider endpoint through an update is impossible */
    pol_endpoint_spec_t rm[] = {spec("ab.chatgpt.com:443", false)};
    pol_update_t u2 = {.remove = rm, .nremove = 1};
    char err[256];
    assert_null(pol_apply_update(updated, &u2, NULL, 0, err, sizeof err));
    assert_string_equal(err, "remove-endpoint: ab.chatgpt.com:443 is not in the policy");
    assert_null(pol_apply_update(eff, &u2, NULL, 0, err, sizeof err));
    pol_index_destroy(ix);
    pol_endpoint_spec_dispose(&rm[0]);
    pol_endpoint_spec_dispose(&add[0]);
    pol_policy_destroy(eff);
    pol_policy_destroy(updated);
    pol_provider_destroy(codex);
    pol_policy_destroy(base);
}

static void clone_is_deep(void **state)
{
    (void)state;
    pol_policy_t *p = parse_ok(full_doc);
    pol_policy_t *c = pol_policy_clone(p);
    char *a = pol_to_json(p, true);
    pol_policy_destroy(p);
    char *b = pol_to_json(c, true);
    assert_string_equal(a, b);
    free(a);
    free(b);
    pol_policy_destroy(c);
    pol_policy_destroy(NULL);
    pol_index_destroy(NULL);
    pol_provider_destroy(NULL);
}

static void diff_lines(void **state)
{
    (void)state;
    pol_policy_t *a = parse_ok(doc_block), *b = parse_ok(doc_flow);
    char *d = pol_diff(a, b);
    assert_string_equal(d, "");
    free(d);
    pol_policy_t *c = parse_ok("version: 1\n"
                               "network_policies:\n"
                               "  b_rule:\n"
                               "    name: B\n"
                               "    endpoints:\n"
                               "      - host: b.com\n"
                               "        ports: [443, 80]\n"
                               "        protocol: rest\n"
                               "        access: full\n"
                               "    binaries:\n"
                               "      - path: /usr/bin/node\n"
                               "  a_rule:\n"
                               "    endpoints:\n"
                               "      - host: a.com\n"
                               "        port: 443\n"
                               "        rules: [{allow: {method: GET, path: \"**\"}}]\n"
                               "landlock:\n"
                               "  compatibility: best_effort\n");
    d = pol_diff(a, c);
    assert_non_null(strstr(d, "\n-      - path: /usr/bin/b\n+      - path: /usr/bin/node\n"));
    assert_non_null(strstr(d, "     binaries:\n"));
    free(d);
    pol_policy_destroy(a);
    pol_policy_destroy(b);
    pol_policy_destroy(c);
}

/* ---- updates ---------------------------------------------------------------------------- */

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(diff_lines),       cmocka_unit_test(clone_is_deep),
        cmocka_unit_test(endpoint_specs),   cmocka_unit_test(update_add),
        cmocka_unit_test(update_rule_name), cmocka_unit_test(update_remove),
        cmocka_unit_test(update_errors),    cmocka_unit_test(providers_parse),
        cmocka_unit_test(compose_layers),   cmocka_unit_test(codex_scenario),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
