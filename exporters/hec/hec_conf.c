/*
 * hec_conf.c: the HEC sink's configuration: its options table (url, token,
 * index, source, sourcetype, host, gzip, ack, ack_timeout, ca_file,
 * insecure_skip_verify, timeout, channel), check and dispose. The sink
 * itself is hec.c. Threads: the config loader's and the exporter's (open
 * checks again); no state of its own.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "exporters/hec/hec_internal.h"

#define O(f) offsetof(hec_config_t, f)
const conf_option_t hec__options[] = {
    {"url", CONF_STRING, NULL, 0, 0, NULL, O(url),
     "HEC base URL, https://splunk:8088 (required; /services/collector/... is appended)"},
    {"token", CONF_STRING, NULL, 0, 0, NULL, O(token), "HEC token (required; never logged)"},
    {"index", CONF_STRING, "", 0, 0, NULL, O(index), "Splunk index (empty: the token's default)"},
    {"source", CONF_STRING, "tollgate", 0, 0, NULL, O(source), "envelope source"},
    {"sourcetype", CONF_STRING, "", 0, 0, NULL, O(sourcetype),
     "envelope sourcetype (empty: ocsf:<class name>, e.g. ocsf:network_activity)"},
    {"host", CONF_STRING, "", 0, 0, NULL, O(host), "envelope host (empty: this host's name)"},
    {"gzip", CONF_ENUM, "on", 0, 0, "off|on", O(gzip), "gzip request bodies"},
    {"ack", CONF_ENUM, "off", 0, 0, "off|on", O(ack),
     "wait for the indexer ack of every batch (the token must have acks on)"},
    {"ack_timeout", CONF_DURATION, "60s", 100, 3600000, NULL, O(ack_timeout_ms),
     "resend a batch whose ack has not come by then"},
    {"ca_file", CONF_STRING, "", 0, 0, NULL, O(ca_file), "CA bundle for the HEC certificate"},
    {"insecure_skip_verify", CONF_ENUM, "off", 0, 0, "off|on", O(insecure),
     "do not verify the HEC certificate (logged as a warning)"},
    {"timeout", CONF_DURATION, "30s", 100, 600000, NULL, O(timeout_ms), "per request"},
    {"channel", CONF_STRING, "", 0, 0, NULL, O(channel),
     "X-Splunk-Request-Channel (empty: a UUID derived from the exporter name and host)"},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL},
};
#undef O

/* True when s has no byte a header or URL must not carry. */
static bool hec__clean(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || *s == 0x7f)
            return false;
    return true;
}

int hec__check(const void *config, char *err, size_t errlen)
{
    const hec_config_t *c = config;
    if (!hec__set(c->url) || !hec__set(c->token)) {
        snprintf(err, errlen, "hec: %s is required", hec__set(c->url) ? "token" : "url");
        return -EINVAL;
    }
    if ((strncmp(c->url, "http://", 7) != 0 && strncmp(c->url, "https://", 8) != 0) ||
        !hec__clean(c->url)) {
        snprintf(err, errlen, "hec: url must be http:// or https:// without spaces or controls");
        return -EINVAL;
    }
    if (!hec__clean(c->token)) {
        snprintf(err, errlen, "hec: token has a space or a control character");
        return -EINVAL;
    }
    if (hec__set(c->channel) && !hec__clean(c->channel)) {
        snprintf(err, errlen, "hec: channel has a space or a control character");
        return -EINVAL;
    }
    return 0;
}

void hec__dispose(void *config)
{
    conf_dispose(hec__options, config);
}
