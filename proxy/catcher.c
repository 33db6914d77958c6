/*
 * catcher.c: the bypass catcher. Every TCP connection a sandboxed program
 * opens around its proxy is REDIRECTed here by the namespace's nftables
 * rules (gateway/netns.c). For each: the destination it wanted
 * (SO_ORIGINAL_DST, the name from the DNS responder's map), who it is (the
 * proxy's identity lookup, run inside the namespace: the client socket's
 * local end is the accepted socket's peer, its remote end the original
 * destination), then NET:REFUSE DENIED (engine `bypass`) and
 * FINDING:CREATE "proxy bypass attempt", then a reset. The connection stays
 * open until the caller is named, so its socket is still there to find.
 *
 * Thread: the loop thread; identity lookups on the threadpool. At most
 * MAX_CONNS connections wait at once; more are reset at once and counted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter_ipv4.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/bypass.h"
#include "proxy/px_internal.h"

#define MAX_CONNS 256

static const ocsf_product_t product = {OCSF_STR("tollgate-proxy"), OCSF_STR(TOLLGATE_VENDOR),
                                       OCSF_STR(TOLLGATE_VERSION)};

typedef struct catch_conn catch_conn_t;

struct px_catcher {
    uv_loop_t *loop;
    uv_tcp_t listener;
    int netns_fd;
    px_dns_t *dns;
    px_hooks_t hooks;
    char name[64], uid[64], hostname[256];
    px_ident_cache_t *idcache;
    catch_conn_t *conns;
    unsigned nconns;
    int open; /* the listener + connections not yet freed */
    bool closing;
    px_catcher_stats_t st;
};

struct catch_conn {
    px_catcher_t *cat;
    catch_conn_t *prev, *next;
    uv_tcp_t tcp;
    uv_work_t work;
    bool work_busy, closed;
    struct sockaddr_storage peer, orig;
    px_ident_t *ident;
    int ident_rc;
    char reason[256];
};

static void cat_maybe_free(px_catcher_t *c)
{
    if (c->closing && c->open == 0) {
        px_ident_cache_destroy(c->idcache);
        free(c);
    }
}

static void conn_maybe_free(catch_conn_t *k)
{
    if (!k->closed || k->work_busy)
        return;
    px_catcher_t *c = k->cat;
    if (k->prev)
        k->prev->next = k->next;
    else
        c->conns = k->next;
    if (k->next)
        k->next->prev = k->prev;
    c->nconns--;
    c->open--;
    free(k->ident);
    free(k);
    cat_maybe_free(c);
}

static void on_conn_closed(uv_handle_t *h)
{
    catch_conn_t *k = h->data;
    k->closed = true;
    conn_maybe_free(k);
}

static void conn_reset(catch_conn_t *k)
{
    if (uv_is_closing((uv_handle_t *)&k->tcp))
        return;
    if (uv_tcp_close_reset(&k->tcp, on_conn_closed) != 0)
        uv_close((uv_handle_t *)&k->tcp, on_conn_closed);
}

/* ---- events ---------------------------------------------------------------------- */

typedef struct {
    char src[64], dst_ip[64], host[256], cmd[4096], text[600];
} evbufs_t;

static void ev_base(catch_conn_t *k, ocsf_event_t *ev, int cls, int act, int sev, evbufs_t *b)
{
    px_catcher_t *c = k->cat;
    ocsf_event_init(ev);
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    ocsf_event_begin(ev, cls, act, sev, tv.tv_sec * 1000 + tv.tv_usec / 1000, &product);
    ev->log_name = OCSF_STR("sandbox");
    ev->device_hostname = ocsf_str(c->hostname);
    ev->device_type_id = 0;
    ev->container_name = ocsf_str(c->name);
    ev->container_uid = ocsf_str(c->uid);
    if (k->ident && k->ident_rc == 0) {
        ev->actor.pid = k->ident->pid;
        ev->actor.name = ocsf_str(k->ident->exe);
        px_cmdline_redact(k->ident->cmdline, b->cmd, sizeof b->cmd);
        ev->actor.cmd_line = ocsf_str(b->cmd);
        ocsf_process_set_file(&ev->actor, ocsf_str(k->ident->exe),
                              k->ident->sha256[0] ? ocsf_str(k->ident->sha256) : OCSF_NOSTR);
    }
}

