/*
 * run.c: rep_run(), the one pass over the spool.
 *
 * Segment workers (one per online CPU, at most 8) each take the next segment
 * not yet taken, read it once and, in that one read, check its records
 * (CRC-32C, sequences, the hash chain from the value its header carries:
 * rep__vseg_t) and aggregate it alone (a fresh rep__agg_t). This thread puts
 * the results together in segment order: the verifier's seams between
 * segments (rep__vseg_merge) and the aggregates (rep__agg_merge), so the
 * document does not depend on which worker finished first. When a segment's
 * aggregate cannot be added exactly (a table past its cap, sequences going
 * backwards: never in a sound spool), this thread reads that segment again
 * into the whole aggregate, one record after another, as a single pass
 * would. A worker starts a segment only when it is at most `window`
 * segments ahead of the merge, so memory stays bounded whatever the spool.
 *
 * The former pass (the verifier thread beside one aggregating thread, both
 * reading every segment) is kept as threads = -1: the tests' oracle.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

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
    rep__agg_note(x->a, g, ev, off);
}

/* The spool the options name: spool_dir, or <state_dir>/spool. */
static void spool_dir(const rep_options_t *o, char *dir, size_t n)
{
    if (o->spool_dir)
        snprintf(dir, n, "%s", o->spool_dir);
    else
        snprintf(dir, n, "%s/spool", o->state_dir ? o->state_dir : ".");
}

static int run_two_threads(const rep_options_t *o, json_t **doc, char *err, size_t errlen)
{
    char dir[COL__DIR_MAX];
    *doc = NULL;
    spool_dir(o, dir, sizeof dir);
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

/* ---- the parallel pass ----------------------------------------------------------- */

#define MAX_WORKERS 8

typedef struct {
    rep__agg_t agg;
    rep__vseg_t vs;
    int rc;
} job_t;

typedef struct {
    const rep__segs_t *segs;
    const rep__agg_t *g;   /* the template of each segment's aggregate */
    const col__mac_t *mac; /* NULL: the chain key did not load: nothing verified */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t next, merged, window;
    job_t **jobs;                      /* segs->n: a finished segment's result, until merged */
    job_t *spare[2 * MAX_WORKERS + 2]; /* merged results, their tables kept for reuse */
    size_t nspare;
    bool stop;
} pool_t;

typedef struct {
    rep__agg_t *a;
    rep__vstate_t *v; /* NULL: no verification */
} wctx_t;

static int w_header(void *ctx, const rep__seg_t *g, const unsigned char hdr[COL__SEG_HDR])
{
    wctx_t *w = ctx;
    return w->v ? rep__v_header(w->v, g, hdr) : 0;
}

static int w_record(void *ctx, const rep__seg_t *g, const rep__rec_t *r)
{
    wctx_t *w = ctx;
    if (w->v)
        rep__v_record(w->v, g, r);
    rep__agg_record(w->a, r);
    return 0;
}

static void w_event(void *ctx, const rep__seg_t *g, rep__seg_event_t ev, uint64_t off)
{
    wctx_t *w = ctx;
    if (w->v)
        rep__v_event(w->v, g, ev, off);
    rep__agg_note(w->a, g, ev, off);
}

static int mac_dup(col__mac_t *out, const col__mac_t *in)
{
    *out = *in;
    out->ctx = EVP_MAC_CTX_dup(in->ctx);
    if (!out->ctx)
        return -ENOMEM;
    if (!EVP_MAC_up_ref(in->mac)) {
        EVP_MAC_CTX_free(out->ctx);
        return -ENOMEM;
    }
    return 0;
}

/* Segment i alone: its checks and its aggregate. m: the worker's own chain
 * key context (NULL when it could not be made while p->mac is set). */
static job_t *do_segment(pool_t *p, size_t i, col__mac_t *m)
{
    pthread_mutex_lock(&p->mu);
    job_t *j = p->nspare ? p->spare[--p->nspare] : NULL;
    pthread_mutex_unlock(&p->mu);
    bool reuse = j != NULL;
    if (!j && !(j = malloc(sizeof *j)))
        abort(); /* the small-allocation OOM policy */
    rep__agg_init_part(&j->agg, p->g, reuse);
    memset(&j->vs, 0, sizeof j->vs);
    rep__vstate_t vs;
    wctx_t w = {&j->agg, NULL};
    if (p->mac && m) {
        rep__vseg_begin(&vs, &j->vs, m);
        w.v = &vs;
    }
    rep__scan_cb_t cb = {w_header, w_record, w_event, &w};
    j->rc = p->mac && !m ? -ENOMEM : rep__scan_segment(&p->segs->v[i], &cb, NULL);
    if (w.v)
        rep__vseg_end(&vs);
    return j;
}

static void *worker(void *arg)
{
    pool_t *p = arg;
    col__mac_t mac;
    bool have_mac = p->mac && mac_dup(&mac, p->mac) == 0;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->stop && p->next < p->segs->n && p->next >= p->merged + p->window)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->stop || p->next >= p->segs->n) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        size_t i = p->next++;
        pthread_mutex_unlock(&p->mu);
        job_t *j = do_segment(p, i, have_mac ? &mac : NULL);
        pthread_mutex_lock(&p->mu);
        p->jobs[i] = j;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    if (have_mac)
        col__mac_dispose(&mac);
    return NULL;
}

