/*
 * check.c: validates any OCSF event against the bundled schema of its own
 * version (metadata.version), rule for rule as ../shared/ocsf/validate.py
 * --warnings-fail does, over the token array of jtok.c: no tree, no
 * allocation per event once the checker's buffers have grown.
 *
 * Stricter than validate.py where Python's leniency would let a dangerous
 * event through: duplicate keys (a SIEM may read the first, tollgate the
 * last), integers outside int64, lone surrogate escapes and invalid UTF-8
 * are refused. Typed strings are checked by hand-written matchers, one per
 * regex of the schemas (gen_schema.py refuses to build with a regex it has
 * no matcher for); the IPv4 form requires dots where the schema's regex
 * lets any character stand in for one.
 */
#include <arpa/inet.h>
#include <openssl/evp.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocsf/check.h"

/* ---- the tables --------------------------------------------------------------- */

const ocsf__class_t *ocsf__schema_class(const ocsf_schema_t *s, int64_t uid)
{
    size_t lo = 0, hi = s->nclasses;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->classes[mid].uid == uid)
            return &s->classes[mid];
        if (s->classes[mid].uid < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int keycmp(const char *a, size_t an, const char *b, size_t bn)
{
    if (an && bn && a[0] != b[0]) /* most probes end at the first byte */
        return (unsigned char)a[0] - (unsigned char)b[0];
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

const ocsf__attr_t *ocsf__body_attr(const ocsf__body_t *b, const char *key, size_t n)
{
    size_t lo = 0, hi = b->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const ocsf__attr_t *a = &b->attrs[mid];
        int c = keycmp(a->name, a->name_len, key, n);
        if (!c)
            return a;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int ocsf__schema_profile(const ocsf_schema_t *s, const char *name, size_t n)
{
    for (size_t i = 0; i < s->nprofiles; i++)
        if (strlen(s->profiles[i]) == n && memcmp(s->profiles[i], name, n) == 0)
            return (int)i;
    return -1;
}

const ocsf__enum_t *ocsf__attr_enum(const ocsf_schema_t *s, const ocsf__attr_t *a, int64_t id)
{
    const ocsf__enum_t *e = s->enums + a->enum_off;
    size_t lo = 0, hi = a->enum_n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (e[mid].id == id)
            return &e[mid];
        if (e[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *ocsf__attr_caption(const ocsf_schema_t *s, const ocsf__attr_t *a, int64_t id)
{
    const ocsf__enum_t *e = ocsf__attr_enum(s, a, id);
    return e ? e->caption : NULL;
}

const char *ocsf__placeholder_string(const ocsf__attr_t *a)
{
    if (!strcmp(a->type, "ip_t"))
        return "0.0.0.0";
    if (!strcmp(a->type, "uuid_t"))
        return "00000000-0000-0000-0000-000000000000";
    if (!strcmp(a->type, "mac_t"))
        return "00:00:00:00:00:00";
    switch (a->check) { /* a placeholder its type's check takes */
    case OCSF__CHK_EMAIL11:
    case OCSF__CHK_EMAIL13: return "unknown@unknown.invalid";
    case OCSF__CHK_DATETIME11:
    case OCSF__CHK_DATETIME17: return "1970-01-01T00:00:00Z";
    case OCSF__CHK_HEX: return "0";
    case OCSF__CHK_BASE64: return "";
    }
    return "unknown";
}

const ocsf__attr_t *ocsf__one_of_pick(const ocsf__body_t *b, const uint16_t *idx, size_t n)
{
    const ocsf__attr_t *pick = NULL, *first_str = NULL, *first = NULL;
    for (size_t i = 0; i < n; i++) {
        if (idx[i] >= b->n)
            continue; /* a dotted member is not filled */
        const ocsf__attr_t *a = &b->attrs[idx[i]];
        first = first ? first : a;
        if (!strcmp(a->name, "name") && a->kind == OCSF__K_STRING)
            pick = a;
        if (!first_str && a->kind == OCSF__K_STRING && !strcmp(a->type, "string_t"))
            first_str = a;
    }
    return pick ? pick : first_str ? first_str : first;
}

const ocsf_schema_t *ocsf_schema_find(const char *version, size_t n)
{
    for (size_t i = 0; ocsf__schemas[i]; i++)
        if (strlen(ocsf__schemas[i]->version) == n &&
            memcmp(ocsf__schemas[i]->version, version, n) == 0)
            return ocsf__schemas[i];
    return NULL;
}

const char *ocsf_schema_version(const ocsf_schema_t *s)
{
    return s->version;
}

const char *ocsf_schema_versions(void)
{
    return ocsf__versions_list;
}

/* ---- typed strings -------------------------------------------------------------- */

static bool is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}
static bool is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}
static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool m_uuid(const unsigned char *s, size_t n)
{
    /* unanchored in the schema: a UUID anywhere in the string */
    static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
    for (size_t i = 0; i + 36 <= n; i++) {
        size_t k = 0;
        while (k < 36 && (shape[k] == '-' ? s[i + k] == '-' : is_hex(s[i + k])))
            k++;
        if (k == 36)
            return true;
    }
    return false;
}

static bool is_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static bool m_ip(const unsigned char *s, size_t n)
{
    char tmp[64];
    unsigned char out[16];
    while (n && is_space(*s))
        s++, n--;
    while (n && is_space(s[n - 1]))
        n--;
    if (n == 0 || n >= sizeof tmp)
        return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *pct = strchr(tmp, '%'); /* an IPv6 zone id */
    if (pct && strchr(tmp, ':')) {
        if (!pct[1])
            return false;
        *pct = '\0';
    }
    /* inet_pton(AF_INET) takes no leading zeros: the schema's octets don't either */
    return inet_pton(AF_INET, tmp, out) == 1 || inet_pton(AF_INET6, tmp, out) == 1;
}

static bool m_mac(const unsigned char *s, size_t n)
{
    if (n != 17)
        return false;
    for (size_t i = 0; i < 17; i++)
        if (i % 3 == 2 ? (s[i] != ':' && s[i] != '-') : !is_hex(s[i]))
            return false;
    return true;
}

/* ^(label\.)*label$, a label being [A-Za-z0-9] or [A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9] */
static bool m_hostname(const unsigned char *s, size_t n)
{
    size_t i = 0;
    for (;;) {
        size_t st = i;
        while (i < n && (is_alnum(s[i]) || s[i] == '-'))
            i++;
        if (i == st || s[st] == '-' || s[i - 1] == '-')
            return false;
        if (i == n)
            return true;
        if (s[i] != '.')
            return false;
        i++;
    }
}

static bool m_hex(const unsigned char *s, size_t n)
{
    if (!n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_hex(s[i]))
            return false;
    return true;
}

/* Padded base64 (standard or URL alphabet, not mixed), or empty. */
static bool m_base64(const unsigned char *s, size_t n)
{
    if (n == 0)
        return true;
    if (n % 4)
        return false;
    for (int url = 0; url < 2; url++) {
        size_t i = 0;
        bool ok = true;
        for (; i < n && ok; i++) {
            unsigned char c = s[i];
            bool alpha = is_alnum(c) || (url ? (c == '-' || c == '_') : (c == '+' || c == '/'));
            if (c == '=')
                ok = (i == n - 1) || (i == n - 2 && s[n - 1] == '=');
            else
                ok = alpha;
        }
        /* the schema's forms end with "xx==" or "xxx=": padding is required */
        if (ok && s[n - 1] == '=')
            return true;
    }
    return false;
}

static bool m_email(const unsigned char *s, size_t n, bool v13)
{
    size_t i = 0;
    while (i < n && s[i] != '@') {
        unsigned char c = s[i];
        bool ok = is_alnum(c) || c == '_' || c == '.' || c == '+' || c == '-';
        /* 1.3.0+: [a-zA-Z0-9!#$%&'*+-/=?^_`{|}~.]; "+-/" is the range + .. / */
        if (v13)
            ok = is_alnum(c) || strchr("!#$%&'*+,-./=?^_`{|}~", c) != NULL;
        if (!ok || !c)
            return false;
        i++;
    }
    if (i == 0 || i == n)
        return false;
    i++;
    size_t d = i;
    while (i < n && (is_alnum(s[i]) || s[i] == '-'))
        i++;
    if (i == d || i == n || s[i] != '.')
        return false;
    i++;
    if (i == n)
        return false;
    for (; i < n; i++)
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '.')
            return false;
    return true;
}

/* ^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$ ([Tt], [Zz] in 1.7) */
static bool m_datetime(const unsigned char *s, size_t n, bool lower)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    if (n < 19)
        return false;
    for (size_t i = 0; i < 19; i++) {
        if (shape[i] == 'd'   ? !is_digit(s[i])
            : shape[i] == 'T' ? !(s[i] == 'T' || (lower && s[i] == 't'))
                              : s[i] != (unsigned char)shape[i])
            return false;
    }
    size_t i = 19;
    if (i < n && s[i] == '.') {
        size_t st = ++i;
        while (i < n && is_digit(s[i]))
            i++;
        if (i == st)
            return false;
    }
    if (i == n)
        return true;
    if (s[i] == 'Z' || (lower && s[i] == 'z'))
        return i + 1 == n;
    if ((s[i] == '+' || s[i] == '-') && n - i == 6 && is_digit(s[i + 1]) && is_digit(s[i + 2]) &&
        s[i + 3] == ':' && is_digit(s[i + 4]) && is_digit(s[i + 5]))
        return true;
    return false;
}

bool ocsf__typed_ok(int check, const unsigned char *s, size_t n)
{
    switch (check) {
    case OCSF__CHK_UUID: return m_uuid(s, n);
    case OCSF__CHK_IP: return m_ip(s, n);
    case OCSF__CHK_MAC: return m_mac(s, n);
    case OCSF__CHK_HOSTNAME: return m_hostname(s, n);
    case OCSF__CHK_HEX: return m_hex(s, n);
    case OCSF__CHK_BASE64: return m_base64(s, n);
    case OCSF__CHK_EMAIL11: return m_email(s, n, false);
    case OCSF__CHK_EMAIL13: return m_email(s, n, true);
    case OCSF__CHK_DATETIME11: return m_datetime(s, n, false);
    case OCSF__CHK_DATETIME17: return m_datetime(s, n, true);
    }
    return true;
}

/* ---- problems ------------------------------------------------------------------- */

static void put_path(ocsf_checker_t *c, ocsf_buf_t *b)
{
    const jt_doc_t *d = &c->doc;
    for (int i = 0; i < c->depth; i++) {
        if (c->path[i].name) {
            if (b->len)
                ocsf_buf_putc(b, '.');
            ocsf_buf_puts(b, c->path[i].name);
        } else if (c->path[i].key) {
            if (b->len)
                ocsf_buf_putc(b, '.');
            ocsf_buf_t k;
            ocsf_buf_init(&k);
            ocsf_str_t s = jt_str(d, c->path[i].key, &k);
            ocsf_text_escape(b, s.p, s.n, 64, OCSF_ESC_SPACE);
            ocsf_buf_dispose(&k);
        } else {
            char n[24];
            snprintf(n, sizeof n, "[%u]", c->path[i].elem);
            ocsf_buf_puts(b, n);
        }
    }
}

__attribute__((format(printf, 2, 3))) static void problem(ocsf_checker_t *c, const char *fmt, ...)
{
    c->problems++;
    if (!c->cb || ((c->flags & OCSF_CHECK_FIRST) && c->problems > 1))
        return;
    ocsf_buf_t path;
    ocsf_buf_init(&path);
    put_path(c, &path);
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->cb(c->ctx, path.len ? ocsf_buf_cstr(&path) : "(event)", msg);
    ocsf_buf_dispose(&path);
}

static bool done(const ocsf_checker_t *c)
{
    return (c->flags & OCSF_CHECK_FIRST) && c->problems;
}

/* A value from the event, escaped and cut for a message. */
static const char *shown(ocsf_checker_t *c, uint32_t v)
{
    const jt_t *t = &c->doc.t[v];
    c->msg.len = 0;
    ocsf_text_escape(&c->msg, c->doc.s + t->off - (t->type == JT_STR),
                     t->len + 2 * (t->type == JT_STR), 40, 0);
    return ocsf_buf_cstr(&c->msg);
}

/* ---- the walk ------------------------------------------------------------------- */

static void check_body(ocsf_checker_t *c, uint32_t obj, const ocsf__body_t *b, const char *name);

static const char *kind_word(uint8_t type)
{
    switch (type) {
    case JT_OBJ: return "object";
    case JT_ARR: return "array";
    case JT_STR: return "string";
    case JT_NUM: return "number";
    case JT_NULL: return "null";
    default: return "boolean";
    }
}

/* Keys of an object nobody's table describes (unmapped, json_t, objects of
 * unknown type) must still be unique. */
static int cmp_keys(const void *a, const void *b, void *d_)
{
    const jt_doc_t *d = d_;
    const jt_t *x = &d->t[*(const uint32_t *)a], *y = &d->t[*(const uint32_t *)b];
    return keycmp(d->s + x->off, x->len, d->s + y->off, y->len);
}

static void check_unique(ocsf_checker_t *c, uint32_t v)
{
    const jt_doc_t *d = &c->doc;
    const jt_t *t = &d->t[v];
    if (t->type == JT_ARR) {
        for (uint32_t e = jt_elem0(d, v); e && !done(c); e = jt_after_elem(d, e, v))
            if (d->t[e].type == JT_OBJ || d->t[e].type == JT_ARR)
                check_unique(c, e);
        return;
    }
    if (t->type != JT_OBJ || t->n < 2) {
        if (t->type == JT_OBJ && t->n == 1)
            check_unique(c, v + 2);
        return;
    }
    uint32_t stackkeys[32], *keys = t->n <= 32 ? stackkeys : malloc(t->n * sizeof *keys);
    if (!keys)
        abort();
    uint32_t n = 0;
    for (uint32_t k = jt_first(d, v); k; k = jt_after(d, k, v))
        keys[n++] = k;
    qsort_r(keys, n, sizeof *keys, cmp_keys, (void *)d);
    for (uint32_t i = 1; i < n && !done(c); i++)
        if (cmp_keys(&keys[i - 1], &keys[i], (void *)d) == 0) {
            c->path[c->depth].key = keys[i];
            c->depth++;
            c->fatal++;
            problem(c, "duplicate key");
            c->depth--;
        }
    for (uint32_t i = 0; i < n && !done(c); i++) {
        uint8_t ty = d->t[keys[i] + 1].type;
        if (ty == JT_OBJ || ty == JT_ARR)
            check_unique(c, keys[i] + 1);
    }
    if (keys != stackkeys)
        free(keys);
}

int ocsf__check_unique_all(ocsf_checker_t *c)
{
    int before = c->problems;
    ocsf_problem_cb cb = c->cb;
    unsigned flags = c->flags;
    c->cb = NULL; /* counted, not reported */
    c->flags = 0;
    c->depth = 0;
    check_unique(c, 0);
    c->cb = cb;
    c->flags = flags;
    return c->problems - before;
}

static void check_one(ocsf_checker_t *c, const ocsf__attr_t *a, uint32_t v)
{
    const jt_doc_t *d = &c->doc;
    const jt_t *t = &d->t[v];
    bool ok;
    switch (a->kind) {
    case OCSF__K_OBJECT:
        if (t->type != JT_OBJ) {
            problem(c, "expected an object");
            return;
        }
        if ((a->flags & OCSF__A_UNMAPPED) || a->object < 0) {
            check_unique(c, v);
            return;
        }
        check_body(c, v, &c->s->objects[a->object].b, c->s->objects[a->object].name);
        return;
    case OCSF__K_JSON: check_unique(c, v); return;
    case OCSF__K_BOOL: ok = t->type == JT_TRUE || t->type == JT_FALSE; break;
    case OCSF__K_INT: ok = t->type == JT_NUM && (t->flags & JT_INT); break;
    case OCSF__K_FLOAT: ok = t->type == JT_NUM; break;
    default: ok = t->type == JT_STR;
    }
    if (!ok) {
        if (a->kind == OCSF__K_INT && t->type == JT_NUM && !strpbrk(shown(c, v), ".eE"))
            problem(c, "integer %s is out of range", shown(c, v));
        else
            problem(c, "%s %s is not %s", kind_word(t->type), shown(c, v), a->type);
        return;
    }
    if ((a->flags & OCSF__A_PORT) && (t->i < 0 || t->i > 65535))
        problem(c, "port %lld out of range", (long long)t->i);
    if ((a->flags & OCSF__A_TIMESTAMP) && (t->i < 1000000000000LL || t->i >= 100000000000000LL))
        problem(c, "%lld does not look like milliseconds since the epoch", (long long)t->i);
    if (t->type == JT_STR) {
        if (a->check) {
            ocsf_str_t s = jt_str(d, v, &c->str);
            if (!ocsf__typed_ok(a->check, (const unsigned char *)s.p, s.n))
                problem(c, "%s does not match %s", shown(c, v), a->type);
        }
        if (a->max_len && t->len > a->max_len && jt_str_chars(d, v) > a->max_len)
            problem(c, "longer than %u characters", a->max_len);
    }
    if ((a->flags & OCSF__A_ENUM) && t->type == JT_NUM && (t->flags & JT_INT) &&
        !ocsf__attr_caption(c->s, a, t->i))
        problem(c, "%lld is not one of the ids of %s", (long long)t->i, a->name);
}

static void check_value(ocsf_checker_t *c, const ocsf__attr_t *a, uint32_t v)
{
    const jt_doc_t *d = &c->doc;
    if (!(a->flags & OCSF__A_ARRAY)) {
        check_one(c, a, v);
        return;
    }
    if (d->t[v].type != JT_ARR) {
        problem(c, "expected an array");
        return;
    }
    if (c->depth >= JT_MAX_DEPTH + 1)
        return; /* jtok bounds the depth: unreachable */
    uint32_t i = 0;
    for (uint32_t e = jt_elem0(d, v); e && !done(c); e = jt_after_elem(d, e, v), i++) {
        c->path[c->depth].key = 0;
        c->path[c->depth].elem = i;
        c->depth++;
        check_one(c, a, e);
        c->depth--;
    }
}

static uint32_t *slots_take(ocsf_checker_t *c, size_t n)
{
    if (c->top + n > c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 1024;
        while (cap < c->top + n)
            cap *= 2;
        uint32_t *s = realloc(c->slots, cap * sizeof *s);
        if (!s)
            abort();
        c->slots = s;
        c->cap = cap;
    }
    uint32_t *s = c->slots + c->top;
    memset(s, 0, n * sizeof *s);
    c->top += n;
    return s;
}

static void profiles_word(const ocsf_checker_t *c, uint32_t mask, char *out, size_t n)
{
    size_t at = 0;
    out[0] = '\0';
    for (size_t i = 0; i < c->s->nprofiles && at + 1 < n; i++)
        if (mask & (1u << i))
            at += (size_t)snprintf(out + at, n - at, "%s%s", at ? ", " : "", c->s->profiles[i]);
}

static const char *cons_name(const ocsf__body_t *b, uint16_t i)
{
    return i < b->n ? b->attrs[i].name : b->paths[i - b->n];
}

/* Is constraint member i present: an attribute, or a dotted path below one. */
static bool has(ocsf_checker_t *c, uint32_t obj, const ocsf__body_t *b, size_t base, uint16_t i)
{
    if (i < b->n)
        return c->slots[base + i] != 0;
    const jt_doc_t *d = &c->doc;
    const char *p = b->paths[i - b->n];
    uint32_t at = obj;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t k = dot ? (size_t)(dot - p) : strlen(p);
        at = jt_get(d, at, p, k);
        if (!at)
            return false;
        p += k + (dot ? 1 : 0);
    }
    return true;
}

static void check_body(ocsf_checker_t *c, uint32_t obj, const ocsf__body_t *b, const char *name)
{
    const jt_doc_t *d = &c->doc;
    size_t mark = c->top;
    uint32_t *slot = slots_take(c, b->n ? b->n : 1);
    size_t base = (size_t)(slot - c->slots); /* slots may move when a child grows them */
    int at = c->depth++;
    for (uint32_t k = jt_first(d, obj); k && !done(c); k = jt_after(d, k, obj)) {
        c->path[at].key = k;
        ocsf_str_t key = jt_str(d, k, &c->key);
        const ocsf__attr_t *a = ocsf__body_attr(b, key.p, key.n);
        if (!a) {
            const ocsf__attr_t *base_attr = key.n > 3 && memcmp(key.p + key.n - 3, "_dt", 3) == 0
                                                ? ocsf__body_attr(b, key.p, key.n - 3)
                                                : NULL;
            if (base_attr && c->s->datetime_bit >= 0 && (c->prof & (1u << c->s->datetime_bit))) {
                const jt_t *t = &d->t[k + 1];
                if (t->type != JT_STR)
                    problem(c, "%s %s is not datetime_t", kind_word(t->type), shown(c, k + 1));
                else if (!ocsf__typed_ok(c->s->datetime_check,
                                         (const unsigned char *)jt_str(d, k + 1, &c->str).p,
                                         jt_str(d, k + 1, &c->str).n))
                    problem(c, "%s does not match datetime_t", shown(c, k + 1));
                continue;
            }
            problem(c, "not an attribute of %s", name);
            continue;
        }
        size_t ai = (size_t)(a - b->attrs);
        if (c->slots[base + ai]) {
            c->fatal++;
            problem(c, "duplicate key");
            continue;
        }
        c->slots[base + ai] = k + 1;
        if (a->profiles && !(a->profiles & c->prof)) {
            char pw[256];
            profiles_word(c, a->profiles, pw, sizeof pw);
            problem(c, "belongs to profile %s not named in metadata.profiles", pw);
        }
        check_value(c, a, k + 1);
    }
    c->path[at].key = 0;
    c->depth = at;
    if (done(c)) {
        c->top = mark;
        return;
    }
    /* siblings, required attributes, constraints */
    for (uint16_t i = 0; i < b->n && !done(c); i++) {
        const ocsf__attr_t *a = &b->attrs[i];
        uint32_t v = c->slots[base + i];
        if (!v) {
            if ((a->flags & OCSF__A_REQUIRED) && (!a->profiles || (a->profiles & c->prof))) {
                c->path[c->depth].name = a->name;
                c->depth++;
                problem(c, "required attribute missing");
                c->depth--;
                c->path[c->depth].name = NULL;
            }
            continue;
        }
        if (a->sibling < 0 || !a->enum_n)
            continue;
        const jt_t *t = &d->t[v];
        uint32_t sv = c->slots[base + (size_t)a->sibling];
        if (!sv || t->type != JT_NUM || !(t->flags & JT_INT) || t->i == OCSF_OTHER)
            continue;
        const char *cap = ocsf__attr_caption(c->s, a, t->i);
        if (cap && !(d->t[sv].type == JT_STR && jt_str_eq(d, sv, cap, strlen(cap)))) {
            c->path[at].key = sv - 1;
            c->depth = at + 1;
            problem(c, "%s, expected '%s' for %s=%lld", shown(c, sv), cap, a->name,
                    (long long)t->i);
            c->depth = at;
        }
    }
    const uint16_t *cons = b->cons;
    if (b->nalo && !done(c)) {
        bool any = false;
        for (uint8_t i = 0; i < b->nalo; i++)
            any = any || has(c, obj, b, base, cons[i]);
        if (!any)
            problem(c, "%s: needs at least one of %s%s", name, cons_name(b, cons[0]),
                    b->nalo > 1 ? " and the like" : "");
    }
    if (b->njo && !done(c)) {
        int present = 0;
        for (uint8_t i = 0; i < b->njo; i++)
            present += has(c, obj, b, base, cons[b->nalo + i]);
        if (present != 1)
            problem(c, "%s: needs exactly one of %s%s, has %d", name, cons_name(b, cons[b->nalo]),
                    b->njo > 1 ? " and the like" : "", present);
    }
    c->top = mark;
}

int ocsf__check_doc(ocsf_checker_t *c, const ocsf_schema_t *force)
{
    const jt_doc_t *d = &c->doc;
    c->problems = 0;
    c->fatal = 0;
    c->depth = 0;
    c->top = 0;
    c->s = NULL;
    c->cls = NULL;
    c->prof = 0;
    if (d->t[0].type != JT_OBJ) {
        problem(c, "event is not a JSON object");
        return c->problems;
    }
    if (d->big) {
        const jt_t *b = &d->t[d->big - 1];
        c->fatal++;
        problem(c, "number at byte %u is out of range: %s", b->off, shown(c, d->big - 1));
        if (done(c))
            return c->problems;
    }
    uint32_t meta = jt_get(d, 0, "metadata", 8);
    if (meta && d->t[meta].type != JT_OBJ)
        meta = 0;
    const ocsf_schema_t *s = force;
    if (!s) {
        uint32_t ver = meta ? jt_get(d, meta, "version", 7) : 0;
        if (ver && d->t[ver].type == JT_STR) {
            ocsf_str_t v = jt_str(d, ver, &c->str);
            s = ocsf_schema_find(v.p, v.n);
            if (!s) {
                c->path[0].key = meta - 1;
                c->path[1].key = ver - 1;
                c->depth = 2;
                problem(c, "%s is not a bundled OCSF version (%s)", shown(c, ver),
                        ocsf__versions_list);
                c->depth = 0;
                return c->problems;
            }
        } else {
            s = ocsf_schema_find("1.7.0", 5); /* its required metadata.version will be missed */
        }
    }
    c->s = s;
    uint32_t cu = jt_get(d, 0, "class_uid", 9);
    const ocsf__class_t *cls = cu && d->t[cu].type == JT_NUM && (d->t[cu].flags & JT_INT)
                                   ? ocsf__schema_class(s, d->t[cu].i)
                                   : NULL;
    if (!cls) {
        if (cu) {
            c->path[0].key = cu - 1;
            c->depth = 1;
        }
        problem(c, "%s is not a class of OCSF %s",
                cu ? shown(c, cu) : "class_uid missing:", s->version);
        c->depth = 0;
        return c->problems;
    }
    c->cls = cls;
    uint32_t pr = meta ? jt_get(d, meta, "profiles", 8) : 0;
    if (pr) {
        c->path[0].key = meta - 1;
        c->path[1].key = pr - 1;
        c->depth = 2;
        if (d->t[pr].type != JT_ARR) {
            problem(c, "not an array");
        } else {
            for (uint32_t e = jt_elem0(d, pr); e && !done(c); e = jt_after_elem(d, e, pr)) {
                int bit = -1;
                if (d->t[e].type == JT_STR) {
                    ocsf_str_t p = jt_str(d, e, &c->str);
                    bit = ocsf__schema_profile(s, p.p, p.n);
                }
                if (bit < 0)
                    problem(c, "unknown profile %s", shown(c, e));
                else if (!(cls->profiles & (1u << bit)))
                    problem(c, "profile %s does not apply to %s", shown(c, e), cls->name);
                else
                    c->prof |= 1u << bit;
            }
        }
        c->depth = 0;
    }
    if (done(c))
        return c->problems;
    uint32_t cat = jt_get(d, 0, "category_uid", 12);
    if (!cat || d->t[cat].type != JT_NUM || !(d->t[cat].flags & JT_INT) ||
        d->t[cat].i != cls->category_uid) {
        if (cat) {
            c->path[0].key = cat - 1;
            c->depth = 1;
        }
        problem(c, "%s, expected %d", cat ? shown(c, cat) : "category_uid missing",
                cls->category_uid);
        c->depth = 0;
    }
    uint32_t act = jt_get(d, 0, "activity_id", 11);
    if (act && d->t[act].type == JT_NUM && (d->t[act].flags & JT_INT) && !done(c)) {
        uint32_t tu = jt_get(d, 0, "type_uid", 8);
        int64_t want = 0; /* an activity_id near INT64_MAX: no type_uid can match */
        bool over = __builtin_add_overflow((int64_t)cls->uid * 100, d->t[act].i, &want);
        if (over || !tu || d->t[tu].type != JT_NUM || !(d->t[tu].flags & JT_INT) ||
            d->t[tu].i != want) {
            if (tu) {
                c->path[0].key = tu - 1;
                c->depth = 1;
            }
            problem(c, "%s, expected %lld", tu ? shown(c, tu) : "type_uid missing",
                    (long long)want);
            c->depth = 0;
        }
    }
    if (!done(c))
        check_body(c, 0, &cls->b, cls->name);
    return c->problems;
}

/* ---- the public face ------------------------------------------------------------ */

ocsf_checker_t *ocsf_checker_new(void)
{
    ocsf_checker_t *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    jt_init(&c->doc);
    ocsf_buf_init(&c->key);
    ocsf_buf_init(&c->str);
    ocsf_buf_init(&c->msg);
    ocsf_buf_init(&c->out);
    ocsf_buf_init(&c->aux);
    ocsf_buf_init(&c->arena);
    return c;
}

void ocsf_checker_free(ocsf_checker_t *c)
{
    if (!c)
        return;
    jt_dispose(&c->doc);
    ocsf_buf_dispose(&c->key);
    ocsf_buf_dispose(&c->str);
    ocsf_buf_dispose(&c->msg);
    ocsf_buf_dispose(&c->out);
    ocsf_buf_dispose(&c->aux);
    ocsf_buf_dispose(&c->arena);
    EVP_MD_CTX_free(c->md_ctx);
    free(c->slots);
    free(c);
}

int ocsf_check(ocsf_checker_t *c, const char *json, size_t n, const ocsf_schema_t *force,
               unsigned flags, ocsf_problem_cb cb, void *ctx)
{
    char err[128];
    c->cb = cb;
    c->ctx = ctx;
    c->flags = flags;
    if (jt_parse(&c->doc, json, n, err, sizeof err) != 0) {
        c->problems = 1;
        c->fatal = 1;
        c->s = NULL;
        c->cls = NULL;
        if (cb) {
            char msg[160];
            snprintf(msg, sizeof msg, "not JSON: %s", err);
            cb(ctx, "(event)", msg);
        }
        return 1;
    }
    return ocsf__check_doc(c, force);
}
