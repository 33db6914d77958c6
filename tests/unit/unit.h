/*
 * unit.h: shared helpers of the cmocka unit tests (header-only; each test
 * file is its own binary).
 */
#ifndef TOLLGATE_UNIT_H
#define TOLLGATE_UNIT_H

#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "ocsf/ocsf.h"

#define MAX_SAMPLES 32

/* Makes a fresh directory $TMPDIR/tg-<tag>-XXXXXX (/tmp without TMPDIR)
 * and writes its path to dir. 0, or -1 when it could not. */
static inline int unit_tmpdir_make(char *dir, size_t n, const char *tag)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(dir, n, "%s/tg-%s-XXXXXX", base, tag);
    return mkdtemp(dir) ? 0 : -1;
}

static inline int unit__rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(p);
}

/* Removes dir and everything below it (links are removed, not followed). */
static inline void unit_tmpdir_remove(const char *dir)
{
    nftw(dir, unit__rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Encodes ev; fails the test on error. Returns a NUL-terminated copy. */
static inline char *unit_encode(const ocsf_event_t *ev)
{
    ocsf_buf_t b;
    char err[256];
    ocsf_buf_init(&b);
    int rc = ocsf_encode(ev, &b, err, sizeof err);
    if (rc != 0)
        fail_msg("encode: %s", err);
    ocsf_buf_cstr(&b);
    return b.p;
}

/* Renders ev in fmt (encoded, then ocsf_render_json, as `tollgate logs`
 * does); returns a NUL-terminated heap string. */
static inline char *unit_render(const ocsf_event_t *ev, ocsf_line_fmt_t fmt)
{
    char err[256];
    char *json = unit_encode(ev);
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    if (ocsf_render_json(json, strlen(json), fmt, &b, err, sizeof err) != 0)
        fail_msg("render: %s", err);
    free(json);
    ocsf_buf_cstr(&b);
    return b.p;
}

/* Runs fn over each file that `ls pattern` lists (the fuzzers' finds, as
 * fuzz/crashes/...; the tests run from the repository root) with its first
 * MiB. Returns how many files it ran. */
static inline int unit_each_find(const char *pattern,
                                 void (*fn)(const char *path, char *buf, size_t n))
{
    char cmd[512], path[512];
    snprintf(cmd, sizeof cmd, "ls %s 2>/dev/null", pattern);
    FILE *ls = popen(cmd, "r");
    int seen = 0;
    while (ls && fgets(path, sizeof path, ls)) {
        path[strcspn(path, "\n")] = '\0';
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        char *buf = malloc(1 << 20);
        assert_non_null(buf);
        size_t n = fread(buf, 1, 1 << 20, f);
        fclose(f);
        fn(path, buf, n);
        free(buf);
        seen++;
    }
    if (ls)
        pclose(ls);
    return seen;
}

/* True when s[0..n) is valid UTF-8 with no byte < 0x20 and no 0x7f. */
static inline int unit_clean_line(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        if (u[i] < 0x20 || u[i] == 0x7f)
            return 0;
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t len = u[i] >= 0xf0 ? 4 : u[i] >= 0xe0 ? 3 : u[i] >= 0xc0 ? 2 : 0;
        if (len == 0 || i + len > n)
            return 0;
        for (size_t k = 1; k < len; k++)
            if ((u[i + k] & 0xc0) != 0x80)
                return 0;
        i += len;
    }
    return 1;
}

#endif
