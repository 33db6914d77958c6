/*
 * collector.c: col_append (producers), the writer thread (drain the ring,
 * assign sequences, write with one pwritev per batch, hand the fsyncs to the
 * syncer (syncer.c), rotate), durability waits, listeners, drops and their
 * reports, stats.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "collector/col_internal.h"

#define BATCH_MAX 8192

void col_filter_init(col_filter_t *f)
{
    memset(f, 0, sizeof *f);
    f->since_ms = f->until_ms = OCSF_NONE;
    f->action_id = -1;
}

int col__source_of(ocsf_str_t log_name)
{
    if (ocsf_str_eq(log_name, OCSF_STR("gateway")))
        return COL_SRC_GATEWAY;
    if (ocsf_str_eq(log_name, OCSF_STR("sandbox")))
        return COL_SRC_SANDBOX;
    return COL_SRC_ANY;
}

/* 16 random bytes for a UUID, from a per-thread pool refilled by
 * getrandom() (one syscall per 256 ids). */
static void random16(uint8_t out[16])
{
    static _Thread_local uint8_t pool[4096];
    static _Thread_local size_t left;
    if (left < 16) {
        size_t got = 0;
        while (got < sizeof pool) {
            ssize_t r = getrandom(pool + got, sizeof pool - got, 0);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                abort(); /* no entropy source: nothing sane to do */
            got += (size_t)r;
        }
        left = sizeof pool;
    }
    memcpy(out, pool + sizeof pool - left, 16);
    left -= 16;
}

/* Each producer thread encodes into its own buffer (freed at thread exit). */
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void tls_free(void *p)
{
    ocsf_buf_dispose(p);
    free(p);
}

static void tls_init(void)
{
    pthread_key_create(&tls_key, tls_free);
}

static ocsf_buf_t *tls_buf(void)
{
    pthread_once(&tls_once, tls_init);
    ocsf_buf_t *b = pthread_getspecific(tls_key);
    if (!b) {
        b = malloc(sizeof *b);
        if (!b)
            abort();
        ocsf_buf_init(b);
        pthread_setspecific(tls_key, b);
    }
    return b;
}

/* Encodes ev into rec + b (sandbox bytes, then the JSON without logged_time
 * and sequence). Returns 0 or -EINVAL with err. */
static int make_rec(ocsf_event_t *ev, col__rec_t *rec, ocsf_buf_t *b, char *err, size_t errlen)
{
    char scratch[8];
    size_t at[2];
    if (!ev->uid[0]) {
        uint8_t rnd[16];
        random16(rnd);
        ocsf_uuid_v4(rnd, ev->uid);
    }
    size_t sn = ev->container_name.p ? ev->container_name.n : 0;
    memset(rec, 0, sizeof *rec);
    rec->sandbox_len = (uint8_t)(sn > 255 ? 255 : sn);
    b->len = 0;
    ocsf_buf_put(b, ev->container_name.p, rec->sandbox_len);
    int rc = ocsf_encode_deferred(ev, b, at, err ? err : scratch, err ? errlen : sizeof scratch);
    if (rc)
        return rc;
    if (b->len > COL__JSON_MAX) {
        if (err)
            snprintf(err, errlen, "event of %zu bytes is over the %u byte limit", b->len,
                     COL__JSON_MAX);
        return -EINVAL;
    }
    rec->json_len = (uint32_t)(b->len - rec->sandbox_len);
    rec->at[0] = (uint32_t)at[0];
    rec->at[1] = (uint32_t)at[1];
    rec->time = ev->time;
    rec->class_uid = (uint32_t)ev->class_uid;
    rec->severity = (uint8_t)(ev->severity_id < 0 || ev->severity_id > 254 ? 0 : ev->severity_id);
    rec->action = (uint8_t)(ev->action_id >= 0 && ev->action_id < 255 ? ev->action_id : 255);
    rec->source = (uint8_t)col__source_of(ev->log_name);
    return 0;
}

/* Pushes a record (b: sandbox bytes, then the JSON) into the ring and
 * counts the outcome; the return of col_append. */
