/*
 * cast.c: rewrites an OCSF event of one bundled version as another (1.8.0
 * <-> 1.7.0 <-> 1.3.0 <-> 1.1.0), for the exporters whose SIEM ingests a
 * given version (`ocsf_version:`) and for `tollgate ocsf cast --to V`.
 *
 * Guided by the target's generated tables (schema.h: every class, object,
 * enum and profile), the same rules whichever way the cast goes:
 *  - An attribute the target lacks in that class or object type (at any
 *    depth), one whose JSON type does not fit the target's, or one that
 *    belongs to a profile the event does not name, is removed from its place
 *    and kept under the top-level `unmapped` object, keyed by its path from
 *    the event root: `unmapped["policy"]`, `unmapped["actor.process.x"]`,
 *    `unmapped["actor.process.file.hashes[0].x"]` (flat, one key per moved
 *    subtree; the value is the original JSON value, verbatim).
 *  - A value rewritten in place keeps its original the same way: an enum id
 *    the target does not define becomes 99 (Other; its caption stays in the
 *    sibling, as OCSF wants for Other) or 0 (Unknown) when the attribute has
 *    no Other; captions (class_name, category_name, type_name, activity_name,
 *    severity, ...) are the target's; type_uid follows activity_id;
 *    metadata.version is the target; metadata.profiles keeps only the
 *    profiles the target defines for the class. `unmapped["metadata.version"]`
 *    then holds the version the event had, and so on.
 *  - An attribute the target requires (or a constraint, at_least_one /
 *    just_one, that the event no longer meets) gets a value only then: an
 *    endpoint's hostname from its domain, else a placeholder ("unknown", 0,
 *    an empty object with its own required attributes). Every path filled
 *    this way is listed in `unmapped["tollgate.downgrade.filled"]`, so a
 *    reader can tell invented values from observed ones.
 *  - The event's own `unmapped` keys stay. If one already holds a path the
 *    cast needs, with a different value, the call fails (nothing lost
 *    silently); so does a class the target does not have.
 * An event already of the target version is copied as is (no rewrite).
 *
 * This file is the reference implementation (ocsf__cast_ref): a jansson
 * tree, rewritten in place, then written compact with keys sorted at every
 * level. ocsf_cast() is cast_tok.c: the same rules over the token array,
 * several times faster; the fuzz target and the unit tests hold the two
 * equal as JSON values.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ocsf/check.h"
#include "ocsf/downgrade.h"

#define DG_FILLED_KEY "tollgate.downgrade.filled"
#define DG_FILL_DEPTH 8  /* placeholder objects inside placeholder objects */
#define DG_SORT_STACK 64 /* keys sorted on the stack; more go to the heap */

typedef ocsf__attr_t dg_attr_t;
typedef ocsf__body_t dg_object_t;

