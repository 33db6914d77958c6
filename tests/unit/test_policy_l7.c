/* Unit tests of the L7 half of policy/: parsing of the L7 endpoint keys
 * (and every refusal), the path canonicaliser, the L7 glob, and
 * pol_l7_decide (presets, rules, deny_rules, audit, path selectors, encoded
 * slashes, query matchers), plus the renderings' round trip. */
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "policy_docs.h"

#define CURL "/usr/bin/curl"

static pol_index_t *index_of(const char *yaml)
{
    pol_policy_t *p = parse_ok(yaml);
    pol_index_t *ix = pol_index_build(p);
    pol_policy_destroy(p);
    return ix;
}

static pol_l7_decision_t l7(const pol_index_t *ix, const char *host, const char *method,
                            const char *path, const char *query)
{
    const char *exes[] = {CURL};
    pol_query_t q = {host, 443, exes, 1, false};
    pol_l7_decision_t d;
    pol_l7_decide(ix, &q, method, path, query, &d);
    return d;
}

#define ALLOWED(ix, h, m, p, qs)                                                                   \
    do {                                                                                           \
        pol_l7_decision_t d_ = l7(ix, h, m, p, qs);                                                \
        if (!d_.allowed || d_.violation)                                                           \
            fail_msg("%s %s?%s: expected allowed, got: %s", m, p, qs ? qs : "", d_.reason);        \
    } while (0)

#define DENIED(ix, h, m, p, qs)                                                                    \
    do {                                                                                           \
        pol_l7_decision_t d_ = l7(ix, h, m, p, qs);                                                \
        if (d_.allowed || !d_.violation)                                                           \
            fail_msg("%s %s?%s: expected denied (matched %s)", m, p, qs ? qs : "", d_.matched);    \
    } while (0)

static const char head[] =
    "version: 1\nnetwork_policies:\n  gh:\n    binaries: [{path: " CURL "}]\n    endpoints:\n";

static pol_index_t *endpoints(const char *eps)
{
    char doc[4096];
    snprintf(doc, sizeof doc, "%s%s", head, eps);
    return index_of(doc);
}

/* ---- access presets -------------------------------------------------------------- */

static void presets(void **state)
{
    (void)state;
    pol_index_t *ix = endpoints("      - {host: api.github.com, port: 443, protocol: rest, "
                                "access: read-only, enforcement: enforce}\n");
    ALLOWED(ix, "api.github.com", "GET", "/repos/a/b", NULL);
    ALLOWED(ix, "API.GitHub.com", "HEAD", "/", NULL);
    ALLOWED(ix, "api.github.com", "OPTIONS", "/x", NULL);
    DENIED(ix, "api.github.com", "POST", "/repos/a/b/issues", NULL);
    DENIED(ix, "api.github.com", "DELETE", "/repos/a/b", NULL);
    pol_l7_decision_t d = l7(ix, "api.github.com", "POST", "/repos/a/b/issues", NULL);
    assert_false(d.audit);
    assert_string_equal(d.rule, "gh");
    assert_string_equal(d.reason, "POST /repos/a/b/issues not allowed by access read-only of "
                                  "policy 'gh'");
    d = l7(ix, "api.github.com", "GET", "/", NULL);
    assert_string_equal(d.matched, "access read-only");
    pol_index_destroy(ix);

    ix = endpoints("      - {host: a.com, port: 443, access: read-write, enforcement: enforce}\n");
    ALLOWED(ix, "a.com", "POST", "/x", NULL);
    ALLOWED(ix, "a.com", "PUT", "/x", NULL);
    ALLOWED(ix, "a.com", "PATCH", "/x", NULL);
    DENIED(ix, "a.com", "DELETE", "/x", NULL);
    pol_index_destroy(ix);

    ix = endpoints("      - {host: a.com, port: 443, access: full, enforcement: enforce}\n");
    ALLOWED(ix, "a.com", "DELETE", "/x", NULL);
    ALLOWED(ix, "a.com", "PROPFIND", "/x", NULL);
    pol_index_destroy(ix);

    /* a plain endpoint: no L7 settings, every request allowed */
    ix = endpoints("      - {host: a.com, port: 443}\n");
    d = l7(ix, "a.com", "DELETE", "/x", NULL);
    assert_true(d.allowed);
    assert_false(d.violation);
    assert_string_equal(d.matched, "plain endpoint (no L7 rules)");
    pol_index_destroy(ix);
}

