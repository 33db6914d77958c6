/* Unit tests of the OCSF 1.7.0 -> 1.3.0 / 1.1.0 downgrade (ocsf/downgrade.c). */
#include "unit.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>

#include "ocsf/check.h"
#include "ocsf/downgrade.h"

#define FILLED "tollgate.downgrade.filled"

static ocsf_event_t samples[MAX_SAMPLES];
static size_t nsamples;
static const char *const targets[] = {"1.3.0", "1.1.0"};

static int setup(void **state)
{
    (void)state;
    nsamples = ocsf_samples(samples, MAX_SAMPLES);
    return nsamples > 0 && nsamples <= MAX_SAMPLES ? 0 : -1;
}

/* Downgrades `json`; fails the test on error. Returns a NUL-terminated copy. */
static char *down(const char *json, const char *version)
{
    ocsf_buf_t b;
    char err[256];
    ocsf_buf_init(&b);
    if (ocsf_downgrade(json, strlen(json), version, &b, err, sizeof err) != 0)
        fail_msg("downgrade to %s: %s\n%s", version, err, json);
    ocsf_buf_cstr(&b);
    return b.p;
}

static json_t *parse(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, JSON_ALLOW_NUL, &e);
    if (!j)
        fail_msg("not JSON: %s", e.text);
    return j;
}

/* ---- the lossless check ---------------------------------------------------- */

typedef struct {
    json_t *unmapped; /* of the downgraded event */
    json_t *filled;   /* unmapped[FILLED] or NULL */
    char path[1024];
} walk_t;

static size_t push(walk_t *w, const char *key, long idx)
{
    size_t old = strlen(w->path);
    if (key)
        snprintf(w->path + old, sizeof w->path - old, "%s%s", old ? "." : "", key);
    else
        snprintf(w->path + old, sizeof w->path - old, "[%ld]", idx);
    return old;
}

static bool is_filled(const walk_t *w)
{
    size_t i;
    json_t *p;
    json_array_foreach(w->filled, i, p)
    {
        size_t n = json_string_length(p);
        if (strncmp(w->path, json_string_value(p), n) == 0 &&
            (w->path[n] == 0 || w->path[n] == '.' || w->path[n] == '['))
            return true;
    }
    return false;
}

/* Every value of the original is in the downgraded event at the same path,
 * or under unmapped[path] (of itself or of an ancestor). */
static void forward(walk_t *w, json_t *orig, json_t *got)
{
    json_t *kept = json_object_get(w->unmapped, w->path);
    if (w->path[0] && kept && json_equal(kept, orig))
        return;
    const char *key;
    json_t *v;
    size_t i;
    if (json_is_object(orig)) {
        json_object_foreach(orig, key, v)
        {
            size_t old = push(w, key, 0);
            forward(w, v, json_is_object(got) ? json_object_get(got, key) : NULL);
            w->path[old] = 0;
        }
    } else if (json_is_array(orig)) {
        json_array_foreach(orig, i, v)
        {
            size_t old = push(w, NULL, (long)i);
            forward(w, v, json_is_array(got) ? json_array_get(got, i) : NULL);
            w->path[old] = 0;
        }
    } else if (!got || !json_equal(orig, got))
        fail_msg("lost: %s", w->path);
}

/* Every value of the downgraded event (outside unmapped) is the original's
 * at the same path, or a rewrite whose original is under unmapped[path], or
 * a placeholder listed in unmapped[FILLED]. */
static void reverse(walk_t *w, json_t *got, json_t *orig)
{
    if (w->path[0] && (json_object_get(w->unmapped, w->path) || is_filled(w)))
        return;
    const char *key;
    json_t *v;
    size_t i;
    if (json_is_object(got)) {
        json_object_foreach(got, key, v)
        {
            if (!w->path[0] && strcmp(key, "unmapped") == 0)
                continue;
            size_t old = push(w, key, 0);
            reverse(w, v, json_is_object(orig) ? json_object_get(orig, key) : NULL);
            w->path[old] = 0;
        }
    } else if (json_is_array(got)) {
        json_array_foreach(got, i, v)
        {
            size_t old = push(w, NULL, (long)i);
            reverse(w, v, json_is_array(orig) ? json_array_get(orig, i) : NULL);
            w->path[old] = 0;
        }
    } else if (!orig || !json_equal(orig, got))
        fail_msg("changed without a trace: %s", w->path);
}

