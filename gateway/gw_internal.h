/*
 * gw_internal.h: what the files of gateway/ share (gateway.c: process,
 * state, token, lifecycle; api.c: the HTTP API). Not for outside.
 */
#ifndef TOLLGATE_GW_INTERNAL_H
#define TOLLGATE_GW_INTERNAL_H

#include <stdatomic.h>

#include <uv.h>

#include "gateway/gateway.h"
#include "gateway/http.h"
#include "policy/policy.h"

typedef struct gw__ingest gw__ingest_t;
typedef struct gw__logs gw__logs_t;
typedef struct gw__waiter gw__waiter_t;
typedef struct gw__dedup gw__dedup_t;
typedef struct gw__ksource gw__ksource_t;

#define GW__DEDUP_GEN 65536 /* uids per generation (two are kept) */

#define GW__NAME_MAX    63
#define GW__MAX_PROXIES 32

/* What a proxy last said about a sandbox's policy. */
typedef struct {
    char id[64];
    uint64_t version;
    int state; /* 0 pending, 1 loaded, 2 failed */
    char error[256];
    int64_t seen_ms;
} gw__proxy_t;

/* A sandbox (sandbox.c). Lives on the loop thread only. */
typedef struct gw__sandbox {
    struct gw__sandbox *next;
    char name[GW__NAME_MAX + 1];
    char uid[40];
    int64_t created_ms;
    char **providers; /* ids, in the order given */
    size_t nproviders;
    pol_policy_t *base;      /* the user's part */
    pol_policy_t *effective; /* base + provider layers */
    pol_index_t *index;      /* compiled effective policy */
    uint64_t version;        /* monotonic per sandbox, from 1 */
    char hash[65];           /* SHA-256 of the effective policy's canonical form */
    gw__proxy_t proxies[GW__MAX_PROXIES];
    size_t nproxies;
    struct gw__pin {
        char *path;
        char sha256[65];
    } * pins; /* trust on first use: the first hash seen per binary path */
    size_t npins;
    char user[33]; /* the user `sandbox exec` runs commands as; "": the default */
} gw__sandbox_t;

typedef struct {
    uv_loop_t loop;
    gw_config_t cfg;
    col_t *col;
    exp_engine_t *exporters;
    gw__ksource_t *ksource; /* source.kafka (kafka_source.c) */
    gw_http_server_t *http;
    uv_async_t wake; /* the collector committed: ingest replies, followers */
    uv_signal_t sigint, sigterm;
    char token[GW_TOKEN_HEX + 1];
    char state_dir[4096];
    char hostname[256];
    ocsf_product_t product;
    gw__ingest_t *waiting;        /* replies waiting for durability */
    gw__dedup_t *dedup;           /* uids ingested lately (dedup.c) */
    _Atomic uint64_t last_ticket; /* of the latest ingested append */
    gw__sandbox_t *sandboxes;
    pol_provider_t **providers; /* shipped profiles (providers/), by id */
    size_t nproviders;
    gw__waiter_t *waiters;     /* long polls on policy versions and load status */
    uv_timer_t tick;           /* expires long polls */
    struct px *proxy;          /* `tollgate up`: the sandbox's proxy, in process */
    px_ca_t *ca;               /* the state's TLS interception CA (<state>/ca), every proxy's */
    struct gw__net *nets;      /* sandboxes with a network namespace (sandbox_net.c) */
    const px_config_t *px_cfg; /* settings of their proxies (NULL: defaults) */
    char netid[8];             /* names this gateway's namespaces and links (netns.c) */
    bool net_ok;               /* root: namespaces can be made */
    int lock_fd;               /* state.c: the state directory's lock, held to the end */
    size_t api_conns;          /* the API's connection cap (fd_budget in gateway.c) */
    int64_t proxy_conns;       /* a proxy's cap at most (every proxy of this process) */
    bool net_table;            /* the host's nft table exists (netns.c, under its lock) */
    char state_abs[4096];      /* state_dir as an absolute path (attach replies) */
    char proxy_sandbox[GW__NAME_MAX + 1];
    char proxy_sandbox_uid[40];
    gw__logs_t *followers;
    unsigned work_in_flight; /* uv_queue_work items not yet completed */
    bool stopping;
    _Atomic uint64_t ingest_rejected, ingest_accepted, ingest_repaired, requests, unauthorized;
} gw__t;

