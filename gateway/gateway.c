/*
 * gateway.c: the gateway process: state directory, API token, the TLS
 * interception CA (proxy/tls_ca.c), the loop, the collector, signals,
 * LIFECYCLE events at start and stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/gw_internal.h"

static int mkdir_p(const char *path, mode_t mode)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, mode) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, mode) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int gw_state_dir(const char *flag, char *out, size_t n, char *err, size_t errlen)
{
    const char *env = getenv("TOLLGATE_STATE"), *xdg = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    int w;
    if (flag && *flag)
        w = snprintf(out, n, "%s", flag);
    else if (env && *env)
        w = snprintf(out, n, "%s", env);
    else if (xdg && *xdg)
        w = snprintf(out, n, "%s/tollgate", xdg);
    else if (home && *home)
        w = snprintf(out, n, "%s/.local/state/tollgate", home);
    else {
        snprintf(err, errlen, "no state directory: set TOLLGATE_STATE or pass --state DIR");
        return -ENOENT;
    }
    if (w < 0 || (size_t)w >= n || (size_t)w >= 3000) {
        snprintf(err, errlen, "state directory path too long");
        return -ENAMETOOLONG;
    }
    return 0;
}

static bool is_token(const char *s, size_t n)
{
    if (n != GW_TOKEN_HEX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789abcdef", s[i]) || !s[i])
            return false;
    return true;
}

static int token_create(const char *path, char tok[GW_TOKEN_HEX + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char rnd[GW_TOKEN_HEX / 2];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        return -EIO;
    for (size_t i = 0; i < sizeof rnd; i++)
        tok[2 * i] = hex[rnd[i] >> 4], tok[2 * i + 1] = hex[rnd[i] & 15];
    tok[GW_TOKEN_HEX] = '\0';
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    char line[GW_TOKEN_HEX + 1];
    memcpy(line, tok, GW_TOKEN_HEX);
    line[GW_TOKEN_HEX] = '\n';
    int rc = write(fd, line, sizeof line) == (ssize_t)sizeof line && fsync(fd) == 0 ? 0 : -EIO;
    close(fd);
    return rc;
}

int gw_token_load(const char *state_dir, bool create, char tok[GW_TOKEN_HEX + 1], char *err,
                  size_t errlen)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/token", state_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT && create) {
        int rc = token_create(path, tok);
        if (rc == 0)
            return 0;
        if (rc != -EEXIST) {
            snprintf(err, errlen, "create %s: %s", path, strerror(-rc));
            return rc;
        }
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW); /* another process won */
    }
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s%s", path, strerror(errno),
                 errno == ENOENT ? " (start one with `tollgate up`, or set TOLLGATE_TOKEN)" : "");
        return -errno;
    }
    struct stat st;
    char buf[GW_TOKEN_HEX + 2];
    ssize_t n = fstat(fd, &st) == 0 ? read(fd, buf, sizeof buf) : -1;
    close(fd);
    if (n >= 0 && (st.st_mode & 077) != 0) {
        snprintf(err, errlen, "%s: readable by others (mode %03o); chmod 600 it", path,
                 (unsigned)(st.st_mode & 0777));
        return -EPERM;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (n < 0 || !is_token(buf, (size_t)n)) {
        snprintf(err, errlen, "%s: not a tollgate token", path);
        return -EINVAL;
    }
    memcpy(tok, buf, GW_TOKEN_HEX);
    tok[GW_TOKEN_HEX] = '\0';
    return 0;
}

void gw__event_base(gw__t *g, ocsf_event_t *ev, int class_uid, int activity, int severity)
{
    ocsf_event_init(ev);
    ocsf_event_begin(ev, class_uid, activity, severity, 0, &g->product);
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    ev->time = tv.tv_sec * 1000 + tv.tv_usec / 1000;
    ev->log_name = OCSF_STR("gateway");
    ev->device_hostname = ocsf_str(g->hostname);
    ev->device_type_id = 0;
}

