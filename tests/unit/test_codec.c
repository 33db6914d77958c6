/* Unit tests of the encoder and decoder (ocsf/encode.c, ocsf/decode.c). */
#include "unit.h"

#include <errno.h>
#include <jansson.h>

static ocsf_event_t samples[MAX_SAMPLES];
static size_t nsamples;

static int setup(void **state)
{
    (void)state;
    nsamples = ocsf_samples(samples, MAX_SAMPLES);
    return nsamples > 0 && nsamples <= MAX_SAMPLES ? 0 : -1;
}

/* Our bytes equal jansson's compact, key-sorted dump of the same JSON: the
 * encoder's key order is sorted at every level and the output compact. */
static void encode_is_canonical(void **state)
{
    (void)state;
    for (size_t i = 0; i < nsamples; i++) {
        char *ours = unit_encode(&samples[i]);
        json_error_t e;
        json_t *j = json_loads(ours, 0, &e);
        assert_non_null(j);
        char *theirs = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(ours, theirs);
        assert_null(strchr(ours, '\n'));
        free(theirs);
        json_decref(j);
        free(ours);
    }
}

static void round_trip(void **state)
{
    (void)state;
    char err[256];
    for (size_t i = 0; i < nsamples; i++) {
        char *json = unit_encode(&samples[i]);
        ocsf_event_t ev;
        int rc = ocsf_decode(json, strlen(json), &ev, err, sizeof err);
        if (rc)
            fail_msg("%s: %s", ocsf_sample_name(i), err);
        assert_true(ocsf_event_equal(&samples[i], &ev));
        char *again = unit_encode(&ev);
        assert_string_equal(json, again);
        ocsf_event_dispose(&ev);
        free(again);
        free(json);
    }
}

/* ocsf_encode_deferred + splicing logged_time and sequence == ocsf_encode */
static void deferred_splice(void **state)
{
    (void)state;
    char err[256];
    for (size_t i = 0; i < nsamples; i++) {
        ocsf_event_t ev = samples[i];
        ev.log_name = i % 2 ? OCSF_NOSTR : ev.log_name; /* with and without log_name */
        ev.uid[0] = i % 3 ? ev.uid[0] : '\0';           /* with and without uid */
        char *want = unit_encode(&ev);
        ocsf_buf_t b, s;
        ocsf_buf_init(&b);
        ocsf_buf_init(&s);
        ocsf_buf_puts(&b, "prefix");
        size_t at[2];
        assert_int_equal(ocsf_encode_deferred(&ev, &b, at, err, sizeof err), 0);
        const char *j = b.p + 6;
        ocsf_buf_put(&s, j, at[0]);
        ocsf_buf_puts(&s, "\"logged_time\":");
        ocsf_buf_put_i64(&s, ev.logged_time);
        ocsf_buf_putc(&s, ',');
        ocsf_buf_put(&s, j + at[0], at[1] - at[0]);
        ocsf_buf_puts(&s, "\"sequence\":");
        ocsf_buf_put_i64(&s, ev.sequence);
        ocsf_buf_putc(&s, ',');
        ocsf_buf_put(&s, j + at[1], b.len - 6 - at[1]);
        assert_string_equal(ocsf_buf_cstr(&s), want);
        ocsf_buf_dispose(&b);
        ocsf_buf_dispose(&s);
        free(want);
    }
}

static void encode_rejects(void **state)
{
    (void)state;
    ocsf_event_t ev;
    ocsf_buf_t b;
    char err[256];
    ocsf_buf_init(&b);
    ocsf_event_init(&ev);
    ocsf_event_begin(&ev, 4242, 1, OCSF_SEV_INFO, 1795737600000, NULL);
    assert_int_equal(ocsf_encode(&ev, &b, err, sizeof err), -EINVAL);
    assert_int_equal(b.len, 0);
    assert_non_null(strstr(err, "4242"));
    ocsf_event_begin(&ev, OCSF_CLASS_NETWORK, 42, OCSF_SEV_INFO, 1795737600000, NULL);
    assert_int_equal(ocsf_encode(&ev, &b, err, sizeof err), -EINVAL);
    assert_int_equal(b.len, 0);
    ocsf_event_begin(&ev, OCSF_CLASS_NETWORK, 1, 7, 1795737600000, NULL);
    assert_int_equal(ocsf_encode(&ev, &b, err, sizeof err), -EINVAL);
    ocsf_buf_dispose(&b);
}

