/*
 * dns.c: the sandbox's resolver. Every A question gets a fake address from
 * the pool, the same one for the same name while it is remembered; every
 * other question an empty NOERROR answer. So a program that resolves a name
 * and connects around the proxy reaches the catcher, which can say which
 * name it wanted.
 *
 * The message is untrusted: every read is bounds-checked, compression is
 * refused in the question (a query has no reason to use it), labels are
 * 1..63 bytes of printable ASCII other than '.', the name at most 253
 * characters. Trailing records (EDNS OPT) are ignored.
 *
 * Map: PX_DNS_MAX_NAMES slots, handed out round-robin (the oldest name gives
 * its address up), a chained hash from name to slot. Loop thread only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/bypass.h"

#define NBUCKETS      8192 /* a power of two, >= 2 * PX_DNS_MAX_NAMES */
#define NAME_MAX_TEXT 253
#define TTL           60

typedef struct {
    char name[NAME_MAX_TEXT + 1];
    int32_t next; /* in its bucket; -1 ends */
    bool used;
} slot_t;

struct px_dns {
    uint32_t base; /* host order */
    slot_t slots[PX_DNS_MAX_NAMES];
    int32_t buckets[NBUCKETS];
    uint32_t rr; /* the next slot to hand out */
    px_dns_stats_t st;
    uv_udp_t udp;
    bool started;
    uint8_t rbuf[4096];
};

static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h & (NBUCKETS - 1);
}

px_dns_t *px_dns_create(const char *pool, char *err, size_t errlen)
{
    struct in_addr a;
    if (inet_pton(AF_INET, pool ? pool : PX_DNS_DEFAULT_POOL, &a) != 1) {
        snprintf(err, errlen, "dns pool: '%s' is not an IPv4 address", pool);
        return NULL;
    }
    uint32_t base = ntohl(a.s_addr);
    if (base > UINT32_MAX - PX_DNS_MAX_NAMES - 2) {
        snprintf(err, errlen, "dns pool: '%s' leaves no room for %d addresses", pool,
                 PX_DNS_MAX_NAMES);
        return NULL;
    }
    px_dns_t *d = calloc(1, sizeof *d);
    if (!d)
        abort();
    d->base = base;
    for (size_t i = 0; i < NBUCKETS; i++)
        d->buckets[i] = -1;
    return d;
}

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

void px_dns_destroy(px_dns_t *d)
{
    if (!d)
        return;
    if (!d->started) {
        free(d);
        return;
    }
    uv_udp_recv_stop(&d->udp);
    uv_close((uv_handle_t *)&d->udp, on_closed);
}

static int32_t find(const px_dns_t *d, const char *name)
{
    for (int32_t i = d->buckets[hash(name)]; i >= 0; i = d->slots[i].next)
        if (strcmp(d->slots[i].name, name) == 0)
            return i;
    return -1;
}

static void unlink_slot(px_dns_t *d, int32_t s)
{
    for (int32_t *pp = &d->buckets[hash(d->slots[s].name)]; *pp >= 0; pp = &d->slots[*pp].next)
        if (*pp == s) {
            *pp = d->slots[s].next;
            break;
        }
    d->slots[s].used = false;
    d->st.names--;
}

/* The slot of `name`, handed out now if it has none. */
static int32_t slot_for(px_dns_t *d, const char *name)
{
    int32_t s = find(d, name);
    if (s >= 0)
        return s;
    s = (int32_t)(d->rr++ % PX_DNS_MAX_NAMES);
    if (d->slots[s].used)
        unlink_slot(d, s);
    slot_t *sl = &d->slots[s];
    snprintf(sl->name, sizeof sl->name, "%s", name);
    uint32_t b = hash(name);
    sl->next = d->buckets[b];
    d->buckets[b] = s;
    sl->used = true;
    d->st.names++;
    return s;
}

bool px_dns_name_of(const px_dns_t *d, uint32_t addr, char *out, size_t outlen)
{
    uint32_t a = ntohl(addr);
    if (a <= d->base || a - d->base - 1 >= PX_DNS_MAX_NAMES)
        return false;
    const slot_t *sl = &d->slots[a - d->base - 1];
    if (!sl->used)
        return false;
    snprintf(out, outlen, "%s", sl->name);
    return true;
}

