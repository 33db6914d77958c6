/*
 * cast_tok.c: ocsf_cast() over the token array: the rules of cast.c (which
 * states them and stays as the reference implementation, on jansson), in
 * one walk that copies the input's bytes and writes only what changes. No
 * tree, no allocation per event once the checker's buffers have grown.
 *
 * Per object, two phases: first every member is decided (kept as is,
 * rewritten, walked into, or moved under unmapped) and what the object
 * lacks is planned (category_uid, type_uid, required attributes, captions,
 * just_one); then the object is written in the input's member order, the
 * additions after. Moves accumulate in one buffer; the root's `unmapped`
 * is written last, the event's own keys first, then the moved ones, then
 * the list of filled paths. Members keep their input order (the reference
 * sorts keys; tests compare the two as JSON values).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocsf/check.h"

#define FILLED_KEY  "tollgate.downgrade.filled"
#define FILL_DEPTH  8
#define MAX_MEMBERS 4096 /* members of one object we plan for on the stack; more: refused */

typedef struct {
    ocsf_checker_t *c;
    const jt_doc_t *d;
    const ocsf_schema_t *s;
    uint32_t profiles;
    bool repair;
    bool base_sub;      /* the class has no home in the target: a Base Event */
    uint32_t um;        /* the root's unmapped object token; 0: none */
    ocsf_buf_t *moved;  /* "path":value pieces, comma-joined */
    ocsf_buf_t *filled; /* "path" pieces, comma-joined */
    ocsf_buf_t path;    /* the current object's path from the root (decoded) */
    ocsf_buf_t key;     /* scratch for a decoded key */
    int filling;
    int rc;
    char *err;
    size_t errlen;
} ct_t;

__attribute__((format(printf, 2, 3))) static int ct_fail(ct_t *t, const char *fmt, ...)
{
    if (t->rc)
        return t->rc;
    va_list ap;
    va_start(ap, fmt);
    if (t->err && t->errlen)
        vsnprintf(t->err, t->errlen, fmt, ap);
    va_end(ap);
    return t->rc = -EINVAL;
}

/* ---- bytes of the input ------------------------------------------------------- */

static void raw(const jt_doc_t *d, uint32_t v, const char **p, size_t *n)
{
    const jt_t *t = &d->t[v];
    bool s = t->type == JT_STR;
    *p = d->s + t->off - s;
    *n = t->len + 2 * s;
}

static bool raw_eq(const jt_doc_t *d, uint32_t v, const char *text, size_t n)
{
    const char *p;
    size_t m;
    raw(d, v, &p, &m);
    return m == n && memcmp(p, text, n) == 0;
}

/* Token a of doc x and token b of doc y hold the same JSON value (strings
 * decoded, numbers by value when integers, by text otherwise; member order
 * free). */
static bool same_value(const jt_doc_t *x, uint32_t a, const jt_doc_t *y, uint32_t b)
{
    const jt_t *s = &x->t[a], *t = &y->t[b];
    if (s->type != t->type || s->n != t->n)
        return false;
    switch (s->type) {
    case JT_STR: {
        ocsf_buf_t u, v;
        ocsf_buf_init(&u);
        ocsf_buf_init(&v);
        ocsf_str_t p = jt_str(x, a, &u), q = jt_str(y, b, &v);
        bool eq = p.n == q.n && (p.n == 0 || memcmp(p.p, q.p, p.n) == 0);
        ocsf_buf_dispose(&u);
        ocsf_buf_dispose(&v);
        return eq;
    }
    case JT_NUM:
        if ((s->flags & JT_INT) && (t->flags & JT_INT))
            return s->i == t->i;
        return s->len == t->len && memcmp(x->s + s->off, y->s + t->off, s->len) == 0;
    case JT_ARR: {
        uint32_t e = jt_elem0(x, a), f = jt_elem0(y, b);
        for (; e && f; e = jt_after_elem(x, e, a), f = jt_after_elem(y, f, b))
            if (!same_value(x, e, y, f))
                return false;
        return !e && !f;
    }
    case JT_OBJ:
        for (uint32_t k = jt_first(x, a); k; k = jt_after(x, k, a)) {
            ocsf_buf_t u;
            ocsf_buf_init(&u);
            ocsf_str_t key = jt_str(x, k, &u);
            uint32_t w = jt_get(y, b, key.p, key.n);
            ocsf_buf_dispose(&u);
            if (!w || !same_value(x, k + 1, y, w))
                return false;
        }
        return true;
    default: return true;
    }
}

/* Token v holds the JSON value `text` (semantically, as json_equal). */
static bool value_eq(const jt_doc_t *d, uint32_t v, const char *text, size_t n)
{
    if (raw_eq(d, v, text, n))
        return true;
    if (d->t[v].type == JT_NUM || d->t[v].type == JT_TRUE || d->t[v].type == JT_FALSE ||
        d->t[v].type == JT_NULL)
        return false; /* their raw bytes are canonical enough: a different text differs */
    jt_doc_t o;
    char err[64];
    jt_init(&o);
    bool eq = jt_parse(&o, text, n, err, sizeof err) == 0 && same_value(d, v, &o, 0);
    jt_dispose(&o);
    return eq;
}

