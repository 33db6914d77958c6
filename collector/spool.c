/*
 * spool.c: the append-only segment files (format in col_internal.h):
 * opening and recovery, appending through a write buffer, rotation,
 * retention, and the in-memory index (segments and blocks) readers use.
 *
 * Thread: the writer thread, except col__scan_* and col__rec_parse, which
 * any reader uses. sp->mu guards segs/nsegs and every blocks array.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "collector/col_internal.h"

int64_t col__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- records -------------------------------------------------------------- */

int64_t col__rec_parse(const unsigned char *p, size_t n, bool check_crc, col_record_t *out)
{
    if (n < 8)
        return 0;
    if (col__get32(p) != COL__REC_MAGIC)
        return -EBADMSG;
    uint32_t total = col__get32(p + 4);
    if (total < COL__REC_MIN || total > COL__REC_MAX)
        return -EBADMSG;
    if (n < total)
        return 0;
    uint32_t sb = p[41], jl = col__get32(p + 44);
    if ((uint64_t)COL__REC_HDR + sb + jl + 4 != total || col__get32(p + total - 4) != total)
        return -EBADMSG;
    if (check_crc && col__crc32c(0, p + 12, total - 16) != col__get32(p + 8))
        return -EBADMSG;
    out->seq = col__get64(p + 12);
    out->time = (int64_t)col__get64(p + 20);
    out->logged_time = (int64_t)col__get64(p + 28);
    out->class_uid = (int)(p[36] | p[37] << 8 | (uint32_t)(p[42] | p[43] << 8) << 16);
    out->severity_id = p[38];
    out->action_id = p[39] == 255 ? -1 : p[39];
    out->source = p[40] & (COL__SRC_REPAIRED - 1);
    out->repaired = (p[40] & COL__SRC_REPAIRED) != 0;
    out->sandbox = (const char *)p + COL__REC_HDR;
    out->sandbox_len = sb;
    out->json = (const char *)p + COL__REC_HDR + sb;
    out->json_len = jl;
    return total;
}

int col__seg_header_check(const unsigned char *h, size_t n, const unsigned char id[COL__KEY_ID],
                          const char *name, char *err, size_t errlen)
{
    if (n < 16 || memcmp(h, COL__SEG_MAGIC, 8) != 0) {
        snprintf(err, errlen, "segment %s: not a tollgate spool segment (bad header)", name);
        return -EBADMSG;
    }
    uint32_t version = col__get32(h + 8);
    if (version != COL__SEG_VERSION || col__get32(h + 12) != COL__SEG_HDR) {
        snprintf(err, errlen,
                 "segment %s: spool format version %u (this tollgate reads version %d only%s): "
                 "move the old spool directory away",
                 name, version, COL__SEG_VERSION,
                 version == 1 ? "; version 1 has an unkeyed chain" : "");
        return -EBADMSG;
    }
    if (n < COL__SEG_HDR) {
        snprintf(err, errlen, "segment %s: torn header", name);
        return -EBADMSG;
    }
    if (id && memcmp(h + 64, id, COL__KEY_ID) != 0) {
        char want[2 * COL__KEY_ID + 1], got[2 * COL__KEY_ID + 1];
        col__hex(id, COL__KEY_ID, want);
        col__hex(h + 64, COL__KEY_ID, got);
        snprintf(err, errlen,
                 "segment %s: chained under key id %s, but keys/chain.key has id %s (the "
                 "key of this spool is lost or was replaced)",
                 name, got, want);
        return -EBADMSG;
    }
    return 0;
}

/* ---- scanning a segment file ----------------------------------------------- */

int col__scan_open(col__scan_t *s, const char *path, uint64_t off, uint64_t end)
{
    memset(s, 0, sizeof *s);
    s->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (s->fd < 0)
        return -errno;
    s->cap = 1u << 20;
    s->buf = malloc(s->cap);
    if (!s->buf) {
        close(s->fd);
        return -ENOMEM;
    }
    s->off = off;
    s->end = end;
    return 0;
}

