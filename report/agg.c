/*
 * agg.c: the streaming aggregate of the report. One call per record, in
 * sequence order; memory bounded by the caps of rep_internal.h, never by the
 * number of records. Header fields (class, severity, action, time, sandbox)
 * are read from the record header; Network/HTTP events go through the field
 * extractor (walk.c); the rare CONFIG / LIFECYCLE / FINDING events through
 * jansson.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/rep_internal.h"

/* ---- sequence sets ------------------------------------------------------------ */

void rep__seqs_add(rep__seqs_t *s, uint64_t seq)
{
    if (!s->count)
        s->first = seq;
    s->last = seq;
    s->count++;
    if (s->n && seq == s->r[s->n - 1].hi + 1)
        s->r[s->n - 1].hi = seq;
    else if (s->n < REP__RANGES)
        s->r[s->n++] = (rep__range_t){seq, seq};
    else
        s->more++;
}

void rep__seqs_set(json_t *row, const char *key, const rep__seqs_t *s)
{
    json_t *a = json_array();
    for (uint8_t i = 0; i < s->n; i++)
        json_array_append_new(a,
                              json_pack("[I,I]", (json_int_t)s->r[i].lo, (json_int_t)s->r[i].hi));
    char more[64];
    snprintf(more, sizeof more, "%s_more", key);
    json_object_set_new(row, key, a);
    json_object_set_new(row, more, json_integer((json_int_t)s->more));
}

/* ---- capped hash tables ---------------------------------------------------------- */

static uint64_t hash(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n, w;
    for (; n >= 8; b += 8, n -= 8) {
        memcpy(&w, b, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    w = 0;
    memcpy(&w, b, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 29);
}

void rep__tab_init(rep__tab_t *t, size_t max)
{
    memset(t, 0, sizeof *t);
    t->max = max;
}

void rep__tab_dispose(rep__tab_t *t)
{
    for (size_t i = 0; i < t->cap; i++) {
        free(t->slots[i].key);
        free(t->slots[i].note);
    }
    free(t->slots);
    free(t->other.note);
    memset(t, 0, sizeof *t);
}

static void grow(rep__tab_t *t)
{
    size_t cap = t->cap ? t->cap * 2 : 64;
    rep__ent_t *ns = calloc(cap, sizeof *ns);
    if (!ns)
        abort(); /* bounded by t->max: the small-allocation OOM policy */
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->slots[i].key)
            continue;
        size_t j = t->slots[i].hash & (cap - 1);
        while (ns[j].key)
            j = (j + 1) & (cap - 1);
        ns[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = ns;
    t->cap = cap;
    t->last = NULL;
}

rep__ent_t *rep__tab_get(rep__tab_t *t, const void *key, size_t klen)
{
    rep__ent_t *last = t->last; /* runs of one key (hour, sandbox) skip the hash */
    if (last && last->klen == klen && memcmp(last->key, key, klen) == 0)
        return last;
    uint64_t h = hash(key, klen);
    if (t->cap) {
        for (size_t j = h & (t->cap - 1);; j = (j + 1) & (t->cap - 1)) {
            rep__ent_t *e = &t->slots[j];
            if (!e->key)
                break;
            if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
                return t->last = e;
        }
    }
    if (t->used >= t->max) {
        t->other_events++;
        return &t->other;
    }
    if ((t->used + 1) * 2 > t->cap)
        grow(t);
    size_t j = h & (t->cap - 1);
    while (t->slots[j].key)
        j = (j + 1) & (t->cap - 1);
    rep__ent_t *e = &t->slots[j];
    if (!(e->key = malloc(klen + 1)))
        abort();
    memcpy(e->key, key, klen);
    e->key[klen] = '\0';
    e->klen = klen;
    e->hash = h;
    t->used++;
    return t->last = e;
}

rep__ent_t **rep__tab_sorted(const rep__tab_t *t, int (*cmp)(const void *, const void *))
{
    rep__ent_t **v = malloc((t->used + 1) * sizeof *v);
    if (!v)
        abort();
    size_t n = 0;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].key)
            v[n++] = &t->slots[i];
    if (cmp)
        qsort(v, n, sizeof *v, cmp);
    return v;
}

/* ---- init ------------------------------------------------------------------------ */

