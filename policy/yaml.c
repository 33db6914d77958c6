/*
 * yaml.c: libyaml events -> a small node tree that remembers lines, and the
 * tree -> jansson values (for the sections and endpoint keys tollgate keeps
 * without enforcing them).
 *
 * Errors name the origin, the line and the path being read
 * ("policy.yaml:7: network_policies.gh.endpoints[0]: ..."); every piece of
 * file text in them goes through pol__shown().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "policy/pol_internal.h"

typedef struct {
    yaml_parser_t parser;
    const char *yaml; /* the input, to turn a reader error's offset into a line */
    size_t len;
    const char *origin;
    char *err;
    size_t errlen;
    size_t nodes;
    ocsf_buf_t path; /* where we are, already escaped: "network_policies.gh.endpoints[0]" */
} pb_t;

static void pb_fail(pb_t *b, size_t line, const char *msg)
{
    ocsf_buf_t o;
    ocsf_buf_init(&o);
    pol__shown(&o, b->origin, strlen(b->origin));
    if (b->path.len)
        pol__errf(b->err, b->errlen, "%s:%zu: %.*s: %s", o.p, line, (int)b->path.len, b->path.p,
                  msg);
    else
        pol__errf(b->err, b->errlen, "%s:%zu: %s", o.p, line, msg);
    ocsf_buf_dispose(&o);
}

static int pb_next(pb_t *b, yaml_event_t *ev)
{
    if (yaml_parser_parse(&b->parser, ev))
        return 0;
    char msg[256];
    const char *problem = b->parser.problem ? b->parser.problem : "cannot parse";
    if (b->parser.context)
        snprintf(msg, sizeof msg, "YAML syntax error: %s %s", problem, b->parser.context);
    else
        snprintf(msg, sizeof msg, "YAML syntax error: %s", problem);
    size_t line = b->parser.problem_mark.line + 1;
    if (b->parser.error == YAML_READER_ERROR) { /* the reader reports an offset */
        size_t off = b->parser.problem_offset < b->len ? b->parser.problem_offset : b->len;
        line = 1;
        for (size_t i = 0; i < off; i++)
            line += b->yaml[i] == '\n';
    }
    pb_fail(b, line, msg);
    return -EINVAL;
}

static pn_t *pn_new(pb_t *b, pn_kind_t kind, size_t line)
{
    if (b->nodes >= POL__MAX_NODES)
        return NULL;
    b->nodes++;
    pn_t *n = pol__xcalloc(1, sizeof *n);
    n->kind = kind;
    n->line = line;
    return n;
}

static void pn_add_kid(pn_t *parent, pn_t *kid)
{
    parent->kids = pol__grow(parent->kids, parent->nkids, sizeof *parent->kids);
    parent->kids[parent->nkids++] = kid;
}

void pn_free(pn_t *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nkids; i++)
        pn_free(n->kids[i]);
    free(n->kids);
    free(n->s);
    free(n);
}

static int pn_scalar(pb_t *b, yaml_event_t *ev, pn_t **out)
{
    const char *v = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    size_t line = ev->start_mark.line + 1;
    if (memchr(v, '\0', len)) {
        pb_fail(b, line, "a NUL byte in a scalar");
        return -EINVAL;
    }
    if (!pol__utf8_valid(v, len)) {
        pb_fail(b, line, "invalid UTF-8");
        return -EINVAL;
    }
    pn_t *n = pn_new(b, PN_SCALAR, line);
    if (!n) {
        pb_fail(b, line, "too many nodes");
        return -EINVAL;
    }
    n->s = pol__xstrndup(v, len);
    n->n = len;
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && ev->data.scalar.plain_implicit;
    *out = n;
    return 0;
}

static int pn_node(pb_t *b, yaml_event_t *ev, int depth, pn_t **out);

