/*
 * cmd_logs.c: `tollgate logs [NAME]` (alias `lg`), a client of GET /v1/logs.
 * It asks for OCSF JSON lines and renders them here (DESIGN.md's CLI
 * format), in colour only on a terminal and never with NO_COLOR; --json
 * passes them through. OpenShell's spellings work too: -g/--gateway-endpoint,
 * --source given several times (their union), --level error|warn|info|debug|
 * trace (mapped onto OCSF severities, see level_map).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli/cli.h"

#define RED   "\x1b[31m"
#define GREEN "\x1b[32m"
#define RESET "\x1b[0m"

typedef struct {
    bool json, color;
    long status;
    ocsf_buf_t line;  /* a partial line */
    ocsf_buf_t out;   /* rendered */
    ocsf_buf_t error; /* the body of a non-200 reply */
    size_t bad;
} logs_t;

static void usage(FILE *f)
{
    fprintf(f, "usage: tollgate logs|lg [NAME] [--tail|-f] [-n N] [--since T] [--until T]\n"
               "                     [--source gateway|sandbox|all]... [--class C] [--action A]\n"
               "                     [--min-severity S|--level S|L] [--json]\n"
               "                     [--gateway|-g|--gateway-endpoint URL] [--state DIR]\n\n"
               "Shows the last N (default 200) events that match, oldest first; without NAME,\n"
               "every sandbox and the gateway. --tail/-f then follows new events. T is a\n"
               "duration back from now (30s, 5m, 2h, 7d, 1h30m) or RFC 3339. --source again:\n"
               "the union. C: network, http, finding, config, lifecycle, process. A: allowed,\n"
               "denied. S (a minimum OCSF severity): info, low, medium, high, critical, fatal.\n"
               "L (OpenShell's level names): error = medium and above (failures), warn = low\n"
               "and above (denials, audit-mode violations), info = informational and above,\n"
               "debug, trace = everything. --json prints OCSF JSON lines. The gateway is\n"
               "--gateway, $TOLLGATE_GATEWAY or the state directory's; the token\n"
               "$TOLLGATE_TOKEN or <state>/token.\n");
}

/* OpenShell's --level names onto OCSF minimum severities ("": no filter).
 * OpenShell shows a line when its level is at least as severe as the one
 * asked, counting its OCSF events as info; tollgate's lines are all OCSF
 * events, ranked by severity_id (medium and above are failures). NULL: not
 * one of these names (an OCSF severity, passed as it is). */
static const char *level_map(const char *level)
{
    static const struct {
        const char *level, *severity;
    } map[] = {{"error", "medium"}, {"warn", "low"}, {"warning", "low"},
               {"info", "info"},    {"debug", ""},   {"trace", ""}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcasecmp(level, map[i].level) == 0)
            return map[i].severity;
    return NULL;
}

/* An OCSF severity as /v1/logs takes it: a name or a severity_id. */
static bool severity_ok(const char *v)
{
    static const char *const names[] = {"info", "informational", "low",      "med",  "medium",
                                        "high", "crit",          "critical", "fatal"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(v, names[i]) == 0)
            return true;
    return *v && strspn(v, "0123456789") == strlen(v) && strlen(v) < 4;
}

/* --source NAME into a set: 1 gateway, 2 sandbox, 3 all; -1 unknown. */
static int source_bit(const char *v)
{
    return !strcmp(v, "gateway") ? 1 : !strcmp(v, "sandbox") ? 2 : !strcmp(v, "all") ? 3 : -1;
}

static void colorize(logs_t *l, size_t start)
{
    /* the action is the first " DENIED " / " ALLOWED " after "[ocsf] ":
     * nothing before it comes from outside unescaped */
    const char *p = ocsf_buf_cstr(&l->out) + start; /* NUL-terminated for strstr */
    const char *ocsf = strstr(p, "[ocsf] ");
    if (!ocsf)
        return;
    const char *d = strstr(ocsf, " DENIED "), *a = strstr(ocsf, " ALLOWED ");
    const char *hit = d && (!a || d < a) ? d : a;
    if (!hit)
        return;
    size_t at = (size_t)(hit + 1 - l->out.p), len = hit == d ? 6 : 7;
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    ocsf_buf_put(&b, l->out.p + at, l->out.len - at);
    l->out.len = at;
    ocsf_buf_puts(&l->out, hit == d ? RED : GREEN);
    ocsf_buf_put(&l->out, b.p, len);
    ocsf_buf_puts(&l->out, RESET);
    ocsf_buf_put(&l->out, b.p + len, b.len - len);
    ocsf_buf_dispose(&b);
}

