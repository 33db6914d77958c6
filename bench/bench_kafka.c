/*
 * bench_kafka.c: the Kafka sink (exporters/kafka/) against a bare
 * librdkafka producer loop, both into the same in-process librdkafka mock
 * cluster, with the same messages and the same producer settings.
 *
 *   bench_kafka [events [batch [rounds [brokers]]]]
 *                (default 500000 10000 2 3)
 *
 * The events are real OCSF JSON lines (the samples of ocsf/samples.c,
 * cycled, each with its own metadata.uid; ~1 KB on average), pre-encoded
 * once: one batch's worth, reused for every batch.
 *
 *   sink   exp_sink_kafka.send of `batch` events at a time until `events`
 *          are EXP_OK (what the export engine does, minus the spool)
 *   bare   rd_kafka_producev of every event (same key, headers, flags,
 *          enable.idempotence=true, acks=all, compression zstd,
 *          linger.ms=20), poll on a full queue, then rd_kafka_flush: the
 *          fastest the same library can do on the same cluster
 *
 * Each runs `rounds` times, alternating, into its own topic (3 partitions);
 * the best round counts (the machine is shared). Prints events/s, MB/s of
 * JSON and the ratio sink / bare (goal >= 80%). A benchmark: it exits 1
 * only on an error (an event not delivered), never on speed.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "exporters/sink.h"
#include "ocsf/ocsf.h"

#define GOAL_RATIO  0.80
#define MAX_SAMPLES 32

typedef struct {
    exp_event_t *ev;
    char **json;
    char sandboxes[MAX_SAMPLES][64];
    size_t n;
    size_t bytes;
} events_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int make_events(events_t *e, size_t n)
{
    ocsf_event_t s[MAX_SAMPLES];
    size_t ns = ocsf_samples(s, MAX_SAMPLES);
    char err[256];
    e->n = n;
    e->bytes = 0;
    e->ev = calloc(n, sizeof *e->ev);
    e->json = calloc(n, sizeof *e->json);
    if (!e->ev || !e->json || ns == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        ocsf_event_t ev = s[i % ns];
        ocsf_buf_t b;
        snprintf(ev.uid, sizeof ev.uid, "00000000-0000-4000-8000-%012zu", i % 1000000000000u);
        ocsf_buf_init(&b);
        if (ocsf_encode(&ev, &b, err, sizeof err) != 0) {
            fprintf(stderr, "bench_kafka: encode: %s\n", err);
            return -1;
        }
        e->json[i] = b.p;
        snprintf(e->sandboxes[i % ns], sizeof e->sandboxes[0], "%.*s", (int)ev.container_name.n,
                 ev.container_name.p ? ev.container_name.p : "");
        e->ev[i] = (exp_event_t){.seq = i,
                                 .json = b.p,
                                 .json_len = b.len,
                                 .sandbox = e->sandboxes[i % ns],
                                 .sandbox_len = strlen(e->sandboxes[i % ns]),
                                 .class_uid = ev.class_uid,
                                 .class_name = ocsf_class_name(ev.class_uid),
                                 .time_ms = ev.time};
        e->bytes += b.len;
    }
    return 0;
}

/* ---- the sink ------------------------------------------------------------- */

static void quiet_log(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "  sink log: %s\n", msg);
}

/* Sends `total` events through the sink; returns seconds, < 0 on error. */
static double run_sink(const char *brokers, const char *topic, const events_t *e, size_t total)
{
    atomic_bool stop = false;
    exp_common_t common = {.name = "bench",
                           .state_dir = "/nonexistent",
                           .hostname = "bench",
                           .ocsf_version = "1.7.0",
                           .stop = &stop,
                           .log = quiet_log};
    char err[512];
    void *cfg = calloc(1, exp_sink_kafka.config_size), *sink = NULL;
    double took = -1;
    conf_defaults(exp_sink_kafka.options, cfg);
    if (conf_set(exp_sink_kafka.options, cfg, "brokers", brokers, err, sizeof err) ||
        conf_set(exp_sink_kafka.options, cfg, "topic", topic, err, sizeof err) ||
        exp_sink_kafka.open(&common, cfg, &sink, err, sizeof err)) {
        fprintf(stderr, "bench_kafka: sink: %s\n", err);
        goto out;
    }
    uint8_t *verdict = calloc(e->n, 1);
    char **reason = calloc(e->n, sizeof *reason);
    double t0 = now_s();
    for (size_t done = 0; done < total;) {
        size_t n = total - done < e->n ? total - done : e->n;
        exp_batch_t b = {.ev = e->ev,
                         .n = n,
                         .bytes = 0,
                         .verdict = verdict,
                         .reason = reason,
                         .ocsf_version = "1.7.0"};
        memset(verdict, EXP_RETRY, n);
        int rc = exp_sink_kafka.send(sink, &b, err, sizeof err);
        size_t ok = 0;
        for (size_t i = 0; i < n; i++)
            ok += verdict[i] == EXP_OK;
        if (rc != EXP_SEND_DONE || ok != n) {
            fprintf(stderr, "bench_kafka: sink send: rc %d, %zu of %zu ok: %s\n", rc, ok, n, err);
            goto out_free;
        }
        done += n;
    }
    took = now_s() - t0;
out_free:
    for (size_t i = 0; i < e->n; i++)
        free(reason[i]);
    free(reason);
    free(verdict);
out:
    exp_sink_kafka.close(sink);
    exp_sink_kafka.dispose(cfg);
    free(cfg);
    return took;
}

/* ---- the bare loop --------------------------------------------------------- */

static size_t bare_ok, bare_failed;

static void bare_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk, (void)opaque;
    if (m->err)
        bare_failed++;
    else
        bare_ok++;
}

