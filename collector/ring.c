/*
 * ring.c: the bounded multi-producer, single-consumer byte ring between the
 * producers and the writer thread (layout in col_internal.h).
 *
 * No lock on the hot path: one CAS to reserve, memcpy, one release store to
 * publish. The mutex and condvars are touched only when the writer sleeps
 * on an empty ring or a producer waits for room (when_full = block).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collector/col_internal.h"

#define COMMITTED (1ull << 63)
#define PAD       (1ull << 62)
#define LEN_MASK  0xffffffffull

static uint64_t align8(uint64_t n)
{
    return (n + 7) & ~7ull;
}

int col__ring_init(col__ring_t *r, uint64_t bytes)
{
    if (bytes < 4096 || (bytes & (bytes - 1)) != 0 || bytes > (1ull << 32))
        return -EINVAL;
    r->buf = calloc(1, bytes);
    if (!r->buf)
        return -ENOMEM;
    r->size = bytes;
    r->mask = bytes - 1;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    atomic_init(&r->consumer_waiting, 0);
    atomic_init(&r->producers_waiting, 0);
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->not_empty, &ca);
    pthread_cond_init(&r->not_full, &ca);
    pthread_condattr_destroy(&ca);
    return 0;
}

void col__ring_dispose(col__ring_t *r)
{
    free(r->buf);
    r->buf = NULL;
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->not_empty);
    pthread_cond_destroy(&r->not_full);
}

static _Atomic uint64_t *hdr_at(col__ring_t *r, uint64_t off)
{
    return (_Atomic uint64_t *)(void *)(r->buf + (off & r->mask));
}

static void deadline(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

/* Sleeps until the writer frees room (or 20 ms pass). */
static void wait_room(col__ring_t *r, uint64_t need_until)
{
    atomic_fetch_add(&r->producers_waiting, 1);
    pthread_mutex_lock(&r->mu);
    if (atomic_load(&r->tail) < need_until) {
        struct timespec ts;
        deadline(&ts, 20);
        pthread_cond_timedwait(&r->not_full, &r->mu, &ts);
    }
    pthread_mutex_unlock(&r->mu);
    atomic_fetch_sub(&r->producers_waiting, 1);
}

int col__ring_push(col__ring_t *r, const col__rec_t *rec, const void *data, size_t len, bool block,
                   bool *waited, uint64_t *ticket)
{
    uint64_t need = align8(8 + sizeof *rec + COL__RING_ROOM + len + 4);
    uint64_t h, pad, total;
    *waited = false;
    if (need > r->size / 2)
        return -EMSGSIZE;
    for (;;) {
        h = atomic_load_explicit(&r->head, memory_order_relaxed);
        uint64_t pos = h & r->mask;
        pad = pos + need > r->size ? r->size - pos : 0;
        total = pad + need;
        uint64_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (h + total - t > r->size) {
            if (!block)
                return -EAGAIN;
            *waited = true;
            wait_room(r, h + total - r->size);
            continue;
        }
        if (atomic_compare_exchange_weak_explicit(&r->head, &h, h + total, memory_order_relaxed,
                                                  memory_order_relaxed))
            break;
    }
    if (pad)
        atomic_store_explicit(hdr_at(r, h), COMMITTED | PAD | pad, memory_order_release);
    unsigned char *p = r->buf + ((h + pad) & r->mask);
    memcpy(p + 8, rec, sizeof *rec);
    memcpy(p + 8 + sizeof *rec + COL__RING_ROOM, data, len);
    atomic_store_explicit(hdr_at(r, h + pad), COMMITTED | need, memory_order_seq_cst);
    if (atomic_load_explicit(&r->consumer_waiting, memory_order_seq_cst)) {
        pthread_mutex_lock(&r->mu);
        pthread_cond_signal(&r->not_empty);
        pthread_mutex_unlock(&r->mu);
    }
    *ticket = h + total;
    return 0;
}

const col__rec_t *col__ring_peek_at(col__ring_t *r, uint64_t *off, unsigned char **data,
                                    uint64_t *ticket)
{
    for (;;) {
        uint64_t t = *off;
        /* a whole ring already taken: that slot is the tail's entry again */
        if (t - atomic_load_explicit(&r->tail, memory_order_relaxed) >= r->size)
            return NULL;
        uint64_t w = atomic_load_explicit(hdr_at(r, t), memory_order_acquire);
        if (!(w & COMMITTED))
            return NULL;
        if (w & PAD) { /* skip to the start of the ring */
            *off = t + (w & LEN_MASK);
            continue;
        }
        unsigned char *p = r->buf + (t & r->mask);
        *data = p + 8 + sizeof(col__rec_t) + COL__RING_ROOM;
        *ticket = t + (w & LEN_MASK);
        return (const col__rec_t *)(void *)(p + 8);
    }
}

const col__rec_t *col__ring_peek(col__ring_t *r, const unsigned char **data, uint64_t *ticket)
{
    uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    unsigned char *d;
    const col__rec_t *rec = col__ring_peek_at(r, &t, &d, ticket);
    if (rec)
        *data = d;
    return rec;
}

void col__ring_release_to(col__ring_t *r, uint64_t upto)
{
    uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    if (upto <= t)
        return;
    /* zero the whole range: a later header may land anywhere inside it */
    uint64_t pos = t & r->mask, n = upto - t;
    if (pos + n <= r->size) {
        memset(r->buf + pos, 0, n);
    } else {
        memset(r->buf + pos, 0, r->size - pos);
        memset(r->buf, 0, n - (r->size - pos));
    }
    atomic_store_explicit(&r->tail, upto, memory_order_release);
}

void col__ring_release(col__ring_t *r)
{
    uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    unsigned char *d;
    uint64_t ticket;
    if (col__ring_peek_at(r, &t, &d, &ticket))
        col__ring_release_to(r, ticket);
}

void col__ring_wait(col__ring_t *r, int64_t timeout_ms)
{
    if (timeout_ms <= 0)
        return;
    atomic_store_explicit(&r->consumer_waiting, 1, memory_order_seq_cst);
    pthread_mutex_lock(&r->mu);
    uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    if (!(atomic_load_explicit(hdr_at(r, t), memory_order_seq_cst) & COMMITTED)) {
        struct timespec ts;
        deadline(&ts, timeout_ms);
        pthread_cond_timedwait(&r->not_empty, &r->mu, &ts);
    }
    pthread_mutex_unlock(&r->mu);
    atomic_store_explicit(&r->consumer_waiting, 0, memory_order_relaxed);
}

void col__ring_wake_producers(col__ring_t *r)
{
    if (atomic_load(&r->producers_waiting) == 0)
        return;
    pthread_mutex_lock(&r->mu);
    pthread_cond_broadcast(&r->not_full);
    pthread_mutex_unlock(&r->mu);
}

uint64_t col__ring_used(col__ring_t *r)
{
    uint64_t h = atomic_load(&r->head), t = atomic_load(&r->tail);
    return h > t ? h - t : 0;
}