void col__scan_close(col__scan_t *s)
{
    if (s->fd >= 0)
        close(s->fd);
    free(s->buf);
    s->fd = -1;
    s->buf = NULL;
}

/* Makes at least `need` bytes available; returns what is available. */
static size_t fill(col__scan_t *s, size_t need)
{
    if (s->len >= need)
        return s->len;
    if (need > s->cap) {
        unsigned char *nb = malloc(need);
        if (!nb)
            return s->len;
        memcpy(nb, s->buf + s->start, s->len);
        free(s->buf);
        s->buf = nb, s->cap = need, s->start = 0;
    } else if (s->start + need > s->cap) {
        memmove(s->buf, s->buf + s->start, s->len);
        s->start = 0;
    }
    while (s->len < need) {
        uint64_t at = s->off + s->len;
        if (at >= s->end)
            break;
        size_t room = s->cap - s->start - s->len;
        if (s->end - at < room)
            room = (size_t)(s->end - at);
        ssize_t r = pread(s->fd, s->buf + s->start + s->len, room, (off_t)at);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        s->len += (size_t)r;
    }
    return s->len;
}

int col__scan_next(col__scan_t *s, bool check_crc, const unsigned char **p, col_record_t *rec,
                   uint64_t *off, bool *torn)
{
    *torn = false;
    size_t have = fill(s, 8);
    if (have == 0)
        return 0;
    if (have < 8) {
        *torn = true;
        return 0;
    }
    const unsigned char *q = s->buf + s->start;
    if (col__get32(q) != COL__REC_MAGIC)
        return -EBADMSG;
    uint32_t total = col__get32(q + 4);
    if (total < COL__REC_MIN || total > COL__REC_MAX)
        return -EBADMSG;
    if (fill(s, total) < total) {
        *torn = true;
        return 0;
    }
    q = s->buf + s->start;
    if (col__rec_parse(q, total, check_crc, rec) <= 0)
        return -EBADMSG;
    *p = q;
    *off = s->off;
    s->start += total, s->len -= total, s->off += total;
    return 1;
}

/* ---- segments -------------------------------------------------------------- */

static void seg_path(const col__spool_t *sp, uint64_t first, char *out, size_t n)
{
    snprintf(out, n, "%s/seg-%020" PRIu64 ".tgs", sp->dir, first);
}

int col__fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) ? -errno : 0;
    close(fd);
    return rc;
}

static col__seg_t *seg_push(col__spool_t *sp)
{
    if (sp->nsegs == sp->capsegs) {
        size_t cap = sp->capsegs ? sp->capsegs * 2 : 16;
        col__seg_t *n = realloc(sp->segs, cap * sizeof *n);
        if (!n)
            abort();
        sp->segs = n, sp->capsegs = cap;
    }
    col__seg_t *g = &sp->segs[sp->nsegs++];
    memset(g, 0, sizeof *g);
    g->min_time = INT64_MAX, g->max_time = INT64_MIN;
    return g;
}

/* Adds a record at file offset off to the segment's index. mu held or not
 * yet shared. */
static void index_add(col__seg_t *g, uint64_t off, uint64_t seq, int64_t time, int64_t logged)
{
    col__block_t *b = g->nblocks ? &g->blocks[g->nblocks - 1] : NULL;
    if (!b || b->count >= COL__BLOCK_RECS || off - b->off >= COL__BLOCK_BYTES) {
        if (g->nblocks == g->capblocks) {
            size_t cap = g->capblocks ? g->capblocks * 2 : 64;
            col__block_t *n = realloc(g->blocks, cap * sizeof *n);
            if (!n)
                abort();
            g->blocks = n, g->capblocks = cap;
        }
        b = &g->blocks[g->nblocks++];
        *b = (col__block_t){off, seq, 0, INT64_MAX, INT64_MIN};
    }
    b->count++;
    if (time < b->min_time)
        b->min_time = time;
    if (time > b->max_time)
        b->max_time = time;
    if (time < g->min_time)
        g->min_time = time;
    if (time > g->max_time)
        g->max_time = time;
    if (logged > g->max_logged)
        g->max_logged = logged;
    g->last_seq = seq;
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        c += w, n -= (size_t)w;
    }
    return 0;
}

