/*
 * netns.c: the network plumbing of a sandbox, built with the `ip` and `nft`
 * binaries (iproute2, nftables). Blocking: the threadpool, or the start and
 * the end of the process, never the loop in between.
 *
 * Per sandbox (index N, from a host-wide lock and the addresses in use):
 *   netns  tg-<netid>-<name>          (/run/netns, like `ip netns add`)
 *   veth   tg<netid>h<N> (host) <-> eth0 (inside)
 *   addrs  base+4N+1/30 (host side, the proxy listens there) and base+4N+2/30
 *   route  IPv4: default via the host side; IPv6 (no link-local address,
 *          one ULA address): default dev eth0, so IPv6 attempts reach the rules
 *   nft    inside, table inet tollgate (before eth0 is up): TCP to the proxy
 *          passes, other TCP is REDIRECTed to the catcher (127.0.0.1:15001,
 *          [::1]:15001), IPv4 UDP 53 to the DNS responder (127.0.0.1:53), IPv6
 *          UDP is logged to NFLOG group 15002 and dropped; everything else
 *          leaving eth0 is dropped and counted (udp_dropped, other_dropped)
 *   nft    in the root namespace, table inet tollgate_<netid> (made by the
 *          first attach): from a sandbox's link only (its link, its host
 *          address, port 3128) is accepted, nothing is forwarded; IPv6 is
 *          disabled on the host side of each veth
 *   file   /etc/netns/<ns>/resolv.conf naming 127.0.0.1 (what
 *          `ip netns exec` and `tollgate sandbox exec` mount over
 *          /etc/resolv.conf)
 * <netid> (4 hex digits, $STATE/netid) keeps two gateways on one host, each
 * with its own state, out of each other's namespaces: cleanup at start
 * removes only what carries its own netid.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gateway/gw_internal.h"

extern char **environ;

#define LOCK_PATH "/run/tollgate-net.lock"

static const char *tool(const char *name)
{
    bool ip = strcmp(name, "ip") == 0;
    if (access(ip ? "/usr/sbin/ip" : "/usr/sbin/nft", X_OK) == 0)
        return ip ? "/usr/sbin/ip" : "/usr/sbin/nft";
    return ip ? "/sbin/ip" : "/sbin/nft";
}

/* Runs argv (argv[0]: "ip" or "nft") with `input` on stdin; stdout and
 * stderr into out (NUL-terminated, cut at cap). The exit status, or -errno. */
static int run(const char *const argv[], const char *input, char *out, size_t cap)
{
    int in[2], op[2];
    if (pipe2(in, O_CLOEXEC) != 0)
        return -errno;
    if (pipe2(op, O_CLOEXEC) != 0) {
        close(in[0]);
        close(in[1]);
        return -errno;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, op[1], 1);
    posix_spawn_file_actions_adddup2(&fa, op[1], 2);
    /* the proxy ignores SIGPIPE (splice); ip and nft get the default back */
    posix_spawnattr_t at;
    sigset_t def;
    posix_spawnattr_init(&at);
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    posix_spawnattr_setsigdefault(&at, &def);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF);
    pid_t pid;
    int rc = posix_spawn(&pid, tool(argv[0]), &fa, &at, (char *const *)argv, environ);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(op[1]);
    if (rc == 0 && input) {
        size_t n = strlen(input), off = 0;
        while (off < n) {
            ssize_t w = write(in[1], input + off, n - off);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
    }
    close(in[1]);
    size_t len = 0;
    char sink[512];
    for (ssize_t r; rc == 0 && (r = read(op[0], len + 1 < cap ? out + len : sink,
                                         len + 1 < cap ? cap - len - 1 : sizeof sink)) != 0;) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        if (len + 1 < cap)
            len += (size_t)r;
    }
    close(op[0]);
    if (cap)
        out[len < cap ? len : cap - 1] = '\0';
    if (rc != 0)
        return -rc;
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* run() that fills err with the command and its output on failure. */
static int runv(char *err, size_t errlen, const char *input, const char *const argv[])
{
    char out[1024];
    int rc = run(argv, input, out, sizeof out);
    if (rc != 0 && err) {
        char cmd[256] = "";
        for (size_t i = 0, o = 0; argv[i] && o < sizeof cmd - 1; i++)
            o += (size_t)snprintf(cmd + o, sizeof cmd - o, "%s%s", i ? " " : "", argv[i]);
        out[strcspn(out, "\n")] = '\0';
        snprintf(err, errlen, "%s: %s", cmd, rc < 0 ? strerror(-rc) : out);
    }
    return rc == 0 ? 0 : -EIO;
}

