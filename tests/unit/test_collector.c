/* Unit tests of the collector: ring, spool, recovery, verify, readers. */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "collector/col_internal.h"

#define T0 1795737600000LL

static char tmpdir[256], spool[300];

static int setup_dir(void **state)
{
    (void)state;
    if (unit_tmpdir_make(tmpdir, sizeof tmpdir, "col") != 0)
        return -1;
    snprintf(spool, sizeof spool, "%s/spool", tmpdir);
    return 0;
}

static int teardown_dir(void **state)
{
    (void)state;
    unit_tmpdir_remove(tmpdir);
    return 0;
}

static col_t *open_col(int fsync, int64_t seg_bytes, int64_t ring_bytes)
{
    col_config_t cfg;
    col_config_default(&cfg);
    cfg.spool_dir = spool;
    cfg.fsync = fsync;
    cfg.segment_bytes = seg_bytes;
    cfg.ring_bytes = ring_bytes;
    cfg.drop_report_ms = 10;
    col_t *c = NULL;
    char err[256];
    if (col_create(&cfg, &c, err, sizeof err) != 0)
        fail_msg("col_create: %s", err);
    return c;
}

/* A small event: id in time, sandbox "sb<k>", class 4001 or 6002. */
static void make_event(ocsf_event_t *ev, int64_t id, int k, bool denied)
{
    static const ocsf_product_t p = {OCSF_STR("t"), OCSF_STR("tollgate"), OCSF_STR("0")};
    static const char *const names[] = {"sb0", "sb1", "sb2", "sb3"};
    ocsf_event_init(ev);
    ocsf_event_begin(ev, OCSF_CLASS_NETWORK, OCSF_NET_OPEN, OCSF_SEV_INFO, T0 + id, &p);
    ev->log_name = OCSF_STR("sandbox");
    ev->container_name = ocsf_str(names[k & 3]);
    ev->device_type_id = 0;
    ev->dst.domain = OCSF_STR("example.com");
    ev->dst.port = 443;
    ocsf_event_verdict(ev, !denied, OCSF_NOSTR, OCSF_STR("policy"), OCSF_NOSTR);
}

static uint64_t append(col_t *c, ocsf_event_t *ev)
{
    uint64_t t = 0;
    char err[128];
    int rc = col_append(c, ev, &t, err, sizeof err);
    if (rc)
        fail_msg("col_append: %d %s", rc, err);
    return t;
}

typedef struct {
    uint64_t n, last_seq, first_seq;
    int64_t times[4096];
    size_t ntimes;
    bool json_seq_ok;
} seen_t;

static int count_cb(const col_record_t *r, void *ctx)
{
    seen_t *s = ctx;
    if (s->n && r->seq <= s->last_seq)
        fail_msg("sequence %llu after %llu", (unsigned long long)r->seq,
                 (unsigned long long)s->last_seq);
    if (!s->n)
        s->first_seq = r->seq;
    s->last_seq = r->seq;
    s->n++;
    if (s->ntimes < 4096)
        s->times[s->ntimes++] = r->time;
    char want[48];
    snprintf(want, sizeof want, "\"sequence\":%llu,", (unsigned long long)r->seq);
    if (!memmem(r->json, r->json_len, want, strlen(want)))
        s->json_seq_ok = false;
    return 0;
}

static void append_query_restart(void **state)
{
    (void)state;
    col_t *c = open_col(COL_FSYNC_INTERVAL, 64 << 20, 1 << 16);
    ocsf_event_t ev;
    uint64_t t = 0;
    for (int i = 0; i < 1000; i++) {
        make_event(&ev, i, i, false);
        t = append(c, &ev);
    }
    assert_int_equal(col_wait_durable(c, t, 5000), 0);
    col_filter_t f;
    col_filter_init(&f);
    seen_t s = {.json_seq_ok = true};
    uint64_t next;
    assert_int_equal(col_query(c, &f, count_cb, &s, &next), 0);
    assert_int_equal(s.n, 1000);
    assert_int_equal(s.first_seq, 1);
    assert_int_equal(next, 1001);
    assert_true(s.json_seq_ok);
    col_destroy(c);
    /* restart: the sequence goes on, the chain stays whole */
    c = open_col(COL_FSYNC_ALWAYS, 64 << 20, 1 << 16);
    make_event(&ev, 5000, 0, false);
    t = append(c, &ev);
    assert_int_equal(col_wait_durable(c, t, 5000), 0);
    seen_t s2 = {.json_seq_ok = true};
    assert_int_equal(col_read(c, &f, 1000, 0, count_cb, &s2, &next), 0);
    assert_int_equal(s2.n, 2);
    assert_int_equal(s2.last_seq, 1001);
    col_destroy(c);
    uint64_t recs;
    char err[256];
    assert_int_equal(col_verify(spool, &recs, err, sizeof err), 0);
    assert_int_equal(recs, 1001);
}

/* Producers */
#define NPROD    4
#define PER_PROD 250000

static col_t *shared_col;
static uint64_t last_ticket[NPROD];

static void *producer(void *arg)
{
    int k = (int)(intptr_t)arg;
    ocsf_event_t ev;
    for (int i = 0; i < PER_PROD; i++) {
        make_event(&ev, (int64_t)k * 1000000 + i, k, false);
        char err[64];
        if (col_append(shared_col, &ev, &last_ticket[k], err, sizeof err) != 0)
            abort();
    }
    return NULL;
}

typedef struct {
    uint64_t n, last;
    int64_t next_per[NPROD];
    bool ok;
} conc_t;

