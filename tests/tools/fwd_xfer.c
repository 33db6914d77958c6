/*
 * fwd_xfer: both ends of forwarded plain-HTTP transfers, for measuring the
 * proxy's relay of Content-Length bodies (tests/tools/fwd_bench.py).
 *
 *   fwd_xfer serve LISTEN_FD
 *       an HTTP/1.1 keep-alive upstream on an inherited listening socket:
 *       each request's Content-Length body is read and dropped; the reply
 *       has a body of as many bytes as the request target's "n=" says
 *       ("GET /?n=268435456"), sent with write(2) from a 1 MiB buffer.
 *       A process per connection (a proxy keeps idle ones); runs until
 *       killed.
 *   fwd_xfer get PROXY_PORT UP_PORT RESP_BYTES REQ_BYTES ROUNDS
 *       the client: ROUNDS requests on one keep-alive connection, each
 *       with a REQ_BYTES body (POST; GET when 0) and a RESP_BYTES reply,
 *       through the proxy (absolute form), or straight to the upstream
 *       when PROXY_PORT is 0. Every reply is checked (status 200, length).
 *       Prints "bytes=<moved both ways> secs=<wall> MBps=<rate>".
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static char buf[1 << 20];

static int xwrite(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Reads a head (to the blank line) into h; what came after it in *extra. */
static int read_head(int fd, char *h, size_t cap, size_t *len, size_t *extra)
{
    size_t n = 0;
    for (;;) {
        ssize_t k = read(fd, h + n, cap - 1 - n);
        if (k <= 0)
            return -1;
        n += (size_t)k;
        h[n] = '\0';
        char *e = strstr(h, "\r\n\r\n");
        if (e) {
            *len = (size_t)(e + 4 - h);
            *extra = n - *len;
            return 0;
        }
        if (n + 1 >= cap)
            return -1;
    }
}

static uint64_t header_u64(const char *h, const char *name)
{
    const char *p = strcasestr(h, name);
    return p ? strtoull(p + strlen(name), NULL, 10) : 0;
}

/* Reads and drops n bytes (already: bytes of them in hand). */
static int drain(int fd, uint64_t n, uint64_t already)
{
    n -= already < n ? already : n;
    while (n) {
        ssize_t k = read(fd, buf, n < sizeof buf ? n : sizeof buf);
        if (k <= 0)
            return -1;
        n -= (uint64_t)k;
    }
    return 0;
}

static int send_n(int fd, uint64_t n)
{
    while (n) {
        size_t k = n < sizeof buf ? n : sizeof buf;
        if (xwrite(fd, buf, k) != 0)
            return -1;
        n -= k;
    }
    return 0;
}

static void serve(int ls)
{
    char h[16384];
    for (;;) {
        int fd = accept(ls, NULL, NULL);
        if (fd < 0)
            continue;
        if (fork() != 0) {
            close(fd);
            continue;
        }
        close(ls);
        size_t len, extra;
        while (read_head(fd, h, sizeof h, &len, &extra) == 0) {
            uint64_t body = header_u64(h, "\r\ncontent-length:");
            uint64_t n = header_u64(h, "n=");
            if (extra > body || drain(fd, body, extra) != 0)
                break;
            char head[128];
            int hl = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %llu\r\n\r\n",
                              (unsigned long long)n);
            if (xwrite(fd, head, (size_t)hl) != 0 || send_n(fd, n) != 0)
                break;
        }
        _exit(0);
    }
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int get(int proxy, int up, uint64_t resp, uint64_t req, int rounds)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(proxy ? proxy : up)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("connect");
        return 1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char h[16384], target[128];
    if (proxy)
        snprintf(target, sizeof target, "http://127.0.0.1:%d/?n=%llu", up,
                 (unsigned long long)resp);
    else
        snprintf(target, sizeof target, "/?n=%llu", (unsigned long long)resp);
    double t0 = now();
    for (int i = 0; i < rounds; i++) {
        int hl = snprintf(h, sizeof h, "%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: %llu\r\n\r\n",
                          req ? "POST" : "GET", target, (unsigned long long)req);
        size_t len, extra;
        if (xwrite(fd, h, (size_t)hl) != 0 || send_n(fd, req) != 0 ||
            read_head(fd, h, sizeof h, &len, &extra) != 0) {
            fprintf(stderr, "round %d: the exchange failed\n", i);
            return 1;
        }
        uint64_t n = header_u64(h, "\r\ncontent-length:");
        if (strncmp(h, "HTTP/1.1 200", 12) != 0 || n != resp || extra > n ||
            drain(fd, n, extra) != 0) {
            fprintf(stderr, "round %d: bad reply: %.200s\n", i, h);
            return 1;
        }
    }
    double secs = now() - t0;
    double bytes = (double)(resp + req) * rounds;
    printf("bytes=%.0f secs=%.3f MBps=%.0f\n", bytes, secs, bytes / secs / 1e6);
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    memset(buf, 'x', sizeof buf);
    if (argc == 3 && strcmp(argv[1], "serve") == 0) {
        signal(SIGCHLD, SIG_IGN); /* no zombies */
        serve(atoi(argv[2]));
        return 0;
    }
    if (argc == 7 && strcmp(argv[1], "get") == 0)
        return get(atoi(argv[2]), atoi(argv[3]), strtoull(argv[4], NULL, 10),
                   strtoull(argv[5], NULL, 10), atoi(argv[6]));
    fprintf(stderr, "usage: fwd_xfer serve LISTEN_FD | get PROXY_PORT UP_PORT RESP_BYTES "
                    "REQ_BYTES ROUNDS\n");
    return 2;
}
