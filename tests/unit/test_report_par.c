/* Unit tests of the report's parallel pass (report/run.c): on spools of
 * many small segments with varied events (escaped strings, unicode, missing
 * fields, classes the report ignores, producer-ingested events of older
 * OCSF versions, drops, a table past its cap) and after tampering (a byte
 * flipped, a record rewritten with a good CRC, a segment deleted, a bad
 * header, torn segments), the document and its JSON, Markdown and HTML
 * renderings with 1, 2 and 3 segment workers are byte for byte those of
 * the former two-thread pass (threads = -1, the oracle). And the field
 * extractor of the hot path (walk.c) against jansson, field by field, on
 * every Network/HTTP record of the spool and on hand-written JSON. */
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "report/rep_internal.h"

#define T0     1795737600000LL /* 2026-11-27T00:00:00Z */
#define MINUTE 60000LL

static char tmpdir[256], spool[300];

static const ocsf_product_t PROXY = {OCSF_STR("tollgate-proxy"), OCSF_STR("tollgate"),
                                     OCSF_STR("0.1.0")};
static const ocsf_product_t GW = {OCSF_STR("tollgate-gateway"), OCSF_STR("tollgate"),
                                  OCSF_STR("0.1.0")};

static const char *const HOSTS[] = {
    "api.github.com",
    "b\xc3\xbc"
    "cher.example",
    "quote\"back\\slash.example",
    "tab\there.example",
    "\xe2\x80\xae"
    "evil.example",
    "x.example",
    "\xf0\x9f\x98\x80.example",
    "pypi.org",
};
static const char *const SBS[] = {"alpha", "beta", "g\xc3\xa4mma", "d\"elta", ""};
static const char *const EXES[] = {"/usr/bin/curl", "/usr/bin/py\\thon", "/opt/\xc3\xa9/node"};

static void put(col_t *c, ocsf_event_t *ev)
{
    char err[256];
    if (col_append(c, ev, NULL, err, sizeof err) != 0)
        fail_msg("col_append: %s", err);
}

static void net_event(col_t *c, int i)
{
    ocsf_event_t ev;
    int kind = i % 11;
    int cls = kind == 9 ? OCSF_CLASS_HTTP : OCSF_CLASS_NETWORK;
    int act = kind == 9    ? 3
              : kind == 7  ? OCSF_NET_CLOSE
              : kind == 8  ? OCSF_NET_FAIL
              : kind == 10 ? 5 /* Refuse */
                           : OCSF_NET_OPEN;
    ocsf_event_init(&ev);
    ocsf_event_begin(&ev, cls, act, OCSF_SEV_INFO, T0 + (int64_t)i * MINUTE / 7, &PROXY);
    ev.log_name = OCSF_STR("sandbox");
    ev.device_hostname = i % 13 == 0 ? OCSF_STR("dev\xc3\xb6"
                                                "box")
                                     : OCSF_STR("devbox");
    ev.device_type_id = 0;
    const char *sb = SBS[(i / 3) % 5];
    if (*sb)
        ev.container_name = ocsf_str(sb);
    ev.actor.pid = 100 + i % 7;
    const char *exe = EXES[i % 3];
    ev.actor.name = ocsf_str(exe);
    if (i % 17 != 0) /* else no file at all */
        ocsf_process_set_file(&ev.actor, ocsf_str(exe),
                              i % 5 == 0 ? OCSF_NOSTR
                                         : OCSF_STR("5f1b1a0e4f5d8c2e7b9a3c6d0e1f2a3b"
                                                    "4c5d6e7f8091a2b3c4d5e6f708192a3b"));
    ev.src.ip = OCSF_STR("10.200.0.2");
    ev.src.port = 40000 + i % 100;
    const char *host = HOSTS[i % 8];
    if (i % 19 == 3) {
        ev.dst.ip = OCSF_STR("169.254.169.254"); /* an ip, no domain */
    } else if (i % 23 != 5) {
        ev.dst.domain = ocsf_str(host);
        if (i % 2)
            ev.dst.ip = OCSF_STR("192.0.2.7");
    }
    ev.dst.port = i % 29 == 1 ? OCSF_NONE : 443 + i % 3;
    bool allowed = i % 4 != 1;
    if (i % 31 != 2) {
        if (allowed)
            ocsf_event_verdict(&ev, true, OCSF_STR("allow_\"hosts\""), OCSF_STR("policy"),
                               OCSF_NOSTR);
        else
            ocsf_event_verdict(&ev, false, OCSF_NOSTR,
                               i % 3 ? OCSF_STR("policy")
                                     : OCSF_STR("ss\xc5\x95"
                                                "f"),
                               i % 8 == 1 ? OCSF_NOSTR
                                          : OCSF_STR("not allowed: \"quoted\" \\ and \xe2\x80\xae"
                                                     "rtl \x01 ctl"));
    }
    if (act == OCSF_NET_CLOSE) {
        ev.bytes_in = 4000 + i;
        ev.bytes_out = 300 + i % 100;
        ev.start_time = ev.time - 800, ev.end_time = ev.time, ev.duration = 800;
    }
    if (cls == OCSF_CLASS_HTTP) {
        ev.http_method = OCSF_STR("GET");
        ev.url_scheme = OCSF_STR("http");
        ev.url_hostname = ocsf_str(host);
        ev.url_port = 8080;
        ev.url_path = OCSF_STR("/simple/\xc3\xa5/");
    }
    put(c, &ev);
}

