/* Unit tests of report/: a fixture spool built with the collector API, the
 * aggregate checked against numbers the test computes itself, gaps, a
 * tampered record, drops, filters, the field extractor and the escaping of
 * every renderer. */
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "report/rep_internal.h"

#define T0     1795737600000LL /* 2026-11-27T00:00:00Z */
#define NEV    600
#define MINUTE 60000LL

static char tmpdir[256], spool[300];

/* ---- the fixture ------------------------------------------------------------- */

static const char *const SB[] = {"alpha", "beta", "gamma"};
static const char *const SHA_CURL =
    "5f1b1a0e4f5d8c2e7b9a3c6d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b";
static const char *const SHA_PY =
    "9c56cc51b374c3ba189210d5b6d4bf57790d351c96c47c02190ecf1e430635ab";
static const char *const SHA_NODE =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
static const ocsf_product_t PROXY = {OCSF_STR("tollgate-proxy"), OCSF_STR("tollgate"),
                                     OCSF_STR("0.1.0")};
static const ocsf_product_t GW = {OCSF_STR("tollgate-gateway"), OCSF_STR("tollgate"),
                                  OCSF_STR("0.1.0")};

/* What the test expects, computed as it appends. */
typedef struct {
    uint64_t seq; /* last assigned */
    uint64_t events, allowed_ev, denied_ev, none_ev;
    uint64_t sb_events[3], sb_allowed[3], sb_denied[3], sb_closes[3];
    int64_t sb_in[3], sb_out[3];
    uint64_t attacker, attacker_first, attacker_last, metadata, github_allowed, pypi, npm;
    uint64_t curl_allowed, curl_denied, py_allowed, py_denied;
    uint64_t policies, findings_hash, findings_ssrf, creates;
    uint64_t decisions_allowed, decisions_denied;
    uint64_t by_class_net, by_class_http;
} expect_t;

static expect_t X;

/* Like proxy/decide.c's base(): a connection event of a sandbox. */
static void net(ocsf_event_t *ev, int cls, int act, int64_t t, int sb, const char *exe,
                const char *sha, const char *host, int port)
{
    ocsf_event_init(ev);
    ocsf_event_begin(ev, cls, act, OCSF_SEV_INFO, t, &PROXY);
    ev->log_name = OCSF_STR("sandbox");
    ev->device_hostname = OCSF_STR("devbox");
    ev->device_type_id = 0;
    ev->container_name = ocsf_str(SB[sb]);
    ev->container_uid = OCSF_STR("sbx-1");
    ev->actor.pid = 100 + sb;
    ev->actor.name = ocsf_str(exe);
    ev->actor.cmd_line = OCSF_STR("tool <redacted>");
    ocsf_process_set_file(&ev->actor, ocsf_str(exe), ocsf_str(sha));
    ev->src.ip = OCSF_STR("10.200.0.2");
    ev->src.port = 40000;
    ev->dst.domain = ocsf_str(host);
    ev->dst.port = port;
}

static void put(col_t *c, ocsf_event_t *ev)
{
    char err[256];
    uint64_t t;
    if (col_append(c, ev, &t, err, sizeof err) != 0)
        fail_msg("col_append: %s", err);
    X.seq++;
}

static void config(col_t *c, int64_t t, int sb, int version, const char *hash, const char *msg)
{
    ocsf_event_t ev;
    char v[16];
    snprintf(v, sizeof v, "%d", version);
    ocsf_event_init(&ev);
    ocsf_event_begin(&ev, OCSF_CLASS_CONFIG, OCSF_CONFIG_LOG, OCSF_SEV_INFO, t, &GW);
    ev.log_name = OCSF_STR("gateway");
    ev.device_hostname = OCSF_STR("devbox");
    ev.device_type_id = 0;
    ev.container_name = ocsf_str(SB[sb]);
    ev.state_id = OCSF_OTHER;
    ev.state_other = OCSF_STR("updated");
    ev.message = ocsf_str(msg);
    ev.status_id = OCSF_STATUS_SUCCESS;
    ev.policy_name = ocsf_str(SB[sb]);
    ev.policy_version = ocsf_str(v);
    ev.policy_uid = ocsf_str(hash);
    put(c, &ev);
    X.events++, X.none_ev++, X.sb_events[sb]++, X.policies++;
}