static void put_raw(ocsf_buf_t *b, const jt_doc_t *d, uint32_t v)
{
    const char *p;
    size_t n;
    raw(d, v, &p, &n);
    ocsf_buf_put(b, p, n);
}

/* ---- the table ----------------------------------------------------------------- */

static const ocsf__enum_t *find_enum(const ct_t *t, const ocsf__attr_t *a, int64_t id)
{
    return ocsf__attr_enum(t->s, a, id);
}

static const ocsf__body_t *attr_body(const ct_t *t, const ocsf__attr_t *a)
{
    return a->kind == OCSF__K_OBJECT && a->object >= 0 ? &t->s->objects[a->object].b : NULL;
}

static bool profile_ok(const ct_t *t, const ocsf__attr_t *a)
{
    return a->profiles == 0 || (a->profiles & t->profiles) != 0;
}

static bool scalar_fits(const jt_doc_t *d, const ocsf__attr_t *a, uint32_t v)
{
    const jt_t *x = &d->t[v];
    switch (a->kind) {
    case OCSF__K_STRING: {
        if (x->type != JT_STR)
            return false;
        if (a->max_len && x->len > a->max_len && jt_str_chars(d, v) > a->max_len)
            return false;
        if (!a->check)
            return true;
        ocsf_buf_t u;
        ocsf_buf_init(&u);
        ocsf_str_t s = jt_str(d, v, &u);
        bool ok = ocsf__typed_ok(a->check, (const unsigned char *)s.p, s.n);
        ocsf_buf_dispose(&u);
        return ok;
    }
    case OCSF__K_INT:
        if (x->type != JT_NUM || !(x->flags & JT_INT))
            return false;
        if ((a->flags & OCSF__A_TIMESTAMP) && (x->i < 1000000000000LL || x->i >= 100000000000000LL))
            return false; /* not milliseconds: it would not validate */
        return !(a->flags & OCSF__A_PORT) || (x->i >= 0 && x->i <= 65535);
    case OCSF__K_BOOL: return x->type == JT_TRUE || x->type == JT_FALSE;
    case OCSF__K_FLOAT: return x->type == JT_NUM;
    case OCSF__K_OBJECT: return x->type == JT_OBJ;
    default: return true;
    }
}

static bool fits(const jt_doc_t *d, const ocsf__attr_t *a, uint32_t v)
{
    if (!(a->flags & OCSF__A_ARRAY))
        return d->t[v].type != JT_ARR || a->kind == OCSF__K_JSON ? scalar_fits(d, a, v) : false;
    if (d->t[v].type != JT_ARR)
        return false;
    for (uint32_t e = jt_elem0(d, v); e; e = jt_after_elem(d, e, v))
        if (!scalar_fits(d, a, e))
            return false;
    return true;
}

/* ---- paths, moves, fills ---------------------------------------------------------- */

static size_t path_push(ct_t *t, const char *key, size_t n)
{
    size_t old = t->path.len;
    if (old)
        ocsf_buf_putc(&t->path, '.');
    ocsf_buf_put(&t->path, key, n);
    return old;
}

static size_t path_push_index(ct_t *t, uint32_t i)
{
    size_t old = t->path.len;
    ocsf_buf_putc(&t->path, '[');
    ocsf_buf_put_i64(&t->path, i);
    ocsf_buf_putc(&t->path, ']');
    return old;
}

/* Keeps value text (raw JSON) as unmapped[path.key]: refuses a clash with
 * a different value among the event's own unmapped keys. */
static void keep_text(ct_t *t, const char *key, size_t kn, const char *val, size_t vn)
{
    size_t old = path_push(t, key, kn);
    uint32_t have = t->um ? jt_get(t->d, t->um, t->path.p, t->path.len) : 0;
    if (have && !value_eq(t->d, have, val, vn)) {
        ocsf_buf_t m;
        ocsf_buf_init(&m);
        ocsf_text_escape(&m, t->path.p, t->path.len, 200, 0);
        ct_fail(t, "unmapped.%s already holds a different value", ocsf_buf_cstr(&m));
        ocsf_buf_dispose(&m);
    } else if (!have) {
        if (t->moved->len)
            ocsf_buf_putc(t->moved, ',');
        ocsf_json_escape(t->moved, t->path.p, t->path.len);
        ocsf_buf_putc(t->moved, ':');
        ocsf_buf_put(t->moved, val, vn);
    }
    t->path.len = old;
}

static void keep_tok(ct_t *t, const char *key, size_t kn, uint32_t v)
{
    const char *p;
    size_t n;
    raw(t->d, v, &p, &n);
    keep_text(t, key, kn, p, n);
}

/* ---- the plan of one object ------------------------------------------------------- */

enum { KEEP, DROP, WALK, REWRITE };

typedef struct {
    uint32_t key; /* key token */
    uint8_t what; /* KEEP, DROP, WALK, REWRITE */
    const ocsf__attr_t *a;
    size_t at, n; /* REWRITE: the new value in plan.text */
} member_t;

