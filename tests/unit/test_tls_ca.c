/* Unit tests of the TLS interception CA (proxy/tls_ca.c): its files and
 * modes, reloading, refusals, leaves that verify against it (DNS names and
 * IP literals), the leaf cache, and ALPN over a real in-memory handshake. */
#include "unit.h"

#include <errno.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "proxy/proxy.h"

typedef struct {
    char dir[256];
    px_ca_t *ca;
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    char err[512] = "";
    assert_non_null(f);
    assert_int_equal(unit_tmpdir_make(f->dir, sizeof f->dir, "tlsca"), 0);
    f->ca = px_ca_open(f->dir, err, sizeof err);
    if (!f->ca)
        fail_msg("px_ca_open: %s", err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    px_ca_destroy(f->ca);
    unit_tmpdir_remove(f->dir);
    free(f);
    return 0;
}

static void path_of(const fx_t *f, const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/ca/%s", f->dir, name);
}

static X509 *pem_cert(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *c = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    assert_non_null(c);
    return c;
}

static void create_then_reload_gives_the_same_ca(void **state)
{
    fx_t *f = *state;
    char err[512] = "", path[512];
    char *first = strdup(px_ca_cert_pem(f->ca));
    assert_non_null(strstr(first, "BEGIN CERTIFICATE"));
    assert_null(strstr(first, "PRIVATE KEY"));
    px_ca_destroy(f->ca);
    f->ca = px_ca_open(f->dir, err, sizeof err);
    assert_non_null(f->ca);
    assert_string_equal(first, px_ca_cert_pem(f->ca));
    free(first);
    /* the CA: self-signed, CA:TRUE pathlen 0, keyCertSign + cRLSign, named */
    X509 *c = pem_cert(px_ca_cert_pem(f->ca));
    assert_int_equal(X509_check_ca(c), 1);
    assert_int_equal(X509_get_pathlen(c), 0);
    assert_true(X509_get_extension_flags(c) & EXFLAG_SS);
    assert_int_equal(X509_get_key_usage(c), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
    char cn[128];
    X509_NAME_get_text_by_NID(X509_get_subject_name(c), NID_commonName, cn, sizeof cn);
    assert_int_equal(strncmp(cn, "tollgate sandbox CA ", 20), 0);
    int days = 0, secs = 0;
    ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(c));
    assert_true(days >= 3649 && days <= 3650);
    X509_free(c);
    struct stat st;
    path_of(f, "", path, sizeof path);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
}

static void the_key_is_0600_pem_and_only_in_its_file(void **state)
{
    fx_t *f = *state;
    char path[512];
    struct stat st;
    path_of(f, "ca.key", path, sizeof path);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_uid, geteuid());
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    EVP_PKEY *k = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(k);
    assert_true(EVP_PKEY_is_a(k, "EC"));
    char group[64] = "";
    EVP_PKEY_get_utf8_string_param(k, "group", group, sizeof group, NULL);
    assert_string_equal(group, "prime256v1");
    X509 *c = pem_cert(px_ca_cert_pem(f->ca));
    assert_int_equal(X509_check_private_key(c, k), 1);
    X509_free(c);
    EVP_PKEY_free(k);
    /* no temporary file left behind */
    path_of(f, "ca.key.tmp", path, sizeof path);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.%ld", path, (long)getpid());
    assert_int_not_equal(access(tmp, F_OK), 0);
}

static void a_readable_key_is_refused(void **state)
{
    fx_t *f = *state;
    char err[512] = "", path[512];
    path_of(f, "ca.key", path, sizeof path);
    px_ca_destroy(f->ca);
    f->ca = NULL;
    assert_int_equal(chmod(path, 0644), 0);
    assert_null(px_ca_open(f->dir, err, sizeof err));
    assert_non_null(strstr(err, "chmod 600"));
    assert_null(strstr(err, "PRIVATE"));
    assert_int_equal(chmod(path, 0640), 0);
    assert_null(px_ca_open(f->dir, err, sizeof err));
    if (geteuid() == 0) { /* a key another user owns */
        assert_int_equal(chmod(path, 0600), 0);
        assert_int_equal(chown(path, 1, 1), 0);
        assert_null(px_ca_open(f->dir, err, sizeof err));
        assert_non_null(strstr(err, "owned by uid 1"));
        assert_int_equal(chown(path, 0, 0), 0);
    }
    assert_int_equal(chmod(path, 0600), 0);
    f->ca = px_ca_open(f->dir, err, sizeof err);
    assert_non_null(f->ca);
}

