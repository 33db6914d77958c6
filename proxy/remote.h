/*
 * remote.h: the proxy as its own process (`tollgate proxy`), following a
 * gateway: see remote.c.
 */
#ifndef TOLLGATE_PX_REMOTE_H
#define TOLLGATE_PX_REMOTE_H

#include "proxy/proxy.h"

typedef struct {
    const char *sandbox; /* whose policy */
    const char *gateway; /* http(s)://host:port */
    const char *token;   /* the gateway's API token */
    const char *state;   /* local state: STATE/proxy-<sandbox>/ (spool, cursor, pins) */
    const px_config_t *px;
} px_remote_config_t;

/* Runs until SIGINT/SIGTERM. 0, or -errno with err when it could not start. */
int px_remote_run(const px_remote_config_t *cfg, char *err, size_t errlen);

#endif