static void load_exporters(rep__agg_t *a)
{
    char dir[COL__DIR_MAX + 32];
    snprintf(dir, sizeof dir, "%s/exporters", a->o.state_dir ? a->o.state_dir : ".");
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) && a->nexporters < REP__MAX_EXPORTER) {
        size_t len = strlen(e->d_name);
        if (len <= 5 || len - 5 >= sizeof a->exporters[0].name ||
            strcmp(e->d_name + len - 5, ".ckpt") != 0 || e->d_name[0] == '.')
            continue;
        rep__exporter_t *x = &a->exporters[a->nexporters++];
        memcpy(x->name, e->d_name, len - 5);
        x->name[len - 5] = '\0';
        char path[sizeof dir + 300];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "re");
        unsigned long long v;
        if (f && fscanf(f, "%llu", &v) == 1)
            x->ckpt = v, x->has_ckpt = true;
        if (f)
            fclose(f);
    }
    if (d)
        closedir(d);
}

void rep__agg_init(rep__agg_t *a, const rep_options_t *o)
{
    memset(a, 0, sizeof *a);
    a->o = *o;
    a->gaps = json_array();
    a->scan_notes = json_array();
    rep__list_t *lists[] = {&a->drops, &a->recoveries, &a->policies, &a->lifecycle, &a->findings};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
        lists[i]->v = json_array();
    rep__tab_init(&a->classes, 256);
    rep__tab_init(&a->sandboxes, 4096);
    rep__tab_init(&a->dests, 16384);
    rep__tab_init(&a->binaries, 4096);
    rep__tab_init(&a->engines, 64);
    rep__tab_init(&a->hours, 24 * 366 * 3);
    rep__tab_init(&a->finding_kinds, 64);
    a->win_min_time = INT64_MAX;
    a->win_max_time = INT64_MIN;
    load_exporters(a);
}

void rep__agg_dispose(rep__agg_t *a)
{
    json_decref(a->gaps);
    json_decref(a->scan_notes);
    rep__list_t *lists[] = {&a->drops, &a->recoveries, &a->policies, &a->lifecycle, &a->findings};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
        json_decref(lists[i]->v);
    rep__tab_t *tabs[] = {&a->classes, &a->sandboxes, &a->dests,        &a->binaries,
                          &a->engines, &a->hours,     &a->finding_kinds};
    for (size_t i = 0; i < sizeof tabs / sizeof tabs[0]; i++)
        rep__tab_dispose(tabs[i]);
}

/* ---- the rare classes: jansson --------------------------------------------------- */

static json_t *jcopy(json_t *o, const char *path)
{
    json_t *v = rep__json_at(o, path);
    return v ? json_deep_copy(v) : json_null();
}

static void list_add(rep__list_t *l, json_t *row)
{
    l->total++;
    if (json_array_size(l->v) < REP__MAX_LIST)
        json_array_append_new(l->v, row);
    else
        json_decref(row);
}

static json_t *row_base(const col_record_t *r)
{
    json_t *row = json_object();
    json_object_set_new(row, "sequence", json_integer((json_int_t)r->seq));
    json_object_set_new(row, "time", rep__jtime(r->time));
    json_object_set_new(row, "sandbox",
                        r->sandbox_len ? rep__jstr(r->sandbox, r->sandbox_len) : json_null());
    return row;
}

static void product_add(rep__agg_t *a, json_t *o)
{
    const char *n = json_string_value(rep__json_at(o, "metadata.product.name"));
    const char *v = json_string_value(rep__json_at(o, "metadata.product.version"));
    char pv[128];
    if (!n || a->nproducts >= REP__MAX_SET)
        return;
    snprintf(pv, sizeof pv, "%.80s %.40s", n, v ? v : "");
    for (size_t i = 0; i < a->nproducts; i++)
        if (!strcmp(a->products[i], pv))
            return;
    memcpy(a->products[a->nproducts++], pv, strlen(pv) + 1);
}

static json_t *parse(rep__agg_t *a, const col_record_t *r)
{
    json_t *o = json_loadb(r->json, r->json_len, 0, NULL);
    if (!o)
        a->walk_errors++;
    else
        product_add(a, o);
    return o;
}