static void lifecycle(gw__t *g, int activity, const char *msg)
{
    ocsf_event_t ev;
    char err[128];
    gw__event_base(g, &ev, OCSF_CLASS_LIFECYCLE, activity, OCSF_SEV_INFO);
    ev.app = g->product;
    ev.status_id = OCSF_STATUS_SUCCESS;
    ev.message = ocsf_str(msg);
    if (col_append(g->col, &ev, NULL, err, sizeof err) != 0)
        fprintf(stderr, "[gateway] lifecycle event: %s\n", err);
}

static void on_wake(uv_async_t *a)
{
    gw__api_on_commit(a->data);
}

/* Runs on the collector's writer thread: only signal. */
static void on_commit(void *ctx)
{
    uv_async_send(ctx);
}

static void on_handle_closed(uv_handle_t *h)
{
    (void)h;
}

static void stop(gw__t *g);

static void on_signal(uv_signal_t *s, int signum)
{
    gw__t *g = s->data;
    if (g->stopping)
        return;
    fprintf(stderr, "[gateway] %s: stopping\n", signum == SIGINT ? "SIGINT" : "SIGTERM");
    stop(g);
}

/* Loop thread. Everything the loop runs is closed; uv_run then returns once
 * the last reply and threadpool item are done. Called for a signal, or when
 * the start failed half way (no signal, so nothing claims one was sent). */
static void stop(gw__t *g)
{
    g->stopping = true;
    gw__proxy_stop(g); /* its NET:CLOSE events first, while the collector runs */
    gw__net_stop(g);   /* the sandboxes' proxies, catchers and resolvers too */
    lifecycle(g, OCSF_APP_STOP, "gateway stopping");
    gw__api_stop(g);
    gw__waiters_stop(g);
    uv_close((uv_handle_t *)&g->tick, on_handle_closed);
    gw_http_server_destroy(g->http);
    g->http = NULL;
    uv_signal_stop(&g->sigint);
    uv_signal_stop(&g->sigterm);
    /* the loop ends once the last reply and threadpool item are done */
    uv_close((uv_handle_t *)&g->sigint, on_handle_closed);
    uv_close((uv_handle_t *)&g->sigterm, on_handle_closed);
    /* the last follower may have closed it already (api.c: maybe_finish) */
    if (!g->waiting && !g->work_in_flight && !uv_is_closing((uv_handle_t *)&g->wake))
        uv_close((uv_handle_t *)&g->wake, on_handle_closed);
}

/* Open files: the soft limit raised to the hard one, then split so that no
 * listener can take them all: the API gets its own cap, the proxies what is
 * left, and FD_RESERVE stays for the spool, exporters, namespaces and
 * health. */
#define FD_RESERVE 256
static void fd_budget(gw__t *g)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        rl.rlim_cur = rl.rlim_max = 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t want = rl.rlim_max > (1u << 20) ? (1u << 20) : rl.rlim_max;
        struct rlimit up = {want, rl.rlim_max};
        if (want > rl.rlim_cur && setrlimit(RLIMIT_NOFILE, &up) == 0)
            rl.rlim_cur = want;
    }
    uint64_t room = rl.rlim_cur > 2 * FD_RESERVE ? rl.rlim_cur - FD_RESERVE : FD_RESERVE;
    g->api_conns = room / 4 < 32 ? 32 : room / 4 > 4096 ? 4096 : room / 4;
    g->proxy_conns = (int64_t)((room - g->api_conns) / 2); /* a tunnel holds two */
    fprintf(stderr, "[gateway] open files: %llu; API connections up to %zu, proxy %lld\n",
            (unsigned long long)rl.rlim_cur, g->api_conns, (long long)g->proxy_conns);
}

