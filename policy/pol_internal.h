/*
 * pol_internal.h: what the policy/ files share (not included from outside
 * policy/). Memory: small fixed allocations abort on OOM (the project's one
 * OOM policy); sizes that come from input are bounded by the POL__MAX_*
 * limits below and checked before anything is allocated for them.
 */
#ifndef TOLLGATE_POL_INTERNAL_H
#define TOLLGATE_POL_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "ocsf/ocsf.h"
#include "policy/policy.h"

/* Input limits. */
#define POL__MAX_DOC      (8u * 1024 * 1024) /* bytes of one YAML document */
#define POL__MAX_DEPTH    64                 /* nesting of YAML collections */
#define POL__MAX_NODES    (1u << 20)         /* YAML nodes in one document */
#define POL__MAX_KEY      300                /* bytes of a rule key (allow_<host>_<port> fits) */
#define POL__MAX_ID       64                 /* bytes of a provider id */
#define POL__MAX_HOST     253                /* bytes of a host (DNS limit) */
#define POL__MAX_PATH     4096               /* bytes of a binary path or glob */
#define POL__SHOWN        80                 /* bytes of file text quoted in an error */
#define POL__PROVIDER     "_provider_"
#define POL__PROVIDER_LEN (sizeof POL__PROVIDER - 1)
#define POL__BASE_LAYER   "base"
#define POL__MAX_L7_GLOB  1024 /* bytes of an L7 path or query glob */
#define POL__MAX_L7_RULES 1024 /* entries of rules / deny_rules / query of one endpoint */

/* ---- memory (abort on OOM) ------------------------------------------------ */
void *pol__xmalloc(size_t n);
void *pol__xcalloc(size_t n, size_t size);
char *pol__xstrdup(const char *s); /* NULL gives NULL */
char *pol__xstrndup(const char *s, size_t n);
/* Makes room for one more element in an array holding n: grows to the next
 * power of two when n is one (so no capacity field is needed). */
void *pol__grow(void *arr, size_t n, size_t size);

/* ---- text ------------------------------------------------------------------- */
/* snprintf into err (no-op when err is NULL or errlen 0). */
void pol__errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Escapes file text for an error message (control bytes, invalid UTF-8 ->
 * \xHH; cut at POL__SHOWN bytes). Appends to b; returns b's C string. */
const char *pol__shown(ocsf_buf_t *b, const char *s, size_t n);
bool pol__utf8_valid(const char *s, size_t n);
/* Largest m <= n such that s[0..m) does not end inside a UTF-8 sequence. */
size_t pol__utf8_cut(const char *s, size_t n);
bool pol__has_ctl(const char *s, size_t n); /* any byte < 0x20 or 0x7f */
bool pol__is_provider_key(const char *key);

/* ---- the policy tree ---------------------------------------------------------- */
void pol__endpoint_dispose(pol_endpoint_t *e);
void pol__endpoint_copy(pol_endpoint_t *dst, const pol_endpoint_t *src);
void pol__rule_dispose(pol_rule_t *r);
void pol__rule_copy(pol_rule_t *dst, const pol_rule_t *src);
/* Appends a zeroed rule; returns it (valid until the next append). */
pol_rule_t *pol__add_rule(pol_policy_t *p);
pol_endpoint_t *pol__add_endpoint(pol_rule_t *r);
void pol__add_binary(pol_rule_t *r, const char *path); /* copies path */
bool pol__has_binary(const pol_rule_t *r, const char *path);
/* Sorts ports ascending and removes duplicates. */
void pol__ports_normalise(uint16_t *ports, size_t *n);
int pol__find_rule(const pol_policy_t *p, const char *key); /* index or -1 */
/* The canonical rule order (qsort comparator on pol_rule_t, or on pointers
 * with pol__rule_ptr_cmp): base rules by key, then provider layers by key.
 * Decisions and the YAML rendering use it, so two policies with the same
 * hash render and decide alike (the layer is a function of the key). */
int pol__rule_cmp(const void *a, const void *b);
int pol__rule_ptr_cmp(const void *a, const void *b);

/* Checks a binary path or glob from a document or the CLI. 0 or -EINVAL
 * with a short reason in why. */
int pol__binary_check(const char *path, const char **why);
/* Collapses "//" and "/./" of a document's binary path in place (".."
 * is left for pol__binary_check to refuse). */
void pol__binary_normalise(char *path);
/* Checks a rule key. 0 or -EINVAL with a short reason. */
int pol__key_check(const char *key, const char **why);

/* The canonical JSON tree of a policy (new reference). */
json_t *pol__to_json_tree(const pol_policy_t *p, bool with_layers);

/* ---- the YAML node tree (yaml.c) ------------------------------------------------ */
/* parse.c reads a document in two steps: libyaml events become this small
 * tree (each node knows its line), then the tree is checked against the
 * policy or provider schema. Aliases are refused (no expansion bombs);
 * mapping keys are scalars and unique; scalars hold no NUL byte. */
typedef enum { PN_SCALAR, PN_MAP, PN_SEQ } pn_kind_t;

typedef struct pn {
    pn_kind_t kind;
    size_t line;      /* 1-based */
    char *s;          /* scalar: the value, NUL-terminated */
    size_t n;         /* scalar: its length */
    bool plain;       /* scalar: plain style, no explicit tag (may be a number, bool, null) */
    struct pn **kids; /* map: key, value, key, value, ...; seq: the items */
    size_t nkids;
} pn_t;

