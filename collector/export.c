/*
 * export.c: the export engine (see export.h). One thread per exporter:
 *
 *   fill:    read the spool from the cursor (col_read), batch by count and
 *            bytes, wait up to batch.linger for a fuller batch, downgrade;
 *   deliver: send; OK events are done, PERMANENT ones go to the dead
 *            letters, RETRY ones are sent again after a backoff (the whole
 *            batch for EXP_SEND_RETRY, paused for EXP_SEND_PAUSE);
 *   commit:  fsync the dead letters, then persist the checkpoint (write,
 *            fsync, rename, fsync the directory), then move the retention
 *            floor.
 *
 * The collector's commit listener wakes every exporter (one subscription
 * for the engine: the collector has few listener slots).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "collector/export_internal.h"

#define EXP_DRAIN_MS 3000 /* exp_engine_stop waits this long for exporters to catch up */

static struct timespec deadline_in(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}

/* Waits until new data, stop, or ms pass. gen: the generation seen. */
static void wait_data(engine_t *e, uint64_t gen, int64_t ms)
{
    struct timespec dl = deadline_in(ms);
    pthread_mutex_lock(&e->mu);
    while (!atomic_load(&e->stop) && e->generation == gen)
        if (pthread_cond_timedwait(&e->cond, &e->mu, &dl) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&e->mu);
}

/* Sleeps ms unless stopping. */
static void nap(engine_t *e, int64_t ms)
{
    struct timespec dl = deadline_in(ms);
    pthread_mutex_lock(&e->mu);
    while (!atomic_load(&e->stop))
        if (pthread_cond_timedwait(&e->cond, &e->mu, &dl) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&e->mu);
}

static uint64_t generation(engine_t *e)
{
    pthread_mutex_lock(&e->mu);
    uint64_t g = e->generation;
    pthread_mutex_unlock(&e->mu);
    return g;
}

/* the collector's writer thread: only signal */
static void on_commit(void *ctx)
{
    engine_t *e = ctx;
    pthread_mutex_lock(&e->mu);
    e->generation++;
    pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->mu);
}

static void x_log(void *ctx, const char *msg)
{
    exporter_t *x = ctx;
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    ocsf_text_escape(&b, msg, strlen(msg), 1024, OCSF_ESC_MSG);
    fprintf(stderr, "[export:%s] %s\n", x->cfg->name, ocsf_buf_cstr(&b));
    ocsf_buf_dispose(&b);
}

/* Records an error for the metrics; logs it when it differs from the last
 * one logged (an outage is one line, not one per retry). */
static void x_error(exporter_t *x, const char *what, const char *err)
{
    char msg[256];
    snprintf(msg, sizeof msg, "%s%s%s", what, *err ? ": " : "", err);
    pthread_mutex_lock(&x->mu);
    snprintf(x->last_error, sizeof x->last_error, "%s", msg);
    x->last_error_ms = exp__wall_ms();
    bool fresh = strcmp(x->logged_error, msg) != 0;
    if (fresh)
        snprintf(x->logged_error, sizeof x->logged_error, "%s", msg);
    pthread_mutex_unlock(&x->mu);
    if (fresh)
        x_log(x, msg);
}

static int mkdir_p(const char *path)
{
    char tmp[4400];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static int fsync_dir_of(const char *path)
{
    char dir[4400];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        return 0;
    *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

/* "<seq>\n"; 0 when the file does not exist */
static int ckpt_load(const char *path, uint64_t *seq, bool *found)
{
    char buf[64];
    *found = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    ssize_t r = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (r <= 0)
        return -EBADMSG;
    buf[r] = '\0';
    char *end;
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 10);
    if (errno || end == buf || *end != '\n')
        return -EBADMSG;
    *seq = v;
    *found = true;
    return 0;
}

static int ckpt_store(const char *path, uint64_t seq)
{
    char tmp[4500], buf[32];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int len = snprintf(buf, sizeof buf, "%" PRIu64 "\n", seq);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int rc = 0;
    if (write(fd, buf, (size_t)len) != len || fsync(fd) != 0)
        rc = errno ? -errno : -EIO;
    close(fd);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc == 0)
        rc = fsync_dir_of(path);
    if (rc)
        unlink(tmp);
    return rc;
}

