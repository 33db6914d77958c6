/*
 * tls_ca.c: the CA that intercepted tunnels present (proxy.h, "TLS
 * interception: the CA").
 *
 * Files: DIR/ca/ (0700, owned by the running user), DIR/ca/ca.key (EC
 * P-256, PKCS#8 PEM, 0600; refused when group or others have any access or
 * another user owns it) and DIR/ca/ca.pem (self-signed, basicConstraints
 * critical CA:TRUE pathlen:0, keyUsage critical keyCertSign+cRLSign, subject
 * "tollgate sandbox CA <8 hex of the key's SHA-256>", 10 years). Both are
 * written to a temporary file (O_EXCL) and linked into place, which never
 * replaces a file: two processes making the CA of one state at once agree
 * on the first one linked. A key without its certificate (a crash between
 * the two) gets a new certificate on the next open.
 *
 * Leaves: one EC P-256 key per process, in memory only; a certificate per
 * host (SAN DNS:host, or IP:host for an IPv4/IPv6 literal; now-1h .. +30
 * days; random serial) in its own SSL_CTX, cached: a hash table over an LRU
 * list of at most PX__CA_CACHE_MAX entries, renewed a day before expiry.
 *
 * The key never leaves: it is read here, held in an EVP_PKEY, and not
 * written anywhere but ca.key; no error text carries key bytes.
 * Thread: the loop thread only (no locks).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "proxy/proxy.h"

#define PX__CA_CACHE_MAX 1024
#define PX__CA_BUCKETS   2048 /* a power of two */
#define PX__CA_FILE_MAX  (64 << 10)
#define PX__CA_DAYS      3650
#define PX__LEAF_DAYS    30
#define PX__HOST_MAX     253

typedef struct px__leaf {
    struct px__leaf *prev, *next; /* LRU: head is the most recent */
    struct px__leaf *hnext;       /* bucket chain */
    uint32_t hash;
    time_t renew_at;
    SSL_CTX *ctx;
    char host[];
} px__leaf_t;

struct px_ca {
    EVP_PKEY *key, *leaf_key;
    X509 *cert;
    char *pem;
    px__leaf_t *buckets[PX__CA_BUCKETS];
    px__leaf_t *head, *tail;
    size_t n;
    px_ca_stats_t st;
};

static void ssl_err(char *err, size_t errlen, const char *what)
{
    char buf[256] = "";
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    snprintf(err, errlen, "%s%s%s", what, e ? ": " : "", buf);
}

/* ---- files ------------------------------------------------------------------------ */

/* Why a file is refused, from its stat; NULL when it is fine. */
static const char *refusal(const struct stat *st, bool secret, char *why, size_t n)
{
    if (!S_ISREG(st->st_mode) || st->st_size > PX__CA_FILE_MAX)
        snprintf(why, n, "not a regular file of a sane size");
    else if (secret && st->st_uid != geteuid())
        snprintf(why, n, "owned by uid %u, not by this user (%u)", (unsigned)st->st_uid,
                 (unsigned)geteuid());
    else if (secret && (st->st_mode & 077))
        snprintf(why, n, "group or others may access it (mode %03o); chmod 600 it",
                 (unsigned)(st->st_mode & 0777));
    else
        return NULL;
    return why;
}

/* Reads path (no symlink) into a fresh buffer of at most PX__CA_FILE_MAX
 * (free_file). With `secret`: refuses a file another user owns or that
 * group/others may access. 0, -ENOENT (err untouched), or -errno with err. */
static int read_file(const char *path, bool secret, char **out, size_t *len, char *err,
                     size_t errlen)
{
    char why[128];
    struct stat st;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e != ENOENT)
            snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    if (fstat(fd, &st) != 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        close(fd);
        return -e;
    }
    if (refusal(&st, secret, why, sizeof why)) {
        snprintf(err, errlen, "%s: %s", path, why);
        close(fd);
        return S_ISREG(st.st_mode) && st.st_size <= PX__CA_FILE_MAX ? -EPERM : -EINVAL;
    }
    char *buf = OPENSSL_secure_zalloc((size_t)st.st_size + 1);
    ssize_t n = buf ? read(fd, buf, (size_t)st.st_size) : -1;
    close(fd);
    if (n != (ssize_t)st.st_size) {
        snprintf(err, errlen, "%s: %s", path, buf ? "short read" : "out of memory");
        OPENSSL_secure_clear_free(buf, (size_t)st.st_size + 1);
        return -EIO;
    }
    *out = buf;
    *len = (size_t)n;
    return 0;
}

