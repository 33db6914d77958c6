/*
 * policy.h: sandbox network policies in OpenShell's shape, their provider
 * layers, and the decision the proxy asks for (endpoint x binary).
 *
 * A policy document is YAML:
 *
 *   version: 1
 *   network_policies:
 *     <key>:                      # the rule name shown in decisions and logs
 *       name: <display name>
 *       endpoints:
 *         - host: api.github.com  # exact (case-insensitive), *.x.com (one label), **.x.com (any)
 *           port: 443             # or ports: [80, 443]
 *           protocol: rest        # kept and shown; rest | tcp | ...
 *           access: read-write    # kept and shown
 *           enforcement: enforce  # enforce | audit; kept and shown
 *           rules: [...]          # kept and shown (L7 rules come with the proxy)
 *           allowed_ips: [...]    # kept and shown
 *       binaries:
 *         - path: /usr/bin/curl   # exact, or a glob: * within a path segment, ** across
 *   filesystem_policy: ...        # sections not enforced yet: kept as they are, shown
 *   landlock: ...
 *   process: ...
 *
 * A rule with no binaries allows no binary (nothing is allowed by accident).
 *
 * Layers: a sandbox's effective policy is its base (the user's) plus one
 * layer per provider profile, whose rule keys are `_provider_<id>`. User
 * documents may not use `_provider_` keys; no operation on the base can
 * remove or alter a provider layer.
 *
 * Ownership and threads: a pol_policy_t is a plain tree owned by its
 * creator (create/destroy); a pol_index_t is an immutable compiled form,
 * safe to share between threads once built. No function here does I/O
 * except pol_load_file(); none keeps global state.
 */
#ifndef TOLLGATE_POLICY_H
#define TOLLGATE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *host;      /* lower-cased; may be a glob */
    uint16_t *ports; /* at least one */
    size_t nports;
    char *protocol, *access, *enforcement; /* NULL when absent */
    char *extra_json; /* rules, allowed_ips and any other keys: a compact JSON object, or NULL */
} pol_endpoint_t;

typedef struct {
    char *key;   /* the map key: the rule name in decisions */
    char *name;  /* `name:`; NULL when absent */
    char *layer; /* "base" or "_provider_<id>" */
    pol_endpoint_t *endpoints;
    size_t nendpoints;
    char **binaries; /* paths or globs */
    size_t nbinaries;
} pol_rule_t;

typedef struct {
    int schema_version; /* the document's `version:` (1) */
    pol_rule_t *rules;  /* in document order */
    size_t nrules;
    char *sections_json; /* every other top-level section, a compact JSON object, or NULL */
} pol_policy_t;

/* An empty policy (allows nothing). */
pol_policy_t *pol_policy_create(void);
void pol_policy_destroy(pol_policy_t *p); /* accepts NULL */
pol_policy_t *pol_policy_clone(const pol_policy_t *p);

/* Parses a YAML document. `origin` names it in errors ("policy.yaml").
 * Errors say file, line and key: "policy.yaml:12: network_policies.gh.
 * endpoints[0].hosst: unknown key". With allow_provider_keys false (user
 * documents), `_provider_` keys are refused. Returns NULL with err. */
pol_policy_t *pol_parse_yaml(const char *yaml, size_t len, const char *origin,
                             bool allow_provider_keys, char *err, size_t errlen);
pol_policy_t *pol_load_file(const char *path, bool allow_provider_keys, char *err, size_t errlen);

/* The canonical serialisation: compact JSON, keys sorted, rules sorted by
 * key; the same content gives the same bytes whatever the YAML looked
 * like. Returns a heap string. pol_hash() is the lowercase hex SHA-256 of
 * it (65 bytes with NUL). */
char *pol_to_json(const pol_policy_t *p, bool with_layers);
void pol_hash(const pol_policy_t *p, char out[65]);
/* A YAML rendering for `policy get` (layers as comments). Heap string. */
char *pol_to_yaml(const pol_policy_t *p, bool with_layers);

/* ---- provider profiles ---------------------------------------------------- */

/* A provider profile in OpenShell's shape: id, display_name, description,
 * credentials[...], endpoints[...], binaries[...]. As a policy: one rule
 * `_provider_<id>` in layer `_provider_<id>`. */