static void config_event(col_t *c, int i, const char *state, const char *msg, bool gateway)
{
    ocsf_event_t ev;
    ocsf_event_init(&ev);
    ocsf_event_begin(&ev, OCSF_CLASS_CONFIG, OCSF_CONFIG_LOG, OCSF_SEV_INFO,
                     T0 + (int64_t)i * MINUTE / 7, &GW);
    ev.log_name = OCSF_STR("gateway");
    ev.device_hostname = OCSF_STR("devbox");
    ev.device_type_id = 0;
    if (!gateway)
        ev.container_name = ocsf_str(SBS[i % 4]);
    ev.state_id = OCSF_OTHER;
    ev.state_other = ocsf_str(state);
    ev.message = ocsf_str(msg);
    ev.status_id = OCSF_STATUS_SUCCESS;
    ev.policy_name = OCSF_STR("p\xc3\xb8licy");
    ev.policy_version = OCSF_STR("3");
    ev.policy_uid = OCSF_STR("7d865e959b2466918c9863afca942d0f");
    put(c, &ev);
}

static void other_events(col_t *c, int i)
{
    ocsf_event_t ev;
    switch ((i / 50) % 4) {
    case 0: /* lifecycle, gateway-wide or of a sandbox */
        ocsf_event_init(&ev);
        ocsf_event_begin(&ev, OCSF_CLASS_LIFECYCLE, OCSF_OTHER, OCSF_SEV_INFO,
                         T0 + (int64_t)i * MINUTE / 7, &GW);
        ev.activity_other = i % 100 ? OCSF_STR("Start") : OCSF_STR("Cr\"eate");
        ev.log_name = OCSF_STR("gateway");
        ev.device_hostname = OCSF_STR("devbox");
        ev.device_type_id = 0;
        if (i % 3)
            ev.container_name = ocsf_str(SBS[i % 4]);
        ev.app = (ocsf_product_t){OCSF_STR("app\xe2\x80\x8b"), OCSF_STR("tollgate"), OCSF_NOSTR};
        ev.status_id = OCSF_STATUS_SUCCESS;
        put(c, &ev);
        break;
    case 1: config_event(c, i, "updated", "policy updated: \"add\" \\ endpoint", false); break;
    case 2: { /* a finding */
        ocsf_event_init(&ev);
        ocsf_event_begin(&ev, OCSF_CLASS_FINDING, OCSF_FINDING_CREATE, OCSF_SEV_HIGH,
                         T0 + (int64_t)i * MINUTE / 7, &PROXY);
        ev.log_name = OCSF_STR("sandbox");
        ev.device_hostname = OCSF_STR("devbox");
        ev.device_type_id = 0;
        ev.container_name = ocsf_str(SBS[i % 4]);
        ev.actor.pid = 7;
        ev.actor.name = OCSF_STR("curl");
        ocsf_process_set_file(&ev.actor, OCSF_STR("/usr/bin/curl"),
                              OCSF_STR("e3b0c44298fc1c149afbf4c8996fb924"
                                       "27ae41e4649b934ca495991b7852b855"));
        const char *uid = i % 3 == 0   ? "binary_hash_changed"
                          : i % 3 == 1 ? "ssrf_attempt"
                                       : "proxy_bypass";
        ev.finding_uid = ocsf_str(uid);
        ev.finding_type = ocsf_str(uid);
        ev.finding_title = OCSF_STR("t\xc3\xaftle \"x\"");
        ev.confidence_id = OCSF_CONF_HIGH;
        ev.status_id = OCSF_FSTATUS_NEW;
        ev.message = OCSF_STR("evidence text");
        ev.unmapped = OCSF_STR("{\"pinned_sha256\":\"aa\",\"z\":[1,{\"b\":\"\\u00e9\"}]}");
        put(c, &ev);
        break;
    }
    default: /* the collector's own: a drop, a recovery */
        config_event(c, i, i % 2 ? "dropped" : "recovered",
                     i % 2 ? "12 events dropped: the spool could not keep up"
                           : "300 bytes cut: a torn record",
                     true);
        break;
    }
}

