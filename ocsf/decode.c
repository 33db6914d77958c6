/*
 * decode.c: OCSF JSON from other processes back into ocsf_event_t.
 *
 * Strict: an attribute tollgate does not model is an error (it would be lost
 * on re-encoding), as are wrong types, unknown classes and activities,
 * captions that contradict their ids, and strings over OCSF_MAX_FIELD.
 * Captions are checked, then dropped: the encoder writes them from schemas/.
 * The event keeps the jansson tree alive and points into its strings.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ocsf/ocsf_internal.h"

enum kind {
    F_STR,
    F_INT,
    F_HEAD,
    F_PORT,
    F_OBJ,
    F_CAP,
    F_HASHES,
    F_TYPES,
    F_UNMAPPED,
    F_UID,
    F_VERSION,
    F_PROFILES,
    F_FILETYPE
};

enum cap {
    C_ACTIVITY,
    C_CATEGORY,
    C_CLASS,
    C_TYPE,
    C_SEVERITY,
    C_ACTION,
    C_DISPOSITION,
    C_STATUS,
    C_CONFIDENCE,
    C_STATE,
    C_DEVTYPE,
    C_NCAPS
};

typedef struct field {
    const char *key;
    enum kind kind;
    size_t off;              /* into the current base */
    const struct field *sub; /* F_OBJ */
    int cap;                 /* F_CAP */
} field_t;

/* The path to the current attribute, kept as a chain on the stack and
 * formatted only when there is an error to report. */
typedef struct path {
    const struct path *up;
    const char *key; /* from the input: escaped when formatted */
} path_t;

typedef struct {
    char *err;
    size_t errlen;
    char pbuf[320];
    const char *caps[C_NCAPS];
    size_t capn[C_NCAPS];
    ocsf_event_t *ev;
} dctx_t;

static void pfmt(ocsf_buf_t *b, const path_t *p)
{
    if (!p || !p->key)
        return;
    pfmt(b, p->up);
    if (b->len)
        ocsf_buf_putc(b, '.');
    ocsf_text_escape(b, p->key, strlen(p->key), 64, 0);
}

/* The path as text, in d->pbuf (valid until the next call). */
static const char *pstr(dctx_t *d, const path_t *p)
{
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    pfmt(&b, p);
    size_t n = b.len < 300 ? b.len : ocsf__utf8_cut(b.p, 300); /* whole characters */
    snprintf(d->pbuf, sizeof d->pbuf, "%.*s", (int)n, b.p ? b.p : "");
    ocsf_buf_dispose(&b);
    return d->pbuf;
}