/* Fills the parts every gateway event has (product, device, log_name). */
void gw__event_base(gw__t *g, ocsf_event_t *ev, int class_uid, int activity, int severity);

/* The state directory (state.c), at start: an exclusive lock held for the
 * process's life (the fd, or -EBUSY with "state directory DIR in use by pid
 * N"), and the owner and mode checks of DIR, DIR/token and DIR/spool. */
int gw__state_lock(const char *dir, char *err, size_t errlen);
int gw__state_check(const char *dir, char *err, size_t errlen);
/* Writes the API's URL beside the pid in the held lock file. */
int gw__state_note_url(int fd, const char *url);

/* The API handler (api.c) and its hooks. */
void gw__api_handle(gw_http_req_t *req, void *ctx);
/* The server's check_head: 401 for anything but /v1/health without the token,
 * before a body is read. */
int gw__api_check_head(gw_http_req_t *req, void *ctx, const char **msg);
void gw__api_on_commit(gw__t *g); /* on the loop after the collector's wake */
void gw__api_stop(gw__t *g);      /* finish followers; pending replies wait */

/* ---- the Kafka source (kafka_source.c) ---------------------------------------- */
/* Starts consuming when source.kafka.brokers is set (0 otherwise too). */
int gw__ksource_start(gw__t *g, char *err, size_t errlen);
void gw__ksource_stop(gw__t *g); /* before the collector goes */
void gw__ksource_metrics(gw__t *g, ocsf_buf_t *b);

/* Writes data to path through path.tmp: fsync, rename, fsync of dir (the
 * sandbox state and the policy history; sandbox.c). 0 or -errno. */
int gw__write_atomic(const char *path, const char *dir, const char *data, size_t len);

/* ---- resent events (dedup.c) --------------------------------------------------- */
gw__dedup_t *gw__dedup_create(void);
void gw__dedup_destroy(gw__dedup_t *d);
/* True when an event with this digest (ocsf_ingest_t.digest) was stored
 * lately; else remembers it. Any thread. */
bool gw__dedup_seen(gw__dedup_t *d, const uint8_t digest[32]);
/* Forgets a digest gw__dedup_seen took for an event that was then not
 * stored (refused, dropped), so its resend is not taken for a duplicate. */
void gw__dedup_forget(gw__dedup_t *d, const uint8_t digest[32]);
/* Gets the thread's checker (ocsf_checker_t, freed at thread exit). */
ocsf_checker_t *gw__checker(void);
/* Remembers the digests of the spool's last ingested events (at start). */
void gw__dedup_refill(gw__dedup_t *d, col_t *col);

/* ---- sandboxes (sandbox.c) -------------------------------------------------- */

/* Loads the shipped provider profiles and every sandbox under
 * <state>/sandboxes; a corrupt file is reported (stderr and a CONFIG:FAILED
 * event) and left as it is. Creates `default` (allows nothing) if absent. */
int gw__sandboxes_load(gw__t *g, char *err, size_t errlen);
void gw__sandboxes_free(gw__t *g);
gw__sandbox_t *gw__sandbox_find(gw__t *g, const char *name);
bool gw__name_valid(const char *name);
/* 0 when user names an existing non-root user of this host (err: why not;
 * may be NULL). */
int gw__user_valid(const char *user, char *err, size_t errlen);
/* Sets the sandbox's exec user (a name or uid known to this host, never
 * root; "" for the default) and saves it; -EINVAL with err when refused. */
int gw__sandbox_set_user(gw__t *g, gw__sandbox_t *sb, const char *user, char *err, size_t errlen);
/* Creates and persists; 0, -EEXIST, -EINVAL (err). Emits LIFECYCLE:CREATE
 * and CONFIG:UPDATED. */
int gw__sandbox_create(gw__t *g, const char *name, char *const *providers, size_t nproviders,
                       pol_policy_t *base, gw__sandbox_t **out, char *err, size_t errlen);
int gw__sandbox_delete(gw__t *g, const char *name, char *err, size_t errlen);
/* Replaces the base (takes ownership of `base` on success), bumps the
 * version once, persists, emits CONFIG:UPDATED with `summary`. */
int gw__sandbox_set_base(gw__t *g, gw__sandbox_t *sb, pol_policy_t *base, const char *summary,
                         char *err, size_t errlen);
/* ---- policy history (history.c) --------------------------------------------- */
/* Keeps sb's current version (base and effective policy, hash, summary) in
 * <state>/sandboxes/<name>.history/<version>.json; a failure is logged, the
 * change stands. */
