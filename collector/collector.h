/*
 * collector.h: the ring-buffer collector. Every event from the proxy and the
 * gateway goes in here; it gets a sequence number, lands in the spool and
 * is read back by the log view and the exporters. Nothing is lost: the
 * spool is append-only, checksummed (CRC-32C) and chained with HMAC-SHA-256
 * under a key kept outside it, with signed checkpoints (Ed25519),
 * recovered after a crash, and an append is acknowledged durable only after
 * its fsync.
 *
 * Threads:
 *  - producers (any thread): col_append() encodes the event and pushes it
 *    into a bounded lock-free ring (no global lock on the hot path);
 *  - the writer thread (owned by the collector) drains the ring, assigns
 *    metadata.sequence and metadata.logged_time, appends to the spool,
 *    fsyncs per policy and publishes progress (written / durable);
 *  - readers (any thread, usually the libuv threadpool): col_query() and
 *    col_read() read the spool files with pread, never block the writer.
 * Listeners (col_subscribe) are called on the writer thread after each
 * commit and must only signal (uv_async_send, a condvar), never work.
 *
 * Tickets: col_append returns a ticket (an opaque number: the ring offset
 * past the event). Tickets and sequences grow together in the same order; col_wait_durable() and
 * col_durable_ticket() tell when an append is on disk. The collector's own
 * events (drops, spool recovery) get sequences but no ticket.
 */
#ifndef TOLLGATE_COLLECTOR_H
#define TOLLGATE_COLLECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "ocsf/ocsf.h"

typedef struct col col_t;

#define COL_EVENT_MAX (4u << 20) /* bytes of one encoded event */

typedef enum { COL_FSYNC_ALWAYS, COL_FSYNC_INTERVAL, COL_FSYNC_NEVER } col_fsync_t;
typedef enum { COL_FULL_BLOCK, COL_FULL_DROP_NEWEST } col_when_full_t;
typedef enum { COL_SRC_ANY = 0, COL_SRC_GATEWAY = 1, COL_SRC_SANDBOX = 2 } col_source_t;

/* The collector's settings. col_config_default() fills the defaults from
 * col_options (collector/config.c), the table that parses and documents
 * them. */
typedef struct {
    char *spool_dir;           /* $TOLLGATE_STATE/spool (borrowed) */
    int fsync;                 /* col_fsync_t; default interval */
    int64_t fsync_interval_ms; /* 100 */
    int when_full;             /* col_when_full_t; default block */
    int64_t ring_bytes;        /* the ring, a power of two; 16 MiB */
    int64_t segment_bytes;     /* rotate at; 64 MiB */
    int64_t retention_bytes;   /* 0: keep all; default 4 GiB */
    int64_t retention_age_ms;  /* 0: keep all; default 30 days */
    int64_t max_bytes;         /* the cap: past it, the writer stops taking events (when_full
                                * applies) rather than delete what an exporter still needs;
                                * 0: no cap; default 16 GiB */
    int64_t drop_report_ms;    /* one "N events dropped" event per interval; 10 s */
    int64_t checkpoint_events; /* a signed checkpoint every N events; 1000 */
    int64_t checkpoint_ms;     /* ... or every T ms when anything was written; 60 s */
    bool checkpoints;          /* sign checkpoints (the gateway: true; default false):
                                * keys/checkpoint.key beside the spool, made at first start */
    ocsf_product_t product;    /* metadata.product of the collector's own events */
    ocsf_str_t hostname;       /* device.hostname of the collector's own events */
} col_config_t;

extern const conf_option_t col_options[];
void col_config_default(col_config_t *cfg);

/* Opens (creating) the spool, recovers a torn or corrupt tail (truncating
 * it, and recording one CONFIG event that says how many bytes were cut),
 * and starts the writer thread. Returns 0 or a negative errno with err. */
int col_create(const col_config_t *cfg, col_t **out, char *err, size_t errlen);
/* Drains the ring, fsyncs, stops the writer and frees. Accepts NULL. Any
 * thread but a listener. No col_append may run concurrently or after. */
void col_destroy(col_t *c);

/* Appends one event (any thread). Fills metadata.uid when empty (UUIDv4)
 * and encodes; the writer assigns sequence and logged_time. The event is
 * borrowed for the call only. Returns 0 with *ticket (may be NULL),
 * -EINVAL (err says why) when the event cannot be encoded, -EAGAIN when the
 * ring is full and when_full is drop_newest (the drop is counted and
 * reported), -EINVAL also for an event over COL_EVENT_MAX bytes, -ESHUTDOWN when the collector is
 * stopping. With when_full = block, waits for room: producers feel the spool's pace. */
int col_append(col_t *c, ocsf_event_t *ev, uint64_t *ticket, char *err, size_t errlen);

/* Appends an event from outside, as received (ocsf_ingest() prepared it):
 * the writer inserts sequence and logged_time at in->at. Same returns as
 * col_append. */
int col_append_raw(col_t *c, const ocsf_ingest_t *in, uint64_t *ticket, char *err, size_t errlen);

/* Every ticket <= the returned one is durable (fsynced, or written when
 * fsync = never). 0: none yet. Any thread; lock-free. */
uint64_t col_durable_ticket(const col_t *c);
/* Blocks until `ticket` is durable or timeout_ms passes (-1: forever).
 * Returns 0 or -ETIMEDOUT / -ESHUTDOWN. Not for a loop thread. */
int col_wait_durable(col_t *c, uint64_t ticket, int timeout_ms);
/* The highest sequence number fully written to the spool (readable). */
uint64_t col_written_seq(const col_t *c);

