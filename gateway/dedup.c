/*
 * dedup.c: the metadata.uid of recently ingested events, so that a batch a
 * proxy resends (its first POST was stored, the reply was lost) is not
 * stored twice. Two generations of an open-addressing set of 128-bit keys:
 * when the current one holds GW__DEDUP_GEN uids it becomes the previous one
 * and a fresh set starts, so at least the last GW__DEDUP_GEN uids are
 * always remembered. At start the set is refilled from the spool's tail.
 *
 * Thread: any (ingest runs on the threadpool); a mutex guards it.
 */
#include <stdlib.h>
#include <string.h>

#include "gateway/gw_internal.h"

#define SLOTS (2 * GW__DEDUP_GEN) /* per generation; a power of two */

typedef struct {
    uint64_t a, b; /* 0, 0: empty */
} key_t_;

struct gw__dedup {
    pthread_mutex_t mu;
    key_t_ *gen[2]; /* gen[0] current */
    size_t count;
};

static key_t_ key_of(const char *uid, size_t n)
{
    uint64_t a = 0xcbf29ce484222325ull, b = 0x84222325cbf29ce4ull;
    for (size_t i = 0; i < n; i++) {
        a = (a ^ (unsigned char)uid[i]) * 0x100000001b3ull;
        b = (b ^ (unsigned char)uid[i]) * 0x1000193ull + 0x9e3779b97f4a7c15ull;
    }
    if (!a && !b)
        a = 1;
    return (key_t_){a, b};
}

static bool find_or_put(key_t_ *t, key_t_ k, bool put)
{
    size_t i = (size_t)(k.a ^ (k.b >> 7)) & (SLOTS - 1);
    for (;; i = (i + 1) & (SLOTS - 1)) {
        if (t[i].a == k.a && t[i].b == k.b)
            return true;
        if (!t[i].a && !t[i].b) {
            if (put)
                t[i] = k;
            return false;
        }
    }
}

gw__dedup_t *gw__dedup_create(void)
{
    gw__dedup_t *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->gen[0] = calloc(SLOTS, sizeof(key_t_));
    d->gen[1] = calloc(SLOTS, sizeof(key_t_));
    if (!d->gen[0] || !d->gen[1]) {
        gw__dedup_destroy(d);
        return NULL;
    }
    pthread_mutex_init(&d->mu, NULL);
    return d;
}

void gw__dedup_destroy(gw__dedup_t *d)
{
    if (!d)
        return;
    free(d->gen[0]);
    free(d->gen[1]);
    free(d);
}

bool gw__dedup_seen(gw__dedup_t *d, const char *uid, size_t n)
{
    if (!d || !n)
        return false;
    key_t_ k = key_of(uid, n);
    pthread_mutex_lock(&d->mu);
    bool seen = find_or_put(d->gen[1], k, false) || find_or_put(d->gen[0], k, true);
    if (!seen && ++d->count >= GW__DEDUP_GEN) {
        key_t_ *old = d->gen[1];
        d->gen[1] = d->gen[0];
        memset(old, 0, SLOTS * sizeof *old);
        d->gen[0] = old;
        d->count = 0;
    }
    pthread_mutex_unlock(&d->mu);
    return seen;
}

/* metadata.uid of a stored event: the first "uid" after "metadata":{ (the
 * encoder writes metadata's keys sorted; product has no uid). */
static int refill_cb(const col_record_t *r, void *ctx)
{
    const char *m = memmem(r->json, r->json_len, "\"metadata\":{", 12);
    const char *end = r->json + r->json_len;
    const char *u = m ? memmem(m, (size_t)(end - m), "\"uid\":\"", 7) : NULL;
    if (u) {
        u += 7;
        const char *q = memchr(u, '"', (size_t)(end - u));
        if (q)
            gw__dedup_seen(ctx, u, (size_t)(q - u));
    }
    return 0;
}

void gw__dedup_refill(gw__dedup_t *d, col_t *col)
{
    col_filter_t f;
    uint64_t next;
    col_filter_init(&f);
    f.limit = GW__DEDUP_GEN;
    col_query(col, &f, refill_cb, d, &next);
}
