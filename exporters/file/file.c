/*
 * file.c: the file sink (type "file"). Every event becomes one NDJSON line
 * in <dir>/ocsf-YYYY-MM-DD.jsonl (the UTC day of the write). The active file
 * rotates at rotate_bytes, after rotate_interval, and when the day changes:
 * it is renamed to ocsf-YYYY-MM-DD.N.jsonl (N increasing per day), then
 * compressed to ocsf-YYYY-MM-DD.N.jsonl.zst, then retention removes the
 * oldest rotated files past keep_files / keep_bytes. With human_log = on,
 * each event's human line (OCSF_LINE_FILE) also goes to
 * <dir>/tollgate-YYYY-MM-DD.log (per day, not rotated, not compressed).
 *
 * Thread: open, send and close run on the exporter's thread (sink.h);
 * metrics may run on any thread and reads only atomics.
 *
 * Invariants:
 *  - A file a reader can see never ends in a torn line once send returned:
 *    a batch is one pwrite at the committed size; a failed or short write
 *    is undone (ftruncate to the committed size) before send returns RETRY;
 *    at open, every active file and human log is cut back to its last '\n'
 *    (what a crash left; the engine resends from its checkpoint).
 *  - An event is EXP_OK only after its line is written and, with
 *    fsync = batch, fdatasync'ed (the human line too when human_log = on).
 *  - A rotated file exists as a complete .N.jsonl or a complete
 *    .N.jsonl.zst: compression writes .zst.tmp, fsyncs it, renames it,
 *    fsyncs the dir, then unlinks the .jsonl. Open deletes *.tmp, unlinks a
 *    .N.jsonl whose .zst exists and compresses the rest; an active file of
 *    another day is rotated.
 *  - Retention counts rotated files only (a .N.jsonl and its .zst are one),
 *    oldest (day, N) first; never the active file.
 *  - Compression runs inline in send after a rotation; it stops early when
 *    *stop becomes true (the .N.jsonl stays and is compressed at next open).
 *
 * Files: this one writes (open, send, close, metrics, exp_sink_file);
 * file_rotate.c lists the directory, rotates, compresses, applies retention
 * and repairs what a crash left; file_conf.c holds the options;
 * file_internal.h what they share.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zstd.h>

#include "exporters/file/file_internal.h"
#include "exporters/sink.h"
#include "ocsf/ocsf.h"

void file__slog(file_sink_t *s, const char *fmt, ...)
{
    if (!s->log)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    s->log(s->log_ctx, msg);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void utc_day(int64_t ms, char out[11])
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&secs, &tm) || tm.tm_year < 0 || tm.tm_year > 9999 - 1900)
        memset(&tm, 0, sizeof tm);
    if (strftime(out, 11, "%Y-%m-%d", &tm) != 10)
        memcpy(out, "1900-01-00", 11);
}

/* ---- appending ---------------------------------------------------------- */

static void human_name(char *out, size_t n, const char *day)
{
    snprintf(out, n, "tollgate-%s.log", day);
}

/* Cuts fd back to just after its last '\n' (0 when it has none). */
static int cut_torn_tail(int fd, int64_t *size)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -errno;
    char chunk[65536];
    int64_t end = st.st_size, keep = 0;
    while (end > 0 && keep == 0) {
        int64_t from = end > (int64_t)sizeof chunk ? end - (int64_t)sizeof chunk : 0;
        ssize_t r = pread(fd, chunk, (size_t)(end - from), from);
        if (r != end - from)
            return r < 0 ? -errno : -EIO;
        for (int64_t i = r - 1; i >= 0; i--)
            if (chunk[i] == '\n') {
                keep = from + i + 1;
                break;
            }
        end = from;
    }
    if (keep != st.st_size && (ftruncate(fd, keep) != 0 || fdatasync(fd) != 0))
        return -errno;
    *size = keep;
    return 0;
}

/* Opens (creating) dir/name for appending, cut back to its last '\n'. */
int file__out_open(file_sink_t *s, file_out_t *o, const char *name, const char *day)
{
    bool created = true;
    int fd = openat(s->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0 && errno == EEXIST) {
        created = false;
        fd = openat(s->dirfd, name, O_RDWR | O_CLOEXEC);
    }
    if (fd < 0)
        return -errno;
    int64_t size = 0;
    int rc = cut_torn_tail(fd, &size);
    if (rc == 0 && created && fsync(s->dirfd) != 0)
        rc = -errno;
    if (rc) {
        close(fd);
        return rc;
    }
    *o = (file_out_t){.fd = fd, .size = size};
    snprintf(o->day, sizeof o->day, "%s", day);
    return 0;
}

