/*
 * netns_guard.c: the sandbox's firewall rules stay as the gateway installed
 * them. Checked at every attach of a built namespace (sandbox_net.c runs
 * gw__netns_guard() on the threadpool before it answers):
 *
 *   inside   `nft -s list table inet tollgate` equals s->rules, the listing
 *            captured right after sandbox_rules() installed it (the script's
 *            text is never compared: the listing is what nft made of it)
 *   host     `nft -t -s list table inet tollgate_<netid>` (sets without
 *            their elements) equals s->host_rules, and the set `proxies`
 *            holds this sandbox's element (`nft get element`)
 *
 * What is missing or different is restored: the namespace's table is deleted
 * (when there) and installed again; the host table is made again with the
 * elements of every built sandbox, or only this sandbox's element is added
 * back. The new listings replace the captured ones. gw__guard_finding() then
 * records FINDING:CREATE "sandbox firewall rules changed" (Detection Finding
 * 2004, High) on the loop.
 *
 * Threads: gw__netns_guard_capture() and gw__netns_guard() block (ip, nft)
 * and take the host-wide lock: the threadpool only. gw__guard_finding():
 * the loop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw_internal.h"

#define LISTING_MAX (256u << 10) /* bytes of one listing, at most */
#define FINDING_UID "sandbox_rules_changed"

/* The output of argv when it succeeds (heap), or NULL with *rc: its exit
 * status, -errno, or -E2BIG when longer than LISTING_MAX. */
static char *listing(const char *const argv[], int *rc)
{
    char *buf = malloc(LISTING_MAX);
    if (!buf)
        abort();
    *rc = gw__netns_run(argv, NULL, buf, LISTING_MAX);
    if (*rc == 0 && strlen(buf) + 1 >= LISTING_MAX)
        *rc = -E2BIG;
    char *s = *rc == 0 ? strdup(buf) : NULL;
    free(buf);
    if (*rc == 0 && !s)
        abort();
    return s;
}

static char *ns_listing(const gw__netspec_t *s, int *rc)
{
    return listing((const char *const[]){"ip", "netns", "exec", s->ns, "nft", "-s", "list", "table",
                                         "inet", "tollgate", NULL},
                   rc);
}

static char *host_listing(const char *netid, int *rc)
{
    char table[64];
    snprintf(table, sizeof table, "tollgate_%s", netid);
    return listing((const char *const[]){"nft", "-t", "-s", "list", "table", "inet", table, NULL},
                   rc);
}

static bool has_element(const char *netid, const gw__netspec_t *s)
{
    char table[64], elem[128], out[512];
    snprintf(table, sizeof table, "tollgate_%s", netid);
    snprintf(elem, sizeof elem, "{ \"%s\" . %s . %d }", s->host_if, s->host_ip, GW__PROXY_PORT);
    return gw__netns_run(
               (const char *const[]){"nft", "get", "element", "inet", table, "proxies", elem, NULL},
               NULL, out, sizeof out) == 0;
}

static const char *why(int rc)
{
    return rc < 0 ? strerror(-rc) : "nft failed";
}

int gw__netns_guard_capture(const char *netid, gw__netspec_t *s, char *err, size_t errlen)
{
    int rc;
    s->rules = ns_listing(s, &rc);
    if (s->rules && (s->host_rules = host_listing(netid, &rc)) != NULL)
        return 0;
    snprintf(err, errlen, "listing the rules just installed for %s: %s", s->ns, why(rc));
    free(s->rules);
    s->rules = NULL;
    return -EIO;
}

/* The namespace's table: compared, restored when missing or different. */
static int guard_ns(const gw__netspec_t *s, gw__guard_t *out, char *err, size_t errlen)
{
    int rc;
    char *now = ns_listing(s, &rc);
    bool same = now && s->rules && strcmp(now, s->rules) == 0;
    if (!same)
        out->found |= now ? GW__GUARD_RULES_CHANGED : GW__GUARD_TABLE_MISSING;
    free(now);
    if (same)
        return 0;
    char sink[512];
    gw__netns_run((const char *const[]){"ip", "netns", "exec", s->ns, "nft", "delete", "table",
                                        "inet", "tollgate", NULL},
                  NULL, sink, sizeof sink);
    if ((rc = gw__netns_rules_apply(s, err, errlen)) != 0)
        return rc;
    if ((out->rules = ns_listing(s, &rc)) == NULL) {
        snprintf(err, errlen, "listing the restored rules of %s: %s", s->ns, why(rc));
        return -EIO;
    }
    return 0;
}

