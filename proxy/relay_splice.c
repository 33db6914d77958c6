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
 *
 * Forwarded bodies (px__splice_body): a plain-HTTP request or response body
 * framed by Content-Length, PX__SPLICE_BODY_MIN bytes or more still to
 * come, is spliced the same way in its one direction, for exactly `len`
 * bytes (relay.c asks for all but the body's last byte: that byte goes
 * through the copy relay and its parser, which so sees the body end and
 * whatever follows it, as without splice). relay.c stops libuv's reads of
 * the source first; the splice starts once the destination's write queue
 * is empty (px__splice_kick from on_written). A fill never asks for more
 * than the bytes left, so no byte past them leaves the socket. When the
 * bytes are out (or the upstream stops taking a request body)
 * px__fwd_body_spliced hands the direction back to relay.c; the object
 * (dups, polls, pipes) is torn down as soon as no direction is spliced, so
 * an upstream is never pooled or closed under a poll. The source's EOF
 * mid-body closes the connection once the bytes that came are out; an
 * error closes it at once (what the copy relay does in both cases).
 * The fd budget is the tunnels' (6 fds per object; the pipe of a direction
 * is made when that direction is first spliced).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/px_internal.h"

#define PUMP_ROUNDS 16

enum { SIDE_CLIENT = PX__BODY_REQ, SIDE_UP = PX__BODY_RESP };

typedef struct {
    int r, w;      /* the pipe's ends */
    size_t cap;    /* its capacity */
    size_t n;      /* bytes in the pipe */
    bool eof;      /* the source ended */
    bool full;     /* fill got EAGAIN with bytes in the pipe: wait for a drain */
    bool shut;     /* SHUT_WR sent toward the destination */
    bool on;       /* spliced now (a tunnel: both ways; a body: its one) */
    bool started;  /* the destination's write queue was empty: bytes may move */
    bool dst_err;  /* the last pump failed writing to the destination */
    uint64_t left; /* a body: bytes still to take from the source */
    uint64_t len;  /* a body: bytes asked for */
} sp_dir_t;

struct px__splice {
    px_conn_t *c;
    uv_poll_t poll[2]; /* on fd[SIDE_CLIENT], fd[SIDE_UP] */
    int fd[2];         /* the duplicated sockets */
    int events[2];     /* the polls' current interest */
    bool polling[2];
    sp_dir_t dir[2]; /* [SIDE_CLIENT]: client -> upstream; [SIDE_UP]: upstream -> client */
    bool body;       /* a forwarded body's (else a tunnel's) */
    bool started;
    int open; /* poll handles not yet closed */
};

static void pipe_close(px_t *p, sp_dir_t *d)
{
    if (d->r >= 0) {
        p->splice_pipe_bytes -= d->cap;
        close(d->r);
    }
    if (d->w >= 0)
        close(d->w);
    d->r = d->w = -1;
    d->cap = d->n = 0;
}

static int make_pipe(px_t *p, sp_dir_t *d)
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
        close(d->r);
        close(d->w);
        d->r = d->w = -1;
        return -1;
    }
    d->cap = (size_t)sz;
    p->splice_pipe_bytes += d->cap;
    return 0;
}

