/*
 * history.c: every version of each sandbox's policy, for `policy list` and
 * `policy get --rev N`.
 *
 * <state>/sandboxes/<name>.history/<version>.json holds one version:
 * {version, hash, created_ms, summary, base, base_yaml, full, full_yaml}
 * (base: the user's policy; full: the effective one with its provider
 * layers, as `policy get` shows them), written atomically once and never
 * changed. Deleting the sandbox deletes its history. A version missing from
 * the history (made before the history existed) is reported as not stored.
 *
 * Thread: the gateway loop (blocking file I/O, as sandbox.c's saves).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "gateway/gw_internal.h"

#define HISTORY_SCAN_MAX 100000 /* versions looked at by one listing */

static void dir_path(gw__t *g, const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/sandboxes/%s.history", g->state_dir, name);
}

static void file_path(gw__t *g, const char *name, uint64_t version, char *out, size_t n)
{
    snprintf(out, n, "%s/sandboxes/%s.history/%llu.json", g->state_dir, name,
             (unsigned long long)version);
}

/* A policy's canonical JSON as a tree (new reference; null when absent). */
static json_t *tree(const pol_policy_t *p, bool layers)
{
    char *s = p ? pol_to_json(p, layers) : NULL;
    json_error_t e;
    json_t *o = s ? json_loads(s, 0, &e) : NULL;
    free(s);
    return o ? o : json_null();
}

void gw__history_record(gw__t *g, const gw__sandbox_t *sb, const char *summary)
{
    char dir[4400], path[4500];
    dir_path(g, sb->name, dir, sizeof dir);
    file_path(g, sb->name, sb->version, path, sizeof path);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "[gateway:history] mkdir %s: %s; version %llu of %s not kept\n", dir,
                strerror(errno), (unsigned long long)sb->version, sb->name);
        return;
    }
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    char *by = pol_to_yaml(sb->base, false), *fy = pol_to_yaml(sb->effective, true);
    json_t *o =
        json_pack("{s:I,s:s,s:I,s:s,s:o,s:s,s:o,s:s}", "version", (json_int_t)sb->version, "hash",
                  sb->hash, "created_ms", (json_int_t)(tv.tv_sec * 1000 + tv.tv_usec / 1000),
                  "summary", summary ? summary : "", "base", tree(sb->base, false), "base_yaml",
                  by ? by : "", "full", tree(sb->effective, true), "full_yaml", fy ? fy : "");
    free(by);
    free(fy);
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    int rc = text ? gw__write_atomic(path, dir, text, strlen(text)) : -ENOMEM;
    free(text);
    if (rc)
        fprintf(stderr, "[gateway:history] write %s: %s; version %llu of %s not kept\n", path,
                strerror(-rc), (unsigned long long)sb->version, sb->name);
}

json_t *gw__history_get(gw__t *g, const gw__sandbox_t *sb, uint64_t version)
{
    char path[4500];
    file_path(g, sb->name, version, path, sizeof path);
    json_error_t e;
    json_t *o = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
    if (o && (!json_is_object(o) ||
              (uint64_t)json_integer_value(json_object_get(o, "version")) != version)) {
        fprintf(stderr, "[gateway:history] %s: not a version record; ignored\n", path);
        json_decref(o);
        o = NULL;
    }
    return o;
}

json_t *gw__history_list(gw__t *g, const gw__sandbox_t *sb, size_t limit)
{
    json_t *a = json_array();
    size_t scanned = 0;
    for (uint64_t v = sb->version; v >= 1 && json_array_size(a) < limit; v--) {
        if (++scanned > HISTORY_SCAN_MAX)
            break;
        json_t *o = gw__history_get(g, sb, v);
        if (!o)
            continue;
        json_array_append_new(
            a, json_pack("{s:O,s:O,s:O,s:O}", "version", json_object_get(o, "version"), "hash",
                         json_object_get(o, "hash"), "created_ms", json_object_get(o, "created_ms"),
                         "summary", json_object_get(o, "summary")));
        json_decref(o);
    }
    return a;
}

void gw__history_remove(gw__t *g, const char *name)
{
    char dir[4400];
    dir_path(g, name, dir, sizeof dir);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[4800];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    if (rmdir(dir) != 0 && errno != ENOENT)
        fprintf(stderr, "[gateway:history] rmdir %s: %s\n", dir, strerror(errno));
}