static void lifecycle(col_t *c, int64_t t, int sb, const char *what)
{
    ocsf_event_t ev;
    ocsf_event_init(&ev);
    ocsf_event_begin(&ev, OCSF_CLASS_LIFECYCLE, OCSF_OTHER, OCSF_SEV_INFO, t, &GW);
    ev.activity_other = ocsf_str(what);
    ev.log_name = OCSF_STR("gateway");
    ev.device_hostname = OCSF_STR("devbox");
    ev.device_type_id = 0;
    ev.container_name = ocsf_str(SB[sb]);
    ev.app = (ocsf_product_t){ocsf_str(SB[sb]), OCSF_STR("tollgate"), OCSF_NOSTR};
    ev.status_id = OCSF_STATUS_SUCCESS;
    put(c, &ev);
    X.events++, X.none_ev++, X.sb_events[sb]++, X.creates++;
}

static void finding(col_t *c, int64_t t, int sb, const char *uid, const char *title)
{
    ocsf_event_t ev;
    net(&ev, OCSF_CLASS_FINDING, OCSF_FINDING_CREATE, t, sb, "/usr/bin/curl", SHA_NODE, NULL, 0);
    const ocsf_endpoint_t none = {.port = OCSF_NONE};
    ev.severity_id = OCSF_SEV_HIGH;
    ev.src = ev.dst = ev.proxy = none;
    ev.finding_uid = ocsf_str(uid);
    ev.finding_type = ocsf_str(uid);
    ev.finding_title = ocsf_str(title);
    ev.confidence_id = OCSF_CONF_HIGH;
    ev.status_id = OCSF_FSTATUS_NEW;
    ev.message = OCSF_STR("evidence text");
    ev.unmapped = OCSF_STR("{\"pinned_sha256\":\"aa\",\"sha256\":\"bb\"}");
    put(c, &ev);
    X.events++, X.none_ev++, X.sb_events[sb]++;
}

