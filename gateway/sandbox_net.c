/*
 * sandbox_net.c: a sandbox's network namespace at run time, and its API.
 *
 *   POST /v1/sandboxes/{name}/attach   makes (or reuses) the namespace; answers
 *        {"netns","netns_path","resolv_conf","proxy","host_ip","sandbox_ip",...,
 *        "ca_pem": the interception CA's certificate}
 *   GET  /v1/sandboxes/{name}/net      the same, with counters (catcher, DNS,
 *                                      UDP dropped); 404 when not attached
 *   POST /v1/sandboxes/{name}/process  {"activity":"launch"|"terminate","pid",
 *        "argv":[],"path","exit_code","actor":{"pid","path","argv":[]}}:
 *        PROC:LAUNCH / PROC:TERMINATE (Process Activity 1007)
 *
 * Per attached sandbox, on the loop: its proxy (on host_ip:3128, identity
 * looked up inside the namespace), its bypass catcher and its DNS responder
 * (sockets made inside the namespace on the threadpool, served here). The
 * namespace is built and removed on the threadpool (netns.c); attaches that
 * arrive while it is being built wait for it. An attach of a built namespace
 * is answered once its rules were checked, and restored if need be, on the
 * threadpool (netns_guard.c: FINDING:CREATE when they were not as installed).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <jansson.h>
#include <linux/magic.h>

#include "gateway/gw_internal.h"
#include "proxy/bypass.h"

#define MAX_WAITING 16
#define DEFAULT_NET "10.203.0.0/16"

/* CHECKING: built, its rules being checked (netns_guard.c) before attaches
 * are answered; back to READY after. */
typedef enum { NET_BUILDING, NET_READY, NET_CHECKING, NET_TEARDOWN } net_state_t;

struct gw__net {
    struct gw__net *next;
    gw__t *g;
    char name[GW__NAME_MAX + 1], uid[40];
    char cgroup[256]; /* CGROUP_SLICE/<spec.ns> in the cgroup v2 tree; "": none */
    gw__pxhost_t host;
    net_state_t state;
    gw__netspec_t spec;
    int netns_fd, catcher_fd, dns_fd, catcher6_fd, nflog_fd;
    int build_rc;
    char err[512];
    px_config_t pxcfg;
    char listen[64];
    px_t *proxy;
    px_catcher_t *catcher;
    px_nflog_t *nflog; /* UDP over IPv6 (proxy/nflog.c) */
    px_dns_t *dns;
    gw_http_req_t *waiting[MAX_WAITING];
    size_t nwaiting;
    uv_work_t work;
    int64_t udp_dropped, other_dropped; /* read by GET .../net */
    void (*done)(gw__t *g, void *arg);
    void *done_arg;
    gw_http_req_t *stats_req;
    /* the rules' check: the first `nchecking` waiters are the ones it answers */
    size_t nchecking;
    gw__guard_t guard;
    int check_rc;
    gw__netspec_t *others; /* copies: the other built sandboxes' elements */
    size_t nothers;
    bool detach; /* DELETE during a check: torn down once it ends */
};

static void reply(gw_http_req_t *req, int status, json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    gw_http_respond(req, s ? status : 500, "application/json", NULL, s ? s : "{}",
                    s ? strlen(s) : 2);
    free(s);
}

static void reply_err(gw_http_req_t *req, int status, const char *msg)
{
    reply(req, status, json_pack("{s:s}", "error", msg));
}

static gw__net_t *find(gw__t *g, const char *name)
{
    for (gw__net_t *n = g->nets; n; n = n->next)
        if (strcmp(n->name, name) == 0)
            return n;
    return NULL;
}

/* Built and serving (its rules may be being checked). */
static bool built(const gw__net_t *n)
{
    return n && (n->state == NET_READY || n->state == NET_CHECKING);
}

static void unlink_net(gw__t *g, gw__net_t *n)
{
    for (gw__net_t **pp = &g->nets; *pp; pp = &(*pp)->next)
        if (*pp == n) {
            *pp = n->next;
            return;
        }
}