void gw__history_record(gw__t *g, const gw__sandbox_t *sb, const char *summary);
/* One kept version ({version, hash, created_ms, summary, base, base_yaml,
 * full, full_yaml}; new reference), or NULL when it is not kept. */
struct json_t;
struct json_t *gw__history_get(gw__t *g, const gw__sandbox_t *sb, uint64_t version);
/* The kept versions, newest first, at most limit: [{version, hash,
 * created_ms, summary}] (new reference). */
struct json_t *gw__history_list(gw__t *g, const gw__sandbox_t *sb, size_t limit);
void gw__history_remove(gw__t *g, const char *name); /* with the sandbox */

/* A proxy's report for a version: records it and emits CONFIG:LOADED or
 * CONFIG:FAILED (source sandbox). */
void gw__sandbox_report(gw__t *g, gw__sandbox_t *sb, const char *proxy, uint64_t version,
                        bool loaded, const char *error);

/* Trust on first use (proxy): 0 when sha256 is the pinned hash of path, or
 * becomes it now (persisted); -EPERM with the pinned hash otherwise. */
int gw__sandbox_pin(gw__t *g, gw__sandbox_t *sb, const char *path, const char *sha256,
                    char pinned[65]);

/* ---- the in-process proxy (proxy_host.c) -------------------------------------- */
struct px_config_s;
int gw__proxy_start(gw__t *g, const void *px_cfg, char *err, size_t errlen);
void gw__proxy_stop(gw__t *g);
/* err = "LISTEN: address already in use (...: use --proxy-listen HOST:PORT)" */
void gw__proxy_listen_err(const char *listen, char *err, size_t errlen);

/* What an in-process proxy (or catcher) of sandbox `name` needs: its policy
 * is the sandbox's index, its events go to the collector, its pins to the
 * sandbox's state. `host` is caller storage that must outlive the proxy;
 * name and uid are borrowed likewise. */
typedef struct {
    gw__t *g;
    const char *name, *uid;
} gw__pxhost_t;
void gw__proxy_hooks(gw__pxhost_t *host, px_hooks_t *h);

/* ---- sandbox networking (netns.c: plumbing, blocking; sandbox_net.c: runtime) ---- */

#define GW__PROXY_PORT   3128  /* a sandbox's proxy, on the host side of its veth */
#define GW__CATCHER_PORT 15001 /* the bypass catcher, 127.0.0.1 and [::1] inside the namespace */
#define GW__NFLOG_GROUP  15002 /* UDP over IPv6 is logged to this NFLOG group, then dropped */
#define GW__SANDBOX_IP6  "fd74:6c67::2" /* eth0's only IPv6 address (nothing leaves over it) */

typedef struct {
    int index;         /* the /30 of the sandbox network: 1.. */
    char ns[96];       /* tg-<netid>-<name> */
    char ns_path[128]; /* /run/netns/<ns> */
    char host_if[16];  /* tg<netid>h<index> */
    char host_ip[16];  /* base + 4 index + 1: the proxy listens there */
    char sbx_ip[16];   /* base + 4 index + 2: eth0 inside */
    char resolv[160];  /* /etc/netns/<ns>/resolv.conf */
    /* `nft -s list table inet tollgate` inside, and `nft -t -s list table
     * inet tollgate_<netid>` on the host, as captured right after they were
     * installed (netns_guard.c). Heap; owned by the gw__net_t holding the
     * spec (freed with it); copies of a spec borrow them. */
    char *rules, *host_rules;
} gw__netspec_t;

/* Blocking (ip, nft): the threadpool, or the start and end of the process. */
int gw__netns_parse_base(const char *cidr, uint32_t *base, uint32_t *count);
int gw__netns_host_table(const char *netid, char *err, size_t errlen);
/* Builds the namespace of `name` (and the host table unless *table_ready,
 * which it then sets: read and written under a host-wide lock). */
int gw__netns_create(const char *netid, const char *name, const char *cidr, bool *table_ready,
                     gw__netspec_t *out, char *err, size_t errlen);
/* Kills what runs inside, removes the link, the namespace, its rules and
 * resolv.conf. Missing pieces are fine. */
