/*
 * Unit tests of proxy/ident_cache.c: SHA-256 of files through the cache
 * (known vectors, chunking, what is rejected), no re-read when warm, fresh
 * files not cached, a new hash for a changed or replaced file, the bound,
 * and threads.
 */
#include "ident_fixture.h"

#include <errno.h>
#include <pthread.h>

static void sha_known_vectors(void **state)
{
    (void)state;
    char dir[64], path[96], hex[65], want[65];
    make_tmpdir(dir);
    snprintf(path, sizeof path, "%s/f", dir);
    px_ident_cache_t *cache = px_ident_cache_create();
    write_file(path, "", 0, 0644);
    assert_int_equal(px_file_sha256(cache, path, hex), 0);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    write_file(path, "abc", 3, 0644);
    assert_int_equal(px_file_sha256(cache, path, hex), 0);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* several 64 KiB chunks and a partial one */
    static unsigned char big[200 * 1024 + 17];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (unsigned char)(i * 31 + (i >> 9));
    write_file(path, big, sizeof big, 0644);
    assert_int_equal(px_file_sha256(cache, path, hex), 0);
    sha256_of(path, want);
    assert_string_equal(hex, want);
    unlink(path);
    rmdir(dir);
    px_ident_cache_destroy(cache);
}

static void sha_rejects(void **state)
{
    (void)state;
    char dir[64], fifo[96], hex[65];
    make_tmpdir(dir);
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    px_ident_cache_t *cache = px_ident_cache_create();
    assert_int_equal(px_file_sha256(cache, fifo, hex), -EINVAL); /* does not hang */
    assert_int_equal(px_file_sha256(cache, dir, hex), -EINVAL);
    assert_int_equal(px_file_sha256(cache, "/dev/null", hex), -EINVAL);
    assert_int_equal(px_file_sha256(cache, "/nonexistent/x", hex), -ENOENT);
    assert_string_equal(hex, "");
    assert_int_equal(px_file_sha256(NULL, "/bin/sleep", hex), -EINVAL);
    unlink(fifo);
    rmdir(dir);
    px_ident_cache_destroy(cache);
    px_ident_cache_destroy(NULL);
}

/* A warm lookup reads nothing: the miss counter counts file reads. */
static void cache_hit_no_reread(void **state)
{
    (void)state;
    px_ident_cache_t *cache = px_ident_cache_create();
    char a[65], b[65];
    px_ident_cache_stats_t st;
    assert_int_equal(px_file_sha256(cache, sleep_path(), a), 0);
    px_ident_cache_stats(cache, &st);
    assert_int_equal(st.misses, 1);
    assert_int_equal(st.hits, 0);
    assert_int_equal(px_file_sha256(cache, sleep_path(), b), 0);
    assert_string_equal(a, b);
    px_ident_cache_stats(cache, &st);
    assert_int_equal(st.misses, 1);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.entries, 1);
    px_ident_cache_destroy(cache);
}

/* A file changed less than PX_IDENT_FRESH_NS ago is hashed every time (a
 * same-size rewrite within one tick of the clock would keep its key). */
static void cache_fresh_not_cached(void **state)
{
    (void)state;
    char dir[64], path[96], a[65], b[65];
    make_tmpdir(dir);
    snprintf(path, sizeof path, "%s/new", dir);
    write_file(path, "just built", 10, 0755);
    px_ident_cache_t *cache = px_ident_cache_create();
    px_ident_cache_stats_t st;
    assert_int_equal(px_file_sha256(cache, path, a), 0);
    assert_int_equal(px_file_sha256(cache, path, b), 0);
    assert_string_equal(a, b);
    px_ident_cache_stats(cache, &st);
    assert_int_equal(st.misses, 2);
    assert_int_equal(st.entries, 0);
    px_ident_cache_set_fresh_ns(cache, 0);
    assert_int_equal(px_file_sha256(cache, path, a), 0);
    assert_int_equal(px_file_sha256(cache, path, b), 0);
    px_ident_cache_stats(cache, &st);
    assert_int_equal(st.misses, 3);
    assert_int_equal(st.hits, 1);
    unlink(path);
    rmdir(dir);
    px_ident_cache_destroy(cache);
}

/* Rewritten in place with the same size and the old mtime put back (only
 * ctime tells), then replaced by rename: each time a new hash. */
