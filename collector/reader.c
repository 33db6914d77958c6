/*
 * reader.c: col_read (forward from a sequence) and col_query (filter, then
 * the last `limit`). Readers snapshot the segment and block index under
 * the spool mutex, then read the files with pread, never holding the lock
 * while reading. They stop at the written sequence of when they started,
 * so a record being written is never seen half-way.
 *
 * Thread: any (the gateway calls these from the libuv threadpool).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "collector/col_internal.h"

#define QUERY_MAX_LIMIT 1000000

typedef struct {
    char path[4096];
    uint64_t first_seq, last_seq, bytes;
    int64_t min_time, max_time;
    col__block_t *blocks;
    size_t nblocks;
} snap_t;

static bool match(const col_filter_t *f, const col_record_t *r)
{
    if (f->since_ms != OCSF_NONE && r->time < f->since_ms)
        return false;
    if (f->until_ms != OCSF_NONE && r->time > f->until_ms)
        return false;
    if (f->sandbox[0] &&
        (strlen(f->sandbox) != r->sandbox_len || memcmp(f->sandbox, r->sandbox, r->sandbox_len)))
        return false;
    if (f->source && r->source != f->source)
        return false;
    if (f->class_uid && r->class_uid != f->class_uid)
        return false;
    if (f->action_id >= 0 && r->action_id != f->action_id)
        return false;
    return r->severity_id >= f->min_severity;
}

static bool time_overlaps(const col_filter_t *f, int64_t lo, int64_t hi)
{
    if (lo > hi) /* empty */
        return false;
    if (f->since_ms != OCSF_NONE && hi < f->since_ms)
        return false;
    return f->until_ms == OCSF_NONE || lo <= f->until_ms;
}

/* Copies the index of every segment that may hold seq in [from, upto]. */
static int snapshot(col_t *c, uint64_t from, uint64_t upto, snap_t **out, size_t *n)
{
    col__spool_t *sp = &c->sp;
    pthread_mutex_lock(&sp->mu);
    snap_t *v = calloc(sp->nsegs ? sp->nsegs : 1, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; v && i < sp->nsegs; i++) {
        const col__seg_t *g = &sp->segs[i];
        if (g->last_seq < from || g->first_seq > upto || g->last_seq < g->first_seq)
            continue;
        snap_t *s = &v[k];
        memcpy(s->path, g->path, sizeof s->path);
        s->first_seq = g->first_seq;
        s->last_seq = g->last_seq < upto ? g->last_seq : upto;
        s->min_time = g->min_time, s->max_time = g->max_time;
        s->blocks = malloc(g->nblocks * sizeof *s->blocks + 1);
        if (!s->blocks)
            break;
        memcpy(s->blocks, g->blocks, g->nblocks * sizeof *s->blocks);
        s->nblocks = g->nblocks;
        k++;
    }
    pthread_mutex_unlock(&sp->mu);
    if (!v)
        return -ENOMEM;
    *out = v;
    *n = k;
    return 0;
}

static void snapshot_free(snap_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].blocks);
    free(v);
}

/* Scans block range [b0, b1) of a segment; calls cb on matches with seq in
 * [from, upto]. *last gets the last sequence seen. */
static int scan_blocks(const snap_t *s, size_t b0, size_t b1, const col_filter_t *f, uint64_t from,
                       uint64_t upto, col_record_cb cb, void *ctx, uint64_t *last)
{
    uint64_t start = s->blocks[b0].off;
    uint64_t end = b1 < s->nblocks ? s->blocks[b1].off : UINT64_MAX;
    col__scan_t sc;
    int rc = col__scan_open(&sc, s->path, start, end);
    if (rc)
        return rc == -ENOENT ? 0 : rc; /* deleted by retention meanwhile */
    const unsigned char *p;
    col_record_t r;
    uint64_t off;
    bool torn;
    while ((rc = col__scan_next(&sc, false, &p, &r, &off, &torn)) == 1) {
        if (r.seq > upto) {
            rc = 0;
            break;
        }
        *last = r.seq;
        if (r.seq < from || !match(f, &r))
            continue;
        if ((rc = cb(&r, ctx)) != 0)
            break;
    }
    col__scan_close(&sc);
    return rc == -EBADMSG ? 0 : rc; /* a bad record ends the block; verify names it */
}