static int push(col_t *c, const col__rec_t *rec, ocsf_buf_t *b, uint64_t *ticket, char *err,
                size_t errlen)
{
    uint64_t t;
    bool waited;
    int rc = col__ring_push(&c->ring, rec, b->p, b->len, c->cfg.when_full == COL_FULL_BLOCK,
                            &waited, &t);
    if (b->cap > (1u << 20)) /* do not keep a huge event's buffer */
        ocsf_buf_dispose(b);
    if (waited)
        atomic_fetch_add_explicit(&c->blocked, 1, memory_order_relaxed);
    if (rc == -EMSGSIZE) {
        snprintf(err, errlen, "event larger than half the ring (ring.bytes)");
        atomic_fetch_add_explicit(&c->encode_errors, 1, memory_order_relaxed);
        return -EINVAL;
    }
    if (rc) {
        atomic_fetch_add_explicit(&c->dropped, 1, memory_order_relaxed);
        return rc;
    }
    atomic_fetch_add_explicit(&c->appended, 1, memory_order_relaxed);
    if (ticket)
        *ticket = t;
    return 0;
}

int col_append(col_t *c, ocsf_event_t *ev, uint64_t *ticket, char *err, size_t errlen)
{
    col__rec_t rec;
    if (atomic_load_explicit(&c->stopping, memory_order_relaxed))
        return -ESHUTDOWN;
    ocsf_buf_t *b = tls_buf();
    if (make_rec(ev, &rec, b, err, errlen) != 0) {
        atomic_fetch_add_explicit(&c->encode_errors, 1, memory_order_relaxed);
        return -EINVAL;
    }
    return push(c, &rec, b, ticket, err, errlen);
}

int col_append_raw(col_t *c, const ocsf_ingest_t *in, uint64_t *ticket, char *err, size_t errlen)
{
    col__rec_t rec;
    if (atomic_load_explicit(&c->stopping, memory_order_relaxed))
        return -ESHUTDOWN;
    size_t sn = in->sandbox.p ? in->sandbox.n : 0;
    if (in->len > COL__JSON_MAX || in->at > in->len) {
        snprintf(err, errlen, "event of %zu bytes is over the %u byte limit", in->len,
                 COL__JSON_MAX);
        atomic_fetch_add_explicit(&c->encode_errors, 1, memory_order_relaxed);
        return -EINVAL;
    }
    memset(&rec, 0, sizeof rec);
    rec.sandbox_len = (uint8_t)(sn > 255 ? 255 : sn);
    rec.json_len = (uint32_t)in->len;
    rec.at[0] = rec.at[1] = (uint32_t)in->at;
    rec.time = in->time;
    rec.class_uid = (uint32_t)(in->class_uid < 0 ? 0 : in->class_uid);
    rec.severity = (uint8_t)(in->severity_id < 0 || in->severity_id > 254 ? 0 : in->severity_id);
    rec.action = (uint8_t)(in->action_id >= 0 && in->action_id < 255 ? in->action_id : 255);
    rec.source = (uint8_t)(col__source_of(in->log_name) | (in->repaired ? COL__SRC_REPAIRED : 0));
    ocsf_buf_t *b = tls_buf();
    b->len = 0;
    ocsf_buf_put(b, in->sandbox.p, rec.sandbox_len);
    ocsf_buf_put(b, in->json, in->len);
    return push(c, &rec, b, ticket, err, errlen);
}

uint64_t col_durable_ticket(const col_t *c)
{
    return atomic_load_explicit(&((col_t *)c)->durable_ticket, memory_order_acquire);
}

uint64_t col_written_seq(const col_t *c)
{
    return atomic_load_explicit(&((col_t *)c)->written_seq, memory_order_acquire);
}

