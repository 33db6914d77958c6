/*
 * doc.c: rep_run() (the pass over the spool) and the report document built
 * from the aggregate. The document's schema is in report/README.md.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "report/rep_internal.h"

void rep_options_init(rep_options_t *o)
{
    memset(o, 0, sizeof *o);
    o->since_ms = o->until_ms = OCSF_NONE;
}

/* ---- strings ------------------------------------------------------------------------- */

json_t *rep__jstr(const char *p, size_t n)
{
    if (!p)
        return json_null();
    json_t *s = memchr(p, '\0', n) ? NULL : json_stringn(p, n);
    if (s)
        return s;
    ocsf_buf_t b; /* not UTF-8, or a NUL: say the bytes as \xHH */
    ocsf_buf_init(&b);
    ocsf_text_escape(&b, p, n, 0, OCSF_ESC_MSG);
    s = json_stringn(b.p ? b.p : "", b.len);
    ocsf_buf_dispose(&b);
    return s ? s : json_string("");
}

json_t *rep__jsv(rep__sv_t v)
{
    if (!v.p)
        return json_null();
    if (!v.esc)
        return rep__jstr(v.p, v.n);
    char buf[1024];
    size_t n = rep__sv_copy(v, buf, sizeof buf);
    return rep__jstr(buf, n);
}

json_t *rep__json_at(json_t *o, const char *path)
{
    char key[64];
    while (o && *path) {
        size_t n = strcspn(path, ".");
        snprintf(key, sizeof key, "%.*s", (int)n, path);
        o = json_object_get(o, key);
        path += n + (path[n] == '.');
    }
    return o;
}

void rep__fmt_time(int64_t ms, char *out, size_t n)
{
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, n, "%" PRId64, ms);
        return;
    }
    size_t l = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + l, n - l, ".%03dZ", (int)(((ms % 1000) + 1000) % 1000));
}

json_t *rep__jtime(int64_t ms)
{
    if (ms == OCSF_NONE || ms == INT64_MAX || ms == INT64_MIN)
        return json_null();
    char buf[64];
    rep__fmt_time(ms, buf, sizeof buf);
    return json_string(buf);
}

#define JU(v) json_integer((json_int_t)(v))

static void seqs_fields(json_t *row, const rep__seqs_t *s)
{
    json_object_set_new(row, "first_sequence", s->count ? JU(s->first) : json_null());
    json_object_set_new(row, "last_sequence", s->count ? JU(s->last) : json_null());
    rep__seqs_set(row, "sequences", s);
}

/* ---- activity tables ---------------------------------------------------------------- */

static int by_n0(const void *x, const void *y)
{
    const rep__ent_t *a = *(rep__ent_t *const *)x, *b = *(rep__ent_t *const *)y;
    if (a->n[0] != b->n[0])
        return a->n[0] < b->n[0] ? 1 : -1;
    size_t n = a->klen < b->klen ? a->klen : b->klen;
    int c = memcmp(a->key, b->key, n);
    return c ? c : (a->klen > b->klen) - (a->klen < b->klen);
}
static int by_n1(const void *x, const void *y)
{
    const rep__ent_t *a = *(rep__ent_t *const *)x, *b = *(rep__ent_t *const *)y;
    if (a->n[1] != b->n[1])
        return a->n[1] < b->n[1] ? 1 : -1;
    return by_n0(x, y);
}
static int by_allowed_denied(const void *x, const void *y)
{
    const rep__ent_t *a = *(rep__ent_t *const *)x, *b = *(rep__ent_t *const *)y;
    uint64_t ta = a->n[0] + a->n[1], tb = b->n[0] + b->n[1];
    if (ta != tb)
        return ta < tb ? 1 : -1;
    return by_n0(x, y);
}
static int by_key(const void *x, const void *y)
{
    const rep__ent_t *a = *(rep__ent_t *const *)x, *b = *(rep__ent_t *const *)y;
    size_t n = a->klen < b->klen ? a->klen : b->klen;
    int c = memcmp(a->key, b->key, n);
    return c ? c : (a->klen > b->klen) - (a->klen < b->klen);
}
static int by_i64(const void *x, const void *y)
{
    int64_t a, b;
    memcpy(&a, (*(rep__ent_t *const *)x)->key, 8);
    memcpy(&b, (*(rep__ent_t *const *)y)->key, 8);
    return (a > b) - (a < b);
}
static int by_u16(const void *x, const void *y)
{
    uint16_t a, b;
    memcpy(&a, (*(rep__ent_t *const *)x)->key, 2);
    memcpy(&b, (*(rep__ent_t *const *)y)->key, 2);
    return (a > b) - (a < b);
}

