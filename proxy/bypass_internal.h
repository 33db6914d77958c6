/*
 * bypass_internal.h: what catcher.c (TCP, IPv4 and IPv6) and nflog.c (UDP
 * over IPv6) share inside proxy/: the events of a bypass attempt, the UDP
 * identity lookup, and the NFLOG parser (nflog_parse.c, for the fuzzer too).
 * Not for outside proxy/ and fuzz/.
 */
#ifndef TOLLGATE_PROXY_BYPASS_INTERNAL_H
#define TOLLGATE_PROXY_BYPASS_INTERNAL_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "proxy/bypass.h"
#include "proxy/px_internal.h"

/* ---- bypass_event.c: NET:REFUSE + FINDING:CREATE ---------------------------- */

/* Who emits: the hooks and the sandbox's names, copied once. */
typedef struct {
    px_hooks_t hooks;
    char name[64], uid[64], hostname[256];
} px__bypass_ctx_t;

void px__bypass_ctx_init(px__bypass_ctx_t *c, const px_hooks_t *hooks);

/* One attempt. All borrowed for the call. */
typedef struct {
    const char *proto;                /* "tcp" or "udp" */
    const struct sockaddr *src, *dst; /* AF_INET or AF_INET6, ports set */
    const char *host;                 /* the name the DNS map gave dst, or NULL */
    const px_ident_t *ident;          /* NULL: the sender was not named */
    const char *reason;               /* why not (ident NULL) */
    uint64_t suppressed;              /* repeats not recorded since the last event */
} px__bypass_t;

/* Emits NET:REFUSE DENIED (firewall_rule proxy_bypass, type bypass) and
 * FINDING:CREATE "proxy bypass attempt" through hooks.emit. Loop thread. */
void px__bypass_emit(const px__bypass_ctx_t *c, const px__bypass_t *b);

/* ---- ident.c / ident_udp.c: naming the holder of a socket -------------------- */

/* Steps 2 and 3 of px_ident_lookup for a known socket inode: its holders,
 * then the holder's exe, hash, ancestors. 0, -EEXIST (ambiguous), -ENOENT
 * (no holder), reason says which. Blocks: threadpool. */
int px__ident_lookup_inode(px_ident_cache_t *c, uint64_t ino, px_ident_t *id, char *reason,
                           size_t reasonlen);

/* The process holding the UDP socket that sent src -> dst (both AF_INET6),
 * found in the *calling thread's* network namespace
 * (/proc/thread-self/net/udp6: local port src's, local address :: or src's,
 * remote end unset or dst). 0, -ENOENT (no such socket: it was closed),
 * -EEXIST (several sockets fit, or an ambiguous holder), or -errno of
 * reading the table; reason says which. Blocks: threadpool. */
int px__ident_lookup_udp6(px_ident_cache_t *c, const struct sockaddr_in6 *src,
                          const struct sockaddr_in6 *dst, px_ident_t *id, char *reason,
                          size_t reasonlen);

/* The lines of a udp6 table whose socket fits src -> dst (see above): their
 * inodes, at most max; returns how many fit (may exceed max). Pure. */
size_t px__udp6_match(const char *table, const struct sockaddr_in6 *src,
                      const struct sockaddr_in6 *dst, uint64_t *inodes, size_t max);

#endif
