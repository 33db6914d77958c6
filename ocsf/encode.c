/*
 * encode.c: the one OCSF JSON encoder.
 *
 * Writes bytes directly (no jansson tree): compact, one line, keys sorted
 * bytewise at every level, so the output is its own canonical form. Every
 * string goes through ocsf_json_escape(); captions come from the generated
 * tables (schemas/).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ocsf/ocsf_internal.h"

typedef struct {
    ocsf_buf_t *b;
    bool first;
} obj_t;

static void key_(obj_t *o, const char *k, size_t n)
{
    if (!o->first)
        ocsf_buf_putc(o->b, ',');
    o->first = false;
    ocsf_buf_put(o->b, k, n);
}
#define KEY(o, lit) key_((o), "\"" lit "\":", sizeof("\"" lit "\":") - 1)

static void open_(obj_t *o, ocsf_buf_t *b)
{
    o->b = b;
    o->first = true;
    ocsf_buf_putc(b, '{');
}
static void close_(obj_t *o)
{
    ocsf_buf_putc(o->b, '}');
}

static void put_s(obj_t *o, const char *k, size_t kn, ocsf_str_t s)
{
    if (!s.p)
        return;
    key_(o, k, kn);
    ocsf_json_escape(o->b, s.p, s.n);
}
#define STR(o, lit, s) put_s((o), "\"" lit "\":", sizeof("\"" lit "\":") - 1, (s))

static void put_c(obj_t *o, const char *k, size_t kn, const char *cap)
{
    if (!cap)
        return;
    key_(o, k, kn);
    ocsf_json_escape(o->b, cap, strlen(cap));
}
#define CAP(o, lit, cap) put_c((o), "\"" lit "\":", sizeof("\"" lit "\":") - 1, (cap))

static void put_i(obj_t *o, const char *k, size_t kn, int64_t v)
{
    if (v == OCSF_NONE)
        return;
    key_(o, k, kn);
    ocsf_buf_put_i64(o->b, v);
}
#define INT(o, lit, v) put_i((o), "\"" lit "\":", sizeof("\"" lit "\":") - 1, (v))

static bool has_process(const ocsf_process_t *p)
{
    return p->pid != OCSF_NONE || p->name.p || p->cmd_line.p || p->uid.p || p->path.p ||
           p->file_name.p || p->sha256.p || p->user_name.p || p->user_uid.p;
}

static bool has_endpoint(const ocsf_endpoint_t *e)
{
    return e->domain.p || e->hostname.p || e->ip.p || e->port != OCSF_NONE;
}

static bool has_product(const ocsf_product_t *p)
{
    return p->name.p || p->vendor_name.p || p->version.p;
}

static void enc_product(obj_t *parent, const char *k, size_t kn, const ocsf_product_t *p)
{
    key_(parent, k, kn);
    obj_t o;
    open_(&o, parent->b);
    STR(&o, "name", p->name);
    STR(&o, "vendor_name", p->vendor_name);
    STR(&o, "version", p->version);
    close_(&o);
}

static void enc_file(obj_t *parent, const ocsf_process_t *p)
{
    if (!p->path.p && !p->file_name.p && !p->sha256.p)
        return;
    KEY(parent, "file");
    obj_t o;
    open_(&o, parent->b);
    if (p->sha256.p) {
        KEY(&o, "hashes");
        ocsf_buf_putc(o.b, '[');
        obj_t h;
        open_(&h, o.b);
        CAP(&h, "algorithm", ocsf__cap_hash_algorithm[OCSF_HASH_SHA256]);
        INT(&h, "algorithm_id", OCSF_HASH_SHA256);
        STR(&h, "value", p->sha256);
        close_(&h);
        ocsf_buf_putc(o.b, ']');
    }
    STR(&o, "name", p->file_name);
    STR(&o, "path", p->path);
    CAP(&o, "type", ocsf__cap_file_type[OCSF_FILE_REGULAR]);
    INT(&o, "type_id", OCSF_FILE_REGULAR);
    close_(&o);
}

static void enc_process(obj_t *parent, const char *k, size_t kn, const ocsf_process_t *p)
{
    key_(parent, k, kn);
    obj_t o;
    open_(&o, parent->b);
    STR(&o, "cmd_line", p->cmd_line);
    enc_file(&o, p);
    STR(&o, "name", p->name);
    INT(&o, "pid", p->pid);
    STR(&o, "uid", p->uid);
    if (p->user_name.p || p->user_uid.p) {
        KEY(&o, "user");
        obj_t u;
        open_(&u, o.b);
        STR(&u, "name", p->user_name);
        STR(&u, "uid", p->user_uid);
        close_(&u);
    }
    close_(&o);
}

static void enc_endpoint(obj_t *parent, const char *k, size_t kn, const ocsf_endpoint_t *e)
{
    if (!has_endpoint(e))
        return;
    key_(parent, k, kn);
    obj_t o;
    open_(&o, parent->b);
    STR(&o, "domain", e->domain);
    STR(&o, "hostname", e->hostname);
    STR(&o, "ip", e->ip);
    INT(&o, "port", e->port);
    close_(&o);
}
#define ENDPOINT(o, lit, e) enc_endpoint((o), "\"" lit "\":", sizeof("\"" lit "\":") - 1, (e))

static void enc_actor(obj_t *top, const ocsf_event_t *ev)
{
    if (!has_process(&ev->actor))
        return;
    KEY(top, "actor");
    obj_t o;
    open_(&o, top->b);
    enc_process(&o, "\"process\":", 10, &ev->actor);
    close_(&o);
}

static void enc_device(obj_t *top, const ocsf_event_t *ev)
{
    bool container = ev->container_name.p || ev->container_uid.p;
    if (!container && !ev->device_hostname.p && !ev->device_ip.p && ev->device_type_id == OCSF_NONE)
        return;
    KEY(top, "device");
    obj_t o;
    open_(&o, top->b);
    if (container) {
        KEY(&o, "container");
        obj_t c;
        open_(&c, o.b);
        STR(&c, "name", ev->container_name);
        STR(&c, "uid", ev->container_uid);
        close_(&c);
    }
    STR(&o, "hostname", ev->device_hostname);
    STR(&o, "ip", ev->device_ip);
    if (ev->device_type_id != OCSF_NONE)
        CAP(&o, "type", ocsf__cap(ocsf__cap_device_type, ev->device_type_id));
    INT(&o, "type_id", ev->device_type_id);
    close_(&o);
}

static void enc_finding(obj_t *top, const ocsf_event_t *ev)
{
    if (!ev->finding_uid.p && !ev->finding_title.p && !ev->finding_type.p)
        return;
    KEY(top, "finding_info");
    obj_t o;
    open_(&o, top->b);
    STR(&o, "title", ev->finding_title);
    if (ev->finding_type.p) {
        KEY(&o, "types");
        ocsf_buf_putc(o.b, '[');
        ocsf_json_escape(o.b, ev->finding_type.p, ev->finding_type.n);
        ocsf_buf_putc(o.b, ']');
    }
    STR(&o, "uid", ev->finding_uid);
    close_(&o);
}

static void enc_rule(obj_t *top, const ocsf_event_t *ev)
{
    if (!ev->rule_name.p && !ev->rule_uid.p && !ev->rule_type.p)
        return;
    KEY(top, "firewall_rule");
    obj_t o;
    open_(&o, top->b);
    STR(&o, "name", ev->rule_name);
    STR(&o, "type", ev->rule_type);
    STR(&o, "uid", ev->rule_uid);
    close_(&o);
}

static void enc_http(obj_t *top, const ocsf_event_t *ev)
{
    bool url = ev->url_scheme.p || ev->url_hostname.p || ev->url_path.p || ev->url_query.p ||
               ev->url_string.p || ev->url_port != OCSF_NONE;
    if (ev->http_method.p || url) {
        KEY(top, "http_request");
        obj_t o;
        open_(&o, top->b);
        STR(&o, "http_method", ev->http_method);
        if (url) {
            KEY(&o, "url");
            obj_t u;
            open_(&u, o.b);
            STR(&u, "hostname", ev->url_hostname);
            STR(&u, "path", ev->url_path);
            INT(&u, "port", ev->url_port);
            STR(&u, "query_string", ev->url_query);
            STR(&u, "scheme", ev->url_scheme);
            STR(&u, "url_string", ev->url_string);
            close_(&u);
        }
        close_(&o);
    }
    if (ev->http_status != OCSF_NONE) {
        KEY(top, "http_response");
        obj_t o;
        open_(&o, top->b);
        INT(&o, "code", ev->http_status);
        close_(&o);
    }
}

/* Where ocsf_encode_deferred() leaves room for logged_time and sequence:
 * offsets relative to `base` in the output buffer. NULL: write them. */
