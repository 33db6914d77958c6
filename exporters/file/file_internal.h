/*
 * file_internal.h: what the file sink's files share: file.c (writing:
 * open, send, close, metrics, exp_sink_file), file_rotate.c (listing,
 * rotation, compression, retention, repair) and file_conf.c (the options,
 * check, dispose). Other folders include exporters/sink.h only.
 *
 * Threads: everything here runs on the exporter's thread, except that
 * metrics reads file_stats_t (atomics) from any thread.
 */
#ifndef TOLLGATE_EXPORTERS_FILE_INTERNAL_H
#define TOLLGATE_EXPORTERS_FILE_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <zstd.h>

#include "conf/conf.h"
#include "exporters/sink.h"
#include "ocsf/ocsf.h"

enum { FILE_ZSTD = 0, FILE_NONE = 1 };
enum { FILE_HUMAN_OFF = 0, FILE_HUMAN_ON = 1 };
enum { FILE_FSYNC_BATCH = 0, FILE_FSYNC_NEVER = 1 };

typedef struct {
    char *dir;
    int64_t rotate_bytes;
    int64_t rotate_interval_ms;
    int compress;
    int64_t zstd_level;
    int64_t keep_files;
    int64_t keep_bytes;
    int human_log;
    int fsync;
} file_config_t;

/* One file being appended to. */
typedef struct {
    int fd;       /* -1: not open */
    char day[11]; /* the UTC day in its name, "YYYY-MM-DD" */
    int64_t size; /* committed bytes: the file ends in '\n' there */
    bool dirty;   /* bytes past size may exist (an undo failed): cut first */
} file_out_t;

typedef struct {
    _Atomic uint64_t bytes, events, rotated, compressed, removed, write_errors;
} file_stats_t;

typedef struct {
    file_config_t cfg; /* a copy; cfg.dir owned */
    char *name;        /* exporter name, owned */
    const atomic_bool *stop;
    void (*log)(void *log_ctx, const char *msg);
    void *log_ctx;

    int dirfd; /* -1 until the directory is ready */
    file_out_t data, human;
    int64_t data_since_ms; /* when the active file was opened */
    bool rotate_failing;   /* logged once until a rotation works again */
    char last_day[11];     /* the last rotated file's day and N */
    unsigned long last_n;
    ocsf_buf_t buf, hbuf;
    ZSTD_CCtx *zc;
    char *zin, *zout;
    size_t zin_cap, zout_cap;
    file_stats_t st;
} file_sink_t;

/* Kinds of names in the directory. */
enum { F_OTHER, F_ACTIVE, F_ROTATED, F_ZST, F_TMP, F_HUMAN };

typedef struct {
    char name[64];
    char day[11];
    unsigned long n;
    int kind;
    int64_t bytes;
} file_entry_t;

typedef struct {
    file_entry_t *v;
    size_t n, cap;
} file_list_t;

static inline const char *errtext(int e, char *buf, size_t n)
{
    return strerror_r(e, buf, n);
}

/* The active file of day: "ocsf-YYYY-MM-DD.jsonl". */
static inline void active_name(char *out, size_t n, const char *day)
{
    snprintf(out, n, "ocsf-%s.jsonl", day);
}

/* ---- file_conf.c ---- */

extern const conf_option_t file__options[]; /* the exporter's keys */
/* exp_sink_type_t.check: dir is required. 0 or -EINVAL with err. */
int file__check(const void *config, char *err, size_t errlen);
/* exp_sink_type_t.dispose: frees the options' strings. */
void file__dispose(void *config);

/* ---- file.c ---- */

/* One line through common->log (none when the engine gave no log). */
void file__slog(file_sink_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Opens (creating) dir/name for appending, cut back to its last '\n'. */
int file__out_open(file_sink_t *s, file_out_t *o, const char *name, const char *day);
void file__out_close(file_out_t *o);

/* ---- file_rotate.c ---- */

/* Compresses what is pending, then applies retention; logs, never fails. */
void file__maintain(file_sink_t *s);
/* Rotates the active file (it is reopened by the next send). */
int file__rotate(file_sink_t *s);
/* What a crash or a stop left: temp files, torn tails, the active file of
 * another day (today is "YYYY-MM-DD"). */
int file__repair(file_sink_t *s, const char *today);

#endif
