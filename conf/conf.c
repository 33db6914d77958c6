/*
 * conf.c: the declarative configuration tables (see conf.h).
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "conf/conf.h"
#include "ocsf/ocsf.h"

static int parse_int(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return -EINVAL;
    *out = v;
    return 0;
}

/* "<number><unit>" pairs, e.g. "1h30m", "64MiB". units: {name, factor}. */
static int parse_units(const char *s, const char *const *names, const int64_t *factors,
                       size_t nunits, bool need_unit, int64_t *out)
{
    int64_t total = 0;
    const char *p = s;
    if (!*p)
        return -EINVAL;
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return -EINVAL;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(p, &end, 10);
        if (errno)
            return -ERANGE;
        p = end;
        size_t ul = 0;
        while (isalpha((unsigned char)p[ul]))
            ul++;
        int64_t f = 0;
        for (size_t i = 0; i < nunits; i++)
            if (strlen(names[i]) == ul && strncasecmp(names[i], p, ul) == 0)
                f = factors[i];
        if (ul == 0 && !need_unit && !*p && p != s)
            f = 1;
        if (!f)
            return -EINVAL;
        if (v > (unsigned long long)(INT64_MAX / f) || total > INT64_MAX - (int64_t)v * f)
            return -ERANGE;
        total += (int64_t)v * f;
        p += ul;
    }
    *out = total;
    return 0;
}

int conf_parse_bytes(const char *s, int64_t *out)
{
    static const char *const n[] = {"b",   "k", "kb", "kib", "m", "mb",
                                    "mib", "g", "gb", "gib", "t", "tib"};
    static const int64_t f[] = {1,         1ll << 10, 1000,       1ll << 10, 1ll << 20, 1000000,
                                1ll << 20, 1ll << 30, 1000000000, 1ll << 30, 1ll << 40, 1ll << 40};
    return parse_units(s, n, f, sizeof f / sizeof f[0], false, out);
}

int conf_parse_duration_ms(const char *s, int64_t *out)
{
    static const char *const n[] = {"ms", "s", "m", "h", "d", "w"};
    static const int64_t f[] = {1, 1000, 60000, 3600000, 86400000, 604800000};
    return parse_units(s, n, f, sizeof f / sizeof f[0], true, out);
}

static const conf_option_t *find(const conf_option_t *tab, const char *key)
{
    for (; tab->name; tab++)
        if (strcmp(tab->name, key) == 0)
            return tab;
    return NULL;
}

/* The value, escaped for an error message (it came from a file). */
static const char *shown(ocsf_buf_t *b, const char *v)
{
    ocsf_text_escape(b, v, strlen(v), 80, 0);
    return ocsf_buf_cstr(b);
}

static int set_one(const conf_option_t *o, void *obj, const char *value, char *err, size_t errlen)
{
    char *field = (char *)obj + o->offset;
    int64_t v = 0;
    int rc = 0;
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    switch (o->type) {
    case CONF_STRING: {
        char *copy = strdup(value);
        if (!copy)
            abort();
        free(*(char **)(void *)field);
        *(char **)(void *)field = copy;
        goto out;
    }
    case CONF_ENUM: {
        const char *c = o->choices;
        size_t len = strlen(value);
        for (int idx = 0; c && *c; idx++) {
            size_t n = strcspn(c, "|");
            if (n == len && strncmp(c, value, n) == 0) {
                *(int *)(void *)field = idx;
                goto out;
            }
            c += n + (c[n] == '|');
        }
        snprintf(err, errlen, "%s: '%s' is not one of %s", o->name, shown(&b, value), o->choices);
        rc = -EINVAL;
        goto out;
    }
    case CONF_INT: rc = parse_int(value, &v); break;
    case CONF_BYTES: rc = conf_parse_bytes(value, &v); break;
    case CONF_DURATION: rc = conf_parse_duration_ms(value, &v); break;
    }
    if (rc) {
        snprintf(err, errlen, "%s: '%s' is not a valid %s", o->name, shown(&b, value),
                 o->type == CONF_BYTES      ? "size (e.g. 64MiB)"
                 : o->type == CONF_DURATION ? "duration (e.g. 100ms, 30s, 7d)"
                                            : "integer");
    } else if (v < o->min || v > o->max) {
        snprintf(err, errlen, "%s: %s is out of range [%" PRId64 ", %" PRId64 "]", o->name,
                 shown(&b, value), o->min, o->max);
        rc = -ERANGE;
    } else {
        *(int64_t *)(void *)field = v;
    }
out:
    ocsf_buf_dispose(&b);
    return rc;
}

