/*
 * render.c: the human shorthand, grep-compatible with OpenShell's lines.
 *
 *   NET:<ACT> [SEV] <ACTION> <proc>(<pid>) -> <host>:<port>
 *       [policy:<rule> engine:<engine>] [reason:..]
 *   HTTP:<METHOD> [SEV] <ACTION> <proc>(<pid>) -> <METHOD> <url>
 *       [policy:.. engine:..] [reason:..]
 *   FINDING:<ACT> [SEV] "<title>" [type:<uid> confidence:<low|medium|high>]
 *   CONFIG:<STATE> [SEV] <message> [version:<v> hash:<h>]
 *   LIFECYCLE:<ACT> [SEV] <app name> <status>
 *   PROC:<ACT> [SEV] <name>(<pid>) [exit:<code>] [cmd:<cmd_line>]
 *
 * Every byte taken from the event goes through ocsf_text_escape(): values
 * that sit between keys also escape the space, so `[`, `]`, ` key:` cannot
 * be forged. <proc> is the executable's path when known (what a reviewer
 * needs: /tmp/x/curl is not /usr/bin/curl), else process.name.
 */
#include <ctype.h>
#include <string.h>
#include <time.h>

#include "ocsf/ocsf_internal.h"

#define REASON_MAX  256
#define MESSAGE_MAX 120
#define VALUE_MAX   256

static const char *const sev_tag[] = {"[INFO]", "[INFO]", "[LOW]",  "[MED]",
                                      "[HIGH]", "[CRIT]", "[FATAL]"};

static void esc(ocsf_buf_t *b, ocsf_str_t s, size_t limit, unsigned flags)
{
    if (s.p)
        ocsf_text_escape(b, s.p, s.n, limit, flags);
    else
        ocsf_buf_putc(b, '-');
}

/* Caption in upper case, spaces as '_' ("Set User ID" -> SET_USER_ID). */
static void upper(ocsf_buf_t *b, const char *cap, ocsf_str_t other)
{
    size_t start = b->len;
    if (other.p)
        ocsf_text_escape(b, other.p, other.n, 64, OCSF_ESC_SPACE);
    else if (cap)
        ocsf_buf_puts(b, cap);
    else
        ocsf_buf_putc(b, '-');
    for (size_t i = start; i < b->len; i++) {
        if (b->p[i] == '\\') { /* keep escapes as written */
            i += b->p[i + 1] == 'u' ? 5 : 3;
            continue;
        }
        b->p[i] = b->p[i] == ' ' ? '_' : (char)toupper((unsigned char)b->p[i]);
    }
}

static void lower(ocsf_buf_t *b, const char *cap)
{
    if (!cap) {
        ocsf_buf_putc(b, '-');
        return;
    }
    for (; *cap; cap++)
        ocsf_buf_putc(b, *cap == ' ' ? '_' : (char)tolower((unsigned char)*cap));
}

static void head(ocsf_buf_t *b, const char *cls, const ocsf__class_info_t *c,
                 const ocsf_event_t *ev)
{
    ocsf_buf_puts(b, cls);
    ocsf_buf_putc(b, ':');
    if (ev->class_uid == OCSF_CLASS_HTTP && ev->http_method.p)
        upper(b, NULL, ev->http_method);
    else if (ev->class_uid == OCSF_CLASS_CONFIG)
        upper(b, ocsf__cap(c->state, ev->state_id),
              ev->state_id == OCSF_OTHER ? ev->state_other : OCSF_NOSTR);
    else
        upper(b, ocsf__cap(c->activity, ev->activity_id),
              ev->activity_id == OCSF_OTHER ? ev->activity_other : OCSF_NOSTR);
    ocsf_buf_putc(b, ' ');
    int s = ev->severity_id;
    ocsf_buf_puts(b, s >= 0 && s <= OCSF_SEV_FATAL ? sev_tag[s] : "[INFO]");
    ocsf_buf_putc(b, ' ');
}

static void who(ocsf_buf_t *b, const ocsf_process_t *p)
{
    esc(b, p->path.p ? p->path : p->name, VALUE_MAX, OCSF_ESC_SPACE);
    ocsf_buf_putc(b, '(');
    if (p->pid != OCSF_NONE)
        ocsf_buf_put_i64(b, p->pid);
    else
        ocsf_buf_putc(b, '-');
    ocsf_buf_putc(b, ')');
}

static void verdict_ctx(ocsf_buf_t *b, const ocsf_event_t *ev)
{
    if (ev->rule_name.p || ev->rule_uid.p || ev->rule_type.p) {
        ocsf_buf_puts(b, " [policy:");
        esc(b, ev->rule_name, VALUE_MAX, OCSF_ESC_SPACE);
        ocsf_buf_puts(b, " engine:");
        esc(b, ev->rule_type, VALUE_MAX, OCSF_ESC_SPACE);
        ocsf_buf_putc(b, ']');
    }
    if (ev->status_detail.p) {
        ocsf_buf_puts(b, " [reason:");
        esc(b, ev->status_detail, REASON_MAX, 0);
        ocsf_buf_putc(b, ']');
    }
}

