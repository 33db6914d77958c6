/*
 * bypass_event.c: the two events of a bypass attempt, for the catcher (TCP,
 * IPv4 and IPv6) and the NFLOG listener (UDP over IPv6): NET:REFUSE DENIED
 * (firewall_rule {name: proxy_bypass, type: bypass}) and FINDING:CREATE
 * "proxy bypass attempt" naming the binary, its pid and SHA-256, and the
 * destination (`host:port`, `[v6]:port`).
 *
 * Thread: the loop thread (hooks.emit is called here).
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "proxy/bypass_internal.h"

static const ocsf_product_t product = {OCSF_STR("tollgate-proxy"), OCSF_STR(TOLLGATE_VENDOR),
                                       OCSF_STR(TOLLGATE_VERSION)};

void px__bypass_ctx_init(px__bypass_ctx_t *c, const px_hooks_t *hooks)
{
    c->hooks = *hooks;
    snprintf(c->name, sizeof c->name, "%s", hooks->sandbox_name ? hooks->sandbox_name : "");
    snprintf(c->uid, sizeof c->uid, "%s", hooks->sandbox_uid ? hooks->sandbox_uid : "");
    snprintf(c->hostname, sizeof c->hostname, "%s", hooks->hostname ? hooks->hostname : "");
}

typedef struct {
    char src[64], dst_ip[64], host[300], dest[320], cmd[4096], text[700], reason[800], sup[24];
    int sport, dport;
} evbufs_t;

static void addr_port(const struct sockaddr *sa, char *ip, size_t n, int *port)
{
    const struct sockaddr_in *in = (const void *)sa;
    const struct sockaddr_in6 *in6 = (const void *)sa;
    ip[0] = '\0';
    *port = 0;
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &in->sin_addr, ip, (socklen_t)n);
        *port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, (socklen_t)n);
        *port = ntohs(in6->sin6_port);
    }
}

static void ev_base(const px__bypass_ctx_t *c, const px__bypass_t *b, ocsf_event_t *ev, int cls,
                    int act, int sev, evbufs_t *t)
{
    ocsf_event_init(ev);
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    ocsf_event_begin(ev, cls, act, sev, tv.tv_sec * 1000 + tv.tv_usec / 1000, &product);
    ev->log_name = OCSF_STR("sandbox");
    ev->device_hostname = ocsf_str(c->hostname);
    ev->device_type_id = 0;
    ev->container_name = ocsf_str(c->name);
    ev->container_uid = ocsf_str(c->uid);
    if (b->ident) {
        ev->actor.pid = b->ident->pid;
        ev->actor.name = ocsf_str(b->ident->exe);
        px_argv_redact(b->ident->cmdline, b->ident->cmdline_len, t->cmd, sizeof t->cmd);
        ev->actor.cmd_line = ocsf_str(t->cmd);
        ocsf_process_set_file(&ev->actor, ocsf_str(b->ident->exe),
                              b->ident->sha256[0] ? ocsf_str(b->ident->sha256) : OCSF_NOSTR);
    }
}

static void emit_refuse(const px__bypass_ctx_t *c, const px__bypass_t *b, evbufs_t *t)
{
    ocsf_event_t ev;
    bool udp = strcmp(b->proto, "udp") == 0;
    int n = snprintf(t->reason, sizeof t->reason,
                     "%s to %s (%s) did not go through the proxy: %s (bypass attempt)",
                     udp ? "UDP datagram" : "connection", t->dest, t->dst_ip,
                     udp ? "dropped" : "refused");
    if (!b->ident && n > 0 && (size_t)n < sizeof t->reason)
        snprintf(t->reason + n, sizeof t->reason - (size_t)n, "; sender not named: %.300s",
                 b->reason ? b->reason : "unknown");
    ev_base(c, b, &ev, OCSF_CLASS_NETWORK, 5 /* Refuse */, OCSF_SEV_MEDIUM, t);
    ev.src.ip = ocsf_str(t->src);
    ev.src.port = t->sport;
    ev.dst.domain = b->host ? ocsf_str(b->host) : OCSF_NOSTR;
    ev.dst.ip = ocsf_str(t->dst_ip);
    ev.dst.port = t->dport;
    ocsf_event_verdict(&ev, false, OCSF_STR("proxy_bypass"), OCSF_STR("bypass"),
                       ocsf_str(t->reason));
    c->hooks.emit(c->hooks.ctx, &ev);
}

static void emit_finding(const px__bypass_ctx_t *c, const px__bypass_t *b, evbufs_t *t)
{
    ocsf_event_t ev;
    const char *via = strcmp(b->proto, "udp") == 0 ? " over UDP" : "";
    ev_base(c, b, &ev, OCSF_CLASS_FINDING, OCSF_FINDING_CREATE, OCSF_SEV_HIGH, t);
    ev.finding_uid = OCSF_STR("proxy_bypass");
    ev.finding_type = OCSF_STR("proxy_bypass");
    ev.finding_title = OCSF_STR("proxy bypass attempt");
    ev.confidence_id = OCSF_CONF_HIGH;
    ev.status_id = OCSF_FSTATUS_NEW;
    if (b->ident)
        snprintf(t->text, sizeof t->text, "%.300s(%d) tried %s%s around the proxy", b->ident->exe,
                 b->ident->pid, t->dest, via);
    else
        snprintf(t->text, sizeof t->text, "an unnamed process tried %s%s around the proxy (%.300s)",
                 t->dest, via, b->reason ? b->reason : "unknown");
    ev.message = ocsf_str(t->text);
    ocsf_buf_t um;
    ocsf_buf_init(&um);
    snprintf(t->sup, sizeof t->sup, "%" PRIu64, b->suppressed);
    const ocsf_str_t keys[] = {OCSF_STR("bypass_destination"), OCSF_STR("bypass_ip"),
                               OCSF_STR("bypass_protocol"), OCSF_STR("bypass_suppressed")};
    const ocsf_str_t vals[] = {ocsf_str(t->dest), ocsf_str(t->dst_ip), ocsf_str(b->proto),
                               ocsf_str(t->sup)};
    ocsf_unmapped_build(&um, keys, vals, b->suppressed ? 4 : 3);
    ev.unmapped = (ocsf_str_t){um.p, um.len};
    c->hooks.emit(c->hooks.ctx, &ev);
    ocsf_buf_dispose(&um);
}

void px__bypass_emit(const px__bypass_ctx_t *c, const px__bypass_t *b)
{
    evbufs_t *t = calloc(1, sizeof *t);
    if (!t)
        abort();
    addr_port(b->src, t->src, sizeof t->src, &t->sport);
    addr_port(b->dst, t->dst_ip, sizeof t->dst_ip, &t->dport);
    bool v6 = b->dst->sa_family == AF_INET6;
    snprintf(t->host, sizeof t->host, v6 && !b->host ? "[%s]" : "%s",
             b->host ? b->host : t->dst_ip);
    snprintf(t->dest, sizeof t->dest, "%s:%d", t->host, t->dport);
    emit_refuse(c, b, t);
    emit_finding(c, b, t);
    free(t);
}
