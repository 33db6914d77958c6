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
 *         - host: api.github.com  # exact (any case); `*` in the first label (*.x.com,
 * api-*.x.com), # a whole `*` later (*.s3.*.amazonaws.com), `**.x.com` (1+ labels) port: 443 # or
 * ports: [80, 443] protocol: rest        # rest (L7: every request decided) | tcp (plain) access:
 * read-write    # read-only | read-write | full (or rules:, not both) enforcement: enforce  #
 * enforce | audit (the default when absent, as in OpenShell) rules:                # allow list:
 * [{allow: {method, path, query}}]
 *             - allow: {method: GET, path: "/repos/x", query: {state: "open*"}}
 *           deny_rules:           # win over allows: [{method, path, query}]
 *             - {method: POST, path: "/repos/x/pulls"}
 *           path: /api            # a glob that selects between endpoints of one host:port
 *           allow_encoded_slash: false
 *           tls: skip             # no interception (terminate, passthrough: deprecated no-ops)
 *           allowed_ips: [...]    # enforced by the proxy (SSRF override); loopback, link-local
 *                                 # and 0.0.0.0 / :: refused; without host: not supported yet
 *         # websocket, graphql, sql, json-rpc, mcp and their keys: refused at load
 *         # ("not supported by tollgate yet"); any other key: "unknown key"
 *       binaries:
 *         - path: /usr/bin/curl   # exact, or a glob: * within a path segment, ** across;
 *                                 # "//", "/./" normalised, ".." refused; harness: ignored
 *   filesystem_policy: ...        # checked as OpenShell does, kept, shown, not enforced
 *   landlock: ...                 #   (a load warning says so)
 *   process: ...                  # run_as_user/group: sandbox or 1..4294967294
 *   network_middlewares: ...      # not supported by tollgate yet (refused unless empty)
 * Any other key, at any level: "unknown key".
 *
 * A rule with no binaries allows no binary (nothing is allowed by accident).
 *
 * Layers: a sandbox's effective policy is its base (the user's) plus one
 * layer per provider instance, whose rule keys are `_provider_<name>`. User
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

/* One query matcher of an L7 rule: the request's values of `key` (decoded)
 * against globs (`key: "glob"`, or `key: {any: [g1, g2]}`). */
typedef struct {
    char *key;
    char **globs; /* at least one */
    size_t nglobs;
    bool any; /* written as {any: [...]} (the canonical form keeps it) */
} pol_l7_query_t;

/* One L7 rule: `rules[i].allow` or `deny_rules[i]`. */
typedef struct {
    char *method;          /* upper-cased token, or "*" (any); GET also matches HEAD */
    char *path;            /* glob on the canonical path: * (one segment), ** (any), ?, [a-z] */
    pol_l7_query_t *query; /* every matcher must hold; NULL/0 when none */
    size_t nquery;
} pol_l7_rule_t;

typedef struct {
    char *host;      /* lower-cased; may be a glob */
    uint16_t *ports; /* at least one */
    size_t nports;
    char *protocol;    /* "rest" | "tcp"; NULL when absent */
    char *access;      /* "read-only" | "read-write" | "full"; NULL when absent */
    char *enforcement; /* "enforce" | "audit"; NULL when absent (L7: audit, as in OpenShell) */
    char *
        extra_json; /* kept keys enforced elsewhere (allowed_ips): a compact JSON object, or NULL */
    /* L7 settings (parse_l7.c; decided by pol_l7_decide) */
    char *tls;                /* "skip" | "terminate" | "passthrough" (deprecated no-ops); NULL */
    char *path;               /* endpoint path selector (glob); NULL: every path */
    bool allow_encoded_slash; /* %2F inside a segment allowed (else refused) */
    pol_l7_rule_t *l7_allow;  /* `rules[i].allow`, in order */
    size_t nl7_allow;
    pol_l7_rule_t *l7_deny; /* `deny_rules`, in order */
    size_t nl7_deny;
} pol_endpoint_t;