/* Top destinations of one verdict (col 0 allowed, 1 denied). */
static json_t *destinations(const rep__agg_t *a, int col, size_t top)
{
    json_t *arr = json_array();
    rep__ent_t **v = rep__tab_sorted(&a->dests, col ? by_n1 : by_n0);
    for (size_t i = 0, k = 0; i < a->dests.used && k < top; i++) {
        if (!v[i]->n[col])
            continue;
        json_t *row = json_object();
        json_object_set_new(row, "destination", rep__jstr(v[i]->key, v[i]->klen));
        json_object_set_new(row, "events", JU(v[i]->n[col]));
        if (col)
            json_object_set_new(row, "reason",
                                v[i]->note ? rep__jstr(v[i]->note, strlen(v[i]->note))
                                           : json_null());
        seqs_fields(row, &v[i]->seqs[col]);
        json_array_append_new(arr, row);
        k++;
    }
    free(v);
    if (a->dests.other.n[col]) {
        json_t *row = json_object();
        json_object_set_new(row, "destination",
                            json_string("(other: destinations past the tracked limit)"));
        json_object_set_new(row, "events", JU(a->dests.other.n[col]));
        if (col)
            json_object_set_new(row, "reason", json_null());
        seqs_fields(row, &a->dests.other.seqs[col]);
        json_array_append_new(arr, row);
    }
    return arr;
}

static json_t *binaries(const rep__agg_t *a, size_t top)
{
    json_t *arr = json_array();
    rep__ent_t **v = rep__tab_sorted(&a->binaries, by_allowed_denied);
    for (size_t i = 0; i < a->binaries.used && i < top; i++) {
        const rep__ent_t *e = v[i];
        size_t pl = strlen(e->key);
        json_t *row = json_object();
        json_object_set_new(row, "path", pl ? rep__jstr(e->key, pl) : json_null());
        json_object_set_new(row, "sha256",
                            e->klen > pl + 1 ? rep__jstr(e->key + pl + 1, e->klen - pl - 1)
                                             : json_null());
        json_object_set_new(row, "allowed", JU(e->n[0]));
        json_object_set_new(row, "denied", JU(e->n[1]));
        rep__seqs_set(row, "allowed_sequences", &e->seqs[0]);
        rep__seqs_set(row, "denied_sequences", &e->seqs[1]);
        json_array_append_new(arr, row);
    }
    free(v);
    if (a->binaries.other_events) {
        json_t *row = json_object();
        json_object_set_new(row, "path", json_string("(other: binaries past the tracked limit)"));
        json_object_set_new(row, "sha256", json_null());
        json_object_set_new(row, "allowed", JU(a->binaries.other.n[0]));
        json_object_set_new(row, "denied", JU(a->binaries.other.n[1]));
        rep__seqs_set(row, "allowed_sequences", &a->binaries.other.seqs[0]);
        rep__seqs_set(row, "denied_sequences", &a->binaries.other.seqs[1]);
        json_array_append_new(arr, row);
    }
    return arr;
}

static json_t *sandboxes(const rep__agg_t *a, json_t **traffic)
{
    json_t *arr = json_array();
    *traffic = json_array();
    rep__ent_t **v = rep__tab_sorted(&a->sandboxes, by_key);
    for (size_t i = 0; i <= a->sandboxes.used; i++) {
        const rep__ent_t *e = i < a->sandboxes.used ? v[i] : &a->sandboxes.other;
        if (i == a->sandboxes.used && !a->sandboxes.other_events)
            break;
        json_t *name = i == a->sandboxes.used ? json_string("(other sandboxes)")
                       : e->klen              ? rep__jstr(e->key, e->klen)
                                              : json_string("(gateway)");
        json_t *row = json_object();
        json_object_set(row, "sandbox", name);
        json_object_set_new(row, "events", JU(e->n[0]));
        json_object_set_new(row, "allowed", JU(e->n[1]));
        json_object_set_new(row, "denied", JU(e->n[2]));
        seqs_fields(row, &e->seqs[0]);
        json_array_append_new(arr, row);
        if (e->n[3]) {
            json_t *t = json_object();
            json_object_set(t, "sandbox", name);
            json_object_set_new(t, "closes", JU(e->n[3]));
            json_object_set_new(t, "bytes_in", JU(e->v[0]));
            json_object_set_new(t, "bytes_out", JU(e->v[1]));
            seqs_fields(t, &e->seqs[1]);
            json_array_append_new(*traffic, t);
        }
        json_decref(name);
    }
    free(v);
    return arr;
}