static void cache_changed_file(void **state)
{
    (void)state;
    char dir[64], path[96], tmp[96], h1[65], h2[65], h3[65];
    make_tmpdir(dir);
    snprintf(path, sizeof path, "%s/bin", dir);
    snprintf(tmp, sizeof tmp, "%s/bin.tmp", dir);
    px_ident_cache_t *cache = px_ident_cache_create();
    px_ident_cache_set_fresh_ns(cache, 0); /* cache files made just now */
    write_file(path, "version 1", 9, 0755);
    struct stat st0;
    assert_int_equal(stat(path, &st0), 0);
    assert_int_equal(px_file_sha256(cache, path, h1), 0);
    struct timespec pause = {0, 20 * 1000 * 1000}; /* a later ctime */
    nanosleep(&pause, NULL);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "version 2", 9, 0), 9);
    struct timespec times[2] = {st0.st_atim, st0.st_mtim};
    assert_int_equal(futimens(fd, times), 0);
    close(fd);
    assert_int_equal(px_file_sha256(cache, path, h2), 0);
    assert_string_not_equal(h1, h2);
    write_file(tmp, "version 3", 9, 0755);
    assert_int_equal(rename(tmp, path), 0);
    assert_int_equal(px_file_sha256(cache, path, h3), 0);
    assert_string_not_equal(h2, h3);
    px_ident_cache_stats_t st;
    px_ident_cache_stats(cache, &st);
    assert_int_equal(st.misses, 3);
    assert_int_equal(st.hits, 0);
    assert_int_equal(st.entries, 2); /* v2 replaced v1 (same inode) */
    unlink(path);
    rmdir(dir);
    px_ident_cache_destroy(cache);
}

/* More files than entries: the table stays bounded and answers right. */
static void cache_bounded(void **state)
{
    (void)state;
    enum { N = PX_IDENT_CACHE_ENTRIES + 512 };
    char dir[64], path[96], hex[65], first[65], body[32];
    make_tmpdir(dir);
    px_ident_cache_t *cache = px_ident_cache_create();
    px_ident_cache_set_fresh_ns(cache, 0); /* cache files made just now */
    for (int i = 0; i < N; i++) {
        snprintf(path, sizeof path, "%s/%d", dir, i);
        int n = snprintf(body, sizeof body, "file %d", i);
        write_file(path, body, (size_t)n, 0644);
        assert_int_equal(px_file_sha256(cache, path, hex), 0);
        if (i == 0)
            memcpy(first, hex, sizeof hex);
    }
    px_ident_cache_stats_t st;
    px_ident_cache_stats(cache, &st);
    assert_true(st.entries <= PX_IDENT_CACHE_ENTRIES);
    assert_true(st.entries + st.evictions == N);
    assert_true(st.evictions >= 512);
    snprintf(path, sizeof path, "%s/0", dir);
    assert_int_equal(px_file_sha256(cache, path, hex), 0);
    assert_string_equal(hex, first);
    print_message("%d files: %zu entries, %llu evictions\n", N, st.entries,
                  (unsigned long long)st.evictions);
    for (int i = 0; i < N; i++) {
        snprintf(path, sizeof path, "%s/%d", dir, i);
        unlink(path);
    }
    rmdir(dir);
    px_ident_cache_destroy(cache);
}

typedef struct {
    px_ident_cache_t *cache;
    const char *paths[2];
    char want[2][65];
    int bad;
} race_t;

static void *race_thread(void *arg)
{
    race_t *r = arg;
    char hex[65];
    for (int i = 0; i < 400; i++) {
        int k = i & 1;
        if (px_file_sha256(r->cache, r->paths[k], hex) != 0 || strcmp(hex, r->want[k]) != 0)
            __atomic_add_fetch(&r->bad, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void cache_threads(void **state)
{
    (void)state;
    char self[PATH_MAX];
    link_of("/proc/self/exe", self, sizeof self);
    race_t r = {.cache = px_ident_cache_create(), .paths = {sleep_path(), self}};
    px_ident_cache_set_fresh_ns(r.cache, 0); /* this binary was just linked */
    sha256_of(r.paths[0], r.want[0]);
    sha256_of(r.paths[1], r.want[1]);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, race_thread, &r), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(r.bad, 0);
    px_ident_cache_stats_t st;
    px_ident_cache_stats(r.cache, &st);
    assert_int_equal(st.hits + st.misses, 4 * 400);
    assert_true(st.misses <= 8); /* at most each thread hashes each file once */
    px_ident_cache_destroy(r.cache);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sha_known_vectors),   cmocka_unit_test(sha_rejects),
        cmocka_unit_test(cache_hit_no_reread), cmocka_unit_test(cache_fresh_not_cached),
        cmocka_unit_test(cache_changed_file),  cmocka_unit_test(cache_bounded),
        cmocka_unit_test(cache_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