static int conc_cb(const col_record_t *r, void *ctx)
{
    conc_t *s = ctx;
    if (r->seq != s->last + 1)
        s->ok = false; /* a gap or a repeat */
    s->last = r->seq;
    s->n++;
    int64_t id = r->time - T0;
    int k = (int)(id / 1000000), i = (int)(id % 1000000);
    if (k < 0 || k >= NPROD || i != s->next_per[k])
        s->ok = false; /* each producer's events, once, in its order */
    else
        s->next_per[k]++;
    return 0;
}

static void concurrency(void **state)
{
    (void)state;
    shared_col = open_col(COL_FSYNC_INTERVAL, 64 << 20, 16 << 20);
    pthread_t th[NPROD];
    for (int k = 0; k < NPROD; k++)
        pthread_create(&th[k], NULL, producer, (void *)(intptr_t)k);
    for (int k = 0; k < NPROD; k++)
        pthread_join(th[k], NULL);
    col_stats_t st;
    col_stats(shared_col, &st);
    assert_int_equal(st.appended, NPROD * PER_PROD);
    uint64_t tmax = 0;
    for (int k = 0; k < NPROD; k++)
        tmax = last_ticket[k] > tmax ? last_ticket[k] : tmax;
    assert_int_equal(col_wait_durable(shared_col, tmax, 60000), 0);
    col_filter_t f;
    col_filter_init(&f);
    conc_t s = {.ok = true};
    uint64_t next;
    assert_int_equal(col_read(shared_col, &f, 1, 0, conc_cb, &s, &next), 0);
    assert_true(s.ok);
    assert_int_equal(s.n, NPROD * PER_PROD);
    for (int k = 0; k < NPROD; k++)
        assert_int_equal(s.next_per[k], PER_PROD);
    col_destroy(shared_col);
}

/* The last segment's path and size. */
static off_t last_segment(char *path, size_t n)
{
    uint64_t recs;
    char err[256];
    (void)col_verify;
    (void)recs;
    (void)err;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls %s/seg-*.tgs | tail -1", spool);
    FILE *p = popen(cmd, "r");
    if (!p || !fgets(path, (int)n, p))
        fail_msg("no segment");
    pclose(p);
    path[strcspn(path, "\n")] = '\0';
    struct stat st;
    stat(path, &st);
    return st.st_size;
}

static uint64_t count_all(col_t *c)
{
    col_filter_t f;
    col_filter_init(&f);
    seen_t s = {.json_seq_ok = true};
    uint64_t next;
    assert_int_equal(col_read(c, &f, 1, 0, count_cb, &s, &next), 0);
    assert_true(s.json_seq_ok);
    return s.n;
}

static void fill(int n, int64_t seg_bytes)
{
    col_t *c = open_col(COL_FSYNC_ALWAYS, seg_bytes, 1 << 16);
    ocsf_event_t ev;
    uint64_t t = 0;
    for (int i = 0; i < n; i++) {
        make_event(&ev, i, i, i % 3 == 0);
        t = append(c, &ev);
    }
    assert_int_equal(col_wait_durable(c, t, 5000), 0);
    col_destroy(c);
}

static void torn_tail(void **state)
{
    (void)state;
    srand(42);
    for (int round = 0; round < 12; round++) {
        teardown_dir(NULL);
        setup_dir(NULL);
        fill(300, 1 << 20);
        char path[600];
        off_t size = last_segment(path, sizeof path);
        off_t at = COL__SEG_HDR + rand() % (size - COL__SEG_HDR);
        if (round % 2 == 0) {
            assert_int_equal(truncate(path, at), 0); /* torn */
        } else {
            int fd = open(path, O_WRONLY);
            unsigned char junk = (unsigned char)(0x5a ^ (round * 31));
            pwrite(fd, &junk, 1, at); /* corrupt one byte */
            close(fd);
        }
        col_t *c = open_col(COL_FSYNC_ALWAYS, 1 << 20, 1 << 16);
        col_stats_t st;
        col_stats(c, &st);
        uint64_t n = count_all(c);
        /* everything before the damage is still there, plus one CONFIG
         * event that says what was cut */
        assert_true(n >= 1 && n <= 301);
        assert_true(st.recovered_bytes_cut > 0 || n == 301);
        ocsf_event_t ev;
        make_event(&ev, 9999, 0, false);
        uint64_t t = append(c, &ev);
        assert_int_equal(col_wait_durable(c, t, 5000), 0);
        assert_int_equal(count_all(c), n + 1);
        col_destroy(c);
        uint64_t recs;
        char err[256];
        if (col_verify(spool, &recs, err, sizeof err) != 0)
            fail_msg("round %d: verify after recovery: %s", round, err);
    }
}