typedef struct {
    const ocsf_schema_t *s;
    uint32_t profiles; /* the profiles the output names (bits of s->profiles) */
    json_t *unmapped;  /* borrowed: the root's unmapped object */
    json_t *filled;    /* owned: paths given a placeholder; NULL until one is */
    json_t *moved;     /* owned: the unmapped keys this cast wrote */
    int filling;       /* > 0 while building a placeholder object */
    bool repair;       /* OCSF_CAST_REPAIR: name the profiles the event uses */
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

static const dg_attr_t *find_attr(const dg_object_t *o, const char *name)
{
    return ocsf__body_attr(o, name, strlen(name));
}

/* The enum entry of id, NULL when the attribute does not define it. */
static const ocsf__enum_t *find_enum(const dg_t *d, const ocsf__attr_t *a, int64_t id)
{
    return ocsf__attr_enum(d->s, a, id);
}

static const dg_object_t *attr_object(const dg_t *d, const dg_attr_t *a)
{
    return a->object >= 0 && (size_t)a->object < d->s->nobjects ? &d->s->objects[a->object].b
                                                                : NULL;
}

static bool profile_ok(const dg_t *d, const dg_attr_t *a)
{
    return a->profiles == 0 || (a->profiles & d->profiles) != 0;
}

static bool scalar_fits(const dg_attr_t *a, json_t *v)
{
    switch (a->kind) {
    case OCSF__K_STRING: {
        if (!json_is_string(v))
            return false;
        const unsigned char *s = (const unsigned char *)json_string_value(v);
        size_t n = json_string_length(v), chars = 0;
        for (size_t i = 0; i < n; i++)
            chars += (s[i] & 0xC0) != 0x80;
        if (a->max_len && chars > a->max_len)
            return false;
        return !a->check || ocsf__typed_ok(a->check, s, n);
    }
    case OCSF__K_INT:
        if (!json_is_integer(v))
            return false;
        if ((a->flags & OCSF__A_TIMESTAMP) &&
            (json_integer_value(v) < 1000000000000LL || json_integer_value(v) >= 100000000000000LL))
            return false; /* not milliseconds: it would not validate */
        return !(a->flags & OCSF__A_PORT) ||
               (json_integer_value(v) >= 0 && json_integer_value(v) <= 65535);
    case OCSF__K_BOOL: return json_is_boolean(v);
    case OCSF__K_FLOAT: return json_is_number(v);
    case OCSF__K_OBJECT: return json_is_object(v);
    default: return true; /* json_t */
    }
}

static bool fits(const dg_attr_t *a, json_t *v)
{
    if (!(a->flags & OCSF__A_ARRAY))
        return !json_is_array(v) || a->kind == OCSF__K_JSON ? scalar_fits(a, v) : false;
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
    if (have && json_object_get(d->moved, k)) {
        /* moved by this cast already (an id rewritten, then replaced): the
         * original is the one kept */
    } else if (!have) {
        json_object_set(d->unmapped, k, val);
        json_object_set_new(d->moved, k, json_true());
    } else if (!json_equal(have, val)) {
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
    case OCSF__K_INT:
        if (a->flags & OCSF__A_TIMESTAMP) /* the earliest time that reads as milliseconds */
            return json_integer(1000000000000LL);
        if (a->enum_n && !find_enum(d, a, 0))
            return json_integer(find_enum(d, a, OCSF_OTHER) ? OCSF_OTHER
                                                            : d->s->enums[a->enum_off].id);
        return json_integer(0);
    case OCSF__K_BOOL: return json_false();
    case OCSF__K_FLOAT: return json_real(0);
    case OCSF__K_OBJECT:
    case OCSF__K_JSON: {
        json_t *o = json_object();
        const dg_object_t *def = attr_object(d, a);
        if (def && d->filling < DG_FILL_DEPTH) {
            d->filling++;
            complete(d, o, def);
            d->filling--;
        }
        return o;
    }
    default: return json_string(ocsf__placeholder_string(a));
    }
}

static void fill(dg_t *d, json_t *obj, const dg_attr_t *a)
{
    json_t *v = placeholder_scalar(d, a);
    if (a->flags & OCSF__A_ARRAY) {
        json_t *arr = json_array();
        json_array_append_new(arr, v);
        v = arr;
    }
    note_filled(d, a->name);
    json_object_set_new(obj, a->name, v);
}

/* Constraint member i of a body: an attribute name or a dotted path. */
static const char *cons_name(const dg_object_t *def, uint16_t i)
{
    return i < def->n ? def->attrs[i].name : def->paths[i - def->n];
}

static json_t *get_path(json_t *obj, const char *path)
{
    char key[128];
    while (obj && *path) {
        const char *dot = strchr(path, '.');
        size_t k = dot ? (size_t)(dot - path) : strlen(path);
        if (k >= sizeof key)
            return NULL;
        memcpy(key, path, k);
        key[k] = '\0';
        obj = json_is_object(obj) ? json_object_get(obj, key) : NULL;
        path += k + (dot ? 1 : 0);
    }
    return obj;
}

/* An at_least_one / just_one list with nothing present: an endpoint's
 * hostname from its domain (1.7.0 accepts domain alone, older versions do
 * not), else a placeholder for `name`, else for the first string. Dotted
 * members are not filled. */
static void fill_one_of(dg_t *d, json_t *obj, const dg_object_t *def, const uint16_t *idx, size_t n)
{
    json_t *domain = json_object_get(obj, "domain");
    for (size_t i = 0; i < n; i++) {
        const dg_attr_t *a = idx[i] < def->n ? &def->attrs[idx[i]] : NULL;
        if (a && !strcmp(a->name, "hostname") && json_is_string(domain) && scalar_fits(a, domain)) {
            note_filled(d, a->name);
            json_object_set(obj, a->name, domain);
            return;
        }
    }
    const dg_attr_t *pick = ocsf__one_of_pick(def, idx, n);
    if (pick)
        fill(d, obj, pick);
}

static size_t count_present(json_t *obj, const dg_object_t *def, const uint16_t *idx, size_t n,
                            size_t *first)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (get_path(obj, cons_name(def, idx[i])) && c++ == 0)
            *first = i;
    return c;
}