void file__out_close(file_out_t *o)
{
    if (o->fd >= 0)
        close(o->fd);
    o->fd = -1;
}

/* Undoes bytes past the committed size. */
static int out_settle(file_out_t *o)
{
    if (o->fd < 0 || !o->dirty)
        return 0;
    if (ftruncate(o->fd, o->size) != 0)
        return -errno;
    o->dirty = false;
    return 0;
}

/* Writes len bytes at the committed size; on failure undoes them. The
 * caller commits (o->size += len) once they are durable. */
static int out_write(file_out_t *o, const char *p, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t w = pwrite(o->fd, p + done, len - done, o->size + (off_t)done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            o->dirty = true;
            out_settle(o);
            return -e;
        }
        done += (size_t)w;
    }
    return 0;
}

/* ---- open --------------------------------------------------------------- */

static int mkdir_p(const char *dir)
{
    char path[4096];
    size_t len = strlen(dir);
    if (len >= sizeof path)
        return -ENAMETOOLONG;
    memcpy(path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char c = path[i];
        path[i] = '\0';
        if (mkdir(path, 0750) != 0 && errno != EEXIST)
            return -errno;
        path[i] = c;
    }
    return 0;
}

/* Makes the directory ready and opens today's active file. */
static int setup(file_sink_t *s, int64_t now)
{
    if (s->dirfd >= 0)
        return 0;
    int rc = mkdir_p(s->cfg.dir);
    if (rc)
        return rc;
    s->dirfd = open(s->cfg.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0)
        return -errno;
    char today[11], name[64];
    utc_day(now, today);
    rc = file__repair(s, today);
    if (rc == 0) {
        file__maintain(s);
        active_name(name, sizeof name, today);
        rc = file__out_open(s, &s->data, name, today);
        s->data_since_ms = now;
    }
    if (rc) {
        close(s->dirfd);
        s->dirfd = -1;
    }
    return rc;
}

static void file_close(void *sink);

static int file_open(const exp_common_t *common, const void *config, void **sinkp, char *err,
                     size_t errlen)
{
    const file_config_t *cfg = config;
    if (file__check(cfg, err, errlen) != 0)
        return -EINVAL;
    file_sink_t *s = calloc(1, sizeof *s);
    if (!s)
        abort();
    s->cfg = *cfg;
    s->cfg.dir = strdup(cfg->dir);
    s->name = strdup(common->name ? common->name : "file");
    if (!s->cfg.dir || !s->name)
        abort();
    s->stop = common->stop;
    s->log = common->log;
    s->log_ctx = common->log_ctx;
    s->dirfd = s->data.fd = s->human.fd = -1;
    ocsf_buf_init(&s->buf);
    ocsf_buf_init(&s->hbuf);
    if (s->cfg.compress == FILE_ZSTD) {
        s->zc = ZSTD_createCCtx();
        s->zin_cap = ZSTD_CStreamInSize();
        s->zout_cap = ZSTD_CStreamOutSize();
        s->zin = malloc(s->zin_cap);
        s->zout = malloc(s->zout_cap);
        if (!s->zc || !s->zin || !s->zout)
            abort();
    }
    char eb[128];
    int rc = setup(s, now_ms());
    if (rc) /* an outage, not a config error: send retries */
        file__slog(s, "directory not ready: %s (retried at each batch)",
                   errtext(-rc, eb, sizeof eb));
    *sinkp = s;
    return 0;
}

static void file_close(void *sink)
{
    file_sink_t *s = sink;
    if (!s)
        return;
    if (s->cfg.fsync == FILE_FSYNC_NEVER) {
        if (s->data.fd >= 0)
            fdatasync(s->data.fd);
        if (s->human.fd >= 0)
            fdatasync(s->human.fd);
    }
    file__out_close(&s->data);
    file__out_close(&s->human);
    if (s->dirfd >= 0)
        close(s->dirfd);
    ocsf_buf_dispose(&s->buf);
    ocsf_buf_dispose(&s->hbuf);
    ZSTD_freeCCtx(s->zc);
    free(s->zin);
    free(s->zout);
    free(s->cfg.dir);
    free(s->name);
    free(s);
}

