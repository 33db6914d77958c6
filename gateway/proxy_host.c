/*
 * proxy_host.c: the proxy inside the gateway process (`tollgate up`): its
 * policy is a sandbox's compiled index, its events go straight into the
 * collector, its pinned binary hashes live in the sandbox's state.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw_internal.h"
#include "proxy/proxy.h"

static const pol_index_t *host_policy(void *ctx, uint64_t *version)
{
    gw__t *g = ctx;
    gw__sandbox_t *sb = gw__sandbox_find(g, g->proxy_sandbox);
    if (!sb)
        return NULL;
    *version = sb->version;
    return sb->index;
}

static void host_emit(void *ctx, ocsf_event_t *ev)
{
    gw__t *g = ctx;
    char err[256];
    if (col_append(g->col, ev, NULL, err, sizeof err) != 0)
        fprintf(stderr, "[gateway:proxy] event: %s\n", err);
}

static int host_pin(void *ctx, const char *path, const char *sha256, char pinned[65])
{
    gw__t *g = ctx;
    gw__sandbox_t *sb = gw__sandbox_find(g, g->proxy_sandbox);
    return sb ? gw__sandbox_pin(g, sb, path, sha256, pinned) : 0;
}

int gw__proxy_start(gw__t *g, const void *px_cfg, char *err, size_t errlen)
{
    const px_config_t *cfg = px_cfg;
    snprintf(g->proxy_sandbox, sizeof g->proxy_sandbox, "%s",
             cfg->sandbox ? cfg->sandbox : "default");
    gw__sandbox_t *sb = gw__sandbox_find(g, g->proxy_sandbox);
    if (!sb) {
        snprintf(err, errlen, "proxy: no sandbox '%s'", g->proxy_sandbox);
        return -ENOENT;
    }
    snprintf(g->proxy_sandbox_uid, sizeof g->proxy_sandbox_uid, "%s", sb->uid);
    px_hooks_t h = {
        .ctx = g,
        .policy = host_policy,
        .emit = host_emit,
        .pin = host_pin,
        .sandbox_name = g->proxy_sandbox,
        .sandbox_uid = g->proxy_sandbox_uid,
        .hostname = g->hostname,
    };
    int rc = px_create(&g->loop, cfg, &h, &g->proxy, err, errlen);
    if (rc == 0)
        gw__sandbox_report(g, sb, "in-process", sb->version, true, NULL);
    if (rc == 0)
        fprintf(stderr, "[gateway] proxy for sandbox %s listening on port %d (%s)\n",
                g->proxy_sandbox, px_port(g->proxy), cfg->listen);
    return rc;
}

void gw__proxy_stop(gw__t *g)
{
    px_destroy(g->proxy);
    g->proxy = NULL;
}