typedef struct {
    const ocsf__attr_t *a; /* NULL: name below */
    const char *name;
    size_t at, n; /* the value in plan.text */
} added_t;

typedef struct {
    member_t *m;
    size_t nm;
    const ocsf__body_t *b; /* the object's table; NULL for a placeholder */
    uint32_t *slot;        /* per attribute of b: its member's index + 1; 0: none */
    added_t add[64];
    size_t nadd;
    ocsf_buf_t *text; /* rewritten and added values: the checker's arena, from `mark` */
    size_t mark;
    ocsf_buf_t pend; /* paths this object filled: listed after its children's, as the
                      * reference does (it completes an object after walking it) */
} plan_t;

static void placeholder(ct_t *t, const ocsf__attr_t *a, ocsf_buf_t *b);

static member_t *member_of(plan_t *p, const jt_doc_t *d, const char *name)
{
    const ocsf__attr_t *a = p->b ? ocsf__body_attr(p->b, name, strlen(name)) : NULL;
    if (a) { /* every name asked for is an attribute: O(1) */
        uint32_t i = p->slot[a - p->b->attrs];
        return i && p->m[i - 1].what != DROP ? &p->m[i - 1] : NULL;
    }
    for (size_t i = 0; i < p->nm; i++)
        if (p->m[i].what != DROP && jt_str_eq(d, p->m[i].key, name, strlen(name)))
            return &p->m[i];
    return NULL;
}

static added_t *added_of(plan_t *p, const char *name)
{
    for (size_t i = 0; i < p->nadd; i++)
        if (!strcmp(p->add[i].a ? p->add[i].a->name : p->add[i].name, name))
            return &p->add[i];
    return NULL;
}

/* The member for attribute i of the plan's table: O(1). */
static member_t *member_at(plan_t *p, size_t i)
{
    uint32_t k = p->b ? p->slot[i] : 0;
    return k && p->m[k - 1].what != DROP ? &p->m[k - 1] : NULL;
}

static bool present(plan_t *p, const jt_doc_t *d, const char *name)
{
    return member_of(p, d, name) || added_of(p, name);
}

static void note_filled(ct_t *t, plan_t *p, const char *key)
{
    if (t->filling)
        return;
    size_t old = path_push(t, key, strlen(key));
    if (p->pend.len)
        ocsf_buf_putc(&p->pend, ',');
    ocsf_json_escape(&p->pend, t->path.p, t->path.len);
    t->path.len = old;
}

/* Adds name = text (an addition; a nested dotted name is never added). */
static void add(plan_t *p, const ocsf__attr_t *a, const char *name, const char *text, size_t n)
{
    if (p->nadd == sizeof p->add / sizeof *p->add)
        return; /* more than 64 additions to one object: not in any schema */
    added_t *x = &p->add[p->nadd++];
    x->a = a;
    x->name = a ? a->name : name;
    x->at = p->text->len;
    ocsf_buf_put(p->text, text, n);
    x->n = n;
}

/* name := text, the way the reference's replace() does: unchanged when
 * equal, else the original kept under unmapped. */
static void replace(ct_t *t, plan_t *p, const char *name, const char *text, size_t n)
{
    member_t *m = member_of(p, t->d, name);
    if (!m) {
        added_t *x = added_of(p, name);
        if (x) { /* an addition of this plan: overwrite in place */
            x->at = p->text->len;
            ocsf_buf_put(p->text, text, n);
            x->n = n;
            return;
        }
        add(p, NULL, name, text, n);
        return;
    }
    if (m->what == REWRITE) {
        if (m->n == n && memcmp(p->text->p + m->at, text, n) == 0)
            return;
        m->at = p->text->len;
        ocsf_buf_put(p->text, text, n);
        m->n = n;
        return;
    }
    if (value_eq(t->d, m->key + 1, text, n))
        return;
    keep_tok(t, name, strlen(name), m->key + 1);
    m->what = REWRITE;
    m->at = p->text->len;
    ocsf_buf_put(p->text, text, n);
    m->n = n;
}

static void fill(ct_t *t, plan_t *p, const ocsf__attr_t *a)
{
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    if (a->flags & OCSF__A_ARRAY)
        ocsf_buf_putc(&b, '[');
    placeholder(t, a, &b);
    if (a->flags & OCSF__A_ARRAY)
        ocsf_buf_putc(&b, ']');
    note_filled(t, p, a->name);
    add(p, a, NULL, b.p, b.len);
    ocsf_buf_dispose(&b);
}

static const char *cons_name(const ocsf__body_t *b, uint16_t i)
{
    return i < b->n ? b->attrs[i].name : b->paths[i - b->n];
}