typedef struct {
    size_t base;
    size_t *at;
} defer_t;

static void enc_metadata(obj_t *top, const ocsf_event_t *ev, const defer_t *d)
{
    KEY(top, "metadata");
    obj_t o;
    open_(&o, top->b);
    STR(&o, "log_name", ev->log_name);
    if (d) {
        /* the next key is "product" (always written): logged_time goes in
         * front of it, as `"logged_time":N,` */
        if (!o.first)
            ocsf_buf_putc(o.b, ',');
        o.first = true;
        d->at[0] = o.b->len - d->base;
    } else {
        INT(&o, "logged_time", ev->logged_time);
    }
    enc_product(&o, "\"product\":", 10, &ev->product);
    /* profiles: every profile whose attributes the event carries, sorted */
    bool container = ev->container_name.p || ev->container_uid.p;
    bool host = has_process(&ev->actor) || container || ev->device_hostname.p || ev->device_ip.p ||
                ev->device_type_id != OCSF_NONE;
    bool secctl = ev->action_id != OCSF_NONE || ev->disposition_id != OCSF_NONE ||
                  ev->rule_name.p || ev->rule_uid.p || ev->rule_type.p || ev->policy_name.p ||
                  ev->policy_uid.p || ev->policy_version.p ||
                  (ev->confidence_id != OCSF_NONE && ev->class_uid != OCSF_CLASS_FINDING);
    KEY(&o, "profiles");
    ocsf_buf_putc(o.b, '[');
    const char *sep = "";
    if (container)
        ocsf_buf_puts(o.b, "\"container\""), sep = ",";
    if (host)
        ocsf_buf_puts(o.b, sep), ocsf_buf_puts(o.b, "\"host\""), sep = ",";
    if (has_endpoint(&ev->proxy))
        ocsf_buf_puts(o.b, sep), ocsf_buf_puts(o.b, "\"network_proxy\""), sep = ",";
    if (secctl)
        ocsf_buf_puts(o.b, sep), ocsf_buf_puts(o.b, "\"security_control\"");
    ocsf_buf_putc(o.b, ']');
    if (d) {
        /* the next key is "uid" or "version" (always written) */
        ocsf_buf_putc(o.b, ',');
        o.first = true;
        d->at[1] = o.b->len - d->base;
    } else {
        INT(&o, "sequence", ev->sequence);
    }
    if (ev->uid[0])
        STR(&o, "uid", ocsf_str(ev->uid));
    CAP(&o, "version", ocsf__schema_version);
    close_(&o);
}

