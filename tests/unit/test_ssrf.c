/* Unit tests of the SSRF guard (proxy/ssrf.c): pure functions, no network.
 * glibc's inet_aton is used here only as an oracle for the IPv4 parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>

#include "proxy/px_internal.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* text (inet_pton syntax) -> sockaddr; fails the test if it does not parse */
static const struct sockaddr *sa_of(const char *text, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, text, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
    } else if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
    } else {
        fail_msg("test address %s does not parse", text);
    }
    return (const struct sockaddr *)ss;
}

static void cidrs_of(px_cidrs_t *c, const char *const *items, size_t n)
{
    char err[256];
    int rc = px_cidrs_parse(items, n, c, err, sizeof err);
    if (rc != 0)
        fail_msg("allowed_ips: %s", err);
}

/* ---- px_host_normalize: IP spellings ------------------------------------------ */

typedef struct {
    const char *host;
    const char *norm; /* canonical text in `out` */
    px_addr_class_t cls;
    const char *reason; /* px_ssrf_check(port 443, nothing allowed) */
} spelling_t;

#define LOOP4 "127.0.0.1 is a loopback address"
#define META  "169.254.169.254 is a link-local address (cloud metadata lives there)"

static const spelling_t blocked_spellings[] = {
    {"127.0.0.1", "127.0.0.1", PX_ADDR_LOOPBACK, LOOP4},
    {"[::1]", "::1", PX_ADDR_LOOPBACK, "::1 is a loopback address"},
    {"::1", "::1", PX_ADDR_LOOPBACK, "::1 is a loopback address"},
    {"[0:0:0:0:0:0:0:1]", "::1", PX_ADDR_LOOPBACK, "::1 is a loopback address"},
    {"169.254.169.254", "169.254.169.254", PX_ADDR_LINK_LOCAL, META},
    {"0.0.0.0", "0.0.0.0", PX_ADDR_UNSPECIFIED, "0.0.0.0 is an unspecified address"},
    {"0", "0.0.0.0", PX_ADDR_UNSPECIFIED, "0.0.0.0 is an unspecified address"},
    {"0x0", "0.0.0.0", PX_ADDR_UNSPECIFIED, "0.0.0.0 is an unspecified address"},
    {"[::]", "::", PX_ADDR_UNSPECIFIED, ":: is an unspecified address"},
    {"2130706433", "127.0.0.1", PX_ADDR_LOOPBACK, LOOP4},
    {"0x7f.1", "127.0.0.1", PX_ADDR_LOOPBACK, LOOP4},
    {"0X7F.1", "127.0.0.1", PX_ADDR_LOOPBACK, LOOP4},
    {"[::ffff:127.0.0.1]", "::ffff:127.0.0.1", PX_ADDR_LOOPBACK, LOOP4},
    {"::ffff:7f00:1", "::ffff:127.0.0.1", PX_ADDR_LOOPBACK, LOOP4},
    {"[::FFFF:7F00:0001]", "::ffff:127.0.0.1", PX_ADDR_LOOPBACK, LOOP4},
    {"[::127.0.0.1]", "::127.0.0.1", PX_ADDR_LOOPBACK, "::127.0.0.1 is a loopback address"},
    {"[64:ff9b::7f00:1]", "64:ff9b::7f00:1", PX_ADDR_LOOPBACK,
     "64:ff9b::7f00:1 is a loopback address"},
    {"127.1", "127.0.0.1", PX_ADDR_LOOPBACK, LOOP4},
    {"127.0.1", "127.0.0.1", PX_ADDR_LOOPBACK, LOOP4},
    {"0177.0.0.1", "127.0.0.1", PX_ADDR_LOOPBACK, LOOP4},
    {"00000177.0.0.01", "127.0.0.1", PX_ADDR_LOOPBACK, LOOP4},
    {"017700000001", "127.0.0.1", PX_ADDR_LOOPBACK, LOOP4},
    {"0x7f000001", "127.0.0.1", PX_ADDR_LOOPBACK, LOOP4},
    {"0x00000000007F000001", "127.0.0.1", PX_ADDR_LOOPBACK, LOOP4},
    {"127.0.0.1.", "127.0.0.1", PX_ADDR_LOOPBACK, LOOP4},
    {"0x7f.0.0.1.", "127.0.0.1", PX_ADDR_LOOPBACK, LOOP4},
    {"127.255.255.254", "127.255.255.254", PX_ADDR_LOOPBACK,
     "127.255.255.254 is a loopback address"},
    {"2852039166", "169.254.169.254", PX_ADDR_LINK_LOCAL, META},
    {"0xa9.0xfe.0xa9.0xfe", "169.254.169.254", PX_ADDR_LINK_LOCAL, META},
    {"0251.0376.0251.0376", "169.254.169.254", PX_ADDR_LINK_LOCAL, META},
    {"169.254.43518", "169.254.169.254", PX_ADDR_LINK_LOCAL, META},
    {"0xA9FEA9FE", "169.254.169.254", PX_ADDR_LINK_LOCAL, META},
    {"[::ffff:169.254.169.254]", "::ffff:169.254.169.254", PX_ADDR_LINK_LOCAL, META},
    {"[::ffff:a9fe:a9fe]", "::ffff:169.254.169.254", PX_ADDR_LINK_LOCAL, META},
    {"[FE80::1]", "fe80::1", PX_ADDR_LINK_LOCAL,
     "fe80::1 is a link-local address (cloud metadata lives there)"},
    {"[fd00:ec2::254]", "fd00:ec2::254", PX_ADDR_PRIVATE,
     "fd00:ec2::254 is a private address not listed in allowed_ips"},
    {"10.1", "10.0.0.1", PX_ADDR_PRIVATE,
     "10.0.0.1 is a private address not listed in allowed_ips"},
    {"0xc0a80001", "192.168.0.1", PX_ADDR_PRIVATE,
     "192.168.0.1 is a private address not listed in allowed_ips"},
    {"100.64.0.1", "100.64.0.1", PX_ADDR_INTERNAL,
     "100.64.0.1 is an internal address not listed in allowed_ips"},
    {"4294967295", "255.255.255.255", PX_ADDR_INTERNAL,
     "255.255.255.255 is an internal address not listed in allowed_ips"},
};