typedef struct {
    char *id, *display_name;
    pol_policy_t *as_policy;
} pol_provider_t;

pol_provider_t *pol_provider_parse(const char *yaml, size_t len, const char *origin, char *err,
                                   size_t errlen);
void pol_provider_destroy(pol_provider_t *pr);

/* The effective policy: base rules, then each provider layer. Keys stay
 * unique (a base can never hold `_provider_` keys). */
pol_policy_t *pol_compose(const pol_policy_t *base, pol_provider_t *const *providers, size_t n);

/* ---- updates ---------------------------------------------------------------- */

typedef struct {
    char *host;
    uint16_t port;
    char *access, *protocol, *enforcement; /* NULL: defaults read-write, rest, enforce */
} pol_endpoint_spec_t;

typedef struct {
    pol_endpoint_spec_t *add; /* --add-endpoint HOST:PORT[:ACCESS[:PROTOCOL[:ENFORCEMENT]]] */
    size_t nadd;
    pol_endpoint_spec_t *remove; /* --remove-endpoint HOST:PORT (port 0: every port) */
    size_t nremove;
    char **binaries; /* --binary PATH: added to the rules that get endpoints */
    size_t nbinaries;
    const char *rule_name; /* --rule-name: else allow_<host>_<port> per endpoint */
} pol_update_t;

/* Parses "HOST:PORT[:ACCESS[:PROTOCOL[:ENFORCEMENT]]]". */
int pol_endpoint_spec_parse(const char *s, bool allow_extras, pol_endpoint_spec_t *out, char *err,
                            size_t errlen);
void pol_endpoint_spec_dispose(pol_endpoint_spec_t *s);

/* Applies one update to a base policy, atomically: returns a new policy, or
 * NULL with err (and the base untouched). `summary` gets a one-line text
 * for the CONFIG event ("add-endpoint allow_x_443 endpoints=[x:443]
 * binaries=[/usr/bin/node]"). Removing an endpoint that is not there is an
 * error. */
pol_policy_t *pol_apply_update(const pol_policy_t *base, const pol_update_t *u, char *summary,
                               size_t summarylen, char *err, size_t errlen);

/* A unified-diff-like text of two policies' YAML renderings (heap string;
 * empty when equal). */
char *pol_diff(const pol_policy_t *a, const pol_policy_t *b);

/* ---- decisions ---------------------------------------------------------------- */

typedef struct pol_index pol_index_t;

/* Compiles a policy for decisions (host index: exact hosts in a hash table,
 * `*.` and `**.` globs by suffix). The index keeps its own copy. */
pol_index_t *pol_index_build(const pol_policy_t *p);
void pol_index_destroy(pol_index_t *ix);

typedef struct {
    const char *host; /* as asked (any case); an IP literal is matched as text */
    uint16_t port;
    const char *const *exes; /* the caller's exe, then each ancestor's: exes[0] is the caller */
    size_t nexes;
    bool any_binary; /* endpoint-only mode: the binary is not checked */
} pol_query_t;

typedef struct {
    bool allowed;
    const char *rule;  /* the matched rule key (borrowed from the index); NULL when none */
    const char *layer; /* its layer */
    const pol_endpoint_t *endpoint; /* the endpoint that matched (allowed), borrowed */
    char reason[512];               /* on denial: the text users know */
} pol_decision_t;

/* Decides. Denial reasons:
 *   "network connections not allowed by policy"                (no rules at all)
 *   "endpoint <h>:<p> is not allowed by any policy"            (no endpoint matches)
 *   "binary '<exe>' not allowed in policy '<key>' (ancestors: [a -> b])"
 * Thread-safe on a shared index; allocation-free. */
void pol_decide(const pol_index_t *ix, const pol_query_t *q, pol_decision_t *d);

/* Glob helpers (exposed for tests). */
bool pol_host_match(const char *pattern, const char *host);
bool pol_path_match(const char *pattern, const char *path);
/* Checks a host pattern: bare `*`/`**`, TLD wildcards (`*.com`), wildcards
 * inside a label are refused. 0 or -EINVAL with err. */
int pol_host_pattern_check(const char *pattern, char *err, size_t errlen);

#endif