/* Event i of the regular traffic. */
static void traffic(col_t *c, int i)
{
    ocsf_event_t ev;
    int sb = (i / 6) % 3;        /* every kind of event in every sandbox */
    int64_t t = T0 + i * MINUTE; /* 600 minutes: 10 hours of one day */
    bool allowed = true, decision = true;
    switch (i % 6) {
    case 0:
        net(&ev, OCSF_CLASS_NETWORK, OCSF_NET_OPEN, t, sb, "/usr/bin/curl", SHA_CURL,
            "api.github.com", 443);
        ocsf_event_verdict(&ev, true, OCSF_STR("github_api"), OCSF_STR("policy"), OCSF_NOSTR);
        X.github_allowed++, X.curl_allowed++;
        break;
    case 1:
        net(&ev, OCSF_CLASS_NETWORK, OCSF_NET_OPEN, t, sb, "/usr/bin/curl", SHA_CURL,
            "attacker.example.com", 443);
        ocsf_event_verdict(&ev, false, OCSF_NOSTR, OCSF_STR("policy"),
                           OCSF_STR("endpoint attacker.example.com:443 is not allowed by any "
                                    "policy"));
        allowed = false;
        if (!X.attacker)
            X.attacker_first = X.seq + 1;
        X.attacker_last = X.seq + 1;
        X.attacker++, X.curl_denied++;
        break;
    case 2:
        net(&ev, OCSF_CLASS_NETWORK, OCSF_NET_CLOSE, t, sb, "/usr/bin/curl", SHA_CURL,
            "api.github.com", 443);
        ocsf_event_verdict(&ev, true, OCSF_STR("github_api"), OCSF_STR("policy"), OCSF_NOSTR);
        ev.bytes_in = 1000 + i;
        ev.bytes_out = 10 + i;
        ev.start_time = t - 500, ev.end_time = t, ev.duration = 500;
        X.sb_in[sb] += 1000 + i, X.sb_out[sb] += 10 + i, X.sb_closes[sb]++;
        decision = false;
        break;
    case 3:
        net(&ev, OCSF_CLASS_HTTP, 3, t, sb, "/usr/bin/node", SHA_NODE, "registry.npmjs.org", 80);
        ev.http_method = OCSF_STR("GET");
        ev.url_scheme = OCSF_STR("http");
        ev.url_hostname = OCSF_STR("registry.npmjs.org");
        ev.url_port = 80;
        ev.url_path = OCSF_STR("/left-pad");
        ocsf_event_verdict(&ev, true, OCSF_STR("npm"), OCSF_STR("policy"), OCSF_NOSTR);
        X.npm++, X.by_class_http++;
        break;
    case 4:
        net(&ev, OCSF_CLASS_NETWORK, OCSF_NET_OPEN, t, sb, "/usr/bin/python3.11", SHA_PY,
            "169.254.169.254", 80);
        ev.dst.ip = OCSF_STR("169.254.169.254");
        ocsf_event_verdict(&ev, false, OCSF_STR("link_local"), OCSF_STR("ssrf"),
                           OCSF_STR("169.254.169.254 is a link-local address"));
        allowed = false;
        X.metadata++, X.py_denied++;
        break;
    default:
        net(&ev, OCSF_CLASS_NETWORK, OCSF_NET_OPEN, t, sb, "/usr/bin/python3.11", SHA_PY,
            "pypi.org", 443);
        ocsf_event_verdict(&ev, true, OCSF_STR("pypi"), OCSF_STR("policy"), OCSF_NOSTR);
        X.pypi++, X.py_allowed++;
        break;
    }
    put(c, &ev);
    X.events++, X.sb_events[sb]++;
    if (ev.class_uid == OCSF_CLASS_NETWORK)
        X.by_class_net++;
    allowed ? X.allowed_ev++ : X.denied_ev++;
    if (decision) {
        allowed ? X.sb_allowed[sb]++ : X.sb_denied[sb]++;
        allowed ? X.decisions_allowed++ : X.decisions_denied++;
    }
}

static int setup(void **state)
{
    (void)state;
    if (unit_tmpdir_make(tmpdir, sizeof tmpdir, "rep") != 0)
        return -1;
    snprintf(spool, sizeof spool, "%s/spool", tmpdir);
    memset(&X, 0, sizeof X);
    col_config_t cfg;
    col_config_default(&cfg);
    cfg.spool_dir = spool;
    cfg.fsync = COL_FSYNC_NEVER;
    cfg.segment_bytes = 64 << 10; /* several segments */
    cfg.ring_bytes = 1 << 20;
    col_t *c = NULL;
    char err[256];
    if (col_create(&cfg, &c, err, sizeof err) != 0)
        fail_msg("col_create: %s", err);
    lifecycle(c, T0 - 2 * MINUTE, 0, "Create");
    config(c, T0 - MINUTE, 0, 1, "1111", "policy created for sandbox alpha");
    for (int i = 0; i < NEV; i++) {
        traffic(c, i);
        if (i == 200)
            config(c, T0 + i * MINUTE, 1, 2, "2222",
                   "policy updated for sandbox beta: add-endpoint");
        if (i == 300) {
            finding(c, T0 + i * MINUTE, 2, "binary_hash_changed", "pinned binary changed");
            X.findings_hash++;
        }
        if (i == 301) {
            finding(c, T0 + i * MINUTE, 2, "ssrf_attempt", "blocked an internal address");
            X.findings_ssrf++;
        }
    }
    col_destroy(c);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unit_tmpdir_remove(tmpdir);
    return 0;
}

static json_t *run(int64_t since, int64_t until, const char *const *sbs, size_t nsb)
{
    rep_options_t o;
    rep_options_init(&o);
    o.state_dir = tmpdir;
    o.since_ms = since;
    o.until_ms = until;
    o.sandboxes = sbs;
    o.nsandboxes = nsb;
    o.top = 50;
    json_t *doc = NULL;
    char err[512];
    if (rep_run(&o, &doc, err, sizeof err) != 0)
        fail_msg("rep_run: %s", err);
    return doc;
}

