/*
 * hec_internal.h: what the HEC sink's files share: hec.c (the protocol:
 * envelopes, reply verdicts, acks, health, open/close, exp_sink_hec),
 * hec_io.c (the libcurl multi driver on a private uv_loop) and hec_conf.c
 * (the options, check, dispose). Other folders include exporters/sink.h only.
 *
 * Threads: everything here runs on the exporter's thread (sink.h).
 */
#ifndef TOLLGATE_EXPORTERS_HEC_INTERNAL_H
#define TOLLGATE_EXPORTERS_HEC_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>
#include <uv.h>
#include <zlib.h>

#include "conf/conf.h"
#include "exporters/sink.h"
#include "ocsf/ocsf.h"

#define HEC_RESP_MAX     (64 * 1024) /* reply bytes kept; the rest are read and dropped */
#define HEC_STOP_POLL_MS 50
#define HEC_ST_CACHE     16 /* sourcetypes derived from class names */

typedef struct {
    char *url, *token, *index, *source, *sourcetype, *host, *ca_file, *channel;
    int gzip, ack, insecure; /* "off|on": 1 is on */
    int64_t ack_timeout_ms, timeout_ms;
} hec_config_t;

typedef struct {
    exp_common_t common; /* borrowed strings, until close */
    const hec_config_t *cfg;
    char channel[64];
    char *url_event, *url_ack, *url_health;
    struct curl_slist *hdr_plain, *hdr_gzip;
    ocsf_buf_t meta; /* ,"host":..,"source":..[,"index":..] */
    struct {
        int class_uid;
        ocsf_buf_t st; /* ,"sourcetype":".." */
    } st[HEC_ST_CACHE];
    size_t n_st;

    uv_loop_t loop;
    uv_timer_t curl_timer, tick, wait;
    CURLM *multi;
    CURL *easy;
    char curl_err[CURL_ERROR_SIZE];
    bool done, waited;
    CURLcode result;
    long status;
    ocsf_buf_t resp, body, zbody;
    z_stream z;
    bool need_health, warned_no_ack;

    uint64_t m_requests, m_errors, m_bytes, m_ack_timeouts, m_splits;
} hec_t;

static inline bool hec__set(const char *s)
{
    return s && *s;
}

/* ---- hec_conf.c ---- */

extern const conf_option_t hec__options[]; /* the exporter's keys */
/* exp_sink_type_t.check: url and token required, no controls in url, token,
 * channel. 0 or -EINVAL with err. */
int hec__check(const void *config, char *err, size_t errlen);
/* exp_sink_type_t.dispose: frees the options' strings. */
void hec__dispose(void *config);

/* ---- hec_io.c ---- */

/* Initialises h's timers (on h->loop, already initialised), the multi and
 * the easy handle. 0 or -ENOMEM; hec__io_free undoes what was done. */
int hec__start_io(hec_t *h);
/* Frees the easy and multi handles (closing kept-alive connections) and,
 * when loop_up, closes every handle of h->loop and the loop itself. */
void hec__io_free(hec_t *h, bool loop_up);
/* One request on the loop: GET url when body is NULL, else POST body
 * (borrowed until it returns), with the gzip headers when gz. Fills
 * h->status and h->resp. CURLE_ABORTED_BY_CALLBACK when stopping. */
CURLcode hec__perform(hec_t *h, const char *url, const ocsf_buf_t *body, bool gz);
/* Sleeps ms on the loop; false when stopping. */
bool hec__sleep(hec_t *h, uint64_t ms);
/* err = what + curl's reason, escaped. */
void hec__curl_err(hec_t *h, CURLcode rc, const char *what, char *err, size_t errlen);

#endif