static void render_net(ocsf_buf_t *b, const ocsf__class_info_t *c, const ocsf_event_t *ev)
{
    upper(b, ocsf__cap(c->action, ev->action_id), OCSF_NOSTR);
    ocsf_buf_putc(b, ' ');
    who(b, &ev->actor);
    ocsf_buf_puts(b, " -> ");
    const ocsf_endpoint_t *e =
        ev->dst.domain.p || ev->dst.hostname.p || ev->dst.ip.p || ev->dst.port != OCSF_NONE
            ? &ev->dst
            : &ev->src;
    esc(b,
        e->domain.p     ? e->domain
        : e->hostname.p ? e->hostname
                        : e->ip,
        VALUE_MAX, OCSF_ESC_SPACE);
    ocsf_buf_putc(b, ':');
    if (e->port != OCSF_NONE)
        ocsf_buf_put_i64(b, e->port);
    else
        ocsf_buf_putc(b, '-');
    verdict_ctx(b, ev);
    if (ev->bytes_in != OCSF_NONE || ev->bytes_out != OCSF_NONE) {
        ocsf_buf_puts(b, " [bytes_in:");
        ocsf_buf_put_i64(b, ev->bytes_in == OCSF_NONE ? 0 : ev->bytes_in);
        ocsf_buf_puts(b, " bytes_out:");
        ocsf_buf_put_i64(b, ev->bytes_out == OCSF_NONE ? 0 : ev->bytes_out);
        if (ev->duration != OCSF_NONE) {
            ocsf_buf_puts(b, " duration_ms:");
            ocsf_buf_put_i64(b, ev->duration);
        }
        ocsf_buf_putc(b, ']');
    }
}

static bool default_port(ocsf_str_t scheme, int64_t port)
{
    return (port == 80 && ocsf_str_eq(scheme, OCSF_STR("http"))) ||
           (port == 443 && ocsf_str_eq(scheme, OCSF_STR("https")));
}

static void render_http(ocsf_buf_t *b, const ocsf__class_info_t *c, const ocsf_event_t *ev)
{
    upper(b, ocsf__cap(c->action, ev->action_id), OCSF_NOSTR);
    ocsf_buf_putc(b, ' ');
    who(b, &ev->actor);
    ocsf_buf_puts(b, " -> ");
    upper(b, ocsf__cap(c->activity, ev->activity_id), ev->http_method);
    ocsf_buf_putc(b, ' ');
    if (ev->url_hostname.p) {
        esc(b, ev->url_scheme.p ? ev->url_scheme : OCSF_STR("http"), 16, OCSF_ESC_SPACE);
        ocsf_buf_puts(b, "://");
        esc(b, ev->url_hostname, VALUE_MAX, OCSF_ESC_SPACE);
        if (ev->url_port != OCSF_NONE &&
            !default_port(ev->url_scheme.p ? ev->url_scheme : OCSF_STR("http"), ev->url_port)) {
            ocsf_buf_putc(b, ':');
            ocsf_buf_put_i64(b, ev->url_port);
        }
        if (ev->url_path.p)
            ocsf_text_escape(b, ev->url_path.p, ev->url_path.n, VALUE_MAX, OCSF_ESC_SPACE);
        if (ev->url_query.p) {
            ocsf_buf_putc(b, '?');
            ocsf_text_escape(b, ev->url_query.p, ev->url_query.n, VALUE_MAX, OCSF_ESC_SPACE);
        }
    } else {
        esc(b, ev->url_string.p ? ev->url_string : ev->url_path, VALUE_MAX, OCSF_ESC_SPACE);
    }
    verdict_ctx(b, ev);
}

static void render_finding(ocsf_buf_t *b, const ocsf__class_info_t *c, const ocsf_event_t *ev)
{
    ocsf_buf_putc(b, '"');
    /* a quote inside the title would end it early: escaped too */
    esc(b, ev->finding_title, MESSAGE_MAX, OCSF_ESC_QUOTE);
    ocsf_buf_puts(b, "\" [type:");
    esc(b, ev->finding_uid, VALUE_MAX, OCSF_ESC_SPACE);
    if (ev->confidence_id != OCSF_NONE) {
        ocsf_buf_puts(b, " confidence:");
        lower(b, ocsf__cap(c->confidence, ev->confidence_id));
    }
    ocsf_buf_putc(b, ']');
    if (ev->status_detail.p) {
        ocsf_buf_puts(b, " [reason:");
        esc(b, ev->status_detail, REASON_MAX, 0);
        ocsf_buf_putc(b, ']');
    }
}

