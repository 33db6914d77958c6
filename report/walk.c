/*
 * walk.c: the allocation-free field extractor of the report's hot path.
 *
 * Network and HTTP Activity events are most of a spool; the report needs a
 * dozen fields of each, so it walks the JSON once, descends only into the
 * objects that hold them and skips every other value without building
 * anything. Values are returned as slices of the input (rep__sv_t); those
 * with backslash escapes are decoded on copy (rep__sv_copy). Any JSON is
 * accepted (whitespace, any key order); what does not parse is -EBADMSG.
 */
#include <errno.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "report/rep_internal.h"

typedef struct {
    const char *p, *e;
} cur_t;

/* (a constant length: the compiler inlines the compare) */
#define KEQ(k, lit)                                                                                \
    ((k).n == sizeof(lit) - 1 && !(k).esc && memcmp((k).p, lit, sizeof(lit) - 1) == 0)
#define HOT static inline __attribute__((always_inline))

HOT void ws(cur_t *c)
{
    while (c->p < c->e && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t'))
        c->p++;
}

/* p: just after an opening quote. Returns just past the closing one (NULL:
 * none); *esc set when the string holds a backslash. Sixteen bytes at a
 * time: most of an event is strings. */
HOT const char *skip_str(const char *p, const char *e, bool *esc)
{
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    while (e - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        unsigned mq = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, quote));
        unsigned mb = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, bslash));
        if (mb && (!mq || __builtin_ctz(mb) < __builtin_ctz(mq))) {
            *esc = true; /* a backslash first: step over it and what it escapes */
            p += __builtin_ctz(mb) + 2;
            continue;
        }
        if (mq)
            return p + __builtin_ctz(mq) + 1;
        p += 16;
    }
#endif
    while (p < e) {
        if (*p == '"')
            return p + 1;
        if (*p == '\\') {
            *esc = true;
            p += 2;
            continue;
        }
        p++;
    }
    return NULL;
}

/* 1: a byte that ends a scalar; 2: a byte skip_value must look at in a
 * container. */
static const unsigned char cls[256] = {
    [','] = 1,  ['}'] = 3,  [']'] = 3, [' '] = 1, ['\t'] = 1,
    ['\r'] = 1, ['\n'] = 1, ['"'] = 2, ['{'] = 2, ['['] = 2,
};

static int skip_value(cur_t *c)
{
    int depth = 0;
    ws(c);
    do {
        if (c->p >= c->e)
            return -1;
        char ch = *c->p;
        if (ch == '"') {
            bool esc;
            if (!(c->p = skip_str(c->p + 1, c->e, &esc)))
                return -1;
        } else if (ch == '{' || ch == '[') {
            depth++;
            c->p++;
        } else if (ch == '}' || ch == ']') {
            if (--depth < 0)
                return -1;
            c->p++;
        } else if (depth == 0) {
            const char *s = c->p;
            while (c->p < c->e && !(cls[(unsigned char)*c->p] & 1))
                c->p++;
            if (c->p == s)
                return -1;
        } else {
            c->p++;
            while (c->p < c->e && !(cls[(unsigned char)*c->p] & 2))
                c->p++;
        }
    } while (depth > 0);
    return 0;
}

HOT int read_str(cur_t *c, rep__sv_t *out)
{
    ws(c);
    if (c->p >= c->e || *c->p != '"')
        return skip_value(c); /* not a string: leave the field absent */
    bool esc = false;
    const char *s = c->p + 1, *q = skip_str(s, c->e, &esc);
    if (!q)
        return -1;
    out->p = s;
    out->n = (size_t)(q - 1 - s);
    out->esc = esc;
    c->p = q;
    return 0;
}

