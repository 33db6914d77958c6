/*
 * index.c: the compiled policy and the decision.
 *
 * Every endpoint host becomes one (kind, key) entry of an open-addressing
 * hash table: kind EXACT with the whole host, ONE with the suffix of a
 * `*.` pattern, ANY with the suffix of a `**.` pattern. An entry owns a
 * range of refs (rule, endpoint), sorted by rule. A query looks up its
 * whole host (EXACT), the part after its first label (ONE), and the part
 * after each of its dots (ANY): O(labels) lookups, whatever the number of
 * rules. Hosts of other shapes (`api-*.x.com`, `*.s3.*.amazonaws.com`,
 * `*-ai.x.com`) are kind OTHER: one list, sorted by rule, that every query
 * scans with pol_host_match() (linear in the number of such endpoints). Rules are ranked in the
 * canonical order (base rules by key, then provider layers by key: pol__rule_cmp), and the first
 * rule that matches endpoint and binary wins, so the answer is the one a scan in that order would
 * give (pol_host_match() and pol_path_match() define that scan), and two policies with the same
 * hash decide alike.
 *
 * The index is immutable after build; pol_decide() reads it from any
 * number of threads and allocates nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/pol_internal.h"

enum { IX_EMPTY, IX_EXACT, IX_ONE, IX_ANY, IX_OTHER };

typedef struct {
    uint32_t rule, ep;
} ix_ref_t;

typedef struct {
    uint64_t hash;
    const char *key; /* into the index's own copy of the policy */
    uint32_t klen;
    uint32_t kind;
    uint32_t first, n; /* refs[first .. first+n) */
} ix_slot_t;

struct pol_index {
    pol_policy_t *p; /* own copy: hosts lower-cased */
    ix_slot_t *slots;
    size_t mask;
    unsigned kinds; /* bit k: some entry of kind k */
    ix_ref_t *refs;
    ix_slot_t other; /* the OTHER refs: refs[other.first .. +other.n), sorted by rule */
    bool any_l7;     /* some endpoint is inspected (pol_endpoint_inspects) */
};

typedef struct {
    uint32_t kind, klen;
    const char *key;
    ix_ref_t ref;
} ix_entry_t;

/* FNV-1a over the key read right to left, then the kind and a final mix:
 * one right-to-left pass over a queried host yields the state of every
 * suffix, so all its lookups cost one pass plus the probes. */
#define IX_SEED 0xcbf29ce484222325ull

static inline uint64_t ix_step(uint64_t h, unsigned char c)
{
    return (h ^ c) * 0x100000001b3ull;
}

static inline uint64_t ix_fin(uint64_t h, uint32_t kind)
{
    h ^= kind;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 32);
}

static uint64_t ix_hash(uint32_t kind, const char *s, size_t n)
{
    uint64_t h = IX_SEED;
    for (size_t i = n; i-- > 0;)
        h = ix_step(h, (unsigned char)s[i]);
    return ix_fin(h, kind);
}

static int entry_cmp(const void *a, const void *b)
{
    const ix_entry_t *x = a, *y = b;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    int c = x->kind == IX_OTHER ? 0 : strcmp(x->key, y->key); /* OTHER: by rule only */
    if (c)
        return c;
    if (x->ref.rule != y->ref.rule)
        return x->ref.rule < y->ref.rule ? -1 : 1;
    return (x->ref.ep > y->ref.ep) - (x->ref.ep < y->ref.ep);
}

static void ix_insert(pol_index_t *ix, const ix_entry_t *e, uint32_t first, uint32_t n)
{
    uint64_t h = ix_hash(e->kind, e->key, e->klen);
    for (size_t i = h & ix->mask;; i = (i + 1) & ix->mask) {
        if (ix->slots[i].kind == IX_EMPTY) {
            ix->slots[i] = (ix_slot_t){h, e->key, e->klen, e->kind, first, n};
            return;
        }
    }
}

static bool same_key(const ix_entry_t *a, const ix_entry_t *b)
{
    return a->kind == b->kind && a->klen == b->klen && memcmp(a->key, b->key, a->klen) == 0;
}

/* EXACT without a star; ONE / ANY for `*.` / `**.` and a literal suffix;
 * OTHER for any other shape the parser accepts. */
static uint32_t host_kind(const char *h)
{
    if (!strchr(h, '*'))
        return IX_EXACT;
    if (strncmp(h, "**.", 3) == 0 && !strchr(h + 3, '*'))
        return IX_ANY;
    if (strncmp(h, "*.", 2) == 0 && !strchr(h + 2, '*'))
        return IX_ONE;
    return IX_OTHER;
}