static void floor_update(engine_t *e)
{
    uint64_t floor = UINT64_MAX;
    for (size_t i = 0; i < e->n; i++) {
        exporter_t *x = &e->x[i];
        if (!x->cfg->enabled)
            continue;
        pthread_mutex_lock(&x->mu);
        uint64_t need = x->checkpoint + 1;
        pthread_mutex_unlock(&x->mu);
        if (need < floor)
            floor = need;
    }
    col_set_retention_floor(e->col, floor);
}

/* ---- filling a batch ---------------------------------------------------- */

static void batch_reset(exporter_t *x)
{
    for (size_t i = 0; i < x->n; i++) {
        free(x->reason[i]);
        x->reason[i] = NULL;
    }
    x->n = 0;
    x->bytes = 0;
    x->data.len = 0;
    pthread_mutex_lock(&x->mu);
    x->oldest_logged = 0;
    pthread_mutex_unlock(&x->mu);
}

static int batch_grow(exporter_t *x)
{
    size_t cap = x->cap ? x->cap * 2 : 256;
    exp_event_t *ev = realloc(x->ev, cap * sizeof *ev);
    if (ev)
        x->ev = ev;
    uint8_t *v = realloc(x->verdict, cap);
    if (v)
        x->verdict = v;
    char **r = realloc(x->reason, cap * sizeof *r);
    if (r)
        x->reason = r;
    size_t *off = realloc(x->off, cap * 2 * sizeof *off);
    if (off)
        x->off = off;
    if (!ev || !v || !r || !off)
        return -ENOMEM;
    for (size_t i = x->cap; i < cap; i++)
        x->reason[i] = NULL;
    x->cap = cap;
    return 0;
}

/* A dead letter written before the checkpoint moves past the event. */
static int dlq_write(exporter_t *x, uint64_t seq, const char *json, size_t len, const char *reason,
                     FILE **fp)
{
    if (!*fp) {
        char dir[4400];
        snprintf(dir, sizeof dir, "%s/dlq", x->e->state_dir);
        int rc = mkdir_p(dir);
        if (rc)
            return rc;
        *fp = fopen(x->dlq_path, "ae");
        if (!*fp)
            return -errno;
    }
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    ocsf_buf_puts(&b, "{\"exporter\":");
    ocsf_json_escape(&b, x->cfg->name, strlen(x->cfg->name));
    ocsf_buf_puts(&b, ",\"sequence\":");
    ocsf_buf_put_i64(&b, (int64_t)seq);
    ocsf_buf_puts(&b, ",\"time\":");
    ocsf_buf_put_i64(&b, exp__wall_ms());
    ocsf_buf_puts(&b, ",\"reason\":");
    ocsf_json_escape(&b, reason ? reason : "refused", strlen(reason ? reason : "refused"));
    ocsf_buf_puts(&b, ",\"event\":");
    ocsf_buf_put(&b, json, len);
    ocsf_buf_puts(&b, "}\n");
    int rc = fwrite(b.p, 1, b.len, *fp) == b.len ? 0 : -EIO;
    ocsf_buf_dispose(&b);
    return rc;
}

typedef struct {
    exporter_t *x;
    FILE *dlq; /* events that cannot be downgraded go straight to the dead letters */
    int rc;
} fill_ctx_t;