/* ---- send --------------------------------------------------------------- */

/* Rotates when due and opens the files of `day`. */
static int prepare(file_sink_t *s, int64_t now, const char *day)
{
    char eb[128], name[64];
    int rc = setup(s, now);
    if (rc == 0)
        rc = out_settle(&s->data);
    if (rc == 0)
        rc = out_settle(&s->human);
    if (rc)
        return rc;
    file_out_t *d = &s->data;
    bool due = d->fd >= 0 && (strcmp(d->day, day) != 0 || d->size >= s->cfg.rotate_bytes ||
                              (d->size > 0 && now - s->data_since_ms >= s->cfg.rotate_interval_ms));
    if (due) {
        rc = file__rotate(s);
        if (rc && !s->rotate_failing) /* keep appending to the current file */
            file__slog(s, "rotating ocsf-%s.jsonl: %s (tried again at each batch)", d->day,
                       errtext(-rc, eb, sizeof eb));
        s->rotate_failing = rc != 0;
    }
    if (d->fd < 0) {
        active_name(name, sizeof name, day);
        if ((rc = file__out_open(s, d, name, day)) != 0)
            return rc;
        s->data_since_ms = now;
    }
    if (s->cfg.human_log == FILE_HUMAN_ON && (s->human.fd < 0 || strcmp(s->human.day, day))) {
        file__out_close(&s->human);
        human_name(name, sizeof name, day);
        return file__out_open(s, &s->human, name, day);
    }
    return 0;
}

/* Fills s->buf (and s->hbuf) with the batch; an event that cannot be one
 * NDJSON line is marked PERMANENT. Returns how many lines went in. */
static size_t build(file_sink_t *s, exp_batch_t *b)
{
    size_t lines = 0;
    s->buf.len = 0;
    s->hbuf.len = 0;
    ocsf_buf_reserve(&s->buf, b->bytes + b->n);
    for (size_t i = 0; i < b->n; i++) {
        const exp_event_t *e = &b->ev[i];
        if (e->json_len == 0 || memchr(e->json, '\n', e->json_len)) {
            exp_batch_set(b, i, EXP_PERMANENT,
                          e->json_len ? "the event JSON holds a newline" : "empty event");
            continue;
        }
        ocsf_buf_put(&s->buf, e->json, e->json_len);
        ocsf_buf_putc(&s->buf, '\n');
        if (s->cfg.human_log == FILE_HUMAN_ON)
            exp_human_line(&s->hbuf, e);
        lines++;
    }
    return lines;
}

/* Writes and syncs the built batch; undoes every byte on failure. */
static int commit(file_sink_t *s, char *what, size_t whatlen)
{
    bool human = s->cfg.human_log == FILE_HUMAN_ON && s->hbuf.len > 0;
    bool sync = s->cfg.fsync == FILE_FSYNC_BATCH;
    int rc;
    snprintf(what, whatlen, "write ocsf-%s.jsonl", s->data.day);
    if ((rc = out_write(&s->data, s->buf.p, s->buf.len)) != 0)
        return rc;
    snprintf(what, whatlen, "write tollgate-%s.log", s->human.day);
    if (human && (rc = out_write(&s->human, s->hbuf.p, s->hbuf.len)) != 0)
        goto undo_data;
    snprintf(what, whatlen, "fdatasync ocsf-%s.jsonl", s->data.day);
    if (sync && (fdatasync(s->data.fd) != 0 || (human && fdatasync(s->human.fd) != 0))) {
        rc = -errno;
        goto undo_human;
    }
    s->data.size += (int64_t)s->buf.len;
    if (human)
        s->human.size += (int64_t)s->hbuf.len;
    return 0;
undo_human:
    if (human) {
        s->human.dirty = true;
        out_settle(&s->human);
    }
undo_data:
    s->data.dirty = true;
    out_settle(&s->data);
    return rc;
}

