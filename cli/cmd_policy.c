/*
 * cmd_policy.c: `tollgate policy` (alias `pol`): set | update | get | list |
 * status, clients of /v1/sandboxes/NAME/policy; `check FILE` is offline
 * (the policy module alone). OpenShell's spellings work as well: -o
 * table|json, get --rev N, list, --add-allow, --add-deny, --remove-rule,
 * the six-field --add-endpoint, -g/--gateway-endpoint, set --yes (tollgate
 * never asks); --global and `delete` (OpenShell's gateway-wide policy) are
 * refused by name: tollgate has none. --wait: until every proxy of the
 * sandbox has loaded the new version (exit 0), one failed (1), or --timeout
 * (124).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cli/cli.h"
#include "policy/policy.h"

#define EXIT_TIMEOUT 124

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tollgate policy|pol set NAME --policy FILE [--dry-run] [--wait] [--timeout S]\n"
            "                   [--yes]\n"
            "       tollgate policy update NAME [--add-endpoint HOST:PORT[:ACCESS[:PROTOCOL\n"
            "                   [:ENFORCEMENT[:OPTIONS]]]]]... [--binary PATH]...\n"
            "                   [--remove-endpoint HOST:PORT]... [--remove-rule NAME]...\n"
            "                   [--add-allow HOST:PORT:METHOD:PATH]... [--add-deny ...]...\n"
            "                   [--rule-name NAME] [--dry-run] [--wait] [--timeout S]\n"
            "       tollgate policy get NAME [--rev N] [--full | --base] [--json | -o table|json]\n"
            "       tollgate policy list NAME [--limit N] [--json | -o table|json]\n"
            "       tollgate policy status NAME [--version N]\n"
            "       tollgate policy check FILE [--profile] [--json]   (offline)\n"
            "common: [--gateway|-g|--gateway-endpoint URL] [--state DIR]\n\n"
            "`get` shows the effective policy (base + provider layers, each rule with its\n"
            "layer); --base only your part; --full also the sections not enforced yet; --rev N\n"
            "a past version (`list` shows the kept ones, newest first, default 20).\n"
            "set/update: a policy identical to the current one makes no new version (it says\n"
            "so); --dry-run prints the diff against the current version and sets nothing.\n"
            "--add-allow/--add-deny add a method/path rule to the one base endpoint on\n"
            "HOST:PORT (protocol rest); OPTIONS: allowed-ip=IP|CIDR[,...].\n"
            "--wait exits 0 when every proxy of the sandbox loaded the new version, 1 when\n"
            "one failed, 124 at --timeout (default 30 s).\n"
            "`check` parses and validates FILE as the gateway would (--profile: a provider\n"
            "profile), prints its warnings (stderr) and the effective rules (YAML, or the\n"
            "canonical JSON with --json), or the errors: exit 0 or 1. No gateway needed.\n"
            "OpenShell's --global and `policy delete` (a gateway-wide policy) are refused:\n"
            "tollgate has none.\n");
}

static void print_text(const char *text);

/* Prints each "origin:line: ..." warning line on stderr. */
static void print_warnings(const char *w)
{
    for (const char *p = w ? w : ""; *p;) {
        size_t n = strcspn(p, "\n");
        cli_err_escaped("tollgate policy check: warning: ", p, n);
        p += n + (p[n] == '\n');
    }
}

/* `policy check FILE [--profile] [--json]` */
static int do_check(int argc, char **argv)
{
    const char *file = NULL;
    bool profile = false, json = false;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--profile"))
            profile = true;
        else if (!strcmp(argv[i], "--json"))
            json = true;
        else if (argv[i][0] != '-' && !file)
            file = argv[i];
        else {
            cli_err_escaped("tollgate policy: unknown or incomplete option: ", argv[i],
                            strlen(argv[i]));
            return CLI_EXIT_USAGE;
        }
    }
    if (!file) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    char err[1024] = "";
    pol_policy_t *p = NULL;
    pol_provider_t *pr = NULL;
    ocsf_buf_t data;
    ocsf_buf_init(&data);
    if (!profile)
        p = pol_load_file(file, false, err, sizeof err);
    else if (cli_read_file(file, &data) == 0)
        pr = pol_provider_parse(data.p ? data.p : "", data.len, file, err, sizeof err);
    ocsf_buf_dispose(&data);
    const pol_policy_t *show = pr ? pr->as_policy : p;
    if (!show) {
        if (*err)
            cli_err_escaped("tollgate policy check: ", err, strlen(err));
        return CLI_EXIT_FAIL;
    }
    print_warnings(show->warnings);
    char *out = json ? pol_to_json(show, profile) : pol_to_yaml(show, profile);
    print_text(out);
    free(out);
    pol_policy_destroy(p);
    pol_provider_destroy(pr);
    return CLI_EXIT_OK;
}

