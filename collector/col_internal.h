/*
 * col_internal.h: what the files of collector/ share. Not for outside.
 *
 * Spool layout: $dir/seg-<first seq, 20 digits>.tgs, append-only.
 *
 * Segment header (96 bytes, little-endian; format version 2):
 *   0  "TGSPOOL1"      8  u32 version (2)   12 u32 header size (96)
 *   16 u64 first_seq   24 i64 created (ms)  32 u8[32] chain of the record
 *                                              before this segment's first
 *   64 u8[16] id of the chain key (SHA-256 of the key, first 16 bytes)
 *   80 u64 after_seq: the sequence whose chain is at 32 (first_seq - 1,
 *      unless the collector skipped sequences cut before a restart)
 *   88 u8[8] reserved (0)
 * Version 1 (64-byte header, unkeyed SHA-256 chain) is refused by name.
 * Record (little-endian):
 *   0  u32 magic "TGRC"   4  u32 total length (header + sandbox + json + 4)
 *   8  u32 CRC-32C of bytes [12, total - 4)
 *   12 u64 seq   20 i64 time   28 i64 logged_time   36 u16 class_uid (low half)
 *   38 u8 severity_id  39 u8 action_id (255: none)  40 u8 source (bit 7:
 *      ingested as received though not valid OCSF, COL__SRC_REPAIRED)
 *   41 u8 sandbox length  42 u16 class_uid (high half: extension classes such as
 *      201001; 0 in records of the six classes, as in older spools)  44 u32 json length
 *   48 u8[32] chain = HMAC-SHA-256(chain key, previous chain || bytes [12, 48) ||
 *                 sandbox || json)
 *   80 sandbox bytes, then the JSON bytes, then u32 total length again
 *      (so the file can be walked backwards).
 */
#ifndef TOLLGATE_COL_INTERNAL_H
#define TOLLGATE_COL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "collector/collector.h"

#define COL__SEG_MAGIC    "TGSPOOL1"
#define COL__SEG_HDR      96
#define COL__SEG_VERSION  2
#define COL__KEY_ID       16          /* bytes of the chain key's id */
#define COL__REC_MAGIC    0x43524754u /* "TGRC" */
#define COL__REC_HDR      80
#define COL__SRC_REPAIRED 0x80 /* in the source byte: ingested as repaired */
#define COL__REC_MIN      (COL__REC_HDR + 4)
#define COL__JSON_MAX     COL_EVENT_MAX
#define COL__REC_MAX      (COL__REC_HDR + 255 + COL__JSON_MAX + 64 + 4)
#define COL__BLOCK_RECS   512
#define COL__DIR_MAX      4000 /* the spool directory path, bytes */
#define COL__BLOCK_BYTES  (512u << 10)
#define COL__RING_ROOM    COL__REC_HDR /* room for the record header before a ring entry's data */
#define COL__BATCH_RECS   200          /* records per write batch: 5 iovecs each fit one pwritev */

/* ---- CRC-32C and little-endian helpers (crc32c.c) ---------------------- */
uint32_t col__crc32c(uint32_t crc, const void *p, size_t n);
uint32_t col__crc32c_sw(uint32_t crc, const void *p, size_t n); /* the table: tests */

static inline void col__put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static inline void col__put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static inline uint32_t col__get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t col__get64(const unsigned char *p)
{
    return (uint64_t)col__get32(p) | (uint64_t)col__get32(p + 4) << 32;
}

/* ---- the ring between producers and the writer (ring.c) --------------
 *
 * A bounded byte ring: entries are [u64 header][col__rec_t][sandbox][json],
 * 8-byte aligned. A producer reserves bytes with one CAS on `head`, copies
 * its entry in and publishes it by storing the header (length | COMMITTED)
 * with release; an entry that would cross the end is preceded by a padding
 * entry. The writer reads entries in place, in order, then zeroes them and
 * advances `tail`. A ticket is the ring offset just past an entry: tickets
 * grow in the order the writer takes entries. */
typedef struct {
    int64_t time;
    uint32_t class_uid;
    uint8_t severity, action, source, sandbox_len;
    uint32_t at[2];    /* where logged_time and sequence go (ocsf_encode_deferred) */
    uint32_t json_len; /* data: sandbox_len bytes of sandbox, then the JSON */
} col__rec_t;