static void spelling_check(const spelling_t *t, bool test_allow_loopback)
{
    char out[PX_HOST_MAX], reason[160];
    bool is_ip = false;
    struct sockaddr_storage ss;
    int rc = px_host_normalize(t->host, out, sizeof out, &is_ip, &ss);
    if (rc != 0 || !is_ip || strcmp(out, t->norm) != 0)
        fail_msg("%s: rc %d is_ip %d out \"%s\", want \"%s\"", t->host, rc, is_ip, out, t->norm);
    const struct sockaddr *sa = (const struct sockaddr *)&ss;
    if (px_addr_classify(sa) != t->cls)
        fail_msg("%s: class %s, want %s", t->host, px_addr_class_name(px_addr_classify(sa)),
                 px_addr_class_name(t->cls));
    bool ok = px_ssrf_check(sa, 443, NULL, test_allow_loopback, reason, sizeof reason);
    bool want_ok = test_allow_loopback && t->cls == PX_ADDR_LOOPBACK;
    if (ok != want_ok)
        fail_msg("%s: allowed %d (%s), want %d", t->host, ok, reason, want_ok);
    if (!ok && strcmp(reason, t->reason) != 0)
        fail_msg("%s: reason \"%s\", want \"%s\"", t->host, reason, t->reason);
}

static void spellings_blocked(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(blocked_spellings); i++)
        spelling_check(&blocked_spellings[i], false);
}

/* the test-only switch opens loopback, and nothing else */
static void spellings_test_loopback(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(blocked_spellings); i++)
        spelling_check(&blocked_spellings[i], true);
}