static void free_file(char *buf, size_t len)
{
    OPENSSL_secure_clear_free(buf, len + 1);
}

/* Writes data to path with `mode`, never replacing a file: a temporary file
 * (O_EXCL), fsync, link(2) into place, the directory fsynced. 0, -EEXIST
 * when path exists (someone else's), or -errno with err. */
static int write_new(const char *dir, const char *path, const char *data, size_t len, mode_t mode,
                     char *err, size_t errlen)
{
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    unlink(tmp); /* a leftover of a crashed process that had our pid */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) {
        snprintf(err, errlen, "create %s: %s", tmp, strerror(errno));
        return -errno;
    }
    int rc = fchmod(fd, mode) == 0 && write(fd, data, len) == (ssize_t)len && fsync(fd) == 0
                 ? 0
                 : -(errno ? errno : EIO);
    close(fd);
    if (rc == 0 && link(tmp, path) != 0)
        rc = -errno;
    unlink(tmp);
    if (rc && rc != -EEXIST)
        snprintf(err, errlen, "write %s: %s", path, strerror(-rc));
    int dfd = rc == 0 ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return rc;
}

/* DIR/ca: made 0700; refused when another user owns it or group/others
 * have any access. */
static int ca_dir(const char *state_dir, char *out, size_t n, char *err, size_t errlen)
{
    if ((size_t)snprintf(out, n, "%s/ca", state_dir) >= n) {
        snprintf(err, errlen, "state directory path too long");
        return -ENAMETOOLONG;
    }
    mkdir(state_dir, 0700);
    if (mkdir(out, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "mkdir %s: %s", out, strerror(errno));
        return -errno;
    }
    struct stat st;
    if (lstat(out, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: not a directory", out);
        return -ENOTDIR;
    }
    if (st.st_uid != geteuid() || (st.st_mode & 077)) {
        snprintf(err, errlen, "%s: must be owned by uid %u with mode 700 (it has uid %u, %03o)",
                 out, (unsigned)geteuid(), (unsigned)st.st_uid, (unsigned)(st.st_mode & 0777));
        return -EPERM;
    }
    return 0;
}

/* ---- certificates -------------------------------------------------------------------- */

static EVP_PKEY *ec_key(void)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    int ok = ext && X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : -1;
}

/* A v3 certificate with a random positive serial, valid from now - 1h for
 * `days`, subject CN=cn (when it fits), pubkey of `key`. */
static X509 *cert_begin(EVP_PKEY *key, const char *cn, long days)
{
    X509 *c = X509_new();
    unsigned char rnd[16];
    BIGNUM *bn = NULL;
    int ok = c && X509_set_version(c, X509_VERSION_3) && RAND_bytes(rnd, sizeof rnd) == 1;
    if (ok) {
        rnd[0] &= 0x7f;
        rnd[0] |= 0x01; /* positive, 16 bytes long */
        bn = BN_bin2bn(rnd, sizeof rnd, NULL);
        ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c));
    }
    BN_free(bn);
    ok = ok && X509_time_adj_ex(X509_getm_notBefore(c), 0, -3600, NULL) &&
         X509_time_adj_ex(X509_getm_notAfter(c), (int)days, 0, NULL) && X509_set_pubkey(c, key);
    X509_NAME *name = ok ? X509_get_subject_name(c) : NULL;
    if (ok)
        ok = X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"tollgate",
                                        -1, -1, 0);
    if (ok && strlen(cn) <= 64)
        ok = X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                        0);
    if (!ok) {
        X509_free(c);
        return NULL;
    }
    return c;
}

/* The CA's subject names the key: "tollgate sandbox CA <8 hex>". */
static int ca_short_id(EVP_PKEY *key, char out[9])
{
    unsigned char *der = NULL, md[32];
    int n = i2d_PUBKEY(key, &der);
    int ok = n > 0 && EVP_Digest(der, (size_t)n, md, NULL, EVP_sha256(), NULL);
    OPENSSL_free(der);
    if (!ok)
        return -1;
    snprintf(out, 9, "%02x%02x%02x%02x", md[0], md[1], md[2], md[3]);
    return 0;
}

