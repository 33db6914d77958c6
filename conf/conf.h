/*
 * conf.h: one declarative table per component (name, type, default,
 * bounds, offset, description). The same table sets the defaults, parses a
 * YAML file (nested maps flatten to dotted keys: `spool: {fsync: always}`
 * is `spool.fsync`), rejects unknown keys and bad values with file and
 * line, applies `--set key=value` overrides, and prints the reference.
 *
 * No global state; every function works on the caller's struct.
 */
#ifndef TOLLGATE_CONF_H
#define TOLLGATE_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    CONF_INT,      /* int64_t; min/max bound it */
    CONF_BYTES,    /* int64_t; "64MiB", "1GiB", "4096" */
    CONF_DURATION, /* int64_t milliseconds; "100ms", "30s", "7d", "1h30m" */
    CONF_ENUM,     /* int; `choices` is "always|interval|never", the index is stored */
    CONF_STRING,   /* char * (heap, owned by the struct: conf_dispose frees it) */
} conf_type_t;

typedef struct {
    const char *name; /* "spool.fsync" */
    conf_type_t type;
    const char *def;  /* default, written as in a file; NULL: unset (strings) */
    int64_t min, max; /* INT, BYTES, DURATION */
    const char *choices;
    size_t offset; /* into the component's struct */
    const char *desc;
} conf_option_t;

/* Sets every option of tab in obj to its default. 0 or -EINVAL (a bad
 * default: a bug). */
int conf_defaults(const conf_option_t *tab, void *obj);
/* Frees the strings the table put in obj. */
void conf_dispose(const conf_option_t *tab, void *obj);

/* Sets one option from text; err says why not ("spool.fsync: 'sometimes'
 * is not one of always|interval|never"). -ENOENT for an unknown key. */
int conf_set(const conf_option_t *tab, void *obj, const char *key, const char *value, char *err,
             size_t errlen);

/* Parses a YAML file; each key goes to the first table that knows it.
 * tabs/objs are n parallel arrays. Errors name the file and line. */
int conf_load_file(const char *path, const conf_option_t *const *tabs, void *const *objs, size_t n,
                   char *err, size_t errlen);

/* Lists of maps (`exporters: [{name: a, type: file, dir: /x}, ...]`): a
 * key named in `lists` may hold a sequence of mappings; each item is
 * flattened (nested maps to dotted keys) and handed to cb with the line of
 * every key. cb returns 0, or -errno with why and *bad_line set. */
typedef struct {
    const char *key, *value;
    size_t line;
} conf_kv_t;
typedef int (*conf_item_cb)(void *ctx, const conf_kv_t *kv, size_t n, size_t item_line, char *why,
                            size_t whylen, size_t *bad_line);
typedef struct {
    const char *name;
    conf_item_cb cb;
    void *ctx;
} conf_list_t;

/* conf_load_file, plus lists. */
int conf_load_file_lists(const char *path, const conf_option_t *const *tabs, void *const *objs,
                         size_t n, const conf_list_t *lists, size_t nlists, char *err,
                         size_t errlen);

/* Parses a size or a duration (used by options and by the CLI). */
int conf_parse_bytes(const char *s, int64_t *out);
int conf_parse_duration_ms(const char *s, int64_t *out);

/* Prints the reference: one line per option (name, type, default, desc). */
void conf_print_reference(FILE *f, const conf_option_t *tab);

#endif