static void addr_family_out(void **state)
{
    (void)state;
    char out[PX_HOST_MAX];
    bool is_ip;
    struct sockaddr_storage ss;
    assert_int_equal(px_host_normalize("0x7f.1", out, sizeof out, &is_ip, &ss), 0);
    assert_int_equal(ss.ss_family, AF_INET);
    const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
    assert_int_equal(ntohl(in->sin_addr.s_addr), 0x7f000001);
    assert_int_equal(in->sin_port, 0);
    /* mapped stays IPv6, but is shown and judged as its IPv4 */
    assert_int_equal(px_host_normalize("[::ffff:10.0.0.1]", out, sizeof out, &is_ip, &ss), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    char text[INET6_ADDRSTRLEN];
    assert_int_equal(px_addr_format((const struct sockaddr *)&ss, text, sizeof text), 0);
    assert_string_equal(text, "10.0.0.1");
    /* is_ip and addr are optional */
    assert_int_equal(px_host_normalize("127.1", out, sizeof out, NULL, NULL), 0);
    assert_string_equal(out, "127.0.0.1");
}

/* ---- px_host_normalize: hostnames and malformed hosts ---------------------- */

static void hostnames(void **state)
{
    (void)state;
    static const struct {
        const char *host, *norm;
    } t[] = {
        {"LOCALHOST.", "localhost"},
        {"localhost", "localhost"},
        {"Api.GitHub.COM.", "api.github.com"},
        {"a_b-c.example", "a_b-c.example"},
        {"xn--bcher-kva.example", "xn--bcher-kva.example"},
        {"1.2.3.4.example", "1.2.3.4.example"},
        {"127.0.0.1.nip.io", "127.0.0.1.nip.io"},
        {"0x7f.example", "0x7f.example"},
        {"1e100.net", "1e100.net"},
        {"example.0x7g", "example.0x7g"},
        {"123abc", "123abc"},
        {"1.2.3.-4", "1.2.3.-4"}, /* not numeric: inet_aton rejects it too */
        {"a", "a"},
    };
    for (size_t i = 0; i < COUNT(t); i++) {
        char out[PX_HOST_MAX];
        bool is_ip = true;
        struct sockaddr_storage ss;
        int rc = px_host_normalize(t[i].host, out, sizeof out, &is_ip, &ss);
        if (rc != 0 || is_ip || strcmp(out, t[i].norm) != 0)
            fail_msg("%s: rc %d is_ip %d out \"%s\"", t[i].host, rc, is_ip, out);
        assert_int_equal(ss.ss_family, AF_UNSPEC);
    }
}

/* n bytes of labels of `label` bytes ("aaa.aaa..."), the last one shorter */
static char *make_host(size_t n, size_t label)
{
    char *s = malloc(n + 2);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        s[i] = (i % (label + 1) == label) ? '.' : 'a';
    if (n > 0 && s[n - 1] == '.')
        s[n - 1] = 'b';
    s[n] = '\0';
    return s;
}

static void host_lengths(void **state)
{
    (void)state;
    char out[PX_HOST_MAX];
    bool is_ip;
    char *h253 = make_host(253, 63), *h254 = make_host(254, 63);
    char *l63 = make_host(63, 100), *l64 = make_host(64, 100);
    char dotted[256];
    snprintf(dotted, sizeof dotted, "%s.", h253);
    assert_int_equal(px_host_normalize(h253, out, sizeof out, &is_ip, NULL), 0);
    assert_string_equal(out, h253);
    assert_int_equal(px_host_normalize(dotted, out, sizeof out, &is_ip, NULL), 0);
    assert_string_equal(out, h253);
    assert_int_equal(px_host_normalize(h254, out, sizeof out, &is_ip, NULL), -EINVAL);
    assert_int_equal(px_host_normalize(l63, out, sizeof out, &is_ip, NULL), 0);
    assert_int_equal(px_host_normalize(l64, out, sizeof out, &is_ip, NULL), -EINVAL);
    char big[4096];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(px_host_normalize(big, out, sizeof out, &is_ip, NULL), -EINVAL);
    /* a small out: -ENOSPC, never a cut host */
    char tiny[8];
    assert_int_equal(px_host_normalize("example.com", tiny, sizeof tiny, &is_ip, NULL), -ENOSPC);
    assert_string_equal(tiny, "");
    assert_int_equal(px_host_normalize("255.255.255.255", tiny, sizeof tiny, &is_ip, NULL),
                     -ENOSPC);
    assert_false(is_ip);
    assert_int_equal(px_host_normalize("a", out, 0, &is_ip, NULL), -ENOSPC);
    free(h253), free(h254), free(l63), free(l64);
}

static void malformed_hosts(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", ".", "..", "a..b", ".example", "example..", "exa mple.com", "exa$mple.com", "exa/mple",
        "host\n.com", "tab\t", "caf\xc3\xa9.com", "example.com:443", "user@host",
        /* ends in a number but is no IPv4: never handed to a resolver */
        "1.2.3.4.5", "256.1.1.1", "1.256.1.1", "1.1.1.256", "4294967296", "0x100000000",
        "1.0x1000000", "1.1.65536", "08.0.0.1", "0x.1", "0x", "1.2.3.0x", "example.123",
        "example.0x10", "0x7g.1", "1..1", "127.0.0.1..", "99999999999999999999",
        "0x1.0x2.0x3.0x4.0x5", "-1.0.0.1", "+1",
        /* IPv6 */
        "[::1", "::1]", "[]", "[127.0.0.1]", "[localhost]", "[fe80::1%eth0]", "fe80::1%25eth0",
        "[fe80::1%25eth0]", "[::1]:80", "[::1].", "::1.", "::1::", "1:2:3:4:5:6:7:8:9",
        ":::", "[::ffff:0x7f.1]", "[::ffff:0177.0.0.1]", "[::ffff:127.1]", "[12345::]", "[::g]",
        "[[::1]]", "[ ::1]"};
    for (size_t i = 0; i < COUNT(bad); i++) {
        char out[PX_HOST_MAX];
        bool is_ip = true;
        int rc = px_host_normalize(bad[i], out, sizeof out, &is_ip, NULL);
        if (rc != -EINVAL || is_ip || out[0] != '\0')
            fail_msg("\"%s\": rc %d is_ip %d out \"%s\", want -EINVAL", bad[i], rc, is_ip, out);
    }
    char out[PX_HOST_MAX];
    bool is_ip;
    assert_int_equal(px_host_normalize(NULL, out, sizeof out, &is_ip, NULL), -EINVAL);
}

/* Differential test against glibc's inet_aton: whatever it accepts must be
 * an IP literal here with the same address; a string it rejects that we
 * call an IP may only differ by the trailing dot we strip. */
