/* Unit tests of the schema-driven checker (ocsf/check.c, jtok.c) and the
 * ingest preparation (ocsf/ingest.c). */
#include "unit.h"

#include <errno.h>

#include <jansson.h>

static ocsf_checker_t *v;
static ocsf_event_t samples[MAX_SAMPLES];
static size_t nsamples;

static int setup(void **state)
{
    (void)state;
    v = ocsf_checker_new();
    nsamples = ocsf_samples(samples, MAX_SAMPLES);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ocsf_checker_free(v);
    return 0;
}

typedef struct {
    char text[2048];
} report_t;

static void collect(void *ctx, const char *path, const char *msg)
{
    report_t *r = ctx;
    size_t n = strlen(r->text);
    snprintf(r->text + n, sizeof r->text - n, "%s: %s\n", path, msg);
}

static void samples_valid(void **state)
{
    (void)state;
    for (size_t i = 0; i < nsamples; i++) {
        char *json = unit_encode(&samples[i]);
        report_t r = {{0}};
        if (ocsf_check(v, json, strlen(json), NULL, 0, collect, &r) != 0)
            fail_msg("%s: %s", ocsf_sample_name(i), r.text);
        free(json);
    }
}

/* Edits sample i at a dotted path (NULL val: delete) and validates. */
static void expect_problem(size_t i, const char *path, json_t *val, const char *needle)
{
    char *json = unit_encode(&samples[i]);
    json_error_t e;
    json_t *root = json_loads(json, 0, &e), *obj = root;
    free(json);
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    char *key = buf, *dot;
    while ((dot = strchr(key, '.'))) {
        *dot = '\0';
        obj = json_object_get(obj, key);
        key = dot + 1;
    }
    if (val)
        json_object_set_new(obj, key, val);
    else
        json_object_del(obj, key);
    char *s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    report_t r = {{0}};
    int n = ocsf_check(v, s, strlen(s), NULL, 0, collect, &r);
    if (n <= 0 || !strstr(r.text, needle))
        fail_msg("edit %s: wanted '%s', got %d problems: %s", path, needle, n, r.text);
    free(s);
}

static void problems_found(void **state)
{
    (void)state;
    expect_problem(0, "severity_id", NULL, "severity_id: required attribute missing");
    expect_problem(0, "severity_id", json_integer(42), "42 is not one of the ids of severity_id");
    expect_problem(0, "severity", json_string("Low"), "for severity_id=1");
    expect_problem(0, "type_uid", json_integer(400102), "type_uid: 400102, expected 400101");
    expect_problem(0, "category_uid", json_integer(3), "category_uid: 3, expected 4");
    expect_problem(0, "bogus", json_true(), "bogus: not an attribute of network_activity");
    expect_problem(0, "dst_endpoint.port", json_integer(70000), "port 70000 out of range");
    expect_problem(0, "dst_endpoint.ip", json_string("999.1.1.1"), "does not match ip_t");
    expect_problem(0, "dst_endpoint.ip", json_string("1x2x3x4"), "does not match ip_t");
    expect_problem(0, "dst_endpoint.port", json_string("443"), "is not port_t");
    expect_problem(0, "dst_endpoint.port", json_real(443.0), "is not port_t");
    expect_problem(0, "time", json_integer(1795737600), "milliseconds");
    expect_problem(0, "metadata.version", json_string("9.9.9"), "not a bundled OCSF version");
    expect_problem(0, "metadata.profiles", json_pack("[s]", "host"),
                   "device.container: belongs to profile container");
    expect_problem(0, "metadata.profiles", json_pack("[s]", "nope"), "unknown profile");
    /* a profile that applies brings its required attributes */
    expect_problem(0, "metadata.profiles", json_pack("[s]", "cloud"),
                   "cloud: required attribute missing");
    expect_problem(0, "metadata.uid", json_integer(5), "is not string_t");
    expect_problem(0, "actor.process.file.hashes",
                   json_pack("[{s:i,s:s}]", "algorithm_id", 3, "value", "zz"),
                   "does not match file_hash_t");
    expect_problem(0, "dst_endpoint", json_object(), "needs at least one");
    expect_problem(8, "finding_info.uid", NULL, "finding_info.uid: required attribute missing");
    expect_problem(14, "actor", NULL, "actor: required attribute missing");
    expect_problem(0, "class_uid", json_integer(9999), "9999 is not a class of OCSF 1.7.0");
    expect_problem(0, "unmapped", json_string("x"), "expected an object");
}

