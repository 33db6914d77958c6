/*
 * client.c: how CLI commands reach the gateway: URL (--gateway,
 * $TOLLGATE_GATEWAY, http://127.0.0.1:17670), token ($TOLLGATE_TOKEN or
 * <state>/token), one request with libcurl (blocking: this is the CLI).
 * A malformed $TOLLGATE_TOKEN is a usage error (exit 2), never ignored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cli/cli.h"
#include "gateway/gateway.h"

static bool is_token(const char *s)
{
    return strlen(s) == GW_TOKEN_HEX && strspn(s, "0123456789abcdefABCDEF") == GW_TOKEN_HEX;
}

int cli_client_init(cli_client_t *c, const char *gateway, const char *state)
{
    char dir[4096], err[512];
    const char *env = getenv("TOLLGATE_GATEWAY");
    const char *tok = getenv("TOLLGATE_TOKEN");
    memset(c, 0, sizeof *c);
    bool named = (gateway && *gateway) || (env && *env);
    bool have_dir = gw_state_dir(state, dir, sizeof dir, err, sizeof err) == 0;
    if (have_dir)
        snprintf(c->token_file, sizeof c->token_file, "%s/token", dir);
    if (tok && *tok && !is_token(tok)) {
        /* a usage error, never silently replaced by the state's token */
        char msg[4300];
        snprintf(msg, sizeof msg,
                 "tollgate: TOLLGATE_TOKEN is set but is not an API token (64 hex characters, "
                 "as in %s): fix it, or unset it to use that file",
                 have_dir ? c->token_file : "<state>/token");
        cli_err_escaped("", msg, strlen(msg));
        exit(CLI_EXIT_USAGE);
    }
    snprintf(c->base, sizeof c->base, "%s",
             gateway && *gateway ? gateway
             : env && *env       ? env
                                 : "http://127.0.0.1:17670");
    /* no address given: the one of the gateway that holds the state directory;
     * a --state without it would send that state's token to whoever listens on
     * the default address */
    if (!named && have_dir && gw_state_gateway_url(dir, c->base, sizeof c->base) != 0 && state &&
        *state) {
        cli_err_escaped("tollgate: no gateway holds the state directory ", dir, strlen(dir));
        fprintf(stderr, "tollgate: start one, or pass --gateway URL\n");
        return -1;
    }
    size_t n = strlen(c->base);
    while (n && c->base[n - 1] == '/')
        c->base[--n] = '\0';
    if (tok && *tok) {
        memcpy(c->token, tok, GW_TOKEN_HEX + 1);
        c->token_from_env = true;
        return 0;
    }
    if (!have_dir || gw_token_load(dir, false, c->token, err, sizeof err) != 0) {
        cli_err_escaped("tollgate: no API token: ", err, strlen(err));
        return -1;
    }
    return 0;
}

/* Replaces a reply's body by {"error": msg}. */
static void set_error(ocsf_buf_t *out, const char *msg)
{
    json_t *o = json_pack("{s:s}", "error", msg);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    out->len = 0;
    if (s)
        ocsf_buf_puts(out, s);
    free(s);
    json_decref(o);
}

/* The gateway's 401 and "no such sandbox" say what the gateway knows; the
 * client knows which token it sent and which sandbox it named: it says so,
 * and what to do next. */
static void explain(const cli_client_t *c, const char *path, long status, ocsf_buf_t *out)
{
    char msg[4600];
    if (status == 401) {
        const char *file = *c->token_file ? c->token_file : "<state>/token";
        if (c->token_from_env)
            snprintf(msg, sizeof msg, "unauthorized (TOLLGATE_TOKEN does not match %s)", file);
        else
            snprintf(msg, sizeof msg,
                     "unauthorized (the token in %s is not this gateway's: pass the "
                     "gateway's --state DIR or set TOLLGATE_TOKEN)",
                     file);
        set_error(out, msg);
        return;
    }
    static const char prefix[] = "/v1/sandboxes/";
    if (status != 404 || strncmp(path, prefix, sizeof prefix - 1) != 0)
        return;
    json_t *o = json_loadb(out->p ? out->p : "", out->len, 0, NULL);
    const char *e = json_string_value(json_object_get(o, "error"));
    if (e && strncmp(e, "no such sandbox", 15) == 0) {
        const char *name = path + sizeof prefix - 1;
        int len = (int)strcspn(name, "/?"); /* as sent: printed escaped */
        snprintf(msg, sizeof msg, "no such sandbox: %.*s (tollgate sandbox list shows them)",
                 len > 256 ? 256 : len, name);
        set_error(out, msg);
    }
    json_decref(o);
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ctx)
{
    ocsf_buf_put(ctx, p, size * nmemb);
    return size * nmemb;
}

int cli_request(const cli_client_t *c, const char *method, const char *path,
                const char *content_type, const char *body, size_t len, long timeout_s,
                long *status, ocsf_buf_t *out)
{
    CURL *h = curl_easy_init();
    if (!h)
        return -1;
    char url[8192], auth[128], ct[128];
    snprintf(url, sizeof url, "%s%s", c->base, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->token);
    snprintf(ct, sizeof ct, "Content-Type: %s", content_type ? content_type : "application/json");
    struct curl_slist *hd = curl_slist_append(NULL, auth);
    hd = curl_slist_append(hd, ct);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_s > 0 ? timeout_s : 60L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (getenv("TOLLGATE_CACERT"))
        curl_easy_setopt(h, CURLOPT_CAINFO, getenv("TOLLGATE_CACERT"));
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
        explain(c, path, *status, out);
    } else
        fprintf(stderr,
                "tollgate: cannot reach the gateway at %s: %s (is `tollgate gateway` "
                "running?)\n",
                c->base, curl_easy_strerror(rc));
    ocsf_buf_cstr(out);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    return rc == CURLE_OK ? 0 : -1;
}

void cli_print_error(const char *what, long status, const ocsf_buf_t *body)
{
    char prefix[160];
    if (strncmp(what, "tollgate ", 9) == 0) /* some callers name the command in full */
        what += 9;
    snprintf(prefix, sizeof prefix, "tollgate %s: %ld: ", what, status);
    /* the gateway's {"error":"..."}: print the text, escaped */
    const char *p = body->p ? strstr(body->p, "\"error\":\"") : NULL;
    if (p) {
        p += 9;
        const char *e = p;
        while (*e && !(*e == '"' && e[-1] != '\\'))
            e++;
        cli_err_escaped(prefix, p, (size_t)(e - p));
    } else {
        cli_err_escaped(prefix, body->p ? body->p : "", body->len);
    }
}

void cli_print_warnings(const char *what, json_t *reply)
{
    size_t i;
    json_t *w;
    char prefix[128];
    snprintf(prefix, sizeof prefix, "tollgate %s: warning: ", what);
    json_array_foreach(json_object_get(reply, "warnings"), i, w)
    {
        if (json_is_string(w))
            cli_err_escaped(prefix, json_string_value(w), json_string_length(w));
    }
}
