/*
 * ocsf_internal.h: what the files of ocsf/ share and nobody else includes.
 * The tables are generated from schemas/ocsf-1.7.0.json by
 * schemas/gen_tables.py (build/gen/ocsf_tables.c).
 */
#ifndef TOLLGATE_OCSF_INTERNAL_H
#define TOLLGATE_OCSF_INTERNAL_H

#include <jansson.h>

#include "ocsf/ocsf.h"

#define OCSF__ENUM_MAX 100

/* Captions of one class, each array indexed by id (NULL: undefined). */
typedef struct {
    int uid;
    const char *name;    /* "network_activity" */
    const char *caption; /* class_name: "Network Activity" */
    int category_uid;
    const char *category_name;
    const char *const *activity;
    const char *const *type_name; /* indexed by activity id */
    const char *const *severity;
    const char *const *action;
    const char *const *disposition;
    const char *const *status;
    const char *const *confidence;
    const char *const *state;
} ocsf__class_info_t;

extern const ocsf__class_info_t ocsf__classes[];
extern const size_t ocsf__nclasses;
extern const char *const ocsf__cap_device_type[OCSF__ENUM_MAX];
extern const char *const ocsf__cap_hash_algorithm[OCSF__ENUM_MAX];
extern const char *const ocsf__cap_file_type[OCSF__ENUM_MAX];
extern const char ocsf__schema_version[];

const ocsf__class_info_t *ocsf__class(int class_uid);

/* Caption at `id` of a table, NULL when out of range or undefined. */
static inline const char *ocsf__cap(const char *const *tab, int64_t id)
{
    return tab && id >= 0 && id < OCSF__ENUM_MAX ? tab[id] : NULL;
}

/* Decodes one UTF-8 sequence at s[0..n). Returns its length (1..4) and the
 * code point in *cp, or 0 when the bytes are not valid UTF-8 (overlong,
 * surrogate, above U+10FFFF, truncated). */
size_t ocsf__utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
/* Where to cut s to at most n bytes without splitting a UTF-8 sequence:
 * the largest m <= n (m >= n - 3) with s[m] not a continuation byte. s must
 * hold at least n + 1 bytes. */
size_t ocsf__utf8_cut(const char *s, size_t n);

#endif