/* Hostile bytes in every string field of a sample: still one valid line,
 * decode gives back what the escaper made of them, round trip stable. */
static void hostile_strings(void **state)
{
    (void)state;
#define H(lit)                                                                                     \
    {                                                                                              \
        lit, sizeof(lit) - 1                                                                       \
    }
    static const ocsf_str_t hostile[] = {
        H("new\nline"),
        H("cr\r"),
        H("\x1b[31mred\x1b[0m"),
        H("nul\0byte"),
        H("bad\xff\xfeutf8"),
        H("x] [reason:forged"),
        H("\xe2\x80\xa8sep"),
        H("\xc2\x9b"
          "2J"),
    };
#undef H
    char err[256];
    for (size_t h = 0; h < sizeof hostile / sizeof hostile[0]; h++) {
        for (size_t i = 0; i < nsamples; i++) {
            ocsf_event_t ev = samples[i];
            ocsf_str_t s = hostile[h];
            ev.dst.domain = ev.actor.name = ev.actor.path = ev.actor.cmd_line = s;
            ev.status_detail = ev.message = ev.rule_name = ev.log_name = s;
            ev.finding_title = ev.app.name = ev.process.cmd_line = ev.url_path = s;
            ev.container_name = ev.device_hostname = ev.policy_version = s;
            char *json = unit_encode(&ev);
            assert_true(unit_clean_line(json, strlen(json)));
            ocsf_event_t back;
            if (ocsf_decode(json, strlen(json), &back, err, sizeof err) != 0)
                fail_msg("hostile %zu sample %zu: %s", h, i, err);
            char *again = unit_encode(&back);
            assert_string_equal(json, again);
            ocsf_event_dispose(&back);
            free(again);
            free(json);
        }
    }
}

static void huge_hostname(void **state)
{
    (void)state;
    size_t n = 64 * 1024;
    char *host = malloc(n);
    for (size_t i = 0; i < n; i++)
        host[i] = "a]\n[\x1b"[i % 5];
    ocsf_event_t ev = samples[1];
    ev.dst.domain = (ocsf_str_t){host, n};
    char *json = unit_encode(&ev);
    assert_true(unit_clean_line(json, strlen(json)));
    json_error_t e;
    json_t *j = json_loads(json, 0, &e);
    assert_non_null(j);
    json_decref(j);
    free(json);
    free(host);
}

static void expect_error(const char *json, size_t n, const char *needle)
{
    ocsf_event_t ev;
    char err[512];
    err[0] = '\0';
    int rc = ocsf_decode(json, n, &ev, err, sizeof err);
    if (rc != -EINVAL)
        fail_msg("decoded what should fail: %.80s", json);
    if (!strstr(err, needle))
        fail_msg("error '%s' does not say '%s'", err, needle);
    assert_null(ev.owner__); /* left disposed */
}
#define EXPECT_ERROR(lit, needle) expect_error((lit), sizeof(lit) - 1, (needle))