/* Required attributes and constraints of one object. */
static void complete(dg_t *d, json_t *obj, const dg_object_t *def)
{
    for (size_t i = 0; i < def->n; i++) {
        const dg_attr_t *a = &def->attrs[i];
        if ((a->flags & OCSF__A_REQUIRED) && profile_ok(d, a) && !json_object_get(obj, a->name))
            fill(d, obj, a);
    }
    size_t first = 0;
    const uint16_t *alo = def->cons, *jo = def->cons + def->nalo;
    if (def->nalo && count_present(obj, def, alo, def->nalo, &first) == 0)
        fill_one_of(d, obj, def, alo, def->nalo);
    if (def->njo && count_present(obj, def, jo, def->njo, &first) == 0)
        fill_one_of(d, obj, def, jo, def->njo);
}

/* just_one with more than one present: the first stays, the others move. */
static int just_one(dg_t *d, json_t *obj, const dg_object_t *def)
{
    size_t first = 0;
    const uint16_t *jo = def->cons + def->nalo;
    if (!def->njo || count_present(obj, def, jo, def->njo, &first) <= 1)
        return 0;
    for (size_t i = first + 1; i < def->njo; i++) {
        if (jo[i] >= def->n)
            continue; /* a dotted member stays where it is */
        const char *name = def->attrs[jo[i]].name;
        json_t *v = json_object_get(obj, name);
        if (v && keep(d, name, v) != 0)
            return -EINVAL;
        json_object_del(obj, name);
    }
    return 0;
}

/* ---- the walk ------------------------------------------------------------- */

/* class_uid: the event's for the root object, -1 below it (Base Event is 0) */
static int walk_obj(dg_t *d, json_t *obj, const dg_object_t *def, int class_uid);

/* An integer enum id (or array of them) the target lacks: 99, or 0 when
 * the attribute has no Other; the original is kept. */