static json_t *get(json_t *o, const char *path)
{
    json_t *v = rep__json_at(o, path);
    if (!v)
        fail_msg("no %s in the document", path);
    return v;
}

static json_int_t num(json_t *doc, const char *path)
{
    return json_integer_value(get(doc, path));
}

/* The row of array `arr` whose `key` is the string `val`. */
static json_t *row(json_t *arr, const char *key, const char *val)
{
    size_t i;
    json_t *r;
    json_array_foreach(arr, i, r)
    {
        const char *s = json_string_value(json_object_get(r, key));
        if (s && !strcmp(s, val))
            return r;
    }
    fail_msg("no row %s=%s", key, val);
    return NULL;
}

static json_int_t rnum(json_t *r, const char *k)
{
    return json_integer_value(json_object_get(r, k));
}

/* ---- tests -------------------------------------------------------------------------- */

static void test_numbers_match(void **state)
{
    (void)state;
    json_t *doc = run(OCSF_NONE, OCSF_NONE, NULL, 0);
    assert_int_equal(num(doc, "scope.first_sequence"), 1);
    assert_int_equal(num(doc, "scope.last_sequence"), X.seq);
    assert_int_equal(num(doc, "scope.events_in_scope"), X.events);
    assert_int_equal(num(doc, "completeness.records_read"), X.seq);
    assert_int_equal(num(doc, "completeness.gaps_total"), 0);
    assert_string_equal(json_string_value(get(doc, "completeness.verify.result")), "pass");
    assert_int_equal(num(doc, "completeness.verify.records_checked"), X.seq);
    assert_true(rep_doc_clean(doc));
    json_t *v = get(doc, "activity.by_verdict");
    /* Allowed / Denied count decisions, as the other tables do; the rest of
     * each action has its own row, so the rows add up to every event */
    assert_int_equal(rnum(row(v, "verdict", "Allowed"), "events"), X.decisions_allowed);
    assert_int_equal(rnum(row(v, "verdict", "Denied"), "events"), X.decisions_denied);
    assert_true(X.allowed_ev > X.decisions_allowed);
    assert_int_equal(
        rnum(row(v, "verdict", "Allowed, not a decision (NET:CLOSE, NET:FAIL, ...)"), "events"),
        X.allowed_ev - X.decisions_allowed);
    if (X.denied_ev > X.decisions_denied)
        assert_int_equal(rnum(row(v, "verdict", "Denied, not a decision"), "events"),
                         X.denied_ev - X.decisions_denied);
    assert_int_equal(rnum(row(v, "verdict", "(none)"), "events"), X.none_ev);
    json_t *cls = get(doc, "activity.by_class");
    assert_int_equal(rnum(row(cls, "class", "Network Activity"), "events"), X.by_class_net);
    assert_int_equal(rnum(row(cls, "class", "HTTP Activity"), "events"), X.by_class_http);
    assert_int_equal(rnum(row(cls, "class", "Detection Finding"), "events"), 2);
    assert_int_equal(num(doc, "activity.decisions.allowed"), X.decisions_allowed);
    assert_int_equal(num(doc, "activity.decisions.denied"), X.decisions_denied);
    for (int s = 0; s < 3; s++) {
        json_t *r = row(get(doc, "activity.by_sandbox"), "sandbox", SB[s]);
        assert_int_equal(rnum(r, "events"), X.sb_events[s]);
        assert_int_equal(rnum(r, "allowed"), X.sb_allowed[s]);
        assert_int_equal(rnum(r, "denied"), X.sb_denied[s]);
        assert_true(X.sb_closes[s] > 0);
        json_t *t = row(get(doc, "activity.traffic"), "sandbox", SB[s]);
        assert_int_equal(rnum(t, "closes"), X.sb_closes[s]);
        assert_int_equal(rnum(t, "bytes_in"), X.sb_in[s]);
        assert_int_equal(rnum(t, "bytes_out"), X.sb_out[s]);
    }
    json_t *d =
        row(get(doc, "activity.destinations_denied"), "destination", "attacker.example.com:443");
    assert_int_equal(rnum(d, "events"), X.attacker);
    assert_int_equal(rnum(d, "first_sequence"), X.attacker_first);
    assert_int_equal(rnum(d, "last_sequence"), X.attacker_last);
    assert_non_null(strstr(json_string_value(json_object_get(d, "reason")), "policy: endpoint"));
    assert_int_equal(
        rnum(row(get(doc, "activity.destinations_denied"), "destination", "169.254.169.254:80"),
             "events"),
        X.metadata);
    json_t *al = get(doc, "activity.destinations_allowed");
    assert_int_equal(rnum(row(al, "destination", "api.github.com:443"), "events"),
                     X.github_allowed);
    assert_int_equal(rnum(row(al, "destination", "pypi.org:443"), "events"), X.pypi);
    assert_int_equal(rnum(row(al, "destination", "registry.npmjs.org:80"), "events"), X.npm);
    json_t *curl = row(get(doc, "activity.binaries"), "sha256", SHA_CURL);
    assert_string_equal(json_string_value(json_object_get(curl, "path")), "/usr/bin/curl");
    assert_int_equal(rnum(curl, "allowed"), X.curl_allowed);
    assert_int_equal(rnum(curl, "denied"), X.curl_denied);
    json_t *py = row(get(doc, "activity.binaries"), "sha256", SHA_PY);
    assert_int_equal(rnum(py, "allowed"), X.py_allowed);
    assert_int_equal(rnum(py, "denied"), X.py_denied);
    json_t *eng = get(doc, "activity.denials_by_engine");
    assert_int_equal(rnum(row(eng, "engine", "ssrf"), "events"), X.metadata);
    assert_int_equal(rnum(row(eng, "engine", "policy"), "events"), X.attacker);
    /* per day: the creation events are at T0 - 2 min, the day before; every
     * decision is on 2026-11-27 */
    assert_int_equal(json_array_size(get(doc, "activity.per_day")), 2);
    json_t *day0 = json_array_get(get(doc, "activity.per_day"), 0);
    assert_string_equal(json_string_value(json_object_get(day0, "day")), "2026-11-26");
    assert_int_equal(rnum(day0, "other_events"), 2);
    assert_int_equal(rnum(day0, "first_sequence"), 1);
    assert_int_equal(rnum(day0, "last_sequence"), 2);
    json_t *day = json_array_get(get(doc, "activity.per_day"), 1);
    assert_string_equal(json_string_value(json_object_get(day, "day")), "2026-11-27");
    assert_int_equal(rnum(day, "allowed"), X.decisions_allowed);
    assert_int_equal(rnum(day, "denied"), X.decisions_denied);
    assert_int_equal(rnum(day, "other_events"),
                     X.events - 2 - X.decisions_allowed - X.decisions_denied);
    assert_int_equal(json_array_size(get(doc, "activity.per_hour")), 11); /* 23h + 0h..9h */
    /* changes and findings */
    assert_int_equal(num(doc, "changes.policy_events_total"), X.policies);
    json_t *p = json_array_get(get(doc, "changes.policy_events"), 1);
    assert_string_equal(json_string_value(json_object_get(p, "version")), "2");
    assert_string_equal(json_string_value(json_object_get(p, "hash")), "2222");
    assert_string_equal(json_string_value(json_object_get(p, "sandbox")), "beta");
    assert_int_equal(num(doc, "changes.lifecycle_total"), X.creates);
    json_t *fs = get(doc, "findings.summary");
    assert_int_equal(rnum(row(fs, "kind", "binary_hash_change"), "events"), X.findings_hash);
    assert_int_equal(rnum(row(fs, "kind", "ssrf_attempt"), "events"), X.findings_ssrf);
    assert_int_equal(rnum(row(fs, "kind", "bypass_attempt"), "events"), 0);
    json_t *f0 = json_array_get(get(doc, "findings.events"), 0);
    assert_string_equal(json_string_value(json_object_get(f0, "sha256")), SHA_NODE);
    assert_non_null(strstr(json_string_value(json_object_get(f0, "evidence")), "pinned_sha256"));
    json_decref(doc);
}

