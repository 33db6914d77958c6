/*
 * validate.c: checks OCSF JSON against the project's own schemas/ (the
 * subset of OCSF 1.7.0 that tollgate emits and accepts, embedded at build
 * time). It follows ../shared/ocsf/validate.py rule for rule and counts its
 * warnings as problems. Typed strings: ip_t (inet_pton), uuid_t,
 * file_hash_t (hex) and max_len are checked; other regex types are not used
 * by tollgate and pass.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ocsf/ocsf_internal.h"

struct ocsf_validator {
    json_t *schema;
    json_t *classes, *objects, *types, *profiles;
    const char *version;
};

typedef struct {
    const ocsf_validator_t *v;
    ocsf_problem_cb cb;
    void *ctx;
    int problems;
    json_t *profiles; /* the event's metadata.profiles (array) or NULL */
} vctx_t;

ocsf_validator_t *ocsf_validator_create(char *err, size_t errlen)
{
    json_error_t jerr;
    ocsf_validator_t *v = calloc(1, sizeof *v);
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    v->schema = json_loadb((const char *)ocsf__schema_json, ocsf__schema_json_len, 0, &jerr);
    if (!v->schema) {
        snprintf(err, errlen, "embedded schema: %s", jerr.text);
        free(v);
        return NULL;
    }
    v->classes = json_object_get(v->schema, "classes");
    v->objects = json_object_get(v->schema, "objects");
    v->types = json_object_get(v->schema, "types");
    v->profiles = json_object_get(v->schema, "profiles");
    v->version = json_string_value(json_object_get(v->schema, "version"));
    if (!v->classes || !v->objects || !v->types || !v->profiles || !v->version) {
        snprintf(err, errlen, "embedded schema: missing classes/objects/types/profiles");
        ocsf_validator_destroy(v);
        return NULL;
    }
    return v;
}

void ocsf_validator_destroy(ocsf_validator_t *v)
{
    if (!v)
        return;
    json_decref(v->schema);
    free(v);
}

__attribute__((format(printf, 3, 4))) static void problem(vctx_t *c, const char *path,
                                                          const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->problems++;
    if (c->cb)
        c->cb(c->ctx, path, msg);
}

/* A key or value from the event, made safe for a message. */
static const char *safe(ocsf_buf_t *b, const char *s, size_t n)
{
    b->len = 0;
    ocsf_text_escape(b, s, n, 60, 0);
    return ocsf_buf_cstr(b);
}

static bool has_profile(vctx_t *c, json_t *need)
{
    size_t i, j;
    json_t *p, *q;
    json_array_foreach(need, i, p) json_array_foreach(c->profiles, j, q)
    {
        if (json_is_string(p) && json_is_string(q) && json_equal(p, q))
            return true;
    }
    return false;
}

static const char *base_type(vctx_t *c, const char *t)
{
    for (int i = 0; i < 8; i++) {
        const char *next =
            json_string_value(json_object_get(json_object_get(c->v->types, t), "type"));
        if (!next)
            break;
        t = next;
    }
    return t;
}

static bool is_uuid(const char *s, size_t n)
{
    /* the schema's regex is unanchored: a UUID anywhere in the string */
    static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
    for (size_t i = 0; i + 36 <= n; i++) {
        size_t k = 0;
        while (k < 36 && (shape[k] == '-' ? s[i + k] == '-' : isxdigit((unsigned char)s[i + k])))
            k++;
        if (k == 36)
            return true;
    }
    return false;
}

static bool is_ip(const char *s, size_t n)
{
    char tmp[64];
    unsigned char out[16];
    while (n && isspace((unsigned char)*s))
        s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (n == 0 || n >= sizeof tmp)
        return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *pct = strchr(tmp, '%'); /* zone id */
    if (pct && strchr(tmp, ':'))
        *pct = '\0';
    return inet_pton(AF_INET, tmp, out) == 1 || inet_pton(AF_INET6, tmp, out) == 1;
}

static void check_attrs(vctx_t *c, json_t *obj, json_t *attrs, json_t *constraints,
                        const char *path, const char *name);

