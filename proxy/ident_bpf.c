/*
 * ident_bpf.c: who holds a socket inode, asked of the kernel in one pass
 * (see px_internal.h, ident_scan.c). The BPF program proxy/bpf/
 * ident_iter.bpf.c (embedded: $(BUILD)/gen/ident_bpf_obj.c) is a task_file
 * iterator: the kernel walks every task's open files and the program writes
 * a record (tgid, fd, which inode, leader?) for each sockfs file whose
 * inode is one the reading thread asked for. Per run:
 *
 *   the wanted inodes go into the hash map `wanted` under the reading
 *   thread's id (so concurrent runs from several threads or caches never
 *   see each other's), an iterator fd is made from the link, read to its
 *   end, closed, and the entry removed.
 *
 * Loaded once per process (px__ident_bpf_get, pthread_once) when first
 * wanted; nothing is pinned, every fd is close-on-exec (the kernel makes
 * BPF fds O_CLOEXEC), the map is reachable only through this process' fds.
 * After the load a self-test looks for a socket of this process: exactly
 * one record, this pid, in the initial pid namespace (the records carry
 * global tgids, which are /proc's pids only there); anything else disables
 * the path. Any failure of a run (map update, iterator, read, a torn
 * record) is an error: the caller then scans /proc, it never uses part of
 * a run.
 *
 * Which tasks: the kernel's task_file iterator visits every task but skips
 * threads that share their leader's fd table; a thread with a table of its
 * own (clone without CLONE_FILES, unshare) is visited, with the process'
 * tgid. The /proc scan reads /proc/<pid>/fd, the leader's table only, so
 * records from non-leader tasks are dropped here (flag bit 0) to give the
 * scan's holders exactly; they are counted (px__ident_bpf_stats).
 *
 * Threads: any but the loop thread (a run blocks for the kernel's walk).
 */
#include "proxy/px_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

/* scripts/embed.py's table ($(BUILD)/gen/ident_bpf_obj.c) */
struct gw__embedded {
    const char *name;
    const unsigned char *data;
    size_t len;
};
extern const struct gw__embedded px__bpf_embedded[];

/* The same layouts as the BPF program's (ident_iter.bpf.c). */
typedef struct {
    uint32_t n, pad;
    uint64_t ino[PX__BPF_BATCH];
} want_t;

typedef struct {
    uint32_t tgid, fd, idx, flags;
} rec_t;

#define REC_LEADER PX__BPF_LEADER

struct px__ident_bpf {
    struct bpf_object *obj;
    struct bpf_link *link;
    int link_fd, map_fd;
};

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static px__ident_bpf_t *g_bpf;
static char g_why[256];
static char g_libbpf[160]; /* libbpf's first warning during the load */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t g_hidden; /* records of threads with an fd table of their own */
static int g_fault;       /* tests: the next run fails with it */
static unsigned g_fault_after;

/* Thread-safe strerror (the GNU strerror_r may return a static string). */
static const char *errtext(int e, char *buf, size_t n)
{
    return strerror_r(e < 0 ? -e : e, buf, n);
}

/* libbpf's messages: the first warning is kept for the reason (the most
 * precise one: which step failed); nothing is printed. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    if (level != LIBBPF_WARN)
        return 0;
    char line[sizeof g_libbpf];
    if (g_libbpf[0] != '\0')
        return 0;
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    if (strstr(line, "RLIMIT_MEMLOCK") != NULL) /* a hint, not the cause */
        return 0;
    if (strncmp(line, "libbpf: ", 8) == 0)
        memmove(line, line + 8, strlen(line + 8) + 1);
    for (char *p = line; *p; p++) /* printable ASCII only: it reaches a log */
        if (*p < 0x20 || *p > 0x7e)
            *p = '?';
    if (line[0] != '\0')
        memcpy(g_libbpf, line, sizeof line);
    return 0;
}

static void bpf_free(px__ident_bpf_t *b)
{
    if (b == NULL)
        return;
    bpf_link__destroy(b->link);
    bpf_object__close(b->obj);
    free(b);
}

