/*
 * cmd_proxy.c: `tollgate proxy --sandbox NAME --gateway URL`: the proxy as
 * its own process (proxy/remote.c does the work).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "gateway/gateway.h"
#include "proxy/remote.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: tollgate proxy --sandbox NAME [--gateway URL] [--state DIR]\n"
               "                      [--listen HOST:PORT] [--set KEY=VALUE]...\n\n"
               "Runs the egress proxy of sandbox NAME as its own process: it follows the\n"
               "sandbox's policy on the gateway (live), and ships its events to the gateway,\n"
               "keeping them in DIR/proxy-NAME/spool while the gateway is unreachable.\n"
               "The token: $TOLLGATE_TOKEN, or DIR/token when DIR is the gateway's state.\n");
}

int cli_proxy(int argc, char **argv)
{
    const char *gateway = NULL, *state = NULL, *sandbox = NULL;
    char err[512], dir[4096];
    px_config_t px;
    px_config_default(&px);
    int rc = CLI_EXIT_USAGE;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            rc = CLI_EXIT_OK;
            goto out;
        } else if (!strcmp(a, "--sandbox") && more) {
            sandbox = argv[++i];
        } else if (!strcmp(a, "--gateway") && more) {
            gateway = argv[++i];
        } else if (!strcmp(a, "--state") && more) {
            state = argv[++i];
        } else if (!strcmp(a, "--listen") && more) {
            conf_set(px_options, &px, "proxy.listen", argv[++i], err, sizeof err);
        } else if (!strcmp(a, "--set") && more) {
            char kv[1024];
            snprintf(kv, sizeof kv, "%s", argv[++i]);
            char *eq = strchr(kv, '=');
            if (!eq || (*eq = '\0', conf_set(px_options, &px, kv, eq + 1, err, sizeof err))) {
                cli_err_escaped("tollgate proxy: --set: ", eq ? err : "expected KEY=VALUE",
                                strlen(eq ? err : "expected KEY=VALUE"));
                goto out;
            }
        } else {
            cli_err_escaped("tollgate proxy: unknown or incomplete option: ", a, strlen(a));
            usage(stderr);
            goto out;
        }
    }
    if (!sandbox) {
        usage(stderr);
        goto out;
    }
    rc = CLI_EXIT_FAIL;
    cli_client_t c;
    if (cli_client_init(&c, gateway, state) != 0 ||
        gw_state_dir(state, dir, sizeof dir, err, sizeof err) != 0)
        goto out;
    px_remote_config_t rcfg = {sandbox, c.base, c.token, dir, &px};
    if (px_remote_run(&rcfg, err, sizeof err) != 0) {
        cli_err_escaped("tollgate proxy: ", err, strlen(err));
        goto out;
    }
    rc = CLI_EXIT_OK;
out:
    px_config_dispose(&px);
    return rc;
}
