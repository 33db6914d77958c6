/*
 * ssrf.c: the SSRF guard (contract in px_internal.h). Pure functions, libc
 * only, no locale, no allocation except px_cidrs_parse's array. Any thread.
 *
 * px_host_normalize decides, for a requested host, whether a resolver would
 * take it as an IP literal, so that every spelling of an address is judged
 * by the address and none reaches DNS:
 *   - "[...]" must hold an IPv6 literal; a host containing ':' must be one
 *     (inet_pton, strict: 8 groups of <= 4 hex digits, an embedded IPv4 only
 *     as a plain dotted quad). Zone ids ('%') are -EINVAL. No trailing dot
 *     is stripped from an IPv6 literal.
 *   - IPv4: when the last label is a number (all decimal digits, or "0x"
 *     and hex digits; the WHATWG URL rule) the whole host must parse the way
 *     the classic inet_aton does: 1 to 4 parts, each decimal, 0-octal or
 *     0x-hex, the last part filling the remaining bytes (127.1, 127.0.1,
 *     2130706433); a part out of range is an error. If it does not parse the
 *     host is -EINVAL ("1.2.3.4.5", "256.1.1.1", "example.123"): a real DNS
 *     name never ends in a numeric label (no all-numeric TLD), so nothing of
 *     this shape is ever handed to a resolver.
 *   - Anything else is a hostname: ASCII letters, digits, '-', '_' and '.',
 *     labels of 1 to 63 bytes, at most 253 bytes once one trailing dot is
 *     removed. Non-ASCII (send IDNs as punycode) is -EINVAL.
 * An IPv4-mapped literal stays AF_INET6 in *addr and in `out` (inet_ntop);
 * classification and px_addr_format look through it.
 */
#include "proxy/px_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOST_MAX_LEN  253
#define LABEL_MAX_LEN 63

typedef struct {
    int family; /* AF_INET: b[0..4), AF_INET6: b[0..16) */
    uint8_t b[16];
} ip_t;

typedef struct {
    uint8_t net[16];
    int bits;
    px_addr_class_t cls;
} range_t;