typedef struct {
    uint32_t pid, fd;
    unsigned recs, own, others;
} selftest_t;

static bool selftest_hit(void *ctx, size_t idx, int tgid, int fd, uint32_t flags)
{
    selftest_t *t = ctx;
    (void)idx;
    t->recs++;
    if ((uint32_t)tgid == t->pid && (uint32_t)fd == t->fd && (flags & REC_LEADER) &&
        (flags >> 8 & 0xffu) == 0)
        t->own++;
    else
        t->others++;
    return true;
}

/* The run on a socket of our own: one record, ours, pid namespace level 0. */
static int selftest(px__ident_bpf_t *b, char *why, size_t n)
{
    int sk = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct stat st;
    if (sk < 0 || fstat(sk, &st) != 0) {
        char eb[128];
        snprintf(why, n, "self-test: cannot make a socket: %s", errtext(errno, eb, sizeof eb));
        if (sk >= 0)
            close(sk);
        return -EIO;
    }
    uint64_t ino = (uint64_t)st.st_ino;
    selftest_t t = {.pid = (uint32_t)getpid(), .fd = (uint32_t)sk};
    int rc = px__ident_bpf_run(b, &ino, 1, selftest_hit, &t);
    close(sk);
    if (rc != 0) {
        char eb[128];
        snprintf(why, n, "self-test: the iterator failed: %s", errtext(rc, eb, sizeof eb));
        return rc;
    }
    if (t.own != 1 || t.others != 0) {
        snprintf(why, n,
                 "self-test: %u record(s) for a socket of this process, %u as expected "
                 "(not in the initial pid namespace?)",
                 t.recs, t.own);
        return -EPROTO;
    }
    return 0;
}

static void load_once(void)
{
    const char *env = getenv("TOLLGATE_IDENT_BPF");
    if (env != NULL && strcmp(env, "0") == 0) {
        snprintf(g_why, sizeof g_why, "%s", "TOLLGATE_IDENT_BPF=0");
        return;
    }
    if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
        char eb[128];
        snprintf(g_why, sizeof g_why, "no kernel BTF (/sys/kernel/btf/vmlinux: %s)",
                 errtext(errno, eb, sizeof eb));
        return;
    }
    px__ident_bpf_t *b = calloc(1, sizeof *b);
    if (b == NULL)
        abort(); /* the project's OOM policy for fixed-size allocations */
    b->link_fd = b->map_fd = -1;
    libbpf_print_fn_t old = libbpf_set_print(libbpf_print);
    LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "tollgate_ident");
    int rc;
    const char *step = "open";
    b->obj = bpf_object__open_mem(px__bpf_embedded[0].data, px__bpf_embedded[0].len, &opts);
    if (b->obj == NULL) {
        rc = -errno;
        goto fail;
    }
    step = "load (needs CAP_BPF and CAP_PERFMON, BTF, a kernel >= 5.8)";
    if ((rc = bpf_object__load(b->obj)) != 0)
        goto fail;
    step = "attach";
    struct bpf_program *prog = bpf_object__find_program_by_name(b->obj, "tg_sock_holders");
    b->map_fd = bpf_object__find_map_fd_by_name(b->obj, "wanted");
    if (prog == NULL || b->map_fd < 0) {
        rc = -ENOENT;
        goto fail;
    }
    b->link = bpf_program__attach_iter(prog, NULL);
    if (b->link == NULL) {
        rc = -errno;
        goto fail;
    }
    b->link_fd = bpf_link__fd(b->link);
    libbpf_set_print(old);
    if (selftest(b, g_why, sizeof g_why) != 0) {
        bpf_free(b);
        return;
    }
    g_bpf = b;
    return;
fail:
    libbpf_set_print(old);
    char eb[128];
    snprintf(g_why, sizeof g_why, "%s: %s%s%s", step, errtext(rc, eb, sizeof eb),
             g_libbpf[0] ? " (libbpf: " : "", g_libbpf[0] ? g_libbpf : "");
    if (g_libbpf[0])
        snprintf(g_why + strlen(g_why), sizeof g_why - strlen(g_why), ")");
    bpf_free(b);
}

