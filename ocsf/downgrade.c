/*
 * downgrade.c: OCSF 1.7.0 -> 1.3.0 / 1.1.0 (contract in ocsf/downgrade.h).
 *
 * One jansson parse, one walk of the tree guided by the target's generated
 * tables (binary search per key), rewrites in place, then one sorted
 * compact write through ocsf_json_escape(). All state lives in a dg_t on the
 * caller's stack; the tables are const, so any number of threads may call
 * at once.
 *
 * The walk, per object (the class at the root, then every attribute whose
 * object type the target's subset describes, array elements included):
 *  1. each key: not an attribute of the target, a JSON type that does not
 *     fit, or a profile the event does not name -> moved to unmapped[path];
 *     an integer enum id the target lacks -> 99 or 0, original kept;
 *  2. (root) category_uid and type_uid follow the class and activity_id;
 *  3. each enum id with a sibling caption: the target's caption;
 *  4. required attributes and at_least_one / just_one: filled (listed in
 *     unmapped["tollgate.downgrade.filled"]).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ocsf/downgrade.h"

#define DG_FILLED_KEY "tollgate.downgrade.filled"
#define DG_FILL_DEPTH 8  /* placeholder objects inside placeholder objects */
#define DG_SORT_STACK 64 /* keys sorted on the stack; more go to the heap */
#define DG_SOURCE     "1.7.0"

typedef ocsf__dg_attr_t dg_attr_t;
typedef ocsf__dg_object_t dg_object_t;

typedef struct {
    const ocsf__dg_schema_t *s;
    uint32_t profiles; /* the profiles the output names (bits of s->profiles) */
    json_t *unmapped;  /* borrowed: the root's unmapped object */
    json_t *filled;    /* owned: paths given a placeholder; NULL until one is */
    int filling;       /* > 0 while building a placeholder object */
    ocsf_buf_t path;   /* the current object's path from the root */
    char *err;
    size_t errlen;
} dg_t;