/* The collector's own CONFIG events: drops and recoveries. */
static bool collector_event(rep__agg_t *a, const col_record_t *r)
{
    json_t *o = parse(a, r);
    const char *state = json_string_value(json_object_get(o, "state"));
    bool mine = state && (!strcmp(state, "dropped") || !strcmp(state, "recovered"));
    if (mine) {
        json_t *row = row_base(r);
        const char *msg = json_string_value(json_object_get(o, "message"));
        unsigned long long n = msg ? strtoull(msg, NULL, 10) : 0;
        json_object_set_new(row, "state", json_string(state));
        json_object_set_new(row, "count", json_integer((json_int_t)n));
        json_object_set_new(row, "message", jcopy(o, "message"));
        if (!strcmp(state, "dropped")) {
            a->dropped_events += n;
            list_add(&a->drops, row);
        } else {
            list_add(&a->recoveries, row);
        }
    }
    json_decref(o);
    return mine;
}

/* A row of l: the record's base columns, then fields[i][0] copied from the
 * event's path fields[i][1] (null when absent). */
static void list_event(rep__agg_t *a, const col_record_t *r, rep__list_t *l,
                       const char *const fields[][2], size_t n)
{
    json_t *o = parse(a, r);
    if (!o)
        return;
    json_t *row = row_base(r);
    for (size_t i = 0; i < n; i++)
        json_object_set_new(row, fields[i][0], jcopy(o, fields[i][1]));
    list_add(l, row);
    json_decref(o);
}

static void config_event(rep__agg_t *a, const col_record_t *r)
{
    static const char *const fields[][2] = {
        {"state", "state"},
        {"policy", "policy.name"},
        {"version", "policy.version"},
        {"hash", "policy.uid"},
        {"source", "metadata.log_name"},
        {"product", "metadata.product.name"},
        {"status", "status"},
        {"summary", "message"},
        {"detail", "status_detail"},
    };
    list_event(a, r, &a->policies, fields, sizeof fields / sizeof fields[0]);
}

static void lifecycle_event(rep__agg_t *a, const col_record_t *r)
{
    static const char *const fields[][2] = {
        {"action", "activity_name"},
        {"app", "app.name"},
        {"source", "metadata.log_name"},
        {"message", "message"},
    };
    list_event(a, r, &a->lifecycle, fields, sizeof fields / sizeof fields[0]);
}

static const char *finding_kind(const char *uid, const char *title)
{
    if (uid && !strcmp(uid, "binary_hash_changed"))
        return "binary_hash_change";
    if (uid && !strcmp(uid, "ssrf_attempt"))
        return "ssrf_attempt";
    if ((uid && strstr(uid, "bypass")) || (title && strstr(title, "bypass")))
        return "bypass_attempt";
    return "other";
}

static void finding_event(rep__agg_t *a, const col_record_t *r)
{
    json_t *o = parse(a, r);
    if (!o)
        return;
    const char *uid = json_string_value(rep__json_at(o, "finding_info.uid"));
    const char *kind = finding_kind(uid, json_string_value(rep__json_at(o, "finding_info.title")));
    rep__ent_t *k = rep__tab_get(&a->finding_kinds, kind, strlen(kind));
    k->n[0]++;
    rep__seqs_add(&k->seqs[0], r->seq);
    json_t *row = row_base(r);
    json_object_set_new(row, "kind", json_string(kind));
    json_object_set_new(row, "uid", jcopy(o, "finding_info.uid"));
    json_object_set_new(row, "title", jcopy(o, "finding_info.title"));
    json_object_set_new(row, "binary", jcopy(o, "actor.process.file.path"));
    json_object_set_new(row, "pid", jcopy(o, "actor.process.pid"));
    json_t *hashes = rep__json_at(o, "actor.process.file.hashes"), *h;
    size_t i;
    json_t *sha = json_null();
    json_array_foreach(hashes, i, h) if (json_integer_value(json_object_get(h, "algorithm_id")) ==
                                         OCSF_HASH_SHA256)
    {
        json_decref(sha);
        sha = jcopy(h, "value");
    }
    json_object_set_new(row, "sha256", sha);
    json_object_set_new(row, "message", jcopy(o, "message"));
    json_t *unm = json_object_get(o, "unmapped");
    char *u = unm ? json_dumps(unm, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_object_set_new(row, "evidence", u ? json_string(u) : json_null());
    free(u);
    list_add(&a->findings, row);
    json_decref(o);
}

/* ---- Network / HTTP ----------------------------------------------------------------- */

static void set_add(char (*set)[256], size_t width, size_t *n, rep__sv_t v)
{
    char buf[256];
    if (!v.p)
        return;
    rep__sv_copy(v, buf, width < sizeof buf ? width : sizeof buf);
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(set[i], buf))
            return;
    if (*n < REP__MAX_SET)
        memcpy(set[(*n)++], buf, strlen(buf) + 1);
}