static void one_line(logs_t *l, const char *s, size_t n)
{
    if (n == 0)
        return;
    if (l->json) {
        ocsf_buf_put(&l->out, s, n);
        ocsf_buf_putc(&l->out, '\n');
        return;
    }
    char err[256];
    size_t start = l->out.len;
    if (ocsf_render_json(s, n, OCSF_LINE_CLI, &l->out, err, sizeof err) != 0) {
        l->bad++;
        return;
    }
    if (l->color)
        colorize(l, start);
    ocsf_buf_putc(&l->out, '\n');
}

static size_t on_data(char *p, size_t size, size_t nmemb, void *ctx)
{
    logs_t *l = ctx;
    size_t n = size * nmemb;
    if (l->status != 200) {
        if (l->error.len < 4096)
            ocsf_buf_put(&l->error, p, n);
        return n;
    }
    ocsf_buf_put(&l->line, p, n);
    size_t start = 0;
    for (;;) {
        char *nl = memchr(l->line.p + start, '\n', l->line.len - start);
        if (!nl)
            break;
        one_line(l, l->line.p + start, (size_t)(nl - (l->line.p + start)));
        start = (size_t)(nl - l->line.p) + 1;
    }
    memmove(l->line.p, l->line.p + start, l->line.len - start);
    l->line.len -= start;
    if (l->out.len && fwrite(l->out.p, 1, l->out.len, stdout) != l->out.len)
        return 0; /* stdout closed: stop */
    fflush(stdout);
    l->out.len = 0;
    return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ctx)
{
    logs_t *l = ctx;
    size_t n = size * nmemb;
    if (n > 9 && strncmp(p, "HTTP/", 5) == 0) {
        const char *sp = memchr(p, ' ', n);
        if (sp)
            l->status = strtol(sp + 1, NULL, 10);
    }
    return n;
}

static void add_param(CURL *c, ocsf_buf_t *url, const char *key, const char *value)
{
    char *esc = curl_easy_escape(c, value, 0);
    ocsf_buf_putc(url, strchr(url->p, '?') ? '&' : '?');
    ocsf_buf_puts(url, key);
    ocsf_buf_putc(url, '=');
    ocsf_buf_puts(url, esc ? esc : "");
    ocsf_buf_cstr(url);
    curl_free(esc);
}

/* The options that map to a query parameter one to one. */
static const struct {
    const char *opt, *param;
} passthrough[] = {
    {"--since", "since"}, {"--until", "until"},   {"-n", "limit"},
    {"--class", "class"}, {"--action", "action"}, {"--min-severity", "min_severity"},
};

static int run(const char *gateway, const char *token, ocsf_buf_t *url, bool follow, logs_t *l)
{
    CURL *c = curl_easy_init();
    if (!c)
        return CLI_EXIT_FAIL;
    char auth[128];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    struct curl_slist *h = curl_slist_append(NULL, auth);
    curl_easy_setopt(c, CURLOPT_URL, url->p);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, l);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, l);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (getenv("TOLLGATE_CACERT"))
        curl_easy_setopt(c, CURLOPT_CAINFO, getenv("TOLLGATE_CACERT"));
    if (!follow)
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 300L);
    CURLcode cc = curl_easy_perform(c);
    int rc = CLI_EXIT_OK;
    if (l->status && l->status != 200) {
        ocsf_buf_cstr(&l->error);
        char prefix[96];
        snprintf(prefix, sizeof prefix, "tollgate logs: the gateway said %ld: ", l->status);
        cli_err_escaped(prefix, l->error.p, l->error.len);
        rc = CLI_EXIT_FAIL;
    } else if (cc != CURLE_OK && cc != CURLE_WRITE_ERROR) {
        fprintf(stderr, "tollgate logs: cannot read from the gateway at ");
        cli_err_escaped("", gateway, strlen(gateway));
        fprintf(stderr, "  %s (is `tollgate gateway` running?)\n", curl_easy_strerror(cc));
        rc = CLI_EXIT_FAIL;
    }
    if (l->bad)
        fprintf(stderr, "tollgate logs: %zu lines could not be decoded\n", l->bad);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return rc;
}