static void check_value(vctx_t *c, json_t *val, json_t *spec, const char *where)
{
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    const char *t = json_string_value(json_object_get(spec, "type"));
    if (!t)
        t = "string_t";
    if (json_is_true(json_object_get(spec, "is_array"))) {
        if (!json_is_array(val)) {
            problem(c, where, "expected an array");
            goto out;
        }
        json_t *inner = json_deep_copy(spec), *item;
        json_object_del(inner, "is_array");
        size_t i;
        json_array_foreach(val, i, item)
        {
            char sub[300];
            snprintf(sub, sizeof sub, "%s[%zu]", where, i);
            check_value(c, item, inner, sub);
        }
        json_decref(inner);
        goto out;
    }
    if (strcmp(t, "object_t") == 0) {
        if (!json_is_object(val)) {
            problem(c, where, "expected an object");
            goto out;
        }
        size_t wl = strlen(where);
        if (wl >= 9 && strcmp(where + wl - 9, ".unmapped") == 0)
            goto out;
        if (strcmp(where, "unmapped") == 0)
            goto out;
        const char *ot = json_string_value(json_object_get(spec, "object_type"));
        json_t *od = ot ? json_object_get(c->v->objects, ot) : NULL;
        if (od)
            check_attrs(c, val, json_object_get(od, "attributes"),
                        json_object_get(od, "constraints"), where, ot);
        goto out;
    }
    if (strcmp(t, "json_t") == 0)
        goto out;
    const char *base = base_type(c, t);
    bool is_int = !strcmp(base, "integer_t") || !strcmp(base, "long_t") ||
                  !strcmp(t, "integer_t") || !strcmp(t, "long_t") || !strcmp(t, "timestamp_t") ||
                  !strcmp(t, "port_t");
    bool ok;
    if (!strcmp(base, "boolean_t"))
        ok = json_is_boolean(val);
    else if (is_int)
        ok = json_is_integer(val);
    else if (!strcmp(base, "float_t"))
        ok = json_is_number(val);
    else
        ok = json_is_string(val);
    if (!ok) {
        problem(c, where, "is not %s", t);
        goto out;
    }
    if (json_is_integer(val)) {
        json_int_t i = json_integer_value(val);
        if (!strcmp(t, "port_t") && (i < 0 || i > 65535))
            problem(c, where, "port %lld out of range", (long long)i);
        if (!strcmp(t, "timestamp_t") && (i < 1000000000000LL || i >= 100000000000000LL))
            problem(c, where, "%lld does not look like milliseconds since the epoch", (long long)i);
        json_t *en = json_object_get(spec, "enum");
        char key[24];
        snprintf(key, sizeof key, "%lld", (long long)i);
        if (en && !json_object_get(en, key))
            problem(c, where, "%lld is not a defined value", (long long)i);
    }
    if (json_is_string(val)) {
        const char *s = json_string_value(val);
        size_t n = json_string_length(val);
        json_t *ts = json_object_get(c->v->types, t);
        if (!strcmp(t, "ip_t") && !is_ip(s, n))
            problem(c, where, "'%s' is not an IP address", safe(&b, s, n));
        if (!strcmp(t, "uuid_t") && !is_uuid(s, n))
            problem(c, where, "'%s' is not a UUID", safe(&b, s, n));
        if (!strcmp(t, "file_hash_t")) {
            size_t i = 0;
            while (i < n && isxdigit((unsigned char)s[i]))
                i++;
            if (n == 0 || i != n)
                problem(c, where, "'%s' is not a hex hash", safe(&b, s, n));
        }
        json_t *mx = json_object_get(ts, "max_len");
        if (json_is_integer(mx) && (json_int_t)n > json_integer_value(mx))
            problem(c, where, "longer than %lld characters", (long long)json_integer_value(mx));
    }
out:
    ocsf_buf_dispose(&b);
}