static int key_cmp(const void *a, const void *b)
{
    const pn_t *x = *(pn_t *const *)a, *y = *(pn_t *const *)b;
    int c = strcmp(x->s, y->s);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* Duplicate keys would make two documents with the same bytes mean
 * different things to different readers: refused. */
static int check_dup_keys(pb_t *b, const pn_t *map)
{
    size_t nk = map->nkids / 2;
    if (nk < 2)
        return 0;
    pn_t **keys = pol__xmalloc(nk * sizeof *keys);
    for (size_t i = 0; i < nk; i++)
        keys[i] = map->kids[2 * i];
    qsort(keys, nk, sizeof *keys, key_cmp);
    int rc = 0;
    for (size_t i = 1; i < nk && !rc; i++) {
        if (strcmp(keys[i - 1]->s, keys[i]->s) == 0) {
            ocsf_buf_t s;
            ocsf_buf_init(&s);
            char msg[POL__SHOWN * 4 + 64];
            snprintf(msg, sizeof msg, "%s: duplicate key", pol__shown(&s, keys[i]->s, keys[i]->n));
            ocsf_buf_dispose(&s);
            pb_fail(b, keys[i]->line, msg);
            rc = -EINVAL;
        }
    }
    free(keys);
    return rc;
}

static int pn_seq(pb_t *b, pn_t *seq, int depth)
{
    size_t mark = b->path.len;
    for (size_t i = 0;; i++) {
        yaml_event_t ev;
        int rc = pb_next(b, &ev);
        if (rc)
            return rc;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return 0;
        }
        char idx[32];
        snprintf(idx, sizeof idx, "[%zu]", i);
        ocsf_buf_puts(&b->path, idx);
        pn_t *kid = NULL;
        rc = pn_node(b, &ev, depth + 1, &kid);
        b->path.len = mark;
        if (rc)
            return rc;
        pn_add_kid(seq, kid);
    }
}

#define POL__KEY_MAX 256

static int pn_map(pb_t *b, pn_t *map, int depth)
{
    size_t mark = b->path.len;
    for (;;) {
        yaml_event_t ev;
        int rc = pb_next(b, &ev);
        if (rc)
            return rc;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            return check_dup_keys(b, map);
        }
        if (ev.type != YAML_SCALAR_EVENT) {
            pb_fail(b, ev.start_mark.line + 1, "a mapping key must be a scalar");
            yaml_event_delete(&ev);
            return -EINVAL;
        }
        if (ev.data.scalar.length > POL__KEY_MAX) {
            /* YAML's implicit keys stop at 1024 characters: a longer one
             * could not be written back as the same document */
            char msg[96];
            snprintf(msg, sizeof msg, "a mapping key of %zu bytes (at most %d)",
                     ev.data.scalar.length, POL__KEY_MAX);
            pb_fail(b, ev.start_mark.line + 1, msg);
            yaml_event_delete(&ev);
            return -EINVAL;
        }
        pn_t *key = NULL;
        rc = pn_scalar(b, &ev, &key);
        yaml_event_delete(&ev);
        if (rc)
            return rc;
        pn_add_kid(map, key);
        if (mark)
            ocsf_buf_putc(&b->path, '.');
        pol__shown(&b->path, key->s, key->n);
        if ((rc = pb_next(b, &ev)) == 0) {
            pn_t *val = NULL;
            rc = pn_node(b, &ev, depth + 1, &val);
            if (rc == 0)
                pn_add_kid(map, val);
        }
        b->path.len = mark;
        if (rc)
            return rc;
    }
}

/* Consumes ev. */
static int pn_node(pb_t *b, yaml_event_t *ev, int depth, pn_t **out)
{
    size_t line = ev->start_mark.line + 1;
    int rc = 0;
    pn_t *n = NULL;
    switch (ev->type) {
    case YAML_SCALAR_EVENT: rc = pn_scalar(b, ev, &n); break;
    case YAML_ALIAS_EVENT:
        pb_fail(b, line, "YAML aliases are not supported");
        rc = -EINVAL;
        break;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (depth >= POL__MAX_DEPTH) {
            pb_fail(b, line, "nested too deep");
            rc = -EINVAL;
            break;
        }
        n = pn_new(b, ev->type == YAML_MAPPING_START_EVENT ? PN_MAP : PN_SEQ, line);
        if (!n) {
            pb_fail(b, line, "too many nodes");
            rc = -EINVAL;
            break;
        }
        rc = n->kind == PN_MAP ? pn_map(b, n, depth) : pn_seq(b, n, depth);
        break;
    default: pb_fail(b, line, "unexpected YAML event"); rc = -EINVAL;
    }
    yaml_event_delete(ev);
    if (rc) {
        pn_free(n);
        return rc;
    }
    *out = n;
    return 0;
}

/* STREAM-START DOCUMENT-START node DOCUMENT-END STREAM-END, nothing else. */
static int pn_document(pb_t *b, pn_t **out)
{
    yaml_event_t ev;
    int rc;
    if ((rc = pb_next(b, &ev)))
        return rc;
    yaml_event_delete(&ev); /* STREAM-START */
    if ((rc = pb_next(b, &ev)))
        return rc;
    yaml_event_type_t t = ev.type;
    size_t line = ev.start_mark.line + 1;
    yaml_event_delete(&ev);
    if (t != YAML_DOCUMENT_START_EVENT) {
        pb_fail(b, line, "empty document");
        return -EINVAL;
    }
    if ((rc = pb_next(b, &ev)) || (rc = pn_node(b, &ev, 0, out)))
        return rc;
    if ((rc = pb_next(b, &ev)))
        return rc;
    yaml_event_delete(&ev); /* DOCUMENT-END */
    if ((rc = pb_next(b, &ev)))
        return rc;
    t = ev.type;
    line = ev.start_mark.line + 1;
    yaml_event_delete(&ev);
    if (t != YAML_STREAM_END_EVENT) {
        pb_fail(b, line, "more than one YAML document");
        return -EINVAL;
    }
    return 0;
}

