/*
 * parse_sections.c: the top-level sections beside network_policies
 * (filesystem_policy, landlock, process, network_middlewares) and an
 * endpoint's allowed_ips, checked as OpenShell checks them
 * (crates/openshell-policy: its serde schema and validate_sandbox_policy).
 *
 * filesystem_policy, landlock and process are checked and kept
 * (sections_json), shown, and not enforced by tollgate: each load says so in
 * a warning. network_middlewares (other than an empty map) is refused by
 * name. allowed_ips entries must be IP addresses or CIDRs that do not
 * overlap loopback, link-local or the unspecified address.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "policy/pol_internal.h"

typedef pol__pc_t pc_t;

#define NOT_ENFORCED "checked and kept, not enforced by tollgate (it is shown, nothing applies it)"

static bool is_null(const pn_t *v)
{
    return v->kind == PN_SCALAR && v->plain &&
           (v->n == 0 || strcmp(v->s, "~") == 0 || strcmp(v->s, "null") == 0);
}

static int want_bool(pc_t *c, const pn_t *v)
{
    static const char *const ok[] = {"true", "True", "TRUE", "false", "False", "FALSE", NULL};
    for (const char *const *o = ok; v->kind == PN_SCALAR && v->plain && *o; o++)
        if (strcmp(v->s, *o) == 0)
            return 0;
    return pol__pc_fail(c, v, "expected true or false");
}

/* Each key of map n must be among keys; calls fn for each. */
typedef int (*field_fn)(pc_t *c, const pn_t *k, const pn_t *v, void *ctx);

static int each_field(pc_t *c, const pn_t *n, const char *const *keys, field_fn fn, void *ctx)
{
    if (is_null(n))
        return 0;
    int rc = pol__pc_want(c, n, PN_MAP);
    for (size_t i = 0; rc == 0 && i + 1 < n->nkids; i += 2) {
        const pn_t *k = n->kids[i];
        size_t mark = pol__pc_push(c, k);
        bool known = false;
        for (const char *const *kk = keys; *kk && !known; kk++)
            known = strcmp(k->s, *kk) == 0;
        rc = known ? fn(c, k, n->kids[i + 1], ctx) : pol__pc_fail(c, k, "unknown key");
        c->path.len = mark;
    }
    return rc;
}

/* ---- filesystem_policy ------------------------------------------------------------ */

#define FS_MAX_PATHS 256
#define FS_MAX_PATH  4096

static int fs_path(pc_t *c, const pn_t *v, bool rw)
{
    char *s = NULL;
    int rc = pol__pc_want_string(c, v, &s);
    if (rc)
        return rc;
    size_t n = strlen(s);
    const char *why = NULL;
    if (n > FS_MAX_PATH)
        why = "path exceeds maximum length (4096)";
    else if (s[0] != '/')
        why = "path must be absolute (start with '/')";
    else if (strstr(s, "/../") || (n >= 3 && strcmp(s + n - 3, "/..") == 0))
        why = "path contains '..' traversal component";
    else if (rw && strspn(s, "/") == n)
        why = "read-write path is overly broad";
    free(s);
    if (!why)
        return 0;
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    rc = pol__pc_fail(c, v, "%s: %s", why, pol__shown(&b, v->s, v->n));
    ocsf_buf_dispose(&b);
    return rc;
}

static int fs_field(pc_t *c, const pn_t *k, const pn_t *v, void *ctx)
{
    size_t *total = ctx;
    if (strcmp(k->s, "include_workdir") == 0)
        return want_bool(c, v);
    if (is_null(v))
        return 0;
    int rc = pol__pc_want(c, v, PN_SEQ);
    *total += v->nkids;
    if (rc == 0 && *total > FS_MAX_PATHS)
        return pol__pc_fail(c, v, "too many filesystem paths (%zu > 256)", *total);
    for (size_t i = 0; rc == 0 && i < v->nkids; i++) {
        size_t mark = pol__pc_push_index(c, i);
        rc = fs_path(c, v->kids[i], strcmp(k->s, "read_write") == 0);
        c->path.len = mark;
    }
    return rc;
}