static void agree_one(const char *s)
{
    char out[PX_HOST_MAX];
    bool is_ip = false;
    struct sockaddr_storage ss;
    struct in_addr want;
    int rc = px_host_normalize(s, out, sizeof out, &is_ip, &ss);
    int aton = inet_aton(s, &want);
    if (aton) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
        if (rc != 0 || !is_ip || in->sin_addr.s_addr != want.s_addr)
            fail_msg("\"%s\": inet_aton %s, ours rc %d is_ip %d \"%s\"", s, inet_ntoa(want), rc,
                     is_ip, out);
        return;
    }
    if (rc == 0 && is_ip) {
        size_t n = strlen(s);
        char tmp[64];
        if (n == 0 || n >= sizeof tmp || s[n - 1] != '.')
            fail_msg("\"%s\": inet_aton rejects it, ours says %s", s, out);
        memcpy(tmp, s, n - 1);
        tmp[n - 1] = '\0';
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
        if (!inet_aton(tmp, &want) || in->sin_addr.s_addr != want.s_addr)
            fail_msg("\"%s\": inet_aton rejects it, ours says %s", s, out);
    }
}

static void inet_aton_exhaustive(void **state)
{
    (void)state;
    static const char alpha[] = "0178x9af.";
    const size_t k = sizeof alpha - 1;
    char s[8];
    for (size_t len = 1; len <= 6; len++) {
        size_t total = 1;
        for (size_t i = 0; i < len; i++)
            total *= k;
        for (size_t code = 0; code < total; code++) {
            size_t c = code;
            for (size_t i = 0; i < len; i++, c /= k)
                s[i] = alpha[c % k];
            s[len] = '\0';
            agree_one(s);
        }
    }
}

static void inet_aton_random(void **state)
{
    (void)state;
    static const char alpha[] = "0123456789abcdefxX.......";
    uint64_t x = 0x9e3779b97f4a7c15u;
    char s[40];
    for (int iter = 0; iter < 300000; iter++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t len = 1 + (size_t)(x % 32);
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            s[i] = alpha[x % (sizeof alpha - 1)];
        }
        s[len] = '\0';
        agree_one(s);
    }
}

/* ---- px_addr_classify ----------------------------------------------------------- */

static const struct {
    const char *addr;
    px_addr_class_t cls;
} classes[] = {
    {"0.0.0.0", PX_ADDR_UNSPECIFIED},
    {"0.255.255.255", PX_ADDR_UNSPECIFIED},
    {"1.0.0.0", PX_ADDR_PUBLIC},
    {"8.8.8.8", PX_ADDR_PUBLIC},
    {"9.255.255.255", PX_ADDR_PUBLIC},
    {"10.0.0.0", PX_ADDR_PRIVATE},
    {"10.255.255.255", PX_ADDR_PRIVATE},
    {"11.0.0.0", PX_ADDR_PUBLIC},
    {"100.63.255.255", PX_ADDR_PUBLIC},
    {"100.64.0.0", PX_ADDR_INTERNAL},
    {"100.127.255.255", PX_ADDR_INTERNAL},
    {"100.128.0.0", PX_ADDR_PUBLIC},
    {"126.255.255.255", PX_ADDR_PUBLIC},
    {"127.0.0.0", PX_ADDR_LOOPBACK},
    {"127.255.255.255", PX_ADDR_LOOPBACK},
    {"128.0.0.0", PX_ADDR_PUBLIC},
    {"169.253.255.255", PX_ADDR_PUBLIC},
    {"169.254.0.0", PX_ADDR_LINK_LOCAL},
    {"169.254.169.254", PX_ADDR_LINK_LOCAL},
    {"169.255.0.0", PX_ADDR_PUBLIC},
    {"172.15.255.255", PX_ADDR_PUBLIC},
    {"172.16.0.0", PX_ADDR_PRIVATE},
    {"172.31.255.255", PX_ADDR_PRIVATE},
    {"172.32.0.0", PX_ADDR_PUBLIC},
    {"192.0.0.1", PX_ADDR_INTERNAL},
    {"192.0.1.1", PX_ADDR_PUBLIC},
    {"192.0.2.1", PX_ADDR_INTERNAL},
    {"192.167.255.255", PX_ADDR_PUBLIC},
    {"192.168.0.0", PX_ADDR_PRIVATE},
    {"192.168.255.255", PX_ADDR_PRIVATE},
    {"192.169.0.0", PX_ADDR_PUBLIC},
    {"198.17.255.255", PX_ADDR_PUBLIC},
    {"198.18.0.0", PX_ADDR_INTERNAL},
    {"198.19.255.255", PX_ADDR_INTERNAL},
    {"198.20.0.0", PX_ADDR_PUBLIC},
    {"198.51.100.7", PX_ADDR_INTERNAL},
    {"203.0.113.9", PX_ADDR_INTERNAL},
    {"203.0.114.9", PX_ADDR_PUBLIC},
    {"223.255.255.255", PX_ADDR_PUBLIC},
    {"224.0.0.1", PX_ADDR_INTERNAL},
    {"239.255.255.255", PX_ADDR_INTERNAL},
    {"240.0.0.1", PX_ADDR_INTERNAL},
    {"255.255.255.255", PX_ADDR_INTERNAL},
    {"::", PX_ADDR_UNSPECIFIED},
    {"::1", PX_ADDR_LOOPBACK},
    {"::2", PX_ADDR_UNSPECIFIED}, /* ::0.0.0.2 */
    {"::8.8.8.8", PX_ADDR_PUBLIC},
    {"::10.0.0.1", PX_ADDR_PRIVATE},
    {"::ffff:0.0.0.0", PX_ADDR_UNSPECIFIED},
    {"::ffff:10.0.0.1", PX_ADDR_PRIVATE},
    {"::ffff:8.8.8.8", PX_ADDR_PUBLIC},
    {"::ffff:100.64.0.1", PX_ADDR_INTERNAL},
    {"::fffe:7f00:1", PX_ADDR_PUBLIC},
    {"64:ff9b::a00:1", PX_ADDR_PRIVATE},
    {"64:ff9b::a9fe:a9fe", PX_ADDR_LINK_LOCAL},
    {"64:ff9b::808:808", PX_ADDR_PUBLIC},
    {"64:ff9b:1::7f00:1", PX_ADDR_PUBLIC},
    {"fe80::1", PX_ADDR_LINK_LOCAL},
    {"febf:ffff::1", PX_ADDR_LINK_LOCAL},
    {"fec0::1", PX_ADDR_INTERNAL},
    {"feff::1", PX_ADDR_INTERNAL},
    {"fbff::1", PX_ADDR_PUBLIC},
    {"fc00::1", PX_ADDR_PRIVATE},
    {"fdff:ffff::1", PX_ADDR_PRIVATE},
    {"ff02::1", PX_ADDR_INTERNAL},
    {"ff05::1:3", PX_ADDR_INTERNAL},
    {"2001:db8::1", PX_ADDR_INTERNAL},
    {"2001:db8:ffff::1", PX_ADDR_INTERNAL},
    {"2001:db9::1", PX_ADDR_PUBLIC},
    {"100::1", PX_ADDR_INTERNAL},
    {"100::ffff:ffff:ffff:ffff", PX_ADDR_INTERNAL},
    {"100:0:0:1::", PX_ADDR_PUBLIC},
    {"2606:4700:4700::1111", PX_ADDR_PUBLIC},
    {"2a00:1450:4001::200e", PX_ADDR_PUBLIC},
};