/* The subcommands an option belongs to. */
enum { S_SET = 1, S_UPDATE = 2, S_GET = 4, S_STATUS = 8, S_LIST = 16, S_DELETE = 32, S_ALL = 63 };
enum { O_FLAG, O_STR, O_LIST, O_LONG };

typedef struct {
    const char *sub, *name, *gateway, *state, *policy, *rule_name, *output;
    json_t *add, *remove, *binaries, *allow, *deny, *remove_rules;
    bool dry_run, wait, json, full, base, yes, global;
    long timeout, version, rev, limit;
    int subcmd; /* S_* */
} opts_t;

/* Every option: tollgate's spelling, OpenShell's where it differs. */
static const struct {
    const char *name, *alias;
    int kind, subs;
    size_t off;
} options[] = {
    {"--gateway", "-g", O_STR, S_ALL, offsetof(opts_t, gateway)},
    {"--gateway-endpoint", NULL, O_STR, S_ALL, offsetof(opts_t, gateway)},
    {"--state", NULL, O_STR, S_ALL, offsetof(opts_t, state)},
    {"--policy", NULL, O_STR, S_SET, offsetof(opts_t, policy)},
    {"--add-endpoint", NULL, O_LIST, S_UPDATE, offsetof(opts_t, add)},
    {"--remove-endpoint", NULL, O_LIST, S_UPDATE, offsetof(opts_t, remove)},
    {"--add-allow", NULL, O_LIST, S_UPDATE, offsetof(opts_t, allow)},
    {"--add-deny", NULL, O_LIST, S_UPDATE, offsetof(opts_t, deny)},
    {"--remove-rule", NULL, O_LIST, S_UPDATE, offsetof(opts_t, remove_rules)},
    {"--binary", NULL, O_LIST, S_UPDATE, offsetof(opts_t, binaries)},
    {"--rule-name", NULL, O_STR, S_UPDATE, offsetof(opts_t, rule_name)},
    {"--timeout", NULL, O_LONG, S_SET | S_UPDATE, offsetof(opts_t, timeout)},
    {"--dry-run", NULL, O_FLAG, S_SET | S_UPDATE, offsetof(opts_t, dry_run)},
    {"--wait", NULL, O_FLAG, S_SET | S_UPDATE, offsetof(opts_t, wait)},
    {"--yes", NULL, O_FLAG, S_SET | S_DELETE, offsetof(opts_t, yes)},
    {"--global", NULL, O_FLAG, S_SET | S_GET | S_LIST | S_DELETE, offsetof(opts_t, global)},
    {"--rev", NULL, O_LONG, S_GET, offsetof(opts_t, rev)},
    {"--full", NULL, O_FLAG, S_GET, offsetof(opts_t, full)},
    {"--base", NULL, O_FLAG, S_GET, offsetof(opts_t, base)},
    {"--output", "-o", O_STR, S_GET | S_LIST, offsetof(opts_t, output)},
    {"--json", NULL, O_FLAG, S_GET | S_LIST | S_STATUS, offsetof(opts_t, json)},
    {"--limit", NULL, O_LONG, S_LIST, offsetof(opts_t, limit)},
    {"--version", NULL, O_LONG, S_STATUS, offsetof(opts_t, version)},
};

static int subcommand(const char *s)
{
    static const char *const names[] = {"set", "update", "get", "status", "list", "delete"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i]) == 0)
            return 1 << i;
    return 0;
}

static int bad(const char *what, const char *arg)
{
    char prefix[160];
    snprintf(prefix, sizeof prefix, "tollgate policy: %s", what);
    cli_err_escaped(prefix, arg ? arg : "", arg ? strlen(arg) : 0);
    return -1;
}

static int set_option(opts_t *o, size_t k, const char *v)
{
    void *at = (char *)o + options[k].off;
    char *end;
    switch (options[k].kind) {
    case O_STR: *(const char **)at = v; return 0;
    case O_LIST: return json_array_append_new(*(json_t **)at, json_string(v));
    case O_LONG:
        *(long *)at = strtol(v, &end, 10);
        if (*end || end == v || *(long *)at < 0)
            return bad("not a number: ", v);
        return 0;
    }
    return -1;
}