/* The host table and this sandbox's element in it. */
static int guard_host(const char *netid, const gw__netspec_t *s, const gw__netspec_t *others,
                      size_t nothers, gw__guard_t *out, char *err, size_t errlen)
{
    int rc;
    char *now = host_listing(netid, &rc);
    bool same = now && s->host_rules && strcmp(now, s->host_rules) == 0;
    if (!same)
        out->found |= now ? GW__GUARD_HOST_CHANGED : GW__GUARD_HOST_MISSING;
    free(now);
    if (same) {
        if (has_element(netid, s))
            return 0;
        out->found |= GW__GUARD_ELEM_MISSING;
        return gw__netns_host_element_add(netid, s, err, errlen);
    }
    if ((rc = gw__netns_host_table(netid, err, errlen)) != 0 ||
        (rc = gw__netns_host_element_add(netid, s, err, errlen)) != 0)
        return rc;
    for (size_t i = 0; i < nothers; i++) /* theirs went with the table; each checks its own */
        gw__netns_host_element_add(netid, &others[i], NULL, 0);
    if ((out->host_rules = host_listing(netid, &rc)) == NULL) {
        snprintf(err, errlen, "listing the restored host table tollgate_%s: %s", netid, why(rc));
        return -EIO;
    }
    return 0;
}

int gw__netns_guard(const char *netid, const gw__netspec_t *s, const gw__netspec_t *others,
                    size_t nothers, gw__guard_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    int lk = gw__netns_lock(); /* no build makes or fills the host table meanwhile */
    int rc = guard_ns(s, out, err, errlen);
    if (rc == 0)
        rc = guard_host(netid, s, others, nothers, out, err, errlen);
    gw__netns_unlock(lk);
    return rc;
}

void gw__guard_dispose(gw__guard_t *out)
{
    free(out->rules);
    free(out->host_rules);
    out->rules = out->host_rules = NULL;
}

/* ---- the finding (the loop) ------------------------------------------------------ */

static const struct {
    unsigned bit;
    const char *key, *text;
} found_parts[] = {
    {GW__GUARD_TABLE_MISSING, "table_missing", "table missing (inet tollgate in the namespace)"},
    {GW__GUARD_RULES_CHANGED, "rules_changed", "rules changed (inet tollgate in the namespace)"},
    {GW__GUARD_HOST_MISSING, "host_rules_missing", "host rules missing (table inet tollgate_"},
    {GW__GUARD_HOST_CHANGED, "host_rules_changed", "host rules changed (table inet tollgate_"},
    {GW__GUARD_ELEM_MISSING, "host_element_missing",
     "host rules missing the sandbox's proxy element"},
};

/* "what, what" into text and "key,key" into keys. */
static void describe(const char *netid, unsigned found, char *text, size_t tn, char *keys,
                     size_t kn)
{
    size_t t = 0, k = 0;
    text[0] = keys[0] = '\0';
    for (size_t i = 0; i < sizeof found_parts / sizeof found_parts[0]; i++) {
        if (!(found & found_parts[i].bit) || t >= tn || k >= kn)
            continue;
        bool host = found_parts[i].bit & (GW__GUARD_HOST_MISSING | GW__GUARD_HOST_CHANGED);
        t += (size_t)snprintf(text + t, tn - t, "%s%s%s%s", t ? ", " : "", found_parts[i].text,
                              host ? netid : "", host ? ")" : "");
        k += (size_t)snprintf(keys + k, kn - k, "%s%s", k ? "," : "", found_parts[i].key);
    }
}

void gw__guard_finding(gw__t *g, const char *name, const char *uid, const gw__netspec_t *s,
                       unsigned found, const char *failed)
{
    char what[512], keys[160], msg[1200], err[256];
    describe(g->netid, found, what, sizeof what, keys, sizeof keys);
    if (failed)
        snprintf(msg, sizeof msg,
                 "firewall rules of sandbox %s (%s): %s; restoring them failed: %s", name, s->ns,
                 what, failed);
    else
        snprintf(msg, sizeof msg, "firewall rules of sandbox %s (%s): %s; restored", name, s->ns,
                 what);
    fprintf(stderr, "[gateway:netns] %s\n", msg);
    ocsf_event_t ev;
    gw__event_base(g, &ev, OCSF_CLASS_FINDING, OCSF_FINDING_CREATE, OCSF_SEV_HIGH);
    ev.container_name = ocsf_str(name);
    ev.container_uid = ocsf_str(uid);
    ev.finding_uid = OCSF_STR(FINDING_UID);
    ev.finding_type = OCSF_STR(FINDING_UID);
    ev.finding_title = OCSF_STR("sandbox firewall rules changed");
    ev.confidence_id = OCSF_CONF_HIGH;
    ev.status_id = OCSF_FSTATUS_NEW;
    ev.message = ocsf_str(msg);
    ocsf_buf_t um;
    ocsf_buf_init(&um);
    const ocsf_str_t k[] = {OCSF_STR("netns"), OCSF_STR("restored"), OCSF_STR("rules_found")};
    const ocsf_str_t v[] = {ocsf_str(s->ns), failed ? OCSF_STR("false") : OCSF_STR("true"),
                            ocsf_str(keys)};
    ocsf_unmapped_build(&um, k, v, 3);
    ev.unmapped = (ocsf_str_t){um.p, um.len};
    if (col_append(g->col, &ev, NULL, err, sizeof err) != 0)
        fprintf(stderr, "[gateway:netns] finding event: %s\n", err);
    ocsf_buf_dispose(&um);
}
