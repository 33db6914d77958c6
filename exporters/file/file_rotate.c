/*
 * file_rotate.c: the file sink's directory work: listing its files, rotating
 * the active file, compressing rotated files to .zst, retention, and the
 * repair at open. The invariants are in file.c's header comment. Runs on the
 * exporter's thread, inside open and send.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>
#include <zstd.h>

#include "exporters/file/file_internal.h"

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
            file__slog(s,
                       "compressing %s: %s (kept uncompressed; tried again at the next rotation)",
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

void file__maintain(file_sink_t *s)
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
        file__slog(s, "listing the directory: %s", errtext(-rc, eb, sizeof eb));
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
        file__slog(s, "fsync of the directory after renaming %s: %s", to,
                   errtext(errno, eb, sizeof eb));
    return 0;
}

/* Rotates the active file (it is reopened by the next send). */
int file__rotate(file_sink_t *s)
{
    char name[64];
    active_name(name, sizeof name, s->data.day);
    int rc = rename_rotated(s, s->data.fd, name, s->data.day, s->data.size);
    if (rc)
        return rc;
    s->data.fd = -1;
    file__maintain(s);
    return 0;
}

/* What a crash or a stop left: temp files, torn tails, the active file of
 * another day. */
int file__repair(file_sink_t *s, const char *today)
{
    file_list_t l = {0};
    int rc = scan(s, &l);
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        file_entry_t *e = &l.v[i];
        if (e->kind == F_TMP && unlinkat(s->dirfd, e->name, 0) != 0 && errno != ENOENT)
            rc = -errno;
        if (e->kind == F_HUMAN || (e->kind == F_ACTIVE && strcmp(e->day, today) != 0)) {
            file_out_t o;
            rc = file__out_open(s, &o, e->name, e->day);
            if (rc == 0 && e->kind == F_ACTIVE)
                rc = rename_rotated(s, o.fd, e->name, e->day, o.size);
            if (rc == 0 && e->kind == F_ACTIVE)
                o.fd = -1; /* closed by rename_rotated */
            file__out_close(&o);
        }
    }
    free(l.v);
    return rc;
}