static void tamper(void **state)
{
    (void)state;
    teardown_dir(NULL);
    setup_dir(NULL);
    fill(200, 64 << 20);
    char path[600], err[256];
    last_segment(path, sizeof path);
    uint64_t recs;
    assert_int_equal(col_verify(spool, &recs, err, sizeof err), 0);
    /* find record 50 and flip a byte of its JSON */
    col__scan_t s;
    assert_int_equal(col__scan_open(&s, path, COL__SEG_HDR, UINT64_MAX), 0);
    const unsigned char *p;
    col_record_t r;
    uint64_t off = 0;
    bool torn;
    while (col__scan_next(&s, true, &p, &r, &off, &torn) == 1 && r.seq != 50)
        ;
    col__scan_close(&s);
    assert_int_equal(r.seq, 50);
    int fd = open(path, O_RDWR);
    unsigned char b;
    off_t at = (off_t)off + COL__REC_HDR + (off_t)r.sandbox_len + 10;
    pread(fd, &b, 1, at);
    b ^= 0x01;
    pwrite(fd, &b, 1, at);
    assert_int_equal(col_verify(spool, &recs, err, sizeof err), -EBADMSG);
    if (!strstr(err, "sequence 50") || !strstr(err, "seg-00000000000000000001.tgs"))
        fail_msg("verify said: %s", err);
    /* a forger who also fixes the CRC still breaks the chain */
    unsigned char rec[8192];
    pread(fd, rec, sizeof rec, (off_t)off);
    uint32_t total = col__get32(rec + 4);
    col__put32(rec + 8, col__crc32c(0, rec + 12, total - 16));
    pwrite(fd, rec + 8, 4, (off_t)off + 8);
    close(fd);
    assert_int_equal(col_verify(spool, &recs, err, sizeof err), -EBADMSG);
    if (!strstr(err, "sequence 50") || !strstr(err, "hash chain"))
        fail_msg("verify said: %s", err);
}

/* A forger without the chain key edits record 50, then re-chains every
 * record after it with the unkeyed SHA-256 of format 1 and fixes every
 * CRC: the keyed chain still names record 50. */
static void rechain_without_key(void **state)
{
    (void)state;
    teardown_dir(NULL);
    setup_dir(NULL);
    fill(120, 64 << 20);
    char path[600], err[256];
    off_t size = last_segment(path, sizeof path);
    unsigned char *buf = malloc((size_t)size);
    int fd = open(path, O_RDWR);
    assert_int_equal(pread(fd, buf, (size_t)size, 0), size);
    unsigned char chain[32];
    memcpy(chain, buf + 32, 32);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    for (off_t off = COL__SEG_HDR; off < size;) {
        unsigned char *p = buf + off;
        uint32_t total = col__get32(p + 4);
        if (col__get64(p + 12) == 50)
            p[COL__REC_HDR + p[41] + 10] ^= 0x01;
        if (col__get64(p + 12) >= 50) {
            unsigned int len = 32;
            EVP_DigestInit_ex(md, EVP_sha256(), NULL);
            EVP_DigestUpdate(md, chain, 32);
            EVP_DigestUpdate(md, p + 12, 36);
            EVP_DigestUpdate(md, p + COL__REC_HDR, p[41] + (size_t)col__get32(p + 44));
            EVP_DigestFinal_ex(md, p + 48, &len);
            col__put32(p + 8, col__crc32c(0, p + 12, total - 16));
        }
        memcpy(chain, p + 48, 32);
        off += total;
    }
    EVP_MD_CTX_free(md);
    assert_int_equal(pwrite(fd, buf, (size_t)size, 0), size);
    close(fd);
    free(buf);
    uint64_t recs;
    assert_int_equal(col_verify(spool, &recs, err, sizeof err), -EBADMSG);
    if (!strstr(err, "sequence 50 ") || !strstr(err, "seg-00000000000000000001.tgs"))
        fail_msg("verify said: %s", err);
    assert_int_equal(recs, 49);
}

/* Records cut from the tail: verify names them through the head witness;
 * the next start continues after the witness and records a finding. */
static void cut_tail_is_seen_and_not_reused(void **state)
{
    (void)state;
    teardown_dir(NULL);
    setup_dir(NULL);
    fill(100, 64 << 20);
    char path[600], err[256];
    last_segment(path, sizeof path);
    col__scan_t s;
    assert_int_equal(col__scan_open(&s, path, COL__SEG_HDR, UINT64_MAX), 0);
    const unsigned char *p;
    col_record_t r;
    uint64_t off = 0, cut_at = 0;
    bool torn;
    while (col__scan_next(&s, true, &p, &r, &off, &torn) == 1)
        if (r.seq == 81)
            cut_at = off;
    col__scan_close(&s);
    assert_int_equal(truncate(path, (off_t)cut_at), 0);
    uint64_t recs;
    assert_int_equal(col_verify(spool, &recs, err, sizeof err), -EBADMSG);
    if (!strstr(err, "ends at sequence 80") || !strstr(err, "81..100"))
        fail_msg("verify said: %s", err);
    col_t *c = open_col(COL_FSYNC_ALWAYS, 64 << 20, 1 << 16);
    ocsf_event_t ev;
    make_event(&ev, 1, 0, false);
    assert_int_equal(col_wait_durable(c, append(c, &ev), 5000), 0);
    assert_int_equal(col_written_seq(c), 102); /* 101: the finding, 102: the event */
    col_destroy(c);
    col_verify_opts_t o = {0};
    if (col_verify_ex(spool, &o, err, sizeof err) != 0)
        fail_msg("verify after the restart: %s", err);
    assert_non_null(strstr(o.notes, "sequences 81..100 are missing"));
}

typedef struct {
    uint64_t seqs[2048];
    int64_t times[2048];
    size_t n;
} list_t;

static int list_cb(const col_record_t *r, void *ctx)
{
    list_t *l = ctx;
    if (l->n < 2048) {
        l->seqs[l->n] = r->seq;
        l->times[l->n] = r->time;
    }
    l->n++;
    return 0;
}