/* Up to 8 listeners, called on the writer thread after each commit (new
 * written or durable data). Returns 0 or -ENOSPC. */
typedef void (*col_notify_cb)(void *ctx);
int col_subscribe(col_t *c, col_notify_cb cb, void *ctx);
void col_unsubscribe(col_t *c, col_notify_cb cb, void *ctx);

/* Retention never deletes a segment holding a sequence >= floor (the
 * first event an enabled exporter has not delivered), whatever its age or
 * the retention size. UINT64_MAX (the default): no floor. Any thread. */
void col_set_retention_floor(col_t *c, uint64_t floor);
/* The lowest sequence still in the spool (0 when empty). */
uint64_t col_first_seq(col_t *c);

/* ---- readers ------------------------------------------------------------ */

typedef struct {
    int64_t since_ms, until_ms; /* event time, inclusive; OCSF_NONE: open */
    char sandbox[256];          /* device.container.name; "" any */
    int source;                 /* col_source_t */
    int class_uid;              /* 0: any */
    int action_id;              /* -1: any */
    int min_severity;           /* 0: any */
    size_t limit;               /* col_query: the last `limit` matches; 0: all */
} col_filter_t;

void col_filter_init(col_filter_t *f);

/* One spool record, borrowed for the callback. */
typedef struct {
    uint64_t seq;
    int64_t time, logged_time;
    int class_uid, severity_id, action_id, source;
    const char *sandbox;
    size_t sandbox_len;
    const char *json; /* the OCSF event, one line, no newline */
    size_t json_len;
    bool repaired; /* ingested as received though not valid OCSF (OCSF_INGEST_REPAIR):
                    * what leaves goes through ocsf_cast(OCSF_CAST_REPAIR) */
} col_record_t;

/* Return 0 to go on, non-zero to stop (col_query/col_read then return it). */
typedef int (*col_record_cb)(const col_record_t *r, void *ctx);

/* Filter first, then take the last f->limit matches of everything written
 * so far, delivered in sequence order. *next is the sequence to follow from
 * (one past what was written when the query started). Time seeks use the
 * segment and block index. Returns 0, a callback's non-zero, or -errno. */
int col_query(col_t *c, const col_filter_t *f, col_record_cb cb, void *ctx, uint64_t *next);
/* Matches with sequence >= from, in order, at most max (0: no limit), up to
 * what is written. *next: the sequence to continue from. A reader far
 * behind reads the spool like anyone else: nobody is cut for being slow. */
int col_read(col_t *c, const col_filter_t *f, uint64_t from, size_t max, col_record_cb cb,
             void *ctx, uint64_t *next);

/* ---- metrics ------------------------------------------------------------ */

typedef struct {
    uint64_t appended;              /* events accepted by col_append */
    uint64_t dropped;               /* refused with -EAGAIN (when_full = drop_newest) */
    uint64_t encode_errors;         /* refused with -EINVAL */
    uint64_t ring_used, ring_bytes; /* bytes */
    uint64_t written_seq, durable_ticket;
    uint64_t spool_bytes, segments;
    uint64_t fsyncs;
    uint64_t blocked; /* appends that waited for room */
    uint64_t recovered_bytes_cut;
    uint64_t retention_floor; /* UINT64_MAX: none */
    bool full;                /* over spool.max_bytes, held by the floor: not draining */
} col_stats_t;

void col_stats(col_t *c, col_stats_t *st);

/* Asks the writer for a signed checkpoint now (when anything was written
 * since the last one and checkpoints are on). Any thread; does not wait. */
void col_checkpoint_now(col_t *c);

/* ---- verification ------------------------------------------------------- */

/* A point the spool must pass through: a signed checkpoint's sequence and
 * chain head. */
typedef struct {
    uint64_t seq;
    unsigned char head[32];
    int state; /* out: 0 the sequence is not in the spool, 1 same head, -1 another head */
} col_vpoint_t;

typedef struct {
    col_vpoint_t *points; /* sorted by seq, borrowed; may be NULL */
    size_t npoints;
    /* out */
    uint64_t records, first_seq, last_seq; /* last_seq 0: empty */
    bool walked;      /* every record was read (a failure, if any, is the witness's) */
    char notes[1024]; /* sequences the collector skipped after a cut (it recorded a finding) */
} col_verify_opts_t;

/* col_verify, and checks the points (o->points[i].state). Needs the chain
 * key (spool_dir/../keys/chain.key) and checks the head witness
 * (spool_dir/../head): a spool that ends before it was cut. */
int col_verify_ex(const char *dir, col_verify_opts_t *o, char *err, size_t errlen);

/* Checkpoint events (verification without the state directory): the
 * canonical text that is signed, and the id of an Ed25519 public key
 * (EVP_PKEY *): hex of the first 8 bytes of SHA-256 of the raw key. */
int col_ckpt_text(uint64_t seq, const unsigned char head[32], int64_t time_ms, const char *key,
                  char *out, size_t n);
int col_ckpt_key_id(void *pkey, char out[17]);
/* The chain key of a state directory's spool: keys/chain.key (32 bytes,
 * 0600, in a 0700 directory), made when create and absent. */
int col_chain_key_load(const char *keys_dir, bool create, unsigned char key[32], char *err,
                       size_t errlen);

/* Checks every record of the spool in `dir` (CRC, sequence continuity, the
 * hash chain). Opens the files read-only; safe beside a running writer for
 * the sealed part. Returns 0 when sound; -EBADMSG with the first bad
 * record's sequence and segment in err; other -errno on I/O errors.
 * *records counts what was checked. */
int col_verify(const char *dir, uint64_t *records, char *err, size_t errlen);

#endif
