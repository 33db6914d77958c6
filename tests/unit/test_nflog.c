/* Unit tests of the UDP-over-IPv6 path of a sandbox (proxy/nflog_parse.c,
 * proxy/ident_udp.c): reading NFLOG messages and IPv6 packets, and finding
 * the sending socket in a udp6 table. */
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>
#include <string.h>

#include "proxy/bypass.h"
#include "proxy/bypass_internal.h"

/* An IPv6 packet fd74:6c67::2 -> 2001:db8::1, next header nh, `ext` bytes
 * of extension headers, then a UDP header 40000 -> 5353. Returns its size. */
static size_t packet(uint8_t *p, uint8_t nh, const uint8_t *ext, size_t extlen)
{
    memset(p, 0, 40);
    p[0] = 0x60;
    p[6] = nh;
    p[7] = 64;
    inet_pton(AF_INET6, "fd74:6c67::2", p + 8);
    inet_pton(AF_INET6, "2001:db8::1", p + 24);
    if (extlen)
        memcpy(p + 40, ext, extlen);
    static const uint8_t udp[] = {0x9c, 0x40, 0x14, 0xe9, 0, 9, 0, 0, 'x'};
    memcpy(p + 40 + extlen, udp, sizeof udp);
    return 40 + extlen + sizeof udp;
}

static void parses_ipv6_udp(void **state)
{
    (void)state;
    uint8_t p[128];
    px_udp6_pkt_t u;
    char a[64];
    size_t n = packet(p, IPPROTO_UDP, NULL, 0);
    assert_int_equal(px_ipv6_udp_parse(p, n, &u), 0);
    assert_int_equal(ntohs(u.src.sin6_port), 40000);
    assert_int_equal(ntohs(u.dst.sin6_port), 5353);
    assert_string_equal(inet_ntop(AF_INET6, &u.dst.sin6_addr, a, sizeof a), "2001:db8::1");
    static const uint8_t hbh[] = {IPPROTO_UDP, 0, 1, 4, 0, 0, 0, 0};
    n = packet(p, IPPROTO_HOPOPTS, hbh, sizeof hbh);
    assert_int_equal(px_ipv6_udp_parse(p, n, &u), 0);
    assert_int_equal(ntohs(u.dst.sin6_port), 5353);
    static const uint8_t later[] = {IPPROTO_UDP, 0, 0, 8, 0, 0, 0, 1}; /* offset 1 */
    n = packet(p, IPPROTO_FRAGMENT, later, sizeof later);
    assert_int_equal(px_ipv6_udp_parse(p, n, &u), -ENOENT);
    n = packet(p, IPPROTO_TCP, NULL, 0);
    assert_int_equal(px_ipv6_udp_parse(p, n, &u), -ENOENT);
    n = packet(p, IPPROTO_UDP, NULL, 0);
    assert_int_equal(px_ipv6_udp_parse(p, 44, &u), -EINVAL); /* UDP header cut */
    p[0] = 0x45;
    assert_int_equal(px_ipv6_udp_parse(p, n, &u), -EINVAL); /* IPv4 */
}

static size_t message(uint8_t *b, uint16_t type, uint8_t family, const uint8_t *pl, size_t n)
{
    struct nlmsghdr h = {.nlmsg_type = type};
    struct nfgenmsg g = {.nfgen_family = family};
    struct nlattr a = {.nla_len = (uint16_t)(NLA_HDRLEN + n), .nla_type = NFULA_PAYLOAD};
    h.nlmsg_len = (uint32_t)(NLMSG_HDRLEN + NLMSG_ALIGN(sizeof g) + NLA_ALIGN(a.nla_len));
    memset(b, 0, h.nlmsg_len);
    memcpy(b, &h, sizeof h);
    memcpy(b + NLMSG_HDRLEN, &g, sizeof g);
    memcpy(b + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof g), &a, sizeof a);
    memcpy(b + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof g) + NLA_HDRLEN, pl, n);
    return h.nlmsg_len;
}

static void parses_nflog_messages(void **state)
{
    (void)state;
    uint8_t p[128], buf[1024];
    size_t pn = packet(p, IPPROTO_UDP, NULL, 0), off = 0, skipped;
    uint16_t pkt = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET;
    off += message(buf + off, pkt, AF_INET6, p, pn);
    off += message(buf + off, NLMSG_ERROR, AF_INET6, p, pn);
    off += message(buf + off, pkt, AF_INET, p, pn); /* not IPv6: skipped */
    off += message(buf + off, pkt, AF_INET6, p, pn);
    px_udp6_pkt_t out[2];
    assert_int_equal(px_nflog_parse(buf, off, out, 2, &skipped), 2);
    assert_int_equal(skipped, 2);
    assert_int_equal(ntohs(out[1].src.sin6_port), 40000);
    assert_int_equal(px_nflog_parse(buf, off, out, 1, NULL), 2);     /* one stored */
    assert_int_equal(px_nflog_parse(buf, off - 1, out, 2, NULL), 1); /* the last one cut */
    assert_int_equal(px_nflog_parse(buf, 3, out, 2, NULL), 0);
}

static void finds_the_sending_socket(void **state)
{
    (void)state;
    static const char *hdr = "  sl  local_address                         remote_address    "
                             "                    st tx_queue rx_queue tr tm->when retrnsmt"
                             "   uid  timeout inode ref pointer drops\n";
    /* port 0x9C40 = 40000, unbound; 0x9C41 connected to 2001:db8::1:5353 */
    static const char *unbound = " 1: 00000000000000000000000000000000:9C40 "
                                 "00000000000000000000000000000000:0000 07 00000000:00000000 "
                                 "00:00000000 00000000  1000        0 111 2 0 0\n";
    static const char *other = " 2: 00000000000000000000000000000000:9C41 "
                               "B80D0120000000000000000001000000:14E9 01 00000000:00000000 "
                               "00:00000000 00000000  1000        0 222 2 0 0\n";
    static const char *elsewhere = " 3: 00000000000000000000000000000000:9C40 "
                                   "B80D0120000000000000000002000000:14E9 01 00000000:00000000 "
                                   "00:00000000 00000000  1000        0 333 2 0 0\n";
    char table[2048];
    struct sockaddr_in6 src = {.sin6_family = AF_INET6, .sin6_port = htons(40000)};
    struct sockaddr_in6 dst = {.sin6_family = AF_INET6, .sin6_port = htons(5353)};
    inet_pton(AF_INET6, "fd74:6c67::2", &src.sin6_addr);
    inet_pton(AF_INET6, "2001:db8::1", &dst.sin6_addr);
    uint64_t ino[4];
    snprintf(table, sizeof table, "%s%s%s%s", hdr, unbound, other, elsewhere);
    assert_int_equal(px__udp6_match(table, &src, &dst, ino, 4), 1);
    assert_int_equal(ino[0], 111);
    src.sin6_port = htons(40001); /* the connected socket, to its destination */
    assert_int_equal(px__udp6_match(table, &src, &dst, ino, 4), 1);
    assert_int_equal(ino[0], 222);
    src.sin6_port = htons(40002);
    assert_int_equal(px__udp6_match(table, &src, &dst, ino, 4), 0);
    snprintf(table, sizeof table, "%s%s%s", hdr, unbound, unbound); /* port shared */
    src.sin6_port = htons(40000);
    assert_int_equal(px__udp6_match(table, &src, &dst, ino, 1), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_ipv6_udp),
        cmocka_unit_test(parses_nflog_messages),
        cmocka_unit_test(finds_the_sending_socket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
