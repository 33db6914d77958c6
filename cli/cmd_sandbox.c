/*
 * cmd_sandbox.c: `tollgate sandbox create | list | get | delete`, clients of
 * /v1/sandboxes; `exec` is cmd_exec.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli/cli.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: tollgate sandbox create --name NAME [--provider ID]... [--policy FILE] "
               "[--user USER]\n"
               "       tollgate sandbox list\n"
               "       tollgate sandbox get NAME [--json]\n"
               "       tollgate sandbox delete NAME\n"
               "       tollgate sandbox exec --name NAME [--user USER] [--env K=V]... [--cwd DIR] "
               "[--tty]\n"
               "                             -- CMD...\n"
               "common: [--gateway URL] [--state DIR]\n\n"
               "Providers shipped: codex, github (a layer _provider_<id> that policy updates\n"
               "can never remove). Without --policy the sandbox allows nothing. --user: the\n"
               "non-root user `sandbox exec` runs its commands as (default tollgate-sandbox).\n");
}

int cli_read_file(const char *path, ocsf_buf_t *out)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        char prefix[128];
        snprintf(prefix, sizeof prefix, "tollgate: %s: ", strerror(errno));
        cli_err_escaped(prefix, path, strlen(path));
        return -1;
    }
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0 && out->len < (16u << 20))
        ocsf_buf_put(out, buf, n);
    fclose(f);
    ocsf_buf_cstr(out);
    return 0;
}

void cli_print_json(json_t *o)
{
    /* compact, then through the escaper: no raw DEL, C1 or bidi control
     * from the gateway's data reaches the terminal */
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    if (s)
        ocsf_text_escape(&b, s, strlen(s), 0, OCSF_ESC_MSG);
    ocsf_buf_putc(&b, '\n');
    fwrite(b.p, 1, b.len, stdout);
    ocsf_buf_dispose(&b);
    free(s);
}

static int show(json_t *sb)
{
    json_t *provs = json_object_get(sb, "providers"), *p;
    size_t i;
    printf("%-24s version %-4lld rules %-4lld hash %.12s  providers:",
           json_string_value(json_object_get(sb, "name")),
           (long long)json_integer_value(json_object_get(sb, "version")),
           (long long)json_integer_value(json_object_get(sb, "rules")),
           json_string_value(json_object_get(sb, "hash")));
    json_array_foreach(provs, i, p) printf(" %s", json_string_value(p));
    printf("%s\n", json_array_size(provs) ? "" : " -");
    return 0;
}

/* a value from the gateway, escaped for the terminal */
static void put_text(const char *s)
{
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    if (s)
        ocsf_text_escape(&b, s, strlen(s), 300, OCSF_ESC_MSG);
    fputs(s && *s ? ocsf_buf_cstr(&b) : "-", stdout);
    ocsf_buf_dispose(&b);
}

static void put_time(json_t *ms)
{
    char buf[40] = "-";
    if (json_is_integer(ms) && json_integer_value(ms) > 0) {
        time_t t = (time_t)(json_integer_value(ms) / 1000);
        struct tm tm;
        strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
    }
    fputs(buf, stdout);
}

/* `sandbox get NAME`: one field a line, then its proxies and pinned
 * binaries as tables (--json: the gateway's answer). */
static void show_one(json_t *sb)
{
    json_t *provs = json_object_get(sb, "providers"), *p;
    size_t i;
    const char *key;
    printf("%-10s ", "name");
    put_text(json_string_value(json_object_get(sb, "name")));
    printf("\n%-10s ", "uid");
    put_text(json_string_value(json_object_get(sb, "uid")));
    printf("\n%-10s %lld (rules: %lld)\n%-10s ", "version",
           (long long)json_integer_value(json_object_get(sb, "version")),
           (long long)json_integer_value(json_object_get(sb, "rules")), "hash");
    put_text(json_string_value(json_object_get(sb, "hash")));
    printf("\n%-10s", "providers");
    json_array_foreach(provs, i, p)
    {
        putchar(' ');
        put_text(json_string_value(p));
    }
    printf("%s\n%-10s ", json_array_size(provs) ? "" : " -", "user");
    put_text(json_string_value(json_object_get(sb, "user")));
    printf("\n%-10s ", "created");
    put_time(json_object_get(sb, "created_ms"));
    putchar('\n');
    json_t *px = json_object_get(sb, "proxies");
    printf("\n%-24s %-8s %-8s %-21s %s\n", "PROXY", "STATE", "VERSION", "SEEN", "ERROR");
    json_array_foreach(px, i, p)
    {
        ocsf_buf_t b;
        ocsf_buf_init(&b);
        const char *id = json_string_value(json_object_get(p, "id"));
        ocsf_text_escape(&b, id ? id : "?", id ? strlen(id) : 1, 100, OCSF_ESC_MSG);
        printf("%-24s ", ocsf_buf_cstr(&b));
        ocsf_buf_dispose(&b);
        const char *st = json_string_value(json_object_get(p, "state"));
        printf("%-8s %-8lld ", st && strlen(st) < 20 ? st : "?",
               (long long)json_integer_value(json_object_get(p, "version")));
        put_time(json_object_get(p, "seen_ms"));
        printf("  ");
        put_text(json_string_value(json_object_get(p, "error")));
        putchar('\n');
    }
    if (!json_array_size(px))
        printf("(none has loaded a policy yet)\n");
    json_t *pins = json_object_get(sb, "pinned_binaries");
    printf("\n%-40s %s\n", "PINNED BINARY", "SHA-256 (trusted on first use)");
    json_object_foreach(pins, key, p)
    {
        ocsf_buf_t b;
        ocsf_buf_init(&b);
        ocsf_text_escape(&b, key, strlen(key), 300, OCSF_ESC_MSG);
        printf("%-40s ", ocsf_buf_cstr(&b));
        ocsf_buf_dispose(&b);
        put_text(json_string_value(p));
        putchar('\n');
    }
    if (!json_object_size(pins))
        printf("(none yet)\n");
}