int conf_set(const conf_option_t *tab, void *obj, const char *key, const char *value, char *err,
             size_t errlen)
{
    const conf_option_t *o = find(tab, key);
    if (!o) {
        ocsf_buf_t b;
        ocsf_buf_init(&b);
        snprintf(err, errlen, "unknown key '%s'", shown(&b, key));
        ocsf_buf_dispose(&b);
        return -ENOENT;
    }
    return set_one(o, obj, value, err, errlen);
}

int conf_defaults(const conf_option_t *tab, void *obj)
{
    char err[256];
    for (const conf_option_t *o = tab; o->name; o++) {
        if (o->type == CONF_STRING)
            *(char **)(void *)((char *)obj + o->offset) = NULL;
        if (o->def && set_one(o, obj, o->def, err, sizeof err) != 0)
            return -EINVAL;
    }
    return 0;
}

void conf_dispose(const conf_option_t *tab, void *obj)
{
    for (const conf_option_t *o = tab; o->name; o++) {
        if (o->type != CONF_STRING)
            continue;
        char **p = (char **)(void *)((char *)obj + o->offset);
        free(*p);
        *p = NULL;
    }
}

void conf_print_reference(FILE *f, const conf_option_t *tab)
{
    static const char *const tn[] = {"int", "bytes", "duration", "enum", "string"};
    for (const conf_option_t *o = tab; o->name; o++) {
        fprintf(f, "  %-28s %-9s default %-10s %s", o->name, tn[o->type], o->def ? o->def : "-",
                o->desc);
        if (o->type == CONF_ENUM)
            fprintf(f, " (%s)", o->choices);
        fputc('\n', f);
    }
}

typedef struct {
    yaml_parser_t parser;
    const char *path;
    const conf_option_t *const *tabs;
    void *const *objs;
    size_t n;
    const conf_list_t *lists;
    size_t nlists;
    char *err;
    size_t errlen;
} loader_t;

#define CONF_ITEM_MAX 128 /* keys in one list item */

static int next_event(loader_t *l, yaml_event_t *ev)
{
    if (yaml_parser_parse(&l->parser, ev))
        return 0;
    snprintf(l->err, l->errlen, "%s:%zu: %s", l->path, l->parser.problem_mark.line + 1,
             l->parser.problem ? l->parser.problem : "YAML syntax error");
    return -EINVAL;
}

static int apply(loader_t *l, const char *key, const char *value, size_t line)
{
    char why[256];
    for (size_t i = 0; i < l->n; i++) {
        int rc = conf_set(l->tabs[i], l->objs[i], key, value, why, sizeof why);
        if (rc == -ENOENT)
            continue;
        if (rc)
            snprintf(l->err, l->errlen, "%s:%zu: %s", l->path, line, why);
        return rc;
    }
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    snprintf(l->err, l->errlen, "%s:%zu: unknown key '%s'", l->path, line, shown(&b, key));
    ocsf_buf_dispose(&b);
    return -ENOENT;
}

typedef struct {
    conf_kv_t kv[CONF_ITEM_MAX];
    size_t n;
} item_t;

static void item_dispose(item_t *it)
{
    for (size_t i = 0; i < it->n; i++) {
        free((char *)it->kv[i].key);
        free((char *)it->kv[i].value);
    }
    it->n = 0;
}

/* Takes the value event of one key: 0, a negative error (l->err set), or 1
 * when the event is not a value it takes. */
typedef int (*value_fn)(loader_t *l, void *ctx, const char *key, const yaml_event_t *ev,
                        size_t line);

/* Walks one mapping (the MAPPING_START is read), nested mappings flattened
 * into dotted keys under prefix, handing every other value to fn. */
static int walk_mapping(loader_t *l, const char *prefix, int depth, value_fn fn, void *ctx)
{
    yaml_event_t ev;
    int rc;
    if (depth > 8) {
        snprintf(l->err, l->errlen, "%s: nested too deep", l->path);
        return -EINVAL;
    }
    for (;;) {
        if ((rc = next_event(l, &ev)))
            return rc;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            return 0;
        }
        size_t line = ev.start_mark.line + 1;
        if (ev.type != YAML_SCALAR_EVENT) {
            yaml_event_delete(&ev);
            snprintf(l->err, l->errlen, "%s:%zu: expected a key", l->path, line);
            return -EINVAL;
        }
        char key[256];
        snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "",
                 (const char *)ev.data.scalar.value);
        yaml_event_delete(&ev);
        if ((rc = next_event(l, &ev)))
            return rc;
        if (ev.type == YAML_MAPPING_START_EVENT)
            rc = walk_mapping(l, key, depth + 1, fn, ctx);
        else
            rc = fn(l, ctx, key, &ev, line);
        if (rc == 1) {
            ocsf_buf_t b;
            ocsf_buf_init(&b);
            snprintf(l->err, l->errlen, "%s:%zu: %s: expected a value or a mapping", l->path, line,
                     shown(&b, key));
            ocsf_buf_dispose(&b);
            rc = -EINVAL;
        }
        yaml_event_delete(&ev);
        if (rc)
            return rc;
    }
}

