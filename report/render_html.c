/*
 * render_html.c: the report as ONE self-contained HTML page: inline CSS, no
 * script (a Content-Security-Policy says so), no font or image fetched, and
 * three inline SVG charts (events per hour by verdict, top denied
 * destinations, policy versions on the time axis). Every string from an
 * event is escaped twice: ocsf_text_escape() (no control byte, valid UTF-8)
 * and then HTML escaping (& < > " ').
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "report/rep_internal.h"

static void esc_bytes(ocsf_buf_t *o, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (p[i]) {
        case '&': ocsf_buf_puts(o, "&amp;"); break;
        case '<': ocsf_buf_puts(o, "&lt;"); break;
        case '>': ocsf_buf_puts(o, "&gt;"); break;
        case '"': ocsf_buf_puts(o, "&quot;"); break;
        case '\'': ocsf_buf_puts(o, "&#39;"); break;
        default: ocsf_buf_putc(o, p[i]); break;
        }
    }
}

/* A JSON value as escaped HTML text, cut at `limit` bytes (0: whole). */
static void h(ocsf_buf_t *o, json_t *v, size_t limit)
{
    ocsf_buf_t raw, clean;
    ocsf_buf_init(&raw);
    ocsf_buf_init(&clean);
    rep__cell_text(v, &raw);
    if (raw.len)
        ocsf_text_escape(&clean, raw.p, raw.len, limit, OCSF_ESC_MSG);
    esc_bytes(o, clean.p, clean.len);
    ocsf_buf_dispose(&raw);
    ocsf_buf_dispose(&clean);
}

