/*
 * ident_scan.c: which processes hold a socket inode (see px_internal.h,
 * ident.c). The only exact way procfs offers: read every /proc/<pid>/fd/<n>
 * link of every process and keep those that say "socket:[<inode>]"
 * (processes only, not threads; bounded by ID__MAX_PROCS and ID__MAX_FDS;
 * links read, never followed). That costs a readlinkat per fd on the host,
 * so concurrent lookups share scans:
 *
 *   a lookup queues its inode and waits; when no scan runs, one waiting
 *   thread (the leader) takes every queued inode (up to ID__BATCH) and runs
 *   one scan that matches each link against all of them, then wakes the
 *   others; inodes queued during a scan wait for the next one.
 *
 * A scan serving a lookup starts after that lookup queued its inode, so the
 * answer is the one a scan of its own would give: every process that holds
 * the socket for the whole scan is seen (the fd directory is listed in fd
 * order under the kernel's fd table lock, the /proc root in pid order).
 * Nothing is remembered between scans, on purpose: no cheap signal says
 * that a process did not take a socket since the last look (fork, exec of
 * an inherited fd, SCM_RIGHTS, pidfd_getfd), so a remembered "hot" pid could
 * prove who holds the socket but never that no one else does.
 *
 * The leader asks the kernel first when it can (ident_bpf.c: a BPF task_file
 * iterator that finds the batch's inodes among every process' fds in one
 * pass, no syscall per fd), with the same rules for what it found (note_holder,
 * processes only, lowest pid of one exe, another exe is ambiguous); when
 * that run fails, whatever it found is dropped and the /proc scan answers.
 * TOLLGATE_IDENT_BPF=0 or TOLLGATE_IDENT_FULL_SCAN=1 (read at create) turn
 * the BPF step off.
 *
 * Threads: any but the loop thread; every function blocks. One mutex guards
 * the queue; the leader owns the scan buffers while `scanning` is set.
 */
#include "proxy/px_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ID__MAX_PROCS 65536u     /* processes whose fds one scan reads */
#define ID__MAX_FDS   (1u << 21) /* fd links one scan reads, all together */
#define ID__BATCH     64u        /* inodes one scan looks for */
#define ID__SOCK      "socket:["

/* One lookup's inode in the queue; lives on the waiting thread's stack. */
typedef struct id_req {
    uint64_t ino;
    px__holders_t *out;
    dev_t exe_dev; /* the file out->exe names (one path in two mount */
    ino_t exe_ino; /* namespaces can be two binaries) */
    int last_pid;  /* the process last noted (a socket dup()ed twice) */
    bool done;
    struct id_req *next;
} id_req_t;

struct px__ident_scan {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool scanning;
    bool paused;     /* tests: no scan starts (px__ident_scan_pause) */
    id_req_t *queue; /* oldest first */
    uint64_t scans, served;
    px__ident_bpf_t *bpf; /* NULL: /proc scans only */
    uint64_t bpf_runs, bpf_served, bpf_fallbacks;
    /* the leader's, while scanning */
    id_req_t *batch[ID__BATCH];
    size_t nbatch;
    unsigned procs, fds, unreadable;
    bool capped;
    int by_bpf;                   /* the last batch: 1 BPF answered, -1 BPF failed, 0 not tried */
    _Alignas(8) char pids[16384]; /* getdents64 of /proc */
    _Alignas(8) char dents[8192]; /* getdents64 of one fd directory */
};

px__ident_scan_t *px__ident_scan_create(void)
{
    px__ident_scan_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        abort(); /* the project's OOM policy for fixed-size allocations */
    if (pthread_mutex_init(&s->mu, NULL) != 0 || pthread_cond_init(&s->cv, NULL) != 0)
        abort();
    const char *full = getenv("TOLLGATE_IDENT_FULL_SCAN"), *bpf = getenv("TOLLGATE_IDENT_BPF");
    if (!(full != NULL && strcmp(full, "1") == 0) && !(bpf != NULL && strcmp(bpf, "0") == 0))
        s->bpf = px__ident_bpf_get(NULL, 0); /* NULL: it logged why, once */
    return s;
}

