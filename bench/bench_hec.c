/*
 * bench_hec.c: the HEC sink (exp_sink_hec) sending real OCSF events to a
 * HEC receiver, as the export engine would: batches of up to 1 MiB of event
 * JSON (the engine's default), one at a time, resending what is not OK.
 *
 *   bench_hec --write-events FILE M    the M events, one JSON line each
 *   bench_hec --send URL TOKEN M gzip|plain
 *
 * The events are the `tollgate ocsf samples` (every class the project
 * emits), each with its own metadata.uid, cycled to M. --send prints a
 * `result ...` line of key=value pairs (bench/bench_hec.py parses it):
 * events, seconds, ev/s, MB/s of event JSON, the process CPU, resends.
 * Exits 1 when an event is not delivered. See bench/README.md.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "exporters/sink.h"
#include "ocsf/ocsf.h"

#define POOL        4096
#define BATCH_BYTES (1 << 20)
#define BATCH_MAX   8192

typedef struct {
    char *json;
    size_t len;
    int class_uid;
    int64_t time_ms;
} ev_t;

static ev_t pool[POOL];

static int make_pool(void)
{
    ocsf_event_t s[64];
    size_t ns = ocsf_samples(s, 64);
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    char err[256];
    for (size_t i = 0; i < POOL; i++) {
        ocsf_event_t ev = s[i % ns];
        uint8_t rnd[16] = {0};
        memcpy(rnd, &i, sizeof i);
        rnd[15] = 0xbe;
        ocsf_uuid_v4(rnd, ev.uid);
        b.len = 0;
        if (ocsf_encode(&ev, &b, err, sizeof err) != 0) {
            fprintf(stderr, "bench_hec: encode: %s\n", err);
            return -1;
        }
        pool[i] = (ev_t){strndup(b.p, b.len), b.len, ev.class_uid, ev.time};
    }
    ocsf_buf_dispose(&b);
    return 0;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

static void log_cb(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "bench_hec: sink: %s\n", msg);
}

/* Sends events [from, from + n) of the cycled pool until all are OK. */
static int send_batch(void *sink, size_t from, size_t n, exp_event_t *ev, uint8_t *v, long *resends)
{
    for (size_t i = 0; i < n; i++) {
        const ev_t *p = &pool[(from + i) % POOL];
        ev[i] = (exp_event_t){.seq = from + i + 1,
                              .json = p->json,
                              .json_len = p->len,
                              .sandbox = "",
                              .class_uid = p->class_uid,
                              .class_name = ocsf_class_name(p->class_uid),
                              .time_ms = p->time_ms};
        v[i] = EXP_RETRY;
    }
    for (int attempt = 0; attempt < 20; attempt++) {
        exp_batch_t b = {ev, n, 0, v, NULL, "1.7.0"};
        char err[512] = "";
        int rc = exp_sink_hec.send(sink, &b, err, sizeof err);
        size_t ok = 0;
        for (size_t i = 0; i < n; i++)
            ok += v[i] == EXP_OK;
        if (rc == EXP_SEND_DONE && ok == n)
            return 0;
        (*resends)++;
        fprintf(stderr, "bench_hec: resend (rc %d, %zu/%zu ok): %s\n", rc, ok, n, err);
    }
    return -1;
}

static int run_send(const char *url, const char *token, size_t m, const char *gz)
{
    static atomic_bool stop;
    exp_common_t common = {.name = "bench",
                           .state_dir = "/nonexistent",
                           .hostname = "benchhost",
                           .ocsf_version = "1.7.0",
                           .stop = &stop,
                           .log = log_cb};
    void *cfg = calloc(1, exp_sink_hec.config_size), *sink = NULL;
    char err[256];
    const char *kv[] = {"url", url, "token", token, "gzip", strcmp(gz, "gzip") ? "off" : "on"};
    if (conf_defaults(exp_sink_hec.options, cfg) != 0)
        return 1;
    for (size_t i = 0; i < 6; i += 2)
        if (conf_set(exp_sink_hec.options, cfg, kv[i], kv[i + 1], err, sizeof err) != 0 ||
            exp_sink_hec.open == NULL) {
            fprintf(stderr, "bench_hec: %s\n", err);
            return 1;
        }
    if (exp_sink_hec.open(&common, cfg, &sink, err, sizeof err) != 0) {
        fprintf(stderr, "bench_hec: open: %s\n", err);
        return 1;
    }
    static exp_event_t ev[BATCH_MAX];
    static uint8_t v[BATCH_MAX];
    long resends = 0, batches = 0;
    size_t bytes = 0, sent = 0;
    int rc = 0;
    double t0 = now_s(), c0 = cpu_s();
    while (sent < m && rc == 0) {
        size_t n = 0, bb = 0;
        while (sent + n < m && n < BATCH_MAX && bb < BATCH_BYTES)
            bb += pool[(sent + n++) % POOL].len;
        rc = send_batch(sink, sent, n, ev, v, &resends);
        sent += n;
        bytes += bb;
        batches++;
    }
    double dt = now_s() - t0, cpu = cpu_s() - c0;
    exp_sink_hec.close(sink);
    exp_sink_hec.dispose(cfg);
    free(cfg);
    printf("result sink=hec body=%s events=%zu batches=%ld seconds=%.3f ev_s=%.0f mb_s=%.1f "
           "cpu_s=%.3f avg_event_bytes=%.0f resends=%ld ok=%d\n",
           gz, sent, batches, dt, (double)sent / dt, (double)bytes / dt / 1e6, cpu,
           (double)bytes / (double)sent, resends, rc == 0);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (make_pool() != 0)
        return 1;
    if (argc == 4 && strcmp(argv[1], "--write-events") == 0) {
        FILE *f = fopen(argv[2], "w");
        size_t m = strtoull(argv[3], NULL, 10);
        for (size_t i = 0; f && i < m; i++) {
            fwrite(pool[i % POOL].json, 1, pool[i % POOL].len, f);
            fputc('\n', f);
        }
        return f && fclose(f) == 0 ? 0 : 1;
    }
    if (argc == 6 && strcmp(argv[1], "--send") == 0)
        return run_send(argv[2], argv[3], strtoull(argv[4], NULL, 10), argv[5]);
    fprintf(stderr, "usage: bench_hec --write-events FILE M | --send URL TOKEN M gzip|plain\n");
    return 2;
}
