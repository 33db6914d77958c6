/*
 * px_internal.h: what the files of proxy/ share. Not for outside.
 *
 *   ssrf.c   the SSRF guard: normalising hosts and IP spellings, classifying
 *            addresses, allowed_ips (CIDR) checks. Pure functions.
 *   ident.c  who is calling: the pid(s) holding a client socket, their exe,
 *            ancestors, command line, and the exe's SHA-256 (cached).
 *   proxy.c  the libuv server: CONNECT tunnels, absolute-form forwarding,
 *            decisions and their events.
 */
#ifndef TOLLGATE_PX_INTERNAL_H
#define TOLLGATE_PX_INTERNAL_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* ---- ssrf.c ------------------------------------------------------------------ */

/* Normalises a requested host: lower case, one trailing dot removed,
 * brackets of an IPv6 literal removed. If the host is an IP literal in any
 * spelling (dotted decimal, a single 32-bit decimal like 2130706433, hex
 * 0x7f.1, octal 0177.0.0.1, short forms like 127.1, IPv6, IPv4-mapped
 * IPv6), *is_ip is set and `out` holds the canonical text (inet_ntop) and
 * *addr the address. Returns 0, or -EINVAL for an empty, over-long (253) or
 * malformed host (bad characters, empty labels). */
int px_host_normalize(const char *host, char *out, size_t outlen, bool *is_ip,
                      struct sockaddr_storage *addr);

typedef enum {
    PX_ADDR_PUBLIC = 0,
    PX_ADDR_LOOPBACK,    /* 127/8, ::1, and their IPv4-mapped forms */
    PX_ADDR_LINK_LOCAL,  /* 169.254/16 (incl. 169.254.169.254), fe80::/10 */
    PX_ADDR_UNSPECIFIED, /* 0.0.0.0/8, :: */
    PX_ADDR_PRIVATE,     /* 10/8, 172.16/12, 192.168/16, fc00::/7 */
    PX_ADDR_INTERNAL,    /* 100.64/10 (CGNAT), 192.0.0/24, 198.18/15, multicast,
                          * broadcast, reserved 240/4, 64:ff9b::/96 to any of these,
                          * site-local fec0::/10, documentation ranges */
} px_addr_class_t;

/* Classifies an address (AF_INET or AF_INET6; IPv4-mapped and NAT64 forms
 * are judged by the IPv4 address they carry). */
px_addr_class_t px_addr_classify(const struct sockaddr *sa);
const char *px_addr_class_name(px_addr_class_t c); /* "loopback", ... */

/* A CIDR list from a policy endpoint's allowed_ips ("10.0.0.0/8",
 * "192.168.1.7", "fd00::/8"). */
typedef struct {
    struct {
        int family;
        uint8_t addr[16];
        int prefix;
    } * v;
    size_t n;
} px_cidrs_t;

/* Parses a JSON array text of strings (the endpoint's extra_json
 * "allowed_ips"); err says which entry is bad. */
int px_cidrs_parse(const char *const *items, size_t n, px_cidrs_t *out, char *err, size_t errlen);
void px_cidrs_dispose(px_cidrs_t *c);
bool px_cidrs_contain(const px_cidrs_t *c, const struct sockaddr *sa);

/* The guard's verdict for one resolved address of host:port. Always
 * blocked: loopback, link-local, unspecified, and ports 2379, 2380, 6443,
 * 10250, 10255 on any address. Blocked unless `allowed` covers the address:
 * private and internal. Returns true when allowed; otherwise `reason` says
 * why ("169.254.169.254 is a link-local address", "port 10250 is a
 * control-plane port"). `test_allow_loopback` (a test-only switch, off in
 * production) lets loopback through. */
bool px_ssrf_check(const struct sockaddr *sa, uint16_t port, const px_cidrs_t *allowed,
                   bool test_allow_loopback, char *reason, size_t reasonlen);

/* Helpers. PX_HOST_MAX sizes an `out` of px_host_normalize that holds any
 * normalised host (253 bytes and the NUL; a smaller one may get -ENOSPC).
 * px_addr_format writes sa for messages and events: inet_ntop text, an
 * IPv4-mapped address as its IPv4 ("127.0.0.1"). Returns 0, -EAFNOSUPPORT
 * (not AF_INET/AF_INET6, or NULL) or -ENOSPC (INET6_ADDRSTRLEN suffices). */
