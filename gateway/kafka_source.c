/*
 * kafka_source.c: the gateway consumes an OCSF topic into its own spool
 * (scale-out: collectors on many hosts export to one topic; a central
 * gateway fans in and feeds its exporters).
 *
 * One thread, a librdkafka consumer in a group, auto-commit off. A batch of
 * messages is decoded and checked like POST /v1/events (a message that is
 * not valid OCSF goes to $STATE/dlq/kafka-source.jsonl with the reason),
 * appended, and only once the spool says the last append is durable are the
 * offsets committed. A crash in between makes the group re-deliver; the
 * gateway's memory of stored events' digests (dedup.c) keeps those from
 * being stored twice.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "gateway/gw_internal.h"

#define BATCH_MAX  2000
#define BATCH_WAIT 200 /* ms for a batch to fill */

struct gw__ksource {
    gw__t *g;
    rd_kafka_t *rk;
    pthread_t thread;
    atomic_bool stop;
    char dlq_path[4200];
    char last_error[256], logged_error[256];
    pthread_mutex_t mu;
    _Atomic uint64_t consumed, appended, duplicates, rejected, commits;
};

static void log_once(gw__ksource_t *k, const char *what, const char *detail)
{
    char msg[256];
    snprintf(msg, sizeof msg, "%s%s%s", what, *detail ? ": " : "", detail);
    pthread_mutex_lock(&k->mu);
    snprintf(k->last_error, sizeof k->last_error, "%s", msg);
    bool fresh = strcmp(msg, k->logged_error) != 0;
    if (fresh)
        snprintf(k->logged_error, sizeof k->logged_error, "%s", msg);
    pthread_mutex_unlock(&k->mu);
    if (fresh) {
        ocsf_buf_t b;
        ocsf_buf_init(&b);
        ocsf_text_escape(&b, msg, strlen(msg), 512, OCSF_ESC_MSG);
        fprintf(stderr, "[kafka-source] %s\n", ocsf_buf_cstr(&b));
        ocsf_buf_dispose(&b);
    }
}

/* A message that is not an OCSF event: kept, with why, never dropped silently. */
static void dead_letter(gw__ksource_t *k, const rd_kafka_message_t *m, const char *why)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/dlq", k->g->state_dir);
    mkdir(dir, 0700);
    FILE *f = fopen(k->dlq_path, "ae");
    if (!f) {
        log_once(k, "cannot write the dead-letter file", strerror(errno));
        return;
    }
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    char head[160];
    snprintf(head, sizeof head,
             "{\"source\":\"kafka\",\"partition\":%" PRId32 ",\"offset\":%" PRId64 ",\"reason\":",
             m->partition, m->offset);
    ocsf_buf_puts(&b, head);
    ocsf_json_escape(&b, why, strlen(why));
    ocsf_buf_puts(&b, ",\"topic\":");
    const char *topic = rd_kafka_topic_name(m->rkt);
    ocsf_json_escape(&b, topic, strlen(topic));
    ocsf_buf_puts(&b, ",\"raw\":");
    ocsf_json_escape(&b, m->payload ? m->payload : "", m->payload ? m->len : 0);
    ocsf_buf_puts(&b, "}\n");
    if (fwrite(b.p, 1, b.len, f) != b.len || fflush(f) != 0 || fsync(fileno(f)) != 0)
        log_once(k, "cannot write the dead-letter file", strerror(errno));
    fclose(f);
    ocsf_buf_dispose(&b);
}

/* Appends one message; *ticket grows. */
static void take(gw__ksource_t *k, const rd_kafka_message_t *m, uint64_t *ticket)
{
    gw__t *g = k->g;
    char err[512];
    ocsf_ingest_t ev;
    atomic_fetch_add(&k->consumed, 1);
    if (!m->payload || m->len == 0 || m->len > (size_t)g->cfg.max_line) {
        snprintf(err, sizeof err, "message of %zu bytes: empty or over gateway.max_line", m->len);
        dead_letter(k, m, err);
        atomic_fetch_add(&k->rejected, 1);
        return;
    }
    unsigned flags = g->cfg.ingest_invalid == 0 ? OCSF_INGEST_REPAIR : 0;
    if (ocsf_ingest(gw__checker(), m->payload, m->len, flags, &ev, err, sizeof err) != 0) {
        dead_letter(k, m, err);
        atomic_fetch_add(&k->rejected, 1);
        return;
    }
    if (gw__dedup_seen(g->dedup, ev.digest)) {
        atomic_fetch_add(&k->duplicates, 1);
        return;
    }
    uint64_t t;
    int rc;
    /* when_full = drop_newest answers -EAGAIN: for a source that is
     * backpressure, not a reason to drop: wait and try again */
    while ((rc = col_append_raw(g->col, &ev, &t, err, sizeof err)) == -EAGAIN &&
           !atomic_load(&k->stop))
        usleep(10000);
    if (rc == 0) {
        atomic_fetch_add(&k->appended, 1);
        *ticket = t;
        return;
    }
    gw__dedup_forget(g->dedup, ev.digest);
    if (rc != -EAGAIN && rc != -ESHUTDOWN) {
        dead_letter(k, m, err);
        atomic_fetch_add(&k->rejected, 1);
    }
}

