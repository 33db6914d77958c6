/*
 * rep_internal.h: what the files of report/ share. Not for outside.
 *
 * The report reads spool segments itself, with the collector's record
 * parser and chain function (collector/col_internal.h): the collector has
 * no public read-only reader of a spool directory that goes on past a bad
 * record, and `verify` (col_verify) stops at the first one.
 */
#ifndef TOLLGATE_REP_INTERNAL_H
#define TOLLGATE_REP_INTERNAL_H

#include <jansson.h>

#include "collector/col_internal.h"
#include "report/report.h"

/* ---- sequence sets: first, last, count, the first few ranges ---------- */
#define REP__RANGES 4
typedef struct {
    uint64_t lo, hi;
} rep__range_t;

typedef struct {
    uint64_t first, last, count;
    uint64_t more; /* sequences past the kept ranges */
    rep__range_t r[REP__RANGES];
    uint8_t n;
} rep__seqs_t;

/* seq must grow from call to call. */
void rep__seqs_add(rep__seqs_t *s, uint64_t seq);
/* row[key] = the kept ranges, [[12,15],[20,20],[31,33]]; row[key_more] =
 * how many sequences came after them (0: the list is whole). */
void rep__seqs_set(json_t *row, const char *key, const rep__seqs_t *s);

/* ---- capped hash tables -------------------------------------------------
 * Exact counters for the first `max` distinct keys; later keys all go to
 * `other` (counted, honestly labelled). */
typedef struct {
    char *key;
    size_t klen;
    uint64_t hash;
    uint64_t n[4];
    int64_t v[2];
    rep__seqs_t seqs[2];
    char *note; /* a first sample (a reason); owned */
} rep__ent_t;

typedef struct {
    rep__ent_t *slots;
    uint64_t *hv; /* the hash of each slot (never 0), 0 when empty: probes stay in it */
    size_t cap, used, max;
    rep__ent_t other;
    uint64_t other_events; /* records that went to `other` */
    rep__ent_t *last;      /* the entry found last (a one-entry cache) */
} rep__tab_t;

void rep__tab_init(rep__tab_t *t, size_t max);
void rep__tab_dispose(rep__tab_t *t);
/* The entry of key (made on first use), or &t->other when full. */
rep__ent_t *rep__tab_get(rep__tab_t *t, const void *key, size_t klen);
/* Sorted pointers to the used entries (caller frees the array). cmp:
 * qsort comparator over rep__ent_t *const *. */
rep__ent_t **rep__tab_sorted(const rep__tab_t *t, int (*cmp)(const void *, const void *));

/* ---- the fast field extractor (walk.c) --------------------------------- */
typedef struct {
    const char *p;
    size_t n;
    bool esc; /* holds backslash escapes: decode before use */
} rep__sv_t;

typedef struct {
    int64_t activity_id;
    rep__sv_t domain, ip, url_host, path, sha256, engine, rule, reason, hostname;
    rep__sv_t product, version;
    int64_t port, url_port, bytes_in, bytes_out;
} rep__net_t;

/* Pulls the fields the report needs out of one Network/HTTP Activity event.
 * -EBADMSG when the JSON does not parse. No allocation. */
int rep__walk_net(const char *json, size_t n, rep__net_t *out);
/* Copies a value into buf (decoding escapes), NUL-terminated; returns its
 * length, cut at cap - 1 bytes. */
size_t rep__sv_copy(rep__sv_t v, char *buf, size_t cap);

/* ---- segments and the scan (scan.c) ------------------------------------- */
typedef struct {
    char name[32];
    char path[COL__DIR_MAX + 40];
    uint64_t first_seq; /* from the name */
    uint64_t size;      /* at listing time: read no further */
    bool last;          /* the newest: a writer may be appending to it */
} rep__seg_t;

typedef struct {
    rep__seg_t *v;
    size_t n;
    uint64_t bytes;
} rep__segs_t;

int rep__segs_list(const char *dir, rep__segs_t *out, char *err, size_t errlen);
void rep__segs_dispose(rep__segs_t *s);

/* One record as the scan found it. raw: its bytes. crc_ok false: the
 * header fields are not to be trusted. */
typedef struct {
    col_record_t r;
    const unsigned char *raw;
    uint64_t off;
    bool crc_ok;
} rep__rec_t;