__attribute__((format(printf, 2, 3))) static int fail(dctx_t *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->err, d->errlen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

#define EV(f) offsetof(ocsf_event_t, f)
#define PR(f) offsetof(ocsf_process_t, f)
#define EP(f) offsetof(ocsf_endpoint_t, f)
#define PD(f) offsetof(ocsf_product_t, f)
#define END                                                                                        \
    {                                                                                              \
        NULL, 0, 0, NULL, 0                                                                        \
    }

static const field_t product_f[] = {
    {"name", F_STR, PD(name), NULL, 0},
    {"vendor_name", F_STR, PD(vendor_name), NULL, 0},
    {"version", F_STR, PD(version), NULL, 0},
    END,
};
static const field_t file_f[] = {
    {"hashes", F_HASHES, PR(sha256), NULL, 0}, {"name", F_STR, PR(file_name), NULL, 0},
    {"path", F_STR, PR(path), NULL, 0},        {"type", F_FILETYPE, 0, NULL, 0},
    {"type_id", F_FILETYPE, 1, NULL, 0},       END,
};
static const field_t user_f[] = {
    {"name", F_STR, PR(user_name), NULL, 0},
    {"uid", F_STR, PR(user_uid), NULL, 0},
    END,
};
static const field_t process_f[] = {
    {"cmd_line", F_STR, PR(cmd_line), NULL, 0},
    {"file", F_OBJ, 0, file_f, 0},
    {"name", F_STR, PR(name), NULL, 0},
    {"pid", F_INT, PR(pid), NULL, 0},
    {"uid", F_STR, PR(uid), NULL, 0},
    {"user", F_OBJ, 0, user_f, 0},
    END,
};
static const field_t actor_f[] = {
    {"process", F_OBJ, 0, process_f, 0},
    END,
};
static const field_t endpoint_f[] = {
    {"domain", F_STR, EP(domain), NULL, 0},
    {"hostname", F_STR, EP(hostname), NULL, 0},
    {"ip", F_STR, EP(ip), NULL, 0},
    {"port", F_PORT, EP(port), NULL, 0},
    END,
};
static const field_t container_f[] = {
    {"name", F_STR, EV(container_name), NULL, 0},
    {"uid", F_STR, EV(container_uid), NULL, 0},
    END,
};
static const field_t device_f[] = {
    {"container", F_OBJ, 0, container_f, 0},
    {"hostname", F_STR, EV(device_hostname), NULL, 0},
    {"ip", F_STR, EV(device_ip), NULL, 0},
    {"type", F_CAP, 0, NULL, C_DEVTYPE},
    {"type_id", F_INT, EV(device_type_id), NULL, 0},
    END,
};
static const field_t metadata_f[] = {
    {"log_name", F_STR, EV(log_name), NULL, 0},
    {"logged_time", F_INT, EV(logged_time), NULL, 0},
    {"product", F_OBJ, EV(product), product_f, 0},
    {"profiles", F_PROFILES, 0, NULL, 0},
    {"sequence", F_INT, EV(sequence), NULL, 0},
    {"uid", F_UID, 0, NULL, 0},
    {"version", F_VERSION, 0, NULL, 0},
    END,
};
static const field_t traffic_f[] = {
    {"bytes_in", F_INT, EV(bytes_in), NULL, 0},
    {"bytes_out", F_INT, EV(bytes_out), NULL, 0},
    END,
};
static const field_t rule_f[] = {
    {"name", F_STR, EV(rule_name), NULL, 0},
    {"type", F_STR, EV(rule_type), NULL, 0},
    {"uid", F_STR, EV(rule_uid), NULL, 0},
    END,
};
static const field_t url_f[] = {
    {"hostname", F_STR, EV(url_hostname), NULL, 0},
    {"path", F_STR, EV(url_path), NULL, 0},
    {"port", F_PORT, EV(url_port), NULL, 0},
    {"query_string", F_STR, EV(url_query), NULL, 0},
    {"scheme", F_STR, EV(url_scheme), NULL, 0},
    {"url_string", F_STR, EV(url_string), NULL, 0},
    END,
};
static const field_t request_f[] = {
    {"http_method", F_STR, EV(http_method), NULL, 0},
    {"url", F_OBJ, 0, url_f, 0},
    END,
};
static const field_t response_f[] = {
    {"code", F_INT, EV(http_status), NULL, 0},
    END,
};
static const field_t finding_f[] = {
    {"title", F_STR, EV(finding_title), NULL, 0},
    {"types", F_TYPES, EV(finding_type), NULL, 0},
    {"uid", F_STR, EV(finding_uid), NULL, 0},
    END,
};
static const field_t policy_f[] = {
    {"name", F_STR, EV(policy_name), NULL, 0},
    {"uid", F_STR, EV(policy_uid), NULL, 0},
    {"version", F_STR, EV(policy_version), NULL, 0},
    END,
};
static const field_t event_f[] = {
    {"action", F_CAP, 0, NULL, C_ACTION},
    {"action_id", F_INT, EV(action_id), NULL, 0},
    {"activity_id", F_HEAD, 0, NULL, 0}, /* read before the walk */
    {"activity_name", F_CAP, 0, NULL, C_ACTIVITY},
    {"actor", F_OBJ, EV(actor), actor_f, 0},
    {"app", F_OBJ, EV(app), product_f, 0},
    {"category_name", F_CAP, 0, NULL, C_CATEGORY},
    {"category_uid", F_HEAD, 0, NULL, 0},
    {"class_name", F_CAP, 0, NULL, C_CLASS},
    {"class_uid", F_HEAD, 0, NULL, 0},
    {"confidence", F_CAP, 0, NULL, C_CONFIDENCE},
    {"confidence_id", F_INT, EV(confidence_id), NULL, 0},
    {"device", F_OBJ, 0, device_f, 0},
    {"disposition", F_CAP, 0, NULL, C_DISPOSITION},
    {"disposition_id", F_INT, EV(disposition_id), NULL, 0},
    {"dst_endpoint", F_OBJ, EV(dst), endpoint_f, 0},
    {"duration", F_INT, EV(duration), NULL, 0},
    {"end_time", F_INT, EV(end_time), NULL, 0},
    {"exit_code", F_INT, EV(exit_code), NULL, 0},
    {"finding_info", F_OBJ, 0, finding_f, 0},
    {"firewall_rule", F_OBJ, 0, rule_f, 0},
    {"http_request", F_OBJ, 0, request_f, 0},
    {"http_response", F_OBJ, 0, response_f, 0},
    {"message", F_STR, EV(message), NULL, 0},
    {"metadata", F_OBJ, 0, metadata_f, 0},
    {"policy", F_OBJ, 0, policy_f, 0},
    {"process", F_OBJ, EV(process), process_f, 0},
    {"proxy_endpoint", F_OBJ, EV(proxy), endpoint_f, 0},
    {"severity", F_CAP, 0, NULL, C_SEVERITY},
    {"severity_id", F_HEAD, 0, NULL, 0}, /* read before the walk */
    {"src_endpoint", F_OBJ, EV(src), endpoint_f, 0},
    {"start_time", F_INT, EV(start_time), NULL, 0},
    {"state", F_CAP, 0, NULL, C_STATE},
    {"state_id", F_INT, EV(state_id), NULL, 0},
    {"status", F_CAP, 0, NULL, C_STATUS},
    {"status_detail", F_STR, EV(status_detail), NULL, 0},
    {"status_id", F_INT, EV(status_id), NULL, 0},
    {"time", F_INT, EV(time), NULL, 0},
    {"traffic", F_OBJ, 0, traffic_f, 0},
    {"type_name", F_CAP, 0, NULL, C_TYPE},
    {"type_uid", F_HEAD, 0, NULL, 0},
    {"unmapped", F_UNMAPPED, 0, NULL, 0},
    END,
};

static int get_str(dctx_t *d, json_t *v, const path_t *path, ocsf_str_t *out)
{
    if (!json_is_string(v))
        return fail(d, "%s: expected a string", pstr(d, path));
    size_t n = json_string_length(v);
    if (n > OCSF_MAX_FIELD)
        return fail(d, "%s: %zu bytes, longer than the limit of %d", pstr(d, path), n,
                    OCSF_MAX_FIELD);
    *out = (ocsf_str_t){json_string_value(v), n};
    return 0;
}

static int get_int(dctx_t *d, json_t *v, const path_t *path, int64_t *out)
{
    if (!json_is_integer(v))
        return fail(d, "%s: expected an integer", pstr(d, path));
    json_int_t i = json_integer_value(v);
    if (i == INT64_MIN)
        return fail(d, "%s: out of range", pstr(d, path));
    *out = (int64_t)i;
    return 0;
}

static int walk(dctx_t *d, json_t *obj, const field_t *fields, char *base, const path_t *path);

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Any JSON value, compact, keys sorted, strings through ocsf_json_escape.
 * Depth is bounded by jansson's parser. */
static void dump_json(ocsf_buf_t *b, json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v), i = 0;
        const char **keys = malloc((n ? n : 1) * sizeof *keys);
        const char *key;
        json_t *x;
        if (!keys)
            abort();
        json_object_foreach(v, key, x) keys[i++] = key;
        qsort(keys, n, sizeof *keys, cmp_keys);
        ocsf_buf_putc(b, '{');
        for (i = 0; i < n; i++) {
            if (i)
                ocsf_buf_putc(b, ',');
            ocsf_json_escape(b, keys[i], strlen(keys[i]));
            ocsf_buf_putc(b, ':');
            dump_json(b, json_object_get(v, keys[i]));
        }
        ocsf_buf_putc(b, '}');
        free(keys);
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *x;
        ocsf_buf_putc(b, '[');
        json_array_foreach(v, i, x)
        {
            if (i)
                ocsf_buf_putc(b, ',');
            dump_json(b, x);
        }
        ocsf_buf_putc(b, ']');
        break;
    }
    case JSON_STRING: ocsf_json_escape(b, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: ocsf_buf_put_i64(b, json_integer_value(v)); break;
    case JSON_REAL: {
        char tmp[40];
        int n = snprintf(tmp, sizeof tmp, "%.17g", json_real_value(v));
        ocsf_buf_put(b, tmp, (size_t)n);
        if (!strpbrk(tmp, ".eEn")) /* stay a real: 1 -> 1.0 */
            ocsf_buf_puts(b, ".0");
        break;
    }
    case JSON_TRUE: ocsf_buf_puts(b, "true"); break;
    case JSON_FALSE: ocsf_buf_puts(b, "false"); break;
    case JSON_NULL: ocsf_buf_puts(b, "null"); break;
    }
}

