/*
 * schema.h: the bundled OCSF schemas as const tables (internal to ocsf/).
 *
 * Generated at build time by schemas/gen_schema.py from schemas/ocsf/<version>.json
 * (build/gen/ocsf_schema_tables.c): every class, object, attribute, enum
 * caption and profile of each bundled version. check.c validates any event
 * with them; cast.c rewrites an event from one version into another.
 */
#ifndef TOLLGATE_OCSF_SCHEMA_H
#define TOLLGATE_OCSF_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include "ocsf/ocsf.h"

/* How a value is checked (the attribute type's base type). */
enum {
    OCSF__K_STRING,
    OCSF__K_INT, /* integer_t, long_t, timestamp_t, port_t */
    OCSF__K_FLOAT,
    OCSF__K_BOOL,
    OCSF__K_OBJECT,
    OCSF__K_JSON,
};

/* Typed strings: one checker per regex the schemas carry. */
enum {
    OCSF__CHK_NONE,
    OCSF__CHK_UUID,
    OCSF__CHK_IP,
    OCSF__CHK_MAC,
    OCSF__CHK_HOSTNAME,
    OCSF__CHK_HEX,
    OCSF__CHK_BASE64,
    OCSF__CHK_EMAIL11,
    OCSF__CHK_EMAIL13,
    OCSF__CHK_DATETIME11,
    OCSF__CHK_DATETIME17,
};

enum {
    OCSF__A_ARRAY = 0x1,
    OCSF__A_REQUIRED = 0x2,
    OCSF__A_ENUM = 0x4,       /* the value must be one of the enum ids */
    OCSF__A_PORT = 0x8,       /* port_t: 0..65535 */
    OCSF__A_TIMESTAMP = 0x10, /* timestamp_t: milliseconds (a warning otherwise) */
    OCSF__A_UNMAPPED = 0x20,  /* "unmapped": any object, not looked into */
};

typedef struct {
    int64_t id;
    const char *caption;
} ocsf__enum_t;

typedef struct {
    const char *name;
    uint16_t name_len;
    uint8_t kind, check;
    uint8_t flags;
    int16_t object;  /* index into the version's objects; -1: any object */
    int16_t sibling; /* index of the caption attribute in the same table; -1 */
    uint32_t enum_off;
    uint16_t enum_n;   /* ids (sorted) for the value and sibling checks; 0: none */
    uint32_t max_len;  /* characters; 0: none */
    uint32_t profiles; /* profile bits; 0: core */
    const char *type;  /* "ip_t", for messages */
} ocsf__attr_t;

typedef struct {
    const ocsf__attr_t *attrs; /* sorted by name (bytes) */
    uint16_t n;
    const uint16_t *cons; /* at_least_one indexes, then just_one indexes */
    uint8_t nalo, njo;
    const char *const *paths; /* a cons index n + i: the dotted path paths[i] */
} ocsf__body_t;

typedef struct {
    const char *name;
    ocsf__body_t b;
} ocsf__obj_t;

typedef struct {
    int uid;
    const char *name, *caption;
    int category_uid;
    const char *category_name;
    uint32_t profiles; /* the profiles that apply to the class */
    ocsf__body_t b;
} ocsf__class_t;

struct ocsf_schema {
    const char *version;
    const ocsf__class_t *classes; /* sorted by uid */
    size_t nclasses;
    const ocsf__obj_t *objects; /* sorted by name */
    size_t nobjects;
    const ocsf__enum_t *enums;
    const char *const *profiles; /* bit i: profiles[i] */
    size_t nprofiles;
    int datetime_bit;   /* the `datetime` profile's bit; -1 */
    int datetime_check; /* OCSF__CHK_DATETIME* of the version's datetime_t */
};

extern const ocsf_schema_t *const ocsf__schemas[]; /* NULL-terminated, oldest first */
extern const char ocsf__versions_list[];           /* "1.1.0, 1.3.0, ..." */

const ocsf__class_t *ocsf__schema_class(const ocsf_schema_t *s, int64_t uid);
const ocsf__attr_t *ocsf__body_attr(const ocsf__body_t *b, const char *key, size_t n);
/* Profile bit of `name`, -1 when the version has no such profile. */
int ocsf__schema_profile(const ocsf_schema_t *s, const char *name, size_t n);
/* The enum entry of id `id` of attribute a; NULL when not an id of it. */
const ocsf__enum_t *ocsf__attr_enum(const ocsf_schema_t *s, const ocsf__attr_t *a, int64_t id);
/* Caption of enum id `id` of attribute a; NULL when not an id of it. */
const char *ocsf__attr_caption(const ocsf_schema_t *s, const ocsf__attr_t *a, int64_t id);

#endif
