/*
 * fuzz_http.c: the gateway's HTTP/1.1 server (gateway/http.h) on arbitrary
 * bytes from a real TCP client.
 *
 * On the first input: a libuv loop and a server on 127.0.0.1, port 0, whose
 * handler answers every request at once: 200 with a small body, or, for a
 * path starting with /stream, a chunked stream of three chunks, then the
 * end. A HEAD request gets Content-Type text/x-head, so the client knows
 * its response has no body.
 *
 * Per input: a non-blocking client connects, writes the input, shuts down
 * its write side and reads whatever comes back while the loop runs (uv_run
 * NOWAIT, polled), until the server closes or the budget ends; then it
 * closes (RST: no TIME_WAIT pile-up) and the loop runs until the server has
 * let go of the connection (or a second budget ends).
 *
 * Invariants (abort() on the first one broken):
 *  - no crash, no ASan/UBSan report (the point);
 *  - the bytes the server sends parse as HTTP/1.1 responses (http_parser in
 *    response mode, the parser the server itself uses), each starting with
 *    "HTTP/1.1 " and a 3-digit status; nothing after a Connection: close
 *    response; a response the server cut short and then closed cleanly
 *    (FIN, not reset) counts as broken;
 *  - the request the handler gets obeys http.h: method, path and query are
 *    strings, the body is NUL-terminated at its length, gw_http_param
 *    returns a length that matches or one of its errors;
 *  - every PROBE_EVERY inputs, a fresh GET /ok is answered 200 (the server
 *    still accepts), and the server drains to no connections at all within
 *    DRAIN_MS (no connection is kept after its client is gone).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>
#include <uv.h>

#include "fuzz/check.h"
#include "gateway/http.h"

#define EXCHANGE_MS 50   /* per input: write, read, until the server closes */
#define SETTLE_MS   20   /* per input: until the server let go of the connection */
#define PROBE_EVERY 64   /* inputs between two GET /ok probes */
#define DRAIN_MS    3000 /* at a probe: > the idle timeout + linger below */
#define IDLE_MS     1000 /* the server's idle timeout (also caps its linger) */
#define MAX_HEAD    8192 /* small limits, so that 431 and 413 (also mid-body, */
#define MAX_BODY    8192 /* chunked) are within -max_len */
#define RX_MAX      (4u << 20)

static const char HEAD_TYPE[] = "text/x-head";

static uv_loop_t loop;
static gw_http_server_t *srv;
static int port;
static unsigned long inputs, exchanges_cut, settles_cut;

/* ---- the server ---------------------------------------------------------- */

static void check_request(gw_http_req_t *r)
{
    const char *m = gw_http_method(r), *path = gw_http_path(r), *q = gw_http_query(r);
    if (!m || !path || !q)
        chk_fail("a dispatched request lacks its method, path or query", NULL, 0, 0);
    (void)strlen(m);
    (void)strlen(path);
    (void)strlen(q);
    size_t len = 0;
    const char *body = gw_http_body(r, &len);
    if (len && !body)
        chk_fail("a request body of non-zero length is NULL", NULL, 0, 0);
    if (body && body[len] != '\0')
        chk_fail("a request body is not NUL-terminated at its length", body, len, 0);
    static const char *const names[] = {"Host",   "Content-Length", "Transfer-Encoding",
                                        "Expect", "Connection",     "Authorization"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *h = gw_http_header(r, names[i]);
        if (h)
            (void)strlen(h);
    }
    static const char *const params[] = {"a", "limit", "sandbox", ""};
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
        char buf[32];
        int n = gw_http_param(r, params[i], buf, sizeof buf);
        if (n >= 0 ? (size_t)n >= sizeof buf || strlen(buf) != (size_t)n
                   : n != -ENOENT && n != -ENOSPC && n != -EINVAL)
            chk_fail("gw_http_param broke its contract", q, strlen(q), 0);
    }
    (void)strlen(gw_http_peer(r));
}

static void handler(gw_http_req_t *r, void *ctx)
{
    (void)ctx;
    check_request(r);
    bool head = strcmp(gw_http_method(r), "HEAD") == 0;
    const char *type = head ? HEAD_TYPE : "text/plain";
    if (strncmp(gw_http_path(r), "/stream", 7) == 0) {
        if (gw_http_stream_begin(r, 200, type) == 0)
            for (int i = 0; i < 3; i++)
                if (gw_http_stream_write(r, "chunk\n", 6) != 0)
                    break;
        gw_http_stream_end(r);
        return;
    }
    gw_http_respond(r, 200, type, NULL, "ok\n", 3);
}

