/*
 * cmd_status.c: `tollgate status`: the collector and every exporter, for
 * people (the same numbers as /metrics), or the raw JSON with --json;
 * `--watch` redraws it every --interval seconds with rates (like
 * `vector top`): in place on a terminal, one block per interval when piped.
 */
#include <errno.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: tollgate status [--json] [--watch [--interval S]] [--gateway URL] "
               "[--state DIR]\n\n"
               "The spool (events, sequence range, bytes, full or not) and each exporter:\n"
               "delivered, retried, dead-lettered, in flight, lag in events and seconds,\n"
               "paused, and the last error. Exit 1 when an exporter is paused or the\n"
               "spool is full.\n\n"
               "--watch: refreshes every S seconds (default 2, from 0.1): the spool's event\n"
               "rate and each exporter's delivered/s, lag and errors. On a terminal the view\n"
               "is redrawn in place; piped, one block per interval. Ctrl-C ends it (exit 0).\n"
               "With --json, one JSON line per interval.\n");
}

static unsigned long long u(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (unsigned long long)json_integer_value(v) : 0;
}

/* a string from the gateway, escaped for the terminal, padded to width
 * (0: as it is); its display is cut at 200 bytes */
static void put_escaped(ocsf_buf_t *o, const char *s, int width)
{
    size_t start = o->len;
    ocsf_text_escape(o, s, strlen(s), 200, OCSF_ESC_MSG);
    for (int n = (int)(o->len - start); n < width; n++)
        ocsf_buf_putc(o, ' ');
}

__attribute__((format(printf, 2, 3))) static void pf(ocsf_buf_t *o, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0)
        ocsf_buf_put(o, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* What the previous sample said, for rates. */
typedef struct {
    json_t *o; /* the previous /v1/status answer (owned), NULL at first */
    double t;  /* when it was taken (monotonic seconds) */
} sample_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static json_t *exporter_named(json_t *o, const char *name)
{
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(o, "exporters"), i, x)
    {
        const char *n = json_string_value(json_object_get(x, "name"));
        if (n && name && !strcmp(n, name))
            return x;
    }
    return NULL;
}

/* "12.5" per second from two counters, "-" without a previous sample */
static void rate(char *out, size_t n, json_t *now, json_t *was, const char *key, double dt)
{
    if (!was || dt <= 0 || u(now, key) < u(was, key))
        snprintf(out, n, "-");
    else
        snprintf(out, n, "%.1f", (double)(u(now, key) - u(was, key)) / dt);
}

/* The view of one answer; prev (may be NULL) for rates. Returns true when
 * something is wrong (paused exporter, full spool). */
static bool render(ocsf_buf_t *b, json_t *o, const sample_t *prev, double t, bool watch)
{
    json_t *col = json_object_get(o, "collector");
    json_t *pcol = prev && prev->o ? json_object_get(prev->o, "collector") : NULL;
    double dt = prev && prev->o ? t - prev->t : 0;
    bool bad = json_is_true(json_object_get(col, "full"));
    pf(b, "spool: events %llu..%llu, %llu bytes in %llu segments%s; dropped %llu",
       u(col, "first_sequence"), u(col, "written_sequence"), u(col, "spool_bytes"),
       u(col, "segments"),
       json_is_true(json_object_get(col, "full")) ? ", FULL (held for an exporter)" : "",
       u(col, "dropped"));
    if (watch) {
        char r[32];
        rate(r, sizeof r, col, pcol, "written_sequence", dt);
        pf(b, "; %s events/s", r);
    }
    ocsf_buf_putc(b, '\n');
    json_t *xs = json_object_get(o, "exporters");
    if (json_array_size(xs) == 0) {
        ocsf_buf_puts(b, "exporters: none configured\n");
        return bad;
    }
    /* the header and the rows share one format: the columns line up */
    pf(b, "%-14s %-6s %-7s %10s", "EXPORTER", "TYPE", "STATE", "DELIVERED");
    if (watch)
        pf(b, " %11s", "DELIVERED/S");
    pf(b, " %8s %8s %8s %10s %9s  %s\n", "RETRIED", "DEAD", "INFLIGHT", "LAG", "LAG_S",
       "LAST ERROR");
    size_t i;
    json_t *x;
    json_array_foreach(xs, i, x)
    {
        bool enabled = json_is_true(json_object_get(x, "enabled"));
        bool paused = json_is_true(json_object_get(x, "paused"));
        bad |= paused;
        const char *name = json_string_value(json_object_get(x, "name"));
        const char *type = json_string_value(json_object_get(x, "type"));
        const char *err = json_string_value(json_object_get(x, "last_error"));
        put_escaped(b, name ? name : "?", 14);
        ocsf_buf_putc(b, ' ');
        put_escaped(b, type ? type : "?", 6);
        pf(b, " %-7s %10llu", !enabled ? "off" : paused ? "PAUSED" : "ok", u(x, "delivered"));
        if (watch) {
            char r[32];
            rate(r, sizeof r, x, prev && prev->o ? exporter_named(prev->o, name) : NULL,
                 "delivered", dt);
            pf(b, " %11s", r);
        }
        pf(b, " %8llu %8llu %8llu %10llu %9.1f  ", u(x, "retried"), u(x, "dead_lettered"),
           u(x, "in_flight"), u(x, "lag_events"),
           json_real_value(json_object_get(x, "lag_seconds")));
        put_escaped(b, err && *err ? err : "-", 0);
        ocsf_buf_putc(b, '\n');
    }
    return bad;
}

