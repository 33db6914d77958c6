/*
 * remote.c: `tollgate proxy --sandbox NAME --gateway URL`, the proxy as its
 * own process.
 *
 * - Policy: a control thread long-polls GET /v1/sandboxes/NAME/policy/watch,
 *   compiles each new version and hands the index to the loop (uv_async);
 *   it reports `loaded` or `failed` back (POST .../policy/status).
 * - Events: a local collector (spool in STATE/proxy-NAME/spool) keeps them;
 *   a shipper thread sends them in order with POST /v1/events and advances
 *   an on-disk cursor only after the gateway's 200 (sent after the events
 *   are durable there). A gateway restart or outage loses nothing; after a
 *   crash of this process the last batch may be sent twice (at least once).
 * - Pinned binary hashes: STATE/proxy-NAME/pins.json.
 * - TLS interception: the CA of STATE (STATE/ca, tls_ca.c), made on first
 *   use; the same as the gateway's when both use one state directory.
 *
 * Threads: the loop (proxy, index swap), the control thread and the
 * shipper thread (libcurl, blocking), the collector's writer.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "proxy/px_internal.h"
#include "proxy/remote.h"
#include "collector/collector.h"

typedef struct {
    px_remote_config_t cfg;
    uv_loop_t loop;
    uv_async_t swap;
    uv_signal_t sigint, sigterm;
    px_t *px;
    px_ca_t *ca;
    col_t *col;
    pthread_t control, shipper;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    _Atomic bool stopping;
    pol_index_t *index, *pending; /* pending: handed over by the control thread */
    uint64_t version, pending_version;
    json_t *pins;
    char dir[4096], pins_path[4200], cursor_path[4200];
    char url[2048], token[65], hostname[256], proxy_id[64];
} rm_t;

static size_t sink(char *p, size_t size, size_t nmemb, void *ctx)
{
    ocsf_buf_put(ctx, p, size * nmemb);
    return size * nmemb;
}

/* libcurl's progress callback: a stop request ends a long poll at once. */
static int progress(void *ctx, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    return ((rm_t *)ctx)->stopping ? 1 : 0;
}

/* One blocking request; *status 0 when the gateway could not be reached. */
static void call(rm_t *r, const char *method, const char *path, const char *body, size_t len,
                 long timeout, long *status, ocsf_buf_t *out)
{
    CURL *h = curl_easy_init();
    char url[4096], auth[128];
    snprintf(url, sizeof url, "%s%s", r->url, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", r->token);
    struct curl_slist *hd = curl_slist_append(NULL, auth);
    *status = 0;
    out->len = 0;
    if (!h) {
        curl_slist_free_all(hd);
        return;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, r);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    ocsf_buf_cstr(out);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
}

static void nap(rm_t *r, int ms)
{
    for (int i = 0; i < ms / 50 && !r->stopping; i++)
        usleep(50000);
}

/* ---- policy: the control thread ------------------------------------------------------ */

static void report(rm_t *r, uint64_t version, const char *err)
{
    char path[512];
    long st;
    ocsf_buf_t out;
    ocsf_buf_init(&out);
    json_t *o = json_pack("{s:s,s:I,s:s}", "proxy", r->proxy_id, "version", (json_int_t)version,
                          "status", err ? "failed" : "loaded");
    if (err)
        json_object_set_new(o, "error", json_string(err));
    char *b = json_dumps(o, JSON_COMPACT);
    snprintf(path, sizeof path, "/v1/sandboxes/%s/policy/status", r->cfg.sandbox);
    call(r, "POST", path, b, strlen(b), 10, &st, &out);
    free(b);
    json_decref(o);
    ocsf_buf_dispose(&out);
}

/* A watch reply: compile its policy and hand it to the loop. */
static void load(rm_t *r, const char *reply)
{
    json_error_t e;
    char err[512];
    json_t *o = json_loads(reply, 0, &e);
    const char *yaml = json_string_value(json_object_get(o, "yaml"));
    uint64_t v = (uint64_t)json_integer_value(json_object_get(o, "version"));
    pol_policy_t *p =
        yaml ? pol_parse_yaml(yaml, strlen(yaml), "gateway", true, err, sizeof err) : NULL;
    pol_index_t *ix = p ? pol_index_build(p) : NULL;
    pol_policy_destroy(p);
    if (!ix) {
        report(r, v, yaml ? err : "the gateway's reply has no policy");
    } else {
        pthread_mutex_lock(&r->mu);
        pol_index_destroy(r->pending); /* an older one the loop has not taken */
        r->pending = ix;
        r->pending_version = v;
        pthread_mutex_unlock(&r->mu);
        uv_async_send(&r->swap);
        report(r, v, NULL);
    }
    json_decref(o);
}

static void *control_main(void *arg)
{
    rm_t *r = arg;
    uint64_t have = 0;
    ocsf_buf_t out;
    ocsf_buf_init(&out);
    while (!r->stopping) {
        char path[512];
        long st;
        snprintf(path, sizeof path, "/v1/sandboxes/%s/policy/watch?after=%llu&wait=%d",
                 r->cfg.sandbox, (unsigned long long)have, have ? 25 : 0);
        call(r, "GET", path, NULL, 0, 40, &st, &out);
        if (st != 200) {
            if (st)
                fprintf(stderr, "[proxy:control] the gateway said %ld for sandbox %s\n", st,
                        r->cfg.sandbox);
            nap(r, 1000);
            continue;
        }
        json_error_t e;
        json_t *o = json_loads(out.p, 0, &e);
        uint64_t v = (uint64_t)json_integer_value(json_object_get(o, "version"));
        json_decref(o);
        if (v > have) {
            load(r, out.p);
            have = v;
        }
    }
    ocsf_buf_dispose(&out);
    return NULL;
}

static void on_swap(uv_async_t *a)
{
    rm_t *r = a->data;
    pthread_mutex_lock(&r->mu);
    if (r->pending) {
        pol_index_destroy(r->index); /* no decision holds it: decisions are synchronous */
        r->index = r->pending;
        r->version = r->pending_version;
        r->pending = NULL;
    }
    pthread_mutex_unlock(&r->mu);
}

/* ---- events: the shipper thread ------------------------------------------------------ */

static uint64_t cursor_load(rm_t *r)
{
    FILE *f = fopen(r->cursor_path, "r");
    unsigned long long v = 0;
    if (f) {
        if (fscanf(f, "%llu", &v) != 1)
            v = 0;
        fclose(f);
    }
    return v;
}

static void cursor_save(rm_t *r, uint64_t seq)
{
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp", r->cursor_path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    fprintf(f, "%llu\n", (unsigned long long)seq);
    fflush(f);
    fsync(fileno(f));
    fclose(f);
    rename(tmp, r->cursor_path);
}

static int batch_cb(const col_record_t *rec, void *ctx)
{
    ocsf_buf_t *b = ctx;
    ocsf_buf_put(b, rec->json, rec->json_len);
    ocsf_buf_putc(b, '\n');
    return b->len > (4u << 20) ? 1 : 0;
}

static void on_commit(void *ctx)
{
    rm_t *r = ctx;
    pthread_mutex_lock(&r->mu);
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->mu);
}