int col_wait_durable(col_t *c, uint64_t ticket, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t end = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + timeout_ms;
    int rc = 0;
    pthread_mutex_lock(&c->dmu);
    while (col_durable_ticket(c) < ticket) {
        if (atomic_load(&c->stopping) && !c->writer_started) {
            rc = -ESHUTDOWN;
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        if (timeout_ms >= 0 && now >= end) {
            rc = -ETIMEDOUT;
            break;
        }
        int64_t wait = timeout_ms >= 0 && end - now < 100 ? end - now : 100;
        ts.tv_sec += wait / 1000;
        ts.tv_nsec += (wait % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000)
            ts.tv_sec++, ts.tv_nsec -= 1000000000;
        pthread_cond_timedwait(&c->dcond, &c->dmu, &ts);
    }
    pthread_mutex_unlock(&c->dmu);
    return rc;
}

int col_subscribe(col_t *c, col_notify_cb cb, void *ctx)
{
    int rc = -ENOSPC;
    pthread_mutex_lock(&c->lmu);
    for (int i = 0; i < COL__MAX_LISTENERS; i++) {
        if (!c->listeners[i].cb) {
            c->listeners[i].cb = cb;
            c->listeners[i].ctx = ctx;
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&c->lmu);
    return rc;
}

void col_unsubscribe(col_t *c, col_notify_cb cb, void *ctx)
{
    pthread_mutex_lock(&c->lmu);
    for (int i = 0; i < COL__MAX_LISTENERS; i++)
        if (c->listeners[i].cb == cb && c->listeners[i].ctx == ctx)
            c->listeners[i].cb = NULL, c->listeners[i].ctx = NULL;
    pthread_mutex_unlock(&c->lmu);
}

void col__notify(col_t *c)
{
    pthread_mutex_lock(&c->dmu);
    pthread_cond_broadcast(&c->dcond);
    pthread_mutex_unlock(&c->dmu);
    pthread_mutex_lock(&c->lmu);
    for (int i = 0; i < COL__MAX_LISTENERS; i++)
        if (c->listeners[i].cb)
            c->listeners[i].cb(c->listeners[i].ctx);
    pthread_mutex_unlock(&c->lmu);
}

/* A CONFIG event of the collector itself, added by the writer thread (or
 * before it starts): it gets a sequence but no ticket. */
static void self_event(col_t *c, const char *state, int severity, const char *msg)
{
    ocsf_event_t ev;
    int64_t now = col__now_ms();
    ocsf_event_init(&ev);
    ocsf_event_begin(&ev, OCSF_CLASS_CONFIG, OCSF_CONFIG_LOG, severity, now, &c->cfg.product);
    ev.state_id = OCSF_OTHER;
    ev.state_other = ocsf_str(state);
    ev.message = ocsf_str(msg);
    ev.status_id = severity >= OCSF_SEV_MEDIUM ? OCSF_STATUS_FAILURE : OCSF_STATUS_SUCCESS;
    ev.log_name = OCSF_STR("gateway");
    ev.device_hostname = c->cfg.hostname.p ? c->cfg.hostname : OCSF_STR("localhost");
    ev.device_type_id = 0;
    col__add_own(c, &ev);
}

void col__add_own(col_t *c, ocsf_event_t *ev)
{
    col__rec_t rec;
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    if (make_rec(ev, &rec, &b, NULL, 0) == 0)
        col__spool_add_copy(&c->sp, &rec, (const unsigned char *)b.p, col__now_ms());
    ocsf_buf_dispose(&b);
}

int64_t col__mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define CAP_SLACK (64 << 10) /* room needed under spool.max_bytes to take events again */

typedef struct {
    uint64_t ring_pos;       /* where the next drain peeks (entries before it are in the batch) */
    uint64_t pending_ticket; /* ticket of the last record added */
    uint64_t written_ticket; /* ... and written */
    bool failing;            /* the last write failed: stop draining */
    bool cap_hit;            /* drain stopped at spool.max_bytes: run retention now */
    int64_t last_sync, next_drop_report, next_error_report, next_retention;
} wstate_t;

static void report_error(col_t *c, wstate_t *w, const char *what, int rc)
{
    atomic_fetch_add(&c->write_errors, 1);
    int64_t now = col__mono_ms();
    if (now < w->next_error_report)
        return;
    w->next_error_report = now + COL__ERROR_REPORT_MS;
    fprintf(stderr, "[collector:writer] %s in %s failed: %s; retrying, nothing is dropped\n", what,
            c->spool_dir, strerror(-rc));
}

void col__publish_durable(col_t *c, uint64_t ticket)
{
    uint64_t cur = atomic_load_explicit(&c->durable_ticket, memory_order_relaxed);
    while (cur < ticket &&
           !atomic_compare_exchange_weak_explicit(&c->durable_ticket, &cur, ticket,
                                                  memory_order_release, memory_order_relaxed))
        ;
}

/* Takes up to COL__BATCH_RECS records from the ring into the write batch;
 * they stay in the ring (the batch is written from there) until the write
 * succeeds (commit releases them). */
static size_t drain(col_t *c, wstate_t *w)
{
    size_t n = 0;
    const col__rec_t *r;
    unsigned char *data;
    uint64_t ticket;
    int64_t lt = col__now_ms();
    const col__seg_t *g = &c->sp.segs[c->sp.nsegs - 1];
    bool stopping = atomic_load(&c->stopping);
    while (!w->failing && (!atomic_load(&c->full) || stopping) && c->sp.npend < COL__BATCH_RECS &&
           (int64_t)(g->bytes + c->sp.wlen) < c->cfg.segment_bytes &&
           (r = col__ring_peek_at(&c->ring, &w->ring_pos, &data, &ticket))) {
        if (c->cfg.max_bytes > 0 && !stopping &&
            (int64_t)(c->sp.total_bytes + c->sp.wlen + r->json_len) > c->cfg.max_bytes) {
            w->cap_hit = true; /* make room first, or say the spool is full */
            break;
        }
        col__spool_add(&c->sp, r, data, lt);
        w->pending_ticket = ticket;
        w->ring_pos = ticket;
        n++;
        /* a checkpoint is due: commit and sign first, so checkpoints fall
         * every spool.checkpoint_events events however big the drain */
        if (c->signer && (int64_t)(c->sp.next_seq - 1 - c->ckpt_seq) >= c->cfg.checkpoint_events)
            break;
    }
    /* the batch is empty but the peek skipped a padding entry: release it,
     * so col__ring_wait sleeps on the next entry instead of spinning on it */
    if (c->sp.npend == 0 && w->ring_pos > atomic_load(&c->ring.tail))
        col__ring_release_to(&c->ring, w->ring_pos);
    uint64_t dropped = atomic_load(&c->dropped);
    if (dropped > c->drops_reported && col__mono_ms() >= w->next_drop_report) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "%llu events dropped: the spool could not keep up (spool.when_full = "
                 "drop_newest)",
                 (unsigned long long)(dropped - c->drops_reported));
        self_event(c, "dropped", OCSF_SEV_HIGH, msg);
        c->drops_reported = dropped;
        w->next_drop_report = col__mono_ms() + c->cfg.drop_report_ms;
    }
    return n;
}