static int on_record(const col_record_t *r, void *arg)
{
    fill_ctx_t *f = arg;
    exporter_t *x = f->x;
    const char *json = r->json;
    size_t len = r->json_len;
    if (x->n > 0 &&
        (x->n >= (size_t)x->cfg->batch_events || x->bytes + len > (size_t)x->cfg->batch_bytes))
        return 1; /* full: this one starts the next batch */
    /* cast to the exporter's version (a copy when the event has it) */
    {
        char err[256];
        const char *to = exp_ocsf_versions[x->cfg->ocsf_version];
        x->scratch.len = 0;
        if (!x->checker)
            x->checker = ocsf_checker_new();
        if (ocsf_cast(x->checker, json, len, ocsf_schema_find(to, strlen(to)),
                      r->repaired ? OCSF_CAST_REPAIR : 0, &x->scratch, err, sizeof err) != 0) {
            char why[320];
            snprintf(why, sizeof why, "cast to OCSF %s failed: %s", to, err);
            if ((f->rc = dlq_write(x, r->seq, json, len, why, &f->dlq)) != 0)
                return 1;
            pthread_mutex_lock(&x->mu);
            x->dead++;
            pthread_mutex_unlock(&x->mu);
            x->next = r->seq + 1;
            return 0;
        }
        json = x->scratch.p;
        len = x->scratch.len;
    }
    if (x->n == x->cap && (f->rc = batch_grow(x)) != 0)
        return 1;
    size_t at = x->data.len;
    ocsf_buf_put(&x->data, json, len);
    size_t sat = x->data.len;
    ocsf_buf_put(&x->data, r->sandbox, r->sandbox_len);
    x->off[2 * x->n] = at;
    x->off[2 * x->n + 1] = sat;
    x->ev[x->n] = (exp_event_t){
        .seq = r->seq,
        .json_len = len,
        .sandbox_len = r->sandbox_len,
        .class_uid = r->class_uid,
        .class_name = ocsf_class_name(r->class_uid),
        .time_ms = r->time,
    };
    if (x->n == 0) {
        pthread_mutex_lock(&x->mu);
        x->oldest_logged = r->logged_time;
        pthread_mutex_unlock(&x->mu);
    }
    x->n++;
    x->bytes += len;
    x->next = r->seq + 1;
    return 0;
}

/* Reads more into the batch. Returns 0 or -errno. */
static int fill(exporter_t *x, FILE **dlq)
{
    col_filter_t f;
    col_filter_init(&f);
    fill_ctx_t ctx = {x, *dlq, 0};
    uint64_t first = col_first_seq(x->e->col);
    if (first > x->next) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "events %" PRIu64 "..%" PRIu64 " left the spool before this exporter "
                 "delivered them (spool.max_bytes or a deleted spool); going on from %" PRIu64,
                 x->next, first - 1, first);
        x_log(x, msg);
        pthread_mutex_lock(&x->mu);
        x->skipped += first - x->next;
        pthread_mutex_unlock(&x->mu);
        x->next = first;
    }
    uint64_t next;
    size_t room = (size_t)x->cfg->batch_events - x->n;
    int rc = col_read(x->e->col, &f, x->next, room, on_record, &ctx, &next);
    *dlq = ctx.dlq;
    if (ctx.rc)
        return ctx.rc;
    if (rc < 0)
        return rc;
    /* point the events at their bytes now that data no longer moves */
    for (size_t i = 0; i < x->n; i++) {
        x->ev[i].json = x->data.p + x->off[2 * i];
        x->ev[i].sandbox = x->data.p + x->off[2 * i + 1];
    }
    return 0;
}

static bool batch_full(const exporter_t *x)
{
    return x->n >= (size_t)x->cfg->batch_events || x->bytes >= (size_t)x->cfg->batch_bytes * 9 / 10;
}

/* ---- delivering a batch ------------------------------------------------- */

static int64_t backoff_ms(const exp_config_t *cfg, unsigned attempt)
{
    int64_t cap = cfg->retry_initial_ms;
    for (unsigned i = 0; i < attempt && cap < cfg->retry_max_ms; i++)
        cap *= 2;
    if (cap > cfg->retry_max_ms)
        cap = cfg->retry_max_ms;
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, 0) != sizeof r)
        r = (uint32_t)exp__wall_ms();
    /* full jitter over [initial/2, cap]: never a busy loop */
    int64_t lo = cfg->retry_initial_ms / 2;
    return lo + (int64_t)(r % (uint64_t)(cap - lo + 1));
}

/* Acts on the verdicts of a DONE send: counts the OK ones, dead-letters the
 * PERMANENT ones, and keeps (compacts into pending) what must go again.
 * Returns how many are kept. */