static int one(dctx_t *d, const field_t *f, json_t *v, char *base, const path_t *path)
{
    switch (f->kind) {
    case F_STR: return get_str(d, v, path, (ocsf_str_t *)(void *)(base + f->off));
    case F_HEAD: /* class/category/activity/severity/type: checked up front */ return 0;
    case F_INT: return get_int(d, v, path, (int64_t *)(void *)(base + f->off));
    case F_PORT: {
        int64_t *p = (int64_t *)(void *)(base + f->off);
        int rc = get_int(d, v, path, p);
        if (rc == 0 && (*p < 0 || *p > 65535))
            return fail(d, "%s: port %lld out of range", pstr(d, path), (long long)*p);
        return rc;
    }
    case F_OBJ:
        if (!json_is_object(v))
            return fail(d, "%s: expected an object", pstr(d, path));
        return walk(d, v, f->sub, base + f->off, path);
    case F_CAP:
        if (!json_is_string(v))
            return fail(d, "%s: expected a string", pstr(d, path));
        d->caps[f->cap] = json_string_value(v);
        d->capn[f->cap] = json_string_length(v);
        return 0;
    case F_UID: {
        ocsf_str_t s;
        int rc = get_str(d, v, path, &s);
        if (rc)
            return rc;
        if (s.n >= sizeof d->ev->uid || memchr(s.p, 0, s.n))
            return fail(d, "%s: not an event id (at most %zu bytes, no NUL)", pstr(d, path),
                        sizeof d->ev->uid - 1);
        memcpy(d->ev->uid, s.p, s.n);
        d->ev->uid[s.n] = '\0';
        return 0;
    }
    case F_VERSION:
        if (!json_is_string(v) || strcmp(json_string_value(v), ocsf__schema_version) != 0)
            return fail(d, "%s: expected \"%s\"", pstr(d, path), ocsf__schema_version);
        return 0;
    case F_PROFILES: {
        if (!json_is_array(v))
            return fail(d, "%s: expected an array", pstr(d, path));
        size_t i;
        json_t *p;
        json_array_foreach(v, i, p) if (!json_is_string(p)) return fail(
            d, "%s[%zu]: expected a string", pstr(d, path), i);
        return 0; /* recomputed by the encoder from the attributes present */
    }
    case F_FILETYPE:
        if (f->off == 1 ? !json_is_integer(v) || json_integer_value(v) != OCSF_FILE_REGULAR
                        : !json_is_string(v) || strcmp(json_string_value(v),
                                                       ocsf__cap_file_type[OCSF_FILE_REGULAR]) != 0)
            return fail(d, "%s: only a regular file (type_id 1) is supported", pstr(d, path));
        return 0;
    case F_HASHES: {
        ocsf_str_t *out = (ocsf_str_t *)(void *)(base + f->off);
        if (!json_is_array(v) || json_array_size(v) != 1)
            return fail(d, "%s: expected an array of one SHA-256 fingerprint", pstr(d, path));
        json_t *h = json_array_get(v, 0), *k;
        const char *key;
        if (!json_is_object(h))
            return fail(d, "%s[0]: expected an object", pstr(d, path));
        json_object_foreach(h, key, k)
        {
            if (strcmp(key, "algorithm_id") == 0) {
                if (!json_is_integer(k) || json_integer_value(k) != OCSF_HASH_SHA256)
                    return fail(d, "%s[0].algorithm_id: only 3 (SHA-256) is supported",
                                pstr(d, path));
            } else if (strcmp(key, "algorithm") == 0) {
                if (!json_is_string(k) ||
                    strcmp(json_string_value(k), ocsf__cap_hash_algorithm[OCSF_HASH_SHA256]))
                    return fail(d, "%s[0].algorithm: expected \"%s\"", pstr(d, path),
                                ocsf__cap_hash_algorithm[OCSF_HASH_SHA256]);
            } else if (strcmp(key, "value") == 0) {
                path_t vp = {path, "[0].value"};
                int rc = get_str(d, k, &vp, out);
                if (rc)
                    return rc;
            } else {
                path_t kp = {path, key};
                return fail(d, "%s: not an attribute tollgate accepts in hashes[0]", pstr(d, &kp));
            }
        }
        if (!out->p)
            return fail(d, "%s[0].value: required attribute missing", pstr(d, path));
        return 0;
    }
    case F_TYPES:
        if (!json_is_array(v) || json_array_size(v) != 1)
            return fail(d, "%s: expected an array of one string", pstr(d, path));
        return get_str(d, json_array_get(v, 0), path, (ocsf_str_t *)(void *)(base + f->off));
    case F_UNMAPPED: {
        if (!json_is_object(v))
            return fail(d, "%s: expected an object", pstr(d, path));
        /* re-encoded through the one escaper, keys sorted: canonical */
        ocsf_buf_t b;
        ocsf_buf_init(&b);
        dump_json(&b, v);
        free(d->ev->owned_unmapped__);
        d->ev->owned_unmapped__ = b.p;
        d->ev->unmapped = (ocsf_str_t){b.p, b.len};
        return 0;
    }
    }
    return fail(d, "%s: internal error", pstr(d, path));
}