static int start_http(gw__t *g, char *err, size_t errlen)
{
    char host[256];
    int port;
    if (gw_parse_listen(g->cfg.listen, host, sizeof host, &port) != 0) {
        snprintf(err, errlen, "gateway.listen: '%s' is not HOST:PORT", g->cfg.listen);
        return -EINVAL;
    }
    gw_http_config_t hc = {
        .host = host,
        .port = port,
        .max_head = 16 << 10,
        .max_body = (size_t)g->cfg.max_body,
        .idle_timeout_ms = 60000,
        .tls_cert = g->cfg.tls_cert,
        .tls_key = g->cfg.tls_key,
        .check_head = gw__api_check_head,
        .max_conns = g->api_conns,
    };
    int rc = gw_http_server_create(&g->loop, &hc, gw__api_handle, g, &g->http, err, errlen);
    if (rc == -EADDRINUSE)
        snprintf(err, errlen,
                 "%s: address already in use (another tollgate? use --listen HOST:PORT)",
                 g->cfg.listen);
    if (rc != 0)
        return rc;
    char url[400];
    bool v6 = strchr(host, ':') != NULL;
    snprintf(url, sizeof url, "%s://%s%s%s:%d", g->cfg.tls_cert ? "https" : "http", v6 ? "[" : "",
             host, v6 ? "]" : "", gw_http_server_port(g->http));
    gw__state_note_url(g->lock_fd, url);
    fprintf(stderr, "[gateway] listening on %s (state %s)\n", url, g->state_dir);
    return 0;
}

/* The proxy's port, tried before anything starts (the proxy binds it later,
 * once the sandboxes are loaded): a port in use fails here, with what to do,
 * before an exporter or the API has started. A port taken in between still
 * fails later, with the same words (proxy_host.c). */
static int probe_proxy_port(const px_config_t *px, char *err, size_t errlen)
{
    char host[256];
    int port, one = 1, rc = 0;
    struct sockaddr_storage ss;
    if (!px || !px->listen || gw_parse_listen(px->listen, host, sizeof host, &port) != 0 ||
        port == 0)
        return 0; /* px_create reports a bad address */
    bool v6 = strchr(host, ':') != NULL;
    if ((v6 ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss)
            : uv_ip4_addr(host, port, (struct sockaddr_in *)&ss)) != 0)
        return 0;
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
        bind(fd, (struct sockaddr *)&ss,
             v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)) != 0 &&
        errno == EADDRINUSE) {
        rc = -EADDRINUSE;
        gw__proxy_listen_err(px->listen, err, errlen);
    }
    close(fd);
    return rc;
}

/* The start failed before the loop ran: the listener (if any) and the
 * signal handles are closed, and the loop runs their closes. */
static void close_early(gw__t *g)
{
    gw_http_server_destroy(g->http);
    g->http = NULL;
    uv_close((uv_handle_t *)&g->sigint, on_handle_closed);
    uv_close((uv_handle_t *)&g->sigterm, on_handle_closed);
    uv_run(&g->loop, UV_RUN_DEFAULT);
}

