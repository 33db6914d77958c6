/*
 * netns.c: doing one thing inside another network namespace from the
 * calling thread (setns there and back), and sockets bound in one.
 *
 * setns(CLONE_NEWNET) moves only the calling thread, so a threadpool
 * worker can take a sandbox's identity lookup and come back. A thread that
 * cannot come back aborts: it would go on serving from inside a sandbox.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/bypass.h"

int px_netns_run(int netns_fd, int (*fn)(void *arg), void *arg)
{
    if (netns_fd <= 0)
        return fn(arg);
    int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0)
        return -errno;
    if (setns(netns_fd, CLONE_NEWNET) != 0) {
        int e = errno;
        close(self);
        return -e;
    }
    int rc = fn(arg);
    if (setns(self, CLONE_NEWNET) != 0) {
        fprintf(stderr, "[proxy:netns] cannot return to the gateway's network namespace: %s\n",
                strerror(errno));
        abort();
    }
    close(self);
    return rc;
}

typedef struct {
    int type, port;
    struct sockaddr_storage sa;
    socklen_t salen;
    const char *ip;
    char *err;
    size_t errlen;
} sock_args_t;

static int make_socket(void *arg)
{
    sock_args_t *a = arg;
    int fd = socket(a->sa.ss_family, a->type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(a->err, a->errlen, "socket: %s", strerror(errno));
        return -errno;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (a->sa.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    const char *step = "bind";
    if (bind(fd, (struct sockaddr *)&a->sa, a->salen) != 0 ||
        (a->type == SOCK_STREAM && (step = "listen", listen(fd, 128) != 0))) {
        int e = errno;
        snprintf(a->err, a->errlen, "%s %s:%d: %s", step, a->ip, a->port, strerror(e));
        close(fd);
        return -e;
    }
    return fd;
}

int px_netns_socket(int netns_fd, int type, const char *ip, int port, char *err, size_t errlen)
{
    sock_args_t a = {.type = type, .port = port, .ip = ip, .err = err, .errlen = errlen};
    struct sockaddr_in *in = (struct sockaddr_in *)&a.sa;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a.sa;
    err[0] = '\0';
    bool ok = (type == SOCK_STREAM || type == SOCK_DGRAM) && port >= 0 && port <= 65535;
    if (ok && inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        a.salen = sizeof *in;
    } else if (ok && inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        a.salen = sizeof *in6;
    } else {
        snprintf(err, errlen, "bad socket request %s:%d", ip, port);
        return -EINVAL;
    }
    int rc = px_netns_run(netns_fd, make_socket, &a);
    if (rc < 0 && !err[0])
        snprintf(err, errlen, "enter the network namespace: %s", strerror(-rc));
    return rc;
}