/* Producer-ingested events, as received (key order, spacing and escapes
 * of the producer, other OCSF versions, a class the report ignores). */
static void raw_events(col_t *c, ocsf_checker_t *k, int i)
{
    char json[2048];
    int64_t t = T0 + (int64_t)i * MINUTE / 7;
    switch (i % 4) {
    case 0:
        snprintf(json, sizeof json,
                 "{ \"metadata\" : {\"version\":\"1.1.0\",\"product\":{\"vendor_name\":\"acme\","
                 "\"name\":\"sh\\u00e9ll\\\"d\",\"version\":\"2.\\t0\"}},\n \"time\": %lld,"
                 " \"class_uid\":4001,\"category_uid\":4,\"activity_id\":1,\"type_uid\":400101,"
                 "\"severity_id\":1,\"action_id\":2,\"disposition_id\":2,"
                 "\"dst_endpoint\":{\"port\":8443,\"hostname\":\"h\",\"domain\":"
                 "\"sn\\u00f8w\\ud83d\\ude00.example\"},"
                 "\"firewall_rule\":{\"type\":\"ingest\",\"name\":\"r\\/1\"},"
                 "\"status_detail\":\"denied by \\\"acme\\\"\","
                 "\"device\":{\"type_id\":0,\"hostname\":\"acme-\\u0041\"},"
                 "\"src_endpoint\":{\"ip\":\"10.0.0.1\",\"port\":5}}",
                 (long long)t);
        break;
    case 1:
        snprintf(json, sizeof json,
                 "{\"class_uid\":4002,\"category_uid\":4,\"activity_id\":3,\"type_uid\":400203,"
                 "\"severity_id\":1,\"time\":%lld,\"action_id\":1,"
                 "\"metadata\":{\"version\":\"1.3.0\",\"product\":{\"name\":\"acme-proxy\","
                 "\"vendor_name\":\"acme\"}},"
                 "\"http_request\":{\"http_method\":\"GET\",\"url\":{\"port\":81,"
                 "\"hostname\":\"weird\\\\host\",\"path\":\"/\"}},"
                 "\"actor\":{\"process\":{\"pid\":4,\"file\":{\"type_id\":1,\"name\":\"x\","
                 "\"path\":\"/bin/\\u00e5\",\"hashes\":[{\"algorithm_id\":1,\"value\":\"md5\"},"
                 "{\"algorithm\":\"SHA-256\",\"algorithm_id\":99,\"value\":\"abc\"}]}}},"
                 "\"device\":{\"type_id\":0}}",
                 (long long)t);
        break;
    case 2: /* a class the report does not read */
        snprintf(json, sizeof json,
                 "{\"class_uid\":1007,\"category_uid\":1,\"activity_id\":1,\"type_uid\":100701,"
                 "\"severity_id\":1,\"time\":%lld,\"metadata\":{\"version\":\"1.1.0\","
                 "\"product\":{\"name\":\"edr\",\"vendor_name\":\"acme\"}},"
                 "\"process\":{\"pid\":1,\"name\":\"sh\"},\"actor\":{\"process\":{\"pid\":1}},"
                 "\"device\":{\"type_id\":0}}",
                 (long long)t);
        break;
    default: /* NET:CLOSE with traffic, duplicate-free but keys reversed */
        snprintf(json, sizeof json,
                 "{\"traffic\":{\"bytes_out\":7,\"bytes_in\":1e3},\"time\":%lld,"
                 "\"type_uid\":400102,\"severity_id\":1,\"metadata\":{\"version\":\"1.7.0\","
                 "\"product\":{\"version\":\"9\",\"name\":\"acme-fw\",\"vendor_name\":\"a\"}},"
                 "\"dst_endpoint\":{\"ip\":\"2001:db8::1\",\"port\":53},\"class_uid\":4001,"
                 "\"category_uid\":4,\"activity_id\":2,\"action_id\":1,"
                 "\"device\":{\"type_id\":0}}",
                 (long long)t);
        break;
    }
    ocsf_ingest_t in;
    char err[256];
    if (ocsf_ingest(k, json, strlen(json), OCSF_INGEST_REPAIR, &in, err, sizeof err) != 0)
        fail_msg("ocsf_ingest: %s\n%s", err, json);
    if (col_append_raw(c, &in, NULL, err, sizeof err) != 0)
        fail_msg("col_append_raw: %s", err);
}