static void time_bins(const rep__agg_t *a, json_t **hours, json_t **days)
{
    *hours = json_array();
    *days = json_array();
    rep__ent_t **v = rep__tab_sorted(&a->hours, by_i64);
    json_t *day = NULL;
    int64_t cur_day = INT64_MIN;
    for (size_t i = 0; i < a->hours.used; i++) {
        int64_t h;
        memcpy(&h, v[i]->key, 8);
        json_t *row = json_object();
        json_object_set_new(row, "hour", rep__jtime(h * 3600000));
        json_object_set_new(row, "allowed", JU(v[i]->n[0]));
        json_object_set_new(row, "denied", JU(v[i]->n[1]));
        json_object_set_new(row, "other_events", JU(v[i]->n[2]));
        json_object_set_new(row, "first_sequence", JU(v[i]->seqs[0].first));
        json_object_set_new(row, "last_sequence", JU(v[i]->seqs[0].last));
        json_array_append_new(*hours, row);
        int64_t d = h >= 0 ? h / 24 : (h - 23) / 24;
        if (d != cur_day) {
            char buf[64];
            rep__fmt_time(d * 86400000, buf, sizeof buf);
            buf[10] = '\0';
            day = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I}", "day", buf, "allowed", (json_int_t)0,
                            "denied", (json_int_t)0, "other_events", (json_int_t)0,
                            "first_sequence", (json_int_t)v[i]->seqs[0].first, "last_sequence",
                            (json_int_t)v[i]->seqs[0].last);
            json_array_append_new(*days, day);
            cur_day = d;
        }
        const char *k[] = {"allowed", "denied", "other_events"};
        for (int c = 0; c < 3; c++)
            json_object_set_new(
                day, k[c],
                JU((uint64_t)json_integer_value(json_object_get(day, k[c])) + v[i]->n[c]));
        json_int_t f = json_integer_value(json_object_get(day, "first_sequence"));
        json_int_t l = json_integer_value(json_object_get(day, "last_sequence"));
        if ((json_int_t)v[i]->seqs[0].first < f)
            json_object_set_new(day, "first_sequence", JU(v[i]->seqs[0].first));
        if ((json_int_t)v[i]->seqs[0].last > l)
            json_object_set_new(day, "last_sequence", JU(v[i]->seqs[0].last));
    }
    free(v);
}

/* Allowed and Denied as decisions first (the numbers of the sandbox, daily
 * and destination tables), then what carries an action without being a
 * decision (NET:CLOSE, NET:FAIL, ...): the rows add up to every event. */
static json_t *verdicts(const rep__agg_t *a)
{
    json_t *arr = json_array();
    uint64_t dec[3] = {0, a->decisions_allowed, a->decisions_denied};
    for (int i = 0; i < 256; i++) {
        uint64_t n = a->by_action[i];
        const char *name = i == 255 ? "(none)"
                           : i == 1 ? "Allowed"
                           : i == 2 ? "Denied"
                           : i == 3 ? "Observed"
                           : i == 0 ? "Unknown"
                                    : "Other";
        json_t *id = i == 255 ? json_null() : JU(i);
        if (i == 1 || i == 2) {
            json_array_append_new(arr, json_pack("{s:s,s:O,s:b,s:I}", "verdict", name, "action_id",
                                                 id, "decision", 1, "events", (json_int_t)dec[i]));
            n -= dec[i];
            name = i == 1 ? "Allowed, not a decision (NET:CLOSE, NET:FAIL, ...)"
                          : "Denied, not a decision";
        }
        if (n)
            json_array_append_new(arr, json_pack("{s:s,s:O,s:b,s:I}", "verdict", name, "action_id",
                                                 id, "decision", 0, "events", (json_int_t)n));
        json_decref(id);
    }
    return arr;
}