static void check_attrs(vctx_t *c, json_t *obj, json_t *attrs, json_t *constraints,
                        const char *path, const char *name)
{
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val)
    {
        char where[300];
        snprintf(where, sizeof where, "%s%s%s", path, *path ? "." : "", safe(&b, key, strlen(key)));
        json_t *spec = json_object_get(attrs, key);
        if (!spec) {
            problem(c, where, "not an attribute of %s", name);
            continue;
        }
        json_t *need = json_object_get(spec, "profiles");
        if (json_array_size(need) && !has_profile(c, need))
            problem(c, where, "belongs to a profile not named in metadata.profiles");
        check_value(c, val, spec, where);
        const char *sib = json_string_value(json_object_get(spec, "sibling"));
        json_t *en = json_object_get(spec, "enum");
        json_t *sv = sib ? json_object_get(obj, sib) : NULL;
        if (sv && en && json_is_integer(val) && json_integer_value(val) != OCSF_OTHER) {
            char k[24];
            snprintf(k, sizeof k, "%lld", (long long)json_integer_value(val));
            json_t *cap = json_object_get(en, k);
            if (cap && !json_equal(cap, sv))
                problem(c, where, "its caption %s is not '%s'", sib, json_string_value(cap));
        }
    }
    json_object_foreach(attrs, key, val)
    {
        if (json_object_get(obj, key))
            continue;
        const char *req = json_string_value(json_object_get(val, "requirement"));
        if (!req || strcmp(req, "required") != 0)
            continue;
        json_t *need = json_object_get(val, "profiles");
        if (json_array_size(need) && !has_profile(c, need))
            continue;
        char where[300];
        snprintf(where, sizeof where, "%s%s%s", path, *path ? "." : "", key);
        problem(c, where, "required attribute missing");
    }
    json_object_foreach(constraints, key, val)
    {
        size_t i, present = 0;
        json_t *n;
        json_array_foreach(val, i, n) if (json_object_get(obj, json_string_value(n))) present++;
        if (!strcmp(key, "at_least_one") && present == 0)
            problem(c, *path ? path : name, "needs at least one of its %s attributes", key);
        if (!strcmp(key, "just_one") && present != 1)
            problem(c, *path ? path : name, "needs exactly one of its %s attributes", key);
    }
    ocsf_buf_dispose(&b);
}

int ocsf_validate(const ocsf_validator_t *v, const char *json, size_t n, ocsf_problem_cb cb,
                  void *ctx)
{
    vctx_t c = {.v = v, .cb = cb, .ctx = ctx};
    json_error_t jerr;
    json_t *ev = json_loadb(json, n, JSON_REJECT_DUPLICATES, &jerr);
    if (!ev) {
        ocsf_buf_t b;
        ocsf_buf_init(&b);
        problem(&c, "", "not JSON: %s", safe(&b, jerr.text, strlen(jerr.text)));
        ocsf_buf_dispose(&b);
        return c.problems;
    }
    if (!json_is_object(ev)) {
        problem(&c, "", "event is not a JSON object");
        goto out;
    }
    json_t *cuid = json_object_get(ev, "class_uid");
    char key[24] = "";
    if (json_is_integer(cuid))
        snprintf(key, sizeof key, "%lld", (long long)json_integer_value(cuid));
    json_t *cls = json_object_get(v->classes, key);
    if (!cls) {
        problem(&c, "class_uid", "unknown class");
        goto out;
    }
    const char *cname = json_string_value(json_object_get(cls, "name"));
    json_t *meta = json_object_get(ev, "metadata");
    json_t *profiles = json_object_get(meta, "profiles");
    if (profiles && !json_is_array(profiles))
        problem(&c, "metadata.profiles", "not an array");
    c.profiles = json_is_array(profiles) ? profiles : NULL;
    size_t i;
    json_t *p;
    json_array_foreach(c.profiles, i, p)
    {
        const char *pn = json_string_value(p);
        bool applies = false;
        size_t j;
        json_t *q;
        json_array_foreach(json_object_get(cls, "profiles"), j, q) applies |= json_equal(p, q);
        if (!pn || !json_object_get(v->profiles, pn))
            problem(&c, "metadata.profiles", "unknown profile");
        else if (!applies)
            problem(&c, "metadata.profiles", "profile '%s' does not apply to %s", pn, cname);
    }
    json_t *ver = json_object_get(meta, "version");
    if (ver && !(json_is_string(ver) && strcmp(json_string_value(ver), v->version) == 0))
        problem(&c, "metadata.version", "expected '%s'", v->version);
    if (!json_equal(json_object_get(ev, "category_uid"), json_object_get(cls, "category_uid")))
        problem(&c, "category_uid", "expected %lld",
                (long long)json_integer_value(json_object_get(cls, "category_uid")));
    json_t *act = json_object_get(ev, "activity_id");
    json_t *type = json_object_get(ev, "type_uid");
    if (json_is_integer(act)) {
        json_int_t want = json_integer_value(cuid) * 100 + json_integer_value(act);
        if (!json_is_integer(type) || json_integer_value(type) != want)
            problem(&c, "type_uid", "expected %lld", (long long)want);
    }
    check_attrs(&c, ev, json_object_get(cls, "attributes"), json_object_get(cls, "constraints"), "",
                cname);
out:
    json_decref(ev);
    return c.problems;
}