__attribute__((format(printf, 2, 3))) static int dg_fail(dg_t *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (d->err && d->errlen)
        vsnprintf(d->err, d->errlen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* ---- lookups ------------------------------------------------------------ */

static const ocsf__dg_schema_t *find_schema(const char *version)
{
    for (size_t i = 0; version && i < ocsf__dg_nschemas; i++)
        if (strcmp(ocsf__dg_schemas[i]->version, version) == 0)
            return ocsf__dg_schemas[i];
    return NULL;
}

bool ocsf_downgrade_supported(const char *version)
{
    return version && (strcmp(version, DG_SOURCE) == 0 || find_schema(version) != NULL);
}

static const dg_attr_t *find_attr(const dg_object_t *o, const char *name)
{
    size_t lo = 0, hi = o->nattrs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, o->attrs[mid].name);
        if (c == 0)
            return &o->attrs[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static const ocsf__dg_enum_t *find_enum(const dg_attr_t *a, int64_t id)
{
    size_t lo = 0, hi = a->nenums;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a->enums[mid].id == id)
            return &a->enums[mid];
        if (id < a->enums[mid].id)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static const dg_object_t *attr_object(const dg_t *d, const dg_attr_t *a)
{
    return a->object >= 0 && (size_t)a->object < d->s->nobjects ? &d->s->objects[a->object] : NULL;
}

static bool profile_ok(const dg_t *d, const dg_attr_t *a)
{
    return a->profiles == 0 || (a->profiles & d->profiles) != 0;
}

static bool scalar_fits(const dg_attr_t *a, json_t *v)
{
    switch (a->kind) {
    case OCSF__DG_STRING: return json_is_string(v);
    case OCSF__DG_INT:
        if (!json_is_integer(v))
            return false;
        return strcmp(a->type, "port_t") != 0 ||
               (json_integer_value(v) >= 0 && json_integer_value(v) <= 65535);
    case OCSF__DG_BOOL: return json_is_boolean(v);
    case OCSF__DG_FLOAT: return json_is_number(v);
    case OCSF__DG_OBJECT: return json_is_object(v);
    default: return true; /* json_t */
    }
}

static bool fits(const dg_attr_t *a, json_t *v)
{
    if (!a->is_array)
        return !json_is_array(v) || a->kind == OCSF__DG_JSON ? scalar_fits(a, v) : false;
    if (!json_is_array(v))
        return false;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) if (!scalar_fits(a, e)) return false;
    return true;
}

/* ---- paths and the unmapped object --------------------------------------- */

static size_t path_push(dg_t *d, const char *key)
{
    size_t old = d->path.len;
    if (old)
        ocsf_buf_putc(&d->path, '.');
    ocsf_buf_puts(&d->path, key);
    return old;
}

static size_t path_push_index(dg_t *d, size_t i)
{
    size_t old = d->path.len;
    ocsf_buf_putc(&d->path, '[');
    ocsf_buf_put_i64(&d->path, (int64_t)i);
    ocsf_buf_putc(&d->path, ']');
    return old;
}

static void path_pop(dg_t *d, size_t old)
{
    d->path.len = old;
}

/* A path for an error message: escaped, bounded. */
static const char *path_text(dg_t *d, ocsf_buf_t *tmp)
{
    ocsf_text_escape(tmp, d->path.p ? d->path.p : "", d->path.len, 200, 0);
    return ocsf_buf_cstr(tmp);
}

/* Keeps `val` (borrowed) as unmapped[path.key]: its original value. */
static int keep(dg_t *d, const char *key, json_t *val)
{
    size_t old = path_push(d, key);
    const char *k = ocsf_buf_cstr(&d->path);
    json_t *have = json_object_get(d->unmapped, k);
    int rc = 0;
    if (!have)
        json_object_set(d->unmapped, k, val);
    else if (!json_equal(have, val)) {
        ocsf_buf_t t;
        ocsf_buf_init(&t);
        rc = dg_fail(d, "unmapped.%s already holds a different value", path_text(d, &t));
        ocsf_buf_dispose(&t);
    }
    path_pop(d, old);
    return rc;
}

/* Sets obj[key] = val (owned), keeping the original when there was one and
 * it differs. */
static int replace(dg_t *d, json_t *obj, const char *key, json_t *val)
{
    json_t *was = json_object_get(obj, key);
    if (was && json_equal(was, val)) {
        json_decref(val);
        return 0;
    }
    if (was && keep(d, key, was) != 0) {
        json_decref(val);
        return -EINVAL;
    }
    json_object_set_new(obj, key, val);
    return 0;
}

static void note_filled(dg_t *d, const char *key)
{
    if (d->filling)
        return;
    if (!d->filled)
        d->filled = json_array();
    size_t old = path_push(d, key);
    json_array_append_new(d->filled, json_stringn(d->path.p, d->path.len));
    path_pop(d, old);
}

/* ---- placeholders for what the target requires ---------------------------- */

static void complete(dg_t *d, json_t *obj, const dg_object_t *def);

static json_t *placeholder_scalar(dg_t *d, const dg_attr_t *a)
{
    switch (a->kind) {
    case OCSF__DG_INT:
        if (a->nenums && !find_enum(a, 0))
            return json_integer(find_enum(a, OCSF_OTHER) ? OCSF_OTHER : a->enums[0].id);
        return json_integer(0);
    case OCSF__DG_BOOL: return json_false();
    case OCSF__DG_FLOAT: return json_real(0);
    case OCSF__DG_OBJECT:
    case OCSF__DG_JSON: {
        json_t *o = json_object();
        const dg_object_t *def = attr_object(d, a);
        if (def && d->filling < DG_FILL_DEPTH) {
            d->filling++;
            complete(d, o, def);
            d->filling--;
        }
        return o;
    }
    default:
        if (!strcmp(a->type, "ip_t"))
            return json_string("0.0.0.0");
        if (!strcmp(a->type, "uuid_t"))
            return json_string("00000000-0000-0000-0000-000000000000");
        if (!strcmp(a->type, "mac_t"))
            return json_string("00:00:00:00:00:00");
        return json_string("unknown");
    }
}

static void fill(dg_t *d, json_t *obj, const dg_attr_t *a)
{
    json_t *v = placeholder_scalar(d, a);
    if (a->is_array) {
        json_t *arr = json_array();
        json_array_append_new(arr, v);
        v = arr;
    }
    note_filled(d, a->name);
    json_object_set_new(obj, a->name, v);
}

/* An at_least_one / just_one list with nothing present: an endpoint's
 * hostname from its domain (1.7.0 accepts domain alone, older versions do
 * not), else a placeholder for `name`, else for the first string. */
static void fill_one_of(dg_t *d, json_t *obj, const dg_object_t *def, const char *const *names,
                        size_t n)
{
    const dg_attr_t *pick = NULL, *first_str = NULL;
    json_t *domain = json_object_get(obj, "domain");
    for (size_t i = 0; i < n; i++) {
        const dg_attr_t *a = find_attr(def, names[i]);
        if (!a)
            continue;
        if (!strcmp(a->name, "hostname") && json_is_string(domain)) {
            note_filled(d, a->name);
            json_object_set(obj, a->name, domain);
            return;
        }
        if (!strcmp(a->name, "name") && a->kind == OCSF__DG_STRING)
            pick = a;
        if (!first_str && a->kind == OCSF__DG_STRING && !strcmp(a->type, "string_t"))
            first_str = a;
    }
    pick = pick ? pick : first_str;
    if (!pick && n)
        pick = find_attr(def, names[0]);
    if (pick)
        fill(d, obj, pick);
}

static size_t count_present(json_t *obj, const char *const *names, size_t n, size_t *first)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (json_object_get(obj, names[i]) && c++ == 0)
            *first = i;
    return c;
}

/* Required attributes and constraints of one object. */
static void complete(dg_t *d, json_t *obj, const dg_object_t *def)
{
    for (size_t i = 0; i < def->nattrs; i++) {
        const dg_attr_t *a = &def->attrs[i];
        if (a->required && profile_ok(d, a) && !json_object_get(obj, a->name))
            fill(d, obj, a);
    }
    size_t first = 0;
    if (def->n_at_least_one &&
        count_present(obj, def->at_least_one, def->n_at_least_one, &first) == 0)
        fill_one_of(d, obj, def, def->at_least_one, def->n_at_least_one);
    if (def->n_just_one && count_present(obj, def->just_one, def->n_just_one, &first) == 0)
        fill_one_of(d, obj, def, def->just_one, def->n_just_one);
}

/* just_one with more than one present: the first stays, the others move. */
static int just_one(dg_t *d, json_t *obj, const dg_object_t *def)
{
    size_t first = 0;
    if (!def->n_just_one || count_present(obj, def->just_one, def->n_just_one, &first) <= 1)
        return 0;
    for (size_t i = first + 1; i < def->n_just_one; i++) {
        json_t *v = json_object_get(obj, def->just_one[i]);
        if (v && keep(d, def->just_one[i], v) != 0)
            return -EINVAL;
        json_object_del(obj, def->just_one[i]);
    }
    return 0;
}

/* ---- the walk ------------------------------------------------------------- */

static int walk_obj(dg_t *d, json_t *obj, const dg_object_t *def, int class_uid);

/* An integer enum id (or array of them) the target lacks: 99, or 0 when
 * the attribute has no Other; the original is kept. */
static int fix_enum(dg_t *d, json_t *obj, const char *key, json_t *val, const dg_attr_t *a)
{
    int64_t other = find_enum(a, OCSF_OTHER) ? OCSF_OTHER : 0;
    if (json_is_integer(val)) {
        if (find_enum(a, json_integer_value(val)))
            return 0;
        return replace(d, obj, key, json_integer(other));
    }
    if (!json_is_array(val))
        return 0;
    json_t *copy = NULL, *e;
    size_t i;
    json_array_foreach(val, i, e)
    {
        if (!json_is_integer(e) || find_enum(a, json_integer_value(e)))
            continue;
        if (!copy)
            copy = json_deep_copy(val);
        json_array_set_new(copy, i, json_integer(other));
    }
    return copy ? replace(d, obj, key, copy) : 0;
}

static int walk_value(dg_t *d, const char *key, json_t *val, const dg_attr_t *a)
{
    const dg_object_t *def = attr_object(d, a);
    if (!def || a->kind != OCSF__DG_OBJECT)
        return 0;
    size_t old = path_push(d, key), i;
    int rc = 0;
    json_t *e;
    if (json_is_object(val))
        rc = walk_obj(d, val, def, 0);
    else
        json_array_foreach(val, i, e)
        {
            size_t at = path_push_index(d, i);
            rc = json_is_object(e) ? walk_obj(d, e, def, 0) : 0;
            path_pop(d, at);
            if (rc)
                break;
        }
    path_pop(d, old);
    return rc;
}

/* category_uid from the class; type_uid from activity_id. */
static int fix_root(dg_t *d, json_t *root, int class_uid)
{
    const ocsf__dg_class_t *c = NULL;
    for (size_t i = 0; i < d->s->nclasses; i++)
        if (d->s->classes[i].uid == class_uid)
            c = &d->s->classes[i];
    if (!c)
        return 0;
    if (replace(d, root, "category_uid", json_integer(c->category_uid)) != 0)
        return -EINVAL;
    json_t *act = json_object_get(root, "activity_id");
    if (!json_is_integer(act))
        return 0;
    return replace(d, root, "type_uid",
                   json_integer((json_int_t)class_uid * 100 + json_integer_value(act)));
}

/* Each enum id's sibling caption is the target's (except for 99 Other). */
static int fix_captions(dg_t *d, json_t *obj, const dg_object_t *def)
{
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val)
    {
        const dg_attr_t *a = find_attr(def, key);
        if (!a || !a->sibling || !a->nenums || !json_is_integer(val) ||
            json_integer_value(val) == OCSF_OTHER)
            continue;
        const ocsf__dg_enum_t *e = find_enum(a, json_integer_value(val));
        json_t *sib = json_object_get(obj, a->sibling);
        if (!e || !sib)
            continue;
        if (json_is_string(sib) && json_string_length(sib) == strlen(e->caption) &&
            memcmp(json_string_value(sib), e->caption, json_string_length(sib)) == 0)
            continue;
        if (replace(d, obj, a->sibling, json_string(e->caption)) != 0)
            return -EINVAL;
    }
    return 0;
}