#define PX_HOST_MAX 254
int px_addr_format(const struct sockaddr *sa, char *out, size_t outlen);

/* ---- ident.c ------------------------------------------------------------------ */
/* (and ident_cache.c: the exe hash cache, px_ident_cache_* and px_file_sha256) */

#define PX_MAX_ANCESTORS 64

/* About 270 KiB: allocate it on the heap, not on a thread's stack. All the
 * strings are raw bytes from /proc (a command line may hold any byte but
 * NUL): escape them before they reach a log or a terminal. */
typedef struct {
    int pid;
    /* /proc/<pid>/exe, its " (deleted)" suffix removed */
    char exe[4096];
    /* the link said " (deleted)" or the file has no links left: the binary
     * was removed or replaced after it started (suspicious) */
    bool exe_deleted;
    char name[256]; /* /proc/<pid>/comm */
    /* /proc/<pid>/cmdline: the arguments, each ended by a NUL (the
     * argument boundaries are kept: px_argv_redact); cut at the buffer */
    char cmdline[4096];
    size_t cmdline_len;
    char sha256[65]; /* of the exe file ("" when unreadable) */
    int nancestors;
    int ancestor_pids[PX_MAX_ANCESTORS]; /* nearest first; pid 1 included */
    /* exes of the parents, nearest first, " (deleted)" removed as from
     * exe ("" when unreadable) */
    char ancestors[PX_MAX_ANCESTORS][4096];
} px_ident_t;

typedef struct px_ident_cache px_ident_cache_t;

/* A cache of exe hashes keyed by (dev, inode, mtime, size; and ctime, which
 * no one can set back, so a rewrite that restores mtime is still caught): a
 * warm lookup reads no file. Bounded: PX_IDENT_CACHE_ENTRIES entries, 8-way
 * set associative (a full set evicts its least recently used entry, so
 * evictions start before the table is full). Thread-safe (a mutex, not
 * held while a file is hashed). create aborts on OOM and returns NULL only
 * when OpenSSL has no SHA-256; destroy accepts NULL. Every other function
 * takes a non-NULL cache. */
#define PX_IDENT_CACHE_ENTRIES 4096
px_ident_cache_t *px_ident_cache_create(void);
void px_ident_cache_destroy(px_ident_cache_t *c);

/* Files whose ctime is younger than this are hashed but not cached: file
 * times are coarse (a tick), so a same-size rewrite within one tick would
 * keep the key. */
#define PX_IDENT_FRESH_NS 2000000000ll
/* Sets that window (tests: 0 caches everything). Any thread. */
void px_ident_cache_set_fresh_ns(px_ident_cache_t *c, int64_t ns);

/* Counters of the cache (any thread). A miss is one file read and hashed.
 * scans: holder searches run (BPF runs or /proc scans); scanned: lookups
 * they served (concurrent lookups share one, so scanned >= scans). */
typedef struct {
    uint64_t hits, misses, evictions;
    size_t entries;
    uint64_t scans, scanned;
    /* lookups answered from the clients' cgroup alone (cgroup_fast), and
     * those that had a cgroup set but went on to the /proc scan */
    uint64_t cgroup_fast, cgroup_fallback;
    /* the holders come from the BPF task_file iterator first (bpf; false:
     * every batch scans /proc, and the one log line at start says why);
     * bpf_runs: batches it answered (counted in scans too), bpf_served: the
     * lookups in them, bpf_fallbacks: runs that failed and were scanned */
    bool bpf;
    uint64_t bpf_runs, bpf_served, bpf_fallbacks;
} px_ident_cache_stats_t;
void px_ident_cache_stats(px_ident_cache_t *c, px_ident_cache_stats_t *out);

/* Who holds the TCP connection whose local end (as the client sees it) is
 * `peer` and remote end `local` (the proxy's end: getpeername and
 * getsockname of the accepted socket). Finds the client socket's inode
 * (sock_diag netlink, /proc/net/tcp and tcp6 as the fallback), then the
 * processes (not threads) with that inode among their fds; several with
 * one exe (fork without exec) give the lowest pid. Returns 0 and fills *id;
 * -EINVAL for a NULL or non-IP argument; -ENOENT when no process was found
 * (the socket is gone, /proc is not readable, or the scan hit its limits:
 * reason says which); -EEXIST when processes with different exes share the
 * socket (ambiguous: reason names two). The calling process is scanned
 * like any other (it holds the proxy's end, another inode). peer, local
 * and c are borrowed; *id is caller storage, reset on failure. reason holds
 * raw paths: escape it before logging. Blocking (reads /proc, hashes
 * files): any thread but the loop thread. Concurrent calls on one cache
 * share /proc scans (each scan starts after every lookup it serves began),
 * so the answer is the same as that of a lookup alone. */
