/*
 * nflog.c: UDP over IPv6 around the proxy. The namespace's rules log every
 * outbound UDP/IPv6 datagram to an NFLOG group, then drop it (the sender
 * gets EPERM); a REDIRECT would lose the destination, the log keeps the
 * packet. This listener is the group's netlink socket, made inside the
 * namespace (NFLOG instances, like everything in netfilter, are per
 * namespace). Per datagram: the destination and source port from its IPv6
 * and UDP headers (nflog_parse.c), the sender by its socket in the
 * namespace's udp6 table (ident_udp.c, on the threadpool), then the bypass
 * events (bypass_event.c), as for TCP.
 *
 * A flood must not flood the trail: one event per (source address and
 * port, destination address and port) per WINDOW_MS, at most RATE_MAX
 * events a second and MAX_JOBS lookups at once; every datagram not
 * recorded is counted (`suppressed`), and the next event of the same
 * socket and destination carries how many of its own were
 * (unmapped.bypass_suppressed). A full socket buffer (ENOBUFS) is counted
 * as `lost`.
 *
 * Thread: the loop thread; lookups on the threadpool (entering the
 * namespace there). The socket's setup (px_nflog_socket) blocks: threadpool.
 */
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/bypass_internal.h"

#define WINDOW_MS 10000
#define RATE_MAX  20 /* events a second */
#define MAX_JOBS  32
#define RECENT    256
#define MAX_READS 64 /* recv()s per wake-up: the loop has other work */
#define PKTS      64 /* datagrams taken from one read */

typedef struct {
    px_udp6_pkt_t key;
    uint64_t at, suppressed;
    bool used;
} recent_t;

typedef struct nf_job nf_job_t;
struct nf_job {
    px_nflog_t *l;
    nf_job_t *prev, *next;
    uv_work_t work;
    px_udp6_pkt_t pkt;
    uint64_t suppressed;
    px_ident_t *ident;
    int rc;
    char reason[256];
};

struct px_nflog {
    uv_loop_t *loop;
    uv_poll_t poll;
    int fd, netns_fd;
    px__bypass_ctx_t ev;
    px_ident_cache_t *idcache;
    nf_job_t *jobs;
    unsigned njobs;
    bool closing, poll_open;
    recent_t recent[RECENT];
    uint64_t sec_start, sec_count;
    px_nflog_stats_t st;
    _Alignas(struct nlmsghdr) uint8_t rbuf[65536];
    px_udp6_pkt_t pkts[PKTS];
};

/* ---- the socket -------------------------------------------------------------------- */

static void put_attr(uint8_t *b, size_t *off, uint16_t type, const void *data, uint16_t len)
{
    struct nlattr a = {.nla_len = (uint16_t)(NLA_HDRLEN + len), .nla_type = type};
    memcpy(b + *off, &a, sizeof a);
    memcpy(b + *off + NLA_HDRLEN, data, len);
    *off += NLA_ALIGN(a.nla_len);
}

/* Binds the group: copy whole packets (the headers are all we read), one
 * message per packet at once (queue threshold 1). 0 or -errno. */
static int nl_bind(int fd, uint16_t group)
{
    _Alignas(struct nlmsghdr) uint8_t b[128] = {0};
    struct nlmsghdr *h = (struct nlmsghdr *)b;
    struct nfgenmsg g = {
        .nfgen_family = AF_UNSPEC, .version = NFNETLINK_V0, .res_id = htons(group)};
    memcpy(b + NLMSG_HDRLEN, &g, sizeof g);
    size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof g);
    struct nfulnl_msg_config_cmd cmd = {.command = NFULNL_CFG_CMD_BIND};
    struct nfulnl_msg_config_mode mode = {.copy_range = htonl(PX_NFLOG_SNAPLEN),
                                          .copy_mode = NFULNL_COPY_PACKET};
    uint32_t qthresh = htonl(1), timeout = htonl(0);
    put_attr(b, &off, NFULA_CFG_CMD, &cmd, sizeof cmd);
    put_attr(b, &off, NFULA_CFG_MODE, &mode, sizeof mode);
    put_attr(b, &off, NFULA_CFG_QTHRESH, &qthresh, sizeof qthresh);
    put_attr(b, &off, NFULA_CFG_TIMEOUT, &timeout, sizeof timeout);
    h->nlmsg_len = (uint32_t)off;
    h->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
    h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    h->nlmsg_seq = 1;
    struct sockaddr_nl k = {.nl_family = AF_NETLINK};
    if (sendto(fd, b, off, 0, (struct sockaddr *)&k, sizeof k) < 0)
        return -errno;
    /* the kernel answers inside sendto */
    _Alignas(struct nlmsghdr) uint8_t r[1024];
    ssize_t n = recv(fd, r, sizeof r, MSG_DONTWAIT);
    if (n < 0)
        return -errno;
    const struct nlmsghdr *rh = (const struct nlmsghdr *)r;
    if (!NLMSG_OK(rh, (unsigned)n) || rh->nlmsg_type != NLMSG_ERROR ||
        rh->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr)))
        return -EPROTO;
    return ((const struct nlmsgerr *)NLMSG_DATA(rh))->error;
}

