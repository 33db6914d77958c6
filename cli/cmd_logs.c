/*
 * cmd_logs.c: `tollgate logs [NAME]` (alias `lg`), a client of GET /v1/logs.
 * It asks for OCSF JSON lines and renders them here (logs_line.c: DESIGN.md's
 * CLI format, a "[sandbox] " prefix when the view spans sandboxes), in colour
 * only on a terminal and never with NO_COLOR; --json passes them through.
 * Arguments are checked here (exit 2 naming the flag) before any request.
 * --tail follows; when the gateway goes away it says so and reconnects,
 * resuming after the last sequence it printed (GET /v1/logs?after=SEQ): no
 * gap, no duplicate, until Ctrl-C. OpenShell's spellings work too:
 * -g/--gateway-endpoint, --source given several times (their union),
 * --level error|warn|info|debug|trace (mapped onto OCSF severities, see
 * level_map).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cli/cli.h"
#include "gateway/gateway.h"

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 4000

typedef struct {
    cli_logs_view_t view;
    long status;
    bool reconnecting; /* the gateway went away; say so when it is back */
    ocsf_buf_t line;   /* a partial line */
    ocsf_buf_t out;    /* rendered */
    ocsf_buf_t error;  /* the body of a non-200 reply */
    uint64_t last_seq; /* the last event printed */
    size_t bad;
} logs_t;

static void usage(FILE *f)
{
    fprintf(f, "usage: tollgate logs|lg [NAME] [--tail|-f] [-n N|all] [--since T] [--until T]\n"
               "                     [--source gateway|sandbox|all]... [--class C] [--action A]\n"
               "                     [--min-severity S|--level S|L] [--json]\n"
               "                     [--timestamps epoch|iso|local] [--no-prefix]\n"
               "                     [--gateway|-g|--gateway-endpoint URL] [--state DIR]\n\n"
               "Shows the last N (default 200; 0: none, all: every one) events that match,\n"
               "oldest first; without NAME, every sandbox and the gateway, each line led by\n"
               "[SANDBOX] (--no-prefix: OpenShell's line as it is). --tail/-f then follows new\n"
               "events, reconnecting (and resuming where it stopped) when the gateway restarts.\n"
               "T: a duration back from now (30s, 5m, 2h, 7d, 1h30m), an RFC 3339 time, one\n"
               "without a zone (UTC) or a date (YYYY-MM-DD, UTC; --until: the whole day).\n"
               "--source again: the union. C: network, http, finding, config, lifecycle,\n"
               "process. A: allowed, denied. S (a minimum OCSF severity): info, low, medium,\n"
               "high, critical, fatal. L (OpenShell's level names): error = medium and above\n"
               "(failures), warn = low and above (denials, audit-mode violations), info =\n"
               "informational and above, debug, trace = everything. --timestamps: epoch\n"
               "seconds (default, OpenShell's), iso (UTC) or local. Lines show a SHA-256 as\n"
               "its first 12 hex digits; --json prints the OCSF JSON lines, whole.\n"
               "The gateway is --gateway, $TOLLGATE_GATEWAY or the state directory's; the\n"
               "token $TOLLGATE_TOKEN or DIR/token (DIR: --state, $TOLLGATE_STATE, ...).\n");
}

static int usage_error(const char *what, const char *value)
{
    cli_err_escaped(what, value, strlen(value));
    fprintf(stderr, "(tollgate logs --help: the usage)\n");
    return CLI_EXIT_USAGE;
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

static void one_line(logs_t *l, const char *s, size_t n)
{
    uint64_t seq = 0;
    if (n == 0)
        return;
    if (cli_logs_line(&l->view, s, n, &l->out, &seq) != 0)
        l->bad++;
    if (seq > l->last_seq)
        l->last_seq = seq;
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
        if (l->status == 200 && l->reconnecting) {
            fprintf(stderr, "tollgate: reconnected; resuming after sequence %llu\n",
                    (unsigned long long)l->last_seq);
            l->reconnecting = false;
        }
    }
    return n;
}

static void add_param(CURL *c, ocsf_buf_t *url, const char *key, const char *value)
{
    char *esc = curl_easy_escape(c, value, 0);
    ocsf_buf_putc(url, strchr(ocsf_buf_cstr(url), '?') ? '&' : '?');
    ocsf_buf_puts(url, key);
    ocsf_buf_putc(url, '=');
    ocsf_buf_puts(url, esc ? esc : "");
    ocsf_buf_cstr(url);
    curl_free(esc);
}

typedef enum { RUN_DONE, RUN_GONE, RUN_REFUSED, RUN_UNREACHABLE } run_rc_t;