/* Creates a new segment whose first record will be sp->next_seq; sync:
 * its header and the directory are made durable here (else the caller's
 * syncer does it before any record of it is acknowledged). */
static int seg_create(col__spool_t *sp, bool sync, char *err, size_t errlen)
{
    char path[sizeof sp->segs[0].path];
    seg_path(sp, sp->next_seq, path, sizeof path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "create %s: %s", path, strerror(errno));
        return -errno;
    }
    unsigned char h[COL__SEG_HDR] = {0};
    memcpy(h, COL__SEG_MAGIC, 8);
    col__put32(h + 8, COL__SEG_VERSION);
    col__put32(h + 12, COL__SEG_HDR);
    col__put64(h + 16, sp->next_seq);
    col__put64(h + 24, (uint64_t)col__now_ms());
    memcpy(h + 32, sp->chain, 32);
    memcpy(h + 64, sp->mac->id, COL__KEY_ID);
    col__put64(h + 80, sp->chain_seq);
    int rc = write_all(fd, h, sizeof h);
    if (rc == 0 && sync && fdatasync(fd) != 0)
        rc = -errno;
    if (rc == 0 && sync)
        rc = col__fsync_dir(sp->dir);
    if (rc) {
        snprintf(err, errlen, "write %s: %s", path, strerror(-rc));
        close(fd);
        unlink(path);
        return rc;
    }
    pthread_mutex_lock(&sp->mu);
    col__seg_t *g = seg_push(sp);
    snprintf(g->path, sizeof g->path, "%s", path);
    g->first_seq = sp->next_seq;
    g->last_seq = sp->next_seq - 1;
    g->bytes = COL__SEG_HDR;
    pthread_mutex_unlock(&sp->mu);
    if (sp->fd >= 0)
        close(sp->fd);
    sp->fd = fd;
    sp->total_bytes += COL__SEG_HDR;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The first sequences of the segments in dir, sorted. */
static int list_segments(const char *dir, uint64_t **out, size_t *n)
{
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    size_t cap = 16;
    uint64_t *v = malloc(cap * sizeof *v);
    struct dirent *e;
    *n = 0;
    while (v && (e = readdir(d))) {
        uint64_t first;
        char tail[8];
        if (sscanf(e->d_name, "seg-%20" SCNu64 ".%4s", &first, tail) != 2 ||
            strcmp(tail, "tgs") != 0 || strlen(e->d_name) != 28)
            continue;
        if (*n == cap) {
            uint64_t *nv = realloc(v, (cap *= 2) * sizeof *v);
            if (!nv)
                break;
            v = nv;
        }
        v[(*n)++] = first;
    }
    closedir(d);
    if (!v)
        return -ENOMEM;
    qsort(v, *n, sizeof *v, cmp_u64);
    *out = v;
    return 0;
}

/* Copies bytes [from, size) of path to quarantine-<ms>.bin beside it, so a
 * cut tail is kept for forensics, never destroyed. */