static void load_and_say(void)
{
    load_once();
    if (g_bpf == NULL && strcmp(g_why, "TOLLGATE_IDENT_BPF=0") != 0)
        fprintf(stderr,
                "[proxy] caller identity: the BPF iterator is off (%s); every lookup "
                "scans /proc instead\n",
                g_why);
}

px__ident_bpf_t *px__ident_bpf_get(char *why, size_t n)
{
    pthread_once(&g_once, load_and_say);
    if (why != NULL && n > 0)
        snprintf(why, n, "%s", g_bpf != NULL ? "" : g_why);
    return g_bpf;
}

uint64_t px__ident_bpf_hidden(void)
{
    pthread_mutex_lock(&g_mu);
    uint64_t v = g_hidden;
    pthread_mutex_unlock(&g_mu);
    return v;
}

void px__ident_bpf_fault(int err, unsigned after)
{
    pthread_mutex_lock(&g_mu);
    g_fault = err;
    g_fault_after = after;
    pthread_mutex_unlock(&g_mu);
}

int px__ident_bpf_run(px__ident_bpf_t *b, const uint64_t *inos, size_t n, px__bpf_hit_fn hit,
                      void *ctx)
{
    if (b == NULL || n == 0 || n > PX__BPF_BATCH)
        return -EINVAL;
    want_t w = {.n = (uint32_t)n};
    memcpy(w.ino, inos, n * sizeof *inos);
    uint32_t tid = (uint32_t)gettid();
    if (bpf_map_update_elem(b->map_fd, &tid, &w, BPF_ANY) != 0)
        return errno != 0 ? -errno : -EIO;
    int rc = 0, fault;
    unsigned fault_after;
    uint64_t hidden = 0;
    pthread_mutex_lock(&g_mu);
    fault = g_fault;
    fault_after = g_fault_after;
    g_fault = 0;
    pthread_mutex_unlock(&g_mu);
    int fd = bpf_iter_create(b->link_fd); /* O_CLOEXEC (the kernel's) */
    if (fd < 0) {
        rc = fd;
        goto out;
    }
    _Alignas(8) char buf[8192]; /* a multiple of the record size */
    size_t have = 0;
    bool more = true;
    while (more) {
        ssize_t r = read(fd, buf + have, sizeof buf - have);
        if (r < 0 && errno == EAGAIN)
            continue; /* the kernel's walk paused (1M objects and no output) */
        if (r < 0) {
            rc = -errno; /* EINTR too: the kernel's walk does not resume */
            break;
        }
        if (r == 0) {
            if (have != 0)
                rc = -EPROTO; /* a torn record */
            break;
        }
        have += (size_t)r;
        size_t off = 0;
        for (; more && have - off >= sizeof(rec_t); off += sizeof(rec_t)) {
            rec_t rec;
            memcpy(&rec, buf + off, sizeof rec);
            if (rec.idx >= n || rec.tgid == 0 || rec.tgid > 4194304) { /* PID_MAX_LIMIT */
                rc = -EPROTO;
                more = false;
            } else if (fault != 0 && fault_after-- == 0) {
                rc = -fault; /* tests: a read that fails mid-walk */
                more = false;
            } else {
                if (!(rec.flags & REC_LEADER))
                    hidden++; /* a thread's own fd table: /proc/<pid>/fd does not show it */
                more = hit(ctx, rec.idx, (int)rec.tgid, (int)rec.fd, rec.flags);
            }
        }
        memmove(buf, buf + off, have - off);
        have -= off;
    }
    if (rc == 0 && fault != 0 && hit != selftest_hit)
        rc = -fault; /* tests: fewer records than `after`, fails at the end */
    close(fd);
out:
    bpf_map_delete_elem(b->map_fd, &tid);
    if (hidden != 0) {
        pthread_mutex_lock(&g_mu);
        g_hidden += hidden;
        pthread_mutex_unlock(&g_mu);
    }
    return rc;
}