static void *shipper_main(void *arg)
{
    rm_t *r = arg;
    uint64_t done = cursor_load(r);
    int backoff = 500;
    ocsf_buf_t body, out;
    ocsf_buf_init(&body);
    ocsf_buf_init(&out);
    col_filter_t f;
    col_filter_init(&f);
    while (!r->stopping || col_written_seq(r->col) > done) {
        uint64_t next;
        body.len = 0;
        col_read(r->col, &f, done + 1, 2000, batch_cb, &body, &next);
        if (body.len == 0) {
            pthread_mutex_lock(&r->mu);
            if (!r->stopping && col_written_seq(r->col) <= done) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 200000000;
                if (ts.tv_nsec >= 1000000000)
                    ts.tv_sec++, ts.tv_nsec -= 1000000000;
                pthread_cond_timedwait(&r->cond, &r->mu, &ts);
            }
            pthread_mutex_unlock(&r->mu);
            if (r->stopping && col_written_seq(r->col) <= done)
                break;
            continue;
        }
        long st;
        call(r, "POST", "/v1/events", body.p, body.len, 60, &st, &out);
        if (st == 200 || st == 400) { /* 400: every line refused: never retried */
            if (st == 400 || strstr(out.p ? out.p : "", "\"rejected\":0") == NULL)
                fprintf(stderr, "[proxy:shipper] the gateway refused events: %.300s\n",
                        out.p ? out.p : "");
            done = next - 1;
            cursor_save(r, done);
            backoff = 500;
        } else {
            if (r->stopping && !st)
                break; /* the gateway is gone: the events stay in the local spool */
            nap(r, backoff);
            backoff = backoff < 8000 ? backoff * 2 : 8000;
        }
    }
    ocsf_buf_dispose(&body);
    ocsf_buf_dispose(&out);
    return NULL;
}

/* ---- hooks ---------------------------------------------------------------------------- */

static const pol_index_t *hook_policy(void *ctx, uint64_t *version)
{
    rm_t *r = ctx;
    *version = r->version;
    return r->index;
}

static void hook_emit(void *ctx, ocsf_event_t *ev)
{
    rm_t *r = ctx;
    char err[256];
    if (col_append(r->col, ev, NULL, err, sizeof err) != 0)
        fprintf(stderr, "[proxy] event: %s\n", err);
}

