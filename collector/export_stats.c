/*
 * export_stats.c: the exporters' numbers for people and machines:
 * exp_engine_stats, Prometheus text for /metrics, JSON for /v1/status.
 * Any thread: every counter is read under its exporter's mutex.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collector/export_internal.h"

int64_t exp__wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- metrics ------------------------------------------------------------ */

size_t exp_engine_count(const exp_engine_t *ee)
{
    return ee ? ee->e.n : 0;
}

void exp_engine_stats(exp_engine_t *ee, size_t i, exp_stats_t *st)
{
    engine_t *e = &ee->e;
    exporter_t *x = &e->x[i];
    memset(st, 0, sizeof *st);
    st->name = x->cfg->name;
    st->type = x->cfg->type;
    st->ocsf_version = exp_ocsf_versions[x->cfg->ocsf_version];
    st->enabled = x->cfg->enabled;
    uint64_t written = col_written_seq(e->col);
    pthread_mutex_lock(&x->mu);
    st->paused = x->paused;
    st->delivered = x->delivered;
    st->retried = x->retried;
    st->dead_lettered = x->dead;
    st->skipped = x->skipped;
    st->in_flight = x->in_flight;
    st->batches = x->batches;
    st->checkpoint = x->checkpoint;
    snprintf(st->last_error, sizeof st->last_error, "%s", x->last_error);
    st->last_error_ms = x->last_error_ms;
    int64_t oldest = x->oldest_logged;
    pthread_mutex_unlock(&x->mu);
    st->lag_events = written > st->checkpoint ? written - st->checkpoint : 0;
    if (st->lag_events && oldest > 0) {
        int64_t age = exp__wall_ms() - oldest;
        st->lag_seconds = age > 0 ? (double)age / 1000.0 : 0;
    }
}

static void label(ocsf_buf_t *b, const char *metric, const char *name)
{
    ocsf_buf_puts(b, metric);
    ocsf_buf_puts(b, "{exporter=\"");
    ocsf_buf_puts(b, name); /* names are [A-Za-z0-9_-] */
    ocsf_buf_puts(b, "\"} ");
}

/* The sinks' metric families: the lines of every sink's metrics callback,
 * grouped by family (the text format wants one group per family, with its
 * HELP and TYPE once, whatever the number of exporters of a type). */
typedef struct {
    ocsf_buf_t name, help, type, samples;
} family_t;

typedef struct {
    family_t *f;
    size_t n, cap;
} families_t;

static family_t *family(families_t *fs, const char *name, size_t len)
{
    for (size_t i = 0; i < fs->n; i++)
        if (fs->f[i].name.len == len && memcmp(fs->f[i].name.p, name, len) == 0)
            return &fs->f[i];
    if (fs->n == fs->cap) {
        size_t cap = fs->cap ? fs->cap * 2 : 16;
        family_t *f = realloc(fs->f, cap * sizeof *f);
        if (!f)
            abort(); /* OOM policy: small fixed allocation */
        fs->f = f;
        fs->cap = cap;
    }
    family_t *f = &fs->f[fs->n++];
    ocsf_buf_init(&f->name);
    ocsf_buf_init(&f->help);
    ocsf_buf_init(&f->type);
    ocsf_buf_init(&f->samples);
    ocsf_buf_put(&f->name, name, len);
    return f;
}

/* One line from a sink: `# HELP <name> <text>`, `# TYPE <name> <type>`
 * (the first of each per family is kept), or a sample `<name>{...} <v>`. */
static void emit_line(void *ctx, const char *line)
{
    families_t *fs = ctx;
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n')
        n--;
    if (n == 0)
        return;
    if (line[0] == '#') {
        bool help = strncmp(line, "# HELP ", 7) == 0, type = strncmp(line, "# TYPE ", 7) == 0;
        if (!help && !type)
            return;
        const char *name = line + 7, *sp = memchr(name, ' ', n - 7);
        if (!sp)
            return;
        family_t *f = family(fs, name, (size_t)(sp - name));
        ocsf_buf_t *b = help ? &f->help : &f->type;
        if (b->len == 0)
            ocsf_buf_put(b, sp + 1, n - (size_t)(sp + 1 - line));
        return;
    }
    size_t len = strcspn(line, "{ ");
    family_t *f = family(fs, line, len);
    ocsf_buf_put(&f->samples, line, n);
    ocsf_buf_putc(&f->samples, '\n');
}

static void families_flush(families_t *fs, ocsf_buf_t *out)
{
    for (size_t i = 0; i < fs->n; i++) {
        family_t *f = &fs->f[i];
        if (f->samples.len) {
            if (f->help.len) {
                ocsf_buf_puts(out, "# HELP ");
                ocsf_buf_put(out, f->name.p, f->name.len);
                ocsf_buf_putc(out, ' ');
                ocsf_buf_put(out, f->help.p, f->help.len);
                ocsf_buf_putc(out, '\n');
            }
            if (f->type.len) {
                ocsf_buf_puts(out, "# TYPE ");
                ocsf_buf_put(out, f->name.p, f->name.len);
                ocsf_buf_putc(out, ' ');
                ocsf_buf_put(out, f->type.p, f->type.len);
                ocsf_buf_putc(out, '\n');
            }
            ocsf_buf_put(out, f->samples.p, f->samples.len);
        }
        ocsf_buf_dispose(&f->name);
        ocsf_buf_dispose(&f->help);
        ocsf_buf_dispose(&f->type);
        ocsf_buf_dispose(&f->samples);
    }
    free(fs->f);
}

