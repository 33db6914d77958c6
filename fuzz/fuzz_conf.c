/*
 * fuzz_conf.c: conf_load_file_lists() on arbitrary bytes, with the real
 * tables `tollgate gateway --config FILE` loads (cli/cmd_gateway.c):
 * gw_options, col_options and px_options, in that order, and the
 * `exporters:` list (every sink type's options, set_extra and check).
 *
 * The input is written to a memfd and loaded through /proc/self/fd/N, so
 * the loader reads it with its own fopen() like any file.
 *
 * Invariants (abort() on the first one broken):
 *  - the return is 0 or a negative errno;
 *  - on error, err is NUL-terminated, non-empty, starts with the file name
 *    and a ':' (conf.h: errors name the file), and is one line safe on a
 *    terminal: well-formed UTF-8, no C0/DEL/C1, no U+2028/U+2029, no bidi
 *    controls (it quotes keys and values that came from the file);
 *  - on success every option of the three tables holds a value its own row
 *    allows: INT, BYTES and DURATION within [min, max], an ENUM index
 *    within its choices, a STRING NULL or NUL-terminated;
 *  - on either outcome the structs free cleanly (ASan: no double free, no
 *    leak of a replaced string).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "collector/collector.h"
#include "collector/export.h"
#include "conf/conf.h"
#include "fuzz/check.h"
#include "gateway/gateway.h"
#include "proxy/proxy.h"

/* The input file, made once and rewritten for every input. */
static int input_fd = -1;
static char input_path[64];

static void write_input(const uint8_t *data, size_t size)
{
    if (input_fd < 0) {
        input_fd = memfd_create("fuzz_conf.yaml", MFD_CLOEXEC);
        if (input_fd < 0)
            chk_fail("memfd_create failed", NULL, 0, 0);
        snprintf(input_path, sizeof input_path, "/proc/self/fd/%d", input_fd);
    }
    if (ftruncate(input_fd, 0) != 0)
        chk_fail("ftruncate of the input file failed", NULL, 0, 0);
    for (size_t off = 0; off < size;) {
        ssize_t n = pwrite(input_fd, data + off, size - off, (off_t)off);
        if (n <= 0)
            chk_fail("writing the input file failed", NULL, 0, 0);
        off += (size_t)n;
    }
}

static void check_error(int rc, const char *err, size_t errlen)
{
    if (rc >= 0 || rc < -4095)
        chk_fail("conf_load_file returned neither 0 nor a negative errno", NULL, 0, 0);
    size_t n = strnlen(err, errlen);
    if (n == errlen)
        chk_fail("config error text is not NUL-terminated", err, errlen, 0);
    if (n == 0)
        chk_fail("conf_load_file failed without saying why", NULL, 0, 0);
    size_t pl = strlen(input_path);
    if (n <= pl || memcmp(err, input_path, pl) != 0 || err[pl] != ':')
        chk_fail("config error text does not start with the file name", err, n, 0);
    chk_clean("config error text", err, n, CHK_TEXT_LINE);
}

static size_t enum_choices(const char *choices)
{
    size_t k = 1;
    for (const char *c = choices; *c; c++)
        k += *c == '|';
    return k;
}

/* Every value in obj is one its row of tab allows. */
static void check_values(const conf_option_t *tab, const void *obj)
{
    char msg[256];
    for (const conf_option_t *o = tab; o->name; o++) {
        const char *field = (const char *)obj + o->offset;
        switch (o->type) {
        case CONF_INT:
        case CONF_BYTES:
        case CONF_DURATION: {
            int64_t v;
            memcpy(&v, field, sizeof v);
            if (v < o->min || v > o->max) {
                snprintf(msg, sizeof msg, "%s = %lld is outside [%lld, %lld] after a load", o->name,
                         (long long)v, (long long)o->min, (long long)o->max);
                chk_fail(msg, NULL, 0, 0);
            }
            break;
        }
        case CONF_ENUM: {
            int v;
            memcpy(&v, field, sizeof v);
            if (v < 0 || (size_t)v >= enum_choices(o->choices)) {
                snprintf(msg, sizeof msg, "%s = %d is not an index of %s after a load", o->name, v,
                         o->choices);
                chk_fail(msg, NULL, 0, 0);
            }
            break;
        }
        case CONF_STRING: {
            const char *s;
            memcpy(&s, field, sizeof s);
            if (s)
                (void)strlen(s); /* ASan: a freed or unterminated string shows */
            break;
        }
        default: chk_fail("an option of an unknown type", o->name, strlen(o->name), 0);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gw_config_t gw;
    col_config_t col;
    px_config_t px;
    char err[512];
    write_input(data, size);
    gw_config_default(&gw);
    col_config_default(&col);
    px_config_default(&px);
    const conf_option_t *const tabs[] = {gw_options, col_options, px_options};
    void *const objs[] = {&gw, &col, &px};
    const size_t n = sizeof tabs / sizeof tabs[0];
    for (size_t i = 0; i < n; i++)
        check_values(tabs[i], objs[i]); /* the defaults obey their own bounds */

    exp_config_list_t exporters = {0};
    conf_list_t lists[] = {exp_config_list_hook(&exporters)};
    memset(err, 0x55, sizeof err); /* a missing NUL must show */
    int rc = conf_load_file_lists(input_path, tabs, objs, n, lists, 1, err, sizeof err);
    if (rc != 0) {
        check_error(rc, err, sizeof err);
    } else {
        for (size_t i = 0; i < n; i++)
            check_values(tabs[i], objs[i]);
        for (size_t i = 0; i < exporters.n; i++) {
            const exp_config_t *x = &exporters.v[i];
            if (!x->name || !x->sink || !exp_sink_find(x->type))
                chk_fail("an exporter without a name or a known type", NULL, 0, 0);
            check_values(exp_options, x);
            check_values(x->sink->options, x->sink_config);
        }
    }
    exp_config_list_dispose(&exporters);
    gw_config_dispose(&gw);
    conf_dispose(col_options, &col);
    px_config_dispose(&px);
    return 0;
}