typedef struct {
    uint16_t group;
    char *err;
    size_t errlen;
} sock_args_t;

static int make_socket(void *arg)
{
    sock_args_t *a = arg;
    const char *step = "socket";
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_NETFILTER);
    int rc = fd < 0 ? -errno : 0, big = 1 << 20;
    struct sockaddr_nl me = {.nl_family = AF_NETLINK};
    if (rc == 0 && (step = "bind", bind(fd, (struct sockaddr *)&me, sizeof me)) != 0)
        rc = -errno;
    if (rc == 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) != 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    if (rc == 0)
        step = "bind the NFLOG group", rc = nl_bind(fd, a->group);
    if (rc == 0)
        return fd;
    snprintf(a->err, a->errlen, "nflog: %s %u: %s", step, a->group, strerror(-rc));
    if (fd >= 0)
        close(fd);
    return rc;
}

int px_nflog_socket(int netns_fd, uint16_t group, char *err, size_t errlen)
{
    sock_args_t a = {group, err, errlen};
    err[0] = '\0';
    int rc = px_netns_run(netns_fd, make_socket, &a);
    if (rc < 0 && !err[0])
        snprintf(err, errlen, "enter the network namespace: %s", strerror(-rc));
    return rc;
}

/* ---- the listener ------------------------------------------------------------------ */

static void maybe_free(px_nflog_t *l)
{
    if (l->closing && !l->poll_open && l->njobs == 0) {
        px_ident_cache_destroy(l->idcache);
        free(l);
    }
}

static int lookup(void *arg)
{
    nf_job_t *j = arg;
    return px__ident_lookup_udp6(j->l->idcache, &j->pkt.src, &j->pkt.dst, j->ident, j->reason,
                                 sizeof j->reason);
}

static void job_work(uv_work_t *w)
{
    nf_job_t *j = w->data;
    j->rc = px_netns_run(j->l->netns_fd, lookup, j);
    if (j->rc != 0 && !j->reason[0])
        snprintf(j->reason, sizeof j->reason, "identity lookup: %s", strerror(-j->rc));
}

static void job_after(uv_work_t *w, int status)
{
    nf_job_t *j = w->data;
    px_nflog_t *l = j->l;
    if (status == 0 && !l->closing) {
        l->st.recorded++;
        l->st.unnamed += j->rc != 0;
        px__bypass_t b = {.proto = "udp",
                          .src = (const struct sockaddr *)&j->pkt.src,
                          .dst = (const struct sockaddr *)&j->pkt.dst,
                          .ident = j->rc == 0 ? j->ident : NULL,
                          .reason = j->reason,
                          .suppressed = j->suppressed};
        px__bypass_emit(&l->ev, &b);
    }
    if (j->prev)
        j->prev->next = j->next;
    else
        l->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
    l->njobs--;
    free(j->ident);
    free(j);
    maybe_free(l);
}

static bool same(const px_udp6_pkt_t *a, const px_udp6_pkt_t *b)
{
    return a->src.sin6_port == b->src.sin6_port && a->dst.sin6_port == b->dst.sin6_port &&
           memcmp(&a->src.sin6_addr, &b->src.sin6_addr, 16) == 0 &&
           memcmp(&a->dst.sin6_addr, &b->dst.sin6_addr, 16) == 0;
}

/* The entry of this socket and destination, or the oldest (to reuse). */
static recent_t *recent_of(px_nflog_t *l, const px_udp6_pkt_t *p, bool *found)
{
    recent_t *old = &l->recent[0];
    for (size_t i = 0; i < RECENT; i++) {
        recent_t *r = &l->recent[i];
        if (r->used && same(&r->key, p)) {
            *found = true;
            return r;
        }
        if (!r->used || (old->used && r->at < old->at))
            old = r;
    }
    *found = false;
    return old;
}