static void quarantine(const col__spool_t *sp, const char *path, uint64_t from)
{
    char q[sizeof sp->segs[0].path + 64];
    int64_t ms = col__now_ms();
    int in = open(path, O_RDONLY | O_CLOEXEC), out = -1;
    /* one recovery may quarantine two pieces in the same millisecond */
    for (int k = 0; in >= 0 && out < 0 && k < 100; k++) {
        if (k)
            snprintf(q, sizeof q, "%s/quarantine-%" PRId64 "-%d.bin", sp->dir, ms, k);
        else
            snprintf(q, sizeof q, "%s/quarantine-%" PRId64 ".bin", sp->dir, ms);
        out = open(q, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (out < 0 && errno != EEXIST)
            break;
    }
    char buf[65536];
    ssize_t r;
    off_t at = (off_t)from;
    while (out >= 0 && (r = pread(in, buf, sizeof buf, at)) > 0) {
        if (write_all(out, buf, (size_t)r) != 0)
            break;
        at += r;
    }
    if (out >= 0) {
        fdatasync(out);
        close(out);
    }
    if (in >= 0)
        close(in);
}

/* Reads a segment: header, then every record into the index (check: the
 * CRCs too). For the last segment (recover), a bad or torn tail is
 * quarantined and cut; *bad says a segment has bytes after its last sound
 * record. 1: the last segment had a torn header and was set aside. */
static int seg_load(col__spool_t *sp, uint64_t first, bool recover, bool check, bool *bad,
                    uint64_t *cut, char *err, size_t errlen)
{
    *bad = false;
    col__seg_t *g = seg_push(sp);
    seg_path(sp, first, g->path, sizeof g->path);
    g->first_seq = first;
    g->last_seq = first - 1;
    unsigned char h[COL__SEG_HDR];
    int fd = open(g->path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, errlen, "open %s: %s", g->path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -errno;
    }
    ssize_t hn = pread(fd, h, sizeof h, 0);
    close(fd);
    if (hn >= 16 && memcmp(h, COL__SEG_MAGIC, 8) == 0 && col__get32(h + 8) != COL__SEG_VERSION)
        return col__seg_header_check(h, (size_t)hn, NULL, g->path, err, errlen);
    if (hn != (ssize_t)sizeof h || memcmp(h, COL__SEG_MAGIC, 8) != 0 ||
        col__get64(h + 16) != first) {
        bool zero = true;
        for (ssize_t i = 0; i < hn && zero; i++)
            zero = h[i] == 0;
        /* a torn header of a brand-new last segment: a crash before the
         * syncer made it durable, so none of its records was acknowledged
         * (a short file, or a header page never written: zeros) */
        if (!recover || (st.st_size > COL__SEG_HDR * 4 && !zero)) {
            snprintf(err, errlen, "%s: not a tollgate spool segment", g->path);
            return -EBADMSG;
        }
        if (st.st_size > COL__SEG_HDR * 4) /* records after it: kept for forensics */
            quarantine(sp, g->path, 0);
        *cut += (uint64_t)st.st_size;
        sp->nsegs--;
        unlink(g->path);
        return 1;
    }
    int hrc = col__seg_header_check(h, sizeof h, sp->mac->id, g->path, err, errlen);
    if (hrc)
        return hrc;
    memcpy(sp->chain, h + 32, 32);
    sp->chain_seq = col__get64(h + 80);
    col__scan_t s;
    int rc = col__scan_open(&s, g->path, COL__SEG_HDR, UINT64_MAX);
    if (rc) {
        snprintf(err, errlen, "open %s: %s", g->path, strerror(-rc));
        return rc;
    }
    const unsigned char *p;
    col_record_t r;
    uint64_t off, good = COL__SEG_HDR, expect = first;
    bool torn;
    while ((rc = col__scan_next(&s, recover || check, &p, &r, &off, &torn)) == 1) {
        if (r.seq != expect) {
            rc = -EBADMSG;
            break;
        }
        index_add(g, off, r.seq, r.time, r.logged_time);
        memcpy(sp->chain, p + 48, 32);
        sp->chain_seq = r.seq;
        good = off + (uint64_t)(COL__REC_HDR + r.sandbox_len + r.json_len + 4);
        expect++;
    }
    col__scan_close(&s);
    g->bytes = good;
    *bad = (uint64_t)st.st_size > good;
    if (recover && (uint64_t)st.st_size > good) {
        quarantine(sp, g->path, good);
        if (truncate(g->path, (off_t)good) != 0) {
            snprintf(err, errlen, "truncate %s: %s", g->path, strerror(errno));
            return -errno;
        }
        *cut += (uint64_t)st.st_size - good;
    }
    sp->total_bytes += good;
    return 0;
}

/* Loads the last segment again, recovering it (quarantine and cut of a bad
 * tail): it was loaded as a sealed one. */
static int reload_last(col__spool_t *sp, uint64_t *cut, char *err, size_t errlen)
{
    col__seg_t *g = &sp->segs[sp->nsegs - 1];
    uint64_t first = g->first_seq;
    bool bad;
    sp->total_bytes -= g->bytes;
    free(g->blocks);
    sp->nsegs--;
    int rc = seg_load(sp, first, true, true, &bad, cut, err, errlen);
    return rc == 1 ? -EBADMSG : rc;
}

/* The seam between the last two segments. A rotation creates the next
 * segment before the syncer has made the sealed one whole on disk (its
 * final fdatasync, the new header's and the directory's fsync come after;
 * no record of the new segment is acknowledged before all three). A crash
 * in between can leave the sealed segment's tail torn or short while the
 * new one exists: then nothing of the new segment was acknowledged; it is
 * moved to quarantine and the sealed one recovered as the last. A seam that
 * does not match while the sealed segment is whole (a rewritten chain) is
 * left for verify to report. 1: the last was set aside. */
static int seam_check(col__spool_t *sp, const unsigned char pchain[32], uint64_t pchain_seq,
                      bool pbad, uint64_t *cut, char *err, size_t errlen)
{
    col__seg_t *g = &sp->segs[sp->nsegs - 1];
    unsigned char h[COL__SEG_HDR];
    int fd = open(g->path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || pread(fd, h, sizeof h, 0) != (ssize_t)sizeof h) {
        snprintf(err, errlen, "read %s: %s", g->path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -EIO;
    }
    close(fd);
    uint64_t after = col__get64(h + 80);
    bool whole = !pbad && pchain_seq == after && memcmp(pchain, h + 32, 32) == 0;
    if (whole || (!pbad && pchain_seq >= after))
        return 0;
    quarantine(sp, g->path, 0);
    if (unlink(g->path) != 0) {
        snprintf(err, errlen, "unlink %s: %s", g->path, strerror(errno));
        return -errno;
    }
    *cut += (uint64_t)st.st_size;
    sp->total_bytes -= g->bytes;
    free(g->blocks);
    sp->nsegs--;
    return 1;
}

int col__spool_open(col__spool_t *sp, const char *dir, int64_t segment_bytes, col__mac_t *mac,
                    uint64_t *cut, char *err, size_t errlen)
{
    memset(sp, 0, sizeof *sp);
    sp->fd = -1;
    *cut = 0;
    snprintf(sp->dir, sizeof sp->dir, "%s", dir);
    sp->segment_bytes = segment_bytes;
    pthread_mutex_init(&sp->mu, NULL);
    sp->mac = mac;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
        return -errno;
    }
    uint64_t *firsts = NULL;
    size_t n = 0;
    int rc = list_segments(dir, &firsts, &n);
    if (rc) {
        snprintf(err, errlen, "read %s: %s", dir, strerror(-rc));
        return rc;
    }
    sp->next_seq = 1;
    unsigned char pchain[32] = {0};
    uint64_t pchain_seq = 0;
    bool pbad = false, bad = false;
    for (size_t i = 0; i < n && rc >= 0; i++) {
        memcpy(pchain, sp->chain, 32); /* where the segment before ends */
        pchain_seq = sp->chain_seq;
        pbad = bad;
        /* the last two are read with their CRCs: the one before the last
         * may be a sealed segment whose tail a crash tore (below) */
        rc = seg_load(sp, firsts[i], i + 1 == n, i + 2 >= n, &bad, cut, err, errlen);
    }
    if (rc >= 0 && n >= 2 && sp->nsegs == n)
        rc = seam_check(sp, pchain, pchain_seq, pbad, cut, err, errlen);
    if (rc == 1 && sp->nsegs) /* the last was set aside: recover the one before as the last */
        rc = reload_last(sp, cut, err, errlen);
    free(firsts);
    if (rc < 0)
        return rc;
    if (*cut && (rc = col__fsync_dir(dir)) != 0) {
        snprintf(err, errlen, "fsync %s: %s", dir, strerror(-rc));
        return rc;
    }
    if (sp->nsegs) {
        col__seg_t *g = &sp->segs[sp->nsegs - 1];
        sp->next_seq = g->last_seq + 1;
        sp->fd = open(g->path, O_WRONLY | O_CLOEXEC);
        if (sp->fd < 0) {
            snprintf(err, errlen, "open %s: %s", g->path, strerror(errno));
            return -errno;
        }
        return 0;
    }
    return seg_create(sp, true, err, errlen);
}

void col__spool_close(col__spool_t *sp)
{
    if (sp->fd >= 0)
        close(sp->fd);
    for (size_t i = 0; i < sp->nsegs; i++)
        free(sp->segs[i].blocks);
    free(sp->segs);
    for (size_t i = 0; i < sp->npend; i++)
        if (sp->pend[i].own)
            free(sp->pend[i].a);
    free(sp->pend);
    pthread_mutex_destroy(&sp->mu);
    memset(sp, 0, sizeof *sp);
    sp->fd = -1;
}

/* "key":v, into out (40 bytes); its length. */
static size_t put_field(char *out, const char *key, size_t klen, int64_t v)
{
    char d[24];
    size_t n = 0;
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
    do
        d[n++] = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    char *o = out;
    *o++ = '"';
    memcpy(o, key, klen);
    o += klen;
    *o++ = '"', *o++ = ':';
    if (v < 0)
        *o++ = '-';
    while (n)
        *o++ = d[--n];
    *o++ = ',';
    return (size_t)(o - out);
}

ssize_t (*col__pwritev)(int fd, const struct iovec *iov, int n, off_t off) = pwritev;
int (*col__fdatasync)(int fd) = fdatasync;

static col__pend_t *pend_push(col__spool_t *sp)
{
    if (sp->npend == sp->cappend) {
        size_t cap = sp->cappend ? sp->cappend * 2 : COL__BATCH_RECS + 16;
        col__pend_t *n = realloc(sp->pend, cap * sizeof *n);
        if (!n)
            abort();
        sp->pend = n, sp->cappend = cap;
    }
    return &sp->pend[sp->npend++];
}

uint64_t col__spool_add(col__spool_t *sp, const col__rec_t *rec, unsigned char *data,
                        int64_t logged_time)
{
    uint64_t seq = sp->next_seq++;
    if (logged_time != sp->lt_cached || sp->lt_len == 0) {
        sp->lt_len = (uint8_t)put_field(sp->lt_field, "logged_time", 11, logged_time);
        sp->lt_cached = logged_time;
    }
    col__pend_t *e = pend_push(sp);
    e->sqn = (uint8_t)put_field(e->sq, "sequence", 8, (int64_t)seq);
    e->ltn = sp->lt_len;
    memcpy(e->lt, sp->lt_field, sizeof e->lt);
    e->own = false;
    uint32_t jl = rec->json_len + e->ltn + e->sqn;
    uint32_t sb = rec->sandbox_len;
    uint32_t total = COL__REC_HDR + sb + jl + 4;
    unsigned char *p = data - COL__REC_HDR;
    const unsigned char *json = data + sb;
    col__put32(p, COL__REC_MAGIC);
    col__put32(p + 4, total);
    col__put64(p + 12, seq);
    col__put64(p + 20, (uint64_t)rec->time);
    col__put64(p + 28, (uint64_t)logged_time);
    p[36] = (unsigned char)rec->class_uid, p[37] = (unsigned char)(rec->class_uid >> 8);
    p[38] = rec->severity, p[39] = rec->action, p[40] = rec->source;
    p[41] = rec->sandbox_len;
    p[42] = (unsigned char)(rec->class_uid >> 16), p[43] = (unsigned char)(rec->class_uid >> 24);
    col__put32(p + 44, jl);
    col__put32(data + sb + rec->json_len, total); /* the trailer, in the entry's 4 spare bytes */
    e->a = p;
    e->alen = COL__REC_HDR + sb + rec->at[0];
    e->b = json + rec->at[0];
    e->blen = rec->at[1] - rec->at[0];
    e->c = json + rec->at[1];
    e->clen = rec->json_len - rec->at[1] + 4;
    e->total = total;
    struct iovec v[5] = {{p + COL__REC_HDR, sb + rec->at[0]},
                         {e->lt, e->ltn},
                         {(void *)e->b, e->blen},
                         {e->sq, e->sqn},
                         {(void *)e->c, e->clen - 4}};
    col__chain_v(sp->mac, sp->chain, p, v, 5, p + 48);
    memcpy(sp->chain, p + 48, 32);
    sp->chain_seq = seq;
    uint32_t crc = col__crc32c(0, p + 12, COL__REC_HDR - 12);
    for (int i = 0; i < 5; i++)
        crc = col__crc32c(crc, v[i].iov_base, v[i].iov_len);
    col__put32(p + 8, crc);
    e->seq = seq;
    e->time = rec->time;
    e->logged = logged_time;
    sp->wlen += total;
    return seq;
}

uint64_t col__spool_add_copy(col__spool_t *sp, const col__rec_t *rec, const unsigned char *data,
                             int64_t logged_time)
{
    size_t n = rec->sandbox_len + (size_t)rec->json_len;
    unsigned char *buf = malloc(COL__REC_HDR + n + 4);
    if (!buf)
        abort();
    memcpy(buf + COL__REC_HDR, data, n);
    uint64_t seq = col__spool_add(sp, rec, buf + COL__REC_HDR, logged_time);
    col__pend_t *e = &sp->pend[sp->npend - 1];
    /* flatten: one piece the record owns */
    unsigned char *rec_bytes = malloc(e->total);
    if (!rec_bytes)
        abort();
    unsigned char *q = rec_bytes;
    memcpy(q, e->a, e->alen), q += e->alen;
    memcpy(q, e->lt, e->ltn), q += e->ltn;
    memcpy(q, e->b, e->blen), q += e->blen;
    memcpy(q, e->sq, e->sqn), q += e->sqn;
    memcpy(q, e->c, e->clen);
    free(buf);
    e->a = rec_bytes;
    e->alen = e->total;
    e->ltn = e->sqn = 0;
    e->blen = e->clen = 0;
    e->own = true;
    return seq;
}

int col__spool_skip_to(col__spool_t *sp, uint64_t next, char *err, size_t errlen)
{
    col__seg_t *g = &sp->segs[sp->nsegs - 1];
    if (sp->wlen || next <= sp->next_seq)
        return -EINVAL;
    if (g->last_seq < g->first_seq) { /* an empty active segment: made again */
        close(sp->fd);
        sp->fd = -1;
        unlink(g->path);
        pthread_mutex_lock(&sp->mu);
        sp->total_bytes -= g->bytes;
        free(g->blocks);
        sp->nsegs--;
        pthread_mutex_unlock(&sp->mu);
    }
    sp->next_seq = next;
    return seg_create(sp, true, err, errlen);
}

/* The iovecs of records [from, npend) into v (at most max); how many
 * records they cover. */
static size_t batch_iov(const col__spool_t *sp, size_t from, struct iovec *v, int max, int *nv)
{
    int n = 0;
    size_t i = from;
    for (; i < sp->npend && n + 5 <= max; i++) {
        const col__pend_t *e = &sp->pend[i];
        v[n++] = (struct iovec){e->a, e->alen};
        if (e->own)
            continue;
        v[n++] = (struct iovec){(void *)e->lt, e->ltn};
        if (e->blen)
            v[n++] = (struct iovec){(void *)e->b, e->blen};
        v[n++] = (struct iovec){(void *)e->sq, e->sqn};
        v[n++] = (struct iovec){(void *)e->c, e->clen};
    }
    *nv = n;
    return i - from;
}

/* pwritev of v[0, n) at off until all is written (short writes go on). */
static int pwritev_all(int fd, struct iovec *v, int n, off_t off)
{
    while (n > 0) {
        ssize_t w = col__pwritev(fd, v, n, off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        if (w == 0)
            return -EIO;
        off += w;
        while (n > 0 && (size_t)w >= v->iov_len)
            w -= (ssize_t)v->iov_len, v++, n--;
        if (n > 0) {
            v->iov_base = (char *)v->iov_base + w;
            v->iov_len -= (size_t)w;
        }
    }
    return 0;
}

int col__spool_flush(col__spool_t *sp)
{
    if (sp->npend == 0)
        return 0;
    col__seg_t *g = &sp->segs[sp->nsegs - 1];
    struct iovec v[COL__BATCH_RECS * 5];
    uint64_t off = g->bytes;
    for (size_t i = 0; i < sp->npend;) {
        int nv;
        size_t k = batch_iov(sp, i, v, (int)(sizeof v / sizeof v[0]), &nv);
        size_t bytes = 0;
        for (int j = 0; j < nv; j++)
            bytes += v[j].iov_len;
        int rc = pwritev_all(sp->fd, v, nv, (off_t)off);
        if (rc) {
            /* a partial write may have landed: cut it so the file stays whole */
            if (ftruncate(sp->fd, (off_t)g->bytes) != 0)
                return -errno;
            return rc;
        }
        off += bytes;
        i += k;
    }
    pthread_mutex_lock(&sp->mu);
    uint64_t at = g->bytes;
    for (size_t i = 0; i < sp->npend; i++) {
        const col__pend_t *e = &sp->pend[i];
        index_add(g, at, e->seq, e->time, e->logged);
        at += e->total;
    }
    g->bytes += sp->wlen;
    pthread_mutex_unlock(&sp->mu);
    sp->total_bytes += sp->wlen;
    for (size_t i = 0; i < sp->npend; i++)
        if (sp->pend[i].own)
            free(sp->pend[i].a);
    sp->npend = 0;
    sp->wlen = 0;
    if (sp->cappend > 4 * COL__BATCH_RECS) { /* a long batch passed: give the memory back */
        free(sp->pend);
        sp->pend = NULL, sp->cappend = 0;
    }
    return 0;
}

int col__spool_sync(col__spool_t *sp)
{
    return col__fdatasync(sp->fd) == 0 ? 0 : -errno;
}

int col__spool_maybe_rotate(col__spool_t *sp, bool sync, char *err, size_t errlen)
{
    col__seg_t *g = &sp->segs[sp->nsegs - 1];
    if ((int64_t)g->bytes < sp->segment_bytes || g->last_seq < g->first_seq)
        return 0;
    if (sync) {
        int rc = col__spool_sync(sp);
        if (rc) {
            snprintf(err, errlen, "fdatasync %s: %s", g->path, strerror(-rc));
            return rc;
        }
    }
    return seg_create(sp, sync, err, errlen);
}

void col__spool_retention(col__spool_t *sp, const col__retention_t *r, int64_t now)
{
    while (sp->nsegs > 1) {
        col__seg_t *g = &sp->segs[0];
        int64_t total = (int64_t)sp->total_bytes;
        bool too_big = (r->max_bytes > 0 && total > r->max_bytes) || (r->cap > 0 && total > r->cap);
        bool too_old = r->max_age_ms > 0 && g->max_logged < now - r->max_age_ms;
        if ((!too_big && !too_old) || g->last_seq >= r->floor)
            break; /* kept: not due, or an exporter still needs it */
        if (unlink(g->path) != 0 && errno != ENOENT)
            break;
        pthread_mutex_lock(&sp->mu);
        sp->total_bytes -= g->bytes;
        free(g->blocks);
        memmove(&sp->segs[0], &sp->segs[1], (sp->nsegs - 1) * sizeof *g);
        sp->nsegs--;
        pthread_mutex_unlock(&sp->mu);
    }
}