static void make_spool(const char *dir, int n, int64_t seg_bytes)
{
    col_config_t cfg;
    col_config_default(&cfg);
    cfg.spool_dir = (char *)dir;
    cfg.fsync = COL_FSYNC_NEVER;
    cfg.segment_bytes = seg_bytes;
    cfg.ring_bytes = 1 << 20;
    col_t *c = NULL;
    char err[256];
    if (col_create(&cfg, &c, err, sizeof err) != 0)
        fail_msg("col_create: %s", err);
    ocsf_checker_t *k = ocsf_checker_new();
    for (int i = 0; i < n; i++) {
        net_event(c, i);
        if (i % 10 == 0)
            other_events(c, i);
        if (i % 9 == 4)
            raw_events(c, k, i);
    }
    ocsf_checker_free(k);
    col_destroy(c);
}

static int setup(void **state)
{
    (void)state;
    if (unit_tmpdir_make(tmpdir, sizeof tmpdir, "reppar") != 0)
        return -1;
    snprintf(spool, sizeof spool, "%s/spool", tmpdir);
    make_spool(spool, 3000, 16 << 10);
    char path[400];
    snprintf(path, sizeof path, "%s/exporters", tmpdir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/exporters/siem.ckpt", tmpdir);
    FILE *f = fopen(path, "w");
    fprintf(f, "1200\n");
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unit_tmpdir_remove(tmpdir);
    return 0;
}

/* ---- the comparison ----------------------------------------------------------- */

typedef struct {
    int64_t since, until;
    const char *const *sbs;
    size_t nsb;
} scope_t;

/* The document in JSON, Markdown and HTML, one string. */
static char *render_all(const char *state_dir, const scope_t *s, int threads)
{
    rep_options_t o;
    rep_options_init(&o);
    o.state_dir = state_dir;
    o.since_ms = s->since;
    o.until_ms = s->until;
    o.sandboxes = s->sbs;
    o.nsandboxes = s->nsb;
    o.top = 1000;
    o.now_ms = T0;
    o.threads = threads;
    json_t *doc = NULL;
    char err[512];
    if (rep_run(&o, &doc, err, sizeof err) != 0)
        fail_msg("rep_run (threads %d): %s", threads, err);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(rep_render(doc, REP_JSON, f), 0);
    assert_int_equal(rep_render(doc, REP_MD, f), 0);
    assert_int_equal(rep_render(doc, REP_HTML, f), 0);
    fclose(f);
    json_decref(doc);
    return buf;
}

static void same_as_oracle(const char *state_dir, const scope_t *s)
{
    char *want = render_all(state_dir, s, -1);
    const int modes[] = {1, 2, 3, 0};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        char *got = render_all(state_dir, s, modes[i]);
        if (strcmp(want, got) != 0) {
            size_t k = 0;
            while (want[k] && want[k] == got[k])
                k++;
            size_t from = k > 200 ? k - 200 : 0;
            fail_msg("threads %d differs from the oracle at byte %zu:\n--- oracle\n%.400s\n"
                     "--- parallel\n%.400s",
                     modes[i], k, want + from, got + from);
        }
        free(got);
    }
    free(want);
}