static size_t settle(exporter_t *x, const exp_batch_t *b, size_t *pending, FILE **dlq, size_t *ok,
                     size_t *dead)
{
    size_t keep = 0;
    for (size_t i = 0; i < b->n; i++) {
        const exp_event_t *ev = &b->ev[i];
        int wrc = 0;
        if (b->verdict[i] == EXP_OK) {
            (*ok)++;
            continue;
        }
        if (b->verdict[i] == EXP_PERMANENT &&
            (wrc = dlq_write(x, ev->seq, ev->json, ev->json_len, b->reason[i], dlq)) == 0) {
            (*dead)++;
            continue;
        }
        if (wrc)
            x_error(x, "cannot write the dead-letter file; keeping the event", strerror(-wrc));
        pending[keep++] = pending[i];
    }
    return keep;
}

/* The metrics and the paused state after one send. */
static void account(exporter_t *x, int rc, size_t ok, size_t dead, size_t keep)
{
    pthread_mutex_lock(&x->mu);
    x->in_flight = 0;
    x->delivered += ok;
    x->dead += dead;
    x->retried += keep;
    if (rc == EXP_SEND_PAUSE)
        x->paused = true;
    else if (ok || dead)
        x->paused = false;
    if (keep == 0) {
        x->paused = false;
        x->logged_error[0] = '\0'; /* the next failure is news again */
    }
    pthread_mutex_unlock(&x->mu);
}

/* Sends until every event of the batch is OK or dead-lettered; false when
 * stopping first. */
static bool deliver(exporter_t *x, FILE **dlq)
{
    engine_t *e = x->e;
    const exp_config_t *cfg = x->cfg;
    size_t total = x->n, npend = total;
    size_t *pending = malloc(total * sizeof *pending);
    exp_event_t *view = malloc(total * sizeof *view);
    uint8_t *verdict = malloc(total);
    char **reason = calloc(total, sizeof *reason);
    unsigned attempt = 0;
    bool done = false;
    if (!pending || !view || !verdict || !reason)
        goto out;
    for (size_t i = 0; i < total; i++)
        pending[i] = i;
    while (!atomic_load(&e->stop)) {
        exp_batch_t b = {view, npend, 0, verdict, reason, exp_ocsf_versions[cfg->ocsf_version]};
        for (size_t i = 0; i < npend; i++) {
            view[i] = x->ev[pending[i]];
            b.bytes += view[i].json_len;
            verdict[i] = EXP_RETRY;
            free(reason[i]);
            reason[i] = NULL;
        }
        char err[256] = "";
        pthread_mutex_lock(&x->mu);
        x->in_flight = npend;
        pthread_mutex_unlock(&x->mu);
        int rc = cfg->sink->send(x->sink, &b, err, sizeof err);
        size_t ok = 0, dead = 0;
        npend = rc == EXP_SEND_DONE ? settle(x, &b, pending, dlq, &ok, &dead) : npend;
        account(x, rc, ok, dead, npend);
        if (npend == 0) {
            done = true;
            break;
        }
        if (rc == EXP_SEND_PAUSE) {
            x_error(x, "paused (the destination refused auth or configuration; data is kept)", err);
            nap(e, cfg->retry_max_ms);
            continue;
        }
        if (rc == EXP_SEND_RETRY)
            x_error(x, "batch not delivered, retrying", err);
        else if (ok || dead)
            attempt = 0; /* progress: the rest is a fresh retry */
        else
            x_error(x, "events not acknowledged, retrying", err);
        nap(e, backoff_ms(cfg, attempt++));
    }
out:
    for (size_t i = 0; reason && i < total; i++)
        free(reason[i]);
    free(reason);
    free(verdict);
    free(view);
    free(pending);
    return done;
}