static void classify_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(classes); i++) {
        struct sockaddr_storage ss;
        px_addr_class_t got = px_addr_classify(sa_of(classes[i].addr, &ss));
        if (got != classes[i].cls)
            fail_msg("%s: %s, want %s", classes[i].addr, px_addr_class_name(got),
                     px_addr_class_name(classes[i].cls));
    }
}

static void classify_odd_inputs(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_family = AF_UNIX;
    assert_int_equal(px_addr_classify((const struct sockaddr *)&ss), PX_ADDR_INTERNAL);
    assert_int_equal(px_addr_classify(NULL), PX_ADDR_INTERNAL);
    assert_string_equal(px_addr_class_name(PX_ADDR_PUBLIC), "public");
    assert_string_equal(px_addr_class_name(PX_ADDR_LOOPBACK), "loopback");
    assert_string_equal(px_addr_class_name(PX_ADDR_LINK_LOCAL), "link-local");
    assert_string_equal(px_addr_class_name(PX_ADDR_UNSPECIFIED), "unspecified");
    assert_string_equal(px_addr_class_name(PX_ADDR_PRIVATE), "private");
    assert_string_equal(px_addr_class_name(PX_ADDR_INTERNAL), "internal");
    assert_string_equal(px_addr_class_name((px_addr_class_t)42), "unknown");
    /* a plain sockaddr_in (16 bytes) is read without overrun */
    struct sockaddr_in *in = malloc(sizeof *in);
    assert_non_null(in);
    memset(in, 0, sizeof *in);
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(0x0a000001);
    assert_int_equal(px_addr_classify((const struct sockaddr *)in), PX_ADDR_PRIVATE);
    char text[INET6_ADDRSTRLEN], small[4];
    assert_int_equal(px_addr_format((const struct sockaddr *)in, text, sizeof text), 0);
    assert_string_equal(text, "10.0.0.1");
    assert_int_equal(px_addr_format((const struct sockaddr *)in, small, sizeof small), -ENOSPC);
    assert_int_equal(px_addr_format((const struct sockaddr *)&ss, text, sizeof text),
                     -EAFNOSUPPORT);
    free(in);
}

/* ---- allowed_ips ---------------------------------------------------------------- */

