/*
 * cmd_report.c: `tollgate report`: the compliance report over a period,
 * read from the spool files directly (report/report.h does the work).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "gateway/gateway.h"
#include "report/report.h"

#define MAX_SANDBOXES 64

static void usage(FILE *f)
{
    fprintf(f, "usage: tollgate report [--state DIR] [--since T] [--until T] [--sandbox NAME]...\n"
               "                       [--format md|html|csv|json] [--table NAME] [-o FILE|DIR]\n"
               "                       [--top N]\n\n"
               "The compliance report of a period, read from the spool (works with or without a\n"
               "running gateway): scope, completeness (sequence gaps, hash chain, drops,\n"
               "exporters' delivery and dead letters), activity, policy changes and findings.\n"
               "Every row names the sequence numbers it stands for.\n\n"
               "  T             a duration back from now (30m, 7d, 1h30m), an RFC 3339 time or a\n"
               "                date (YYYY-MM-DD, UTC; --until includes the whole day)\n"
               "  --format      md (default), html (one self-contained file), csv, json\n"
               "  --table NAME  only this table (csv, md); csv needs --table or -o DIR\n"
               "  -o FILE|DIR   write there (csv without --table: one NAME.csv per table in DIR)\n"
               "  --top N       rows of the top-N tables (default 20)\n\n"
               "tables:");
    for (size_t i = 0; rep_table_name(i); i++)
        fprintf(f, "%s%s", i % 6 ? " " : "\n  ", rep_table_name(i));
    fprintf(f, "\n\nExit 0 when the report was written (integrity problems are in it and\n"
               "named on stderr), 1 when it could not be, 2 on a usage error.\n");
}

static int parse_when(const char *s, bool until, int64_t *out)
{
    return cli_parse_when(s, until, out); /* shared with `logs` (when.c) */
}

static void progress(void *ctx, uint64_t done, uint64_t total, uint64_t events)
{
    (void)ctx;
    int pct = total ? (int)(done * 100 / total) : 100;
    int bar = pct / 4;
    fprintf(stderr, "\rreading the spool [%.*s%*s] %3d%%  %llu events", bar,
            "#########################", 25 - bar, "", pct, (unsigned long long)events);
    if (done >= total)
        fputs("\r\033[K", stderr);
    fflush(stderr);
}

/* Writes through a temp file renamed into place: no half report. */
typedef struct {
    char tmp[4200];
    const char *path;
    FILE *f;
} out_t;

static FILE *out_open(out_t *o, const char *path)
{
    o->path = path;
    o->f = NULL;
    if (!path)
        return o->f = stdout;
    snprintf(o->tmp, sizeof o->tmp, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(o->tmp);
    if (fd < 0 || !(o->f = fdopen(fd, "w"))) {
        cli_err_escaped("tollgate report: cannot write ", path, strlen(path));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    mode_t mask = umask(0); /* mkstemp made it 0600: give it the mode open(2) would */
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    return o->f;
}

static int out_close(out_t *o, int rc)
{
    if (!o->path)
        return fflush(stdout) == 0 ? rc : -EIO;
    if (fflush(o->f) != 0 || fsync(fileno(o->f)) != 0)
        rc = rc ? rc : -EIO;
    if (fclose(o->f) != 0)
        rc = rc ? rc : -EIO;
    if (rc == 0 && rename(o->tmp, o->path) != 0)
        rc = -errno;
    if (rc) {
        unlink(o->tmp);
        cli_err_escaped("tollgate report: writing failed: ", o->path, strlen(o->path));
    }
    return rc;
}

static int write_csv_dir(json_t *doc, const char *dir)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        cli_err_escaped("tollgate report: cannot make directory ", dir, strlen(dir));
        return -errno;
    }
    int rc = 0;
    for (size_t i = 0; rep_table_name(i) && rc == 0; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s.csv", dir, rep_table_name(i));
        out_t o;
        if (!out_open(&o, path))
            return -EIO;
        rc = out_close(&o, rep_render_table(doc, rep_table_name(i), REP_CSV, o.f));
    }
    return rc;
}

typedef struct {
    const char *state, *format, *table, *out, *since, *until;
    const char *sandboxes[MAX_SANDBOXES];
    size_t nsandboxes;
    long top;
} args_t;