static json_t *activity(const rep__agg_t *a)
{
    size_t top = a->o.top ? a->o.top : 20;
    json_t *act = json_object();
    json_object_set_new(act, "events", JU(a->events));
    json_object_set_new(act, "decisions",
                        json_pack("{s:I,s:I}", "allowed", (json_int_t)a->decisions_allowed,
                                  "denied", (json_int_t)a->decisions_denied));
    json_object_set_new(act, "by_verdict", verdicts(a));
    json_t *classes = json_array();
    rep__ent_t **v = rep__tab_sorted(&a->classes, by_u16);
    for (size_t i = 0; i < a->classes.used; i++) {
        uint16_t c;
        memcpy(&c, v[i]->key, 2);
        const char *name = ocsf_class_name(c);
        json_t *row = json_pack("{s:I,s:s,s:I}", "class_uid", (json_int_t)c, "class",
                                name ? name : "(unknown)", "events", (json_int_t)v[i]->n[0]);
        seqs_fields(row, &v[i]->seqs[0]);
        json_array_append_new(classes, row);
    }
    free(v);
    json_object_set_new(act, "by_class", classes);
    json_t *sev = json_array();
    for (int i = 0; i < 256; i++) {
        if (!a->by_severity[i])
            continue;
        const char *name = ocsf_caption(OCSF_CLASS_NETWORK, "severity_id", i);
        json_array_append_new(sev, json_pack("{s:I,s:s,s:I}", "severity_id", (json_int_t)i,
                                             "severity", name ? name : "(unknown)", "events",
                                             (json_int_t)a->by_severity[i]));
    }
    json_object_set_new(act, "by_severity", sev);
    json_t *traffic;
    json_object_set_new(act, "by_sandbox", sandboxes(a, &traffic));
    json_object_set_new(act, "traffic", traffic);
    json_t *hours, *days;
    time_bins(a, &hours, &days);
    json_object_set_new(act, "per_day", days);
    json_object_set_new(act, "per_hour", hours);
    json_object_set_new(act, "destinations_denied", destinations(a, 1, top));
    json_object_set_new(act, "destinations_allowed", destinations(a, 0, top));
    json_object_set_new(act, "destinations_distinct", JU(a->dests.used));
    json_object_set_new(act, "binaries", binaries(a, top));
    json_object_set_new(act, "binaries_distinct", JU(a->binaries.used));
    json_t *eng = json_array();
    v = rep__tab_sorted(&a->engines, by_n0);
    for (size_t i = 0; i < a->engines.used; i++) {
        json_t *row = json_object();
        json_object_set_new(row, "engine",
                            v[i]->klen ? rep__jstr(v[i]->key, v[i]->klen) : json_string("(none)"));
        json_object_set_new(row, "events", JU(v[i]->n[0]));
        seqs_fields(row, &v[i]->seqs[0]);
        json_array_append_new(eng, row);
    }
    free(v);
    json_object_set_new(act, "denials_by_engine", eng);
    json_object_set_new(act, "unparsed_events", JU(a->walk_errors));
    return act;
}

/* ---- completeness ------------------------------------------------------------------- */

static json_t *exporter_row(const rep__agg_t *a, const char *name, const rep__exporter_t *x)
{
    json_t *row = json_object();
    json_object_set_new(row, "exporter", rep__jstr(name, strlen(name)));
    json_object_set_new(row, "checkpoint", x && x->has_ckpt ? JU(x->ckpt) : json_null());
    uint64_t pending = x ? x->pending : a->win_events;
    json_object_set_new(row, "pending_in_period", JU(pending));
    json_object_set_new(row, "delivered_period", json_boolean(x && pending == 0));
    char path[COL__DIR_MAX + 400];
    snprintf(path, sizeof path, "%s/dlq/%s.jsonl", a->o.state_dir ? a->o.state_dir : ".", name);
    FILE *f = fopen(path, "re");
    uint64_t total = 0, in = 0, bad = 0;
    json_t *reason = json_null();
    char *line = NULL;
    size_t cap = 0;
    while (f && getline(&line, &cap, f) > 0) {
        total++;
        json_t *o = json_loads(line, 0, NULL);
        json_t *s = json_object_get(o, "sequence");
        if (!json_is_integer(s)) {
            bad++;
        } else if (a->win_events && (uint64_t)json_integer_value(s) >= a->win_first &&
                   (uint64_t)json_integer_value(s) <= a->win_last) {
            if (!in++ && json_is_string(json_object_get(o, "reason"))) {
                json_decref(reason);
                reason = json_copy(json_object_get(o, "reason"));
            }
        }
        json_decref(o);
    }
    free(line);
    if (f)
        fclose(f);
    json_object_set_new(row, "dead_letters", JU(total));
    json_object_set_new(row, "dead_letters_in_period", JU(in));
    json_object_set_new(row, "dead_letters_unreadable", JU(bad));
    json_object_set_new(row, "first_dead_letter_reason", reason);
    return row;
}

