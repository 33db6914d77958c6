/*
 * main.c: `tollgate`, the dispatcher. One table of subcommands (with
 * OpenShell's aliases: `lg`, `pol`); each prints its own --help. The
 * gateway's address may come before the command, as OpenShell's global
 * flags do: `tollgate -g URL logs` (it becomes $TOLLGATE_GATEWAY).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "ocsf/ocsf.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
    const char *alias; /* OpenShell's short name, or NULL */
} cli_cmd_t;

static const cli_cmd_t cmds[] = {
    {"up", cli_gateway, "run everything in one process: gateway, collector, exporters, proxy",
     NULL},
    {"gateway", cli_gateway, "run the gateway API and the collector", NULL},
    {"proxy", cli_proxy, "run a sandbox's egress proxy as its own process", NULL},
    {"logs", cli_logs, "show and follow events (the human log view)", "lg"},
    {"sandbox", cli_sandbox, "create, list, show and delete sandboxes", NULL},
    {"policy", cli_policy, "show and change a sandbox's policy, live", "pol"},
    {"status", cli_status, "the spool and every exporter: delivered, lag, paused, errors", NULL},
    {"verify", cli_verify, "check the spool's CRCs and hash chain", NULL},
    {"report", cli_report, "the compliance report of a period, from the spool", NULL},
    {"ca", cli_ca, "print the TLS interception CA's certificate (PEM)", NULL},
    {"ocsf", cli_ocsf, "OCSF events: samples, render to human lines, validate, cast", NULL},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: tollgate [--help] [--version] [-g|--gateway URL] <command> [<args>]\n\n"
               "tollgate: an egress gateway for sandboxed programs whose every decision\n"
               "is an OCSF v1.7.0 audit event.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        fprintf(f, "  %-13s %s%s%s%s\n", cmds[i].name, cmds[i].summary,
                cmds[i].alias ? " (alias: " : "", cmds[i].alias ? cmds[i].alias : "",
                cmds[i].alias ? ")" : "");
        if (cmds[i].run == cli_sandbox)
            fprintf(f, "  %-13s %s\n", "sandbox exec",
                    "run a command confined in a sandbox, its egress through the proxy");
    }
    fprintf(f,
            "\n'tollgate <command> --help' describes a command. -g/--gateway/--gateway-endpoint\n"
            "URL before the command: the gateway every client command talks to.\n");
}

int main(int argc, char **argv)
{
    /* OpenShell's global gateway flags, before the command */
    while (argc > 2 && (strcmp(argv[1], "-g") == 0 || strcmp(argv[1], "--gateway") == 0 ||
                        strcmp(argv[1], "--gateway-endpoint") == 0)) {
        if (setenv("TOLLGATE_GATEWAY", argv[2], 1) != 0)
            return CLI_EXIT_FAIL;
        argc -= 2;
        argv += 2;
    }
    if (argc > 1 && (strcmp(argv[1], "-g") == 0 || strcmp(argv[1], "--gateway") == 0 ||
                     strcmp(argv[1], "--gateway-endpoint") == 0)) {
        cli_err_escaped("tollgate: a URL must follow ", argv[1], strlen(argv[1]));
        return CLI_EXIT_USAGE;
    }
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("tollgate %s (OCSF 1.7.0)\n", TOLLGATE_VERSION);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(argv[1], cmds[i].name) == 0 ||
            (cmds[i].alias && !strcmp(argv[1], cmds[i].alias)))
            return cmds[i].run(argc - 1, argv + 1);
    cli_err_escaped("tollgate: unknown command: ", argv[1], strlen(argv[1]));
    usage(stderr);
    return CLI_EXIT_USAGE;
}