static void *source_main(void *arg)
{
    gw__ksource_t *k = arg;
    rd_kafka_message_t *batch[BATCH_MAX];
    while (!atomic_load(&k->stop)) {
        size_t n = 0;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(k->rk, BATCH_WAIT);
        while (m) {
            batch[n++] = m;
            if (n == BATCH_MAX)
                break;
            m = rd_kafka_consumer_poll(k->rk, 0);
        }
        if (n == 0)
            continue;
        uint64_t ticket = 0;
        bool any = false;
        for (size_t i = 0; i < n; i++) {
            m = batch[i];
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            } else if (m->err) {
                log_once(k, "consumer", rd_kafka_message_errstr(m));
            } else {
                take(k, m, &ticket);
                any = true;
            }
        }
        int rc = 0;
        if (ticket)
            while ((rc = col_wait_durable(k->g->col, ticket, 1000)) == -ETIMEDOUT &&
                   !atomic_load(&k->stop))
                ;
        /* commit only what is durable: on a shutdown before that, the group
         * delivers the batch again and dedup recognises it */
        if (any && rc == 0) {
            rd_kafka_resp_err_t e = rd_kafka_commit(k->rk, NULL, 0);
            if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
                log_once(k, "offset commit failed (the batch may come again)", rd_kafka_err2str(e));
            else
                atomic_fetch_add(&k->commits, 1);
        }
        for (size_t i = 0; i < n; i++)
            rd_kafka_message_destroy(batch[i]);
    }
    return NULL;
}

int gw__ksource_start(gw__t *g, char *err, size_t errlen)
{
    if (!g->cfg.kafka_brokers || !*g->cfg.kafka_brokers)
        return 0;
    if (!g->cfg.kafka_topic || !*g->cfg.kafka_topic) {
        snprintf(err, errlen, "source.kafka.topic: required with source.kafka.brokers");
        return -EINVAL;
    }
    gw__ksource_t *k = calloc(1, sizeof *k);
    if (!k)
        return -ENOMEM;
    k->g = g;
    pthread_mutex_init(&k->mu, NULL);
    snprintf(k->dlq_path, sizeof k->dlq_path, "%s/dlq/kafka-source.jsonl", g->state_dir);
    char why[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *kv[][2] = {
        {"bootstrap.servers", g->cfg.kafka_brokers},
        {"group.id", g->cfg.kafka_group},
        {"enable.auto.commit", "false"},
        {"auto.offset.reset", "earliest"},
        {"client.id", "tollgate-gateway"},
    };
    for (size_t i = 0; i < sizeof kv / sizeof *kv; i++)
        if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], why, sizeof why) != RD_KAFKA_CONF_OK) {
            snprintf(err, errlen, "source.kafka: %s", why);
            rd_kafka_conf_destroy(conf);
            free(k);
            return -EINVAL;
        }
    k->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
    if (!k->rk) {
        snprintf(err, errlen, "source.kafka: %s", why);
        rd_kafka_conf_destroy(conf);
        free(k);
        return -EINVAL;
    }
    rd_kafka_poll_set_consumer(k->rk);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, g->cfg.kafka_topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(k->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e) {
        snprintf(err, errlen, "source.kafka: subscribe %s: %s", g->cfg.kafka_topic,
                 rd_kafka_err2str(e));
        rd_kafka_destroy(k->rk);
        free(k);
        return -EINVAL;
    }
    int rc = pthread_create(&k->thread, NULL, source_main, k);
    if (rc) {
        snprintf(err, errlen, "source.kafka: pthread_create: %s", strerror(rc));
        rd_kafka_consumer_close(k->rk);
        rd_kafka_destroy(k->rk);
        free(k);
        return -rc;
    }
    fprintf(stderr, "[kafka-source] consuming topic %s (group %s)\n", g->cfg.kafka_topic,
            g->cfg.kafka_group);
    g->ksource = k;
    return 0;
}

void gw__ksource_stop(gw__t *g)
{
    gw__ksource_t *k = g->ksource;
    if (!k)
        return;
    atomic_store(&k->stop, true);
    pthread_join(k->thread, NULL);
    rd_kafka_consumer_close(k->rk);
    rd_kafka_destroy(k->rk);
    pthread_mutex_destroy(&k->mu);
    free(k);
    g->ksource = NULL;
}

void gw__ksource_metrics(gw__t *g, ocsf_buf_t *b)
{
    gw__ksource_t *k = g->ksource;
    if (!k)
        return;
    static const struct {
        const char *name, *help;
    } m[] = {
        {"consumed", "Messages the Kafka source consumed."},
        {"appended", "Consumed messages appended to the spool as events."},
        {"duplicates", "Consumed messages dropped as already in the spool (same digest)."},
        {"rejected", "Consumed messages refused (empty, too long, not OCSF), dead-lettered."},
        {"commits", "Offset commits the Kafka source made after its batch was durable."},
    };
    uint64_t v[] = {atomic_load(&k->consumed), atomic_load(&k->appended),
                    atomic_load(&k->duplicates), atomic_load(&k->rejected),
                    atomic_load(&k->commits)};
    char line[320];
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        snprintf(line, sizeof line,
                 "# HELP tollgate_kafka_source_%s_total %s\n"
                 "# TYPE tollgate_kafka_source_%s_total counter\n"
                 "tollgate_kafka_source_%s_total %" PRIu64 "\n",
                 m[i].name, m[i].help, m[i].name, m[i].name, v[i]);
        ocsf_buf_puts(b, line);
    }
}