/* ---- landlock, process ------------------------------------------------------------- */

static int landlock_field(pc_t *c, const pn_t *k, const pn_t *v, void *ctx)
{
    (void)k, (void)ctx;
    char *s = NULL;
    int rc = pol__pc_want_string(c, v, &s);
    if (rc == 0 && *s && strcmp(s, "best_effort") && strcmp(s, "hard_requirement")) {
        ocsf_buf_t b;
        ocsf_buf_init(&b);
        rc = pol__pc_fail(c, v, "'%s' is not valid (best_effort, hard_requirement)",
                          pol__shown(&b, v->s, v->n));
        ocsf_buf_dispose(&b);
    }
    free(s);
    return rc;
}

/* "sandbox", or a decimal UID/GID in 1..4294967294 (0 is root, 2^32-1 the
 * invalid-identity sentinel); empty: left to the runtime. */
static bool identity_ok(const char *s)
{
    if (*s == '\0' || strcmp(s, "sandbox") == 0)
        return true;
    size_t n = strlen(s);
    if (n > 10 || strspn(s, "0123456789") != n)
        return false;
    unsigned long long v = strtoull(s, NULL, 10);
    return v >= 1 && v <= 4294967294ull;
}

static int process_field(pc_t *c, const pn_t *k, const pn_t *v, void *ctx)
{
    (void)ctx;
    if (v->kind == PN_SCALAR && v->plain && v->n == 0)
        return 0;
    int rc = pol__pc_want(c, v, PN_SCALAR);
    if (rc || identity_ok(v->s))
        return rc;
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    rc = pol__pc_fail(c, v,
                      "%s must be 'sandbox' or a numeric UID/GID in range [1, 4294967294], got "
                      "'%s'",
                      k->s, pol__shown(&b, v->s, v->n));
    ocsf_buf_dispose(&b);
    return rc;
}

int pol__section(pc_t *c, const pn_t *k, const pn_t *v)
{
    static const char *const fs_keys[] = {"include_workdir", "read_only", "read_write", NULL};
    static const char *const ll_keys[] = {"compatibility", NULL};
    static const char *const proc_keys[] = {"run_as_user", "run_as_group", NULL};
    size_t total = 0;
    int rc;
    if (strcmp(k->s, "filesystem_policy") == 0)
        rc = each_field(c, v, fs_keys, fs_field, &total);
    else if (strcmp(k->s, "landlock") == 0)
        rc = each_field(c, v, ll_keys, landlock_field, NULL);
    else if (strcmp(k->s, "process") == 0)
        rc = each_field(c, v, proc_keys, process_field, NULL);
    else if (strcmp(k->s, "network_middlewares") == 0)
        return is_null(v) || (v->kind == PN_MAP && v->nkids == 0)
                   ? 0
                   : pol__pc_fail(c, k, "not supported by tollgate yet");
    else
        return -ENOENT;
    if (rc == 0 && !is_null(v))
        pol__pc_warn(c, k, NOT_ENFORCED);
    return rc;
}

/* ---- allowed_ips ------------------------------------------------------------------- */

/* Does [lo, hi] (16-byte big-endian) overlap [a, b]? */
static bool overlaps(const unsigned char lo[16], const unsigned char hi[16],
                     const unsigned char a[16], const unsigned char b[16])
{
    return memcmp(hi, a, 16) >= 0 && memcmp(lo, b, 16) <= 0;
}

/* The always-blocked ranges, as IPv6 (IPv4 as ::ffff:a.b.c.d): loopback
 * 127/8 and ::1, link-local 169.254/16 and fe80::/10, unspecified 0.0.0.0
 * and ::. */