static int read_int(cur_t *c, int64_t *out)
{
    ws(c);
    const char *s = c->p;
    bool neg = c->p < c->e && *c->p == '-';
    if (neg)
        c->p++;
    uint64_t v = 0;
    int digits = 0;
    while (c->p < c->e && *c->p >= '0' && *c->p <= '9' && digits < 19) {
        v = v * 10 + (uint64_t)(*c->p++ - '0');
        digits++;
    }
    if (digits == 0 || (c->p < c->e && ((*c->p >= '0' && *c->p <= '9') || *c->p == '.' ||
                                        *c->p == 'e' || *c->p == 'E'))) {
        c->p = s; /* a float, a huge number or not a number: absent */
        return skip_value(c);
    }
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

/* Steps over the ',' between members or elements: 1 at the next one, 0
 * past the closing `close`, -1 at the end of the input. */
HOT int seq_next(cur_t *c, char close)
{
    ws(c);
    if (c->p < c->e && *c->p == ',') {
        c->p++;
        ws(c);
    }
    if (c->p >= c->e)
        return -1;
    if (*c->p == close) {
        c->p++;
        return 0;
    }
    return 1;
}

/* 1 with the key, positioned at its value; 0 at the end; -1 malformed.
 * Call once after '{' was consumed, and after each value. */
HOT int obj_next(cur_t *c, rep__sv_t *key)
{
    int more = seq_next(c, '}');
    if (more <= 0)
        return more;
    if (*c->p != '"' || read_str(c, key) != 0)
        return -1;
    ws(c);
    if (c->p >= c->e || *c->p != ':')
        return -1;
    c->p++;
    ws(c);
    return 1;
}

/* Consumes '{' when the value is an object: 1; else skips the value: 0. */
static int open_obj(cur_t *c, char ch)
{
    ws(c);
    if (c->p < c->e && *c->p == ch) {
        c->p++;
        return 1;
    }
    return skip_value(c) == 0 ? 0 : -1;
}

static int walk_hashes(cur_t *c, rep__sv_t *sha)
{
    int rc = open_obj(c, '[');
    if (rc != 1)
        return rc < 0 ? -1 : 0;
    while ((rc = seq_next(c, ']')) == 1) {
        rep__sv_t k = {0}, val = {0}, alg = {0};
        int64_t alg_id = OCSF_NONE;
        int o = open_obj(c, '{');
        if (o < 0)
            return -1;
        if (o == 0)
            continue;
        while ((o = obj_next(c, &k)) == 1) {
            if (KEQ(k, "algorithm_id"))
                o = read_int(c, &alg_id);
            else if (KEQ(k, "algorithm"))
                o = read_str(c, &alg);
            else if (KEQ(k, "value"))
                o = read_str(c, &val);
            else
                o = skip_value(c);
            if (o)
                return -1;
        }
        if (o < 0)
            return -1;
        if ((alg_id == OCSF_HASH_SHA256 || KEQ(alg, "SHA-256")) && val.p)
            *sha = val;
    }
    return rc < 0 ? -1 : 0;
}

static int walk_file(cur_t *c, rep__net_t *o)
{
    rep__sv_t k = {0};
    int rc = open_obj(c, '{');
    while (rc == 1 && (rc = obj_next(c, &k)) == 1) {
        if (KEQ(k, "path"))
            rc = read_str(c, &o->path) == 0 ? 1 : -1;
        else if (KEQ(k, "hashes"))
            rc = walk_hashes(c, &o->sha256) == 0 ? 1 : -1;
        else
            rc = skip_value(c) == 0 ? 1 : -1;
    }
    return rc < 0 ? -1 : 0;
}

static int walk_actor(cur_t *c, rep__net_t *o)
{
    rep__sv_t k = {0};
    int rc = open_obj(c, '{');
    while (rc == 1 && (rc = obj_next(c, &k)) == 1) {
        if (KEQ(k, "process")) {
            int r2 = open_obj(c, '{');
            while (r2 == 1 && (r2 = obj_next(c, &k)) == 1) {
                if (KEQ(k, "file"))
                    r2 = walk_file(c, o) == 0 ? 1 : -1;
                else
                    r2 = skip_value(c) == 0 ? 1 : -1;
            }
            rc = r2 < 0 ? -1 : 1;
        } else {
            rc = skip_value(c) == 0 ? 1 : -1;
        }
    }
    return rc < 0 ? -1 : 0;
}

/* An object of string/int leaves: names[i] → svs[i] or ints[i]. */
typedef struct {
    const char *name;
    size_t len;
    rep__sv_t *sv;
    int64_t *i;
} leaf_t;

#define LS(lit) lit, sizeof(lit) - 1

static int walk_leaves(cur_t *c, const leaf_t *l, size_t n)
{
    rep__sv_t k = {0};
    int rc = open_obj(c, '{');
    while (rc == 1 && (rc = obj_next(c, &k)) == 1) {
        size_t i = 0;
        while (i < n && !(k.n == l[i].len && !k.esc && k.p[0] == l[i].name[0] &&
                          !memcmp(k.p, l[i].name, k.n)))
            i++;
        if (i == n)
            rc = skip_value(c);
        else
            rc = l[i].sv ? read_str(c, l[i].sv) : read_int(c, l[i].i);
        rc = rc == 0 ? 1 : -1;
    }
    return rc < 0 ? -1 : 0;
}

static int walk_http(cur_t *c, rep__net_t *o)
{
    rep__sv_t k = {0};
    const leaf_t url[] = {{LS("hostname"), &o->url_host, NULL}, {LS("port"), NULL, &o->url_port}};
    int rc = open_obj(c, '{');
    while (rc == 1 && (rc = obj_next(c, &k)) == 1) {
        if (KEQ(k, "url"))
            rc = walk_leaves(c, url, 2) == 0 ? 1 : -1;
        else
            rc = skip_value(c) == 0 ? 1 : -1;
    }
    return rc < 0 ? -1 : 0;
}

static int walk_meta(cur_t *c, rep__net_t *o)
{
    rep__sv_t k = {0};
    const leaf_t prod[] = {{LS("name"), &o->product, NULL}, {LS("version"), &o->version, NULL}};
    int rc = open_obj(c, '{');
    while (rc == 1 && (rc = obj_next(c, &k)) == 1) {
        if (KEQ(k, "product"))
            rc = walk_leaves(c, prod, 2) == 0 ? 1 : -1;
        else
            rc = skip_value(c) == 0 ? 1 : -1;
    }
    return rc < 0 ? -1 : 0;
}

static int top_field(cur_t *c, rep__sv_t k, rep__net_t *o)
{
    const leaf_t dst[] = {
        {LS("domain"), &o->domain, NULL}, {LS("ip"), &o->ip, NULL}, {LS("port"), NULL, &o->port}};
    const leaf_t rule[] = {{LS("name"), &o->rule, NULL}, {LS("type"), &o->engine, NULL}};
    const leaf_t dev[] = {{LS("hostname"), &o->hostname, NULL}};
    const leaf_t traffic[] = {{LS("bytes_in"), NULL, &o->bytes_in},
                              {LS("bytes_out"), NULL, &o->bytes_out}};
    switch (k.n ? k.p[0] : 0) {
    case 'a':
        if (KEQ(k, "activity_id"))
            return read_int(c, &o->activity_id);
        if (KEQ(k, "actor"))
            return walk_actor(c, o);
        break;
    case 'd':
        if (KEQ(k, "dst_endpoint"))
            return walk_leaves(c, dst, 3);
        if (KEQ(k, "device"))
            return walk_leaves(c, dev, 1);
        break;
    case 'f':
        if (KEQ(k, "firewall_rule"))
            return walk_leaves(c, rule, 2);
        break;
    case 'h':
        if (KEQ(k, "http_request"))
            return walk_http(c, o);
        break;
    case 'm':
        if (KEQ(k, "metadata"))
            return walk_meta(c, o);
        break;
    case 's':
        if (KEQ(k, "status_detail"))
            return read_str(c, &o->reason);
        break;
    case 't':
        if (KEQ(k, "traffic"))
            return walk_leaves(c, traffic, 2);
        break;
    }
    return skip_value(c);
}

int rep__walk_net(const char *json, size_t n, rep__net_t *o)
{
    memset(o, 0, sizeof *o);
    o->activity_id = o->port = o->url_port = o->bytes_in = o->bytes_out = OCSF_NONE;
    cur_t c = {json, json + n};
    rep__sv_t k = {0};
    int rc;
    ws(&c);
    if (c.p >= c.e || *c.p++ != '{')
        return -EBADMSG;
    while ((rc = obj_next(&c, &k)) == 1)
        if (top_field(&c, k, o) != 0)
            return -EBADMSG;
    return rc == 0 ? 0 : -EBADMSG;
}

static int hexval(char ch)
{
    return ch >= '0' && ch <= '9'   ? ch - '0'
           : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
           : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                    : -1;
}

static long hex4(const char *p, const char *e)
{
    if (e - p < 4)
        return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    return v;
}

static size_t put_utf8(char *o, unsigned long cp)
{
    if (cp < 0x80)
        return o[0] = (char)cp, 1;
    if (cp < 0x800)
        return o[0] = (char)(0xc0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3f)), 2;
    if (cp < 0x10000)
        return o[0] = (char)(0xe0 | cp >> 12), o[1] = (char)(0x80 | ((cp >> 6) & 0x3f)),
               o[2] = (char)(0x80 | (cp & 0x3f)), 3;
    return o[0] = (char)(0xf0 | cp >> 18), o[1] = (char)(0x80 | ((cp >> 12) & 0x3f)),
           o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), o[3] = (char)(0x80 | (cp & 0x3f)), 4;
}