static const uint8_t mapped_pfx[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
static const uint8_t nat64_pfx[12] = {0, 0x64, 0xff, 0x9b};
static const uint8_t zero_pfx[12] = {0};

static const range_t v4_ranges[] = {
    {{0}, 8, PX_ADDR_UNSPECIFIED},          /* "this network" */
    {{127}, 8, PX_ADDR_LOOPBACK},           /* loopback */
    {{169, 254}, 16, PX_ADDR_LINK_LOCAL},   /* link-local, cloud metadata */
    {{10}, 8, PX_ADDR_PRIVATE},             /* RFC 1918 */
    {{172, 16}, 12, PX_ADDR_PRIVATE},       /* RFC 1918 */
    {{192, 168}, 16, PX_ADDR_PRIVATE},      /* RFC 1918 */
    {{100, 64}, 10, PX_ADDR_INTERNAL},      /* CGNAT */
    {{192, 0, 0}, 24, PX_ADDR_INTERNAL},    /* IETF protocol assignments */
    {{192, 0, 2}, 24, PX_ADDR_INTERNAL},    /* TEST-NET-1 */
    {{198, 18}, 15, PX_ADDR_INTERNAL},      /* benchmarking */
    {{198, 51, 100}, 24, PX_ADDR_INTERNAL}, /* TEST-NET-2 */
    {{203, 0, 113}, 24, PX_ADDR_INTERNAL},  /* TEST-NET-3 */
    {{224}, 4, PX_ADDR_INTERNAL},           /* multicast */
    {{240}, 4, PX_ADDR_INTERNAL},           /* reserved, incl. 255.255.255.255 */
};

/* ::, ::1 and the forms carrying an IPv4 are handled before this table. */
static const range_t v6_ranges[] = {
    {{0xfe, 0x80}, 10, PX_ADDR_LINK_LOCAL},
    {{0xfc}, 7, PX_ADDR_PRIVATE},
    {{0xfe, 0xc0}, 10, PX_ADDR_INTERNAL},             /* site-local (deprecated) */
    {{0xff}, 8, PX_ADDR_INTERNAL},                    /* multicast */
    {{0x20, 0x01, 0x0d, 0xb8}, 32, PX_ADDR_INTERNAL}, /* documentation */
    {{0x01, 0x00}, 64, PX_ADDR_INTERNAL},             /* discard-only */
};

static const uint16_t control_plane_ports[] = {2379, 2380, 6443, 10250, 10255};

/* ---- addresses ----------------------------------------------------------------- */

static bool prefix_match(const uint8_t *a, const uint8_t *net, int bits)
{
    int whole = bits / 8, rest = bits % 8;
    if (memcmp(a, net, (size_t)whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[whole] & mask) == (net[whole] & mask);
}

static void mask_host_bits(uint8_t *a, size_t len, int bits)
{
    for (size_t i = 0; i < len; i++) {
        int keep = bits - (int)i * 8;
        if (keep <= 0)
            a[i] = 0;
        else if (keep < 8)
            a[i] &= (uint8_t)(0xff << (8 - keep));
    }
}

/* Copies the address out of sa (memcpy: sa may be any sockaddr type). */
static int ip_from_sa(const struct sockaddr *sa, ip_t *ip)
{
    memset(ip, 0, sizeof *ip);
    if (sa == NULL)
        return -EAFNOSUPPORT;
    if (sa->sa_family == AF_INET) {
        struct sockaddr_in in;
        memcpy(&in, sa, sizeof in);
        ip->family = AF_INET;
        memcpy(ip->b, &in.sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        struct sockaddr_in6 in6;
        memcpy(&in6, sa, sizeof in6);
        ip->family = AF_INET6;
        memcpy(ip->b, &in6.sin6_addr, 16);
        return 0;
    }
    return -EAFNOSUPPORT;
}

static void ip_to_v4(ip_t *ip)
{
    memmove(ip->b, ip->b + 12, 4);
    memset(ip->b + 4, 0, 12);
    ip->family = AF_INET;
}

/* ::ffff:a.b.c.d becomes a.b.c.d; anything else is left alone. */
static void ip_unmap(ip_t *ip)
{
    if (ip->family == AF_INET6 && memcmp(ip->b, mapped_pfx, 12) == 0)
        ip_to_v4(ip);
}

static px_addr_class_t classify_table(const uint8_t *a, const range_t *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (prefix_match(a, t[i].net, t[i].bits))
            return t[i].cls;
    return PX_ADDR_PUBLIC;
}

static px_addr_class_t classify_v6(ip_t *ip)
{
    static const uint8_t zero[16] = {0};
    static const uint8_t one[16] = {[15] = 1};
    if (memcmp(ip->b, zero, 16) == 0)
        return PX_ADDR_UNSPECIFIED;
    if (memcmp(ip->b, one, 16) == 0)
        return PX_ADDR_LOOPBACK;
    /* IPv4-mapped, IPv4-compatible (::a.b.c.d) and NAT64 64:ff9b::/96 */
    if (memcmp(ip->b, mapped_pfx, 12) == 0 || memcmp(ip->b, zero_pfx, 12) == 0 ||
        memcmp(ip->b, nat64_pfx, 12) == 0) {
        ip_to_v4(ip);
        return classify_table(ip->b, v4_ranges, sizeof v4_ranges / sizeof v4_ranges[0]);
    }
    return classify_table(ip->b, v6_ranges, sizeof v6_ranges / sizeof v6_ranges[0]);
}

/* Not an IP family (or NULL): PX_ADDR_INTERNAL, which nothing can allow. */
px_addr_class_t px_addr_classify(const struct sockaddr *sa)
{
    ip_t ip;
    if (ip_from_sa(sa, &ip) != 0)
        return PX_ADDR_INTERNAL;
    if (ip.family == AF_INET)
        return classify_table(ip.b, v4_ranges, sizeof v4_ranges / sizeof v4_ranges[0]);
    return classify_v6(&ip);
}

const char *px_addr_class_name(px_addr_class_t c)
{
    switch (c) {
    case PX_ADDR_PUBLIC: return "public";
    case PX_ADDR_LOOPBACK: return "loopback";
    case PX_ADDR_LINK_LOCAL: return "link-local";
    case PX_ADDR_UNSPECIFIED: return "unspecified";
    case PX_ADDR_PRIVATE: return "private";
    case PX_ADDR_INTERNAL: return "internal";
    }
    return "unknown";
}

int px_addr_format(const struct sockaddr *sa, char *out, size_t outlen)
{
    ip_t ip;
    if (out == NULL || outlen == 0)
        return -ENOSPC;
    out[0] = '\0';
    if (ip_from_sa(sa, &ip) != 0)
        return -EAFNOSUPPORT;
    ip_unmap(&ip);
    socklen_t len = outlen > INET6_ADDRSTRLEN ? INET6_ADDRSTRLEN : (socklen_t)outlen;
    if (inet_ntop(ip.family, ip.b, out, len) == NULL) {
        out[0] = '\0';
        return -ENOSPC;
    }
    return 0;
}

/* ---- IPv4 spellings ---------------------------------------------------------- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int hex_value(char c)
{
    if (is_digit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One inet_aton part at s[0..n): decimal, 0-octal ("0" alone is 0) or
 * 0x-hex with at least one digit. Sets *used to the bytes consumed (up to
 * a '.' or the end). Values over 0xffffffff are -ERANGE. */
static int v4_number(const char *s, size_t n, uint64_t *v, size_t *used)
{
    unsigned base = 10;
    size_t i = 0;
    if (n == 0 || !is_digit(s[0]))
        return -EINVAL;
    if (s[0] == '0' && n > 1 && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        i = 2;
    } else if (s[0] == '0') {
        base = 8;
    }
    size_t start = i;
    *v = 0;
    for (; i < n && s[i] != '.'; i++) {
        int d = hex_value(s[i]);
        if (d < 0 || (unsigned)d >= base)
            return -EINVAL;
        *v = *v * base + (unsigned)d;
        if (*v > 0xffffffffu)
            return -ERANGE;
    }
    if (i == start && base == 16)
        return -EINVAL;
    *used = i;
    return 0;
}

/* The classic inet_aton grammar, in full (no trailing garbage). *out is in
 * host byte order. */
static int ipv4_parse(const char *s, size_t n, uint32_t *out)
{
    uint64_t part[4];
    size_t np = 0, i = 0;
    for (;;) {
        size_t used;
        if (np == 4 || v4_number(s + i, n - i, &part[np], &used) != 0)
            return -EINVAL;
        np++;
        i += used;
        if (i == n)
            break;
        i++; /* the '.'; a '.' at the end makes the next part empty: -EINVAL */
    }
    uint64_t v = 0;
    for (size_t k = 0; k + 1 < np; k++) {
        if (part[k] > 0xff)
            return -EINVAL;
        v |= part[k] << (24 - 8 * k);
    }
    if (part[np - 1] > (0xffffffffu >> (8 * (np - 1))))
        return -EINVAL;
    *out = (uint32_t)(v | part[np - 1]);
    return 0;
}

/* Plain dotted quad, decimal, no leading zeros (for allowed_ips, where
 * "010.0.0.1" or "10.1" would surprise whoever reads the policy). */
static int ipv4_parse_strict(const char *s, size_t n, uint8_t b[4])
{
    size_t i = 0;
    for (int k = 0; k < 4; k++) {
        unsigned v = 0;
        size_t start = i;
        for (; i < n && is_digit(s[i]) && i - start < 3; i++)
            v = v * 10 + (unsigned)(s[i] - '0');
        if (i == start || v > 255 || (s[start] == '0' && i - start > 1))
            return -EINVAL;
        b[k] = (uint8_t)v;
        if (k < 3 && (i >= n || s[i++] != '.'))
            return -EINVAL;
    }
    return i == n ? 0 : -EINVAL;
}

/* True when the last label is a number (WHATWG "ends in a number"). */
static bool ends_in_number(const char *s, size_t n)
{
    size_t start = n;
    while (start > 0 && s[start - 1] != '.')
        start--;
    const char *l = s + start;
    size_t len = n - start;
    if (len >= 2 && l[0] == '0' && l[1] == 'x') {
        for (size_t i = 2; i < len; i++)
            if (hex_value(l[i]) < 0)
                return false;
        return true;
    }
    for (size_t i = 0; i < len; i++)
        if (!is_digit(l[i]))
            return false;
    return len > 0;
}

/* ---- hosts --------------------------------------------------------------------- */

static bool host_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || is_digit(c) || c == '-' || c == '_' || c == '.';
}

static int check_labels(const char *s, size_t n)
{
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        if (!host_char_ok(s[i]))
            return -EINVAL;
        if (s[i] != '.') {
            if (++label > LABEL_MAX_LEN)
                return -EINVAL;
            continue;
        }
        if (label == 0)
            return -EINVAL;
        label = 0;
    }
    return label == 0 ? -EINVAL : 0;
}

/* Fills the outputs for an IP literal. */
static int set_ip(const ip_t *ip, char *out, size_t outlen, bool *is_ip,
                  struct sockaddr_storage *addr)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (ip->family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        memcpy(&in->sin_addr, ip->b, 4);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        memcpy(&in6->sin6_addr, ip->b, 16);
    }
    socklen_t len = outlen > INET6_ADDRSTRLEN ? INET6_ADDRSTRLEN : (socklen_t)outlen;
    if (inet_ntop(ip->family, ip->b, out, len) == NULL) {
        out[0] = '\0';
        return -ENOSPC;
    }
    if (is_ip)
        *is_ip = true;
    if (addr)
        *addr = ss;
    return 0;
}