static int parse_args(int argc, char **argv, args_t *a)
{
    memset(a, 0, sizeof *a);
    a->format = "md";
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            usage(stdout);
            return 1;
        }
        const char **slot = !strcmp(s, "--state")    ? &a->state
                            : !strcmp(s, "--format") ? &a->format
                            : !strcmp(s, "--table")  ? &a->table
                            : !strcmp(s, "-o")       ? &a->out
                            : !strcmp(s, "--since")  ? &a->since
                            : !strcmp(s, "--until")  ? &a->until
                                                     : NULL;
        if (v && slot) {
            *slot = v;
        } else if (v && !strcmp(s, "--sandbox") && a->nsandboxes < MAX_SANDBOXES) {
            a->sandboxes[a->nsandboxes++] = v;
        } else if (v && !strcmp(s, "--top")) {
            char *end;
            a->top = strtol(v, &end, 10);
            if (*end || a->top < 1 || a->top > 100000) {
                fprintf(stderr, "tollgate report: --top: a number from 1 to 100000\n");
                return -1;
            }
        } else {
            cli_err_escaped("tollgate report: unknown or incomplete option: ", s, strlen(s));
            usage(stderr);
            return -1;
        }
        i++;
    }
    return 0;
}

/* Each --sandbox NAME that no event in the period matched, said on stderr:
 * a typo must not pass for a quiet sandbox. Returns how many. */
static size_t warn_unmatched(json_t *doc, const char *const *names, size_t n)
{
    json_t *rows = json_object_get(json_object_get(doc, "activity"), "by_sandbox"), *row;
    size_t missing = 0, i;
    for (size_t k = 0; k < n; k++) {
        bool seen = false;
        json_array_foreach(rows, i, row)
        {
            const char *sb = json_string_value(json_object_get(row, "sandbox"));
            seen = seen || (sb && (!strcmp(sb, names[k]) || !strcmp(sb, "(other sandboxes)")));
        }
        if (seen)
            continue;
        missing++;
        ocsf_buf_t b;
        ocsf_buf_init(&b);
        ocsf_text_escape(&b, names[k], strlen(names[k]), 200, OCSF_ESC_MSG);
        fprintf(stderr,
                "tollgate report: --sandbox %.*s: no event of this sandbox in the period "
                "(names are exact; `tollgate sandbox list` shows them)\n",
                (int)b.len, b.p ? b.p : "");
        ocsf_buf_dispose(&b);
    }
    return missing;
}

int cli_report(int argc, char **argv)
{
    args_t a;
    int prc = parse_args(argc, argv, &a);
    if (prc)
        return prc > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    rep_format_t fmt;
    rep_options_t o;
    rep_options_init(&o);
    if (rep_format_parse(a.format, &fmt) != 0) {
        cli_err_escaped("tollgate report: --format: md, html, csv or json, not ", a.format,
                        strlen(a.format));
        return CLI_EXIT_USAGE;
    }
    if (a.table && (!rep_table_exists(a.table) || (fmt != REP_CSV && fmt != REP_MD))) {
        cli_err_escaped("tollgate report: --table (with csv or md) takes a table name, not ",
                        a.table, strlen(a.table));
        return CLI_EXIT_USAGE;
    }
    if (fmt == REP_CSV && !a.table && !a.out) {
        fprintf(stderr, "tollgate report: csv writes one table per file: give --table NAME, or "
                        "-o DIR for every table (see --help)\n");
        return CLI_EXIT_USAGE;
    }
    if ((a.since && parse_when(a.since, false, &o.since_ms) != 0) ||
        (a.until && parse_when(a.until, true, &o.until_ms) != 0)) {
        const char *bad = a.since && parse_when(a.since, false, &o.since_ms) ? a.since : a.until;
        cli_err_escaped("tollgate report: not a duration, RFC 3339 time or date: ", bad,
                        strlen(bad));
        return CLI_EXIT_USAGE;
    }
    char dir[4096], err[600];
    if (gw_state_dir(a.state, dir, sizeof dir, err, sizeof err) != 0) {
        cli_err_escaped("tollgate report: ", err, strlen(err));
        return CLI_EXIT_FAIL;
    }
    o.state_dir = dir;
    o.sandboxes = a.sandboxes;
    o.nsandboxes = a.nsandboxes;
    o.top = (size_t)a.top;
    if (isatty(STDERR_FILENO))
        o.progress = progress;
    json_t *doc;
    if (rep_run(&o, &doc, err, sizeof err) != 0) {
        cli_err_escaped("tollgate report: ", err, strlen(err));
        return CLI_EXIT_FAIL;
    }
    int rc;
    if (fmt == REP_CSV && !a.table) {
        rc = write_csv_dir(doc, a.out);
    } else {
        out_t out;
        if (!out_open(&out, a.out)) {
            json_decref(doc);
            return CLI_EXIT_FAIL;
        }
        rc = a.table ? rep_render_table(doc, a.table, fmt, out.f) : rep_render(doc, fmt, out.f);
        rc = out_close(&out, rc);
    }
    bool clean = rep_doc_clean(doc);
    size_t unmatched = warn_unmatched(doc, a.sandboxes, a.nsandboxes);
    if (!clean) /* the report is still written: it says what is missing */
        fprintf(stderr, "tollgate report: the record is NOT complete or NOT intact: see the "
                        "Completeness section (gaps, hash chain, drops)\n");
    json_decref(doc);
    return rc || !clean || unmatched ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