static void a_symlinked_key_is_refused(void **state)
{
    fx_t *f = *state;
    char err[512] = "", path[512], moved[600];
    path_of(f, "ca.key", path, sizeof path);
    snprintf(moved, sizeof moved, "%s/elsewhere.key", f->dir);
    px_ca_destroy(f->ca);
    f->ca = NULL;
    assert_int_equal(rename(path, moved), 0);
    assert_int_equal(symlink(moved, path), 0);
    assert_null(px_ca_open(f->dir, err, sizeof err));
}

/* The leaf of ctx verifies against the CA alone (chain from the ctx). */
static X509 *verified_leaf(fx_t *f, SSL_CTX *ctx)
{
    X509 *leaf = SSL_CTX_get0_certificate(ctx);
    STACK_OF(X509) *chain = NULL;
    assert_non_null(leaf);
    assert_int_equal(SSL_CTX_get0_chain_certs(ctx, &chain), 1);
    assert_int_equal(sk_X509_num(chain), 1);
    X509_STORE *store = X509_STORE_new();
    X509 *ca = pem_cert(px_ca_cert_pem(f->ca));
    X509_STORE_add_cert(store, ca);
    X509_STORE_CTX *vc = X509_STORE_CTX_new();
    X509_STORE_CTX_init(vc, store, leaf, chain);
    X509_STORE_CTX_set_purpose(vc, X509_PURPOSE_SSL_SERVER);
    int ok = X509_verify_cert(vc);
    if (ok != 1)
        fail_msg("X509_verify_cert: %s",
                 X509_verify_cert_error_string(X509_STORE_CTX_get_error(vc)));
    X509_STORE_CTX_free(vc);
    X509_STORE_free(store);
    X509_free(ca);
    return leaf;
}

static void leaves_verify_for_names_and_ips(void **state)
{
    fx_t *f = *state;
    char err[256] = "";
    SSL_CTX *ctx = px_ca_server_ctx(f->ca, "API.GitHub.com.", err, sizeof err);
    assert_non_null(ctx);
    X509 *leaf = verified_leaf(f, ctx);
    assert_int_equal(X509_check_host(leaf, "api.github.com", 0, 0, NULL), 1);
    assert_int_not_equal(X509_check_host(leaf, "evil.example", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ca(leaf), 0);
    int days = 0, secs = 0;
    ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(leaf));
    assert_true(days >= 29 && days <= 30);
    ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(leaf), NULL);
    assert_true(days == 0 && secs >= 3600 && secs < 3700);
    SSL_CTX_free(ctx);

    static const char *const ips[][2] = {
        {"127.0.0.1", "127.0.0.1"}, {"::1", "::1"}, {"[2001:DB8::1]", "2001:db8::1"}};
    for (size_t i = 0; i < 3; i++) {
        ctx = px_ca_server_ctx(f->ca, ips[i][0], err, sizeof err);
        assert_non_null(ctx);
        leaf = verified_leaf(f, ctx);
        assert_int_equal(X509_check_ip_asc(leaf, ips[i][1], 0), 1);
        assert_int_not_equal(X509_check_ip_asc(leaf, "10.0.0.1", 0), 1);
        SSL_CTX_free(ctx);
    }
}

static void bad_hosts_are_refused(void **state)
{
    fx_t *f = *state;
    char err[256], big[300];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    static const char *const bad[] = {"",         ".",         "a b",      "x,DNS:evil.com",
                                      "*.x.com",  "fe80::1%0", "a..b",     "-x.com",
                                      "\x1b[31m", "a/b",       "host:443", NULL};
    for (size_t i = 0; bad[i]; i++) {
        err[0] = '\0';
        if (px_ca_server_ctx(f->ca, bad[i], err, sizeof err))
            fail_msg("accepted host #%zu", i);
        assert_true(err[0] != '\0');
    }
    assert_null(px_ca_server_ctx(f->ca, big, err, sizeof err));
    assert_null(px_ca_server_ctx(f->ca, NULL, err, sizeof err));
    px_ca_stats_t st;
    px_ca_stats(f->ca, &st);
    assert_int_equal(st.leaves_cached, 0);
}

