/*
 * fuzz_policy.c: the policy YAML parser (policy/): errors are one clean line; an
 * accepted policy renders to YAML that parses back to the same hash, diffs
 * empty against itself, and each rule allows its own endpoint.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "policy/policy.h"
static int clean(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f)
            return 0;
    }
    return 1;
}
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char err[512];
    bool prov = size && (data[0] & 1);
    pol_policy_t *p = pol_parse_yaml((const char *)data, size, "f.yaml", prov, err, sizeof err);
    if (!p) {
        if (!clean(err)) {
            fprintf(stderr, "invariant broken: raw control byte in error: %s\n", err);
            abort();
        }
        pol_provider_t *pr =
            pol_provider_parse((const char *)data, size, "p.yaml", err, sizeof err);
        if (!pr && !clean(err)) {
            fprintf(stderr, "invariant broken: provider err\n");
            abort();
        }
        pol_provider_destroy(pr);
        return 0;
    }
    char *j = pol_to_json(p, true);
    char *y = pol_to_yaml(p, false);
    pol_policy_t *q = pol_parse_yaml(y, strlen(y), "rt.yaml", true, err, sizeof err);
    if (!q) {
        fprintf(stderr, "invariant broken: rendering does not parse: %s\n---\n%s\n", err, y);
        abort();
    }
    char h1[65], h2[65];
    pol_hash(p, h1);
    pol_hash(q, h2);
    if (strcmp(h1, h2)) {
        char *j2 = pol_to_json(q, true);
        fprintf(stderr, "invariant broken: round trip hash\n%s\n%s\n---\n%s\n", j, j2, y);
        abort();
    }
    char *d = pol_diff(p, q);
    if (*d) {
        fprintf(stderr, "invariant broken: diff of equal\n%s", d);
        abort();
    }
    free(d);
    pol_index_t *ix = pol_index_build(p);
    for (size_t r = 0; r < p->nrules && r < 8; r++)
        for (size_t e = 0; e < p->rules[r].nendpoints && e < 4; e++) {
            const char *h = p->rules[r].endpoints[e].host;
            char host[300]; /* a host the pattern matches: each `*` or `**` -> "x" */
            size_t hn = 0;
            for (const char *c = h; *c && hn + 2 < sizeof host; c++)
                if (*c != '*' || c[1] != '*')
                    host[hn++] = *c == '*' ? 'x' : *c;
            host[hn] = '\0';
            const char *exes[] = {p->rules[r].nbinaries ? p->rules[r].binaries[0] : "/bin/x",
                                  "/bin/sh"};
            pol_query_t qq = {host, p->rules[r].endpoints[e].ports[0], exes, 2};
            pol_decision_t dd;
            pol_decide(ix, &qq, &dd);
            if (!dd.allowed && !strchr(exes[0], '*') && p->rules[r].nbinaries) {
                fprintf(stderr, "invariant broken: own endpoint denied %s: %s\n", host, dd.reason);
                abort();
            }
        }
    pol_index_destroy(ix);
    free(j);
    free(y);
    pol_policy_destroy(q);
    pol_policy_destroy(p);
    return 0;
}
