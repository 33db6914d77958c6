/*
 * export_internal.h: what the export engine's files share (export.c: the
 * threads; export_conf.c: the exporters' settings; export_stats.c: the
 * metrics and status). Not for outside collector/.
 */
#ifndef TOLLGATE_EXPORT_INTERNAL_H
#define TOLLGATE_EXPORT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "collector/export.h"

typedef struct engine_s engine_t;

typedef struct {
    engine_t *e;
    const exp_config_t *cfg;
    exp_common_t common;
    void *sink;
    pthread_t thread;
    bool started;
    char ckpt_path[4400], dlq_path[4400];
    /* the batch being built and delivered */
    exp_event_t *ev;
    uint8_t *verdict;
    char **reason;
    size_t n, cap, bytes;
    ocsf_buf_t data; /* the events' JSON, back to back */
    size_t *off;     /* offsets into data (data may move while filling) */
    int64_t oldest_logged;
    uint64_t next;           /* the next sequence to read */
    ocsf_buf_t scratch;      /* cast output */
    ocsf_checker_t *checker; /* the cast's (made on first use) */
    /* shared with stats readers */
    pthread_mutex_t mu;
    uint64_t checkpoint, delivered, retried, dead, skipped, in_flight, batches;
    bool paused;
    char last_error[256];
    int64_t last_error_ms;
    char logged_error[256]; /* the last error logged: each distinct one once */
} exporter_t;

struct engine_s {
    col_t *col;
    char state_dir[4096];
    char hostname[256];
    atomic_bool stop;
    pthread_mutex_t mu; /* with cond: new data in the spool, or stop */
    pthread_cond_t cond;
    uint64_t generation;
    exporter_t *x;
    size_t n;
};

struct exp_engine {
    engine_t e;
};

/* Wall clock, ms since the epoch. */
int64_t exp__wall_ms(void);

#endif