static void start_server(void)
{
    char err[256];
    if (uv_loop_init(&loop) != 0)
        chk_fail("uv_loop_init failed", NULL, 0, 0);
    gw_http_config_t cfg = {.host = "127.0.0.1",
                            .port = 0,
                            .max_head = MAX_HEAD,
                            .max_body = MAX_BODY,
                            .idle_timeout_ms = IDLE_MS};
    if (gw_http_server_create(&loop, &cfg, handler, NULL, &srv, err, sizeof err) != 0)
        chk_fail("gw_http_server_create failed", err, strlen(err), 0);
    port = gw_http_server_port(srv);
}

/* ---- time and the loop ------------------------------------------------------ */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void count_handle(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        ++*(int *)arg;
}

/* Handles the server holds besides its listener (2 per connection). */
static int server_handles(void)
{
    int n = 0;
    uv_walk(&loop, count_handle, &n);
    return n - 1;
}

/* Waits up to `ms` for the client fd (events) or the loop, then runs the
 * loop once without blocking. */
static void step(int fd, short events, int ms)
{
    int t = uv_backend_timeout(&loop);
    if (t < 0 || t > ms)
        t = ms;
    struct pollfd p[2] = {{.fd = uv_backend_fd(&loop), .events = POLLIN},
                          {.fd = fd, .events = events}};
    poll(p, fd >= 0 ? 2 : 1, t);
    uv_run(&loop, UV_RUN_NOWAIT);
}

/* ---- the client ------------------------------------------------------------- */

typedef struct {
    http_parser p;
    http_parser_settings s;
    char *rx;
    size_t len, cap, off; /* received; parsed up to off */
    bool at_start;        /* off is where a response must begin */
    bool head_type, in_type;
    size_t responses;
    int first_status;
} client_rx_t;

static int rx_header_field(http_parser *p, const char *at, size_t n)
{
    client_rx_t *c = p->data;
    c->in_type = n == 12 && strncasecmp(at, "Content-Type", 12) == 0;
    return 0;
}

static int rx_header_value(http_parser *p, const char *at, size_t n)
{
    client_rx_t *c = p->data;
    if (c->in_type && n == sizeof HEAD_TYPE - 1 && memcmp(at, HEAD_TYPE, n) == 0)
        c->head_type = true;
    return 0;
}

static int rx_headers_complete(http_parser *p)
{
    client_rx_t *c = p->data;
    bool skip = c->head_type; /* the answer to a HEAD: no body follows */
    c->head_type = c->in_type = false;
    return skip ? 1 : 0;
}

static int rx_message_complete(http_parser *p)
{
    client_rx_t *c = p->data;
    if (c->responses++ == 0)
        c->first_status = (int)p->status_code;
    http_parser_pause(p, 1); /* so that the next response's start is known */
    return 0;
}

static void rx_init(client_rx_t *c)
{
    memset(c, 0, sizeof *c);
    http_parser_init(&c->p, HTTP_RESPONSE);
    c->p.data = c;
    http_parser_settings_init(&c->s);
    c->s.on_header_field = rx_header_field;
    c->s.on_header_value = rx_header_value;
    c->s.on_headers_complete = rx_headers_complete;
    c->s.on_message_complete = rx_message_complete;
    c->at_start = true;
}

static bool is_status_line_start(const char *p)
{
    return memcmp(p, "HTTP/1.1 ", 9) == 0 && p[9] >= '1' && p[9] <= '5' && p[10] >= '0' &&
           p[10] <= '9' && p[11] >= '0' && p[11] <= '9' && p[12] == ' ';
}

/* Parses what arrived. At eof (the server closed cleanly), what is left
 * must be whole responses. */
static void rx_parse(client_rx_t *c, bool eof)
{
    while (c->off < c->len) {
        if (c->at_start) {
            if (c->len - c->off < 13)
                break;
            if (!is_status_line_start(c->rx + c->off))
                chk_fail("a response does not start with \"HTTP/1.1 NNN \"", c->rx, c->len, c->off);
            c->at_start = false;
        }
        size_t n = http_parser_execute(&c->p, &c->s, c->rx + c->off, c->len - c->off);
        c->off += n;
        enum http_errno e = HTTP_PARSER_ERRNO(&c->p);
        if (e == HPE_PAUSED) {
            http_parser_pause(&c->p, 0);
            c->at_start = true;
        } else if (e != HPE_OK) {
            char msg[160];
            snprintf(msg, sizeof msg, "the server sent broken HTTP (%s: %s)", http_errno_name(e),
                     http_errno_description(e));
            chk_fail(msg, c->rx, c->len, c->off ? c->off - 1 : 0);
        }
    }
    if (!eof)
        return;
    if (c->at_start && c->off < c->len)
        chk_fail("the server closed inside a status line", c->rx, c->len, c->off);
    if (!c->at_start) {
        http_parser_execute(&c->p, &c->s, NULL, 0); /* EOF: ends a body read until close */
        enum http_errno e = HTTP_PARSER_ERRNO(&c->p);
        if (e != HPE_OK && e != HPE_PAUSED)
            chk_fail("the server closed inside a response", c->rx, c->len, c->off);
    }
}

