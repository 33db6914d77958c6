/*
 * dedup.c: digests of recently ingested events, so that a batch a proxy
 * resends (its first POST was stored, the reply was lost) is not stored
 * twice. The key is the event's SHA-256 (ocsf_ingest: the bytes as stored,
 * without the collector's sequence), never metadata.uid alone: two
 * producers' distinct events may share a uid (OpenShell puts the sandbox
 * id there), and a digest cannot eat a distinct event.
 *
 * Two generations of an open-addressing set of 128-bit keys (the digest's
 * first half): when the current one holds GW__DEDUP_GEN keys it becomes the
 * previous one and a fresh set starts, so at least the last GW__DEDUP_GEN
 * are always remembered. At start the set is refilled from the spool's
 * tail. A key is taken before the append and given back when the append
 * fails, so a refused event is not remembered as stored.
 *
 * Thread: any (ingest runs on the threadpool); a mutex guards it.
 */
#include <stdlib.h>
#include <string.h>

#include "gateway/gw_internal.h"

#define SLOTS (2 * GW__DEDUP_GEN) /* per generation; a power of two */

typedef struct {
    uint64_t a, b; /* 0, 0: empty; 0, 1: forgotten (keys have a != 0) */
} key_t_;

struct gw__dedup {
    pthread_mutex_t mu;
    key_t_ *gen[2]; /* gen[0] current */
    size_t count;
};

static key_t_ key_of(const uint8_t digest[32])
{
    key_t_ k;
    memcpy(&k.a, digest, 8);
    memcpy(&k.b, digest + 8, 8);
    k.a |= 1;
    return k;
}

/* The slot holding k, or (put) the empty slot where it went; NULL. */
static key_t_ *find_or_put(key_t_ *t, key_t_ k, bool put, bool *found)
{
    size_t i = (size_t)(k.a ^ (k.b >> 7)) & (SLOTS - 1);
    for (;; i = (i + 1) & (SLOTS - 1)) {
        if (t[i].a == k.a && t[i].b == k.b) {
            *found = true;
            return &t[i];
        }
        if (!t[i].a && !t[i].b) {
            *found = false;
            if (!put)
                return NULL;
            t[i] = k;
            return &t[i];
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

bool gw__dedup_seen(gw__dedup_t *d, const uint8_t digest[32])
{
    if (!d)
        return false;
    key_t_ k = key_of(digest);
    bool seen;
    pthread_mutex_lock(&d->mu);
    find_or_put(d->gen[1], k, false, &seen);
    if (!seen)
        find_or_put(d->gen[0], k, true, &seen);
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

void gw__dedup_forget(gw__dedup_t *d, const uint8_t digest[32])
{
    if (!d)
        return;
    key_t_ k = key_of(digest);
    bool found;
    pthread_mutex_lock(&d->mu);
    for (int g = 0; g < 2; g++) {
        key_t_ *slot = find_or_put(d->gen[g], k, false, &found);
        if (slot)
            *slot = (key_t_){0, 1}; /* a tombstone: probes go on past it */
    }
    pthread_mutex_unlock(&d->mu);
}

/* The digest of a stored event, as ocsf_ingest gave it. */
static int refill_cb(const col_record_t *r, void *ctx)
{
    void **c = ctx;
    uint8_t digest[32];
    if (ocsf_ingest_stored_digest(c[1], r->json, r->json_len, digest) == 0)
        gw__dedup_seen(c[0], digest);
    return 0;
}

void gw__dedup_refill(gw__dedup_t *d, col_t *col)
{
    col_filter_t f;
    uint64_t next;
    void *ctx[2] = {d, ocsf_checker_new()};
    col_filter_init(&f);
    f.limit = GW__DEDUP_GEN;
    col_query(col, &f, refill_cb, ctx, &next);
    ocsf_checker_free(ctx[1]);
}