/* ---- the sandbox's cgroup ---------------------------------------------------------- */

/* Its processes' cgroup v2 (`sandbox exec` puts its init there), so that its
 * proxy names callers from its processes alone (proxy/ident.c). Root-owned,
 * mode 0755: the sandboxed user can neither leave it nor add to it. */
#define CGROUP_SLICE "tollgate.slice"

static bool is_cgroup2(const char *path)
{
    struct statfs f;
    return statfs(path, &f) == 0 && f.f_type == CGROUP2_SUPER_MAGIC;
}

/* Makes n->cgroup (threadpool); "" when there is no writable cgroup v2. */
static void cgroup_make(gw__net_t *n)
{
    const char *roots[] = {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}; /* unified, hybrid */
    char slice[128];
    n->cgroup[0] = '\0';
    for (size_t i = 0; i < sizeof roots / sizeof *roots; i++) {
        if (!is_cgroup2(roots[i]))
            continue;
        snprintf(slice, sizeof slice, "%s/%s", roots[i], CGROUP_SLICE);
        int w = snprintf(n->cgroup, sizeof n->cgroup, "%s/%s", slice, n->spec.ns);
        if (w < 0 || (size_t)w >= sizeof n->cgroup ||
            (mkdir(slice, 0755) != 0 && errno != EEXIST) ||
            (mkdir(n->cgroup, 0755) != 0 && errno != EEXIST) || !is_cgroup2(n->cgroup)) {
            fprintf(stderr,
                    "[gateway] sandbox %s: no cgroup of its own (%s): callers are "
                    "named by the scan of every process\n",
                    n->name, strerror(errno));
            n->cgroup[0] = '\0';
        }
        return;
    }
}

static json_t *info(gw__net_t *n)
{
    char proxy[64];
    snprintf(proxy, sizeof proxy, "http://%s:%d", n->spec.host_ip, GW__PROXY_PORT);
    /* ca_pem: the certificate only (never the key), for the sandbox's CA bundle */
    return json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:s,s:i,s:s,s:s?,s:s?}", "name", n->name, "netns",
        n->spec.ns, "netns_path", n->spec.ns_path, "resolv_conf", n->spec.resolv, "proxy", proxy,
        "host_ip", n->spec.host_ip, "sandbox_ip", n->spec.sbx_ip, "index", n->spec.index, "dns",
        "127.0.0.1:53", "catcher_port", GW__CATCHER_PORT, "state_dir", n->g->state_abs, "ca_pem",
        n->g->ca ? px_ca_cert_pem(n->g->ca) : NULL, "cgroup", n->cgroup[0] ? n->cgroup : NULL);
}

/* ---- build ------------------------------------------------------------------------- */

static void build_work(uv_work_t *w)
{
    gw__net_t *n = w->data;
    n->netns_fd = n->catcher_fd = n->dns_fd = n->catcher6_fd = n->nflog_fd = -1;
    n->build_rc = gw__netns_create(n->g->netid, n->name, DEFAULT_NET, &n->g->net_table, &n->spec,
                                   n->err, sizeof n->err);
    if (n->build_rc != 0)
        return;
    cgroup_make(n);
    n->netns_fd = open(n->spec.ns_path, O_RDONLY | O_CLOEXEC);
    if (n->netns_fd < 0) {
        n->build_rc = -errno;
        snprintf(n->err, sizeof n->err, "open %s: %s", n->spec.ns_path, strerror(errno));
        return;
    }
    n->catcher_fd = px_netns_socket(n->netns_fd, SOCK_STREAM, "127.0.0.1", GW__CATCHER_PORT, n->err,
                                    sizeof n->err);
    n->dns_fd = px_netns_socket(n->netns_fd, SOCK_DGRAM, "127.0.0.1", 53, n->err, sizeof n->err);
    if (n->catcher_fd < 0 || n->dns_fd < 0) {
        n->build_rc = n->catcher_fd < 0 ? n->catcher_fd : n->dns_fd;
        return;
    }
    /* IPv6: TCP to the catcher on [::1] (unless the kernel has no IPv6),
     * UDP through the NFLOG group the rules log it to */
    n->catcher6_fd =
        px_netns_socket(n->netns_fd, SOCK_STREAM, "::1", GW__CATCHER_PORT, n->err, sizeof n->err);
    if (n->catcher6_fd == -EAFNOSUPPORT)
        n->err[0] = '\0';
    else if (n->catcher6_fd < 0)
        n->build_rc = n->catcher6_fd;
    if (n->build_rc == 0 &&
        (n->nflog_fd = px_nflog_socket(n->netns_fd, GW__NFLOG_GROUP, n->err, sizeof n->err)) < 0)
        n->build_rc = n->nflog_fd;
}