/* The tables are sorted by key: binary search. */
static const field_t *find_field(const field_t *fields, const char *key)
{
    size_t lo = 0, hi = 0;
    while (fields[hi].key)
        hi++;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(key, fields[mid].key);
        if (c == 0)
            return &fields[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static int walk(dctx_t *d, json_t *obj, const field_t *fields, char *base, const path_t *path)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        path_t sub = {path, key};
        const field_t *f = find_field(fields, key);
        if (!f)
            return fail(d, "%s: not an attribute tollgate accepts", pstr(d, &sub));
        int rc = one(d, f, v, base, &sub);
        if (rc)
            return rc;
    }
    return 0;
}

static int check_cap(dctx_t *d, int cap, const char *attr, const char *want)
{
    if (!d->caps[cap])
        return 0;
    if (!want)
        return fail(d, "%s: given without its id", attr);
    if (strlen(want) != d->capn[cap] || memcmp(want, d->caps[cap], d->capn[cap]) != 0)
        return fail(d, "%s: does not match its id (expected \"%s\")", attr, want);
    return 0;
}

static bool own_caption(const char *schema_other, const char *cap, size_t n)
{
    return cap && !(schema_other && strlen(schema_other) == n && !memcmp(schema_other, cap, n));
}

static int head_int(dctx_t *d, json_t *root, const char *key, int64_t *out)
{
    json_t *v = json_object_get(root, key);
    path_t p = {NULL, key};
    if (!v)
        return fail(d, "%s: required attribute missing", key);
    return get_int(d, v, &p, out);
}