static void test_period_and_sandbox_filters(void **state)
{
    (void)state;
    /* minutes 100..199 inclusive, sandbox beta only */
    const char *only[] = {"beta"};
    json_t *doc = run(T0 + 100 * MINUTE, T0 + 199 * MINUTE, only, 1);
    uint64_t ev = 0, denied = 0, attacker = 0;
    for (int i = 100; i <= 199; i++) {
        if ((i / 6) % 3 != 1)
            continue;
        ev++;
        denied += i % 6 == 1 || i % 6 == 4;
        attacker += i % 6 == 1;
    }
    assert_int_equal(num(doc, "scope.events_in_period"), 100);
    assert_int_equal(num(doc, "scope.events_in_scope"), ev);
    assert_int_equal(num(doc, "activity.decisions.denied"), denied);
    assert_int_equal(rnum(row(get(doc, "activity.destinations_denied"), "destination",
                              "attacker.example.com:443"),
                          "events"),
                     attacker);
    assert_int_equal(json_array_size(get(doc, "activity.by_sandbox")), 1);
    /* traffic 100..199 are seqs 102..201 (two events before the first) */
    assert_int_equal(num(doc, "scope.first_sequence"), 103);
    assert_int_equal(num(doc, "scope.last_sequence"), 202);
    json_decref(doc);
}