static void *exporter_main(void *arg)
{
    exporter_t *x = arg;
    engine_t *e = x->e;
    const exp_config_t *cfg = x->cfg;
    while (!atomic_load(&e->stop)) {
        uint64_t gen = generation(e);
        FILE *dlq = NULL;
        batch_reset(x);
        int rc = fill(x, &dlq);
        if (rc == 0 && x->n > 0 && !batch_full(x) && cfg->linger_ms > 0) {
            /* linger for a fuller batch */
            struct timespec t0;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            for (;;) {
                struct timespec now;
                clock_gettime(CLOCK_MONOTONIC, &now);
                int64_t spent =
                    (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
                if (spent >= cfg->linger_ms || batch_full(x) || atomic_load(&e->stop))
                    break;
                wait_data(e, gen, cfg->linger_ms - spent);
                gen = generation(e);
                if ((rc = fill(x, &dlq)) != 0)
                    break;
            }
        }
        if (rc) {
            x_error(x, "reading the spool", strerror(-rc));
            if (dlq)
                fclose(dlq);
            nap(e, 1000);
            continue;
        }
        uint64_t last = x->next - 1;
        if (x->n > 0) {
            pthread_mutex_lock(&x->mu);
            x->batches++;
            pthread_mutex_unlock(&x->mu);
            if (!deliver(x, &dlq)) {
                if (dlq)
                    fclose(dlq);
                break; /* stopping: the batch is sent again after the restart */
            }
        }
        if (dlq) {
            int bad = fflush(dlq) != 0 || fsync(fileno(dlq)) != 0;
            bad |= fclose(dlq) != 0;
            if (bad) {
                /* the dead letters may not be on disk: do not move past them */
                x_error(x, "cannot sync the dead-letter file; sending the batch again",
                        strerror(errno));
                x->next = x->checkpoint + 1;
                nap(e, 1000);
                continue;
            }
        }
        if (last == x->checkpoint) {
            wait_data(e, gen, 1000);
            continue;
        }
        if ((rc = ckpt_store(x->ckpt_path, last)) != 0)
            x_error(x, "cannot persist the checkpoint (events may be sent again after a restart)",
                    strerror(-rc));
        pthread_mutex_lock(&x->mu);
        x->checkpoint = last;
        pthread_mutex_unlock(&x->mu);
        floor_update(e);
    }
    return NULL;
}

static int exporter_init(engine_t *e, exporter_t *x, const exp_config_t *cfg, char *err,
                         size_t errlen)
{
    x->e = e;
    x->cfg = cfg;
    pthread_mutex_init(&x->mu, NULL);
    ocsf_buf_init(&x->data);
    ocsf_buf_init(&x->scratch);
    snprintf(x->ckpt_path, sizeof x->ckpt_path, "%s/exporters/%s.ckpt", e->state_dir, cfg->name);
    snprintf(x->dlq_path, sizeof x->dlq_path, "%s/dlq/%s.jsonl", e->state_dir, cfg->name);
    if (!cfg->enabled)
        return 0;
    char dir[4400];
    snprintf(dir, sizeof dir, "%s/exporters/%s", e->state_dir, cfg->name);
    int rc = mkdir_p(dir);
    if (rc) {
        snprintf(err, errlen, "exporter %s: mkdir %s: %s", cfg->name, dir, strerror(-rc));
        return rc;
    }
    bool found;
    uint64_t seq = 0;
    if ((rc = ckpt_load(x->ckpt_path, &seq, &found)) != 0) {
        snprintf(err, errlen,
                 "exporter %s: checkpoint %s is unreadable (%s); remove it to "
                 "start over",
                 cfg->name, x->ckpt_path, strerror(-rc));
        return rc;
    }
    uint64_t written = col_written_seq(e->col);
    if (found && seq > written) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "checkpoint %" PRIu64 " is past the spool's last event %" PRIu64
                 " (a new spool?): starting from its beginning",
                 seq, written);
        x_log(x, msg);
        found = false;
    }
    if (!found) {
        uint64_t first = col_first_seq(e->col);
        seq = cfg->start == 1 ? written : (first ? first - 1 : 0);
        if ((rc = ckpt_store(x->ckpt_path, seq)) != 0) {
            snprintf(err, errlen, "exporter %s: cannot write %s: %s", cfg->name, x->ckpt_path,
                     strerror(-rc));
            return rc;
        }
    }
    x->checkpoint = seq;
    x->next = seq + 1;
    x->common = (exp_common_t){
        .name = cfg->name,
        .state_dir = e->state_dir,
        .hostname = e->hostname,
        .ocsf_version = exp_ocsf_versions[cfg->ocsf_version],
        .stop = &e->stop,
        .log = x_log,
        .log_ctx = x,
    };
    char why[384] = "";
    if ((rc = cfg->sink->open(&x->common, cfg->sink_config, &x->sink, why, sizeof why)) != 0) {
        snprintf(err, errlen, "exporter %s (%s): %s", cfg->name, cfg->type, why);
        return rc;
    }
    return 0;
}