/* One problem, its text containing needle. */
static void expect_raw(const char *json, const char *needle)
{
    report_t r = {{0}};
    int n = ocsf_check(v, json, strlen(json), NULL, 0, collect, &r);
    if (n <= 0 || !strstr(r.text, needle))
        fail_msg("%s: wanted '%s', got %d problems: %s", json, needle, n, r.text);
}

/* Sample 0 with its first brace replaced by `head` (which must end in a
 * comma or be a complete prefix). */
static char *with_head(const char *head)
{
    char *json = unit_encode(&samples[0]);
    size_t n = strlen(head) + strlen(json) + 1;
    char *s = malloc(n);
    snprintf(s, n, "%s%s", head, json + 1);
    free(json);
    return s;
}

static void stricter_than_python(void **state)
{
    (void)state;
    char *s = with_head("{\"class_uid\":4001,");
    expect_raw(s, "duplicate key");
    free(s);
    s = with_head("{\"unmapped\":{\"a\":1,\"a\":2},");
    expect_raw(s, "duplicate key");
    free(s);
    /* numbers no consumer holds are refused, under unmapped too */
    s = with_head("{\"unmapped\":{\"a\":99999999999999999999},");
    expect_raw(s, "out of range");
    free(s);
    s = with_head("{\"unmapped\":{\"a\":-1e999},");
    expect_raw(s, "out of range");
    free(s);
    s = with_head("{\"unmapped\":{\"a\":1.5e300,\"b\":-9223372036854775808},");
    report_t r = {{0}};
    if (ocsf_check(v, s, strlen(s), NULL, 0, collect, &r) != 0)
        fail_msg("in range: %s", r.text);
    free(s);
    s = with_head("{\"unmapped\":{\"a\":\"\\ud800\"},");
    expect_raw(s, "lone surrogate");
    free(s);
    s = with_head("{\"unmapped\":{\"a\":\"\xc0\xaf\"},");
    expect_raw(s, "invalid UTF-8");
    free(s);
    expect_raw("{\"a\":NaN}", "not JSON");
    expect_raw("{\"a\":1} x", "not JSON");
    expect_raw("{\"a\":01}", "not JSON");
}

/* The same event as OCSF 1.8.0 and 1.3.0: checked against its own version. */
static void versions(void **state)
{
    (void)state;
    assert_non_null(ocsf_schema_find("1.8.0", 5));
    assert_non_null(ocsf_schema_find("1.1.0", 5));
    assert_null(ocsf_schema_find("2.0.0", 5));
    assert_non_null(strstr(ocsf_schema_versions(), "1.8.0"));
    char *json = unit_encode(&samples[0]);
    char *at = strstr(json, "\"version\":\"1.7.0\"");
    assert_non_null(at);
    memcpy(at + 11, "1.8.0", 5);
    report_t r = {{0}};
    if (ocsf_check(v, json, strlen(json), NULL, 0, collect, &r) != 0)
        fail_msg("as 1.8.0: %s", r.text);
    /* forced to 1.7.0, the version attribute is wrong for it */
    memset(&r, 0, sizeof r);
    assert_true(ocsf_check(v, json, strlen(json), ocsf_schema_find("1.1.0", 5), 0, collect, &r) >
                0);
    free(json);
}

