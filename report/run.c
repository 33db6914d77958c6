/*
 * run.c: rep_run(), the one pass over the spool: the verifier thread reads
 * the segments for the hash chain while this thread aggregates.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/rep_internal.h"

#define PROGRESS_STEP (32u << 20)

typedef struct {
    rep__agg_t *a;
    uint64_t base, next_progress, total;
} run_t;

static int a_record(void *ctx, const rep__seg_t *g, const rep__rec_t *r)
{
    (void)g;
    run_t *x = ctx;
    rep__agg_record(x->a, r);
    if (x->a->o.progress && x->base + r->off >= x->next_progress) {
        x->a->o.progress(x->a->o.progress_ctx, x->base + r->off, x->total, x->a->records);
        x->next_progress = x->base + r->off + PROGRESS_STEP;
    }
    return 0;
}

static void a_event(void *ctx, const rep__seg_t *g, rep__seg_event_t ev, uint64_t off)
{
    run_t *x = ctx;
    json_t *note = NULL;
    switch (ev) {
    case REP__SEG_GONE:
        note = json_sprintf("segment %s was deleted (retention) while the report read the spool",
                            g->name);
        break;
    case REP__SEG_TORN:
        if (g->last)
            note = json_sprintf("segment %s ends in a partial record at offset %" PRIu64
                                " (a write in progress): not counted",
                                g->name, off);
        else
            note = json_sprintf("segment %s: torn record at offset %" PRIu64
                                ": the rest of it is unread",
                                g->name, off);
        break;
    case REP__SEG_MALFORMED:
        note = json_sprintf("segment %s: a record at offset %" PRIu64
                            " does not parse: the rest of it is unread",
                            g->name, off);
        break;
    case REP__SEG_BAD_HEADER:
        note = json_sprintf("segment %s: not a spool segment (bad header): unread", g->name);
        break;
    }
    if (note)
        json_array_append_new(x->a->scan_notes, note);
}

int rep_run(const rep_options_t *o, json_t **doc, char *err, size_t errlen)
{
    char dir[COL__DIR_MAX];
    *doc = NULL;
    if (o->spool_dir)
        snprintf(dir, sizeof dir, "%s", o->spool_dir);
    else
        snprintf(dir, sizeof dir, "%s/spool", o->state_dir ? o->state_dir : ".");
    rep__segs_t segs;
    int rc = rep__segs_list(dir, &segs, err, errlen);
    if (rc)
        return rc;
    rep__agg_t *a = malloc(sizeof *a);
    rep__verify_t *v = calloc(1, sizeof *v);
    if (!a || !v) {
        free(a), free(v);
        rep__segs_dispose(&segs);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    rep__agg_init(a, o);
    v->segs = &segs;
    v->dir = dir;
    pthread_t th;
    bool threaded = pthread_create(&th, NULL, rep__verify_main, v) == 0;
    run_t x = {a, 0, 0, segs.bytes};
    rep__scan_cb_t cb = {NULL, a_record, a_event, &x};
    for (size_t i = 0; i < segs.n && rc == 0; i++) {
        rc = rep__scan_segment(&segs.v[i], &cb, NULL);
        x.base += segs.v[i].size;
    }
    if (threaded)
        pthread_join(th, NULL);
    else
        rep__verify_main(v);
    if (o->progress)
        o->progress(o->progress_ctx, segs.bytes, segs.bytes, a->records);
    if (rc) {
        snprintf(err, errlen, "reading %s: %s", dir, strerror(-rc));
    } else {
        *doc = rep__doc_build(a, v, &segs);
        json_object_set_new(json_object_get(*doc, "scope"), "spool_dir",
                            rep__jstr(dir, strlen(dir)));
    }
    rep__agg_dispose(a);
    free(a);
    free(v);
    rep__segs_dispose(&segs);
    return rc;
}
