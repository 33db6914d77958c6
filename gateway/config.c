/*
 * config.c: the gateway's settings table (see conf/conf.h) and the small
 * parsers of listen addresses and times.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/gateway.h"

#define O(f) offsetof(gw_config_t, f)

const conf_option_t gw_options[] = {
    {"gateway.listen", CONF_STRING, GW_DEFAULT_LISTEN, 0, 0, NULL, O(listen),
     "the API address, HOST:PORT (loopback by default)"},
    {"gateway.tls_cert", CONF_STRING, NULL, 0, 0, NULL, O(tls_cert),
     "PEM certificate: with gateway.tls_key the API speaks HTTPS"},
    {"gateway.tls_key", CONF_STRING, NULL, 0, 0, NULL, O(tls_key), "PEM private key"},
    {"gateway.max_body", CONF_BYTES, "64MiB", 1024, 1ll << 32, NULL, O(max_body),
     "largest POST /v1/events body (over: 413)"},
    {"gateway.max_line", CONF_BYTES, "1MiB", 256, 4ll << 20, NULL, O(max_line),
     "largest event line in an ingest body (over: that line is rejected)"},
    {"gateway.max_errors", CONF_INT, "100", 1, 100000, NULL, O(max_errors),
     "errors listed in an ingest reply (all are counted)"},
    {"gateway.ingest_invalid", CONF_ENUM, "repair", 0, 0, "repair|refuse", O(ingest_invalid),
     "an event that names a bundled OCSF version and one of its classes but breaks the "
     "schema (OpenShell's, for one): repair = stored as received, every way out casts it "
     "into valid OCSF with what was changed under unmapped; refuse = rejected with the reason"},
    {"source.kafka.brokers", CONF_STRING, NULL, 0, 0, NULL, O(kafka_brokers),
     "consume OCSF events from Kafka into the spool (fan-in): bootstrap brokers"},
    {"source.kafka.topic", CONF_STRING, NULL, 0, 0, NULL, O(kafka_topic),
     "the topic to consume (with source.kafka.brokers)"},
    {"source.kafka.group", CONF_STRING, "tollgate-gateway", 0, 0, NULL, O(kafka_group),
     "consumer group; offsets are committed once the events are durable in the spool"},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL},
};

void gw_config_default(gw_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    conf_defaults(gw_options, cfg);
}

void gw_config_dispose(gw_config_t *cfg)
{
    conf_dispose(gw_options, cfg);
}

int gw_parse_listen(const char *s, char *host, size_t hostlen, int *port)
{
    const char *colon;
    size_t hl;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return -EINVAL;
        hl = (size_t)(close - s - 1);
        s++;
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -EINVAL;
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= hostlen)
        return -EINVAL;
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || p < 0 || p > 65535)
        return -EINVAL;
    memcpy(host, s, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -EINVAL;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int parse_rfc3339(const char *s, int64_t *out)
{
    int Y, M, D, h, m, sec, ms = 0, oh = 0, om = 0;
    const char *p = s;
    if (digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) || *p++ != '-' || digits(&p, 2, &D) ||
        (*p != 'T' && *p != 't' && *p != ' ') || !*p++ || digits(&p, 2, &h) || *p++ != ':' ||
        digits(&p, 2, &m) || *p++ != ':' || digits(&p, 2, &sec))
        return -EINVAL;
    if (*p == '.') {
        p++;
        int n = 0;
        while (isdigit((unsigned char)p[n]))
            n++;
        if (n == 0)
            return -EINVAL;
        for (int i = 0; i < 3; i++)
            ms = ms * 10 + (i < n ? p[i] - '0' : 0);
        p += n;
    }
    int sign = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '-' ? -1 : 1;
        if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om))
            return -EINVAL;
    } else {
        return -EINVAL;
    }
    if (*p || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return -EINVAL;
    struct tm tm = {.tm_year = Y - 1900,
                    .tm_mon = M - 1,
                    .tm_mday = D,
                    .tm_hour = h,
                    .tm_min = m,
                    .tm_sec = sec};
    int64_t t = (int64_t)timegm(&tm);
    t -= (int64_t)sign * (oh * 3600 + om * 60);
    *out = t * 1000 + ms;
    return 0;
}

int gw_parse_time(const char *s, int64_t now_ms, int64_t *out)
{
    int64_t d;
    if (conf_parse_duration_ms(s, &d) == 0) {
        *out = now_ms - d;
        return 0;
    }
    return parse_rfc3339(s, out);
}
