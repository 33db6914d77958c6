/*
 * cmd_ocsf.c: `tollgate ocsf samples | render | validate | cast` (alias downgrade).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "ocsf/downgrade.h"
#include "ocsf/ocsf.h"

#define LINE_MAX_BYTES (16u << 20) /* one event line, as read from a file */

static void ocsf_usage(FILE *f)
{
    fprintf(f,
            "usage: tollgate ocsf <subcommand>\n\n"
            "  samples                 one OCSF 1.7.0 event per line for every (class,\n"
            "                          activity, verdict) tollgate emits\n"
            "  render [--cli|--file]   OCSF JSON lines on stdin, human lines on stdout\n"
            "                          (default: the bare shorthand); any class\n"
            "  validate FILE...        check events against the bundled schema of the\n"
            "                          version each names (%s; '-' is\n"
            "                          stdin); one line per problem, exit 1 if any\n"
            "  cast --to VERSION       OCSF JSON lines on stdin (any bundled version), the\n"
            "                          same events as OCSF VERSION on stdout; what VERSION\n"
            "                          lacks goes under unmapped (`downgrade` is an alias)\n",
            ocsf_schema_versions());
}

static int flush_stdout(void)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "tollgate: writing stdout: %s\n", strerror(errno));
        return CLI_EXIT_FAIL;
    }
    return CLI_EXIT_OK;
}

static int cmd_samples(void)
{
    ocsf_event_t evs[32];
    size_t n = ocsf_samples(evs, 32);
    ocsf_buf_t b;
    char err[256];
    ocsf_buf_init(&b);
    for (size_t i = 0; i < n && i < 32; i++) {
        b.len = 0;
        if (ocsf_encode(&evs[i], &b, err, sizeof err) != 0) {
            fprintf(stderr, "tollgate: sample %s: %s\n", ocsf_sample_name(i), err);
            ocsf_buf_dispose(&b);
            return CLI_EXIT_FAIL;
        }
        ocsf_buf_putc(&b, '\n');
        fwrite(b.p, 1, b.len, stdout);
    }
    ocsf_buf_dispose(&b);
    return flush_stdout();
}

/* Turns one input line into out (emptied before the call); non-zero with
 * err when the line is bad. */
typedef int (*line_fn)(void *ctx, const char *line, size_t n, ocsf_buf_t *out, char *err,
                       size_t errlen);

/* Runs fn over the lines of stdin and writes what it makes, a line each: a
 * bad line is reported (with its number) and skipped, blank lines are
 * passed over. CLI_EXIT_FAIL if any line was bad or unread. */
static int each_stdin_line(line_fn fn, void *ctx)
{
    cli_lines_t r;
    ocsf_buf_t b;
    char err[512], prefix[64];
    const char *line;
    size_t n;
    int rc, status = CLI_EXIT_OK;
    cli_lines_init(&r, stdin, LINE_MAX_BYTES);
    ocsf_buf_init(&b);
    while ((rc = cli_lines_next(&r, &line, &n)) != 0) {
        if (rc == -EIO) {
            fprintf(stderr, "tollgate: reading stdin: %s\n", strerror(EIO));
            status = CLI_EXIT_FAIL;
            break;
        }
        if (rc == -E2BIG) {
            fprintf(stderr, "tollgate: line %zu: longer than %u bytes, skipped\n", r.lineno,
                    LINE_MAX_BYTES);
            status = CLI_EXIT_FAIL;
            continue;
        }
        if (strspn(line, " \t") == n)
            continue;
        b.len = 0;
        if (fn(ctx, line, n, &b, err, sizeof err) != 0) {
            snprintf(prefix, sizeof prefix, "tollgate: line %zu: ", r.lineno);
            cli_err_escaped(prefix, err, strlen(err));
            status = CLI_EXIT_FAIL;
            continue;
        }
        ocsf_buf_putc(&b, '\n');
        fwrite(b.p, 1, b.len, stdout);
    }
    cli_lines_dispose(&r);
    ocsf_buf_dispose(&b);
    return flush_stdout() ? CLI_EXIT_FAIL : status;
}

static int render_line(void *ctx, const char *line, size_t n, ocsf_buf_t *out, char *err,
                       size_t errlen)
{
    return ocsf_render_json(line, n, *(const ocsf_line_fmt_t *)ctx, out, err, errlen) == 0 ? 0 : -1;
}

static int cmd_render(ocsf_line_fmt_t fmt)
{
    return each_stdin_line(render_line, &fmt);
}

typedef struct {
    const char *file;
    size_t line;
    ocsf_buf_t *out;
} vreport_t;

static void on_problem(void *ctx, const char *path, const char *msg)
{
    vreport_t *v = ctx;
    ocsf_buf_t *b = v->out;
    b->len = 0;
    ocsf_text_escape(b, v->file, strlen(v->file), 256, 0);
    ocsf_buf_putc(b, ':');
    ocsf_buf_put_i64(b, (int64_t)v->line);
    ocsf_buf_puts(b, ": ");
    if (*path) {
        ocsf_buf_puts(b, path);
        ocsf_buf_puts(b, ": ");
    }
    ocsf_buf_puts(b, msg);
    ocsf_buf_putc(b, '\n');
    fwrite(b->p, 1, b->len, stdout);
}