size_t rep__sv_copy(rep__sv_t v, char *buf, size_t cap)
{
    size_t o = 0;
    if (!cap)
        return 0;
    if (!v.esc) {
        o = v.n < cap - 1 ? v.n : cap - 1;
        if (o)
            memcpy(buf, v.p, o);
        buf[o] = '\0';
        return o;
    }
    const char *p = v.p, *e = v.p + v.n;
    while (p < e && o + 4 < cap) {
        if (*p != '\\' || p + 1 >= e) {
            buf[o++] = *p++;
            continue;
        }
        char ch = p[1];
        p += 2;
        switch (ch) {
        case 'b': buf[o++] = '\b'; break;
        case 'f': buf[o++] = '\f'; break;
        case 'n': buf[o++] = '\n'; break;
        case 'r': buf[o++] = '\r'; break;
        case 't': buf[o++] = '\t'; break;
        case 'u': {
            long cp = hex4(p, e);
            if (cp < 0)
                break;
            p += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && e - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                long lo = hex4(p + 2, e);
                if (lo >= 0xdc00 && lo < 0xe000) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    p += 6;
                }
            }
            if (cp >= 0xd800 && cp < 0xe000)
                cp = 0xfffd;
            o += put_utf8(buf + o, (unsigned long)cp);
            break;
        }
        default: buf[o++] = ch; break;
        }
    }
    buf[o] = '\0';
    return o;
}
