/*
 * logs_line.c: one event of `tollgate logs` as a human line. The line is
 * OpenShell's CLI format (ocsf_render_json, OCSF_LINE_CLI), changed only
 * where the user asked or where it would not fit a terminal:
 *  - "[NAME] " before it when the view spans sandboxes (kubectl --prefix
 *    style: what follows the prefix greps like OpenShell's line);
 *  - the leading [<secs>.<ms>] as ISO 8601 UTC or local time (--timestamps);
 *  - a 64-hex value (a SHA-256) as its first 12 characters (--json keeps all);
 *  - DENIED and FAILED red, ALLOWED green on a terminal.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli/cli.h"

#define RED       "\x1b[31m"
#define GREEN     "\x1b[32m"
#define RESET     "\x1b[0m"
#define HASH_HEX  64
#define HASH_SHOW 12

static void colorize(ocsf_buf_t *out, size_t start)
{
    /* the action is the first " DENIED " / " ALLOWED " after "[ocsf] ":
     * nothing before it comes from outside unescaped */
    const char *p = ocsf_buf_cstr(out) + start; /* NUL-terminated for strstr */
    const char *ocsf = strstr(p, "[ocsf] ");
    if (!ocsf)
        return;
    const char *d = strstr(ocsf, " DENIED "), *a = strstr(ocsf, " ALLOWED ");
    const char *f = strstr(ocsf, " FAILED "); /* an allowed connection that failed */
    const char *hit = d && (!a || d < a) ? d : a;
    if (f && (!hit || f < hit))
        hit = f, d = f; /* red, like a denial: nobody reads it as success */
    if (!hit)
        return;
    size_t at = (size_t)(hit + 1 - out->p), len = hit == d ? 6 : 7;
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    ocsf_buf_put(&b, out->p + at, out->len - at);
    out->len = at;
    ocsf_buf_puts(out, hit == d ? RED : GREEN);
    ocsf_buf_put(out, b.p, len);
    ocsf_buf_puts(out, RESET);
    ocsf_buf_put(out, b.p + len, b.len - len);
    ocsf_buf_dispose(&b);
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_word(char c)
{
    return is_hex(c) || (c >= 'g' && c <= 'z') || (c >= 'G' && c <= 'Z') || c == '_';
}

/* Shortens, in place, every run of exactly 64 hex digits standing alone. */
static void shorten_hashes(ocsf_buf_t *out, size_t start)
{
    char *p = out->p;
    size_t r = start, w = start, n = out->len;
    while (r < n) {
        if (!is_hex(p[r]) || (r > start && is_word(p[r - 1]))) {
            p[w++] = p[r++];
            continue;
        }
        size_t run = 0;
        while (r + run < n && is_hex(p[r + run]))
            run++;
        bool alone = run == HASH_HEX && (r + run == n || !is_word(p[r + run]));
        size_t keep = alone ? HASH_SHOW : run;
        memmove(p + w, p + r, keep);
        w += keep;
        r += run;
    }
    out->len = w;
}

/* The leading "[<secs>.<ms>]" in the asked form (epoch: left as it is). */
static void retime(ocsf_buf_t *out, size_t start, cli_ts_t ts)
{
    if (ts == CLI_TS_EPOCH || out->len <= start || out->p[start] != '[')
        return;
    const char *p = ocsf_buf_cstr(out) + start + 1;
    char *end;
    long long secs = strtoll(p, &end, 10);
    int ms = 0;
    if (end == p)
        return;
    if (*end == '.') {
        const char *f = end + 1;
        for (int i = 0; i < 3; i++)
            ms = ms * 10 + (f[i] >= '0' && f[i] <= '9' ? f[i] - '0' : 0);
        end = (char *)f + strspn(f, "0123456789");
    }
    if (*end != ']')
        return;
    size_t tail = (size_t)(end - out->p);
    time_t t = (time_t)secs;
    struct tm tm;
    char when[64], zone[16] = "Z";
    if (ts == CLI_TS_ISO ? !gmtime_r(&t, &tm) : !localtime_r(&t, &tm))
        return;
    if (ts == CLI_TS_LOCAL) {
        char z[8];
        if (strftime(z, sizeof z, "%z", &tm) == 5) /* +hhmm as +hh:mm */
            snprintf(zone, sizeof zone, "%.3s:%.2s", z, z + 3);
    }
    size_t k = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + k, sizeof when - k, ".%03d%s", ms, zone);
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    ocsf_buf_put(&b, out->p + tail, out->len - tail);
    out->len = start + 1;
    ocsf_buf_puts(out, when);
    ocsf_buf_put(out, b.p, b.len);
    ocsf_buf_dispose(&b);
}

int cli_logs_line(const cli_logs_view_t *v, const char *s, size_t n, ocsf_buf_t *out, uint64_t *seq)
{
    json_t *ev = json_loadb(s, n, 0, NULL);
    json_t *sq = json_object_get(json_object_get(ev, "metadata"), "sequence");
    *seq = json_is_integer(sq) && json_integer_value(sq) > 0 ? (uint64_t)json_integer_value(sq) : 0;
    if (v->json) {
        json_decref(ev);
        ocsf_buf_put(out, s, n);
        ocsf_buf_putc(out, '\n');
        return 0;
    }
    size_t mark = out->len;
    if (v->prefix) {
        json_t *nm =
            json_object_get(json_object_get(json_object_get(ev, "device"), "container"), "name");
        ocsf_buf_putc(out, '[');
        if (json_string_length(nm))
            ocsf_text_escape(out, json_string_value(nm), json_string_length(nm), 64,
                             OCSF_ESC_SPACE);
        else
            ocsf_buf_putc(out, '-');
        ocsf_buf_puts(out, "] ");
    }
    json_decref(ev);
    size_t start = out->len;
    char err[256];
    if (ocsf_render_json(s, n, OCSF_LINE_CLI, out, err, sizeof err) != 0) {
        out->len = mark;
        return -1;
    }
    retime(out, start, v->ts);
    shorten_hashes(out, start);
    if (v->color)
        colorize(out, start);
    ocsf_buf_putc(out, '\n');
    return 0;
}