static int walk_obj(dg_t *d, json_t *obj, const dg_object_t *def, int class_uid)
{
    const char *key;
    json_t *val;
    void *tmp;
    json_object_foreach_safe(obj, tmp, key, val)
    {
        if (class_uid && strcmp(key, "unmapped") == 0)
            continue;
        const dg_attr_t *a = find_attr(def, key);
        if (!a || !profile_ok(d, a) || !fits(a, val)) {
            if (keep(d, key, val) != 0)
                return -EINVAL;
            json_object_del(obj, key); /* `key` is gone with it */
            continue;
        }
        int rc = 0;
        if (a->kind == OCSF__DG_OBJECT)
            rc = walk_value(d, key, val, a);
        else if (a->nenums && !(class_uid && strcmp(key, "type_uid") == 0))
            rc = fix_enum(d, obj, key, val, a);
        if (rc)
            return rc;
    }
    if (class_uid && fix_root(d, obj, class_uid) != 0)
        return -EINVAL;
    complete(d, obj, def); /* first: a filled id gets its caption below */
    if (fix_captions(d, obj, def) != 0 || just_one(d, obj, def) != 0)
        return -EINVAL;
    return 0;
}

/* metadata.profiles: only those the target defines for the class; sets
 * d->profiles. metadata.version: the target. */