int px_ident_lookup(px_ident_cache_t *c, const struct sockaddr *peer, const struct sockaddr *local,
                    px_ident_t *id, char *reason, size_t reasonlen);

/* The cgroup v2 directory the clients of this cache run in (a sandbox's:
 * gateway/sandbox_net.c makes it, `sandbox exec` puts the sandbox's init
 * there; root-owned, so the sandbox cannot leave it); NULL or "" for none.
 * With one set, px_ident_lookup first looks for the holders among the
 * processes of that cgroup's cgroup.procs, and answers from them alone when
 * (1) sock_diag says the socket was made in that very cgroup (its cgroup
 * id is the directory's inode: a socket made outside and passed in is
 * never answered this way), (2) some process there holds it, and (3) every
 * process there could be read and the limits were not hit. Otherwise (no
 * cgroup, no sock_diag, made elsewhere, held by no one inside) the /proc
 * scan decides, as without a cgroup. What the fast path assumes: nothing
 * outside the cgroup holds a socket made inside while one inside still
 * does (ident.c says which ways out exist and what they take). The path is
 * copied; any thread. The environment variable TOLLGATE_IDENT_FULL_SCAN=1
 * (read at create) ignores the cgroup and the BPF step (ident_bpf.c): the
 * /proc scan alone, the oracle of the tests; TOLLGATE_IDENT_BPF=0 turns off
 * the BPF step alone. */
void px_ident_cache_set_cgroup(px_ident_cache_t *c, const char *dir);

/* SHA-256 of a file, hex; cached by (dev, inode, mtime, size, ctime).
 * Returns 0, -EINVAL when path is not a regular file, -EFBIG over
 * PX_IDENT_MAX_HASH bytes (a huge sparse "binary" must not pin a worker), or
 * open/read's negative errno. Blocking. */
#define PX_IDENT_MAX_HASH (1ull << 30)
int px_file_sha256(px_ident_cache_t *c, const char *path, char out[65]);

/* ident_cache.c for ident.c: the SHA-256 of an open file through the cache
 * (pread: fd's offset is untouched). Returns as px_file_sha256. */
int px__ident_hash_fd(px_ident_cache_t *c, int fd, char out[65]);

/* ident_scan.c for ident.c: who holds a socket inode. One scan object per
 * cache (px__ident_cache_scan); concurrent lookups queue there and share
 * one /proc scan that starts after each of them queued (ident_scan.c). */
typedef struct px__ident_scan px__ident_scan_t;
px__ident_scan_t *px__ident_scan_create(void);    /* aborts on OOM */
void px__ident_scan_destroy(px__ident_scan_t *s); /* accepts NULL */
void px__ident_scan_stats(px__ident_scan_t *s, uint64_t *scans, uint64_t *served);
px__ident_scan_t *px__ident_cache_scan(px_ident_cache_t *c); /* borrowed */

/* The holders of one inode, as a scan saw them (caller storage, ~8 KiB). */
typedef struct {
    int pid;        /* the lowest holder with exe; 0 = none */
    int fd;         /* one of pid's fds on the socket (-1: unknown) */
    int other_pid;  /* a holder with another exe (ambiguous); 0 = none */
    char exe[4096]; /* /proc/<pid>/exe links as read ("" unreadable) */
    char other_exe[4096];
    unsigned unreadable; /* processes whose fds could not be read */
    bool capped;         /* the scan stopped at its limit before the end */
    int err;             /* 0, or -errno when /proc could not be listed */
} px__holders_t;

/* Fills *out from a /proc scan that starts after the call; returns out->err.
 * Blocks (waits for a running scan, then its own or a shared one). */
int px__ident_find_holders(px__ident_scan_t *s, uint64_t ino, px__holders_t *out);