static void check_lossless(const char *orig_s, const char *got_s, const char *version)
{
    json_t *orig = parse(orig_s), *got = parse(got_s);
    walk_t w = {.unmapped = json_object_get(got, "unmapped")};
    w.filled = json_object_get(w.unmapped, FILLED);
    forward(&w, orig, got);
    reverse(&w, got, orig);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(got, "metadata"), "version")), version);
    /* the event's own unmapped keys stay where they were */
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(orig, "unmapped"), key, v)
        assert_true(json_equal(v, json_object_get(w.unmapped, key)));
    json_decref(orig);
    json_decref(got);
}

/* ---- cases ----------------------------------------------------------------- */

static void samples_lossless(void **state)
{
    (void)state;
    for (size_t t = 0; t < 2; t++)
        for (size_t i = 0; i < nsamples; i++) {
            char *json = unit_encode(&samples[i]);
            char *got = down(json, targets[t]);
            assert_true(unit_clean_line(got, strlen(got)));
            check_lossless(json, got, targets[t]);
            /* the same JSON value as the reference cast (cast.c, jansson) */
            json_t *j = parse(got);
            ocsf_checker_t *c = ocsf_checker_new();
            ocsf_buf_t ref;
            char err[256];
            ocsf_buf_init(&ref);
            assert_int_equal(ocsf__cast_ref(c, json, strlen(json),
                                            ocsf_schema_find(targets[t], strlen(targets[t])), 0,
                                            &ref, err, sizeof err),
                             0);
            json_t *r = json_loadb(ref.p, ref.len, 0, NULL);
            assert_true(json_equal(j, r));
            json_decref(r);
            ocsf_buf_dispose(&ref);
            ocsf_checker_free(c);
            json_decref(j);
            free(got);
            free(json);
        }
}

static json_t *sample_down(const char *name, const char *version)
{
    for (size_t i = 0; i < nsamples; i++)
        if (strcmp(ocsf_sample_name(i), name) == 0) {
            char *json = unit_encode(&samples[i]);
            char *got = down(json, version);
            json_t *j = parse(got);
            free(got);
            free(json);
            return j;
        }
    fail_msg("no sample %s", name);
    return NULL;
}

#define GET(j, k)   json_object_get((j), (k))
#define INT(j, k)   json_integer_value(GET((j), (k)))
#define STR(j, k)   json_string_value(GET((j), (k)))
#define UNMAPPED(j) GET((j), "unmapped")

/* Listen (7) is not an activity of 1.1.0: 99 Other with the caption, the
 * original id and type under unmapped; 1.3.0 knows it. */
static void unknown_enum_becomes_other(void **state)
{
    (void)state;
    const char *name = NULL;
    for (size_t i = 0; i < nsamples; i++)
        if (samples[i].class_uid == OCSF_CLASS_NETWORK && samples[i].activity_id == OCSF_NET_LISTEN)
            name = ocsf_sample_name(i);
    assert_non_null(name);
    json_t *j = sample_down(name, "1.1.0");
    assert_int_equal(INT(j, "activity_id"), 99);
    assert_string_equal(STR(j, "activity_name"), "Listen");
    assert_int_equal(INT(j, "type_uid"), 400199);
    assert_string_equal(STR(j, "type_name"), "Network Activity: Other");
    assert_int_equal(INT(UNMAPPED(j), "activity_id"), 7);
    assert_int_equal(INT(UNMAPPED(j), "type_uid"), 400107);
    assert_string_equal(STR(UNMAPPED(j), "metadata.version"), "1.7.0");
    json_decref(j);
    j = sample_down(name, "1.3.0");
    assert_int_equal(INT(j, "activity_id"), 7);
    assert_null(GET(UNMAPPED(j), "activity_id"));
    json_decref(j);
}

/* 5019 has no policy in 1.3.0 and no state in 1.1.0; security_control does
 * not apply to it in either. */
static void missing_attributes_move(void **state)
{
    (void)state;
    for (size_t t = 0; t < 2; t++) {
        json_t *j = sample_down("config_loaded", targets[t]);
        assert_null(GET(j, "policy"));
        assert_string_equal(STR(json_object_get(UNMAPPED(j), "policy"), "name"), "default");
        json_t *prof = GET(GET(j, "metadata"), "profiles");
        for (size_t i = 0; i < json_array_size(prof); i++)
            assert_string_not_equal(json_string_value(json_array_get(prof, i)), "security_control");
        assert_non_null(GET(UNMAPPED(j), "metadata.profiles"));
        if (t == 1) {
            assert_null(GET(j, "state_id"));
            assert_int_equal(INT(UNMAPPED(j), "state_id"), 99);
            assert_string_equal(STR(UNMAPPED(j), "state"), "loaded");
        } else {
            assert_int_equal(INT(j, "state_id"), 99);
        }
        json_decref(j);
    }
}