static void emit(catch_conn_t *k)
{
    px_catcher_t *c = k->cat;
    ocsf_event_t ev;
    evbufs_t b;
    const struct sockaddr_in *o = (const void *)&k->orig, *p = (const void *)&k->peer;
    int port = ntohs(o->sin_port);
    inet_ntop(AF_INET, &o->sin_addr, b.dst_ip, sizeof b.dst_ip);
    inet_ntop(AF_INET, &p->sin_addr, b.src, sizeof b.src);
    bool named = c->dns && px_dns_name_of(c->dns, o->sin_addr.s_addr, b.host, sizeof b.host);
    if (!named)
        snprintf(b.host, sizeof b.host, "%s", b.dst_ip);
    char reason[400];
    snprintf(reason, sizeof reason,
             "connection to %s:%d (%s) did not go through the proxy: refused (bypass attempt)",
             b.host, port, b.dst_ip);

    ev_base(k, &ev, OCSF_CLASS_NETWORK, 5 /* Refuse */, OCSF_SEV_MEDIUM, &b);
    ev.src.ip = ocsf_str(b.src);
    ev.src.port = ntohs(p->sin_port);
    ev.dst.domain = named ? ocsf_str(b.host) : OCSF_NOSTR;
    ev.dst.ip = ocsf_str(b.dst_ip);
    ev.dst.port = port;
    ocsf_event_verdict(&ev, false, OCSF_STR("proxy_bypass"), OCSF_STR("bypass"), ocsf_str(reason));
    c->hooks.emit(c->hooks.ctx, &ev);

    ev_base(k, &ev, OCSF_CLASS_FINDING, OCSF_FINDING_CREATE, OCSF_SEV_HIGH, &b);
    ev.finding_uid = OCSF_STR("proxy_bypass");
    ev.finding_type = OCSF_STR("proxy_bypass");
    ev.finding_title = OCSF_STR("proxy bypass attempt");
    ev.confidence_id = OCSF_CONF_HIGH;
    ev.status_id = OCSF_FSTATUS_NEW;
    if (k->ident && k->ident_rc == 0)
        snprintf(b.text, sizeof b.text, "%.300s(%d) tried %s:%d around the proxy", k->ident->exe,
                 k->ident->pid, b.host, port);
    else
        snprintf(b.text, sizeof b.text, "an unnamed process tried %s:%d around the proxy (%s)",
                 b.host, port, k->reason);
    ev.message = ocsf_str(b.text);
    ocsf_buf_t um;
    ocsf_buf_init(&um);
    char dst[300];
    snprintf(dst, sizeof dst, "%s:%d", b.host, port);
    const ocsf_str_t keys[] = {OCSF_STR("bypass_destination"), OCSF_STR("bypass_ip")};
    const ocsf_str_t vals[] = {ocsf_str(dst), ocsf_str(b.dst_ip)};
    ocsf_unmapped_build(&um, keys, vals, 2);
    ev.unmapped = (ocsf_str_t){um.p, um.len};
    c->hooks.emit(c->hooks.ctx, &ev);
    ocsf_buf_dispose(&um);
}

/* ---- connections ----------------------------------------------------------------- */

static int lookup(void *arg)
{
    catch_conn_t *k = arg;
    return px_ident_lookup(k->cat->idcache, (struct sockaddr *)&k->peer,
                           (struct sockaddr *)&k->orig, k->ident, k->reason, sizeof k->reason);
}

static void ident_work(uv_work_t *w)
{
    catch_conn_t *k = w->data;
    k->ident_rc = px_netns_run(k->cat->netns_fd, lookup, k);
    if (k->ident_rc != 0 && !k->reason[0])
        snprintf(k->reason, sizeof k->reason, "identity lookup: %s", strerror(-k->ident_rc));
}

