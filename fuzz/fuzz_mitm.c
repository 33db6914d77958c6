/*
 * fuzz_mitm.c: the framing of HTTP/1.1 requests inside an intercepted
 * tunnel (proxy/mitm_frame.c), as mitm_http.c drives it: the first input
 * byte picks how the rest is cut into reads (1..256 bytes), the rest is the
 * client's plaintext. Per request: the head, the target and Host checked
 * against a fixed CONNECT host (api.example:443), then the body up to the
 * message's end; the next request starts where that one ended.
 *
 * Aborts when: a feed takes more bytes than it was given; a head over the
 * limit is accepted; a checked target has an empty path, or a path or query
 * that is not a piece of the request target as sent; a successful check
 * whose Host header names another host, or any check whose reason is not
 * NUL-terminated inside its buffer.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/mitm_internal.h"

#define MAX_HEAD 4096

static void check_target(px__frame_t *f)
{
    ocsf_buf_t p, q;
    bool hq;
    char reason[300];
    memset(reason, 'x', sizeof reason);
    ocsf_buf_init(&p);
    ocsf_buf_init(&q);
    int rc = px__frame_target(f, "api.example", 443, &p, &q, &hq, reason, sizeof reason);
    if (rc != 0 && !memchr(reason, '\0', sizeof reason))
        abort();
    if (rc == 0) {
        const char *url = ocsf_buf_cstr(&f->url);
        if (p.len == 0)
            abort();
        if (!(p.len == 1 && p.p[0] == '/') && !memmem(url, f->url.len, p.p, p.len))
            abort();
        if (hq && q.len && !memmem(url, f->url.len, q.p, q.len))
            abort();
        if (f->nhost == 1 && strncasecmp(f->host, "api.example", 11) != 0)
            abort();
    }
    ocsf_buf_dispose(&p);
    ocsf_buf_dispose(&q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)data[0] + 1, off = 1;
    px__frame_t f;
    char err[200];
    px__frame_init(&f, MAX_HEAD);
    while (off < size) {
        size_t n = size - off < step ? size - off : step, used;
        int rc = px__frame_feed(&f, (const char *)data + off, n, &used, err, sizeof err);
        if (used > n)
            abort();
        off += used;
        if (rc != 0)
            break;
        if (f.head_bytes > MAX_HEAD && !f.head_done)
            abort();
        if (f.head_done && !f.msg_done && HTTP_PARSER_ERRNO(&f.hp) == HPE_PAUSED) {
            check_target(&f);
            px__frame_resume(&f);
            continue;
        }
        if (f.msg_done) {
            if (px__frame_upgrade(&f))
                break; /* what follows is another protocol */
            px__frame_reset(&f);
            continue;
        }
        if (used == 0 && n > 0)
            break; /* no progress: the parser is done with this input */
    }
    px__frame_dispose(&f);
    return 0;
}
