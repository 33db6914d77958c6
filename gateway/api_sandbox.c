/*
 * api_sandbox.c: sandboxes and policies over HTTP.
 *
 *   GET    /v1/sandboxes                        list
 *   POST   /v1/sandboxes                        {"name","providers":[],"policy_yaml","origin"}
 *   GET    /v1/sandboxes/{name}                 one, with its proxies' load status
 *   DELETE /v1/sandboxes/{name}
 *   GET    /v1/sandboxes/{name}/policy          ?view=effective|base|full[&version=N]
 *                                               (N: a kept past version, history.c)
 *   GET    /v1/sandboxes/{name}/policy/history  ?limit=N (20): the kept versions, newest first
 *   PUT    /v1/sandboxes/{name}/policy          YAML body (?origin=FILE&if_version=N&dry_run=1)
 *   PATCH  /v1/sandboxes/{name}/policy          {"add_endpoints":[],"remove_endpoints":[],
 *                                                "binaries":[],"rule_name","dry_run","if_version",
 *                                                "remove_rules":[],"add_allow":[],"add_deny":[]}
 *   GET    /v1/sandboxes/{name}/policy/status   ?version=N&wait=SECONDS (long poll)
 *   POST   /v1/sandboxes/{name}/policy/status {"proxy","version","status":"loaded|failed","error"}
 *   GET    /v1/sandboxes/{name}/policy/watch    ?after=V&wait=SECONDS: the policy once newer than V
 *   GET    /v1/sandboxes/{name}/decide          ?host=H&port=P&exe=E[&exe=ANCESTOR...]: a
 *                                               decision, as the proxy would take it
 *   POST   /v1/sandboxes/{name}/attach, GET .../net, POST .../process: its network
 *                                               namespace and processes (sandbox_net.c)
 *
 * The loop serialises every mutation; `if_version` makes a stale writer get
 * 409 instead of overwriting a change it did not see. A PUT or PATCH whose
 * base policy equals the current one makes no version ("unchanged": true);
 * dry_run answers the diff against the current base and changes nothing; a
 * refused one (400, 409) leaves a CONFIG event, state "failed", its reason in
 * status_detail.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gateway/gw_internal.h"

#define WAIT_MAX_S 300

struct gw__waiter {
    gw__waiter_t *next;
    gw__t *g;
    gw_http_req_t *req;
    char name[GW__NAME_MAX + 1];
    bool watch; /* else status */
    bool gone;
    uint64_t version;
    int64_t deadline_ms;
};

