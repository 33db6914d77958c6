/*
 * tunnel_xfer: both ends of a CONNECT tunnel through a proxy, for the relay
 * tests (tests/e2e/test_relay.py). The "client" connects to the proxy and
 * sends CONNECT 127.0.0.1:<up_port>; the "upstream" accepts on an inherited
 * listening fd. Then both ways at once (one poll loop): a pseudo-random byte
 * stream of a given length (the byte at offset i is a function of seed and
 * i), written with random write sizes, read with random read sizes and
 * checked byte for byte, then the writer shuts down its write side and the
 * reader expects EOF exactly at the end.
 *
 *   tunnel_xfer PROXY_PORT LISTEN_FD UP_PORT C2U_BYTES U2C_BYTES SEED [options]
 *     --order both|c-first|u-first  both: both ways at once; c-first: the
 *                       upstream starts sending once it has read the client's
 *                       EOF (a half-closed tunnel still carries the other
 *                       way); u-first: the reverse
 *     --pause-at N      the client stops reading after N bytes, prints
 *                       "STALLED <bytes the upstream wrote>" once the
 *                       upstream's writes have made no progress for 300 ms,
 *                       and resumes when a line arrives on stdin
 *
 * Prints "OK c2u=<n> u2c=<n>" and exits 0, or says what differed and exits 1.
 */
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* The stream's bytes [off, off + n). */
static void gen(uint64_t seed, uint64_t off, unsigned char *out, size_t n)
{
    while (n) {
        uint64_t w = mix(seed ^ (off >> 3));
        unsigned k = off & 7;
        for (; k < 8 && n; k++, n--, off++)
            *out++ = (unsigned char)(w >> (8 * k));
    }
}

static uint64_t rng_state = 88172645463325252ull;
static size_t rnd(size_t max) /* 1..max */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    /* mostly small and medium, sometimes large */
    size_t lim = (rng_state >> 60) < 4 ? max : (rng_state >> 58) & 1 ? 4096 : 65536;
    if (lim > max)
        lim = max;
    return 1 + (size_t)((rng_state >> 8) % lim);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct {
    int fd;
    const char *name;
    uint64_t wseed, wtotal, wdone; /* what this end sends */
    uint64_t rseed, rtotal, rdone; /* what it receives */
    bool wshut, reof, wgo;
} end_t;

#define BIG (1u << 20)
static unsigned char wbuf[BIG], rbuf[BIG], want[BIG];

