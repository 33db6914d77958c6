/*
 * stdout.c: the stdout sink: every event as one line on standard output
 * (NDJSON, or the human log line), for containers whose log driver is the
 * collector, and for piping into other tools.
 *
 * A batch is acknowledged once write() took all of it (there is no fsync
 * of a pipe). A failed write (EPIPE: the reader is gone; EAGAIN on a
 * non-blocking descriptor) is a retry: the events stay in the spool until
 * someone reads them. Thread: the exporter's own.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exporters/stdout/stdout_internal.h"

typedef struct {
    stdout__config_t cfg;
    ocsf_buf_t buf;
} stdout_sink_t;

static int stdout_open(const exp_common_t *common, const void *config, void **sink, char *err,
                       size_t errlen)
{
    (void)common, (void)err, (void)errlen;
    stdout_sink_t *s = calloc(1, sizeof *s);
    if (!s)
        abort();
    s->cfg = *(const stdout__config_t *)config;
    ocsf_buf_init(&s->buf);
    *sink = s;
    return 0;
}

/* Writes all of p (waiting for room on a full pipe, up to 1 s each time). */
static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = {fd, POLLOUT, 0};
            if (poll(&pfd, 1, 1000) <= 0)
                return -EAGAIN;
            continue;
        }
        if (w <= 0)
            return w < 0 ? -errno : -EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int stdout_send(void *sink, exp_batch_t *b, char *err, size_t errlen)
{
    stdout_sink_t *s = sink;
    s->buf.len = 0;
    for (size_t i = 0; i < b->n; i++) {
        const exp_event_t *e = &b->ev[i];
        if (s->cfg.format == STDOUT__LOG) {
            exp_human_line(&s->buf, e);
        } else if (e->json_len == 0 || memchr(e->json, '\n', e->json_len)) {
            exp_batch_set(b, i, EXP_PERMANENT, "the event is not one line of JSON");
            continue;
        } else {
            ocsf_buf_put(&s->buf, e->json, e->json_len);
            ocsf_buf_putc(&s->buf, '\n');
        }
    }
    int rc = write_all((int)s->cfg.fd, s->buf.p, s->buf.len);
    if (rc) {
        /* a part may have gone out: those lines come again (at least once) */
        snprintf(err, errlen, "write to fd %d: %s", (int)s->cfg.fd, strerror(-rc));
        return EXP_SEND_RETRY;
    }
    for (size_t i = 0; i < b->n; i++)
        if (b->verdict[i] != EXP_PERMANENT)
            exp_batch_set(b, i, EXP_OK, NULL);
    return EXP_SEND_DONE;
}

static void stdout_close(void *sink)
{
    stdout_sink_t *s = sink;
    if (!s)
        return;
    ocsf_buf_dispose(&s->buf);
    free(s);
}

const exp_sink_type_t exp_sink_stdout = {
    .type = "stdout",
    .options = stdout__options,
    .config_size = sizeof(stdout__config_t),
    .open = stdout_open,
    .send = stdout_send,
    .close = stdout_close,
};
