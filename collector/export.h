/*
 * export.h: the export engine. Each configured exporter reads the spool
 * through its own cursor, on its own thread, and hands batches to its sink
 * (exporters/sink.h). Its checkpoint (the last sequence delivered) is
 * persisted only after the sink acknowledged the whole batch, so after a
 * crash it resumes there and duplicates are limited to the batch in flight.
 *
 * Failures: a batch the sink could not deliver is sent again after an
 * exponential backoff with full jitter (retry.initial to retry.max),
 * forever; an event the destination will never take goes to the dead-letter
 * file $STATE/dlq/<name>.jsonl with the reason, and the rest proceeds; an
 * auth or configuration refusal pauses the exporter (logged once, shown in
 * the metrics) and keeps the data. One exporter's outage never slows
 * another or the producers: the spool is the buffer, and retention keeps
 * what an enabled exporter has not delivered (col_set_retention_floor).
 */
#ifndef TOLLGATE_EXPORT_H
#define TOLLGATE_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/collector.h"
#include "conf/conf.h"
#include "exporters/sink.h"

/* One exporter's settings: the common keys (exp_options) and its sink's. */
typedef struct {
    char *name;
    char *type;           /* "file", "kafka", "hec" */
    int enabled;          /* on|off */
    int ocsf_version;     /* index into exp_ocsf_versions */
    int start;            /* where a new exporter begins: beginning|end of the spool */
    int64_t batch_events; /* batch.max_events */
    int64_t batch_bytes;  /* batch.max_bytes */
    int64_t linger_ms;    /* batch.linger: wait this long for a fuller batch */
    int64_t retry_initial_ms, retry_max_ms;
    const exp_sink_type_t *sink; /* resolved from type */
    void *sink_config;           /* sink->config_size bytes, filled by its options */
} exp_config_t;

typedef struct {
    exp_config_t *v;
    size_t n;
} exp_config_list_t;

extern const conf_option_t exp_options[];
extern const char *const exp_ocsf_versions[]; /* "1.7.0", "1.3.0", "1.1.0", "1.8.0" */

/* The sink type called `type`, or NULL. */
const exp_sink_type_t *exp_sink_find(const char *type);

/* The conf_load_file_lists hook for the `exporters:` list of a config
 * file: each item is checked (name, type, every key, the sink's check) and
 * appended to list. */
conf_list_t exp_config_list_hook(exp_config_list_t *list);
/* Adds one exporter from flattened keys (what the hook does). */
int exp_config_add(exp_config_list_t *list, const conf_kv_t *kv, size_t n, char *why, size_t whylen,
                   size_t *bad_line);
void exp_config_list_dispose(exp_config_list_t *list);

typedef struct exp_engine exp_engine_t;

/* Opens every enabled exporter's sink (a configuration error fails here,
 * with err) and starts their threads. An empty list is fine. */
int exp_engine_start(col_t *col, const char *state_dir, const char *hostname,
                     const exp_config_list_t *cfgs, exp_engine_t **out, char *err, size_t errlen);
/* Waits up to 3 s for the exporters to deliver what the spool holds, then
 * stops the threads (a batch still in flight is abandoned undelivered: it
 * is sent again after the restart), closes the sinks, frees. Accepts NULL. */
void exp_engine_stop(exp_engine_t *e);

typedef struct {
    const char *name, *type, *ocsf_version;
    bool enabled, paused;
    uint64_t delivered, retried, dead_lettered, skipped;
    uint64_t in_flight; /* events handed to the sink, not yet answered */
    uint64_t batches;
    uint64_t checkpoint; /* last sequence delivered (0: none) */
    uint64_t lag_events;
    double lag_seconds; /* age of the oldest undelivered event (logged_time) */
    char last_error[256];
    int64_t last_error_ms; /* wall clock; 0: never */
} exp_stats_t;

size_t exp_engine_count(const exp_engine_t *e);
/* i < exp_engine_count. Any thread. */
void exp_engine_stats(exp_engine_t *e, size_t i, exp_stats_t *st);
/* Prometheus text for /metrics (tollgate_exporter_*{exporter="NAME"}). */
void exp_engine_metrics(exp_engine_t *e, ocsf_buf_t *out);
/* {"exporters":[{...}]} for GET /v1/exporters and `tollgate status`. */
void exp_engine_status_json(exp_engine_t *e, ocsf_buf_t *out);

#endif
