/*
 * kafka_conf.c: the Kafka sink's configuration (exp_sink_kafka's options,
 * set_extra, check and dispose; the producer defaults). The producer and
 * send are in kafka.c.
 *
 * Keys (relative to the exporter): brokers, topic, key, timeout, and
 * rdkafka.<prop> for any librdkafka property, checked by librdkafka on a
 * scratch conf (its own error text, escaped) and applied in order after
 * kafka__defaults. Threads: the config loader's; no state of its own.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "exporters/kafka/kafka_internal.h"

#define KAFKA_PREFIX    "rdkafka."
#define KAFKA_MAX_PROPS 256

#define O(f) offsetof(kafka_config_t, f)
const conf_option_t kafka__options[] = {
    {"brokers", CONF_STRING, NULL, 0, 0, NULL, O(brokers),
     "bootstrap brokers, host:port[,host:port...] (required)"},
    {"topic", CONF_STRING, NULL, 0, 0, NULL, O(topic), "the topic events go to (required)"},
    {"key", CONF_ENUM, "sandbox", 0, 0, "sandbox|class|none", O(key),
     "message key: the sandbox name, the class_uid, or none"},
    {"timeout", CONF_DURATION, "30s", 100, 3600000, NULL, O(timeout_ms),
     "how long a send waits for delivery reports; events not acknowledged by then are retried"},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL},
};
#undef O

/* Producer defaults, before the user's rdkafka.* properties. gzip is the
 * one codec every mainstream client reads without a plugin (kafkajs has
 * only gzip built in: zstd, lz4 and snappy fail its consumers with "not
 * implemented"); `rdkafka.compression.codec: zstd` is smaller and cheaper
 * where every consumer reads it. */
const char *const kafka__defaults[][2] = {
    {"enable.idempotence", "true"},
    {"acks", "all"},
    {"compression.codec", "gzip"},
    {"linger.ms", "20"},
};

const size_t kafka__n_defaults = sizeof kafka__defaults / sizeof kafka__defaults[0];

int kafka__set_extra(void *config, const char *key, const char *value, char *err, size_t errlen)
{
    kafka_config_t *cfg = config;
    size_t plen = strlen(KAFKA_PREFIX);
    char errstr[512];

    if (strncmp(key, KAFKA_PREFIX, plen) != 0 || !key[plen])
        return -ENOENT;
    if (cfg->nprops >= KAFKA_MAX_PROPS) {
        snprintf(err, errlen, "more than %d rdkafka.* properties", KAFKA_MAX_PROPS);
        return -E2BIG;
    }
    /* librdkafka checks name and value; a scratch conf keeps ours clean. */
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_res_t r = rd_kafka_conf_set(conf, key + plen, value, errstr, sizeof errstr);
    rd_kafka_conf_destroy(conf);
    if (r != RD_KAFKA_CONF_OK) {
        /* an unknown property is still our key: say what librdkafka said */
        kafka__escape(err, errlen, "", errstr, "");
        return -EINVAL;
    }
    kafka_prop_t *p = realloc(cfg->props, (cfg->nprops + 1) * sizeof *p);
    if (!p)
        abort();
    cfg->props = p;
    p[cfg->nprops].name = strdup(key + plen);
    p[cfg->nprops].value = strdup(value);
    if (!p[cfg->nprops].name || !p[cfg->nprops].value)
        abort();
    cfg->nprops++;
    return 0;
}

int kafka__check(const void *config, char *err, size_t errlen)
{
    const kafka_config_t *cfg = config;
    if (!cfg->brokers || !*cfg->brokers) {
        snprintf(err, errlen, "brokers: required (host:port[,host:port...])");
        return -EINVAL;
    }
    if (!cfg->topic || !*cfg->topic) {
        snprintf(err, errlen, "topic: required");
        return -EINVAL;
    }
    return 0;
}

void kafka__dispose(void *config)
{
    kafka_config_t *cfg = config;
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->nprops; i++) {
        free(cfg->props[i].name);
        free(cfg->props[i].value);
    }
    free(cfg->props);
    cfg->props = NULL;
    cfg->nprops = 0;
    conf_dispose(kafka__options, cfg);
}