void exp_engine_metrics(exp_engine_t *ee, ocsf_buf_t *out)
{
    static const struct {
        const char *name, *type, *help;
    } m[] = {
        {"tollgate_exporter_delivered_total", "counter", "Events the destination acknowledged."},
        {"tollgate_exporter_retried_total", "counter", "Event sends that must be repeated."},
        {"tollgate_exporter_dead_lettered_total", "counter",
         "Events refused for good, written to the dead-letter file."},
        {"tollgate_exporter_skipped_total", "counter",
         "Events that left the spool before this exporter delivered them."},
        {"tollgate_exporter_in_flight", "gauge", "Events handed to the sink, not yet answered."},
        {"tollgate_exporter_lag_events", "gauge", "Events written but not yet delivered."},
        {"tollgate_exporter_lag_seconds", "gauge", "Age of the oldest undelivered event."},
        {"tollgate_exporter_paused", "gauge", "1 while the destination refuses auth or config."},
        {"tollgate_exporter_checkpoint", "gauge", "The last sequence delivered."},
        {"tollgate_exporter_last_error_timestamp_seconds", "gauge",
         "When the last error happened (0: never)."},
    };
    size_t n = exp_engine_count(ee);
    if (!n)
        return;
    exp_stats_t *st = calloc(n, sizeof *st);
    if (!st)
        return;
    for (size_t i = 0; i < n; i++)
        exp_engine_stats(ee, i, &st[i]);
    char num[64];
    for (size_t k = 0; k < sizeof m / sizeof *m; k++) {
        ocsf_buf_puts(out, "# HELP ");
        ocsf_buf_puts(out, m[k].name);
        ocsf_buf_putc(out, ' ');
        ocsf_buf_puts(out, m[k].help);
        ocsf_buf_puts(out, "\n# TYPE ");
        ocsf_buf_puts(out, m[k].name);
        ocsf_buf_putc(out, ' ');
        ocsf_buf_puts(out, m[k].type);
        ocsf_buf_putc(out, '\n');
        for (size_t i = 0; i < n; i++) {
            if (!st[i].enabled)
                continue;
            const exp_stats_t *s = &st[i];
            double v[] = {(double)s->delivered,     (double)s->retried,
                          (double)s->dead_lettered, (double)s->skipped,
                          (double)s->in_flight,     (double)s->lag_events,
                          s->lag_seconds,           s->paused ? 1.0 : 0.0,
                          (double)s->checkpoint,    (double)s->last_error_ms / 1000.0};
            label(out, m[k].name, s->name);
            snprintf(num, sizeof num, k == 6 || k == 9 ? "%.3f\n" : "%.0f\n", v[k]);
            ocsf_buf_puts(out, num);
        }
    }
    families_t fs = {0};
    for (size_t i = 0; i < n; i++) {
        exporter_t *x = &ee->e.x[i];
        if (x->sink && x->cfg->sink->metrics)
            x->cfg->sink->metrics(x->sink, emit_line, &fs);
    }
    families_flush(&fs, out);
    free(st);
}

void exp_engine_status_json(exp_engine_t *ee, ocsf_buf_t *out)
{
    size_t n = exp_engine_count(ee);
    ocsf_buf_puts(out, "{\"exporters\":[");
    for (size_t i = 0; i < n; i++) {
        exp_stats_t s;
        exp_engine_stats(ee, i, &s);
        if (i)
            ocsf_buf_putc(out, ',');
        char num[512];
        ocsf_buf_puts(out, "{\"name\":");
        ocsf_json_escape(out, s.name, strlen(s.name));
        ocsf_buf_puts(out, ",\"type\":");
        ocsf_json_escape(out, s.type, strlen(s.type));
        snprintf(num, sizeof num,
                 ",\"ocsf_version\":\"%s\",\"enabled\":%s,\"paused\":%s,\"delivered\":%" PRIu64
                 ",\"retried\":%" PRIu64 ",\"dead_lettered\":%" PRIu64 ",\"skipped\":%" PRIu64
                 ",\"in_flight\":%" PRIu64 ",\"batches\":%" PRIu64 ",\"checkpoint\":%" PRIu64
                 ",\"lag_events\":%" PRIu64 ",\"lag_seconds\":%.3f,\"last_error_time\":%" PRId64
                 ",\"last_error\":",
                 s.ocsf_version, s.enabled ? "true" : "false", s.paused ? "true" : "false",
                 s.delivered, s.retried, s.dead_lettered, s.skipped, s.in_flight, s.batches,
                 s.checkpoint, s.lag_events, s.lag_seconds, s.last_error_ms);
        ocsf_buf_puts(out, num);
        ocsf_json_escape(out, s.last_error, strlen(s.last_error));
        ocsf_buf_putc(out, '}');
    }
    ocsf_buf_puts(out, "]}");
}