static int validate_file(ocsf_checker_t *v, const char *name, size_t *passed, size_t *failed)
{
    FILE *f = strcmp(name, "-") == 0 ? stdin : fopen(name, "r");
    if (!f) {
        char prefix[256];
        snprintf(prefix, sizeof prefix, "tollgate: %s: ", strerror(errno));
        cli_err_escaped(prefix, name, strlen(name));
        return -1;
    }
    cli_lines_t r;
    ocsf_buf_t out;
    vreport_t rep = {.file = name, .out = &out};
    const char *line;
    size_t n;
    int rc, status = 0;
    cli_lines_init(&r, f, LINE_MAX_BYTES);
    ocsf_buf_init(&out);
    while ((rc = cli_lines_next(&r, &line, &n)) != 0) {
        rep.line = r.lineno;
        if (rc == -EIO) {
            on_problem(&rep, "", "read error");
            status = -1;
            break;
        }
        if (rc == -E2BIG) {
            on_problem(&rep, "", "line longer than the 16 MiB limit");
            (*failed)++;
            continue;
        }
        if (strspn(line, " \t") == n)
            continue;
        if (ocsf_check(v, line, n, NULL, 0, on_problem, &rep) == 0)
            (*passed)++;
        else
            (*failed)++;
    }
    cli_lines_dispose(&r);
    ocsf_buf_dispose(&out);
    if (f != stdin)
        fclose(f);
    return status;
}

static int cmd_validate(int argc, char **argv)
{
    if (argc < 1) {
        fprintf(stderr, "tollgate ocsf validate: at least one FILE (or '-') is needed\n");
        return CLI_EXIT_USAGE;
    }
    ocsf_checker_t *v = ocsf_checker_new();
    size_t passed = 0, failed = 0;
    int status = CLI_EXIT_OK;
    for (int i = 0; i < argc; i++)
        if (validate_file(v, argv[i], &passed, &failed) != 0)
            status = CLI_EXIT_FAIL;
    ocsf_checker_free(v);
    fprintf(stderr, "%zu passed, %zu failed\n", passed, failed);
    if (failed)
        status = CLI_EXIT_FAIL;
    return flush_stdout() ? CLI_EXIT_FAIL : status;
}

static int downgrade_line(void *ctx, const char *line, size_t n, ocsf_buf_t *out, char *err,
                          size_t errlen)
{
    return ocsf_downgrade(line, n, *(const char *const *)ctx, out, err, errlen);
}

/* `ocsf downgrade --to VERSION`: a bad line is reported (with its number)
 * and skipped; the exit status is 1 if any was. */
static int cmd_downgrade(const char *version)
{
    return each_stdin_line(downgrade_line, &version);
}

static int parse_downgrade(int argc, char **argv)
{
    const char *version = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
            version = argv[++i];
        else if (strncmp(argv[i], "--to=", 5) == 0)
            version = argv[i] + 5;
        else if (strcmp(argv[i], "--help") == 0) {
            ocsf_usage(stdout);
            return CLI_EXIT_OK;
        } else {
            cli_err_escaped("tollgate ocsf cast: unknown option: ", argv[i], strlen(argv[i]));
            return CLI_EXIT_USAGE;
        }
    }
    if (!version) {
        fprintf(stderr, "tollgate ocsf cast: --to VERSION is needed (%s)\n",
                ocsf_schema_versions());
        return CLI_EXIT_USAGE;
    }
    if (!ocsf_downgrade_supported(version)) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "tollgate ocsf cast: not a bundled OCSF version (%s): ", ocsf_schema_versions());
        cli_err_escaped(msg, version, strlen(version));
        return CLI_EXIT_USAGE;
    }
    return cmd_downgrade(version);
}

int cli_ocsf(int argc, char **argv)
{
    if (argc < 2) {
        ocsf_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *sub = argv[1];
    for (int i = 1; i < argc; i++) /* `ocsf validate --help` too: a FILE named so is ./--help */
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            ocsf_usage(stdout);
            return CLI_EXIT_OK;
        }
    if (strcmp(sub, "samples") == 0 && argc == 2)
        return cmd_samples();
    if (strcmp(sub, "render") == 0) {
        ocsf_line_fmt_t fmt = OCSF_LINE_SHORT;
        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--cli") == 0)
                fmt = OCSF_LINE_CLI;
            else if (strcmp(argv[i], "--file") == 0)
                fmt = OCSF_LINE_FILE;
            else if (strcmp(argv[i], "--help") == 0) {
                ocsf_usage(stdout);
                return CLI_EXIT_OK;
            } else {
                cli_err_escaped("tollgate ocsf render: unknown option: ", argv[i], strlen(argv[i]));
                return CLI_EXIT_USAGE;
            }
        }
        return cmd_render(fmt);
    }
    if (strcmp(sub, "validate") == 0)
        return cmd_validate(argc - 2, argv + 2);
    if (strcmp(sub, "cast") == 0 || strcmp(sub, "downgrade") == 0)
        return parse_downgrade(argc - 2, argv + 2);
    cli_err_escaped("tollgate ocsf: unknown or malformed subcommand: ", sub, strlen(sub));
    ocsf_usage(stderr);
    return CLI_EXIT_USAGE;
}