/* A dotted constraint path below a member ("device.os.sp_name"). */
static bool present_path(plan_t *p, const jt_doc_t *d, const char *path)
{
    const char *dot = strchr(path, '.');
    if (!dot)
        return present(p, d, path);
    char first[128];
    size_t k = (size_t)(dot - path);
    if (k >= sizeof first)
        return false;
    memcpy(first, path, k);
    first[k] = '\0';
    member_t *m = member_of(p, d, first);
    if (!m || m->what == REWRITE)
        return false;
    uint32_t at = m->key + 1;
    path = dot + 1;
    while (*path) {
        dot = strchr(path, '.');
        k = dot ? (size_t)(dot - path) : strlen(path);
        at = jt_get(d, at, path, k);
        if (!at)
            return false;
        path += k + (dot ? 1 : 0);
    }
    return true;
}

static size_t count_present(plan_t *p, const jt_doc_t *d, const ocsf__body_t *b,
                            const uint16_t *idx, size_t n, size_t *first)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (present_path(p, d, cons_name(b, idx[i])) && c++ == 0)
            *first = i;
    return c;
}

static void fill_one_of(ct_t *t, plan_t *p, const ocsf__body_t *b, const uint16_t *idx, size_t n)
{
    member_t *domain = member_of(p, t->d, "domain");
    for (size_t i = 0; i < n; i++) {
        const ocsf__attr_t *a = idx[i] < b->n ? &b->attrs[idx[i]] : NULL;
        if (a && !strcmp(a->name, "hostname") && domain && domain->what == KEEP &&
            t->d->t[domain->key + 1].type == JT_STR && scalar_fits(t->d, a, domain->key + 1)) {
            note_filled(t, p, a->name);
            const char *raw_p;
            size_t raw_n;
            raw(t->d, domain->key + 1, &raw_p, &raw_n);
            add(p, a, NULL, raw_p, raw_n);
            return;
        }
    }
    const ocsf__attr_t *pick = ocsf__one_of_pick(b, idx, n);
    if (pick)
        fill(t, p, pick);
}

/* Required attributes and the constraints of one object. */
static void complete(ct_t *t, plan_t *p, const ocsf__body_t *b)
{
    for (size_t i = 0; i < b->n; i++) {
        const ocsf__attr_t *a = &b->attrs[i];
        if ((a->flags & OCSF__A_REQUIRED) && profile_ok(t, a) &&
            !(p->b == b ? member_at(p, i) || added_of(p, a->name) : present(p, t->d, a->name)))
            fill(t, p, a);
    }
    size_t first = 0;
    const uint16_t *alo = b->cons, *jo = b->cons + b->nalo;
    if (b->nalo && count_present(p, t->d, b, alo, b->nalo, &first) == 0)
        fill_one_of(t, p, b, alo, b->nalo);
    if (b->njo && count_present(p, t->d, b, jo, b->njo, &first) == 0)
        fill_one_of(t, p, b, jo, b->njo);
}

/* The value (effective: rewritten, added or as is) of a name, as an
 * integer; false when absent or not an integer. */
static bool int_value(ct_t *t, plan_t *p, const char *name, int64_t *out)
{
    member_t *m = member_of(p, t->d, name);
    const char *s = NULL;
    size_t n = 0;
    if (m && m->what == KEEP) {
        const jt_t *x = &t->d->t[m->key + 1];
        if (x->type != JT_NUM || !(x->flags & JT_INT))
            return false;
        *out = x->i;
        return true;
    }
    if (m && m->what == REWRITE)
        s = p->text->p + m->at, n = m->n;
    added_t *a = m ? NULL : added_of(p, name);
    if (a)
        s = p->text->p + a->at, n = a->n;
    if (!s || !n)
        return false;
    char num[32];
    if (n >= sizeof num)
        return false;
    memcpy(num, s, n);
    num[n] = '\0';
    char *end;
    long long v = strtoll(num, &end, 10);
    if (*end)
        return false;
    *out = v;
    return true;
}

static void put_string(ocsf_buf_t *b, const char *s)
{
    ocsf_json_escape(b, s, strlen(s));
}

/* Each enum id's sibling caption is the target's (except for 99 Other). */
static void fix_captions(ct_t *t, plan_t *p, const ocsf__body_t *b)
{
    for (size_t i = 0; i < b->n; i++) {
        const ocsf__attr_t *a = &b->attrs[i];
        int64_t id;
        if (a->sibling < 0 || !a->enum_n || !int_value(t, p, a->name, &id) || id == OCSF_OTHER)
            continue;
        const ocsf__enum_t *e = find_enum(t, a, id);
        const char *sib = b->attrs[a->sibling].name;
        member_t *m = member_of(p, t->d, sib);
        added_t *x = m ? NULL : added_of(p, sib);
        if (!e || (!m && !x))
            continue;
        if (m && m->what == KEEP && t->d->t[m->key + 1].type == JT_STR &&
            jt_str_eq(t->d, m->key + 1, e->caption, strlen(e->caption)))
            continue;
        ocsf_buf_t v;
        ocsf_buf_init(&v);
        put_string(&v, e->caption);
        replace(t, p, sib, v.p, v.len);
        ocsf_buf_dispose(&v);
    }
}

