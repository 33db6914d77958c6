/*
 * fuzz_nflog.c: the NFLOG reader of the sandbox's UDP-over-IPv6 listener
 * (proxy/nflog_parse.c) on arbitrary bytes, two ways:
 *
 *   1. the input as one recv() of the netlink socket (px_nflog_parse);
 *   2. the input as a logged packet, wrapped in a well-formed
 *      NFULNL_MSG_PACKET message (an NFULA_PACKET_HDR attribute first, then
 *      NFULA_PAYLOAD), twice in one buffer.
 *
 * Aborts when: more packets are reported than messages could fit in the
 * input; a stored packet is not AF_INET6; in (2), the count is not twice
 * the verdict of px_ipv6_udp_parse on the input, or a packet differs from
 * what px_ipv6_udp_parse gives, or its addresses are not the input's bytes
 * 8..40 (source, destination).
 */
#include <arpa/inet.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/bypass.h"

#define MAXP 8

static size_t wrap(const uint8_t *data, size_t size, uint8_t *out)
{
    size_t off = 0;
    struct nlmsghdr h = {.nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET};
    struct nfgenmsg g = {.nfgen_family = AF_INET6, .version = NFNETLINK_V0};
    struct nfulnl_msg_packet_hdr ph = {.hw_protocol = htons(0x86dd), .hook = 3};
    struct nlattr a1 = {.nla_len = NLA_HDRLEN + sizeof ph, .nla_type = NFULA_PACKET_HDR};
    struct nlattr a2 = {.nla_len = (uint16_t)(NLA_HDRLEN + size), .nla_type = NFULA_PAYLOAD};
    h.nlmsg_len = (uint32_t)(NLMSG_HDRLEN + NLMSG_ALIGN(sizeof g) + NLA_ALIGN(a1.nla_len) +
                             NLA_ALIGN(a2.nla_len));
    memcpy(out, &h, sizeof h);
    off = NLMSG_HDRLEN;
    memcpy(out + off, &g, sizeof g);
    off += NLMSG_ALIGN(sizeof g);
    memcpy(out + off, &a1, sizeof a1);
    memcpy(out + off + NLA_HDRLEN, &ph, sizeof ph);
    off += NLA_ALIGN(a1.nla_len);
    memcpy(out + off, &a2, sizeof a2);
    memcpy(out + off + NLA_HDRLEN, data, size);
    off += NLA_ALIGN(a2.nla_len);
    return off;
}

static void check_stored(const px_udp6_pkt_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i].src.sin6_family != AF_INET6 || p[i].dst.sin6_family != AF_INET6)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    px_udp6_pkt_t pkts[MAXP], one;
    size_t skipped;
    size_t got = px_nflog_parse(data, size, pkts, MAXP, &skipped);
    if (got + skipped > size / NLMSG_HDRLEN)
        abort();
    check_stored(pkts, got < MAXP ? got : MAXP);

    if (size > 4096)
        return 0;
    static uint8_t buf[2 * 4200];
    size_t n = wrap(data, size, buf);
    memcpy(buf + n, buf, n);
    int rc = px_ipv6_udp_parse(data, size, &one);
    got = px_nflog_parse(buf, 2 * n, pkts, MAXP, &skipped);
    if (got != (rc == 0 ? 2u : 0u) || skipped != (rc == 0 ? 0u : 2u))
        abort();
    for (size_t i = 0; i < got; i++)
        if (memcmp(&pkts[i], &one, sizeof one) != 0 ||
            memcmp(&one.src.sin6_addr, data + 8, 16) != 0 ||
            memcmp(&one.dst.sin6_addr, data + 24, 16) != 0)
            abort();
    return 0;
}