static int fix_enum(dg_t *d, json_t *obj, const char *key, json_t *val, const dg_attr_t *a)
{
    int64_t other = find_enum(d, a, OCSF_OTHER) ? OCSF_OTHER : 0;
    if (json_is_integer(val)) {
        if (find_enum(d, a, json_integer_value(val)))
            return 0;
        return replace(d, obj, key, json_integer(other));
    }
    if (!json_is_array(val))
        return 0;
    json_t *copy = NULL, *e;
    size_t i;
    json_array_foreach(val, i, e)
    {
        if (!json_is_integer(e) || find_enum(d, a, json_integer_value(e)))
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
    if (!def || a->kind != OCSF__K_OBJECT)
        return 0;
    size_t old = path_push(d, key), i;
    int rc = 0;
    json_t *e;
    if (json_is_object(val))
        rc = walk_obj(d, val, def, -1);
    else
        json_array_foreach(val, i, e)
        {
            size_t at = path_push_index(d, i);
            rc = json_is_object(e) ? walk_obj(d, e, def, -1) : 0;
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
    const ocsf__class_t *c = ocsf__schema_class(d->s, class_uid);
    if (!c)
        return 0;
    if (replace(d, root, "category_uid", json_integer(c->category_uid)) != 0)
        return -EINVAL;
    json_t *act = json_object_get(root, "activity_id");
    json_int_t tu;
    if (!json_is_integer(act) ||
        __builtin_add_overflow((json_int_t)class_uid * 100, json_integer_value(act), &tu))
        return 0;
    return replace(d, root, "type_uid", json_integer(tu));
}

/* Each enum id's sibling caption is the target's (except for 99 Other). */
static int fix_captions(dg_t *d, json_t *obj, const dg_object_t *def)
{
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val)
    {
        const dg_attr_t *a = find_attr(def, key);
        if (!a || a->sibling < 0 || !a->enum_n || !json_is_integer(val) ||
            json_integer_value(val) == OCSF_OTHER)
            continue;
        const ocsf__enum_t *e = find_enum(d, a, json_integer_value(val));
        const char *sibling = def->attrs[a->sibling].name;
        json_t *sib = json_object_get(obj, sibling);
        if (!e || !sib)
            continue;
        if (json_is_string(sib) && json_string_length(sib) == strlen(e->caption) &&
            memcmp(json_string_value(sib), e->caption, json_string_length(sib)) == 0)
            continue;
        if (replace(d, obj, sibling, json_string(e->caption)) != 0)
            return -EINVAL;
    }
    return 0;
}

/* The order is the one cast_tok.c has to follow (it writes as it goes):
 * decide every member (move what has no home, rewrite ids), fix the root's
 * ids, fill what is required, fix captions, settle just_one, and only then
 * walk into the members that stay. The paths an object fills are listed
 * after those its members fill. */
static int walk_obj(dg_t *d, json_t *obj, const dg_object_t *def, int class_uid)
{
    const char *key;
    json_t *val;
    void *tmp;
    json_object_foreach_safe(obj, tmp, key, val)
    {
        if (class_uid >= 0 && strcmp(key, "unmapped") == 0)
            continue;
        const dg_attr_t *a = find_attr(def, key);
        if (!a || !profile_ok(d, a) || !fits(a, val)) {
            if (keep(d, key, val) != 0)
                return -EINVAL;
            json_object_del(obj, key); /* `key` is gone with it */
            continue;
        }
        if (a->kind != OCSF__K_OBJECT && (a->flags & OCSF__A_ENUM) &&
            !(class_uid >= 0 && strcmp(key, "type_uid") == 0) && fix_enum(d, obj, key, val, a) != 0)
            return -EINVAL;
    }
    if (class_uid >= 0 && fix_root(d, obj, class_uid) != 0)
        return -EINVAL;
    size_t mark = d->filled ? json_array_size(d->filled) : 0;
    complete(d, obj, def); /* first: a filled id gets its caption below */
    if (fix_captions(d, obj, def) != 0 || just_one(d, obj, def) != 0)
        return -EINVAL;
    json_t *mine = json_array(); /* this object's fills, listed after its members' */
    while (d->filled && json_array_size(d->filled) > mark) {
        json_array_append(mine, json_array_get(d->filled, mark));
        json_array_remove(d->filled, mark);
    }
    int rc = 0;
    json_object_foreach_safe(obj, tmp, key, val)
    {
        if (class_uid >= 0 && strcmp(key, "unmapped") == 0)
            continue;
        const dg_attr_t *a = find_attr(def, key);
        if (a && a->kind == OCSF__K_OBJECT && (rc = walk_value(d, key, val, a)) != 0)
            break;
    }
    if (json_array_size(mine)) {
        if (!d->filled)
            d->filled = json_array();
        json_array_extend(d->filled, mine);
    }
    json_decref(mine);
    return rc;
}

/* metadata.profiles: only those the target defines for the class; sets
 * d->profiles. With repair, also those of the class whose attributes the
 * event uses at its top level without naming them (so they stay in place).
 * metadata.version: the target. */
static int fix_metadata(dg_t *d, json_t *root, json_t *md, const ocsf__class_t *c)
{
    json_t *profiles = json_object_get(md, "profiles");
    bool made = false; /* no array before: the new list replaces nothing */
    if (d->repair && !json_is_array(profiles)) {
        made = true;
        if (profiles) { /* not an array: the original is kept */
            size_t old = path_push(d, "metadata");
            int rc = keep(d, "profiles", profiles);
            path_pop(d, old);
            if (rc)
                return rc;
        }
        profiles = json_array();
        json_object_set_new(md, "profiles", profiles);
    }
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
        const char *key;
        json_t *val;
        json_object_foreach(root, key, val)
        {
            const dg_attr_t *a = d->repair ? find_attr(&c->b, key) : NULL;
            uint32_t want = a ? a->profiles & c->profiles : 0;
            if (!want || (a->profiles & d->profiles))
                continue;
            int k = __builtin_ctz(want);
            d->profiles |= 1u << k;
            json_array_append_new(keep_list, json_string(d->s->profiles[k]));
        }
        if (made) {
            json_object_set_new(md, "profiles", keep_list);
        } else {
            size_t old = path_push(d, "metadata");
            int rc = replace(d, md, "profiles", keep_list);
            path_pop(d, old);
            if (rc)
                return rc;
        }
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

/* Checks the root, makes sure it has an unmapped object; 0 or -EINVAL. */
static int prepare(dg_t *d, json_t *root, const ocsf__class_t **cls, bool *made_unmapped)
{
    json_t *cuid = json_object_get(root, "class_uid");
    if (!json_is_integer(cuid))
        return dg_fail(d, "class_uid: expected an integer");
    *cls = ocsf__schema_class(d->s, json_integer_value(cuid));
    /* a class the target does not have: a Base Event (class 0), the rest of
     * the event under unmapped like any attribute with no home */
    const ocsf__class_t *base = *cls ? NULL : ocsf__schema_class(d->s, 0);
    if (!*cls && !base)
        return dg_fail(d, "class_uid %lld has no home in OCSF %s",
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
    if (base) {
        *cls = base;
        if (replace(d, root, "class_uid", json_integer(0)) != 0 ||
            replace(d, root, "class_name", json_string(base->caption)) != 0 ||
            (base->category_name &&
             replace(d, root, "category_name", json_string(base->category_name)) != 0))
            return -EINVAL;
    }
    return 0;
}

static int convert(dg_t *d, json_t *root)
{
    const ocsf__class_t *cls = NULL;
    bool made = false;
    int rc = prepare(d, root, &cls, &made);
    if (rc == 0)
        rc = fix_metadata(d, root, json_object_get(root, "metadata"), cls);
    if (rc == 0)
        rc = walk_obj(d, root, &cls->b, cls->uid);
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

/* The class's dotted-path constraints, which the cast does not fill (see
 * cast_tok.c's dotted_ok: the same verdict and the same reason). */
static int dotted_ok(dg_t *d, json_t *root)
{
    const ocsf__class_t *cls =
        ocsf__schema_class(d->s, json_integer_value(json_object_get(root, "class_uid")));
    if (!cls)
        return 0;
    const ocsf__body_t *b = &cls->b;
    const uint16_t *cons = b->cons;
    bool dotted = false;
    for (size_t i = 0; i < (size_t)b->nalo + b->njo; i++)
        dotted = dotted || cons[i] >= b->n;
    if (!dotted)
        return 0;
    for (int part = 0; part < 2; part++) {
        const uint16_t *idx = part ? cons + b->nalo : cons;
        size_t k = part ? b->njo : b->nalo, present = 0;
        for (size_t i = 0; i < k; i++)
            present += get_path(root, cons_name(b, idx[i])) != NULL;
        if (k && (part ? present != 1 : present == 0))
            return dg_fail(d, "%s in OCSF %s needs %s of %s%s; the event has %zu", cls->name,
                           d->s->version, part ? "exactly one" : "one", cons_name(b, idx[0]),
                           k > 1 ? " and the like" : "", present);
    }
    return 0;
}

int ocsf__cast_ref(ocsf_checker_t *c, const char *json, size_t len, const ocsf_schema_t *target,
                   unsigned flags, ocsf_buf_t *out, char *err, size_t errlen)
{
    dg_t d = {.err = err, .errlen = errlen, .s = target, .repair = (flags & OCSF_CAST_REPAIR) != 0};
    char perr[96];
    if (!target) { /* the event's own version */
        uint32_t v = jt_parse(&c->doc, json, len, perr, sizeof perr) == 0
                         ? jt_path(&c->doc, "metadata.version")
                         : 0;
        ocsf_str_t vs = v && c->doc.t[v].type == JT_STR ? jt_str(&c->doc, v, &c->str) : OCSF_NOSTR;
        d.s = target = vs.p ? ocsf_schema_find(vs.p, vs.n) : NULL;
        if (!target)
            return dg_fail(&d, "metadata.version: not a bundled OCSF version");
    }
    /* an event already of the target version is copied as is */
    if (!(flags & OCSF_CAST_REPAIR) && jt_parse(&c->doc, json, len, perr, sizeof perr) == 0) {
        uint32_t v = jt_path(&c->doc, "metadata.version");
        if (v && jt_str_eq(&c->doc, v, target->version, strlen(target->version))) {
            ocsf_buf_put(out, json, len);
            return 0;
        }
    }
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
    d.moved = json_object();
    if (rc == 0)
        rc = convert(&d, root);
    if (rc == 0)
        rc = dotted_ok(&d, root);
    if (rc == 0)
        emit(out, root);
    ocsf_buf_dispose(&d.path);
    json_decref(d.moved);
    json_decref(d.filled);
    json_decref(root);
    return rc;
}

bool ocsf_downgrade_supported(const char *version)
{
    return version && ocsf_schema_find(version, strlen(version)) != NULL;
}

int ocsf_downgrade(const char *json, size_t len, const char *target_version, ocsf_buf_t *out,
                   char *err, size_t errlen)
{
    const ocsf_schema_t *s =
        target_version ? ocsf_schema_find(target_version, strlen(target_version)) : NULL;
    if (!s) {
        snprintf(err, errlen, "unknown OCSF version (%s are bundled)", ocsf__versions_list);
        return -EINVAL;
    }
    ocsf_checker_t *c = ocsf_checker_new();
    int rc = ocsf_cast(c, json, len, s, 0, out, err, errlen);
    ocsf_checker_free(c);
    return rc;
}