typedef struct {
    unsigned char *buf;
    uint64_t size, mask;
    _Alignas(64) _Atomic uint64_t head; /* bytes reserved (producers) */
    _Alignas(64) _Atomic uint64_t tail; /* bytes released (the writer) */
    _Alignas(64) _Atomic int consumer_waiting;
    _Atomic int producers_waiting;
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
} col__ring_t;

/* bytes: a power of two >= 4096. */
int col__ring_init(col__ring_t *r, uint64_t bytes);
void col__ring_dispose(col__ring_t *r);
/* An entry is [u64 header][col__rec_t][COL__RING_ROOM bytes][data][4 bytes]:
 * the writer builds the record header and trailer in place, around the
 * data, and writes the record straight from the ring.
 * Any thread. 0 with *ticket; -EAGAIN when full and !block; -EMSGSIZE when
 * the entry is over half the ring. */
int col__ring_push(col__ring_t *r, const col__rec_t *rec, const void *data, size_t len, bool block,
                   bool *waited, uint64_t *ticket);
/* Writer thread only: the oldest entry (NULL when none is published yet),
 * its data and, in *ticket, its ticket. Release it when done. */
const col__rec_t *col__ring_peek(col__ring_t *r, const unsigned char **data, uint64_t *ticket);
void col__ring_release(col__ring_t *r);
/* Writer thread: the entry at ring offset *off (padding skipped: *off moves
 * to the entry), without releasing it; *ticket is the offset past it. The
 * data is writable: the COL__RING_ROOM bytes before it and the 4 after
 * are the writer's. NULL when none is published there yet. */
const col__rec_t *col__ring_peek_at(col__ring_t *r, uint64_t *off, unsigned char **data,
                                    uint64_t *ticket);
/* Writer thread: releases every entry before ring offset upto (a ticket). */
void col__ring_release_to(col__ring_t *r, uint64_t upto);
/* Writer thread: sleeps until a push or timeout_ms. */
void col__ring_wait(col__ring_t *r, int64_t timeout_ms);
/* Writer thread: wakes producers waiting for room. */
void col__ring_wake_producers(col__ring_t *r);
uint64_t col__ring_used(col__ring_t *r); /* bytes */

/* ---- the keyed chain, key files and the head witness (chain.c, witness.c) */
typedef struct {
    void *mac; /* EVP_MAC (HMAC) */
    void *ctx; /* EVP_MAC_CTX keyed with the chain key, re-initialised per record */
    unsigned char id[COL__KEY_ID];
    /* the record chain's HMAC without EVP: SHA-256 states after the key's
     * inner and outer pad block, copied per record (plain bytes: a struct
     * copy of col__mac_t shares nothing) */
    _Alignas(16) unsigned char hs[2][128];
} col__mac_t;

int col__mac_init(col__mac_t *m, const unsigned char key[32]);
void col__mac_dispose(col__mac_t *m);
/* HMAC-SHA-256 of p under the chain key. */
void col__mac(col__mac_t *m, const void *p, size_t n, unsigned char out[32]);
/* The chain key of the spool in spool_dir (spool_dir/../keys/chain.key),
 * made when create and absent. 0 or -errno with err. */
int col__mac_for_spool(const char *spool_dir, bool create, col__mac_t *m, char *err, size_t errlen);
void col__key_id(const unsigned char key[32], unsigned char id[COL__KEY_ID]);
/* <parent of spool_dir>/<name>: the state directory's keys/ and head. */
void col__state_path(const char *spool_dir, const char *name, char *out, size_t n);
/* Makes (create) and checks a keys directory: ours, mode 0700. */
int col__keys_dir_open(const char *keys_dir, bool create, char *err, size_t errlen);
/* write, fsync, rename; mode for a new file. */
int col__write_private(const char *path, const void *p, size_t n, mode_t mode, char *err,
                       size_t errlen);
/* Reads a file that must be ours and not readable by group/other. */
int col__read_private(const char *path, void *buf, size_t cap, size_t *n, char *err, size_t errlen);
void col__hex(const unsigned char *p, size_t n, char *out); /* 2n + 1 bytes */
int col__unhex(const char *s, size_t slen, unsigned char *out, size_t n);