/* The holders of ino among the processes listed in cgroup.procs of the
 * cgroup v2 directory cgfd (processes only, like the /proc scan; same
 * limits, same lowest-pid and other-exe rules). Returns out->err (-errno
 * when cgroup.procs or /proc cannot be read). Blocking; no shared state. */
int px__ident_cgroup_holders(int cgfd, uint64_t ino, px__holders_t *out);

/* ident_bpf.c for ident_scan.c: the holders of socket inodes from a BPF
 * task_file iterator (proxy/bpf/ident_iter.bpf.c), the same set the /proc
 * scan reads (processes: the leaders' fd tables). One per process, loaded on
 * the first get; NULL when BPF cannot be used (why: one line, for the log)
 * or TOLLGATE_IDENT_BPF=0. A run calls hit(ctx, i, tgid, fd, flags) for
 * each fd of a process that is inos[i], in pid order, until hit returns
 * false; returns 0 or -errno (then what hit saw is not the whole set: scan
 * /proc instead). Blocking; any thread but the loop thread; concurrent runs
 * are independent. flags: PX__BPF_LEADER when the fd is in the process's
 * (its leader's) table; without it, the fd is in a thread's table of its
 * own, which /proc/<pid>/fd does not show: such a thread still makes its
 * process a holder (counted: hidden). */
#define PX__BPF_BATCH  64u
#define PX__BPF_LEADER 1u
typedef struct px__ident_bpf px__ident_bpf_t;
typedef bool (*px__bpf_hit_fn)(void *ctx, size_t i, int tgid, int fd, uint32_t flags);
px__ident_bpf_t *px__ident_bpf_get(char *why, size_t n);
int px__ident_bpf_run(px__ident_bpf_t *b, const uint64_t *inos, size_t n, px__bpf_hit_fn hit,
                      void *ctx);
uint64_t px__ident_bpf_hidden(void);
/* Tests: the next run (any thread) fails with -err after `after` records. */
void px__ident_bpf_fault(int err, unsigned after);

/* ident_scan.c: the BPF side of a scan object's counters. on: its batches
 * go to BPF first (false: TOLLGATE_IDENT_BPF=0, TOLLGATE_IDENT_FULL_SCAN=1,
 * or BPF could not be loaded). runs: batches BPF answered; served: lookups
 * in them; fallbacks: runs that failed, answered by the /proc scan. */
void px__ident_scan_bpf_stats(px__ident_scan_t *s, bool *on, uint64_t *runs, uint64_t *served,
                              uint64_t *fallbacks);

/* ident_cache.c for ident.c: the cgroup set on c into out ("" for none, or
 * when TOLLGATE_IDENT_FULL_SCAN=1); counts the lookup's outcome. */
void px__ident_cache_cgroup(px_ident_cache_t *c, char *out, size_t n);
void px__ident_cache_count(px_ident_cache_t *c, bool fast);

/* Tests: while paused no scan starts (lookups queue); queued counts them. */
void px__ident_scan_pause(px__ident_scan_t *s, bool paused);
size_t px__ident_scan_queued(px__ident_scan_t *s);

/* True when the process whose /proc directory is pfd has a socket:[ino] fd
 * (false when its fds cannot be read). */
bool px__ident_pid_holds(int pfd, uint64_t ino);
/* The same for its fd `fd` alone (one readlinkat; false for fd < 0). */
bool px__ident_pid_holds_fd(int pfd, int fd, uint64_t ino);

/* The steps of px_ident_lookup, for tests and fuzzers. */

/* How the client socket's inode is found: sock_diag netlink (one exact
 * 4-tuple request), the /proc/net/tcp and tcp6 tables, or netlink then the
 * tables when netlink fails or finds nothing (what px_ident_lookup does). */
typedef enum { PX_IDENT_VIA_AUTO = 0, PX_IDENT_VIA_NETLINK, PX_IDENT_VIA_PROCFS } px_ident_via_t;

/* The inode of the socket whose local end is `peer` and remote end `local`
 * (IPv4-mapped IPv6 addresses match their IPv4 form). Returns 0, -EINVAL
 * for an address that is not AF_INET/AF_INET6, -ENOENT when there is no
 * such socket (or only one no process holds: TIME_WAIT, orphaned), or the
 * netlink / read errno; reason says which. */
int px_ident_socket_inode(const struct sockaddr *peer, const struct sockaddr *local,
                          px_ident_via_t via, uint64_t *inode, char *reason, size_t reasonlen);

