/*
 * scan.c: reading spool segments for the report, and the verifier thread.
 *
 * Segments are listed once (name, size at that moment) and read up to that
 * size: records a running writer appends later are not part of the report,
 * and a partial record at the end of the newest segment is a write in
 * progress, not damage. Unlike col_verify, the scan goes on past a bad
 * record: a record whose CRC fails is reported and stepped over (its length
 * frame is intact); a record that does not frame ends that segment.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report/rep_internal.h"

static int cmp_seg(const void *a, const void *b)
{
    return strcmp(((const rep__seg_t *)a)->name, ((const rep__seg_t *)b)->name);
}

int rep__segs_list(const char *dir, rep__segs_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", dir, strerror(e));
        return -e;
    }
    size_t cap = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len != 28 || strncmp(e->d_name, "seg-", 4) != 0 || strcmp(e->d_name + 24, ".tgs"))
            continue;
        if (out->n == cap) {
            rep__seg_t *nv = realloc(out->v, (cap = cap ? cap * 2 : 64) * sizeof *nv);
            if (!nv) {
                rc = -ENOMEM;
                break;
            }
            out->v = nv;
        }
        rep__seg_t *g = &out->v[out->n];
        memset(g, 0, sizeof *g);
        memcpy(g->name, e->d_name, len + 1);
        snprintf(g->path, sizeof g->path, "%s/%s", dir, e->d_name);
        g->first_seq = strtoull(e->d_name + 4, NULL, 10);
        struct stat st;
        if (stat(g->path, &st) != 0)
            continue; /* gone already (retention) */
        g->size = (uint64_t)st.st_size;
        out->bytes += g->size;
        out->n++;
    }
    closedir(d);
    if (rc) {
        snprintf(err, errlen, "listing %s: out of memory", dir);
        rep__segs_dispose(out);
        return rc;
    }
    if (out->n == 0) {
        snprintf(err, errlen, "%s: no spool segments (has the gateway run with this state?)", dir);
        rep__segs_dispose(out);
        return -ENOENT;
    }
    qsort(out->v, out->n, sizeof *out->v, cmp_seg);
    out->v[out->n - 1].last = true;
    return 0;
}