/* The listeners on the loop; 0 or -errno with n->err. */
static int serve(gw__t *g, gw__net_t *n)
{
    px_hooks_t h;
    n->host = (gw__pxhost_t){g, n->name, n->uid};
    gw__proxy_hooks(&n->host, &h);
    char err[300];
    n->dns = px_dns_create(PX_DNS_DEFAULT_POOL, err, sizeof err);
    int rc = n->dns ? px_dns_start(n->dns, &g->loop, n->dns_fd) : -EINVAL;
    n->dns_fd = -1;
    if (rc == 0)
        rc = px_catcher_create(&g->loop, n->catcher_fd, n->netns_fd, n->dns, &h, &n->catcher, err,
                               sizeof err);
    n->catcher_fd = -1;
    if (rc == 0 && n->catcher6_fd >= 0) { /* takes the fd; else stop_listeners closes it */
        rc = px_catcher_listen6(n->catcher, n->catcher6_fd, err, sizeof err);
        n->catcher6_fd = -1;
    }
    if (rc == 0) {
        rc = px_nflog_create(&g->loop, n->nflog_fd, n->netns_fd, &h, &n->nflog, err, sizeof err);
        n->nflog_fd = -1;
    }
    if (g->px_cfg)
        n->pxcfg = *g->px_cfg;
    else
        px_config_default(&n->pxcfg); /* its strings are the table's defaults: kept to the end */
    snprintf(n->listen, sizeof n->listen, "%s:%d", n->spec.host_ip, GW__PROXY_PORT);
    n->pxcfg.listen = n->listen;
    if (g->proxy_conns > 0 && n->pxcfg.max_conns > g->proxy_conns)
        n->pxcfg.max_conns = g->proxy_conns; /* within the process's open-file budget */
    n->pxcfg.sandbox = n->name;
    n->pxcfg.client_netns_fd = n->netns_fd;
    n->pxcfg.client_cgroup = n->cgroup;
    if (rc == 0)
        rc = px_create(&g->loop, &n->pxcfg, &h, &n->proxy, err, sizeof err);
    if (rc != 0)
        snprintf(n->err, sizeof n->err, "%s", err);
    return rc;
}

static void teardown_start(gw__t *g, gw__net_t *n);
static void finish_work(gw__t *g);

static void build_after(uv_work_t *w, int status)
{
    gw__net_t *n = w->data;
    gw__t *g = n->g;
    finish_work(g);
    int rc = status ? status : n->build_rc;
    gw__sandbox_t *sb = gw__sandbox_find(g, n->name);
    if (rc == 0 && (g->stopping || !sb)) {
        rc = -ECANCELED;
        snprintf(n->err, sizeof n->err, "the sandbox or the gateway went away");
    }
    if (rc == 0)
        rc = serve(g, n);
    if (rc == 0) {
        n->state = NET_READY;
        fprintf(stderr, "[gateway] sandbox %s: namespace %s, proxy %s\n", n->name, n->spec.ns,
                n->listen);
        gw__sandbox_report(g, sb, "netns", sb->version, true, NULL);
    } else {
        fprintf(stderr, "[gateway] sandbox %s: no namespace: %s\n", n->name, n->err);
    }
    for (size_t i = 0; i < n->nwaiting; i++) {
        if (rc == 0)
            reply(n->waiting[i], 200, info(n));
        else
            reply_err(n->waiting[i], 500, n->err);
    }
    n->nwaiting = 0;
    if (rc != 0)
        teardown_start(g, n);
}