/* Parses one YAML document into *out (owned by the caller: pn_free). 0 or
 * -EINVAL with "origin:line: path: reason" in err. */
int pn_parse(const char *yaml, size_t len, const char *origin, pn_t **out, char *err,
             size_t errlen);
void pn_free(pn_t *n); /* accepts NULL */
/* A scalar's JSON value by the YAML core schema (plain null/bool/int/float;
 * anything else a string); collections recursively. New reference. */
json_t *pn_to_json(const pn_t *n);
/* Plain scalar that reads as something other than a string. */
bool pn_plain_is_typed(const char *s, size_t n);

/* ---- the schema checker (parse.c, parse_l7.c) ---------------------------------- */
typedef struct {
    const char *origin;
    char *err;
    size_t errlen;
    ocsf_buf_t path; /* escaped, like yaml.c's */
    bool allow_provider_keys;
    bool provider;       /* a provider profile (binaries may be bare strings) */
    ocsf_buf_t warnings; /* "origin:line: path: text\n" lines */
} pol__pc_t;

/* "origin:line: path: msg" into err; returns -EINVAL. */
int pol__pc_fail(pol__pc_t *c, const pn_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same text as one line of c->warnings. */
void pol__pc_warn(pol__pc_t *c, const pn_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
size_t pol__pc_push(pol__pc_t *c, const pn_t *key); /* ".key"; returns the old length */
size_t pol__pc_push_index(pol__pc_t *c, size_t i);  /* "[i]" */
int pol__pc_want(pol__pc_t *c, const pn_t *n, pn_kind_t kind);
int pol__pc_want_string(pol__pc_t *c, const pn_t *n, char **out); /* replaces *out */

/* ---- top-level sections and allowed_ips (parse_sections.c) ------------------------ */
/* Checks a top-level section (filesystem_policy, landlock, process,
 * network_middlewares) as OpenShell does: 0, -EINVAL with the error, or
 * -ENOENT when k is none of them. */
int pol__section(pol__pc_t *c, const pn_t *k, const pn_t *v);
/* Checks an endpoint's allowed_ips: IPs or CIDRs, none overlapping
 * loopback, link-local or the unspecified address. */
int pol__allowed_ips_check(pol__pc_t *c, const pn_t *v);

/* ---- L7 endpoint keys (parse_l7.c) ---------------------------------------------- */
/* Reads one L7 key of an endpoint (protocol, access, enforcement, rules,
 * deny_rules, tls, path, allow_encoded_slash, or a refused one): 0, -EINVAL
 * with the error, or -ENOENT when the key is not an L7 key. */
int pol__l7_field(pol__pc_t *c, const pn_t *k, const pn_t *v, pol_endpoint_t *e);
/* Checks the L7 keys of a whole endpoint together (at: the endpoint node). */
int pol__l7_check(pol__pc_t *c, const pn_t *at, pol_endpoint_t *e);
/* Adds the L7 keys of e (tls, path, allow_encoded_slash, rules, deny_rules)
 * to the JSON object o, in the canonical shape. */
void pol__l7_json(const pol_endpoint_t *e, json_t *o);
void pol__l7_copy(pol_endpoint_t *dst, const pol_endpoint_t *src);
void pol__l7_dispose(pol_endpoint_t *e);
/* "read-only" -> its methods' test; NULL or unknown -> false. */
bool pol__l7_access_allows(const char *access, const char *method);

/* ---- updates by rule name and by method/path (update_l7.c) ---------------------- */
/* --remove-rule, --add-allow, --add-deny of u applied to p (a clone the caller
 * throws away on failure); each appends its clause to sum. 0 or -errno with err. */
int pol__update_remove_rules(pol_policy_t *p, const pol_update_t *u, ocsf_buf_t *sum, char *err,
                             size_t errlen);
int pol__update_l7(pol_policy_t *p, const pol_update_t *u, ocsf_buf_t *sum, char *err,
                   size_t errlen);
/* 0 when p's YAML rendering loads back (an update never makes a policy the
 * parser would refuse); -EINVAL with the parser's error otherwise. */
int pol__update_loads(const pol_policy_t *p, char *err, size_t errlen);

/* ---- L7 request matching (l7_path.c) -------------------------------------------- */
#define L7_MAX_SUBJECT 8192 /* bytes of a query string (and so of a key or value) matched */
/* Whether the request's query satisfies the rule's query matchers (allow:
 * every value of each key matches, and the key is there; deny: some value of
 * each key matches): 1 or 0; -EINVAL when it cannot be decoded, -E2BIG when
 * longer than L7_MAX_SUBJECT. A rule without matchers: 1. */
int pol__l7_query_match(const pol_l7_rule_t *r, const char *query, bool deny);

/* ---- index walk (index.c) ------------------------------------------------------- */
/* Calls fn for every (rule, endpoint) of the index whose host and port match
 * q (binaries not checked), rule being the canonical rank. Stops when fn
 * returns false. No allocation. */
typedef bool (*pol__ix_fn)(void *ctx, size_t rank, const pol_rule_t *r, const pol_endpoint_t *e);
void pol__ix_each(const pol_index_t *ix, const pol_query_t *q, pol__ix_fn fn, void *ctx);
bool pol__binary_ok(const pol_rule_t *r, const pol_query_t *q);

#endif
