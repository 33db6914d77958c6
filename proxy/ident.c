/*
 * ident.c: who is calling. From the two ends of an accepted TCP connection
 * to the process that holds the client end:
 *
 *   1. the client socket's inode: one exact sock_diag request (netlink,
 *      SOCK_DIAG_BY_FAMILY with the 4-tuple), else the rows of
 *      /proc/net/tcp and /proc/net/tcp6;
 *   2. the holders: every process with an fd whose link reads
 *      "socket:[<inode>]": from the sandbox's cgroup alone when that is
 *      exact (cgroup_holders), else from ident_scan.c, which concurrent
 *      lookups share (one search serves every lookup queued before it
 *      started) and which asks the kernel's task_file iterator first
 *      (ident_bpf.c), the /proc scan when BPF is off or fails; the lowest
 *      pid among holders with one exe;
 *   3. the holder's exe, comm, cmdline, ancestors (PPid chain), and the
 *      SHA-256 of the file /proc/<pid>/exe opens (not of the path, so a
 *      binary replaced after exec is still the one hashed); then a check
 *      that this very process still holds the socket.
 *
 * The hash cache lives in ident_cache.c. A lookup allocates one ~8 KiB
 * block (the holders' paths), nothing per process or fd.
 *
 * Threads: every function may be called from any thread; all of them block
 * (they read /proc and files), so never from the libuv loop thread.
 */
#include "proxy/bypass_internal.h"
#include "proxy/px_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>

#define ID__DELETED " (deleted)"
#define ID__PATH    4096

/* ---- small helpers -------------------------------------------------------- */

