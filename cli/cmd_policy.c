/*
 * cmd_policy.c: `tollgate policy set | update | get | status`, clients of
 * /v1/sandboxes/NAME/policy. --wait: until every proxy of the sandbox has
 * loaded the new version (exit 0), one failed (1), or --timeout (124).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cli/cli.h"

#define EXIT_TIMEOUT 124

static void usage(FILE *f)
{
    fprintf(f, "usage: tollgate policy set NAME --policy FILE [--wait] [--timeout S]\n"
               "       tollgate policy update NAME [--add-endpoint HOST:PORT[:ACCESS[:PROTOCOL"
               "[:ENFORCEMENT]]]]...\n"
               "                   [--binary PATH]... [--remove-endpoint HOST:PORT]...\n"
               "                   [--rule-name NAME] [--dry-run] [--wait] [--timeout S]\n"
               "       tollgate policy get NAME [--full | --base] [--json]\n"
               "       tollgate policy status NAME [--version N]\n"
               "common: [--gateway URL] [--state DIR]\n\n"
               "`get` shows the effective policy (base + provider layers, each rule with its\n"
               "layer); --base only your part; --full also the sections not enforced yet.\n"
               "--wait exits 0 when every proxy of the sandbox loaded the new version, 1 when\n"
               "one failed, 124 at --timeout (default 30 s).\n");
}

typedef struct {
    const char *sub, *name, *gateway, *state, *policy, *rule_name;
    json_t *add, *remove, *binaries;
    bool dry_run, wait, json, full, base;
    long timeout, version;
} opts_t;

static int parse(int argc, char **argv, opts_t *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (!strcmp(a, "--gateway") && more)
            o->gateway = argv[++i];
        else if (!strcmp(a, "--state") && more)
            o->state = argv[++i];
        else if (!strcmp(a, "--policy") && more)
            o->policy = argv[++i];
        else if (!strcmp(a, "--rule-name") && more)
            o->rule_name = argv[++i];
        else if (!strcmp(a, "--add-endpoint") && more)
            json_array_append_new(o->add, json_string(argv[++i]));
        else if (!strcmp(a, "--remove-endpoint") && more)
            json_array_append_new(o->remove, json_string(argv[++i]));
        else if (!strcmp(a, "--binary") && more)
            json_array_append_new(o->binaries, json_string(argv[++i]));
        else if (!strcmp(a, "--timeout") && more)
            o->timeout = strtol(argv[++i], NULL, 10);
        else if (!strcmp(a, "--version") && more)
            o->version = strtol(argv[++i], NULL, 10);
        else if (!strcmp(a, "--dry-run"))
            o->dry_run = true;
        else if (!strcmp(a, "--wait"))
            o->wait = true;
        else if (!strcmp(a, "--json"))
            o->json = true;
        else if (!strcmp(a, "--full"))
            o->full = true;
        else if (!strcmp(a, "--base"))
            o->base = true;
        else if (a[0] != '-' && !o->sub)
            o->sub = a;
        else if (a[0] != '-' && !o->name)
            o->name = a;
        else {
            cli_err_escaped("tollgate policy: unknown or incomplete option: ", a, strlen(a));
            return -1;
        }
    }
    if (!o->sub || !o->name || (o->full && o->base) || o->timeout < 0 ||
        (strcmp(o->sub, "set") && strcmp(o->sub, "update") && strcmp(o->sub, "get") &&
         strcmp(o->sub, "status")) ||
        (!strcmp(o->sub, "set") && !o->policy))
        return -1;
    return 0;
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
    snprintf(path, sizeof path, "/v1/sandboxes/%.100s/policy?origin=%.600s", o->name,
             origin ? origin : "policy");
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
    json_t *body = json_pack("{s:O,s:O,s:O,s:b}", "add_endpoints", o->add, "remove_endpoints",
                             o->remove, "binaries", o->binaries, "dry_run", o->dry_run);
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
    snprintf(path, sizeof path, "/v1/sandboxes/%.100s/policy?view=%s", o->name,
             o->full   ? "full"
             : o->base ? "base"
                       : "effective");
    if (call(c, "policy get", "GET", path, NULL, NULL, 0, 60, &r) != 0)
        return CLI_EXIT_FAIL;
    if (o->json) {
        cli_print_json(r);
    } else {
        const char *yaml = json_string_value(json_object_get(r, "yaml"));
        printf("# sandbox %s, policy version %lld, hash %s\n",
               json_string_value(json_object_get(r, "name")),
               (long long)json_integer_value(json_object_get(r, "version")),
               json_string_value(json_object_get(r, "hash")));
        print_text(yaml);
    }
    json_decref(r);
    return CLI_EXIT_OK;
}

int cli_policy(int argc, char **argv)
{
    opts_t o = {.add = json_array(), .remove = json_array(), .binaries = json_array()};
    int rc = CLI_EXIT_USAGE;
    json_t *r = NULL;
    cli_client_t c;
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        rc = CLI_EXIT_OK;
        goto out;
    }
    if (parse(argc, argv, &o) != 0) {
        usage(stderr);
        goto out;
    }
    rc = CLI_EXIT_FAIL;
    if (cli_client_init(&c, o.gateway, o.state) != 0)
        goto out;
    if (!strcmp(o.sub, "get")) {
        rc = do_get(&c, &o);
        goto out;
    }
    if (!strcmp(o.sub, "status")) {
        char path[512];
        snprintf(path, sizeof path, "/v1/sandboxes/%.100s/policy/status%s%ld", o.name,
                 o.version ? "?version=" : "", o.version);
        if (!o.version)
            snprintf(path, sizeof path, "/v1/sandboxes/%.100s/policy/status", o.name);
        if (call(&c, "policy status", "GET", path, NULL, NULL, 0, 60, &r) == 0) {
            cli_print_json(r);
            rc = CLI_EXIT_OK;
        }
        goto out;
    }
    if ((!strcmp(o.sub, "set") ? do_set(&c, &o, &r) : do_update(&c, &o, &r)) != 0)
        goto out;
    if (o.dry_run) {
        const char *diff = json_string_value(json_object_get(r, "diff"));
        const char *sum = json_string_value(json_object_get(r, "summary"));
        cli_err_escaped("dry run, nothing changed: ", sum ? sum : "", strlen(sum ? sum : ""));
        print_text(diff);
        rc = CLI_EXIT_OK;
        goto out;
    }
    print_result(r);
    rc = o.wait ? wait_loaded(&c, &o, (long)json_integer_value(json_object_get(r, "version")))
                : CLI_EXIT_OK;
out:
    json_decref(r);
    json_decref(o.add);
    json_decref(o.remove);
    json_decref(o.binaries);
    return rc;
}