static void query_semantics(void **state)
{
    (void)state;
    teardown_dir(NULL);
    setup_dir(NULL);
    /* small segments: the time ranges cross many segment boundaries */
    col_t *c = open_col(COL_FSYNC_INTERVAL, 32 << 10, 1 << 16);
    ocsf_event_t ev;
    uint64_t t = 0;
    for (int i = 0; i < 3000; i++) {
        make_event(&ev, (int64_t)i * 1000, i % 10 == 7 ? 1 : 0, i % 5 == 0);
        t = append(c, &ev);
    }
    assert_int_equal(col_wait_durable(c, t, 5000), 0);
    col_stats_t st;
    col_stats(c, &st);
    assert_true(st.segments > 10);
    /* filter first, then the last `limit`: 300 events are in sb1 */
    col_filter_t f;
    col_filter_init(&f);
    snprintf(f.sandbox, sizeof f.sandbox, "sb1");
    f.limit = 50;
    list_t l = {0};
    uint64_t next;
    assert_int_equal(col_query(c, &f, list_cb, &l, &next), 0);
    assert_int_equal(l.n, 50);
    for (size_t i = 0; i < 50; i++) /* the last 50 of sb1, in order */
        assert_int_equal(l.times[i], T0 + (int64_t)(2997 - 10 * (49 - i)) * 1000);
    /* a time range across segments, with an action filter */
    col_filter_init(&f);
    f.since_ms = T0 + 1000 * 1000;
    f.until_ms = T0 + 1999 * 1000;
    f.action_id = OCSF_ACTION_DENIED;
    memset(&l, 0, sizeof l);
    assert_int_equal(col_query(c, &f, list_cb, &l, &next), 0);
    assert_int_equal(l.n, 200);
    assert_int_equal(l.times[0], T0 + 1000 * 1000);
    assert_int_equal(l.times[199], T0 + 1995 * 1000);
    /* min severity: denied events are MEDIUM */
    col_filter_init(&f);
    f.min_severity = OCSF_SEV_MEDIUM;
    f.limit = 5000;
    memset(&l, 0, sizeof l);
    assert_int_equal(col_query(c, &f, list_cb, &l, &next), 0);
    assert_int_equal(l.n, 600);
    /* a reader paging with max = 7 from far behind gets every event in order */
    col_filter_init(&f);
    uint64_t from = 1, total = 0, prev = 0;
    for (;;) {
        memset(&l, 0, sizeof l);
        assert_int_equal(col_read(c, &f, from, 7, list_cb, &l, &next), 0);
        for (size_t i = 0; i < l.n; i++) {
            assert_int_equal(l.seqs[i], prev + 1);
            prev = l.seqs[i];
        }
        total += l.n;
        if (l.n == 0)
            break;
        from = next;
    }
    assert_int_equal(total, 3000);
    col_destroy(c);
}

static col_t *stall_col;
static pthread_mutex_t stall_mu = PTHREAD_MUTEX_INITIALIZER;
static int stall_armed;

/* A listener runs on the writer thread: holding it stalls the writer. */
static void stall_cb(void *ctx)
{
    (void)ctx;
    if (__atomic_load_n(&stall_armed, __ATOMIC_SEQ_CST)) {
        pthread_mutex_lock(&stall_mu);
        pthread_mutex_unlock(&stall_mu);
    }
}

static void drop_newest_is_counted_and_reported(void **state)
{
    (void)state;
    teardown_dir(NULL);
    setup_dir(NULL);
    col_config_t cfg;
    col_config_default(&cfg);
    cfg.spool_dir = spool;
    cfg.ring_bytes = 4096;
    cfg.when_full = COL_FULL_DROP_NEWEST;
    cfg.drop_report_ms = 1;
    char err[256];
    assert_int_equal(col_create(&cfg, &stall_col, err, sizeof err), 0);
    assert_int_equal(col_subscribe(stall_col, stall_cb, NULL), 0);
    pthread_mutex_lock(&stall_mu);
    __atomic_store_n(&stall_armed, 1, __ATOMIC_SEQ_CST);
    ocsf_event_t ev;
    int ok = 0, dropped = 0;
    for (int i = 0; i < 200; i++) {
        make_event(&ev, i, 0, false);
        int rc = col_append(stall_col, &ev, NULL, err, sizeof err);
        ok += rc == 0;
        dropped += rc == -EAGAIN;
        if (i == 0)
            usleep(50000); /* let the writer take the first and stall in the listener */
    }
    assert_true(dropped > 0);
    assert_int_equal(ok + dropped, 200);
    __atomic_store_n(&stall_armed, 0, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&stall_mu);
    col_stats_t st;
    col_stats(stall_col, &st);
    assert_int_equal(st.dropped, (uint64_t)dropped);
    usleep(300000);
    /* one CONFIG event says how many were dropped */
    col_filter_t f;
    col_filter_init(&f);
    f.class_uid = OCSF_CLASS_CONFIG;
    list_t l = {0};
    uint64_t next;
    assert_int_equal(col_query(stall_col, &f, list_cb, &l, &next), 0);
    assert_int_equal(l.n, 1);
    col_destroy(stall_col);
}