static X509 *ca_cert_make(EVP_PKEY *key)
{
    char id[9], cn[64];
    if (ca_short_id(key, id) != 0)
        return NULL;
    snprintf(cn, sizeof cn, "tollgate sandbox CA %s", id);
    X509 *c = cert_begin(key, cn, PX__CA_DAYS);
    int ok = c && X509_set_issuer_name(c, X509_get_subject_name(c)) &&
             add_ext(c, c, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") == 0 &&
             add_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign") == 0 &&
             add_ext(c, c, NID_subject_key_identifier, "hash") == 0 &&
             add_ext(c, c, NID_authority_key_identifier, "keyid:always") == 0 &&
             X509_sign(c, key, EVP_sha256()) > 0;
    if (!ok) {
        X509_free(c);
        return NULL;
    }
    return c;
}

/* ---- load or make ---------------------------------------------------------------- */

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1; /* an encrypted key is refused, never prompted for */
}

/* The key: loaded, or made and written when there is none. */
static EVP_PKEY *key_load_or_make(const char *dir, char *err, size_t errlen)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/ca.key", dir);
    for (int attempt = 0; attempt < 2; attempt++) {
        char *buf = NULL;
        size_t len = 0;
        int rc = read_file(path, true, &buf, &len, err, errlen);
        if (rc == 0) {
            BIO *b = BIO_new_mem_buf(buf, (int)len);
            EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL) : NULL;
            BIO_free(b);
            free_file(buf, len);
            if (!k)
                ssl_err(err, errlen, "ca.key: not an unencrypted PEM private key");
            return k;
        }
        if (rc != -ENOENT)
            return NULL;
        EVP_PKEY *k = ec_key();
        BIO *out = BIO_new(BIO_s_secmem());
        char *data = NULL;
        long n = k && out && PEM_write_bio_PrivateKey(out, k, NULL, NULL, 0, NULL, NULL)
                     ? BIO_get_mem_data(out, &data)
                     : 0;
        rc = n > 0 ? write_new(dir, path, data, (size_t)n, 0600, err, errlen) : -EIO;
        BIO_free(out); /* secure memory: cleared */
        if (n <= 0)
            ssl_err(err, errlen, "making the CA key");
        if (rc == 0)
            return k;
        EVP_PKEY_free(k);
        if (rc != -EEXIST)
            return NULL; /* else another process made it first: load theirs */
    }
    snprintf(err, errlen, "%s: could not be made or read", path);
    return NULL;
}

static char *cert_pem(X509 *c)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL, *out = NULL;
    long n = b && PEM_write_bio_X509(b, c) ? BIO_get_mem_data(b, &data) : 0;
    if (n > 0 && (out = malloc((size_t)n + 1))) {
        memcpy(out, data, (size_t)n);
        out[n] = '\0';
    }
    BIO_free(b);
    return out;
}

static X509 *cert_read(const char *path, EVP_PKEY *key, char *err, size_t errlen)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = read_file(path, false, &buf, &len, err, errlen);
    if (rc != 0)
        return NULL;
    BIO *b = BIO_new_mem_buf(buf, (int)len);
    X509 *c = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    free_file(buf, len);
    if (!c)
        ssl_err(err, errlen, "ca.pem: not a PEM certificate");
    else if (X509_check_private_key(c, key) != 1 || X509_check_ca(c) < 1) {
        ERR_clear_error();
        snprintf(err, errlen, "%s: not a CA certificate of ca.key", path);
        X509_free(c);
        c = NULL;
    }
    return c;
}

/* The certificate: loaded, or made from the key and written. */
static X509 *cert_load_or_make(const char *dir, EVP_PKEY *key, char *err, size_t errlen)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/ca.pem", dir);
    struct stat st;
    if (lstat(path, &st) == 0 || errno != ENOENT)
        return cert_read(path, key, err, errlen);
    X509 *c = ca_cert_make(key);
    char *pem = c ? cert_pem(c) : NULL;
    int rc = pem ? write_new(dir, path, pem, strlen(pem), 0644, err, errlen) : -EIO;
    free(pem);
    if (!c || !pem)
        ssl_err(err, errlen, "making the CA certificate");
    if (rc == 0)
        return c;
    X509_free(c);
    return rc == -EEXIST ? cert_read(path, key, err, errlen) : NULL;
}

