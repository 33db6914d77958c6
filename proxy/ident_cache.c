/*
 * ident_cache.c: the SHA-256 of files, cached (see px_internal.h, ident.c).
 *
 * A fixed table of PX_IDENT_CACHE_ENTRIES entries, 8-way set associative.
 * The set comes from (dev, inode) alone, so a newer version of a file
 * replaces its stale entry; otherwise an empty way, else the least recently
 * used way of the set, is taken. A key is (dev, inode, size, mtime, ctime)
 * from fstat of the open file: a warm lookup is one fstat and no read.
 * File times are coarse (one tick), so a same-size rewrite within the tick
 * would keep the key (git's "racy clean" problem): a file whose ctime is
 * younger than PX_IDENT_FRESH_NS is hashed every time, not cached.
 * One mutex guards the table and the counters; it is not held while a file
 * is hashed (two threads may hash one cold file twice, harmlessly). Hashing
 * reads 64 KiB chunks through EVP with the SHA-256 fetched once per cache.
 * The cache also owns the lookups' shared /proc scan state (ident_scan.c).
 *
 * Threads: any; everything here blocks on file I/O (not the loop thread).
 */
#include "proxy/px_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#define ID__WAYS  8u
#define ID__SETS  (PX_IDENT_CACHE_ENTRIES / ID__WAYS)
#define ID__CHUNK (64u * 1024)

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (p == NULL)
        abort(); /* the project's OOM policy for fixed-size allocations */
    return p;
}

typedef struct {
    uint64_t dev, ino, size;
    int64_t mtime_s, mtime_ns, ctime_s, ctime_ns;
} ckey_t;

typedef struct {
    ckey_t k;
    uint64_t used; /* tick of the last hit or put; 0 = empty */
    char hex[65];
} centry_t;

struct px_ident_cache {
    pthread_mutex_t mu;
    EVP_MD *md; /* fetched once; shared by the threads (read-only) */
    uint64_t tick, hits, misses, evictions;
    size_t entries;
    int64_t fresh_ns;       /* younger files are not cached */
    px__ident_scan_t *scan; /* ident_scan.c: shared /proc scans */
    char cgroup[512];       /* the clients' cgroup v2 dir; "" none */
    bool full_scan;         /* TOLLGATE_IDENT_FULL_SCAN=1: ignore it */
    uint64_t cg_fast, cg_fallback;
    centry_t e[PX_IDENT_CACHE_ENTRIES]; /* set s holds e[s * ID__WAYS ...] */
};

px_ident_cache_t *px_ident_cache_create(void)
{
    px_ident_cache_t *c = xcalloc(1, sizeof *c);
    c->fresh_ns = PX_IDENT_FRESH_NS;
    c->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (c->md == NULL || pthread_mutex_init(&c->mu, NULL) != 0) {
        EVP_MD_free(c->md);
        free(c);
        return NULL;
    }
    c->scan = px__ident_scan_create();
    const char *fs = getenv("TOLLGATE_IDENT_FULL_SCAN");
    c->full_scan = fs != NULL && strcmp(fs, "1") == 0;
    return c;
}

void px_ident_cache_destroy(px_ident_cache_t *c)
{
    if (c == NULL)
        return;
    px__ident_scan_destroy(c->scan);
    pthread_mutex_destroy(&c->mu);
    EVP_MD_free(c->md);
    free(c);
}

px__ident_scan_t *px__ident_cache_scan(px_ident_cache_t *c)
{
    return c->scan;
}

void px_ident_cache_stats(px_ident_cache_t *c, px_ident_cache_stats_t *out)
{
    pthread_mutex_lock(&c->mu);
    out->hits = c->hits;
    out->misses = c->misses;
    out->evictions = c->evictions;
    out->entries = c->entries;
    out->cgroup_fast = c->cg_fast;
    out->cgroup_fallback = c->cg_fallback;
    pthread_mutex_unlock(&c->mu);
    px__ident_scan_stats(c->scan, &out->scans, &out->scanned);
    px__ident_scan_bpf_stats(c->scan, &out->bpf, &out->bpf_runs, &out->bpf_served,
                             &out->bpf_fallbacks);
}

void px_ident_cache_set_cgroup(px_ident_cache_t *c, const char *dir)
{
    pthread_mutex_lock(&c->mu);
    size_t n = dir != NULL ? strlen(dir) : 0;
    if (n >= sizeof c->cgroup)
        n = 0; /* cut, it would name another directory: none */
    memcpy(c->cgroup, dir != NULL ? dir : "", n);
    c->cgroup[n] = '\0';
    pthread_mutex_unlock(&c->mu);
}

void px__ident_cache_cgroup(px_ident_cache_t *c, char *out, size_t n)
{
    pthread_mutex_lock(&c->mu);
    size_t len = c->full_scan ? 0 : strlen(c->cgroup);
    if (len >= n)
        len = 0;
    memcpy(out, c->cgroup, len);
    out[len] = '\0';
    pthread_mutex_unlock(&c->mu);
}

void px__ident_cache_count(px_ident_cache_t *c, bool fast)
{
    pthread_mutex_lock(&c->mu);
    if (fast)
        c->cg_fast++;
    else
        c->cg_fallback++;
    pthread_mutex_unlock(&c->mu);
}

void px_ident_cache_set_fresh_ns(px_ident_cache_t *c, int64_t ns)
{
    pthread_mutex_lock(&c->mu);
    c->fresh_ns = ns;
    pthread_mutex_unlock(&c->mu);
}