/* The head witness (<state>/head, beside the spool): the last sequence and
 * its chain, written (write, fsync, rename) at every checkpoint and clean
 * stop, MACed with the chain key. One line:
 *   tollgate-head v1 seq=<n> head=<hex> key=<key id hex> mac=<hex> */
typedef struct {
    uint64_t seq;
    unsigned char head[32];
} col__witness_t;
int col__witness_write(const char *spool_dir, col__mac_t *m, uint64_t seq,
                       const unsigned char head[32], char *err, size_t errlen);
/* 0, -ENOENT (none), -EBADMSG (malformed, another key, bad MAC) with err. */
int col__witness_read(const char *spool_dir, col__mac_t *m, col__witness_t *w, char *err,
                      size_t errlen);

/* ---- the spool (spool.c) ---------------------------------------------- */
typedef struct {
    uint64_t off;       /* file offset of the block's first record */
    uint64_t first_seq; /* and its sequence */
    uint32_t count;
    int64_t min_time, max_time;
} col__block_t;

typedef struct {
    char path[4096];
    uint64_t first_seq, last_seq; /* last_seq = first_seq - 1 when empty */
    uint64_t bytes;               /* valid bytes (header included) */
    int64_t min_time, max_time, max_logged;
    col__block_t *blocks;
    size_t nblocks, capblocks;
} col__seg_t;

/* One record of the write batch: its bytes are a, the logged_time field,
 * b, the sequence field, c (a: header, sandbox and the JSON up to the first
 * splice, in the ring entry; c ends with the trailer). The collector's own
 * records own their memory (own: freed after the write). */
typedef struct {
    unsigned char *a;
    const unsigned char *b, *c;
    uint32_t alen, blen, clen, total;
    uint8_t ltn, sqn;
    bool own;
    char lt[36], sq[32];
    uint64_t seq;
    int64_t time, logged;
} col__pend_t;

typedef struct {
    char dir[COL__DIR_MAX];
    int64_t segment_bytes;
    pthread_mutex_t mu; /* guards segs/nsegs and the blocks arrays */
    col__seg_t *segs;
    size_t nsegs, capsegs;
    int fd; /* the active (last) segment, append */
    unsigned char chain[32];
    uint64_t chain_seq; /* the sequence whose chain is in `chain` */
    uint64_t next_seq;
    col__pend_t *pend; /* the batch: records built, not yet written */
    size_t npend, cappend;
    size_t wlen;       /* their bytes */
    int64_t lt_cached; /* the last logged_time formatted, and its field */
    char lt_field[36];
    uint8_t lt_len;
    uint64_t total_bytes;
    col__mac_t *mac; /* the chain key (borrowed from the collector) */
} col__spool_t;

/* Opens or creates the spool in dir, recovering the last segment: a torn or
 * corrupt tail is moved to quarantine-<ms>.bin and cut; *cut says how many
 * bytes. Writer thread (or before it starts). */
int col__spool_open(col__spool_t *sp, const char *dir, int64_t segment_bytes, col__mac_t *mac,
                    uint64_t *cut, char *err, size_t errlen);
/* Continues at sequence `next` (> the spool's end) in a new segment whose
 * header says after which sequence the chain goes on: sequences cut before
 * a restart are never used again. */
int col__spool_skip_to(col__spool_t *sp, uint64_t next, char *err, size_t errlen);
void col__spool_close(col__spool_t *sp);
/* Adds one record to the write batch, assigning the next sequence and
 * splicing logged_time and sequence into the JSON; the chain and CRC are
 * computed here. data (sandbox, then JSON) is a ring entry's: the header
 * is built in the COL__RING_ROOM bytes before it, the trailer in the 4
 * after it, and the record is written from there (the entry must stay
 * until the flush succeeds). Returns the sequence. */
uint64_t col__spool_add(col__spool_t *sp, const col__rec_t *rec, unsigned char *data,
                        int64_t logged_time);
/* The same for a record of the collector itself: data is copied. */
uint64_t col__spool_add_copy(col__spool_t *sp, const col__rec_t *rec, const unsigned char *data,
                             int64_t logged_time);
/* Writes the batch with pwritev (one call per COL__BATCH_RECS records);
 * updates the index. 0 or -errno (a partial write is cut off the file; the
 * batch is kept and retried whole on the next call). */