/* What a scan of one segment may say besides records. */
typedef enum {
    REP__SEG_BAD_HEADER, /* not a spool segment */
    REP__SEG_MALFORMED,  /* a record that does not parse: the rest is skipped */
    REP__SEG_TORN,       /* a partial record at the end */
    REP__SEG_GONE,       /* deleted (retention) while the report ran */
} rep__seg_event_t;

typedef struct {
    int (*header)(void *ctx, const rep__seg_t *g, const unsigned char hdr[COL__SEG_HDR]);
    int (*record)(void *ctx, const rep__seg_t *g, const rep__rec_t *r);
    void (*event)(void *ctx, const rep__seg_t *g, rep__seg_event_t ev, uint64_t off);
    void *ctx;
} rep__scan_cb_t;

/* Reads one segment up to g->size, handing each record to cb. Returns 0,
 * a callback's non-zero, or -errno (other than ENOENT, which is an event). */
int rep__scan_segment(const rep__seg_t *g, const rep__scan_cb_t *cb, uint64_t *bytes_done);

/* ---- the verifier thread (scan.c) --------------------------------------- */
#define REP__MAX_PROBLEMS 100
typedef struct {
    uint64_t seq;
    char segment[32];
    uint64_t off;
    char kind[16]; /* "crc", "chain", "sequence", "malformed", "torn", "header", "key",
                    * "witness", "cut" */
    char text[240];
} rep__problem_t;

typedef struct {
    const rep__segs_t *segs;
    const char *dir; /* the spool: its chain key and witness are beside it */
    uint64_t checked;
    uint64_t nproblems;
    rep__problem_t problems[REP__MAX_PROBLEMS];
    int rc;
} rep__verify_t;

void *rep__verify_main(void *arg);

/* The verifier's state, and one segment verified on its own (a worker of
 * the parallel scan, run.c): every check inside a segment depends only on
 * its header (its first sequence and the chain value it starts from), so a
 * segment is verified alone and the seam with the segment before it (the
 * sequence and the chain across the headers) is checked when the results
 * are put together in segment order (rep__vseg_merge), which gives the
 * problems, their order and their text of the one-thread verifier. */
typedef enum {
    REP__VK_NONE, /* no header read: deleted, being created, a read error */
    REP__VK_BAD,  /* not a spool segment */
    REP__VK_HDR,  /* a header, then records */
} rep__vkind_t;

typedef struct {
    rep__vkind_t kind;
    uint64_t first;              /* the header's first sequence */
    unsigned char hdr_chain[32]; /* the chain value the header continues */
    uint64_t nhdr;               /* problems of the header itself (before the seam) */
    rep__verify_t v;             /* the segment's problems and records checked */
    /* the state at its end */
    uint64_t expect, last;
    bool have_chain;
    unsigned char chain[32];
} rep__vseg_t;

typedef struct {
    rep__verify_t *v;
    col__mac_t *mac;
    unsigned char chain[32];
    bool have_chain;
    uint64_t expect;  /* 0: unknown */
    uint64_t last;    /* the highest sequence seen */
    rep__vseg_t *seg; /* non-NULL: one segment alone (no seam checks) */
} rep__vstate_t;

int rep__v_header(void *ctx, const rep__seg_t *g, const unsigned char hdr[COL__SEG_HDR]);
int rep__v_record(void *ctx, const rep__seg_t *g, const rep__rec_t *r);
void rep__v_event(void *ctx, const rep__seg_t *g, rep__seg_event_t ev, uint64_t off);
/* Before a segment: s verifies it alone into seg. After it: seg's end state. */
void rep__vseg_begin(rep__vstate_t *s, rep__vseg_t *seg, col__mac_t *mac);
void rep__vseg_end(rep__vstate_t *s);
/* Segment g's result, next in order, into the whole-spool state s. */
void rep__vseg_merge(rep__vstate_t *s, const rep__seg_t *g, const rep__vseg_t *seg);
/* After the last segment: the head witness against the spool's end. */
void rep__verify_witness(rep__vstate_t *s);

/* ---- the aggregate (agg.c) ---------------------------------------------- */
#define REP__MAX_LIST     5000
#define REP__MAX_GAPS     1000
#define REP__MAX_EXPORTER 64
#define REP__MAX_SET      16

typedef struct {
    json_t *v; /* array, capped at REP__MAX_LIST */
    uint64_t total;
} rep__list_t;

typedef struct {
    char name[256];
    uint64_t ckpt;
    bool has_ckpt;
    uint64_t pending; /* in-period events after the checkpoint */
} rep__exporter_t;

