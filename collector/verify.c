/*
 * verify.c: `tollgate verify`: every CRC, sequence continuity and the
 * keyed chain (HMAC-SHA-256) of a spool, the head witness beside it, and
 * the points (signed checkpoints) it must pass through; read-only.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector/col_internal.h"

typedef struct {
    col__mac_t mac;
    col_verify_opts_t *o;
    size_t pi;        /* the next point */
    col__witness_t w; /* the head witness */
    int wstate;       /* 0 not reached, 1 same head, -1 another */
    unsigned char chain[32];
    bool have_chain;
    uint64_t expect; /* next sequence; 0: any */
    uint64_t records;
} vstate_t;

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The points (and the witness) at sequence seq, whose chain is v->chain. */
static void check_points(vstate_t *v, uint64_t seq)
{
    col_verify_opts_t *o = v->o;
    while (v->pi < o->npoints && o->points[v->pi].seq < seq)
        v->pi++;
    for (; v->pi < o->npoints && o->points[v->pi].seq == seq; v->pi++)
        o->points[v->pi].state = memcmp(o->points[v->pi].head, v->chain, 32) == 0 ? 1 : -1;
    if (v->w.seq == seq)
        v->wstate = memcmp(v->w.head, v->chain, 32) == 0 ? 1 : -1;
    o->last_seq = seq;
}

static int verify_segment(vstate_t *v, const char *dir, const char *name, char *err, size_t errlen)
{
    char path[4096 + 64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unsigned char h[COL__SEG_HDR];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -errno;
    }
    ssize_t got = pread(fd, h, sizeof h, 0);
    close(fd);
    int rc = col__seg_header_check(h, got > 0 ? (size_t)got : 0, v->mac.id, name, err, errlen);
    if (rc)
        return rc;
    uint64_t first = col__get64(h + 16), after = col__get64(h + 80);
    if (v->expect && first != v->expect && after == v->expect - 1 && first > v->expect &&
        memcmp(h + 32, v->chain, 32) == 0) {
        size_t l = strlen(v->o->notes);
        snprintf(v->o->notes + l, sizeof v->o->notes - l,
                 "sequences %" PRIu64 "..%" PRIu64 " are missing: cut before a restart (segment %s "
                 "continues after them; the collector recorded a finding)\n",
                 v->expect, first - 1, name);
    } else if (v->expect && first != v->expect) {
        snprintf(err, errlen, "segment %s: starts at sequence %" PRIu64 ", expected %" PRIu64, name,
                 first, v->expect);
        return -EBADMSG;
    }
    if (v->have_chain && memcmp(h + 32, v->chain, 32) != 0) {
        snprintf(err, errlen, "segment %s: hash chain does not continue the previous segment",
                 name);
        return -EBADMSG;
    }
    memcpy(v->chain, h + 32, 32);
    v->have_chain = true;
    v->expect = first;
    if (!v->o->first_seq)
        v->o->first_seq = first;
    col__scan_t s;
    rc = col__scan_open(&s, path, COL__SEG_HDR, UINT64_MAX);
    if (rc) {
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
        return rc;
    }
    const unsigned char *p;
    col_record_t r;
    uint64_t off;
    bool torn;
    unsigned char want[32];
    while ((rc = col__scan_next(&s, true, &p, &r, &off, &torn)) == 1) {
        if (r.seq != v->expect) {
            snprintf(err, errlen,
                     "record sequence %" PRIu64 " in segment %s at offset %" PRIu64
                     ": expected sequence %" PRIu64,
                     r.seq, name, off, v->expect);
            rc = -EBADMSG;
            break;
        }
        col__chain(&v->mac, v->chain, p, want);
        if (memcmp(want, p + 48, 32) != 0) {
            snprintf(err, errlen,
                     "record sequence %" PRIu64 " in segment %s at offset %" PRIu64
                     ": hash chain broken (the record or one before it was altered)",
                     r.seq, name, off);
            rc = -EBADMSG;
            break;
        }
        memcpy(v->chain, want, 32);
        v->expect++;
        v->records++;
        check_points(v, r.seq);
    }
    if (rc == -EBADMSG && !strstr(err, "record")) {
        snprintf(err, errlen,
                 "record sequence %" PRIu64 " (expected next) in segment %s at offset %" PRIu64
                 ": CRC mismatch or malformed record",
                 v->expect, name, s.off);
    } else if (rc == 0 && torn) {
        snprintf(err, errlen,
                 "segment %s: torn record at offset %" PRIu64 " (sequence %" PRIu64 ")", name,
                 s.off, v->expect);
        rc = -EBADMSG;
    }
    col__scan_close(&s);
    return rc;
}

/* The witness against where the spool ended. */
static int witness_check(vstate_t *v, int wrc, const char *werr, char *err, size_t errlen)
{
    uint64_t end = v->o->last_seq;
    if (wrc == -ENOENT && end == 0)
        return 0;
    if (wrc) {
        snprintf(err, errlen, "head witness: %s", werr);
        return -EBADMSG;
    }
    if (v->w.seq > end) {
        snprintf(err, errlen,
                 "the spool ends at sequence %" PRIu64 " but the head witness names %" PRIu64
                 ": sequences %" PRIu64 "..%" PRIu64 " were cut",
                 end, v->w.seq, end + 1, v->w.seq);
        return -EBADMSG;
    }
    if (v->wstate < 0) {
        snprintf(err, errlen,
                 "record sequence %" PRIu64 ": its chain is not the head the witness names "
                 "(history rewritten)",
                 v->w.seq);
        return -EBADMSG;
    }
    return 0;
}

int col_verify_ex(const char *dir, col_verify_opts_t *o, char *err, size_t errlen)
{
    vstate_t v = {.o = o};
    o->records = o->first_seq = o->last_seq = 0;
    o->notes[0] = '\0';
    err[0] = '\0';
    int rc = col__mac_for_spool(dir, false, &v.mac, err, errlen);
    if (rc)
        return rc;
    char werr[300] = "";
    int wrc = col__witness_read(dir, &v.mac, &v.w, werr, sizeof werr);
    if (wrc)
        v.w.seq = UINT64_MAX;
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        col__mac_dispose(&v.mac);
        return -errno;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "seg-", 4) != 0 || strlen(e->d_name) != 28)
            continue;
        if (n == cap) {
            char **nn = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof *nn);
            if (!nn)
                break;
            names = nn;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = verify_segment(&v, dir, names[i], err, errlen);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    col__mac_dispose(&v.mac);
    o->records = v.records;
    o->walked = rc == 0;
    if (rc == 0 && n == 0) {
        snprintf(err, errlen, "%s: no spool segments", dir);
        return -ENOENT;
    }
    return rc ? rc : witness_check(&v, wrc, werr, err, errlen);
}

int col_verify(const char *dir, uint64_t *records, char *err, size_t errlen)
{
    col_verify_opts_t o = {0};
    int rc = col_verify_ex(dir, &o, err, errlen);
    *records = o.records;
    return rc;
}
