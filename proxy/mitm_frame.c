/*
 * mitm_frame.c: where one HTTP/1.1 request inside an intercepted tunnel
 * begins and ends (http-parser), what it asks for (method, target), and
 * whether it names the tunnel's host (the Host header and an absolute-form
 * target must agree with the CONNECT). No I/O; fed by mitm_http.c and by
 * fuzz/fuzz_mitm.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/mitm_internal.h"
#include "proxy/px_internal.h"

static void header_end(px__frame_t *f)
{
    const char *name = ocsf_buf_cstr(&f->name), *value = ocsf_buf_cstr(&f->value);
    if (strcasecmp(name, "host") == 0) {
        if (f->nhost++ == 0) {
            f->host_too_long = f->value.len >= sizeof f->host;
            snprintf(f->host, sizeof f->host, "%s", value);
        }
    } else if (strcasecmp(name, "expect") == 0 && strcasecmp(value, "100-continue") == 0) {
        f->expect_continue = true;
    }
    f->name.len = f->value.len = 0;
    f->in_value = false;
}

static bool over(const px__frame_t *f, size_t n)
{
    return f->url.len + f->name.len + f->value.len + n > f->max_head;
}

static int on_url(http_parser *hp, const char *at, size_t n)
{
    px__frame_t *f = hp->data;
    if (over(f, n))
        return -1;
    ocsf_buf_put(&f->url, at, n);
    return 0;
}

static int on_hfield(http_parser *hp, const char *at, size_t n)
{
    px__frame_t *f = hp->data;
    if (f->in_value)
        header_end(f);
    if (over(f, n))
        return -1;
    ocsf_buf_put(&f->name, at, n);
    return 0;
}

static int on_hvalue(http_parser *hp, const char *at, size_t n)
{
    px__frame_t *f = hp->data;
    f->in_value = true;
    if (over(f, n))
        return -1;
    ocsf_buf_put(&f->value, at, n);
    return 0;
}

static int on_headers_complete(http_parser *hp)
{
    px__frame_t *f = hp->data;
    if (f->in_value || f->name.len)
        header_end(f);
    f->head_done = true;
    snprintf(f->method, sizeof f->method, "%s", http_method_str(hp->method));
    http_parser_pause(hp, 1);
    return 0;
}

static int on_message_complete(http_parser *hp)
{
    px__frame_t *f = hp->data;
    f->msg_done = true;
    http_parser_pause(hp, 1); /* what follows is the next request's */
    return 0;
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_header_field = on_hfield,
    .on_header_value = on_hvalue,
    .on_headers_complete = on_headers_complete,
    .on_message_complete = on_message_complete,
};

void px__frame_init(px__frame_t *f, size_t max_head)
{
    memset(f, 0, sizeof *f);
    f->max_head = max_head;
    ocsf_buf_init(&f->url);
    ocsf_buf_init(&f->name);
    ocsf_buf_init(&f->value);
    px__frame_reset(f);
}

void px__frame_dispose(px__frame_t *f)
{
    ocsf_buf_dispose(&f->url);
    ocsf_buf_dispose(&f->name);
    ocsf_buf_dispose(&f->value);
}

void px__frame_reset(px__frame_t *f)
{
    http_parser_init(&f->hp, HTTP_REQUEST);
    f->hp.data = f;
    f->head_bytes = 0;
    f->head_done = f->msg_done = f->in_value = false;
    f->url.len = f->name.len = f->value.len = 0;
    f->nhost = 0;
    f->host[0] = f->method[0] = '\0';
    f->host_too_long = f->expect_continue = false;
}

int px__frame_feed(px__frame_t *f, const char *p, size_t n, size_t *used, char *err, size_t errlen)
{
    *used = 0;
    if (n == 0 || f->msg_done || /* 0 bytes would tell http-parser "EOF" */
        (f->head_done && HTTP_PARSER_ERRNO(&f->hp) == HPE_PAUSED))
        return 0; /* paused: resume first (head) or reset (message) */
    bool in_head = !f->head_done;
    *used = http_parser_execute(&f->hp, &settings, p, n);
    enum http_errno e = HTTP_PARSER_ERRNO(&f->hp);
    if (in_head) {
        f->head_bytes += *used;
        if (f->head_bytes > f->max_head ||
            (e == HPE_CB_url || e == HPE_CB_header_field || e == HPE_CB_header_value)) {
            snprintf(err, errlen, "the request head is over the proxy's limit");
            return -E2BIG;
        }
    }
    if (e != HPE_OK && e != HPE_PAUSED) {
        snprintf(err, errlen, "%s", http_errno_description(e));
        return -EINVAL;
    }
    return 0;
}

void px__frame_resume(px__frame_t *f)
{
    http_parser_pause(&f->hp, 0);
}

bool px__frame_has_body(const px__frame_t *f)
{
    if (f->hp.upgrade)
        return false;
    return (f->hp.flags & F_CHUNKED) ||
           (f->hp.content_length > 0 && f->hp.content_length != ULLONG_MAX);
}

bool px__frame_upgrade(const px__frame_t *f)
{
    return f->hp.upgrade != 0;
}

bool px__frame_keep_alive(const px__frame_t *f)
{
    return http_should_keep_alive(&f->hp) != 0;
}

/* "host[:port]" or "[v6][:port]": 0 when it names host (normalised) and, if
 * a port is given, port; -EPERM when another; -EINVAL when malformed. */