/* just_one with more than one present: the first stays, the others move. */
static void just_one(ct_t *t, plan_t *p, const ocsf__body_t *b)
{
    size_t first = 0;
    const uint16_t *jo = b->cons + b->nalo;
    if (!b->njo || count_present(p, t->d, b, jo, b->njo, &first) <= 1)
        return;
    for (size_t i = first + 1; i < b->njo; i++) {
        if (jo[i] >= b->n)
            continue;
        const char *name = b->attrs[jo[i]].name;
        member_t *m = member_of(p, t->d, name);
        if (m && m->what != REWRITE) {
            keep_tok(t, name, strlen(name), m->key + 1);
            m->what = DROP;
        }
    }
}

/* An integer enum id (or an array of them) the target lacks: 99 Other, or
 * 0 when the attribute has no Other; the original kept. */
static void fix_enum(ct_t *t, member_t *m, plan_t *p)
{
    const jt_doc_t *d = t->d;
    const ocsf__attr_t *a = m->a;
    uint32_t v = m->key + 1;
    int64_t other = find_enum(t, a, OCSF_OTHER) ? OCSF_OTHER : 0;
    const jt_t *x = &d->t[v];
    if (x->type == JT_NUM) {
        if (!(x->flags & JT_INT) || find_enum(t, a, x->i))
            return;
        ocsf_str_t k = jt_str(d, m->key, &t->key);
        keep_tok(t, k.p, k.n, v);
        m->what = REWRITE;
        m->at = p->text->len;
        ocsf_buf_put_i64(p->text, other);
        m->n = p->text->len - m->at;
        return;
    }
    if (x->type != JT_ARR)
        return;
    bool any = false;
    for (uint32_t e = jt_elem0(d, v); e && !any; e = jt_after_elem(d, e, v))
        any = d->t[e].type == JT_NUM && (d->t[e].flags & JT_INT) && !find_enum(t, a, d->t[e].i);
    if (!any)
        return;
    ocsf_str_t k = jt_str(d, m->key, &t->key);
    keep_tok(t, k.p, k.n, v);
    m->what = REWRITE;
    m->at = p->text->len;
    ocsf_buf_putc(p->text, '[');
    bool firstel = true;
    for (uint32_t e = jt_elem0(d, v); e; e = jt_after_elem(d, e, v)) {
        if (!firstel)
            ocsf_buf_putc(p->text, ',');
        firstel = false;
        if (d->t[e].type == JT_NUM && (d->t[e].flags & JT_INT) && !find_enum(t, a, d->t[e].i))
            ocsf_buf_put_i64(p->text, other);
        else
            put_raw(p->text, d, e);
    }
    ocsf_buf_putc(p->text, ']');
    m->n = p->text->len - m->at;
}

/* ---- the walk ------------------------------------------------------------------- */

typedef enum { IN_OBJECT, IN_ROOT, IN_METADATA } where_t;

static void walk_obj(ct_t *t, uint32_t obj, const ocsf__body_t *b, where_t where,
                     const ocsf__class_t *cls, const ocsf_buf_t *profiles, ocsf_buf_t *out);

static void walk_value(ct_t *t, const ocsf__attr_t *a, uint32_t v, ocsf_buf_t *out)
{
    const jt_doc_t *d = t->d;
    const ocsf__body_t *b = attr_body(t, a);
    if (d->t[v].type == JT_OBJ) {
        walk_obj(t, v, b, IN_OBJECT, NULL, NULL, out);
        return;
    }
    ocsf_buf_putc(out, '[');
    uint32_t i = 0;
    for (uint32_t e = jt_elem0(d, v); e; e = jt_after_elem(d, e, v), i++) {
        if (i)
            ocsf_buf_putc(out, ',');
        size_t old = path_push_index(t, i);
        if (d->t[e].type == JT_OBJ)
            walk_obj(t, e, b, IN_OBJECT, NULL, NULL, out);
        else
            put_raw(out, d, e);
        t->path.len = old;
    }
    ocsf_buf_putc(out, ']');
}

