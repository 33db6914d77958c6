/*
 * gw_internal.h: what the files of gateway/ share (gateway.c: process,
 * state, token, lifecycle; api.c: the HTTP API). Not for outside.
 */
#ifndef TOLLGATE_GW_INTERNAL_H
#define TOLLGATE_GW_INTERNAL_H

#include <stdatomic.h>

#include <uv.h>

#include "gateway/gateway.h"
#include "gateway/http.h"

typedef struct gw__ingest gw__ingest_t;
typedef struct gw__logs gw__logs_t;

typedef struct {
    uv_loop_t loop;
    gw_config_t cfg;
    col_t *col;
    ocsf_validator_t *validator;
    gw_http_server_t *http;
    uv_async_t wake; /* the collector committed: ingest replies, followers */
    uv_signal_t sigint, sigterm;
    char token[GW_TOKEN_HEX + 1];
    char state_dir[4096];
    char hostname[256];
    ocsf_product_t product;
    gw__ingest_t *waiting; /* replies waiting for durability */
    gw__logs_t *followers;
    unsigned work_in_flight; /* uv_queue_work items not yet completed */
    bool stopping;
    _Atomic uint64_t ingest_rejected, ingest_accepted, requests, unauthorized;
} gw__t;

/* Fills the parts every gateway event has (product, device, log_name). */
void gw__event_base(gw__t *g, ocsf_event_t *ev, int class_uid, int activity, int severity);

/* The API handler (api.c) and its hooks. */
void gw__api_handle(gw_http_req_t *req, void *ctx);
void gw__api_on_commit(gw__t *g); /* on the loop after the collector's wake */
void gw__api_stop(gw__t *g);      /* finish followers; pending replies wait */

#endif