px_ca_t *px_ca_open(const char *state_dir, char *err, size_t errlen)
{
    char dir[4096];
    px_ca_t *ca = calloc(1, sizeof *ca);
    if (!ca) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (ca_dir(state_dir, dir, sizeof dir, err, errlen) != 0)
        goto fail;
    if (!(ca->key = key_load_or_make(dir, err, errlen)))
        goto fail;
    if (!(ca->cert = cert_load_or_make(dir, ca->key, err, errlen)))
        goto fail;
    if (!(ca->pem = cert_pem(ca->cert))) {
        snprintf(err, errlen, "the CA certificate: cannot encode it");
        goto fail;
    }
    if (!(ca->leaf_key = ec_key())) {
        ssl_err(err, errlen, "making the leaf key");
        goto fail;
    }
    return ca;
fail:
    px_ca_destroy(ca);
    return NULL;
}

/* ---- leaves ---------------------------------------------------------------------- */

static void leaf_free(px__leaf_t *l)
{
    SSL_CTX_free(l->ctx);
    free(l);
}

void px_ca_destroy(px_ca_t *ca)
{
    if (!ca)
        return;
    for (px__leaf_t *l = ca->head, *next; l; l = next) {
        next = l->next;
        leaf_free(l);
    }
    EVP_PKEY_free(ca->key);
    EVP_PKEY_free(ca->leaf_key);
    X509_free(ca->cert);
    free(ca->pem);
    free(ca);
}

const char *px_ca_cert_pem(const px_ca_t *ca)
{
    return ca->pem;
}

void px_ca_stats(const px_ca_t *ca, px_ca_stats_t *st)
{
    *st = ca->st;
    st->leaves_cached = ca->n;
}

/* The cache's key: lower case, no trailing dot, an IPv6 literal without
 * brackets and in canonical form. 1: an IP literal (ip filled), 0: a DNS
 * name, -1: neither. */
static int host_norm(const char *host, char out[PX__HOST_MAX + 1], char *san, size_t sanlen)
{
    size_t n = host ? strlen(host) : 0;
    unsigned char bin[16];
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']')
        host++, n -= 2;
    if (n == 0 || n > PX__HOST_MAX)
        return -1;
    memcpy(out, host, n);
    out[n] = '\0';
    int af = inet_pton(AF_INET, out, bin) == 1    ? AF_INET
             : inet_pton(AF_INET6, out, bin) == 1 ? AF_INET6
                                                  : 0;
    if (af) {
        inet_ntop(af, bin, out, PX__HOST_MAX + 1);
        snprintf(san, sanlen, "IP:%s", out);
        return 1;
    }
    if (out[n - 1] == '.')
        out[--n] = '\0';
    if (n == 0 || out[0] == '.' || out[0] == '-' || strstr(out, ".."))
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = out[i];
        if (c >= 'A' && c <= 'Z')
            out[i] = (char)(c - 'A' + 'a');
        else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                   c == '_'))
            return -1;
    }
    snprintf(san, sanlen, "DNS:%s", out);
    return 0;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl, (void)arg;
    for (unsigned int i = 0; i < inlen;) {
        unsigned int len = in[i];
        if (i + 1 + len > inlen)
            break;
        if (len == 8 && memcmp(in + i + 1, "http/1.1", 8) == 0) {
            *out = in + i + 1;
            *outlen = 8;
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + len;
    }
    return SSL_TLSEXT_ERR_NOACK; /* no protocol agreed: the handshake goes on without ALPN */
}