static void ring_full_and_order(void **state)
{
    (void)state;
    col__ring_t r;
    assert_int_equal(col__ring_init(&r, 3000), -EINVAL);
    assert_int_equal(col__ring_init(&r, 4096), 0);
    bool waited;
    uint64_t t, prev = 0;
    char data[300];
    int pushed = 0;
    col__rec_t rec = {0};
    assert_int_equal(col__ring_push(&r, &rec, data, 4000, false, &waited, &t), -EMSGSIZE);
    /* fill: each entry is 8 + 32 + 300 -> 344 bytes */
    for (;;) {
        rec.time = pushed;
        memset(data, 'a' + pushed % 26, sizeof data);
        int rc = col__ring_push(&r, &rec, data, sizeof data, false, &waited, &t);
        if (rc == -EAGAIN)
            break;
        assert_int_equal(rc, 0);
        assert_true(t > prev);
        prev = t;
        pushed++;
    }
    assert_int_equal(pushed, 4096 / 424); /* 8 + 32 + 80 + 300 + 4 */
    /* drain and refill across the end of the buffer, in order */
    int next = 0;
    for (int round = 0; round < 50; round++) {
        const unsigned char *d;
        uint64_t tk;
        const col__rec_t *got = col__ring_peek(&r, &d, &tk);
        assert_non_null(got);
        assert_int_equal(got->time, next);
        assert_int_equal(d[299], 'a' + next % 26);
        col__ring_release(&r);
        next++;
        rec.time = pushed;
        memset(data, 'a' + pushed % 26, sizeof data);
        assert_int_equal(col__ring_push(&r, &rec, data, sizeof data, false, &waited, &t), 0);
        assert_true(t > prev);
        prev = t;
        pushed++;
    }
    const unsigned char *d;
    uint64_t tk;
    while (col__ring_peek(&r, &d, &tk)) {
        col__ring_release(&r);
        next++;
    }
    assert_int_equal(next, pushed);
    assert_int_equal(col__ring_used(&r), 0);
    col__ring_dispose(&r);
}

static void crc32c_known_value(void **state)
{
    (void)state;
    /* the check value of CRC-32C (RFC 3720) */
    assert_int_equal(col__crc32c(0, "123456789", 9), 0xe3069283u);
    assert_int_equal(col__crc32c(col__crc32c(0, "1234", 4), "56789", 5), 0xe3069283u);
    assert_int_equal(col__crc32c_sw(0, "123456789", 9), 0xe3069283u);
    /* the three-stream hardware path against the table, every length and
     * alignment around its 384-byte rounds */
    static unsigned char buf[4096 + 8];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 2654435761u >> 13);
    for (size_t n = 0; n <= 1600; n += (n < 800 ? 1 : 7))
        for (size_t off = 0; off < 8; off += 3)
            assert_int_equal(col__crc32c(0x1234u, buf + off, n),
                             col__crc32c_sw(0x1234u, buf + off, n));
    assert_int_equal(col__crc32c(7, buf, 4096), col__crc32c_sw(7, buf, 4096));
}

/* ---- the batched writer (pwritev from the ring, the syncer) ---------------- */

static void chain_matches_evp_hmac(void **state)
{
    (void)state;
    unsigned char key[32], prev[32], rec[COL__REC_HDR + 300], a[32], b[32], c[32];
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (unsigned char)(i * 7 + 1), prev[i] = (unsigned char)(255 - i);
    for (size_t i = 0; i < sizeof rec; i++)
        rec[i] = (unsigned char)(i * 13);
    rec[41] = 5;                                         /* sandbox length */
    col__put32(rec + 44, sizeof rec - COL__REC_HDR - 5); /* json length */
    col__mac_t m;
    assert_int_equal(col__mac_init(&m, key), 0);
    col__chain(&m, prev, rec, a);
    /* the reference: HMAC-SHA-256 with EVP over the concatenation */
    unsigned char msg[32 + 36 + 300];
    memcpy(msg, prev, 32);
    memcpy(msg + 32, rec + 12, 36);
    memcpy(msg + 68, rec + COL__REC_HDR, 300);
    col__mac(&m, msg, sizeof msg, b);
    assert_memory_equal(a, b, 32);
    /* in pieces, as the writer hashes a record in the ring */
    struct iovec v[4] = {{rec + COL__REC_HDR, 1},
                         {rec + COL__REC_HDR + 1, 0},
                         {rec + COL__REC_HDR + 1, 150},
                         {rec + COL__REC_HDR + 151, 149}};
    col__chain_v(&m, prev, rec, v, 4, c);
    assert_memory_equal(a, c, 32);
    col__mac_t copy = m; /* report/ copies the struct per worker */
    col__chain(&copy, prev, rec, c);
    assert_memory_equal(a, c, 32);
    col__mac_dispose(&m);
}

static void verify_ok(uint64_t want)
{
    uint64_t recs = 0;
    char err[256];
    if (col_verify(spool, &recs, err, sizeof err) != 0)
        fail_msg("verify: %s", err);
    if (want)
        assert_int_equal(recs, want);
}

/* Many small segments and a small ring: batches end at a segment seal, the
 * ring wraps under held entries, records of every size; then a restart
 * continues the chain. */
static void batches_across_seals_and_wraps(void **state)
{
    (void)state;
    for (int round = 0; round < 2; round++) {
        col_t *c = open_col(round ? COL_FSYNC_ALWAYS : COL_FSYNC_INTERVAL, 64 << 10, 1 << 14);
        ocsf_event_t ev;
        uint64_t t = 0;
        char big[3000];
        for (int i = 0; i < 3000; i++) {
            make_event(&ev, i, i, i % 5 == 0);
            size_t n = (size_t)(i * 37) % sizeof big;
            memset(big, 'a' + i % 26, n);
            big[n] = '\0';
            ev.message = ocsf_str(big);
            t = append(c, &ev);
        }
        assert_int_equal(col_wait_durable(c, t, 20000), 0);
        col_stats_t st;
        col_stats(c, &st);
        assert_true(st.segments > 10);
        assert_int_equal(count_all(c), 3000 * (uint64_t)(round + 1));
        col_destroy(c);
        verify_ok(3000 * (uint64_t)(round + 1));
    }
}

