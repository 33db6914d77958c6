/*
 * bench_report.c: `tollgate report` over a large spool: read throughput
 * (events/s, MB/s), wall time and peak memory, next to the peer in the same
 * run: `cat` of the same segment files to /dev/null (the page cache's
 * ceiling, warm like the report's read).
 *
 *   bench_report [events [stages [spool dir]]]
 *
 *   events  total events generated (default 2000000); ~1 KB each, a mix of
 *           NET:OPEN allowed/denied over 5000 hosts, NET:CLOSE with bytes,
 *           HTTP GET, 8 sandboxes, 50 binaries, a policy update every 100k
 *   stages  the spool is grown in this many steps (default 4) and the report
 *           is run after each: peak RSS should stay flat while events grow
 *   dir     keep the spool there (reused when it exists: generation skipped
 *           for the events it holds); default a fresh $TMPDIR/tg-bench-report-*
 *           removed at the end
 *
 * Each report runs in a forked child (rep_run + the JSON document rendered
 * to /dev/null), so ru_maxrss is the report's alone: the parallel pass (one
 * segment worker per online CPU), then the former two-thread pass (threads
 * = -1: its columns "2thr") on the same spool. A benchmark: it never fails
 * on speed (exit 1 only on an error).
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "collector/collector.h"
#include "report/report.h"

#define GOAL_EVENTS_PER_S 1e6
#define T0                1795737600000LL

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(p);
}

static const ocsf_product_t PROXY = {OCSF_STR("tollgate-proxy"), OCSF_STR("tollgate"),
                                     OCSF_STR("0.1.0")};

static void make_event(ocsf_event_t *ev, uint64_t i, char *host, char *exe, char *sha, char *sb,
                       char *cmd)
{
    int kind = (int)(i % 10);
    int cls = kind == 9 ? OCSF_CLASS_HTTP : OCSF_CLASS_NETWORK;
    int act = kind == 9 ? 3 : kind >= 7 ? OCSF_NET_CLOSE : OCSF_NET_OPEN;
    ocsf_event_init(ev);
    ocsf_event_begin(ev, cls, act, OCSF_SEV_INFO, T0 + (int64_t)i * 10, &PROXY);
    snprintf(sb, 16, "sb-%d", (int)(i % 8));
    snprintf(exe, 64, "/usr/bin/tool-%02d", (int)(i % 50));
    snprintf(sha, 65, "%064" PRIx64, (uint64_t)((i % 50) * 0x9e3779b97f4a7c15ull));
    snprintf(cmd, 128, "tool-%02d --fetch https://x.example/ <redacted>", (int)(i % 50));
    if (kind == 5 || kind == 6)
        snprintf(host, 64, "attacker-%d.example.net", (int)(i % 500));
    else
        snprintf(host, 64, "host-%d.example.com", (int)((i * 7919) % 5000));
    ev->log_name = OCSF_STR("sandbox");
    ev->device_hostname = OCSF_STR("devbox");
    ev->device_type_id = 0;
    ev->container_name = ocsf_str(sb);
    ev->container_uid = OCSF_STR("sbx-7f3a9c1e");
    ev->actor.pid = 1000 + (int64_t)(i % 50);
    ev->actor.name = ocsf_str(exe);
    ev->actor.cmd_line = ocsf_str(cmd);
    ocsf_process_set_file(&ev->actor, ocsf_str(exe), ocsf_str(sha));
    ev->src.ip = OCSF_STR("10.200.0.2");
    ev->src.port = 40000 + (int64_t)(i % 20000);
    ev->proxy.ip = OCSF_STR("10.200.0.1");
    ev->proxy.port = 3128;
    ev->dst.domain = ocsf_str(host);
    ev->dst.port = 443;
    if (kind == 5 || kind == 6)
        ocsf_event_verdict(ev, false, OCSF_NOSTR, OCSF_STR("policy"),
                           OCSF_STR("endpoint is not allowed by any policy"));
    else
        ocsf_event_verdict(ev, true, OCSF_STR("allow_hosts"), OCSF_STR("policy"), OCSF_NOSTR);
    if (act == OCSF_NET_CLOSE) {
        ev->bytes_in = 4000 + (int64_t)(i % 1000);
        ev->bytes_out = 300 + (int64_t)(i % 100);
        ev->start_time = ev->time - 800, ev->end_time = ev->time, ev->duration = 800;
    }
    if (cls == OCSF_CLASS_HTTP) {
        ev->http_method = OCSF_STR("GET");
        ev->url_scheme = OCSF_STR("http");
        ev->url_hostname = ocsf_str(host);
        ev->url_port = 443;
        ev->url_path = OCSF_STR("/simple/");
    }
}

static int generate(const char *spool, uint64_t from, uint64_t to)
{
    col_config_t cfg;
    col_config_default(&cfg);
    cfg.spool_dir = (char *)spool;
    cfg.fsync = COL_FSYNC_NEVER;
    cfg.ring_bytes = 64 << 20;
    cfg.retention_bytes = 0;
    cfg.retention_age_ms = 0;
    cfg.max_bytes = 0;
    col_t *c;
    char err[256];
    if (col_create(&cfg, &c, err, sizeof err) != 0) {
        fprintf(stderr, "col_create: %s\n", err);
        return -1;
    }
    char host[64], exe[64], sha[65], sb[16], cmd[128];
    for (uint64_t i = from; i < to; i++) {
        ocsf_event_t ev;
        make_event(&ev, i, host, exe, sha, sb, cmd);
        if (i % 100000 == 0) { /* a policy version now and then */
            ocsf_event_init(&ev);
            ocsf_event_begin(&ev, OCSF_CLASS_CONFIG, OCSF_CONFIG_LOG, OCSF_SEV_INFO,
                             T0 + (int64_t)i * 10, &PROXY);
            ev.log_name = OCSF_STR("gateway");
            ev.device_type_id = 0;
            ev.container_name = ocsf_str(sb);
            ev.state_id = OCSF_OTHER;
            ev.state_other = OCSF_STR("updated");
            ev.message = OCSF_STR("policy updated: add-endpoint allow_hosts");
            ev.policy_name = ocsf_str(sb);
            ev.policy_version = OCSF_STR("2");
            ev.policy_uid =
                OCSF_STR("7d865e959b2466918c9863afca942d0fb89d7c9ac0c99bafc3749504ded97730");
        }
        if (col_append(c, &ev, NULL, err, sizeof err) != 0) {
            fprintf(stderr, "col_append: %s\n", err);
            col_destroy(c);
            return -1;
        }
    }
    col_destroy(c);
    return 0;
}

