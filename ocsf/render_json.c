/*
 * render_json.c: the human line of any OCSF event, from its JSON bytes, in
 * OpenShell's shorthand grammar (crates/openshell-ocsf/src/format/shorthand.rs).
 *
 *   NET:<ACT> [SEV] <ACTION> <proc>(<pid>) -> <host>:<port>[/<proto>]
 *       [policy:<rule> engine:<type>] [reason:..] [msg:..]
 *   HTTP:<METHOD> [SEV] <ACTION> <proc>(<pid>) -> <METHOD> <url>
 *       [policy:.. engine:..] [<unmapped k:v>.. reason:..] [msg:..]
 *   SSH:<ACT> [SEV] <ACTION> <peer> [auth:<type>]
 *   PROC:<ACT> [SEV] <name>(<pid>) [exit:<code>] [cmd:<cmd_line>]
 *   FINDING:<DISPOSITION|ACT> [SEV] "<title>" [type:<uid> <unmapped k:v>.. confidence:<c>]
 *   LIFECYCLE:<ACT> [SEV] <app> <status>
 *   CONFIG:<STATE> [SEV] <message> [auto:.. source:.. .. version:<v> hash:<h>]
 *   API:INFERENCE [SEV] <Status> <model> via <provider> <n>ms [<operation>]
 *   EVENT [SEV] <message> [<first 3 unmapped k:v>]              (class 0)
 *   <CLASS>:<ACT> [SEV] <ACTION> <proc>(<pid>) -> <dst> [..] [msg:..] (others)
 *
 * A part whose attributes are absent is left out with its separator (no
 * `-(-)`). tollgate's own attributes extend the grammar where OpenShell has
 * nothing (OpenShell's events never carry them, so its lines do not change):
 * <proc> is process.file.path when present, `[bytes_in:..]` from traffic,
 * the CONFIG version/hash from `policy`, `[reason:]` on a failed NET event
 * and on CONFIG/FINDING events with status_detail, Listen's own address.
 *
 * Escaping is tollgate's, not OpenShell's: every byte of the event goes
 * through ocsf_text_escape(), so `[`, `]`, `\` and control bytes show as \xHH
 * (bidi controls as \uHHHH) and values that sit between keys escape the
 * space too. Invalid UTF-8 (which jansson refuses) is read as U+FFFD.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ocsf/ocsf_internal.h"

#define REASON_MAX  256 /* OpenShell's MAX_REASON_LEN */
#define MESSAGE_MAX 120 /* OpenShell's MAX_MESSAGE_LEN */
#define SP          OCSF_ESC_SPACE

typedef struct {
    json_t *ev;
    ocsf_buf_t *b;
} rj_t;

/* One bracketed context list: " [" before the first item, ' ' between. */
typedef struct {
    ocsf_buf_t *b;
    size_t n;
} ctx_t;

static void item(ctx_t *c)
{
    ocsf_buf_puts(c->b, c->n++ ? " " : " [");
}

static void close_ctx(ctx_t *c)
{
    if (c->n)
        ocsf_buf_putc(c->b, ']');
}

/* ---- reading the tree ------------------------------------------------- */

/* The member at a dotted path ("actor.process.name"); NULL when absent. */
static json_t *get(json_t *o, const char *path)
{
    char key[64];
    while (json_is_object(o)) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        if (n >= sizeof key)
            return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        o = json_object_get(o, key);
        if (!dot)
            return o;
        path = dot + 1;
    }
    return NULL;
}

static ocsf_str_t str_at(json_t *o, const char *path)
{
    json_t *v = get(o, path);
    if (!json_is_string(v))
        return OCSF_NOSTR;
    return (ocsf_str_t){json_string_value(v), json_string_length(v)};
}

static bool int_at(json_t *o, const char *path, int64_t *out)
{
    json_t *v = get(o, path);
    if (!json_is_integer(v))
        return false;
    *out = json_integer_value(v);
    return true;
}

/* ---- writing ---------------------------------------------------------- */

static void esc(ocsf_buf_t *b, ocsf_str_t s, unsigned flags)
{
    if (s.p)
        ocsf_text_escape(b, s.p, s.n, 0, flags);
}

/* OpenShell's truncate_with_ellipsis: more than `max` bytes are cut back to
 * a character boundary at or before `max`, then "..." follows. */