static void net_event(rep__agg_t *a, const col_record_t *r, rep__ent_t *sb, rep__ent_t *hour)
{
    rep__net_t n;
    if (rep__walk_net(r->json, r->json_len, &n) != 0) {
        a->walk_errors++;
        hour->n[2]++;
        return;
    }
    set_add(a->hosts, 256, &a->nhosts, n.hostname);
    if (n.product.p && a->nproducts < REP__MAX_SET) {
        char pv[128], ver[48];
        size_t l = rep__sv_copy(n.product, pv, 80);
        rep__sv_copy(n.version, ver, sizeof ver);
        snprintf(pv + l, sizeof pv - l, " %s", ver);
        bool seen = false;
        for (size_t i = 0; i < a->nproducts && !seen; i++)
            seen = !strcmp(a->products[i], pv);
        if (!seen)
            memcpy(a->products[a->nproducts++], pv, strlen(pv) + 1);
    }
    if (r->class_uid == OCSF_CLASS_NETWORK && n.activity_id == OCSF_NET_CLOSE) {
        sb->v[0] += n.bytes_in > 0 ? n.bytes_in : 0;
        sb->v[1] += n.bytes_out > 0 ? n.bytes_out : 0;
        sb->n[3]++;
        rep__seqs_add(&sb->seqs[1], r->seq);
    }
    bool decision = r->class_uid == OCSF_CLASS_HTTP ||
                    (n.activity_id == OCSF_NET_OPEN || n.activity_id == 5 /* Refuse */);
    int act = r->action_id;
    if (!decision || (act != OCSF_ACTION_ALLOWED && act != OCSF_ACTION_DENIED)) {
        hour->n[2]++;
        return;
    }
    int d = act == OCSF_ACTION_DENIED; /* column: 0 allowed, 1 denied */
    hour->n[d]++;
    sb->n[1 + d]++;
    d ? a->decisions_denied++ : a->decisions_allowed++;

    char key[600];
    rep__sv_t host = n.domain.p ? n.domain : n.ip.p ? n.ip : n.url_host;
    int64_t port = n.port != OCSF_NONE ? n.port : n.url_port;
    size_t kl = rep__sv_copy(host, key, 300);
    if (port >= 0 && port <= 65535) { /* ":port", without printf on the hot path */
        char dig[8];
        int nd = 0;
        do
            dig[nd++] = (char)('0' + port % 10);
        while ((port /= 10) > 0);
        key[kl++] = ':';
        while (nd)
            key[kl++] = dig[--nd];
    }
    rep__ent_t *e = rep__tab_get(&a->dests, key, kl);
    e->n[d]++;
    rep__seqs_add(&e->seqs[d], r->seq);
    if (d && !e->note && (n.reason.p || n.engine.p)) {
        char why[400], eng[40];
        rep__sv_copy(n.engine, eng, sizeof eng);
        size_t wl = (size_t)snprintf(why, sizeof why, "%s: ", *eng ? eng : "-");
        rep__sv_copy(n.reason, why + wl, sizeof why - wl);
        e->note = strdup(why);
    }
    if (d) {
        char eng[40];
        size_t el = rep__sv_copy(n.engine, eng, sizeof eng);
        rep__ent_t *g = rep__tab_get(&a->engines, eng, el);
        g->n[0]++;
        rep__seqs_add(&g->seqs[0], r->seq);
    }
    kl = rep__sv_copy(n.path, key, 400);
    key[kl++] = '\0';
    kl += rep__sv_copy(n.sha256, key + kl, 100);
    e = rep__tab_get(&a->binaries, key, kl);
    e->n[d]++;
    rep__seqs_add(&e->seqs[d], r->seq);
}

/* ---- one record --------------------------------------------------------------------- */