/* pwritev that writes at most a few bytes per call, or fails. */
static _Atomic int pw_fail;  /* calls left that fail (ENOSPC) after a partial write */
static _Atomic int pw_short; /* bytes at most per call (0: no limit) */
static _Atomic int pw_failed;

static ssize_t pwritev_test(int fd, const struct iovec *iov, int n, off_t off)
{
    if (atomic_load(&pw_fail) > 0) {
        atomic_fetch_sub(&pw_fail, 1);
        atomic_fetch_add(&pw_failed, 1);
        if (iov[0].iov_len > 10) /* half a record lands, then the disk is full */
            pwrite(fd, iov[0].iov_base, iov[0].iov_len / 2, off);
        errno = ENOSPC;
        return -1;
    }
    int lim = atomic_load(&pw_short);
    if (lim <= 0)
        return pwritev(fd, iov, n, off);
    struct iovec one = iov[0];
    if (one.iov_len > (size_t)lim)
        one.iov_len = (size_t)lim;
    return pwritev(fd, &one, 1, off);
}

static void pwritev_short_writes(void **state)
{
    (void)state;
    col__pwritev = pwritev_test;
    atomic_store(&pw_short, 7);
    col_t *c = open_col(COL_FSYNC_INTERVAL, 1 << 20, 1 << 16);
    ocsf_event_t ev;
    uint64_t t = 0;
    for (int i = 0; i < 500; i++) {
        make_event(&ev, i, i, false);
        t = append(c, &ev);
    }
    assert_int_equal(col_wait_durable(c, t, 20000), 0);
    assert_int_equal(count_all(c), 500);
    col_destroy(c);
    atomic_store(&pw_short, 0);
    col__pwritev = pwritev;
    verify_ok(500);
}

/* ENOSPC in the middle of a batch: the partial write is cut, nothing is
 * acknowledged, the batch is written whole once the disk has room. */
static void enospc_mid_batch(void **state)
{
    (void)state;
    col__pwritev = pwritev_test;
    col_t *c = open_col(COL_FSYNC_INTERVAL, 1 << 20, 1 << 16);
    ocsf_event_t ev;
    uint64_t t = 0;
    for (int i = 0; i < 50; i++) {
        make_event(&ev, i, i, false);
        t = append(c, &ev);
    }
    assert_int_equal(col_wait_durable(c, t, 20000), 0);
    atomic_store(&pw_failed, 0);
    atomic_store(&pw_fail, 3);
    for (int i = 50; i < 300; i++) {
        make_event(&ev, i, i, false);
        t = append(c, &ev);
    }
    while (atomic_load(&pw_fail) > 0) /* the writer meets the full disk */
        usleep(1000);
    assert_int_equal(col_wait_durable(c, t, 20000), 0);
    assert_int_equal(atomic_load(&pw_failed), 3);
    assert_true(atomic_load(&c->write_errors) >= 3);
    assert_int_equal(count_all(c), 300);
    col_destroy(c);
    col__pwritev = pwritev;
    verify_ok(300);
}

/* Never acknowledged before the fsync: while the disk refuses every write,
 * no ticket becomes durable. */
static void no_ack_while_failing(void **state)
{
    (void)state;
    col__pwritev = pwritev_test;
    col_t *c = open_col(COL_FSYNC_ALWAYS, 1 << 20, 1 << 16);
    uint64_t before = col_durable_ticket(c);
    atomic_store(&pw_fail, 1000000);
    ocsf_event_t ev;
    make_event(&ev, 1, 1, false);
    uint64_t t = append(c, &ev);
    assert_int_equal(col_wait_durable(c, t, 300), -ETIMEDOUT);
    assert_int_equal(col_durable_ticket(c), before);
    atomic_store(&pw_fail, 0);
    assert_int_equal(col_wait_durable(c, t, 20000), 0);
    col_destroy(c);
    col__pwritev = pwritev;
    verify_ok(0);
}

/* fdatasync that fails for a full segment (one being sealed) while armed. */
static _Atomic int fds_armed;
static int fdatasync_test(int fd)
{
    struct stat st;
    if (atomic_load(&fds_armed) && fstat(fd, &st) == 0 && st.st_size >= (64 << 10)) {
        errno = EIO;
        return -1;
    }
    return fdatasync(fd);
}

/* While the sealed segment's fdatasync fails, the writer goes on into the
 * next segment but nothing written there is acknowledged; once the disk
 * takes it, everything is. */
static void no_ack_before_seal(void **state)
{
    (void)state;
    col__fdatasync = fdatasync_test;
    atomic_store(&fds_armed, 1);
    col_t *c = open_col(COL_FSYNC_ALWAYS, 64 << 10, 1 << 16);
    ocsf_event_t ev;
    uint64_t t = 0;
    for (int i = 0; i < 150; i++) {
        make_event(&ev, i, i, false);
        t = append(c, &ev);
    }
    while (col_written_seq(c) < 150)
        usleep(1000);
    col_stats_t st;
    col_stats(c, &st);
    assert_true(st.segments >= 2);
    assert_int_equal(col_wait_durable(c, t, 300), -ETIMEDOUT);
    atomic_store(&fds_armed, 0);
    assert_int_equal(col_wait_durable(c, t, 5000), 0);
    assert_int_equal(count_all(c), 150);
    col_destroy(c);
    col__fdatasync = fdatasync;
    verify_ok(150);
}

/* Checkpoints: the syncer writes the head witness after the fdatasync that
 * covers each one (the writer does not wait); it follows the spool while
 * the collector runs, never past what is durable. */