static bool always_blocked(const unsigned char lo[16], const unsigned char hi[16])
{
    static const unsigned char v4[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    unsigned char a[16] = {0}, b[16] = {0};
    memcpy(a, v4, 12), memcpy(b, v4, 12);
    a[12] = 127, b[12] = 127, memset(b + 13, 0xff, 3);
    if (overlaps(lo, hi, a, b))
        return true;
    a[12] = 169, a[13] = 254, a[14] = a[15] = 0;
    b[12] = 169, b[13] = 254;
    if (overlaps(lo, hi, a, b))
        return true;
    a[12] = a[13] = 0;
    if (overlaps(lo, hi, a, a)) /* 0.0.0.0 */
        return true;
    memset(a, 0, 16);
    memset(b, 0, 16);
    if (overlaps(lo, hi, a, a)) /* :: */
        return true;
    a[15] = 1;
    if (overlaps(lo, hi, a, a)) /* ::1 */
        return true;
    memset(a, 0, 16);
    a[0] = 0xfe, a[1] = 0x80;
    memset(b, 0xff, 16);
    b[0] = 0xfe, b[1] = 0xbf;
    return overlaps(lo, hi, a, b);
}

/* An IP or CIDR: 0 and its range, or a reason. */
static const char *cidr_range(const char *s, unsigned char lo[16], unsigned char hi[16])
{
    char addr[64];
    const char *slash = strchr(s, '/');
    size_t an = slash ? (size_t)(slash - s) : strlen(s);
    if (an == 0 || an >= sizeof addr)
        return "not an IP address or CIDR";
    memcpy(addr, s, an);
    addr[an] = '\0';
    unsigned char ip[16] = {0};
    int max;
    if (strchr(addr, ':')) {
        if (inet_pton(AF_INET6, addr, ip) != 1)
            return "not an IPv6 address";
        max = 128;
    } else {
        if (inet_pton(AF_INET, addr, ip + 12) != 1)
            return "not an IPv4 address";
        ip[10] = ip[11] = 0xff;
        max = 32;
    }
    int prefix = max;
    if (slash) {
        const char *p = slash + 1;
        size_t pn = strlen(p);
        if (pn == 0 || pn > 3 || strspn(p, "0123456789") != pn || atoi(p) > max)
            return max == 32 ? "bad prefix length (0 to 32)" : "bad prefix length (0 to 128)";
        prefix = atoi(p);
    }
    int bits = (max == 32 ? 96 : 0) + prefix; /* of the 128 */
    for (int i = 0; i < 16; i++) {
        int keep = bits >= 8 * (i + 1) ? 8 : bits <= 8 * i ? 0 : bits - 8 * i;
        unsigned char mask = (unsigned char)(keep ? 0xff << (8 - keep) : 0);
        lo[i] = ip[i] & mask;
        hi[i] = (unsigned char)(ip[i] | (unsigned char)~mask);
    }
    return NULL;
}

int pol__allowed_ips_check(pc_t *c, const pn_t *v)
{
    int rc = pol__pc_want(c, v, PN_SEQ);
    for (size_t i = 0; rc == 0 && i < v->nkids; i++) {
        size_t mark = pol__pc_push_index(c, i);
        char *s = NULL;
        rc = pol__pc_want_string(c, v->kids[i], &s);
        unsigned char lo[16], hi[16];
        const char *why = rc ? NULL : cidr_range(s, lo, hi);
        if (rc == 0 && !why && always_blocked(lo, hi))
            why = "falls within an always-blocked range (loopback/link-local/unspecified); "
                  "remove it: those destinations are refused whatever the policy";
        if (why) {
            ocsf_buf_t b;
            ocsf_buf_init(&b);
            rc = pol__pc_fail(c, v->kids[i], "'%s': %s",
                              pol__shown(&b, v->kids[i]->s, v->kids[i]->n), why);
            ocsf_buf_dispose(&b);
        }
        free(s);
        c->path.len = mark;
    }
    return rc;
}
