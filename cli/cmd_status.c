/*
 * cmd_status.c: `tollgate status`: the collector and every exporter, for
 * people (the same numbers as /metrics), or the raw JSON with --json.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli/cli.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: tollgate status [--json] [--gateway URL] [--state DIR]\n\n"
               "The spool (events, sequence range, bytes, full or not) and each exporter:\n"
               "delivered, retried, dead-lettered, in flight, lag in events and seconds,\n"
               "paused, and the last error. Exit 1 when an exporter is paused or the\n"
               "spool is full.\n");
}

static unsigned long long u(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (unsigned long long)json_integer_value(v) : 0;
}

/* a string from the gateway, escaped for the terminal */
static void put_escaped(const char *s)
{
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    ocsf_text_escape(&b, s, strlen(s), 200, OCSF_ESC_MSG);
    fputs(ocsf_buf_cstr(&b), stdout);
    ocsf_buf_dispose(&b);
}

int cli_status(int argc, char **argv)
{
    const char *gateway = NULL, *state = NULL;
    bool raw = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return CLI_EXIT_OK;
        } else if (!strcmp(a, "--json")) {
            raw = true;
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
    long status;
    ocsf_buf_t body;
    ocsf_buf_init(&body);
    int rc = cli_request(&c, "GET", "/v1/status", NULL, NULL, 0, 30, &status, &body);
    if (rc == 0 && status != 200) {
        cli_print_error("tollgate status", status, &body);
        rc = -1;
    }
    json_t *o = NULL;
    if (rc == 0 && !(o = json_loadb(body.p, body.len, 0, NULL))) {
        fprintf(stderr, "tollgate status: the gateway's answer is not JSON\n");
        rc = -1;
    }
    if (rc) {
        ocsf_buf_dispose(&body);
        return CLI_EXIT_FAIL;
    }
    bool bad = false;
    json_t *col = json_object_get(o, "collector");
    bad |= json_is_true(json_object_get(col, "full"));
    if (raw) {
        fwrite(body.p, 1, body.len, stdout);
        fputc('\n', stdout);
    } else {
        printf("spool: events %llu..%llu, %llu bytes in %llu segments%s; dropped %llu\n",
               u(col, "first_sequence"), u(col, "written_sequence"), u(col, "spool_bytes"),
               u(col, "segments"),
               json_is_true(json_object_get(col, "full")) ? ", FULL (held for an exporter)" : "",
               u(col, "dropped"));
    }
    json_t *xs = json_object_get(o, "exporters");
    if (!raw && json_array_size(xs) == 0)
        printf("exporters: none configured\n");
    else if (!raw)
        printf("%-14s %-6s %-7s %10s %8s %8s %8s %10s %9s  %s\n", "EXPORTER", "TYPE", "STATE",
               "DELIVERED", "RETRIED", "DEAD", "INFLIGHT", "LAG", "LAG_S", "LAST ERROR");
    size_t i;
    json_t *x;
    json_array_foreach(xs, i, x)
    {
        bool enabled = json_is_true(json_object_get(x, "enabled"));
        bool paused = json_is_true(json_object_get(x, "paused"));
        bad |= paused;
        if (raw)
            continue;
        const char *name = json_string_value(json_object_get(x, "name"));
        const char *type = json_string_value(json_object_get(x, "type"));
        const char *err = json_string_value(json_object_get(x, "last_error"));
        putchar(' ');
        put_escaped(name ? name : "?");
        printf("%*s", (int)(13 - (name && strlen(name) < 13 ? strlen(name) : 13)), "");
        printf(" %-6s %-7s %10llu %8llu %8llu %8llu %10llu %9.1f  ", type ? type : "?",
               !enabled ? "off"
               : paused ? "PAUSED"
                        : "ok",
               u(x, "delivered"), u(x, "retried"), u(x, "dead_lettered"), u(x, "in_flight"),
               u(x, "lag_events"), json_real_value(json_object_get(x, "lag_seconds")));
        put_escaped(err && *err ? err : "-");
        putchar('\n');
    }
    json_decref(o);
    ocsf_buf_dispose(&body);
    return bad ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