static void enc_policy(obj_t *top, const ocsf_event_t *ev)
{
    if (!ev->policy_name.p && !ev->policy_uid.p && !ev->policy_version.p)
        return;
    KEY(top, "policy");
    obj_t o;
    open_(&o, top->b);
    STR(&o, "name", ev->policy_name);
    STR(&o, "uid", ev->policy_uid);
    STR(&o, "version", ev->policy_version);
    close_(&o);
}

static int encode(const ocsf_event_t *ev, ocsf_buf_t *out, const defer_t *d, char *err,
                  size_t errlen)
{
    const ocsf__class_info_t *c = ocsf__class(ev->class_uid);
    if (!c) {
        snprintf(err, errlen, "class_uid %d is not a class tollgate emits", ev->class_uid);
        return -EINVAL;
    }
    if (!ocsf__cap(c->activity, ev->activity_id)) {
        snprintf(err, errlen, "activity_id %d is not defined for %s", ev->activity_id, c->caption);
        return -EINVAL;
    }
    if (!ocsf__cap(c->severity, ev->severity_id)) {
        snprintf(err, errlen, "severity_id %d is not defined", ev->severity_id);
        return -EINVAL;
    }
    obj_t o;
    open_(&o, out);
    if (ev->action_id != OCSF_NONE)
        CAP(&o, "action", ocsf__cap(c->action, ev->action_id));
    INT(&o, "action_id", ev->action_id);
    INT(&o, "activity_id", ev->activity_id);
    if (ev->activity_id == OCSF_OTHER && ev->activity_other.p)
        STR(&o, "activity_name", ev->activity_other);
    else
        CAP(&o, "activity_name", ocsf__cap(c->activity, ev->activity_id));
    enc_actor(&o, ev);
    if (has_product(&ev->app))
        enc_product(&o, "\"app\":", 6, &ev->app);
    CAP(&o, "category_name", c->category_name);
    INT(&o, "category_uid", c->category_uid);
    CAP(&o, "class_name", c->caption);
    INT(&o, "class_uid", c->uid);
    if (ev->confidence_id != OCSF_NONE)
        CAP(&o, "confidence", ocsf__cap(c->confidence, ev->confidence_id));
    INT(&o, "confidence_id", ev->confidence_id);
    enc_device(&o, ev);
    if (ev->disposition_id != OCSF_NONE)
        CAP(&o, "disposition", ocsf__cap(c->disposition, ev->disposition_id));
    INT(&o, "disposition_id", ev->disposition_id);
    ENDPOINT(&o, "dst_endpoint", &ev->dst);
    INT(&o, "duration", ev->duration);
    INT(&o, "end_time", ev->end_time);
    INT(&o, "exit_code", ev->exit_code);
    enc_finding(&o, ev);
    enc_rule(&o, ev);
    enc_http(&o, ev);
    STR(&o, "message", ev->message);
    enc_metadata(&o, ev, d);
    enc_policy(&o, ev);
    if (has_process(&ev->process))
        enc_process(&o, "\"process\":", 10, &ev->process);
    ENDPOINT(&o, "proxy_endpoint", &ev->proxy);
    CAP(&o, "severity", ocsf__cap(c->severity, ev->severity_id));
    INT(&o, "severity_id", ev->severity_id);
    ENDPOINT(&o, "src_endpoint", &ev->src);
    INT(&o, "start_time", ev->start_time);
    if (ev->state_id == OCSF_OTHER && ev->state_other.p)
        STR(&o, "state", ev->state_other);
    else if (ev->state_id != OCSF_NONE)
        CAP(&o, "state", ocsf__cap(c->state, ev->state_id));
    INT(&o, "state_id", ev->state_id);
    if (ev->status_id != OCSF_NONE)
        CAP(&o, "status", ocsf__cap(c->status, ev->status_id));
    STR(&o, "status_detail", ev->status_detail);
    INT(&o, "status_id", ev->status_id);
    INT(&o, "time", ev->time);
    if (ev->bytes_in != OCSF_NONE || ev->bytes_out != OCSF_NONE) {
        KEY(&o, "traffic");
        obj_t t;
        open_(&t, out);
        INT(&t, "bytes_in", ev->bytes_in);
        INT(&t, "bytes_out", ev->bytes_out);
        close_(&t);
    }
    /* for activity 99 the schema's "<class>: Other" stays the type_name */
    CAP(&o, "type_name", ocsf__cap(c->type_name, ev->activity_id));
    INT(&o, "type_uid", (int64_t)c->uid * 100 + ev->activity_id);
    if (ev->unmapped.p) {
        KEY(&o, "unmapped");
        ocsf_buf_put(out, ev->unmapped.p, ev->unmapped.n);
    }
    close_(&o);
    return 0;
}

int ocsf_encode(const ocsf_event_t *ev, ocsf_buf_t *out, char *err, size_t errlen)
{
    return encode(ev, out, NULL, err, errlen);
}

int ocsf_encode_deferred(const ocsf_event_t *ev, ocsf_buf_t *out, size_t at[2], char *err,
                         size_t errlen)
{
    defer_t d = {out->len, at};
    return encode(ev, out, &d, err, errlen);
}