/* A value of a list item: a scalar, added to the item (ctx). */
static int item_value(loader_t *l, void *ctx, const char *key, const yaml_event_t *ev, size_t line)
{
    item_t *it = ctx;
    if (ev->type != YAML_SCALAR_EVENT)
        return 1;
    if (it->n == CONF_ITEM_MAX) {
        snprintf(l->err, l->errlen, "%s:%zu: more than %d keys in one item", l->path, line,
                 CONF_ITEM_MAX);
        return -E2BIG;
    }
    it->kv[it->n++] = (conf_kv_t){strdup(key), strdup((const char *)ev->data.scalar.value), line};
    return 0;
}

/* a sequence of mappings under a list key (the SEQUENCE_START is read) */
static int load_list(loader_t *l, const conf_list_t *list)
{
    yaml_event_t ev;
    int rc;
    item_t *it = calloc(1, sizeof *it);
    if (!it)
        return -ENOMEM;
    for (;;) {
        if ((rc = next_event(l, &ev)))
            break;
        size_t line = ev.start_mark.line + 1;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        bool map = ev.type == YAML_MAPPING_START_EVENT;
        yaml_event_delete(&ev);
        if (!map) {
            snprintf(l->err, l->errlen, "%s:%zu: %s: each item must be a mapping", l->path, line,
                     list->name);
            rc = -EINVAL;
            break;
        }
        if ((rc = walk_mapping(l, "", 0, item_value, it)) == 0) {
            char why[512];
            size_t bad = line;
            why[0] = '\0';
            rc = list->cb(list->ctx, it->kv, it->n, line, why, sizeof why, &bad);
            if (rc)
                snprintf(l->err, l->errlen, "%s:%zu: %s", l->path, bad, why);
        }
        item_dispose(it);
        if (rc)
            break;
    }
    item_dispose(it);
    free(it);
    return rc;
}

/* A value of the file: a scalar for the option tables, or a list key's
 * sequence. */
static int file_value(loader_t *l, void *ctx, const char *key, const yaml_event_t *ev, size_t line)
{
    (void)ctx;
    const conf_list_t *list = NULL;
    for (size_t i = 0; i < l->nlists; i++)
        if (strcmp(l->lists[i].name, key) == 0)
            list = &l->lists[i];
    if (list && ev->type == YAML_SEQUENCE_START_EVENT)
        return load_list(l, list);
    if (ev->type == YAML_SCALAR_EVENT)
        return apply(l, key, (const char *)ev->data.scalar.value, line);
    return 1;
}

int conf_load_file(const char *path, const conf_option_t *const *tabs, void *const *objs, size_t n,
                   char *err, size_t errlen)
{
    return conf_load_file_lists(path, tabs, objs, n, NULL, 0, err, errlen);
}

int conf_load_file_lists(const char *path, const conf_option_t *const *tabs, void *const *objs,
                         size_t n, const conf_list_t *lists, size_t nlists, char *err,
                         size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -errno;
    }
    loader_t l = {.path = path,
                  .tabs = tabs,
                  .objs = objs,
                  .n = n,
                  .lists = lists,
                  .nlists = nlists,
                  .err = err,
                  .errlen = errlen};
    yaml_parser_initialize(&l.parser);
    yaml_parser_set_input_file(&l.parser, f);
    yaml_event_t ev;
    int rc = 0;
    bool done = false;
    while (!done && rc == 0 && (rc = next_event(&l, &ev)) == 0) {
        switch (ev.type) {
        case YAML_STREAM_END_EVENT: done = true; break;
        case YAML_MAPPING_START_EVENT: rc = walk_mapping(&l, "", 0, file_value, NULL); break;
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_START_EVENT:
        case YAML_DOCUMENT_END_EVENT: break;
        default:
            snprintf(err, errlen, "%s:%zu: expected a mapping of settings", path,
                     ev.start_mark.line + 1);
            rc = -EINVAL;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&l.parser);
    fclose(f);
    return rc;
}