int col__spool_flush(col__spool_t *sp);
/* Tests: the pwritev the spool calls (short writes, ENOSPC). */
extern ssize_t (*col__pwritev)(int fd, const struct iovec *iov, int n, off_t off);
/* Tests: the fdatasync of segments (the syncer's, the writer's). */
extern int (*col__fdatasync)(int fd);
int col__spool_sync(col__spool_t *sp);
/* Rotates when the active segment is over segment_bytes. sync: fdatasync
 * the full segment, then the new header and the directory, here; else the
 * caller's syncer seals (before acknowledging any record of the new one). */
int col__spool_maybe_rotate(col__spool_t *sp, bool sync, char *err, size_t errlen);
int col__fsync_dir(const char *dir);
/* Deletes the oldest sealed segments past the limits (0: none). */
typedef struct {
    int64_t max_bytes, max_age_ms; /* retention: 0 keeps all */
    int64_t cap;                   /* spool.max_bytes: 0 none */
    uint64_t floor;                /* never delete a segment with a sequence >= floor */
} col__retention_t;
/* Deletes the oldest segments past the retention (or the cap), never the
 * active one, never one the floor protects. */
void col__spool_retention(col__spool_t *sp, const col__retention_t *r, int64_t now);

/* Sequential buffered reading of one segment file (recovery, readers,
 * verify, and report/'s scan). */
typedef struct {
    int fd;
    unsigned char *buf;
    size_t cap, start, len; /* buffered bytes are buf[start, start + len) */
    uint64_t off;           /* file offset of buf[start] */
    uint64_t end;           /* stop reading at this file offset */
} col__scan_t;

/* Opens path at offset off; reading stops at `end` (UINT64_MAX: EOF). */
int col__scan_open(col__scan_t *s, const char *path, uint64_t off, uint64_t end);
void col__scan_close(col__scan_t *s);
/* The next record: 1 with *p (its bytes, valid until the next call), *n
 * and *off (its file offset); 0 at the end (clean or a partial record:
 * *torn set); -EBADMSG for a record that does not parse or check. */
int col__scan_next(col__scan_t *s, bool check_crc, const unsigned char **p, col_record_t *rec,
                   uint64_t *off, bool *torn);
/* HMAC-SHA-256(key, prev || hdr[12,48) || sandbox || json) into out. */
void col__chain(col__mac_t *m, const unsigned char prev[32], const unsigned char *rec,
                unsigned char out[32]);
/* The same over a record in pieces: hdr (its first 48 bytes) and n pieces
 * of sandbox and JSON. */
struct iovec;
void col__chain_v(col__mac_t *m, const unsigned char prev[32], const unsigned char *hdr,
                  const struct iovec *v, int n, unsigned char out[32]);
/* Checks a segment header: magic, version 2, first sequence, the key id.
 * 0 or -EBADMSG with err naming the segment. */
int col__seg_header_check(const unsigned char *h, size_t n, const unsigned char id[COL__KEY_ID],
                          const char *name, char *err, size_t errlen);

/* Parses and checks the header of a record at p (n bytes available).
 * Returns the total length, 0 when more bytes are needed, -EBADMSG when it
 * is not a sound record (bad magic, length, CRC when check_crc). */
int64_t col__rec_parse(const unsigned char *p, size_t n, bool check_crc, col_record_t *out);

int64_t col__now_ms(void);

/* ---- the collector (collector.c) --------------------------------------- */
#define COL__MAX_LISTENERS 8