#define RUN(err, errlen, input, ...)                                                               \
    runv(err, errlen, input, (const char *const[]){__VA_ARGS__, NULL})

/* ---- names and addresses ------------------------------------------------------------ */

int gw__netns_parse_base(const char *cidr, uint32_t *base, uint32_t *count)
{
    char ip[32];
    const char *slash = strchr(cidr, '/');
    size_t n = slash ? (size_t)(slash - cidr) : strlen(cidr);
    int prefix = slash ? atoi(slash + 1) : 16;
    struct in_addr a;
    if (n >= sizeof ip || prefix < 8 || prefix > 28)
        return -EINVAL;
    memcpy(ip, cidr, n);
    ip[n] = '\0';
    if (inet_pton(AF_INET, ip, &a) != 1)
        return -EINVAL;
    *base = ntohl(a.s_addr) & ~((1u << (32 - prefix)) - 1);
    *count = 1u << (32 - prefix - 2); /* /30s */
    return 0;
}

static void ip_text(uint32_t host_order, char *out, size_t n)
{
    struct in_addr a = {htonl(host_order)};
    inet_ntop(AF_INET, &a, out, (socklen_t)n);
}

static void spec_fill(gw__netspec_t *s, const char *netid, const char *name, uint32_t base,
                      int index)
{
    s->index = index;
    snprintf(s->ns, sizeof s->ns, "tg-%s-%s", netid, name);
    snprintf(s->ns_path, sizeof s->ns_path, "/run/netns/%s", s->ns);
    snprintf(s->host_if, sizeof s->host_if, "tg%sh%d", netid, index);
    snprintf(s->resolv, sizeof s->resolv, "/etc/netns/%s/resolv.conf", s->ns);
    ip_text(base + 4u * (uint32_t)index + 1, s->host_ip, sizeof s->host_ip);
    ip_text(base + 4u * (uint32_t)index + 2, s->sbx_ip, sizeof s->sbx_ip);
}

/* The smallest index whose host address no interface of the root
 * namespace holds (with the lock held). */
static int pick_index(uint32_t base, uint32_t count, char *err, size_t errlen)
{
    static char out[1 << 16];
    if (run((const char *const[]){"ip", "-o", "-4", "addr", "show", NULL}, NULL, out, sizeof out)) {
        snprintf(err, errlen, "ip -o -4 addr show failed: %.200s", out);
        return -EIO;
    }
    for (uint32_t i = 1; i < count; i++) {
        char want[40];
        ip_text(base + 4 * i + 1, want, sizeof want);
        size_t wl = strlen(want);
        bool used = false;
        for (const char *p = strstr(out, want); p && !used; p = strstr(p + 1, want))
            used = p > out && p[-1] == ' ' && p[wl] == '/';
        if (!used)
            return (int)i;
    }
    snprintf(err, errlen, "no free sandbox subnet left in the sandbox network");
    return -ENOSPC;
}

/* ---- the rules ---------------------------------------------------------------------- */

