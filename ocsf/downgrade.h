/*
 * downgrade.h: rewrites an OCSF 1.7.0 event as OCSF 1.3.0 or 1.1.0, for the
 * exporters whose SIEM still ingests an older schema (`ocsf_version:`).
 *
 * What changes (against the target's schemas/ocsf-<version>.json subset,
 * compiled into build/gen/ocsf_downgrade_tables.c at build time):
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
 *    is then "1.7.0", and so on.
 *  - An attribute the target requires (or a constraint, at_least_one /
 *    just_one, that the event no longer meets) gets a value only then: an
 *    endpoint's hostname from its domain, else a placeholder ("unknown", 0,
 *    an empty object with its own required attributes). Every path filled
 *    this way is listed in `unmapped["tollgate.downgrade.filled"]`, so a
 *    reader can tell invented values from observed ones.
 *  - The event's own `unmapped` keys stay. If one already holds a path the
 *    downgrade needs, with a different value, the call fails (nothing lost
 *    silently).
 * So every attribute of the input is in the output, in place or under
 * unmapped, and the output validates against the target
 * (../shared/ocsf/validate.py --schema VERSION --warnings-fail).
 *
 * The output is compact JSON, keys sorted at every level, strings through
 * ocsf_json_escape() (so a string longer than OCSF_MAX_FIELD is cut, as the
 * encoder does).
 */
#ifndef TOLLGATE_OCSF_DOWNGRADE_H
#define TOLLGATE_OCSF_DOWNGRADE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ocsf/ocsf.h"

/* Appends `json` (one event, `len` bytes, borrowed) rewritten for
 * `target_version` ("1.7.0", "1.3.0" or "1.1.0") to `out`, no newline.
 * "1.7.0" appends the input unchanged (no parse). Returns 0, or -EINVAL with
 * err for an unknown version, input that is not a JSON object (or has no
 * integer class_uid / no metadata object), a class the target lacks, or an
 * unmapped key clash; nothing is appended on error.
 * Thread: any; no shared mutable state (the tables are const). */
int ocsf_downgrade(const char *json, size_t len, const char *target_version, ocsf_buf_t *out,
                   char *err, size_t errlen);

/* True when ocsf_downgrade() accepts `version`. */
bool ocsf_downgrade_supported(const char *version);

/* ---- internal: the generated tables (schemas/gen_downgrade.py) ---------- */

enum {
    OCSF__DG_STRING,
    OCSF__DG_INT,
    OCSF__DG_BOOL,
    OCSF__DG_FLOAT,
    OCSF__DG_OBJECT,
    OCSF__DG_JSON
};

typedef struct {
    int64_t id;
    const char *caption;
} ocsf__dg_enum_t;

typedef struct {
    const char *name;    /* sorted by strcmp within an object */
    const char *type;    /* the schema type: "ip_t", "string_t", "object_t", ... */
    const char *sibling; /* caption attribute of an enum id; NULL if none */
    unsigned char kind;  /* OCSF__DG_* */
    bool is_array, required;
    uint32_t profiles;            /* bit i: the target's profiles[i]; 0: core */
    int object;                   /* index into the target's objects; -1: none or not extracted */
    const ocsf__dg_enum_t *enums; /* sorted by id */
    size_t nenums;
} ocsf__dg_attr_t;

typedef struct {
    const char *name;
    const ocsf__dg_attr_t *attrs;
    size_t nattrs;
    const char *const *at_least_one, *const *just_one;
    size_t n_at_least_one, n_just_one;
} ocsf__dg_object_t;

typedef struct {
    int uid, category_uid;
    const char *caption, *category_name;
    uint32_t profiles; /* the profiles that apply to the class */
    ocsf__dg_object_t o;
} ocsf__dg_class_t;

typedef struct {
    const char *version;
    const char *const *profiles; /* bit order of the masks */
    size_t nprofiles;
    const ocsf__dg_class_t *classes;
    size_t nclasses;
    const ocsf__dg_object_t *objects;
    size_t nobjects;
} ocsf__dg_schema_t;

extern const ocsf__dg_schema_t *const ocsf__dg_schemas[];
extern const size_t ocsf__dg_nschemas;

#endif
