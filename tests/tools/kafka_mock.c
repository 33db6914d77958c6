/*
 * kafka_mock.c: a librdkafka mock Kafka cluster on 127.0.0.1, driven over
 * stdin, for the end-to-end tests and the benchmarks (no JVM, no network
 * beyond loopback).
 *
 *   kafka_mock [BROKERS]          (default 3 brokers, 1..16)
 *
 * Protocol (stable: tests/e2e and bench scripts depend on it):
 *
 *   stdout, first line   the bootstrap address list, e.g.
 *                        "127.0.0.1:40123,127.0.0.1:40124,127.0.0.1:40125",
 *                        flushed before any command is read.
 *   stdin, one command per line; each gets exactly one reply line on
 *   stdout, "ok" or "error: <why>" (flushed):
 *
 *     create-topic NAME PARTITIONS   topic with PARTITIONS partitions,
 *                                    replication min(3, BROKERS)
 *     down BROKER_ID                 broker disconnects its clients and
 *                                    refuses new connections (ids 1..BROKERS;
 *                                    leadership does not move)
 *     up BROKER_ID                   the broker accepts connections again
 *     errors APIKEY COUNT CODE       the next COUNT requests of APIKEY (a
 *                                    name like Produce, Metadata, or a
 *                                    number) fail with CODE (a number, or a
 *                                    name like NOT_LEADER_FOR_PARTITION,
 *                                    REQUEST_TIMED_OUT, _TRANSPORT)
 *     quit                           reply "ok", then exit 0
 *
 *   Empty lines are ignored. The tool exits 0 on EOF of stdin, on quit, and
 *   on SIGTERM or SIGINT; 1 when the cluster cannot start.
 *
 * Topics are also created on first use (the mock cluster auto-creates them
 * with its default partition count) so `kcat -P` works without a
 * create-topic.
 *
 * Threads: the main thread reads commands; librdkafka runs the brokers on
 * its own threads (SIGTERM/SIGINT are blocked in all of them and read from a
 * signalfd here).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define LINE_MAX_LEN 1024

static const struct {
    const char *name;
    int16_t key;
} api_keys[] = {
    {"Produce", 0},          {"Fetch", 1},
    {"ListOffsets", 2},      {"Metadata", 3},
    {"OffsetCommit", 8},     {"OffsetFetch", 9},
    {"FindCoordinator", 10}, {"JoinGroup", 11},
    {"Heartbeat", 12},       {"LeaveGroup", 13},
    {"SyncGroup", 14},       {"SaslHandshake", 17},
    {"ApiVersions", 18},     {"CreateTopics", 19},
    {"InitProducerId", 22},  {"AddPartitionsToTxn", 24},
    {"EndTxn", 26},          {"SaslAuthenticate", 36},
};

static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

static int parse_api_key(const char *s, int16_t *out)
{
    long v;
    for (size_t i = 0; i < sizeof api_keys / sizeof api_keys[0]; i++)
        if (strcasecmp(s, api_keys[i].name) == 0) {
            *out = api_keys[i].key;
            return 0;
        }
    if (parse_long(s, 0, 1000, &v) != 0)
        return -EINVAL;
    *out = (int16_t)v;
    return 0;
}

/* A code by number or by librdkafka's name ("NOT_LEADER_FOR_PARTITION",
 * "_TRANSPORT"), optionally with the RD_KAFKA_RESP_ERR_ prefix. */
static int parse_err_code(const char *s, rd_kafka_resp_err_t *out)
{
    long v;
    if (parse_long(s, -200, 1000, &v) == 0) {
        *out = (rd_kafka_resp_err_t)v;
        return 0;
    }
    if (strncmp(s, "RD_KAFKA_RESP_ERR_", 18) == 0)
        s += 18;
    const struct rd_kafka_err_desc *descs;
    size_t n;
    rd_kafka_get_err_descs(&descs, &n);
    for (size_t i = 0; i < n; i++)
        if (descs[i].name && strcasecmp(descs[i].name, s) == 0) {
            *out = descs[i].code;
            return 0;
        }
    return -EINVAL;
}

/* One reply line: "ok" when why is NULL, else "error: <why>". */
static int reply(const char *why)
{
    if (why)
        printf("error: %s\n", why);
    else
        fputs("ok\n", stdout);
    fflush(stdout);
    return 0;
}