/* One row of /proc/net/tcp (v6 false) or /proc/net/tcp6, addresses in
 * network byte order (tcp6 IPv4-mapped rows stay AF_INET6 here). */
typedef struct {
    int family;
    uint8_t laddr[16], raddr[16];
    uint16_t lport, rport; /* host order */
    uint64_t inode;
} px_tcp_row_t;

/* Parses one line (NUL-terminated; the header line and malformed lines give
 * -EINVAL). */
int px_ident_parse_tcp_row(const char *line, bool v6, px_tcp_row_t *row);

/* ---- the server (server.c, decide.c, relay.c) -------------------------------- */

#include <http_parser.h>
#include <uv.h>

#include "proxy/proxy.h"

#define PX__MAX_URL    8192
#define PX__HIGH_WATER (1u << 20) /* bytes queued toward one side before pausing the other */
#define PX__LOW_WATER  (256u << 10)
#define PX__BUF        (64u << 10)  /* one relay read */
#define PX__PIPE       (256u << 10) /* a spliced tunnel's pipe, per direction (relay_splice.c) */
/* a forwarded Content-Length body with this many bytes still to come is
 * spliced (relay_splice.c); smaller ones stay on the copy relay */
#define PX__SPLICE_BODY_MIN (64u << 10)

typedef struct px_conn px_conn_t;
typedef struct px__idle px__idle_t;

/* upstream_pool.c: idle upstreams of forwarded requests */
#define PX__POOL_PER_KEY 4
#define PX__POOL_MAX     64
#define PX__POOL_IDLE_MS 30000
typedef struct {
    char sandbox[128];
    char exe[4096];
    char sha256[65];
    char host[256];
    char ip[64]; /* the address that passed the SSRF guard */
    uint16_t port;
    uint64_t policy_version;
} px__pool_key_t;

struct px {
    uv_loop_t *loop;
    px_config_t cfg;
    px_hooks_t hooks;
    uv_tcp_t listener;
    char host[256];
    int port;
    px_conn_t *conns;
    px_ident_cache_t *idcache;
    px_stats_t st;
    uint64_t accept_failed, last_accept_log_ms; /* EMFILE/ENFILE at accept: logged once a minute */
    char *bufs[64]; /* spare relay read buffers (PX__BUF bytes): no malloc, no page faults */
    int nbufs;
    /* spliced tunnels (relay_splice.c): TOLLGATE_PROXY_SPLICE=0 turns them
     * off; tunnels made and those that fell back to the copy relay; the
     * pipe capacity of the open ones (kernel memory) */
    bool no_splice;
    uint64_t splice_tunnels, splice_fallbacks, splice_bodies;
    size_t splice_pipe_bytes, splice_live; /* live: tunnels and bodies spliced now */
    /* idle upstreams (upstream_pool.c), newest first; counters */
    px__idle_t *idle;
    int nidle;
    uint64_t pool_put, pool_hits, pool_retries;
    bool closing;
    int open; /* the listener + connections not yet freed */
    /* TLS interception (mitm.c), made on first use: the client-facing base
     * context (SNI callback picks the leaf) and the upstream client context */
    struct ssl_ctx_st *mitm_srv_ctx, *mitm_up_ctx;
};

typedef enum {
    PX_HEAD,   /* reading the request head */
    PX_DECIDE, /* identity, policy, DNS, SSRF, dial */
    PX_RELAY,  /* tunnel or forwarded request: bytes both ways */
    PX_REFUSE, /* an error reply is being written, then close */
    PX_CLOSING,
} px_phase_t;

struct px_conn {
    px_t *px;
    px_conn_t *prev, *next;
    uv_tcp_t client;
    uv_tcp_t *up; /* the upstream (heap: one per dial attempt); NULL when none */
    uv_timer_t timer;
    uv_getaddrinfo_t gai;
    uv_connect_t connect_req;
    uv_work_t work;
    int handles; /* open libuv handles: freed at 0 */
    bool closing, work_busy, gai_busy;
    px_phase_t phase;

    http_parser parser;
    size_t head_bytes;
    bool head_done, in_value;
    ocsf_buf_t url, hdrs; /* hdrs: "name\0value\0" pairs */
    size_t nhdrs;
    ocsf_buf_t rest; /* bytes after the head */