static bool in_scope_sandbox(const rep__agg_t *a, const col_record_t *r)
{
    if (!a->o.nsandboxes)
        return true;
    for (size_t i = 0; i < a->o.nsandboxes; i++)
        if (strlen(a->o.sandboxes[i]) == r->sandbox_len &&
            !memcmp(a->o.sandboxes[i], r->sandbox, r->sandbox_len))
            return true;
    return false;
}

static void completeness(rep__agg_t *a, const col_record_t *r)
{
    if (!a->records || r->seq < a->spool_first)
        a->spool_first = r->seq;
    if (r->seq > a->spool_last)
        a->spool_last = r->seq;
    a->records++;
    if (a->have_prev && r->seq > a->prev_seq + 1) {
        a->ngaps++;
        a->missing += r->seq - a->prev_seq - 1;
        if (json_array_size(a->gaps) < REP__MAX_GAPS) {
            json_t *g = json_object();
            json_object_set_new(g, "from_sequence", json_integer((json_int_t)a->prev_seq + 1));
            json_object_set_new(g, "to_sequence", json_integer((json_int_t)r->seq - 1));
            json_object_set_new(g, "missing", json_integer((json_int_t)(r->seq - a->prev_seq - 1)));
            json_object_set_new(g, "after_time", rep__jtime(a->prev_time));
            json_object_set_new(g, "before_time", rep__jtime(r->time));
            json_array_append_new(a->gaps, g);
        }
    }
    a->have_prev = true;
    a->prev_seq = r->seq;
    a->prev_time = r->time;
}

void rep__agg_record(rep__agg_t *a, const rep__rec_t *rr)
{
    const col_record_t *r = &rr->r;
    if (!rr->crc_ok) { /* header fields untrusted: the verifier names it */
        a->unreadable++;
        if (a->have_prev)
            a->prev_seq++;
        return;
    }
    completeness(a, r);
    if ((a->o.since_ms != OCSF_NONE && r->time < a->o.since_ms) ||
        (a->o.until_ms != OCSF_NONE && r->time > a->o.until_ms))
        return;
    if (!a->win_events)
        a->win_first = r->seq;
    a->win_last = r->seq;
    a->win_events++;
    if (r->time < a->win_min_time)
        a->win_min_time = r->time;
    if (r->time > a->win_max_time)
        a->win_max_time = r->time;
    for (size_t i = 0; i < a->nexporters; i++)
        if (!a->exporters[i].has_ckpt || r->seq > a->exporters[i].ckpt)
            a->exporters[i].pending++;
    if (r->class_uid == OCSF_CLASS_CONFIG && r->sandbox_len == 0 && collector_event(a, r))
        return;
    bool gateway_wide = r->sandbox_len == 0;
    if (!in_scope_sandbox(a, r)) {
        if (gateway_wide && r->class_uid == OCSF_CLASS_LIFECYCLE)
            lifecycle_event(a, r); /* gateway start/stop: context for every sandbox */
        return;
    }
    a->events++;
    rep__seqs_add(&a->scope_seqs, r->seq);
    a->by_action[r->action_id < 0 ? 255 : r->action_id & 255]++;
    a->by_severity[r->severity_id & 255]++;
    uint16_t cls = (uint16_t)r->class_uid;
    rep__ent_t *c = rep__tab_get(&a->classes, &cls, sizeof cls);
    c->n[0]++;
    rep__seqs_add(&c->seqs[0], r->seq);
    rep__ent_t *sb = rep__tab_get(&a->sandboxes, r->sandbox, r->sandbox_len);
    sb->n[0]++;
    rep__seqs_add(&sb->seqs[0], r->seq);
    int64_t h = r->time >= 0 ? r->time / 3600000 : (r->time - 3599999) / 3600000;
    rep__ent_t *hour = rep__tab_get(&a->hours, &h, sizeof h);
    rep__seqs_add(&hour->seqs[0], r->seq);
    switch (r->class_uid) {
    case OCSF_CLASS_NETWORK:
    case OCSF_CLASS_HTTP: net_event(a, r, sb, hour); return;
    case OCSF_CLASS_CONFIG: config_event(a, r); break;
    case OCSF_CLASS_LIFECYCLE: lifecycle_event(a, r); break;
    case OCSF_CLASS_FINDING: finding_event(a, r); break;
    }
    hour->n[2]++;
}