void gw__netns_destroy(const char *netid, const gw__netspec_t *s);
/* Everything carrying netid: leftovers of a crash. */
void gw__netns_cleanup(const char *netid);
/* An nft counter of the namespace's table (packets), or -1. */
int64_t gw__netns_counter(const gw__netspec_t *s, const char *counter);

/* For the guard (netns.c): run() of `ip` or `nft` (the exit status or
 * -errno, output in out); the sandbox's table (sandbox_rules()); this
 * sandbox's element in the host set; the host-wide lock (an fd, or -1). */
int gw__netns_run(const char *const argv[], const char *input, char *out, size_t cap);
int gw__netns_rules_apply(const gw__netspec_t *s, char *err, size_t errlen);
int gw__netns_host_element_add(const char *netid, const gw__netspec_t *s, char *err, size_t errlen);
int gw__netns_lock(void);
void gw__netns_unlock(int fd);

/* ---- the rules' guard (netns_guard.c; blocking, the threadpool) ---- */

/* What a check found: nothing (0) or some of these. */
enum {
    GW__GUARD_TABLE_MISSING = 1 << 0, /* no table inet tollgate in the namespace */
    GW__GUARD_RULES_CHANGED = 1 << 1, /* it is there, but not as installed */
    GW__GUARD_HOST_MISSING = 1 << 2,  /* no table inet tollgate_<netid> */
    GW__GUARD_HOST_CHANGED = 1 << 3,  /* it is there, but not as installed */
    GW__GUARD_ELEM_MISSING = 1 << 4,  /* the sandbox's element is not in its set */
};

typedef struct {
    unsigned found;           /* GW__GUARD_*: what was missing or different */
    char *rules, *host_rules; /* the listings after a restore (heap, the caller's); NULL
                                 when that side was intact */
} gw__guard_t;

/* Captures s->rules and s->host_rules (under the lock, right after the build).
 * 0, or -errno with err (then both are NULL). */
int gw__netns_guard_capture(const char *netid, gw__netspec_t *s, char *err, size_t errlen);
/* Compares the rules of s with its captured listings and restores what is
 * missing or different: the namespace's table (deleted if there, then
 * installed again), the host table (made again, with the elements of s and
 * of `others`, borrowed) or only s's element. 0 with out filled (out->found
 * 0: intact), or -errno with err: something could not be restored (out->found
 * says what was wrong). Takes the host-wide lock. */
int gw__netns_guard(const char *netid, const gw__netspec_t *s, const gw__netspec_t *others,
                    size_t nothers, gw__guard_t *out, char *err, size_t errlen);
void gw__guard_dispose(gw__guard_t *out);
/* On the loop: FINDING:CREATE "sandbox firewall rules changed" for sandbox
 * name/uid (borrowed) saying what `found` and that it was restored, or that
 * restoring failed (`failed`: why; NULL when restored). */
void gw__guard_finding(gw__t *g, const char *name, const char *uid, const gw__netspec_t *s,
                       unsigned found, const char *failed);

typedef struct gw__net gw__net_t;
/* At start: the netid ($STATE/netid), leftovers removed, the host table
 * (when root). Never fails: without privileges, attach answers 503. */
void gw__net_start(gw__t *g, const px_config_t *px_cfg);
/* At stop: every sandbox's proxy, catcher and responder, and their
 * namespaces (blocking, the loop is ending). */
void gw__net_stop(gw__t *g);
/* /v1/sandboxes/NAME/{attach,net,process}; false when not one of these. */
bool gw__net_api(gw__t *g, gw_http_req_t *req, gw__sandbox_t *sb, const char *tail);
/* After the loop ended: what is left is removed (blocking). */
void gw__net_free(gw__t *g);
/* DELETE of a sandbox: its namespace goes first; then `done` runs on the
 * loop (at once when it has none). */
void gw__net_detach(gw__t *g, const char *name, void (*done)(gw__t *g, void *arg), void *arg);
/* A new policy version: the sandbox's netns proxy uses it from now on. */
void gw__net_policy_changed(gw__t *g, gw__sandbox_t *sb);

/* ---- the sandbox and policy API (api_sandbox.c) ------------------------------- */

/* Handles /v1/sandboxes...; false when the path is not one of its. */
bool gw__api_sandbox(gw__t *g, gw_http_req_t *req);
/* Something changed (version, status): answer the long polls that wait for
 * it. */
void gw__waiters_poke(gw__t *g, gw__sandbox_t *sb);
void gw__waiters_stop(gw__t *g);

#endif
