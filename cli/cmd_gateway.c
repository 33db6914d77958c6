/*
 * cmd_gateway.c: `tollgate gateway` and `tollgate up` (the embedded
 * default: today the gateway and collector; the proxy joins when it lands).
 * `tollgate verify` is in cmd_verify.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "collector/collector.h"
#include "collector/export.h"
#include "gateway/gateway.h"

static void gateway_usage(FILE *f, const char *name)
{
    bool up = strcmp(name, "up") == 0;
    fprintf(f,
            "usage: tollgate %s [--state DIR] [--listen HOST:PORT] [--config FILE]\n"
            "%s"
            "                [--tls-cert PEM --tls-key PEM] [--set KEY=VALUE]...\n\n",
            name, up ? "                [--proxy-listen HOST:PORT]\n" : "");
    if (up)
        fprintf(f,
                "Runs everything in one process: the gateway API (default %s), the\n"
                "collector, the exporters and the proxy of sandbox `default`\n"
                "(--proxy-listen, default 127.0.0.1:3128). Without any exporter\n"
                "configured, the file exporter `file` writes into DIR/export.\n",
                GW_DEFAULT_LISTEN);
    else
        fprintf(f,
                "Runs the gateway API (default %s), the collector and the configured\n"
                "exporters; sandboxes' proxies run apart (`tollgate proxy`).\n",
                GW_DEFAULT_LISTEN);
    fprintf(f, "The spool lives in DIR/spool (DIR: --state, $TOLLGATE_STATE,\n"
               "$XDG_STATE_HOME/tollgate or ~/.local/state/tollgate); the API token is\n"
               "DIR/token (mode 0600). --help-config lists the settings a --config YAML\n"
               "file (or --set) takes; without --config, DIR/tollgate.yaml is read when it\n"
               "exists. Its `exporters:` list ships the spool to files, Kafka and Splunk HEC.\n"
               "Stops cleanly on SIGINT or SIGTERM.\n");
}

static int need_arg(int i, int argc, const char *opt)
{
    if (i + 1 < argc)
        return 0;
    fprintf(stderr, "tollgate: %s needs a value\n", opt);
    return -1;
}

/* `up` with no exporter configured: the file exporter into DIR/export. */
static int default_file_exporter(exp_config_list_t *l, const char *dir, char *err, size_t errlen)
{
    char out[4200];
    snprintf(out, sizeof out, "%s/export", dir);
    conf_kv_t kv[] = {{"name", "file", 0}, {"type", "file", 0}, {"dir", out, 0}};
    size_t bad;
    return exp_config_add(l, kv, 3, err, errlen, &bad);
}

int cli_gateway(int argc, char **argv)
{
    gw_config_t gw;
    col_config_t col;
    px_config_t px;
    exp_config_list_t exporters = {0};
    bool up = strcmp(argv[0], "up") == 0;
    const char *state = NULL, *config = NULL;
    char err[512], dir[4096], implicit[4200];
    gw_config_default(&gw);
    col_config_default(&col);
    px_config_default(&px);
    const conf_option_t *tabs[] = {gw_options, col_options, px_options};
    void *objs[] = {&gw, &col, &px};
    int rc = CLI_EXIT_USAGE;
    conf_list_t lists[] = {exp_config_list_hook(&exporters)};
    /* the file first, then flags and --set over it */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config = argv[i + 1];
        else if (strcmp(argv[i], "--state") == 0 && i + 1 < argc)
            state = argv[i + 1];
    }
    if (!config && gw_state_dir(state, dir, sizeof dir, err, sizeof err) == 0) {
        snprintf(implicit, sizeof implicit, "%s/tollgate.yaml", dir);
        if (access(implicit, F_OK) == 0)
            config = implicit;
    }
    if (config && conf_load_file_lists(config, tabs, objs, 3, lists, 1, err, sizeof err) != 0) {
        cli_err_escaped("tollgate: ", err, strlen(err));
        goto out;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            gateway_usage(stdout, argv[0]);
            rc = CLI_EXIT_OK;
            goto out;
        } else if (strcmp(a, "--help-config") == 0) {
            printf("settings (YAML keys, nested or dotted; or --set KEY=VALUE):\n");
            conf_print_reference(stdout, gw_options);
            conf_print_reference(stdout, col_options);
            conf_print_reference(stdout, px_options);
            printf("\nexporters: a list; each item has name, type (file|kafka|hec|stdout) and:\n");
            conf_print_reference(stdout, exp_options);
            static const char *const types[] = {"file", "kafka", "hec", "stdout"};
            for (size_t t = 0; t < 4; t++) {
                printf("  type %s:\n", types[t]);
                conf_print_reference(stdout, exp_sink_find(types[t])->options);
            }
            rc = CLI_EXIT_OK;
            goto out;
        } else if (strcmp(a, "--config") == 0 && !need_arg(i, argc, a)) {
            i++;
        } else if (strcmp(a, "--state") == 0 && !need_arg(i, argc, a)) {
            state = argv[++i];
        } else if ((strcmp(a, "--listen") == 0 || strcmp(a, "--tls-cert") == 0 ||
                    strcmp(a, "--tls-key") == 0) &&
                   !need_arg(i, argc, a)) {
            const char *key = a[2] == 'l'   ? "gateway.listen"
                              : a[6] == 'c' ? "gateway.tls_cert"
                                            : "gateway.tls_key";
            conf_set(gw_options, &gw, key, argv[++i], err, sizeof err);
        } else if (strcmp(a, "--proxy-listen") == 0 && !need_arg(i, argc, a)) {
            conf_set(px_options, &px, "proxy.listen", argv[++i], err, sizeof err);
        } else if (strcmp(a, "--set") == 0 && !need_arg(i, argc, a)) {
            char kv[1024];
            snprintf(kv, sizeof kv, "%s", argv[++i]);
            char *eq = strchr(kv, '=');
            int r =
                eq ? (*eq = '\0', conf_set(gw_options, &gw, kv, eq + 1, err, sizeof err)) : -EINVAL;
            if (r == -ENOENT)
                r = conf_set(col_options, &col, kv, eq + 1, err, sizeof err);
            if (r == -ENOENT)
                r = conf_set(px_options, &px, kv, eq + 1, err, sizeof err);
            if (r) {
                cli_err_escaped("tollgate: --set: ", eq ? err : "expected KEY=VALUE",
                                strlen(eq ? err : "expected KEY=VALUE"));
                goto out;
            }
        } else {
            cli_err_escaped("tollgate: unknown option: ", a, strlen(a));
            gateway_usage(stderr, argv[0]);
            goto out;
        }
    }
    if (!gw.tls_cert != !gw.tls_key) {
        fprintf(stderr, "tollgate: --tls-cert and --tls-key go together\n");
        goto out;
    }
    rc = CLI_EXIT_FAIL;
    if (gw_state_dir(state, dir, sizeof dir, err, sizeof err) != 0) {
        cli_err_escaped("tollgate: ", err, strlen(err));
        goto out;
    }
    if (up && exporters.n == 0 && default_file_exporter(&exporters, dir, err, sizeof err) != 0) {
        cli_err_escaped("tollgate: ", err, strlen(err));
        goto out;
    }
    if (gw_run(dir, &gw, &col, up ? &px : NULL, &exporters, err, sizeof err) != 0) {
        cli_err_escaped("tollgate: ", err, strlen(err));
        goto out;
    }
    rc = CLI_EXIT_OK;
out:
    gw_config_dispose(&gw);
    conf_dispose(col_options, &col);
    px_config_dispose(&px);
    exp_config_list_dispose(&exporters);
    return rc;
}