static int64_t now_ms(void)
{
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    return tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void reply(gw_http_req_t *req, int status, json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    if (!s) {
        gw_http_respond(req, 500, "application/json", NULL, "{\"error\":\"oom\"}", 15);
        return;
    }
    gw_http_respond(req, status, "application/json", NULL, s, strlen(s));
    free(s);
}

static void reply_err(gw_http_req_t *req, int status, const char *msg)
{
    reply(req, status, json_pack("{s:s}", "error", msg));
}

static json_t *summary(gw__sandbox_t *sb)
{
    json_t *provs = json_array();
    for (size_t i = 0; i < sb->nproviders; i++)
        json_array_append_new(provs, json_string(sb->providers[i]));
    json_t *o = json_pack("{s:s,s:s,s:I,s:o,s:I,s:s,s:I}", "name", sb->name, "uid", sb->uid,
                          "created_ms", (json_int_t)sb->created_ms, "providers", provs, "version",
                          (json_int_t)sb->version, "hash", sb->hash, "rules",
                          (json_int_t)(sb->effective ? sb->effective->nrules : 0));
    if (o && sb->user[0]) /* absent: sandbox exec's default user */
        json_object_set_new(o, "user", json_string(sb->user));
    return o;
}

/* o with "warnings": the policy's load warnings, one string a line (a
 * deprecated key, a default OpenShell applies): the CLI prints them. */
static json_t *with_warnings(json_t *o, const char *w)
{
    json_t *a = json_array();
    for (const char *p = w; p && *p;) {
        size_t n = strcspn(p, "\n");
        json_array_append_new(a, json_stringn(p, n));
        p += n + (p[n] == '\n');
    }
    if (o)
        json_object_set_new(o, "warnings", a);
    else
        json_decref(a);
    return o;
}

/* The trail's record of a refused change: CONFIG, state "failed", the
 * current version (nothing changed), the reason in status_detail. */
static void refused_event(gw__t *g, gw__sandbox_t *sb, const char *what, const char *reason)
{
    ocsf_event_t ev;
    char version[24], msg[300], err[256];
    gw__event_base(g, &ev, OCSF_CLASS_CONFIG, OCSF_CONFIG_LOG, OCSF_SEV_MEDIUM);
    snprintf(version, sizeof version, "%llu", (unsigned long long)sb->version);
    snprintf(msg, sizeof msg, "%s refused for sandbox %s", what, sb->name);
    ev.state_id = OCSF_OTHER;
    ev.state_other = OCSF_STR("failed");
    ev.message = ocsf_str(msg);
    ev.status_id = OCSF_STATUS_FAILURE;
    ev.status_detail = ocsf_str(reason);
    ev.policy_name = ocsf_str(sb->name);
    ev.policy_version = ocsf_str(version);
    ev.policy_uid = ocsf_str(sb->hash);
    ev.container_name = ocsf_str(sb->name);
    ev.container_uid = ocsf_str(sb->uid);
    if (col_append(g->col, &ev, NULL, err, sizeof err) != 0)
        fprintf(stderr, "[gateway:api] event: %s\n", err);
}

/* Refuses a policy change: the reply, and (unless a dry run) the event. */
static void refuse(gw__t *g, gw_http_req_t *req, gw__sandbox_t *sb, const char *what, bool dry_run,
                   int status, const char *reason)
{
    if (!dry_run)
        refused_event(g, sb, what, reason);
    reply_err(req, status, reason);
}

/* True when next's base equals sb's: same canonical form, same hash. */
static bool same_base(const gw__sandbox_t *sb, const pol_policy_t *next)
{
    char a[65], b[65];
    pol_hash(sb->base, a);
    pol_hash(next, b);
    return strcmp(a, b) == 0;
}

/* The answer to a change that changed nothing. */
static json_t *unchanged_json(gw__sandbox_t *sb, const char *sum)
{
    json_t *r = summary(sb);
    json_object_set_new(r, "unchanged", json_true());
    json_object_set_new(r, "summary", json_string(sum));
    return r;
}

/* The answer to a dry run: the diff against the current base. */
static json_t *dry_run_json(gw__sandbox_t *sb, const pol_policy_t *next, const char *sum)
{
    char *diff = pol_diff(sb->base, next);
    json_t *r =
        json_pack("{s:b,s:s,s:s,s:I,s:b}", "dry_run", 1, "summary", sum, "diff", diff ? diff : "",
                  "version", (json_int_t)sb->version, "unchanged", same_base(sb, next));
    free(diff);
    return r;
}

static json_t *proxies_json(gw__sandbox_t *sb)
{
    static const char *const st[] = {"pending", "loaded", "failed"};
    json_t *a = json_array();
    for (size_t i = 0; i < sb->nproxies; i++) {
        const gw__proxy_t *p = &sb->proxies[i];
        json_array_append_new(a, json_pack("{s:s,s:I,s:s,s:s,s:I}", "id", p->id, "version",
                                           (json_int_t)p->version, "state", st[p->state], "error",
                                           p->error, "seen_ms", (json_int_t)p->seen_ms));
    }
    return a;
}

/* "loaded" when every proxy has loaded `version` (or newer), "failed" when
 * one failed it, "pending" otherwise, "no-proxies" when none reports. */
static const char *load_state(const gw__sandbox_t *sb, uint64_t version)
{
    if (sb->nproxies == 0)
        return "no-proxies";
    bool all = true;
    for (size_t i = 0; i < sb->nproxies; i++) {
        const gw__proxy_t *p = &sb->proxies[i];
        if (p->state == 2 && p->version >= version)
            return "failed";
        if (!(p->state == 1 && p->version >= version))
            all = false;
    }
    return all ? "loaded" : "pending";
}

static json_t *status_json(gw__sandbox_t *sb, uint64_t version)
{
    return json_pack("{s:s,s:I,s:s,s:I,s:s,s:o}", "name", sb->name, "version",
                     (json_int_t)sb->version, "hash", sb->hash, "wanted", (json_int_t)version,
                     "state", load_state(sb, version), "proxies", proxies_json(sb));
}

/* The policy in a view: effective (layers marked, network policies only),
 * base, or full (effective with the kept sections). */
static json_t *policy_json(gw__sandbox_t *sb, const char *view)
{
    bool base = strcmp(view, "base") == 0;
    char *s = pol_to_json(base ? sb->base : sb->effective, !base);
    char *yaml = pol_to_yaml(base ? sb->base : sb->effective, !base);
    json_error_t e;
    json_t *p = s ? json_loads(s, 0, &e) : NULL;
    free(s);
    if (p && strcmp(view, "effective") == 0) {
        json_t *keep = json_object();
        json_object_set(keep, "version", json_object_get(p, "version"));
        json_object_set(keep, "network_policies", json_object_get(p, "network_policies"));
        json_decref(p);
        p = keep;
    }
    json_t *o = json_pack("{s:s,s:I,s:s,s:s,s:o,s:s}", "name", sb->name, "version",
                          (json_int_t)sb->version, "hash", sb->hash, "view", view, "policy",
                          p ? p : json_null(), "yaml", yaml ? yaml : "");
    free(yaml);
    return o;
}

/* ---- long polls ----------------------------------------------------------------- */

static void waiter_unlink(gw__t *g, gw__waiter_t *w)
{
    for (gw__waiter_t **pp = &g->waiters; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            return;
        }
}

static void waiter_close_cb(gw_http_req_t *req, void *ctx)
{
    (void)req;
    ((gw__waiter_t *)ctx)->gone = true; /* answered (as a no-op) on the next tick */
}

/* Answers w if its condition holds (or `force`); true when answered. */
static bool waiter_try(gw__t *g, gw__waiter_t *w, bool force)
{
    gw__sandbox_t *sb = gw__sandbox_find(g, w->name);
    if (!sb) {
        reply_err(w->req, 404, "no such sandbox (deleted)");
    } else if (w->watch) {
        if (sb->version <= w->version && !force && !w->gone)
            return false;
        json_t *o = policy_json(sb, "full");
        json_object_set_new(o, "changed", json_boolean(sb->version > w->version));
        reply(w->req, 200, o);
    } else {
        if (strcmp(load_state(sb, w->version), "pending") == 0 && !force && !w->gone)
            return false;
        reply(w->req, 200, status_json(sb, w->version));
    }
    waiter_unlink(g, w);
    free(w);
    return true;
}

void gw__waiters_poke(gw__t *g, gw__sandbox_t *sb)
{
    for (gw__waiter_t *w = g->waiters, *next; w; w = next) {
        next = w->next;
        if (strcmp(w->name, sb->name) == 0)
            waiter_try(g, w, false);
    }
}

static void on_tick(uv_timer_t *t)
{
    gw__t *g = t->data;
    int64_t now = now_ms();
    for (gw__waiter_t *w = g->waiters, *next; w; w = next) {
        next = w->next;
        waiter_try(g, w, w->gone || now >= w->deadline_ms);
    }
}

void gw__waiters_stop(gw__t *g)
{
    while (g->waiters) {
        gw__waiter_t *w = g->waiters;
        g->waiters = w->next;
        reply_err(w->req, 503, "the gateway is stopping");
        free(w);
    }
    if (uv_is_active((uv_handle_t *)&g->tick))
        uv_timer_stop(&g->tick);
}

static void wait_or_answer(gw__t *g, gw_http_req_t *req, gw__sandbox_t *sb, bool watch,
                           uint64_t version, long wait_s)
{
    gw__waiter_t *w = calloc(1, sizeof *w);
    if (!w) {
        reply_err(req, 503, "out of memory");
        return;
    }
    w->g = g;
    w->req = req;
    w->watch = watch;
    w->version = version;
    w->deadline_ms = now_ms() + (wait_s > WAIT_MAX_S ? WAIT_MAX_S : wait_s) * 1000;
    snprintf(w->name, sizeof w->name, "%s", sb->name);
    w->next = g->waiters;
    g->waiters = w;
    if (waiter_try(g, w, wait_s <= 0))
        return;
    gw_http_set_close_cb(req, waiter_close_cb, w);
    if (!uv_is_active((uv_handle_t *)&g->tick)) {
        g->tick.data = g;
        uv_timer_start(&g->tick, on_tick, 200, 200);
    }
}

/* ---- helpers --------------------------------------------------------------------- */

static long param_long(gw_http_req_t *req, const char *name, long dflt, bool *bad)
{
    char v[32];
    if (gw_http_param(req, name, v, sizeof v) < 0)
        return dflt;
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || end == v || x < 0) {
        *bad = true;
        return dflt;
    }
    return x;
}