/* True when st changed less than fresh_ns ago (or in the future). */
static bool too_fresh(const struct stat *st, int64_t fresh_ns)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t age_s = (int64_t)now.tv_sec - (int64_t)st->st_ctim.tv_sec;
    if (age_s < 0)
        return true;
    if (age_s > 3600)
        return false;
    return age_s * 1000000000 + (now.tv_nsec - st->st_ctim.tv_nsec) < fresh_ns;
}

static ckey_t key_of(const struct stat *st)
{
    ckey_t k = {.dev = (uint64_t)st->st_dev,
                .ino = (uint64_t)st->st_ino,
                .size = (uint64_t)st->st_size,
                .mtime_s = st->st_mtim.tv_sec,
                .mtime_ns = st->st_mtim.tv_nsec,
                .ctime_s = st->st_ctim.tv_sec,
                .ctime_ns = st->st_ctim.tv_nsec};
    return k;
}

static bool same_file(const ckey_t *a, const ckey_t *b)
{
    return a->dev == b->dev && a->ino == b->ino;
}

static bool key_eq(const ckey_t *a, const ckey_t *b)
{
    return same_file(a, b) && a->size == b->size && a->mtime_s == b->mtime_s &&
           a->mtime_ns == b->mtime_ns && a->ctime_s == b->ctime_s && a->ctime_ns == b->ctime_ns;
}

static centry_t *cache_set(px_ident_cache_t *c, const ckey_t *k)
{
    uint64_t h = k->dev * 0x9e3779b97f4a7c15ull ^ k->ino;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return &c->e[(h % ID__SETS) * ID__WAYS];
}

/* True (and out filled) on a hit; counts the hit or miss. */
static bool cache_get(px_ident_cache_t *c, const ckey_t *k, char out[65])
{
    bool hit = false;
    pthread_mutex_lock(&c->mu);
    centry_t *set = cache_set(c, k);
    for (unsigned i = 0; i < ID__WAYS && !hit; i++) {
        if (set[i].used != 0 && key_eq(&set[i].k, k)) {
            set[i].used = ++c->tick;
            memcpy(out, set[i].hex, 65);
            hit = true;
        }
    }
    if (hit)
        c->hits++;
    else
        c->misses++;
    pthread_mutex_unlock(&c->mu);
    return hit;
}

/* Puts k (unless st is too fresh): over an older version of the same file,
 * else an empty way, else the least recently used way of the set. */
static void cache_put(px_ident_cache_t *c, const ckey_t *k, const struct stat *st,
                      const char hex[65])
{
    pthread_mutex_lock(&c->mu);
    if (too_fresh(st, c->fresh_ns)) {
        pthread_mutex_unlock(&c->mu);
        return;
    }
    centry_t *set = cache_set(c, k);
    centry_t *slot = NULL;
    for (unsigned i = 0; i < ID__WAYS && slot == NULL; i++)
        if (set[i].used != 0 && same_file(&set[i].k, k))
            slot = &set[i];
    for (unsigned i = 0; i < ID__WAYS && slot == NULL; i++) {
        if (set[i].used == 0) {
            slot = &set[i];
            c->entries++;
        }
    }
    if (slot == NULL) {
        slot = &set[0];
        for (unsigned i = 1; i < ID__WAYS; i++)
            if (set[i].used < slot->used)
                slot = &set[i];
        c->evictions++;
    }
    slot->k = *k;
    slot->used = ++c->tick;
    memcpy(slot->hex, hex, 65);
    pthread_mutex_unlock(&c->mu);
}

/* Reads fd from offset 0 to its end through SHA-256. */
static int digest_fd(const EVP_MD *md, int fd, char out[65])
{
    static const char hexd[] = "0123456789abcdef";
    unsigned char *buf = xcalloc(1, ID__CHUNK);
    unsigned char dig[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    int rc = -ENOMEM;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestInit_ex(ctx, md, NULL) != 1)
        goto out;
    for (off_t off = 0;;) {
        ssize_t n = pread(fd, buf, ID__CHUNK, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            goto out;
        }
        if (n == 0)
            break;
        if ((uint64_t)off + (uint64_t)n > PX_IDENT_MAX_HASH) {
            rc = -EFBIG; /* grew past the limit while read */
            goto out;
        }
        if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1)
            goto out;
        off += n;
    }
    if (EVP_DigestFinal_ex(ctx, dig, &dlen) != 1 || dlen != 32)
        goto out;
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hexd[dig[i] >> 4];
        out[2 * i + 1] = hexd[dig[i] & 15];
    }
    out[64] = '\0';
    rc = 0;
out:
    EVP_MD_CTX_free(ctx);
    free(buf);
    return rc;
}

int px__ident_hash_fd(px_ident_cache_t *c, int fd, char out[65])
{
    struct stat st, st2;
    if (fstat(fd, &st) != 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return -EINVAL;
    if ((uint64_t)st.st_size > PX_IDENT_MAX_HASH)
        return -EFBIG;
    ckey_t k = key_of(&st);
    if (cache_get(c, &k, out))
        return 0;
    int rc = digest_fd(c->md, fd, out);
    if (rc != 0)
        return rc;
    /* cache only what did not change while it was read */
    if (fstat(fd, &st2) == 0) {
        ckey_t k2 = key_of(&st2);
        if (key_eq(&k, &k2))
            cache_put(c, &k, &st2, out);
    }
    return 0;
}

int px_file_sha256(px_ident_cache_t *c, const char *path, char out[65])
{
    if (c == NULL || path == NULL || out == NULL)
        return -EINVAL;
    out[0] = '\0';
    /* O_NONBLOCK: a FIFO must not hang the open (then it is rejected) */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    int rc = px__ident_hash_fd(c, fd, out);
    close(fd);
    if (rc != 0)
        out[0] = '\0';
    return rc;
}
