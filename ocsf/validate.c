/*
 * validate.c: checks OCSF JSON against the project's own schemas/ (the
 * subset of OCSF 1.7.0 that tollgate emits and accepts, embedded at build
 * time), rule for rule as ../shared/ocsf/validate.py does, its warnings
 * counted as problems.
 *
 * ocsf_validator_create() compiles the schema once into sorted attribute
 * tables (binary search per key, enum ids as sorted arrays, profiles as a
 * bit mask); a check then walks the event's jansson tree without building
 * strings, and formats a path only for a problem. Typed strings: ip_t
 * (inet_pton), uuid_t, file_hash_t (hex), max_len; other regex types are not
 * used by tollgate and pass.
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

enum { VK_STRING, VK_INT, VK_TIMESTAMP, VK_PORT, VK_BOOL, VK_FLOAT, VK_OBJECT, VK_JSON };
enum { VC_NONE, VC_IP, VC_UUID, VC_HASH };

typedef struct vobj vobj_t;

typedef struct {
    const char *name, *type, *sibling;
    unsigned char kind, check;
    bool is_array, required, unmapped;
    uint32_t profiles; /* any of these; 0: core */
    const vobj_t *obj;
    int64_t *ids; /* sorted enum ids, with their captions */
    const char **caps;
    size_t nids;
    int64_t max_len;
} vattr_t;

struct vobj {
    const char *name;
    vattr_t *attrs; /* sorted by name */
    size_t n;
    json_t *constraints; /* borrowed from the schema */
};

typedef struct {
    int uid, category_uid;
    uint32_t profiles; /* the profiles that apply to the class */
    vobj_t o;
} vclass_t;

struct ocsf_validator {
    json_t *schema;
    const char *version;
    const char *pnames[32];
    size_t npro;
    vobj_t *objects;
    size_t nobjects;
    vclass_t *classes;
    size_t nclasses;
};

/* ---- compiling the schema ---------------------------------------------------- */