static void render_config(ocsf_buf_t *b, const ocsf_event_t *ev)
{
    esc(b, ev->message, MESSAGE_MAX, 0);
    if (ev->policy_version.p || ev->policy_uid.p) {
        ocsf_buf_puts(b, " [version:");
        esc(b, ev->policy_version, VALUE_MAX, OCSF_ESC_SPACE);
        ocsf_buf_puts(b, " hash:");
        esc(b, ev->policy_uid, VALUE_MAX, OCSF_ESC_SPACE);
        ocsf_buf_putc(b, ']');
    }
    if (ev->status_detail.p) {
        ocsf_buf_puts(b, " [reason:");
        esc(b, ev->status_detail, REASON_MAX, 0);
        ocsf_buf_putc(b, ']');
    }
}

static void render_lifecycle(ocsf_buf_t *b, const ocsf__class_info_t *c, const ocsf_event_t *ev)
{
    esc(b, ev->app.name, VALUE_MAX, OCSF_ESC_SPACE);
    ocsf_buf_putc(b, ' ');
    lower(b, ocsf__cap(c->status, ev->status_id));
    if (ev->message.p) {
        ocsf_buf_putc(b, ' ');
        esc(b, ev->message, MESSAGE_MAX, 0);
    }
}

static void render_proc(ocsf_buf_t *b, const ocsf_event_t *ev)
{
    who(b, &ev->process);
    if (ev->exit_code != OCSF_NONE) {
        ocsf_buf_puts(b, " [exit:");
        ocsf_buf_put_i64(b, ev->exit_code);
        ocsf_buf_putc(b, ']');
    }
    if (ev->process.cmd_line.p) {
        ocsf_buf_puts(b, " [cmd:");
        esc(b, ev->process.cmd_line, REASON_MAX, 0);
        ocsf_buf_putc(b, ']');
    }
}

void ocsf_render_shorthand(const ocsf_event_t *ev, ocsf_buf_t *b)
{
    const ocsf__class_info_t *c = ocsf__class(ev->class_uid);
    static const ocsf__class_info_t none = {0};
    switch (ev->class_uid) {
    case OCSF_CLASS_NETWORK:
        head(b, "NET", c, ev);
        render_net(b, c, ev);
        break;
    case OCSF_CLASS_HTTP:
        head(b, "HTTP", c, ev);
        render_http(b, c, ev);
        break;
    case OCSF_CLASS_FINDING:
        head(b, "FINDING", c, ev);
        render_finding(b, c, ev);
        break;
    case OCSF_CLASS_CONFIG:
        head(b, "CONFIG", c, ev);
        render_config(b, ev);
        break;
    case OCSF_CLASS_LIFECYCLE:
        head(b, "LIFECYCLE", c, ev);
        render_lifecycle(b, c, ev);
        break;
    case OCSF_CLASS_PROCESS:
        head(b, "PROC", c, ev);
        render_proc(b, ev);
        break;
    default: head(b, "EVENT", &none, ev); ocsf_buf_put_i64(b, ev->class_uid);
    }
}

static void put_pad(ocsf_buf_t *b, int64_t v, int width)
{
    char tmp[24];
    int n = 0;
    uint64_t u = (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    while (n < width)
        tmp[n++] = '0';
    while (n)
        ocsf_buf_putc(b, tmp[--n]);
}

void ocsf_render_line(const ocsf_event_t *ev, ocsf_line_fmt_t fmt, ocsf_buf_t *out)
{
    int64_t t = ev->time < 0 ? 0 : ev->time;
    if (fmt == OCSF_LINE_CLI) {
        ocsf_buf_putc(out, '[');
        ocsf_buf_put_i64(out, t / 1000);
        ocsf_buf_putc(out, '.');
        put_pad(out, t % 1000, 3);
        ocsf_buf_puts(out, "] [");
        size_t start = out->len;
        esc(out, ev->log_name, 32, OCSF_ESC_SPACE);
        for (size_t w = out->len - start; w < 7; w++)
            ocsf_buf_putc(out, ' ');
        ocsf_buf_puts(out, "] [OCSF ] [ocsf] ");
    } else if (fmt == OCSF_LINE_FILE) {
        time_t secs = (time_t)(t / 1000);
        struct tm tm;
        if (!gmtime_r(&secs, &tm))
            memset(&tm, 0, sizeof tm);
        put_pad(out, (int64_t)tm.tm_year + 1900, 4);
        ocsf_buf_putc(out, '-');
        put_pad(out, tm.tm_mon + 1, 2);
        ocsf_buf_putc(out, '-');
        put_pad(out, tm.tm_mday, 2);
        ocsf_buf_putc(out, 'T');
        put_pad(out, tm.tm_hour, 2);
        ocsf_buf_putc(out, ':');
        put_pad(out, tm.tm_min, 2);
        ocsf_buf_putc(out, ':');
        put_pad(out, tm.tm_sec, 2);
        ocsf_buf_putc(out, '.');
        put_pad(out, t % 1000, 3);
        ocsf_buf_puts(out, "Z OCSF ");
    }
    ocsf_render_shorthand(ev, out);
}
