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
 * Two listeners, one port: 127.0.0.1 (IPv4) and [::1] (IPv6, where the
 * namespace REDIRECTs every outbound IPv6 TCP connection; IP6T_SO_ORIGINAL_DST).
 * The events are built in bypass_event.c, shared with nflog.c (UDP/IPv6).
 *
 * Thread: the loop thread; identity lookups on the threadpool. At most
 * MAX_CONNS connections wait at once; more are reset at once and counted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/bypass_internal.h"

#define MAX_CONNS 256

typedef struct catch_conn catch_conn_t;

struct px_catcher {
    uv_loop_t *loop;
    uv_tcp_t listener, listener6; /* 127.0.0.1 and [::1], port 15001 */
    bool has6;
    int netns_fd;
    px_dns_t *dns;
    px__bypass_ctx_t ev;
    px_ident_cache_t *idcache;
    catch_conn_t *conns;
    unsigned nconns;
    int open; /* the listeners + connections not yet freed */
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

static void emit(catch_conn_t *k)
{
    px_catcher_t *c = k->cat;
    const struct sockaddr_in *o = (const void *)&k->orig;
    char host[256];
    bool named = k->orig.ss_family == AF_INET && c->dns &&
                 px_dns_name_of(c->dns, o->sin_addr.s_addr, host, sizeof host);
    px__bypass_t b = {.proto = "tcp",
                      .src = (const struct sockaddr *)&k->peer,
                      .dst = (const struct sockaddr *)&k->orig,
                      .host = named ? host : NULL,
                      .ident = k->ident_rc == 0 ? k->ident : NULL,
                      .reason = k->reason};
    px__bypass_emit(&c->ev, &b);
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
        if (k->peer.ss_family == AF_INET6)
            k->cat->st.caught6++;
        if (k->ident_rc != 0)
            k->cat->st.unnamed++;
        emit(k);
    }
    if (!k->closed)
        conn_reset(k);
    conn_maybe_free(k);
}

/* The client socket's two ends: the accepted socket's peer, and where the
 * connection was going (the original destination in the namespace's
 * conntrack; the listener's own address when someone dialled it). */
static int conn_ends(catch_conn_t *k, int fd)
{
    socklen_t pl = sizeof k->peer, ol = sizeof k->orig;
    if (getpeername(fd, (struct sockaddr *)&k->peer, &pl) != 0)
        return -errno;
    int rc;
    if (k->peer.ss_family == AF_INET)
        rc = getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &k->orig, &ol);
    else if (k->peer.ss_family == AF_INET6)
        rc = getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &k->orig, &ol);
    else
        return -EAFNOSUPPORT;
    if (rc != 0) {
        ol = sizeof k->orig; /* not redirected: someone dialled the catcher itself */
        if (getsockname(fd, (struct sockaddr *)&k->orig, &ol) != 0)
            return -errno;
    }
    return k->orig.ss_family == k->peer.ss_family ? 0 : -EAFNOSUPPORT;
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
    bool ok = uv_fileno((uv_handle_t *)&k->tcp, &fd) == 0 && conn_ends(k, fd) == 0;
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
    px__bypass_ctx_init(&c->ev, hooks);
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

int px_catcher_listen6(px_catcher_t *c, int listen_fd, char *err, size_t errlen)
{
    int rc = c->has6 || c->closing ? UV_EBUSY : uv_tcp_init(c->loop, &c->listener6);
    if (rc != 0) {
        snprintf(err, errlen, "catcher [::1]: %s", uv_strerror(rc));
        close(listen_fd);
        return rc;
    }
    c->listener6.data = c;
    c->has6 = true;
    c->open++;
    if ((rc = uv_tcp_open(&c->listener6, listen_fd)) != 0)
        close(listen_fd); /* not the handle's: still ours */
    else
        rc = uv_listen((uv_stream_t *)&c->listener6, 128, on_connection);
    if (rc != 0)
        snprintf(err, errlen, "catcher [::1]: %s", uv_strerror(rc));
    return rc; /* on failure the handle is closed with the catcher */
}

void px_catcher_destroy(px_catcher_t *c)
{
    if (!c || c->closing)
        return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->listener, on_listener_closed);
    if (c->has6)
        uv_close((uv_handle_t *)&c->listener6, on_listener_closed);
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