static void test_gap_is_listed(void **state)
{
    (void)state;
    rep__segs_t segs;
    char err[256];
    assert_int_equal(rep__segs_list(spool, &segs, err, sizeof err), 0);
    assert_true(segs.n >= 4);
    rep__seg_t mid = segs.v[segs.n / 2], next = segs.v[segs.n / 2 + 1];
    rep__segs_dispose(&segs);
    assert_int_equal(unlink(mid.path), 0);
    json_t *doc = run(OCSF_NONE, OCSF_NONE, NULL, 0);
    assert_int_equal(num(doc, "completeness.gaps_total"), 1);
    json_t *g = json_array_get(get(doc, "completeness.gaps"), 0);
    assert_int_equal(rnum(g, "from_sequence"), mid.first_seq);
    assert_int_equal(rnum(g, "to_sequence"), next.first_seq - 1);
    assert_int_equal(num(doc, "completeness.missing_sequences"), next.first_seq - mid.first_seq);
    assert_string_equal(json_string_value(get(doc, "completeness.verify.result")), "fail");
    assert_string_equal(json_string_value(get(doc, "completeness.verify.first_bad.kind")),
                        "sequence");
    assert_int_equal(num(doc, "completeness.verify.first_bad.sequence"), mid.first_seq);
    assert_int_equal(num(doc, "completeness.records_read"),
                     X.seq - (next.first_seq - mid.first_seq));
    assert_false(rep_doc_clean(doc));
    json_decref(doc);
}

static void test_tampered_record_is_named(void **state)
{
    (void)state;
    char path[400];
    snprintf(path, sizeof path, "%s/seg-%020d.tgs", spool, 1);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    static unsigned char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    unsigned char *at = memmem(buf, n, "attacker.example.com", 20);
    assert_non_null(at);
    /* the record holding it: walk back to its magic */
    unsigned char *rec = at;
    while (rec > buf && memcmp(rec, "TGRC", 4) != 0)
        rec--;
    uint64_t seq = col__get64(rec + 12);
    at[0] ^= 0x20;
    fseek(f, at - buf, SEEK_SET);
    fwrite(at, 1, 1, f);
    fclose(f);
    json_t *doc = run(OCSF_NONE, OCSF_NONE, NULL, 0);
    assert_string_equal(json_string_value(get(doc, "completeness.verify.result")), "fail");
    assert_int_equal(num(doc, "completeness.verify.first_bad.sequence"), seq);
    assert_string_equal(json_string_value(get(doc, "completeness.verify.first_bad.kind")), "crc");
    assert_int_equal(num(doc, "completeness.verify.problems_total"), 1);
    assert_int_equal(num(doc, "completeness.unreadable_records"), 1);
    assert_int_equal(num(doc, "completeness.gaps_total"), 0); /* altered, not missing */
    /* the rest was read and verified past it */
    assert_int_equal(num(doc, "completeness.verify.records_checked"), X.seq);
    assert_int_equal(rnum(row(get(doc, "activity.destinations_denied"), "destination",
                              "attacker.example.com:443"),
                          "events"),
                     X.attacker - 1);
    json_decref(doc);
}