static void walk_obj(ct_t *t, uint32_t obj, const ocsf__body_t *b, where_t where,
                     const ocsf__class_t *cls, const ocsf_buf_t *profiles, ocsf_buf_t *out)
{
    const jt_doc_t *d = t->d;
    plan_t p = {.nm = 0, .nadd = 0};
    size_t nmembers = d->t[obj].n;
    if (nmembers > MAX_MEMBERS) {
        ct_fail(t, "an object of %zu members", nmembers);
        return;
    }
    member_t stack_m[64];
    uint32_t stack_slot[256];
    p.m = nmembers <= 64 ? stack_m : malloc(nmembers * sizeof *p.m);
    size_t nslot = b ? b->n : 0;
    p.slot = nslot <= 256 ? stack_slot : malloc(nslot * sizeof *p.slot);
    if (!p.m || !p.slot)
        abort();
    memset(p.slot, 0, nslot * sizeof *p.slot);
    p.b = b;
    p.text = &t->c->arena;
    p.mark = p.text->len;
    /* phase 1: a decision per member */
    for (uint32_t k = jt_first(d, obj); k; k = jt_after(d, k, obj)) {
        member_t *m = &p.m[p.nm++];
        *m = (member_t){.key = k, .what = KEEP};
        if (!b) /* an object of no known type: as is */
            continue;
        ocsf_str_t key = jt_str(d, k, &t->key);
        if (where == IN_ROOT && key.n == 8 && !memcmp(key.p, "unmapped", 8)) {
            m->what = DROP; /* written last, with the moves */
            continue;
        }
        const ocsf__attr_t *a = ocsf__body_attr(b, key.p, key.n);
        m->a = a;
        if (a)
            p.slot[a - b->attrs] = (uint32_t)p.nm;
        if (!a || !profile_ok(t, a) || !fits(d, a, k + 1)) {
            keep_tok(t, key.p, key.n, k + 1);
            m->what = DROP;
        } else if (a->kind == OCSF__K_OBJECT && a->object >= 0) {
            m->what = WALK;
        } else if ((a->flags & OCSF__A_ENUM) &&
                   !(where == IN_ROOT && key.n == 8 && !memcmp(key.p, "type_uid", 8))) {
            fix_enum(t, m, &p);
        }
    }
    if (b) {
        if (where == IN_METADATA) {
            if (profiles)
                replace(t, &p, "profiles", profiles->p, profiles->len);
            ocsf_buf_t v;
            ocsf_buf_init(&v);
            put_string(&v, t->s->version);
            replace(t, &p, "version", v.p, v.len);
            ocsf_buf_dispose(&v);
        }
        if (where == IN_ROOT && t->base_sub) {
            /* class_uid, class_name, category_name: the Base Event's (the
             * originals kept under unmapped by replace) */
            ocsf_buf_t v;
            ocsf_buf_init(&v);
            replace(t, &p, "class_uid", "0", 1);
            put_string(&v, cls->caption);
            replace(t, &p, "class_name", v.p, v.len);
            v.len = 0;
            if (cls->category_name) { /* 1.1.0's Base Event names no category */
                put_string(&v, cls->category_name);
                replace(t, &p, "category_name", v.p, v.len);
            }
            ocsf_buf_dispose(&v);
        }
        if (where == IN_ROOT) {
            char num[32];
            int n = snprintf(num, sizeof num, "%d", cls->category_uid);
            replace(t, &p, "category_uid", num, (size_t)n);
            int64_t act, tu;
            if (int_value(t, &p, "activity_id", &act) &&
                !__builtin_add_overflow((int64_t)cls->uid * 100, act, &tu)) {
                n = snprintf(num, sizeof num, "%lld", (long long)tu);
                replace(t, &p, "type_uid", num, (size_t)n);
            }
        }
        complete(t, &p, b);
        fix_captions(t, &p, b);
        just_one(t, &p, b);
    }
    /* phase 2: the object */
    ocsf_buf_putc(out, '{');
    bool first = true;
    for (size_t i = 0; i < p.nm && !t->rc; i++) {
        member_t *m = &p.m[i];
        if (m->what == DROP)
            continue;
        if (!first)
            ocsf_buf_putc(out, ',');
        first = false;
        put_raw(out, d, m->key);
        ocsf_buf_putc(out, ':');
        if (m->what == REWRITE) {
            ocsf_buf_put(out, p.text->p + m->at, m->n);
        } else if (m->what == WALK) {
            ocsf_str_t key = jt_str(d, m->key, &t->key);
            size_t old = path_push(t, key.p, key.n);
            bool meta = where == IN_ROOT && key.n == 8 && !memcmp(key.p, "metadata", 8);
            if (meta)
                walk_obj(t, m->key + 1, attr_body(t, m->a), IN_METADATA, cls, profiles, out);
            else
                walk_value(t, m->a, m->key + 1, out);
            t->path.len = old;
        } else {
            put_raw(out, d, m->key + 1);
        }
    }
    for (size_t i = 0; i < p.nadd; i++) {
        if (!first)
            ocsf_buf_putc(out, ',');
        first = false;
        put_string(out, p.add[i].name);
        ocsf_buf_putc(out, ':');
        ocsf_buf_put(out, p.text->p + p.add[i].at, p.add[i].n);
    }
    if (p.pend.len) { /* this object's fills, after its children's */
        if (t->filled->len)
            ocsf_buf_putc(t->filled, ',');
        ocsf_buf_put(t->filled, p.pend.p, p.pend.len);
    }
    if (where == IN_ROOT) {
        /* the event's own unmapped keys, then the moves, then the fills */
        bool own = t->um && d->t[t->um].n;
        if (own || t->moved->len || t->filled->len) {
            if (!first)
                ocsf_buf_putc(out, ',');
            ocsf_buf_puts(out, "\"unmapped\":{");
            if (own)
                ocsf_buf_put(out, d->s + d->t[t->um].off + 1, d->t[t->um].len - 2);
            if (t->moved->len) {
                if (own)
                    ocsf_buf_putc(out, ',');
                ocsf_buf_put(out, t->moved->p, t->moved->len);
            }
            if (t->filled->len) {
                uint32_t have = t->um ? jt_get(d, t->um, FILLED_KEY, strlen(FILLED_KEY)) : 0;
                ocsf_buf_t list;
                ocsf_buf_init(&list);
                ocsf_buf_putc(&list, '[');
                ocsf_buf_put(&list, t->filled->p, t->filled->len);
                ocsf_buf_putc(&list, ']');
                if (have && !value_eq(d, have, list.p, list.len))
                    ct_fail(t, "unmapped.%s already holds a different value", FILLED_KEY);
                else if (!have) {
                    if (own || t->moved->len)
                        ocsf_buf_putc(out, ',');
                    ocsf_buf_puts(out, "\"" FILLED_KEY "\":");
                    ocsf_buf_put(out, list.p, list.len);
                }
                ocsf_buf_dispose(&list);
            }
            ocsf_buf_putc(out, '}');
        }
    }
    ocsf_buf_putc(out, '}');
    p.text->len = p.mark;
    ocsf_buf_dispose(&p.pend);
    if (p.m != stack_m)
        free(p.m);
    if (p.slot != stack_slot)
        free(p.slot);
}