static int nworkers(const rep_options_t *o)
{
    long n = o->threads > 0 ? o->threads : sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > MAX_WORKERS ? MAX_WORKERS : (int)n;
}

int rep_run(const rep_options_t *o, json_t **doc, char *err, size_t errlen)
{
    if (o->threads < 0)
        return run_two_threads(o, doc, err, errlen);
    char dir[COL__DIR_MAX];
    *doc = NULL;
    spool_dir(o, dir, sizeof dir);
    rep__segs_t segs;
    int rc = rep__segs_list(dir, &segs, err, errlen);
    if (rc)
        return rc;
    rep__agg_t *a = malloc(sizeof *a);
    rep__verify_t *v = calloc(1, sizeof *v);
    job_t **jobs = calloc(segs.n, sizeof *jobs);
    if (!a || !v || !jobs) {
        free(a), free(v), free(jobs);
        rep__segs_dispose(&segs);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    json_object_seed(0);     /* before any thread makes an object */
    col__crc32c(0, NULL, 0); /* its table and CPU probe, once, before the workers */
    rep__agg_init(a, o);
    v->segs = &segs;
    v->dir = dir;
    col__mac_t mac;
    char kerr[200];
    bool have_mac = col__mac_for_spool(dir, false, &mac, kerr, sizeof kerr) == 0;
    rep__vstate_t vs = {.v = v, .mac = have_mac ? &mac : NULL};
    if (!have_mac) { /* without the chain key nothing can be vouched for */
        rep__problem_t *pr = &v->problems[v->nproblems++];
        memset(pr, 0, sizeof *pr);
        snprintf(pr->segment, sizeof pr->segment, "-");
        snprintf(pr->kind, sizeof pr->kind, "key");
        snprintf(pr->text, sizeof pr->text, "chain key: %s: the chain cannot be checked", kerr);
    }

    /* what each segment's aggregate starts from (options, caps, exporter
     * checkpoints): a copy, as this thread changes `a` while workers read it */
    rep__agg_t *tmpl = malloc(sizeof *tmpl);
    if (!tmpl)
        abort(); /* the small-allocation OOM policy */
    memcpy(tmpl, a, sizeof *tmpl);
    int n = nworkers(o);
    pool_t p = {.segs = &segs,
                .g = tmpl,
                .mac = have_mac ? &mac : NULL,
                .jobs = jobs,
                .window = (size_t)n + 1};
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    pthread_t th[MAX_WORKERS];
    int started = 0;
    for (int i = 0; i < n; i++)
        if (pthread_create(&th[started], NULL, worker, &p) == 0)
            started++;
    run_t x = {a, 0, 0, segs.bytes};
    rep__scan_cb_t serial = {NULL, a_record, a_event, &x};
    for (size_t i = 0; i < segs.n && rc == 0; i++) {
        pthread_mutex_lock(&p.mu);
        while (!jobs[i] && started)
            pthread_cond_wait(&p.cv, &p.mu);
        pthread_mutex_unlock(&p.mu);
        if (!started) /* no thread could start: the same work on this one */
            jobs[i] = do_segment(&p, i, have_mac ? &mac : NULL);
        job_t *j = jobs[i];
        if (j->rc) {
            rc = j->rc;
        } else {
            if (have_mac)
                rep__vseg_merge(&vs, &segs.v[i], &j->vs);
            if (rep__agg_merge(a, &j->agg) != 0) /* not exactly: this segment again, here */
                rc = rep__scan_segment(&segs.v[i], &serial, NULL);
        }
        jobs[i] = NULL;
        x.base += segs.v[i].size;
        pthread_mutex_lock(&p.mu);
        if (p.nspare < sizeof p.spare / sizeof p.spare[0]) {
            p.spare[p.nspare++] = j;
            j = NULL;
        }
        p.merged = i + 1;
        pthread_cond_broadcast(&p.cv);
        pthread_mutex_unlock(&p.mu);
        if (j) {
            rep__agg_dispose(&j->agg);
            free(j);
        }
        if (o->progress && rc == 0)
            o->progress(o->progress_ctx, x.base, segs.bytes, a->records);
    }
    pthread_mutex_lock(&p.mu);
    p.stop = true;
    pthread_cond_broadcast(&p.cv);
    pthread_mutex_unlock(&p.mu);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    for (size_t i = 0; i < segs.n; i++) /* past an error: finished, never merged */
        if (jobs[i]) {
            rep__agg_dispose(&jobs[i]->agg);
            free(jobs[i]);
        }
    for (size_t i = 0; i < p.nspare; i++) {
        rep__agg_dispose(&p.spare[i]->agg);
        free(p.spare[i]);
    }
    free(tmpl); /* a shallow copy: what it points to is a's */
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.cv);
    if (have_mac) {
        if (rc == 0)
            rep__verify_witness(&vs);
        col__mac_dispose(&mac);
    }
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
    free(jobs);
    rep__segs_dispose(&segs);
    return rc;
}
