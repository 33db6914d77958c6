/*
 * kafka_internal.h: what the Kafka sink's two files share: kafka_conf.c
 * (the options table, set_extra, check, dispose, the producer defaults)
 * and kafka.c (the producer, send, metrics, exp_sink_kafka). Other folders
 * include exporters/sink.h only.
 */
#ifndef TOLLGATE_EXPORTERS_KAFKA_INTERNAL_H
#define TOLLGATE_EXPORTERS_KAFKA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"

enum { KAFKA_KEY_SANDBOX = 0, KAFKA_KEY_CLASS = 1, KAFKA_KEY_NONE = 2 };

typedef struct {
    char *name; /* librdkafka property, without "rdkafka." */
    char *value;
} kafka_prop_t;

typedef struct {
    char *brokers;
    char *topic;
    int key;
    int64_t timeout_ms;
    kafka_prop_t *props; /* set_extra, in order; owned, freed by dispose */
    size_t nprops;
} kafka_config_t;

/* ---- kafka_conf.c ---- */

extern const conf_option_t kafka__options[]; /* the exporter's keys */
/* Producer defaults, before the user's rdkafka.* properties: {name, value}. */
extern const char *const kafka__defaults[][2];
extern const size_t kafka__n_defaults;

/* exp_sink_type_t.set_extra: takes "rdkafka.<prop>" when librdkafka knows
 * <prop> and value; -ENOENT for other keys, -EINVAL / -E2BIG with err. */
int kafka__set_extra(void *config, const char *key, const char *value, char *err, size_t errlen);
/* exp_sink_type_t.check: brokers and topic are required. */
int kafka__check(const void *config, char *err, size_t errlen);
/* exp_sink_type_t.dispose: frees the options' strings and the props. */
void kafka__dispose(void *config);

/* ---- kafka.c ---- */

/* Writes prefix + text escaped (untrusted: from librdkafka or a broker) +
 * suffix into out, cut to outlen. prefix and suffix are ours. Any thread. */
void kafka__escape(char *out, size_t outlen, const char *prefix, const char *text,
                   const char *suffix);

#endif
