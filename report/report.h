/*
 * report.h: `tollgate report`, the compliance report over a period of the
 * spool. It reads the spool's segment files directly (read-only, like
 * `tollgate verify`): it works beside a running gateway and without one.
 *
 * Shape: one streaming pass. rep_run() lists the segments, starts one
 * verifier thread (CRC-32C, sequence continuity and the SHA-256 hash chain
 * of every record) and aggregates on the calling thread: counters, capped
 * hash tables with an honest "other" bucket, hour bins, and capped lists of
 * the rare events (policy changes, lifecycle, findings, drops). Memory is
 * bounded by those caps, never by the number of events. Only the classes
 * whose details are needed are looked into: Network/HTTP Activity with a
 * small allocation-free field extractor, CONFIG / LIFECYCLE / FINDING with
 * jansson.
 *
 * The result is one JSON document (schema: report/README.md); every
 * renderer (md, csv, html, json) reads that document, so all formats say
 * the same thing. Every row carries the sequence numbers it stands for.
 *
 * Threads: rep_run() runs on the caller's thread plus the verifier thread
 * it starts and joins. The other functions are pure over their arguments.
 */
#ifndef TOLLGATE_REPORT_H
#define TOLLGATE_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "collector/collector.h"

struct json_t;

/* Called now and then during the pass (after each segment, 64 MiB, the
 * last one included) with the bytes read so far of `total`, and the events
 * seen. From the thread that called rep_run. */
typedef void (*rep_progress_cb)(void *ctx, uint64_t done, uint64_t total, uint64_t events);

typedef struct {
    const char *state_dir;        /* $TOLLGATE_STATE: spool/, exporters/, dlq/ (borrowed) */
    const char *spool_dir;        /* NULL: state_dir/spool (borrowed) */
    int64_t since_ms, until_ms;   /* event time, inclusive; OCSF_NONE: open */
    const char *const *sandboxes; /* only these (borrowed); n == 0: all */
    size_t nsandboxes;
    size_t top;               /* rows of each "top" table; 0: 20 */
    int64_t now_ms;           /* generated_at; 0: the clock */
    rep_progress_cb progress; /* may be NULL */
    void *progress_ctx;
    /* segment workers: 0 the online CPUs (at most 8); 1 one worker; -1 the
     * former two-thread pass (the verifier beside one aggregator), kept as
     * the tests' oracle of the parallel one. The document is the same. */
    int threads;
} rep_options_t;

void rep_options_init(rep_options_t *o);

/* Reads the spool once and builds the report document. Returns 0 with *doc
 * (a jansson object; the caller owns it: json_decref), or a negative errno
 * with err (no spool directory, no segment, out of memory). Integrity
 * problems are not errors: they are in the document. */
int rep_run(const rep_options_t *o, struct json_t **doc, char *err, size_t errlen);

/* Integrity verdict of a document: true when the chain verified, no gap
 * and no drop are listed. */
bool rep_doc_clean(struct json_t *doc);

/* ---- rendering (the document is borrowed) -------------------------------- */

typedef enum { REP_MD, REP_HTML, REP_CSV, REP_JSON } rep_format_t;

/* "md", "html", "csv", "json" → 0 and *f; -EINVAL otherwise. */
int rep_format_parse(const char *s, rep_format_t *f);

/* The tables every format shows, by name (for --table and csv -o DIR):
 * NULL past the end. */
const char *rep_table_name(size_t i);
bool rep_table_exists(const char *name);

/* Writes the whole report in md, html or json to out. 0 or -EIO. */
int rep_render(struct json_t *doc, rep_format_t f, FILE *out);
/* Writes one table (by name) as CSV (RFC 4180, header row) or as one
 * Markdown table. 0, -ENOENT for an unknown table, -EIO. */
int rep_render_table(struct json_t *doc, const char *table, rep_format_t f, FILE *out);

#endif