static void test_drops_and_exporters(void **state)
{
    (void)state;
    col_config_t cfg;
    col_config_default(&cfg);
    cfg.spool_dir = spool;
    cfg.fsync = COL_FSYNC_NEVER;
    cfg.segment_bytes = 64 << 10;
    col_t *c = NULL;
    char err[256];
    assert_int_equal(col_create(&cfg, &c, err, sizeof err), 0);
    ocsf_event_t ev; /* what collector.c's self_event writes for a drop */
    ocsf_event_init(&ev);
    ocsf_event_begin(&ev, OCSF_CLASS_CONFIG, OCSF_CONFIG_LOG, OCSF_SEV_HIGH, T0 + 700 * MINUTE,
                     &GW);
    ev.state_id = OCSF_OTHER;
    ev.state_other = OCSF_STR("dropped");
    ev.message = OCSF_STR("7 events dropped: the spool could not keep up");
    ev.status_id = OCSF_STATUS_FAILURE;
    ev.log_name = OCSF_STR("gateway");
    ev.device_hostname = OCSF_STR("devbox");
    ev.device_type_id = 0;
    put(c, &ev);
    uint64_t drop_seq = X.seq;
    col_destroy(c);
    char path[400];
    snprintf(path, sizeof path, "%s/exporters", tmpdir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/exporters/siem.ckpt", tmpdir);
    FILE *f = fopen(path, "w");
    fprintf(f, "300\n");
    fclose(f);
    snprintf(path, sizeof path, "%s/dlq", tmpdir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/dlq/siem.jsonl", tmpdir);
    f = fopen(path, "w");
    fprintf(f, "{\"exporter\":\"siem\",\"sequence\":5,\"reason\":\"too big\",\"event\":{}}\n"
               "{\"exporter\":\"siem\",\"sequence\":250,\"reason\":\"x\",\"event\":{}}\n");
    fclose(f);
    json_t *doc = run(T0, OCSF_NONE, NULL, 0); /* from seq 3: dead letter 5 is in, 250 too */
    assert_int_equal(num(doc, "completeness.drops.events_dropped"), 7);
    assert_int_equal(rnum(json_array_get(get(doc, "completeness.drops.reports"), 0), "sequence"),
                     drop_seq);
    assert_false(rep_doc_clean(doc));
    json_t *x = row(get(doc, "completeness.exporters"), "exporter", "siem");
    assert_int_equal(rnum(x, "checkpoint"), 300);
    assert_int_equal(rnum(x, "pending_in_period"), X.seq - 300);
    assert_int_equal(rnum(x, "dead_letters"), 2);
    assert_int_equal(rnum(x, "dead_letters_in_period"), 2);
    assert_string_equal(json_string_value(json_object_get(x, "first_dead_letter_reason")),
                        "too big");
    json_decref(doc);
}

static void test_walker(void **state)
{
    (void)state;
    const char *j = " { \"x\" : [1, {\"a\":\"}\"}], \"dst_endpoint\": {\"domain\":\"a\\u0062c\\\"."
                    "example\", \"port\": 8443 }, \"traffic\":{\"bytes_in\":12,\"bytes_out\":1.5},"
                    "\"actor\":{\"process\":{\"file\":{\"hashes\":[{\"algorithm_id\":1,\"value\":"
                    "\"md5\"},{\"algorithm_id\":3,\"value\":\"abc\"}],\"path\":\"/bin/x\"}}}}";
    rep__net_t n;
    assert_int_equal(rep__walk_net(j, strlen(j), &n), 0);
    char buf[64];
    rep__sv_copy(n.domain, buf, sizeof buf);
    assert_string_equal(buf, "abc\".example");
    assert_int_equal(n.port, 8443);
    assert_int_equal(n.bytes_in, 12);
    assert_int_equal(n.bytes_out, OCSF_NONE); /* not an integer: absent */
    rep__sv_copy(n.sha256, buf, sizeof buf);
    assert_string_equal(buf, "abc");
    rep__sv_copy(n.path, buf, sizeof buf);
    assert_string_equal(buf, "/bin/x");
    /* every prefix of a real event: no crash, no read past the end */
    ocsf_event_t evs[MAX_SAMPLES];
    size_t ns = ocsf_samples(evs, MAX_SAMPLES);
    for (size_t s = 0; s < ns; s++) {
        char *full = unit_encode(&evs[s]);
        size_t len = strlen(full);
        assert_int_equal(rep__walk_net(full, len, &n), 0);
        for (size_t k = 0; k < len; k++) {
            char *cut = malloc(k + 1);
            memcpy(cut, full, k);
            assert_int_equal(rep__walk_net(cut, k, &n), -EBADMSG);
            free(cut);
        }
        free(full);
    }
}

static void test_escaping_in_every_format(void **state)
{
    (void)state;
    col_config_t cfg;
    col_config_default(&cfg);
    cfg.spool_dir = spool;
    cfg.fsync = COL_FSYNC_NEVER;
    col_t *c = NULL;
    char err[256];
    assert_int_equal(col_create(&cfg, &c, err, sizeof err), 0);
    ocsf_event_t ev;
    const char *evil = "<script>alert(1)</script>|x\x1b[31m\nnext=1";
    net(&ev, OCSF_CLASS_NETWORK, OCSF_NET_OPEN, T0 + 5, 0, "/usr/bin/curl", SHA_CURL, evil, 443);
    ocsf_event_verdict(&ev, false, OCSF_NOSTR, OCSF_STR("policy"), ocsf_str(evil));
    put(c, &ev);
    col_destroy(c);
    json_t *doc = run(OCSF_NONE, OCSF_NONE, NULL, 0);
    char *out;
    size_t len;
    for (int fmt = REP_MD; fmt <= REP_JSON; fmt++) {
        FILE *f = open_memstream(&out, &len);
        if (fmt == REP_CSV)
            assert_int_equal(rep_render_table(doc, "denied_destinations", REP_CSV, f), 0);
        else
            assert_int_equal(rep_render(doc, (rep_format_t)fmt, f), 0);
        fclose(f);
        assert_null(memchr(out, '\x1b', len)); /* no raw terminal escape anywhere */
        if (fmt == REP_MD || fmt == REP_HTML)
            assert_null(strstr(out, "<script>"));
        if (fmt == REP_HTML) {
            assert_non_null(strstr(out, "&lt;script&gt;alert(1)&lt;/script&gt;"));
            assert_non_null(strstr(out, "<svg class=\"chart\" id=\"chart-hours\""));
            assert_non_null(strstr(out, "id=\"chart-denied\""));
            assert_non_null(strstr(out, "id=\"chart-policies\""));
            assert_null(strstr(out, "<script"));
            assert_null(strstr(out, "http://") == NULL ? NULL : strstr(out, "src=\"http"));
        }
        if (fmt == REP_MD) { /* every table line has as many cells as its header */
            char *save, *line = strtok_r(out, "\n", &save);
            int want = -1;
            for (; line; line = strtok_r(NULL, "\n", &save)) {
                if (line[0] != '|') {
                    want = -1;
                    continue;
                }
                int cells = 0;
                for (char *p = line; *p; p++)
                    if (*p == '\\' && p[1])
                        p++;
                    else if (*p == '|')
                        cells++;
                if (want < 0)
                    want = cells;
                assert_int_equal(cells, want);
            }
        }
        if (fmt == REP_CSV) /* a formula-looking cell is defused */
            assert_null(strstr(out, "\n="));
        free(out);
    }
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_numbers_match, setup, teardown),
        cmocka_unit_test_setup_teardown(test_period_and_sandbox_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gap_is_listed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_record_is_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drops_and_exporters, setup, teardown),
        cmocka_unit_test(test_walker),
        cmocka_unit_test_setup_teardown(test_escaping_in_every_format, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