static json_t *body_json(gw_http_req_t *req, char *err, size_t errlen)
{
    size_t n;
    const char *b = gw_http_body(req, &n);
    json_error_t e;
    json_t *o = json_loadb(b, n, JSON_REJECT_DUPLICATES, &e);
    if (!o || !json_is_object(o)) {
        ocsf_buf_t t;
        ocsf_buf_init(&t);
        ocsf_text_escape(&t, e.text, strlen(e.text), 200, OCSF_ESC_MSG);
        snprintf(err, errlen, "body: %s", o ? "expected a JSON object" : ocsf_buf_cstr(&t));
        ocsf_buf_dispose(&t);
        json_decref(o);
        return NULL;
    }
    return o;
}

/* A string array of a JSON body, NULL-terminated (heap; free the array). */
static const char **strings(json_t *o, const char *key, size_t *n, char *err, size_t errlen)
{
    json_t *a = json_object_get(o, key);
    *n = 0;
    if (a && !json_is_array(a)) {
        snprintf(err, errlen, "%s: expected an array of strings", key);
        return NULL;
    }
    const char **v = calloc(json_array_size(a) + 1, sizeof *v);
    size_t i;
    json_t *s;
    json_array_foreach(a, i, s)
    {
        if (!json_is_string(s)) {
            snprintf(err, errlen, "%s[%zu]: expected a string", key, i);
            free(v);
            return NULL;
        }
        v[(*n)++] = json_string_value(s);
    }
    return v;
}

