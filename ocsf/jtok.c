/*
 * jtok.c: the one-pass JSON tokenizer (see jtok.h).
 *
 * An explicit stack of open containers (no recursion): each token is
 * written when its value starts; a container's `next`, `len` and `n` are
 * filled when it closes. Strings are scanned in one loop that also checks
 * UTF-8; printable ASCII, the common case, takes one compare per byte.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocsf/jtok.h"
#include "ocsf/ocsf_internal.h"

void jt_init(jt_doc_t *d)
{
    memset(d, 0, sizeof *d);
}

void jt_dispose(jt_doc_t *d)
{
    free(d->t);
    jt_init(d);
}

typedef struct {
    jt_doc_t *d;
    const unsigned char *s;
    size_t n, i;
    char *err;
    size_t errlen;
} jp_t;

static int fail(jp_t *p, const char *what)
{
    snprintf(p->err, p->errlen, "offset %zu: %s", p->i, what);
    return -EINVAL;
}

static uint32_t push(jp_t *p, uint8_t type)
{
    jt_doc_t *d = p->d;
    if (d->nt == d->cap) {
        uint32_t cap = d->cap ? d->cap * 2 : 256;
        jt_t *t = realloc(d->t, (size_t)cap * sizeof *t);
        if (!t)
            abort(); /* the OOM policy of ocsf_buf_t */
        d->t = t;
        d->cap = cap;
    }
    jt_t *t = &d->t[d->nt];
    t->type = type;
    t->flags = 0;
    t->off = (uint32_t)p->i;
    t->len = 0;
    t->n = 0;
    t->i = 0;
    t->next = d->nt + 1;
    return d->nt++;
}

static void skip_ws(jp_t *p)
{
    while (p->i < p->n) {
        unsigned char c = p->s[p->i];
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t')
            return;
        p->i++;
    }
}

static int hex4(const unsigned char *s, uint32_t *v)
{
    uint32_t r = 0;
    for (int k = 0; k < 4; k++) {
        unsigned char c = s[k];
        r <<= 4;
        if (c >= '0' && c <= '9')
            r |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            r |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            r |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    *v = r;
    return 0;
}

/* Bytes a string's fast loop takes as they are: printable ASCII but `"`
 * and `\`. */
static const uint8_t plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* p->i is on the opening quote. */
static int scan_string(jp_t *p)
{
    uint32_t t = push(p, JT_STR);
    const unsigned char *s = p->s;
    size_t i = p->i + 1, n = p->n;
    p->d->t[t].off = (uint32_t)i;
    for (;;) {
        while (i < n && plain[s[i]])
            i++;
        if (i >= n) {
            p->i = i;
            return fail(p, "unterminated string");
        }
        unsigned char c = s[i];
        if (c == '"')
            break;
        if (c < 0x20) {
            p->i = i;
            return fail(p, "control character in a string");
        }
        if (c == '\\') {
            p->d->t[t].flags |= JT_ESC;
            if (i + 1 >= n) {
                p->i = i;
                return fail(p, "unterminated string");
            }
            unsigned char e = s[i + 1];
            if (e == 'u') {
                uint32_t v, w;
                if (i + 6 > n || hex4(s + i + 2, &v)) {
                    p->i = i;
                    return fail(p, "bad \\u escape");
                }
                i += 6;
                if (v == 0)
                    p->d->t[t].flags |= JT_NUL;
                if (v >= 0xDC00 && v <= 0xDFFF) {
                    p->i = i - 6;
                    return fail(p, "lone surrogate escape");
                }
                if (v >= 0xD800 && v <= 0xDBFF) {
                    if (i + 6 > n || s[i] != '\\' || s[i + 1] != 'u' || hex4(s + i + 2, &w) ||
                        w < 0xDC00 || w > 0xDFFF) {
                        p->i = i - 6;
                        return fail(p, "lone surrogate escape");
                    }
                    i += 6;
                }
                continue;
            }
            if (!strchr("\"\\/bfnrt", e) || !e) {
                p->i = i;
                return fail(p, "bad escape");
            }
            i += 2;
            continue;
        }
        uint32_t cp;
        size_t k = ocsf__utf8_decode(s + i, n - i, &cp);
        if (!k) {
            p->i = i;
            return fail(p, "invalid UTF-8");
        }
        i += k;
    }
    if (i - p->d->t[t].off > UINT32_MAX)
        return fail(p, "string too long");
    p->d->t[t].len = (uint32_t)(i - p->d->t[t].off);
    p->i = i + 1;
    return 0;
}

static int scan_number(jp_t *p)
{
    uint32_t t = push(p, JT_NUM);
    const unsigned char *s = p->s;
    size_t i = p->i, n = p->n, start = i;
    bool neg = false, integer = true;
    if (i < n && s[i] == '-')
        neg = true, i++;
    if (i >= n || s[i] < '0' || s[i] > '9')
        return fail(p, "bad number");
    uint64_t v = 0;
    bool over = false;
    if (s[i] == '0') {
        i++;
    } else {
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            unsigned dgt = (unsigned)(s[i] - '0');
            if (v > (UINT64_MAX - dgt) / 10)
                over = true;
            else
                v = v * 10 + dgt;
            i++;
        }
    }
    if (i < n && s[i] == '.') {
        integer = false;
        i++;
        if (i >= n || s[i] < '0' || s[i] > '9') {
            p->i = i;
            return fail(p, "bad number");
        }
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        integer = false;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || s[i] < '0' || s[i] > '9') {
            p->i = i;
            return fail(p, "bad number");
        }
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    jt_t *tok = &p->d->t[t];
    tok->len = (uint32_t)(i - start);
    if (integer && !over && v <= (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX)) {
        tok->flags |= JT_INT;
        tok->i = neg ? (int64_t)(0 - v) : (int64_t)v;
    } else if (!p->d->big) {
        /* an integer past 64 bits, or a real past a double: consumers
         * (jansson, most JSON libraries) refuse or round it */
        char stack_num[64];
        bool huge = integer;
        if (!huge) {
            char *num = tok->len < sizeof stack_num ? stack_num : malloc(tok->len + 1);
            if (!num)
                abort();
            memcpy(num, p->s + start, tok->len);
            num[tok->len] = '\0';
            huge = isinf(strtod(num, NULL));
            if (num != stack_num)
                free(num);
        }
        if (huge)
            p->d->big = t + 1;
    }
    p->i = i;
    return 0;
}

