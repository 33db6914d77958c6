/*
 * sink.h: the contract between the export engine (collector/export.c) and
 * one kind of destination (exporters/file/, kafka/, hec/).
 *
 * The engine owns everything that is the same for every destination: the
 * exporter's cursor into the spool, batching by count, bytes and time, the
 * OCSF downgrade, retries with backoff, dead letters, the checkpoint and the
 * metrics. A sink only sends one batch and says, per event, what happened.
 *
 * Threads: every exporter has its own thread; the engine calls open, send
 * and close on it, never two at once. A sink may block in send (it is its
 * own thread), but must return within a bounded time (its own timeouts)
 * and must return promptly once *stop becomes true.
 *
 * Delivery: an event is EXP_OK only when the destination has acknowledged
 * it (file: written and fsynced; Kafka: a delivery report without error;
 * HEC: a success reply, or the indexer ack when acks are on). The engine
 * persists its checkpoint only after every event of the batch is OK or
 * dead-lettered, so after a crash duplicates are limited to that batch.
 */
#ifndef TOLLGATE_EXPORTERS_SINK_H
#define TOLLGATE_EXPORTERS_SINK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "ocsf/ocsf.h"

/* One event of a batch. Borrowed for the send call only. */
typedef struct {
    uint64_t seq;           /* metadata.sequence in the spool */
    const char *json;       /* the OCSF event at the exporter's version, one line */
    size_t json_len;        /* (not NUL-terminated; no newline) */
    const char *sandbox;    /* device.container.name, "" when none */
    size_t sandbox_len;     /* (not NUL-terminated) */
    int class_uid;          /* 4001, 4002, ... */
    const char *class_name; /* "Network Activity" (static) */
    int64_t time_ms;        /* OCSF time, ms since the epoch */
} exp_event_t;

typedef enum {
    EXP_RETRY = 0,     /* not delivered: the engine sends it again (the initial value) */
    EXP_OK = 1,        /* acknowledged by the destination */
    EXP_PERMANENT = 2, /* the destination will never take it: dead letter */
} exp_verdict_t;

typedef struct exp_batch {
    const exp_event_t *ev;
    size_t n;
    size_t bytes;             /* sum of json_len */
    uint8_t *verdict;         /* [n] exp_verdict_t; EXP_RETRY on entry to send */
    char **reason;            /* [n] set through exp_batch_set; engine-owned */
    const char *ocsf_version; /* "1.7.0", "1.3.0" or "1.1.0": what json is */
} exp_batch_t;

/* Marks event i of the batch; reason (copied) is kept for the dead-letter
 * file when v is EXP_PERMANENT. Any thread the sink likes, but not after
 * send returned. */
void exp_batch_set(exp_batch_t *b, size_t i, exp_verdict_t v, const char *reason);

/* Appends the human log line of event e (the file format of `tollgate
 * logs`, ocsf_render_json OCSF_LINE_FILE: any class and OCSF version) and a
 * newline; bytes that are not a JSON object get a marked line with the
 * time, class, sequence and the escaped reason. */
void exp_human_line(ocsf_buf_t *h, const exp_event_t *e);

/* What send returns for the batch as a whole. */
typedef enum {
    EXP_SEND_DONE = 0, /* see the verdicts; events still EXP_RETRY are sent again after a backoff */
    EXP_SEND_RETRY = 1, /* transient failure of the whole batch (err says what): back off, resend */
    EXP_SEND_PAUSE = 2, /* auth or configuration refused by the destination (401/403, unknown
                         * topic, ...): the exporter pauses, logs err once, keeps the data and
                         * tries again after the longest backoff */
} exp_send_rc_t;

/* What every exporter has, whatever its type (filled by the engine). */
typedef struct {
    const char *name;         /* exporter name from the config ("archive") */
    const char *state_dir;    /* $TOLLGATE_STATE: a sink may keep files under
                               * state_dir/exporters/<name>/ */
    const char *hostname;     /* this host, for envelopes */
    const char *ocsf_version; /* what the events will be */
    const atomic_bool *stop;  /* becomes true at shutdown */
    /* logs one line about this exporter (the engine prefixes the name and
     * escapes; the text must not carry untrusted bytes unescaped) */
    void (*log)(void *log_ctx, const char *msg);
    void *log_ctx;
} exp_common_t;

/* One kind of destination. */
typedef struct {
    const char *type;             /* "file", "kafka", "hec" */
    const conf_option_t *options; /* its keys (relative: "dir", "brokers", "rdkafka" ...) */
    size_t config_size;           /* the struct those options fill */
    /* Optional: keys the table does not know (e.g. "rdkafka.linger.ms").
     * Return 0 when taken, -ENOENT when unknown too, other -errno with err. */
    int (*set_extra)(void *config, const char *key, const char *value, char *err, size_t errlen);
    /* Checks the whole config after every key is set (required keys,
     * combinations). 0 or -EINVAL with err. */
    int (*check)(const void *config, char *err, size_t errlen);
    /* Creates the sink. Must not need the destination to be up (an outage
     * at start is a retry in send, not a failure here); fails only for
     * configuration errors, with err. */
    int (*open)(const exp_common_t *common, const void *config, void **sink, char *err,
                size_t errlen);
    /* Sends one batch: returns exp_send_rc_t, with err for RETRY and PAUSE. */
    int (*send)(void *sink, exp_batch_t *b, char *err, size_t errlen);
    /* Optional: metrics lines the sink adds (Prometheus text, already
     * labelled by the sink with exporter="<name>"), with a `# HELP <name>
     * <text>` and a `# TYPE <name> <type>` line for each family; the engine
     * groups the lines of all sinks by family and prints HELP and TYPE once.
     * Any thread; emit's line is borrowed for the call. */
    void (*metrics)(void *sink, void (*emit)(void *ctx, const char *line), void *ctx);
    void (*close)(void *sink);
    /* Frees what options allocated in config (after close). */
    void (*dispose)(void *config);
} exp_sink_type_t;

extern const exp_sink_type_t exp_sink_file;   /* exporters/file/file.c */
extern const exp_sink_type_t exp_sink_kafka;  /* exporters/kafka/kafka.c */
extern const exp_sink_type_t exp_sink_hec;    /* exporters/hec/ */
extern const exp_sink_type_t exp_sink_stdout; /* exporters/stdout/ */

#endif