/* ---- handlers --------------------------------------------------------------------- */

static void create(gw__t *g, gw_http_req_t *req)
{
    char err[600];
    json_t *o = body_json(req, err, sizeof err);
    size_t np = 0;
    const char **provs = o ? strings(o, "providers", &np, err, sizeof err) : NULL;
    const char *name = json_string_value(json_object_get(o, "name"));
    const char *yaml = json_string_value(json_object_get(o, "policy_yaml"));
    const char *origin = json_string_value(json_object_get(o, "origin"));
    json_t *user = json_object_get(o, "user");
    pol_policy_t *base = NULL;
    int status = 400;
    if (!o || !provs)
        goto fail;
    if (!name) {
        snprintf(err, sizeof err, "name: required");
        goto fail;
    }
    if (user &&
        (!json_is_string(user) || gw__user_valid(json_string_value(user), err, sizeof err) != 0)) {
        if (!json_is_string(user))
            snprintf(err, sizeof err, "user: a string");
        goto fail;
    }
    if (yaml && !(base = pol_parse_yaml(yaml, strlen(yaml), origin ? origin : "policy", false, err,
                                        sizeof err)))
        goto fail;
    gw__sandbox_t *sb;
    int rc = gw__sandbox_create(g, name, (char *const *)provs, np, base, &sb, err, sizeof err);
    if (rc) {
        status = rc == -EEXIST ? 409 : rc == -ENOENT || rc == -EINVAL ? 400 : 500;
        pol_policy_destroy(base);
        goto fail;
    }
    if (user && gw__sandbox_set_user(g, sb, json_string_value(user), err, sizeof err) != 0) {
        status = 500;
        goto fail;
    }
    reply(req, 201, with_warnings(summary(sb), base ? base->warnings : NULL));
    free(provs);
    json_decref(o);
    return;
fail:
    reply_err(req, status, err);
    free(provs);
    json_decref(o);
}

static void list(gw__t *g, gw_http_req_t *req)
{
    json_t *a = json_array();
    for (gw__sandbox_t *sb = g->sandboxes; sb; sb = sb->next)
        json_array_append_new(a, summary(sb));
    reply(req, 200, json_pack("{s:o}", "sandboxes", a));
}