static int scan_literal(jp_t *p, const char *lit, uint8_t type)
{
    size_t k = strlen(lit);
    if (p->n - p->i < k || memcmp(p->s + p->i, lit, k) != 0)
        return fail(p, "unexpected character");
    uint32_t t = push(p, type);
    p->d->t[t].len = (uint32_t)k;
    p->i += k;
    return 0;
}

int jt_parse(jt_doc_t *d, const char *s, size_t n, char *err, size_t errlen)
{
    jp_t p = {d, (const unsigned char *)s, n, 0, err, errlen};
    uint32_t stack[JT_MAX_DEPTH];
    int depth = 0;
    d->s = s;
    d->n = n;
    d->nt = 0;
    d->big = 0;
    if (n >= UINT32_MAX)
        return fail(&p, "text too long");
    /* The state after a value: what may follow depends on the container. */
    for (;;) {
        skip_ws(&p);
        if (p.i >= n)
            return fail(&p, depth ? "unexpected end" : "empty text");
        unsigned char c = p.s[p.i];
        int rc;
        switch (c) {
        case '{':
        case '[': {
            if (depth == JT_MAX_DEPTH)
                return fail(&p, "nested too deep");
            uint32_t t = push(&p, c == '{' ? JT_OBJ : JT_ARR);
            if (depth && d->t[stack[depth - 1]].type == JT_ARR)
                d->t[stack[depth - 1]].n++;
            stack[depth++] = t;
            p.i++;
            skip_ws(&p);
            if (p.i < n && p.s[p.i] == (c == '{' ? '}' : ']'))
                goto close;
            if (c == '{')
                goto key;
            continue;
        }
        case '"': rc = scan_string(&p); break;
        case 't': rc = scan_literal(&p, "true", JT_TRUE); break;
        case 'f': rc = scan_literal(&p, "false", JT_FALSE); break;
        case 'n': rc = scan_literal(&p, "null", JT_NULL); break;
        default:
            if (c == '-' || (c >= '0' && c <= '9')) {
                rc = scan_number(&p);
                break;
            }
            return fail(&p, "unexpected character");
        }
        if (rc)
            return rc;
        if (depth && d->t[stack[depth - 1]].type == JT_ARR)
            d->t[stack[depth - 1]].n++;
    after_value:
        skip_ws(&p);
        if (!depth) {
            if (p.i != n)
                return fail(&p, "data after the value");
            return 0;
        }
        if (p.i >= n)
            return fail(&p, "unexpected end");
        c = p.s[p.i];
        if (c == ',') {
            p.i++;
            if (d->t[stack[depth - 1]].type == JT_OBJ) {
                skip_ws(&p);
                goto key;
            }
            continue;
        }
        if (c != (d->t[stack[depth - 1]].type == JT_OBJ ? '}' : ']'))
            return fail(&p, "expected ',' or a closing bracket");
    close : {
        jt_t *t = &d->t[stack[--depth]];
        p.i++;
        t->len = (uint32_t)(p.i - t->off);
        t->next = d->nt;
        goto after_value;
    }
    key:
        if (p.i >= n || p.s[p.i] != '"')
            return fail(&p, "expected a key string");
        if ((rc = scan_string(&p)) != 0)
            return rc;
        if (d->t[d->nt - 1].flags & JT_NUL) /* C consumers would cut the key there */
            return fail(&p, "NUL in an object key");
        d->t[stack[depth - 1]].n++;
        skip_ws(&p);
        if (p.i >= n || p.s[p.i] != ':')
            return fail(&p, "expected ':'");
        p.i++;
        /* the value: back to the top of the loop, which must not count it
         * as an array element (the container is an object) */
    }
}