static void reasonf(char *r, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void reasonf(char *r, size_t n, const char *fmt, ...)
{
    if (r == NULL || n == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r, n, fmt, ap);
    va_end(ap);
}

/* Thread-safe strerror (the GNU strerror_r may return a static string). */
static const char *errtext(int e, char *buf, size_t n)
{
    return strerror_r(e < 0 ? -e : e, buf, n);
}

/* Bounded copy; dst always NUL-terminated. */
static void copy_str(char *dst, size_t n, const char *src)
{
    size_t len = strnlen(src, n - 1);
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* Reads at most n-1 bytes of dirfd/path, NUL-terminates; returns the length
 * (0 and "" on failure, with *err set to the negative errno). */
static size_t read_small_at(int dirfd, const char *path, char *buf, size_t n, int *err)
{
    size_t len = 0;
    buf[0] = '\0';
    *err = 0;
    int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        *err = -errno;
        return 0;
    }
    while (len < n - 1) {
        ssize_t r = read(fd, buf + len, n - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            *err = -errno;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    return len;
}

/* readlinkat into out (cut at outlen-1); "" and -errno on failure. */
static int link_at(int dirfd, const char *path, char *out, size_t outlen)
{
    ssize_t n = readlinkat(dirfd, path, out, outlen - 1);
    if (n < 0) {
        out[0] = '\0';
        return -errno;
    }
    out[n] = '\0';
    return 0;
}

/* ---- endpoints -------------------------------------------------------------- */

/* An address and port; IPv4-mapped IPv6 is stored as AF_INET (addr[0..4)). */
typedef struct {
    int family;
    uint8_t addr[16];
    uint16_t port; /* host order */
} ep_t;

static void ep_set(ep_t *ep, int family, const uint8_t *addr, uint16_t port)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    memset(ep, 0, sizeof *ep);
    ep->port = port;
    if (family == AF_INET6 && memcmp(addr, mapped, sizeof mapped) == 0) {
        ep->family = AF_INET;
        memcpy(ep->addr, addr + 12, 4);
    } else {
        ep->family = family;
        memcpy(ep->addr, addr, family == AF_INET ? 4 : 16);
    }
}

static int ep_from_sockaddr(const struct sockaddr *sa, ep_t *ep)
{
    if (sa == NULL)
        return -EINVAL;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        ep_set(ep, AF_INET, (const uint8_t *)&in->sin_addr, ntohs(in->sin_port));
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        ep_set(ep, AF_INET6, in6->sin6_addr.s6_addr, ntohs(in6->sin6_port));
        return 0;
    }
    return -EINVAL;
}

static bool ep_eq(const ep_t *a, const ep_t *b)
{
    return a->family == b->family && a->port == b->port &&
           memcmp(a->addr, b->addr, a->family == AF_INET ? 4 : 16) == 0;
}

static void ep_text(const ep_t *ep, char *buf, size_t n)
{
    char a[INET6_ADDRSTRLEN];
    if (inet_ntop(ep->family, ep->addr, a, sizeof a) == NULL)
        copy_str(a, sizeof a, "?");
    snprintf(buf, n, ep->family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, (unsigned)ep->port);
}

/* ---- /proc/net/tcp ------------------------------------------------------------ */

static const char *skip_sp(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Exactly n hex digits (n <= 8). */
static int hex_n(const char **pp, int n, uint32_t *out)
{
    uint32_t v = 0;
    const char *p = *pp;
    for (int i = 0; i < n; i++, p++) {
        unsigned d;
        if (*p >= '0' && *p <= '9')
            d = (unsigned)(*p - '0');
        else if (*p >= 'A' && *p <= 'F')
            d = (unsigned)(*p - 'A' + 10);
        else if (*p >= 'a' && *p <= 'f')
            d = (unsigned)(*p - 'a' + 10);
        else
            return -EINVAL;
        v = v << 4 | d;
    }
    *pp = p;
    *out = v;
    return 0;
}

/* "0100007F:1F90" or 32 hex digits ":" port. The kernel prints each 32-bit
 * word of the network-order address as a host-order integer (%08X), so
 * storing the parsed integer back in host order gives the network bytes on
 * either endianness. The port is printed as a plain number. */
static int parse_addr(const char **pp, bool v6, uint8_t addr[16], uint16_t *port)
{
    uint32_t w;
    for (int i = 0; i < (v6 ? 4 : 1); i++) {
        if (hex_n(pp, 8, &w) != 0)
            return -EINVAL;
        memcpy(addr + 4 * i, &w, 4);
    }
    if (**pp != ':')
        return -EINVAL;
    (*pp)++;
    if (hex_n(pp, 4, &w) != 0 || (**pp != ' ' && **pp != '\t'))
        return -EINVAL;
    *port = (uint16_t)w;
    return 0;
}

static int parse_u64(const char *p, uint64_t *out)
{
    uint64_t v = 0;
    if (*p < '0' || *p > '9')
        return -EINVAL;
    for (; *p >= '0' && *p <= '9'; p++) {
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -EINVAL;
        v = v * 10 + d;
    }
    if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\0')
        return -EINVAL;
    *out = v;
    return 0;
}

int px_ident_parse_tcp_row(const char *line, bool v6, px_tcp_row_t *row)
{
    if (line == NULL || row == NULL)
        return -EINVAL;
    memset(row, 0, sizeof *row);
    row->family = v6 ? AF_INET6 : AF_INET;
    const char *p = skip_sp(line);
    if (*p < '0' || *p > '9') /* "sl" of the header line */
        return -EINVAL;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p++ != ':')
        return -EINVAL;
    p = skip_sp(p);
    if (parse_addr(&p, v6, row->laddr, &row->lport) != 0)
        return -EINVAL;
    p = skip_sp(p);
    if (parse_addr(&p, v6, row->raddr, &row->rport) != 0)
        return -EINVAL;
    /* st, tx_queue:rx_queue, tr:tm->when, retrnsmt, uid, timeout */
    for (int i = 0; i < 6; i++) {
        p = skip_sp(p);
        if (*p == '\0' || *p == '\n')
            return -EINVAL;
        while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n')
            p++;
    }
    return parse_u64(skip_sp(p), &row->inode);
}

/* 0 and *inode, -ENOENT, or -errno of reading the table. */
static int inode_from_table(const char *path, bool v6, const ep_t *peer, const ep_t *local,
                            uint64_t *inode)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -errno;
    char line[512];
    bool tail = false; /* inside the rest of a line longer than `line` */
    int rc = -ENOENT;
    while (rc == -ENOENT && fgets(line, sizeof line, f) != NULL) {
        size_t n = strlen(line);
        bool whole = n > 0 && line[n - 1] == '\n';
        bool skip = tail;
        tail = !whole;
        px_tcp_row_t row;
        if (skip || px_ident_parse_tcp_row(line, v6, &row) != 0 || row.inode == 0)
            continue;
        ep_t l, r;
        ep_set(&l, row.family, row.laddr, row.lport);
        ep_set(&r, row.family, row.raddr, row.rport);
        if (ep_eq(&l, peer) && ep_eq(&r, local)) {
            *inode = row.inode;
            rc = 0;
        }
    }
    if (rc == -ENOENT && ferror(f))
        rc = -EIO;
    fclose(f);
    return rc;
}