static int sandbox_rules(const gw__netspec_t *s, char *err, size_t errlen)
{
    char script[2048];
    snprintf(script, sizeof script,
             "table inet tollgate {\n"
             "  counter udp_dropped { }\n"
             "  counter other_dropped { }\n"
             "  counter udp6_dropped { }\n"
             "  chain nat_out {\n"
             "    type nat hook output priority -100; policy accept;\n"
             "    oif \"lo\" accept\n"
             "    ip daddr %s tcp dport %d accept\n"
             "    meta nfproto ipv4 udp dport 53 redirect to :53\n"
             "    meta nfproto ipv4 meta l4proto tcp redirect to :%d\n"
             "    meta nfproto ipv6 meta l4proto tcp redirect to :%d\n"
             "  }\n"
             "  chain filter_out {\n"
             "    type filter hook output priority 0; policy accept;\n"
             "    oif \"lo\" accept\n"
             "    ct status dnat accept\n"
             "    ip daddr %s tcp dport %d accept\n"
             "    meta nfproto ipv6 meta l4proto udp counter name \"udp6_dropped\" "
             "log group %d snaplen 256 queue-threshold 1 drop\n"
             "    meta l4proto udp counter name \"udp_dropped\" drop\n"
             "    counter name \"other_dropped\" drop\n"
             "  }\n"
             "}\n",
             s->host_ip, GW__PROXY_PORT, GW__CATCHER_PORT, GW__CATCHER_PORT, s->host_ip,
             GW__PROXY_PORT, GW__NFLOG_GROUP);
    return RUN(err, errlen, script, "ip", "netns", "exec", s->ns, "nft", "-f", "-");
}

int gw__netns_host_table(const char *netid, char *err, size_t errlen)
{
    char script[1536];
    snprintf(script, sizeof script,
             "table inet tollgate_%s {\n"
             "  set proxies { type ifname . ipv4_addr . inet_service; }\n"
             "  chain input {\n"
             "    type filter hook input priority -10; policy accept;\n"
             "    iifname . ip daddr . tcp dport @proxies accept\n"
             "    iifname \"tg%sh*\" counter drop\n"
             "  }\n"
             "  chain forward {\n"
             "    type filter hook forward priority -10; policy accept;\n"
             "    iifname \"tg%sh*\" drop\n"
             "    oifname \"tg%sh*\" drop\n"
             "  }\n"
             "}\n",
             netid, netid, netid, netid);
    char table[64];
    snprintf(table, sizeof table, "tollgate_%s", netid);
    RUN(NULL, 0, NULL, "nft", "delete", "table", "inet", table);
    return RUN(err, errlen, script, "nft", "-f", "-");
}

static int host_element(const char *netid, const gw__netspec_t *s, bool add, char *err,
                        size_t errlen)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "%s element inet tollgate_%s proxies { \"%s\" . %s . %d }\n",
             add ? "add" : "delete", netid, s->host_if, s->host_ip, GW__PROXY_PORT);
    return RUN(err, errlen, cmd, "nft", "-f", "-");
}

static int write_resolv(const gw__netspec_t *s, char *err, size_t errlen)
{
    char dir[160];
    snprintf(dir, sizeof dir, "/etc/netns/%s", s->ns);
    mkdir("/etc/netns", 0755);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
        return -errno;
    }
    FILE *f = fopen(s->resolv, "w");
    if (!f || fputs("# tollgate: the sandbox's resolver (gateway/netns.c)\n"
                    "nameserver 127.0.0.1\noptions attempts:2 timeout:2\n",
                    f) < 0) {
        snprintf(err, errlen, "write %s: %s", s->resolv, strerror(errno));
        if (f)
            fclose(f);
        return -EIO;
    }
    return fclose(f) == 0 ? 0 : -EIO;
}

/* ---- create, destroy, clean up ---------------------------------------------------- */

static int lock_net(void)
{
    int fd = open(LOCK_PATH, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0)
        flock(fd, LOCK_EX);
    return fd;
}

static void unlock_net(int fd)
{
    if (fd >= 0)
        close(fd);
}

/* IPv6 on the host side of the veth: off (no address, and the kernel drops
 * every IPv6 packet arriving there before any hook). */
static int ipv6_host_off(const gw__netspec_t *s, char *err, size_t errlen)
{
    char path[96];
    snprintf(path, sizeof path, "/proc/sys/net/ipv6/conf/%s/disable_ipv6", s->host_if);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "1\n", 2) != 2) {
        snprintf(err, errlen, "write %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -EIO;
    }
    close(fd);
    return 0;
}

