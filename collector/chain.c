/*
 * chain.c: the keyed hash chain of the spool. The chain key (32 random
 * bytes) lives in <state>/keys/chain.key, outside the spool; the spool only
 * carries its id (the first 16 bytes of SHA-256 of the key). Every record's
 * chain is HMAC-SHA-256(key, previous chain || header || sandbox || json).
 *
 * Thread: col__mac_t is used by one thread at a time (the writer, or one
 * verifier); the key functions by any thread.
 */
/* SHA256_Init/Update/Final: the record chain's HMAC from precomputed pad
 * states, with no allocation and no provider dispatch per record (EVP_MAC
 * copies a context with malloc each time). Same bytes, same hash. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/sha.h>

#include "collector/col_internal.h"

_Static_assert(sizeof(SHA256_CTX) <= sizeof(((col__mac_t *)0)->hs[0]), "SHA256_CTX fits");

void col__state_path(const char *spool_dir, const char *name, char *out, size_t n)
{
    char tmp[COL__DIR_MAX];
    snprintf(tmp, sizeof tmp, "%s", spool_dir);
    size_t len = strlen(tmp);
    while (len > 1 && tmp[len - 1] == '/')
        tmp[--len] = '\0';
    snprintf(out, n, "%s/%s", dirname(tmp), name);
}

/* Refuses a key file or directory that group or other can read or write,
 * or that another user owns. */
static int check_private(const char *path, const struct stat *st, char *err, size_t errlen)
{
    if (st->st_uid != geteuid()) {
        snprintf(err, errlen, "%s: owned by uid %u, not by this user (uid %u): refused", path,
                 (unsigned)st->st_uid, (unsigned)geteuid());
        return -EPERM;
    }
    if (st->st_mode & 077) {
        snprintf(err, errlen, "%s: mode %03o lets group or other in (want %s): refused", path,
                 (unsigned)(st->st_mode & 0777), S_ISDIR(st->st_mode) ? "0700" : "0600");
        return -EPERM;
    }
    return 0;
}

int col__keys_dir_open(const char *keys_dir, bool create, char *err, size_t errlen)
{
    struct stat st;
    if (create && mkdir(keys_dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "mkdir %s: %s", keys_dir, strerror(errno));
        return -errno;
    }
    if (lstat(keys_dir, &st) != 0) {
        snprintf(err, errlen, "%s: %s", keys_dir, strerror(errno));
        return -errno;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: not a directory", keys_dir);
        return -ENOTDIR;
    }
    return check_private(keys_dir, &st, err, errlen);
}

int col__write_private(const char *path, const void *p, size_t n, mode_t mode, char *err,
                       size_t errlen)
{
    char tmp[COL__DIR_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        snprintf(err, errlen, "create %s: %s", tmp, strerror(errno));
        return -errno;
    }
    ssize_t w = write(fd, p, n);
    int rc = w == (ssize_t)n && fsync(fd) == 0 ? 0 : (errno ? -errno : -EIO);
    close(fd);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc) {
        snprintf(err, errlen, "write %s: %s", path, strerror(-rc));
        unlink(tmp);
    }
    return rc;
}

int col__read_private(const char *path, void *buf, size_t cap, size_t *n, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    int rc = fstat(fd, &st) == 0 ? check_private(path, &st, err, errlen) : -errno;
    ssize_t r = rc ? 0 : read(fd, buf, cap);
    if (rc == 0 && r < 0) {
        rc = -errno;
        snprintf(err, errlen, "read %s: %s", path, strerror(errno));
    }
    close(fd);
    *n = r > 0 ? (size_t)r : 0;
    return rc;
}

int col_chain_key_load(const char *keys_dir, bool create, unsigned char key[32], char *err,
                       size_t errlen)
{
    char path[COL__DIR_MAX + 32];
    int rc = col__keys_dir_open(keys_dir, create, err, errlen);
    if (rc)
        return rc;
    snprintf(path, sizeof path, "%s/chain.key", keys_dir);
    size_t n = 0;
    unsigned char buf[64];
    rc = col__read_private(path, buf, sizeof buf, &n, err, errlen);
    if (rc == -ENOENT && create) {
        if (getrandom(buf, 32, 0) != 32) {
            snprintf(err, errlen, "getrandom: %s", strerror(errno));
            return -EIO;
        }
        if ((rc = col__write_private(path, buf, 32, 0600, err, errlen)) != 0)
            return rc;
        n = 32;
    } else if (rc) {
        return rc;
    }
    if (n != 32) {
        snprintf(err, errlen, "%s: %zu bytes, a chain key has 32", path, n);
        return -EINVAL;
    }
    memcpy(key, buf, 32);
    return 0;
}