static void the_cache_counts_hits_and_evicts(void **state)
{
    fx_t *f = *state;
    char err[256];
    px_ca_stats_t st;
    SSL_CTX *a = px_ca_server_ctx(f->ca, "example.com", err, sizeof err);
    SSL_CTX *b = px_ca_server_ctx(f->ca, "EXAMPLE.com", err, sizeof err);
    assert_non_null(a);
    assert_ptr_equal(a, b);
    px_ca_stats(f->ca, &st);
    assert_int_equal(st.leaf_misses, 1);
    assert_int_equal(st.leaf_hits, 1);
    assert_int_equal(st.leaves_cached, 1);
    SSL_CTX_free(b);
    for (int i = 0; i < 1024; i++) { /* example.com becomes the least recent */
        char host[64];
        snprintf(host, sizeof host, "h%d.example.net", i);
        SSL_CTX *c = px_ca_server_ctx(f->ca, host, err, sizeof err);
        assert_non_null(c);
        SSL_CTX_free(c);
    }
    px_ca_stats(f->ca, &st);
    assert_int_equal(st.leaves_cached, 1024);
    assert_int_equal(st.leaf_misses, 1025);
    /* evicted from the cache, still usable by whoever holds a reference */
    verified_leaf(f, a);
    b = px_ca_server_ctx(f->ca, "example.com", err, sizeof err);
    assert_ptr_not_equal(a, b);
    px_ca_stats(f->ca, &st);
    assert_int_equal(st.leaf_misses, 1026);
    SSL_CTX_free(a);
    SSL_CTX_free(b);
}

/* ---- a real handshake over memory BIOs ---------------------------------------------- */

static void move(BIO *from, BIO *to)
{
    char buf[16384];
    int n;
    while ((n = BIO_read(from, buf, sizeof buf)) > 0)
        assert_int_equal(BIO_write(to, buf, n), n);
}

static void handshake(fx_t *f, const unsigned char *alpn, unsigned alpn_len, const char **proto,
                      unsigned *proto_len)
{
    char err[256];
    SSL_CTX *sctx = px_ca_server_ctx(f->ca, "api.example.com", err, sizeof err);
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(sctx);
    X509 *ca = pem_cert(px_ca_cert_pem(f->ca));
    X509_STORE_add_cert(SSL_CTX_get_cert_store(cctx), ca);
    X509_free(ca);
    SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
    SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
    BIO *c_in = BIO_new(BIO_s_mem()), *c_out = BIO_new(BIO_s_mem());
    BIO *s_in = BIO_new(BIO_s_mem()), *s_out = BIO_new(BIO_s_mem());
    SSL_set_bio(c, c_in, c_out);
    SSL_set_bio(s, s_in, s_out);
    SSL_set_tlsext_host_name(c, "api.example.com");
    SSL_set1_host(c, "api.example.com");
    assert_int_equal(SSL_set_alpn_protos(c, alpn, alpn_len), 0);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    int cr = 0, sr = 0;
    for (int i = 0; i < 10 && (cr != 1 || sr != 1); i++) {
        cr = SSL_do_handshake(c);
        move(c_out, s_in);
        sr = SSL_do_handshake(s);
        move(s_out, c_in);
    }
    if (cr != 1 || sr != 1)
        fail_msg("handshake: client %d server %d: %s", cr, sr,
                 ERR_error_string(ERR_get_error(), NULL));
    assert_int_equal(SSL_get_verify_result(c), X509_V_OK);
    const unsigned char *p = NULL;
    SSL_get0_alpn_selected(c, &p, proto_len);
    static char got[64];
    snprintf(got, sizeof got, "%.*s", (int)*proto_len, p ? (const char *)p : "");
    *proto = got;
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
}

static void alpn_selects_only_http11(void **state)
{
    fx_t *f = *state;
    const char *proto;
    unsigned len;
    static const unsigned char both[] = "\x02h2\x08http/1.1";
    handshake(f, both, sizeof both - 1, &proto, &len);
    assert_string_equal(proto, "http/1.1");
    static const unsigned char h2[] = "\x02h2";
    handshake(f, h2, sizeof h2 - 1, &proto, &len); /* refused cleanly: no ALPN, no alert */
    assert_int_equal(len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(create_then_reload_gives_the_same_ca, setup, teardown),
        cmocka_unit_test_setup_teardown(the_key_is_0600_pem_and_only_in_its_file, setup, teardown),
        cmocka_unit_test_setup_teardown(a_readable_key_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(a_symlinked_key_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(leaves_verify_for_names_and_ips, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_hosts_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(the_cache_counts_hits_and_evicts, setup, teardown),
        cmocka_unit_test_setup_teardown(alpn_selects_only_http11, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