/* ---- the rules' check at each attach (netns_guard.c) ------------------------------- */

static void check_work(uv_work_t *w)
{
    gw__net_t *n = w->data;
    n->check_rc = gw__netns_guard(n->g->netid, &n->spec, n->others, n->nothers, &n->guard, n->err,
                                  sizeof n->err);
}

/* Answers the first k waiters (the rest move up). */
static void answer(gw__net_t *n, size_t k, int status, const char *err)
{
    for (size_t i = 0; i < k; i++) {
        if (status == 200)
            reply(n->waiting[i], 200, info(n));
        else
            reply_err(n->waiting[i], status, err);
    }
    memmove(n->waiting, n->waiting + k, (n->nwaiting - k) * sizeof n->waiting[0]);
    n->nwaiting -= k;
}

static void check_after(uv_work_t *w, int status);

/* Checks the rules of a READY namespace for the waiters there now. */
static void check_start(gw__t *g, gw__net_t *n)
{
    n->state = NET_CHECKING;
    n->nchecking = n->nwaiting;
    n->nothers = 0;
    size_t cap = 0;
    for (gw__net_t *o = g->nets; o; o = o->next)
        cap += o != n && built(o);
    n->others = cap ? calloc(cap, sizeof *n->others) : NULL;
    if (cap && !n->others)
        abort();
    for (gw__net_t *o = g->nets; o && n->others; o = o->next)
        if (o != n && built(o)) {
            n->others[n->nothers] = o->spec; /* host_if and host_ip are what is used */
            n->others[n->nothers].rules = n->others[n->nothers].host_rules = NULL;
            n->nothers++;
        }
    n->work.data = n;
    g->work_in_flight++;
    if (uv_queue_work(&g->loop, &n->work, check_work, check_after) != 0) {
        g->work_in_flight--;
        free(n->others);
        n->others = NULL;
        n->state = NET_READY;
        answer(n, n->nwaiting, 503, "could not start checking the namespace's rules: retry");
    }
}

static void check_after(uv_work_t *w, int status)
{
    gw__net_t *n = w->data;
    gw__t *g = n->g;
    finish_work(g);
    free(n->others);
    n->others = NULL;
    int rc = status ? status : n->check_rc;
    if (status)
        snprintf(n->err, sizeof n->err, "the check of the namespace's rules was cancelled");
    if (n->guard.found)
        gw__guard_finding(g, n->name, n->uid, &n->spec, n->guard.found, rc ? n->err : NULL);
    if (n->guard.rules) { /* restored: what is in place now is what is compared next */
        free(n->spec.rules);
        n->spec.rules = n->guard.rules;
        n->guard.rules = NULL;
    }
    if (n->guard.host_rules) {
        free(n->spec.host_rules);
        n->spec.host_rules = n->guard.host_rules;
        n->guard.host_rules = NULL;
    }
    gw__guard_dispose(&n->guard);
    if (n->state == NET_TEARDOWN) { /* the gateway stopped meanwhile (gw__net_stop) */
        if (n->detach && n->done)   /* gw__net_free removes the namespace */
            n->done(g, n->done_arg);
        n->detach = false;
        n->done = NULL;
        return;
    }
    n->state = NET_READY;
    if (n->detach) {
        n->detach = false;
        answer(n, n->nwaiting, 503, "the sandbox is being removed");
        teardown_start(g, n);
        return;
    }
    answer(n, n->nchecking, rc == 0 ? 200 : 500, n->err);
    if (n->nwaiting) /* attaches that came during the check get a check of their own */
        check_start(g, n);
}

