/*
 * syncer.c: the collector's syncer thread. The writer (collector.c) writes;
 * the syncer makes it durable per spool.fsync (fdatasync, early writeback
 * with sync_file_range), seals a full segment at rotation (the old one whole
 * on disk, the new header, the directory) before anything of the new one is
 * acknowledged, writes the checkpoint witness after the fsync that covers
 * it, and publishes durable_ticket. The writer never waits on the disk.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "collector/col_internal.h"


static void sync_error(col_t *c, int64_t *next_report, const char *what, int rc)
{
    atomic_fetch_add(&c->write_errors, 1);
    int64_t now = col__mono_ms();
    if (now < *next_report)
        return;
    *next_report = now + COL__ERROR_REPORT_MS;
    fprintf(stderr, "[collector:syncer] %s in %s failed: %s; retrying, nothing is dropped\n", what,
            c->spool_dir, strerror(-rc));
}

#define KICK_BYTES (4u << 20) /* start writeback every 4 MiB written (sync_file_range) */

/* Where writeback may start up to: a 64 KiB boundary below the end, so the
 * page the writer appends to next is not under writeback (its next write
 * would wait for the disk). smu held. */
static uint64_t kick_to(const col_t *c)
{
    uint64_t to = c->sync_off & ~(uint64_t)0xffff;
    return to >= c->sync_kicked + KICK_BYTES ? to : 0;
}

static void timed_wait(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000)
        ts.tv_sec++, ts.tv_nsec -= 1000000000;
    pthread_cond_timedwait(cv, mu, &ts);
}

/* fdatasync of what the writer wrote, per spool.fsync, then durable_ticket
 * and the waiters; the writer goes on writing meanwhile. Between fsyncs
 * (interval), writeback of every KICK_BYTES written is started early so the
 * disk works while the writer writes and the fsync only waits for the tail. */
void *col__syncer_main(void *arg)
{
    col_t *c = arg;
    pthread_setname_np(pthread_self(), "tg-col-syncer");
    int64_t last_sync = col__mono_ms(), next_report = 0;
    bool never = c->cfg.fsync == COL_FSYNC_NEVER;
    pthread_mutex_lock(&c->smu);
    for (;;) {
        for (size_t i = 0; i < c->nsync_close; i++)
            close(c->sync_close[i]);
        c->nsync_close = 0;
        uint64_t want = c->sync_ticket;
        bool stop = c->sync_stop || atomic_load(&c->stopping);
        if (c->seal_pending) {
            /* a rotation: the sealed segment whole on disk, then the new
             * one's header and its directory entry; only then anything of
             * the new segment is acknowledged (recovery: spool.c seam_check) */
            int ofd = c->seal_fd, nfd = c->sync_fd;
            uint64_t sealed = c->seal_ticket, off = c->sync_off;
            int64_t now = col__mono_ms();
            pthread_mutex_unlock(&c->smu);
            int rc = col__fdatasync(ofd) == 0 ? 0 : -errno;
            if (rc == 0 && !never)
                col__publish_durable(c, sealed);
            if (rc == 0)
                rc = nfd < 0 ? -EBADF : col__fdatasync(nfd) == 0 ? 0 : -errno;
            if (rc == 0)
                rc = col__fsync_dir(c->spool_dir);
            if (rc == 0) {
                atomic_fetch_add(&c->fsyncs, 1);
                if (!never)
                    col__publish_durable(c, want);
            } else {
                sync_error(c, &next_report, "segment seal (fsync)", rc);
            }
            col__notify(c);
            pthread_mutex_lock(&c->smu);
            c->seal_rc = rc;
            if (rc == 0) {
                close(ofd);
                c->seal_fd = -1;
                c->seal_pending = false;
                last_sync = now;
                if (c->sync_fd == nfd && off > c->sync_kicked)
                    c->sync_kicked = off;
            }
            pthread_cond_broadcast(&c->sealed);
            if (rc)
                timed_wait(&c->scond, &c->smu, 100);
            continue;
        }
        if (c->wit_pending) {
            /* a checkpoint: the witness only after an fdatasync that covers
             * it (it never names a record a crash could take) */
            uint64_t wseq = c->wit_seq, off = c->sync_off;
            unsigned char wh[32];
            memcpy(wh, c->wit_head, 32);
            int fd = c->sync_fd;
            int64_t now = col__mono_ms();
            c->wit_pending = false;
            c->wit_busy = true;
            pthread_mutex_unlock(&c->smu);
            char werr[300];
            int rc = fd < 0 ? -EBADF : col__fdatasync(fd) == 0 ? 0 : -errno;
            if (rc == 0) {
                atomic_fetch_add(&c->fsyncs, 1);
                if (!never)
                    col__publish_durable(c, want);
                col__notify(c);
                rc = col__witness_write(c->spool_dir, &c->mac, wseq, wh, werr, sizeof werr);
                if (rc)
                    fprintf(stderr, "[collector:syncer] checkpoint in %s: %s\n", c->spool_dir,
                            werr);
            } else {
                sync_error(c, &next_report, "fdatasync", rc);
            }
            pthread_mutex_lock(&c->smu);
            c->wit_busy = false;
            if (rc == 0) {
                last_sync = now;
                if (c->sync_fd == fd && off > c->sync_kicked)
                    c->sync_kicked = off;
            }
            pthread_cond_broadcast(&c->sealed);
            continue;
        }
        if (never || want <= col_durable_ticket(c)) {
            if (c->sync_stop)
                break;
            timed_wait(&c->scond, &c->smu, 200);
            continue;
        }
        int64_t now = col__mono_ms();
        int64_t left = c->cfg.fsync_interval_ms - (now - last_sync);
        int fd = c->sync_fd;
        uint64_t off = c->sync_off;
        if (c->cfg.fsync == COL_FSYNC_ALWAYS || stop || left <= 0) {
            pthread_mutex_unlock(&c->smu);
            /* fd < 0: the writer could not dup the new segment (it retries) */
            int rc = fd < 0 ? -EBADF : col__fdatasync(fd) == 0 ? 0 : -errno;
            if (rc == 0) {
                atomic_fetch_add(&c->fsyncs, 1);
                col__publish_durable(c, want);
                col__notify(c);
            } else {
                sync_error(c, &next_report, "fdatasync", rc);
            }
            pthread_mutex_lock(&c->smu);
            last_sync = now;
            if (rc == 0 && c->sync_fd == fd && off > c->sync_kicked)
                c->sync_kicked = off;
            else if (rc)
                timed_wait(&c->scond, &c->smu, 100);
            continue;
        }
        if (kick_to(c) && fd >= 0) {
            uint64_t from = c->sync_kicked, to = kick_to(c);
            c->sync_kicked = to;
            pthread_mutex_unlock(&c->smu);
            sync_file_range(fd, (off64_t)from, (off64_t)(to - from), SYNC_FILE_RANGE_WRITE);
            pthread_mutex_lock(&c->smu);
            continue;
        }
        timed_wait(&c->scond, &c->smu, left);
    }
    pthread_mutex_unlock(&c->smu);
    return NULL;
}