static void esc_cut(ocsf_buf_t *b, ocsf_str_t s, size_t max, unsigned flags)
{
    if (!s.p || s.n <= max) {
        esc(b, s, flags);
        return;
    }
    ocsf_text_escape(b, s.p, ocsf__utf8_cut(s.p, max), 0, flags);
    ocsf_buf_put(b, "...", 3);
}

/* ASCII case of what was written since `start`, escapes left as they are
 * (only the escaper writes a backslash). */
static void recase(ocsf_buf_t *b, size_t start, bool up)
{
    for (size_t i = start; i < b->len; i++) {
        char c = b->p[i];
        if (c == '\\')
            i += i + 1 < b->len && b->p[i + 1] == 'u' ? 5 : 3;
        else if (up && c >= 'a' && c <= 'z')
            b->p[i] = (char)(c - 32);
        else if (!up && c >= 'A' && c <= 'Z')
            b->p[i] = (char)(c + 32);
    }
}

static void put_upper(ocsf_buf_t *b, ocsf_str_t s, unsigned flags)
{
    size_t start = b->len;
    esc(b, s, flags);
    recase(b, start, true);
}

/* The caption of enum `name` when `name`_id is present: the event's own
 * caption, else the schema's (Network Activity's tables: action,
 * disposition and status ids mean the same in every class), else the id.
 * Returns false, writing nothing, when the id is absent. */
static bool put_enum(rj_t *r, json_t *o, const char *name, int cls, int recase_to)
{
    char id_key[48];
    snprintf(id_key, sizeof id_key, "%s_id", name);
    json_t *id = json_object_get(o, id_key);
    if (!id)
        return false;
    size_t start = r->b->len;
    ocsf_str_t cap = str_at(o, name);
    const char *tab =
        json_is_integer(id) ? ocsf_caption(cls, id_key, json_integer_value(id)) : NULL;
    if (cap.p)
        esc(r->b, cap, 0);
    else if (tab)
        ocsf_buf_puts(r->b, tab);
    else if (json_is_integer(id))
        ocsf_buf_put_i64(r->b, json_integer_value(id));
    if (recase_to)
        recase(r->b, start, recase_to > 0);
    return true;
}

static void put_sev(rj_t *r)
{
    static const char *const tag[] = {"[INFO]", "[INFO]", "[LOW]",  "[MED]",
                                      "[HIGH]", "[CRIT]", "[FATAL]"};
    int64_t s = 0;
    int_at(r->ev, "severity_id", &s);
    ocsf_buf_puts(r->b, s >= 0 && s <= 6 ? tag[s] : "[INFO]");
}

/* `<CLASS>:<ACTIVITY> [SEV]`: the activity name in upper case. */
static void head(rj_t *r, const char *cls)
{
    ocsf_buf_puts(r->b, cls);
    ocsf_buf_putc(r->b, ':');
    put_upper(r->b, str_at(r->ev, "activity_name"), 0);
    ocsf_buf_putc(r->b, ' ');
    put_sev(r);
}

/* `<name>(<pid>)`: the executable's path when known, else process.name. */
static bool put_proc(rj_t *r, json_t *p)
{
    if (!json_is_object(p))
        return false;
    ocsf_str_t name = str_at(p, "file.path");
    esc(r->b, name.p ? name : str_at(p, "name"), SP);
    ocsf_buf_putc(r->b, '(');
    int64_t pid;
    if (int_at(p, "pid", &pid))
        ocsf_buf_put_i64(r->b, pid);
    else
        ocsf_buf_putc(r->b, '-');
    ocsf_buf_putc(r->b, ')');
    return true;
}

/* `<host>[:<port>]`: domain, else ip, else hostname, else "unknown". */
static void put_endpoint(rj_t *r, json_t *ep)
{
    static const char *const keys[] = {"domain", "ip", "hostname"};
    ocsf_str_t h = OCSF_NOSTR;
    for (size_t i = 0; i < 3 && !h.p; i++)
        h = str_at(ep, keys[i]);
    if (h.p)
        esc(r->b, h, SP);
    else
        ocsf_buf_puts(r->b, "unknown");
    int64_t port;
    if (int_at(ep, "port", &port)) {
        ocsf_buf_putc(r->b, ':');
        ocsf_buf_put_i64(r->b, port);
    }
}

