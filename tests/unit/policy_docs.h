/* policy_docs.h: policy documents the policy unit tests share. */
#ifndef TOLLGATE_POLICY_DOCS_H
#define TOLLGATE_POLICY_DOCS_H

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
    "        rules:\n"
    "          - allow: {method: GET, path: \"/**/info/refs*\"}\n"
    "        allowed_ips: [10.0.0.0/8]\n"
    "      - {host: \"*.githubusercontent.com\", port: 443}\n"
    "    binaries:\n"
    "      - path: /usr/bin/git\n"
    "      - /usr/bin/gh\n"
    "  npm:\n"
    "    endpoints: [{host: registry.npmjs.org, port: 443}]\n";

__attribute__((unused)) static const char doc_block[] = "version: 1\n"
                                                        "network_policies:\n"
                                                        "  b_rule:\n"
                                                        "    name: B\n"
                                                        "    endpoints:\n"
                                                        "      - host: b.com\n"
                                                        "        ports: [443, 80]\n"
                                                        "        protocol: rest\n"
                                                        "    binaries:\n"
                                                        "      - path: /usr/bin/b\n"
                                                        "  a_rule:\n"
                                                        "    endpoints:\n"
                                                        "      - host: a.com\n"
                                                        "        port: 443\n"
                                                        "        rules: [{allow: {method: GET}}]\n"
                                                        "landlock:\n"
                                                        "  compatibility: best_effort\n";

__attribute__((unused)) static const char doc_flow[] =
    "# the same content, written differently\n"
    "landlock: {compatibility: 'best_effort'}\n"
    "network_policies: {a_rule: {endpoints: [{rules: [{allow: {method: \"GET\"}}], port: 443,"
    " host: A.COM}]},\n"
    "  b_rule: {binaries: [/usr/bin/b], endpoints: [{protocol: rest, port: 80, ports: [443],"
    " host: b.com}], name: \"B\"}}\n"
    "version: 1\n";

#endif