void jt_unescape(const char *s, size_t n, ocsf_buf_t *out)
{
    size_t i = 0;
    while (i < n) {
        const char *bs = memchr(s + i, '\\', n - i);
        size_t run = bs ? (size_t)(bs - (s + i)) : n - i;
        ocsf_buf_put(out, s + i, run);
        i += run;
        if (i >= n)
            break;
        char e = s[i + 1];
        i += 2;
        char c;
        switch (e) {
        case 'b': c = '\b'; break;
        case 'f': c = '\f'; break;
        case 'n': c = '\n'; break;
        case 'r': c = '\r'; break;
        case 't': c = '\t'; break;
        case 'u': {
            uint32_t v = 0, w = 0;
            hex4((const unsigned char *)s + i, &v);
            i += 4;
            if (v >= 0xD800 && v <= 0xDBFF && i + 6 <= n) {
                hex4((const unsigned char *)s + i + 2, &w);
                v = 0x10000 + ((v - 0xD800) << 10) + (w - 0xDC00);
                i += 6;
            }
            char u[4];
            size_t k;
            if (v < 0x80) {
                u[0] = (char)v;
                k = 1;
            } else if (v < 0x800) {
                u[0] = (char)(0xC0 | (v >> 6));
                u[1] = (char)(0x80 | (v & 0x3F));
                k = 2;
            } else if (v < 0x10000) {
                u[0] = (char)(0xE0 | (v >> 12));
                u[1] = (char)(0x80 | ((v >> 6) & 0x3F));
                u[2] = (char)(0x80 | (v & 0x3F));
                k = 3;
            } else {
                u[0] = (char)(0xF0 | (v >> 18));
                u[1] = (char)(0x80 | ((v >> 12) & 0x3F));
                u[2] = (char)(0x80 | ((v >> 6) & 0x3F));
                u[3] = (char)(0x80 | (v & 0x3F));
                k = 4;
            }
            ocsf_buf_put(out, u, k);
            continue;
        }
        default: c = e; /* " \ / */
        }
        ocsf_buf_putc(out, c);
    }
}

ocsf_str_t jt_str(const jt_doc_t *d, uint32_t i, ocsf_buf_t *scratch)
{
    const jt_t *t = &d->t[i];
    if (!(t->flags & JT_ESC))
        return (ocsf_str_t){d->s + t->off, t->len};
    scratch->len = 0;
    jt_unescape(d->s + t->off, t->len, scratch);
    ocsf_buf_reserve(scratch, 1); /* p non-NULL even when empty */
    return (ocsf_str_t){scratch->p, scratch->len};
}

bool jt_str_eq(const jt_doc_t *d, uint32_t i, const char *s, size_t n)
{
    const jt_t *t = &d->t[i];
    if (!(t->flags & JT_ESC))
        return t->len == n && memcmp(d->s + t->off, s, n) == 0;
    if (t->len < n)
        return false;
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    jt_unescape(d->s + t->off, t->len, &b);
    bool eq = b.len == n && (n == 0 || memcmp(b.p, s, n) == 0);
    ocsf_buf_dispose(&b);
    return eq;
}

size_t jt_str_chars(const jt_doc_t *d, uint32_t i)
{
    const jt_t *t = &d->t[i];
    const unsigned char *s = (const unsigned char *)d->s + t->off;
    size_t chars = 0;
    for (size_t k = 0; k < t->len; k++) {
        if (s[k] == '\\') {
            if (s[k + 1] == 'u') {
                uint32_t v = 0;
                hex4(s + k + 2, &v);
                k += 5;
                if (v >= 0xD800 && v <= 0xDBFF)
                    k += 6; /* the pair is one character */
            } else {
                k++;
            }
            chars++;
        } else if ((s[k] & 0xC0) != 0x80) {
            chars++;
        }
    }
    return chars;
}

uint32_t jt_get(const jt_doc_t *d, uint32_t obj, const char *key, size_t klen)
{
    if (!d->nt || d->t[obj].type != JT_OBJ)
        return 0;
    for (uint32_t k = jt_first(d, obj); k; k = jt_after(d, k, obj))
        if (jt_str_eq(d, k, key, klen))
            return k + 1;
    return 0;
}

uint32_t jt_path(const jt_doc_t *d, const char *path)
{
    uint32_t at = 0;
    while (*path) {
        const char *dot = strchr(path, '.');
        size_t k = dot ? (size_t)(dot - path) : strlen(path);
        at = jt_get(d, at, path, k);
        if (!at)
            return 0;
        path += k + (dot ? 1 : 0);
    }
    return at;
}