static void die(const char *what)
{
    fprintf(stderr, "tunnel_xfer: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int do_write(end_t *e)
{
    if (e->wdone == e->wtotal) {
        if (!e->wshut) {
            shutdown(e->fd, SHUT_WR);
            e->wshut = true;
        }
        return 0;
    }
    size_t n = rnd(BIG);
    if (n > e->wtotal - e->wdone)
        n = (size_t)(e->wtotal - e->wdone);
    gen(e->wseed, e->wdone, wbuf, n);
    ssize_t k = send(e->fd, wbuf, n, MSG_NOSIGNAL);
    if (k < 0) {
        if (errno == EAGAIN)
            return 0;
        die("send");
    }
    e->wdone += (uint64_t)k;
    return (int)(k > 0);
}

static int do_read(end_t *e)
{
    size_t n = rnd(BIG);
    ssize_t k = recv(e->fd, rbuf, n, 0);
    if (k < 0) {
        if (errno == EAGAIN)
            return 0;
        die("recv");
    }
    if (k == 0) {
        if (e->rdone != e->rtotal) {
            fprintf(stderr, "tunnel_xfer: %s: EOF after %llu of %llu bytes\n", e->name,
                    (unsigned long long)e->rdone, (unsigned long long)e->rtotal);
            exit(1);
        }
        e->reof = true;
        return 1;
    }
    if (e->rdone + (uint64_t)k > e->rtotal) {
        fprintf(stderr, "tunnel_xfer: %s: more than %llu bytes\n", e->name,
                (unsigned long long)e->rtotal);
        exit(1);
    }
    gen(e->rseed, e->rdone, want, (size_t)k);
    if (memcmp(want, rbuf, (size_t)k) != 0) {
        size_t i = 0;
        while (want[i] == rbuf[i])
            i++;
        fprintf(stderr, "tunnel_xfer: %s: byte %llu differs\n", e->name,
                (unsigned long long)(e->rdone + i));
        exit(1);
    }
    e->rdone += (uint64_t)k;
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: tunnel_xfer PROXY_PORT LISTEN_FD UP_PORT C2U U2C SEED "
                        "[--order both|c-first|u-first] [--pause-at N]\n");
        return 2;
    }
    int pport = atoi(argv[1]), lfd = atoi(argv[2]), uport = atoi(argv[3]);
    uint64_t c2u = strtoull(argv[4], NULL, 10), u2c = strtoull(argv[5], NULL, 10);
    uint64_t seed = strtoull(argv[6], NULL, 10);
    const char *order = "both";
    uint64_t pause_at = UINT64_MAX;
    for (int i = 7; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--order") == 0)
            order = argv[i + 1];
        else if (strcmp(argv[i], "--pause-at") == 0)
            pause_at = strtoull(argv[i + 1], NULL, 10);
    }
    rng_state ^= mix(seed);
    setvbuf(stdout, NULL, _IONBF, 0);

    int cfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)pport)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(cfd, (struct sockaddr *)&sa, sizeof sa) != 0)
        die("connect to the proxy");
    char head[256];
    int hl = snprintf(head, sizeof head,
                      "CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", uport, uport);
    if (send(cfd, head, (size_t)hl, 0) != hl)
        die("send CONNECT");
    /* the reply head, byte by byte: nothing of the tunnel is read */
    char resp[1024];
    size_t rl = 0;
    while (rl < sizeof resp - 1 && !(rl >= 4 && memcmp(resp + rl - 4, "\r\n\r\n", 4) == 0)) {
        ssize_t k = recv(cfd, resp + rl, 1, 0);
        if (k <= 0)
            die("the proxy's reply");
        rl++;
    }
    resp[rl] = '\0';
    if (strncmp(resp, "HTTP/1.1 200", 12) != 0) {
        fprintf(stderr, "tunnel_xfer: CONNECT refused: %.80s\n", resp);
        return 1;
    }
    int ufd = accept(lfd, NULL, NULL);
    if (ufd < 0)
        die("accept");
    fcntl(cfd, F_SETFL, O_NONBLOCK);
    fcntl(ufd, F_SETFL, O_NONBLOCK);

    end_t cl = {.fd = cfd,
                .name = "client",
                .wseed = seed * 2 + 1,
                .wtotal = c2u,
                .rseed = seed * 2 + 2,
                .rtotal = u2c};
    end_t up = {.fd = ufd,
                .name = "upstream",
                .wseed = seed * 2 + 2,
                .wtotal = u2c,
                .rseed = seed * 2 + 1,
                .rtotal = c2u};
    cl.wgo = strcmp(order, "u-first") != 0;
    up.wgo = strcmp(order, "c-first") != 0;
    bool paused = false, stalled_said = false;
    int64_t up_last_progress = now_ms();

    while (!(cl.reof && up.reof && cl.wshut && up.wshut)) {
        if (!cl.wgo && cl.reof)
            cl.wgo = true; /* u-first: the client has read the upstream's EOF */
        if (!up.wgo && up.reof)
            up.wgo = true; /* c-first: the upstream has read the client's EOF */
        if (!paused && cl.rdone >= pause_at && pause_at != UINT64_MAX) {
            paused = true;
            up_last_progress = now_ms();
        }
        struct pollfd pf[3] = {
            {.fd = cfd, .events = 0}, {.fd = ufd, .events = 0}, {.fd = -1, .events = 0}};
        if (!cl.reof && !paused)
            pf[0].events |= POLLIN;
        if (cl.wgo && !cl.wshut)
            pf[0].events |= POLLOUT;
        if (!up.reof)
            pf[1].events |= POLLIN;
        if (up.wgo && !up.wshut)
            pf[1].events |= POLLOUT;
        if (paused && stalled_said) {
            pf[2].fd = 0;
            pf[2].events = POLLIN;
        }
        int r = poll(pf, 3, paused ? 50 : 5000);
        if (r < 0 && errno != EINTR)
            die("poll");
        if (r == 0 && !paused) {
            fprintf(stderr, "tunnel_xfer: no progress for 5 s (c2u %llu/%llu, u2c %llu/%llu)\n",
                    (unsigned long long)up.rdone, (unsigned long long)c2u,
                    (unsigned long long)cl.rdone, (unsigned long long)u2c);
            return 1;
        }
        if (pf[0].revents & (POLLIN | POLLHUP | POLLERR) && !cl.reof && !paused)
            do_read(&cl);
        if (pf[1].revents & (POLLIN | POLLHUP | POLLERR) && !up.reof)
            do_read(&up);
        if (pf[0].revents & (POLLOUT | POLLERR) && cl.wgo)
            do_write(&cl);
        if (pf[1].revents & (POLLOUT | POLLERR) && up.wgo && do_write(&up))
            up_last_progress = now_ms();
        if (cl.wgo && cl.wdone == cl.wtotal && !cl.wshut)
            do_write(&cl);
        if (up.wgo && up.wdone == up.wtotal && !up.wshut)
            do_write(&up);
        if (paused && !stalled_said && now_ms() - up_last_progress >= 300) {
            printf("STALLED %llu\n", (unsigned long long)up.wdone);
            stalled_said = true;
        }
        if (paused && stalled_said && (pf[2].revents & (POLLIN | POLLHUP))) {
            char line[64];
            if (read(0, line, sizeof line) < 0)
                die("stdin");
            paused = false;
            pause_at = UINT64_MAX;
        }
    }
    printf("OK c2u=%llu u2c=%llu\n", (unsigned long long)up.rdone, (unsigned long long)cl.rdone);
    return 0;
}