/* Whether this datagram is recorded now (else it is counted). */
static bool admit(px_nflog_t *l, const px_udp6_pkt_t *p, uint64_t *suppressed)
{
    uint64_t now = uv_now(l->loop);
    bool found;
    recent_t *r = recent_of(l, p, &found);
    if (now - l->sec_start >= 1000) {
        l->sec_start = now;
        l->sec_count = 0;
    }
    if ((found && now - r->at < WINDOW_MS) || l->njobs >= MAX_JOBS || l->sec_count >= RATE_MAX) {
        l->st.suppressed++;
        if (found)
            r->suppressed++;
        return false;
    }
    *suppressed = found ? r->suppressed : 0;
    *r = (recent_t){.key = *p, .at = now, .used = true};
    l->sec_count++;
    return true;
}

static void on_packet(px_nflog_t *l, const px_udp6_pkt_t *p)
{
    uint64_t suppressed;
    l->st.seen++;
    if (l->closing || !admit(l, p, &suppressed))
        return;
    nf_job_t *j = calloc(1, sizeof *j);
    px_ident_t *id = calloc(1, sizeof *id);
    if (!j || !id)
        abort(); /* the project's OOM policy for fixed-size allocations */
    *j = (nf_job_t){.l = l, .pkt = *p, .suppressed = suppressed, .ident = id};
    j->work.data = j;
    if (uv_queue_work(l->loop, &j->work, job_work, job_after) != 0) {
        l->st.suppressed++;
        free(j->ident);
        free(j);
        return;
    }
    j->next = l->jobs;
    if (l->jobs)
        l->jobs->prev = j;
    l->jobs = j;
    l->njobs++;
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    px_nflog_t *l = h->data;
    (void)events;
    if (status < 0)
        return;
    for (int i = 0; i < MAX_READS && !l->closing; i++) {
        ssize_t n = recv(l->fd, l->rbuf, sizeof l->rbuf, MSG_DONTWAIT);
        if (n < 0 && errno == ENOBUFS) {
            l->st.lost++; /* the kernel dropped messages: how many is not said */
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size_t skipped, got = px_nflog_parse(l->rbuf, (size_t)n, l->pkts, PKTS, &skipped);
        for (size_t k = 0; k < got && k < PKTS; k++)
            on_packet(l, &l->pkts[k]);
        l->st.seen += got > PKTS ? got - PKTS : 0;
        l->st.suppressed += got > PKTS ? got - PKTS : 0;
        l->st.unparsed += skipped;
    }
}

static void on_poll_closed(uv_handle_t *h)
{
    px_nflog_t *l = h->data;
    close(l->fd);
    l->poll_open = false;
    maybe_free(l);
}

int px_nflog_create(uv_loop_t *loop, int fd, int netns_fd, const px_hooks_t *hooks,
                    px_nflog_t **out, char *err, size_t errlen)
{
    px_nflog_t *l = calloc(1, sizeof *l);
    if (!l)
        abort();
    l->loop = loop;
    l->fd = fd;
    l->netns_fd = netns_fd;
    px__bypass_ctx_init(&l->ev, hooks);
    l->idcache = px_ident_cache_create();
    int rc = l->idcache ? uv_poll_init(loop, &l->poll, fd) : UV_ENOMEM;
    if (rc != 0) {
        snprintf(err, errlen, "nflog: %s", uv_strerror(rc));
        close(fd);
        px_ident_cache_destroy(l->idcache);
        free(l);
        return rc;
    }
    l->poll.data = l;
    l->poll_open = true;
    if ((rc = uv_poll_start(&l->poll, UV_READABLE, on_readable)) != 0) {
        snprintf(err, errlen, "nflog: %s", uv_strerror(rc));
        l->closing = true;
        uv_close((uv_handle_t *)&l->poll, on_poll_closed);
        return rc;
    }
    *out = l;
    return 0;
}

void px_nflog_destroy(px_nflog_t *l)
{
    if (!l || l->closing)
        return;
    l->closing = true;
    uv_close((uv_handle_t *)&l->poll, on_poll_closed);
    for (nf_job_t *j = l->jobs; j; j = j->next)
        uv_cancel((uv_req_t *)&j->work);
}

void px_nflog_stats(const px_nflog_t *l, px_nflog_stats_t *st)
{
    if (l)
        *st = l->st;
    else
        memset(st, 0, sizeof *st);
}