static void test_same_document(void **state)
{
    (void)state;
    static const char *const one[] = {"beta"}, *const two[] = {"g\xc3\xa4mma", "alpha"};
    const scope_t scopes[] = {
        {OCSF_NONE, OCSF_NONE, NULL, 0},
        {T0 + 40 * MINUTE, T0 + 300 * MINUTE, NULL, 0},
        {OCSF_NONE, OCSF_NONE, one, 1},
        {T0 + 100 * MINUTE, OCSF_NONE, two, 2},
    };
    for (size_t i = 0; i < sizeof scopes / sizeof scopes[0]; i++)
        same_as_oracle(tmpdir, &scopes[i]);
}

/* ---- tampering, cumulatively, on a spool of its own ------------------------- */

static size_t seg_names(const char *dir, char names[][32], size_t max)
{
    rep__segs_t segs;
    char err[256];
    size_t n = 0;
    if (rep__segs_list(dir, &segs, err, sizeof err) != 0)
        fail_msg("%s", err);
    for (; n < segs.n && n < max; n++)
        memcpy(names[n], segs.v[n].name, 32);
    rep__segs_dispose(&segs);
    return n;
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static unsigned char buf[1 << 20];
    *n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return buf;
}

static void spit(const char *path, const unsigned char *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

/* The offset of the k-th record of a segment. */
static size_t rec_off(const unsigned char *b, size_t n, int k)
{
    size_t off = COL__SEG_HDR;
    for (int i = 0; i < k && off + 8 <= n; i++)
        off += col__get32(b + off + 4);
    return off;
}

static void test_tampered_spools(void **state)
{
    (void)state;
    char err_buf[256];
    char dir[300], sp[340], path[400], names[256][32];
    if (unit_tmpdir_make(dir, sizeof dir, "reppar-t") != 0)
        fail_msg("tmpdir");
    snprintf(sp, sizeof sp, "%s/spool", dir);
    make_spool(sp, 2000, 16 << 10);
    const scope_t all = {OCSF_NONE, OCSF_NONE, NULL, 0};
    size_t nseg = seg_names(sp, names, 256);
    assert_true(nseg > 20);
    size_t n;
    unsigned char *b;

    /* 1. a byte flipped in a record of segment 3: a CRC mismatch */
    snprintf(path, sizeof path, "%s/%s", sp, names[3]);
    b = slurp(path, &n);
    size_t off = rec_off(b, n, 2);
    b[off + COL__REC_HDR + 20] ^= 0x01;
    spit(path, b, n);
    same_as_oracle(dir, &all);

    /* 2. a record of segment 5 rewritten with a correct CRC: the chain breaks */
    snprintf(path, sizeof path, "%s/%s", sp, names[5]);
    b = slurp(path, &n);
    off = rec_off(b, n, 1);
    uint32_t total = col__get32(b + off + 4);
    unsigned char *j = memchr(b + off + COL__REC_HDR, ':', total - COL__REC_HDR);
    assert_non_null(j);
    j[1] = j[1] == '1' ? '2' : '1';
    uint32_t crc = col__crc32c(0, b + off + 12, total - 16);
    b[off + 8] = (unsigned char)crc, b[off + 9] = (unsigned char)(crc >> 8);
    b[off + 10] = (unsigned char)(crc >> 16), b[off + 11] = (unsigned char)(crc >> 24);
    spit(path, b, n);
    same_as_oracle(dir, &all);

    /* 3. segment 8 deleted: sequences missing at the seam */
    snprintf(path, sizeof path, "%s/%s", sp, names[8]);
    assert_int_equal(unlink(path), 0);
    same_as_oracle(dir, &all);

    /* 4. segment 11's header broken: not a spool segment */
    snprintf(path, sizeof path, "%s/%s", sp, names[11]);
    b = slurp(path, &n);
    b[2] ^= 0x55;
    spit(path, b, n);
    same_as_oracle(dir, &all);

    /* 5. segment 12's chain value in its header altered */
    snprintf(path, sizeof path, "%s/%s", sp, names[12]);
    b = slurp(path, &n);
    b[40] ^= 0x01;
    spit(path, b, n);
    same_as_oracle(dir, &all);

    /* 6. segment 14 cut in the middle of a record (torn, not the newest),
     * segment 15's first records all unreadable, and the newest torn */
    snprintf(path, sizeof path, "%s/%s", sp, names[14]);
    b = slurp(path, &n);
    assert_int_equal(truncate(path, (off_t)(rec_off(b, n, 3) + 30)), 0);
    snprintf(path, sizeof path, "%s/%s", sp, names[15]);
    b = slurp(path, &n);
    for (int k = 0; k < 3; k++)
        b[rec_off(b, n, k) + COL__REC_HDR + 5] ^= 0x02;
    spit(path, b, n);
    snprintf(path, sizeof path, "%s/%s", sp, names[nseg - 1]);
    b = slurp(path, &n);
    assert_int_equal(truncate(path, (off_t)(n - 7)), 0);
    same_as_oracle(dir, &all);

    /* 7. a record of segment 17 with an earlier sequence and a good CRC
     * (sequences going backwards: the merge gives way to one pass) */
    snprintf(path, sizeof path, "%s/%s", sp, names[17]);
    b = slurp(path, &n);
    off = rec_off(b, n, 4);
    total = col__get32(b + off + 4);
    uint64_t seq = col__get64(b + off + 12) - 40;
    for (int k = 0; k < 8; k++)
        b[off + 12 + k] = (unsigned char)(seq >> (8 * k));
    crc = col__crc32c(0, b + off + 12, total - 16);
    b[off + 8] = (unsigned char)crc, b[off + 9] = (unsigned char)(crc >> 8);
    b[off + 10] = (unsigned char)(crc >> 16), b[off + 11] = (unsigned char)(crc >> 24);
    spit(path, b, n);
    same_as_oracle(dir, &all);
    const scope_t win = {T0 + 30 * MINUTE, T0 + 200 * MINUTE, NULL, 0};
    same_as_oracle(dir, &win);
    { /* and every kind of damage was found (the comparison is not vacuous) */
        rep_options_t o;
        rep_options_init(&o);
        o.state_dir = dir;
        json_t *doc = NULL;
        assert_int_equal(rep_run(&o, &doc, err_buf, sizeof err_buf), 0);
        json_t *v = rep__json_at(doc, "completeness.verify"), *p;
        const char *kinds[] = {"crc", "chain", "sequence", "header", "torn"};
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            bool found = false;
            size_t i;
            json_array_foreach(json_object_get(v, "problems"), i, p) found |=
                !strcmp(json_string_value(json_object_get(p, "kind")), kinds[k]);
            if (!found)
                fail_msg("no %s problem", kinds[k]);
        }
        assert_true(json_integer_value(rep__json_at(doc, "completeness.gaps_total")) > 0);
        json_decref(doc);
    }

    /* 8. no chain key: nothing vouched for, the same in both */
    char key[400], moved[410];
    snprintf(key, sizeof key, "%s/keys/chain.key", dir);
    snprintf(moved, sizeof moved, "%s.away", key);
    if (rename(key, moved) == 0)
        same_as_oracle(dir, &all);
    unit_tmpdir_remove(dir);
}