static int fix_metadata(dg_t *d, json_t *md, const ocsf__dg_class_t *c)
{
    json_t *profiles = json_object_get(md, "profiles");
    if (json_is_array(profiles)) {
        json_t *keep_list = json_array(), *p;
        size_t i;
        json_array_foreach(profiles, i, p)
        {
            for (size_t k = 0; json_is_string(p) && k < d->s->nprofiles; k++)
                if ((c->profiles & (1u << k)) && !strcmp(json_string_value(p), d->s->profiles[k]) &&
                    !(d->profiles & (1u << k))) {
                    d->profiles |= 1u << k;
                    json_array_append(keep_list, p);
                }
        }
        size_t old = path_push(d, "metadata");
        int rc = replace(d, md, "profiles", keep_list);
        path_pop(d, old);
        if (rc)
            return rc;
    }
    size_t old = path_push(d, "metadata");
    int rc = replace(d, md, "version", json_string(d->s->version));
    path_pop(d, old);
    return rc;
}

/* ---- output: compact, keys sorted, strings through the one escaper ------ */

typedef struct {
    const char *k;
    json_t *v;
} dg_kv_t;

static int cmp_kv(const void *a, const void *b)
{
    return strcmp(((const dg_kv_t *)a)->k, ((const dg_kv_t *)b)->k);
}

static void emit(ocsf_buf_t *b, json_t *v);

static void emit_object(ocsf_buf_t *b, json_t *v)
{
    dg_kv_t stack[DG_SORT_STACK], *kv = stack;
    size_t n = json_object_size(v), i = 0;
    if (n > DG_SORT_STACK) {
        kv = malloc(n * sizeof *kv);
        if (!kv)
            abort(); /* the ocsf_buf_t OOM policy */
    }
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) kv[i++] = (dg_kv_t){key, val};
    qsort(kv, n, sizeof *kv, cmp_kv);
    ocsf_buf_putc(b, '{');
    for (i = 0; i < n; i++) {
        if (i)
            ocsf_buf_putc(b, ',');
        ocsf_json_escape(b, kv[i].k, strlen(kv[i].k));
        ocsf_buf_putc(b, ':');
        emit(b, kv[i].v);
    }
    ocsf_buf_putc(b, '}');
    if (kv != stack)
        free(kv);
}