/* Reads argv into o; -1 (printed) on a usage error. */
static int parse(int argc, char **argv, opts_t *o)
{
    o->sub = argc > 1 ? argv[1] : NULL;
    o->subcmd = o->sub ? subcommand(o->sub) : 0;
    if (!o->subcmd)
        return bad("unknown subcommand: ", o->sub ? o->sub : "(none)");
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        size_t k = 0, n = sizeof options / sizeof options[0];
        while (k < n && strcmp(a, options[k].name) &&
               !(options[k].alias && !strcmp(a, options[k].alias)))
            k++;
        if (k == n && a[0] != '-' && !o->name) {
            o->name = a;
            continue;
        }
        if (k == n)
            return bad("unknown option: ", a);
        if (!(options[k].subs & o->subcmd)) {
            char what[96];
            snprintf(what, sizeof what, "not an option of `policy %s`: ", o->sub);
            return bad(what, a);
        }
        if (options[k].kind == O_FLAG) {
            *(bool *)((char *)o + options[k].off) = true;
            continue;
        }
        if (i + 1 >= argc)
            return bad("a value must follow ", a);
        if (set_option(o, k, argv[++i]) != 0)
            return -1;
    }
    return 0;
}

/* The update's specs, checked here as OpenShell's CLI does (a malformed
 * one is a usage error); the gateway checks them again against the policy. */
static int check_specs(const opts_t *o)
{
    char err[512];
    size_t i;
    json_t *v;
    for (int k = 0; k < 2; k++) {
        json_array_foreach(k ? o->remove : o->add, i, v)
        {
            pol_endpoint_spec_t e;
            if (pol_endpoint_spec_parse(json_string_value(v), !k, &e, err, sizeof err) != 0)
                return bad(k ? "--remove-endpoint: " : "--add-endpoint: ", err);
            pol_endpoint_spec_dispose(&e);
        }
    }
    for (int k = 0; k < 2; k++) {
        json_array_foreach(k ? o->deny : o->allow, i, v)
        {
            pol_l7_spec_t l;
            if (pol_l7_spec_parse(json_string_value(v), k ? "--add-deny" : "--add-allow", &l, err,
                                  sizeof err) != 0)
                return bad("", err);
            pol_l7_spec_dispose(&l);
        }
    }
    return 0;
}

/* OpenShell's forms tollgate does not have, refused by name; then what
 * each subcommand needs. -1 (printed) on a usage error. */
static int check_opts(opts_t *o)
{
    if (o->global || o->subcmd == S_DELETE)
        return bad(o->subcmd == S_DELETE ? "policy delete: " : "--global: ",
                   "tollgate has no gateway-wide policy (each sandbox has its own: `policy set "
                   "NAME`; `sandbox delete NAME` removes one with its policy)");
    if (o->output) {
        if (strcmp(o->output, "json") && strcmp(o->output, "table"))
            return bad("-o/--output: table or json, not ", o->output);
        o->json = o->json || strcmp(o->output, "json") == 0;
    }
    if (!o->name)
        return bad("a sandbox NAME is required (tollgate keeps no last-used sandbox)", NULL);
    if (o->subcmd == S_SET && !o->policy)
        return bad("set: --policy FILE is required", NULL);
    if (o->full && o->base)
        return bad("--full and --base: one or the other", NULL);
    if (o->dry_run && o->wait)
        return bad("--dry-run and --wait: a dry run loads nothing to wait for", NULL);
    if (o->subcmd == S_LIST && o->limit > 10000)
        return bad("--limit: up to 10000", NULL);
    return check_specs(o);
}

/* One request expecting `want`; the reply parsed into *out. */
static int call(const cli_client_t *c, const char *what, const char *method, const char *path,
                const char *ctype, const char *body, size_t len, long timeout, json_t **out)
{
    ocsf_buf_t resp;
    long status = 0;
    ocsf_buf_init(&resp);
    int rc = cli_request(c, method, path, ctype, body, len, timeout, &status, &resp);
    if (rc == 0 && status != 200) {
        cli_print_error(what, status, &resp);
        rc = -1;
    }
    json_error_t e;
    if (rc == 0 && !(*out = json_loads(resp.p ? resp.p : "", 0, &e)))
        rc = -1;
    ocsf_buf_dispose(&resp);
    return rc;
}

