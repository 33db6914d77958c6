/*
 * proxy.h: the egress proxy every sandboxed program goes through.
 *
 * HTTP_PROXY-style listener on a libuv loop: `CONNECT host:port` tunnels and
 * absolute-form `GET http://host/path` forwarding. For each request: who is
 * calling (pid, exe, ancestors, SHA-256 pinned on first use), the sandbox's
 * policy (endpoint x binary), the SSRF guard on every resolved address,
 * then the dial; one OCSF event per decision (NET:OPEN, NET:CLOSE with byte
 * counts, NET:FAIL, HTTP:<METHOD>, FINDING), source `sandbox`.
 *
 * Thread: everything runs on the loop thread that created the proxy, except
 * caller identity (/proc reads, hashing), which runs on the libuv
 * threadpool. The hooks are called on the loop thread.
 */
#ifndef TOLLGATE_PROXY_H
#define TOLLGATE_PROXY_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "conf/conf.h"
#include "ocsf/ocsf.h"
#include "policy/policy.h"

typedef struct px px_t;

typedef struct {
    char *listen;                /* HOST:PORT; default 127.0.0.1:3128 */
    char *sandbox;               /* whose policy it enforces; default "default" */
    int64_t max_conns;           /* over: new connections are closed at once */
    int64_t max_head;            /* request line + headers; over: 431 */
    int64_t head_timeout_ms;     /* a slow head is dropped */
    int64_t idle_timeout_ms;     /* a tunnel with no byte either way is closed */
    int64_t require_identity;    /* 1: unknown caller denied; 0: endpoint-only decisions */
    int64_t test_allow_loopback; /* tests only: the SSRF guard lets loopback through */
    int64_t log_query_values;    /* 1: URL query values kept in events; 0: "<redacted>" */
    char *upstream_ca;           /* PEM file of extra CAs trusted for upstream TLS (beside the
                                    system store); NULL: the system store only */
    /* Not a setting: a sandbox's proxy (gateway/sandbox_net.c) serves
     * clients in another network namespace; their sockets are looked up
     * there (an open /run/netns/NAME, borrowed; <= 0: the proxy's own). */
    int client_netns_fd;
    /* Not a setting either: the sandbox's cgroup v2 directory, where its
     * processes run (borrowed; NULL or "": none). Identity looks for a
     * socket's holders there first (px_ident_cache_set_cgroup). */
    const char *client_cgroup;
} px_config_t;

extern const conf_option_t px_options[];
void px_config_default(px_config_t *cfg);
void px_config_dispose(px_config_t *cfg);

/* ---- TLS interception: the CA (tls_ca.c) -------------------------------------- */

/* A CA per state directory: DIR/ca/ca.key (EC P-256, mode 0600, never read
 * by anything but this) and DIR/ca/ca.pem, made on first use; leaf
 * certificates for each SNI host (or IP literal) are signed on demand with
 * one leaf key and cached (LRU). Loop thread only. */
typedef struct px_ca px_ca_t;
px_ca_t *px_ca_open(const char *state_dir, char *err, size_t errlen);
void px_ca_destroy(px_ca_t *ca); /* accepts NULL */
/* The CA certificate, PEM (borrowed, NUL-terminated). */
const char *px_ca_cert_pem(const px_ca_t *ca);
/* An SSL_CTX serving a leaf for host (an SNI name or an IP literal), ALPN
 * http/1.1 only; a new reference the caller frees with SSL_CTX_free, or NULL
 * with err. */
struct ssl_ctx_st *px_ca_server_ctx(px_ca_t *ca, const char *host, char *err, size_t errlen);
typedef struct {
    uint64_t leaf_hits, leaf_misses, leaves_cached;
} px_ca_stats_t;
void px_ca_stats(const px_ca_t *ca, px_ca_stats_t *st);

/* What the proxy needs from whoever runs it (the gateway in `tollgate up`,
 * the standalone `tollgate proxy`). Called on the loop thread. */
typedef struct {
    void *ctx;
    /* The sandbox's compiled policy now, and its version; NULL: deny all. The
     * index must stay valid until the next call returns to the loop. */
    const pol_index_t *(*policy)(void *ctx, uint64_t *version);
    /* Appends one event (borrowed for the call). */
    void (*emit)(void *ctx, ocsf_event_t *ev);
    /* Trust on first use: 0 when `sha256` is the hash pinned for `path` (or
     * becomes it now), -EPERM when another hash is pinned (copied to
     * `pinned`). */
    int (*pin)(void *ctx, const char *path, const char *sha256, char pinned[65]);
    const char *sandbox_name, *sandbox_uid, *hostname;
    /* The CA that intercepted tunnels present (borrowed, outlives the proxy);
     * NULL: none, and endpoints that need inspection are denied. */
    px_ca_t *ca;
} px_hooks_t;

/* Listens and emits NET:LISTEN. 0 or -errno with err ("listen
 * 127.0.0.1:3128: address already in use"). */
int px_create(uv_loop_t *loop, const px_config_t *cfg, const px_hooks_t *hooks, px_t **out,
              char *err, size_t errlen);
int px_port(const px_t *p);
/* Stops listening and closes every connection (their NET:CLOSE events are
 * emitted); memory is freed once the loop has run the closes. NULL is ok. */
void px_destroy(px_t *p);

typedef struct {
    uint64_t conns, active, allowed, denied, failed, bytes_in, bytes_out;
    /* how callers were named: ident_bpf (the BPF iterator loaded), holder
     * searches it answered, /proc scans, lookups answered from the
     * sandbox's cgroup alone */
    bool ident_bpf;
    uint64_t ident_bpf_runs, ident_proc_scans, ident_cgroup_fast;
    /* tunnels and forwarded Content-Length bodies relayed with splice(2),
     * those on the copy relay instead (EMFILE, the fd budget); forwarded
     * requests on a reused upstream */
    uint64_t splice_tunnels, splice_bodies, splice_fallbacks, upstream_reused;
} px_stats_t;
void px_stats(const px_t *p, px_stats_t *st);

#endif