int pn_parse(const char *yaml, size_t len, const char *origin, pn_t **out, char *err, size_t errlen)
{
    pb_t b = {.yaml = yaml,
              .len = len,
              .origin = origin ? origin : "<policy>",
              .err = err,
              .errlen = errlen};
    *out = NULL;
    if (len > POL__MAX_DOC) {
        pb_fail(&b, 1, "document larger than 8 MiB");
        return -EFBIG;
    }
    ocsf_buf_init(&b.path);
    if (!yaml_parser_initialize(&b.parser))
        abort(); /* OOM policy */
    yaml_parser_set_input_string(&b.parser, (const unsigned char *)yaml, len);
    pn_t *root = NULL;
    int rc = pn_document(&b, &root);
    yaml_parser_delete(&b.parser);
    ocsf_buf_dispose(&b.path);
    if (rc) {
        pn_free(root);
        return rc;
    }
    *out = root;
    return 0;
}

/* ---- scalars as JSON ------------------------------------------------------- */

typedef enum { PT_STR, PT_NULL, PT_BOOL, PT_INT, PT_FLOAT } pt_t;

static bool all_in(const char *s, size_t n, const char *set)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr(set, s[i]))
            return false;
    return true;
}

static bool is_float_text(const char *s, size_t n)
{
    size_t i = 0, digits = 0;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        i++;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < n && s[i] == '.')
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            digits++;
    if (!digits)
        return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '-' || s[i] == '+'))
            i++;
        if (i >= n || !(s[i] >= '0' && s[i] <= '9'))
            return false;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    return i == n;
}

/* The YAML 1.2 core schema, minus .inf/.nan (JSON cannot hold them). */
static pt_t pt_resolve(const char *s, size_t n, long long *iv, double *dv)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    static const char *const bools[] = {"true", "True", "TRUE", "false", "False", "FALSE"};
    for (size_t i = 0; i < sizeof nulls / sizeof *nulls; i++)
        if (strcmp(s, nulls[i]) == 0)
            return PT_NULL;
    for (size_t i = 0; i < sizeof bools / sizeof *bools; i++)
        if (strcmp(s, bools[i]) == 0) {
            *iv = i < 3;
            return PT_BOOL;
        }
    size_t sign = (n && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
    int base = 0;
    const char *digits = s;
    if (all_in(s + sign, n - sign, "0123456789"))
        base = 10;
    else if (n > 2 && s[0] == '0' && s[1] == 'x' && all_in(s + 2, n - 2, "0123456789abcdefABCDEF"))
        base = 16, digits = s + 2;
    else if (n > 2 && s[0] == '0' && s[1] == 'o' && all_in(s + 2, n - 2, "01234567"))
        base = 8, digits = s + 2;
    if (base) {
        errno = 0;
        *iv = strtoll(digits, NULL, base);
        return errno ? PT_STR : PT_INT;
    }
    if (is_float_text(s, n)) {
        *dv = strtod(s, NULL);
        return PT_FLOAT;
    }
    return PT_STR;
}

bool pn_plain_is_typed(const char *s, size_t n)
{
    long long iv;
    double dv;
    return pt_resolve(s, n, &iv, &dv) != PT_STR;
}

json_t *pn_to_json(const pn_t *n)
{
    if (n->kind == PN_SEQ) {
        json_t *a = json_array();
        for (size_t i = 0; i < n->nkids; i++)
            json_array_append_new(a, pn_to_json(n->kids[i]));
        return a;
    }
    if (n->kind == PN_MAP) {
        json_t *o = json_object();
        for (size_t i = 0; i + 1 < n->nkids; i += 2)
            json_object_setn_new(o, n->kids[i]->s, n->kids[i]->n, pn_to_json(n->kids[i + 1]));
        return o;
    }
    long long iv = 0;
    double dv = 0;
    switch (n->plain ? pt_resolve(n->s, n->n, &iv, &dv) : PT_STR) {
    case PT_NULL: return json_null();
    case PT_BOOL: return json_boolean(iv);
    case PT_INT: return json_integer(iv);
    case PT_FLOAT: return json_real(dv);
    default: return json_stringn(n->s, n->n);
    }
}