static json_t *exporters(const rep__agg_t *a)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < a->nexporters; i++)
        json_array_append_new(arr, exporter_row(a, a->exporters[i].name, &a->exporters[i]));
    char dir[COL__DIR_MAX + 16]; /* dead letters of an exporter with no checkpoint yet */
    snprintf(dir, sizeof dir, "%s/dlq", a->o.state_dir ? a->o.state_dir : ".");
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len <= 6 || len > 255 || strcmp(e->d_name + len - 6, ".jsonl") || e->d_name[0] == '.')
            continue;
        char name[256];
        memcpy(name, e->d_name, len - 6);
        name[len - 6] = '\0';
        bool known = false;
        for (size_t i = 0; i < a->nexporters && !known; i++)
            known = !strcmp(a->exporters[i].name, name);
        if (!known)
            json_array_append_new(arr, exporter_row(a, name, NULL));
    }
    if (d)
        closedir(d);
    return arr;
}

static json_t *verify_doc(const rep__verify_t *v)
{
    json_t *o = json_object();
    bool pass = v->rc == 0 && v->nproblems == 0;
    json_object_set_new(o, "result", json_string(pass ? "pass" : "fail"));
    json_object_set_new(o, "records_checked", JU(v->checked));
    json_object_set_new(o, "problems_total", JU(v->nproblems));
    json_t *arr = json_array();
    for (uint64_t i = 0; i < v->nproblems && i < REP__MAX_PROBLEMS; i++) {
        const rep__problem_t *p = &v->problems[i];
        json_array_append_new(arr,
                              json_pack("{s:I,s:s,s:I,s:s,s:s}", "sequence", (json_int_t)p->seq,
                                        "segment", p->segment, "offset", (json_int_t)p->off, "kind",
                                        p->kind, "problem", p->text));
    }
    json_object_set_new(o, "first_bad",
                        json_array_size(arr) ? json_copy(json_array_get(arr, 0)) : json_null());
    json_object_set_new(o, "problems", arr);
    if (v->rc)
        json_object_set_new(o, "error", json_string(strerror(-v->rc)));
    return o;
}

static json_t *completeness(rep__agg_t *a, const rep__verify_t *v)
{
    json_t *c = json_object();
    json_object_set_new(c, "spool_first_sequence", a->records ? JU(a->spool_first) : json_null());
    json_object_set_new(c, "spool_last_sequence", a->records ? JU(a->spool_last) : json_null());
    json_object_set_new(c, "records_read", JU(a->records));
    json_object_set_new(c, "unreadable_records", JU(a->unreadable));
    json_object_set_new(c, "gaps_total", JU(a->ngaps));
    json_object_set_new(c, "missing_sequences", JU(a->missing));
    json_object_set_new(c, "gaps", json_incref(a->gaps));
    json_object_set_new(c, "verify", verify_doc(v));
    json_object_set_new(c, "drops",
                        json_pack("{s:I,s:I,s:O}", "events_dropped", (json_int_t)a->dropped_events,
                                  "reports_total", (json_int_t)a->drops.total, "reports",
                                  a->drops.v));
    json_object_set_new(c, "recoveries", json_incref(a->recoveries.v));
    json_object_set_new(c, "exporters", exporters(a));
    if (a->records && a->spool_first > 1)
        json_array_append_new(a->scan_notes,
                              json_sprintf("the spool begins at sequence %" PRIu64
                                           ": sequences 1..%" PRIu64
                                           " were removed by retention (or are missing)",
                                           a->spool_first, a->spool_first - 1));
    if (a->records && a->o.since_ms != OCSF_NONE && a->win_events && a->spool_first > 1 &&
        a->win_first == a->spool_first)
        json_array_append_new(a->scan_notes,
                              json_string("the period may begin before the oldest event kept in "
                                          "the spool: older events of the period are gone"));
    json_object_set_new(c, "notes", json_incref(a->scan_notes));
    return c;
}

/* ---- scope and the whole ------------------------------------------------------------ */

