/*
 * relay_splice.c: a plain CONNECT tunnel (not inspected: nothing needs to
 * see its bytes) relayed with splice(2) through one pipe per direction,
 * socket -> pipe -> socket, so the bytes never enter user space.
 *
 * Driving splice from the loop. libuv owns the fds of the uv_tcp_t
 * handles and keys its epoll watchers by fd number; a second watcher on
 * the same fd would clash with the stream's (uv_poll_init refuses a
 * watched fd, uv_close of the stream deletes the fd's epoll registration).
 * So each socket is dup()ed and a uv_poll_t watches the duplicate: epoll
 * registrations are per (fd, open file description), so the duplicate's
 * registration is its own. libuv's reads of both streams are stopped
 * (none was started: the head reader stopped at the head) and the splice
 * starts only once the streams' write queues are empty (the "200
 * Connection Established" and any bytes that came with the CONNECT head
 * go first, through uv_write): from then on no byte passes through libuv.
 * The stream's own epoll registration may still fire once; libuv finds no
 * watcher for it and deletes it. The streams stay open (uv_close at the
 * connection's end closes the original fds); the duplicates are closed in
 * the polls' close callbacks, the pipes at teardown.
 *
 * Per direction: fill (splice socket -> pipe, up to the pipe's free
 * capacity) and drain (splice pipe -> other socket), repeated while either
 * moves bytes (at most PUMP_ROUNDS per wakeup; epoll is level-triggered).
 * Interest: READABLE on the source while its pipe has room and it has not
 * ended; WRITABLE on the destination while its pipe holds bytes. A fill
 * that gets EAGAIN while the pipe holds bytes may mean the pipe ran out of
 * slots (one slot per socket buffer fragment, not per page): the source is
 * not polled again until a drain (no busy loop, no stall: the drain is
 * waited for). So per tunnel at most two pipes of PX__PIPE bytes (kernel
 * memory, counted in px_t) and nothing in user space: a slow reader stops
 * the reading of the other side through the full pipe.
 *
 * EOF from a side: once its pipe is drained, shutdown(SHUT_WR) toward the
 * other side (the half-close of the copy relay); the tunnel ends when both
 * directions are shut. A read or write error (reset, EPIPE) closes the
 * connection, as in the copy relay. Byte counts: bytes_in as read from the
 * upstream, bytes_out as written to it (NET:CLOSE carries both).
 *
 * Fallback: when a pipe or dup cannot be made (EMFILE...), the tunnel uses
 * the copy relay (relay.c) for its life. TOLLGATE_PROXY_SPLICE=0 in the
 * environment (read at px_create) always uses the copy relay (tests, the
 * bench's "before").
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/px_internal.h"

#define PUMP_ROUNDS 16

enum { SIDE_CLIENT = 0, SIDE_UP = 1 };

typedef struct {
    int r, w;  /* the pipe's ends */
    size_t n;  /* bytes in the pipe */
    bool eof;  /* the source ended */
    bool full; /* fill got EAGAIN with bytes in the pipe: wait for a drain */
    bool shut; /* SHUT_WR sent toward the destination */
} sp_dir_t;

struct px__splice {
    px_conn_t *c;
    uv_poll_t poll[2]; /* on fd[SIDE_CLIENT], fd[SIDE_UP] */
    int fd[2];         /* the duplicated sockets */
    int events[2];     /* the polls' current interest */
    bool polling[2];
    sp_dir_t dir[2]; /* [SIDE_CLIENT]: client -> upstream; [SIDE_UP]: upstream -> client */
    size_t cap;      /* each pipe's capacity */
    bool started;
    int open; /* poll handles not yet closed */
};

static void pipe_close(sp_dir_t *d)
{
    if (d->r >= 0)
        close(d->r);
    if (d->w >= 0)
        close(d->w);
    d->r = d->w = -1;
}