static void put_policy(gw__t *g, gw_http_req_t *req, gw__sandbox_t *sb)
{
    char err[600], origin[256] = "policy", sum[300];
    bool bad = false;
    long if_version = param_long(req, "if_version", 0, &bad);
    bool dry = param_long(req, "dry_run", 0, &bad) != 0;
    gw_http_param(req, "origin", origin, sizeof origin);
    size_t n;
    const char *yaml = gw_http_body(req, &n);
    if (bad || (if_version && (uint64_t)if_version != sb->version)) {
        snprintf(err, sizeof err, "the policy is at version %llu, not %ld: reload and retry",
                 (unsigned long long)sb->version, if_version);
        refuse(g, req, sb, "policy set", dry, bad ? 400 : 409,
               bad ? "if_version, dry_run: numbers" : err);
        return;
    }
    pol_policy_t *p = pol_parse_yaml(yaml, n, origin, false, err, sizeof err);
    if (!p) {
        refuse(g, req, sb, "policy set", dry, 400, err);
        return;
    }
    snprintf(sum, sizeof sum, "set from %s (%zu rules)", origin, p->nrules);
    if (dry || same_base(sb, p)) {
        json_t *r = dry ? dry_run_json(sb, p, sum) : unchanged_json(sb, sum);
        reply(req, 200, with_warnings(r, p->warnings));
        pol_policy_destroy(p);
        return;
    }
    char *warn = p->warnings ? strdup(p->warnings) : NULL;
    if (gw__sandbox_set_base(g, sb, p, sum, err, sizeof err) != 0) {
        pol_policy_destroy(p);
        reply_err(req, 500, err);
    } else {
        reply(req, 200, with_warnings(summary(sb), warn));
    }
    free(warn);
}

/* add_allow / add_deny of a PATCH body into u's specs. */
static int l7_specs(json_t *o, const char *key, const char *flag, pol_l7_spec_t **out, size_t *n,
                    char *err, size_t errlen)
{
    size_t k;
    const char **v = strings(o, key, &k, err, errlen);
    int rc = v ? 0 : -EINVAL;
    *out = calloc(k + 1, sizeof **out);
    for (size_t i = 0; rc == 0 && i < k; i++, (*n)++)
        rc = pol_l7_spec_parse(v[i], flag, &(*out)[i], err, errlen);
    free(v);
    return rc;
}

/* Builds the update of a PATCH body; frees nothing of the body. */
static int build_update(json_t *o, pol_update_t *u, char *err, size_t errlen)
{
    size_t na, nr, nb, nrr;
    const char **add = strings(o, "add_endpoints", &na, err, errlen);
    const char **rem = add ? strings(o, "remove_endpoints", &nr, err, errlen) : NULL;
    const char **bins = rem ? strings(o, "binaries", &nb, err, errlen) : NULL;
    const char **rules = bins ? strings(o, "remove_rules", &nrr, err, errlen) : NULL;
    int rc = rules ? 0 : -EINVAL;
    memset(u, 0, sizeof *u);
    u->add = calloc(na + 1, sizeof *u->add);
    u->remove = calloc(nr + 1, sizeof *u->remove);
    for (size_t i = 0; rc == 0 && i < na; i++, u->nadd++)
        rc = pol_endpoint_spec_parse(add[i], true, &u->add[i], err, errlen);
    for (size_t i = 0; rc == 0 && i < nr; i++, u->nremove++)
        rc = pol_endpoint_spec_parse(rem[i], false, &u->remove[i], err, errlen);
    if (rc == 0)
        rc = l7_specs(o, "add_allow", "--add-allow", &u->allow, &u->nallow, err, errlen);
    if (rc == 0)
        rc = l7_specs(o, "add_deny", "--add-deny", &u->deny, &u->ndeny, err, errlen);
    if (rc == 0 && na + nr + nrr + u->nallow + u->ndeny == 0) {
        snprintf(err, errlen,
                 "nothing to change: give add_endpoints, remove_endpoints, "
                 "remove_rules, add_allow or add_deny");
        rc = -EINVAL;
    }
    u->binaries = (char **)bins;
    u->nbinaries = bins ? nb : 0;
    u->remove_rules = (char **)rules;
    u->nremove_rules = rules ? nrr : 0;
    u->rule_name = json_string_value(json_object_get(o, "rule_name"));
    free(add);
    free(rem);
    return rc;
}