/* write, hand the fsync to the syncer (or publish, fsync = never), rotate;
 * true when something was published */
static bool commit(col_t *c, wstate_t *w)
{
    bool progressed = false;
    char err[256];
    if (c->sync_fd < 0)
        col__sync_rotated(c, false, 0); /* the dup at the last rotation failed: again */
    if (c->sp.wlen) {
        int rc = col__spool_flush(&c->sp);
        w->failing = rc != 0;
        if (rc) {
            report_error(c, w, "write", rc);
            return false;
        }
        if (w->pending_ticket > w->written_ticket) {
            col__ring_release_to(&c->ring, w->pending_ticket);
            /* producers waiting for room are woken once half the ring is free
             * (any entry fits then, and the ring keeps a backlog): one wake-up
             * per half ring, not per batch */
            if (col__ring_used(&c->ring) <= c->ring.size / 2)
                col__ring_wake_producers(&c->ring);
        }
        atomic_store_explicit(&c->written_seq, c->sp.next_seq - 1, memory_order_release);
        w->written_ticket = w->pending_ticket;
        if (c->cfg.fsync == COL_FSYNC_NEVER) {
            col__publish_durable(c, w->written_ticket);
        } else {
            col__sync_written(c, w->written_ticket);
        }
        progressed = true;
    }
    const col__seg_t *g = &c->sp.segs[c->sp.nsegs - 1];
    if ((int64_t)g->bytes >= c->cfg.segment_bytes && col__seal_wait(c, 100)) {
        /* the syncer seals the full segment (fdatasync, then the new
         * header and the directory) while the writer goes on in the new
         * one; without the syncer's dup of it, the writer seals it here */
        size_t before = c->sp.nsegs;
        bool here = c->sync_fd < 0;
        if (col__spool_maybe_rotate(&c->sp, here, err, sizeof err) != 0) {
            report_error(c, w, "rotate", -EIO);
        } else if (c->sp.nsegs != before) {
            if (here) {
                atomic_fetch_add(&c->fsyncs, 1);
                if (c->cfg.fsync != COL_FSYNC_NEVER)
                    col__publish_durable(c, w->written_ticket);
            }
            col__sync_rotated(c, !here, w->written_ticket);
            progressed = true;
        }
    }
    if (col__mono_ms() >= w->next_retention || atomic_load(&c->full) || w->cap_hit) {
        col__retention_t r = {c->cfg.retention_bytes, c->cfg.retention_age_ms, c->cfg.max_bytes,
                              atomic_load(&c->floor)};
        col__spool_retention(&c->sp, &r, col__now_ms());
        w->next_retention = col__mono_ms() + 1000;
        /* full once a drain hit the cap and retention could not make room;
         * not full again only with room to spare (no flapping) */
        bool over =
            c->cfg.max_bytes > 0 && (int64_t)c->sp.total_bytes + CAP_SLACK > c->cfg.max_bytes;
        bool full = atomic_load(&c->full) ? over : w->cap_hit && over;
        w->cap_hit = false;
        if (full != atomic_load(&c->full)) {
            char msg[256];
            snprintf(msg, sizeof msg,
                     full ? "spool full: %llu bytes, at spool.max_bytes, held for an exporter "
                            "that has not delivered sequence %llu; new events %s"
                          : "spool below spool.max_bytes again (%llu bytes; exporter floor "
                            "%llu): taking events%s",
                     (unsigned long long)c->sp.total_bytes,
                     (unsigned long long)atomic_load(&c->floor),
                     full ? (c->cfg.when_full == COL_FULL_BLOCK ? "wait (spool.when_full = block)"
                                                                : "are dropped and counted "
                                                                  "(spool.when_full = "
                                                                  "drop_newest)")
                          : "");
            fprintf(stderr, "[collector:writer] %s\n", msg);
            self_event(c, full ? "full" : "not_full", full ? OCSF_SEV_HIGH : OCSF_SEV_INFO, msg);
            atomic_store(&c->full, full);
            progressed = true;
        }
    }
    atomic_store(&c->spool_bytes, c->sp.total_bytes);
    atomic_store(&c->segments, c->sp.nsegs);
    return progressed;
}