static int wait_loaded(const cli_client_t *c, const opts_t *o, long version)
{
    char path[512];
    long t = o->timeout ? o->timeout : 30;
    snprintf(path, sizeof path, "/v1/sandboxes/%.100s/policy/status?version=%ld&wait=%ld", o->name,
             version, t);
    json_t *r = NULL;
    if (call(c, "policy status", "GET", path, NULL, NULL, 0, t + 15, &r) != 0)
        return CLI_EXIT_FAIL;
    const char *st = json_string_value(json_object_get(r, "state"));
    int rc = CLI_EXIT_OK;
    if (st && !strcmp(st, "no-proxies")) {
        fprintf(stderr,
                "tollgate policy: no proxy of sandbox %s is running; nothing to wait "
                "for\n",
                o->name);
    } else if (st && !strcmp(st, "loaded")) {
        printf("loaded: version %ld by every proxy of %s\n", version, o->name);
    } else if (st && !strcmp(st, "failed")) {
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(r, "proxies"), i, p)
        {
            const char *e = json_string_value(json_object_get(p, "error"));
            if (e && *e)
                cli_err_escaped("tollgate policy: a proxy failed to load it: ", e, strlen(e));
        }
        rc = CLI_EXIT_FAIL;
    } else {
        fprintf(stderr, "tollgate policy: timed out after %ld s waiting for the proxies\n", t);
        rc = EXIT_TIMEOUT;
    }
    json_decref(r);
    return rc;
}

static void print_result(json_t *r)
{
    const char *sum = json_string_value(json_object_get(r, "summary"));
    printf("sandbox %s: policy version %lld hash %s%s%s\n",
           json_string_value(json_object_get(r, "name")),
           (long long)json_integer_value(json_object_get(r, "version")),
           json_string_value(json_object_get(r, "hash")), sum ? "\n  " : "", sum ? sum : "");
}

/* Multi-line text from the gateway (YAML, a diff), line by line through the
 * escaper: nothing in it reaches the terminal raw. */
static void print_text(const char *text)
{
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    for (const char *p = text ? text : ""; *p;) {
        size_t n = strcspn(p, "\n");
        ocsf_text_escape(&b, p, n, 0, OCSF_ESC_MSG);
        ocsf_buf_putc(&b, '\n');
        p += n + (p[n] == '\n');
    }
    if (b.len)
        fwrite(b.p, 1, b.len, stdout);
    ocsf_buf_dispose(&b);
}

static int do_set(const cli_client_t *c, const opts_t *o, json_t **r)
{
    ocsf_buf_t yaml;
    ocsf_buf_init(&yaml);
    if (cli_read_file(o->policy, &yaml) != 0)
        return -1;
    char path[1024];
    char *origin = curl_easy_escape(NULL, o->policy, 0);
    snprintf(path, sizeof path, "/v1/sandboxes/%.100s/policy?origin=%.600s%s", o->name,
             origin ? origin : "policy", o->dry_run ? "&dry_run=1" : "");
    curl_free(origin);
    int rc = call(c, "policy set", "PUT", path, "application/yaml", yaml.p ? yaml.p : "", yaml.len,
                  60, r);
    ocsf_buf_dispose(&yaml);
    if (rc == 0)
        cli_print_warnings("policy set", *r);
    return rc;
}

static int do_update(const cli_client_t *c, const opts_t *o, json_t **r)
{
    char path[512];
    snprintf(path, sizeof path, "/v1/sandboxes/%.100s/policy", o->name);
    json_t *body =
        json_pack("{s:O,s:O,s:O,s:O,s:O,s:O,s:b}", "add_endpoints", o->add, "remove_endpoints",
                  o->remove, "binaries", o->binaries, "add_allow", o->allow, "add_deny", o->deny,
                  "remove_rules", o->remove_rules, "dry_run", o->dry_run);
    if (o->rule_name)
        json_object_set_new(body, "rule_name", json_string(o->rule_name));
    char *b = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    int rc = call(c, "policy update", "PATCH", path, NULL, b, strlen(b), 60, r);
    free(b);
    return rc;
}