/* IPv6 inside: eth0 gets no link-local address (nothing of the kernel's own
 * to send: no DAD, no router solicitation), one ULA address and a default
 * route through eth0, so that a connect() or sendto() to any IPv6 address
 * makes a packet the output rules see (TCP: REDIRECTed to the catcher on
 * [::1]; UDP: logged to the NFLOG listener and dropped; the rest dropped).
 * Without a route the attempt would fail in the routing and be seen by no
 * one. ::1 on lo is untouched. */
static int ipv6_inside(const gw__netspec_t *s, char *err, size_t errlen)
{
    int rc;
    if ((rc = RUN(err, errlen, NULL, "ip", "-n", s->ns, "-6", "addr", "add", GW__SANDBOX_IP6 "/128",
                  "dev", "eth0", "nodad")) ||
        (rc = RUN(err, errlen, NULL, "ip", "-n", s->ns, "-6", "route", "add", "default", "dev",
                  "eth0")))
        return rc;
    return 0;
}

static int build(const char *netid, const gw__netspec_t *s, bool *table_ready, char *err,
                 size_t errlen)
{
    char hcidr[40], scidr[40];
    snprintf(hcidr, sizeof hcidr, "%s/30", s->host_ip);
    snprintf(scidr, sizeof scidr, "%s/30", s->sbx_ip);
    int rc;
    bool v6 = access("/proc/sys/net/ipv6", F_OK) == 0; /* off: no IPv6 anywhere */
    /* the rules are in place before eth0 is up: not one packet leaves unjudged */
    if ((rc = RUN(err, errlen, NULL, "ip", "netns", "add", s->ns)) ||
        (rc = RUN(err, errlen, NULL, "ip", "link", "add", s->host_if, "type", "veth", "peer",
                  "name", "eth0", "netns", s->ns)) ||
        (rc = sandbox_rules(s, err, errlen)) || (v6 && (rc = ipv6_host_off(s, err, errlen))) ||
        (rc = RUN(err, errlen, NULL, "ip", "addr", "add", hcidr, "dev", s->host_if)) ||
        (rc = RUN(err, errlen, NULL, "ip", "link", "set", s->host_if, "up")) ||
        (rc = RUN(err, errlen, NULL, "ip", "-n", s->ns, "addr", "add", scidr, "dev", "eth0")) ||
        (v6 && (rc = RUN(err, errlen, NULL, "ip", "-n", s->ns, "link", "set", "eth0", "addrgenmode",
                         "none"))) ||
        (rc = RUN(err, errlen, NULL, "ip", "-n", s->ns, "link", "set", "eth0", "up")) ||
        (rc = RUN(err, errlen, NULL, "ip", "-n", s->ns, "link", "set", "lo", "up")) ||
        (rc = RUN(err, errlen, NULL, "ip", "-n", s->ns, "route", "add", "default", "via",
                  s->host_ip)) ||
        (v6 && (rc = ipv6_inside(s, err, errlen))))
        return rc;
    if (!*table_ready && (rc = gw__netns_host_table(netid, err, errlen)) != 0)
        return rc;
    *table_ready = true; /* under the lock: one attach makes it */
    if ((rc = host_element(netid, s, true, err, errlen)) != 0)
        return rc;
    return write_resolv(s, err, errlen);
}

int gw__netns_create(const char *netid, const char *name, const char *cidr, bool *table_ready,
                     gw__netspec_t *out, char *err, size_t errlen)
{
    uint32_t base, count;
    if (gw__netns_parse_base(cidr, &base, &count) != 0) {
        snprintf(err, errlen, "sandbox.net: '%s' is not an IPv4 network /8../28", cidr);
        return -EINVAL;
    }
    memset(out, 0, sizeof *out);
    spec_fill(out, netid, name, base, 0);
    gw__netns_destroy(netid, out); /* a leftover of the same name */
    int lk = lock_net();
    int idx = pick_index(base, count, err, errlen);
    int rc = idx;
    if (idx > 0) {
        spec_fill(out, netid, name, base, idx);
        rc = build(netid, out, table_ready, err, errlen);
        if (rc == 0) /* what the guard compares with (netns_guard.c) */
            rc = gw__netns_guard_capture(netid, out, err, errlen);
    }
    unlock_net(lk);
    if (rc != 0 && idx > 0)
        gw__netns_destroy(netid, out);
    return rc;
}

