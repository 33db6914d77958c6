/*
 * ident_udp.c: who sent a UDP datagram over IPv6, for the NFLOG listener
 * (nflog.c). A datagram that left its socket carries no inode, so the
 * socket is found by its ends in the udp6 table of the namespace it was
 * sent in: the local port is the datagram's source port, the local address
 * :: (unbound) or the source, the remote end unset (sendto) or the
 * destination (connect). One fitting socket: its holder is named as the
 * proxy names a client (px__ident_lookup_inode). None: it is gone (closed,
 * or its process exited). Several (SO_REUSEADDR/SO_REUSEPORT sharing a
 * port): ambiguous, nobody is named.
 *
 * The table is /proc/thread-self/net/udp6: the calling thread's network
 * namespace (px_netns_run moves only the thread; /proc/net follows the
 * process's main thread). Its rows have the columns of tcp6 up to the
 * inode, so px_ident_parse_tcp_row reads them.
 *
 * Threads: any but the loop thread; blocks.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/bypass_internal.h"

#define TABLE_MAX (4u << 20) /* bytes of udp6 read; a sandbox has few sockets */

static bool zero16(const uint8_t *a)
{
    static const uint8_t z[16];
    return memcmp(a, z, 16) == 0;
}

static bool row_fits(const px_tcp_row_t *r, const struct sockaddr_in6 *src,
                     const struct sockaddr_in6 *dst)
{
    if (r->inode == 0 || r->lport != ntohs(src->sin6_port))
        return false;
    if (!zero16(r->laddr) && memcmp(r->laddr, src->sin6_addr.s6_addr, 16) != 0)
        return false;
    if (zero16(r->raddr) && r->rport == 0)
        return true;
    return memcmp(r->raddr, dst->sin6_addr.s6_addr, 16) == 0 && r->rport == ntohs(dst->sin6_port);
}

size_t px__udp6_match(const char *table, const struct sockaddr_in6 *src,
                      const struct sockaddr_in6 *dst, uint64_t *inodes, size_t max)
{
    size_t n = 0;
    for (const char *line = table; line && *line;) {
        const char *nl = strchr(line, '\n');
        px_tcp_row_t row;
        char buf[512];
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        if (len < sizeof buf) {
            memcpy(buf, line, len);
            buf[len] = '\0';
            if (px_ident_parse_tcp_row(buf, true, &row) == 0 && row_fits(&row, src, dst)) {
                if (n < max)
                    inodes[n] = row.inode;
                n++;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    return n;
}

/* The whole table, NUL-terminated (heap; the caller frees), or NULL. */
static char *read_table(const char *path, int *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *err = -errno;
        return NULL;
    }
    size_t cap = 16384, len = 0;
    char *buf = malloc(cap);
    for (ssize_t r = 1; buf && r > 0;) {
        if (len + 1 >= cap) {
            char *nb = cap < TABLE_MAX ? realloc(buf, cap * 2) : NULL;
            if (!nb)
                break; /* past the cap: what was read is judged */
            buf = nb;
            cap *= 2;
        }
        r = read(fd, buf + len, cap - len - 1);
        if (r < 0 && errno == EINTR)
            r = 1;
        else if (r > 0)
            len += (size_t)r;
    }
    close(fd);
    if (!buf)
        abort(); /* the project's OOM policy */
    buf[len] = '\0';
    *err = 0;
    return buf;
}

int px__ident_lookup_udp6(px_ident_cache_t *c, const struct sockaddr_in6 *src,
                          const struct sockaddr_in6 *dst, px_ident_t *id, char *reason,
                          size_t reasonlen)
{
    int err;
    char *table = read_table("/proc/thread-self/net/udp6", &err);
    if (!table) {
        snprintf(reason, reasonlen, "cannot read the namespace's udp6 table: %s", strerror(-err));
        return err;
    }
    uint64_t ino[2];
    size_t n = px__udp6_match(table, src, dst, ino, 2);
    free(table);
    id->pid = 0;
    if (n == 0) {
        snprintf(reason, reasonlen,
                 "no UDP socket on port %u is left (the sender closed it or exited)",
                 (unsigned)ntohs(src->sin6_port));
        return -ENOENT;
    }
    if (n > 1) {
        snprintf(reason, reasonlen, "%zu UDP sockets share port %u: the sender is ambiguous", n,
                 (unsigned)ntohs(src->sin6_port));
        return -EEXIST;
    }
    return px__ident_lookup_inode(c, ino[0], id, reason, reasonlen);
}