/* More distinct destinations than the table keeps (16384): segments whose
 * keys no longer fit are read again into the whole aggregate. */
static void test_table_past_its_cap(void **state)
{
    (void)state;
    char dir[300], sp[340];
    if (unit_tmpdir_make(dir, sizeof dir, "reppar-cap") != 0)
        fail_msg("tmpdir");
    snprintf(sp, sizeof sp, "%s/spool", dir);
    col_config_t cfg;
    col_config_default(&cfg);
    cfg.spool_dir = sp;
    cfg.fsync = COL_FSYNC_NEVER;
    cfg.segment_bytes = 512 << 10;
    cfg.ring_bytes = 4 << 20;
    col_t *c = NULL;
    char err[256], host[64];
    if (col_create(&cfg, &c, err, sizeof err) != 0)
        fail_msg("col_create: %s", err);
    for (int i = 0; i < 25000; i++) {
        ocsf_event_t ev;
        ocsf_event_init(&ev);
        ocsf_event_begin(&ev, OCSF_CLASS_NETWORK, OCSF_NET_OPEN, OCSF_SEV_INFO,
                         T0 + (int64_t)i * 1000, &PROXY);
        ev.device_type_id = 0;
        ev.container_name = OCSF_STR("alpha");
        snprintf(host, sizeof host, "h%d.example", i % 5 ? i : i % 100);
        ev.dst.domain = ocsf_str(host);
        ev.dst.port = 443;
        ocsf_event_verdict(&ev, i % 2, OCSF_NOSTR, OCSF_STR("policy"), OCSF_STR("why"));
        put(c, &ev);
    }
    col_destroy(c);
    const scope_t all = {OCSF_NONE, OCSF_NONE, NULL, 0};
    same_as_oracle(dir, &all);
    unit_tmpdir_remove(dir);
}

