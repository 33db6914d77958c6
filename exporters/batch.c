/*
 * batch.c: what every sink shares: the verdicts it gives the events of a
 * batch, and the human log line of an event.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exporters/sink.h"
#include "ocsf/ocsf.h"

void exp_batch_set(exp_batch_t *b, size_t i, exp_verdict_t v, const char *reason)
{
    if (i >= b->n)
        return;
    b->verdict[i] = (uint8_t)v;
    if (b->reason) {
        free(b->reason[i]);
        b->reason[i] = reason ? strdup(reason) : NULL;
    }
}

/* A human line for bytes that are not a JSON object: the time, the class
 * and the escaped reason. */
static void human_fallback(ocsf_buf_t *h, const exp_event_t *e, const char *why)
{
    char ts[40];
    time_t secs = (time_t)(e->time_ms / 1000);
    struct tm tm;
    if (e->time_ms < 0 || !gmtime_r(&secs, &tm))
        memset(&tm, 0, sizeof tm);
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ OCSF ",
             (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100,
             tm.tm_min % 100, tm.tm_sec % 100, (int)(e->time_ms < 0 ? 0 : e->time_ms % 1000));
    ocsf_buf_puts(h, ts);
    ocsf_buf_puts(h, "EVENT:");
    ocsf_buf_put_i64(h, e->class_uid);
    ocsf_buf_puts(h, " [seq:");
    ocsf_buf_put_i64(h, (int64_t)e->seq);
    ocsf_buf_puts(h, "] [undecoded:");
    ocsf_text_escape(h, why, strlen(why), 200, 0);
    ocsf_buf_puts(h, "]\n");
}

void exp_human_line(ocsf_buf_t *h, const exp_event_t *e)
{
    char why[256];
    if (ocsf_render_json(e->json, e->json_len, OCSF_LINE_FILE, h, why, sizeof why) != 0) {
        human_fallback(h, e, why);
        return;
    }
    ocsf_buf_putc(h, '\n');
}
