/*
 * main.c: `tollgate`, the dispatcher. One table of subcommands; each prints
 * its own --help.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "ocsf/ocsf.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} cli_cmd_t;

static const cli_cmd_t cmds[] = {
    {"up", cli_gateway, "run everything in one process: gateway, collector, exporters, proxy"},
    {"gateway", cli_gateway, "run the gateway API and the collector"},
    {"proxy", cli_proxy, "run a sandbox's egress proxy as its own process"},
    {"logs", cli_logs, "show and follow events (the human log view)"},
    {"sandbox", cli_sandbox, "create, list, show and delete sandboxes"},
    {"policy", cli_policy, "show and change a sandbox's policy, live"},
    {"status", cli_status, "the spool and every exporter: delivered, lag, paused, errors"},
    {"verify", cli_verify, "check the spool's CRCs and hash chain"},
    {"report", cli_report, "the compliance report of a period, from the spool"},
    {"ca", cli_ca, "print the TLS interception CA's certificate (PEM)"},
    {"ocsf", cli_ocsf, "OCSF events: samples, render to human lines, validate"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: tollgate [--help] [--version] <command> [<args>]\n\n"
               "tollgate: an egress gateway for sandboxed programs whose every decision\n"
               "is an OCSF v1.7.0 audit event.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        fprintf(f, "  %-10s %s\n", cmds[i].name, cmds[i].summary);
    fprintf(f, "\n'tollgate <command> --help' describes a command.\n");
}

int main(int argc, char **argv)
{
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
        if (strcmp(argv[1], cmds[i].name) == 0)
            return cmds[i].run(argc - 1, argv + 1);
    cli_err_escaped("tollgate: unknown command: ", argv[1], strlen(argv[1]));
    usage(stderr);
    return CLI_EXIT_USAGE;
}