static ix_entry_t *collect(pol_policy_t *p, size_t *count)
{
    size_t n = 0;
    for (size_t r = 0; r < p->nrules; r++)
        n += p->rules[r].nendpoints;
    ix_entry_t *es = pol__xmalloc(n * sizeof *es);
    n = 0;
    for (size_t r = 0; r < p->nrules; r++) {
        for (size_t k = 0; k < p->rules[r].nendpoints; k++) {
            char *h = p->rules[r].endpoints[k].host;
            if (!h || !*h) /* hand-built policies: an endpoint without a host matches nothing */
                continue;
            for (char *c = h; *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                    *c = (char)(*c - 'A' + 'a');
            ix_entry_t *e = &es[n++];
            e->kind = host_kind(h);
            e->key = h + (e->kind == IX_ANY ? 3 : e->kind == IX_ONE ? 2 : 0);
            e->klen = (uint32_t)strlen(e->key);
            e->ref = (ix_ref_t){(uint32_t)r, (uint32_t)k};
        }
    }
    *count = n;
    return es;
}

pol_index_t *pol_index_build(const pol_policy_t *p)
{
    pol_index_t *ix = pol__xcalloc(1, sizeof *ix);
    ix->p = pol_policy_clone(p);
    if (ix->p->nrules > 1) /* "first rule" means first in the canonical order */
        qsort(ix->p->rules, ix->p->nrules, sizeof *ix->p->rules, pol__rule_cmp);
    size_t n = 0;
    ix_entry_t *es = collect(ix->p, &n);
    qsort(es, n, sizeof *es, entry_cmp);
    size_t groups = 0;
    for (size_t i = 0; i < n; i++)
        groups += i == 0 || !same_key(&es[i - 1], &es[i]);
    size_t size = 16;
    while (size < 2 * groups)
        size *= 2;
    ix->mask = size - 1;
    ix->slots = pol__xcalloc(size, sizeof *ix->slots);
    ix->refs = pol__xmalloc(n * sizeof *ix->refs);
    for (size_t i = 0, start = 0; i < n; i++) {
        ix->refs[i] = es[i].ref;
        if (es[i].kind == IX_OTHER) { /* sorted last, by rule */
            if (ix->other.n++ == 0)
                ix->other = (ix_slot_t){0, NULL, 0, IX_OTHER, (uint32_t)i, 1};
            continue;
        }
        if (i + 1 == n || !same_key(&es[i], &es[i + 1])) {
            ix_insert(ix, &es[start], (uint32_t)start, (uint32_t)(i + 1 - start));
            ix->kinds |= 1u << es[start].kind;
            start = i + 1;
        }
    }
    free(es);
    for (size_t r = 0; r < ix->p->nrules; r++)
        for (size_t k = 0; k < ix->p->rules[r].nendpoints; k++)
            ix->any_l7 |= pol_endpoint_inspects(&ix->p->rules[r].endpoints[k]);
    return ix;
}

void pol_index_destroy(pol_index_t *ix)
{
    if (!ix)
        return;
    pol_policy_destroy(ix->p);
    free(ix->slots);
    free(ix->refs);
    free(ix);
}

/* ---- the decision ---------------------------------------------------------------- */

static const ix_slot_t *ix_find(const pol_index_t *ix, uint64_t h, uint32_t kind, const char *k,
                                size_t n)
{
    if (!(ix->kinds & (1u << kind)))
        return NULL;
    for (size_t i = h & ix->mask;; i = (i + 1) & ix->mask) {
        const ix_slot_t *s = &ix->slots[i];
        if (s->kind == IX_EMPTY)
            return NULL;
        if (s->hash == h && s->kind == kind && s->klen == n && memcmp(s->key, k, n) == 0)
            return s;
    }
}

typedef struct {
    const pol_query_t *q;
    size_t matched;                 /* lowest rule whose endpoint matched; SIZE_MAX: none */
    size_t allowed;                 /* lowest rule that matched endpoint and binary */
    const pol_endpoint_t *endpoint; /* ... and its endpoint */
    size_t checked;                 /* the last rule whose binaries were checked (and failed) */
} ix_walk_t;

bool pol__binary_ok(const pol_rule_t *r, const pol_query_t *q)
{
    for (size_t i = 0; i < q->nexes; i++) {
        if (!q->exes[i])
            continue;
        for (size_t b = 0; b < r->nbinaries; b++)
            if (pol_path_match(r->binaries[b], q->exes[i]))
                return true;
    }
    return false;
}

static bool port_ok(const pol_endpoint_t *e, uint16_t port)
{
    for (size_t i = 0; i < e->nports; i++)
        if (e->ports[i] == port)
            return true;
    return false;
}

/* A ref of slot s applies to q: its port, and for OTHER its host. */
static bool ref_ok(const ix_slot_t *s, const pol_endpoint_t *e, const pol_query_t *q)
{
    return port_ok(e, q->port) && (s->kind != IX_OTHER || pol_host_match(e->host, q->host));
}

static void ix_visit(const pol_index_t *ix, const ix_slot_t *s, void *arg)
{
    ix_walk_t *w = arg;
    if (!s)
        return;
    for (uint32_t i = s->first; i < s->first + s->n; i++) {
        const ix_ref_t *ref = &ix->refs[i];
        if (ref->rule >= w->allowed)
            return; /* refs are sorted by rule: nothing better here */
        const pol_rule_t *r = &ix->p->rules[ref->rule];
        if (!ref_ok(s, &r->endpoints[ref->ep], w->q))
            continue;
        if (ref->rule < w->matched)
            w->matched = ref->rule;
        if (ref->rule == w->checked)
            continue;
        if (w->q->any_binary || pol__binary_ok(r, w->q)) {
            w->allowed = ref->rule;
            w->endpoint = &r->endpoints[ref->ep];
            return;
        }
        w->checked = ref->rule;
    }
}

/* ---- reasons: bounded, never cut inside a UTF-8 sequence ------------------------- */

typedef struct {
    char *p;
    size_t cap, len;
    bool full;
} rw_t;

/* Appends s[0..n), at most `limit` bytes of it (0: no limit); a cut piece
 * ends with "...". When the buffer is full the text ends with "...". */
static void rw_put(rw_t *w, const char *s, size_t n, size_t limit)
{
    if (w->full)
        return;
    bool cut = false;
    if (limit && n > limit) {
        n = pol__utf8_cut(s, limit);
        cut = true;
    }
    size_t room = w->cap - 1 - w->len;
    if (n + (cut ? 3 : 0) > room) {
        w->full = cut = true;
        if (room < 3) { /* back off what is there to make room for "..." */
            w->len = pol__utf8_cut(w->p, w->cap - 4);
            n = 0;
        } else {
            n = pol__utf8_cut(s, room - 3 < n ? room - 3 : n);
        }
    }
    memcpy(w->p + w->len, s, n);
    w->len += n;
    if (cut) {
        memcpy(w->p + w->len, "...", 3);
        w->len += 3;
    }
    w->p[w->len] = '\0';
}

static void rw_puts(rw_t *w, const char *s)
{
    rw_put(w, s, strlen(s), 0);
}

static void reason_endpoint(rw_t *w, const pol_query_t *q)
{
    char port[8];
    size_t pl = 0;
    unsigned v = q->port;
    do
        port[sizeof port - 1 - pl++] = (char)('0' + v % 10);
    while ((v /= 10) && pl < sizeof port - 1);
    const char *host = q->host ? q->host : "";
    rw_puts(w, "endpoint ");
    rw_put(w, host, strlen(host), POL__MAX_HOST);
    rw_puts(w, ":");
    rw_put(w, port + sizeof port - pl, pl, 0);
    rw_puts(w, " is not allowed by any policy");
}

static void reason_binary(rw_t *w, const pol_query_t *q, const char *key)
{
    const char *exe = q->nexes && q->exes[0] ? q->exes[0] : "(unknown)";
    rw_puts(w, "binary '");
    rw_put(w, exe, strlen(exe), 200);
    rw_puts(w, "' not allowed in policy '");
    rw_put(w, key, strlen(key), 128);
    rw_puts(w, "' (ancestors: [");
    for (size_t i = 1; i < q->nexes; i++) {
        const char *a = q->exes[i] ? q->exes[i] : "(unknown)";
        if (i > 1)
            rw_puts(w, " -> ");
        rw_put(w, a, strlen(a), 100);
    }
    rw_puts(w, "])");
}

/* The whole host (EXACT); after each dot but one at 0, the rest when it
 * has two labels or more (ANY); after the first dot, the same (ONE), unless
 * the first label is empty. One right-to-left pass hashes every suffix. */
typedef void (*ix_visit_fn)(const pol_index_t *ix, const ix_slot_t *s, void *arg);

static void ix_lookup(const pol_index_t *ix, const char *h, size_t hl, ix_visit_fn visit, void *w)
{
    uint64_t st = IX_SEED, one_st = 0;
    size_t one_at = 0;
    bool dot_right = false, one_ok = false;
    for (size_t i = hl; i-- > 0;) {
        if (h[i] == '.') {
            if (i > 0 && dot_right) {
                const char *k = h + i + 1;
                visit(ix, ix_find(ix, ix_fin(st, IX_ANY), IX_ANY, k, hl - i - 1), w);
            }
            one_at = i, one_st = st, one_ok = dot_right;
            dot_right = true;
        }
        st = ix_step(st, (unsigned char)h[i]);
    }
    if (one_ok && one_at > 0) {
        const char *k = h + one_at + 1;
        visit(ix, ix_find(ix, ix_fin(one_st, IX_ONE), IX_ONE, k, hl - one_at - 1), w);
    }
    visit(ix, ix_find(ix, ix_fin(st, IX_EXACT), IX_EXACT, h, hl), w);
    if (ix->other.n)
        visit(ix, &ix->other, w);
}

/* Lower-cases the queried host (trailing dot dropped) into h; its length, or
 * 0 when it cannot match anything (empty, too long, an empty label). */
static size_t ix_host(const pol_query_t *q, char h[POL__MAX_HOST])
{
    const char *host = q->host ? q->host : "";
    size_t hl = strlen(host);
    if (hl && host[hl - 1] == '.')
        hl--;
    if (hl == 0 || hl > POL__MAX_HOST || host[0] == '.' || memmem(host, hl, "..", 2))
        return 0; /* an empty label: no pattern matches it (pol_host_match agrees) */
    for (size_t i = 0; i < hl; i++)
        h[i] = (host[i] >= 'A' && host[i] <= 'Z') ? (char)(host[i] - 'A' + 'a') : host[i];
    return hl;
}

typedef struct {
    const pol_query_t *q;
    pol__ix_fn fn;
    void *ctx;
    bool stop;
} ix_each_t;

static void each_visit(const pol_index_t *ix, const ix_slot_t *s, void *arg)
{
    ix_each_t *w = arg;
    for (uint32_t i = s ? s->first : 0; s && !w->stop && i < s->first + s->n; i++) {
        const pol_rule_t *r = &ix->p->rules[ix->refs[i].rule];
        const pol_endpoint_t *e = &r->endpoints[ix->refs[i].ep];
        if (ref_ok(s, e, w->q))
            w->stop = !w->fn(w->ctx, ix->refs[i].rule, r, e);
    }
}

void pol__ix_each(const pol_index_t *ix, const pol_query_t *q, pol__ix_fn fn, void *ctx)
{
    char h[POL__MAX_HOST];
    size_t hl = ix ? ix_host(q, h) : 0;
    ix_each_t w = {q, fn, ctx, false};
    if (hl)
        ix_lookup(ix, h, hl, each_visit, &w);
}

/* pol_decide's endpoint tells the proxy whether to intercept: when the first
 * allowing endpoint is plain but another one the caller may use is inspected,
 * the inspected one is named (its L7 rules then decide, as in OpenShell). */
typedef struct {
    const pol_query_t *q;
    size_t rank;
    const pol_rule_t *rule;
    const pol_endpoint_t *ep;
} ix_l7_pick_t;

static bool pick_l7(void *ctx, size_t rank, const pol_rule_t *r, const pol_endpoint_t *e)
{
    ix_l7_pick_t *w = ctx;
    if (rank < w->rank && pol_endpoint_inspects(e) &&
        (w->q->any_binary || pol__binary_ok(r, w->q))) {
        w->rank = rank, w->rule = r, w->ep = e;
    }
    return true;
}

void pol_decide(const pol_index_t *ix, const pol_query_t *q, pol_decision_t *d)
{
    rw_t w = {d->reason, sizeof d->reason, 0, false};
    d->allowed = false;
    d->rule = d->layer = NULL;
    d->endpoint = NULL;
    d->reason[0] = '\0';
    if (!ix || ix->p->nrules == 0) {
        rw_puts(&w, "network connections not allowed by policy");
        return;
    }
    char h[POL__MAX_HOST];
    size_t hl = ix_host(q, h);
    ix_walk_t walk = {q, SIZE_MAX, SIZE_MAX, NULL, SIZE_MAX};
    if (hl)
        ix_lookup(ix, h, hl, ix_visit, &walk);
    if (walk.allowed != SIZE_MAX) {
        const pol_rule_t *r = &ix->p->rules[walk.allowed];
        ix_l7_pick_t pick = {q, SIZE_MAX, r, walk.endpoint};
        if (ix->any_l7 && !pol_endpoint_inspects(walk.endpoint))
            pol__ix_each(ix, q, pick_l7, &pick);
        d->allowed = true;
        d->rule = pick.rule->key;
        d->layer = pick.rule->layer;
        d->endpoint = pick.ep;
    } else if (walk.matched != SIZE_MAX) {
        reason_binary(&w, q, ix->p->rules[walk.matched].key);
    } else {
        reason_endpoint(&w, q);
    }
}
