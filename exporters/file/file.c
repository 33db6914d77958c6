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
 */
#include <ctype.h>
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

#include <dirent.h>
#include <zstd.h>

#include "exporters/sink.h"
#include "ocsf/ocsf.h"

/* ---- configuration ------------------------------------------------------ */

enum { FILE_ZSTD = 0, FILE_NONE = 1 };
enum { FILE_HUMAN_OFF = 0, FILE_HUMAN_ON = 1 };
enum { FILE_FSYNC_BATCH = 0, FILE_FSYNC_NEVER = 1 };

typedef struct {
    char *dir;
    int64_t rotate_bytes;
    int64_t rotate_interval_ms;
    int compress;
    int64_t zstd_level;
    int64_t keep_files;
    int64_t keep_bytes;
    int human_log;
    int fsync;
} file_config_t;

#define O(f) offsetof(file_config_t, f)

static const conf_option_t file_options[] = {
    {"dir", CONF_STRING, NULL, 0, 0, NULL, O(dir),
     "directory of the files (created when missing); required"},
    {"rotate_bytes", CONF_BYTES, "256MiB", 1024, 1ll << 40, NULL, O(rotate_bytes),
     "the active file rotates once it holds this many bytes"},
    {"rotate_interval", CONF_DURATION, "24h", 1, 366ll * 86400000, NULL, O(rotate_interval_ms),
     "the active file rotates once it is this old (files are also one per UTC day)"},
    {"compress", CONF_ENUM, "zstd", 0, 0, "zstd|none", O(compress),
     "compress rotated files to .zst"},
    {"zstd_level", CONF_INT, "3", -7, 22, NULL, O(zstd_level), "zstd compression level"},
    {"keep_files", CONF_INT, "30", 0, 1000000, NULL, O(keep_files),
     "keep at most this many rotated files, oldest removed first (0: keep all)"},
    {"keep_bytes", CONF_BYTES, "0", 0, INT64_MAX, NULL, O(keep_bytes),
     "keep at most this many bytes of rotated files, oldest removed first (0: no limit)"},
    {"human_log", CONF_ENUM, "off", 0, 0, "off|on", O(human_log),
     "also write the human log line of each event to tollgate-YYYY-MM-DD.log"},
    {"fsync", CONF_ENUM, "batch", 0, 0, "batch|never", O(fsync),
     "fdatasync after every batch before acknowledging it, or acknowledge after write()"},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL},
};

static int file_check(const void *config, char *err, size_t errlen)
{
    const file_config_t *c = config;
    if (!c->dir || !c->dir[0]) {
        snprintf(err, errlen, "dir: required");
        return -EINVAL;
    }
    return 0;
}

static void file_dispose(void *config)
{
    conf_dispose(file_options, config);
}

/* ---- the sink ----------------------------------------------------------- */

/* One file being appended to. */
typedef struct {
    int fd;       /* -1: not open */
    char day[11]; /* the UTC day in its name, "YYYY-MM-DD" */
    int64_t size; /* committed bytes: the file ends in '\n' there */
    bool dirty;   /* bytes past size may exist (an undo failed): cut first */
} file_out_t;

typedef struct {
    _Atomic uint64_t bytes, events, rotated, compressed, removed, write_errors;
} file_stats_t;

typedef struct {
    file_config_t cfg; /* a copy; cfg.dir owned */
    char *name;        /* exporter name, owned */
    const atomic_bool *stop;
    void (*log)(void *log_ctx, const char *msg);
    void *log_ctx;

    int dirfd; /* -1 until the directory is ready */
    file_out_t data, human;
    int64_t data_since_ms; /* when the active file was opened */
    bool rotate_failing;   /* logged once until a rotation works again */
    char last_day[11];     /* the last rotated file's day and N */
    unsigned long last_n;
    ocsf_buf_t buf, hbuf;
    ZSTD_CCtx *zc;
    char *zin, *zout;
    size_t zin_cap, zout_cap;
    file_stats_t st;
} file_sink_t;

/* Kinds of names in the directory. */
enum { F_OTHER, F_ACTIVE, F_ROTATED, F_ZST, F_TMP, F_HUMAN };

typedef struct {
    char name[64];
    char day[11];
    unsigned long n;
    int kind;
    int64_t bytes;
} file_entry_t;