static const char *const contain_items[] = {
    "10.0.0.0/8",  "192.168.1.7",         "fd00::/8",      "172.16.5.9/16", "::ffff:100.64.0.0/106",
    "2001:db8::1", "fe80::abcd:1234/128", "198.18.0.0/15",
};
static const struct {
    const char *addr;
    bool in;
} contain[] = {
    {"10.0.0.0", true},
    {"10.255.255.255", true},
    {"11.0.0.0", false},
    {"::ffff:10.1.2.3", true},
    {"::10.1.2.3", false},
    {"64:ff9b::a01:203", false},
    {"192.168.1.7", true},
    {"192.168.1.8", false},
    {"::ffff:192.168.1.7", true},
    {"fd00::1", true},
    {"fdff::1", true},
    {"fc00::1", false},
    {"fe00::1", false},
    {"172.16.0.1", true},
    {"172.16.255.255", true},
    {"172.17.0.1", false},
    {"100.64.0.1", true},
    {"100.127.255.255", true},
    {"100.128.0.1", false},
    {"::ffff:100.100.1.1", true},
    {"2001:db8::1", true},
    {"2001:db8::2", false},
    {"fe80::abcd:1234", true},
    {"198.19.1.1", true},
    {"198.20.1.1", false},
};

static void cidrs_contain_table(void **state)
{
    (void)state;
    px_cidrs_t c;
    cidrs_of(&c, contain_items, COUNT(contain_items));
    assert_int_equal(c.n, COUNT(contain_items));
    for (size_t i = 0; i < COUNT(contain); i++) {
        struct sockaddr_storage ss;
        if (px_cidrs_contain(&c, sa_of(contain[i].addr, &ss)) != contain[i].in)
            fail_msg("%s: contained %d, want %d", contain[i].addr, !contain[i].in, contain[i].in);
    }
    px_cidrs_dispose(&c);
    assert_null(c.v);
    assert_int_equal(c.n, 0);
    px_cidrs_dispose(&c);
    px_cidrs_dispose(NULL);
}

static void cidrs_edges(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    px_cidrs_t c;
    static const char *const all4[] = {"0.0.0.0/0"};
    cidrs_of(&c, all4, 1);
    assert_true(px_cidrs_contain(&c, sa_of("203.0.113.1", &ss)));
    assert_true(px_cidrs_contain(&c, sa_of("::ffff:203.0.113.1", &ss)));
    assert_false(px_cidrs_contain(&c, sa_of("2001:db8::1", &ss)));
    px_cidrs_dispose(&c);
    static const char *const all6[] = {"::/0", "1.2.3.4/32"};
    cidrs_of(&c, all6, 2);
    assert_true(px_cidrs_contain(&c, sa_of("2001:db8::1", &ss)));
    assert_false(px_cidrs_contain(&c, sa_of("10.0.0.1", &ss)));
    assert_false(px_cidrs_contain(&c, sa_of("::ffff:10.0.0.1", &ss)));
    assert_true(px_cidrs_contain(&c, sa_of("::ffff:1.2.3.4", &ss)));
    px_cidrs_dispose(&c);
    /* host bits are masked */
    static const char *const host_bits[] = {"10.1.2.3/8", "fd12:3456::1/16", "1.2.3.255/31"};
    cidrs_of(&c, host_bits, 3);
    assert_int_equal(c.v[0].prefix, 8);
    assert_int_equal(c.v[0].addr[0], 10);
    assert_int_equal(c.v[0].addr[1] | c.v[0].addr[2] | c.v[0].addr[3], 0);
    assert_int_equal(c.v[1].addr[1], 0x12);
    assert_int_equal(c.v[1].addr[2] | c.v[1].addr[15], 0);
    assert_int_equal(c.v[2].addr[3], 254);
    assert_true(px_cidrs_contain(&c, sa_of("1.2.3.254", &ss)));
    assert_false(px_cidrs_contain(&c, sa_of("1.2.3.253", &ss)));
    px_cidrs_dispose(&c);
    /* empty list; NULL list */
    assert_int_equal(px_cidrs_parse(NULL, 0, &c, NULL, 0), 0);
    assert_null(c.v);
    assert_false(px_cidrs_contain(&c, sa_of("10.0.0.1", &ss)));
    assert_false(px_cidrs_contain(NULL, sa_of("10.0.0.1", &ss)));
    assert_int_equal(px_cidrs_parse(NULL, 1, &c, NULL, 0), -EINVAL);
}