static double run_bare(const char *brokers, const char *topic, const events_t *e, size_t total)
{
    static const char *const props[][2] = {
        {"enable.idempotence", "true"},       {"acks", "all"},
        {"compression.codec", "zstd"},        {"linger.ms", "20"},
        {"client.id", "tollgate-bench-bare"},
    };
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr))
        goto fail;
    for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
        if (rd_kafka_conf_set(conf, props[i][0], props[i][1], errstr, sizeof errstr))
            goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, bare_dr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk)
        goto fail;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    bare_ok = bare_failed = 0;
    double t0 = now_s();
    for (size_t i = 0; i < total; i++) {
        const exp_event_t *ev = &e->ev[i % e->n];
        char cls[16];
        int cls_len = snprintf(cls, sizeof cls, "%d", ev->class_uid);
        rd_kafka_resp_err_t err;
        while ((err = rd_kafka_producev(rk, RD_KAFKA_V_RKT(rkt),
                                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                        RD_KAFKA_V_VALUE((void *)ev->json, ev->json_len),
                                        RD_KAFKA_V_KEY(ev->sandbox, ev->sandbox_len),
                                        RD_KAFKA_V_HEADER("ocsf_class_uid", cls, (ssize_t)cls_len),
                                        RD_KAFKA_V_HEADER("ocsf_version", "1.7.0", -1),
                                        RD_KAFKA_V_OPAQUE((void *)(uintptr_t)i), RD_KAFKA_V_END)) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 10);
        if (err) {
            fprintf(stderr, "bench_kafka: bare produce: %s\n", rd_kafka_err2str(err));
            break;
        }
        if ((i & 1023) == 1023)
            rd_kafka_poll(rk, 0);
    }
    rd_kafka_flush(rk, 60000);
    double took = now_s() - t0;
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    if (bare_ok != total) {
        fprintf(stderr, "bench_kafka: bare: %zu of %zu delivered (%zu failed)\n", bare_ok, total,
                bare_failed);
        return -1;
    }
    return took;
fail:
    fprintf(stderr, "bench_kafka: bare: %s\n", errstr);
    rd_kafka_conf_destroy(conf);
    return -1;
}

/* ---- main ------------------------------------------------------------------ */

static long arg(int argc, char **argv, int i, long def)
{
    return argc > i ? strtol(argv[i], NULL, 10) : def;
}

int main(int argc, char **argv)
{
    size_t total = (size_t)arg(argc, argv, 1, 500000);
    size_t batch = (size_t)arg(argc, argv, 2, 10000);
    int rounds = (int)arg(argc, argv, 3, 2);
    int brokers = (int)arg(argc, argv, 4, 3);
    char errstr[256], topic[64];
    events_t e;
    int rc = 1;

    if (total == 0 || batch == 0 || rounds < 1 || brokers < 1) {
        fprintf(stderr, "usage: bench_kafka [events [batch [rounds [brokers]]]]\n");
        return 2;
    }
    if (make_events(&e, batch) != 0)
        return 1;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
    rd_kafka_t *mrk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    rd_kafka_mock_cluster_t *mc = mrk ? rd_kafka_mock_cluster_new(mrk, brokers) : NULL;
    if (!mc) {
        fprintf(stderr, "bench_kafka: cannot start the mock cluster\n");
        return 1;
    }
    const char *bs = rd_kafka_mock_cluster_bootstraps(mc);
    double mb = (double)e.bytes / (double)e.n * (double)total / 1e6;
    printf("bench_kafka: %zu events (%.0f B of OCSF JSON on average, %.1f MB) in batches of "
           "%zu, %d rounds each, mock cluster of %d brokers, librdkafka %s\n",
           total, (double)e.bytes / (double)e.n, mb, batch, rounds, brokers,
           rd_kafka_version_str());

    double best_sink = 0, best_bare = 0;
    for (int r = 0; r < rounds; r++) {
        snprintf(topic, sizeof topic, "bare-%d", r);
        rd_kafka_mock_topic_create(mc, topic, 3, brokers < 3 ? brokers : 3);
        double tb = run_bare(bs, topic, &e, total);
        snprintf(topic, sizeof topic, "sink-%d", r);
        rd_kafka_mock_topic_create(mc, topic, 3, brokers < 3 ? brokers : 3);
        double ts = run_sink(bs, topic, &e, total);
        if (tb <= 0 || ts <= 0)
            goto out;
        printf("  round %d: bare %9.0f ev/s %7.1f MB/s | sink %9.0f ev/s %7.1f MB/s\n", r + 1,
               (double)total / tb, mb / tb, (double)total / ts, mb / ts);
        if ((double)total / tb > best_bare)
            best_bare = (double)total / tb;
        if ((double)total / ts > best_sink)
            best_sink = (double)total / ts;
    }
    double ratio = best_sink / best_bare;
    printf("%-34s %12.0f ev/s %9.1f MB/s\n", "bare librdkafka loop (best)", best_bare,
           best_bare * mb / (double)total);
    printf("%-34s %12.0f ev/s %9.1f MB/s\n", "exp_sink_kafka.send (best)", best_sink,
           best_sink * mb / (double)total);
    printf("%-34s %11.0f%%   goal >= %.0f%%: %s\n", "ratio sink / bare", ratio * 100,
           GOAL_RATIO * 100, ratio >= GOAL_RATIO ? "PASS" : "MISS");
    printf("result sink_evs=%.0f bare_evs=%.0f ratio=%.3f\n", best_sink, best_bare, ratio);
    rc = 0;
out:
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(mrk);
    for (size_t i = 0; i < e.n; i++)
        free(e.json[i]);
    free(e.json);
    free(e.ev);
    return rc;
}
