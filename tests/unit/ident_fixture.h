/*
 * ident_fixture.h: helpers shared by test_ident.c and test_ident_cache.c
 * (header-only, like unit.h; each test file is its own binary).
 */
#ifndef TOLLGATE_IDENT_FIXTURE_H
#define TOLLGATE_IDENT_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "proxy/px_internal.h"

/* SHA-256 of a whole file, computed here without the cache. */
static inline void sha256_of(const char *path, char hex[65])
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
    unsigned char buf[4096], d[32];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        EVP_DigestUpdate(ctx, buf, n);
    unsigned int dl = 0;
    EVP_DigestFinal_ex(ctx, d, &dl);
    EVP_MD_CTX_free(ctx);
    fclose(f);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

static inline void link_of(const char *path, char *out, size_t n)
{
    ssize_t r = readlink(path, out, n - 1);
    assert_true(r > 0);
    out[r] = '\0';
}

static inline const char *sleep_path(void)
{
    static char p[PATH_MAX];
    assert_non_null(realpath("/bin/sleep", p));
    return p;
}

static inline double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static inline void make_tmpdir(char dir[64])
{
    snprintf(dir, 64, "/tmp/test_ident.XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static inline void write_file(const char *path, const void *data, size_t n, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    close(fd);
}

#endif