    char method[24];
    bool is_connect;
    char host_asked[256]; /* as the client wrote it (escaped on display) */
    char host[256];       /* normalised */
    bool host_is_ip;
    struct sockaddr_storage host_addr;
    uint16_t port;
    ocsf_buf_t path; /* forwarded requests: origin-form target */

    struct sockaddr_storage peer, local;
    px_ident_t *ident; /* heap: big */
    int ident_rc;
    char ident_reason[256];
    pol_decision_t dec;
    char rule[128]; /* dec.rule, copied: the index may change under a long tunnel */
    px_cidrs_t allowed_ips;
    struct addrinfo *ai, *ai_next;
    struct addrinfo single; /* an IP literal's one address */
    char ip[64];            /* the address dialled */
    int64_t start_ms;
    uint64_t bytes_in, bytes_out; /* from the upstream / to the upstream */
    size_t up_pending, client_pending;
    bool client_eof, up_eof, opened_event;

    /* Forwarded requests (relay.c): the request body is framed by `parser`
     * (paused at its end), the response by `resp`; when both are complete
     * and both sides allow it, the connection reads its next head. */
    http_parser resp;
    int resp_status;   /* the final response's status (or the proxy's), 0: none yet */
    bool client_ka;    /* the request allows keep-alive */
    bool req_done;     /* the request's body has all gone (or is going) upstream */
    bool resp_done;    /* the response's last byte was read */
    bool resp_started; /* response bytes went to the client */
    bool http_pending; /* the allowed HTTP event waits for the response head */
    unsigned up_gen;   /* bumped per upstream handle: a stale write's error is ignored */
    uint64_t nreq;     /* request heads begun on this connection */

    /* TLS interception: the CONNECT's endpoint is inspected (decide.c sets
     * it); the tunnel's state once intercepted (mitm.c) */
    bool inspect;
    struct px__mitm *mitm;
    /* a plain tunnel relayed with splice(2) (relay_splice.c); NULL: copy relay */
    struct px__splice *sp;
    /* upstream reuse (forwarded requests): the address dialled; the upstream
     * came from the pool; the request can be sent again (idempotent, no
     * body); it was (once); it is being; bytes came past the response */
    struct sockaddr_storage up_addr;
    bool reused, replayable, retried, retrying, resp_extra;
    /* the final response's body is framed by Content-Length (relay.c:
     * its body may be spliced) */
    bool resp_body_cl;
};

/* server.c */
/* Resets the per-request state (after the first request), then reads the
 * next request head: from c->rest first (pipelined bytes), then the client.
 * Timers: the head timeout for the first head or once a head's first byte
 * is in; between requests, the idle timeout (then a silent close). */
void px__head_begin(px_conn_t *c);
void px__conn_close(px_conn_t *c);
void px__conn_maybe_free(px_conn_t *c); /* after in-flight work ends */
void px__up_close(px_conn_t *c);        /* closes and forgets the upstream handle */
/* Writes an error reply (JSON body, Connection: close) and closes. */
/* FIN to the client once the queued writes are out, then the close. */
void px__shutdown_client(px_conn_t *c);
/* The proxy's JSON refusal, head and body ({"error","detail","reason"}),
 * appended to out; with close, `Connection: close`. The reason (else the
 * detail) is also in the status line's reason phrase and in an
 * `X-Tollgate-Reason` header, escaped to printable ASCII (\xNN) and cut at
 * 300 bytes: a hostname's bytes cannot end a line or add a header. */
void px__refusal(ocsf_buf_t *out, int status, const char *error, const char *detail,
                 const char *reason, bool close);
void px__refuse(px_conn_t *c, int status, const char *error, const char *detail,
                const char *reason);
int64_t px__now_ms(void);
void px__on_timer(uv_timer_t *t); /* head timeout, then tunnel idle timeout */

/* decide.c: from a complete head to a connected upstream (or a refusal). */
void px__decide(px_conn_t *c);
/* The events of a connection. */
void px__event_open(px_conn_t *c, bool allowed, const char *engine, const char *reason);
void px__event_close(px_conn_t *c);
void px__event_fail(px_conn_t *c, const char *reason);
/* The builders of those events, for mitm_http.c: the parts every event of
 * the connection has (device, sandbox, src/proxy/dst endpoints, actor) and
 * the URL of an HTTP Activity event (query values redacted unless
 * proxy.log_query_values; qbuf holds the redacted text and must outlive
 * the event). */