/* GET /v1/status: the parsed answer and its bytes, or NULL (said why). */
static json_t *fetch(const cli_client_t *c, ocsf_buf_t *body)
{
    long status;
    body->len = 0;
    int rc = cli_request(c, "GET", "/v1/status", NULL, NULL, 0, 30, &status, body);
    if (rc == 0 && status != 200) {
        cli_print_error("status", status, body);
        return NULL;
    }
    json_t *o = rc == 0 ? json_loadb(body->p, body->len, 0, NULL) : NULL;
    if (rc == 0 && !o)
        fprintf(stderr, "tollgate status: the gateway's answer is not JSON\n");
    return o;
}

static volatile sig_atomic_t stop_watch;

static void on_sigint(int sig)
{
    (void)sig;
    stop_watch = 1;
}

/* Sleeps s seconds unless Ctrl-C comes first. */
static void pause_for(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (!stop_watch && nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int watch(const cli_client_t *c, double interval, bool raw)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: the sleep ends at once */
    sigaction(SIGTERM, &sa, NULL);
    bool tty = isatty(STDOUT_FILENO) && !raw;
    sample_t prev = {0};
    ocsf_buf_t body, view;
    ocsf_buf_init(&body);
    ocsf_buf_init(&view);
    while (!stop_watch) {
        json_t *o = fetch(c, &body);
        double t = now_s();
        view.len = 0;
        if (raw && o) {
            ocsf_buf_put(&view, body.p, body.len);
            ocsf_buf_putc(&view, '\n');
        } else if (!raw) {
            char when[32];
            time_t wall = time(NULL);
            struct tm tm;
            strftime(when, sizeof when, "%H:%M:%S", localtime_r(&wall, &tm));
            if (tty)
                ocsf_buf_puts(&view, "\033[H\033[2J"); /* home, clear: a plain redraw */
            pf(&view, "tollgate status  %s  every %.1fs  (Ctrl-C to quit)\n", when, interval);
            if (o)
                render(&view, o, &prev, t, true);
            else
                ocsf_buf_puts(&view, "gateway: not answering (retrying)\n");
            if (!tty)
                ocsf_buf_putc(&view, '\n'); /* piped: blocks apart */
        }
        if (view.len && (fwrite(view.p, 1, view.len, stdout) != view.len || fflush(stdout)))
            stop_watch = 1; /* the reader went away */
        if (o) {
            json_decref(prev.o);
            prev = (sample_t){o, t};
        }
        pause_for(interval);
    }
    json_decref(prev.o);
    ocsf_buf_dispose(&body);
    ocsf_buf_dispose(&view);
    return CLI_EXIT_OK;
}

int cli_status(int argc, char **argv)
{
    const char *gateway = NULL, *state = NULL;
    bool raw = false, watching = false;
    double interval = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return CLI_EXIT_OK;
        } else if (!strcmp(a, "--json")) {
            raw = true;
        } else if (!strcmp(a, "--watch") || !strcmp(a, "-w")) {
            watching = true;
        } else if (!strcmp(a, "--interval") && i + 1 < argc) {
            char *end;
            const char *v = argv[++i];
            interval = strtod(v, &end);
            if (end == v || *end || !(interval >= 0.1 && interval <= 86400)) {
                cli_err_escaped("tollgate status: --interval: seconds from 0.1 to 86400, not ", v,
                                strlen(v));
                return CLI_EXIT_USAGE;
            }
            watching = true;
        } else if (!strcmp(a, "--gateway") && i + 1 < argc) {
            gateway = argv[++i];
        } else if (!strcmp(a, "--state") && i + 1 < argc) {
            state = argv[++i];
        } else {
            cli_err_escaped("tollgate status: unknown or incomplete option: ", a, strlen(a));
            usage(stderr);
            return CLI_EXIT_USAGE;
        }
    }
    cli_client_t c;
    if (cli_client_init(&c, gateway, state) != 0)
        return CLI_EXIT_FAIL;
    if (watching)
        return watch(&c, interval, raw);
    ocsf_buf_t body, view;
    ocsf_buf_init(&body);
    json_t *o = fetch(&c, &body);
    if (!o) {
        ocsf_buf_dispose(&body);
        return CLI_EXIT_FAIL;
    }
    ocsf_buf_init(&view);
    bool bad = render(&view, o, NULL, 0, false);
    if (raw) {
        fwrite(body.p, 1, body.len, stdout);
        fputc('\n', stdout);
    } else {
        fwrite(view.p, 1, view.len, stdout);
    }
    json_decref(o);
    ocsf_buf_dispose(&body);
    ocsf_buf_dispose(&view);
    return bad ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