/* ---- the extractor against jansson -------------------------------------------- */

/* What walk.c returns, as jansson reads the same event. */
static json_t *at(json_t *o, const char *path)
{
    return rep__json_at(o, path);
}

static void want_str(json_t *v, rep__sv_t got, const char *what, const char *json)
{
    if (!json_is_string(v)) {
        if (got.p)
            fail_msg("%s: the walker found a value jansson does not\n%s", what, json);
        return;
    }
    if (!got.p)
        fail_msg("%s: the walker missed \"%s\"\n%s", what, json_string_value(v), json);
    char buf[4096];
    size_t n = rep__sv_copy(got, buf, sizeof buf);
    if (n != json_string_length(v) || memcmp(buf, json_string_value(v), n) != 0)
        fail_msg("%s: walker \"%s\", jansson \"%s\"\n%s", what, buf, json_string_value(v), json);
}

static void want_int(json_t *v, int64_t got, const char *what, const char *json)
{
    int64_t want = json_is_integer(v) ? (int64_t)json_integer_value(v) : OCSF_NONE;
    if (want != got)
        fail_msg("%s: walker %lld, jansson %lld\n%s", what, (long long)got, (long long)want, json);
}

static void compare_walk(const char *json, size_t len)
{
    rep__net_t n;
    json_t *o = json_loadb(json, len, 0, NULL);
    int rc = rep__walk_net(json, len, &n);
    if (!o) /* not JSON to jansson: the walker is lenient on some (a missing comma,
             * \u0000), never on a cut event; no sound record holds any */
        return;
    if (!json_is_object(o)) { /* not an event */
        assert_int_equal(rc, -EBADMSG);
        json_decref(o);
        return;
    }
    char *s = strndup(json, len);
    if (rc != 0)
        fail_msg("the walker refused what jansson reads:\n%s", s);
    want_int(json_object_get(o, "activity_id"), n.activity_id, "activity_id", s);
    want_str(at(o, "dst_endpoint.domain"), n.domain, "dst_endpoint.domain", s);
    want_str(at(o, "dst_endpoint.ip"), n.ip, "dst_endpoint.ip", s);
    want_int(at(o, "dst_endpoint.port"), n.port, "dst_endpoint.port", s);
    want_str(at(o, "http_request.url.hostname"), n.url_host, "url.hostname", s);
    want_int(at(o, "http_request.url.port"), n.url_port, "url.port", s);
    want_str(at(o, "actor.process.file.path"), n.path, "file.path", s);
    want_str(at(o, "firewall_rule.type"), n.engine, "firewall_rule.type", s);
    want_str(at(o, "firewall_rule.name"), n.rule, "firewall_rule.name", s);
    want_str(json_object_get(o, "status_detail"), n.reason, "status_detail", s);
    want_str(at(o, "device.hostname"), n.hostname, "device.hostname", s);
    want_str(at(o, "metadata.product.name"), n.product, "product.name", s);
    want_str(at(o, "metadata.product.version"), n.version, "product.version", s);
    want_int(at(o, "traffic.bytes_in"), n.bytes_in, "traffic.bytes_in", s);
    want_int(at(o, "traffic.bytes_out"), n.bytes_out, "traffic.bytes_out", s);
    /* the SHA-256 of the file: the last hash that says so */
    json_t *hashes = at(o, "actor.process.file.hashes"), *h, *sha = NULL;
    size_t i;
    json_array_foreach(hashes, i, h)
    {
        json_t *alg = json_object_get(h, "algorithm");
        json_t *val = json_object_get(h, "value");
        if ((json_integer_value(json_object_get(h, "algorithm_id")) == OCSF_HASH_SHA256 ||
             (json_is_string(alg) && !strcmp(json_string_value(alg), "SHA-256"))) &&
            json_is_string(val))
            sha = val;
    }
    want_str(sha, n.sha256, "file sha256", s);
    free(s);
    json_decref(o);
}