/* Events (records) in the spool: the report's own count. */
typedef struct {
    double secs, cpu;
    long maxrss_kb;
    uint64_t records;
    int ok;
} run_t;

static run_t report_child(const char *state, int threads)
{
    run_t r = {0};
    int fds[2];
    if (pipe(fds) != 0)
        return r;
    double t = now_s();
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        rep_options_t o;
        rep_options_init(&o);
        o.state_dir = state;
        o.threads = threads;
        json_t *doc;
        char err[512];
        uint64_t n = 0;
        int rc = rep_run(&o, &doc, err, sizeof err);
        if (rc == 0) {
            n = (uint64_t)json_integer_value(
                json_object_get(json_object_get(doc, "completeness"), "records_read"));
            FILE *devnull = fopen("/dev/null", "w");
            rc = rep_render(doc, REP_JSON, devnull);
            fclose(devnull);
            json_decref(doc);
        } else {
            fprintf(stderr, "rep_run: %s\n", err);
        }
        if (write(fds[1], &n, sizeof n) != (ssize_t)sizeof n)
            rc = -1;
        _exit(rc == 0 ? 0 : 1);
    }
    close(fds[1]);
    if (read(fds[0], &r.records, sizeof r.records) != (ssize_t)sizeof r.records)
        r.records = 0;
    close(fds[0]);
    int st;
    struct rusage ru;
    wait4(pid, &st, 0, &ru);
    r.secs = now_s() - t;
    r.maxrss_kb = ru.ru_maxrss;
    r.cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
            ru.ru_stime.tv_usec / 1e6;
    r.ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
    return r;
}

static uint64_t dir_bytes(const char *spool)
{
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "du -sb '%s'", spool);
    FILE *p = popen(cmd, "r");
    unsigned long long b = 0;
    if (p && fscanf(p, "%llu", &b) != 1)
        b = 0;
    if (p)
        pclose(p);
    return b;
}