static void attach(gw__t *g, gw_http_req_t *req, gw__sandbox_t *sb)
{
    if (!g->net_ok) {
        reply_err(req, 503,
                  "sandbox networking needs a gateway running as root (CAP_NET_ADMIN and "
                  "CAP_SYS_ADMIN): start `tollgate up` or `tollgate gateway` as root");
        return;
    }
    gw__net_t *n = find(g, sb->name);
    if (n && n->state == NET_READY) { /* built: its rules are checked before the answer */
        n->waiting[n->nwaiting++] = req;
        check_start(g, n);
        return;
    }
    if (n && (n->state == NET_TEARDOWN || n->nwaiting == MAX_WAITING)) {
        reply_err(req, 503, "the sandbox's namespace is being removed or built: retry");
        return;
    }
    if (!n) {
        n = calloc(1, sizeof *n);
        if (!n)
            abort();
        n->g = g;
        snprintf(n->name, sizeof n->name, "%s", sb->name);
        snprintf(n->uid, sizeof n->uid, "%s", sb->uid);
        n->state = NET_BUILDING;
        n->next = g->nets;
        g->nets = n;
        n->work.data = n;
        g->work_in_flight++;
        if (uv_queue_work(&g->loop, &n->work, build_work, build_after) != 0) {
            g->work_in_flight--;
            unlink_net(g, n);
            free(n);
            reply_err(req, 503, "could not start building the namespace");
            return;
        }
    }
    n->waiting[n->nwaiting++] = req;
}

/* ---- teardown ---------------------------------------------------------------------- */

static void stop_listeners(gw__net_t *n)
{
    px_destroy(n->proxy);
    px_catcher_destroy(n->catcher);
    px_nflog_destroy(n->nflog);
    px_dns_destroy(n->dns);
    n->proxy = NULL;
    n->catcher = NULL;
    n->nflog = NULL;
    n->dns = NULL;
    if (n->catcher_fd >= 0)
        close(n->catcher_fd);
    if (n->dns_fd >= 0)
        close(n->dns_fd);
    if (n->catcher6_fd >= 0)
        close(n->catcher6_fd);
    if (n->nflog_fd >= 0)
        close(n->nflog_fd);
    n->catcher6_fd = n->nflog_fd = -1;
    n->catcher_fd = n->dns_fd = -1;
}

static void teardown_work(uv_work_t *w)
{
    gw__net_t *n = w->data;
    gw__netns_destroy(n->g->netid, &n->spec);
    if (n->cgroup[0] && rmdir(n->cgroup) != 0 && errno != ENOENT && errno != EBUSY)
        fprintf(stderr, "[gateway] sandbox %s: rmdir %s: %s\n", n->name, n->cgroup,
                strerror(errno));
}

static void teardown_after(uv_work_t *w, int status)
{
    (void)status;
    gw__net_t *n = w->data;
    gw__t *g = n->g;
    finish_work(g);
    unlink_net(g, n);
    if (n->netns_fd > 0)
        close(n->netns_fd);
    if (n->done)
        n->done(g, n->done_arg);
    free(n->spec.rules);
    free(n->spec.host_rules);
    free(n);
}

static void teardown_start(gw__t *g, gw__net_t *n)
{
    n->state = NET_TEARDOWN;
    stop_listeners(n);
    n->work.data = n;
    g->work_in_flight++;
    if (uv_queue_work(&g->loop, &n->work, teardown_work, teardown_after) != 0) {
        teardown_work(&n->work); /* blocking, but it must happen */
        teardown_after(&n->work, 0);
    }
}

void gw__net_detach(gw__t *g, const char *name, void (*done)(gw__t *g, void *arg), void *arg)
{
    gw__net_t *n = find(g, name);
    if (n && n->state == NET_CHECKING) { /* check_after removes it, then runs done */
        n->detach = true;
        n->done = done;
        n->done_arg = arg;
        return;
    }
    if (!n || n->state != NET_READY) {
        /* none, or one being built or removed: build_after notices the
         * sandbox is gone and removes it */
        done(g, arg);
        return;
    }
    n->done = done;
    n->done_arg = arg;
    teardown_start(g, n);
}

void gw__net_policy_changed(gw__t *g, gw__sandbox_t *sb)
{
    gw__net_t *n = find(g, sb->name);
    if (built(n))
        gw__sandbox_report(g, sb, "netns", sb->version, true, NULL);
}

/* ---- start and stop ---------------------------------------------------------------- */