/* The question's name as text (lower case, no trailing dot); *end is the
 * offset after it. -EINVAL for a malformed name. */
static int parse_name(const uint8_t *q, size_t n, size_t off, char name[NAME_MAX_TEXT + 1],
                      size_t *end)
{
    size_t len = 0;
    for (;;) {
        if (off >= n)
            return -EINVAL;
        uint8_t l = q[off++];
        if (l == 0)
            break;
        if (l > 63 || n - off < l || len + (len ? 1 : 0) + l > NAME_MAX_TEXT)
            return -EINVAL; /* compression pointers (0xc0) land here too */
        if (len)
            name[len++] = '.';
        for (uint8_t i = 0; i < l; i++) {
            uint8_t c = q[off + i];
            if (c <= 0x20 || c >= 0x7f || c == '.')
                return -EINVAL;
            name[len++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        off += l;
    }
    name[len] = '\0';
    *end = off;
    return 0;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

int px_dns_reply(px_dns_t *d, const uint8_t *q, size_t n, uint8_t *out, size_t cap)
{
    char name[NAME_MAX_TEXT + 1];
    size_t qend;
    d->st.queries++;
    if (n < 12 || cap < 512 || (q[2] & 0x80)) { /* short, or a response */
        d->st.dropped++;
        return -EINVAL;
    }
    uint16_t flags = (uint16_t)(q[2] << 8 | q[3]);
    unsigned opcode = (flags >> 11) & 0xf;
    uint16_t qd = (uint16_t)(q[4] << 8 | q[5]);
    memcpy(out, q, 2);                                              /* id */
    put16(out + 2, (uint16_t)(0x8000 | (flags & 0x0100) | 0x0080)); /* QR, RD as asked, RA */
    memset(out + 4, 0, 8);
    if (opcode != 0) {
        out[3] |= 4; /* NOTIMP */
        d->st.answered++;
        return 12;
    }
    if (qd != 1 || parse_name(q, n, 12, name, &qend) != 0 || n - qend < 4) {
        out[3] |= 1; /* FORMERR */
        d->st.answered++;
        return 12;
    }
    uint16_t qtype = (uint16_t)(q[qend] << 8 | q[qend + 1]);
    uint16_t qclass = (uint16_t)(q[qend + 2] << 8 | q[qend + 3]);
    qend += 4;
    size_t o = 12 + (qend - 12);
    memcpy(out + 12, q + 12, qend - 12); /* the question as asked: at most 259 bytes */
    put16(out + 4, 1);
    if (qtype == 1 && qclass == 1 && name[0]) {
        uint32_t addr = htonl(d->base + 1 + (uint32_t)slot_for(d, name));
        put16(out + 6, 1);
        static const uint8_t rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, TTL, 0, 4};
        memcpy(out + o, rr, sizeof rr);
        memcpy(out + o + sizeof rr, &addr, 4);
        o += sizeof rr + 4;
    }
    d->st.answered++;
    return (int)o;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    px_dns_t *d = h->data;
    *buf = uv_buf_init((char *)d->rbuf, sizeof d->rbuf);
}

static void on_recv(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from,
                    unsigned flags)
{
    px_dns_t *d = u->data;
    uint8_t out[600];
    if (nread <= 0 || !from)
        return;
    if (flags & UV_UDP_PARTIAL) {
        d->st.dropped++;
        return;
    }
    int n = px_dns_reply(d, (const uint8_t *)buf->base, (size_t)nread, out, sizeof out);
    if (n <= 0)
        return;
    uv_buf_t b = uv_buf_init((char *)out, (unsigned)n);
    if (uv_udp_try_send(u, &b, 1, from) < 0)
        d->st.dropped++; /* the client asks again */
}

int px_dns_start(px_dns_t *d, uv_loop_t *loop, int udp_fd)
{
    int rc = uv_udp_init(loop, &d->udp);
    if (rc != 0) {
        close(udp_fd);
        return rc;
    }
    d->udp.data = d;
    d->started = true; /* from here px_dns_destroy closes the handle */
    if ((rc = uv_udp_open(&d->udp, udp_fd)) != 0) {
        close(udp_fd);
        return rc;
    }
    return uv_udp_recv_start(&d->udp, on_alloc, on_recv);
}

void px_dns_stats(const px_dns_t *d, px_dns_stats_t *st)
{
    *st = d->st;
}