static void free_update(pol_update_t *u)
{
    for (size_t i = 0; i < u->nadd; i++)
        pol_endpoint_spec_dispose(&u->add[i]);
    for (size_t i = 0; i < u->nremove; i++)
        pol_endpoint_spec_dispose(&u->remove[i]);
    for (size_t i = 0; i < u->nallow; i++)
        pol_l7_spec_dispose(&u->allow[i]);
    for (size_t i = 0; i < u->ndeny; i++)
        pol_l7_spec_dispose(&u->deny[i]);
    free(u->add);
    free(u->remove);
    free(u->allow);
    free(u->deny);
    free(u->binaries);
    free(u->remove_rules);
}

static void patch_policy(gw__t *g, gw_http_req_t *req, gw__sandbox_t *sb)
{
    char err[600], sum[600];
    pol_update_t u;
    json_t *o = body_json(req, err, sizeof err);
    if (!o) {
        refuse(g, req, sb, "policy update", false, 400, err);
        return;
    }
    bool dry = json_is_true(json_object_get(o, "dry_run"));
    json_t *iv = json_object_get(o, "if_version");
    if (iv && (!json_is_integer(iv) || (uint64_t)json_integer_value(iv) != sb->version)) {
        snprintf(err, sizeof err, "the policy is at version %llu: reload and retry",
                 (unsigned long long)sb->version);
        refuse(g, req, sb, "policy update", dry, json_is_integer(iv) ? 409 : 400, err);
        json_decref(o);
        return;
    }
    pol_policy_t *next = NULL;
    if (build_update(o, &u, err, sizeof err) == 0)
        next = pol_apply_update(sb->base, &u, sum, sizeof sum, err, sizeof err);
    free_update(&u);
    if (!next) {
        refuse(g, req, sb, "policy update", dry, 400, err);
    } else if (dry || same_base(sb, next)) {
        reply(req, 200, dry ? dry_run_json(sb, next, sum) : unchanged_json(sb, sum));
        pol_policy_destroy(next);
    } else if (gw__sandbox_set_base(g, sb, next, sum, err, sizeof err) != 0) {
        pol_policy_destroy(next);
        reply_err(req, 500, err);
    } else {
        json_t *r = summary(sb);
        json_object_set_new(r, "summary", json_string(sum));
        reply(req, 200, r);
    }
    json_decref(o);
}

