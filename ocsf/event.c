/*
 * event.c: event init/dispose, builders, equality, caption look-ups.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ocsf/ocsf_internal.h"

static void process_init(ocsf_process_t *p)
{
    memset(p, 0, sizeof *p);
    p->pid = OCSF_NONE;
}

static void endpoint_init(ocsf_endpoint_t *e)
{
    memset(e, 0, sizeof *e);
    e->port = OCSF_NONE;
}

void ocsf_event_init(ocsf_event_t *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->sequence = ev->logged_time = OCSF_NONE;
    ev->device_type_id = OCSF_NONE;
    process_init(&ev->actor);
    process_init(&ev->process);
    ev->exit_code = OCSF_NONE;
    endpoint_init(&ev->dst);
    endpoint_init(&ev->src);
    endpoint_init(&ev->proxy);
    ev->bytes_in = ev->bytes_out = OCSF_NONE;
    ev->start_time = ev->end_time = ev->duration = OCSF_NONE;
    ev->action_id = ev->disposition_id = ev->status_id = ev->confidence_id = OCSF_NONE;
    ev->url_port = ev->http_status = OCSF_NONE;
    ev->state_id = OCSF_NONE;
}

void ocsf_event_dispose(ocsf_event_t *ev)
{
    if (!ev)
        return;
    json_decref((json_t *)ev->owner__);
    free(ev->owned_unmapped__);
    ocsf_event_init(ev);
}

void ocsf_event_begin(ocsf_event_t *ev, int class_uid, int activity_id, int severity_id,
                      int64_t time_ms, const ocsf_product_t *product)
{
    ev->class_uid = class_uid;
    ev->activity_id = activity_id;
    ev->severity_id = severity_id;
    ev->time = time_ms;
    if (product)
        ev->product = *product;
}

void ocsf_process_set_file(ocsf_process_t *p, ocsf_str_t path, ocsf_str_t sha256)
{
    p->path = path;
    p->sha256 = sha256;
    p->file_name = OCSF_NOSTR;
    if (!path.p)
        return;
    const char *slash = path.n ? memrchr(path.p, '/', path.n) : NULL;
    p->file_name = slash ? (ocsf_str_t){slash + 1, path.n - (size_t)(slash + 1 - path.p)} : path;
}

void ocsf_event_verdict(ocsf_event_t *ev, bool allowed, ocsf_str_t rule, ocsf_str_t engine,
                        ocsf_str_t reason)
{
    ev->action_id = allowed ? OCSF_ACTION_ALLOWED : OCSF_ACTION_DENIED;
    ev->disposition_id = allowed ? OCSF_DISP_ALLOWED : OCSF_DISP_BLOCKED;
    if (!allowed && ev->severity_id < OCSF_SEV_MEDIUM)
        ev->severity_id = OCSF_SEV_MEDIUM;
    ev->rule_name = rule;
    ev->rule_type = engine;
    if (!rule.p)
        ev->rule_uid = OCSF_STR("no-match"); /* firewall_rule needs a name or a uid */
    ev->status_detail = reason;
}

static bool process_eq(const ocsf_process_t *a, const ocsf_process_t *b)
{
    return a->pid == b->pid && ocsf_str_eq(a->name, b->name) &&
           ocsf_str_eq(a->cmd_line, b->cmd_line) && ocsf_str_eq(a->uid, b->uid) &&
           ocsf_str_eq(a->path, b->path) && ocsf_str_eq(a->file_name, b->file_name) &&
           ocsf_str_eq(a->sha256, b->sha256) && ocsf_str_eq(a->user_name, b->user_name) &&
           ocsf_str_eq(a->user_uid, b->user_uid);
}

static bool endpoint_eq(const ocsf_endpoint_t *a, const ocsf_endpoint_t *b)
{
    return ocsf_str_eq(a->domain, b->domain) && ocsf_str_eq(a->hostname, b->hostname) &&
           ocsf_str_eq(a->ip, b->ip) && a->port == b->port;
}

static bool product_eq(const ocsf_product_t *a, const ocsf_product_t *b)
{
    return ocsf_str_eq(a->name, b->name) && ocsf_str_eq(a->vendor_name, b->vendor_name) &&
           ocsf_str_eq(a->version, b->version);
}