/* ---- rules, deny_rules, audit ------------------------------------------------------ */

static void rules_and_globs(void **state)
{
    (void)state;
    pol_index_t *ix = endpoints("      - host: a.com\n        port: 443\n        protocol: rest\n"
                                "        enforcement: enforce\n        rules:\n"
                                "          - allow: {method: GET, path: \"/repos/*/pulls\"}\n"
                                "          - allow: {method: post, path: \"/repos/**\"}\n"
                                "          - allow: {method: \"*\", path: \"/any/v?/[0-9]*\"}\n");
    ALLOWED(ix, "a.com", "GET", "/repos/x/pulls", NULL);
    ALLOWED(ix, "a.com", "HEAD", "/repos/x/pulls", NULL); /* GET also allows HEAD */
    DENIED(ix, "a.com", "GET", "/repos/x/y/pulls", NULL); /* * stays in a segment */
    DENIED(ix, "a.com", "GET", "/repos/x/pulls/1", NULL);
    ALLOWED(ix, "a.com", "POST", "/repos/x/y/z", NULL); /* ** crosses segments */
    DENIED(ix, "a.com", "POST", "/repos", NULL);
    ALLOWED(ix, "a.com", "DELETE", "/any/v1/42", NULL);
    DENIED(ix, "a.com", "DELETE", "/any/v12/42", NULL);
    DENIED(ix, "a.com", "DELETE", "/any/v1/x42", NULL);
    pol_l7_decision_t d = l7(ix, "a.com", "POST", "/repos/x", NULL);
    assert_string_equal(d.matched, "rules[1] POST /repos/**");
    d = l7(ix, "a.com", "PUT", "/repos/x", NULL);
    assert_string_equal(d.reason, "PUT /repos/x not allowed by the rules of policy 'gh'");
    pol_index_destroy(ix);
}

static void deny_over_allow_and_audit(void **state)
{
    (void)state;
    static const char eps[] = "      - host: a.com\n        port: 443\n        protocol: rest\n"
                              "        access: full\n        enforcement: %s\n"
                              "        deny_rules:\n"
                              "          - {method: POST, path: \"/repos/*/pulls/*/reviews\"}\n"
                              "          - {method: \"*\", path: \"/admin/**\"}\n";
    char buf[1024];
    snprintf(buf, sizeof buf, eps, "enforce");
    pol_index_t *ix = endpoints(buf);
    ALLOWED(ix, "a.com", "POST", "/repos/x/pulls/1", NULL);
    DENIED(ix, "a.com", "POST", "/repos/x/pulls/1/reviews", NULL);
    DENIED(ix, "a.com", "GET", "/admin/users", NULL);
    pol_l7_decision_t d = l7(ix, "a.com", "GET", "/admin/users", NULL);
    assert_string_equal(d.matched, "deny_rules[1] * /admin/**");
    assert_string_equal(d.reason, "GET /admin/users blocked by deny_rules[1] of policy 'gh'");
    pol_index_destroy(ix);

    snprintf(buf, sizeof buf, eps, "audit");
    ix = endpoints(buf);
    d = l7(ix, "a.com", "GET", "/admin/users", NULL);
    assert_true(d.allowed);
    assert_true(d.violation);
    assert_true(d.audit);
    assert_string_equal(d.rule, "gh");
    pol_index_destroy(ix);

    /* deny rules of another rule (same host, port, binary) win too */
    ix = index_of("version: 1\nnetwork_policies:\n"
                  "  a: {binaries: [{path: " CURL "}], endpoints: [{host: a.com, port: 443, "
                  "access: full, enforcement: enforce}]}\n"
                  "  b: {binaries: [{path: " CURL "}], endpoints: [{host: a.com, port: 443, "
                  "protocol: rest, access: read-only, enforcement: enforce, deny_rules: "
                  "[{method: GET, path: "
                  "/secret}]}]}\n");
    ALLOWED(ix, "a.com", "DELETE", "/x", NULL);
    DENIED(ix, "a.com", "GET", "/secret", NULL);
    d = l7(ix, "a.com", "GET", "/secret", NULL);
    assert_string_equal(d.rule, "b");
    pol_index_destroy(ix);
}

