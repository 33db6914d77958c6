/*
 * nflog_parse.c: reading what an NFLOG netlink socket delivers (untrusted
 * in the sense that it is kernel output about packets a sandboxed program
 * built: every length is checked, nothing is read unaligned). Pure
 * functions; fuzz/fuzz_nflog.c feeds them arbitrary bytes.
 *
 *   netlink messages (nlmsghdr, NLMSG_ALIGN'ed) of type
 *   (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET: an nfgenmsg, then
 *   attributes (nlattr, NLA_ALIGN'ed); NFULA_PAYLOAD is the packet from its
 *   network header: IPv6 header, extension headers, UDP header.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>
#include <string.h>

#include "proxy/bypass.h"

#define MAX_EXT 8 /* extension headers followed before giving up */

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* Skips extension headers from `off` (next header `nh`); the offset of the
 * UDP header, -ENOENT (another protocol, a later fragment) or -EINVAL. */
static int find_udp(const uint8_t *p, size_t n, size_t off, uint8_t nh)
{
    for (int i = 0; i <= MAX_EXT; i++) {
        if (nh == IPPROTO_UDP)
            return n - off >= 8 ? (int)off : -EINVAL;
        if (nh != IPPROTO_HOPOPTS && nh != IPPROTO_ROUTING && nh != IPPROTO_DSTOPTS &&
            nh != IPPROTO_FRAGMENT && nh != IPPROTO_AH)
            return -ENOENT;
        if (n - off < 8)
            return -EINVAL;
        size_t len;
        if (nh == IPPROTO_FRAGMENT) {
            if ((get16(p + off + 2) & 0xfff8) != 0)
                return -ENOENT; /* not the first fragment: no UDP header */
            len = 8;
        } else if (nh == IPPROTO_AH) {
            len = ((size_t)p[off + 1] + 2) * 4;
        } else {
            len = ((size_t)p[off + 1] + 1) * 8;
        }
        if (n - off < len)
            return -EINVAL;
        nh = p[off];
        off += len;
    }
    return -ENOENT;
}

int px_ipv6_udp_parse(const uint8_t *p, size_t n, px_udp6_pkt_t *out)
{
    if (n < 40 || (p[0] >> 4) != 6)
        return -EINVAL;
    int u = find_udp(p, n, 40, p[6]);
    if (u < 0)
        return u;
    memset(out, 0, sizeof *out);
    out->src.sin6_family = out->dst.sin6_family = AF_INET6;
    memcpy(&out->src.sin6_addr, p + 8, 16);
    memcpy(&out->dst.sin6_addr, p + 24, 16);
    memcpy(&out->src.sin6_port, p + u, 2); /* network order stays */
    memcpy(&out->dst.sin6_port, p + u + 2, 2);
    return 0;
}

/* The payload attribute of one packet message (body: after nlmsghdr). */
static int packet_payload(const uint8_t *body, size_t n, const uint8_t **pl, size_t *pln)
{
    size_t off = NLMSG_ALIGN(sizeof(struct nfgenmsg));
    while (off < n && n - off >= sizeof(struct nlattr)) {
        struct nlattr a;
        memcpy(&a, body + off, sizeof a);
        if (a.nla_len < sizeof a || a.nla_len > n - off)
            return -EINVAL;
        if ((a.nla_type & NLA_TYPE_MASK) == NFULA_PAYLOAD) {
            *pl = body + off + NLA_HDRLEN;
            *pln = a.nla_len - NLA_HDRLEN;
            return 0;
        }
        off += NLA_ALIGN(a.nla_len);
    }
    return -ENOENT;
}

size_t px_nflog_parse(const uint8_t *buf, size_t len, px_udp6_pkt_t *out, size_t max,
                      size_t *skipped)
{
    size_t found = 0, skip = 0, off = 0;
    while (off < len && len - off >= sizeof(struct nlmsghdr)) {
        struct nlmsghdr h;
        memcpy(&h, buf + off, sizeof h);
        if (h.nlmsg_len < sizeof h || h.nlmsg_len > len - off)
            break; /* the rest is not a message */
        const uint8_t *body = buf + off + NLMSG_HDRLEN, *pl;
        size_t bn = h.nlmsg_len - NLMSG_HDRLEN, pln;
        px_udp6_pkt_t pkt;
        struct nfgenmsg g;
        bool ok = h.nlmsg_type == ((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET) && bn >= sizeof g &&
                  (memcpy(&g, body, sizeof g), g.nfgen_family == AF_INET6) &&
                  packet_payload(body, bn, &pl, &pln) == 0 && px_ipv6_udp_parse(pl, pln, &pkt) == 0;
        if (ok && found < max)
            out[found] = pkt;
        found += ok;
        skip += !ok;
        size_t step = NLMSG_ALIGN(h.nlmsg_len);
        if (step > len - off)
            break;
        off += step;
    }
    if (skipped)
        *skipped = skip;
    return found;
}