static void load_netid(gw__t *g)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/netid", g->state_dir);
    FILE *f = fopen(path, "r");
    if (f) {
        char id[16] = "";
        if (fgets(id, sizeof id, f) && strspn(id, "0123456789abcdef") == 4)
            snprintf(g->netid, sizeof g->netid, "%.4s", id);
        fclose(f);
    }
    if (g->netid[0])
        return;
    uint8_t r[2] = {0};
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        r[0] = (uint8_t)getpid(), r[1] = (uint8_t)(getpid() >> 8);
    snprintf(g->netid, sizeof g->netid, "%02x%02x", r[0], r[1]);
    f = fopen(path, "w");
    if (f) {
        fprintf(f, "%s\n", g->netid);
        fclose(f);
    }
}

void gw__net_start(gw__t *g, const px_config_t *px_cfg)
{
    g->px_cfg = px_cfg;
    load_netid(g);
    if (!realpath(g->state_dir, g->state_abs)) /* it exists: made before the loop */
        snprintf(g->state_abs, sizeof g->state_abs, "%s", g->state_dir);
    if (geteuid() != 0) {
        fprintf(stderr, "[gateway] not root: `sandbox exec` (network namespaces) is off\n");
        return;
    }
    if (access("/usr/sbin/nft", X_OK) != 0 && access("/sbin/nft", X_OK) != 0) {
        fprintf(stderr, "[gateway] no nft (Debian: nftables): `sandbox exec` is off\n");
        return;
    }
    gw__netns_cleanup(g->netid);
    g->net_ok = true;
}

void gw__net_stop(gw__t *g)
{
    for (gw__net_t *n = g->nets; n; n = n->next) {
        for (size_t i = 0; i < n->nwaiting; i++)
            reply_err(n->waiting[i], 503, "the gateway is stopping");
        n->nwaiting = 0;
        if (built(n)) {
            stop_listeners(n);
            n->state = NET_TEARDOWN;
        }
    }
}

/* After the loop: what is left is removed, blocking. */
void gw__net_free(gw__t *g)
{
    while (g->nets) {
        gw__net_t *n = g->nets;
        g->nets = n->next;
        gw__netns_destroy(g->netid, &n->spec);
        if (n->netns_fd > 0)
            close(n->netns_fd);
        free(n->spec.rules);
        free(n->spec.host_rules);
        free(n);
    }
    if (g->net_ok && g->net_table)
        gw__netns_cleanup(g->netid);
}

/* ---- GET .../net: the counters ------------------------------------------------------- */

typedef struct {
    uv_work_t work;
    gw__t *g;
    gw_http_req_t *req;
    char name[GW__NAME_MAX + 1];
    gw__netspec_t spec;
    int64_t udp, other, udp6;
} stats_job_t;

static void stats_work(uv_work_t *w)
{
    stats_job_t *j = w->data;
    j->udp = gw__netns_counter(&j->spec, "udp_dropped");
    j->other = gw__netns_counter(&j->spec, "other_dropped");
    j->udp6 = gw__netns_counter(&j->spec, "udp6_dropped");
}

static void finish_work(gw__t *g)
{
    g->work_in_flight--;
    if (g->stopping && !uv_is_closing((uv_handle_t *)&g->wake))
        uv_async_send(&g->wake); /* lets the API see nothing is in flight */
}

/* The IPv6 counters: TCP caught by the catcher on [::1], UDP logged and
 * dropped by the rules (udp6_dropped), and what the NFLOG listener made of
 * it. */
static void ipv6_stats(gw__net_t *n, const stats_job_t *j, const px_catcher_stats_t *cs, json_t *o)
{
    px_nflog_stats_t ns;
    px_nflog_stats(n->nflog, &ns);
    json_t *v6 = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "tcp_caught", (json_int_t)cs->caught6,
                           "udp_dropped", (json_int_t)j->udp6, "udp_recorded",
                           (json_int_t)ns.recorded, "udp_unnamed", (json_int_t)ns.unnamed,
                           "udp_suppressed", (json_int_t)ns.suppressed, "udp_lost",
                           (json_int_t)ns.lost, "udp_seen", (json_int_t)ns.seen);
    json_object_set_new(o, "ipv6", v6);
}