/* Reads what is there. 1: the server closed (FIN), -1: reset, 0: open. */
static int rx_read(int fd, client_rx_t *c)
{
    for (;;) {
        if (c->cap - c->len < 4096) {
            if (c->cap >= RX_MAX)
                chk_fail("the server sent more than 4 MiB for one input", NULL, 0, 0);
            c->cap = c->cap ? 2 * c->cap : 16384;
            c->rx = realloc(c->rx, c->cap);
            if (!c->rx)
                abort();
        }
        ssize_t n = recv(fd, c->rx + c->len, c->cap - c->len, 0);
        if (n > 0) {
            c->len += (size_t)n;
            continue;
        }
        if (n == 0)
            return 1;
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
    }
}

static int client_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        chk_fail("client socket() failed", NULL, 0, 0);
    struct linger lg = {.l_onoff = 1, .l_linger = 0}; /* close with RST: no TIME_WAIT */
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS)
        chk_fail("client connect() failed", NULL, 0, 0);
    return fd;
}

/* Writes data, shuts down the write side, reads until the server closes
 * or budget_ms passes. Returns 1 (FIN), -1 (reset) or 0 (out of time). */
static int exchange(int fd, const uint8_t *data, size_t size, client_rx_t *rx, int budget_ms)
{
    size_t off = 0;
    bool shut = false;
    int64_t end = now_ms() + budget_ms;
    for (;;) {
        while (off < size) {
            ssize_t n = send(fd, data + off, size - off, MSG_NOSIGNAL);
            if (n > 0) {
                off += (size_t)n;
            } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINPROGRESS ||
                       errno == ENOTCONN || errno == EINTR) {
                break;
            } else {
                off = size; /* the server went away; read what it said */
                shut = true;
            }
        }
        if (off == size && !shut) {
            shutdown(fd, SHUT_WR); /* fails only when the server already went away */
            shut = true;
        }
        int r = rx_read(fd, rx);
        rx_parse(rx, r == 1);
        if (r != 0)
            return r;
        int64_t left = end - now_ms();
        if (left <= 0)
            return 0;
        step(fd, (short)(POLLIN | (off < size ? POLLOUT : 0)), left > 5 ? 5 : (int)left);
    }
}

/* Runs the loop until the server holds no connection or ms pass. */
static bool settle(int ms)
{
    int64_t end = now_ms() + ms;
    for (;;) {
        if (server_handles() == 0)
            return true;
        int64_t left = end - now_ms();
        if (left <= 0)
            return false;
        step(-1, 0, left > 50 ? 50 : (int)left);
    }
}

static void probe(void)
{
    static const char req[] = "GET /ok HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n";
    if (!settle(DRAIN_MS)) {
        char msg[128];
        snprintf(msg, sizeof msg,
                 "%d server handles remain %d ms after their clients closed (a connection is "
                 "never let go)",
                 server_handles(), DRAIN_MS);
        chk_fail(msg, NULL, 0, 0);
    }
    client_rx_t rx;
    rx_init(&rx);
    int fd = client_connect();
    int r = exchange(fd, (const uint8_t *)req, sizeof req - 1, &rx, DRAIN_MS);
    close(fd);
    if (r != 1 || rx.responses != 1 || rx.first_status != 200)
        chk_fail("the server no longer answers GET /ok with 200", rx.rx, rx.len, 0);
    free(rx.rx);
}

static void report(void)
{
    fprintf(stderr,
            "fuzz_http: %lu inputs; %lu exchanges ran out of time; %lu connections outlived "
            "their input\n",
            inputs, exchanges_cut, settles_cut);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!srv) {
        start_server();
        atexit(report);
        probe();
    }
    client_rx_t rx;
    rx_init(&rx);
    int fd = client_connect();
    if (exchange(fd, data, size, &rx, EXCHANGE_MS) == 0)
        exchanges_cut++;
    close(fd);
    free(rx.rx);
    if (!settle(SETTLE_MS))
        settles_cut++;
    if (++inputs % PROBE_EVERY == 0)
        probe();
    return 0;
}