/* What the target requires and the event lacks is filled and listed. */
static void required_filled_and_listed(void **state)
{
    (void)state;
    json_t *j = sample_down("http_post_denied", "1.1.0");
    json_t *filled = GET(UNMAPPED(j), FILLED);
    assert_true(json_is_array(filled));
    assert_non_null(GET(j, "http_response"));
    assert_non_null(GET(j, "src_endpoint"));
    /* the domain is the hostname older versions need */
    assert_string_equal(STR(GET(j, "dst_endpoint"), "hostname"),
                        STR(GET(j, "dst_endpoint"), "domain"));
    int seen = 0;
    for (size_t i = 0; i < json_array_size(filled); i++) {
        const char *p = json_string_value(json_array_get(filled, i));
        if (strcmp(p, "http_response") == 0)
            seen |= 1;
        if (strcmp(p, "src_endpoint") == 0)
            seen |= 2;
        if (strcmp(p, "dst_endpoint.hostname") == 0)
            seen |= 4;
    }
    assert_int_equal(seen, 7);
    json_decref(j);
    /* nothing to fill: no list */
    j = sample_down("lifecycle_start", "1.3.0");
    assert_null(GET(UNMAPPED(j), FILLED));
    json_decref(j);
}

static void identity_170(void **state)
{
    (void)state;
    for (size_t i = 0; i < nsamples; i++) {
        char *json = unit_encode(&samples[i]);
        char *got = down(json, "1.7.0");
        assert_string_equal(json, got);
        free(got);
        free(json);
    }
}

static void rejects(void **state)
{
    (void)state;
    char *json = unit_encode(&samples[0]);
    static const char *const bad[] = {
        "",
        "{",
        "[1,2]",
        "\"x\"",
        "{\"class_uid\":4001}",                                    /* no metadata */
        "{\"class_uid\":\"4001\",\"metadata\":{}}",                /* not an integer */
        "{\"class_uid\":9999,\"metadata\":{}}",                    /* unknown class */
        "{\"class_uid\":4001,\"metadata\":{},\"unmapped\":[]}",    /* unmapped not an object */
        "{\"class_uid\":4001,\"class_uid\":4002,\"metadata\":{}}", /* duplicate key */
        "{\"class_uid\":4001,\"metadata\":{}} trailing",
        /* a clash: unmapped.metadata.version already says something else */
        "{\"class_uid\":4001,\"metadata\":{\"version\":\"1.7.0\"},"
        "\"unmapped\":{\"metadata.version\":\"9\"}}",
    };
    char err[256];
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    ocsf_buf_puts(&b, "prefix");
    for (size_t t = 0; t < 2; t++)
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            err[0] = 0;
            assert_int_equal(
                ocsf_downgrade(bad[i], strlen(bad[i]), targets[t], &b, err, sizeof err), -EINVAL);
            assert_true(err[0] != 0);
            assert_int_equal(b.len, 6); /* nothing appended */
        }
    static const char *const versions[] = {"1.2.0", "", "1.7", "1.3.0 ", "2.0.0"};
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        assert_int_equal(ocsf_downgrade(json, strlen(json), versions[i], &b, err, sizeof err),
                         -EINVAL);
        assert_false(ocsf_downgrade_supported(versions[i]));
    }
    assert_int_equal(ocsf_downgrade(json, strlen(json), NULL, &b, err, sizeof err), -EINVAL);
    assert_int_equal(b.len, 6);
    assert_true(ocsf_downgrade_supported("1.3.0") && ocsf_downgrade_supported("1.1.0") &&
                ocsf_downgrade_supported("1.7.0"));
    ocsf_buf_dispose(&b);
    free(json);
}

/* Control bytes, NUL, bidi and line separators in every string field come
 * through byte for byte (checked by the lossless walk) and stay one line. */