static void hs(ocsf_buf_t *o, const char *s) /* our own text */
{
    esc_bytes(o, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void pf(ocsf_buf_t *o, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0)
        ocsf_buf_put(o, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* "2026-11-27T10:00:00.123Z" or "2026-11-27" → ms; false when not a time. */
static bool parse_time(json_t *v, int64_t *ms)
{
    const char *s = json_string_value(v);
    struct tm tm = {0};
    int msec = 0;
    if (!s || sscanf(s, "%d-%d-%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) != 3)
        return false;
    if (strlen(s) > 10)
        sscanf(s + 10, "T%d:%d:%d.%dZ", &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &msec);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *ms = (int64_t)timegm(&tm) * 1000 + msec;
    return true;
}

/* ---- tables --------------------------------------------------------------------------- */

static void table(ocsf_buf_t *o, json_t *doc, const char *name, bool heading)
{
    const rep__table_t *t = rep__table_find(name);
    json_t *rows = rep__table_rows(doc, t), *row;
    size_t i;
    if (heading) {
        pf(o, "<h3 id=\"t-%s\">", t->name);
        hs(o, t->title);
        ocsf_buf_puts(o, "</h3>\n");
    }
    if (!json_array_size(rows)) {
        ocsf_buf_puts(o, "<p class=\"none\">None.</p>\n");
        json_decref(rows);
        return;
    }
    pf(o, "<div class=\"tw\"><table class=\"t\" data-table=\"%s\"><thead><tr>", t->name);
    for (size_t c = 0; c < t->ncols; c++) {
        ocsf_buf_puts(o, "<th>");
        hs(o, t->cols[c].title);
        ocsf_buf_puts(o, "</th>");
    }
    ocsf_buf_puts(o, "</tr></thead><tbody>\n");
    json_array_foreach(rows, i, row)
    {
        ocsf_buf_puts(o, "<tr>");
        for (size_t c = 0; c < t->ncols; c++) {
            json_t *v = json_object_get(row, t->cols[c].key);
            ocsf_buf_puts(o, json_is_integer(v) ? "<td class=\"n\">" : "<td>");
            h(o, v, 0);
            ocsf_buf_puts(o, "</td>");
        }
        ocsf_buf_puts(o, "</tr>\n");
    }
    ocsf_buf_puts(o, "</tbody></table></div>\n");
    json_decref(rows);
}

/* ---- charts ---------------------------------------------------------------------------- */

#define CW 960 /* chart width (viewBox units) */

static void fmt_short(int64_t ms, bool hours, char *out, size_t n)
{
    char buf[64];
    rep__fmt_time(ms, buf, sizeof buf);
    buf[hours ? 16 : 10] = '\0';
    snprintf(out, n, "%s%s", buf, hours ? "Z" : "");
}

static void chart_hours(ocsf_buf_t *o, json_t *doc)
{
    json_t *rows = rep__json_at(doc, "activity.per_hour");
    int64_t step = 3600000;
    if (json_array_size(rows) > 1) {
        int64_t a, b;
        if (parse_time(json_object_get(json_array_get(rows, 0), "hour"), &a) &&
            parse_time(json_object_get(json_array_get(rows, json_array_size(rows) - 1), "hour"),
                       &b) &&
            (b - a) / step > 24 * 45) {
            rows = rep__json_at(doc, "activity.per_day"); /* a long period: one bar per day */
            step = 86400000;
        }
    }
    const char *key = step == 3600000 ? "hour" : "day";
    size_t n = json_array_size(rows), i;
    json_t *r;
    int64_t t0 = 0, t1 = 0;
    uint64_t max = 0;
    json_array_foreach(rows, i, r)
    {
        int64_t t;
        parse_time(json_object_get(r, key), &t);
        if (!i)
            t0 = t;
        t1 = t;
        uint64_t s = (uint64_t)(json_integer_value(json_object_get(r, "allowed")) +
                                json_integer_value(json_object_get(r, "denied")) +
                                json_integer_value(json_object_get(r, "other_events")));
        if (s > max)
            max = s;
    }
    const int L = 60, T = 30, W = CW - L - 20, H = 200;
    pf(o,
       "<figure><svg class=\"chart\" id=\"chart-hours\" viewBox=\"0 0 %d %d\" role=\"img\" "
       "aria-label=\"events per %s by verdict\" xmlns=\"http://www.w3.org/2000/svg\">\n",
       CW, T + H + 50, key);
    pf(o, "<text x=\"%d\" y=\"18\" class=\"ct\">Events per %s (UTC) by verdict</text>\n", L, key);
    pf(o,
       "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"ax\"/>"
       "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"ax\"/>\n",
       L, T + H, L + W, T + H, L, T, L, T + H);
    pf(o,
       "<text x=\"%d\" y=\"%d\" class=\"yl\">%" PRIu64 "</text><text x=\"%d\" y=\"%d\" "
       "class=\"yl\">0</text>\n",
       L - 6, T + 4, max, L - 6, T + H + 4);
    if (!n || !max) {
        pf(o, "<text x=\"%d\" y=\"%d\">No events in the period.</text>", L + 20, T + H / 2);
    } else {
        /* at least MIN_BINS on the axis: one hour is one bar, not the whole width */
        enum { MIN_BINS = 12 };
        size_t bins = (size_t)((t1 - t0) / step) + 1;
        if (bins < MIN_BINS)
            bins = MIN_BINS;
        double bw = (double)W / (double)bins;
        static const char *const cls[] = {"allowed", "denied", "other_events"};
        json_array_foreach(rows, i, r)
        {
            int64_t t;
            parse_time(json_object_get(r, key), &t);
            double x = L + bw * (double)((t - t0) / step), y = T + H;
            ocsf_buf_puts(o, "<g>");
            for (int c = 0; c < 3; c++) {
                double v = (double)json_integer_value(json_object_get(r, cls[c]));
                double hh = v * H / (double)max;
                if (v <= 0)
                    continue;
                y -= hh;
                pf(o, "<rect class=\"b-%s\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"/>",
                   cls[c], x, y, bw > 2 ? bw - 1 : bw, hh);
            }
            ocsf_buf_puts(o, "<title>");
            h(o, json_object_get(r, key), 0);
            pf(o,
               ": allowed %" JSON_INTEGER_FORMAT ", denied %" JSON_INTEGER_FORMAT
               ", other %" JSON_INTEGER_FORMAT "; seqs %" JSON_INTEGER_FORMAT
               "..%" JSON_INTEGER_FORMAT "</title></g>\n",
               json_integer_value(json_object_get(r, "allowed")),
               json_integer_value(json_object_get(r, "denied")),
               json_integer_value(json_object_get(r, "other_events")),
               json_integer_value(json_object_get(r, "first_sequence")),
               json_integer_value(json_object_get(r, "last_sequence")));
        }
        char a[72], b[72];
        fmt_short(t0, step == 3600000, a, sizeof a);
        fmt_short(t0 + (int64_t)bins * step, step == 3600000, b, sizeof b); /* the axis' end */
        pf(o, "<text x=\"%d\" y=\"%d\">%s</text><text x=\"%d\" y=\"%d\" class=\"yl\">%s</text>\n",
           L, T + H + 18, a, L + W, T + H + 18, b);
    }
    pf(o,
       "<rect class=\"b-allowed\" x=\"%d\" y=\"%d\" width=\"12\" height=\"12\"/><text x=\"%d\" "
       "y=\"%d\">allowed decisions</text>",
       L, T + H + 30, L + 16, T + H + 41);
    pf(o,
       "<rect class=\"b-denied\" x=\"%d\" y=\"%d\" width=\"12\" height=\"12\"/><text x=\"%d\" "
       "y=\"%d\">denied decisions</text>",
       L + 170, T + H + 30, L + 186, T + H + 41);
    pf(o,
       "<rect class=\"b-other_events\" x=\"%d\" y=\"%d\" width=\"12\" height=\"12\"/><text "
       "x=\"%d\" y=\"%d\">other events</text>\n",
       L + 330, T + H + 30, L + 346, T + H + 41);
    ocsf_buf_puts(o, "</svg></figure>\n");
}

static void chart_denied(ocsf_buf_t *o, json_t *doc)
{
    json_t *rows = rep__json_at(doc, "activity.destinations_denied"), *r;
    size_t n = json_array_size(rows) < 10 ? json_array_size(rows) : 10, i;
    const int L = 330, T = 30, RH = 24, W = CW - L - 80;
    uint64_t max = 1;
    for (i = 0; i < n; i++) {
        uint64_t v =
            (uint64_t)json_integer_value(json_object_get(json_array_get(rows, i), "events"));
        if (v > max)
            max = v;
    }
    pf(o,
       "<figure><svg class=\"chart\" id=\"chart-denied\" viewBox=\"0 0 %d %zu\" role=\"img\" "
       "aria-label=\"top denied destinations\" xmlns=\"http://www.w3.org/2000/svg\">\n",
       CW, (size_t)T + (n ? n : 1) * RH + 10);
    pf(o, "<text x=\"10\" y=\"18\" class=\"ct\">Top denied destinations (events)</text>\n");
    if (!n)
        pf(o, "<text x=\"10\" y=\"%d\">No connection was denied in the period.</text>\n", T + 16);
    for (i = 0; i < n; i++) {
        r = json_array_get(rows, i);
        uint64_t v = (uint64_t)json_integer_value(json_object_get(r, "events"));
        double w = (double)W * (double)v / (double)max;
        int y = T + (int)i * RH;
        pf(o, "<g><text x=\"%d\" y=\"%d\" class=\"yl\">", L - 8, y + 15);
        h(o, json_object_get(r, "destination"), 48);
        pf(o,
           "</text><rect class=\"b-denied\" x=\"%d\" y=\"%d\" width=\"%.2f\" height=\"%d\"/>"
           "<text x=\"%.2f\" y=\"%d\">%" PRIu64 "</text><title>",
           L, y + 2, w < 1 ? 1 : w, RH - 6, L + (w < 1 ? 1 : w) + 6, y + 15, v);
        h(o, json_object_get(r, "destination"), 0);
        ocsf_buf_puts(o, ": seqs ");
        h(o, json_object_get(r, "sequences"), 0);
        ocsf_buf_puts(o, "</title></g>\n");
    }
    ocsf_buf_puts(o, "</svg></figure>\n");
}

static void chart_policies(ocsf_buf_t *o, json_t *doc)
{
    json_t *rows = rep__json_at(doc, "changes.policy_events"), *r;
    size_t n = json_array_size(rows), i;
    int64_t t0 = INT64_MAX, t1 = INT64_MIN, t;
    if (parse_time(rep__json_at(doc, "scope.first_event_time"), &t))
        t0 = t;
    if (parse_time(rep__json_at(doc, "scope.last_event_time"), &t))
        t1 = t;
    json_array_foreach(rows, i, r) if (parse_time(json_object_get(r, "time"), &t))
    {
        t0 = t < t0 ? t : t0;
        t1 = t > t1 ? t : t1;
    }
    const int L = 40, W = CW - 2 * L, Y = 110;
    pf(o,
       "<figure><svg class=\"chart\" id=\"chart-policies\" viewBox=\"0 0 %d 160\" role=\"img\" "
       "aria-label=\"policy versions on the time axis\" xmlns=\"http://www.w3.org/2000/svg\">\n",
       CW);
    ocsf_buf_puts(o, "<text x=\"10\" y=\"18\" class=\"ct\">Policy versions on the time axis "
                     "(UTC): updated (blue), loaded by a proxy (green), failed (red)</text>\n");
    pf(o, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"ax\"/>\n", L, Y, L + W, Y);
    if (t0 > t1) {
        pf(o, "<text x=\"%d\" y=\"%d\">No events in the period.</text>", L, Y - 20);
    } else {
        char a[72], b[72];
        fmt_short(t0, true, a, sizeof a);
        fmt_short(t1, true, b, sizeof b);
        pf(o, "<text x=\"%d\" y=\"%d\">%s</text><text x=\"%d\" y=\"%d\" class=\"yl\">%s</text>\n",
           L, Y + 30, a, L + W, Y + 30, b);
    }
    if (!n)
        pf(o, "<text x=\"%d\" y=\"%d\">No policy change in the period.</text>\n", L, Y - 20);
    size_t k = 0;
    json_array_foreach(rows, i, r)
    {
        if (i >= 300 || !parse_time(json_object_get(r, "time"), &t))
            continue;
        double x = L + (t1 > t0 ? (double)W * (double)(t - t0) / (double)(t1 - t0) : W / 2.0);
        const char *st = json_string_value(json_object_get(r, "state"));
        const char *c = st && !strcmp(st, "updated")  ? "p-upd"
                        : st && !strcmp(st, "loaded") ? "p-load"
                                                      : "p-fail";
        ocsf_buf_puts(o, "<g>");
        if (!strcmp(c, "p-upd")) {
            int ly = Y - 18 - (int)(k++ % 4) * 16;
            pf(o, "<line x1=\"%.2f\" y1=\"%d\" x2=\"%.2f\" y2=\"%d\" class=\"tick\"/>", x, Y, x,
               ly + 4);
            pf(o, "<text x=\"%.2f\" y=\"%d\" class=\"pl\">", x + 3, ly);
            h(o, json_object_get(r, "sandbox"), 24);
            ocsf_buf_puts(o, " v");
            h(o, json_object_get(r, "version"), 12);
            ocsf_buf_puts(o, "</text>");
        }
        pf(o, "<circle class=\"%s\" cx=\"%.2f\" cy=\"%d\" r=\"%d\"/><title>seq ", c, x, Y,
           !strcmp(c, "p-upd") ? 6 : 4);
        h(o, json_object_get(r, "sequence"), 0);
        ocsf_buf_puts(o, " ");
        h(o, json_object_get(r, "time"), 0);
        ocsf_buf_puts(o, " ");
        h(o, json_object_get(r, "state"), 0);
        ocsf_buf_puts(o, " version ");
        h(o, json_object_get(r, "version"), 0);
        ocsf_buf_puts(o, " hash ");
        h(o, json_object_get(r, "hash"), 0);
        ocsf_buf_puts(o, ": ");
        h(o, json_object_get(r, "summary"), 300);
        ocsf_buf_puts(o, "</title></g>\n");
    }
    ocsf_buf_puts(o, "</svg></figure>\n");
}

/* ---- the page --------------------------------------------------------------------------- */

static const char css[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;"
    "max-width:1200px;padding:0 16px 40px;color:#1b1f23}"
    "h1{margin:24px 0 4px}h2{border-bottom:2px solid #d0d7de;padding-bottom:4px;margin-top:36px}"
    "h3{margin:22px 0 6px}table.t{border-collapse:collapse;margin:6px 0 14px;width:100%}"
    "table.t th,table.t td{border:1px solid #d0d7de;padding:3px 7px;text-align:left;"
    /* words are not cut (a column is as wide as its longest word: paths, hashes);
     * a table wider than the page scrolls in its own box */
    "vertical-align:top;word-break:normal;overflow-wrap:break-word}"
    "table.t th{background:#f3f5f7;white-space:nowrap}.tw{overflow-x:auto}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
    ".verdict{padding:10px 14px;border-radius:6px;font-weight:600}"
    ".ok{background:#e6f4ea;color:#1e6b34}.bad{background:#fdecea;color:#a11d1d}"
    "nav a{margin-right:14px}.none{color:#57606a;font-style:italic}"
    "figure{margin:10px 0 18px}svg.chart{width:100%;height:auto;font-size:12px}"
    ".ct{font-weight:600;font-size:13px}.yl{text-anchor:end}.ax{stroke:#57606a}"
    ".tick{stroke:#0b5cad;stroke-dasharray:2 2}.pl{fill:#0b5cad;font-size:11px}"
    ".b-allowed{fill:#2e7d32}.b-denied{fill:#c62828}.b-other_events{fill:#9e9e9e}"
    ".p-upd{fill:#0b5cad}.p-load{fill:#2e7d32}.p-fail{fill:#c62828}"
    "footer{margin-top:30px;color:#57606a}";

static void banner(ocsf_buf_t *o, json_t *doc)
{
    json_t *c = rep__json_at(doc, "completeness");
    bool clean = rep_doc_clean(doc);
    pf(o, "<p class=\"verdict %s\" id=\"verdict\">", clean ? "ok" : "bad");
    if (clean) {
        pf(o,
           "The record is complete and untampered: the hash chain verified over "
           "%" JSON_INTEGER_FORMAT " records, no sequence gap, no event dropped.",
           json_integer_value(rep__json_at(c, "verify.records_checked")));
    } else {
        pf(o,
           "Attention: hash chain %s (%" JSON_INTEGER_FORMAT " problems), %" JSON_INTEGER_FORMAT
           " sequence gaps (%" JSON_INTEGER_FORMAT " missing), %" JSON_INTEGER_FORMAT
           " unreadable records, %" JSON_INTEGER_FORMAT " events dropped. See Completeness.",
           json_string_value(rep__json_at(c, "verify.result"))
               ? json_string_value(rep__json_at(c, "verify.result"))
               : "?",
           json_integer_value(rep__json_at(c, "verify.problems_total")),
           json_integer_value(rep__json_at(c, "gaps_total")),
           json_integer_value(rep__json_at(c, "missing_sequences")),
           json_integer_value(rep__json_at(c, "unreadable_records")),
           json_integer_value(rep__json_at(c, "drops.events_dropped")));
    }
    ocsf_buf_puts(o, "</p>\n");
}

int rep__render_html(json_t *doc, FILE *out)
{
    ocsf_buf_t o;
    ocsf_buf_init(&o);
    ocsf_buf_puts(&o,
                  "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                  "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                  "style-src 'unsafe-inline'\"><title>tollgate compliance report</title><style>");
    ocsf_buf_puts(&o, css);
    ocsf_buf_puts(&o, "</style></head><body>\n<h1>tollgate compliance report</h1>\n<p>Period ");
    h(&o, rep__json_at(doc, "scope.since"), 0);
    ocsf_buf_puts(&o, json_is_null(rep__json_at(doc, "scope.since")) ? "the oldest event" : "");
    ocsf_buf_puts(&o, " to ");
    h(&o, rep__json_at(doc, "scope.until"), 0);
    ocsf_buf_puts(&o, json_is_null(rep__json_at(doc, "scope.until")) ? "the newest event" : "");
    ocsf_buf_puts(&o, "; sequences ");
    h(&o, rep__json_at(doc, "scope.first_sequence"), 0);
    ocsf_buf_puts(&o, " to ");
    h(&o, rep__json_at(doc, "scope.last_sequence"), 0);
    ocsf_buf_puts(&o, ". Generated ");
    h(&o, rep__json_at(doc, "report.generated_at"), 0);
    ocsf_buf_puts(&o, " on ");
    h(&o, rep__json_at(doc, "report.host"), 0);
    ocsf_buf_puts(&o, " by tollgate ");
    h(&o, rep__json_at(doc, "report.tollgate_version"), 0);
    ocsf_buf_puts(&o, ".</p>\n");
    banner(&o, doc);
    ocsf_buf_puts(&o, "<nav><a href=\"#scope\">Scope</a><a href=\"#completeness\">Completeness</a>"
                      "<a href=\"#activity\">Activity</a><a href=\"#changes\">Changes</a>"
                      "<a href=\"#findings\">Findings</a></nav>\n");
    ocsf_buf_puts(&o, "<section id=\"scope\"><h2>Scope</h2>\n");
    table(&o, doc, "scope", false);
    ocsf_buf_puts(&o, "</section>\n<section id=\"completeness\"><h2>Completeness</h2>\n");
    static const char *const compl [] = {"gaps", "integrity", "drops", "recoveries", "exporters"};
    table(&o, doc, "completeness", false);
    for (size_t i = 0; i < sizeof compl / sizeof compl [0]; i++)
        table(&o, doc, compl [i], true);
    ocsf_buf_puts(&o, "</section>\n<section id=\"activity\"><h2>Activity</h2>\n");
    chart_hours(&o, doc);
    static const char *const act[] = {"verdicts",  "classes", "severities",
                                      "sandboxes", "traffic", "daily"};
    for (size_t i = 0; i < sizeof act / sizeof act[0]; i++)
        table(&o, doc, act[i], true);
    chart_denied(&o, doc);
    static const char *const act2[] = {"denied_destinations", "allowed_destinations", "binaries",
                                       "denial_engines"};
    for (size_t i = 0; i < sizeof act2 / sizeof act2[0]; i++)
        table(&o, doc, act2[i], true);
    ocsf_buf_puts(&o, "</section>\n<section id=\"changes\"><h2>Changes</h2>\n");
    chart_policies(&o, doc);
    table(&o, doc, "policy_changes", true);
    table(&o, doc, "lifecycle", true);
    ocsf_buf_puts(&o, "</section>\n<section id=\"findings\"><h2>Findings</h2>\n");
    table(&o, doc, "findings_summary", true);
    table(&o, doc, "findings", true);
    ocsf_buf_puts(&o, "</section>\n<footer>Every row names the sequence numbers "
                      "(<code>metadata.sequence</code>) of the spool records it counts. "
                      "Times are UTC.</footer>\n</body></html>\n");
    size_t w = fwrite(o.p, 1, o.len, out), len = o.len;
    ocsf_buf_dispose(&o);
    return w == len ? 0 : -EIO;
}