static void path_selectors(void **state)
{
    (void)state;
    pol_index_t *ix = endpoints(
        "      - {host: a.com, port: 443, path: \"/api/**\", access: read-write, enforcement: "
        "enforce}\n"
        "      - {host: a.com, port: 443, path: /graphql, access: read-only, enforcement: "
        "audit}\n");
    ALLOWED(ix, "a.com", "POST", "/api/v1/x", NULL);
    pol_l7_decision_t d = l7(ix, "a.com", "POST", "/graphql", NULL);
    assert_true(d.violation && d.audit && d.allowed); /* the audit endpoint selected */
    d = l7(ix, "a.com", "GET", "/other", NULL);
    assert_true(d.violation);
    assert_false(d.allowed); /* one of the L7 endpoints enforces */
    assert_string_equal(d.reason, "GET /other not allowed: no endpoint of policy 'gh' selects "
                                  "this path");
    pol_index_destroy(ix);
}

static void encoded_slash_and_canon(void **state)
{
    (void)state;
    pol_index_t *ix = endpoints("      - {host: a.com, port: 443, access: read-only, "
                                "enforcement: enforce}\n"
                                "      - {host: npm.org, port: 443, access: read-only, "
                                "enforcement: audit, allow_encoded_slash: true}\n");
    DENIED(ix, "a.com", "GET", "/a%2Fb", NULL);
    pol_l7_decision_t d = l7(ix, "a.com", "GET", "/a%2fb", NULL);
    assert_non_null(strstr(d.reason, "allow_encoded_slash"));
    ALLOWED(ix, "npm.org", "GET", "/@scope%2Fname", NULL);
    /* refusals at the parser boundary ignore audit */
    d = l7(ix, "npm.org", "GET", "/../etc/passwd", NULL);
    assert_false(d.allowed);
    assert_false(d.audit);
    assert_non_null(strstr(d.reason, "above the root"));
    d = l7(ix, "npm.org", "GET", "/a\x1b[2J", NULL);
    assert_false(d.allowed);
    assert_non_null(strstr(d.reason, "/a\\x1b[2J refused: control byte"));
    pol_index_destroy(ix);

    static const struct {
        const char *in, *out;
    } ok[] = {
        {"", "/"},
        {"/", "/"},
        {"/a/./b", "/a/b"},
        {"/a/b/.", "/a/b/"},
        {"/a/../b", "/b"},
        {"/a/b/..", "/a/"},
        {"/public/%2e%2e/secret", "/secret"},
        {"//public//../secret", "/secret"},
        {"/a;jsessionid=x/b", "/a/b"},
        {"/public/..;/secret", "/secret"},
        {"/users/%40alice", "/users/@alice"},
        {"/search/a%3fb", "/search/a%3Fb"},
        {"/caf%c3%a9", "/caf%C3%A9"},
        {"/%7Euser", "/~user"},
    };
    char out[4097];
    const char *why;
    for (size_t i = 0; i < ARRAY_LEN(ok); i++) {
        if (pol_l7_canon_path(ok[i].in, strlen(ok[i].in), false, out, sizeof out, &why))
            fail_msg("canon %s: %s", ok[i].in, why);
        if (strcmp(out, ok[i].out))
            fail_msg("canon %s: %s, want %s", ok[i].in, out, ok[i].out);
    }
    static const char *const bad[] = {"/..",          "/a/../..", "/a%00b",  "/a%0Ab",
                                      "/a%zz",        "/a%4",     "a/b",     "/a#f",
                                      "/caf\xc3\xa9", "/a%2Fb",   "/%2e%2e;"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        if (pol_l7_canon_path(bad[i], strlen(bad[i]), false, out, sizeof out, &why) != -EINVAL)
            fail_msg("canon %zu accepted: %s", i, out);
    assert_int_equal(pol_l7_canon_path("/a/%2F/b", 8, true, out, sizeof out, &why), 0);
    assert_string_equal(out, "/a/%2F/b");
    assert_int_equal(pol_l7_canon_path("/a%2F..%2Fb", 11, true, out, sizeof out, &why), -EINVAL);
    char longp[5000];
    memset(longp, 'a', sizeof longp);
    longp[0] = '/';
    assert_int_equal(pol_l7_canon_path(longp, sizeof longp, false, out, sizeof out, &why), -E2BIG);
}

static void query_rules(void **state)
{
    (void)state;
    pol_index_t *ix = endpoints(
        "      - host: a.com\n        port: 443\n        protocol: rest\n        enforcement: "
        "enforce\n        rules:\n"
        "          - allow: {method: GET, path: \"/**/info/refs*\", query: {service: \"git-*\"}}\n"
        "          - allow: {method: GET, path: /tags, query: {tag: {any: [\"v1.*\", \"v2.*\"]}}}\n"
        "        deny_rules:\n"
        "          - {method: GET, path: /tags, query: {force: \"t*\"}}\n");
    ALLOWED(ix, "a.com", "GET", "/x/info/refs", "service=git-upload-pack");
    DENIED(ix, "a.com", "GET", "/x/info/refs", "service=other");
    DENIED(ix, "a.com", "GET", "/x/info/refs", NULL); /* a named key must be there */
    DENIED(ix, "a.com", "GET", "/x/info/refs", "service=git-a&service=x"); /* every value */
    ALLOWED(ix, "a.com", "GET", "/tags", "tag=v2.0&x=1");
    ALLOWED(ix, "a.com", "GET", "/tags", "tag=v1%2E0+beta");
    DENIED(ix, "a.com", "GET", "/tags", "tag=v3");
    DENIED(ix, "a.com", "GET", "/tags", "tag=v1.0&force=no&force=true"); /* deny: any value */
    ALLOWED(ix, "a.com", "GET", "/tags", "tag=v1.0&force=no");
    pol_l7_decision_t d = l7(ix, "a.com", "GET", "/tags", "tag=%zz");
    assert_false(d.allowed);
    assert_non_null(strstr(d.reason, "query string cannot be decoded"));
    pol_index_destroy(ix);

    assert_true(pol_l7_glob("v1.*", "v1.0/x", 6, false)); /* no '/' rule outside paths */
    assert_false(pol_l7_glob("/a/*", "/a/b/c", 6, true));
    assert_true(pol_l7_glob("/a/\\*", "/a/*", 4, true));
    assert_true(pol_l7_glob("/[!a-c]x", "/dx", 3, true));
    assert_false(pol_l7_glob("/[!a-c]x", "/bx", 3, true));
}

/* ---- the article's flow: policy update --add-endpoint ---------------------------------- */

static void add_endpoint_flow(void **state)
{
    (void)state;
    pol_endpoint_spec_t spec;
    char err[256] = "", sum[256];
    assert_int_equal(pol_endpoint_spec_parse("api.github.com:443:read-only:rest:enforce", true,
                                             &spec, err, sizeof err),
                     0);
    char *bins[] = {CURL};
    pol_update_t u = {.add = &spec, .nadd = 1, .binaries = bins, .nbinaries = 1};
    pol_policy_t *base = pol_policy_create();
    pol_policy_t *p = pol_apply_update(base, &u, sum, sizeof sum, err, sizeof err);
    assert_non_null(p);
    pol_index_t *ix = pol_index_build(p);
    const char *exes[] = {CURL};
    pol_query_t q = {"api.github.com", 443, exes, 1, false};
    pol_decision_t dd;
    pol_decide(ix, &q, &dd);
    assert_true(dd.allowed);
    assert_true(pol_endpoint_inspects(dd.endpoint));
    ALLOWED(ix, "api.github.com", "GET", "/user", NULL);
    DENIED(ix, "api.github.com", "POST", "/user/repos", NULL);
    /* the rendering loads back, the same */
    char *y = pol_to_yaml(p, false);
    pol_policy_t *back = parse_ok(y);
    char h1[65], h2[65];
    pol_hash(p, h1);
    pol_hash(back, h2);
    assert_string_equal(h1, h2);
    free(y);
    pol_policy_destroy(back);
    pol_index_destroy(ix);
    pol_policy_destroy(p);
    pol_policy_destroy(base);
    pol_endpoint_spec_dispose(&spec);
}

/* ---- refusals and warnings ------------------------------------------------------------- */

static void refusals(void **state)
{
    (void)state;
    static const struct {
        const char *ep, *want;
    } bad[] = {
        {"{host: a.com, port: 443, protocol: websocket, access: full}",
         "t.yaml:6: network_policies.gh.endpoints[0].protocol: not supported by tollgate yet"},
        {"{host: a.com, port: 443, protocol: mcp}",
         "t.yaml:6: network_policies.gh.endpoints[0].protocol: not supported by tollgate yet "
         "(protocol mcp"},
        {"{host: a.com, port: 443, protocol: graphql}", ".protocol: not supported by tollgate"},
        {"{host: a.com, port: 443, protocol: json-rpc}", ".protocol: not supported by tollgate"},
        {"{host: a.com, port: 443, protocol: sql}", ".protocol: not supported by tollgate"},
        {"{host: a.com, port: 443, protocol: ftp}", ".protocol: unknown protocol 'ftp'"},
        {"{host: a.com, port: 443, access: full, websocket_credential_rewrite: true}",
         "t.yaml:6: network_policies.gh.endpoints[0].websocket_credential_rewrite: not supported "
         "by tollgate yet"},
        {"{host: a.com, port: 443, access: full, request_body_credential_rewrite: true}",
         ".request_body_credential_rewrite: not supported by tollgate yet"},
        {"{host: a.com, port: 443, access: full, persisted_queries: deny}",
         ".persisted_queries: not supported by tollgate yet"},
        {"{host: a.com, port: 443, access: full, graphql_max_body_bytes: 10}",
         ".graphql_max_body_bytes: not supported by tollgate yet"},
        {"{host: a.com, port: 443, access: full, credential_signing: sigv4}",
         ".credential_signing: not supported by tollgate yet"},
        {"{host: a.com, port: 443, access: full, mcp: {max_body_bytes: 1}}",
         ".mcp: not supported by tollgate yet"},
        {"{host: a.com, port: 443, rules: [{allow: {operation_type: query}}]}",
         ".rules[0].allow.operation_type: not supported by tollgate yet"},
        {"{host: a.com, port: 443, access: full, deny_rules: [{method: tools/call, tool: x}]}",
         ".deny_rules[0].method: method 'tools/call' is not an HTTP method"},
        {"{host: a.com, port: 443, access: full, deny_rules: [{tool: x}]}",
         ".deny_rules[0].tool: not supported by tollgate yet"},
        {"{host: a.com, port: 443, rules: [{allow: {method: GET, path: \"/{a,b}\"}}]}",
         ".rules[0].allow.path: brace alternation ({a,b}) in globs is not supported by tollgate "
         "yet"},
        {"{host: a.com, port: 443, access: all}", ".access: 'all' is not valid"},
        {"{host: a.com, port: 443, access: full, enforcement: block}",
         ".enforcement: 'block' is not valid (enforce, audit)"},
        {"{host: a.com, port: 443, access: full, tls: mitm}", ".tls: 'mitm' is not valid"},
        {"{host: a.com, port: 443, access: full, hosst: x}", ".hosst: unknown key"},
        {"{host: a.com, port: 443, access: full, rules: [{allow: {method: GET, path: /}}]}",
         "endpoints[0]: rules and access are mutually exclusive"},
        {"{host: a.com, port: 443, protocol: rest}", "protocol rest requires rules or access"},
        {"{host: a.com, port: 443, protocol: tcp, access: full}",
         "protocol tcp does not support L7 fields"},
        {"{host: a.com, port: 443, protocol: rest, deny_rules: [{method: GET, path: /}]}",
         "protocol rest requires rules or access"},
        {"{host: a.com, port: 443, access: full, deny_rules: [{method: GET, path: /}]}",
         "deny_rules require protocol (L7 inspection must be enabled)"},
        {"{host: a.com, port: 443, access: full, deny_rules: [{method: GET, path: /, bogus: 1}]}",
         ".deny_rules[0].bogus: unknown key"},
        {"{host: a.com, port: 443, rules: [{allow: {method: GET, path: /, bogus: 1}}]}",
         ".rules[0].allow.bogus: unknown key"},
        {"{host: a.com, port: 443, access: full, rules: [{allow: {method: GET, path: /, query: "
         "{a: {glob: x}}}}]}",
         ".query.a.glob: unknown key (a matcher is a glob or {any: [..]})"},
        {"{host: a.com, port: 443, access: full, tls: skip}", "tls: skip turns interception off"},
        {"{host: a.com, port: 443, enforcement: enforce}", "have no effect without protocol"},
        {"{host: a.com, port: 443, rules: []}", ".rules: rules: [] allows nothing"},
        {"{host: a.com, port: 443, access: full, deny_rules: []}", ".deny_rules: deny_rules: []"},
        {"{host: a.com, port: 443, rules: [{allow: {method: GET}}]}",
         ".rules[0].allow: path: missing"},
        {"{host: a.com, port: 443, rules: [{allow: {path: /}}]}",
         ".rules[0].allow: method: missing"},
        {"{host: a.com, port: 443, rules: [{deny: {method: GET, path: /}}]}",
         ".rules[0].deny: unknown key"},
        {"{host: a.com, port: 443, rules: [{allow: {method: GET, path: x}}]}",
         ".rules[0].allow.path: a path glob starts with '/'"},
        {"{host: a.com, port: 443, access: full, path: api}",
         ".path: a path glob starts with '/' (or is **)"},
        {"{host: a.com, port: 443, access: full, allow_encoded_slash: yes}",
         ".allow_encoded_slash: expected true or false"},
        {"{host: a.com, port: 443, rules: [{allow: {method: GET, path: /, query: {a: {any: "
         "[]}}}}]}",
         ".query.a: any: [] matches nothing"},
        {"{host: a.com, port: 443, rules: [{allow: {method: GET, path: /, query: {a: {re: x}}}}]}",
         ".query.a.re: unknown key"},
        {"{host: a.com, port: 443, rules: [{allow: {method: \"GE T\", path: /}}]}",
         "method 'GE T' is not an HTTP method"},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        char doc[1024], err[512] = "";
        snprintf(doc, sizeof doc, "%s      - %s\n", head, bad[i].ep);
        pol_policy_t *p = pol_parse_yaml(doc, strlen(doc), "t.yaml", false, err, sizeof err);
        if (p)
            fail_msg("case %zu accepted: %s", i, bad[i].ep);
        if (!strstr(err, bad[i].want))
            fail_msg("case %zu:\n got: %s\nwant: %s", i, err, bad[i].want);
    }
}

static void warnings(void **state)
{
    (void)state;
    pol_policy_t *p = parse_ok("version: 1\nnetwork_policies:\n  gh:\n    endpoints:\n"
                               "      - {host: a.com, port: 443, access: full, tls: terminate}\n"
                               "      - {host: b.com, port: 443, tls: passthrough}\n"
                               "      - {host: c.com, port: 443, tls: skip}\n");
    assert_non_null(p->warnings);
    assert_non_null(strstr(p->warnings, "t.yaml:5: network_policies.gh.endpoints[0].tls: 'tls: "
                                        "terminate' is deprecated and has no effect"));
    assert_non_null(strstr(p->warnings, "t.yaml:5: network_policies.gh.endpoints[0]: enforcement "
                                        "not set"));
    assert_non_null(strstr(p->warnings, "endpoints[1].tls: 'tls: passthrough' is deprecated"));
    assert_null(strstr(p->warnings, "endpoints[2]"));
    assert_false(pol_endpoint_inspects(&p->rules[0].endpoints[2])); /* tls: skip */
    assert_true(pol_endpoint_inspects(&p->rules[0].endpoints[0]));
    assert_false(pol_endpoint_inspects(&p->rules[0].endpoints[1]));
    pol_policy_t *c = pol_policy_clone(p);
    assert_string_equal(c->warnings, p->warnings);
    pol_policy_destroy(c);
    pol_policy_destroy(p);
}

/* ---- renderings --------------------------------------------------------------------------- */

static void round_trip(void **state)
{
    (void)state;
    pol_policy_t *p =
        parse_ok("version: 1\nnetwork_policies:\n  gh:\n    binaries: [{path: /usr/bin/gh}]\n"
                 "    endpoints:\n"
                 "      - host: api.github.com\n        port: 443\n        protocol: REST\n"
                 "        enforcement: enforce\n        path: \"/repos/**\"\n"
                 "        allow_encoded_slash: true\n        tls: terminate\n"
                 "        allowed_ips: [10.0.0.0/8]\n"
                 "        rules:\n"
                 "          - allow: {method: get, path: \"/repos/*/pulls\", query: {state: "
                 "\"open*\", sort: {any: [created]}}}\n"
                 "        deny_rules:\n          - {method: \"*\", path: \"/repos/*/admin\"}\n");
    char *j = pol_to_json(p, false);
    assert_string_equal(
        j, "{\"network_policies\":{\"gh\":{\"binaries\":[{\"path\":\"/usr/bin/gh\"}],"
           "\"endpoints\":[{\"allow_encoded_slash\":true,\"allowed_ips\":[\"10.0.0.0/8\"],"
           "\"deny_rules\":[{\"method\":\"*\",\"path\":\"/repos/*/admin\"}],\"enforcement\":"
           "\"enforce\",\"host\":\"api.github.com\",\"path\":\"/repos/**\",\"ports\":[443],"
           "\"protocol\":\"rest\",\"rules\":[{\"allow\":{\"method\":\"GET\",\"path\":"
           "\"/repos/*/pulls\",\"query\":{\"sort\":{\"any\":[\"created\"]},\"state\":\"open*\"}}}],"
           "\"tls\":\"terminate\"}]}},\"version\":1}");
    char *y = pol_to_yaml(p, false);
    pol_policy_t *back = parse_ok(y);
    char *j2 = pol_to_json(back, false);
    assert_string_equal(j, j2);
    char *y2 = pol_to_yaml(back, false);
    assert_string_equal(y, y2);
    pol_policy_t *c = pol_policy_clone(p);
    char *j3 = pol_to_json(c, false);
    assert_string_equal(j, j3);
    free(j);
    free(j2);
    free(j3);
    free(y);
    free(y2);
    pol_policy_destroy(c);
    pol_policy_destroy(back);
    pol_policy_destroy(p);
}

static void providers_load(void **state)
{
    (void)state;
    static const char *const files[] = {"providers/github.yaml",           "providers/codex.yaml",
                                        "providers/claude-code.yaml",      "providers/copilot.yaml",
                                        "providers/deepinfra.yaml",        "providers/nvidia.yaml",
                                        "providers/google-vertex-ai.yaml", "providers/aws-s3.yaml"};
    for (size_t i = 0; i < ARRAY_LEN(files); i++) {
        pol_provider_t *pr = provider_file(files[i]);
        const pol_endpoint_t *e = &pr->as_policy->rules[0].endpoints[0];
        assert_true(pol_endpoint_inspects(e));
        assert_null(pr->as_policy->warnings);
        pol_provider_destroy(pr);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(presets),
        cmocka_unit_test(rules_and_globs),
        cmocka_unit_test(deny_over_allow_and_audit),
        cmocka_unit_test(path_selectors),
        cmocka_unit_test(encoded_slash_and_canon),
        cmocka_unit_test(query_rules),
        cmocka_unit_test(add_endpoint_flow),
        cmocka_unit_test(refusals),
        cmocka_unit_test(warnings),
        cmocka_unit_test(round_trip),
        cmocka_unit_test(providers_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