static void hostile_strings(void **state)
{
    (void)state;
#define H(lit)                                                                                     \
    {                                                                                              \
        lit, sizeof(lit) - 1                                                                       \
    }
    static const ocsf_str_t hostile[] = {
        H("new\nline"),        H("nul\0byte"),
        H("\x1b[31mred"),      H("\xe2\x80\xa8sep\xe2\x80\xae"),
        H("\"quoted\\\" } {"), H("\x7f\xc2\x9b"),
    };
#undef H
    for (size_t h = 0; h < sizeof hostile / sizeof hostile[0]; h++)
        for (size_t i = 0; i < nsamples; i++) {
            ocsf_event_t ev = samples[i];
            ocsf_str_t s = hostile[h];
            ev.dst.domain = ev.actor.cmd_line = ev.status_detail = ev.message = s;
            ev.rule_name = ev.policy_version = ev.container_name = ev.state_other = s;
            char *json = unit_encode(&ev);
            for (size_t t = 0; t < 2; t++) {
                char *got = down(json, targets[t]);
                assert_true(unit_clean_line(got, strlen(got)));
                check_lossless(json, got, targets[t]);
                free(got);
            }
            free(json);
        }
}

/* Downgrading what was downgraded is a fixed point (same unmapped keys,
 * same values: no clash). */
static void idempotent(void **state)
{
    (void)state;
    for (size_t t = 0; t < 2; t++)
        for (size_t i = 0; i < nsamples; i++) {
            char *json = unit_encode(&samples[i]);
            char *once = down(json, targets[t]);
            char *twice = down(once, targets[t]);
            assert_string_equal(once, twice);
            free(twice);
            free(once);
            free(json);
        }
}

/* ---- threads: the same answers from four threads at once -------------------- */

typedef struct {
    char *in[MAX_SAMPLES], *want[MAX_SAMPLES];
    size_t n;
    int bad;
} mt_t;

static void *mt_run(void *arg)
{
    mt_t *m = arg;
    ocsf_buf_t b;
    char err[256];
    ocsf_buf_init(&b);
    for (int round = 0; round < 200; round++)
        for (size_t i = 0; i < m->n; i++) {
            b.len = 0;
            if (ocsf_downgrade(m->in[i], strlen(m->in[i]), "1.1.0", &b, err, sizeof err) != 0 ||
                b.len != strlen(m->want[i]) || memcmp(b.p, m->want[i], b.len) != 0)
                __atomic_add_fetch(&m->bad, 1, __ATOMIC_RELAXED);
        }
    ocsf_buf_dispose(&b);
    return NULL;
}

static void threads(void **state)
{
    (void)state;
    mt_t m = {.n = nsamples};
    for (size_t i = 0; i < nsamples; i++) {
        m.in[i] = unit_encode(&samples[i]);
        m.want[i] = down(m.in[i], "1.1.0");
    }
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, mt_run, &m), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(m.bad, 0);
    for (size_t i = 0; i < nsamples; i++) {
        free(m.in[i]);
        free(m.want[i]);
    }
}

/* fuzz_downgrade's finds (fuzz/crashes/downgrade-*): a clean error or an
 * output that downgrades again to the same bytes */
static void downgrade_find(const char *path, char *buf, size_t n)
{
    (void)path;
    char err[512];
    ocsf_buf_t a, b;
    ocsf_buf_init(&a);
    ocsf_buf_init(&b);
    if (ocsf_downgrade(buf, n, "1.1.0", &a, err, sizeof err) != 0) {
        assert_true(unit_clean_line(err, strlen(err)));
    } else {
        assert_int_equal(ocsf_downgrade(a.p, a.len, "1.1.0", &b, err, sizeof err), 0);
        assert_true(a.len == b.len && memcmp(a.p, b.p, a.len) == 0);
    }
    ocsf_buf_dispose(&a);
    ocsf_buf_dispose(&b);
}

static void fuzz_regressions(void **state)
{
    (void)state;
    assert_true(unit_each_find("fuzz/crashes/downgrade-*", downgrade_find) >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fuzz_regressions),
        cmocka_unit_test(samples_lossless),
        cmocka_unit_test(unknown_enum_becomes_other),
        cmocka_unit_test(missing_attributes_move),
        cmocka_unit_test(required_filled_and_listed),
        cmocka_unit_test(identity_170),
        cmocka_unit_test(rejects),
        cmocka_unit_test(hostile_strings),
        cmocka_unit_test(idempotent),
        cmocka_unit_test(threads),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