static int do_request(const cli_client_t *c, const char *what, const char *method, const char *path,
                      json_t *body, int want, json_t **out)
{
    char *b = body ? json_dumps(body, JSON_COMPACT) : NULL;
    ocsf_buf_t resp;
    long status = 0;
    ocsf_buf_init(&resp);
    int rc = cli_request(c, method, path, NULL, b, b ? strlen(b) : 0, 60, &status, &resp);
    free(b);
    if (rc == 0 && status != want) {
        cli_print_error(what, status, &resp);
        rc = -1;
    }
    if (rc == 0 && out) {
        json_error_t e;
        *out = json_loads(resp.p ? resp.p : "", 0, &e);
        if (!*out)
            rc = -1;
    }
    ocsf_buf_dispose(&resp);
    return rc;
}

int cli_sandbox(int argc, char **argv)
{
    const char *gateway = NULL, *state = NULL, *name = NULL, *policy = NULL, *sub = NULL;
    const char *user = NULL;
    bool json = false;
    const char *provs[16];
    size_t np = 0;
    if (argc > 1 && !strcmp(argv[1], "exec"))
        return cli_sandbox_exec(argc - 1, argv + 1);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return CLI_EXIT_OK;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--gateway") && more) {
            gateway = argv[++i];
        } else if (!strcmp(a, "--state") && more) {
            state = argv[++i];
        } else if (!strcmp(a, "--name") && more) {
            name = argv[++i];
        } else if (!strcmp(a, "--policy") && more) {
            policy = argv[++i];
        } else if (!strcmp(a, "--user") && more) {
            user = argv[++i];
        } else if (!strcmp(a, "--provider") && more && np < 16) {
            provs[np++] = argv[++i];
        } else if (a[0] != '-' && !sub) {
            sub = a;
        } else if (a[0] != '-' && !name) {
            name = a;
        } else {
            cli_err_escaped("tollgate sandbox: unknown or incomplete option: ", a, strlen(a));
            usage(stderr);
            return CLI_EXIT_USAGE;
        }
    }
    bool needs_name = sub && strcmp(sub, "list") != 0;
    if (!sub || (needs_name && !name) ||
        (strcmp(sub, "create") && strcmp(sub, "list") && strcmp(sub, "get") &&
         strcmp(sub, "delete"))) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    cli_client_t c;
    if (cli_client_init(&c, gateway, state) != 0)
        return CLI_EXIT_FAIL;
    char path[512];
    json_t *r = NULL;
    int rc = 0;
    if (!strcmp(sub, "create")) {
        ocsf_buf_t yaml;
        ocsf_buf_init(&yaml);
        json_t *pa = json_array();
        for (size_t i = 0; i < np; i++)
            json_array_append_new(pa, json_string(provs[i]));
        json_t *body = json_pack("{s:s,s:o}", "name", name, "providers", pa);
        if (policy && cli_read_file(policy, &yaml) != 0) {
            json_decref(body);
            ocsf_buf_dispose(&yaml);
            return CLI_EXIT_FAIL;
        }
        if (user)
            json_object_set_new(body, "user", json_string(user));
        if (policy) {
            json_object_set_new(body, "policy_yaml", json_stringn(yaml.p, yaml.len));
            json_object_set_new(body, "origin", json_string(policy));
        }
        rc = do_request(&c, "sandbox create", "POST", "/v1/sandboxes", body, 201, &r);
        if (rc == 0)
            cli_print_warnings("sandbox create", r);
        json_decref(body);
        ocsf_buf_dispose(&yaml);
        if (rc == 0)
            show(r);
    } else if (!strcmp(sub, "list")) {
        rc = do_request(&c, "sandbox list", "GET", "/v1/sandboxes", NULL, 200, &r);
        size_t i;
        json_t *sb;
        json_array_foreach(json_object_get(r, "sandboxes"), i, sb) show(sb);
    } else {
        snprintf(path, sizeof path, "/v1/sandboxes/%.100s", name);
        bool del = !strcmp(sub, "delete");
        rc = do_request(&c, del ? "sandbox delete" : "sandbox get", del ? "DELETE" : "GET", path,
                        NULL, 200, &r);
        if (rc == 0 && del) {
            printf("deleted sandbox %s\n", name);
        } else if (rc == 0 && json) {
            cli_print_json(r);
        } else if (rc == 0) {
            show_one(r);
        }
    }
    json_decref(r);
    return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
