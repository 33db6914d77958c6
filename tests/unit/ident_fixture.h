/*
 * ident_fixture.h: helpers shared by test_ident.c, test_ident_cache.c and
 * test_ident_scan.c (header-only, like unit.h; each test file is its own
 * binary): files and hashes; connections on loopback made in this process;
 * children that exec a binary keeping one of its sockets.
 */
#ifndef TOLLGATE_IDENT_FIXTURE_H
#define TOLLGATE_IDENT_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <openssl/evp.h>

#include "proxy/px_internal.h"

/* SHA-256 of a whole file, computed here without the cache. */
static inline void sha256_of(const char *path, char hex[65])
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
    unsigned char buf[4096], d[32];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        EVP_DigestUpdate(ctx, buf, n);
    unsigned int dl = 0;
    EVP_DigestFinal_ex(ctx, d, &dl);
    EVP_MD_CTX_free(ctx);
    fclose(f);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

static inline void link_of(const char *path, char *out, size_t n)
{
    ssize_t r = readlink(path, out, n - 1);
    assert_true(r > 0);
    out[r] = '\0';
}

static inline const char *sleep_path(void)
{
    static char p[PATH_MAX];
    assert_non_null(realpath("/bin/sleep", p));
    return p;
}

static inline double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static inline void make_tmpdir(char dir[64])
{
    snprintf(dir, 64, "/tmp/test_ident.XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static inline void write_file(const char *path, const void *data, size_t n, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    close(fd);
}

/* ---- connections and children ------------------------------------------------- */

/* One connection made in this process: listener, client, accepted end. */
typedef struct {
    int lfd, cfd, afd;
    struct sockaddr_storage peer, local; /* getpeername / getsockname of afd */
} conn_t;

static inline void sa_set(struct sockaddr_storage *ss, socklen_t *len, int family, const char *addr,
                          uint16_t port)
{
    memset(ss, 0, sizeof *ss);
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        assert_int_equal(inet_pton(AF_INET, addr, &in->sin_addr), 1);
        *len = sizeof *in;
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        assert_int_equal(inet_pton(AF_INET6, addr, &in6->sin6_addr), 1);
        *len = sizeof *in6;
    }
}

static inline uint16_t sa_port(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)ss)->sin_port);
    return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

/* Listens on laddr:0 (lfam), connects from a cfam socket to caddr:<port>.
 * Returns -1 when the listener cannot bind (no such address here). All fds
 * are close-on-exec. */
static inline int conn_open(conn_t *c, int lfam, const char *laddr, int cfam, const char *caddr)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int zero = 0;
    c->lfd = socket(lfam, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(c->lfd >= 0);
    if (lfam == AF_INET6)
        setsockopt(c->lfd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    sa_set(&ss, &len, lfam, laddr, 0);
    if (bind(c->lfd, (struct sockaddr *)&ss, len) != 0) {
        close(c->lfd);
        return -1;
    }
    assert_int_equal(listen(c->lfd, 8), 0);
    len = sizeof ss;
    assert_int_equal(getsockname(c->lfd, (struct sockaddr *)&ss, &len), 0);
    uint16_t port = sa_port(&ss);
    c->cfd = socket(cfam, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(c->cfd >= 0);
    sa_set(&ss, &len, cfam, caddr, port);
    assert_int_equal(connect(c->cfd, (struct sockaddr *)&ss, len), 0);
    c->afd = accept4(c->lfd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(c->afd >= 0);
    len = sizeof c->peer;
    assert_int_equal(getpeername(c->afd, (struct sockaddr *)&c->peer, &len), 0);
    len = sizeof c->local;
    assert_int_equal(getsockname(c->afd, (struct sockaddr *)&c->local, &len), 0);
    return 0;
}

static inline void conn_close(conn_t *c)
{
    if (c->cfd >= 0)
        close(c->cfd);
    close(c->afd);
    close(c->lfd);
}

/* Sends fd over the unix socket sock (SCM_RIGHTS): in flight, the socket has no holder. */
static inline void send_fd(int sock, int fd)
{
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int))];
    } u;
    memset(&u, 0, sizeof u);
    char one = 'x';
    struct iovec iov = {.iov_base = &one, .iov_len = 1};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    assert_int_equal(sendmsg(sock, &m, 0), 1);
}

static inline int ident_lookup(px_ident_cache_t *cache, const conn_t *c, px_ident_t *id,
                               char *reason, size_t n)
{
    return px_ident_lookup(cache, (const struct sockaddr *)&c->peer,
                           (const struct sockaddr *)&c->local, id, reason, n);
}

/* Forks; the child keeps `keep` open as fd 9 and execs exe with argv.
 * Returns once the exec happened (a close-on-exec pipe reads EOF). */
static inline pid_t spawn_argv(int keep, const char *exe, char *const argv[])
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    /* the write end must not be fd 9, which the child's dup2 replaces (the
     * parent would see EOF before the exec) */
    int w = fcntl(p[1], F_DUPFD_CLOEXEC, 10);
    assert_true(w >= 10);
    close(p[1]);
    p[1] = w;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        if (keep == 9)
            fcntl(keep, F_SETFD, 0);
        else
            dup2(keep, 9); /* the copy is not close-on-exec */
        execv(exe, argv);
        int e = errno;
        (void)!write(p[1], &e, sizeof e);
        _exit(127);
    }
    close(p[1]);
    int e = 0;
    ssize_t n = read(p[0], &e, sizeof e);
    close(p[0]);
    assert_int_equal(n, 0); /* exec succeeded */
    return pid;
}

/* exe run as "sleep 30", keeping `keep`. */
static inline pid_t spawn_keeping(int keep, const char *exe)
{
    char *const argv[] = {"sleep", "30", NULL};
    return spawn_argv(keep, exe, argv);
}

static inline void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    assert_non_null(in);
    static char bin[4 << 20];
    size_t n = fread(bin, 1, sizeof bin, in);
    assert_true(n < sizeof bin);
    fclose(in);
    write_file(to, bin, n, 0755);
}

static inline void reap(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

#endif
