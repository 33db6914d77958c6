/*
 * verify.c: `tollgate verify`: every CRC, sequence continuity and the
 * SHA-256 hash chain of a spool, read-only.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "collector/col_internal.h"

typedef struct {
    EVP_MD_CTX *ctx;
    EVP_MD *md;
    unsigned char chain[32];
    bool have_chain;
    uint64_t expect; /* next sequence; 0: any */
    uint64_t records;
} vstate_t;

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
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
    if (got != (ssize_t)sizeof h || memcmp(h, COL__SEG_MAGIC, 8) != 0) {
        snprintf(err, errlen, "segment %s: bad header", name);
        return -EBADMSG;
    }
    uint64_t first = col__get64(h + 16);
    if (v->expect && first != v->expect) {
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
    col__scan_t s;
    int rc = col__scan_open(&s, path, COL__SEG_HDR, UINT64_MAX);
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
        col__chain(v->ctx, v->md, v->chain, p, want);
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

int col_verify(const char *dir, uint64_t *records, char *err, size_t errlen)
{
    vstate_t v = {0};
    *records = 0;
    err[0] = '\0';
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
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
    v.ctx = EVP_MD_CTX_new();
    v.md = EVP_MD_fetch(NULL, "SHA256", NULL);
    int rc = v.ctx && v.md ? 0 : -ENOSYS;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = verify_segment(&v, dir, names[i], err, errlen);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    EVP_MD_CTX_free(v.ctx);
    EVP_MD_free(v.md);
    *records = v.records;
    if (rc == 0 && n == 0)
        snprintf(err, errlen, "%s: no spool segments", dir);
    return rc == 0 && n == 0 ? -ENOENT : rc;
}