/* Runs one command line (NUL-terminated, no newline). Returns 1 on quit. */
static int run_command(rd_kafka_mock_cluster_t *mc, int brokers, char *line)
{
    char *save = NULL;
    char *cmd = strtok_r(line, " \t\r", &save);
    char *a1 = strtok_r(NULL, " \t\r", &save);
    char *a2 = strtok_r(NULL, " \t\r", &save);
    char *a3 = strtok_r(NULL, " \t\r", &save);
    char *extra = strtok_r(NULL, " \t\r", &save);
    long v, cnt;
    int16_t api;
    rd_kafka_resp_err_t code, rc;

    if (!cmd)
        return 0;
    if (strcmp(cmd, "quit") == 0) {
        reply(NULL);
        return 1;
    }
    if (strcmp(cmd, "create-topic") == 0) {
        if (!a1 || !a2 || a3 || parse_long(a2, 1, 10000, &v) != 0)
            return reply("usage: create-topic NAME PARTITIONS");
        rc = rd_kafka_mock_topic_create(mc, a1, (int)v, brokers < 3 ? brokers : 3);
        if (rc)
            return reply(rd_kafka_err2str(rc));
        return reply(NULL);
    }
    if (strcmp(cmd, "down") == 0 || strcmp(cmd, "up") == 0) {
        if (!a1 || a2 || parse_long(a1, 1, brokers, &v) != 0)
            return reply("usage: down|up BROKER_ID (1..BROKERS)");
        rc = cmd[0] == 'd' ? rd_kafka_mock_broker_set_down(mc, (int32_t)v)
                           : rd_kafka_mock_broker_set_up(mc, (int32_t)v);
        if (rc)
            return reply(rd_kafka_err2str(rc));
        return reply(NULL);
    }
    if (strcmp(cmd, "errors") == 0) {
        if (!a1 || !a2 || !a3 || extra)
            return reply("usage: errors APIKEY COUNT CODE");
        if (parse_api_key(a1, &api) != 0)
            return reply("unknown api key (try Produce, Metadata or a number)");
        if (parse_long(a2, 1, 100000, &cnt) != 0)
            return reply("COUNT must be 1..100000");
        if (parse_err_code(a3, &code) != 0)
            return reply("unknown error code (a number or a name like "
                         "NOT_LEADER_FOR_PARTITION)");
        rd_kafka_resp_err_t *codes = malloc((size_t)cnt * sizeof *codes);
        if (!codes)
            abort();
        for (long i = 0; i < cnt; i++)
            codes[i] = code;
        rd_kafka_mock_push_request_errors_array(mc, api, (size_t)cnt, codes);
        free(codes);
        return reply(NULL);
    }
    return reply("unknown command (create-topic, down, up, errors, quit)");
}

/* Reads commands until EOF, quit or a signal. */
static void serve(rd_kafka_mock_cluster_t *mc, int brokers, int sfd)
{
    char buf[LINE_MAX_LEN];
    size_t len = 0;
    for (;;) {
        struct pollfd p[2] = {{.fd = 0, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        if (p[1].revents)
            return; /* SIGTERM or SIGINT */
        if (!p[0].revents)
            continue;
        ssize_t r = read(0, buf + len, sizeof buf - 1 - len);
        if (r <= 0)
            return; /* EOF (or an error on stdin) */
        len += (size_t)r;
        char *nl;
        while ((nl = memchr(buf, '\n', len))) {
            *nl = '\0';
            size_t used = (size_t)(nl - buf) + 1;
            int quit = run_command(mc, brokers, buf);
            memmove(buf, buf + used, len - used);
            len -= used;
            if (quit)
                return;
        }
        if (len == sizeof buf - 1) { /* a line too long: drop it */
            reply("line too long");
            len = 0;
        }
    }
}

int main(int argc, char **argv)
{
    long brokers = 3;
    char errstr[512];
    int rc = 1;

    if (argc > 2 || (argc == 2 && parse_long(argv[1], 1, 16, &brokers) != 0)) {
        fprintf(stderr, "usage: kafka_mock [BROKERS (1..16, default 3)]\n");
        return 2;
    }
    /* Block the signals before librdkafka starts threads, so they all
     * inherit the mask and only the signalfd sees them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    sigdelset(&set, SIGPIPE);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    if (sfd < 0) {
        perror("kafka_mock: signalfd");
        return 1;
    }

    /* The mock cluster needs a client handle to live in; it never connects. */
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "kafka_mock: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        goto out_sfd;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "kafka_mock: rd_kafka_new: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        goto out_sfd;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, (int)brokers);
    if (!mc) {
        fprintf(stderr, "kafka_mock: cannot create the mock cluster\n");
        goto out_rk;
    }
    printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);

    serve(mc, (int)brokers, sfd);
    rc = 0;

    rd_kafka_mock_cluster_destroy(mc);
out_rk:
    rd_kafka_destroy(rk);
out_sfd:
    close(sfd);
    return rc;
}
