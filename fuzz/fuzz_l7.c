/*
 * fuzz_l7.c: the L7 request side of policy/ (untrusted bytes from inside an
 * intercepted tunnel): pol_l7_canon_path() and pol_l7_decide() on a fixed
 * policy with presets, rules, deny rules, query matchers and path selectors.
 * Input: flags byte, then method NUL path NUL query.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

static const char doc[] =
    "version: 1\nnetwork_policies:\n"
    "  a:\n    binaries: [{path: /usr/bin/curl}]\n    endpoints:\n"
    "      - {host: x.com, port: 443, path: \"/api/**\", access: read-only, enforcement: enforce,"
    " deny_rules: [{method: \"*\", path: \"/api/*/admin/**\", query: {k: \"v*\"}}]}\n"
    "      - {host: x.com, port: 443, path: \"/v[0-9]/*\", enforcement: audit,"
    " allow_encoded_slash: true, rules: [{allow: {method: POST, path: \"/v?/**\","
    " query: {q: {any: [\"a*\", \"*b\"]}}}}]}\n"
    "      - {host: y.com, port: 443}\n";

static void fail(const char *what, const char *s)
{
    fprintf(stderr, "invariant broken: %s: %s\n", what, s);
    abort();
}

static int clean(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

static void check_canon(const char *path, size_t n, bool es)
{
    char out[4097], again[4097];
    const char *why = NULL;
    if (pol_l7_canon_path(path, n, es, out, sizeof out, &why)) {
        if (!why || !clean(why))
            fail("canon error text", why ? why : "(null)");
        return;
    }
    if (out[0] != '/' || strstr(out, "//") || strstr(out, "/./") || strstr(out, "/../"))
        fail("canon shape", out);
    for (const char *c = out; *c; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
            fail("canon byte", out);
    if (!es && strstr(out, "%2F"))
        fail("encoded slash kept", out);
    if (pol_l7_canon_path(out, strlen(out), es, again, sizeof again, &why) ||
        strcmp(out, again) != 0)
        fail("canon not idempotent", out);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static pol_index_t *ix;
    if (!ix) {
        char err[256];
        pol_policy_t *p = pol_parse_yaml(doc, strlen(doc), "f.yaml", false, err, sizeof err);
        if (!p)
            fail("policy", err);
        ix = pol_index_build(p);
        pol_policy_destroy(p);
    }
    if (size < 1 || size > 16384)
        return 0;
    char *buf = malloc(size + 2);
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = buf[size] = buf[size + 1] = '\0';
    const char *method = buf;
    const char *path = method + strlen(method) + 1;
    const char *query = path <= buf + size - 1 ? path + strlen(path) + 1 : NULL;
    if (!path || path > buf + size - 1)
        path = "";
    if (query && query > buf + size - 1)
        query = NULL;
    check_canon(path, strlen(path), data[0] & 1);
    const char *exes[] = {"/usr/bin/curl"};
    pol_query_t q = {(data[0] & 2) ? "y.com" : "x.com", 443, exes, 1, false};
    pol_l7_decision_t d;
    pol_l7_decide(ix, &q, method, path, (data[0] & 4) ? NULL : query, &d);
    if (!clean(d.reason) || !clean(d.matched))
        fail("decision text", d.reason);
    if (d.allowed && d.violation && !d.audit)
        fail("allowed violation without audit", d.reason);
    if (d.audit && !d.violation)
        fail("audit without violation", d.matched);
    if ((data[0] & 2) && !d.allowed)
        fail("plain endpoint denied", d.reason);
    free(buf);
    return 0;
}