/* SIGKILL to every process whose network namespace is the one at path. */
static void kill_inside(const char *path)
{
    struct stat ns;
    if (stat(path, &ns) != 0)
        return;
    DIR *d = opendir("/proc");
    for (struct dirent *e; d && (e = readdir(d));) {
        char p[300];
        struct stat st;
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        snprintf(p, sizeof p, "/proc/%s/ns/net", e->d_name);
        if (stat(p, &st) == 0 && st.st_ino == ns.st_ino && st.st_dev == ns.st_dev)
            kill(atoi(e->d_name), SIGKILL);
    }
    if (d)
        closedir(d);
}

void gw__netns_destroy(const char *netid, const gw__netspec_t *s)
{
    kill_inside(s->ns_path);
    if (s->index > 0) {
        host_element(netid, s, false, NULL, 0);
        RUN(NULL, 0, NULL, "ip", "link", "del", s->host_if);
    }
    RUN(NULL, 0, NULL, "ip", "netns", "del", s->ns);
    unlink(s->resolv);
    char dir[160];
    snprintf(dir, sizeof dir, "/etc/netns/%s", s->ns);
    rmdir(dir);
}

void gw__netns_cleanup(const char *netid)
{
    char prefix[32], out[1 << 15];
    gw__netspec_t s;
    snprintf(prefix, sizeof prefix, "tg-%s-", netid);
    DIR *d = opendir("/run/netns");
    for (struct dirent *e; d && (e = readdir(d));) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 || strlen(e->d_name) >= 80)
            continue;
        memset(&s, 0, sizeof s);
        snprintf(s.ns, sizeof s.ns, "%s", e->d_name);
        snprintf(s.ns_path, sizeof s.ns_path, "/run/netns/%s", s.ns);
        snprintf(s.resolv, sizeof s.resolv, "/etc/netns/%s/resolv.conf", s.ns);
        fprintf(stderr, "[gateway:netns] removing leftover namespace %s\n", s.ns);
        gw__netns_destroy(netid, &s);
    }
    if (d)
        closedir(d);
    snprintf(prefix, sizeof prefix, " tg%sh", netid);
    if (run((const char *const[]){"ip", "-o", "link", "show", NULL}, NULL, out, sizeof out) == 0)
        for (char *p = strstr(out, prefix); p; p = strstr(p + 1, prefix)) {
            char link[16];
            size_t n = strcspn(p + 1, ":@ ");
            if (n >= sizeof link)
                continue;
            memcpy(link, p + 1, n);
            link[n] = '\0';
            fprintf(stderr, "[gateway:netns] removing leftover link %s\n", link);
            RUN(NULL, 0, NULL, "ip", "link", "del", link);
        }
    char table[64];
    snprintf(table, sizeof table, "tollgate_%s", netid);
    RUN(NULL, 0, NULL, "nft", "delete", "table", "inet", table);
}

int64_t gw__netns_counter(const gw__netspec_t *s, const char *counter)
{
    char out[1024];
    if (run((const char *const[]){"ip", "netns", "exec", s->ns, "nft", "list", "counter", "inet",
                                  "tollgate", counter, NULL},
            NULL, out, sizeof out) != 0)
        return -1;
    const char *p = strstr(out, "packets ");
    return p ? strtoll(p + 8, NULL, 10) : -1;
}

/* ---- for the guard (netns_guard.c) --------------------------------------------------- */

int gw__netns_run(const char *const argv[], const char *input, char *out, size_t cap)
{
    return run(argv, input, out, cap);
}

int gw__netns_rules_apply(const gw__netspec_t *s, char *err, size_t errlen)
{
    return sandbox_rules(s, err, errlen);
}

int gw__netns_host_element_add(const char *netid, const gw__netspec_t *s, char *err, size_t errlen)
{
    return host_element(netid, s, true, err, errlen);
}

int gw__netns_lock(void)
{
    return lock_net();
}

void gw__netns_unlock(int fd)
{
    unlock_net(fd);
}