typedef struct {
    file_entry_t *v;
    size_t n, cap;
} file_list_t;

static void slog(file_sink_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void slog(file_sink_t *s, const char *fmt, ...)
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

static const char *errtext(int e, char *buf, size_t n)
{
    return strerror_r(e, buf, n);
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

static bool is_day(const char *p)
{
    for (int i = 0; i < 10; i++) {
        bool dash = i == 4 || i == 7;
        if (dash ? p[i] != '-' : !isdigit((unsigned char)p[i]))
            return false;
    }
    return true;
}

/* Parses a name this sink writes; F_OTHER for anything else. */
static int parse_name(const char *name, file_entry_t *e)
{
    size_t len = strlen(name);
    if (len >= sizeof e->name)
        return F_OTHER;
    if (strncmp(name, "tollgate-", 9) == 0 && len == 9 + 10 + 4 && is_day(name + 9) &&
        strcmp(name + 19, ".log") == 0) {
        memcpy(e->day, name + 9, 10);
        e->day[10] = '\0';
        return F_HUMAN;
    }
    if (strncmp(name, "ocsf-", 5) != 0 || len < 5 + 10 + 6 || !is_day(name + 5))
        return F_OTHER;
    memcpy(e->day, name + 5, 10);
    e->day[10] = '\0';
    const char *p = name + 15;
    if (strcmp(p, ".jsonl") == 0)
        return F_ACTIVE;
    if (*p != '.' || !isdigit((unsigned char)p[1]))
        return F_OTHER;
    char *end;
    errno = 0;
    e->n = strtoul(p + 1, &end, 10);
    if (errno)
        return F_OTHER;
    if (strcmp(end, ".jsonl") == 0)
        return F_ROTATED;
    if (strcmp(end, ".jsonl.zst") == 0)
        return F_ZST;
    if (strcmp(end, ".jsonl.zst.tmp") == 0)
        return F_TMP;
    return F_OTHER;
}

static int entry_cmp(const void *a, const void *b)
{
    const file_entry_t *x = a, *y = b;
    int c = strcmp(x->day, y->day);
    if (c)
        return c;
    if (x->n != y->n)
        return x->n < y->n ? -1 : 1;
    return x->kind - y->kind;
}

/* Lists this sink's files in the directory, sorted by (day, N, kind). */
static int scan(file_sink_t *s, file_list_t *l)
{
    l->n = 0;
    int fd = openat(s->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return -e;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        file_entry_t e = {.n = 0};
        e.kind = parse_name(de->d_name, &e);
        if (e.kind == F_OTHER)
            continue;
        snprintf(e.name, sizeof e.name, "%s", de->d_name);
        struct stat st;
        e.bytes = fstatat(s->dirfd, e.name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? st.st_size : 0;
        if (l->n == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 64;
            l->v = realloc(l->v, l->cap * sizeof *l->v);
            if (!l->v)
                abort();
        }
        l->v[l->n++] = e;
    }
    closedir(d);
    if (l->n > 1)
        qsort(l->v, l->n, sizeof *l->v, entry_cmp);
    return 0;
}

/* ---- appending ---------------------------------------------------------- */

static void active_name(char *out, size_t n, const char *day)
{
    snprintf(out, n, "ocsf-%s.jsonl", day);
}

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
static int out_open(file_sink_t *s, file_out_t *o, const char *name, const char *day)
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

static void out_close(file_out_t *o)
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

/* ---- compression, rotation, retention ----------------------------------- */

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Streams in to out as one zstd frame (with a checksum). */
static int zstd_stream(file_sink_t *s, int in, int out, int64_t src_size)
{
    ZSTD_CCtx_reset(s->zc, ZSTD_reset_session_only);
    ZSTD_CCtx_setParameter(s->zc, ZSTD_c_compressionLevel, (int)s->cfg.zstd_level);
    ZSTD_CCtx_setParameter(s->zc, ZSTD_c_checksumFlag, 1);
    ZSTD_CCtx_setPledgedSrcSize(s->zc, (unsigned long long)src_size);
    for (;;) {
        if (s->stop && atomic_load(s->stop))
            return -ECANCELED;
        ssize_t r = read(in, s->zin, s->zin_cap);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        ZSTD_EndDirective mode = r == 0 ? ZSTD_e_end : ZSTD_e_continue;
        ZSTD_inBuffer ib = {s->zin, (size_t)r, 0};
        size_t left;
        do {
            ZSTD_outBuffer ob = {s->zout, s->zout_cap, 0};
            left = ZSTD_compressStream2(s->zc, &ob, &ib, mode);
            if (ZSTD_isError(left))
                return -EIO; /* the input changed size under us, or a zstd bug */
            int rc = write_all(out, s->zout, ob.pos);
            if (rc)
                return rc;
        } while (mode == ZSTD_e_end ? left != 0 : ib.pos < ib.size);
        if (r == 0)
            return 0;
    }
}

/* ocsf-DAY.N.jsonl -> ocsf-DAY.N.jsonl.zst (through .zst.tmp), then the
 * .jsonl is unlinked. On failure the .jsonl stays and the .tmp is gone. */
static int compress_one(file_sink_t *s, const char *day, unsigned long n)
{
    char src[64], tmp[64], dst[64];
    snprintf(src, sizeof src, "ocsf-%s.%lu.jsonl", day, n);
    snprintf(tmp, sizeof tmp, "ocsf-%s.%lu.jsonl.zst.tmp", day, n);
    snprintf(dst, sizeof dst, "ocsf-%s.%lu.jsonl.zst", day, n);
    int rc = 0, in = -1, out = -1;
    struct stat st;
    if ((in = openat(s->dirfd, src, O_RDONLY | O_CLOEXEC)) < 0 || fstat(in, &st) != 0) {
        rc = -errno;
        goto out_in;
    }
    out = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (out < 0) {
        rc = -errno;
        goto out_in;
    }
    rc = zstd_stream(s, in, out, st.st_size);
    if (rc == 0 && fsync(out) != 0)
        rc = -errno;
    if (close(out) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && (renameat(s->dirfd, tmp, s->dirfd, dst) != 0 || fsync(s->dirfd) != 0))
        rc = -errno;
    if (rc) {
        unlinkat(s->dirfd, tmp, 0);
        goto out_in;
    }
    if (unlinkat(s->dirfd, src, 0) != 0 || fsync(s->dirfd) != 0)
        rc = -errno; /* the .zst is complete: open removes the .jsonl */
    atomic_fetch_add_explicit(&s->st.compressed, 1, memory_order_relaxed);
out_in:
    if (in >= 0)
        close(in);
    return rc;
}

/* Compresses every rotated file still uncompressed; at open also drops
 * the .jsonl of a rotated file whose .zst is complete. */
static void compress_pending(file_sink_t *s, file_list_t *l)
{
    char eb[128];
    for (size_t i = 0; i < l->n; i++) {
        file_entry_t *e = &l->v[i];
        if (e->kind != F_ROTATED)
            continue;
        bool has_zst = i + 1 < l->n && l->v[i + 1].kind == F_ZST &&
                       strcmp(l->v[i + 1].day, e->day) == 0 && l->v[i + 1].n == e->n;
        int rc = has_zst ? (unlinkat(s->dirfd, e->name, 0) == 0 ? 0 : -errno)
                         : compress_one(s, e->day, e->n);
        if (rc == -ECANCELED)
            return;
        if (rc)
            slog(s, "compressing %s: %s (kept uncompressed; tried again at the next rotation)",
                 e->name, errtext(-rc, eb, sizeof eb));
    }
}

/* Removes the oldest rotated files past keep_files / keep_bytes. A
 * .N.jsonl and its .N.jsonl.zst count as one file. */
static void apply_retention(file_sink_t *s, file_list_t *l)
{
    size_t files = 0;
    int64_t bytes = 0;
    for (size_t i = 0; i < l->n; i++) {
        file_entry_t *e = &l->v[i];
        if (e->kind != F_ROTATED && e->kind != F_ZST)
            continue;
        bytes += e->bytes;
        if (i == 0 || strcmp(l->v[i - 1].day, e->day) != 0 || l->v[i - 1].n != e->n ||
            (l->v[i - 1].kind != F_ROTATED && l->v[i - 1].kind != F_ZST))
            files++;
    }
    bool removed = false;
    for (size_t i = 0; i < l->n; i++) {
        bool over = (s->cfg.keep_files > 0 && files > (size_t)s->cfg.keep_files) ||
                    (s->cfg.keep_bytes > 0 && bytes > s->cfg.keep_bytes);
        if (!over)
            break;
        file_entry_t *e = &l->v[i];
        if (e->kind != F_ROTATED && e->kind != F_ZST)
            continue;
        size_t j = i; /* the group of (day, n) is i..j */
        while (j + 1 < l->n && strcmp(l->v[j + 1].day, e->day) == 0 && l->v[j + 1].n == e->n &&
               (l->v[j + 1].kind == F_ROTATED || l->v[j + 1].kind == F_ZST))
            j++;
        for (size_t k = i; k <= j; k++) {
            if (unlinkat(s->dirfd, l->v[k].name, 0) == 0 || errno == ENOENT)
                bytes -= l->v[k].bytes;
        }
        files--;
        removed = true;
        atomic_fetch_add_explicit(&s->st.removed, 1, memory_order_relaxed);
        i = j;
    }
    if (removed)
        fsync(s->dirfd);
}

static void maintain(file_sink_t *s)
{
    file_list_t l = {0};
    char eb[128];
    int rc = scan(s, &l);
    if (rc == 0 && s->cfg.compress == FILE_ZSTD) {
        compress_pending(s, &l);
        rc = scan(s, &l);
    }
    if (rc == 0)
        apply_retention(s, &l);
    else
        slog(s, "listing the directory: %s", errtext(-rc, eb, sizeof eb));
    free(l.v);
}

/* The next N for a rotated file of day. */
static int next_n(file_sink_t *s, const char *day, unsigned long *n)
{
    file_list_t l = {0};
    int rc = scan(s, &l);
    *n = 1;
    for (size_t i = 0; rc == 0 && i < l.n; i++)
        if ((l.v[i].kind == F_ROTATED || l.v[i].kind == F_ZST || l.v[i].kind == F_TMP) &&
            strcmp(l.v[i].day, day) == 0 && l.v[i].n >= *n)
            *n = l.v[i].n + 1;
    free(l.v);
    return rc;
}

/* Renames the file `name` of `day` (open as fd) to its rotated name. An
 * empty file is removed instead. fd is closed on success only. */
static int rename_rotated(file_sink_t *s, int fd, const char *name, const char *day, int64_t size)
{
    if (size == 0) {
        if (unlinkat(s->dirfd, name, 0) != 0 && errno != ENOENT)
            return -errno;
        close(fd);
        return 0;
    }
    unsigned long n;
    int rc = next_n(s, day, &n);
    if (rc)
        return rc;
    if (strcmp(day, s->last_day) == 0 && n <= s->last_n)
        n = s->last_n + 1; /* retention may have removed the newest */
    char to[64], eb[128];
    snprintf(to, sizeof to, "ocsf-%s.%lu.jsonl", day, n);
    if (fsync(fd) != 0 || renameat(s->dirfd, name, s->dirfd, to) != 0)
        return -errno;
    close(fd); /* renamed: never written again, whatever follows */
    snprintf(s->last_day, sizeof s->last_day, "%s", day);
    s->last_n = n;
    atomic_fetch_add_explicit(&s->st.rotated, 1, memory_order_relaxed);
    if (fsync(s->dirfd) != 0)
        slog(s, "fsync of the directory after renaming %s: %s", to, errtext(errno, eb, sizeof eb));
    return 0;
}

/* Rotates the active file (it is reopened by the next send). */
static int rotate(file_sink_t *s)
{
    char name[64];
    active_name(name, sizeof name, s->data.day);
    int rc = rename_rotated(s, s->data.fd, name, s->data.day, s->data.size);
    if (rc)
        return rc;
    s->data.fd = -1;
    maintain(s);
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

/* What a crash or a stop left: temp files, torn tails, the active file of
 * another day. */
static int repair(file_sink_t *s, const char *today)
{
    file_list_t l = {0};
    int rc = scan(s, &l);
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        file_entry_t *e = &l.v[i];
        if (e->kind == F_TMP && unlinkat(s->dirfd, e->name, 0) != 0 && errno != ENOENT)
            rc = -errno;
        if (e->kind == F_HUMAN || (e->kind == F_ACTIVE && strcmp(e->day, today) != 0)) {
            file_out_t o;
            rc = out_open(s, &o, e->name, e->day);
            if (rc == 0 && e->kind == F_ACTIVE)
                rc = rename_rotated(s, o.fd, e->name, e->day, o.size);
            if (rc == 0 && e->kind == F_ACTIVE)
                o.fd = -1; /* closed by rename_rotated */
            out_close(&o);
        }
    }
    free(l.v);
    return rc;
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
    rc = repair(s, today);
    if (rc == 0) {
        maintain(s);
        active_name(name, sizeof name, today);
        rc = out_open(s, &s->data, name, today);
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
    if (file_check(cfg, err, errlen) != 0)
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
        slog(s, "directory not ready: %s (retried at each batch)", errtext(-rc, eb, sizeof eb));
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
    out_close(&s->data);
    out_close(&s->human);
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
        rc = rotate(s);
        if (rc && !s->rotate_failing) /* keep appending to the current file */
            slog(s, "rotating ocsf-%s.jsonl: %s (tried again at each batch)", d->day,
                 errtext(-rc, eb, sizeof eb));
        s->rotate_failing = rc != 0;
    }
    if (d->fd < 0) {
        active_name(name, sizeof name, day);
        if ((rc = out_open(s, d, name, day)) != 0)
            return rc;
        s->data_since_ms = now;
    }
    if (s->cfg.human_log == FILE_HUMAN_ON && (s->human.fd < 0 || strcmp(s->human.day, day))) {
        out_close(&s->human);
        human_name(name, sizeof name, day);
        return out_open(s, &s->human, name, day);
    }
    return 0;
}

/* A human line for an event ocsf_decode refused (e.g. an older OCSF
 * version): the time, the class and the escaped reason. */
static void human_fallback(ocsf_buf_t *h, const exp_event_t *e, const char *why)
{
    char ts[40];
    time_t secs = (time_t)(e->time_ms / 1000);
    struct tm tm;
    if (e->time_ms < 0 || !gmtime_r(&secs, &tm))
        memset(&tm, 0, sizeof tm);
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ OCSF ",
             (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100, tm.tm_mday % 100,
             tm.tm_hour % 100, tm.tm_min % 100, tm.tm_sec % 100,
             (int)(e->time_ms < 0 ? 0 : e->time_ms % 1000));
    ocsf_buf_puts(h, ts);
    ocsf_buf_puts(h, "EVENT:");
    ocsf_buf_put_i64(h, e->class_uid);
    ocsf_buf_puts(h, " [seq:");
    ocsf_buf_put_i64(h, (int64_t)e->seq);
    ocsf_buf_puts(h, "] [undecoded:");
    ocsf_text_escape(h, why, strlen(why), 200, 0);
    ocsf_buf_puts(h, "]\n");
}

static void human_line(ocsf_buf_t *h, const exp_event_t *e)
{
    ocsf_event_t ev;
    char why[256];
    if (ocsf_decode(e->json, e->json_len, &ev, why, sizeof why) != 0) {
        human_fallback(h, e, why);
        return;
    }
    ocsf_render_line(&ev, OCSF_LINE_FILE, h);
    ocsf_buf_putc(h, '\n');
    ocsf_event_dispose(&ev);
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
            human_line(&s->hbuf, e);
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
        rc = rotate(s); /* the batch is durable already: a failure is retried next time */
        if (rc && !s->rotate_failing)
            slog(s, "rotating ocsf-%s.jsonl: %s (tried again at each batch)", s->data.day,
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
        const char *name;
        size_t off;
    } m[] = {
        {"tollgate_exporter_file_bytes_written_total", offsetof(file_stats_t, bytes)},
        {"tollgate_exporter_file_events_written_total", offsetof(file_stats_t, events)},
        {"tollgate_exporter_file_files_rotated_total", offsetof(file_stats_t, rotated)},
        {"tollgate_exporter_file_files_compressed_total", offsetof(file_stats_t, compressed)},
        {"tollgate_exporter_file_files_removed_total", offsetof(file_stats_t, removed)},
        {"tollgate_exporter_file_write_errors_total", offsetof(file_stats_t, write_errors)},
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
    .options = file_options,
    .config_size = sizeof(file_config_t),
    .set_extra = NULL,
    .check = file_check,
    .open = file_open,
    .send = file_send,
    .metrics = file_metrics,
    .close = file_close,
    .dispose = file_dispose,
};