static void stats_after(uv_work_t *w, int status)
{
    (void)status;
    stats_job_t *j = w->data;
    gw__t *g = j->g;
    finish_work(g);
    gw__net_t *n = find(g, j->name);
    if (!built(n)) {
        reply_err(j->req, 404, "the sandbox has no network namespace (not attached)");
    } else {
        json_t *o = info(n);
        px_catcher_stats_t cs;
        px_dns_stats_t ds;
        px_stats_t ps;
        px_catcher_stats(n->catcher, &cs);
        px_dns_stats(n->dns, &ds);
        px_stats(n->proxy, &ps);
        json_object_set_new(o, "udp_dropped", json_integer(j->udp));
        json_object_set_new(o, "other_dropped", json_integer(j->other));
        json_object_set_new(o, "bypass_caught", json_integer((json_int_t)cs.caught));
        json_object_set_new(o, "bypass_unnamed", json_integer((json_int_t)cs.unnamed));
        ipv6_stats(n, j, &cs, o);
        json_object_set_new(o, "dns_queries", json_integer((json_int_t)ds.queries));
        json_object_set_new(o, "dns_names", json_integer((json_int_t)ds.names));
        json_object_set_new(o, "proxy_allowed", json_integer((json_int_t)ps.allowed));
        json_object_set_new(o, "proxy_denied", json_integer((json_int_t)ps.denied));
        json_object_set_new(o, "ident_bpf", json_boolean(ps.ident_bpf));
        json_object_set_new(o, "ident_bpf_runs", json_integer((json_int_t)ps.ident_bpf_runs));
        json_object_set_new(o, "ident_proc_scans", json_integer((json_int_t)ps.ident_proc_scans));
        json_object_set_new(o, "ident_cgroup_fast", json_integer((json_int_t)ps.ident_cgroup_fast));
        json_object_set_new(o, "splice_tunnels", json_integer((json_int_t)ps.splice_tunnels));
        json_object_set_new(o, "splice_bodies", json_integer((json_int_t)ps.splice_bodies));
        json_object_set_new(o, "splice_fallbacks", json_integer((json_int_t)ps.splice_fallbacks));
        json_object_set_new(o, "upstream_reused", json_integer((json_int_t)ps.upstream_reused));
        reply(j->req, 200, o);
    }
    free(j);
}

static void net_stats(gw__t *g, gw_http_req_t *req, gw__sandbox_t *sb)
{
    gw__net_t *n = find(g, sb->name);
    if (!built(n)) {
        reply_err(req, 404, "the sandbox has no network namespace (not attached)");
        return;
    }
    stats_job_t *j = calloc(1, sizeof *j);
    if (!j)
        abort();
    *j = (stats_job_t){.g = g, .req = req, .spec = n->spec};
    snprintf(j->name, sizeof j->name, "%s", n->name);
    j->work.data = j;
    g->work_in_flight++;
    if (uv_queue_work(&g->loop, &j->work, stats_work, stats_after) != 0) {
        g->work_in_flight--;
        free(j);
        reply_err(req, 503, "busy");
    }
}

/* ---- POST .../process: PROC:LAUNCH and PROC:TERMINATE -------------------------------- */