/* The first block that may hold seq >= from. */
static size_t block_for(const snap_t *s, uint64_t from)
{
    size_t lo = 0, hi = s->nblocks;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (s->blocks[mid].first_seq <= from)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

typedef struct {
    const col_filter_t *f;
    size_t max, count;
    col_record_cb cb;
    void *ctx;
} fwd_t;

#define STOP_MAX 0x7ff00001 /* internal: col_read's max was reached */

static int fwd_cb(const col_record_t *r, void *ctx)
{
    fwd_t *w = ctx;
    int rc = w->cb(r, w->ctx);
    if (rc)
        return rc;
    return ++w->count >= w->max && w->max ? STOP_MAX : 0;
}

int col_read(col_t *c, const col_filter_t *f, uint64_t from, size_t max, col_record_cb cb,
             void *ctx, uint64_t *next)
{
    uint64_t upto = col_written_seq(c);
    snap_t *v;
    size_t n;
    if (from == 0)
        from = 1;
    *next = from;
    if (from > upto)
        return 0;
    int rc = snapshot(c, from, upto, &v, &n);
    if (rc)
        return rc;
    fwd_t w = {f, max, 0, cb, ctx};
    uint64_t last = from - 1;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const snap_t *s = &v[i];
        if (!time_overlaps(f, s->min_time, s->max_time)) {
            last = s->last_seq;
            continue;
        }
        for (size_t b = block_for(s, from); b < s->nblocks && rc == 0; b++) {
            const col__block_t *bl = &s->blocks[b];
            if (bl->first_seq > upto)
                break;
            if (!time_overlaps(f, bl->min_time, bl->max_time)) {
                last = bl->first_seq + bl->count - 1;
                continue;
            }
            rc = scan_blocks(s, b, b + 1, f, from, upto, fwd_cb, &w, &last);
        }
    }
    snapshot_free(v, n);
    if (rc == 0) {
        *next = upto + 1;
        return 0;
    }
    *next = last + 1; /* stopped: go on after the last record delivered */
    return rc == STOP_MAX ? 0 : rc;
}

typedef struct {
    col_record_t *v; /* newest first; json and sandbox point into copies */
    size_t n, cap;
    size_t block_start; /* where the current block's matches begin */
} held_t;

static int hold_cb(const col_record_t *r, void *ctx)
{
    held_t *h = ctx;
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 256;
        col_record_t *nv = realloc(h->v, cap * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        h->v = nv, h->cap = cap;
    }
    char *copy = malloc(r->sandbox_len + r->json_len + 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, r->sandbox, r->sandbox_len);
    memcpy(copy + r->sandbox_len, r->json, r->json_len);
    col_record_t *d = &h->v[h->n++];
    *d = *r;
    d->sandbox = copy;
    d->json = copy + r->sandbox_len;
    return 0;
}

/* The matches of one block were appended oldest first: reverse them so the
 * whole array stays newest first. */
static void reverse_block(held_t *h)
{
    for (size_t i = h->block_start, j = h->n; i + 1 < j; i++, j--) {
        col_record_t t = h->v[i];
        h->v[i] = h->v[j - 1];
        h->v[j - 1] = t;
    }
    h->block_start = h->n;
}

int col_query(col_t *c, const col_filter_t *f, col_record_cb cb, void *ctx, uint64_t *next)
{
    uint64_t upto = col_written_seq(c), dummy;
    *next = upto + 1;
    if (f->limit == 0)
        return col_read(c, f, 1, 0, cb, ctx, &dummy);
    size_t limit = f->limit < QUERY_MAX_LIMIT ? f->limit : QUERY_MAX_LIMIT;
    snap_t *v;
    size_t n;
    int rc = snapshot(c, 1, upto, &v, &n);
    if (rc)
        return rc;
    held_t h = {0};
    for (size_t i = n; i-- > 0 && rc == 0 && h.n < limit;) {
        const snap_t *s = &v[i];
        if (!time_overlaps(f, s->min_time, s->max_time))
            continue;
        for (size_t b = s->nblocks; b-- > 0 && rc == 0 && h.n < limit;) {
            const col__block_t *bl = &s->blocks[b];
            if (bl->first_seq > upto || !time_overlaps(f, bl->min_time, bl->max_time))
                continue;
            uint64_t last;
            rc = scan_blocks(s, b, b + 1, f, 1, upto, hold_cb, &h, &last);
            reverse_block(&h);
        }
    }
    snapshot_free(v, n);
    size_t take = h.n < limit ? h.n : limit;
    for (size_t k = take; k-- > 0 && rc == 0;)
        rc = cb(&h.v[k], ctx);
    for (size_t k = 0; k < h.n; k++)
        free((void *)h.v[k].sandbox);
    free(h.v);
    return rc;
}
