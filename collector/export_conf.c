/*
 * export_conf.c: the exporters' settings: the keys every exporter takes
 * (exp_options), the sink types, and the `exporters:` list of a config
 * file, checked item by item (name, type, each key, the sink's check).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/export.h"

#define O(f) offsetof(exp_config_t, f)

const char *const exp_ocsf_versions[] = {"1.7.0", "1.3.0", "1.1.0", "1.8.0", NULL};

const conf_option_t exp_options[] = {
    {"enabled", CONF_ENUM, "on", 0, 0, "off|on", O(enabled),
     "off: the exporter does not run and does not hold the spool's retention"},
    {"ocsf_version", CONF_ENUM, "1.7.0", 0, 0, "1.7.0|1.3.0|1.1.0|1.8.0", O(ocsf_version),
     "events are cast to this OCSF version on the way out (what it lacks goes to unmapped)"},
    {"start", CONF_ENUM, "beginning", 0, 0, "beginning|end", O(start),
     "where a new exporter (no checkpoint yet) begins: the oldest event in the spool, or the "
     "next one written"},
    {"batch.max_events", CONF_INT, "5000", 1, 1000000, NULL, O(batch_events),
     "events per batch at most"},
    {"batch.max_bytes", CONF_BYTES, "1MiB", 1024, 256ll << 20, NULL, O(batch_bytes),
     "bytes of event JSON per batch at most (one larger event goes alone)"},
    {"batch.linger", CONF_DURATION, "200ms", 0, 60000, NULL, O(linger_ms),
     "wait this long for a fuller batch"},
    {"retry.initial", CONF_DURATION, "1s", 10, 3600000, NULL, O(retry_initial_ms),
     "first backoff after a failed batch"},
    {"retry.max", CONF_DURATION, "30s", 10, 86400000, NULL, O(retry_max_ms),
     "longest backoff (doubling with full jitter up to here; also the pause interval)"},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL},
};

/* ---- configuration ------------------------------------------------------ */

static const exp_sink_type_t *const sink_types[] = {&exp_sink_file, &exp_sink_kafka, &exp_sink_hec,
                                                    &exp_sink_stdout};

const exp_sink_type_t *exp_sink_find(const char *type)
{
    for (size_t i = 0; i < sizeof sink_types / sizeof *sink_types; i++)
        if (strcmp(sink_types[i]->type, type) == 0)
            return sink_types[i];
    return NULL;
}

static void config_dispose(exp_config_t *c)
{
    if (c->sink && c->sink_config) {
        if (c->sink->dispose)
            c->sink->dispose(c->sink_config);
        conf_dispose(c->sink->options, c->sink_config);
    }
    free(c->sink_config);
    conf_dispose(exp_options, c);
    free(c->name);
    free(c->type);
    memset(c, 0, sizeof *c);
}

void exp_config_list_dispose(exp_config_list_t *list)
{
    for (size_t i = 0; i < list->n; i++)
        config_dispose(&list->v[i]);
    free(list->v);
    list->v = NULL;
    list->n = 0;
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
            return false;
    return true;
}

static void shown(char *out, size_t outlen, const char *s)
{
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    ocsf_text_escape(&b, s, strlen(s), 80, OCSF_ESC_QUOTE);
    snprintf(out, outlen, "%s", ocsf_buf_cstr(&b));
    ocsf_buf_dispose(&b);
}

int exp_config_add(exp_config_list_t *list, const conf_kv_t *kv, size_t n, char *why, size_t whylen,
                   size_t *bad_line)
{
    exp_config_t c;
    const conf_kv_t *name = NULL, *type = NULL;
    char s[128];
    memset(&c, 0, sizeof c);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(kv[i].key, "name") == 0)
            name = &kv[i];
        else if (strcmp(kv[i].key, "type") == 0)
            type = &kv[i];
    }
    if (!name || !name_ok(name->value)) {
        if (name)
            *bad_line = name->line;
        shown(s, sizeof s, name ? name->value : "");
        snprintf(why, whylen,
                 name ? "exporters: name '%s': use 1 to 64 letters, digits, '-' or '_'"
                      : "exporters: an exporter needs a name%s",
                 name ? s : "");
        return -EINVAL;
    }
    for (size_t i = 0; i < list->n; i++)
        if (strcmp(list->v[i].name, name->value) == 0) {
            *bad_line = name->line;
            snprintf(why, whylen, "exporters: name '%s' is used twice", name->value);
            return -EINVAL;
        }
    if (!type) {
        snprintf(why, whylen, "exporters: %s: type is missing (file, kafka, hec or stdout)",
                 name->value);
        return -EINVAL;
    }
    c.sink = exp_sink_find(type->value);
    if (!c.sink) {
        *bad_line = type->line;
        shown(s, sizeof s, type->value);
        snprintf(why, whylen, "exporters: %s: type '%s' is not one of file|kafka|hec|stdout",
                 name->value, s);
        return -EINVAL;
    }
    conf_defaults(exp_options, &c);
    c.name = strdup(name->value);
    c.type = strdup(type->value);
    c.sink_config = calloc(1, c.sink->config_size ? c.sink->config_size : 1);
    if (!c.name || !c.type || !c.sink_config) {
        config_dispose(&c);
        return -ENOMEM;
    }
    conf_defaults(c.sink->options, c.sink_config);
    int rc = 0;
    char msg[384];
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (&kv[i] == name || &kv[i] == type)
            continue;
        rc = conf_set(exp_options, &c, kv[i].key, kv[i].value, msg, sizeof msg);
        if (rc == -ENOENT)
            rc = conf_set(c.sink->options, c.sink_config, kv[i].key, kv[i].value, msg, sizeof msg);
        if (rc == -ENOENT && c.sink->set_extra)
            rc = c.sink->set_extra(c.sink_config, kv[i].key, kv[i].value, msg, sizeof msg);
        if (rc) {
            *bad_line = kv[i].line;
            if (rc == -ENOENT) {
                shown(s, sizeof s, kv[i].key);
                snprintf(msg, sizeof msg, "unknown key '%s' for type %s", s, c.type);
            }
            snprintf(why, whylen, "exporters: %s: %s", c.name, msg);
        }
    }
    if (rc == 0 && c.retry_max_ms < c.retry_initial_ms) {
        snprintf(why, whylen, "exporters: %s: retry.max is shorter than retry.initial", c.name);
        rc = -EINVAL;
    }
    if (rc == 0 && c.sink->check && (rc = c.sink->check(c.sink_config, msg, sizeof msg)) != 0)
        snprintf(why, whylen, "exporters: %s: %s", c.name, msg);
    if (rc == 0) {
        exp_config_t *v = realloc(list->v, (list->n + 1) * sizeof *v);
        if (!v)
            rc = -ENOMEM;
        else {
            list->v = v;
            list->v[list->n++] = c;
            return 0;
        }
    }
    config_dispose(&c);
    return rc;
}

static int hook_cb(void *ctx, const conf_kv_t *kv, size_t n, size_t item_line, char *why,
                   size_t whylen, size_t *bad_line)
{
    (void)item_line;
    return exp_config_add(ctx, kv, n, why, whylen, bad_line);
}

conf_list_t exp_config_list_hook(exp_config_list_t *list)
{
    return (conf_list_t){"exporters", hook_cb, list};
}