int gw_run(const char *state_dir, const gw_config_t *cfg, const col_config_t *colcfg,
           const px_config_t *proxy, const exp_config_list_t *exporters, char *err, size_t errlen)
{
    gw__t *g = calloc(1, sizeof *g);
    char spool[4200];
    int rc;
    if (!g)
        return -ENOMEM;
    g->cfg = *cfg;
    snprintf(g->state_dir, sizeof g->state_dir, "%s", state_dir);
    if (gethostname(g->hostname, sizeof g->hostname) != 0)
        snprintf(g->hostname, sizeof g->hostname, "localhost");
    g->product = (ocsf_product_t){OCSF_STR("tollgate-gateway"), OCSF_STR(TOLLGATE_VENDOR),
                                  OCSF_STR(TOLLGATE_VERSION)};
    setenv("UV_THREADPOOL_SIZE", "8", 0); /* ingest and queries; before the first work item */
    fd_budget(g);
    px_config_t pxc; /* the proxies' settings, their connection cap within the budget */
    if (proxy) {
        pxc = *proxy;
        if (pxc.max_conns > g->proxy_conns)
            pxc.max_conns = g->proxy_conns;
        proxy = &pxc;
    }
    if ((rc = mkdir_p(state_dir, 0700)) != 0) {
        snprintf(err, errlen, "mkdir %s: %s", state_dir, strerror(-rc));
        goto out;
    }
    if ((rc = gw__state_check(state_dir, err, errlen)) != 0 ||
        (rc = g->lock_fd = gw__state_lock(state_dir, err, errlen)) < 0)
        goto out;
    if ((rc = gw_token_load(state_dir, true, g->token, err, errlen)) != 0)
        goto out;
    /* the CA of every proxy this process runs (`up`, sandboxes) and of GET /v1/ca */
    if (!(g->ca = px_ca_open(state_dir, err, errlen))) {
        rc = -EPERM;
        goto out;
    }
    /* the ports first: one in use stops the start before anything runs */
    if ((rc = probe_proxy_port(proxy, err, errlen)) != 0)
        goto out;
    if ((rc = uv_loop_init(&g->loop)) != 0) {
        snprintf(err, errlen, "uv_loop_init: %s", uv_strerror(rc));
        goto out;
    }
    /* signals before the listener is announced: whoever saw "listening on"
     * may stop it cleanly at once (they are acted on when the loop runs) */
    uv_signal_init(&g->loop, &g->sigint);
    uv_signal_init(&g->loop, &g->sigterm);
    g->sigint.data = g->sigterm.data = g;
    uv_signal_start(&g->sigint, on_signal, SIGINT);
    uv_signal_start(&g->sigterm, on_signal, SIGTERM);
    if ((rc = start_http(g, err, errlen)) != 0) {
        close_early(g);
        goto out_loop;
    }
    col_config_t cc = *colcfg;
    snprintf(spool, sizeof spool, "%s/spool", state_dir);
    cc.spool_dir = spool;
    cc.hostname = ocsf_str(g->hostname);
    cc.checkpoints = true; /* signed, so every exporter carries them off the machine */
    if ((rc = col_create(&cc, &g->col, err, errlen)) != 0)
        goto out_col;
    g->dedup = gw__dedup_create();
    gw__dedup_refill(g->dedup, g->col);
    exp_config_list_t none = {0};
    if ((rc = exp_engine_start(g->col, state_dir, g->hostname, exporters ? exporters : &none,
                               &g->exporters, err, errlen)) != 0)
        goto out_col;
    uv_async_init(&g->loop, &g->wake, on_wake);
    g->wake.data = g;
    col_subscribe(g->col, on_commit, &g->wake);
    lifecycle(g, OCSF_APP_START, "gateway started");
    uv_timer_init(&g->loop, &g->tick);
    int failed = 0;
    gw__net_start(g, proxy); /* leftovers of a crash go before anything is served */
    if ((rc = gw__sandboxes_load(g, err, errlen)) != 0 ||
        (rc = gw__ksource_start(g, err, errlen)) != 0 ||
        (proxy && (rc = gw__proxy_start(g, proxy, err, errlen)) != 0)) {
        failed = rc; /* err says why; stop cleanly: the events so far are kept */
        stop(g);
    }
    uv_run(&g->loop, UV_RUN_DEFAULT);
    gw__ksource_stop(g);
    gw__net_free(g);
    gw__sandboxes_free(g);
    col_unsubscribe(g->col, on_commit, &g->wake);
    rc = failed;
out_col:
    if (!g->stopping) /* the start failed before the loop ran */
        close_early(g);
    exp_engine_stop(g->exporters); /* a batch in flight is sent again at the next start */
    col_destroy(g->col);
    gw__dedup_destroy(g->dedup);
out_loop:
    uv_loop_close(&g->loop);
out:
    px_ca_destroy(g->ca); /* after the proxies: the loop has run their closes */
    if (g->lock_fd > 0)
        close(g->lock_fd); /* the next gateway may have the directory */
    free(g);
    return rc;
}
