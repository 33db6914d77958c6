/*
 * file_conf.c: the file sink's configuration: its options table (dir,
 * rotate_bytes, rotate_interval, compress, zstd_level, keep_files,
 * keep_bytes, human_log, fsync), check and dispose. The sink is file.c.
 * Threads: the config loader's and the exporter's (open checks again).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "exporters/file/file_internal.h"

#define O(f) offsetof(file_config_t, f)

const conf_option_t file__options[] = {
    {"dir", CONF_STRING, NULL, 0, 0, NULL, O(dir),
     "directory of the files (created when missing); required"},
    {"rotate_bytes", CONF_BYTES, "256MiB", 1024, 1ll << 40, NULL, O(rotate_bytes),
     "the active file rotates once it holds this many bytes"},
    {"rotate_interval", CONF_DURATION, "24h", 1, 366ll * 86400000, NULL, O(rotate_interval_ms),
     "the active file rotates once it is this old (files are also one per UTC day)"},
    {"compress", CONF_ENUM, "zstd", 0, 0, "zstd|none", O(compress),
     "compress rotated files to .zst"},
    {"zstd_level", CONF_INT, "3", -7, 22, NULL, O(zstd_level), "zstd compression level"},
    {"keep_files", CONF_INT, "30", 0, 1000000, NULL, O(keep_files),
     "keep at most this many rotated files, oldest removed first (0: keep all)"},
    {"keep_bytes", CONF_BYTES, "0", 0, INT64_MAX, NULL, O(keep_bytes),
     "keep at most this many bytes of rotated files, oldest removed first (0: no limit)"},
    {"human_log", CONF_ENUM, "off", 0, 0, "off|on", O(human_log),
     "also write the human log line of each event to tollgate-YYYY-MM-DD.log"},
    {"fsync", CONF_ENUM, "batch", 0, 0, "batch|never", O(fsync),
     "fdatasync after every batch before acknowledging it, or acknowledge after write()"},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL},
};

int file__check(const void *config, char *err, size_t errlen)
{
    const file_config_t *c = config;
    if (!c->dir || !c->dir[0]) {
        snprintf(err, errlen, "dir: required");
        return -EINVAL;
    }
    return 0;
}

void file__dispose(void *config)
{
    conf_dispose(file__options, config);
}
