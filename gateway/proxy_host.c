/*
 * proxy_host.c: proxies inside the gateway process: the one of `tollgate up`
 * (sandbox proxy.sandbox, on proxy.listen) and those of sandboxes with a
 * network namespace (sandbox_net.c). Each one's policy is its sandbox's
 * compiled index, its events go straight into the collector, its pinned
 * binary hashes live in the sandbox's state. The hooks find the sandbox by
 * name at each call: a deleted sandbox means "deny all".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw_internal.h"
#include "proxy/proxy.h"

static const pol_index_t *host_policy(void *ctx, uint64_t *version)
{
    gw__pxhost_t *h = ctx;
    gw__sandbox_t *sb = gw__sandbox_find(h->g, h->name);
    if (!sb)
        return NULL;
    *version = sb->version;
    return sb->index;
}

static void host_emit(void *ctx, ocsf_event_t *ev)
{
    gw__pxhost_t *h = ctx;
    char err[256];
    if (col_append(h->g->col, ev, NULL, err, sizeof err) != 0)
        fprintf(stderr, "[gateway:proxy] event: %s\n", err);
}

static int host_pin(void *ctx, const char *path, const char *sha256, char pinned[65])
{
    gw__pxhost_t *h = ctx;
    gw__sandbox_t *sb = gw__sandbox_find(h->g, h->name);
    return sb ? gw__sandbox_pin(h->g, sb, path, sha256, pinned) : 0;
}

void gw__proxy_hooks(gw__pxhost_t *host, px_hooks_t *h)
{
    *h = (px_hooks_t){
        .ctx = host,
        .policy = host_policy,
        .emit = host_emit,
        .pin = host_pin,
        .sandbox_name = host->name,
        .sandbox_uid = host->uid,
        .hostname = host->g->hostname,
        .ca = host->g->ca,
    };
}

static gw__pxhost_t default_host; /* the one `tollgate up` proxy per process */

void gw__proxy_listen_err(const char *listen, char *err, size_t errlen)
{
    snprintf(err, errlen,
             "proxy %s: address already in use (another tollgate or proxy? use --proxy-listen "
             "HOST:PORT, or --set proxy.listen=HOST:PORT)",
             listen);
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
    default_host = (gw__pxhost_t){g, g->proxy_sandbox, g->proxy_sandbox_uid};
    px_hooks_t h;
    gw__proxy_hooks(&default_host, &h);
    int rc = px_create(&g->loop, cfg, &h, &g->proxy, err, errlen);
    if (rc == UV_EADDRINUSE)
        gw__proxy_listen_err(cfg->listen, err, errlen);
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