static int dup_fd(uv_tcp_t *t)
{
    uv_os_fd_t fd;
    if (!t || uv_fileno((uv_handle_t *)t, &fd) != 0)
        return -1;
    return fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

static void on_failed_poll_closed(uv_handle_t *h)
{
    px__splice_t *sp = h->data;
    close(sp->fd[0]);
    free(sp);
}

/* The splice state of c: a dup of each socket and a poll on each (the
 * pipes are made by the caller). NULL, counted as a fallback, when it
 * cannot be made or the open-file budget says no. */
static px__splice_t *sp_new(px_conn_t *c, bool body)
{
    px_t *p = c->px;
    /* The open-file budget (proxy.max_connections, which the gateway sizes
     * from RLIMIT_NOFILE) counts two fds per connection; a spliced tunnel
     * or body holds six more (two dups, two pipes). Splice only while the
     * proxy's fds stay within 2 x max_connections, so accept() and dial()
     * never meet EMFILE because of pipes: past it, the copy relay. */
    if (2 * p->st.active + 6 * ((uint64_t)p->splice_live + 1) > 2 * (uint64_t)p->cfg.max_conns) {
        p->splice_fallbacks++;
        return NULL;
    }
    px__splice_t *sp = calloc(1, sizeof *sp);
    if (!sp) {
        p->splice_fallbacks++;
        return NULL;
    }
    sp->c = c;
    sp->body = body;
    sp->dir[0].r = sp->dir[0].w = sp->dir[1].r = sp->dir[1].w = -1;
    sp->fd[0] = dup_fd(&c->client);
    sp->fd[1] = dup_fd(c->up);
    if (sp->fd[0] < 0 || sp->fd[1] < 0 || uv_poll_init(p->loop, &sp->poll[0], sp->fd[0]) != 0) {
        for (int i = 0; i < 2; i++)
            if (sp->fd[i] >= 0)
                close(sp->fd[i]);
        free(sp);
        p->splice_fallbacks++;
        return NULL;
    }
    sp->poll[0].data = sp;
    if (uv_poll_init(p->loop, &sp->poll[1], sp->fd[1]) != 0) {
        /* poll[0] is a handle now: sp lives until its close callback */
        close(sp->fd[1]);
        uv_close((uv_handle_t *)&sp->poll[0], on_failed_poll_closed);
        p->splice_fallbacks++;
        return NULL;
    }
    sp->poll[1].data = sp;
    sp->open = 2;
    c->handles += 2;
    p->splice_live++;
    return sp;
}

bool px__splice_prepare(px_conn_t *c)
{
    px_t *p = c->px;
    if (p->no_splice)
        return false;
    px__splice_t *sp = sp_new(c, false);
    if (!sp)
        return false;
    c->sp = sp;
    if (make_pipe(p, &sp->dir[0]) != 0 || make_pipe(p, &sp->dir[1]) != 0) {
        px__splice_close(c);
        p->splice_fallbacks++;
        return false;
    }
    sp->dir[0].on = sp->dir[1].on = true;
    p->splice_tunnels++;
    return true;
}

static void on_poll_closed(uv_handle_t *h)
{
    px__splice_t *sp = h->data;
    px_conn_t *c = sp->c;
    int i = h == (uv_handle_t *)&sp->poll[0] ? 0 : 1;
    close(sp->fd[i]);
    sp->fd[i] = -1;
    if (--sp->open == 0)
        free(sp);
    c->handles--;
    px__conn_maybe_free(c);
}

/* Detaches c's splice state at once (c->sp is NULL after: a body's next
 * splice makes a new one); its polls and dups close on their own. */
void px__splice_close(px_conn_t *c)
{
    px__splice_t *sp = c->sp;
    if (!sp)
        return;
    c->sp = NULL;
    c->px->splice_live--;
    for (int i = 0; i < 2; i++) {
        pipe_close(c->px, &sp->dir[i]);
        sp->dir[i].on = false;
        uv_close((uv_handle_t *)&sp->poll[i], on_poll_closed);
    }
}

/* The source of D may be read into its pipe now. */
static bool can_fill(const px__splice_t *sp, const sp_dir_t *D)
{
    return D->on && D->started && !D->eof && !D->full && D->n < D->cap &&
           (!sp->body || D->left > 0);
}

/* Moves what it can in one direction. -1: an error (dst_err: writing to the
 * destination failed), or a body's source ended before its bytes did. */
static int pump(px__splice_t *sp, int d, bool *moved_any)
{
    px_conn_t *c = sp->c;
    sp_dir_t *D = &sp->dir[d];
    int src = sp->fd[d], dst = sp->fd[!d];
    if (!D->on || !D->started)
        return 0;
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
                D->dst_err = true;
                return -1;
            }
        }
        if (can_fill(sp, D)) {
            size_t want = D->cap - D->n;
            if (sp->body && want > D->left)
                want = (size_t)D->left; /* never a byte past the body's */
            ssize_t k = splice(src, NULL, D->w, NULL, want, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (k > 0) {
                D->n += (size_t)k;
                if (sp->body)
                    D->left -= (uint64_t)k;
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
    if (sp->body && D->eof && D->n == 0)
        return -1; /* the body was cut short: what came is out, then the close */
    if (!sp->body && D->eof && D->n == 0 && !D->shut) {
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
        if (can_fill(sp, out))
            ev |= UV_READABLE; /* side is the source of dir[side] */
        if (in->on && in->started && in->n)
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

/* A body's step after the pumps: the directions whose bytes are all out
 * (or whose upstream stopped taking a request body: failed) go back to
 * relay.c; with none left spliced the state goes (before relay.c reads a
 * byte of those sockets again, pools or closes the upstream). */
static void body_step(px__splice_t *sp, int failed)
{
    px_conn_t *c = sp->c;
    bool done[2] = {false, false};
    uint64_t len[2] = {0, 0};
    for (int d = 0; d < 2; d++) {
        sp_dir_t *D = &sp->dir[d];
        if (!D->on || !D->started || (d != failed && (D->left || D->n)))
            continue;
        done[d] = true;
        len[d] = D->len - D->left;
        D->on = false;
        if (d == failed)
            pipe_close(c->px, D); /* what it held is dropped */
    }
    if (!sp->dir[0].on && !sp->dir[1].on)
        px__splice_close(c);
    else
        rearm(sp);
    for (int d = 0; d < 2; d++)
        if (done[d] && !c->closing)
            px__fwd_body_spliced(c, d, len[d], d != failed);
}

static void step(px__splice_t *sp)
{
    px_conn_t *c = sp->c;
    bool moved = false;
    int failed = -1;
    for (int d = 0; d < 2; d++) {
        if (pump(sp, d, &moved) == 0)
            continue;
        if (sp->body && d == PX__BODY_REQ && sp->dir[d].dst_err && c->phase == PX_RELAY) {
            failed = d; /* the upstream stopped taking the request: as the copy relay */
            continue;
        }
        px__conn_close(c);
        return;
    }
    if (moved)
        uv_timer_again(&c->timer);
    if (sp->body) {
        body_step(sp, failed);
        return;
    }
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
    if (sp->c->closing || sp->c->sp != sp)
        return;
    if (status < 0 && !sp->body) {
        px__conn_close(sp->c);
        return;
    }
    if (status < 0) {
        /* POLLERR (libuv stopped the poll): a body's pump meets the error
         * itself and handles it as the copy relay would (an upstream that
         * stopped taking a request body still gets its reply relayed) */
        int side = h == &sp->poll[0] ? 0 : 1;
        sp->polling[side] = false;
        sp->events[side] = 0;
    }
    step(sp);
}

bool px__splice_waiting(px_conn_t *c)
{
    return c->sp && !c->sp->body && !c->sp->started;
}

void px__splice_go(px_conn_t *c)
{
    px__splice_t *sp = c->sp;
    if (!sp || sp->body || sp->started || c->closing)
        return;
    sp->started = sp->dir[0].started = sp->dir[1].started = true;
    step(sp);
}

bool px__splice_body(px_conn_t *c, int d, uint64_t len)
{
    px_t *p = c->px;
    if (p->no_splice || len == 0 || !c->up || c->closing)
        return false;
    px__splice_t *sp = c->sp;
    if (sp && (!sp->body || sp->dir[d].on))
        return false;
    if (!sp) {
        if (!(sp = sp_new(c, true)))
            return false;
        c->sp = sp;
    }
    sp_dir_t *D = &sp->dir[d];
    if (D->r < 0 && make_pipe(p, D) != 0) {
        p->splice_fallbacks++;
        if (!sp->dir[!d].on)
            px__splice_close(c);
        return false;
    }
    D->on = true;
    D->started = D->eof = D->full = D->shut = D->dst_err = false;
    D->n = 0;
    D->left = D->len = len;
    p->splice_bodies++;
    return true;
}

void px__splice_kick(px_conn_t *c)
{
    px__splice_t *sp = c->sp;
    if (!sp || !sp->body || c->closing)
        return;
    bool go = false;
    for (int d = 0; d < 2; d++) {
        sp_dir_t *D = &sp->dir[d];
        size_t queued = d == PX__BODY_REQ ? c->up_pending : c->client_pending;
        if (D->on && !D->started && queued == 0)
            go = D->started = true;
    }
    if (go)
        step(sp);
}

bool px__splice_reading(const px_conn_t *c, int d)
{
    return c->sp && c->sp->body && c->sp->dir[d].on;
}