typedef struct {
    rep_options_t o;
    /* completeness */
    bool have_prev;
    uint64_t prev_seq;
    int64_t prev_time;
    uint64_t spool_first, spool_last, records, unreadable, torn_live;
    /* for rep__agg_merge: unreadable records before the first readable one,
     * the first readable one, and whether sequences ever went backwards */
    uint64_t lead_unreadable, first_good_seq, last_good_seq;
    int64_t first_good_time;
    bool nonmono;
    json_t *gaps;
    uint64_t ngaps, missing;
    json_t *scan_notes;
    rep__list_t drops, recoveries;
    uint64_t dropped_events;
    rep__exporter_t exporters[REP__MAX_EXPORTER];
    size_t nexporters;
    /* scope */
    uint64_t win_first, win_last, win_events; /* the period, every sandbox */
    int64_t win_min_time, win_max_time;
    uint64_t events; /* in scope: period and sandbox */
    rep__seqs_t scope_seqs;
    char hosts[REP__MAX_SET][256], products[REP__MAX_SET][128];
    size_t nhosts, nproducts;
    /* the raw bytes of the last host and product+version looked up: the
     * same again changes nothing (most events repeat them) */
    char seen_host[128], seen_product[128];
    size_t seen_host_n, seen_product_n;
    /* activity */
    uint64_t by_action[256], by_severity[256];
    rep__tab_t classes, sandboxes, dests, binaries, engines, hours;
    uint64_t decisions_allowed, decisions_denied, walk_errors;
    /* changes and findings */
    rep__list_t policies, lifecycle, findings;
    rep__tab_t finding_kinds;
} rep__agg_t;

void rep__agg_init(rep__agg_t *a, const rep_options_t *o);
void rep__agg_dispose(rep__agg_t *a);
void rep__agg_record(rep__agg_t *a, const rep__rec_t *r);
/* An empty aggregate for one segment of g's pass (its options and exporter
 * checkpoints; the exporter files are not read again). reuse: a is the
 * aggregate of an earlier segment, emptied here, its tables' room kept. */
void rep__agg_init_part(rep__agg_t *a, const rep__agg_t *g, bool reuse);
/* Adds b (the aggregate of the segment after those of g) to g, giving what
 * one aggregate fed both in order would hold. 0: done (b is left to
 * dispose); 1: b cannot be added exactly (a table past its cap, sequences
 * going backwards): g is unchanged, feed g the segment's records instead. */
int rep__agg_merge(rep__agg_t *g, rep__agg_t *b);
/* A table scan note of the pass (segment deleted, torn, ...) into a. */
void rep__agg_note(rep__agg_t *a, const rep__seg_t *g, rep__seg_event_t ev, uint64_t off);
/* The document, from the aggregate and the verifier's findings. */
json_t *rep__doc_build(rep__agg_t *a, const rep__verify_t *v, const rep__segs_t *segs);

/* ---- strings for the document ------------------------------------------ */
/* A JSON string of n bytes: as is when valid UTF-8, else escaped (\xHH). */
json_t *rep__jstr(const char *p, size_t n);
json_t *rep__jsv(rep__sv_t v);
/* The value at a dotted path ("a.b.c") under o: borrowed; NULL when a part
 * is missing or o is NULL. A part is cut at 63 bytes. */
json_t *rep__json_at(json_t *o, const char *path);
/* "2026-11-27T10:00:00.123Z" */
json_t *rep__jtime(int64_t ms);
void rep__fmt_time(int64_t ms, char *out, size_t n);

/* ---- rendering helpers (render_*.c) ------------------------------------- */
typedef struct {
    const char *key, *title;
} rep__col_t;

typedef struct {
    const char *name;    /* --table NAME, the csv file name */
    const char *section; /* the document key it reads: an array of objects */
    const char *title;
    const rep__col_t *cols;
    size_t ncols;
} rep__table_t;

extern const rep__table_t rep__tables[];
extern const size_t rep__ntables;
const rep__table_t *rep__table_find(const char *name);
/* The rows of a table in doc (an array; borrowed; may be empty). */
json_t *rep__table_rows(json_t *doc, const rep__table_t *t);
/* A cell as text (strings as they are, numbers in decimal, null empty). */
void rep__cell_text(json_t *v, ocsf_buf_t *out);

int rep__render_md(json_t *doc, const char *only, FILE *out);
int rep__render_csv(json_t *doc, const rep__table_t *t, FILE *out);
int rep__render_html(json_t *doc, FILE *out);

#endif