void px__ident_scan_destroy(px__ident_scan_t *s)
{
    if (s == NULL)
        return;
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

void px__ident_scan_stats(px__ident_scan_t *s, uint64_t *scans, uint64_t *served)
{
    pthread_mutex_lock(&s->mu);
    *scans = s->scans;
    *served = s->served;
    pthread_mutex_unlock(&s->mu);
}

void px__ident_scan_pause(px__ident_scan_t *s, bool paused)
{
    pthread_mutex_lock(&s->mu);
    s->paused = paused;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void px__ident_scan_bpf_stats(px__ident_scan_t *s, bool *on, uint64_t *runs, uint64_t *served,
                              uint64_t *fallbacks)
{
    pthread_mutex_lock(&s->mu);
    *on = s->bpf != NULL;
    *runs = s->bpf_runs;
    *served = s->bpf_served;
    *fallbacks = s->bpf_fallbacks;
    pthread_mutex_unlock(&s->mu);
}

size_t px__ident_scan_queued(px__ident_scan_t *s)
{
    size_t n = 0;
    pthread_mutex_lock(&s->mu);
    for (const id_req_t *r = s->queue; r != NULL; r = r->next)
        n++;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* ---- matching links ---------------------------------------------------------- */

static int parse_pid(const char *s)
{
    long v = 0;
    if (*s == '\0')
        return 0;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9' || v > 4194304) /* PID_MAX_LIMIT */
            return 0;
        v = v * 10 + (*s - '0');
    }
    return (int)v;
}

/* The inode of a "socket:[<n>]" link text of length len, or 0. */
static uint64_t socket_ino(const char *link, ssize_t len)
{
    const ssize_t pl = (ssize_t)sizeof ID__SOCK - 1;
    if (len < pl + 2 || len > pl + 21 || memcmp(link, ID__SOCK, (size_t)pl) != 0 ||
        link[len - 1] != ']')
        return 0;
    uint64_t v = 0;
    for (ssize_t i = pl; i < len - 1; i++) {
        if (link[i] < '0' || link[i] > '9' || v > (UINT64_MAX - 9) / 10)
            return 0;
        v = v * 10 + (uint64_t)(link[i] - '0');
    }
    return v;
}

/* The fd number of an fd directory entry, or -1. */
static int parse_fd(const char *s)
{
    long v = 0;
    if (*s == '\0')
        return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9' || v > (1l << 30)) /* fs.nr_open's limit */
            return -1;
        v = v * 10 + (*s - '0');
    }
    return (int)v;
}

/* Calls hit(ctx, ino, fd) for each socket link of the fd directory fdd;
 * stops when hit returns false. Returns 0, or -1 when the links cannot be
 * read (EACCES: a process we may not inspect), or 1 when *fds passed max. */
static int each_socket(int fdd, char *dents, size_t dlen, unsigned *fds, unsigned max,
                       bool (*hit)(void *, uint64_t, int), void *ctx)
{
    char link[64];
    ssize_t n = (ssize_t)dlen;
    /* an fd's record is at most 32 bytes (19 + 10 digits + NUL, 8-aligned):
     * a batch that left room for one more was the last (saves a syscall) */
    while (n > (ssize_t)dlen - 32 && (n = getdents64(fdd, dents, dlen)) > 0) {
        for (ssize_t off = 0; off < n;) {
            const struct dirent64 *d = (const struct dirent64 *)(dents + off);
            off += d->d_reclen;
            if (d->d_name[0] == '.')
                continue;
            if (++*fds > max)
                return 1;
            ssize_t l = readlinkat(fdd, d->d_name, link, sizeof link);
            if (l < 0 && (errno == EACCES || errno == EPERM))
                return -1;
            uint64_t ino = socket_ino(link, l);
            if (ino != 0 && !hit(ctx, ino, parse_fd(d->d_name)))
                return 0;
        }
    }
    return 0;
}

typedef struct {
    uint64_t want;
    bool held;
    int fd;
} one_t;

static bool one_hit(void *ctx, uint64_t ino, int fd)
{
    one_t *o = ctx;
    o->held = ino == o->want;
    o->fd = fd;
    return !o->held; /* stop at the target */
}

bool px__ident_pid_holds_fd(int pfd, int fd, uint64_t ino)
{
    char path[24], link[64];
    if (fd < 0)
        return false;
    snprintf(path, sizeof path, "fd/%d", fd);
    ssize_t l = readlinkat(pfd, path, link, sizeof link);
    return socket_ino(link, l) == ino;
}

bool px__ident_pid_holds(int pfd, uint64_t ino)
{
    _Alignas(8) char dents[4096];
    int fdd = openat(pfd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fdd < 0)
        return false;
    unsigned fds = 0;
    one_t o = {ino, false, -1};
    each_socket(fdd, dents, sizeof dents, &fds, ID__MAX_FDS, one_hit, &o);
    close(fdd);
    return o.held;
}

/* ---- one scan for a batch ------------------------------------------------------ */

/* Records holder pid (fd: one of its fds on the socket) for r: the same exe
 * (same link text and same file) keeps the lowest pid, another exe makes the
 * result ambiguous. */
static void note_holder(int procfd, int pid, int fd, id_req_t *r)
{
    char path[32];
    struct stat st;
    px__holders_t *h = r->out;
    snprintf(path, sizeof path, "%d/exe", pid);
    char *exe = h->pid == 0 ? h->exe : h->other_exe;
    ssize_t n = readlinkat(procfd, path, exe, sizeof h->exe - 1);
    exe[n < 0 ? 0 : n] = '\0';
    if (fstatat(procfd, path, &st, 0) != 0) /* the file, not the link */
        st.st_dev = 0, st.st_ino = 0;
    if (h->pid == 0) {
        h->pid = pid;
        h->fd = fd;
        r->exe_dev = st.st_dev;
        r->exe_ino = st.st_ino;
    } else if (strcmp(exe, h->exe) != 0 || st.st_dev != r->exe_dev || st.st_ino != r->exe_ino) {
        h->other_pid = pid;
    } else if (pid < h->pid) {
        h->pid = pid;
        h->fd = fd;
    }
}

typedef struct {
    px__ident_scan_t *s;
    int procfd, pid;
} proc_t;

static bool batch_hit(void *ctx, uint64_t ino, int fd)
{
    proc_t *p = ctx;
    for (size_t i = 0; i < p->s->nbatch; i++) {
        id_req_t *r = p->s->batch[i];
        if (r->ino == ino && r->last_pid != p->pid && r->out->other_pid == 0) {
            r->last_pid = p->pid;
            note_holder(p->procfd, p->pid, fd, r);
        }
    }
    return true;
}

/* True when every inode of the batch is already ambiguous. */
static bool batch_settled(const px__ident_scan_t *s)
{
    for (size_t i = 0; i < s->nbatch; i++)
        if (s->batch[i]->out->other_pid == 0)
            return false;
    return true;
}

/* Walks /proc (procfd) until done, settled, or capped; -errno when /proc
 * cannot be listed. */
static int scan_procs(px__ident_scan_t *s, int procfd)
{
    char path[24];
    ssize_t n;
    while ((n = getdents64(procfd, s->pids, sizeof s->pids)) > 0) {
        for (ssize_t off = 0; off < n;) {
            const struct dirent64 *d = (const struct dirent64 *)(s->pids + off);
            off += d->d_reclen;
            proc_t p = {s, procfd, parse_pid(d->d_name)};
            if (p.pid <= 0)
                continue; /* "self", "net", ...: not processes */
            if (++s->procs > ID__MAX_PROCS) {
                s->capped = true;
                return 0;
            }
            size_t len = strlen(d->d_name); /* at most 7 digits (parse_pid) */
            memcpy(path, d->d_name, len);
            memcpy(path + len, "/fd", 4);
            int fdd = openat(procfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
            if (fdd < 0) {
                if (errno == EACCES || errno == EPERM)
                    s->unreadable++;
                continue;
            }
            int rc =
                each_socket(fdd, s->dents, sizeof s->dents, &s->fds, ID__MAX_FDS, batch_hit, &p);
            close(fdd);
            if (rc < 0)
                s->unreadable++;
            if (rc > 0)
                s->capped = true;
            if (s->capped || batch_settled(s))
                return 0;
        }
    }
    return n < 0 ? -errno : 0;
}

/* ---- the batch through BPF ----------------------------------------------------- */

typedef struct {
    px__ident_scan_t *s;
    int procfd;
    unsigned recs;
} bpf_ctx_t;

/* One fd of process tgid that is batch[i]'s inode (ident_bpf.c); as
 * batch_hit. Records are counted against the scan's fd limit (a socket
 * dup()ed a million times must not pin a worker). */
static bool bpf_hit(void *ctx, size_t i, int tgid, int fd, uint32_t flags)
{
    bpf_ctx_t *b = ctx;
    /* A thread with an fd table of its own holding the socket makes its
     * process a holder, as if the leader held it: otherwise a process could
     * keep the socket in such a thread, pass it to an allowed binary and be
     * named as that binary (the /proc scan cannot see this; BPF can). Its fd
     * is not in the leader's table: the holder's own check reads them all. */
    if (!(flags & PX__BPF_LEADER))
        fd = -1;
    if (++b->recs > ID__MAX_FDS) {
        b->s->capped = true;
        return false;
    }
    id_req_t *r = b->s->batch[i];
    if (r->last_pid != tgid && r->out->other_pid == 0) {
        r->last_pid = tgid;
        note_holder(b->procfd, tgid, fd, r);
    }
    return !batch_settled(b->s);
}

static void batch_reset(px__ident_scan_t *s)
{
    s->procs = s->fds = s->unreadable = 0;
    s->capped = false;
    for (size_t i = 0; i < s->nbatch; i++) {
        memset(s->batch[i]->out, 0, sizeof *s->batch[i]->out);
        s->batch[i]->last_pid = 0;
        s->batch[i]->exe_dev = 0;
        s->batch[i]->exe_ino = 0;
    }
}

/* 0 when BPF found the holders of the whole batch; -errno when the run
 * failed (the outputs are reset for the scan). */
static int bpf_batch(px__ident_scan_t *s, int procfd)
{
    uint64_t inos[PX__BPF_BATCH];
    for (size_t i = 0; i < s->nbatch; i++)
        inos[i] = s->batch[i]->ino;
    bpf_ctx_t b = {s, procfd, 0};
    int rc = px__ident_bpf_run(s->bpf, inos, s->nbatch, bpf_hit, &b);
    if (rc != 0)
        batch_reset(s);
    return rc;
}

/* The leader's scan for s->batch (s->mu not held). */
static void run_batch(px__ident_scan_t *s)
{
    _Static_assert(ID__BATCH <= PX__BPF_BATCH, "a batch fits a BPF run");
    s->by_bpf = 0;
    if (s->bpf != NULL) {
        int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        batch_reset(s);
        s->by_bpf = procfd >= 0 && bpf_batch(s, procfd) == 0 ? 1 : -1;
        if (procfd >= 0)
            close(procfd);
        if (s->by_bpf > 0) {
            for (size_t i = 0; i < s->nbatch; i++)
                s->batch[i]->out->capped = s->capped;
            return;
        }
    }
    s->procs = s->fds = s->unreadable = 0;
    s->capped = false;
    int rc, procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (procfd < 0) {
        rc = -errno;
    } else {
        rc = scan_procs(s, procfd);
        close(procfd);
    }
    for (size_t i = 0; i < s->nbatch; i++) {
        px__holders_t *h = s->batch[i]->out;
        h->err = rc;
        h->capped = s->capped;
        h->unreadable = s->unreadable;
    }
}

/* ---- the processes of one cgroup -------------------------------------------------- */

/* Looks at one pid of cgroup.procs for r; false when the walk must stop. */
static bool cgroup_pid(int procfd, int pid, id_req_t *r, char *dents, size_t dlen, unsigned *procs,
                       unsigned *fds)
{
    px__holders_t *h = r->out;
    char path[24];
    if (++*procs > ID__MAX_PROCS) {
        h->capped = true;
        return false;
    }
    snprintf(path, sizeof path, "%d/fd", pid);
    int fdd = openat(procfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fdd < 0) {
        if (errno == EACCES || errno == EPERM)
            h->unreadable++;
        return true; /* exited since cgroup.procs was read */
    }
    one_t o = {r->ino, false, -1};
    int rc = each_socket(fdd, dents, dlen, fds, ID__MAX_FDS, one_hit, &o);
    close(fdd);
    if (rc < 0)
        h->unreadable++;
    if (rc > 0)
        h->capped = true;
    if (o.held && pid != r->last_pid) { /* cgroup.procs may list a pid twice */
        r->last_pid = pid;
        note_holder(procfd, pid, o.fd, r);
    }
    return !h->capped && h->other_pid == 0;
}

int px__ident_cgroup_holders(int cgfd, uint64_t ino, px__holders_t *out)
{
    memset(out, 0, sizeof *out);
    id_req_t r = {.ino = ino, .out = out};
    _Alignas(8) char dents[8192];
    char buf[4096];
    unsigned procs = 0, fds = 0;
    int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int fd = openat(cgfd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
    if (procfd < 0 || fd < 0) {
        out->err = -errno;
        goto out;
    }
    /* one pid a line; a pid may straddle two reads */
    long pid = -1;
    bool more = true;
    for (ssize_t n; more && (n = read(fd, buf, sizeof buf)) != 0;) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            out->err = -errno;
            break;
        }
        for (ssize_t i = 0; more && i < n; i++) {
            if (buf[i] == '\n') {
                if (pid > 0 && pid <= 4194304) /* PID_MAX_LIMIT */
                    more = cgroup_pid(procfd, (int)pid, &r, dents, sizeof dents, &procs, &fds);
                else if (pid != -1)    /* 0: in a pid namespace this one cannot see */
                    out->unreadable++; /* a process not looked at */
                pid = -1;
            } else if (buf[i] >= '0' && buf[i] <= '9' && pid >= -1 && pid <= 4194304) {
                pid = (pid < 0 ? 0 : pid * 10) + (buf[i] - '0');
            } else {
                pid = -2;
            }
        }
    }
out:
    if (fd >= 0)
        close(fd);
    if (procfd >= 0)
        close(procfd);
    return out->err;
}

int px__ident_find_holders(px__ident_scan_t *s, uint64_t ino, px__holders_t *out)
{
    memset(out, 0, sizeof *out);
    id_req_t r = {.ino = ino, .out = out};
    pthread_mutex_lock(&s->mu);
    id_req_t **tail = &s->queue;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = &r; /* oldest first: a leader serves the oldest ID__BATCH */
    while (!r.done) {
        if (s->scanning || s->paused) {
            pthread_cond_wait(&s->cv, &s->mu);
            continue;
        }
        s->nbatch = 0;
        while (s->queue != NULL && s->nbatch < ID__BATCH) {
            s->batch[s->nbatch] = s->queue;
            s->batch[s->nbatch]->last_pid = 0;
            s->nbatch++;
            s->queue = s->queue->next;
        }
        s->scanning = true;
        pthread_mutex_unlock(&s->mu);
        run_batch(s);
        pthread_mutex_lock(&s->mu);
        for (size_t i = 0; i < s->nbatch; i++)
            s->batch[i]->done = true;
        s->scans++;
        s->served += s->nbatch;
        if (s->by_bpf > 0) {
            s->bpf_runs++;
            s->bpf_served += s->nbatch;
        } else if (s->by_bpf < 0) {
            s->bpf_fallbacks++;
        }
        s->scanning = false;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return out->err;
}
