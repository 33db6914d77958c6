/*
 * tables.c: the report's tables (one list for every format), cells as
 * text, and the Markdown and CSV renderers. Every string that came from an
 * event goes through ocsf_text_escape() before it is written, then through
 * the format's own escaping (Markdown: | \ < >; CSV: quoting, and a leading
 * ' before = + - @ so a spreadsheet never runs a cell as a formula).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "report/rep_internal.h"

#define COLS(...)                                                                                  \
    (const rep__col_t[]){__VA_ARGS__},                                                             \
        sizeof((const rep__col_t[]){__VA_ARGS__}) / sizeof(rep__col_t)

const rep__table_t rep__tables[] = {
    {"scope", NULL, "Scope", COLS({"item", "Item"}, {"value", "Value"})},
    {"completeness", NULL, "Completeness", COLS({"item", "Item"}, {"value", "Value"})},
    {"gaps", "completeness.gaps", "Sequence gaps",
     COLS({"from_sequence", "From seq"}, {"to_sequence", "To seq"}, {"missing", "Missing"},
          {"after_time", "After (time)"}, {"before_time", "Before (time)"})},
    {"integrity", "completeness.verify.problems", "Integrity problems (hash chain, CRC)",
     COLS({"sequence", "Seq"}, {"kind", "Kind"}, {"segment", "Segment"}, {"offset", "Offset"},
          {"problem", "Problem"})},
    {"drops", "completeness.drops.reports", "Drops reported by the collector",
     COLS({"sequence", "Seq"}, {"time", "Time"}, {"count", "Events dropped"},
          {"message", "Message"})},
    {"recoveries", "completeness.recoveries", "Spool recoveries (torn tail cut)",
     COLS({"sequence", "Seq"}, {"time", "Time"}, {"count", "Bytes cut"}, {"message", "Message"})},
    {"exporters", "completeness.exporters", "Exporters: delivery state",
     COLS({"exporter", "Exporter"}, {"checkpoint", "Delivered up to seq"},
          {"pending_in_period", "Period events not delivered"},
          {"dead_letters", "Dead letters (all)"},
          {"dead_letters_in_period", "Dead letters (period)"},
          {"first_dead_letter_reason", "First dead-letter reason (period)"})},
    {"verdicts", "activity.by_verdict", "Events by verdict",
     COLS({"verdict", "Verdict"}, {"action_id", "action_id"}, {"decision", "Decision"},
          {"events", "Events"})},
    {"classes", "activity.by_class", "Events by class",
     COLS({"class_uid", "class_uid"}, {"class", "Class"}, {"events", "Events"},
          {"first_sequence", "First seq"}, {"last_sequence", "Last seq"})},
    {"severities", "activity.by_severity", "Events by severity",
     COLS({"severity_id", "severity_id"}, {"severity", "Severity"}, {"events", "Events"})},
    {"sandboxes", "activity.by_sandbox", "Events by sandbox",
     COLS({"sandbox", "Sandbox"}, {"events", "Events"}, {"allowed", "Allowed"},
          {"denied", "Denied"}, {"first_sequence", "First seq"}, {"last_sequence", "Last seq"})},
    {"traffic", "activity.traffic", "Bytes per sandbox (NET:CLOSE)",
     COLS({"sandbox", "Sandbox"}, {"closes", "Connections closed"}, {"bytes_in", "Bytes in"},
          {"bytes_out", "Bytes out"}, {"sequences", "Seqs"})},
    {"daily", "activity.per_day", "Connections allowed and denied per day (UTC)",
     COLS({"day", "Day"}, {"allowed", "Allowed"}, {"denied", "Denied"},
          {"other_events", "Other events"}, {"first_sequence", "First seq"},
          {"last_sequence", "Last seq"})},
    {"hourly", "activity.per_hour", "Events per hour (UTC)",
     COLS({"hour", "Hour"}, {"allowed", "Allowed"}, {"denied", "Denied"},
          {"other_events", "Other events"}, {"first_sequence", "First seq"},
          {"last_sequence", "Last seq"})},
    {"denied_destinations", "activity.destinations_denied", "Top destinations denied",
     COLS({"destination", "Destination"}, {"events", "Events"}, {"reason", "First reason"},
          {"sequences", "Seqs"})},
    {"allowed_destinations", "activity.destinations_allowed", "Top destinations allowed",
     COLS({"destination", "Destination"}, {"events", "Events"}, {"sequences", "Seqs"})},
    {"binaries", "activity.binaries", "Top binaries (path, SHA-256) and their verdicts",
     COLS({"path", "Binary"}, {"sha256", "SHA-256"}, {"allowed", "Allowed"}, {"denied", "Denied"},
          {"allowed_sequences", "Allowed seqs"}, {"denied_sequences", "Denied seqs"})},
    {"denial_engines", "activity.denials_by_engine", "Denials by engine",
     COLS({"engine", "Engine"}, {"events", "Events"}, {"sequences", "Seqs"})},
    {"policy_changes", "changes.policy_events", "Policy versions and loads",
     COLS({"sequence", "Seq"}, {"time", "Time"}, {"sandbox", "Sandbox"}, {"state", "State"},
          {"version", "Version"}, {"hash", "Hash"}, {"source", "Source"}, {"summary", "Summary"},
          {"detail", "Detail"})},
    {"lifecycle", "changes.lifecycle", "Sandboxes created and deleted; gateway start and stop",
     COLS({"sequence", "Seq"}, {"time", "Time"}, {"sandbox", "Sandbox"}, {"action", "Action"},
          {"app", "App"}, {"message", "Message"})},
    {"findings_summary", "findings.summary", "Findings by kind",
     COLS({"kind", "Kind"}, {"events", "Events"}, {"sequences", "Seqs"})},
    {"findings", "findings.events", "Findings with evidence",
     COLS({"sequence", "Seq"}, {"time", "Time"}, {"sandbox", "Sandbox"}, {"kind", "Kind"},
          {"title", "Title"}, {"binary", "Binary"}, {"pid", "PID"}, {"sha256", "SHA-256"},
          {"message", "Message"}, {"evidence", "Evidence"})},
};
const size_t rep__ntables = sizeof rep__tables / sizeof rep__tables[0];

const rep__table_t *rep__table_find(const char *name)
{
    for (size_t i = 0; i < rep__ntables; i++)
        if (!strcmp(rep__tables[i].name, name))
            return &rep__tables[i];
    return NULL;
}

const char *rep_table_name(size_t i)
{
    return i < rep__ntables ? rep__tables[i].name : NULL;
}

bool rep_table_exists(const char *name)
{
    return rep__table_find(name) != NULL;
}

int rep_format_parse(const char *s, rep_format_t *f)
{
    static const char *const names[] = {"md", "html", "csv", "json"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, names[i])) {
            *f = (rep_format_t)i;
            return 0;
        }
    return -EINVAL;
}

/* ---- cells ---------------------------------------------------------------------------- */