void col__key_id(const unsigned char key[32], unsigned char id[COL__KEY_ID])
{
    unsigned char d[32];
    unsigned int len = sizeof d;
    EVP_Digest(key, 32, d, &len, EVP_sha256(), NULL);
    memcpy(id, d, COL__KEY_ID);
}

void col__hex(const unsigned char *p, size_t n, char *out)
{
    static const char h[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++)
        out[2 * i] = h[p[i] >> 4], out[2 * i + 1] = h[p[i] & 15];
    out[2 * n] = '\0';
}

int col__unhex(const char *s, size_t slen, unsigned char *out, size_t n)
{
    if (slen != 2 * n)
        return -EINVAL;
    for (size_t i = 0; i < 2 * n; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            return -EINVAL;
        out[i / 2] = (unsigned char)(i % 2 ? (out[i / 2] | v) : v << 4);
    }
    return 0;
}

int col__mac_init(col__mac_t *m, const unsigned char key[32])
{
    memset(m, 0, sizeof *m);
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
                           OSSL_PARAM_construct_end()};
    m->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    m->ctx = m->mac ? EVP_MAC_CTX_new(m->mac) : NULL;
    if (!m->ctx || !EVP_MAC_init(m->ctx, key, 32, params)) {
        col__mac_dispose(m);
        return -ENOSYS;
    }
    col__key_id(key, m->id);
    unsigned char pad[2][64];
    memset(pad, 0, sizeof pad);
    memcpy(pad[0], key, 32);
    memcpy(pad[1], key, 32);
    for (int i = 0; i < 64; i++)
        pad[0][i] ^= 0x36, pad[1][i] ^= 0x5c;
    for (int k = 0; k < 2; k++) {
        SHA256_CTX c;
        SHA256_Init(&c);
        SHA256_Update(&c, pad[k], 64);
        memcpy(m->hs[k], &c, sizeof c);
        OPENSSL_cleanse(&c, sizeof c);
    }
    OPENSSL_cleanse(pad, sizeof pad);
    return 0;
}

/* HMAC-SHA-256 under the chain key: the inner hash from the saved state. */
static void inner_begin(const col__mac_t *m, SHA256_CTX *c)
{
    memcpy(c, m->hs[0], sizeof *c);
}

static void hmac_end(const col__mac_t *m, SHA256_CTX *c, unsigned char out[32])
{
    unsigned char ih[32];
    SHA256_Final(ih, c);
    memcpy(c, m->hs[1], sizeof *c);
    SHA256_Update(c, ih, 32);
    SHA256_Final(out, c);
}

void col__mac_dispose(col__mac_t *m)
{
    EVP_MAC_CTX_free(m->ctx);
    EVP_MAC_free(m->mac);
    memset(m, 0, sizeof *m);
}

void col__mac(col__mac_t *m, const void *p, size_t n, unsigned char out[32])
{
    size_t len = 32;
    EVP_MAC_init(m->ctx, NULL, 0, NULL); /* the same key again: no allocation */
    EVP_MAC_update(m->ctx, p, n);
    EVP_MAC_final(m->ctx, out, &len, 32);
}

void col__chain(col__mac_t *m, const unsigned char prev[32], const unsigned char *rec,
                unsigned char out[32])
{
    uint32_t sb = rec[41], jl = col__get32(rec + 44);
    SHA256_CTX c;
    inner_begin(m, &c);
    SHA256_Update(&c, prev, 32);
    SHA256_Update(&c, rec + 12, 36);
    SHA256_Update(&c, rec + COL__REC_HDR, sb + (size_t)jl);
    hmac_end(m, &c, out);
}

int col__mac_for_spool(const char *spool_dir, bool create, col__mac_t *m, char *err, size_t errlen)
{
    char keys[COL__DIR_MAX + 8];
    unsigned char key[32];
    col__state_path(spool_dir, "keys", keys, sizeof keys);
    int rc = col_chain_key_load(keys, create, key, err, errlen);
    if (rc == 0 && (rc = col__mac_init(m, key)) != 0)
        snprintf(err, errlen, "OpenSSL: HMAC-SHA-256 is not available");
    OPENSSL_cleanse(key, sizeof key);
    return rc;
}

void col__chain_v(col__mac_t *m, const unsigned char prev[32], const unsigned char *hdr,
                  const struct iovec *v, int n, unsigned char out[32])
{
    SHA256_CTX c;
    inner_begin(m, &c);
    SHA256_Update(&c, prev, 32);
    SHA256_Update(&c, hdr + 12, 36);
    for (int i = 0; i < n; i++)
        if (v[i].iov_len)
            SHA256_Update(&c, v[i].iov_base, v[i].iov_len);
    hmac_end(m, &c, out);
}