static const struct {
    const char *entry, *err;
} cidr_errs[] = {
    {"", "allowed_ips[1] \"\": not an IP address or CIDR"},
    {"10.0.0.0/33", "allowed_ips[1] \"10.0.0.0/33\": bad prefix length (0 to 32)"},
    {"10.0.0.0/", "bad prefix length (0 to 32)"},
    {"10.0.0.0/-1", "bad prefix length"},
    {"10.0.0.0/+8", "bad prefix length"},
    {"10.0.0.0/08", "bad prefix length"},
    {"10.0.0.0/8/8", "bad prefix length"},
    {"10.0.0.0/ 8", "bad prefix length"},
    {"10.0.0.0/8 ", "bad prefix length"},
    {"10.0.0.0/1000", "bad prefix length"},
    {"fd00::/129", "bad prefix length (0 to 128)"},
    {"fd00::/", "bad prefix length (0 to 128)"},
    {"/8", "not an IPv4 address"},
    {"10.0.0/8", "not an IPv4 address"},
    {"10.1", "not an IPv4 address"},
    {"010.0.0.0/8", "not an IPv4 address"},
    {"0x0a.0.0.0/8", "not an IPv4 address"},
    {"2130706433", "not an IPv4 address"},
    {"256.0.0.0/8", "not an IPv4 address"},
    {"1.2.3.4.5", "not an IPv4 address"},
    {" 10.0.0.0/8", "not an IPv4 address"},
    {"1000.0.0.0/8", "not an IPv4 address"},
    {"example.com", "not an IPv4 address"},
    {"[fd00::]/8", "not an IPv6 address"},
    {"fd00:::/8", "not an IPv6 address"},
    {"fe80::1%eth0/64", "zone ids are not allowed"},
    {"\x1b[31mevil\n", "allowed_ips[1] \"\\x1b[31mevil\\x0a\": not an IPv4"},
    {"\"quoted\\", "allowed_ips[1] \"\\x22quoted\\x5c\": not an IPv4"},
};

static void cidrs_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(cidr_errs); i++) {
        const char *items[] = {"10.0.0.0/8", cidr_errs[i].entry, "192.168.0.0/16"};
        px_cidrs_t c = {(void *)1, 99};
        char err[256];
        int rc = px_cidrs_parse(items, COUNT(items), &c, err, sizeof err);
        if (rc != -EINVAL || c.v != NULL || c.n != 0 || strstr(err, cidr_errs[i].err) == NULL)
            fail_msg("\"%s\": rc %d err \"%s\", want \"%s\"", cidr_errs[i].entry, rc, err,
                     cidr_errs[i].err);
    }
    /* a NULL entry, a long entry (quoted, cut), a small err buffer */
    const char *items[] = {NULL};
    px_cidrs_t c;
    char err[300];
    assert_int_equal(px_cidrs_parse(items, 1, &c, err, sizeof err), -EINVAL);
    assert_string_equal(err, "allowed_ips[0] \"\": not a string");
    char longer[200];
    memset(longer, '1', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    items[0] = longer;
    assert_int_equal(px_cidrs_parse(items, 1, &c, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "1111...\": not an IP address or CIDR"));
    assert_true(strlen(err) < 120);
    char small[10];
    assert_int_equal(px_cidrs_parse(items, 1, &c, small, sizeof small), -EINVAL);
    assert_string_equal(small, "allowed_i");
    assert_int_equal(px_cidrs_parse(items, 1, &c, NULL, 0), -EINVAL);
}

/* ---- px_ssrf_check ------------------------------------------------------------- */