void rep__cell_text(json_t *v, ocsf_buf_t *out)
{
    char num[32];
    size_t i;
    json_t *x;
    if (!v)
        return;
    switch (json_typeof(v)) {
    case JSON_STRING: ocsf_buf_put(out, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        ocsf_buf_puts(out, num);
        break;
    case JSON_REAL:
        snprintf(num, sizeof num, "%.3f", json_real_value(v));
        ocsf_buf_puts(out, num);
        break;
    case JSON_TRUE: ocsf_buf_puts(out, "yes"); break;
    case JSON_FALSE: ocsf_buf_puts(out, "no"); break;
    case JSON_ARRAY:
        json_array_foreach(v, i, x)
        {
            if (i)
                ocsf_buf_puts(out, ", ");
            json_t *lo = json_array_get(x, 0), *hi = json_array_get(x, 1);
            if (json_is_array(x) && json_array_size(x) == 2 && json_is_integer(lo) &&
                json_is_integer(hi)) { /* a range of sequences: "12-15", "20" */
                rep__cell_text(lo, out);
                if (json_integer_value(hi) != json_integer_value(lo))
                    ocsf_buf_putc(out, '-'), rep__cell_text(hi, out);
            } else {
                rep__cell_text(x, out);
            }
        }
        break;
    default: /* null, objects: nothing */ break;
    }
}

static void kv(json_t *rows, const char *item, json_t *doc, const char *path, const char *dflt)
{
    json_t *v = rep__json_at(doc, path);
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    rep__cell_text(v, &b);
    if (!b.len && dflt)
        ocsf_buf_puts(&b, dflt);
    json_array_append_new(rows,
                          json_pack("{s:s,s:s%}", "item", item, "value", b.p ? b.p : "", b.len));
    ocsf_buf_dispose(&b);
}

static json_t *kv_scope(json_t *doc)
{
    json_t *r = json_array();
    kv(r, "Period from", doc, "scope.since", "the oldest event in the spool");
    kv(r, "Period to", doc, "scope.until", "the newest event in the spool");
    kv(r, "Sandboxes", doc, "scope.sandboxes", "all");
    kv(r, "Sandboxes seen", doc, "scope.sandboxes_seen", NULL);
    kv(r, "Hosts (device.hostname)", doc, "scope.hosts", "-");
    kv(r, "Products that emitted events", doc, "scope.products", "-");
    kv(r, "First sequence in the period", doc, "scope.first_sequence", "-");
    kv(r, "Last sequence in the period", doc, "scope.last_sequence", "-");
    kv(r, "Events in the period (all sandboxes)", doc, "scope.events_in_period", NULL);
    kv(r, "Events in scope", doc, "scope.events_in_scope", NULL);
    kv(r, "First event time", doc, "scope.first_event_time", "-");
    kv(r, "Last event time", doc, "scope.last_event_time", "-");
    kv(r, "Spool", doc, "scope.spool_dir", NULL);
    kv(r, "Report generated at", doc, "report.generated_at", NULL);
    kv(r, "Report generated on host", doc, "report.host", NULL);
    kv(r, "tollgate version", doc, "report.tollgate_version", NULL);
    return r;
}

static json_t *kv_completeness(json_t *doc)
{
    json_t *r = json_array();
    kv(r, "Spool first sequence", doc, "completeness.spool_first_sequence", "-");
    kv(r, "Spool last sequence", doc, "completeness.spool_last_sequence", "-");
    kv(r, "Records read", doc, "completeness.records_read", NULL);
    kv(r, "Unreadable records (CRC)", doc, "completeness.unreadable_records", NULL);
    kv(r, "Sequence gaps", doc, "completeness.gaps_total", NULL);
    kv(r, "Missing sequences", doc, "completeness.missing_sequences", NULL);
    kv(r, "Hash chain verification (whole spool)", doc, "completeness.verify.result", NULL);
    kv(r, "Records verified", doc, "completeness.verify.records_checked", NULL);
    kv(r, "First bad record", doc, "completeness.verify.first_bad.problem", "none");
    kv(r, "Events dropped", doc, "completeness.drops.events_dropped", NULL);
    kv(r, "Notes", doc, "completeness.notes", "none");
    return r;
}

json_t *rep__table_rows(json_t *doc, const rep__table_t *t)
{
    if (!t->section)
        return !strcmp(t->name, "scope") ? kv_scope(doc) : kv_completeness(doc);
    json_t *v = rep__json_at(doc, t->section), *out = json_array(), *row;
    size_t i;
    if (!json_is_array(v))
        return out;
    json_array_foreach(v, i, row) /* ranges of sequences as text: "12-15, 20 +3 more" */
    {
        json_t *r = json_copy(row);
        for (size_t c = 0; c < t->ncols; c++) {
            const char *k = t->cols[c].key;
            json_t *ranges = json_object_get(row, k);
            if (!json_is_array(ranges))
                continue;
            char mk[64];
            snprintf(mk, sizeof mk, "%s_more", k);
            ocsf_buf_t b;
            ocsf_buf_init(&b);
            rep__cell_text(ranges, &b);
            json_int_t more = json_integer_value(json_object_get(row, mk));
            if (more > 0) {
                char tail[80];
                snprintf(tail, sizeof tail, " +%" JSON_INTEGER_FORMAT " more", more);
                ocsf_buf_puts(&b, tail);
            }
            json_object_set_new(r, k, json_stringn(b.p ? b.p : "", b.len));
            ocsf_buf_dispose(&b);
        }
        json_array_append_new(out, r);
    }
    return out;
}

/* The escaped text of a cell: no control byte, no invalid UTF-8. */
static void cell_clean(json_t *v, ocsf_buf_t *out)
{
    ocsf_buf_t raw;
    ocsf_buf_init(&raw);
    rep__cell_text(v, &raw);
    if (raw.len)
        ocsf_text_escape(out, raw.p, raw.len, 0, OCSF_ESC_MSG);
    ocsf_buf_dispose(&raw);
}

/* ---- Markdown -------------------------------------------------------------------------- */

static void md_cell(json_t *v, ocsf_buf_t *out)
{
    ocsf_buf_t c;
    ocsf_buf_init(&c);
    cell_clean(v, &c);
    for (size_t i = 0; i < c.len; i++) {
        char ch = c.p[i];
        if (ch == '|' || ch == '\\' || ch == '`')
            ocsf_buf_putc(out, '\\'), ocsf_buf_putc(out, ch);
        else if (ch == '<')
            ocsf_buf_puts(out, "&lt;");
        else if (ch == '>')
            ocsf_buf_puts(out, "&gt;");
        else
            ocsf_buf_putc(out, ch);
    }
    ocsf_buf_dispose(&c);
}

static void md_table(json_t *doc, const rep__table_t *t, ocsf_buf_t *o, bool heading)
{
    json_t *rows = rep__table_rows(doc, t), *row;
    size_t i;
    if (heading) {
        ocsf_buf_puts(o, "### ");
        ocsf_buf_puts(o, t->title);
        ocsf_buf_puts(o, "\n\n");
    }
    if (!json_array_size(rows)) {
        ocsf_buf_puts(o, "None.\n\n");
        json_decref(rows);
        return;
    }
    ocsf_buf_putc(o, '|');
    for (size_t c = 0; c < t->ncols; c++)
        ocsf_buf_puts(o, " "), ocsf_buf_puts(o, t->cols[c].title), ocsf_buf_puts(o, " |");
    ocsf_buf_puts(o, "\n|");
    for (size_t c = 0; c < t->ncols; c++)
        ocsf_buf_puts(o, "---|");
    ocsf_buf_putc(o, '\n');
    json_array_foreach(rows, i, row)
    {
        ocsf_buf_putc(o, '|');
        for (size_t c = 0; c < t->ncols; c++) {
            ocsf_buf_putc(o, ' ');
            md_cell(json_object_get(row, t->cols[c].key), o);
            ocsf_buf_puts(o, " |");
        }
        ocsf_buf_putc(o, '\n');
    }
    ocsf_buf_putc(o, '\n');
    json_decref(rows);
}

static void md_more(json_t *doc, ocsf_buf_t *o, const char *total, const char *list,
                    const char *what)
{
    json_int_t n = json_integer_value(rep__json_at(doc, total));
    size_t shown = json_array_size(rep__json_at(doc, list));
    if ((size_t)n > shown) {
        char buf[200];
        snprintf(buf, sizeof buf,
                 "_%" JSON_INTEGER_FORMAT " %s in all; the first %zu are listed "
                 "(the JSON and CSV formats have the same cap)._\n\n",
                 n, what, shown);
        ocsf_buf_puts(o, buf);
    }
}

int rep__render_md(json_t *doc, const char *only, FILE *out)
{
    ocsf_buf_t o;
    ocsf_buf_init(&o);
    if (only) {
        md_table(doc, rep__table_find(only), &o, false);
    } else {
        static const struct {
            const char *heading;
            const char *first, *last;
        } parts[] = {
            {"## Scope", "scope", "scope"},
            {"## Completeness", "completeness", "exporters"},
            {"## Activity", "verdicts", "daily"},
            {NULL, "denied_destinations", "denial_engines"},
            {"## Changes", "policy_changes", "lifecycle"},
            {"## Findings", "findings_summary", "findings"},
        };
        ocsf_buf_puts(&o, "# tollgate compliance report\n\n");
        for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++) {
            if (parts[p].heading)
                ocsf_buf_puts(&o, parts[p].heading), ocsf_buf_puts(&o, "\n\n");
            const rep__table_t *t = rep__table_find(parts[p].first);
            const rep__table_t *end = rep__table_find(parts[p].last);
            for (; t <= end; t++)
                md_table(doc, t, &o, t->section != NULL);
            if (!strcmp(parts[p].first, "policy_changes"))
                md_more(doc, &o, "changes.policy_events_total", "changes.policy_events",
                        "policy events");
            if (!strcmp(parts[p].first, "findings_summary"))
                md_more(doc, &o, "findings.total", "findings.events", "findings");
        }
        ocsf_buf_puts(&o, "Every row names the sequence numbers (`metadata.sequence`) of the "
                          "spool records it counts; `tollgate logs --json` shows them.\n");
    }
    size_t w = o.len ? fwrite(o.p, 1, o.len, out) : 0;
    size_t len = o.len;
    ocsf_buf_dispose(&o);
    return w == len ? 0 : -EIO;
}