void rep__segs_dispose(rep__segs_t *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* ---- one segment ----------------------------------------------------------- */

int rep__scan_segment(const rep__seg_t *g, const rep__scan_cb_t *cb, uint64_t *bytes_done)
{
    col__scan_t s;
    int rc = col__scan_open(&s, g->path, COL__SEG_HDR, g->size);
    if (rc < 0) {
        if (rc == -ENOENT) {
            cb->event(cb->ctx, g, REP__SEG_GONE, 0);
            return 0;
        }
        return rc;
    }
    unsigned char hdr[COL__SEG_HDR];
    ssize_t got = pread(s.fd, hdr, sizeof hdr, 0);
    if (got != (ssize_t)sizeof hdr || memcmp(hdr, COL__SEG_MAGIC, 8) != 0) {
        if (!(g->last && g->size < COL__SEG_HDR)) /* a segment being created */
            cb->event(cb->ctx, g, REP__SEG_BAD_HEADER, 0);
        goto out;
    }
    if ((rc = cb->header ? cb->header(cb->ctx, g, hdr) : 0) != 0)
        goto out;
    for (;;) {
        rep__rec_t r;
        bool torn;
        int n = col__scan_next(&s, false, &r.raw, &r.r, &r.off, &torn);
        if (n < 0 || (n == 0 && torn))
            cb->event(cb->ctx, g, n < 0 ? REP__SEG_MALFORMED : REP__SEG_TORN, s.off);
        if (n <= 0)
            break;
        uint32_t total = col__get32(r.raw + 4);
        r.crc_ok = col__crc32c(0, r.raw + 12, total - 16) == col__get32(r.raw + 8);
        if ((rc = cb->record(cb->ctx, g, &r)) != 0)
            break;
        if (bytes_done)
            *bytes_done += total;
    }
out:
    col__scan_close(&s);
    return rc;
}

/* ---- the verifier ------------------------------------------------------------ */

typedef rep__vstate_t vstate_t;

static void problem(rep__verify_t *v, const rep__seg_t *g, uint64_t seq, uint64_t off,
                    const char *kind, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void problem(rep__verify_t *v, const rep__seg_t *g, uint64_t seq, uint64_t off,
                    const char *kind, const char *fmt, ...)
{
    if (v->nproblems < REP__MAX_PROBLEMS) {
        rep__problem_t *p = &v->problems[v->nproblems];
        p->seq = seq;
        p->off = off;
        snprintf(p->segment, sizeof p->segment, "%s", g->name);
        snprintf(p->kind, sizeof p->kind, "%s", kind);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->text, sizeof p->text, fmt, ap);
        va_end(ap);
    }
    v->nproblems++;
}

/* The seam: does this header continue what came before? */
static void seam(vstate_t *s, const rep__seg_t *g, uint64_t first, const unsigned char *hchain)
{
    if (s->expect && first != s->expect) {
        problem(s->v, g, s->expect, 0, "sequence",
                "segment %s starts at sequence %" PRIu64 ", expected %" PRIu64
                ": sequences %" PRIu64 "..%" PRIu64 " are not in the spool",
                g->name, first, s->expect, s->expect, first - 1);
    } else if (s->have_chain && memcmp(hchain, s->chain, 32) != 0) {
        problem(s->v, g, first, 0, "chain",
                "segment %s: the hash chain does not continue the previous segment", g->name);
    }
}

int rep__v_header(void *ctx, const rep__seg_t *g, const unsigned char hdr[COL__SEG_HDR])
{
    vstate_t *s = ctx;
    uint64_t first = col__get64(hdr + 16);
    char herr[240];
    if (col__seg_header_check(hdr, COL__SEG_HDR, s->mac->id, g->name, herr, sizeof herr) != 0)
        problem(s->v, g, first, 0, "header", "%s", herr);
    if (first != g->first_seq)
        problem(s->v, g, first, 0, "header",
                "segment %s: its header says it starts at sequence %" PRIu64, g->name, first);
    if (s->seg) { /* alone: the seam is checked by rep__vseg_merge */
        s->seg->kind = REP__VK_HDR;
        s->seg->first = first;
        memcpy(s->seg->hdr_chain, hdr + 32, 32);
        s->seg->nhdr = s->v->nproblems;
    } else {
        seam(s, g, first, hdr + 32);
    }
    memcpy(s->chain, hdr + 32, 32);
    s->have_chain = true;
    s->expect = first;
    return 0;
}

int rep__v_record(void *ctx, const rep__seg_t *g, const rep__rec_t *r)
{
    vstate_t *s = ctx;
    uint64_t seq = r->r.seq;
    if (!r->crc_ok) {
        problem(s->v, g, s->expect ? s->expect : seq, r->off, "crc",
                "record sequence %" PRIu64 " in segment %s at offset %" PRIu64
                ": CRC mismatch: the record was altered or damaged",
                s->expect ? s->expect : seq, g->name, r->off);
        memcpy(s->chain, r->raw + 48, 32);
        s->expect = s->expect ? s->expect + 1 : 0;
        s->v->checked++;
        return 0;
    }
    if (s->expect && seq != s->expect)
        problem(s->v, g, seq, r->off, "sequence",
                "record sequence %" PRIu64 " in segment %s at offset %" PRIu64
                ": expected sequence %" PRIu64,
                seq, g->name, r->off, s->expect);
    unsigned char want[32];
    col__chain(s->mac, s->chain, r->raw, want);
    if (s->have_chain && memcmp(want, r->raw + 48, 32) != 0)
        problem(s->v, g, seq, r->off, "chain",
                "record sequence %" PRIu64 " in segment %s at offset %" PRIu64
                ": hash chain broken (the record or one before it was altered)",
                seq, g->name, r->off);
    memcpy(s->chain, r->raw + 48, 32); /* go on from what is stored */
    if (seq > s->last)
        s->last = seq;
    s->have_chain = true;
    s->expect = seq + 1;
    s->v->checked++;
    return 0;
}

void rep__v_event(void *ctx, const rep__seg_t *g, rep__seg_event_t ev, uint64_t off)
{
    vstate_t *s = ctx;
    switch (ev) {
    case REP__SEG_BAD_HEADER:
        if (s->seg) /* its sequence is the one expected before it: said by the merge */
            s->seg->kind = REP__VK_BAD;
        else
            problem(s->v, g, s->expect, 0, "header", "segment %s: not a spool segment (bad header)",
                    g->name);
        break;
    case REP__SEG_MALFORMED:
        problem(s->v, g, s->expect, off, "malformed",
                "segment %s at offset %" PRIu64 " (sequence %" PRIu64
                " expected): a record that does not parse; the rest of the segment is unread",
                g->name, off, s->expect);
        break;
    case REP__SEG_TORN:
        if (!g->last)
            problem(s->v, g, s->expect, off, "torn",
                    "segment %s: torn record at offset %" PRIu64 " (sequence %" PRIu64 ")", g->name,
                    off, s->expect);
        return;
    case REP__SEG_GONE: return; /* retention, while we read: said by the aggregator */
    }
    s->have_chain = false; /* we lost our place */
    s->expect = 0;
}

void rep__vseg_begin(vstate_t *s, rep__vseg_t *seg, col__mac_t *mac)
{
    memset(s, 0, sizeof *s);
    memset(seg, 0, sizeof *seg);
    s->v = &seg->v;
    s->mac = mac;
    s->seg = seg;
}

void rep__vseg_end(vstate_t *s)
{
    rep__vseg_t *seg = s->seg;
    seg->expect = s->expect;
    seg->last = s->last;
    seg->have_chain = s->have_chain;
    memcpy(seg->chain, s->chain, 32);
}

static void push(rep__verify_t *v, const rep__problem_t *p)
{
    if (v->nproblems < REP__MAX_PROBLEMS)
        v->problems[v->nproblems] = *p;
    v->nproblems++;
}

void rep__vseg_merge(vstate_t *s, const rep__seg_t *g, const rep__vseg_t *seg)
{
    const rep__verify_t *sv = &seg->v;
    uint64_t kept = sv->nproblems < REP__MAX_PROBLEMS ? sv->nproblems : REP__MAX_PROBLEMS;
    switch (seg->kind) {
    case REP__VK_NONE: break;
    case REP__VK_BAD:
        problem(s->v, g, s->expect, 0, "header", "segment %s: not a spool segment (bad header)",
                g->name);
        s->have_chain = false;
        s->expect = 0;
        break;
    case REP__VK_HDR:
        for (uint64_t i = 0; i < seg->nhdr && i < kept; i++)
            push(s->v, &sv->problems[i]);
        seam(s, g, seg->first, seg->hdr_chain);
        for (uint64_t i = seg->nhdr; i < kept; i++)
            push(s->v, &sv->problems[i]);
        s->v->nproblems += sv->nproblems - kept; /* past the kept ones: counted */
        s->expect = seg->expect;
        s->have_chain = seg->have_chain;
        memcpy(s->chain, seg->chain, 32);
        break;
    }
    if (seg->last > s->last)
        s->last = seg->last;
    s->v->checked += sv->checked;
}

/* The head witness against the spool's end: a cut tail. */
void rep__verify_witness(vstate_t *s)
{
    col__witness_t w;
    char werr[200];
    rep__seg_t none = {.name = "-"};
    int rc = col__witness_read(s->v->dir, s->mac, &w, werr, sizeof werr);
    if (rc == -ENOENT && s->last == 0)
        return;
    if (rc)
        problem(s->v, &none, s->last + 1, 0, "witness", "head witness: %s", werr);
    else if (w.seq > s->last)
        problem(s->v, &none, s->last + 1, 0, "cut",
                "the spool ends at sequence %" PRIu64 " but the head witness names %" PRIu64
                ": sequences %" PRIu64 "..%" PRIu64 " were cut",
                s->last, w.seq, s->last + 1, w.seq);
}

void *rep__verify_main(void *arg)
{
    rep__verify_t *v = arg;
    col__mac_t mac;
    vstate_t s = {.v = v, .mac = &mac};
    char kerr[240];
    if (col__mac_for_spool(v->dir, false, &mac, kerr, sizeof kerr) != 0) {
        /* without the chain key nothing can be vouched for */
        rep__seg_t none = {.name = "-"};
        problem(v, &none, 0, 0, "key", "chain key: %s: the chain cannot be checked", kerr);
        return NULL;
    }
    rep__scan_cb_t cb = {rep__v_header, rep__v_record, rep__v_event, &s};
    for (size_t i = 0; i < v->segs->n && v->rc == 0; i++)
        v->rc = rep__scan_segment(&v->segs->v[i], &cb, NULL);
    rep__verify_witness(&s);
    col__mac_dispose(&mac);
    return NULL;
}