/* s[0..n) is an IPv6 literal without brackets, or -EINVAL. */
static int parse_v6(const char *s, size_t n, ip_t *ip)
{
    char buf[INET6_ADDRSTRLEN];
    if (n == 0 || n >= sizeof buf)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (hex_value(s[i]) < 0 && s[i] != ':' && s[i] != '.')
            return -EINVAL; /* a zone id ('%') included */
    memcpy(buf, s, n);
    buf[n] = '\0';
    memset(ip, 0, sizeof *ip);
    ip->family = AF_INET6;
    return inet_pton(AF_INET6, buf, ip->b) == 1 ? 0 : -EINVAL;
}

/* Lower-cases host into buf (ASCII only, no locale). Returns the length,
 * or -EINVAL when empty or longer than the longest acceptable host. */
static int lower_copy(const char *host, char *buf, size_t bufsize)
{
    size_t n = strnlen(host, bufsize);
    if (n == 0 || n >= bufsize)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        char c = host[i];
        buf[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    buf[n] = '\0';
    return (int)n;
}

static int normalize_lowered(char *s, size_t n, char *out, size_t outlen, bool *is_ip,
                             struct sockaddr_storage *addr)
{
    ip_t ip;
    if (s[0] == '[') {
        if (n < 2 || s[n - 1] != ']' || parse_v6(s + 1, n - 2, &ip) != 0)
            return -EINVAL;
        return set_ip(&ip, out, outlen, is_ip, addr);
    }
    if (memchr(s, ':', n) != NULL) {
        if (parse_v6(s, n, &ip) != 0)
            return -EINVAL;
        return set_ip(&ip, out, outlen, is_ip, addr);
    }
    if (s[n - 1] == '.')
        s[--n] = '\0';
    if (n == 0 || n > HOST_MAX_LEN)
        return -EINVAL;
    if (ends_in_number(s, n)) {
        uint32_t v;
        if (ipv4_parse(s, n, &v) != 0)
            return -EINVAL;
        memset(&ip, 0, sizeof ip);
        ip.family = AF_INET;
        uint32_t be = htonl(v);
        memcpy(ip.b, &be, 4);
        return set_ip(&ip, out, outlen, is_ip, addr);
    }
    if (check_labels(s, n) != 0)
        return -EINVAL;
    if (n >= outlen)
        return -ENOSPC;
    memcpy(out, s, n + 1);
    return 0;
}

/* is_ip and addr may be NULL. On error out is "" and *is_ip false. A too
 * small `out` is -ENOSPC (PX_HOST_MAX always suffices). */
int px_host_normalize(const char *host, char *out, size_t outlen, bool *is_ip,
                      struct sockaddr_storage *addr)
{
    char buf[HOST_MAX_LEN + 2]; /* 253 bytes, one trailing dot, the NUL */
    if (is_ip)
        *is_ip = false;
    if (addr) {
        memset(addr, 0, sizeof *addr);
        addr->ss_family = AF_UNSPEC;
    }
    if (out == NULL || outlen == 0)
        return -ENOSPC;
    out[0] = '\0';
    if (host == NULL)
        return -EINVAL;
    int n = lower_copy(host, buf, sizeof buf);
    if (n < 0)
        return n;
    int rc = normalize_lowered(buf, (size_t)n, out, outlen, is_ip, addr);
    if (rc != 0) {
        out[0] = '\0';
        if (is_ip)
            *is_ip = false;
        if (addr)
            memset(addr, 0, sizeof *addr);
    }
    return rc;
}

/* ---- allowed_ips --------------------------------------------------------------- */

/* Prefix length: decimal, no sign, no leading zero, 0..max. */
static int parse_prefix(const char *s, size_t n, int max, int *out)
{
    int v = 0;
    if (n == 0 || n > 3 || (s[0] == '0' && n > 1))
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return -EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    if (v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

/* One entry; returns NULL or what is wrong with it. */
static const char *parse_cidr(const char *s, int *family, uint8_t addr[16], int *prefix)
{
    ip_t ip;
    size_t n = strnlen(s, 128);
    const char *slash = memchr(s, '/', n);
    size_t alen = slash ? (size_t)(slash - s) : n;
    memset(&ip, 0, sizeof ip);
    if (n == 0 || n == 128)
        return "not an IP address or CIDR";
    if (memchr(s, '%', n))
        return "zone ids are not allowed";
    if (memchr(s, ':', alen)) {
        if (parse_v6(s, alen, &ip) != 0)
            return "not an IPv6 address";
    } else {
        ip.family = AF_INET;
        if (ipv4_parse_strict(s, alen, ip.b) != 0)
            return "not an IPv4 address (a.b.c.d, decimal)";
    }
    int max = ip.family == AF_INET ? 32 : 128;
    *prefix = max;
    if (slash && parse_prefix(slash + 1, n - alen - 1, max, prefix) != 0)
        return ip.family == AF_INET ? "bad prefix length (0 to 32)"
                                    : "bad prefix length (0 to 128)";
    if (ip.family == AF_INET6 && *prefix >= 96 && memcmp(ip.b, mapped_pfx, 12) == 0) {
        ip_to_v4(&ip); /* ::ffff:10.0.0.0/104 is 10.0.0.0/8 */
        *prefix -= 96;
    }
    mask_host_bits(ip.b, 16, *prefix);
    *family = ip.family;
    memcpy(addr, ip.b, 16);
    return NULL;
}

/* Quotes an untrusted entry for an error message: printable ASCII kept,
 * other bytes as \xNN, at most 64 input bytes. */
static void quote(const char *s, char *dst, size_t dstlen)
{
    size_t o = 0, i = 0;
    for (; s[i] != '\0' && i < 64 && o + 5 < dstlen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            dst[o++] = (char)c;
        else
            o += (size_t)snprintf(dst + o, dstlen - o, "\\x%02x", c);
    }
    if (s[i] != '\0' && o + 4 <= dstlen) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
}

int px_cidrs_parse(const char *const *items, size_t n, px_cidrs_t *out, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (out == NULL || (items == NULL && n > 0))
        return -EINVAL;
    out->v = NULL;
    out->n = 0;
    if (n == 0)
        return 0;
    out->v = calloc(n, sizeof *out->v);
    if (out->v == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *why =
            items[i] ? parse_cidr(items[i], &out->v[i].family, out->v[i].addr, &out->v[i].prefix)
                     : "not a string";
        if (why != NULL) {
            char q[64 * 4 + 8];
            quote(items[i] ? items[i] : "", q, sizeof q);
            if (err && errlen)
                snprintf(err, errlen, "allowed_ips[%zu] \"%s\": %s", i, q, why);
            free(out->v);
            out->v = NULL;
            return -EINVAL;
        }
    }
    out->n = n;
    return 0;
}

void px_cidrs_dispose(px_cidrs_t *c)
{
    if (c == NULL)
        return;
    free(c->v);
    c->v = NULL;
    c->n = 0;
}

/* An IPv4 entry also covers the IPv4-mapped form of its addresses (the
 * address is unmapped first); NAT64 and ::a.b.c.d forms are not covered by
 * IPv4 entries: list them as IPv6 if wanted. */
bool px_cidrs_contain(const px_cidrs_t *c, const struct sockaddr *sa)
{
    ip_t ip;
    if (c == NULL || ip_from_sa(sa, &ip) != 0)
        return false;
    ip_unmap(&ip);
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i].family == ip.family && prefix_match(ip.b, c->v[i].addr, c->v[i].prefix))
            return true;
    return false;
}

/* ---- the verdict ------------------------------------------------------------- */

static const char *blocked_phrase(px_addr_class_t c)
{
    switch (c) {
    case PX_ADDR_LOOPBACK: return "a loopback address";
    case PX_ADDR_LINK_LOCAL: return "a link-local address (cloud metadata lives there)";
    case PX_ADDR_UNSPECIFIED: return "an unspecified address";
    case PX_ADDR_PRIVATE: return "a private address not listed in allowed_ips";
    case PX_ADDR_INTERNAL: return "an internal address not listed in allowed_ips";
    case PX_ADDR_PUBLIC: break;
    }
    return NULL;
}

static bool is_control_plane(uint16_t port)
{
    for (size_t i = 0; i < sizeof control_plane_ports / sizeof control_plane_ports[0]; i++)
        if (control_plane_ports[i] == port)
            return true;
    return false;
}

/* Order of the checks (so the reason is the most useful one): the always
 * blocked classes, then the port (listing the address would not help),
 * then private/internal against allowed, then any address against a
 * non-empty allowed list. reason may be NULL; it is "" when
 * the address is allowed. */
bool px_ssrf_check(const struct sockaddr *sa, uint16_t port, const px_cidrs_t *allowed,
                   bool test_allow_loopback, char *reason, size_t reasonlen)
{
    char text[INET6_ADDRSTRLEN];
    if (reason == NULL)
        reasonlen = 0;
    if (reasonlen > 0)
        reason[0] = '\0';
    if (px_addr_format(sa, text, sizeof text) != 0) {
        snprintf(reason, reasonlen, "not an IPv4 or IPv6 address");
        return false;
    }
    px_addr_class_t c = px_addr_classify(sa);
    bool always = c == PX_ADDR_LINK_LOCAL || c == PX_ADDR_UNSPECIFIED ||
                  (c == PX_ADDR_LOOPBACK && !test_allow_loopback);
    if (always) {
        snprintf(reason, reasonlen, "%s is %s", text, blocked_phrase(c));
        return false;
    }
    if (is_control_plane(port)) {
        snprintf(reason, reasonlen, "port %u is a control-plane port", (unsigned)port);
        return false;
    }
    if ((c == PX_ADDR_PRIVATE || c == PX_ADDR_INTERNAL) && !px_cidrs_contain(allowed, sa)) {
        snprintf(reason, reasonlen, "%s is %s", text, blocked_phrase(c));
        return false;
    }
    /* an endpoint that lists addresses is held to them, public ones too
     * (OpenShell: "resolves to <ip> which is not in allowed_ips") */
    if (allowed && allowed->n && !px_cidrs_contain(allowed, sa)) {
        snprintf(reason, reasonlen, "resolves to %s which is not in allowed_ips", text);
        return false;
    }
    return true;
}
