/*
 * hec_io.c: the HEC sink's HTTP driver: one libcurl multi handle on the
 * sink's private uv_loop (curl_multi_socket_action, a uv_poll per socket
 * curl opens, one uv_timer for curl's timeouts, a tick so a blocked loop
 * still sees *stop). hec.c decides what to send and what replies mean.
 *
 * Threads: the exporter's only (the loop is private to the sink). The
 * multi handle keeps its connections alive between requests.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <uv.h>

#include "exporters/hec/hec_internal.h"
#include "ocsf/ocsf.h"

typedef struct {
    uv_poll_t poll;
    curl_socket_t fd;
    hec_t *h;
} hec_sock_t;

static const atomic_bool hec__never;

static bool hec__stopping(const hec_t *h)
{
    return atomic_load(h->common.stop ? h->common.stop : &hec__never);
}

/* ---- libcurl multi on the private uv loop -------------------------------- */

static void hec__check_done(hec_t *h)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(h->multi, &left)))
        if (m->msg == CURLMSG_DONE) {
            h->result = m->data.result;
            h->done = true;
        }
}

static void hec__on_poll(uv_poll_t *p, int status, int events)
{
    hec_sock_t *c = p->data;
    hec_t *h = c->h;
    int flags = 0, running;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(h->multi, c->fd, flags, &running); /* may free c */
    hec__check_done(h);
}

static void hec__free_handle(uv_handle_t *handle)
{
    free(handle->data);
}

static int hec__on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)e;
    hec_t *h = userp;
    hec_sock_t *c = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (c) {
            uv_poll_stop(&c->poll);
            uv_close((uv_handle_t *)&c->poll, hec__free_handle);
            curl_multi_assign(h->multi, s, NULL);
        }
        return 0;
    }
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c)
            abort();
        c->fd = s;
        c->h = h;
        if (uv_poll_init_socket(&h->loop, &c->poll, s) != 0) {
            free(c);
            return -1;
        }
        c->poll.data = c;
        curl_multi_assign(h->multi, s, c);
    }
    int ev = ((what & CURL_POLL_IN) ? UV_READABLE : 0) | ((what & CURL_POLL_OUT) ? UV_WRITABLE : 0);
    return uv_poll_start(&c->poll, ev, hec__on_poll) == 0 ? 0 : -1;
}

static void hec__on_curl_timer(uv_timer_t *t)
{
    hec_t *h = t->data;
    int running;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    hec__check_done(h);
}

static int hec__set_timer(CURLM *m, long ms, void *userp)
{
    (void)m;
    hec_t *h = userp;
    if (ms < 0)
        uv_timer_stop(&h->curl_timer);
    else
        uv_timer_start(&h->curl_timer, hec__on_curl_timer, (uint64_t)ms, 0);
    return 0;
}

/* The tick only wakes uv_run so the callers see *stop. */
static void hec__on_tick(uv_timer_t *t)
{
    (void)t;
}

static void hec__on_wait(uv_timer_t *t)
{
    ((hec_t *)t->data)->waited = true;
}

/* Sleeps ms on the loop; false when stopping. */
bool hec__sleep(hec_t *h, uint64_t ms)
{
    h->waited = false;
    uv_timer_start(&h->wait, hec__on_wait, ms, 0);
    uv_timer_start(&h->tick, hec__on_tick, HEC_STOP_POLL_MS, HEC_STOP_POLL_MS);
    while (!h->waited && !hec__stopping(h))
        uv_run(&h->loop, UV_RUN_ONCE);
    uv_timer_stop(&h->wait);
    uv_timer_stop(&h->tick);
    return h->waited;
}

static size_t hec__on_body(char *p, size_t size, size_t n, void *userp)
{
    hec_t *h = userp;
    size_t len = size * n;
    if (h->resp.len < HEC_RESP_MAX)
        ocsf_buf_put(&h->resp, p,
                     len < HEC_RESP_MAX - h->resp.len ? len : HEC_RESP_MAX - h->resp.len);
    return len;
}

/* One request on the loop: GET url when body is NULL, else POST body.
 * Fills h->status and h->resp. CURLE_ABORTED_BY_CALLBACK when stopping. */
CURLcode hec__perform(hec_t *h, const char *url, const ocsf_buf_t *body, bool gz)
{
    CURL *e = h->easy;
    const hec_config_t *c = h->cfg;
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->curl_err);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, hec__on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, gz ? h->hdr_gzip : h->hdr_plain);
    if (hec__set(c->ca_file))
        curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
    if (c->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (body) {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body->p);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
        h->m_bytes += body->len;
    }
    h->curl_err[0] = 0;
    h->resp.len = 0;
    h->status = 0;
    h->done = false;
    h->m_requests++;
    uv_timer_start(&h->tick, hec__on_tick, HEC_STOP_POLL_MS, HEC_STOP_POLL_MS);
    if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
        uv_timer_stop(&h->tick);
        return CURLE_FAILED_INIT;
    }
    while (!h->done && !hec__stopping(h))
        uv_run(&h->loop, UV_RUN_ONCE);
    curl_multi_remove_handle(h->multi, e);
    uv_timer_stop(&h->tick);
    if (!h->done)
        return CURLE_ABORTED_BY_CALLBACK;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &h->status);
    if (h->result != CURLE_OK)
        h->m_errors++;
    return h->result;
}

/* err = what + curl's reason (curl's text names our own host and port). */
void hec__curl_err(hec_t *h, CURLcode rc, const char *what, char *err, size_t errlen)
{
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    const char *why = h->curl_err[0] ? h->curl_err : curl_easy_strerror(rc);
    ocsf_text_escape(&b, why, strlen(why), 200, OCSF_ESC_MSG);
    snprintf(err, errlen, "%s: %s", what, ocsf_buf_cstr(&b));
    ocsf_buf_dispose(&b);
}

static void hec__close_walk(uv_handle_t *handle, void *arg)
{
    (void)arg;
    if (!uv_is_closing(handle))
        uv_close(handle, handle->type == UV_POLL ? hec__free_handle : NULL);
}

int hec__start_io(hec_t *h)
{
    uv_timer_init(&h->loop, &h->curl_timer);
    uv_timer_init(&h->loop, &h->tick);
    uv_timer_init(&h->loop, &h->wait);
    h->curl_timer.data = h->tick.data = h->wait.data = h;
    if (!(h->multi = curl_multi_init()) || !(h->easy = curl_easy_init()))
        return -ENOMEM;
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, hec__on_socket);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, hec__set_timer);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    return 0;
}

void hec__io_free(hec_t *h, bool loop_up)
{
    if (h->easy)
        curl_easy_cleanup(h->easy);
    if (h->multi)
        curl_multi_cleanup(h->multi); /* closes the kept-alive connections */
    if (loop_up) {
        uv_walk(&h->loop, hec__close_walk, NULL);
        uv_run(&h->loop, UV_RUN_DEFAULT);
        uv_loop_close(&h->loop);
    }
}