/* A placeholder value the attribute's type and check take. */
static void placeholder(ct_t *t, const ocsf__attr_t *a, ocsf_buf_t *b)
{
    switch (a->kind) {
    case OCSF__K_INT:
        if (a->flags & OCSF__A_TIMESTAMP) /* the earliest time that reads as milliseconds */
            ocsf_buf_puts(b, "1000000000000");
        else if (a->enum_n && !find_enum(t, a, 0))
            ocsf_buf_put_i64(b, find_enum(t, a, OCSF_OTHER) ? OCSF_OTHER
                                                            : t->s->enums[a->enum_off].id);
        else
            ocsf_buf_putc(b, '0');
        return;
    case OCSF__K_BOOL: ocsf_buf_puts(b, "false"); return;
    case OCSF__K_FLOAT: ocsf_buf_puts(b, "0.0"); return;
    case OCSF__K_OBJECT:
    case OCSF__K_JSON: {
        const ocsf__body_t *body = attr_body(t, a);
        if (!body || t->filling >= FILL_DEPTH) {
            ocsf_buf_puts(b, "{}");
            return;
        }
        /* an empty object completed: its required attributes, recursively */
        plan_t p = {.nm = 0, .nadd = 0};
        member_t none[1];
        p.m = none;
        p.text = &t->c->arena;
        p.mark = p.text->len;
        t->filling++;
        complete(t, &p, body);
        fix_captions(t, &p, body);
        t->filling--;
        ocsf_buf_putc(b, '{');
        for (size_t i = 0; i < p.nadd; i++) {
            if (i)
                ocsf_buf_putc(b, ',');
            put_string(b, p.add[i].name);
            ocsf_buf_putc(b, ':');
            ocsf_buf_put(b, p.text->p + p.add[i].at, p.add[i].n);
        }
        ocsf_buf_putc(b, '}');
        p.text->len = p.mark;
        return;
    }
    default: put_string(b, ocsf__placeholder_string(a));
    }
}

/* metadata.profiles the output names: those of the event that the target
 * defines for the class; with repair, also those whose top-level
 * attributes the event uses. Sets t->profiles; NULL when the event has no
 * profiles array and none is added. */
static bool plan_profiles(ct_t *t, uint32_t meta, const ocsf__class_t *cls, ocsf_buf_t *list)
{
    const jt_doc_t *d = t->d;
    uint32_t pr = meta ? jt_get(d, meta, "profiles", 8) : 0;
    bool have = pr && d->t[pr].type == JT_ARR;
    ocsf_buf_putc(list, '[');
    size_t n = 0;
    if (have) {
        for (uint32_t e = jt_elem0(d, pr); e; e = jt_after_elem(d, e, pr)) {
            if (d->t[e].type != JT_STR)
                continue;
            ocsf_str_t s = jt_str(d, e, &t->key);
            int k = ocsf__schema_profile(t->s, s.p, s.n);
            if (k < 0 || !(cls->profiles & (1u << k)) || (t->profiles & (1u << k)))
                continue;
            t->profiles |= 1u << k;
            if (n++)
                ocsf_buf_putc(list, ',');
            put_raw(list, d, e);
        }
    }
    if (t->repair) {
        for (uint32_t k = jt_first(d, 0); k; k = jt_after(d, k, 0)) {
            ocsf_str_t key = jt_str(d, k, &t->key);
            const ocsf__attr_t *a = ocsf__body_attr(&cls->b, key.p, key.n);
            uint32_t want = a ? a->profiles & cls->profiles : 0;
            if (!want || (a->profiles & t->profiles))
                continue;
            int bit = __builtin_ctz(want);
            t->profiles |= 1u << bit;
            if (n++)
                ocsf_buf_putc(list, ',');
            put_string(list, t->s->profiles[bit]);
        }
    }
    ocsf_buf_putc(list, ']');
    return have || n;
}

/* A class whose constraint names dotted paths (patch_state's
 * device.os.sp_name, evidence_info's device.hostname in 1.7.0) is not
 * filled by the cast: when the output has none of them, the cast fails
 * with the reason (an exporter dead-letters it) rather than send an event
 * the target refuses. Parses the output into the checker's tokens. */