static int authority_check(const char *a, size_t n, const char *host, uint16_t port)
{
    char h[PX_HOST_MAX + 2], norm[PX_HOST_MAX];
    const char *portp = NULL;
    size_t hl = n;
    if (n && a[0] == '[') {
        const char *e = memchr(a, ']', n);
        if (!e)
            return -EINVAL;
        hl = (size_t)(e - a) + 1;
        portp = hl < n ? a + hl : NULL;
        if (portp && *portp != ':')
            return -EINVAL;
    } else {
        const char *col = memchr(a, ':', n);
        if (col) {
            hl = (size_t)(col - a);
            portp = col;
        }
    }
    if (hl == 0 || hl >= sizeof h)
        return -EINVAL;
    memcpy(h, a, hl);
    h[hl] = '\0';
    bool is_ip;
    struct sockaddr_storage ss;
    if (px_host_normalize(h, norm, sizeof norm, &is_ip, &ss) != 0)
        return -EINVAL;
    if (portp) {
        size_t pl = n - (size_t)(portp + 1 - a);
        unsigned long v = 0;
        if (pl == 0 || pl > 5)
            return -EINVAL;
        for (size_t i = 0; i < pl; i++) {
            char ch = portp[1 + i];
            if (ch < '0' || ch > '9')
                return -EINVAL;
            v = v * 10 + (unsigned long)(ch - '0');
        }
        if (v != port)
            return -EPERM;
    }
    return strcmp(norm, host) == 0 ? 0 : -EPERM;
}

/* Path and query of an origin-form target (the fragment, never sent by
 * clients, is dropped). */
static void split_origin(const char *t, size_t n, ocsf_buf_t *path, ocsf_buf_t *query, bool *hq)
{
    const char *hash = memchr(t, '#', n);
    if (hash)
        n = (size_t)(hash - t);
    const char *q = memchr(t, '?', n);
    ocsf_buf_put(path, t, q ? (size_t)(q - t) : n);
    if (q) {
        *hq = true;
        ocsf_buf_put(query, q + 1, n - (size_t)(q + 1 - t));
    }
}

static int absolute_target(px__frame_t *f, const char *host, uint16_t port, ocsf_buf_t *path,
                           ocsf_buf_t *query, bool *hq, char *reason, size_t rl)
{
    const char *t = ocsf_buf_cstr(&f->url);
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (http_parser_parse_url(t, f->url.len, 0, &u) != 0 || !(u.field_set & (1 << UF_HOST))) {
        snprintf(reason, rl, "the request target is not a valid URL");
        return -EINVAL;
    }
    /* the authority as written: host (brackets back for IPv6) and port */
    size_t ho = u.field_data[UF_HOST].off, hl = u.field_data[UF_HOST].len;
    if (ho > 0 && t[ho - 1] == '[')
        ho--, hl += 2;
    size_t al = u.field_set & (1 << UF_PORT)
                    ? (size_t)(u.field_data[UF_PORT].off + u.field_data[UF_PORT].len) - ho
                    : hl;
    int rc = authority_check(t + ho, al, host, port);
    if (rc != 0) {
        snprintf(reason, rl, "the request's URL names %.*s, not the CONNECT host %s",
                 (int)(al > 200 ? 200 : al), t + ho, host);
        return rc;
    }
    size_t po = u.field_set & (1 << UF_PATH) ? u.field_data[UF_PATH].off : 0;
    size_t rest = po ? f->url.len - po : 0;
    if (po)
        split_origin(t + po, rest, path, query, hq);
    else
        ocsf_buf_putc(path, '/');
    if (!po && (u.field_set & (1 << UF_QUERY))) {
        *hq = true;
        ocsf_buf_put(query, t + u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len);
    }
    return 0;
}

static int host_header(px__frame_t *f, const char *host, uint16_t port, char *reason, size_t rl)
{
    if (f->nhost > 1) {
        snprintf(reason, rl, "the request has %d Host headers", f->nhost);
        return -EINVAL;
    }
    if (f->nhost == 0) {
        if (f->hp.http_major == 1 && f->hp.http_minor == 0)
            return 0; /* HTTP/1.0 may go without */
        snprintf(reason, rl, "the request has no Host header");
        return -EINVAL;
    }
    int rc = f->host_too_long ? -EINVAL : authority_check(f->host, strlen(f->host), host, port);
    if (rc == -EPERM)
        snprintf(reason, rl, "Host %.200s does not match the CONNECT host %s", f->host, host);
    else if (rc)
        snprintf(reason, rl, "the Host header is not a valid host[:port]");
    return rc;
}

int px__frame_target(px__frame_t *f, const char *host, uint16_t port, ocsf_buf_t *path,
                     ocsf_buf_t *query, bool *has_query, char *reason, size_t reasonlen)
{
    path->len = query->len = 0;
    *has_query = false;
    if (f->hp.method == HTTP_CONNECT) {
        snprintf(reason, reasonlen, "CONNECT inside a tunnel is not supported");
        return -EINVAL;
    }
    int rc = host_header(f, host, port, reason, reasonlen);
    if (rc != 0)
        return rc;
    const char *t = ocsf_buf_cstr(&f->url);
    if (f->url.len && t[0] == '/') {
        split_origin(t, f->url.len, path, query, has_query);
        return 0;
    }
    if (f->url.len == 1 && t[0] == '*' && f->hp.method == HTTP_OPTIONS) {
        ocsf_buf_putc(path, '*');
        return 0;
    }
    return absolute_target(f, host, port, path, query, has_query, reason, reasonlen);
}
