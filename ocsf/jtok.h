/*
 * jtok.h: a one-pass JSON tokenizer for the ingest path (internal to ocsf/).
 *
 * What it does: one pass over the bytes checks the whole RFC 8259 grammar,
 * UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF, no lone
 * \u surrogate escapes), nesting depth and number syntax, and writes a flat
 * array of tokens into a buffer the caller reuses: no allocation per event
 * once the buffer has grown, no tree of nodes. Values are found by walking
 * the array: a container's `next` is the index just past its last
 * descendant, so a subtree is skipped in O(1).
 *
 * Layout: an object token is followed by its members, each a key (a
 * JT_STR) then the value's tokens; an array token by its elements.
 * Offsets are into the caller's bytes, which must outlive the document.
 */
#ifndef TOLLGATE_OCSF_JTOK_H
#define TOLLGATE_OCSF_JTOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ocsf/ocsf.h"

enum { JT_OBJ = 1, JT_ARR, JT_STR, JT_NUM, JT_TRUE, JT_FALSE, JT_NULL };
enum {
    JT_ESC = 0x1, /* string: holds a backslash escape */
    JT_INT = 0x2, /* number: no fraction, no exponent, fits int64 */
    JT_NUL = 0x4, /* string: holds a \u0000 escape */
};

#define JT_MAX_DEPTH 64

typedef struct {
    uint8_t type, flags;
    uint32_t off, len; /* string: its content without quotes; number: its text;
                        * object/array: from the opening brace to past the closing */
    uint32_t next;     /* index just past this value's last token */
    uint32_t n;        /* object: members; array: elements */
    int64_t i;         /* JT_NUM with JT_INT: the value */
} jt_t;

typedef struct {
    const char *s; /* the bytes (borrowed) */
    size_t n;
    jt_t *t;
    uint32_t nt, cap;
    uint32_t big; /* the first number no 64-bit integer or double holds: its token + 1 */
} jt_doc_t;

void jt_init(jt_doc_t *d);
void jt_dispose(jt_doc_t *d);

/* Tokenizes one JSON text (leading/trailing whitespace allowed). Returns 0,
 * or -EINVAL with err ("offset 12: invalid UTF-8", "offset 3: expected ':'").
 * Texts of 4 GiB or more are refused. */
int jt_parse(jt_doc_t *d, const char *s, size_t n, char *err, size_t errlen);

/* The member of object `obj` whose key is `key` (decoded compare): the
 * value's index, or 0 when absent (0 is the root, never a member). */
uint32_t jt_get(const jt_doc_t *d, uint32_t obj, const char *key, size_t klen);
/* Follows a dotted path of object keys ("metadata.product.name") from the
 * root: the value's index or 0. */
uint32_t jt_path(const jt_doc_t *d, const char *path);

/* A string token's bytes when it has no escape (borrowed), else decoded
 * into `scratch` (which it then points into). */
ocsf_str_t jt_str(const jt_doc_t *d, uint32_t i, ocsf_buf_t *scratch);
/* True when string token i equals s[0..n) after decoding. */
bool jt_str_eq(const jt_doc_t *d, uint32_t i, const char *s, size_t n);
/* Characters (code points) of string token i after decoding. */
size_t jt_str_chars(const jt_doc_t *d, uint32_t i);
/* Decodes the escapes of s[0..n) (a string's content) onto out. */
void jt_unescape(const char *s, size_t n, ocsf_buf_t *out);

/* Member iteration: for (uint32_t k = jt_first(d, obj); k; k = jt_after(d, k))
 * with key k and value k + 1. Elements: for (e = jt_elem0(d, arr); e; e = jt_after_elem(...)). */
static inline uint32_t jt_first(const jt_doc_t *d, uint32_t obj)
{
    return d->t[obj].n ? obj + 1 : 0;
}
static inline uint32_t jt_after(const jt_doc_t *d, uint32_t key, uint32_t obj)
{
    uint32_t k = d->t[key + 1].next;
    return k < d->t[obj].next ? k : 0;
}
static inline uint32_t jt_elem0(const jt_doc_t *d, uint32_t arr)
{
    return d->t[arr].n ? arr + 1 : 0;
}
static inline uint32_t jt_after_elem(const jt_doc_t *d, uint32_t e, uint32_t arr)
{
    uint32_t k = d->t[e].next;
    return k < d->t[arr].next ? k : 0;
}

#endif