static int do_get(const cli_client_t *c, const opts_t *o)
{
    char path[512];
    json_t *r = NULL;
    snprintf(path, sizeof path, "/v1/sandboxes/%.100s/policy?view=%s&version=%ld", o->name,
             o->full   ? "full"
             : o->base ? "base"
                       : "effective",
             o->rev);
    if (call(c, "policy get", "GET", path, NULL, NULL, 0, 60, &r) != 0)
        return CLI_EXIT_FAIL;
    if (o->json) {
        cli_print_json(r);
    } else {
        const char *yaml = json_string_value(json_object_get(r, "yaml"));
        json_t *cur = json_object_get(r, "current");
        printf("# sandbox %s, policy version %lld, hash %s",
               json_string_value(json_object_get(r, "name")),
               (long long)json_integer_value(json_object_get(r, "version")),
               json_string_value(json_object_get(r, "hash")));
        if (cur)
            printf(" (a past version: the current one is %lld)",
                   (long long)json_integer_value(cur));
        printf("\n");
        print_text(yaml);
    }
    json_decref(r);
    return CLI_EXIT_OK;
}

/* created_ms as RFC 3339 UTC, seconds. */
static void fmt_time(json_int_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(out, 32, "-");
}

/* `policy list NAME [--limit N] [-o table|json]`: the kept versions. */
static int do_list(const cli_client_t *c, const opts_t *o)
{
    char path[512];
    json_t *r = NULL, *v;
    size_t i;
    snprintf(path, sizeof path, "/v1/sandboxes/%.100s/policy/history?limit=%ld", o->name,
             o->limit ? o->limit : 20);
    if (call(c, "policy list", "GET", path, NULL, NULL, 0, 60, &r) != 0)
        return CLI_EXIT_FAIL;
    if (o->json) {
        cli_print_json(r);
        json_decref(r);
        return CLI_EXIT_OK;
    }
    json_int_t current = json_integer_value(json_object_get(r, "version"));
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    ocsf_buf_puts(&b, "  VERSION HASH          CREATED               SUMMARY (* current)\n");
    json_array_foreach(json_object_get(r, "history"), i, v)
    {
        char line[160], when[32];
        json_int_t ver = json_integer_value(json_object_get(v, "version"));
        const char *hash = json_string_value(json_object_get(v, "hash"));
        const char *sum = json_string_value(json_object_get(v, "summary"));
        fmt_time(json_integer_value(json_object_get(v, "created_ms")), when);
        snprintf(line, sizeof line, "%c %-7lld %-12.12s  %-20s  ", ver == current ? '*' : ' ',
                 (long long)ver, hash ? hash : "-", when);
        ocsf_buf_puts(&b, line);
        ocsf_text_escape(&b, sum ? sum : "", sum ? strlen(sum) : 0, 200, OCSF_ESC_MSG);
        ocsf_buf_putc(&b, '\n');
    }
    if (json_array_size(json_object_get(r, "history")) == 0)
        ocsf_buf_puts(&b, "(no version kept: versions made before the history existed are not)\n");
    fwrite(b.p, 1, b.len, stdout);
    ocsf_buf_dispose(&b);
    json_decref(r);
    return CLI_EXIT_OK;
}