/* ---- CSV ------------------------------------------------------------------------------- */

static void csv_cell(json_t *v, ocsf_buf_t *out)
{
    ocsf_buf_t c;
    ocsf_buf_init(&c);
    cell_clean(v, &c);
    bool guard = json_is_string(v) && c.len && strchr("=+-@", c.p[0]);
    bool quote = guard || (c.len && (memchr(c.p, ',', c.len) || memchr(c.p, '"', c.len) ||
                                     c.p[0] == ' ' || c.p[c.len - 1] == ' '));
    if (quote)
        ocsf_buf_putc(out, '"');
    if (guard)
        ocsf_buf_putc(out, '\'');
    for (size_t i = 0; i < c.len; i++) {
        if (c.p[i] == '"')
            ocsf_buf_putc(out, '"');
        ocsf_buf_putc(out, c.p[i]);
    }
    if (quote)
        ocsf_buf_putc(out, '"');
    ocsf_buf_dispose(&c);
}

int rep__render_csv(json_t *doc, const rep__table_t *t, FILE *out)
{
    ocsf_buf_t o;
    ocsf_buf_init(&o);
    for (size_t c = 0; c < t->ncols; c++) {
        if (c)
            ocsf_buf_putc(&o, ',');
        ocsf_buf_puts(&o, t->cols[c].key);
    }
    ocsf_buf_puts(&o, "\r\n");
    json_t *rows = rep__table_rows(doc, t), *row;
    size_t i;
    json_array_foreach(rows, i, row)
    {
        for (size_t c = 0; c < t->ncols; c++) {
            if (c)
                ocsf_buf_putc(&o, ',');
            csv_cell(json_object_get(row, t->cols[c].key), &o);
        }
        ocsf_buf_puts(&o, "\r\n");
    }
    json_decref(rows);
    size_t w = fwrite(o.p, 1, o.len, out), len = o.len;
    ocsf_buf_dispose(&o);
    return w == len ? 0 : -EIO;
}

/* ---- the public entry points ---------------------------------------------------------- */

int rep_render(json_t *doc, rep_format_t f, FILE *out)
{
    switch (f) {
    case REP_MD: return rep__render_md(doc, NULL, out);
    case REP_HTML: return rep__render_html(doc, out);
    case REP_JSON: {
        /* ASCII only: no byte from an event can be a terminal control */
        int rc = json_dumpf(doc, out, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
        return rc == 0 && fputc('\n', out) != EOF ? 0 : -EIO;
    }
    case REP_CSV: return -EINVAL; /* one table per file: rep_render_table */
    }
    return -EINVAL;
}

int rep_render_table(json_t *doc, const char *table, rep_format_t f, FILE *out)
{
    const rep__table_t *t = rep__table_find(table);
    if (!t)
        return -ENOENT;
    if (f == REP_CSV)
        return rep__render_csv(doc, t, out);
    if (f == REP_MD)
        return rep__render_md(doc, table, out);
    return -EINVAL;
}