static void put_rule(rj_t *r)
{
    json_t *fw = json_object_get(r->ev, "firewall_rule");
    if (!json_is_object(fw))
        return;
    ocsf_str_t name = str_at(fw, "name"), type = str_at(fw, "type");
    ocsf_buf_puts(r->b, " [policy:");
    esc(r->b, name.p ? name : OCSF_STR("-"), SP);
    ocsf_buf_puts(r->b, " engine:");
    esc(r->b, type.p ? type : OCSF_STR("-"), SP);
    ocsf_buf_putc(r->b, ']');
}

/* OpenShell's reason: status_detail, else message; none when empty. */
static ocsf_str_t reason_of(json_t *ev)
{
    json_t *sd = json_object_get(ev, "status_detail");
    ocsf_str_t s = json_is_string(sd) ? str_at(ev, "status_detail") : str_at(ev, "message");
    return s.n ? s : OCSF_NOSTR;
}

static void put_reason_item(ctx_t *c, ocsf_str_t why)
{
    item(c);
    ocsf_buf_puts(c->b, "reason:");
    esc_cut(c->b, why, REASON_MAX, 0);
}

static void put_reason(rj_t *r, ocsf_str_t why)
{
    ctx_t c = {r->b, 0};
    if (why.p)
        put_reason_item(&c, why);
    close_ctx(&c);
}

static void put_msg(rj_t *r)
{
    ocsf_str_t m = str_at(r->ev, "message");
    if (!m.n)
        return;
    ocsf_buf_puts(r->b, " [msg:");
    esc_cut(r->b, m, MESSAGE_MAX, 0);
    ocsf_buf_putc(r->b, ']');
}

static bool action_is(json_t *ev, int64_t id)
{
    int64_t a;
    return int_at(ev, "action_id", &a) && a == id;
}

/* ---- unmapped ----------------------------------------------------------- */

typedef struct {
    const char *key;
    size_t len;
    json_t *v;
} member_t;