static int check(dctx_t *d, json_t *root)
{
    ocsf_event_t *ev = d->ev;
    int64_t cls, act, sev, cat, type;
    int rc;
    if ((rc = head_int(d, root, "class_uid", &cls)))
        return rc;
    const ocsf__class_info_t *c = ocsf__class(cls > 0 && cls < 100000 ? (int)cls : -1);
    if (!c)
        return fail(d, "class_uid: %lld is not a class tollgate accepts", (long long)cls);
    if ((rc = head_int(d, root, "activity_id", &act)) ||
        (rc = head_int(d, root, "severity_id", &sev)) ||
        (rc = head_int(d, root, "category_uid", &cat)) ||
        (rc = head_int(d, root, "type_uid", &type)))
        return rc;
    if (!ocsf__cap(c->activity, act))
        return fail(d, "activity_id: %lld is not defined for %s", (long long)act, c->caption);
    if (!ocsf__cap(c->severity, sev))
        return fail(d, "severity_id: %lld is not defined", (long long)sev);
    if (cat != c->category_uid)
        return fail(d, "category_uid: %lld, expected %d", (long long)cat, c->category_uid);
    if (type != (int64_t)c->uid * 100 + act)
        return fail(d, "type_uid: %lld, expected %lld", (long long)type,
                    (long long)c->uid * 100 + act);
    ev->class_uid = c->uid;
    ev->activity_id = (int)act;
    ev->severity_id = (int)sev;
    if (!json_object_get(root, "time"))
        return fail(d, "time: required attribute missing");
    if (!json_object_get(root, "metadata"))
        return fail(d, "metadata: required attribute missing");
    if ((rc = walk(d, root, event_f, (char *)ev, NULL)))
        return rc;
    if (!json_object_get(json_object_get(root, "metadata"), "version"))
        return fail(d, "metadata.version: required attribute missing");
    /* captions: checked against the ids, then dropped (re-derived); for id
     * 99 a caption of its own is kept, the schema's "Other" re-derived, so
     * that decode(encode(e)) == e */
    if (act == OCSF_OTHER &&
        own_caption(ocsf__cap(c->activity, OCSF_OTHER), d->caps[C_ACTIVITY], d->capn[C_ACTIVITY]))
        ev->activity_other = (ocsf_str_t){d->caps[C_ACTIVITY], d->capn[C_ACTIVITY]};
    else if ((rc = check_cap(d, C_ACTIVITY, "activity_name", ocsf__cap(c->activity, act))))
        return rc;
    if (ev->state_id == OCSF_OTHER &&
        own_caption(ocsf__cap(c->state, OCSF_OTHER), d->caps[C_STATE], d->capn[C_STATE]))
        ev->state_other = (ocsf_str_t){d->caps[C_STATE], d->capn[C_STATE]};
    else if ((rc = check_cap(d, C_STATE, "state", ocsf__cap(c->state, ev->state_id))))
        return rc;
    struct {
        int cap;
        const char *attr, *want;
    } caps[] = {
        {C_CATEGORY, "category_name", c->category_name},
        {C_CLASS, "class_name", c->caption},
        {C_TYPE, "type_name", ocsf__cap(c->type_name, act)},
        {C_SEVERITY, "severity", ocsf__cap(c->severity, sev)},
        {C_ACTION, "action", ocsf__cap(c->action, ev->action_id)},
        {C_DISPOSITION, "disposition", ocsf__cap(c->disposition, ev->disposition_id)},
        {C_STATUS, "status", ocsf__cap(c->status, ev->status_id)},
        {C_CONFIDENCE, "confidence", ocsf__cap(c->confidence, ev->confidence_id)},
        {C_DEVTYPE, "device.type", ocsf__cap(ocsf__cap_device_type, ev->device_type_id)},
    };
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++)
        if ((rc = check_cap(d, caps[i].cap, caps[i].attr, caps[i].want)))
            return rc;
    return 0;
}