static int cmp_attr(const void *a, const void *b)
{
    return strcmp(((const vattr_t *)a)->name, ((const vattr_t *)b)->name);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static uint32_t profile_bits(const ocsf_validator_t *v, json_t *arr)
{
    uint32_t bits = 0;
    size_t i;
    json_t *p;
    json_array_foreach(arr, i, p) for (size_t k = 0; k < v->npro;
                                       k++) if (json_is_string(p) &&
                                                strcmp(json_string_value(p), v->pnames[k]) == 0)
        bits |= 1u << k;
    return bits;
}

static const char *base_type(const ocsf_validator_t *v, const char *t)
{
    json_t *types = json_object_get(v->schema, "types");
    for (int i = 0; i < 8; i++) {
        const char *next = json_string_value(json_object_get(json_object_get(types, t), "type"));
        if (!next)
            break;
        t = next;
    }
    return t;
}

static const vobj_t *find_object(const ocsf_validator_t *v, const char *name)
{
    for (size_t i = 0; name && i < v->nobjects; i++)
        if (strcmp(v->objects[i].name, name) == 0)
            return &v->objects[i];
    return NULL;
}

static void compile_attr(ocsf_validator_t *v, vattr_t *a, const char *name, json_t *spec)
{
    const char *t = json_string_value(json_object_get(spec, "type"));
    a->name = name;
    a->type = t ? t : "string_t";
    const char *base = base_type(v, a->type);
    if (!strcmp(a->type, "object_t"))
        a->kind = VK_OBJECT;
    else if (!strcmp(a->type, "json_t"))
        a->kind = VK_JSON;
    else if (!strcmp(a->type, "timestamp_t"))
        a->kind = VK_TIMESTAMP;
    else if (!strcmp(a->type, "port_t"))
        a->kind = VK_PORT;
    else if (!strcmp(base, "integer_t") || !strcmp(base, "long_t") ||
             !strcmp(a->type, "integer_t") || !strcmp(a->type, "long_t"))
        a->kind = VK_INT;
    else if (!strcmp(base, "boolean_t"))
        a->kind = VK_BOOL;
    else if (!strcmp(base, "float_t"))
        a->kind = VK_FLOAT;
    else
        a->kind = VK_STRING;
    a->check = !strcmp(a->type, "ip_t")          ? VC_IP
               : !strcmp(a->type, "uuid_t")      ? VC_UUID
               : !strcmp(a->type, "file_hash_t") ? VC_HASH
                                                 : VC_NONE;
    json_t *ml =
        json_object_get(json_object_get(json_object_get(v->schema, "types"), a->type), "max_len");
    a->max_len = json_is_integer(ml) ? json_integer_value(ml) : 0;
    a->is_array = json_is_true(json_object_get(spec, "is_array"));
    const char *req = json_string_value(json_object_get(spec, "requirement"));
    a->required = req && strcmp(req, "required") == 0;
    a->unmapped = strcmp(name, "unmapped") == 0;
    a->profiles = profile_bits(v, json_object_get(spec, "profiles"));
    a->sibling = json_string_value(json_object_get(spec, "sibling"));
    json_t *en = json_object_get(spec, "enum");
    if (json_object_size(en)) {
        a->nids = json_object_size(en);
        a->ids = calloc(a->nids, sizeof *a->ids);
        a->caps = calloc(a->nids, sizeof *a->caps);
        size_t k = 0;
        const char *key;
        json_t *cap;
        json_object_foreach(en, key, cap) a->ids[k++] = strtoll(key, NULL, 10);
        qsort(a->ids, a->nids, sizeof *a->ids, cmp_i64);
        for (k = 0; k < a->nids; k++) {
            char ks[24];
            snprintf(ks, sizeof ks, "%lld", (long long)a->ids[k]);
            a->caps[k] = json_string_value(json_object_get(en, ks));
        }
    }
}

static void compile_obj(ocsf_validator_t *v, vobj_t *o, const char *name, json_t *def)
{
    json_t *attrs = json_object_get(def, "attributes");
    o->name = name;
    o->n = json_object_size(attrs);
    o->attrs = calloc(o->n ? o->n : 1, sizeof *o->attrs);
    o->constraints = json_object_get(def, "constraints");
    size_t k = 0;
    const char *key;
    json_t *spec;
    json_object_foreach(attrs, key, spec) compile_attr(v, &o->attrs[k++], key, spec);
    qsort(o->attrs, o->n, sizeof *o->attrs, cmp_attr);
}

static void link_objects(ocsf_validator_t *v, vobj_t *o, json_t *attrs)
{
    for (size_t i = 0; i < o->n; i++)
        if (o->attrs[i].kind == VK_OBJECT)
            o->attrs[i].obj =
                find_object(v, json_string_value(json_object_get(
                                   json_object_get(attrs, o->attrs[i].name), "object_type")));
}

ocsf_validator_t *ocsf_validator_create(char *err, size_t errlen)
{
    json_error_t jerr;
    ocsf_validator_t *v = calloc(1, sizeof *v);
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    v->schema = json_loadb((const char *)ocsf__schema_json, ocsf__schema_json_len, 0, &jerr);
    json_t *classes = json_object_get(v->schema, "classes");
    json_t *objects = json_object_get(v->schema, "objects");
    v->version = json_string_value(json_object_get(v->schema, "version"));
    if (!classes || !objects || !v->version) {
        snprintf(err, errlen, "embedded schema: %s", v->schema ? "incomplete" : jerr.text);
        ocsf_validator_destroy(v);
        return NULL;
    }
    const char *key;
    json_t *def;
    json_object_foreach(json_object_get(v->schema, "profiles"), key, def) if (v->npro < 32)
        v->pnames[v->npro++] = key;
    v->objects = calloc(json_object_size(objects) + 1, sizeof *v->objects);
    json_object_foreach(objects, key, def) compile_obj(v, &v->objects[v->nobjects++], key, def);
    v->classes = calloc(json_object_size(classes) + 1, sizeof *v->classes);
    json_object_foreach(classes, key, def)
    {
        vclass_t *c = &v->classes[v->nclasses++];
        c->uid = atoi(key);
        c->category_uid = (int)json_integer_value(json_object_get(def, "category_uid"));
        c->profiles = profile_bits(v, json_object_get(def, "profiles"));
        compile_obj(v, &c->o, json_string_value(json_object_get(def, "name")), def);
        link_objects(v, &c->o, json_object_get(def, "attributes"));
    }
    for (size_t i = 0; i < v->nobjects; i++)
        link_objects(v, &v->objects[i],
                     json_object_get(json_object_get(objects, v->objects[i].name), "attributes"));
    return v;
}

static void free_obj(vobj_t *o)
{
    for (size_t i = 0; i < o->n; i++) {
        free(o->attrs[i].ids);
        free(o->attrs[i].caps);
    }
    free(o->attrs);
}

void ocsf_validator_destroy(ocsf_validator_t *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->nobjects; i++)
        free_obj(&v->objects[i]);
    for (size_t i = 0; i < v->nclasses; i++)
        free_obj(&v->classes[i].o);
    free(v->objects);
    free(v->classes);
    json_decref(v->schema);
    free(v);
}