static int make_pipe(sp_dir_t *d, size_t *cap)
{
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
        return -1;
    d->r = fds[0];
    d->w = fds[1];
    /* may fail (over the user's pipe-user-pages-soft): the default stays */
    (void)fcntl(d->w, F_SETPIPE_SZ, (int)PX__PIPE);
    int sz = fcntl(d->w, F_GETPIPE_SZ);
    if (sz <= 0) {
        pipe_close(d);
        return -1;
    }
    if ((size_t)sz < *cap)
        *cap = (size_t)sz;
    return 0;
}

static int dup_fd(uv_tcp_t *t)
{
    uv_os_fd_t fd;
    if (!t || uv_fileno((uv_handle_t *)t, &fd) != 0)
        return -1;
    return fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

/* Closes the pipes and the duplicated fds from fd[from] on. */
static void release(px__splice_t *sp, int from)
{
    for (int i = 0; i < 2; i++) {
        pipe_close(&sp->dir[i]);
        if (i >= from && sp->fd[i] >= 0)
            close(sp->fd[i]);
        if (i >= from)
            sp->fd[i] = -1;
    }
}

static void on_failed_poll_closed(uv_handle_t *h)
{
    px__splice_t *sp = h->data;
    close(sp->fd[0]);
    free(sp);
}

bool px__splice_prepare(px_conn_t *c)
{
    px_t *p = c->px;
    if (p->no_splice)
        return false;
    /* The open-file budget (proxy.max_connections, which the gateway sizes
     * from RLIMIT_NOFILE) counts two fds per connection; a spliced tunnel
     * holds six more (two dups, two pipes). Splice only while the proxy's
     * fds stay within 2 x max_connections, so accept() and dial() never
     * meet EMFILE because of pipes: past it, the copy relay. */
    if (2 * p->st.active + 6 * ((uint64_t)p->splice_live + 1) > 2 * (uint64_t)p->cfg.max_conns) {
        p->splice_fallbacks++;
        return false;
    }
    px__splice_t *sp = calloc(1, sizeof *sp);
    if (!sp)
        return false;
    sp->c = c;
    sp->cap = PX__PIPE * 4; /* lowered to the smaller pipe's size */
    sp->dir[0].r = sp->dir[0].w = sp->dir[1].r = sp->dir[1].w = -1;
    sp->fd[0] = dup_fd(&c->client);
    sp->fd[1] = dup_fd(c->up);
    if (sp->fd[0] < 0 || sp->fd[1] < 0 || make_pipe(&sp->dir[0], &sp->cap) != 0 ||
        make_pipe(&sp->dir[1], &sp->cap) != 0)
        goto fail;
    if (uv_poll_init(p->loop, &sp->poll[0], sp->fd[0]) != 0)
        goto fail;
    sp->poll[0].data = sp;
    if (uv_poll_init(p->loop, &sp->poll[1], sp->fd[1]) != 0) {
        /* poll[0] is a handle now: sp lives until its close callback */
        release(sp, 1);
        uv_close((uv_handle_t *)&sp->poll[0], on_failed_poll_closed);
        p->splice_fallbacks++;
        return false;
    }
    sp->poll[1].data = sp;
    sp->open = 2;
    c->handles += 2;
    c->sp = sp;
    p->splice_tunnels++;
    p->splice_pipe_bytes += 2 * sp->cap;
    p->splice_live++;
    return true;
fail:
    p->splice_fallbacks++;
    release(sp, 0);
    free(sp);
    return false;
}

static void on_poll_closed(uv_handle_t *h)
{
    px__splice_t *sp = h->data;
    px_conn_t *c = sp->c;
    int i = h == (uv_handle_t *)&sp->poll[0] ? 0 : 1;
    close(sp->fd[i]);
    sp->fd[i] = -1;
    if (--sp->open == 0) {
        c->sp = NULL;
        free(sp);
    }
    c->handles--;
    px__conn_maybe_free(c);
}

void px__splice_close(px_conn_t *c)
{
    px__splice_t *sp = c->sp;
    if (!sp || sp->open < 2)
        return;
    c->px->splice_pipe_bytes -= 2 * sp->cap;
    c->px->splice_live--;
    for (int i = 0; i < 2; i++) {
        pipe_close(&sp->dir[i]);
        uv_close((uv_handle_t *)&sp->poll[i], on_poll_closed);
    }
}

/* Moves what it can in one direction. -1: an error (the caller closes). */
static int pump(px__splice_t *sp, int d, bool *moved_any)
{
    px_conn_t *c = sp->c;
    sp_dir_t *D = &sp->dir[d];
    int src = sp->fd[d], dst = sp->fd[!d];
    for (int round = 0; round < PUMP_ROUNDS; round++) {
        bool moved = false;
        if (D->n) {
            ssize_t k = splice(D->r, NULL, dst, NULL, D->n, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (k > 0) {
                D->n -= (size_t)k;
                D->full = false;
                if (d == SIDE_CLIENT)
                    c->bytes_out += (uint64_t)k;
                moved = true;
            } else if (k < 0 && errno != EAGAIN && errno != EINTR) {
                return -1;
            }
        }
        if (!D->eof && !D->full && D->n < sp->cap) {
            ssize_t k =
                splice(src, NULL, D->w, NULL, sp->cap - D->n, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (k > 0) {
                D->n += (size_t)k;
                if (d == SIDE_UP)
                    c->bytes_in += (uint64_t)k;
                moved = true;
            } else if (k == 0) {
                D->eof = true;
                moved = true;
            } else if (errno == EAGAIN) {
                /* the socket is empty, or the pipe is out of slots: either
                 * way a drain comes first when the pipe holds bytes */
                if (D->n)
                    D->full = true;
            } else if (errno != EINTR) {
                return -1;
            }
        }
        if (!moved)
            break;
        *moved_any = true;
    }
    if (D->eof && D->n == 0 && !D->shut) {
        D->shut = true;
        shutdown(dst, SHUT_WR); /* an error here shows up on the next read or write */
    }
    return 0;
}

static void on_poll(uv_poll_t *h, int status, int events);

/* The interest of both polls from the directions' states. */
static void rearm(px__splice_t *sp)
{
    for (int side = 0; side < 2; side++) {
        const sp_dir_t *out = &sp->dir[side], *in = &sp->dir[!side];
        int ev = 0;
        if (!out->eof && !out->full && out->n < sp->cap)
            ev |= UV_READABLE; /* side is the source of dir[side] */
        if (in->n)
            ev |= UV_WRITABLE; /* side is the destination of dir[!side] */
        if (ev == sp->events[side] && sp->polling[side] == (ev != 0))
            continue;
        sp->events[side] = ev;
        sp->polling[side] = ev != 0;
        if (ev)
            uv_poll_start(&sp->poll[side], ev, on_poll);
        else
            uv_poll_stop(&sp->poll[side]);
    }
}

static void step(px__splice_t *sp)
{
    px_conn_t *c = sp->c;
    bool moved = false;
    if (pump(sp, SIDE_CLIENT, &moved) != 0 || pump(sp, SIDE_UP, &moved) != 0) {
        px__conn_close(c);
        return;
    }
    if (moved)
        uv_timer_again(&c->timer);
    if (sp->dir[0].shut && sp->dir[1].shut) {
        px__conn_close(c); /* both ways ended and flushed */
        return;
    }
    rearm(sp);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    px__splice_t *sp = h->data;
    (void)events;
    if (sp->c->closing)
        return;
    if (status < 0) {
        px__conn_close(sp->c);
        return;
    }
    step(sp);
}

bool px__splice_waiting(px_conn_t *c)
{
    return c->sp && !c->sp->started;
}

void px__splice_go(px_conn_t *c)
{
    px__splice_t *sp = c->sp;
    if (!sp || sp->started || c->closing)
        return;
    sp->started = true;
    step(sp);
}