bool ocsf_event_equal(const ocsf_event_t *a, const ocsf_event_t *b)
{
#define I(f) (a->f == b->f)
#define S(f) ocsf_str_eq(a->f, b->f)
    return I(class_uid) && I(activity_id) && S(activity_other) && I(severity_id) && I(time) &&
           strcmp(a->uid, b->uid) == 0 && I(sequence) && I(logged_time) && S(log_name) &&
           product_eq(&a->product, &b->product) && S(device_hostname) && S(device_ip) &&
           I(device_type_id) && S(container_name) && S(container_uid) &&
           process_eq(&a->actor, &b->actor) && process_eq(&a->process, &b->process) &&
           I(exit_code) && endpoint_eq(&a->dst, &b->dst) && endpoint_eq(&a->src, &b->src) &&
           endpoint_eq(&a->proxy, &b->proxy) && I(bytes_in) && I(bytes_out) && I(start_time) &&
           I(end_time) && I(duration) && I(action_id) && I(disposition_id) && I(status_id) &&
           I(confidence_id) && S(status_detail) && S(message) && S(rule_name) && S(rule_uid) &&
           S(rule_type) && S(http_method) && S(url_scheme) && S(url_hostname) && S(url_path) &&
           S(url_query) && S(url_string) && I(url_port) && I(http_status) && S(finding_uid) &&
           S(finding_title) && S(finding_type) && I(state_id) && S(state_other) && S(policy_name) &&
           S(policy_uid) && S(policy_version) && product_eq(&a->app, &b->app) && S(unmapped);
#undef I
#undef S
}

void ocsf_unmapped_build(ocsf_buf_t *out, const ocsf_str_t *keys, const ocsf_str_t *vals, size_t n)
{
    ocsf_buf_putc(out, '{');
    for (size_t i = 0; i < n; i++) {
        if (i)
            ocsf_buf_putc(out, ',');
        ocsf_json_escape(out, keys[i].p ? keys[i].p : "", keys[i].n);
        ocsf_buf_putc(out, ':');
        ocsf_json_escape(out, vals[i].p ? vals[i].p : "", vals[i].n);
    }
    ocsf_buf_putc(out, '}');
}

const ocsf__class_info_t *ocsf__class(int class_uid)
{
    for (size_t i = 0; i < ocsf__nclasses; i++)
        if (ocsf__classes[i].uid == class_uid)
            return &ocsf__classes[i];
    return NULL;
}

const char *ocsf_class_name(int class_uid)
{
    const ocsf__class_info_t *c = ocsf__class(class_uid);
    return c ? c->caption : NULL;
}

const char *ocsf_caption(int class_uid, const char *attr, int64_t id)
{
    const ocsf__class_info_t *c = ocsf__class(class_uid);
    if (!c)
        return NULL;
    static const struct {
        const char *attr;
        size_t off;
    } map[] = {
        {"activity_id", offsetof(ocsf__class_info_t, activity)},
        {"type_uid", offsetof(ocsf__class_info_t, type_name)},
        {"severity_id", offsetof(ocsf__class_info_t, severity)},
        {"action_id", offsetof(ocsf__class_info_t, action)},
        {"disposition_id", offsetof(ocsf__class_info_t, disposition)},
        {"status_id", offsetof(ocsf__class_info_t, status)},
        {"confidence_id", offsetof(ocsf__class_info_t, confidence)},
        {"state_id", offsetof(ocsf__class_info_t, state)},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (strcmp(map[i].attr, attr) == 0) {
            const char *const *tab;
            memcpy(&tab, (const char *)c + map[i].off, sizeof tab);
            return ocsf__cap(tab, id);
        }
    }
    return NULL;
}

int ocsf_http_activity(ocsf_str_t method)
{
    /* The activity captions of 4002 are the methods in title case. */
    const ocsf__class_info_t *c = ocsf__class(OCSF_CLASS_HTTP);
    if (!c || !method.p)
        return OCSF_OTHER;
    for (int id = 1; id < OCSF_OTHER; id++) {
        const char *cap = ocsf__cap(c->activity, id);
        if (cap && strlen(cap) == method.n && strncasecmp(cap, method.p, method.n) == 0)
            return id;
    }
    return OCSF_OTHER;
}
