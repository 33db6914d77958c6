/*
 * upstream_pool.c: idle upstream connections of forwarded plain-HTTP
 * requests, kept for the next request of the same caller to the same place.
 *
 * Key (px__pool_key_t, all of it must match): the sandbox (a px_t serves
 * one, the name is in the key anyway), the calling binary (exe path and its
 * SHA-256: an upstream is never shared between binaries, nor with a caller
 * whose identity is unknown: such requests are never pooled), the
 * destination as decided (normalised host and port) and the address that
 * passed the SSRF guard for this request (a pooled connection is taken only
 * while dial_next holds that very address), and the policy version: after
 * a policy change no idle upstream is taken (they are closed as met).
 *
 * Every request is still decided (identity, policy, DNS, SSRF) before the
 * pool is asked; the pool only replaces the dial. An upstream goes back
 * (relay.c) after a complete response whose framing was known (not
 * close-delimited), without `Connection: close` either way, with nothing
 * left queued toward it and nothing past the response read from it. While
 * idle it is read: any byte or EOF closes it. Caps: PX__POOL_PER_KEY per
 * key, PX__POOL_MAX in all (the oldest goes), idle PX__POOL_IDLE_MS (or
 * proxy.idle_timeout when shorter).
 */
#include <stdlib.h>
#include <string.h>

#include "proxy/px_internal.h"

struct px__idle {
    px__idle_t *prev, *next; /* p->idle, newest first */
    px_t *px;
    uv_tcp_t *up;
    uv_timer_t timer;
    px__pool_key_t key;
    int closing; /* handles still to close */
};

bool px__pool_key_eq(const px__pool_key_t *a, const px__pool_key_t *b)
{
    return a->port == b->port && a->policy_version == b->policy_version &&
           strcmp(a->sandbox, b->sandbox) == 0 && strcmp(a->exe, b->exe) == 0 &&
           strcmp(a->sha256, b->sha256) == 0 && strcmp(a->host, b->host) == 0 &&
           strcmp(a->ip, b->ip) == 0;
}

static void copy(char *dst, size_t n, const char *src)
{
    size_t l = strlen(src);
    if (l >= n)
        l = n - 1;
    memcpy(dst, src, l);
    dst[l] = '\0';
}

bool px__pool_key_of(px_conn_t *c, px__pool_key_t *k)
{
    px_t *p = c->px;
    if (!c->ident || c->ident_rc != 0 || !c->ident->exe[0] || !c->ident->sha256[0] ||
        strlen(c->ident->exe) >= sizeof k->exe ||
        (p->cfg.sandbox && strlen(p->cfg.sandbox) >= sizeof k->sandbox))
        return false; /* an unnamed caller shares nothing; no key is cut short */
    memset(k, 0, sizeof *k);
    copy(k->sandbox, sizeof k->sandbox, p->cfg.sandbox ? p->cfg.sandbox : "");
    copy(k->exe, sizeof k->exe, c->ident->exe);
    copy(k->sha256, sizeof k->sha256, c->ident->sha256);
    copy(k->host, sizeof k->host, c->host);
    copy(k->ip, sizeof k->ip, c->ip);
    k->port = c->port;
    k->policy_version = 0;
    if (p->hooks.policy)
        p->hooks.policy(p->hooks.ctx, &k->policy_version);
    return true;
}

static void unlink_idle(px__idle_t *e)
{
    px_t *p = e->px;
    if (e->prev)
        e->prev->next = e->next;
    else
        p->idle = e->next;
    if (e->next)
        e->next->prev = e->prev;
    e->prev = e->next = NULL;
    p->nidle--;
}

static void on_idle_closed(uv_handle_t *h)
{
    px__idle_t *e = h->data;
    if (h != (uv_handle_t *)&e->timer)
        free(h);
    if (--e->closing == 0) {
        e->px->open--;
        free(e);
    }
}

static void idle_close(px__idle_t *e)
{
    unlink_idle(e);
    e->closing = 2;
    uv_close((uv_handle_t *)e->up, on_idle_closed);
    uv_close((uv_handle_t *)&e->timer, on_idle_closed);
}

static void idle_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    static char scratch[64];
    (void)h;
    (void)hint;
    *buf = uv_buf_init(scratch, sizeof scratch);
}

/* An idle upstream said something (bytes nobody asked for) or closed. */
static void idle_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    if (n == 0)
        return;
    idle_close(s->data);
}

static void idle_timeout(uv_timer_t *t)
{
    idle_close(t->data);
}

void px__pool_put(px_conn_t *c, const px__pool_key_t *k)
{
    px_t *p = c->px;
    uv_tcp_t *up = c->up;
    px__idle_t *e = calloc(1, sizeof *e);
    if (!e) {
        px__up_close(c);
        return;
    }
    uv_read_stop((uv_stream_t *)up);
    /* the handle leaves the connection */
    c->up = NULL;
    c->up_gen++;
    c->handles--;
    e->px = p;
    e->up = up;
    e->key = *k;
    up->data = e;
    uv_timer_init(p->loop, &e->timer);
    e->timer.data = e;
    p->open++;
    /* caps: the oldest of the key, then the oldest of all */
    int same = 0;
    px__idle_t *oldest_same = NULL, *last = NULL;
    for (px__idle_t *i = p->idle; i; i = i->next) {
        if (px__pool_key_eq(&i->key, k)) {
            same++;
            oldest_same = i;
        }
        last = i;
    }
    if (same >= PX__POOL_PER_KEY)
        idle_close(oldest_same);
    else if (p->nidle >= PX__POOL_MAX && last)
        idle_close(last);
    e->next = p->idle;
    if (p->idle)
        p->idle->prev = e;
    p->idle = e;
    p->nidle++;
    p->pool_put++;
    uint64_t ms = PX__POOL_IDLE_MS;
    if ((uint64_t)p->cfg.idle_timeout_ms < ms)
        ms = (uint64_t)p->cfg.idle_timeout_ms;
    uv_timer_start(&e->timer, idle_timeout, ms, 0);
    if (uv_read_start((uv_stream_t *)up, idle_alloc, idle_read) != 0)
        idle_close(e);
}

uv_tcp_t *px__pool_take(px_conn_t *c, const px__pool_key_t *k)
{
    px_t *p = c->px;
    for (px__idle_t *e = p->idle, *next; e; e = next) {
        next = e->next;
        if (e->key.policy_version != k->policy_version) {
            idle_close(e); /* kept under another policy: not taken again */
            continue;
        }
        if (!px__pool_key_eq(&e->key, k))
            continue;
        uv_tcp_t *up = e->up;
        uv_read_stop((uv_stream_t *)up);
        unlink_idle(e);
        e->closing = 1; /* the timer only: the handle goes to the connection */
        uv_close((uv_handle_t *)&e->timer, on_idle_closed);
        up->data = c;
        c->handles++;
        p->pool_hits++;
        return up;
    }
    return NULL;
}

void px__pool_close_all(px_t *p)
{
    while (p->idle)
        idle_close(p->idle);
}