/* ---- checking an event ------------------------------------------------------- */

typedef struct vpath {
    const struct vpath *up;
    const char *key; /* NULL with idx >= 0: an array index */
    long idx;
} vpath_t;

typedef struct {
    const ocsf_validator_t *v;
    ocsf_problem_cb cb;
    void *ctx;
    int problems;
    uint32_t profiles; /* named in metadata.profiles */
} vctx_t;

static void path_fmt(ocsf_buf_t *b, const vpath_t *p)
{
    if (!p)
        return;
    path_fmt(b, p->up);
    if (p->key) {
        if (b->len)
            ocsf_buf_putc(b, '.');
        ocsf_text_escape(b, p->key, strlen(p->key), 64, 0);
    } else {
        ocsf_buf_putc(b, '[');
        ocsf_buf_put_i64(b, p->idx);
        ocsf_buf_putc(b, ']');
    }
}

__attribute__((format(printf, 3, 4))) static void problem(vctx_t *c, const vpath_t *p,
                                                          const char *fmt, ...)
{
    c->problems++;
    if (!c->cb)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    path_fmt(&b, p);
    c->cb(c->ctx, ocsf_buf_cstr(&b), msg);
    ocsf_buf_dispose(&b);
}

/* A string from the event, made safe for a message. */
static const char *safe(ocsf_buf_t *b, const char *s, size_t n)
{
    b->len = 0;
    ocsf_text_escape(b, s, n, 60, 0);
    return ocsf_buf_cstr(b);
}