/* allowed_ips of the policy table; `none` stands for no list at all */
static const char *const none[] = {NULL};
static const char *const wide[] = {"0.0.0.0/0", "::/0", "127.0.0.0/8", "169.254.0.0/16"};
static const char *const lan[] = {"10.0.0.0/8", "100.64.0.0/10", "fd00::/8"};
static const struct {
    const char *addr;
    uint16_t port;
    const char *const *allowed; /* none, wide or lan */
    bool loopback_ok, ok;
    const char *reason;
} policy[] = {
    {"8.8.8.8", 443, none, false, true, ""},
    {"2606:4700:4700::1111", 443, none, false, true, ""},
    {"8.8.8.8", 10251, none, false, true, ""},
    {"8.8.8.8", 2379, none, false, false, "port 2379 is a control-plane port"},
    {"8.8.8.8", 2380, none, false, false, "port 2380 is a control-plane port"},
    {"8.8.8.8", 6443, wide, false, false, "port 6443 is a control-plane port"},
    {"8.8.8.8", 10250, none, false, false, "port 10250 is a control-plane port"},
    {"2606:4700::1", 10255, none, false, false, "port 10255 is a control-plane port"},
    {"10.0.0.5", 6443, lan, false, false, "port 6443 is a control-plane port"},
    {"127.0.0.1", 6443, none, true, false, "port 6443 is a control-plane port"},
    {"10.0.0.5", 443, none, false, false,
     "10.0.0.5 is a private address not listed in allowed_ips"},
    {"10.0.0.5", 443, lan, false, true, ""},
    {"::ffff:10.0.0.5", 443, lan, false, true, ""},
    {"::ffff:10.0.0.5", 443, none, false, false,
     "10.0.0.5 is a private address not listed in allowed_ips"},
    {"64:ff9b::a00:5", 443, lan, false, false,
     "64:ff9b::a00:5 is a private address not listed in allowed_ips"},
    {"192.168.1.1", 443, lan, false, false,
     "192.168.1.1 is a private address not listed in allowed_ips"},
    {"fd00::1", 443, lan, false, true, ""},
    {"fc00::1", 443, lan, false, false, "fc00::1 is a private address not listed in allowed_ips"},
    {"100.64.1.1", 443, none, false, false,
     "100.64.1.1 is an internal address not listed in allowed_ips"},
    {"100.64.1.1", 443, lan, false, true, ""},
    /* a list holds public addresses to it too (OpenShell's semantics) */
    {"8.8.8.8", 443, lan, false, false, "resolves to 8.8.8.8 which is not in allowed_ips"},
    {"2606:4700::1", 443, lan, false, false,
     "resolves to 2606:4700::1 which is not in allowed_ips"},
    {"8.8.8.8", 443, wide, false, true, ""},
    {"224.0.0.1", 443, wide, false, true, ""},
    {"ff02::1", 443, none, false, false,
     "ff02::1 is an internal address not listed in allowed_ips"},
    /* an allowed_ips entry never opens loopback, link-local, unspecified */
    {"169.254.169.254", 80, wide, false, false, META},
    {"::ffff:169.254.169.254", 80, wide, false, false, META},
    {"fe80::1", 80, wide, false, false,
     "fe80::1 is a link-local address (cloud metadata lives there)"},
    {"127.0.0.1", 80, wide, false, false, LOOP4},
    {"::ffff:127.0.0.1", 80, wide, false, false, LOOP4},
    {"::1", 80, wide, false, false, "::1 is a loopback address"},
    {"0.0.0.0", 80, wide, false, false, "0.0.0.0 is an unspecified address"},
    {"::", 80, wide, true, false, ":: is an unspecified address"},
    {"169.254.169.254", 80, wide, true, false, META},
    /* the address reason wins over the port one */
    {"169.254.169.254", 10250, none, false, false, META},
    /* the test switch: loopback only */
    {"127.0.0.1", 8080, none, true, true, ""},
    {"::1", 8080, none, true, true, ""},
    {"::ffff:127.0.0.1", 8080, none, true, true, ""},
};

static void ssrf_policy(void **state)
{
    (void)state;
    px_cidrs_t cw, cl;
    cidrs_of(&cw, wide, COUNT(wide));
    cidrs_of(&cl, lan, COUNT(lan));
    for (size_t i = 0; i < COUNT(policy); i++) {
        struct sockaddr_storage ss;
        char reason[160] = "junk";
        const px_cidrs_t *a = policy[i].allowed == wide  ? &cw
                              : policy[i].allowed == lan ? &cl
                                                         : NULL;
        bool ok = px_ssrf_check(sa_of(policy[i].addr, &ss), policy[i].port, a,
                                policy[i].loopback_ok, reason, sizeof reason);
        if (ok != policy[i].ok || strcmp(reason, policy[i].reason) != 0)
            fail_msg("%s:%u: %d \"%s\", want %d \"%s\"", policy[i].addr, policy[i].port, ok, reason,
                     policy[i].ok, policy[i].reason);
    }
    px_cidrs_dispose(&cw);
    px_cidrs_dispose(&cl);
}

static void ssrf_odd_inputs(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    char reason[16];
    /* reason may be NULL or short: cut, terminated */
    assert_false(px_ssrf_check(sa_of("127.0.0.1", &ss), 80, NULL, false, NULL, 0));
    assert_false(px_ssrf_check(sa_of("127.0.0.1", &ss), 80, NULL, false, reason, sizeof reason));
    assert_string_equal(reason, "127.0.0.1 is a ");
    assert_true(px_ssrf_check(sa_of("1.1.1.1", &ss), 80, NULL, false, NULL, 0));
    /* not an IP family */
    memset(&ss, 0, sizeof ss);
    ss.ss_family = AF_UNIX;
    char r2[64];
    assert_false(px_ssrf_check((const struct sockaddr *)&ss, 80, NULL, true, r2, sizeof r2));
    assert_string_equal(r2, "not an IPv4 or IPv6 address");
    assert_false(px_ssrf_check(NULL, 80, NULL, true, r2, sizeof r2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spellings_blocked),    cmocka_unit_test(spellings_test_loopback),
        cmocka_unit_test(addr_family_out),      cmocka_unit_test(hostnames),
        cmocka_unit_test(host_lengths),         cmocka_unit_test(malformed_hosts),
        cmocka_unit_test(inet_aton_exhaustive), cmocka_unit_test(inet_aton_random),
        cmocka_unit_test(classify_table),       cmocka_unit_test(classify_odd_inputs),
        cmocka_unit_test(cidrs_contain_table),  cmocka_unit_test(cidrs_edges),
        cmocka_unit_test(cidrs_errors),         cmocka_unit_test(ssrf_policy),
        cmocka_unit_test(ssrf_odd_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