int exp_engine_start(col_t *col, const char *state_dir, const char *hostname,
                     const exp_config_list_t *cfgs, exp_engine_t **out, char *err, size_t errlen)
{
    exp_engine_t *ee = calloc(1, sizeof *ee);
    if (!ee)
        return -ENOMEM;
    engine_t *e = &ee->e;
    e->col = col;
    snprintf(e->state_dir, sizeof e->state_dir, "%s", state_dir);
    snprintf(e->hostname, sizeof e->hostname, "%s", hostname);
    pthread_mutex_init(&e->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->cond, &ca);
    pthread_condattr_destroy(&ca);
    e->x = calloc(cfgs->n ? cfgs->n : 1, sizeof *e->x);
    if (!e->x) {
        free(ee);
        return -ENOMEM;
    }
    int rc = 0;
    for (size_t i = 0; i < cfgs->n && rc == 0; i++) {
        rc = exporter_init(e, &e->x[i], &cfgs->v[i], err, errlen);
        e->n = i + 1;
    }
    if (rc) {
        exp_engine_stop(ee);
        return rc;
    }
    floor_update(e);
    if (e->n && (rc = col_subscribe(col, on_commit, e)) != 0) {
        snprintf(err, errlen, "export engine: no collector listener slot left");
        exp_engine_stop(ee);
        return rc;
    }
    for (size_t i = 0; i < e->n; i++) {
        exporter_t *x = &e->x[i];
        if (!x->cfg->enabled)
            continue;
        if ((rc = pthread_create(&x->thread, NULL, exporter_main, x)) != 0) {
            snprintf(err, errlen, "exporter %s: pthread_create: %s", x->cfg->name, strerror(rc));
            exp_engine_stop(ee);
            return -rc;
        }
        x->started = true;
        char msg[160];
        snprintf(msg, sizeof msg, "%s exporter started at sequence %" PRIu64 " (OCSF %s)",
                 x->cfg->type, x->next, exp_ocsf_versions[x->cfg->ocsf_version]);
        x_log(x, msg);
    }
    *out = ee;
    return 0;
}

/* True once every running exporter has delivered what the spool holds. */
static bool caught_up(engine_t *e)
{
    uint64_t written = col_written_seq(e->col);
    for (size_t i = 0; i < e->n; i++) {
        exporter_t *x = &e->x[i];
        if (!x->started)
            continue;
        pthread_mutex_lock(&x->mu);
        bool behind = x->checkpoint < written;
        pthread_mutex_unlock(&x->mu);
        if (behind)
            return false;
    }
    return true;
}

void exp_engine_stop(exp_engine_t *ee)
{
    if (!ee)
        return;
    engine_t *e = &ee->e;
    /* a signed checkpoint that covers the gateway's stop event, so it leaves
     * the machine with the last batch */
    uint64_t before = col_written_seq(e->col);
    col_checkpoint_now(e->col);
    for (int waited = 0; e->n && waited < 200 && col_written_seq(e->col) == before; waited += 5)
        usleep(5000);
    /* a clean stop gives the exporters a moment to ship the last events
     * (the gateway's own stop event among them); what they cannot deliver
     * by then goes after the next start */
    for (int waited = 0; waited < EXP_DRAIN_MS && !caught_up(e); waited += 20)
        usleep(20000);
    pthread_mutex_lock(&e->mu);
    atomic_store(&e->stop, true);
    pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->mu);
    for (size_t i = 0; i < e->n; i++)
        if (e->x[i].started)
            pthread_join(e->x[i].thread, NULL);
    col_unsubscribe(e->col, on_commit, e);
    for (size_t i = 0; i < e->n; i++) {
        exporter_t *x = &e->x[i];
        if (x->sink)
            x->cfg->sink->close(x->sink);
        batch_reset(x);
        free(x->ev);
        free(x->verdict);
        free(x->reason);
        free(x->off);
        ocsf_buf_dispose(&x->data);
        ocsf_buf_dispose(&x->scratch);
        ocsf_checker_free(x->checker);
        pthread_mutex_destroy(&x->mu);
    }
    free(e->x);
    pthread_cond_destroy(&e->cond);
    pthread_mutex_destroy(&e->mu);
    free(ee);
}