static int do_status(const cli_client_t *c, const opts_t *o)
{
    char path[512];
    json_t *r = NULL;
    if (o->version)
        snprintf(path, sizeof path, "/v1/sandboxes/%.100s/policy/status?version=%ld", o->name,
                 o->version);
    else
        snprintf(path, sizeof path, "/v1/sandboxes/%.100s/policy/status", o->name);
    if (call(c, "policy status", "GET", path, NULL, NULL, 0, 60, &r) != 0)
        return CLI_EXIT_FAIL;
    if (o->json) {
        cli_print_json(r);
        json_decref(r);
        return CLI_EXIT_OK;
    }
    /* a table: the version wanted, then each proxy's state (escaped) */
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    const char *st = json_string_value(json_object_get(r, "state"));
    const char *hash = json_string_value(json_object_get(r, "hash"));
    char line[256];
    snprintf(line, sizeof line, "sandbox %s: policy version %lld (wanted %lld), state ", o->name,
             (long long)json_integer_value(json_object_get(r, "version")),
             (long long)json_integer_value(json_object_get(r, "wanted")));
    ocsf_text_escape(&b, line, strlen(line), 0, OCSF_ESC_MSG);
    ocsf_text_escape(&b, st ? st : "-", st ? strlen(st) : 1, 40, OCSF_ESC_MSG);
    ocsf_buf_puts(&b, "\nhash ");
    ocsf_text_escape(&b, hash ? hash : "-", hash ? strlen(hash) : 1, 80, OCSF_ESC_MSG);
    snprintf(line, sizeof line, "\n\n%-24s %-8s %-8s %-21s %s\n", "PROXY", "STATE", "VERSION",
             "SEEN", "ERROR");
    ocsf_buf_puts(&b, line);
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(r, "proxies"), i, p)
    {
        const char *f[3] = {json_string_value(json_object_get(p, "id")),
                            json_string_value(json_object_get(p, "state")),
                            json_string_value(json_object_get(p, "error"))};
        for (int k = 0; k < 2; k++) {
            size_t at = b.len;
            ocsf_text_escape(&b, f[k] ? f[k] : "?", f[k] ? strlen(f[k]) : 1, 100, OCSF_ESC_MSG);
            for (size_t w = b.len - at; w < (k ? 9u : 25u); w++)
                ocsf_buf_putc(&b, ' ');
        }
        json_int_t ms = json_integer_value(json_object_get(p, "seen_ms"));
        time_t t = (time_t)(ms / 1000);
        struct tm tm;
        char when[32] = "-";
        if (ms > 0)
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
        snprintf(line, sizeof line, "%-8lld %-21s ",
                 (long long)json_integer_value(json_object_get(p, "version")), when);
        ocsf_buf_puts(&b, line);
        ocsf_text_escape(&b, f[2] && *f[2] ? f[2] : "-", f[2] && *f[2] ? strlen(f[2]) : 1, 300,
                         OCSF_ESC_MSG);
        ocsf_buf_putc(&b, '\n');
    }
    if (!json_array_size(json_object_get(r, "proxies")))
        ocsf_buf_puts(&b, "(no proxy has loaded a policy of this sandbox)\n");
    fwrite(b.p, 1, b.len, stdout);
    ocsf_buf_dispose(&b);
    json_decref(r);
    return CLI_EXIT_OK;
}

/* What a set or an update answered: a dry run's diff, "unchanged", or the
 * new version (then --wait). */
static int report(const cli_client_t *c, const opts_t *o, json_t *r)
{
    long version = (long)json_integer_value(json_object_get(r, "version"));
    bool same = json_is_true(json_object_get(r, "unchanged"));
    if (o->dry_run) {
        const char *diff = json_string_value(json_object_get(r, "diff"));
        const char *sum = json_string_value(json_object_get(r, "summary"));
        if (same)
            fprintf(stderr, "dry run: identical to version %ld, nothing would change\n", version);
        else
            cli_err_escaped("dry run, nothing changed: ", sum ? sum : "", strlen(sum ? sum : ""));
        print_text(diff);
        return CLI_EXIT_OK;
    }
    if (same)
        printf("sandbox %s: policy unchanged: identical to version %ld (hash %s); no new "
               "version\n",
               o->name, version, json_string_value(json_object_get(r, "hash")));
    else
        print_result(r);
    return o->wait ? wait_loaded(c, o, version) : CLI_EXIT_OK;
}

int cli_policy(int argc, char **argv)
{
    opts_t o = {.add = json_array(),
                .remove = json_array(),
                .binaries = json_array(),
                .allow = json_array(),
                .deny = json_array(),
                .remove_rules = json_array()};
    int rc = CLI_EXIT_USAGE;
    json_t *r = NULL;
    cli_client_t c;
    for (int i = 1; i < argc; i++) /* `policy set --help` too: the usage, whatever else */
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            rc = CLI_EXIT_OK;
            goto out;
        }
    if (argc > 1 && !strcmp(argv[1], "check")) {
        rc = do_check(argc, argv);
        goto out;
    }
    if (parse(argc, argv, &o) != 0 || check_opts(&o) != 0) {
        fprintf(stderr, "(tollgate policy --help: the usage)\n");
        goto out;
    }
    rc = CLI_EXIT_FAIL;
    if (cli_client_init(&c, o.gateway, o.state) != 0)
        goto out;
    if (o.subcmd == S_GET)
        rc = do_get(&c, &o);
    else if (o.subcmd == S_LIST)
        rc = do_list(&c, &o);
    else if (o.subcmd == S_STATUS)
        rc = do_status(&c, &o);
    else if ((o.subcmd == S_SET ? do_set(&c, &o, &r) : do_update(&c, &o, &r)) == 0)
        rc = report(&c, &o, r);
out:
    json_decref(r);
    json_decref(o.add);
    json_decref(o.remove);
    json_decref(o.binaries);
    json_decref(o.allow);
    json_decref(o.deny);
    json_decref(o.remove_rules);
    return rc;
}
