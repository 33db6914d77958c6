/*
 * cli.h: the `tollgate` command. Each subcommand is a function
 * `int cli_<name>(int argc, char **argv)` that returns the exit status:
 * 0 ok, 1 failure, 2 usage error. Subcommands parse arguments and print;
 * the work itself lives in the subsystem folders.
 */
#ifndef TOLLGATE_CLI_H
#define TOLLGATE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CLI_EXIT_OK    0
#define CLI_EXIT_FAIL  1
#define CLI_EXIT_USAGE 2

int cli_ocsf(int argc, char **argv);
int cli_gateway(int argc, char **argv); /* also `up` */
int cli_logs(int argc, char **argv);
int cli_verify(int argc, char **argv);

/* A bounded line reader: lines longer than `max` are skipped (consumed) and
 * reported as too long; nothing is ever held beyond max bytes. */
typedef struct {
    FILE *f;
    size_t max;
    char *buf;
    size_t len, cap;
    size_t lineno;
    bool eof;
} cli_lines_t;

void cli_lines_init(cli_lines_t *r, FILE *f, size_t max);
void cli_lines_dispose(cli_lines_t *r);
/* Returns 1 with *line and *n (no newline; borrowed until the next call), 0 at
 * end of input, -E2BIG for a line over max (its bytes are consumed), -EIO on
 * a read error. */
int cli_lines_next(cli_lines_t *r, const char **line, size_t *n);

/* ---- reaching the gateway (client.c) ---- */
#include "ocsf/ocsf.h"

typedef struct {
    char base[4096];
    char token[65];
    bool token_from_env;   /* $TOLLGATE_TOKEN, not the state's file */
    char token_file[4104]; /* <state>/token, "" when the state is unknown */
} cli_client_t;

/* Resolves the gateway URL and the token; prints why on failure (-1). A
 * $TOLLGATE_TOKEN that is set but not 64 hex characters is a usage error:
 * printed, and the process exits 2. */
int cli_client_init(cli_client_t *c, const char *gateway, const char *state);
/* One request; *status and out (NUL-terminated) on success (0); -1 when the
 * gateway could not be reached (printed). A 401, and a 404 "no such sandbox"
 * under /v1/sandboxes/NAME, come back with an error text that names the token
 * (its source) or the sandbox and says what to do next. */
int cli_request(const cli_client_t *c, const char *method, const char *path,
                const char *content_type, const char *body, size_t len, long timeout_s,
                long *status, ocsf_buf_t *out);
/* "tollgate WHAT: STATUS: <the gateway's error text>" on stderr, escaped
 * (WHAT may name the command in full: "tollgate status" is "status"). */
void cli_print_error(const char *what, long status, const ocsf_buf_t *body);

int cli_sandbox(int argc, char **argv);
int cli_sandbox_exec(int argc, char **argv); /* `sandbox exec` (cmd_exec.c) */
int cli_proxy(int argc, char **argv);
/* Reads a whole file (up to 16 MiB) into out; prints why not (-1). */
int cli_read_file(const char *path, ocsf_buf_t *out);
/* Prints a JSON value on one line, escaped for a terminal (jansson type). */
struct json_t;
void cli_print_json(struct json_t *o);
int cli_policy(int argc, char **argv);
int cli_status(int argc, char **argv);
int cli_report(int argc, char **argv);
int cli_ca(int argc, char **argv); /* cmd_ca.c */

/* Prints a reply's "warnings" (a policy's load warnings), one
 * "tollgate WHAT: warning: ..." line each on stderr, escaped. */
void cli_print_warnings(const char *what, struct json_t *reply);

/* ---- `tollgate logs` lines (logs_line.c) ---- */
typedef enum { CLI_TS_EPOCH, CLI_TS_ISO, CLI_TS_LOCAL } cli_ts_t;

typedef struct {
    bool json;   /* the OCSF JSON line as it came */
    bool color;  /* DENIED red, ALLOWED green */
    bool prefix; /* "[sandbox] " first (the view spans sandboxes) */
    cli_ts_t ts; /* the leading time: epoch seconds (OpenShell's), ISO UTC, local */
} cli_logs_view_t;

/* Appends one event (an OCSF JSON line, no newline) to out as v says, with a
 * newline; 64-hex values are cut to 12 in the human line. *seq: its
 * metadata.sequence (0 when it has none). -1 (out unchanged) when the event
 * cannot be rendered. */
int cli_logs_line(const cli_logs_view_t *v, const char *s, size_t n, ocsf_buf_t *out,
                  uint64_t *seq);

/* A --since/--until value (when.c): a duration back from now (30s, 5m, 2h, 7d,
 * 1h30m), an RFC 3339 time, the same without a zone (UTC), or a date
 * (YYYY-MM-DD, UTC; with `until`, its last millisecond). Milliseconds since
 * the epoch in *out; -1 when s is none of these. */
int cli_parse_when(const char *s, bool until, int64_t *out);

/* Writes s to stderr escaped (for bytes that came from outside). */
void cli_err_escaped(const char *prefix, const char *s, size_t n);

#endif