/* One GET; RUN_GONE: the stream ended or broke after the gateway answered
 * 200 (it stopped), RUN_UNREACHABLE: no answer at all, RUN_REFUSED: it
 * answered an error (in l->status, l->error). */
static run_rc_t run_once(const cli_client_t *cl, const char *url, bool follow, logs_t *l)
{
    CURL *c = curl_easy_init();
    if (!c)
        return RUN_UNREACHABLE;
    char auth[128];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", cl->token);
    struct curl_slist *h = curl_slist_append(NULL, auth);
    l->status = 0;
    l->line.len = 0; /* a line cut by a broken stream comes again: it was not counted */
    l->error.len = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
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
    run_rc_t rc = RUN_DONE;
    if (l->status && l->status != 200) {
        rc = RUN_REFUSED;
    } else if (cc == CURLE_WRITE_ERROR) {
        rc = RUN_DONE; /* stdout closed */
    } else if (cc != CURLE_OK) {
        rc = l->status == 200 ? RUN_GONE : RUN_UNREACHABLE;
        if (!follow || rc == RUN_UNREACHABLE) {
            fprintf(stderr, "tollgate logs: cannot read from the gateway at ");
            cli_err_escaped("", cl->base, strlen(cl->base));
            fprintf(stderr, "  %s (is `tollgate gateway` running?)\n", curl_easy_strerror(cc));
        }
    } else if (follow) {
        rc = RUN_GONE; /* a follow ends only when the gateway stops */
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return rc;
}

static void refused(logs_t *l)
{
    ocsf_buf_cstr(&l->error);
    cli_print_error("logs", l->status, &l->error);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* The sequence written last (GET /v1/health): where a follow with nothing
 * to show before it starts. -1 (printed) when the gateway cannot say. */
static int written_seq(const cli_client_t *cl, uint64_t *out)
{
    ocsf_buf_t b;
    long status = 0;
    ocsf_buf_init(&b);
    int rc = cli_request(cl, "GET", "/v1/health", NULL, NULL, 0, 30, &status, &b);
    json_t *o = rc == 0 && status == 200 ? json_loadb(b.p, b.len, 0, NULL) : NULL;
    json_t *w = json_object_get(o, "written_seq");
    if (rc == 0 && !json_is_integer(w)) {
        fprintf(stderr, "tollgate logs: the gateway's /v1/health says no written_seq (%ld)\n",
                status);
        rc = -1;
    }
    if (rc == 0)
        *out = (uint64_t)json_integer_value(w);
    json_decref(o);
    ocsf_buf_dispose(&b);
    return rc;
}

/* NAME is a sandbox the gateway knows, or events carry it (a remote proxy's
 * sandbox the gateway has no record of): 0; else -1, printed. */
static int check_sandbox(const cli_client_t *cl, CURL *esc, const char *name)
{
    ocsf_buf_t path, b;
    long status = 0;
    int rc = -1;
    char *e = curl_easy_escape(esc, name, 0);
    ocsf_buf_init(&path);
    ocsf_buf_init(&b);
    ocsf_buf_puts(&path, "/v1/sandboxes/");
    ocsf_buf_puts(&path, e ? e : "");
    if (cli_request(cl, "GET", ocsf_buf_cstr(&path), NULL, NULL, 0, 30, &status, &b) != 0)
        goto out;
    if (status == 200) {
        rc = 0;
        goto out;
    }
    if (status != 404) {
        cli_print_error("logs", status, &b);
        goto out;
    }
    path.len = 0;
    b.len = 0;
    ocsf_buf_puts(&path, "/v1/logs?format=json&stored=1&limit=1&sandbox=");
    ocsf_buf_puts(&path, e ? e : "");
    if (cli_request(cl, "GET", ocsf_buf_cstr(&path), NULL, NULL, 0, 300, &status, &b) != 0)
        goto out;
    if (status != 200) {
        cli_print_error("logs", status, &b);
        goto out;
    }
    if (b.len > 0) {
        rc = 0;
        goto out;
    }
    ocsf_buf_t msg;
    ocsf_buf_init(&msg);
    ocsf_buf_puts(&msg, name);
    ocsf_buf_puts(&msg, " (tollgate sandbox list shows them)");
    cli_err_escaped("tollgate logs: no such sandbox: ", msg.p, msg.len);
    ocsf_buf_dispose(&msg);
out:
    curl_free(e);
    ocsf_buf_dispose(&path);
    ocsf_buf_dispose(&b);
    return rc;
}

/* Shows, then follows until the gateway is gone for good or Ctrl-C. */
static int show(const cli_client_t *cl, const ocsf_buf_t *query, long limit, bool follow, logs_t *l)
{
    CURL *esc = curl_easy_init();
    ocsf_buf_t url;
    uint64_t floor = 0;
    long backoff = BACKOFF_MIN_MS;
    bool first = true;
    int rc = CLI_EXIT_FAIL;
    ocsf_buf_init(&url);
    if (follow && written_seq(cl, &floor) != 0)
        goto out;
    for (;;) {
        char num[32];
        url.len = 0;
        ocsf_buf_puts(&url, cl->base);
        ocsf_buf_puts(&url, "/v1/logs");
        ocsf_buf_put(&url, query->p, query->len);
        if (first && limit != 0) {
            if (limit > 0) {
                snprintf(num, sizeof num, "%ld", limit);
                add_param(esc, &url, "limit", num);
            } else {
                add_param(esc, &url, "limit", "0"); /* all */
            }
        } else {
            /* -n 0, or a reconnect: every match past what was printed */
            uint64_t after = l->last_seq > floor ? l->last_seq : floor;
            snprintf(num, sizeof num, "%llu", (unsigned long long)after);
            add_param(esc, &url, "after", num);
        }
        if (follow)
            add_param(esc, &url, "follow", "1");
        run_rc_t r = run_once(cl, ocsf_buf_cstr(&url), follow, l);
        if (r == RUN_REFUSED && !(follow && !first && l->status == 503)) {
            refused(l);
            rc = l->status == 400 ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
            goto out;
        }
        if (r == RUN_DONE || (r == RUN_UNREACHABLE && first)) {
            rc = r == RUN_DONE ? CLI_EXIT_OK : CLI_EXIT_FAIL;
            goto out;
        }
        /* the gateway went away (stopped, restarted, or not back yet) */
        if (r == RUN_GONE || !l->reconnecting) {
            if (!l->reconnecting)
                fprintf(stderr, "tollgate: the gateway went away; reconnecting...\n");
            l->reconnecting = true;
            backoff = BACKOFF_MIN_MS;
        }
        first = false;
        sleep_ms(backoff);
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
out:
    if (l->bad)
        fprintf(stderr, "tollgate logs: %zu lines could not be decoded\n", l->bad);
    ocsf_buf_dispose(&url);
    curl_easy_cleanup(esc);
    return rc;
}

/* The options that map to a query parameter one to one. */
static const struct {
    const char *opt, *param;
} passthrough[] = {
    {"--class", "class"},
    {"--action", "action"},
    {"--min-severity", "min_severity"},
};

/* --since/--until: checked here; what the gateway takes as it is goes as it
 * is (a duration is measured on the gateway's clock), the rest as RFC 3339. */
static int add_when(CURL *esc, ocsf_buf_t *q, const char *opt, const char *v)
{
    int64_t ms, ignored;
    if (cli_parse_when(v, strcmp(opt, "--until") == 0, &ms) != 0) {
        char what[160];
        snprintf(what, sizeof what,
                 "tollgate logs: %s: not a duration (30s, 5m, 2h, 7d, 1h30m), an RFC 3339 "
                 "time or a date (YYYY-MM-DD): ",
                 opt);
        return usage_error(what, v);
    }
    const char *key = opt + 2;
    if (gw_parse_time(v, 0, &ignored) == 0) {
        add_param(esc, q, key, v);
        return 0;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char iso[64];
    gmtime_r(&t, &tm);
    size_t k = strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(iso + k, sizeof iso - k, ".%03dZ", (int)(ms % 1000));
    add_param(esc, q, key, iso);
    return 0;
}

/* -n: 0 to 100000, or all (-1). */
static int parse_count(const char *v, long *out)
{
    char *end;
    if (strcmp(v, "all") == 0) {
        *out = -1;
        return 0;
    }
    errno = 0;
    long n = strtol(v, &end, 10);
    if (end == v || *end || errno || n < 0 || n > 100000)
        return usage_error("tollgate logs: -n: a number of events (0 to 100000) or all, not ", v);
    *out = n;
    return 0;
}

static int parse_ts(const char *v, cli_ts_t *out)
{
    if (strcmp(v, "epoch") == 0)
        *out = CLI_TS_EPOCH;
    else if (strcmp(v, "iso") == 0 || strcmp(v, "utc") == 0)
        *out = CLI_TS_ISO;
    else if (strcmp(v, "local") == 0)
        *out = CLI_TS_LOCAL;
    else
        return usage_error("tollgate logs: --timestamps: epoch, iso or local, not ", v);
    return 0;
}

typedef struct {
    const char *gateway, *state, *name;
    int sources;
    bool follow, no_prefix;
    long limit; /* -1: all, -2: the gateway's default */
} args_t;

/* Reads argv into a and q (the query); CLI_EXIT_OK to go on, else the exit. */
static int parse(int argc, char **argv, args_t *a, logs_t *l, CURL *esc, ocsf_buf_t *q)
{
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        bool takes = i + 1 < argc;
        size_t k;
        for (k = 0; k < sizeof passthrough / sizeof passthrough[0]; k++)
            if (strcmp(o, passthrough[k].opt) == 0)
                break;
        if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
            usage(stdout);
            return -1;
        } else if (strcmp(o, "--tail") == 0 || strcmp(o, "-f") == 0) {
            a->follow = true;
        } else if (strcmp(o, "--json") == 0) {
            l->view.json = true;
        } else if (strcmp(o, "--no-prefix") == 0) {
            a->no_prefix = true;
        } else if (k < sizeof passthrough / sizeof passthrough[0] && takes) {
            add_param(esc, q, passthrough[k].param, argv[++i]);
        } else if ((strcmp(o, "--since") == 0 || strcmp(o, "--until") == 0) && takes) {
            if (add_when(esc, q, o, argv[++i]) != 0)
                return CLI_EXIT_USAGE;
        } else if ((strcmp(o, "-n") == 0 || strcmp(o, "--tail-lines") == 0) && takes) {
            if (parse_count(argv[++i], &a->limit) != 0)
                return CLI_EXIT_USAGE;
        } else if (strcmp(o, "--timestamps") == 0 && takes) {
            if (parse_ts(argv[++i], &l->view.ts) != 0)
                return CLI_EXIT_USAGE;
        } else if (strcmp(o, "--level") == 0 && takes) {
            const char *sev = level_map(argv[++i]);
            if (!sev && !severity_ok(argv[i]))
                return usage_error("tollgate logs: --level: error, warn, info, debug, trace or "
                                   "an OCSF severity (info, low, medium, high, critical, "
                                   "fatal), not ",
                                   argv[i]);
            if (!sev || *sev)
                add_param(esc, q, "min_severity", sev ? sev : argv[i]);
        } else if (strcmp(o, "--source") == 0 && takes) {
            int bit = source_bit(argv[++i]);
            if (bit < 0)
                return usage_error("tollgate logs: --source: gateway, sandbox or all, not ",
                                   argv[i]);
            a->sources |= bit;
        } else if ((strcmp(o, "--gateway") == 0 || strcmp(o, "-g") == 0 ||
                    strcmp(o, "--gateway-endpoint") == 0) &&
                   takes) {
            a->gateway = argv[++i];
        } else if (strcmp(o, "--state") == 0 && takes) {
            a->state = argv[++i];
        } else if (o[0] != '-' && !a->name) {
            a->name = o;
        } else {
            return usage_error("tollgate logs: unknown or incomplete option: ", o);
        }
    }
    return CLI_EXIT_OK;
}

int cli_logs(int argc, char **argv)
{
    cli_client_t cl;
    args_t a = {.limit = -2};
    logs_t l = {.status = 0};
    ocsf_buf_t q;
    ocsf_buf_init(&q);
    ocsf_buf_init(&l.line);
    ocsf_buf_init(&l.out);
    ocsf_buf_init(&l.error);
    CURL *esc = curl_easy_init();
    ocsf_buf_puts(&q, "?format=json");
    int rc = parse(argc, argv, &a, &l, esc, &q);
    if (rc != CLI_EXIT_OK) {
        rc = rc < 0 ? CLI_EXIT_OK : rc;
        goto out;
    }
    rc = CLI_EXIT_FAIL;
    if (cli_client_init(&cl, a.gateway, a.state) != 0)
        goto out;
    /* several --source: their union; both (or all) is no filter */
    if (a.sources == 1 || a.sources == 2)
        add_param(esc, &q, "source", a.sources == 1 ? "gateway" : "sandbox");
    if (a.name)
        add_param(esc, &q, "sandbox", a.name);
    if (!l.view.json) /* the human line is rendered from the event as received */
        add_param(esc, &q, "stored", "1");
    if (a.name && check_sandbox(&cl, esc, a.name) != 0)
        goto out;
    rc = CLI_EXIT_OK;
    if (a.limit == 0 && !a.follow)
        goto out; /* none asked */
    const char *nc = getenv("NO_COLOR");
    l.view.color = !l.view.json && isatty(STDOUT_FILENO) && !(nc && *nc);
    l.view.prefix = !l.view.json && !a.name && !a.no_prefix;
    signal(SIGPIPE, SIG_IGN);
    rc = show(&cl, &q, a.limit == -2 ? 200 : a.limit, a.follow, &l);
out:
    curl_easy_cleanup(esc);
    ocsf_buf_dispose(&q);
    ocsf_buf_dispose(&l.line);
    ocsf_buf_dispose(&l.out);
    ocsf_buf_dispose(&l.error);
    return rc;
}