struct col {
    col_config_t cfg;
    char spool_dir[COL__DIR_MAX];
    col__ring_t ring;
    col__spool_t sp;
    pthread_t writer;
    bool writer_started;
    /* the syncer thread: fdatasync of what the writer wrote (fsync =
     * interval, always), off the writer's path; smu guards the sync_ fields */
    pthread_t syncer;
    bool syncer_started;
    pthread_mutex_t smu;
    pthread_cond_t scond;
    int sync_fd;     /* the syncer's dup of the active segment */
    int *sync_close; /* dups of sealed segments, to close */
    size_t nsync_close;
    uint64_t sync_ticket;           /* written, to be made durable */
    uint64_t sync_off, sync_kicked; /* bytes in the active segment; writeback started up to */
    bool sync_stop;
    /* the seal of the segment before the active one, on the syncer:
     * fdatasync(seal_fd), then the active one's header and the directory;
     * nothing past seal_ticket is made durable before; one at a time */
    bool seal_pending;
    int seal_fd, seal_rc;
    uint64_t seal_ticket;
    pthread_cond_t sealed; /* a seal or a witness write done */
    /* a checkpoint's head witness, written by the syncer after the
     * fdatasync that covers the checkpoint (wit_busy: being written) */
    bool wit_pending, wit_busy;
    uint64_t wit_seq;
    unsigned char wit_head[32];
    _Atomic bool stopping;
    _Atomic uint64_t written_seq, written_ticket, durable_ticket;
    pthread_mutex_t dmu; /* durability waiters */
    pthread_cond_t dcond;
    pthread_mutex_t lmu; /* listeners */
    struct {
        col_notify_cb cb;
        void *ctx;
    } listeners[COL__MAX_LISTENERS];
    _Atomic uint64_t appended, dropped, encode_errors, blocked, fsyncs, recovered_cut;
    _Atomic uint64_t spool_bytes, segments, write_errors;
    uint64_t drops_reported;
    _Atomic uint64_t floor;  /* col_set_retention_floor */
    _Atomic bool full;       /* over max_bytes and held by the floor */
    col__mac_t mac;          /* the chain key */
    void *signer;            /* EVP_PKEY (Ed25519) of the checkpoints; NULL: none */
    char signer_id[20];      /* its key id, hex */
    _Atomic bool ckpt_asked; /* col_checkpoint_now */
    uint64_t ckpt_seq;       /* the last checkpoint record's sequence */
    int64_t ckpt_mono;       /* and when it was written (monotonic ms) */
};

/* Encodes one event of the collector itself and adds it to the spool (the
 * writer thread, or before it starts). */
void col__add_own(col_t *c, ocsf_event_t *ev);

/* ---- the writer's shared bits (collector.c) and the syncer (syncer.c) -- */
#define COL__ERROR_REPORT_MS 10000 /* a failing write or fsync is logged this often */
int64_t col__mono_ms(void);
/* durable_ticket = max(durable_ticket, ticket) */
void col__publish_durable(col_t *c, uint64_t ticket);
/* wakes waiters and listeners */
void col__notify(col_t *c);
/* The syncer thread (pthread start routine, arg: c). */
void *col__syncer_main(void *arg);
/* Writer: what is written now (ticket; the active segment's size). */
void col__sync_written(col_t *c, uint64_t ticket);
/* Writer, after a rotation: the syncer follows the new segment; seal: it
 * seals the one before first (seal_ticket: the last record written in it). */
void col__sync_rotated(col_t *c, bool seal, uint64_t seal_ticket);
/* Writer: true once no seal is pending (waits up to ms for it). */
bool col__seal_wait(col_t *c, int64_t ms);
/* Stops the syncer once everything written is durable; closes its fds. */
void col__stop_syncer(col_t *c);

/* ---- checkpoints and the cut check (checkpoint.c) ---------------------- */
/* Loads (or makes) <state>/keys/checkpoint.key and .pub. */
int col__signer_open(col_t *c, char *err, size_t errlen);
void col__signer_close(col_t *c);
/* Writer thread: fdatasync of the active segment once a pending seal is
 * done (what is written is then whole on disk); a witness handed to the
 * syncer and not yet written is dropped (the caller writes a newer one).
 * 0 or -errno. */
int col__sync_all(col_t *c);
/* Writer thread: the syncer writes the head witness (seq, head) after its
 * next fdatasync (every record up to seq is written). */
void col__witness_later(col_t *c, uint64_t seq, const unsigned char head[32]);
/* Writer thread: a checkpoint when due (force: at a clean stop, when
 * anything was written since the last one); then the witness. */
bool col__checkpoint_tick(col_t *c, bool force);
/* At start: compares the spool's end with the witness; after a cut,
 * continues after the witness and records a finding. */
int col__witness_start(col_t *c, char *err, size_t errlen);

/* Source byte of a record from metadata.log_name. */
int col__source_of(ocsf_str_t log_name);

#endif