static int member_cmp(const void *a, const void *b)
{
    const member_t *x = a, *y = b;
    int c = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* The members of `unmapped` in byte order of their keys (OpenShell holds
 * them in a BTreeMap). Caller frees; NULL with *n = 0 when none. */
static member_t *members(json_t *ev, size_t *n)
{
    json_t *u = json_object_get(ev, "unmapped"), *v;
    *n = json_is_object(u) ? json_object_size(u) : 0;
    if (*n == 0)
        return NULL;
    member_t *m = malloc(*n * sizeof *m);
    if (!m)
        abort(); /* OOM policy: see ocsf.h */
    size_t i = 0, len;
    const char *key;
    json_object_keylen_foreach(u, key, len, v) m[i++] = (member_t){key, len, v};
    qsort(m, *n, sizeof *m, member_cmp);
    return m;
}

/* A JSON number as serde_json prints it: integers as they are, reals in
 * the shortest form that reads back, with ".0" when integral. */
static void put_number(ocsf_buf_t *b, json_t *v)
{
    if (json_is_integer(v)) {
        ocsf_buf_put_i64(b, json_integer_value(v));
        return;
    }
    char t[40];
    double d = json_real_value(v);
    snprintf(t, sizeof t, "%.15g", d);
    if (strtod(t, NULL) != d)
        snprintf(t, sizeof t, "%.17g", d);
    ocsf_buf_puts(b, t);
    if (!strpbrk(t, ".eni"))
        ocsf_buf_puts(b, ".0");
}

/* tollgate's own bookkeeping under unmapped: a producer's sequence and
 * logged time moved aside at ingest ("metadata.sequence", ...), what a
 * cast filled ("tollgate.downgrade.filled"). Not context a reader wants. */
static bool bookkeeping(const member_t *m)
{
    return (m->len > 9 && memcmp(m->key, "metadata.", 9) == 0) ||
           (m->len > 9 && memcmp(m->key, "tollgate.", 9) == 0);
}

/* `key:value` for each boolean, number and string member (strings cut at
 * 256 bytes), as context items: OpenShell's unmapped_fields. */
static void put_unmapped(rj_t *r, ctx_t *c)
{
    size_t n;
    member_t *m = members(r->ev, &n);
    for (size_t i = 0; i < n; i++) {
        json_t *v = m[i].v;
        if (!json_is_boolean(v) && !json_is_number(v) && !json_is_string(v))
            continue;
        if (bookkeeping(&m[i]))
            continue;
        item(c);
        ocsf_text_escape(r->b, m[i].key, m[i].len, 0, SP);
        ocsf_buf_putc(r->b, ':');
        if (json_is_boolean(v))
            ocsf_buf_puts(r->b, json_is_true(v) ? "true" : "false");
        else if (json_is_number(v))
            put_number(r->b, v);
        else
            esc_cut(r->b, (ocsf_str_t){json_string_value(v), json_string_length(v)}, REASON_MAX,
                    SP);
    }
    free(m);
}

/* ---- the classes -------------------------------------------------------- */

/* The action: `FAILED` for an allowed one whose status is Failure (tollgate:
 * an allowed connection the upstream refused, or whose name did not
 * resolve, must not read as a success; OpenShell emits no such event, its
 * NET:FAIL has no action), else its caption upper-cased. */
static bool put_action(rj_t *r)
{
    int64_t st;
    if (action_is(r->ev, OCSF_ACTION_ALLOWED) && int_at(r->ev, "status_id", &st) &&
        st == OCSF_STATUS_FAILURE) {
        ocsf_buf_puts(r->b, "FAILED");
        return true;
    }
    return put_enum(r, r->ev, "action", OCSF_CLASS_NETWORK, 1);
}

/* `<ACTION> <proc>(<pid>) -> <dst>`, each part only when present; `alt`
 * names the enum shown when there is no action. Returns whether anything
 * was written. */
static bool put_detail(rj_t *r, json_t *dst, bool proto, const char *alt)
{
    size_t start = r->b->len;
    ocsf_buf_putc(r->b, ' ');
    if (put_action(r) || (alt && put_enum(r, r->ev, alt, OCSF_CLASS_NETWORK, 1)))
        ocsf_buf_putc(r->b, ' ');
    json_t *actor = get(r->ev, "actor.process");
    if (put_proc(r, actor) && json_is_object(dst))
        ocsf_buf_puts(r->b, " -> ");
    if (json_is_object(dst)) {
        put_endpoint(r, dst);
        ocsf_str_t p = str_at(r->ev, "connection_info.protocol_name");
        if (proto && p.p) {
            ocsf_buf_putc(r->b, '/');
            esc(r->b, p, SP);
        }
    }
    if (r->b->len == start + 1) {
        r->b->len = start;
        return false;
    }
    if (r->b->p[r->b->len - 1] == ' ') /* an action alone */
        r->b->len--;
    return true;
}

static void put_traffic(rj_t *r)
{
    int64_t in = 0, out = 0, dur;
    bool has_in = int_at(r->ev, "traffic.bytes_in", &in);
    if (!int_at(r->ev, "traffic.bytes_out", &out) && !has_in)
        return;
    ocsf_buf_puts(r->b, " [bytes_in:");
    ocsf_buf_put_i64(r->b, in);
    ocsf_buf_puts(r->b, " bytes_out:");
    ocsf_buf_put_i64(r->b, out);
    if (int_at(r->ev, "duration", &dur)) {
        ocsf_buf_puts(r->b, " duration_ms:");
        ocsf_buf_put_i64(r->b, dur);
    }
    ocsf_buf_putc(r->b, ']');
}

static void render_net(rj_t *r)
{
    head(r, "NET");
    json_t *dst = json_object_get(r->ev, "dst_endpoint");
    int64_t act = 0, status = 0;
    int_at(r->ev, "activity_id", &act);
    if (!json_is_object(dst) && act == OCSF_NET_LISTEN) /* tollgate: the listener's address */
        dst = json_object_get(r->ev, "src_endpoint");
    bool detail = put_detail(r, dst, true, NULL);
    bool rule = json_is_object(json_object_get(r->ev, "firewall_rule"));
    put_rule(r);
    ocsf_str_t why = action_is(r->ev, OCSF_ACTION_DENIED) ? reason_of(r->ev) : OCSF_NOSTR;
    ocsf_str_t failed = OCSF_NOSTR; /* tollgate: why an allowed connection failed */
    if (!why.p && int_at(r->ev, "status_id", &status) && status == OCSF_STATUS_FAILURE)
        failed = str_at(r->ev, "status_detail");
    put_reason(r, why.p ? why : failed.n ? failed : OCSF_NOSTR);
    put_traffic(r);
    ocsf_str_t sd = str_at(r->ev, "status_detail");
    if (ocsf_str_eq(sd, OCSF_STR("transparent_tcp_allowed")) || (!detail && !rule && !why.p))
        put_msg(r);
}

/* OpenShell's Url::to_display_string, plus `?query` and url_string. */
static void put_url(rj_t *r, json_t *u)
{
    ocsf_str_t scheme = str_at(u, "scheme"), host = str_at(u, "hostname");
    ocsf_str_t path = str_at(u, "path"), query = str_at(u, "query_string"),
               whole = str_at(u, "url_string");
    if (!host.p && whole.p) {
        esc(r->b, whole, SP);
        return;
    }
    if (!scheme.p)
        scheme = OCSF_STR("https");
    esc(r->b, scheme, SP);
    ocsf_buf_puts(r->b, "://");
    esc(r->b, host.p ? host : OCSF_STR("unknown"), SP);
    int64_t port;
    if (int_at(u, "port", &port) && !(port == 443 && ocsf_str_eq(scheme, OCSF_STR("https"))) &&
        !(port == 80 && ocsf_str_eq(scheme, OCSF_STR("http")))) {
        ocsf_buf_putc(r->b, ':');
        ocsf_buf_put_i64(r->b, port);
    }
    esc(r->b, path.p ? path : OCSF_STR("/"), SP);
    if (query.p) {
        ocsf_buf_putc(r->b, '?');
        esc(r->b, query, SP);
    }
}

static void render_http(rj_t *r)
{
    json_t *req = json_object_get(r->ev, "http_request");
    ocsf_str_t method = str_at(req, "http_method");
    if (!method.p)
        method = OCSF_STR("UNKNOWN");
    ocsf_buf_puts(r->b, "HTTP:");
    esc(r->b, method, SP);
    ocsf_buf_putc(r->b, ' ');
    put_sev(r);
    ocsf_buf_putc(r->b, ' ');
    if (put_enum(r, r->ev, "action", OCSF_CLASS_NETWORK, 1))
        ocsf_buf_putc(r->b, ' ');
    if (put_proc(r, get(r->ev, "actor.process")))
        ocsf_buf_puts(r->b, " -> ");
    esc(r->b, method, SP);
    ocsf_buf_putc(r->b, ' ');
    if (json_is_object(json_object_get(req, "url")))
        put_url(r, json_object_get(req, "url"));
    put_rule(r);
    bool denied = action_is(r->ev, OCSF_ACTION_DENIED);
    ctx_t c = {r->b, 0};
    put_unmapped(r, &c);
    ocsf_str_t why = denied ? reason_of(r->ev) : OCSF_NOSTR;
    if (why.p)
        put_reason_item(&c, why);
    close_ctx(&c);
    if (!denied && ocsf_str_eq(str_at(r->ev, "firewall_rule.type"), OCSF_STR("l7-mcp")))
        put_msg(r);
}

static void render_ssh(rj_t *r)
{
    head(r, "SSH");
    size_t start = r->b->len;
    ocsf_buf_putc(r->b, ' ');
    bool action = put_enum(r, r->ev, "action", OCSF_CLASS_NETWORK, 1);
    json_t *src = json_object_get(r->ev, "src_endpoint");
    if (json_is_object(src)) {
        if (action)
            ocsf_buf_putc(r->b, ' ');
        put_endpoint(r, src);
    } else if (!action) {
        r->b->len = start;
    }
    if (json_object_get(r->ev, "auth_type_id")) {
        ocsf_buf_puts(r->b, " [auth:");
        put_enum(r, r->ev, "auth_type", -1, 0);
        ocsf_buf_putc(r->b, ']');
    }
}

static void render_proc(rj_t *r)
{
    head(r, "PROC");
    ocsf_buf_putc(r->b, ' ');
    json_t *p = json_object_get(r->ev, "process");
    if (!put_proc(r, p))
        ocsf_buf_puts(r->b, "-");
    int64_t code;
    if (int_at(r->ev, "exit_code", &code)) {
        ocsf_buf_puts(r->b, " [exit:");
        ocsf_buf_put_i64(r->b, code);
        ocsf_buf_putc(r->b, ']');
    }
    ocsf_str_t cmd = str_at(p, "cmd_line");
    if (cmd.p) {
        ocsf_buf_puts(r->b, " [cmd:");
        esc(r->b, cmd, 0);
        ocsf_buf_putc(r->b, ']');
    }
}

static void render_finding(rj_t *r)
{
    ocsf_buf_puts(r->b, "FINDING:");
    if (!put_enum(r, r->ev, "disposition", OCSF_CLASS_FINDING, 1))
        put_upper(r->b, str_at(r->ev, "activity_name"), 0);
    ocsf_buf_putc(r->b, ' ');
    put_sev(r);
    ocsf_buf_puts(r->b, " \"");
    esc_cut(r->b, str_at(r->ev, "finding_info.title"), MESSAGE_MAX, OCSF_ESC_QUOTE);
    ocsf_buf_putc(r->b, '"');
    ctx_t c = {r->b, 0};
    item(&c);
    ocsf_buf_puts(r->b, "type:");
    esc(r->b, str_at(r->ev, "finding_info.uid"), SP);
    put_unmapped(r, &c);
    if (json_object_get(r->ev, "confidence_id")) {
        item(&c);
        ocsf_buf_puts(r->b, "confidence:");
        put_enum(r, r->ev, "confidence", OCSF_CLASS_FINDING, -1);
    }
    close_ctx(&c);
    ocsf_str_t sd = str_at(r->ev, "status_detail"); /* tollgate */
    put_reason(r, sd.n ? sd : OCSF_NOSTR);
}

static void render_lifecycle(rj_t *r)
{
    head(r, "LIFECYCLE");
    ocsf_buf_putc(r->b, ' ');
    esc(r->b, str_at(r->ev, "app.name"), 0);
    ocsf_buf_putc(r->b, ' ');
    put_enum(r, r->ev, "status", OCSF_CLASS_LIFECYCLE, -1);
}

/* `key:<unmapped string>` when present. */
static void config_item(rj_t *r, ctx_t *c, const char *label, const char *key, const char *alt)
{
    ocsf_str_t v = str_at(json_object_get(r->ev, "unmapped"), key);
    if (!v.p && alt) /* tollgate keeps them in `policy` */
        v = str_at(r->ev, alt);
    if (!v.p)
        return;
    item(c);
    ocsf_buf_puts(r->b, label);
    ocsf_buf_putc(r->b, ':');
    esc(r->b, v, SP);
}

static void render_config(rj_t *r)
{
    ocsf_buf_puts(r->b, "CONFIG:");
    if (!put_enum(r, r->ev, "state", OCSF_CLASS_CONFIG, 1))
        ocsf_buf_puts(r->b, "UNKNOWN");
    ocsf_buf_putc(r->b, ' ');
    put_sev(r);
    ocsf_buf_putc(r->b, ' ');
    json_t *m = json_object_get(r->ev, "message");
    esc(r->b, json_is_string(m) ? str_at(r->ev, "message") : OCSF_STR("config"), 0);
    ctx_t c = {r->b, 0};
    static const char *const keys[] = {"auto", "source", "prover_delta", "resolved_from"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        config_item(r, &c, keys[i], keys[i], NULL);
    config_item(r, &c, "version", "policy_version", "policy.version");
    config_item(r, &c, "hash", "policy_hash", "policy.uid");
    close_ctx(&c);
    ocsf_str_t sd = str_at(r->ev, "status_detail"); /* tollgate */
    put_reason(r, sd.n ? sd : OCSF_NOSTR);
}

static void render_api(rj_t *r)
{
    ocsf_buf_puts(r->b, "API:INFERENCE ");
    put_sev(r);
    if (json_object_get(r->ev, "status_id")) {
        ocsf_buf_putc(r->b, ' ');
        put_enum(r, r->ev, "status", OCSF_CLASS_NETWORK, 0);
    }
    json_t *m = json_object_get(r->ev, "ai_model");
    if (json_is_object(m)) {
        ocsf_buf_putc(r->b, ' ');
        esc_cut(r->b, str_at(m, "name"), REASON_MAX, SP);
        ocsf_buf_puts(r->b, " via ");
        esc_cut(r->b, str_at(m, "ai_provider"), REASON_MAX, SP);
    }
    int64_t ms;
    if (int_at(r->ev, "unmapped.latency_ms", &ms) && ms >= 0) {
        ocsf_buf_putc(r->b, ' ');
        ocsf_buf_put_i64(r->b, ms);
        ocsf_buf_puts(r->b, "ms");
    }
    ocsf_buf_puts(r->b, " [");
    esc_cut(r->b, str_at(r->ev, "api.operation"), REASON_MAX, SP);
    ocsf_buf_putc(r->b, ']');
}

/* Class 0: the message, then the first three unmapped members, any type. */
static void render_base(rj_t *r)
{
    ocsf_buf_puts(r->b, "EVENT ");
    put_sev(r);
    ocsf_buf_putc(r->b, ' ');
    esc(r->b, str_at(r->ev, "message"), 0);
    size_t n;
    member_t *m = members(r->ev, &n);
    ctx_t c = {r->b, 0};
    for (size_t i = 0, shown = 0; i < n && shown < 3; i++) {
        if (bookkeeping(&m[i]))
            continue;
        shown++;
        item(&c);
        ocsf_text_escape(r->b, m[i].key, m[i].len, 0, SP);
        ocsf_buf_putc(r->b, ':');
        if (json_is_string(m[i].v)) {
            ocsf_text_escape(r->b, json_string_value(m[i].v), json_string_length(m[i].v), 0, SP);
            continue;
        }
        char *t = json_dumps(m[i].v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);
        if (t)
            ocsf_text_escape(r->b, t, strlen(t), 0, SP);
        free(t);
    }
    close_ctx(&c);
    free(m);
}

/* Any other class: `<CLASS>`, the caption without " Activity", upper case,
 * spaces as '_' ("File System Activity" -> FILE_SYSTEM). */
static void render_other(rj_t *r, int64_t cls)
{
    ocsf_str_t name = str_at(r->ev, "class_name");
    if (!name.p)
        name = ocsf_str(ocsf_class_name((int)cls));
    static const char suffix[] = " Activity";
    if (name.n > sizeof suffix - 1 &&
        memcmp(name.p + name.n - (sizeof suffix - 1), suffix, sizeof suffix - 1) == 0)
        name.n -= sizeof suffix - 1;
    size_t start = r->b->len;
    if (name.p) {
        esc(r->b, name, 0);
    } else if (cls >= 0) {
        ocsf_buf_puts(r->b, "CLASS_");
        ocsf_buf_put_i64(r->b, cls);
    } else {
        ocsf_buf_puts(r->b, "EVENT");
    }
    recase(r->b, start, true);
    for (size_t i = start; i < r->b->len; i++)
        r->b->p[i] = r->b->p[i] == ' ' ? '_' : r->b->p[i];
    ocsf_buf_putc(r->b, ':');
    put_upper(r->b, str_at(r->ev, "activity_name"), 0);
    ocsf_buf_putc(r->b, ' ');
    put_sev(r);
    put_detail(r, json_object_get(r->ev, "dst_endpoint"), false, "disposition");
    put_rule(r);
    ctx_t c = {r->b, 0};
    put_unmapped(r, &c);
    int64_t st;
    bool failed = int_at(r->ev, "status_id", &st) && st == OCSF_STATUS_FAILURE;
    ocsf_str_t why = action_is(r->ev, OCSF_ACTION_DENIED) || failed ? str_at(r->ev, "status_detail")
                                                                    : OCSF_NOSTR;
    if (why.n)
        put_reason_item(&c, why);
    close_ctx(&c);
    put_msg(r);
}

static void render_shorthand(rj_t *r)
{
    int64_t cls = -1;
    int_at(r->ev, "class_uid", &cls);
    switch (cls) {
    case OCSF_CLASS_NETWORK: render_net(r); break;
    case OCSF_CLASS_HTTP: render_http(r); break;
    case 4007: render_ssh(r); break; /* SSH Activity */
    case OCSF_CLASS_PROCESS: render_proc(r); break;
    case OCSF_CLASS_FINDING: render_finding(r); break;
    case OCSF_CLASS_LIFECYCLE: render_lifecycle(r); break;
    case OCSF_CLASS_CONFIG: render_config(r); break;
    case 6003: render_api(r); break; /* API Activity */
    case 0: render_base(r); break;
    default: render_other(r, cls);
    }
}

/* ---- prefixes and entry ------------------------------------------------- */

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

static void prefix_cli(rj_t *r, int64_t t)
{
    ocsf_buf_putc(r->b, '[');
    ocsf_buf_put_i64(r->b, t / 1000);
    ocsf_buf_putc(r->b, '.');
    put_pad(r->b, t % 1000, 3);
    ocsf_buf_puts(r->b, "] [");
    size_t start = r->b->len;
    ocsf_str_t src = str_at(r->ev, "metadata.log_name");
    if (src.p)
        ocsf_text_escape(r->b, src.p, src.n, 32, SP);
    else
        ocsf_buf_putc(r->b, '-');
    for (size_t w = r->b->len - start; w < 7; w++)
        ocsf_buf_putc(r->b, ' ');
    ocsf_buf_puts(r->b, "] [OCSF ] [ocsf] ");
}

static void prefix_file(rj_t *r, int64_t t)
{
    time_t secs = (time_t)(t / 1000);
    struct tm tm;
    if (!gmtime_r(&secs, &tm))
        memset(&tm, 0, sizeof tm);
    put_pad(r->b, (int64_t)tm.tm_year + 1900, 4);
    ocsf_buf_putc(r->b, '-');
    put_pad(r->b, tm.tm_mon + 1, 2);
    ocsf_buf_putc(r->b, '-');
    put_pad(r->b, tm.tm_mday, 2);
    ocsf_buf_putc(r->b, 'T');
    put_pad(r->b, tm.tm_hour, 2);
    ocsf_buf_putc(r->b, ':');
    put_pad(r->b, tm.tm_min, 2);
    ocsf_buf_putc(r->b, ':');
    put_pad(r->b, tm.tm_sec, 2);
    ocsf_buf_putc(r->b, '.');
    put_pad(r->b, t % 1000, 3);
    ocsf_buf_puts(r->b, "Z OCSF ");
}

/* jansson refuses invalid UTF-8: read such bytes as U+FFFD, as the encoder
 * writes them. */
static json_t *load(const char *json, size_t n, json_error_t *je)
{
    json_t *v = json_loadb(json, n, JSON_ALLOW_NUL, je);
    if (v || json_error_code(je) != json_error_invalid_utf8)
        return v;
    ocsf_buf_t fixed;
    ocsf_buf_init(&fixed);
    const unsigned char *u = (const unsigned char *)json;
    for (size_t i = 0, len; i < n; i += len) {
        uint32_t cp;
        len = ocsf__utf8_decode(u + i, n - i, &cp);
        if (len == 0) {
            ocsf_buf_put(&fixed, "\xef\xbf\xbd", 3);
            len = 1;
        } else {
            ocsf_buf_put(&fixed, json + i, len);
        }
    }
    v = json_loadb(fixed.p ? fixed.p : "", fixed.len, JSON_ALLOW_NUL, je);
    ocsf_buf_dispose(&fixed);
    return v;
}

int ocsf_render_json(const char *json, size_t n, ocsf_line_fmt_t fmt, ocsf_buf_t *out, char *err,
                     size_t errlen)
{
    json_error_t je;
    json_t *ev = load(json ? json : "", json ? n : 0, &je);
    if (!json_is_object(ev)) {
        if (err && errlen) {
            snprintf(err, errlen, "not a JSON object: %s", ev ? "another JSON value" : je.text);
            for (char *p = err; *p; p++) /* jansson quotes input bytes */
                if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f || *p == '\\')
                    *p = '?';
        }
        json_decref(ev);
        return -EINVAL;
    }
    rj_t r = {ev, out};
    int64_t t = 0;
    int_at(ev, "time", &t);
    t = t < 0 ? 0 : t;
    if (fmt == OCSF_LINE_CLI)
        prefix_cli(&r, t);
    else if (fmt == OCSF_LINE_FILE)
        prefix_file(&r, t);
    render_shorthand(&r);
    json_decref(ev);
    return 0;
}