/* Parses; on failure err says why and NULL is returned. */
static json_t *parse(const char *json, size_t n, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, n, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        ocsf_buf_t b;
        ocsf_buf_init(&b);
        ocsf_text_escape(&b, jerr.text, strlen(jerr.text), 160, 0);
        snprintf(err, errlen, "not JSON: %s (at byte %d)", ocsf_buf_cstr(&b), jerr.position);
        ocsf_buf_dispose(&b);
    }
    return root;
}

/* Decodes a parsed event; takes the reference to root (kept in ev). */
static int decode_tree(json_t *root, ocsf_event_t *ev, char *err, size_t errlen)
{
    dctx_t d = {.err = err, .errlen = errlen, .ev = ev};
    ev->owner__ = root;
    if (!json_is_object(root)) {
        fail(&d, "not a JSON object");
        ocsf_event_dispose(ev);
        return -EINVAL;
    }
    int rc = check(&d, root);
    if (rc)
        ocsf_event_dispose(ev);
    return rc;
}

int ocsf_decode(const char *json, size_t n, ocsf_event_t *ev, char *err, size_t errlen)
{
    ocsf_event_init(ev);
    json_t *root = parse(json, n, err, errlen);
    return root ? decode_tree(root, ev, err, errlen) : -EINVAL;
}