static double cat_secs(const char *spool)
{
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "cat '%s'/seg-*.tgs > /dev/null", spool);
    double t = now_s();
    if (system(cmd) != 0)
        return -1;
    return now_s() - t;
}

int main(int argc, char **argv)
{
    uint64_t total = argc > 1 ? strtoull(argv[1], NULL, 10) : 2000000;
    int stages = argc > 2 ? atoi(argv[2]) : 4;
    char state[4096], spool[4200];
    bool keep = argc > 3;
    if (keep) {
        snprintf(state, sizeof state, "%s", argv[3]);
        mkdir(state, 0700);
    } else {
        const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(state, sizeof state, "%s/tg-bench-report-XXXXXX", base);
        if (!mkdtemp(state)) {
            perror("mkdtemp");
            return 1;
        }
    }
    snprintf(spool, sizeof spool, "%s/spool", state);
    if (stages < 1)
        stages = 1;
    printf("bench_report: %" PRIu64 " events in %d stages, spool %s\n", total, stages, spool);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    printf("report: %ld segment workers (online CPUs, at most 8); 2thr: the former pass (the\n"
           "verifier thread beside one aggregating thread) on the same spool in the same run\n",
           cpus < 1   ? 1
           : cpus > 8 ? 8
                      : cpus);
    printf("%10s %9s %8s %10s %9s %9s %9s %8s %10s %8s %10s %10s %8s\n", "events", "spool MB",
           "gen s", "report s", "ev/s", "MB/s", "cat MB/s", "ratio", "peak RSS", "us CPU/ev",
           "2thr ev/s", "2thr RSS", "2thr us");
    int bad = 0;
    uint64_t have = 0;
    for (int s = 1; s <= stages; s++) {
        uint64_t want = total * (uint64_t)s / (uint64_t)stages;
        run_t probe = {0};
        if (keep && s == 1 && access(spool, F_OK) == 0)
            have = (probe = report_child(state, 0)).records; /* reuse what is there */
        double g = now_s();
        if (want > have && generate(spool, have, want) != 0)
            return 1;
        g = now_s() - g;
        have = want > have ? want : have;
        uint64_t bytes = dir_bytes(spool);
        cat_secs(spool); /* warm the page cache, as for the report */
        double cat = cat_secs(spool);
        run_t r = report_child(state, 0);
        run_t old = report_child(state, -1); /* the former two-thread pass */
        if (!r.ok || !old.ok) {
            fprintf(stderr, "the report failed\n");
            bad = 1;
            break;
        }
        double mbs = bytes / 1e6 / r.secs, cat_mbs = cat > 0 ? bytes / 1e6 / cat : 0;
        printf("%10" PRIu64 " %9.0f %8.1f %10.2f %9.0f %9.0f %9.0f %7.2fx %7ld MB %8.2f %10.0f "
               "%7ld MB %8.2f\n",
               r.records, bytes / 1e6, g, r.secs, r.records / r.secs, mbs, cat_mbs,
               cat_mbs > 0 ? mbs / cat_mbs : 0, r.maxrss_kb / 1024, r.cpu * 1e6 / r.records,
               old.records / old.secs, old.maxrss_kb / 1024, old.cpu * 1e6 / old.records);
        if (s == stages)
            printf("result events=%" PRIu64 " report_s=%.3f events_per_s=%.0f mb_per_s=%.0f "
                   "cat_mb_per_s=%.0f peak_rss_mb=%ld cpu_us_per_event=%.2f goal_1M_ev_s=%s\n",
                   r.records, r.secs, r.records / r.secs, mbs, cat_mbs, r.maxrss_kb / 1024,
                   r.cpu * 1e6 / r.records,
                   r.records / r.secs >= GOAL_EVENTS_PER_S ? "PASS" : "MISS");
    }
    printf("ratio: the report's MB/s over cat's (warm page cache, same files, same run); the\n"
           "report also checks every CRC-32C and the HMAC-SHA-256 chain of every record (each\n"
           "segment worker, in the same read as its aggregate).\n");
    if (!keep)
        nftw(state, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return bad;
}
