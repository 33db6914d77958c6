/*
 * cmd_sandbox.c: `tollgate sandbox create | list | get | delete`, clients of
 * /v1/sandboxes; `exec` is cmd_exec.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: tollgate sandbox create --name NAME [--provider ID]... [--policy FILE] "
               "[--user USER]\n"
               "       tollgate sandbox list\n"
               "       tollgate sandbox get NAME\n"
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
        } else if (rc == 0) {
            cli_print_json(r);
        }
    }
    json_decref(r);
    return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
