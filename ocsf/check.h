/*
 * check.h: the checker's state, shared by check.c (validation), ingest.c
 * (the ingest path) and cast.c (version casts). Internal to ocsf/.
 */
#ifndef TOLLGATE_OCSF_CHECK_H
#define TOLLGATE_OCSF_CHECK_H

#include <stdbool.h>

#include "ocsf/jtok.h"
#include "ocsf/schema.h"

struct ocsf_checker {
    jt_doc_t doc;
    ocsf_buf_t key, str, msg, out, aux;
    ocsf_buf_t arena; /* the cast's rewritten values, stack-like (cast_tok.c) */
    void *md_ctx;     /* EVP_MD_CTX of the ingest digest (ingest.c) */
    uint32_t *slots;  /* per open object: the value index of each attribute */
    size_t top, cap;
    struct {
        uint32_t key;     /* key token; 0: array element (or `name`) */
        uint32_t elem;    /* element number */
        const char *name; /* an attribute that is missing: its name */
    } path[JT_MAX_DEPTH + 2];
    int depth;
    const ocsf_schema_t *s;
    const ocsf__class_t *cls;
    uint32_t prof; /* metadata.profiles as bits */
    ocsf_problem_cb cb;
    void *ctx;
    unsigned flags;
    int problems;
    int fatal; /* problems no repair can take (duplicate keys) */
};

/* Checks c->doc (parsed) against `force`, or the version metadata.version
 * names. Returns the number of problems; c->s and c->cls are set when the
 * version and class were found. */
int ocsf__check_doc(ocsf_checker_t *c, const ocsf_schema_t *force);

/* Duplicate keys anywhere in the parsed document (c->doc), counted (not
 * reported): check_body only sees those of the objects it walks into. */
int ocsf__check_unique_all(ocsf_checker_t *c);

/* The casts' shared choices (cast.c, cast_tok.c): the string a required
 * attribute is filled with (one its type's check takes), and which member
 * of an at_least_one / just_one list is filled when none is present
 * (`name`, else the first plain string, else the first). */
const char *ocsf__placeholder_string(const ocsf__attr_t *a);
const ocsf__attr_t *ocsf__one_of_pick(const ocsf__body_t *b, const uint16_t *idx, size_t n);

/* s[0..n) passes the typed-string check (OCSF__CHK_*). */
bool ocsf__typed_ok(int check, const unsigned char *s, size_t n);

/* The version cast on a jansson tree (cast.c): the reference ocsf_cast()
 * (cast_tok.c) is held equal to. */
int ocsf__cast_ref(ocsf_checker_t *c, const char *json, size_t len, const ocsf_schema_t *target,
                   unsigned flags, ocsf_buf_t *out, char *err, size_t errlen);

#endif