static json_t *scope(const rep__agg_t *a, const rep__segs_t *segs)
{
    json_t *s = json_object();
    json_object_set_new(s, "since", rep__jtime(a->o.since_ms));
    json_object_set_new(s, "until", rep__jtime(a->o.until_ms));
    json_t *sb = json_array();
    for (size_t i = 0; i < a->o.nsandboxes; i++)
        json_array_append_new(sb, rep__jstr(a->o.sandboxes[i], strlen(a->o.sandboxes[i])));
    json_object_set_new(s, "sandboxes", sb);
    /* sandboxes, not the gateway's own events (the "(gateway)" row) */
    uint64_t seen = 0;
    for (size_t i = 0; i < a->sandboxes.cap; i++)
        seen += a->sandboxes.slots[i].key && a->sandboxes.slots[i].klen;
    json_object_set_new(s, "sandboxes_seen", JU(seen));
    json_t *hosts = json_array(), *prods = json_array();
    for (size_t i = 0; i < a->nhosts; i++)
        json_array_append_new(hosts, rep__jstr(a->hosts[i], strlen(a->hosts[i])));
    for (size_t i = 0; i < a->nproducts; i++)
        json_array_append_new(prods, rep__jstr(a->products[i], strlen(a->products[i])));
    json_object_set_new(s, "hosts", hosts);
    json_object_set_new(s, "products", prods);
    json_object_set_new(s, "first_sequence", a->win_events ? JU(a->win_first) : json_null());
    json_object_set_new(s, "last_sequence", a->win_events ? JU(a->win_last) : json_null());
    json_object_set_new(s, "events_in_period", JU(a->win_events));
    json_object_set_new(s, "events_in_scope", JU(a->events));
    json_object_set_new(s, "first_event_time",
                        a->win_events ? rep__jtime(a->win_min_time) : json_null());
    json_object_set_new(s, "last_event_time",
                        a->win_events ? rep__jtime(a->win_max_time) : json_null());
    json_object_set_new(s, "segments", JU(segs->n));
    json_object_set_new(s, "spool_bytes", JU(segs->bytes));
    return s;
}

static json_t *findings(const rep__agg_t *a)
{
    json_t *f = json_object(), *sum = json_array();
    const char *kinds[] = {"binary_hash_change", "ssrf_attempt", "bypass_attempt", "other"};
    for (size_t i = 0; i < 4; i++) {
        rep__ent_t *e = NULL;
        for (size_t j = 0; j < a->finding_kinds.cap && !e; j++)
            if (a->finding_kinds.slots[j].key && !strcmp(a->finding_kinds.slots[j].key, kinds[i]))
                e = &a->finding_kinds.slots[j];
        rep__seqs_t none = {0};
        json_t *row =
            json_pack("{s:s,s:I}", "kind", kinds[i], "events", (json_int_t)(e ? e->n[0] : 0));
        seqs_fields(row, e ? &e->seqs[0] : &none);
        json_array_append_new(sum, row);
    }
    json_object_set_new(f, "summary", sum);
    json_object_set_new(f, "total", JU(a->findings.total));
    json_object_set_new(f, "events", json_incref(a->findings.v));
    return f;
}

json_t *rep__doc_build(rep__agg_t *a, const rep__verify_t *v, const rep__segs_t *segs)
{
    json_t *doc = json_object(), *meta = json_object();
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    json_object_set_new(meta, "format_version", json_integer(1));
    json_object_set_new(meta, "generated_at",
                        rep__jtime(a->o.now_ms ? a->o.now_ms : (int64_t)time(NULL) * 1000));
    json_object_set_new(meta, "tollgate_version", json_string(TOLLGATE_VERSION));
    json_object_set_new(meta, "ocsf_version", json_string("1.7.0"));
    json_object_set_new(meta, "host", rep__jstr(host, strlen(host)));
    json_object_set_new(doc, "report", meta);
    json_object_set_new(doc, "scope", scope(a, segs));
    json_object_set_new(doc, "completeness", completeness(a, v));
    json_object_set_new(doc, "activity", activity(a));
    json_object_set_new(doc, "changes",
                        json_pack("{s:I,s:O,s:I,s:O}", "policy_events_total",
                                  (json_int_t)a->policies.total, "policy_events", a->policies.v,
                                  "lifecycle_total", (json_int_t)a->lifecycle.total, "lifecycle",
                                  a->lifecycle.v));
    json_object_set_new(doc, "findings", findings(a));
    return doc;
}

bool rep_doc_clean(json_t *doc)
{
    json_t *c = json_object_get(doc, "completeness");
    const char *r = json_string_value(json_object_get(json_object_get(c, "verify"), "result"));
    return r && !strcmp(r, "pass") && json_integer_value(json_object_get(c, "gaps_total")) == 0 &&
           json_integer_value(json_object_get(c, "unreadable_records")) == 0 &&
           json_integer_value(json_object_get(json_object_get(c, "drops"), "events_dropped")) == 0;
}
