/* policy_docs.h: the documents and helpers the policy unit tests share
 * (test_policy.c, test_policy_update.c). */
#ifndef TOLLGATE_POLICY_DOCS_H
#define TOLLGATE_POLICY_DOCS_H

#include <stdio.h>
#include <string.h>

#include "policy/policy.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

__attribute__((unused)) static pol_policy_t *parse_ok(const char *yaml)
{
    char err[512] = "";
    pol_policy_t *p = pol_parse_yaml(yaml, strlen(yaml), "t.yaml", false, err, sizeof err);
    if (!p)
        fail_msg("parse: %s", err);
    return p;
}

__attribute__((unused)) static pol_provider_t *provider_file(const char *path)
{
    char err[512] = "";
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("%s: cannot open (run from the repository root)", path);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    pol_provider_t *pr = pol_provider_parse(buf, n, path, err, sizeof err);
    if (!pr)
        fail_msg("provider: %s", err);
    return pr;
}

typedef struct {
    const char *const *exes;
    size_t nexes;
} exes_t;

#define EXES(...)                                                                                  \
    ((exes_t){(const char *const[]){__VA_ARGS__},                                                  \
              sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)})

__attribute__((unused)) static pol_decision_t decide(const pol_index_t *ix, const char *host,
                                                     uint16_t port, exes_t e)
{
    pol_query_t q = {host, port, e.exes, e.nexes, false};
    pol_decision_t d;
    pol_decide(ix, &q, &d);
    return d;
}

__attribute__((unused)) static const char full_doc[] =
    "version: 1\n"
    "filesystem_policy:\n"
    "  include_workdir: true\n"
    "  read_only: [/usr, /lib]\n"
    "landlock: {compatibility: best_effort}\n"
    "process:\n"
    "  run_as_user: sandbox\n"
    "network_policies:\n"
    "  github:\n"
    "    name: GitHub access\n"
    "    endpoints:\n"
    "      - host: API.GitHub.com\n"
    "        port: 443\n"
    "        ports: [8443, 443, 80]\n"
    "        protocol: rest\n"
    "        access: read-only\n"
    "        enforcement: audit\n"
    "        deny_rules:\n"
    "          - {method: post, path: \"/**/info/refs*\"}\n"
    "        allowed_ips: [10.0.0.0/8]\n"
    "      - {host: \"*.githubusercontent.com\", port: 443}\n"
    "    binaries:\n"
    "      - path: /usr/bin/git\n"
    "      - {path: /usr/bin/gh, harness: false}\n"
    "  npm:\n"
    "    endpoints: [{host: registry.npmjs.org, port: 443}]\n";

__attribute__((unused)) static const char doc_block[] =
    "version: 1\n"
    "network_policies:\n"
    "  b_rule:\n"
    "    name: B\n"
    "    endpoints:\n"
    "      - host: b.com\n"
    "        ports: [443, 80]\n"
    "        protocol: rest\n"
    "        access: full\n"
    "    binaries:\n"
    "      - path: /usr/bin/b\n"
    "  a_rule:\n"
    "    endpoints:\n"
    "      - host: a.com\n"
    "        port: 443\n"
    "        rules: [{allow: {method: GET, path: \"**\"}}]\n"
    "landlock:\n"
    "  compatibility: best_effort\n";

__attribute__((unused)) static const char doc_flow[] =
    "# the same content, written differently\n"
    "landlock: {compatibility: 'best_effort'}\n"
    "network_policies: {a_rule: {endpoints: [{rules: [{allow: {path: '**', method: \"GET\"}}], "
    "port: 443,"
    " host: A.COM}]},\n"
    "  b_rule: {binaries: [{path: /usr/bin/b}], endpoints: [{protocol: rest, access: full, "
    "ports: [80, 443],"
    " host: b.com}], name: \"B\"}}\n"
    "version: 1\n";

#endif