static int dotted_ok(ct_t *t, const ocsf__class_t *cls, const char *out, size_t n)
{
    const ocsf__body_t *b = &cls->b;
    const uint16_t *cons = b->cons;
    bool dotted = false;
    for (size_t i = 0; i < (size_t)b->nalo + b->njo; i++)
        dotted = dotted || cons[i] >= b->n;
    if (!dotted)
        return 0;
    char perr[64];
    if (jt_parse(&t->c->doc, out, n, perr, sizeof perr) != 0)
        return ct_fail(t, "not JSON after the cast: %s", perr);
    for (int part = 0; part < 2; part++) {
        const uint16_t *idx = part ? cons + b->nalo : cons;
        size_t k = part ? b->njo : b->nalo, present = 0;
        for (size_t i = 0; i < k; i++)
            present += jt_path(&t->c->doc, cons_name(b, idx[i])) != 0;
        if (k && (part ? present != 1 : present == 0))
            return ct_fail(t, "%s in OCSF %s needs %s of %s%s; the event has %zu", cls->name,
                           t->s->version, part ? "exactly one" : "one", cons_name(b, idx[0]),
                           k > 1 ? " and the like" : "", present);
    }
    return 0;
}

int ocsf_cast(ocsf_checker_t *c, const char *json, size_t len, const ocsf_schema_t *target,
              unsigned flags, ocsf_buf_t *out, char *err, size_t errlen)
{
    ct_t t = {.c = c,
              .d = &c->doc,
              .s = target,
              .repair = (flags & OCSF_CAST_REPAIR) != 0,
              .err = err,
              .errlen = errlen};
    const jt_doc_t *d = &c->doc;
    char perr[96];
    if (jt_parse(&c->doc, json, len, perr, sizeof perr) != 0)
        return ct_fail(&t, "not JSON: %s", perr);
    if (d->t[0].type != JT_OBJ)
        return ct_fail(&t, "not a JSON object");
    uint32_t meta = jt_get(d, 0, "metadata", 8);
    if (!target) { /* the event's own version */
        uint32_t v = meta ? jt_get(d, meta, "version", 7) : 0;
        ocsf_str_t vs = v && d->t[v].type == JT_STR ? jt_str(d, v, &c->str) : OCSF_NOSTR;
        t.s = target = vs.p ? ocsf_schema_find(vs.p, vs.n) : NULL;
        if (!target)
            return ct_fail(&t, "metadata.version: not a bundled OCSF version");
    } else if (!t.repair && meta) {
        uint32_t v = jt_get(d, meta, "version", 7);
        if (v && jt_str_eq(d, v, target->version, strlen(target->version))) {
            ocsf_buf_put(out, json, len); /* already the target's */
            return 0;
        }
    }
    uint32_t cu = jt_get(d, 0, "class_uid", 9), act = jt_get(d, 0, "activity_id", 11);
    if (!cu || d->t[cu].type != JT_NUM || !(d->t[cu].flags & JT_INT))
        return ct_fail(&t, "class_uid: expected an integer");
    if (!meta || d->t[meta].type != JT_OBJ)
        return ct_fail(&t, "metadata: expected an object");
    if (!act || d->t[act].type != JT_NUM || !(d->t[act].flags & JT_INT))
        return ct_fail(&t, "activity_id: expected an integer");
    t.um = jt_get(d, 0, "unmapped", 8);
    if (t.um && d->t[t.um].type != JT_OBJ)
        return ct_fail(&t, "unmapped: expected an object");
    const ocsf__class_t *cls = ocsf__schema_class(target, d->t[cu].i);
    /* a class the target does not have: a Base Event, the rest under unmapped */
    const ocsf__class_t *base = cls ? NULL : ocsf__schema_class(target, 0);
    if (!cls && !base)
        return ct_fail(&t, "class_uid %lld has no home in OCSF %s", (long long)d->t[cu].i,
                       target->version);
    ocsf_buf_t moved, filled, profiles, body;
    ocsf_buf_init(&moved);
    ocsf_buf_init(&filled);
    ocsf_buf_init(&profiles);
    ocsf_buf_init(&body);
    ocsf_buf_init(&t.path);
    ocsf_buf_init(&t.key);
    t.moved = &moved;
    t.filled = &filled;
    cls = cls ? cls : base;
    bool named = plan_profiles(&t, meta, cls, &profiles) || t.repair;
    t.base_sub = base != NULL;
    walk_obj(&t, 0, &cls->b, IN_ROOT, cls, named ? &profiles : NULL, &body);
    int rc = t.rc;
    if (!rc && (rc = dotted_ok(&t, cls, body.p, body.len)) != 0)
        ocsf_buf_dispose(&body), body.len = 0;
    if (!rc)
        ocsf_buf_put(out, body.p, body.len);
    ocsf_buf_dispose(&moved);
    ocsf_buf_dispose(&filled);
    ocsf_buf_dispose(&profiles);
    ocsf_buf_dispose(&body);
    ocsf_buf_dispose(&t.path);
    ocsf_buf_dispose(&t.key);
    return rc;
}