static void post_status(gw__t *g, gw_http_req_t *req, gw__sandbox_t *sb)
{
    char err[600];
    json_t *o = body_json(req, err, sizeof err);
    const char *proxy = json_string_value(json_object_get(o, "proxy"));
    const char *st = json_string_value(json_object_get(o, "status"));
    const char *e = json_string_value(json_object_get(o, "error"));
    json_t *v = json_object_get(o, "version");
    if (!o || !proxy || !*proxy || strlen(proxy) > 63 || !st || !json_is_integer(v) ||
        (strcmp(st, "loaded") != 0 && strcmp(st, "failed") != 0)) {
        reply_err(req, 400,
                  o ? "expected {\"proxy\",\"version\",\"status\":\"loaded|failed\"}" : err);
        json_decref(o);
        return;
    }
    json_int_t ver = json_integer_value(v);
    if (ver < 1 || (uint64_t)ver > sb->version) { /* never recorded as loaded */
        snprintf(err, sizeof err, "version %lld of sandbox %s does not exist (it is at %llu)",
                 (long long)ver, sb->name, (unsigned long long)sb->version);
        reply_err(req, 409, err);
        json_decref(o);
        return;
    }
    gw__sandbox_report(g, sb, proxy, (uint64_t)ver, st[0] == 'l', e);
    reply(req, 200, status_json(sb, (uint64_t)ver));
    json_decref(o);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* All values of a repeated query parameter ("exe"), percent-decoded; a
 * value with a NUL or a broken escape is skipped. */
static size_t params_all(gw_http_req_t *req, const char *name, char out[][1024], size_t max)
{
    const char *q = gw_http_query(req);
    size_t n = 0, nl = strlen(name);
    while (*q && n < max) {
        size_t len = strcspn(q, "&"), o = 0;
        bool ok = len > nl + 1 && !strncmp(q, name, nl) && q[nl] == '=';
        for (size_t i = nl + 1; ok && i < len && o + 1 < sizeof out[0]; i++) {
            char c = q[i];
            if (c == '%') {
                int hi = i + 2 < len ? hexval(q[i + 1]) : -1;
                int lo = i + 2 < len ? hexval(q[i + 2]) : -1;
                ok = hi >= 0 && lo >= 0 && (hi | lo) != 0;
                c = (char)(hi * 16 + lo);
                i += 2;
            }
            out[n][o++] = c == '+' && q[i] == '+' ? ' ' : c;
        }
        if (ok && o) {
            out[n][o] = '\0';
            n++;
        }
        q += len + (q[len] == '&');
    }
    return n;
}

static void decide(gw_http_req_t *req, gw__sandbox_t *sb)
{
    char host[256], port[16], exes[8][1024];
    const char *ptrs[8];
    if (gw_http_param(req, "host", host, sizeof host) <= 0 ||
        gw_http_param(req, "port", port, sizeof port) <= 0 || atoi(port) < 1 ||
        atoi(port) > 65535) {
        reply_err(req, 400, "host and port (1-65535) are required");
        return;
    }
    size_t n = params_all(req, "exe", exes, 8);
    for (size_t i = 0; i < n; i++)
        ptrs[i] = exes[i];
    pol_query_t q = {host, (uint16_t)atoi(port), ptrs, n, false};
    pol_decision_t d;
    pol_decide(sb->index, &q, &d);
    reply(req, 200,
          json_pack("{s:b,s:s?,s:s?,s:s,s:I}", "allowed", d.allowed, "rule", d.rule, "layer",
                    d.layer, "reason", d.reason, "version", (json_int_t)sb->version));
}

/* GET .../policy?view=V&version=N: the current version, or a kept one. */
static void get_policy(gw__t *g, gw_http_req_t *req, gw__sandbox_t *sb, const char *view)
{
    bool bad = false;
    long v = param_long(req, "version", 0, &bad);
    if (bad) {
        reply_err(req, 400, "version: a version number");
        return;
    }
    if (v == 0 || (uint64_t)v == sb->version) {
        reply(req, 200, policy_json(sb, view));
        return;
    }
    json_t *h = (uint64_t)v < sb->version ? gw__history_get(g, sb, (uint64_t)v) : NULL;
    if (!h) {
        char err[300];
        snprintf(err, sizeof err,
                 "version %ld of sandbox %s is not kept (it is at version %llu; `policy list` "
                 "shows the kept ones)",
                 v, sb->name, (unsigned long long)sb->version);
        reply_err(req, 404, err);
        return;
    }
    bool base = strcmp(view, "base") == 0;
    json_t *p = json_object_get(h, base ? "base" : "full");
    if (strcmp(view, "effective") == 0)
        p = json_pack("{s:O?,s:O?}", "version", json_object_get(p, "version"), "network_policies",
                      json_object_get(p, "network_policies"));
    else
        json_incref(p);
    json_t *o =
        json_pack("{s:s,s:I,s:O?,s:s,s:o,s:O?,s:O?,s:O?,s:I}", "name", sb->name, "version",
                  (json_int_t)v, "hash", json_object_get(h, "hash"), "view", view, "policy",
                  p ? p : json_null(), "yaml", json_object_get(h, base ? "base_yaml" : "full_yaml"),
                  "summary", json_object_get(h, "summary"), "created_ms",
                  json_object_get(h, "created_ms"), "current", (json_int_t)sb->version);
    json_decref(h);
    reply(req, 200, o);
}

static void policy_routes(gw__t *g, gw_http_req_t *req, gw__sandbox_t *sb, const char *rest)
{
    const char *m = gw_http_method(req);
    bool bad = false;
    if (strcmp(rest, "") == 0) {
        char view[16] = "effective";
        gw_http_param(req, "view", view, sizeof view);
        if (strcmp(m, "GET") == 0 &&
            (!strcmp(view, "effective") || !strcmp(view, "base") || !strcmp(view, "full")))
            get_policy(g, req, sb, view);
        else if (strcmp(m, "GET") == 0)
            reply_err(req, 400, "view: effective, base or full");
        else if (strcmp(m, "PUT") == 0)
            put_policy(g, req, sb);
        else if (strcmp(m, "PATCH") == 0)
            patch_policy(g, req, sb);
        else
            reply_err(req, 405, "method not allowed");
    } else if (strcmp(rest, "/status") == 0 && strcmp(m, "POST") == 0) {
        post_status(g, req, sb);
    } else if (strcmp(rest, "/history") == 0 && strcmp(m, "GET") == 0) {
        long limit = param_long(req, "limit", 20, &bad);
        if (bad || limit < 1 || limit > 10000)
            reply_err(req, 400, "limit: 1 to 10000");
        else
            reply(req, 200,
                  json_pack("{s:s,s:I,s:o}", "name", sb->name, "version", (json_int_t)sb->version,
                            "history", gw__history_list(g, sb, (size_t)limit)));
    } else if ((strcmp(rest, "/status") == 0 || strcmp(rest, "/watch") == 0) &&
               strcmp(m, "GET") == 0) {
        bool watch = rest[1] == 'w';
        long v = param_long(req, watch ? "after" : "version", watch ? 0 : (long)sb->version, &bad);
        long wait = param_long(req, "wait", 0, &bad);
        if (bad)
            reply_err(req, 400, "version/after/wait: non-negative integers");
        else
            wait_or_answer(g, req, sb, watch, (uint64_t)v, wait);
    } else {
        reply_err(req, 404, "no such endpoint");
    }
}

static void delete_now(gw__t *g, void *arg)
{
    gw_http_req_t *req = arg;
    char err[300], name[GW__NAME_MAX + 2];
    const char *p = gw_http_path(req) + strlen("/v1/sandboxes/");
    snprintf(name, sizeof name, "%.*s", (int)strcspn(p, "/"), p);
    if (gw__sandbox_delete(g, name, err, sizeof err) != 0)
        reply_err(req, 500, err);
    else
        reply(req, 200, json_pack("{s:s}", "deleted", name));
}

bool gw__api_sandbox(gw__t *g, gw_http_req_t *req)
{
    const char *path = gw_http_path(req), *m = gw_http_method(req);
    static const char prefix[] = "/v1/sandboxes";
    if (strncmp(path, prefix, sizeof prefix - 1) != 0)
        return false;
    const char *rest = path + sizeof prefix - 1;
    if (*rest == '\0') {
        if (strcmp(m, "GET") == 0)
            list(g, req);
        else if (strcmp(m, "POST") == 0)
            create(g, req);
        else
            reply_err(req, 405, "method not allowed");
        return true;
    }
    if (*rest != '/')
        return false;
    char name[GW__NAME_MAX + 2];
    size_t n = strcspn(rest + 1, "/");
    if (n == 0 || n > GW__NAME_MAX) {
        reply_err(req, 404, "no such sandbox");
        return true;
    }
    memcpy(name, rest + 1, n);
    name[n] = '\0';
    const char *tail = rest + 1 + n;
    gw__sandbox_t *sb = gw__name_valid(name) ? gw__sandbox_find(g, name) : NULL;
    if (!sb) {
        reply_err(req, 404, "no such sandbox");
        return true;
    }
    if (*tail == '\0' && strcmp(m, "GET") == 0) {
        json_t *o = summary(sb), *pins = json_object();
        json_object_set_new(o, "proxies", proxies_json(sb));
        for (size_t i = 0; i < sb->npins; i++) /* trust on first use: path -> SHA-256 */
            json_object_set_new(pins, sb->pins[i].path, json_string(sb->pins[i].sha256));
        json_object_set_new(o, "pinned_binaries", pins);
        reply(req, 200, o);
    } else if (*tail == '\0' && strcmp(m, "DELETE") == 0 && g->proxy &&
               strcmp(g->proxy_sandbox, name) == 0) {
        char msg[400];
        snprintf(msg, sizeof msg,
                 "sandbox %s is served by the proxy this gateway runs (`tollgate up`, port %d): "
                 "it cannot be deleted while that proxy runs; stop `tollgate up` and run "
                 "`tollgate gateway` to delete it",
                 name, px_port(g->proxy));
        reply_err(req, 409, msg);
    } else if (*tail == '\0' && strcmp(m, "DELETE") == 0) {
        /* its network namespace (and what runs there) goes first */
        gw__net_detach(g, name, delete_now, req);
    } else if (gw__net_api(g, req, sb, tail)) {
        ;
    } else if (strncmp(tail, "/policy", 7) == 0) {
        policy_routes(g, req, sb, tail + 7);
    } else if (strcmp(tail, "/decide") == 0 && strcmp(m, "GET") == 0) {
        decide(req, sb);
    } else {
        reply_err(req, 404, "no such endpoint");
    }
    return true;
}
