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
    struct in_addr ip;
    char *err;
    size_t errlen;
} sock_args_t;

static int make_socket(void *arg)
{
    sock_args_t *a = arg;
    int fd = socket(AF_INET, a->type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(a->err, a->errlen, "socket: %s", strerror(errno));
        return -errno;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sin = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)a->port), .sin_addr = a->ip};
    const char *step = "bind";
    if (bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0 ||
        (a->type == SOCK_STREAM && (step = "listen", listen(fd, 128) != 0))) {
        int e = errno;
        char ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &a->ip, ip, sizeof ip);
        snprintf(a->err, a->errlen, "%s %s:%d: %s", step, ip, a->port, strerror(e));
        close(fd);
        return -e;
    }
    return fd;
}

int px_netns_socket(int netns_fd, int type, const char *ip, int port, char *err, size_t errlen)
{
    sock_args_t a = {.type = type, .port = port, .err = err, .errlen = errlen};
    err[0] = '\0';
    if ((type != SOCK_STREAM && type != SOCK_DGRAM) || port < 0 || port > 65535 ||
        inet_pton(AF_INET, ip, &a.ip) != 1) {
        snprintf(err, errlen, "bad socket request %s:%d", ip, port);
        return -EINVAL;
    }
    int rc = px_netns_run(netns_fd, make_socket, &a);
    if (rc < 0 && !err[0])
        snprintf(err, errlen, "enter the network namespace: %s", strerror(-rc));
    return rc;
}