static X509 *leaf_cert(px_ca_t *ca, const char *cn, const char *san)
{
    X509 *c = cert_begin(ca->leaf_key, cn, PX__LEAF_DAYS);
    int ok = c && X509_set_issuer_name(c, X509_get_subject_name(ca->cert)) &&
             add_ext(c, ca->cert, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
             add_ext(c, ca->cert, NID_key_usage, "critical,digitalSignature") == 0 &&
             add_ext(c, ca->cert, NID_ext_key_usage, "serverAuth") == 0 &&
             add_ext(c, ca->cert, NID_subject_alt_name, san) == 0 &&
             add_ext(c, ca->cert, NID_authority_key_identifier, "keyid") == 0 &&
             X509_sign(c, ca->key, EVP_sha256()) > 0;
    if (!ok) {
        X509_free(c);
        return NULL;
    }
    return c;
}

static SSL_CTX *leaf_ctx(px_ca_t *ca, const char *cn, const char *san)
{
    X509 *cert = leaf_cert(ca, cn, san);
    SSL_CTX *ctx = cert ? SSL_CTX_new(TLS_server_method()) : NULL;
    int ok = ctx && SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) &&
             SSL_CTX_use_certificate(ctx, cert) == 1 &&
             SSL_CTX_use_PrivateKey(ctx, ca->leaf_key) == 1 &&
             SSL_CTX_add1_chain_cert(ctx, ca->cert) == 1 && SSL_CTX_check_private_key(ctx) == 1 &&
             SSL_CTX_set_num_tickets(ctx, 0) == 1;
    X509_free(cert);
    if (!ok) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    return ctx;
}

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static void lru_unlink(px_ca_t *ca, px__leaf_t *l)
{
    if (l->prev)
        l->prev->next = l->next;
    else
        ca->head = l->next;
    if (l->next)
        l->next->prev = l->prev;
    else
        ca->tail = l->prev;
    l->prev = l->next = NULL;
}

static void lru_push(px_ca_t *ca, px__leaf_t *l)
{
    l->next = ca->head;
    if (ca->head)
        ca->head->prev = l;
    ca->head = l;
    if (!ca->tail)
        ca->tail = l;
}

static void leaf_remove(px_ca_t *ca, px__leaf_t *l)
{
    for (px__leaf_t **pp = &ca->buckets[l->hash & (PX__CA_BUCKETS - 1)]; *pp; pp = &(*pp)->hnext)
        if (*pp == l) {
            *pp = l->hnext;
            break;
        }
    lru_unlink(ca, l);
    ca->n--;
    leaf_free(l);
}

static px__leaf_t *leaf_find(px_ca_t *ca, const char *key, uint32_t h)
{
    for (px__leaf_t *l = ca->buckets[h & (PX__CA_BUCKETS - 1)]; l; l = l->hnext)
        if (l->hash == h && strcmp(l->host, key) == 0)
            return l;
    return NULL;
}

SSL_CTX *px_ca_server_ctx(px_ca_t *ca, const char *host, char *err, size_t errlen)
{
    char key[PX__HOST_MAX + 1], san[PX__HOST_MAX + 8];
    if (host_norm(host, key, san, sizeof san) < 0) {
        snprintf(err, errlen, "not a host name or IP address (%zu bytes)", host ? strlen(host) : 0);
        return NULL;
    }
    uint32_t h = hash_str(key);
    px__leaf_t *l = leaf_find(ca, key, h);
    if (l && time(NULL) >= l->renew_at) {
        leaf_remove(ca, l); /* a day before it expires */
        l = NULL;
    }
    if (l) {
        ca->st.leaf_hits++;
        lru_unlink(ca, l);
        lru_push(ca, l);
        SSL_CTX_up_ref(l->ctx);
        return l->ctx;
    }
    ca->st.leaf_misses++;
    size_t klen = strlen(key);
    l = calloc(1, sizeof *l + klen + 1);
    if (!l || !(l->ctx = leaf_ctx(ca, key, san))) {
        free(l);
        ssl_err(err, errlen, "making a leaf certificate");
        return NULL;
    }
    memcpy(l->host, key, klen + 1);
    l->hash = h;
    l->renew_at = time(NULL) + (PX__LEAF_DAYS - 1) * 86400L;
    l->hnext = ca->buckets[h & (PX__CA_BUCKETS - 1)];
    ca->buckets[h & (PX__CA_BUCKETS - 1)] = l;
    lru_push(ca, l);
    if (++ca->n > PX__CA_CACHE_MAX)
        leaf_remove(ca, ca->tail);
    SSL_CTX_up_ref(l->ctx);
    return l->ctx;
}