static const vattr_t *find_attr(const vobj_t *o, const char *key)
{
    size_t lo = 0, hi = o->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int d = strcmp(key, o->attrs[mid].name);
        if (d == 0)
            return &o->attrs[mid];
        if (d < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static const char *enum_caption(const vattr_t *a, int64_t id, bool *found)
{
    size_t lo = 0, hi = a->nids;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (a->ids[mid] == id) {
            *found = true;
            return a->caps[mid];
        }
        if (a->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return NULL;
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

static void check_obj(vctx_t *c, json_t *obj, const vobj_t *o, const vpath_t *path);

static void check_string(vctx_t *c, const vattr_t *a, json_t *val, const vpath_t *p)
{
    const char *s = json_string_value(val);
    size_t n = json_string_length(val);
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    if (a->check == VC_IP && !is_ip(s, n))
        problem(c, p, "'%s' is not an IP address", safe(&b, s, n));
    if (a->check == VC_UUID && !is_uuid(s, n))
        problem(c, p, "'%s' is not a UUID", safe(&b, s, n));
    if (a->check == VC_HASH) {
        size_t i = 0;
        while (i < n && isxdigit((unsigned char)s[i]))
            i++;
        if (n == 0 || i != n)
            problem(c, p, "'%s' is not a hex hash", safe(&b, s, n));
    }
    if (a->max_len && (int64_t)n > a->max_len)
        problem(c, p, "longer than %lld characters", (long long)a->max_len);
    ocsf_buf_dispose(&b);
}

static void check_scalar(vctx_t *c, const vattr_t *a, json_t *val, const vpath_t *p)
{
    bool ok;
    switch (a->kind) {
    case VK_JSON: return;
    case VK_OBJECT:
        if (!json_is_object(val))
            problem(c, p, "expected an object");
        else if (a->obj && !a->unmapped)
            check_obj(c, val, a->obj, p);
        return;
    case VK_BOOL: ok = json_is_boolean(val); break;
    case VK_INT:
    case VK_TIMESTAMP:
    case VK_PORT: ok = json_is_integer(val); break;
    case VK_FLOAT: ok = json_is_number(val); break;
    default: ok = json_is_string(val);
    }
    if (!ok) {
        problem(c, p, "is not %s", a->type);
        return;
    }
    if (json_is_string(val)) {
        check_string(c, a, val, p);
        return;
    }
    if (!json_is_integer(val))
        return;
    json_int_t i = json_integer_value(val);
    bool found;
    if (a->kind == VK_PORT && (i < 0 || i > 65535))
        problem(c, p, "port %lld out of range", (long long)i);
    if (a->kind == VK_TIMESTAMP && (i < 1000000000000LL || i >= 100000000000000LL))
        problem(c, p, "%lld does not look like milliseconds since the epoch", (long long)i);
    if (a->nids && (enum_caption(a, i, &found), !found))
        problem(c, p, "%lld is not a defined value", (long long)i);
}

static void check_value(vctx_t *c, const vattr_t *a, json_t *val, const vpath_t *p)
{
    if (!a->is_array) {
        check_scalar(c, a, val, p);
        return;
    }
    if (!json_is_array(val)) {
        problem(c, p, "expected an array");
        return;
    }
    size_t i;
    json_t *item;
    json_array_foreach(val, i, item)
    {
        vpath_t ip = {p, NULL, (long)i};
        check_scalar(c, a, item, &ip);
    }
}

static void check_constraints(vctx_t *c, json_t *obj, const vobj_t *o, const vpath_t *path)
{
    const char *kind;
    json_t *names;
    json_object_foreach(o->constraints, kind, names)
    {
        size_t i, present = 0;
        json_t *n;
        json_array_foreach(names, i, n) present += json_object_get(obj, json_string_value(n)) != 0;
        vpath_t self = {path, path ? NULL : o->name, -1};
        const vpath_t *where = path ? path : &self;
        if (!strcmp(kind, "at_least_one") && present == 0)
            problem(c, where, "needs at least one of its %s attributes", kind);
        if (!strcmp(kind, "just_one") && present != 1)
            problem(c, where, "needs exactly one of its %s attributes", kind);
    }
}

static void check_obj(vctx_t *c, json_t *obj, const vobj_t *o, const vpath_t *path)
{
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val)
    {
        vpath_t p = {path, key, -1};
        const vattr_t *a = find_attr(o, key);
        if (!a) {
            problem(c, &p, "not an attribute of %s", o->name);
            continue;
        }
        if (a->profiles && !(a->profiles & c->profiles))
            problem(c, &p, "belongs to a profile not named in metadata.profiles");
        check_value(c, a, val, &p);
        json_t *sv = a->sibling && a->nids ? json_object_get(obj, a->sibling) : NULL;
        if (sv && json_is_integer(val) && json_integer_value(val) != OCSF_OTHER) {
            bool found;
            const char *cap = enum_caption(a, json_integer_value(val), &found);
            if (found && cap &&
                !(json_is_string(sv) && json_string_length(sv) == strlen(cap) &&
                  !memcmp(json_string_value(sv), cap, strlen(cap))))
                problem(c, &p, "its caption %s is not '%s'", a->sibling, cap);
        }
    }
    for (size_t i = 0; i < o->n; i++) {
        const vattr_t *a = &o->attrs[i];
        if (!a->required || json_object_get(obj, a->name))
            continue;
        if (a->profiles && !(a->profiles & c->profiles))
            continue;
        vpath_t p = {path, a->name, -1};
        problem(c, &p, "required attribute missing");
    }
    check_constraints(c, obj, o, path);
}

static const vclass_t *find_class(const ocsf_validator_t *v, json_t *cuid)
{
    for (size_t i = 0; json_is_integer(cuid) && i < v->nclasses; i++)
        if (v->classes[i].uid == json_integer_value(cuid))
            return &v->classes[i];
    return NULL;
}

static void check_head(vctx_t *c, json_t *ev, const vclass_t *cls)
{
    const ocsf_validator_t *v = c->v;
    json_t *meta = json_object_get(ev, "metadata");
    json_t *profiles = json_object_get(meta, "profiles");
    vpath_t mp = {NULL, "metadata", -1}, pp = {&mp, "profiles", -1}, vp = {&mp, "version", -1};
    if (profiles && !json_is_array(profiles))
        problem(c, &pp, "not an array");
    size_t i;
    json_t *p;
    json_array_foreach(profiles, i, p)
    {
        json_t *one = json_pack("[O]", p);
        uint32_t bit = profile_bits(v, one);
        json_decref(one);
        if (!bit)
            problem(c, &pp, "unknown profile");
        else if (!(bit & cls->profiles))
            problem(c, &pp, "profile '%s' does not apply to %s", json_string_value(p), cls->o.name);
        c->profiles |= bit;
    }
    json_t *ver = json_object_get(meta, "version");
    if (ver && !(json_is_string(ver) && strcmp(json_string_value(ver), v->version) == 0))
        problem(c, &vp, "expected '%s'", v->version);
    vpath_t cp = {NULL, "category_uid", -1}, tp = {NULL, "type_uid", -1};
    json_t *cat = json_object_get(ev, "category_uid");
    if (!json_is_integer(cat) || json_integer_value(cat) != cls->category_uid)
        problem(c, &cp, "expected %d", cls->category_uid);
    json_t *act = json_object_get(ev, "activity_id"), *type = json_object_get(ev, "type_uid");
    if (json_is_integer(act) && (json_integer_value(act) < 0 || json_integer_value(act) > 99)) {
        vpath_t ap = {NULL, "activity_id", -1};
        problem(c, &ap, "%lld is out of range", (long long)json_integer_value(act));
    } else if (json_is_integer(act)) {
        json_int_t want = (json_int_t)cls->uid * 100 + json_integer_value(act);
        if (!json_is_integer(type) || json_integer_value(type) != want)
            problem(c, &tp, "expected %lld", (long long)want);
    }
}

/* Validates a parsed event; shared with ocsf_decode_checked(). */
int ocsf__validate_tree(const ocsf_validator_t *v, json_t *ev, ocsf_problem_cb cb, void *ctx)
{
    vctx_t c = {.v = v, .cb = cb, .ctx = ctx};
    if (!json_is_object(ev)) {
        problem(&c, NULL, "event is not a JSON object");
        return c.problems;
    }
    const vclass_t *cls = find_class(v, json_object_get(ev, "class_uid"));
    if (!cls) {
        vpath_t p = {NULL, "class_uid", -1};
        problem(&c, &p, "unknown class");
        return c.problems;
    }
    check_head(&c, ev, cls);
    check_obj(&c, ev, &cls->o, NULL);
    return c.problems;
}

int ocsf_validate(const ocsf_validator_t *v, const char *json, size_t n, ocsf_problem_cb cb,
                  void *ctx)
{
    json_error_t jerr;
    /* the decoder's flags: a \u0000 in a string is valid JSON (RFC 8259) */
    json_t *ev = json_loadb(json, n, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);
    if (!ev) {
        vctx_t c = {.v = v, .cb = cb, .ctx = ctx};
        ocsf_buf_t b;
        ocsf_buf_init(&b);
        problem(&c, NULL, "not JSON: %s", safe(&b, jerr.text, strlen(jerr.text)));
        ocsf_buf_dispose(&b);
        return 1;
    }
    int rc = ocsf__validate_tree(v, ev, cb, ctx);
    json_decref(ev);
    return rc;
}
