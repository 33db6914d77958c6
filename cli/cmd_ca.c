/*
 * cmd_ca.c: `tollgate ca`: prints the TLS interception CA's certificate
 * (GET /v1/ca), for trust stores outside `sandbox exec`. Never the key: it
 * stays in <state>/ca/ca.key and no API serves it.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: tollgate ca [--gateway URL] [--state DIR]\n\n"
               "Prints the certificate (PEM) of the CA the gateway's proxies present in\n"
               "intercepted TLS tunnels, for clients' trust stores (`sandbox exec` sets\n"
               "SSL_CERT_FILE and friends itself). The CA's key never leaves\n"
               "DIR/ca/ca.key.\n");
}

/* A reply that is one PEM certificate and nothing else (no terminal bytes). */
static bool is_pem_cert(const ocsf_buf_t *b)
{
    static const char begin[] = "-----BEGIN CERTIFICATE-----\n";
    if (!b->p || b->len < sizeof begin || memcmp(b->p, begin, sizeof begin - 1) != 0)
        return false;
    for (size_t i = 0; i < b->len; i++) {
        unsigned char c = (unsigned char)b->p[i];
        if (c != '\n' && (c < 0x20 || c > 0x7e))
            return false;
    }
    return strstr(b->p, "-----END CERTIFICATE-----") != NULL;
}

int cli_ca(int argc, char **argv)
{
    const char *gateway = NULL, *state = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return CLI_EXIT_OK;
        } else if (!strcmp(a, "--gateway") && i + 1 < argc) {
            gateway = argv[++i];
        } else if (!strcmp(a, "--state") && i + 1 < argc) {
            state = argv[++i];
        } else {
            cli_err_escaped("tollgate ca: unknown or incomplete option: ", a, strlen(a));
            usage(stderr);
            return CLI_EXIT_USAGE;
        }
    }
    cli_client_t c;
    if (cli_client_init(&c, gateway, state) != 0)
        return CLI_EXIT_FAIL;
    long status = 0;
    ocsf_buf_t body;
    ocsf_buf_init(&body);
    int rc = cli_request(&c, "GET", "/v1/ca", NULL, NULL, 0, 30, &status, &body);
    if (rc == 0 && status != 200) {
        cli_print_error("ca", status, &body);
        rc = -1;
    } else if (rc == 0 && !is_pem_cert(&body)) {
        fprintf(stderr, "tollgate ca: the gateway's answer is not a PEM certificate\n");
        rc = -1;
    }
    if (rc == 0)
        fwrite(body.p, 1, body.len, stdout);
    ocsf_buf_dispose(&body);
    return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