static void *writer_main(void *arg)
{
    col_t *c = arg;
    pthread_setname_np(pthread_self(), "tg-col-writer");
    wstate_t w = {.next_drop_report = col__mono_ms()};
    w.ring_pos = atomic_load(&c->ring.tail);
    w.written_ticket = w.pending_ticket = w.ring_pos;
    for (;;) {
        size_t n = drain(c, &w);
        if (commit(c, &w))
            col__notify(c);
        bool done = atomic_load(&c->stopping) && col__ring_used(&c->ring) == 0 && c->sp.wlen == 0 &&
                    col_durable_ticket(c) >= w.written_ticket;
        if (col__checkpoint_tick(c, done)) /* at a clean stop: the last one, and the witness */
            col__notify(c);
        if (done)
            break;
        if (n == 0 || w.failing) {
            int64_t wait = 200;
            if (w.failing)
                wait = 100;
            if (atomic_load(&c->stopping))
                wait = w.failing ? 100 : 1;
            col__ring_wait(&c->ring, wait > 0 ? wait : 1);
        }
    }
    return NULL;
}

int col_create(const col_config_t *cfg, col_t **out, char *err, size_t errlen)
{
    col_t *c = calloc(1, sizeof *c);
    uint64_t cut = 0;
    int rc;
    if (!c)
        return -ENOMEM;
    c->cfg = *cfg;
    atomic_init(&c->floor, UINT64_MAX);
    if (!cfg->spool_dir || strlen(cfg->spool_dir) >= sizeof c->spool_dir) {
        snprintf(err, errlen, "spool directory: missing or longer than %d bytes", COL__DIR_MAX - 1);
        free(c);
        return -ENAMETOOLONG;
    }
    snprintf(c->spool_dir, sizeof c->spool_dir, "%s", cfg->spool_dir ? cfg->spool_dir : "");
    c->cfg.spool_dir = c->spool_dir;
    pthread_mutex_init(&c->dmu, NULL);
    pthread_mutex_init(&c->lmu, NULL);
    pthread_mutex_init(&c->smu, NULL);
    c->sync_fd = -1;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->dcond, &ca);
    pthread_cond_init(&c->scond, &ca);
    pthread_cond_init(&c->sealed, &ca);
    pthread_condattr_destroy(&ca);
    c->seal_fd = -1;
    if ((rc = col__ring_init(&c->ring, (uint64_t)cfg->ring_bytes)) != 0) {
        snprintf(err, errlen, "ring.bytes %lld: must be a power of two from 4096 to 4 GiB",
                 (long long)cfg->ring_bytes);
        goto fail_ring;
    }
    if ((rc = col__mac_for_spool(c->spool_dir, true, &c->mac, err, errlen)) != 0)
        goto fail_spool;
    if (cfg->checkpoints && (rc = col__signer_open(c, err, errlen)) != 0)
        goto fail_spool;
    rc = col__spool_open(&c->sp, c->spool_dir, cfg->segment_bytes, &c->mac, &cut, err, errlen);
    if (rc)
        goto fail_thread;
    if ((rc = col__witness_start(c, err, errlen)) != 0)
        goto fail_thread;
    if (cut) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "spool recovered: a torn or corrupt tail of %llu bytes was cut (kept in "
                 "quarantine-*.bin)",
                 (unsigned long long)cut);
        self_event(c, "recovered", OCSF_SEV_MEDIUM, msg);
        atomic_store(&c->recovered_cut, cut);
    }
    if ((rc = col__spool_flush(&c->sp)) || (rc = col__spool_sync(&c->sp))) {
        snprintf(err, errlen, "write %s: %s", c->spool_dir, strerror(-rc));
        goto fail_thread;
    }
    if ((rc = col__witness_write(c->spool_dir, &c->mac, c->sp.next_seq - 1, c->sp.chain, err,
                                 errlen)) != 0)
        goto fail_thread;
    c->ckpt_seq = c->sp.next_seq - 1;
    atomic_store(&c->written_seq, c->sp.next_seq - 1);
    atomic_store(&c->spool_bytes, c->sp.total_bytes);
    atomic_store(&c->segments, c->sp.nsegs);
    c->sync_fd = fcntl(c->sp.fd, F_DUPFD_CLOEXEC, 0);
    if (c->sync_fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "dup: %s", strerror(-rc));
        goto fail_thread;
    }
    if ((rc = -pthread_create(&c->syncer, NULL, col__syncer_main, c))) {
        snprintf(err, errlen, "syncer thread: %s", strerror(-rc));
        close(c->sync_fd);
        goto fail_thread;
    }
    c->syncer_started = true;
    if ((rc = -pthread_create(&c->writer, NULL, writer_main, c))) {
        snprintf(err, errlen, "writer thread: %s", strerror(-rc));
        col__stop_syncer(c);
        goto fail_thread;
    }
    c->writer_started = true;
    *out = c;
    return 0;