typedef struct {
    char *key;     /* the map key: the rule name in decisions */
    char *name;    /* `name:`; NULL when absent */
    char *layer;   /* "base" or the provider layer: "_provider_<instance name>" */
    char *profile; /* a provider layer's profile id ("codex"); NULL for base rules */
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
    char *warnings;      /* load warnings, "origin:line: path: text" lines ending in '\n', or NULL
                            (deprecated `tls` values, L7 endpoints without `enforcement`); not part
                            of the canonical JSON or the hash: show and record them at load */
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
 * category, credentials[...], endpoints[...], binaries[...] (bare paths or
 * {path}). As a policy: one rule, key, name and layer
 * pol_provider_rule_name(id), profile id. Credentials are checked for shape
 * and not kept (tollgate injects none). */
typedef struct {
    char *id, *display_name;
    char *category; /* OpenShell's spelling: inference, agent, source_control, ... ("other") */
    pol_policy_t *as_policy;
} pol_provider_t;

pol_provider_t *pol_provider_parse(const char *yaml, size_t len, const char *origin, char *err,
                                   size_t errlen);
void pol_provider_destroy(pol_provider_t *pr);

/* One provider attached to a sandbox, as OpenShell has them: an instance
 * (`provider create --name work-github --type github`) of a profile. */
typedef struct {
    const char *name;              /* the instance's name (borrowed) */
    const pol_provider_t *profile; /* borrowed */
} pol_provider_ref_t;

/* OpenShell's layer key of an instance: "_provider_" + the name lower-cased,
 * every byte but [a-z0-9_] as '_', '_' trimmed at both ends ("unnamed" when
 * nothing is left): "Work GitHub!" -> "_provider_work_github". Writes at
 * most outlen bytes with NUL (cut when longer). */
void pol_provider_rule_name(const char *instance, char *out, size_t outlen);

/* The effective policy: base rules, then one layer per instance, key, name
 * and layer pol_provider_rule_name(instance), `profile` the profile's id.
 * An instance given twice is one layer; two instances whose keys collide
 * get "_2", "_3", ... as OpenShell does. Returns a new policy. */
pol_policy_t *pol_compose_named(const pol_policy_t *base, const pol_provider_ref_t *refs, size_t n);
/* pol_compose_named with each instance named like its profile's id. */
pol_policy_t *pol_compose(const pol_policy_t *base, pol_provider_t *const *providers, size_t n);

/* ---- updates ---------------------------------------------------------------- */

typedef struct {
    char *host;
    uint16_t port;
    char *access, *protocol, *enforcement; /* NULL: defaults read-write, rest, enforce */
    char **allowed_ips; /* OPTIONS `allowed-ip=CIDR`: the endpoint's allowed_ips */
    size_t nallowed_ips;
} pol_endpoint_spec_t;

/* --add-allow / --add-deny HOST:PORT:METHOD:PATH (OpenShell's spelling). */
typedef struct {
    char *host; /* lower-cased */
    uint16_t port;
    char *method; /* upper-cased token, or "*" */
    char *path;   /* starts with "/", or is "**" or starts with "**" + "/" */
} pol_l7_spec_t;

typedef struct {
    pol_endpoint_spec_t *add; /* --add-endpoint HOST:PORT[:ACCESS[:PROTOCOL[:ENF[:OPTS]]]] */
    size_t nadd;
    pol_endpoint_spec_t *remove; /* --remove-endpoint HOST:PORT (port 0: every port) */
    size_t nremove;
    char **binaries; /* --binary PATH: added to the rules that get endpoints */
    size_t nbinaries;
    const char *rule_name; /* --rule-name: else allow_<host>_<port> per endpoint */
    char **remove_rules;   /* --remove-rule NAME: a whole base rule */
    size_t nremove_rules;
    pol_l7_spec_t *allow; /* --add-allow: appended to the one base endpoint on HOST:PORT */
    size_t nallow;
    pol_l7_spec_t *deny; /* --add-deny: likewise, to its deny_rules */
    size_t ndeny;
} pol_update_t;

/* Parses "HOST:PORT[:ACCESS[:PROTOCOL[:ENFORCEMENT[:OPTIONS]]]]" (allow_extras)
 * or "HOST:PORT". OPTIONS is OpenShell's comma-separated list: `allowed-ip=
 * IP|CIDR` is kept; its credential options (allow-uninspected-credentials,
 * websocket-credential-rewrite, request-body-credential-rewrite) are
 * refused as not supported by tollgate yet. */
int pol_endpoint_spec_parse(const char *s, bool allow_extras, pol_endpoint_spec_t *out, char *err,
                            size_t errlen);
void pol_endpoint_spec_dispose(pol_endpoint_spec_t *s);
/* Parses "HOST:PORT:METHOD:PATH"; `flag` names it in errors ("--add-allow"). */
int pol_l7_spec_parse(const char *s, const char *flag, pol_l7_spec_t *out, char *err,
                      size_t errlen);
void pol_l7_spec_dispose(pol_l7_spec_t *s);

/* Applies one update to a base policy, atomically: returns a new policy, or
 * NULL with err (and the base untouched). `summary` gets a one-line text
 * for the CONFIG event ("add-endpoint allow_x_443 endpoints=[x:443]
 * binaries=[/usr/bin/node]"). Order: remove endpoints, remove rules, add
 * endpoints, add allows, add denies. Removing an endpoint or a rule that is
 * not there is an error. --add-allow/--add-deny follow OpenShell: the
 * HOST:PORT must name exactly one base endpoint, with protocol rest; an
 * `access` preset is expanded into rules first (allow); a deny needs an
 * allow base. The result must load back (the parser checks it). */
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

/* ---- L7: HTTP requests inside an intercepted tunnel (l7.c) -------------------- */

/* True when connections the endpoint allows must be intercepted (TLS
 * terminated by the proxy, every request decided with pol_l7_decide):
 * protocol rest, or any of access, rules, deny_rules; false with `tls: skip`. */
bool pol_endpoint_inspects(const pol_endpoint_t *e);

typedef struct {
    bool allowed;      /* the request may go upstream (an audit-mode violation too) */
    bool violation;    /* it broke the endpoint's L7 rules (denied, or let through by audit) */
    bool audit;        /* the violation was let through because enforcement is audit */
    const char *rule;  /* the policy rule key that decided (borrowed from the index); NULL: none */
    char matched[256]; /* the L7 rule that allowed or denied it: "access read-only",
                          "rules[2]", "deny_rules[0]" ... */
    char reason[512];  /* on a violation: the text users see ("POST /x not allowed by
                          access read-only of policy 'gh'") */
} pol_l7_decision_t;

/* Decides one HTTP request inside a tunnel to q->host:q->port that
 * pol_decide allowed for q's binary: method (an upper-case token as sent),
 * path (origin form as sent, percent-encoded, without the query), query
 * (after '?', NULL when none). Among the rules and endpoints that match the
 * host, port and binary, `path:` on an endpoint selects; `deny_rules` win over
 * allows; `access` presets read-only (GET HEAD OPTIONS), read-write (+ POST PUT
 * PATCH), full (all). Thread-safe on a shared index; allocation-free.
 *
 * The path is canonicalised first, as OpenShell does (pol_l7_canon_path):
 * a path that cannot be (`..` above the root, control bytes, raw non-ASCII,
 * bad %-escapes, `%2F` where no matching endpoint sets allow_encoded_slash)
 * is refused whatever the enforcement (allowed false, audit false). When the
 * matching endpoints have no L7 settings (plain), the request is allowed
 * (matched "plain endpoint"); when some have, only those decide. A violation
 * is let through (audit) only when every L7 endpoint that selected the path
 * is in audit mode. `matched` names the rule ("access read-only",
 * "rules[1] GET /repos/x", "deny_rules[0] POST /x"); `reason` reads "POST /x
 * not allowed by access read-only of policy 'gh'", "DELETE /x blocked by
 * deny_rules[0] of policy 'gh'", ... (request text escaped and capped). */
void pol_l7_decide(const pol_index_t *ix, const pol_query_t *q, const char *method,
                   const char *path, const char *query, pol_l7_decision_t *out);

/* The canonical form of a request path (origin form, no query), as
 * OpenShell's L7 canonicaliser makes it: %-escapes of unreserved bytes
 * decoded, others upper-case %HH; `.`/`..` resolved (`..` above the root
 * refused); `//` collapsed; `;params` stripped from each segment; control
 * bytes, raw non-ASCII, bad escapes and `%2F` (unless allow_encoded_slash:
 * kept as %2F) refused; an empty path is "/". Writes at most outlen bytes
 * with NUL. 0, or -EINVAL with *why set (a static text), or -E2BIG (longer
 * than 4096 bytes). The proxy may forward the canonical path upstream. */
int pol_l7_canon_path(const char *path, size_t len, bool allow_encoded_slash, char *out,
                      size_t outlen, const char **why);

/* The L7 glob: `*` (no '/' when path is true), `**` (anything), `?` (one
 * byte, not '/' in paths), `[a-z]`/`[!a-z]` (one byte, not '/' in paths),
 * `\x` (a literal x). Exposed for tests. */
bool pol_l7_glob(const char *pattern, const char *s, size_t n, bool path);

/* Glob helpers (exposed for tests). */
bool pol_host_match(const char *pattern, const char *host);
bool pol_path_match(const char *pattern, const char *path);
/* Checks a host pattern: bare `*`/`**`, TLD wildcards (`*.com`), wildcards
 * inside a label are refused. 0 or -EINVAL with err. */
int pol_host_pattern_check(const char *pattern, char *err, size_t errlen);

#endif
