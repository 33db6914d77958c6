/*
 * test_upstream_pool.c: the key rules of the idle upstream pool
 * (proxy/upstream_pool.c): an upstream is shared only by requests of the
 * same sandbox, binary (exe and SHA-256), destination (host, port) and
 * address that passed the SSRF guard, under the same policy version; an
 * unnamed caller shares nothing. (tests/e2e/test_relay.py covers reuse,
 * no reuse across binaries or after Connection: close, and the retry.)
 */
#include "unit.h"

#include "proxy/px_internal.h"

static uint64_t version = 1;

static const pol_index_t *policy(void *ctx, uint64_t *v)
{
    (void)ctx;
    *v = version;
    return NULL;
}

typedef struct {
    px_t px;
    px_conn_t c;
    px_ident_t *id;
} fixture_t;

static void make(fixture_t *f, const char *sandbox, const char *exe, const char *sha,
                 const char *host, const char *ip, uint16_t port)
{
    memset(f, 0, sizeof *f);
    f->px.cfg.sandbox = (char *)sandbox;
    f->px.hooks.policy = policy;
    f->id = calloc(1, sizeof *f->id);
    assert_non_null(f->id);
    snprintf(f->id->exe, sizeof f->id->exe, "%s", exe);
    snprintf(f->id->sha256, sizeof f->id->sha256, "%s", sha);
    f->c.px = &f->px;
    f->c.ident = f->id;
    snprintf(f->c.host, sizeof f->c.host, "%s", host);
    snprintf(f->c.ip, sizeof f->c.ip, "%s", ip);
    f->c.port = port;
}

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

/* true when the two requests may share an upstream */
static bool shared(fixture_t *a, fixture_t *b)
{
    px__pool_key_t ka, kb;
    assert_true(px__pool_key_of(&a->c, &ka));
    assert_true(px__pool_key_of(&b->c, &kb));
    return px__pool_key_eq(&ka, &kb);
}

static void only_same_sandbox_binary_destination(void **state)
{
    (void)state;
    fixture_t a, b;
    make(&a, "sb1", "/usr/bin/curl", SHA_A, "api.example.com", "192.0.2.7", 80);
    make(&b, "sb1", "/usr/bin/curl", SHA_A, "api.example.com", "192.0.2.7", 80);
    assert_true(shared(&a, &b));
    free(b.id);
    make(&b, "sb2", "/usr/bin/curl", SHA_A, "api.example.com", "192.0.2.7", 80);
    assert_false(shared(&a, &b)); /* another sandbox */
    free(b.id);
    make(&b, "sb1", "/usr/bin/wget", SHA_A, "api.example.com", "192.0.2.7", 80);
    assert_false(shared(&a, &b)); /* another binary */
    free(b.id);
    make(&b, "sb1", "/usr/bin/curl", SHA_B, "api.example.com", "192.0.2.7", 80);
    assert_false(shared(&a, &b)); /* the same path, another file */
    free(b.id);
    make(&b, "sb1", "/usr/bin/curl", SHA_A, "other.example.com", "192.0.2.7", 80);
    assert_false(shared(&a, &b)); /* another virtual host on the same address */
    free(b.id);
    make(&b, "sb1", "/usr/bin/curl", SHA_A, "api.example.com", "192.0.2.8", 80);
    assert_false(shared(&a, &b)); /* another address passed the guard */
    free(b.id);
    make(&b, "sb1", "/usr/bin/curl", SHA_A, "api.example.com", "192.0.2.7", 8080);
    assert_false(shared(&a, &b)); /* another port */
    free(b.id);
    free(a.id);
}

static void policy_change_and_unnamed_callers(void **state)
{
    (void)state;
    fixture_t a, b;
    make(&a, "sb1", "/usr/bin/curl", SHA_A, "h", "192.0.2.7", 80);
    make(&b, "sb1", "/usr/bin/curl", SHA_A, "h", "192.0.2.7", 80);
    px__pool_key_t ka, kb;
    assert_true(px__pool_key_of(&a.c, &ka));
    version++;
    assert_true(px__pool_key_of(&b.c, &kb));
    assert_false(px__pool_key_eq(&ka, &kb)); /* kept under an older policy */
    px__pool_key_t k;
    b.c.ident_rc = -ENOENT; /* not named */
    assert_false(px__pool_key_of(&b.c, &k));
    b.c.ident_rc = 0;
    b.id->sha256[0] = '\0'; /* no hash */
    assert_false(px__pool_key_of(&b.c, &k));
    b.c.ident = NULL;
    assert_false(px__pool_key_of(&b.c, &k));
    free(a.id);
    free(b.id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(only_same_sandbox_binary_destination),
        cmocka_unit_test(policy_change_and_unnamed_callers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