typedef struct {
    char src_ip[64], proxy_ip[64];
    char cmd[4096];
} px__evbufs_t;
void px__event_base(px_conn_t *c, ocsf_event_t *ev, int cls, int act, int sev, px__evbufs_t *b);
void px__event_url(px_conn_t *c, ocsf_event_t *ev, const char *method, const char *scheme,
                   ocsf_str_t path, ocsf_str_t query, ocsf_buf_t *qbuf);
/* The caller's exe and its ancestors' (as the policy matches them). */
size_t px__conn_exes(px_conn_t *c, const char **exes, size_t max);

/* redact.c: a query string as the trail keeps it: keys kept, every value
 * (and a bare item, which may be a secret itself) "<redacted>":
 * "diag=<redacted>&x=<redacted>". Appends to out. */
void px_query_redact(const char *q, size_t n, ocsf_buf_t *out);

/* mitm.c: an allowed CONNECT whose endpoint is inspected: the 200, then TLS
 * (or plain HTTP) terminated and every request decided (mitm_http.c). */
void px__mitm_start(px_conn_t *c);
void px__mitm_closing(px_conn_t *c); /* px__conn_close: a request's pending event */
void px__mitm_free(px_conn_t *c);    /* px__conn_maybe_free */
/* Refuses, at start, a proxy.upstream_ca that cannot be loaded (-EINVAL
 * with err naming the file). */
int px__mitm_check_config(px_t *p, char *err, size_t errlen);
void px__mitm_px_free(px_t *p); /* the proxy's TLS contexts */
/* A forwarded request's allowed HTTP event, once: when its response head
 * arrives (with the status), or when the exchange ends without one. */
void px__event_http(px_conn_t *c);

/* relay.c */
void px__relay_start(px_conn_t *c);
/* relay_splice.c: a plain tunnel's splice relay. prepare (at the tunnel's
 * start) makes the pipes and polls, false when it cannot (the copy relay
 * then); go starts it once the streams' write queues are empty (waiting:
 * prepared, not started); close (px__conn_close) tears it down. */
typedef struct px__splice px__splice_t;
bool px__splice_prepare(px_conn_t *c);
bool px__splice_waiting(px_conn_t *c);
void px__splice_go(px_conn_t *c);
void px__splice_close(px_conn_t *c);
/* A forwarded body's splice (relay.c): body is PX__BODY_REQ (client ->
 * upstream) or PX__BODY_RESP (upstream -> client); the caller stops
 * libuv's reads of the source. px__splice_body takes exactly len bytes of
 * it (false: the copy relay goes on; fds, budget); they move once kick
 * finds the destination's write queue empty (on_written calls it). When
 * they are out, or the upstream stopped taking a request body (ok false),
 * relay_splice.c calls px__fwd_body_spliced (moved: bytes taken) with the
 * splice state already gone if no other body is spliced. reading: the
 * body's source is being spliced (libuv must not read it). */
enum { PX__BODY_REQ = 0, PX__BODY_RESP = 1 };
bool px__splice_body(px_conn_t *c, int body, uint64_t len);
void px__splice_kick(px_conn_t *c);
bool px__splice_reading(const px_conn_t *c, int body);
void px__fwd_body_spliced(px_conn_t *c, int body, uint64_t moved, bool ok);

/* upstream_pool.c. key_of: the pool key of c's request (false: the caller
 * is not named, nothing is pooled); key_eq: all of it matches; take: an
 * idle upstream of that key, now c's handle (NULL: none); put: c->up goes
 * idle under k (c->up is NULL after); close_all: px_destroy. */
bool px__pool_key_of(px_conn_t *c, px__pool_key_t *k);
bool px__pool_key_eq(const px__pool_key_t *a, const px__pool_key_t *b);
uv_tcp_t *px__pool_take(px_conn_t *c, const px__pool_key_t *k);
void px__pool_put(px_conn_t *c, const px__pool_key_t *k);
void px__pool_close_all(px_t *p);
/* A forwarded request's upstream is done: its HTTP event if still pending,
 * its NET:CLOSE (bytes of this request), the handle closed. */
void px__fwd_end_upstream(px_conn_t *c);

#endif
