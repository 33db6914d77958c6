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
    free(t->hv);
    free(t->other.note);
    memset(t, 0, sizeof *t);
}

static void grow(rep__tab_t *t)
{
    size_t cap = t->cap ? t->cap * 2 : 64;
    rep__ent_t *ns = calloc(cap, sizeof *ns);
    uint64_t *nh = calloc(cap, sizeof *nh);
    if (!ns || !nh)
        abort(); /* bounded by t->max: the small-allocation OOM policy */
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->hv[i])
            continue;
        size_t j = t->hv[i] & (cap - 1);
        while (nh[j])
            j = (j + 1) & (cap - 1);
        ns[j] = t->slots[i];
        nh[j] = t->hv[i];
    }
    free(t->slots);
    free(t->hv);
    t->slots = ns;
    t->hv = nh;
    t->cap = cap;
    t->last = NULL;
}

rep__ent_t *rep__tab_get(rep__tab_t *t, const void *key, size_t klen)
{
    rep__ent_t *last = t->last; /* runs of one key (hour, sandbox) skip the hash */
    if (last && last->klen == klen && memcmp(last->key, key, klen) == 0)
        return last;
    uint64_t h = hash(key, klen) | 1;
    if (t->cap) {
        for (size_t j = h & (t->cap - 1);; j = (j + 1) & (t->cap - 1)) {
            uint64_t x = t->hv[j];
            if (!x)
                break;
            rep__ent_t *e = &t->slots[j];
            if (x == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
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
    while (t->hv[j])
        j = (j + 1) & (t->cap - 1);
    t->hv[j] = h;
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

/* Empties t, keeping its slots (no allocation, no page touched anew when
 * the next segment fills it again). */
static void tab_clear(rep__tab_t *t)
{
    for (size_t i = 0; i < t->cap; i++)
        if (t->hv[i]) {
            free(t->slots[i].key);
            free(t->slots[i].note);
            memset(&t->slots[i], 0, sizeof t->slots[i]);
            t->hv[i] = 0;
        }
    free(t->other.note);
    memset(&t->other, 0, sizeof t->other);
    t->used = 0;
    t->other_events = 0;
    t->last = NULL;
}

void rep__agg_init_part(rep__agg_t *a, const rep__agg_t *g, bool reuse)
{
    rep__tab_t *tabs[] = {&a->classes, &a->sandboxes, &a->dests,        &a->binaries,
                          &a->engines, &a->hours,     &a->finding_kinds};
    const rep__tab_t *gt[] = {&g->classes, &g->sandboxes, &g->dests,        &g->binaries,
                              &g->engines, &g->hours,     &g->finding_kinds};
    enum { NT = sizeof tabs / sizeof tabs[0] };
    rep__tab_t keep[NT];
    if (reuse) {
        json_decref(a->gaps);
        json_decref(a->scan_notes);
        rep__list_t *old[] = {&a->drops, &a->recoveries, &a->policies, &a->lifecycle, &a->findings};
        for (size_t i = 0; i < sizeof old / sizeof old[0]; i++)
            json_decref(old[i]->v);
        for (size_t i = 0; i < NT; i++) {
            tab_clear(tabs[i]);
            keep[i] = *tabs[i];
        }
    }
    memset(a, 0, sizeof *a);
    a->o = g->o;
    a->gaps = json_array();
    a->scan_notes = json_array();
    rep__list_t *lists[] = {&a->drops, &a->recoveries, &a->policies, &a->lifecycle, &a->findings};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
        lists[i]->v = json_array();
    for (size_t i = 0; i < NT; i++) {
        if (reuse)
            *tabs[i] = keep[i];
        else
            rep__tab_init(tabs[i], gt[i]->max);
    }
    a->win_min_time = INT64_MAX;
    a->win_max_time = INT64_MIN;
    a->nexporters = g->nexporters;
    for (size_t i = 0; i < g->nexporters; i++) {
        a->exporters[i] = g->exporters[i];
        a->exporters[i].pending = 0;
    }
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

/* Were these raw bytes (x, then y) the last ones looked up? Remembers
 * them when they fit. Lookups of the same bytes give the same answer, and a
 * set only grows: a repeat changes nothing. */
static bool seen(char *last, size_t cap, size_t *last_n, rep__sv_t x, rep__sv_t y)
{
    size_t n = x.n + y.n + 4;
    char buf[256];
    if (n > cap || n > sizeof buf) {
        *last_n = 0;
        return false;
    }
    buf[0] = (char)x.esc, buf[1] = (char)y.esc, buf[2] = (char)(y.p != NULL);
    buf[3] = (char)x.n; /* "ab"+"c" is not "a"+"bc" */
    memcpy(buf + 4, x.p, x.n);
    if (y.n)
        memcpy(buf + 4 + x.n, y.p, y.n);
    if (n == *last_n && !memcmp(last, buf, n))
        return true;
    memcpy(last, buf, n);
    *last_n = n;
    return false;
}

static void net_event(rep__agg_t *a, const col_record_t *r, rep__ent_t *sb, rep__ent_t *hour)
{
    rep__net_t n;
    if (rep__walk_net(r->json, r->json_len, &n) != 0) {
        a->walk_errors++;
        hour->n[2]++;
        return;
    }
    if (n.hostname.p &&
        !seen(a->seen_host, sizeof a->seen_host, &a->seen_host_n, n.hostname, (rep__sv_t){0}))
        set_add(a->hosts, 256, &a->nhosts, n.hostname);
    if (n.product.p && a->nproducts < REP__MAX_SET &&
        !seen(a->seen_product, sizeof a->seen_product, &a->seen_product_n, n.product, n.version)) {
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
    if (!a->records) {
        a->first_good_seq = r->seq;
        a->first_good_time = r->time;
    } else if (r->seq <= a->last_good_seq) {
        a->nonmono = true;
    }
    a->last_good_seq = r->seq;
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
        else
            a->lead_unreadable++;
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

/* ---- merging the aggregate of the next segment ----------------------------------- */

/* The entry of key in t, or NULL (nothing is made). */
static rep__ent_t *tab_find(const rep__tab_t *t, const char *key, size_t klen, uint64_t h)
{
    if (!t->cap)
        return NULL;
    for (size_t j = h & (t->cap - 1);; j = (j + 1) & (t->cap - 1)) {
        if (!t->hv[j])
            return NULL;
        rep__ent_t *e = &t->slots[j];
        if (t->hv[j] == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
            return e;
    }
}

/* Can every key of b go into g without g passing its cap (b kept all its
 * own)? Then the merged table is the one a single pass makes. */
static bool tab_fits(const rep__tab_t *g, const rep__tab_t *b)
{
    if (b->other_events)
        return false;
    size_t fresh = 0;
    for (size_t i = 0; i < b->cap; i++) {
        const rep__ent_t *e = &b->slots[i];
        if (e->key && !tab_find(g, e->key, e->klen, e->hash))
            fresh++;
    }
    return g->used + fresh <= g->max;
}

/* Adds the sequences of b, all after those of s, as adding them one by
 * one would (the kept ranges, then b's uncounted rest). */
static void seqs_merge(rep__seqs_t *s, const rep__seqs_t *b)
{
    if (!b->count)
        return;
    if (!s->count)
        s->first = b->first;
    s->last = b->last;
    s->count += b->count;
    for (uint8_t i = 0; i < b->n; i++) {
        rep__range_t r = b->r[i];
        if (s->n && r.lo == s->r[s->n - 1].hi + 1)
            s->r[s->n - 1].hi = r.hi;
        else if (s->n < REP__RANGES)
            s->r[s->n++] = r;
        else
            s->more += r.hi - r.lo + 1;
    }
    s->more += b->more;
}

static void ent_merge(rep__ent_t *e, rep__ent_t *b)
{
    for (int i = 0; i < 4; i++)
        e->n[i] += b->n[i];
    e->v[0] += b->v[0];
    e->v[1] += b->v[1];
    seqs_merge(&e->seqs[0], &b->seqs[0]);
    seqs_merge(&e->seqs[1], &b->seqs[1]);
    if (!e->note && b->note) {
        e->note = b->note;
        b->note = NULL;
    }
}

static void tab_merge(rep__tab_t *g, rep__tab_t *b)
{
    for (size_t i = 0; i < b->cap; i++)
        if (b->slots[i].key)
            ent_merge(rep__tab_get(g, b->slots[i].key, b->slots[i].klen), &b->slots[i]);
}

static void list_merge(rep__list_t *g, rep__list_t *b)
{
    size_t i;
    json_t *row;
    json_array_foreach(b->v, i, row) if (json_array_size(g->v) < REP__MAX_LIST)
        json_array_append(g->v, row);
    g->total += b->total;
}

static void set_merge(char (*g)[256], size_t *gn, char (*b)[256], size_t bn)
{
    for (size_t i = 0; i < bn && *gn < REP__MAX_SET; i++) {
        bool seen = false;
        for (size_t j = 0; j < *gn && !seen; j++)
            seen = !strcmp(g[j], b[i]);
        if (!seen)
            memcpy(g[(*gn)++], b[i], strlen(b[i]) + 1);
    }
}

int rep__agg_merge(rep__agg_t *g, rep__agg_t *b)
{
    rep__tab_t *gt[] = {&g->classes, &g->sandboxes, &g->dests,        &g->binaries,
                        &g->engines, &g->hours,     &g->finding_kinds};
    rep__tab_t *bt[] = {&b->classes, &b->sandboxes, &b->dests,        &b->binaries,
                        &b->engines, &b->hours,     &b->finding_kinds};
    if (b->nonmono || (g->records && b->records && b->first_good_seq <= g->last_good_seq))
        return 1;
    for (size_t i = 0; i < sizeof gt / sizeof gt[0]; i++)
        if (!tab_fits(gt[i], bt[i]))
            return 1;
    /* completeness: the gap at the seam, then b's */
    if (b->records) {
        uint64_t prev = g->prev_seq + b->lead_unreadable;
        if (g->have_prev && b->first_good_seq > prev + 1) {
            g->ngaps++;
            g->missing += b->first_good_seq - prev - 1;
            if (json_array_size(g->gaps) < REP__MAX_GAPS) {
                json_t *o = json_object();
                json_object_set_new(o, "from_sequence", json_integer((json_int_t)prev + 1));
                json_object_set_new(o, "to_sequence",
                                    json_integer((json_int_t)b->first_good_seq - 1));
                json_object_set_new(o, "missing",
                                    json_integer((json_int_t)(b->first_good_seq - prev - 1)));
                json_object_set_new(o, "after_time", rep__jtime(g->prev_time));
                json_object_set_new(o, "before_time", rep__jtime(b->first_good_time));
                json_array_append_new(g->gaps, o);
            }
        }
        size_t i;
        json_t *row;
        json_array_foreach(b->gaps, i, row) if (json_array_size(g->gaps) < REP__MAX_GAPS)
            json_array_append(g->gaps, row);
        g->ngaps += b->ngaps;
        g->missing += b->missing;
        if (!g->records) {
            g->first_good_seq = b->first_good_seq;
            g->first_good_time = b->first_good_time;
        }
        if (!g->records || b->spool_first < g->spool_first)
            g->spool_first = b->spool_first;
        if (b->spool_last > g->spool_last)
            g->spool_last = b->spool_last;
        g->last_good_seq = b->last_good_seq;
        g->have_prev = true;
        g->prev_seq = b->prev_seq;
        g->prev_time = b->prev_time;
    } else if (g->have_prev) {
        g->prev_seq += b->unreadable;
    } else {
        g->lead_unreadable += b->unreadable;
    }
    if (!g->records)
        g->lead_unreadable += b->records ? b->lead_unreadable : 0;
    g->records += b->records;
    g->unreadable += b->unreadable;
    g->torn_live += b->torn_live;
    size_t i;
    json_t *note;
    json_array_foreach(b->scan_notes, i, note) json_array_append(g->scan_notes, note);
    list_merge(&g->drops, &b->drops);
    list_merge(&g->recoveries, &b->recoveries);
    list_merge(&g->policies, &b->policies);
    list_merge(&g->lifecycle, &b->lifecycle);
    list_merge(&g->findings, &b->findings);
    g->dropped_events += b->dropped_events;
    for (size_t k = 0; k < g->nexporters; k++)
        g->exporters[k].pending += b->exporters[k].pending;
    /* scope */
    if (b->win_events) {
        if (!g->win_events)
            g->win_first = b->win_first;
        g->win_last = b->win_last;
    }
    g->win_events += b->win_events;
    if (b->win_min_time < g->win_min_time)
        g->win_min_time = b->win_min_time;
    if (b->win_max_time > g->win_max_time)
        g->win_max_time = b->win_max_time;
    g->events += b->events;
    seqs_merge(&g->scope_seqs, &b->scope_seqs);
    set_merge(g->hosts, &g->nhosts, b->hosts, b->nhosts);
    /* products are 128 wide */
    for (size_t k = 0; k < b->nproducts && g->nproducts < REP__MAX_SET; k++) {
        bool seen = false;
        for (size_t j = 0; j < g->nproducts && !seen; j++)
            seen = !strcmp(g->products[j], b->products[k]);
        if (!seen)
            memcpy(g->products[g->nproducts++], b->products[k], strlen(b->products[k]) + 1);
    }
    /* activity */
    for (size_t k = 0; k < 256; k++) {
        g->by_action[k] += b->by_action[k];
        g->by_severity[k] += b->by_severity[k];
    }
    for (size_t k = 0; k < sizeof gt / sizeof gt[0]; k++)
        tab_merge(gt[k], bt[k]);
    g->decisions_allowed += b->decisions_allowed;
    g->decisions_denied += b->decisions_denied;
    g->walk_errors += b->walk_errors;
    return 0;
}

void rep__agg_note(rep__agg_t *a, const rep__seg_t *g, rep__seg_event_t ev, uint64_t off)
{
    json_t *note = NULL;
    switch (ev) {
    case REP__SEG_GONE:
        note = json_sprintf("segment %s was deleted (retention) while the report read the spool",
                            g->name);
        break;
    case REP__SEG_TORN:
        if (g->last)
            note = json_sprintf("segment %s ends in a partial record at offset %" PRIu64
                                " (a write in progress): not counted",
                                g->name, off);
        else
            note = json_sprintf("segment %s: torn record at offset %" PRIu64
                                ": the rest of it is unread",
                                g->name, off);
        break;
    case REP__SEG_MALFORMED:
        note = json_sprintf("segment %s: a record at offset %" PRIu64
                            " does not parse: the rest of it is unread",
                            g->name, off);
        break;
    case REP__SEG_BAD_HEADER:
        note = json_sprintf("segment %s: not a spool segment (bad header): unread", g->name);
        break;
    }
    if (note)
        json_array_append_new(a->scan_notes, note);
}
