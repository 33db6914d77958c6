/*
 * buf.c: the growable buffer, strings, UUIDs.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocsf/ocsf_internal.h"

ocsf_str_t ocsf_str(const char *s)
{
    return s ? (ocsf_str_t){s, strlen(s)} : OCSF_NOSTR;
}

bool ocsf_str_eq(ocsf_str_t a, ocsf_str_t b)
{
    if (!a.p || !b.p)
        return !a.p && !b.p;
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

void ocsf_buf_init(ocsf_buf_t *b)
{
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
}

void ocsf_buf_dispose(ocsf_buf_t *b)
{
    free(b->p);
    ocsf_buf_init(b);
}

void ocsf_buf_reserve(ocsf_buf_t *b, size_t more)
{
    if (b->cap - b->len > more)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len <= more) {
        if (cap > SIZE_MAX / 2)
            abort();
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p)
        abort(); /* OOM policy: see ocsf.h */
    b->p = p;
    b->cap = cap;
}

void ocsf_buf_put(ocsf_buf_t *b, const void *p, size_t n)
{
    if (!n)
        return;
    if (b->cap - b->len <= n)
        ocsf_buf_reserve(b, n);
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

void ocsf_buf_putc(ocsf_buf_t *b, char c)
{
    if (b->cap - b->len <= 1)
        ocsf_buf_reserve(b, 1);
    b->p[b->len++] = c;
}

void ocsf_buf_puts(ocsf_buf_t *b, const char *s)
{
    ocsf_buf_put(b, s, strlen(s));
}

void ocsf_buf_put_i64(ocsf_buf_t *b, int64_t v)
{
    char tmp[24];
    char *e = tmp + sizeof tmp, *q = e;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--q = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--q = '-';
    ocsf_buf_put(b, q, (size_t)(e - q));
}

const char *ocsf_buf_cstr(ocsf_buf_t *b)
{
    ocsf_buf_reserve(b, 1);
    b->p[b->len] = '\0';
    return b->p;
}

void ocsf_uuid_v4(const uint8_t rnd[16], char out[37])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t r[16];
    memcpy(r, rnd, 16);
    r[6] = (uint8_t)((r[6] & 0x0f) | 0x40);
    r[8] = (uint8_t)((r[8] & 0x3f) | 0x80);
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[r[i] >> 4];
        out[o++] = hex[r[i] & 15];
    }
    out[o] = '\0';
}