/* IPv4 ends may sit in either table (an AF_INET6 socket connected to an
 * IPv4-mapped address is listed in tcp6); IPv6 ends only in tcp6. */
static int inode_from_procfs(const ep_t *peer, const ep_t *local, uint64_t *inode, char *reason,
                             size_t reasonlen)
{
    char eb[128];
    int rc = -ENOENT;
    if (peer->family == AF_INET) {
        rc = inode_from_table("/proc/thread-self/net/tcp", false, peer, local, inode);
        if (rc != 0 && rc != -ENOENT) {
            reasonf(reason, reasonlen, "cannot read /proc/net/tcp: %s", errtext(rc, eb, sizeof eb));
            return rc;
        }
    }
    if (rc == -ENOENT) {
        /* -ENOENT also when there is no tcp6 at all (IPv6 off) */
        int rc6 = inode_from_table("/proc/thread-self/net/tcp6", true, peer, local, inode);
        if (rc6 != 0 && rc6 != -ENOENT) {
            reasonf(reason, reasonlen, "cannot read /proc/net/tcp6: %s",
                    errtext(rc6, eb, sizeof eb));
            return rc6;
        }
        rc = rc6;
    }
    return rc;
}

/* ---- sock_diag ---------------------------------------------------------------- */

static bool diag_matches(const struct inet_diag_msg *m, const ep_t *peer, const ep_t *local)
{
    if (m->idiag_family != AF_INET && m->idiag_family != AF_INET6)
        return false;
    ep_t l, r;
    ep_set(&l, m->idiag_family, (const uint8_t *)m->id.idiag_src, ntohs(m->id.idiag_sport));
    ep_set(&r, m->idiag_family, (const uint8_t *)m->id.idiag_dst, ntohs(m->id.idiag_dport));
    return ep_eq(&l, peer) && ep_eq(&r, local);
}

/* The INET_DIAG_CGROUP_ID attribute of m (the cgroup v2 the socket was
 * made in), or 0 when the kernel sent none. */
static uint64_t diag_cgroup(const struct nlmsghdr *nh)
{
    size_t off = NLMSG_LENGTH(NLMSG_ALIGN(sizeof(struct inet_diag_msg)));
    const char *base = (const char *)nh;
    while (off + sizeof(struct rtattr) <= nh->nlmsg_len) {
        const struct rtattr *a = (const struct rtattr *)(base + off);
        if (a->rta_len < sizeof *a || off + a->rta_len > nh->nlmsg_len)
            break;
        if (a->rta_type == INET_DIAG_CGROUP_ID && RTA_PAYLOAD(a) == sizeof(uint64_t)) {
            uint64_t v;
            memcpy(&v, RTA_DATA(a), sizeof v);
            return v;
        }
        off += RTA_ALIGN(a->rta_len);
    }
    return 0;
}

/* Parses the kernel's answer: 0 and *inode (and *cgid when not NULL),
 * -ENOENT, or its error. */
