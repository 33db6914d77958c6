/*
 * gateway.h: the control plane process: the gateway HTTP API in front of
 * the collector. `tollgate gateway` and `tollgate up` run gw_run().
 *
 * Thread: gw_run() owns one libuv loop on the calling thread; the
 * collector's writer thread and the libuv threadpool (ingest decoding,
 * spool queries) reach it only through uv_async_send / uv_queue_work.
 */
#ifndef TOLLGATE_GATEWAY_H
#define TOLLGATE_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/collector.h"
#include "collector/export.h"
#include "conf/conf.h"
#include "proxy/proxy.h"

#define GW_DEFAULT_LISTEN "127.0.0.1:17670"
#define GW_TOKEN_HEX      64

typedef struct {
    char *listen;   /* HOST:PORT ("[::1]:17670" for IPv6) */
    char *tls_cert; /* PEM; with tls_key: HTTPS */
    char *tls_key;
    int64_t max_body;    /* bytes of one POST /v1/events; over: 413 */
    int64_t max_line;    /* bytes of one event line in it; over: that line is rejected */
    int64_t max_errors;  /* errors listed in an ingest reply (all are counted) */
    int ingest_invalid;  /* 0 repair, 1 refuse (gateway.ingest_invalid) */
    char *kafka_brokers; /* source.kafka.*: consume an OCSF topic into the spool */
    char *kafka_topic;
    char *kafka_group;
} gw_config_t;

extern const conf_option_t gw_options[];
void gw_config_default(gw_config_t *cfg);
void gw_config_dispose(gw_config_t *cfg);

/* The state directory: `flag` if given, else $TOLLGATE_STATE, else
 * $XDG_STATE_HOME/tollgate, else ~/.local/state/tollgate. */
int gw_state_dir(const char *flag, char *out, size_t n, char *err, size_t errlen);
/* The URL of the gateway that holds state_dir now (its gateway.lock), or
 * -ENOENT when none does. */
int gw_state_gateway_url(const char *state_dir, char *out, size_t n);

/* Reads the API token from <state>/token (64 hex chars); with create, makes
 * it (mode 0600, from getrandom) when absent. Refuses a token file others
 * can read. 0 or -errno with err. */
int gw_token_load(const char *state_dir, bool create, char tok[GW_TOKEN_HEX + 1], char *err,
                  size_t errlen);

/* Parses "HOST:PORT" / "[v6]:PORT". */
int gw_parse_listen(const char *s, char *host, size_t hostlen, int *port);

/* Parses a --since/--until value: a duration back from now ("30s", "5m",
 * "2h", "7d", "1h30m") or RFC 3339 ("2026-11-27T10:00:00Z",
 * "...T10:00:00.250+02:00"). Milliseconds since the epoch in *out. */
int gw_parse_time(const char *s, int64_t now_ms, int64_t *out);

/* Runs the gateway and collector until SIGINT or SIGTERM, printing one
 * "listening on" line to stderr once it serves. With `proxy` (tollgate up),
 * the proxy of sandbox proxy->sandbox runs in the same loop. `exporters`
 * (may be empty) ship the spool to their destinations, each on its thread.
 * Returns 0 on a clean stop,
 * or -errno with err when it could not start. */
int gw_run(const char *state_dir, const gw_config_t *cfg, const col_config_t *col,
           const px_config_t *proxy, const exp_config_list_t *exporters, char *err, size_t errlen);

#endif