typedef struct {
    uint64_t n;
} walk_ctx_t;

static int walk_record(void *ctx, const rep__seg_t *g, const rep__rec_t *r)
{
    (void)g;
    walk_ctx_t *w = ctx;
    if (r->crc_ok && (r->r.class_uid == OCSF_CLASS_NETWORK || r->r.class_uid == OCSF_CLASS_HTTP)) {
        compare_walk(r->r.json, r->r.json_len);
        w->n++;
    }
    return 0;
}

static void walk_event(void *ctx, const rep__seg_t *g, rep__seg_event_t ev, uint64_t off)
{
    (void)ctx, (void)g, (void)ev, (void)off;
}

static void test_walker_matches_jansson(void **state)
{
    (void)state;
    rep__segs_t segs;
    char err[256];
    assert_int_equal(rep__segs_list(spool, &segs, err, sizeof err), 0);
    walk_ctx_t w = {0};
    rep__scan_cb_t cb = {NULL, walk_record, walk_event, &w};
    for (size_t i = 0; i < segs.n; i++)
        assert_int_equal(rep__scan_segment(&segs.v[i], &cb, NULL), 0);
    rep__segs_dispose(&segs);
    assert_true(w.n > 3000);
    static const char *const hand[] = {
        "{}",
        " { \"activity_id\" : 5 , \"dst_endpoint\" : { \"ip\" : \"::1\" , \"port\" : 0 } } ",
        "{\"dst_endpoint\":{\"domain\":\"a\\u0000b\"}}",
        "{\"dst_endpoint\":{\"domain\":\"\\ud83d\\ude00\\u00e9\\\\\\/\\b\\f\\n\\r\\t\"}}",
        "{\"dst_endpoint\":{\"domain\":7,\"port\":\"443\"},\"activity_id\":1.5}",
        "{\"dst_endpoint\":null,\"traffic\":[1,2],\"actor\":{\"process\":null}}",
        "{\"traffic\":{\"bytes_in\":-12,\"bytes_out\":1e2}}",
        "{\"x\":{\"dst_endpoint\":{\"domain\":\"nested, not read\"}},\"status_detail\":\"}\"}",
        "{\"actor\":{\"process\":{\"file\":{\"hashes\":[{\"algorithm_id\":3,\"value\":\"a\"},"
        "{\"algorithm_id\":1,\"value\":\"b\"},7,{\"value\":\"c\",\"algorithm\":\"SHA-256\"}]}}}}",
        "{\"metadata\":{\"product\":{\"name\":\"n\\\"\",\"version\":[\"1\"]}},\"device\":{}}",
        "{\"status_detail\":\"a\\\\\",\"firewall_rule\":{\"type\":\"\\\\\\\"\"}}",
        "{\"http_request\":{\"url\":{\"hostname\":\"h\",\"port\":65536}}}",
        "{\"a\":[{\"b\":[[],{}]}],\"activity_id\":-0}",
        "{\"activity_id\":1", /* not JSON */
        "[1]",
        "{\"dst_endpoint\":{\"domain\":\"x\" \"port\":1}}",
    };
    for (size_t i = 0; i < sizeof hand / sizeof hand[0]; i++)
        compare_walk(hand[i], strlen(hand[i]));
    static const char *const bad[] = {"{\"activity_id\":1", "[1]", "", "{\"a\":\"b}",
                                      "{\"a\":{\"b\":[}}"};
    rep__net_t n;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(rep__walk_net(bad[i], strlen(bad[i]), &n), -EBADMSG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_document),
        cmocka_unit_test(test_tampered_spools),
        cmocka_unit_test(test_table_past_its_cap),
        cmocka_unit_test(test_walker_matches_jansson),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