/* Escaped keys are the keys they decode to. */
static void escaped_keys(void **state)
{
    (void)state;
    char *json = unit_encode(&samples[0]);
    char *at = strstr(json, "\"class_uid\"");
    assert_non_null(at);
    size_t n = strlen(json) + 16;
    char *s = malloc(n);
    snprintf(s, n, "%.*s\"\\u0063lass_uid\"%s", (int)(at - json), json, at + 11);
    report_t r = {{0}};
    if (ocsf_check(v, s, strlen(s), NULL, 0, collect, &r) != 0)
        fail_msg("escaped key: %s", r.text);
    free(s);
    free(json);
}

/* ocsf_ingest: stored as received, a producer's sequence moved to
 * unmapped, the digest found again from the stored record. */
static void ingest(void **state)
{
    (void)state;
    char err[256];
    ocsf_ingest_t in;
    ocsf_event_t bare = samples[0];
    bare.sequence = bare.logged_time = OCSF_NONE;
    char *json = unit_encode(&bare);
    assert_int_equal(ocsf_ingest(v, json, strlen(json), 0, &in, err, sizeof err), 0);
    assert_ptr_equal(in.json, json); /* no copy */
    assert_int_equal(in.class_uid, 4001);
    assert_memory_equal(in.json + in.at - 12, "\"metadata\":{", 12);
    uint8_t d1[32], d2[32];
    memcpy(d1, in.digest, 32);
    /* the stored record: the writer's insertion at `at` */
    char stored[8192];
    snprintf(stored, sizeof stored, "%.*s\"logged_time\":1795737600123,\"sequence\":42,%s",
             (int)in.at, in.json, in.json + in.at);
    assert_int_equal(ocsf_ingest_stored_digest(v, stored, strlen(stored), d2), 0);
    assert_memory_equal(d1, d2, 32);
    /* a tollgate-encoded event (sorted keys) is not an ingested record */
    assert_int_equal(ocsf_ingest_stored_digest(v, json, strlen(json), d2), -ENOENT);
    free(json);

    /* a producer's sequence and logged_time go to unmapped */
    ocsf_event_t ev = samples[0];
    ev.sequence = 7;
    ev.logged_time = 1795737600999;
    json = unit_encode(&ev);
    assert_int_equal(ocsf_ingest(v, json, strlen(json), 0, &in, err, sizeof err), 0);
    char *out = strndup(in.json, in.len);
    assert_null(strstr(out, "\"sequence\":7,"));
    assert_non_null(strstr(out, "\"metadata.sequence\":7"));
    assert_non_null(strstr(out, "\"metadata.logged_time\":1795737600999"));
    report_t r = {{0}};
    ocsf_checker_t *c2 = ocsf_checker_new();
    if (ocsf_check(c2, out, strlen(out), NULL, 0, collect, &r) != 0)
        fail_msg("rewritten: %s\n%s", r.text, out);
    ocsf_checker_free(c2);
    free(out);
    free(json);

    /* refused: the first problem, with the version */
    assert_int_equal(ocsf_ingest(v, "{\"class_uid\":4001}", 18, 0, &in, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "not valid OCSF 1.7.0"));
}

static void not_json(void **state)
{
    (void)state;
    report_t r = {{0}};
    assert_int_equal(ocsf_check(v, "{\"class_uid\":", 13, NULL, 0, collect, &r), 1);
    assert_non_null(strstr(r.text, "not JSON"));
    memset(&r, 0, sizeof r);
    assert_int_equal(ocsf_check(v, "[]", 2, NULL, 0, collect, &r), 1);
    assert_non_null(strstr(r.text, "not a JSON object"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(samples_valid), cmocka_unit_test(problems_found),
        cmocka_unit_test(not_json),      cmocka_unit_test(stricter_than_python),
        cmocka_unit_test(versions),      cmocka_unit_test(escaped_keys),
        cmocka_unit_test(ingest),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