static void emit(ocsf_buf_t *b, json_t *v)
{
    size_t i;
    json_t *e;
    char num[40];
    switch (json_typeof(v)) {
    case JSON_OBJECT: emit_object(b, v); break;
    case JSON_ARRAY:
        ocsf_buf_putc(b, '[');
        json_array_foreach(v, i, e)
        {
            if (i)
                ocsf_buf_putc(b, ',');
            emit(b, e);
        }
        ocsf_buf_putc(b, ']');
        break;
    case JSON_STRING: ocsf_json_escape(b, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: ocsf_buf_put_i64(b, json_integer_value(v)); break;
    case JSON_REAL: {
        int n = snprintf(num, sizeof num, "%.17g", json_real_value(v));
        ocsf_buf_put(b, num, (size_t)n);
        if (!strpbrk(num, ".eE"))
            ocsf_buf_puts(b, ".0");
        break;
    }
    case JSON_TRUE: ocsf_buf_puts(b, "true"); break;
    case JSON_FALSE: ocsf_buf_puts(b, "false"); break;
    default: ocsf_buf_puts(b, "null"); break;
    }
}

/* ---- entry ---------------------------------------------------------------- */

static const ocsf__dg_class_t *find_class(const ocsf__dg_schema_t *s, json_int_t uid)
{
    for (size_t i = 0; i < s->nclasses; i++)
        if (s->classes[i].uid == uid)
            return &s->classes[i];
    return NULL;
}

/* Checks the root, makes sure it has an unmapped object; 0 or -EINVAL. */
static int prepare(dg_t *d, json_t *root, const ocsf__dg_class_t **cls, bool *made_unmapped)
{
    json_t *cuid = json_object_get(root, "class_uid");
    if (!json_is_integer(cuid))
        return dg_fail(d, "class_uid: expected an integer");
    *cls = find_class(d->s, json_integer_value(cuid));
    if (!*cls)
        return dg_fail(d, "class_uid %lld is not a class of OCSF %s that tollgate converts",
                       (long long)json_integer_value(cuid), d->s->version);
    if (!json_is_object(json_object_get(root, "metadata")))
        return dg_fail(d, "metadata: expected an object");
    /* type_uid follows it: an event without one is not OCSF to begin with */
    if (!json_is_integer(json_object_get(root, "activity_id")))
        return dg_fail(d, "activity_id: expected an integer");
    d->unmapped = json_object_get(root, "unmapped");
    if (d->unmapped && !json_is_object(d->unmapped))
        return dg_fail(d, "unmapped: expected an object");
    if (!d->unmapped) {
        d->unmapped = json_object();
        json_object_set_new(root, "unmapped", d->unmapped);
        *made_unmapped = true;
    }
    return 0;
}

static int convert(dg_t *d, json_t *root)
{
    const ocsf__dg_class_t *cls = NULL;
    bool made = false;
    int rc = prepare(d, root, &cls, &made);
    if (rc == 0)
        rc = fix_metadata(d, json_object_get(root, "metadata"), cls);
    if (rc == 0)
        rc = walk_obj(d, root, &cls->o, cls->uid);
    if (rc == 0 && d->filled) {
        json_t *have = json_object_get(d->unmapped, DG_FILLED_KEY);
        if (have && !json_equal(have, d->filled))
            rc = dg_fail(d, "unmapped.%s already holds a different value", DG_FILLED_KEY);
        else
            json_object_set(d->unmapped, DG_FILLED_KEY, d->filled);
    }
    if (rc == 0 && made && json_object_size(d->unmapped) == 0)
        json_object_del(root, "unmapped");
    return rc;
}

int ocsf_downgrade(const char *json, size_t len, const char *target_version, ocsf_buf_t *out,
                   char *err, size_t errlen)
{
    dg_t d = {.err = err, .errlen = errlen};
    if (target_version && strcmp(target_version, DG_SOURCE) == 0) {
        ocsf_buf_put(out, json, len);
        return 0;
    }
    d.s = find_schema(target_version);
    if (!d.s)
        return dg_fail(&d, "unknown OCSF version (1.7.0, 1.3.0 and 1.1.0 are known)");
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        /* jansson quotes the bytes it choked on: escape them */
        ocsf_buf_t t;
        ocsf_buf_init(&t);
        ocsf_text_escape(&t, jerr.text, strlen(jerr.text), 160, 0);
        int frc = dg_fail(&d, "not JSON: %s (at byte %d)", ocsf_buf_cstr(&t), jerr.position);
        ocsf_buf_dispose(&t);
        return frc;
    }
    int rc = json_is_object(root) ? 0 : dg_fail(&d, "not a JSON object");
    ocsf_buf_init(&d.path);
    if (rc == 0)
        rc = convert(&d, root);
    if (rc == 0)
        emit(out, root);
    ocsf_buf_dispose(&d.path);
    json_decref(d.filled);
    json_decref(root);
    return rc;
}