static void checkpoint_witness_on_syncer(void **state)
{
    (void)state;
    col_config_t cfg;
    col_config_default(&cfg);
    cfg.spool_dir = spool;
    cfg.fsync = COL_FSYNC_INTERVAL;
    cfg.segment_bytes = 64 << 10;
    cfg.ring_bytes = 1 << 16;
    cfg.checkpoints = true;
    cfg.checkpoint_events = 100;
    col_t *c = NULL;
    char err[300];
    if (col_create(&cfg, &c, err, sizeof err) != 0)
        fail_msg("col_create: %s", err);
    ocsf_event_t ev;
    uint64_t t = 0;
    for (int i = 0; i < 1000; i++) {
        make_event(&ev, i, i, false);
        t = append(c, &ev);
    }
    assert_int_equal(col_wait_durable(c, t, 5000), 0);
    col__mac_t m;
    assert_int_equal(col__mac_for_spool(spool, false, &m, err, sizeof err), 0);
    col__witness_t w = {0};
    for (int i = 0; i < 500 && w.seq < 1000; i++) { /* 1000 events and 9-10 checkpoints */
        if (col__witness_read(spool, &m, &w, err, sizeof err) != 0)
            fail_msg("witness: %s", err);
        if (w.seq < 1000)
            usleep(10000);
    }
    assert_true(w.seq >= 1000 && w.seq <= col_written_seq(c));
    col_destroy(c);
    assert_int_equal(col__witness_read(spool, &m, &w, err, sizeof err), 0);
    col__mac_dispose(&m);
    verify_ok(w.seq);
}

/* The n-th segment from the end (0: the last): its path and size. */
static off_t nth_last_segment(int k, char *path, size_t n)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls %s/seg-*.tgs | tail -%d | head -1", spool, k + 1);
    FILE *p = popen(cmd, "r");
    if (!p || !fgets(path, (int)n, p))
        fail_msg("no segment");
    pclose(p);
    path[strcspn(path, "\n")] = '\0';
    struct stat st;
    stat(path, &st);
    return st.st_size;
}

/* Records of a segment and the file offset where each ends. */
static size_t seg_records(const char *path, uint64_t *ends, size_t cap)
{
    col__scan_t s;
    assert_int_equal(col__scan_open(&s, path, COL__SEG_HDR, UINT64_MAX), 0);
    const unsigned char *p;
    col_record_t r;
    uint64_t off;
    bool torn;
    size_t n = 0;
    while (col__scan_next(&s, true, &p, &r, &off, &torn) == 1) {
        if (n < cap)
            ends[n] = off + COL__REC_HDR + r.sandbox_len + r.json_len + 4;
        n++;
    }
    col__scan_close(&s);
    return n;
}

static int quarantined(void)
{
    char cmd[512], line[64];
    snprintf(cmd, sizeof cmd, "ls %s | grep -c '^quarantine-.*\\.bin$'", spool);
    FILE *p = popen(cmd, "r");
    int n = p && fgets(line, sizeof line, p) ? atoi(line) : 0;
    if (p)
        pclose(p);
    return n;
}

/* A crash while the syncer seals a rotated segment: the writer already
 * writes into the next one, the sealed segment's tail or the new header may
 * not have reached the disk. Each file state such a crash can leave is made
 * by hand (the head witness is the one of before, as after a crash: the
 * witness is written only after the fsyncs that cover it); recovery keeps
 * every record of the sealed segment that is whole, sets aside what follows
 * a torn one (nothing of it was acknowledged), and the collector starts,
 * appends and verifies. */
