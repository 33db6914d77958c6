/* Unit tests of the validator against schemas/ (ocsf/validate.c). */
#include "unit.h"

#include <jansson.h>

static ocsf_validator_t *v;
static ocsf_event_t samples[MAX_SAMPLES];
static size_t nsamples;

static int setup(void **state)
{
    (void)state;
    char err[256];
    v = ocsf_validator_create(err, sizeof err);
    nsamples = ocsf_samples(samples, MAX_SAMPLES);
    return v ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    ocsf_validator_destroy(v);
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
        if (ocsf_validate(v, json, strlen(json), collect, &r) != 0)
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
    int n = ocsf_validate(v, s, strlen(s), collect, &r);
    if (n <= 0 || !strstr(r.text, needle))
        fail_msg("edit %s: wanted '%s', got %d problems: %s", path, needle, n, r.text);
    free(s);
}

static void problems_found(void **state)
{
    (void)state;
    expect_problem(0, "severity_id", NULL, "severity_id: required attribute missing");
    expect_problem(0, "severity_id", json_integer(42), "severity_id: 42 is not a defined");
    expect_problem(0, "severity", json_string("Low"), "caption severity");
    expect_problem(0, "type_uid", json_integer(400102), "type_uid: expected 400101");
    expect_problem(0, "category_uid", json_integer(3), "category_uid: expected 4");
    expect_problem(0, "bogus", json_true(), "bogus: not an attribute");
    expect_problem(0, "dst_endpoint.port", json_integer(70000), "port 70000 out of range");
    expect_problem(0, "dst_endpoint.ip", json_string("999.1.1.1"), "not an IP address");
    expect_problem(0, "dst_endpoint.port", json_string("443"), "is not port_t");
    expect_problem(0, "time", json_integer(1795737600), "milliseconds");
    expect_problem(0, "metadata.version", json_string("1.3.0"), "expected '1.7.0'");
    expect_problem(0, "metadata.profiles", json_pack("[s]", "host"),
                   "device.container: belongs to a profile");
    expect_problem(0, "metadata.profiles", json_pack("[s]", "nope"), "unknown profile");
    expect_problem(0, "metadata.uid", json_integer(5), "is not string_t");
    expect_problem(0, "actor.process.file.hashes",
                   json_pack("[{s:i,s:s}]", "algorithm_id", 3, "value", "zz"), "not a hex hash");
    expect_problem(0, "dst_endpoint", json_object(), "dst_endpoint: needs at least one");
    expect_problem(8, "finding_info.uid", NULL, "finding_info.uid: required");
    expect_problem(14, "actor", NULL, "actor: required attribute missing");
    expect_problem(0, "class_uid", json_integer(3001), "unknown class");
}

static void not_json(void **state)
{
    (void)state;
    report_t r = {{0}};
    assert_int_equal(ocsf_validate(v, "{\"class_uid\":", 13, collect, &r), 1);
    assert_non_null(strstr(r.text, "not JSON"));
    memset(&r, 0, sizeof r);
    assert_int_equal(ocsf_validate(v, "[]", 2, collect, &r), 1);
    assert_non_null(strstr(r.text, "not a JSON object"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(samples_valid),
        cmocka_unit_test(problems_found),
        cmocka_unit_test(not_json),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