/* argv (a JSON array of strings) as one redacted command line. */
static void cmd_of(json_t *argv, char *out, size_t n)
{
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    size_t i;
    json_t *a;
    json_array_foreach(argv, i, a) /* NUL-separated: one token per argument */
    {
        if (json_is_string(a))
            ocsf_buf_put(&b, json_string_value(a), json_string_length(a));
        ocsf_buf_putc(&b, '\0');
    }
    px_argv_redact(b.p ? b.p : "", b.len, out, n);
    ocsf_buf_dispose(&b);
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* process.user from {"uid":N,"name":S}; uidtext holds the uid's text. */
static void set_user(ocsf_process_t *p, json_t *user, char uidtext[24])
{
    json_t *uid = json_object_get(user, "uid");
    const char *name = json_string_value(json_object_get(user, "name"));
    if (json_is_integer(uid) && json_integer_value(uid) >= 0) {
        snprintf(uidtext, 24, "%lld", (long long)json_integer_value(uid));
        p->user_uid = ocsf_str(uidtext);
    }
    if (name && name[0] && strlen(name) <= 64)
        p->user_name = ocsf_str(name);
}

static void process_event(gw__t *g, gw_http_req_t *req, gw__sandbox_t *sb)
{
    size_t len;
    const char *body = gw_http_body(req, &len);
    json_error_t je;
    json_t *o = json_loadb(body, len, 0, &je), *actor = json_object_get(o, "actor");
    const char *act = json_string_value(json_object_get(o, "activity"));
    const char *path = json_string_value(json_object_get(o, "path"));
    const char *apath = json_string_value(json_object_get(actor, "path"));
    json_t *pid = json_object_get(o, "pid"), *apid = json_object_get(actor, "pid");
    bool launch = act && strcmp(act, "launch") == 0;
    if (!o || !act || (!launch && strcmp(act, "terminate") != 0) || !path ||
        !json_is_integer(pid) || !apath || !json_is_integer(apid)) {
        reply_err(req, 400,
                  "expected {\"activity\":\"launch|terminate\",\"pid\",\"argv\",\"path\","
                  "\"exit_code\",\"actor\":{\"pid\",\"path\",\"argv\"}}");
        json_decref(o);
        return;
    }
    char cmd[4096], acmd[4096], err[256];
    cmd_of(json_object_get(o, "argv"), cmd, sizeof cmd);
    cmd_of(json_object_get(actor, "argv"), acmd, sizeof acmd);
    ocsf_event_t ev;
    gw__event_base(g, &ev, OCSF_CLASS_PROCESS, launch ? OCSF_PROC_LAUNCH : 2 /* Terminate */,
                   OCSF_SEV_INFO);
    ev.log_name = OCSF_STR("sandbox"); /* the sandbox's own activity: `logs --source sandbox` */
    ev.container_name = ocsf_str(sb->name);
    ev.container_uid = ocsf_str(sb->uid);
    ev.actor.pid = json_integer_value(apid);
    ev.actor.name = ocsf_str(base_name(apath));
    ev.actor.cmd_line = ocsf_str(acmd);
    ocsf_process_set_file(&ev.actor, ocsf_str(apath), OCSF_NOSTR);
    ev.process.pid = json_integer_value(pid);
    ev.process.name = ocsf_str(base_name(path));
    ev.process.cmd_line = ocsf_str(cmd);
    ocsf_process_set_file(&ev.process, ocsf_str(path), OCSF_NOSTR);
    char uid[24], auid[24];
    set_user(&ev.process, json_object_get(o, "user"), uid);
    set_user(&ev.actor, json_object_get(actor, "user"), auid);
    json_t *code = json_object_get(o, "exit_code");
    if (!launch && json_is_integer(code))
        ev.exit_code = json_integer_value(code);
    ev.status_id = launch || ev.exit_code == 0 ? OCSF_STATUS_SUCCESS : OCSF_STATUS_FAILURE;
    int rc = col_append(g->col, &ev, NULL, err, sizeof err);
    json_decref(o);
    if (rc != 0)
        reply_err(req, 500, err);
    else
        reply(req, 200, json_pack("{s:b}", "ok", 1));
}

bool gw__net_api(gw__t *g, gw_http_req_t *req, gw__sandbox_t *sb, const char *tail)
{
    const char *m = gw_http_method(req);
    if (strcmp(tail, "/attach") == 0 && strcmp(m, "POST") == 0)
        attach(g, req, sb);
    else if (strcmp(tail, "/net") == 0 && strcmp(m, "GET") == 0)
        net_stats(g, req, sb);
    else if (strcmp(tail, "/process") == 0 && strcmp(m, "POST") == 0)
        process_event(g, req, sb);
    else
        return false;
    return true;
}