static void ident_after(uv_work_t *w, int status)
{
    catch_conn_t *k = w->data;
    k->work_busy = false;
    if (status == 0 && !k->cat->closing) {
        k->cat->st.caught++;
        if (k->ident_rc != 0)
            k->cat->st.unnamed++;
        emit(k);
    }
    if (!k->closed)
        conn_reset(k);
    conn_maybe_free(k);
}

static void on_connection(uv_stream_t *l, int status)
{
    px_catcher_t *c = l->data;
    if (status < 0 || c->closing)
        return;
    catch_conn_t *k = calloc(1, sizeof *k);
    if (!k)
        abort();
    k->cat = c;
    uv_tcp_init(c->loop, &k->tcp);
    k->tcp.data = k;
    k->next = c->conns;
    if (c->conns)
        c->conns->prev = k;
    c->conns = k;
    c->nconns++;
    c->open++;
    if (uv_accept(l, (uv_stream_t *)&k->tcp) != 0) {
        uv_close((uv_handle_t *)&k->tcp, on_conn_closed);
        return;
    }
    uv_os_fd_t fd;
    socklen_t pl = sizeof k->peer, ol = sizeof k->orig;
    bool ok = uv_fileno((uv_handle_t *)&k->tcp, &fd) == 0 &&
              getpeername(fd, (struct sockaddr *)&k->peer, &pl) == 0 &&
              k->peer.ss_family == AF_INET;
    if (ok && getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &k->orig, &ol) != 0) {
        ol = sizeof k->orig; /* not redirected: someone dialled the catcher itself */
        ok = getsockname(fd, (struct sockaddr *)&k->orig, &ol) == 0;
    }
    if (!ok || c->nconns > MAX_CONNS || !(k->ident = calloc(1, sizeof *k->ident))) {
        c->st.overflow++;
        conn_reset(k);
        return;
    }
    k->work.data = k;
    k->work_busy = true;
    if (uv_queue_work(c->loop, &k->work, ident_work, ident_after) != 0) {
        k->work_busy = false;
        conn_reset(k);
    }
}

static void on_listener_closed(uv_handle_t *h)
{
    px_catcher_t *c = h->data;
    c->open--;
    cat_maybe_free(c);
}

int px_catcher_create(uv_loop_t *loop, int listen_fd, int netns_fd, px_dns_t *dns,
                      const px_hooks_t *hooks, px_catcher_t **out, char *err, size_t errlen)
{
    px_catcher_t *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    c->loop = loop;
    c->netns_fd = netns_fd;
    c->dns = dns;
    c->hooks = *hooks;
    snprintf(c->name, sizeof c->name, "%s", hooks->sandbox_name ? hooks->sandbox_name : "");
    snprintf(c->uid, sizeof c->uid, "%s", hooks->sandbox_uid ? hooks->sandbox_uid : "");
    snprintf(c->hostname, sizeof c->hostname, "%s", hooks->hostname ? hooks->hostname : "");
    c->idcache = px_ident_cache_create();
    int rc = c->idcache ? uv_tcp_init(loop, &c->listener) : UV_ENOMEM;
    if (rc != 0) {
        snprintf(err, errlen, "catcher: %s", uv_strerror(rc));
        close(listen_fd);
        px_ident_cache_destroy(c->idcache);
        free(c);
        return -ENOMEM;
    }
    c->listener.data = c;
    c->open = 1;
    if ((rc = uv_tcp_open(&c->listener, listen_fd)) != 0 ||
        (rc = uv_listen((uv_stream_t *)&c->listener, 128, on_connection)) != 0) {
        snprintf(err, errlen, "catcher: %s", uv_strerror(rc));
        c->closing = true;
        uv_close((uv_handle_t *)&c->listener, on_listener_closed);
        return rc;
    }
    *out = c;
    return 0;
}

void px_catcher_destroy(px_catcher_t *c)
{
    if (!c || c->closing)
        return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->listener, on_listener_closed);
    for (catch_conn_t *k = c->conns; k; k = k->next) {
        if (k->work_busy)
            uv_cancel((uv_req_t *)&k->work);
        if (!k->closed)
            conn_reset(k);
    }
}

void px_catcher_stats(const px_catcher_t *c, px_catcher_stats_t *st)
{
    *st = c->st;
}