static int diag_answer(const void *buf, size_t len, const ep_t *peer, const ep_t *local,
                       uint64_t *inode, uint64_t *cgid)
{
    const struct nlmsghdr *nh = buf;
    unsigned int left = (unsigned int)len;
    for (; NLMSG_OK(nh, left); nh = NLMSG_NEXT(nh, left)) {
        if (nh->nlmsg_type == NLMSG_ERROR) {
            const struct nlmsgerr *e = NLMSG_DATA(nh);
            if (nh->nlmsg_len < NLMSG_LENGTH(sizeof *e))
                return -EPROTO;
            return e->error < 0 ? e->error : -ENOENT;
        }
        if (nh->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
            nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
            continue;
        const struct inet_diag_msg *m = NLMSG_DATA(nh);
        /* an exact lookup can fall back to a listener: check the tuple;
         * TIME_WAIT and orphaned sockets have inode 0 */
        if (diag_matches(m, peer, local) && m->idiag_inode != 0) {
            *inode = m->idiag_inode;
            if (cgid != NULL)
                *cgid = diag_cgroup(nh);
            return 0;
        }
    }
    return -ENOENT;
}

static int inode_from_netlink(const ep_t *peer, const ep_t *local, uint64_t *inode, uint64_t *cgid)
{
    struct {
        struct nlmsghdr nh;
        struct inet_diag_req_v2 r;
    } req;
    memset(&req, 0, sizeof req);
    req.nh.nlmsg_len = sizeof req;
    req.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    req.nh.nlmsg_flags = NLM_F_REQUEST; /* no NLM_F_DUMP: one exact socket */
    req.nh.nlmsg_seq = 1;
    req.r.sdiag_family = (uint8_t)peer->family;
    req.r.sdiag_protocol = IPPROTO_TCP;
    req.r.idiag_states = ~0u;
    req.r.id.idiag_sport = htons(peer->port);
    req.r.id.idiag_dport = htons(local->port);
    size_t alen = peer->family == AF_INET ? 4 : 16;
    memcpy(req.r.id.idiag_src, peer->addr, alen);
    memcpy(req.r.id.idiag_dst, local->addr, alen);
    req.r.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
    req.r.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;

    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0)
        return -errno;
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    int rc;
    if (sendto(fd, &req, sizeof req, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
        rc = -errno;
        goto out;
    }
    /* the kernel answers inside sendto: nothing queued means no answer */
    _Alignas(struct nlmsghdr) char buf[8192];
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    rc = n < 0 ? -errno : diag_answer(buf, (size_t)n, peer, local, inode, cgid);
out:
    close(fd);
    return rc;
}

/* px_ident_socket_inode, and the socket's cgroup id in *cgid (0: unknown,
 * as when the tables answered). */
static int socket_inode(const struct sockaddr *peer, const struct sockaddr *local,
                        px_ident_via_t via, uint64_t *inode, uint64_t *cgid, char *reason,
                        size_t reasonlen)
{
    *cgid = 0;
    ep_t p, l;
    reasonf(reason, reasonlen, "%s", "");
    if (inode == NULL || ep_from_sockaddr(peer, &p) != 0 || ep_from_sockaddr(local, &l) != 0 ||
        p.family != l.family) {
        reasonf(reason, reasonlen, "%s", "not a pair of IPv4 or IPv6 socket addresses");
        return -EINVAL;
    }
    *inode = 0;
    int rc = -ENOENT;
    if (via != PX_IDENT_VIA_PROCFS)
        rc = inode_from_netlink(&p, &l, inode, cgid);
    if (via == PX_IDENT_VIA_NETLINK && rc != 0 && rc != -ENOENT) {
        char eb[128];
        reasonf(reason, reasonlen, "sock_diag: %s", errtext(rc, eb, sizeof eb));
        return rc;
    }
    /* netlink may be filtered, or lack inet_diag (which it reports as
     * ENOENT too), or miss a device-bound socket: the tables decide */
    if (rc != 0 && via != PX_IDENT_VIA_NETLINK) {
        *cgid = 0;
        rc = inode_from_procfs(&p, &l, inode, reason, reasonlen);
    }
    if (rc == -ENOENT) {
        char pt[64], lt[64];
        ep_text(&p, pt, sizeof pt);
        ep_text(&l, lt, sizeof lt);
        reasonf(reason, reasonlen,
                "no TCP socket from %s to %s on this host (closed, or in another network "
                "namespace)",
                pt, lt);
    }
    return rc;
}

int px_ident_socket_inode(const struct sockaddr *peer, const struct sockaddr *local,
                          px_ident_via_t via, uint64_t *inode, char *reason, size_t reasonlen)
{
    uint64_t cgid;
    return socket_inode(peer, local, via, inode, &cgid, reason, reasonlen);
}

/* ---- filling the ident ------------------------------------------------------------ */

/* The parent pid from dirfd/path, a /proc/<pid>/stat ("pid (comm) S ppid
 * ..."; comm may hold ')' and spaces, so from the last ')'). stat costs
 * about two thirds of status to generate. -1 when unreadable. */
static int read_ppid(int dirfd, const char *path)
{
    char buf[512]; /* the fields after ppid may be cut: not read */
    int err;
    read_small_at(dirfd, path, buf, sizeof buf, &err);
    const char *p = strrchr(buf, ')');
    if (p == NULL || p[1] != ' ' || p[2] == '\0' || p[3] != ' ')
        return -1;
    p += 4;
    int v = 0;
    for (; *p >= '0' && *p <= '9' && v <= 4194304; p++)
        v = v * 10 + (*p - '0');
    return *p == ' ' ? v : -1;
}

/* Removes the " (deleted)" the kernel appends to the link of a file gone
 * from its path; true when it did. */
static bool strip_deleted(char *path)
{
    size_t n = strlen(path), dl = sizeof ID__DELETED - 1;
    if (n <= dl || memcmp(path + n - dl, ID__DELETED, dl) != 0)
        return false;
    path[n - dl] = '\0';
    return true;
}

static void fill_ancestors(int procfd, int pfd, px_ident_t *id)
{
    char path[32];
    int ppid = read_ppid(pfd, "stat");
    while (ppid > 0 && id->nancestors < PX_MAX_ANCESTORS) {
        int i = id->nancestors++;
        id->ancestor_pids[i] = ppid;
        snprintf(path, sizeof path, "%d/exe", ppid);
        link_at(procfd, path, id->ancestors[i], sizeof id->ancestors[i]);
        strip_deleted(id->ancestors[i]); /* matched against policy paths */
        if (ppid == 1)
            break;
        snprintf(path, sizeof path, "%d/stat", ppid);
        ppid = read_ppid(procfd, path);
    }
}

static void fill_exe(px_ident_cache_t *c, int pfd, px_ident_t *id)
{
    link_at(pfd, "exe", id->exe, sizeof id->exe);
    id->exe_deleted = strip_deleted(id->exe);
    /* the magic link opens the file the process runs, even if it is gone */
    int fd = openat(pfd, "exe", O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return;
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_nlink == 0)
        id->exe_deleted = true;
    if (px__ident_hash_fd(c, fd, id->sha256) != 0)
        id->sha256[0] = '\0';
    close(fd);
}

static void fill_text(int pfd, px_ident_t *id)
{
    int err;
    size_t n = read_small_at(pfd, "comm", id->name, sizeof id->name, &err);
    while (n > 0 && (id->name[n - 1] == '\n' || id->name[n - 1] == ' '))
        id->name[--n] = '\0';
    id->cmdline_len = read_small_at(pfd, "cmdline", id->cmdline, sizeof id->cmdline, &err);
}

/* Fills id from process pid, then checks that this very process (the
 * directory fd pins it: a recycled pid does not match) still holds the
 * socket: at fd (where the search saw it; one readlinkat), else at any fd. */
static int fill_ident(px_ident_cache_t *c, int procfd, int pid, int fd, uint64_t ino,
                      px_ident_t *id, char *reason, size_t reasonlen)
{
    char name[16];
    snprintf(name, sizeof name, "%d", pid);
    int pfd = openat(procfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pfd < 0) {
        reasonf(reason, reasonlen, "process %d exited during the lookup", pid);
        return -ENOENT;
    }
    id->pid = pid;
    fill_exe(c, pfd, id);
    fill_text(pfd, id);
    fill_ancestors(procfd, pfd, id);
    bool held = px__ident_pid_holds_fd(pfd, fd, ino) || px__ident_pid_holds(pfd, ino);
    close(pfd);
    if (!held) {
        reasonf(reason, reasonlen, "process %d let go of the client socket during the lookup", pid);
        return -ENOENT;
    }
    return 0;
}

static void ident_reset(px_ident_t *id)
{
    id->pid = 0;
    id->exe[0] = id->name[0] = id->cmdline[0] = id->sha256[0] = '\0';
    id->cmdline_len = 0;
    id->exe_deleted = false;
    id->nancestors = 0;
}

/* Turns the scan's outcome into the answer. */
static int scan_verdict(const px__holders_t *h, char *reason, size_t reasonlen)
{
    char eb[128];
    if (h->err != 0) {
        reasonf(reason, reasonlen, "cannot list /proc: %s", errtext(h->err, eb, sizeof eb));
        return -ENOENT;
    }
    if (h->other_pid != 0) {
        reasonf(reason, reasonlen,
                "socket shared by processes with different binaries: %s (pid %d) and %s "
                "(pid %d)",
                h->exe[0] ? h->exe : "?", h->pid, h->other_exe[0] ? h->other_exe : "?",
                h->other_pid);
        return -EEXIST;
    }
    if (h->capped) { /* a holder past the limit could make it ambiguous */
        reasonf(reason, reasonlen, "%s",
                "the /proc scan stopped at its limit (processes or fds) before it finished");
        return -ENOENT;
    }
    if (h->pid == 0) {
        reasonf(reason, reasonlen, "no process holds the client socket (it may have exited)%s",
                h->unreadable != 0 ? "; the fds of some processes could not be read" : "");
        return -ENOENT;
    }
    return 0;
}

/* The cgroup fast path (px_internal.h, px_ident_cache_set_cgroup): true
 * when h holds the answer from the cgroup's processes alone; false when the
 * /proc scan must decide (no cgroup, the socket made elsewhere, no holder
 * inside, a process inside not readable, a limit hit). */
static bool cgroup_holders(px_ident_cache_t *c, uint64_t ino, uint64_t cgid, px__holders_t *h)
{
    char dir[512];
    px__ident_cache_cgroup(c, dir, sizeof dir);
    if (dir[0] == '\0')
        return false;
    struct stat st;
    bool fast = false;
    int cgfd = cgid != 0 ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    /* the socket was made in this very cgroup: a cgroup's id is its inode,
     * and a directory removed and made again is another id */
    if (cgfd >= 0 && fstat(cgfd, &st) == 0 && (uint64_t)st.st_ino == cgid &&
        px__ident_cgroup_holders(cgfd, ino, h) == 0)
        fast = h->pid != 0 && !h->capped && h->unreadable == 0;
    if (cgfd >= 0)
        close(cgfd);
    px__ident_cache_count(c, fast);
    return fast;
}

static int lookup_inode(px_ident_cache_t *c, uint64_t ino, uint64_t cgid, px_ident_t *id,
                        char *reason, size_t reasonlen)
{
    char eb[128];
    ident_reset(id);
    int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (procfd < 0) {
        reasonf(reason, reasonlen, "cannot read /proc: %s", errtext(errno, eb, sizeof eb));
        return -ENOENT;
    }
    px__holders_t *h = malloc(sizeof *h); /* ~8 KiB: off the caller's stack */
    if (h == NULL)
        abort(); /* the project's OOM policy for fixed-size allocations */
    if (!cgroup_holders(c, ino, cgid, h))
        px__ident_find_holders(px__ident_cache_scan(c), ino, h);
    int rc = scan_verdict(h, reason, reasonlen);
    if (rc == 0)
        rc = fill_ident(c, procfd, h->pid, h->fd, ino, id, reason, reasonlen);
    if (rc != 0)
        ident_reset(id);
    free(h);
    close(procfd);
    return rc;
}

int px_ident_lookup(px_ident_cache_t *c, const struct sockaddr *peer, const struct sockaddr *local,
                    px_ident_t *id, char *reason, size_t reasonlen)
{
    if (c == NULL || id == NULL) {
        reasonf(reason, reasonlen, "%s", "no cache or no ident");
        return -EINVAL;
    }
    ident_reset(id);
    uint64_t ino, cgid;
    int rc = socket_inode(peer, local, PX_IDENT_VIA_AUTO, &ino, &cgid, reason, reasonlen);
    if (rc != 0)
        return rc == -EINVAL ? rc : -ENOENT;
    return lookup_inode(c, ino, cgid, id, reason, reasonlen);
}

int px__ident_lookup_inode(px_ident_cache_t *c, uint64_t ino, px_ident_t *id, char *reason,
                           size_t reasonlen)
{
    return lookup_inode(c, ino, 0, id, reason, reasonlen); /* cgroup unknown: the scan */
}