/* Writer: what is written now, for the syncer. */
void col__sync_written(col_t *c, uint64_t ticket)
{
    pthread_mutex_lock(&c->smu);
    c->sync_ticket = ticket;
    c->sync_off = c->sp.segs[c->sp.nsegs - 1].bytes;
    if (c->cfg.fsync == COL_FSYNC_ALWAYS || kick_to(c) || atomic_load(&c->stopping))
        pthread_cond_signal(&c->scond);
    pthread_mutex_unlock(&c->smu);
}

/* Writer, after a rotation: the syncer follows the new segment; seal: it
 * seals the one before first (seal_ticket: the last written in it). */
void col__sync_rotated(col_t *c, bool seal, uint64_t seal_ticket)
{
    int fd = fcntl(c->sp.fd, F_DUPFD_CLOEXEC, 0);
    pthread_mutex_lock(&c->smu);
    if (seal) {
        c->seal_fd = c->sync_fd;
        c->seal_ticket = seal_ticket;
        c->seal_pending = true;
        pthread_cond_signal(&c->scond);
    } else if (c->sync_fd >= 0) {
        int *n = realloc(c->sync_close, (c->nsync_close + 1) * sizeof *n);
        if (n) {
            c->sync_close = n;
            c->sync_close[c->nsync_close++] = c->sync_fd;
        } /* else: leaks one fd */
    }
    /* -1 when dup failed (EMFILE): the syncer then fails its fsyncs (nothing
     * new becomes durable) until commit() retries the dup */
    c->sync_fd = fd;
    c->sync_off = c->sync_kicked = c->sp.segs[c->sp.nsegs - 1].bytes;
    pthread_mutex_unlock(&c->smu);
}

/* Writer: true once no seal is pending (waits up to ms for the syncer's). */
bool col__seal_wait(col_t *c, int64_t ms)
{
    int64_t end = col__mono_ms() + ms;
    pthread_mutex_lock(&c->smu);
    while (c->seal_pending && c->syncer_started && col__mono_ms() < end)
        timed_wait(&c->sealed, &c->smu, end - col__mono_ms() > 0 ? end - col__mono_ms() : 1);
    bool done = !c->seal_pending;
    pthread_mutex_unlock(&c->smu);
    return done;
}

void col__witness_later(col_t *c, uint64_t seq, const unsigned char head[32])
{
    pthread_mutex_lock(&c->smu);
    c->wit_seq = seq;
    memcpy(c->wit_head, head, 32);
    c->wit_pending = true;
    pthread_cond_signal(&c->scond);
    pthread_mutex_unlock(&c->smu);
}

int col__sync_all(col_t *c)
{
    int rc = 0;
    pthread_mutex_lock(&c->smu);
    c->wit_pending = false; /* the caller writes a newer witness */
    while (c->wit_busy)
        timed_wait(&c->sealed, &c->smu, 100);
    c->seal_rc = 0;
    while (c->seal_pending && c->syncer_started && rc == 0) {
        pthread_cond_signal(&c->scond);
        timed_wait(&c->sealed, &c->smu, 100);
        if (c->seal_pending)
            rc = c->seal_rc; /* its last try failed */
    }
    pthread_mutex_unlock(&c->smu);
    return rc ? rc : col__spool_sync(&c->sp);
}

/* Stops the syncer once it made everything written durable. */
void col__stop_syncer(col_t *c)
{
    if (!c->syncer_started)
        return;
    pthread_mutex_lock(&c->smu);
    c->sync_stop = true;
    pthread_cond_signal(&c->scond);
    pthread_mutex_unlock(&c->smu);
    pthread_join(c->syncer, NULL);
    c->syncer_started = false;
    for (size_t i = 0; i < c->nsync_close; i++)
        close(c->sync_close[i]);
    free(c->sync_close);
    c->sync_close = NULL, c->nsync_close = 0;
    if (c->sync_fd >= 0)
        close(c->sync_fd);
    c->sync_fd = -1;
    if (c->seal_fd >= 0) /* a seal that kept failing (its errors were reported) */
        close(c->seal_fd);
    c->seal_fd = -1;
}