static void crash_during_seal(void **state)
{
    (void)state;
    enum {
        TORN_TAIL,
        SHORT_BY_RECORDS,
        ZEROED_PAGE,
        NEW_HEADER_ZERO,
        BOTH,
        NEW_HEADER_SHORT,
        NCASE
    };
    static const char *const names[] = {
        "sealed tail torn",     "sealed short by records",         "sealed last page zero",
        "new header page zero", "sealed torn and new header zero", "new header short"};
    srand(7);
    for (int round = 0; round < 2 * NCASE; round++) {
        int kind = round % NCASE;
        teardown_dir(NULL);
        setup_dir(NULL);
        fill(20, 64 << 10); /* the witness of "before the crash" */
        char head[600], saved[700];
        col__state_path(spool, "head", head, sizeof head);
        snprintf(saved, sizeof saved, "%s.saved", head);
        assert_int_equal(link(head, saved), 0); /* the witness is replaced by rename */
        fill(300 + 13 * round, 64 << 10);
        assert_int_equal(rename(saved, head), 0);
        uint64_t total = 0;
        char err[256];
        if (col_verify(spool, &total, err, sizeof err) != 0)
            fail_msg("verify before: %s", err);
        char pp[600], lp[600];
        off_t psize = nth_last_segment(1, pp, sizeof pp);
        off_t lsize = nth_last_segment(0, lp, sizeof lp);
        static uint64_t pend[4096], lend[4096];
        size_t np = seg_records(pp, pend, 4096), nl = seg_records(lp, lend, 4096);
        assert_true(np > 2 && np < 4096 && nl < 4096);
        uint64_t before = total - np - nl; /* records in the segments before the sealed one */
        bool sealed_hit =
            kind == TORN_TAIL || kind == SHORT_BY_RECORDS || kind == ZEROED_PAGE || kind == BOTH;
        if (kind == TORN_TAIL || kind == BOTH) {
            off_t at = (off_t)pend[np - 2] + 1 + rand() % (psize - (off_t)pend[np - 2] - 1);
            assert_int_equal(truncate(pp, at), 0);
        } else if (kind == SHORT_BY_RECORDS) {
            assert_int_equal(truncate(pp, (off_t)pend[np - 1 - (size_t)(rand() % 2)]), 0);
        } else if (kind == ZEROED_PAGE) {
            static unsigned char z[4096];
            int fd = open(pp, O_WRONLY);
            off_t at = (psize - 1) & ~(off_t)4095;
            assert_int_equal(pwrite(fd, z, (size_t)(psize - at), at), psize - at);
            close(fd);
        }
        if (kind == NEW_HEADER_ZERO || kind == BOTH) {
            static unsigned char z[4096];
            int fd = open(lp, O_WRONLY);
            size_t zn = lsize < 4096 ? (size_t)lsize : 4096;
            assert_int_equal(pwrite(fd, z, zn, 0), (ssize_t)zn);
            close(fd);
        } else if (kind == NEW_HEADER_SHORT) {
            assert_int_equal(truncate(lp, 50), 0);
        }
        col_t *c = open_col(COL_FSYNC_ALWAYS, 64 << 10, 1 << 16);
        col_stats_t st;
        col_stats(c, &st);
        uint64_t n = count_all(c);
        if (st.recovered_bytes_cut == 0)
            fail_msg("round %d (%s): nothing recovered", round, names[kind]);
        /* the sealed segment up to its damage, then one CONFIG event that
         * says what was cut; nothing of the new segment (not acknowledged) */
        if (sealed_hit) {
            if (n < before + 1 || n > before + np)
                fail_msg("round %d (%s): %llu records (before %llu, sealed %zu)", round,
                         names[kind], (unsigned long long)n, (unsigned long long)before, np);
        } else if (n != before + np + 1) {
            fail_msg("round %d (%s): %llu records, want %llu", round, names[kind],
                     (unsigned long long)n, (unsigned long long)(before + np + 1));
        }
        if (kind != NEW_HEADER_SHORT)
            assert_true(quarantined() >= 1);
        ocsf_event_t ev;
        for (int i = 0; i < 200; i++) { /* on past the next seal */
            make_event(&ev, 5000 + i, i, false);
            append(c, &ev);
        }
        make_event(&ev, 9999, 0, false);
        assert_int_equal(col_wait_durable(c, append(c, &ev), 5000), 0);
        assert_int_equal(count_all(c), n + 201);
        col_destroy(c);
        if (col_verify(spool, &total, err, sizeof err) != 0)
            fail_msg("round %d (%s): verify after recovery: %s", round, names[kind], err);
        assert_int_equal(total, n + 201);
        c = open_col(COL_FSYNC_ALWAYS, 64 << 10, 1 << 16); /* a clean restart */
        col_stats(c, &st);
        assert_int_equal(st.recovered_bytes_cut, 0);
        assert_int_equal(count_all(c), n + 201);
        col_destroy(c);
    }
}

/* A seam that does not match while the sealed segment is whole (its last
 * record rewritten in place, chain field and CRC included) is not a crash:
 * the next segment is kept and verify reports the rewrite. */
static void seam_mismatch_is_not_cut(void **state)
{
    (void)state;
    teardown_dir(NULL);
    setup_dir(NULL);
    fill(300, 64 << 10);
    char pp[600];
    nth_last_segment(1, pp, sizeof pp);
    static uint64_t pend[4096];
    size_t np = seg_records(pp, pend, 4096);
    assert_true(np > 2);
    int fd = open(pp, O_RDWR);
    unsigned char rec[COL__REC_HDR];
    assert_int_equal(pread(fd, rec, sizeof rec, (off_t)pend[np - 2]), (ssize_t)sizeof rec);
    rec[48] ^= 1; /* the chain field of the last record */
    uint64_t len = col__get32(rec + 4);
    unsigned char *all = malloc(len);
    assert_int_equal(pread(fd, all, len, (off_t)pend[np - 2]), (ssize_t)len);
    memcpy(all, rec, sizeof rec);
    col__put32(all + 8, col__crc32c(0, all + 12, len - 16));
    assert_int_equal(pwrite(fd, all, len, (off_t)pend[np - 2]), (ssize_t)len);
    free(all);
    close(fd);
    uint64_t total;
    char err[256];
    assert_int_equal(col_verify(spool, &total, err, sizeof err), -EBADMSG);
    col_t *c = open_col(COL_FSYNC_ALWAYS, 64 << 10, 1 << 16);
    col_stats_t st;
    col_stats(c, &st);
    assert_int_equal(st.recovered_bytes_cut, 0);
    assert_int_equal(count_all(c), 300);
    col_destroy(c);
    assert_int_equal(quarantined(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc32c_known_value),
        cmocka_unit_test(ring_full_and_order),
        cmocka_unit_test_setup_teardown(append_query_restart, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(concurrency, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(torn_tail, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(tamper, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(rechain_without_key, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(cut_tail_is_seen_and_not_reused, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(query_semantics, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(drop_newest_is_counted_and_reported, setup_dir,
                                        teardown_dir),
        cmocka_unit_test(chain_matches_evp_hmac),
        cmocka_unit_test_setup_teardown(batches_across_seals_and_wraps, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(pwritev_short_writes, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(enospc_mid_batch, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(no_ack_while_failing, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(no_ack_before_seal, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(checkpoint_witness_on_syncer, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(crash_during_seal, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(seam_mismatch_is_not_cut, setup_dir, teardown_dir),
    };
    if (getenv("TEST_FILTER")) /* e.g. TEST_FILTER=torn_tail */
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