static int file_send(void *sink, exp_batch_t *b, char *err, size_t errlen)
{
    file_sink_t *s = sink;
    char eb[128], day[11];
    int64_t now = now_ms();
    utc_day(now, day);
    int rc = prepare(s, now, day);
    if (rc) {
        snprintf(err, errlen, "file %s: %s", s->dirfd < 0 ? "directory" : "open",
                 errtext(-rc, eb, sizeof eb));
        return EXP_SEND_RETRY;
    }
    char what[64];
    if (build(s, b) > 0 && (rc = commit(s, what, sizeof what)) != 0) {
        atomic_fetch_add_explicit(&s->st.write_errors, 1, memory_order_relaxed);
        snprintf(err, errlen, "%s: %s", what, errtext(-rc, eb, sizeof eb));
        return EXP_SEND_RETRY;
    }
    size_t ok = 0;
    for (size_t i = 0; i < b->n; i++)
        if (b->verdict[i] != EXP_PERMANENT) {
            exp_batch_set(b, i, EXP_OK, NULL);
            ok++;
        }
    atomic_fetch_add_explicit(&s->st.bytes, s->buf.len + s->hbuf.len, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->st.events, ok, memory_order_relaxed);
    if (s->data.size >= s->cfg.rotate_bytes) {
        rc = file__rotate(s); /* the batch is durable already: a failure is retried next time */
        if (rc && !s->rotate_failing)
            file__slog(s, "rotating ocsf-%s.jsonl: %s (tried again at each batch)", s->data.day,
                       errtext(-rc, eb, sizeof eb));
        s->rotate_failing = rc != 0;
    }
    return EXP_SEND_DONE;
}

/* ---- metrics ------------------------------------------------------------ */

static void file_metrics(void *sink, void (*emit)(void *ctx, const char *line), void *ctx)
{
    file_sink_t *s = sink;
    static const struct {
        const char *name, *help;
        size_t off;
    } m[] = {
        {"tollgate_exporter_file_bytes_written_total", "Bytes the file exporter wrote.",
         offsetof(file_stats_t, bytes)},
        {"tollgate_exporter_file_events_written_total", "Events the file exporter wrote.",
         offsetof(file_stats_t, events)},
        {"tollgate_exporter_file_files_rotated_total", "Files the file exporter rotated.",
         offsetof(file_stats_t, rotated)},
        {"tollgate_exporter_file_files_compressed_total",
         "Rotated files the file exporter compressed.", offsetof(file_stats_t, compressed)},
        {"tollgate_exporter_file_files_removed_total",
         "Rotated files removed by the file exporter's retention.",
         offsetof(file_stats_t, removed)},
        {"tollgate_exporter_file_write_errors_total",
         "Writes, rotations or compressions of the file exporter that failed.",
         offsetof(file_stats_t, write_errors)},
    };
    ocsf_buf_t label, line;
    ocsf_buf_init(&label);
    ocsf_buf_init(&line);
    for (const char *p = s->name; *p; p++) { /* a Prometheus label value */
        if (*p == '\\' || *p == '"')
            ocsf_buf_putc(&label, '\\');
        if (*p == '\n')
            ocsf_buf_puts(&label, "\\n");
        else
            ocsf_buf_putc(&label, *p);
    }
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        const _Atomic uint64_t *v = (const _Atomic uint64_t *)((const char *)&s->st + m[i].off);
        line.len = 0;
        ocsf_buf_puts(&line, "# HELP ");
        ocsf_buf_puts(&line, m[i].name);
        ocsf_buf_putc(&line, ' ');
        ocsf_buf_puts(&line, m[i].help);
        emit(ctx, ocsf_buf_cstr(&line));
        line.len = 0;
        ocsf_buf_puts(&line, "# TYPE ");
        ocsf_buf_puts(&line, m[i].name);
        ocsf_buf_puts(&line, " counter");
        emit(ctx, ocsf_buf_cstr(&line));
        line.len = 0;
        ocsf_buf_puts(&line, m[i].name);
        ocsf_buf_puts(&line, "{exporter=\"");
        ocsf_buf_put(&line, label.p, label.len);
        ocsf_buf_puts(&line, "\"} ");
        ocsf_buf_put_i64(&line, (int64_t)atomic_load_explicit(v, memory_order_relaxed));
        emit(ctx, ocsf_buf_cstr(&line));
    }
    ocsf_buf_dispose(&label);
    ocsf_buf_dispose(&line);
}

const exp_sink_type_t exp_sink_file = {
    .type = "file",
    .options = file__options,
    .config_size = sizeof(file_config_t),
    .set_extra = NULL,
    .check = file__check,
    .open = file_open,
    .send = file_send,
    .metrics = file_metrics,
    .close = file_close,
    .dispose = file__dispose,
};