static int hook_pin(void *ctx, const char *path, const char *sha256, char pinned[65])
{
    rm_t *r = ctx;
    const char *have = json_string_value(json_object_get(r->pins, path));
    if (have && strcmp(have, sha256) != 0) {
        snprintf(pinned, 65, "%s", have);
        return -EPERM;
    }
    if (!have) {
        json_object_set_new(r->pins, path, json_string(sha256));
        json_dump_file(r->pins, r->pins_path, JSON_INDENT(1) | JSON_SORT_KEYS);
    }
    return 0;
}

static void on_signal(uv_signal_t *s, int signum)
{
    rm_t *r = s->data;
    (void)signum;
    r->stopping = true;
    px_destroy(r->px);
    r->px = NULL;
    uv_close((uv_handle_t *)&r->sigint, NULL);
    uv_close((uv_handle_t *)&r->sigterm, NULL);
    uv_close((uv_handle_t *)&r->swap, NULL);
}

static int setup(rm_t *r, const char *state, char *err, size_t errlen)
{
    snprintf(r->dir, sizeof r->dir, "%s/proxy-%s", state, r->cfg.sandbox);
    mkdir(state, 0700);
    if (mkdir(r->dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "mkdir %s: %s", r->dir, strerror(errno));
        return -errno;
    }
    snprintf(r->pins_path, sizeof r->pins_path, "%s/pins.json", r->dir);
    snprintf(r->cursor_path, sizeof r->cursor_path, "%s/shipped", r->dir);
    json_error_t e;
    r->pins = json_load_file(r->pins_path, 0, &e);
    if (!r->pins)
        r->pins = json_object();
    if (gethostname(r->hostname, sizeof r->hostname) != 0)
        snprintf(r->hostname, sizeof r->hostname, "localhost");
    snprintf(r->proxy_id, sizeof r->proxy_id, "%.40s-%d", r->hostname, (int)getpid());
    if (!(r->ca = px_ca_open(state, err, errlen))) /* STATE/ca: the key stays there */
        return -EPERM;
    char spool[4300];
    snprintf(spool, sizeof spool, "%s/spool", r->dir);
    col_config_t cc;
    col_config_default(&cc);
    cc.spool_dir = spool;
    cc.hostname = ocsf_str(r->hostname);
    return col_create(&cc, &r->col, err, errlen);
}

int px_remote_run(const px_remote_config_t *cfg, char *err, size_t errlen)
{
    rm_t *r = calloc(1, sizeof *r);
    int rc;
    if (!r)
        return -ENOMEM;
    r->cfg = *cfg;
    snprintf(r->url, sizeof r->url, "%s", cfg->gateway);
    snprintf(r->token, sizeof r->token, "%s", cfg->token);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cond, NULL);
    if ((rc = setup(r, cfg->state, err, errlen)) != 0)
        goto out;
    uv_loop_init(&r->loop);
    uv_async_init(&r->loop, &r->swap, on_swap);
    r->swap.data = r;
    px_hooks_t h = {.ctx = r,
                    .policy = hook_policy,
                    .emit = hook_emit,
                    .pin = hook_pin,
                    .sandbox_name = cfg->sandbox,
                    .sandbox_uid = NULL,
                    .hostname = r->hostname,
                    .ca = r->ca};
    if ((rc = px_create(&r->loop, cfg->px, &h, &r->px, err, errlen)) != 0) {
        uv_close((uv_handle_t *)&r->swap, NULL);
        uv_run(&r->loop, UV_RUN_DEFAULT);
        goto out_col;
    }
    fprintf(stderr, "[proxy] sandbox %s: listening on port %d, gateway %s\n", cfg->sandbox,
            px_port(r->px), r->url);
    col_subscribe(r->col, on_commit, r);
    pthread_create(&r->control, NULL, control_main, r);
    pthread_create(&r->shipper, NULL, shipper_main, r);
    uv_signal_init(&r->loop, &r->sigint);
    uv_signal_init(&r->loop, &r->sigterm);
    r->sigint.data = r->sigterm.data = r;
    uv_signal_start(&r->sigint, on_signal, SIGINT);
    uv_signal_start(&r->sigterm, on_signal, SIGTERM);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    pthread_join(r->control, NULL);
    pthread_join(r->shipper, NULL);
    col_unsubscribe(r->col, on_commit, r);
    rc = 0;
out_col:
    uv_loop_close(&r->loop);
    col_destroy(r->col);
out:
    px_ca_destroy(r->ca);
    pol_index_destroy(r->index);
    pol_index_destroy(r->pending);
    json_decref(r->pins);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cond);
    free(r);
    return rc;
}