/* A sample with one attribute replaced (jansson edit). */
static char *edited(size_t i, const char *key, json_t *val)
{
    char *json = unit_encode(&samples[i]);
    json_error_t e;
    json_t *j = json_loads(json, 0, &e);
    free(json);
    if (val)
        json_object_set_new(j, key, val);
    else
        json_object_del(j, key);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

static void malformed(void **state)
{
    (void)state;
    EXPECT_ERROR("", "not JSON");
    EXPECT_ERROR("{\"class_uid\":4001,", "not JSON");
    EXPECT_ERROR("[1,2]", "not a JSON object");
    EXPECT_ERROR("{\"class_uid\":\"4001\"}", "class_uid: expected an integer");
    EXPECT_ERROR("{\"class_uid\":9999}", "class_uid: 9999 is not a class");
    EXPECT_ERROR("{\"a\":1,\"a\":2}", "not JSON");
    struct {
        const char *key;
        json_t *val;
        const char *needle;
    } cases[] = {
        {"severity_id", json_string("high"), "severity_id: expected an integer"},
        {"severity_id", NULL, "severity_id: required attribute missing"},
        {"activity_id", json_integer(55), "activity_id: 55 is not defined"},
        {"type_uid", json_integer(400102), "type_uid"},
        {"time", json_real(1.5), "time: expected an integer"},
        {"time", NULL, "time: required"},
        {"metadata", json_string("x"), "metadata: expected an object"},
        {"activity_name", json_string("Close"), "activity_name: does not match"},
        {"frobnicate", json_true(), "frobnicate: not an attribute"},
        {"dst_endpoint", json_pack("{s:i}", "port", 70000), "dst_endpoint.port: port 70000"},
        {"dst_endpoint", json_pack("{s:s}", "evil\x1b", "x"), "evil\\x1b"},
        {"actor", json_pack("{s:{s:s}}", "process", "pid", "1"), "actor.process.pid"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char *s = edited(0, cases[c].key, cases[c].val);
        expect_error(s, strlen(s), cases[c].needle);
        free(s);
    }
}

static void deep_nesting(void **state)
{
    (void)state;
    size_t depth = 1 << 20;
    char *s = malloc(2 * depth + 32);
    size_t n = 0;
    n += (size_t)snprintf(s, 32, "{\"unmapped\":");
    for (size_t i = 0; i < depth; i++)
        s[n++] = '[';
    for (size_t i = 0; i < depth; i++)
        s[n++] = ']';
    s[n++] = '}';
    expect_error(s, n, "not JSON");
    free(s);
}

static void too_long_string(void **state)
{
    (void)state;
    size_t n = OCSF_MAX_FIELD + 1;
    char *big = malloc(n + 1);
    memset(big, 'x', n);
    big[n] = '\0';
    char *s = edited(0, "message", json_string(big));
    expect_error(s, strlen(s), "message: 65537 bytes");
    free(s);
    free(big);
}

/* The fuzzers' finds (fuzz/crashes/): each must now decode to a stable
 * round trip or fail with a clean message. */
static void codec_find(const char *path, char *buf, size_t n)
{
    char err[512];
    while (n && (buf[n - 1] == '\n'))
        n--;
    ocsf_event_t ev, back;
    err[0] = '\0';
    if (ocsf_decode(buf, n, &ev, err, sizeof err) == 0) {
        char *json = unit_encode(&ev);
        assert_true(unit_clean_line(json, strlen(json)));
        assert_int_equal(ocsf_decode(json, strlen(json), &back, err, sizeof err), 0);
        if (!ocsf_event_equal(&ev, &back))
            fail_msg("%s: decode(encode(x)) differs", path);
        char *again = unit_encode(&back);
        assert_string_equal(json, again);
        free(again);
        free(json);
        ocsf_event_dispose(&back);
        ocsf_event_dispose(&ev);
    } else if (!unit_clean_line(err, strlen(err))) {
        fail_msg("%s: error text has control bytes", path);
    }
}

static void fuzz_regressions(void **state)
{
    (void)state;
    assert_true(unit_each_find("fuzz/crashes/*", codec_find) >= 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(encode_is_canonical), cmocka_unit_test(round_trip),
        cmocka_unit_test(deferred_splice),     cmocka_unit_test(encode_rejects),
        cmocka_unit_test(hostile_strings),     cmocka_unit_test(huge_hostname),
        cmocka_unit_test(malformed),           cmocka_unit_test(deep_nesting),
        cmocka_unit_test(too_long_string),     cmocka_unit_test(fuzz_regressions),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