int cli_logs(int argc, char **argv)
{
    const char *gateway = NULL, *state = NULL, *name = NULL;
    cli_client_t cl;
    int sources = 0;
    bool follow = false;
    logs_t l = {.status = 0};
    ocsf_buf_t url;
    ocsf_buf_init(&url);
    ocsf_buf_init(&l.line);
    ocsf_buf_init(&l.out);
    ocsf_buf_init(&l.error);
    CURL *esc = curl_easy_init();
    int rc = CLI_EXIT_USAGE;
    ocsf_buf_t params;
    ocsf_buf_init(&params);
    ocsf_buf_puts(&params, "?format=json");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool takes = i + 1 < argc;
        size_t k;
        for (k = 0; k < sizeof passthrough / sizeof passthrough[0]; k++)
            if (strcmp(a, passthrough[k].opt) == 0)
                break;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            rc = CLI_EXIT_OK;
            goto out;
        } else if (strcmp(a, "--tail") == 0 || strcmp(a, "-f") == 0) {
            follow = true;
        } else if (strcmp(a, "--json") == 0) {
            l.json = true;
        } else if (k < sizeof passthrough / sizeof passthrough[0] && takes) {
            add_param(esc, &params, passthrough[k].param, argv[++i]);
        } else if (strcmp(a, "--level") == 0 && takes) {
            const char *sev = level_map(argv[++i]);
            if (!sev && !severity_ok(argv[i])) {
                cli_err_escaped("tollgate logs: --level: error, warn, info, debug, trace or an "
                                "OCSF severity (info, low, medium, high, critical, fatal), not ",
                                argv[i], strlen(argv[i]));
                goto out;
            }
            if (!sev || *sev)
                add_param(esc, &params, "min_severity", sev ? sev : argv[i]);
        } else if (strcmp(a, "--source") == 0 && takes) {
            int bit = source_bit(argv[++i]);
            if (bit < 0) {
                cli_err_escaped("tollgate logs: --source: gateway, sandbox or all, not ", argv[i],
                                strlen(argv[i]));
                goto out;
            }
            sources |= bit;
        } else if ((strcmp(a, "--gateway") == 0 || strcmp(a, "-g") == 0 ||
                    strcmp(a, "--gateway-endpoint") == 0) &&
                   takes) {
            gateway = argv[++i];
        } else if (strcmp(a, "--state") == 0 && takes) {
            state = argv[++i];
        } else if (a[0] != '-' && !name) {
            name = a;
        } else {
            cli_err_escaped("tollgate logs: unknown or incomplete option: ", a, strlen(a));
            usage(stderr);
            goto out;
        }
    }
    rc = CLI_EXIT_FAIL;
    if (cli_client_init(&cl, gateway, state) != 0)
        goto out;
    /* several --source: their union; both (or all) is no filter */
    if (sources == 1 || sources == 2)
        add_param(esc, &params, "source", sources == 1 ? "gateway" : "sandbox");
    ocsf_buf_puts(&url, cl.base);
    ocsf_buf_puts(&url, "/v1/logs");
    ocsf_buf_put(&url, params.p, params.len);
    ocsf_buf_cstr(&url);
    if (name)
        add_param(esc, &url, "sandbox", name);
    if (follow)
        add_param(esc, &url, "follow", "1");
    if (!l.json) /* the human line is rendered from the event as received */
        add_param(esc, &url, "stored", "1");
    const char *nc = getenv("NO_COLOR");
    l.color = !l.json && isatty(STDOUT_FILENO) && !(nc && *nc);
    signal(SIGPIPE, SIG_IGN);
    rc = run(cl.base, cl.token, &url, follow, &l);
out:
    curl_easy_cleanup(esc);
    ocsf_buf_dispose(&url);
    ocsf_buf_dispose(&params);
    ocsf_buf_dispose(&l.line);
    ocsf_buf_dispose(&l.out);
    ocsf_buf_dispose(&l.error);
    return rc;
}