fail_thread:
    col__spool_close(&c->sp);
fail_spool:
    col__signer_close(c);
    col__mac_dispose(&c->mac);
    col__ring_dispose(&c->ring);
fail_ring:
    pthread_mutex_destroy(&c->dmu);
    pthread_mutex_destroy(&c->lmu);
    pthread_mutex_destroy(&c->smu);
    pthread_cond_destroy(&c->dcond);
    pthread_cond_destroy(&c->scond);
    pthread_cond_destroy(&c->sealed);
    free(c);
    return rc;
}

void col_destroy(col_t *c)
{
    if (!c)
        return;
    atomic_store(&c->stopping, true);
    pthread_mutex_lock(&c->smu);
    pthread_cond_signal(&c->scond); /* fsync what is written now */
    pthread_mutex_unlock(&c->smu);
    if (c->writer_started) {
        pthread_mutex_lock(&c->ring.mu);
        pthread_cond_signal(&c->ring.not_empty);
        pthread_mutex_unlock(&c->ring.mu);
        pthread_join(c->writer, NULL);
        c->writer_started = false;
    }
    col__stop_syncer(c);
    col__notify(c);
    col__ring_dispose(&c->ring);
    col__spool_close(&c->sp);
    col__signer_close(c);
    col__mac_dispose(&c->mac);
    pthread_mutex_destroy(&c->dmu);
    pthread_mutex_destroy(&c->lmu);
    pthread_mutex_destroy(&c->smu);
    pthread_cond_destroy(&c->dcond);
    pthread_cond_destroy(&c->scond);
    pthread_cond_destroy(&c->sealed);
    free(c);
}

void col_set_retention_floor(col_t *c, uint64_t floor)
{
    atomic_store(&c->floor, floor);
}

uint64_t col_first_seq(col_t *c)
{
    pthread_mutex_lock(&c->sp.mu);
    uint64_t first = c->sp.nsegs ? c->sp.segs[0].first_seq : 0;
    pthread_mutex_unlock(&c->sp.mu);
    return first;
}

void col_stats(col_t *c, col_stats_t *st)
{
    memset(st, 0, sizeof *st);
    st->appended = atomic_load(&c->appended);
    st->dropped = atomic_load(&c->dropped);
    st->encode_errors = atomic_load(&c->encode_errors);
    st->ring_used = col__ring_used(&c->ring);
    st->ring_bytes = c->ring.size;
    st->written_seq = col_written_seq(c);
    st->durable_ticket = col_durable_ticket(c);
    st->spool_bytes = atomic_load(&c->spool_bytes);
    st->segments = atomic_load(&c->segments);
    st->fsyncs = atomic_load(&c->fsyncs);
    st->blocked = atomic_load(&c->blocked);
    st->recovered_bytes_cut = atomic_load(&c->recovered_cut);
    st->retention_floor = atomic_load(&c->floor);
    st->full = atomic_load(&c->full);
}
