/*
 * sandbox.c: sandboxes and their policies, in memory and on disk.
 *
 * <state>/sandboxes/<name>.json holds one sandbox: name, uid, created,
 * providers, version, hash, and the base policy as YAML. Written
 * atomically (temp file, fsync, rename, fsync of the directory). A file
 * that does not load is reported and left alone: never replaced silently.
 *
 * Thread: the gateway loop. Every mutation emits its OCSF event.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "gateway/gw_internal.h"

extern const struct gw__embedded {
    const char *name;
    const unsigned char *data;
    size_t len;
} gw__providers_embedded[];
extern const size_t gw__providers_count;

bool gw__name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > GW__NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && i > 0);
        if (!ok)
            return false;
    }
    return true;
}

gw__sandbox_t *gw__sandbox_find(gw__t *g, const char *name)
{
    for (gw__sandbox_t *sb = g->sandboxes; sb; sb = sb->next)
        if (strcmp(sb->name, name) == 0)
            return sb;
    return NULL;
}

static pol_provider_t *provider_find(gw__t *g, const char *id)
{
    for (size_t i = 0; i < g->nproviders; i++)
        if (strcmp(g->providers[i]->id, id) == 0)
            return g->providers[i];
    return NULL;
}

static void sandbox_free(gw__sandbox_t *sb)
{
    if (!sb)
        return;
    for (size_t i = 0; i < sb->nproviders; i++)
        free(sb->providers[i]);
    free(sb->providers);
    pol_policy_destroy(sb->base);
    pol_policy_destroy(sb->effective);
    pol_index_destroy(sb->index);
    for (size_t i = 0; i < sb->npins; i++)
        free(sb->pins[i].path);
    free(sb->pins);
    free(sb);
}

/* Recomputes the effective policy, its index and hash from base and
 * providers. */
static int recompose(gw__t *g, gw__sandbox_t *sb, char *err, size_t errlen)
{
    pol_provider_t *prov[16];
    size_t n = 0;
    for (size_t i = 0; i < sb->nproviders && n < 16; i++) {
        prov[n] = provider_find(g, sb->providers[i]);
        if (!prov[n]) {
            snprintf(err, errlen, "unknown provider '%s'", sb->providers[i]);
            return -ENOENT;
        }
        n++;
    }
    pol_policy_t *eff = pol_compose(sb->base, prov, n);
    pol_index_t *ix = eff ? pol_index_build(eff) : NULL;
    if (!eff || !ix) {
        pol_policy_destroy(eff);
        snprintf(err, errlen, "out of memory composing the policy");
        return -ENOMEM;
    }
    pol_policy_destroy(sb->effective);
    pol_index_destroy(sb->index);
    sb->effective = eff;
    sb->index = ix;
    pol_hash(eff, sb->hash);
    return 0;
}

static void state_path(gw__t *g, const char *name, const char *suffix, char *out, size_t n)
{
    snprintf(out, n, "%s/sandboxes/%s%s", g->state_dir, name, suffix);
}

int gw__write_atomic(const char *path, const char *dir, const char *data, size_t len)
{
    char tmp[4600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int rc = 0;
    size_t off = 0;
    while (off < len && rc == 0) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno != EINTR)
            rc = -errno;
        else if (w > 0)
            off += (size_t)w;
    }
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    close(fd);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc) {
        unlink(tmp);
        return rc;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

static int save(gw__t *g, gw__sandbox_t *sb, char *err, size_t errlen)
{
    char path[4400], dir[4200];
    snprintf(dir, sizeof dir, "%s/sandboxes", g->state_dir);
    mkdir(dir, 0700);
    state_path(g, sb->name, ".json", path, sizeof path);
    char *yaml = pol_to_yaml(sb->base, false);
    json_t *provs = json_array();
    for (size_t i = 0; i < sb->nproviders; i++)
        json_array_append_new(provs, json_string(sb->providers[i]));
    json_t *o = json_pack("{s:s,s:s,s:I,s:o,s:I,s:s,s:s}", "name", sb->name, "uid", sb->uid,
                          "created_ms", (json_int_t)sb->created_ms, "providers", provs, "version",
                          (json_int_t)sb->version, "hash", sb->hash, "base_yaml", yaml ? yaml : "");
    free(yaml);
    json_t *pins = json_object();
    for (size_t i = 0; i < sb->npins; i++)
        json_object_set_new(pins, sb->pins[i].path, json_string(sb->pins[i].sha256));
    if (o && sb->user[0])
        json_object_set_new(o, "user", json_string(sb->user));
    if (o)
        json_object_set_new(o, "pins", pins);
    else
        json_decref(pins);
    char *text = o ? json_dumps(o, JSON_INDENT(1) | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    int rc = text ? gw__write_atomic(path, dir, text, strlen(text)) : -ENOMEM;
    free(text);
    if (rc)
        snprintf(err, errlen, "write %s: %s", path, strerror(-rc));
    return rc;
}

/* ---- events ------------------------------------------------------------------- */

static void emit(gw__t *g, ocsf_event_t *ev, gw__sandbox_t *sb)
{
    char err[256];
    ev->container_name = ocsf_str(sb->name);
    ev->container_uid = ocsf_str(sb->uid);
    if (col_append(g->col, ev, NULL, err, sizeof err) != 0)
        fprintf(stderr, "[gateway:sandbox] event: %s\n", err);
}

static void config_event(gw__t *g, gw__sandbox_t *sb, const char *state, int sev, const char *msg,
                         const char *detail, bool from_sandbox)
{
    ocsf_event_t ev;
    char version[24];
    gw__event_base(g, &ev, OCSF_CLASS_CONFIG, OCSF_CONFIG_LOG, sev);
    if (from_sandbox) {
        ev.log_name = OCSF_STR("sandbox");
    }
    snprintf(version, sizeof version, "%llu", (unsigned long long)sb->version);
    ev.state_id = OCSF_OTHER;
    ev.state_other = ocsf_str(state);
    ev.message = ocsf_str(msg);
    ev.status_id = sev >= OCSF_SEV_MEDIUM ? OCSF_STATUS_FAILURE : OCSF_STATUS_SUCCESS;
    ev.status_detail = ocsf_str(detail);
    ev.policy_name = ocsf_str(sb->name);
    ev.policy_version = ocsf_str(version);
    ev.policy_uid = ocsf_str(sb->hash);
    emit(g, &ev, sb);
}

static void lifecycle_event(gw__t *g, gw__sandbox_t *sb, const char *what)
{
    ocsf_event_t ev;
    gw__event_base(g, &ev, OCSF_CLASS_LIFECYCLE, OCSF_OTHER, OCSF_SEV_INFO);
    ev.activity_other = ocsf_str(what);
    ev.app = (ocsf_product_t){ocsf_str(sb->name), OCSF_STR(TOLLGATE_VENDOR), OCSF_NOSTR};
    ev.status_id = OCSF_STATUS_SUCCESS;
    emit(g, &ev, sb);
}

/* ---- mutations ---------------------------------------------------------------- */

static void new_uid(char out[40])
{
    uint8_t rnd[16];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        memset(rnd, 0x5a, sizeof rnd);
    ocsf_uuid_v4(rnd, out);
}

int gw__user_valid(const char *user, char *err, size_t errlen)
{
    size_t n = strlen(user);
    bool digits = n > 0 && strspn(user, "0123456789") == n;
    bool name = n > 0 && n <= 32 && strchr("abcdefghijklmnopqrstuvwxyz_", user[0]) &&
                strspn(user, "abcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
    if (!digits && !name) {
        if (err)
            snprintf(err, errlen, "user: a user name ([a-z_][a-z0-9_.-]{0,31}) or a numeric uid");
        return -EINVAL;
    }
    struct passwd *pw = digits ? getpwuid((uid_t)strtoul(user, NULL, 10)) : getpwnam(user);
    if (!pw || pw->pw_uid == 0 || pw->pw_gid == 0) {
        if (err)
            snprintf(err, errlen, "user '%s': %s", user,
                     pw ? "uid or gid 0: sandboxed commands never run as root"
                        : "no such user on the gateway's host");
        return -EINVAL;
    }
    return 0;
}

int gw__sandbox_set_user(gw__t *g, gw__sandbox_t *sb, const char *user, char *err, size_t errlen)
{
    if (user[0] && gw__user_valid(user, err, errlen) != 0)
        return -EINVAL;
    snprintf(sb->user, sizeof sb->user, "%s", user);
    return save(g, sb, err, errlen);
}

int gw__sandbox_create(gw__t *g, const char *name, char *const *providers, size_t nproviders,
                       pol_policy_t *base, gw__sandbox_t **out, char *err, size_t errlen)
{
    char path[4400];
    struct stat st;
    if (!gw__name_valid(name)) {
        snprintf(err, errlen, "sandbox name: must match [a-z0-9][a-z0-9-]{0,62}");
        return -EINVAL;
    }
    state_path(g, name, ".json", path, sizeof path);
    if (gw__sandbox_find(g, name) || stat(path, &st) == 0) {
        snprintf(err, errlen, "sandbox '%s' already exists%s", name,
                 gw__sandbox_find(g, name) ? ""
                                           : " (its state file did not load; fix or remove it)");
        return -EEXIST;
    }
    if (nproviders > 16) {
        snprintf(err, errlen, "at most 16 providers");
        return -EINVAL;
    }
    gw__sandbox_t *sb = calloc(1, sizeof *sb);
    sb->providers = calloc(nproviders + 1, sizeof *sb->providers);
    if (!sb || !sb->providers)
        abort();
    snprintf(sb->name, sizeof sb->name, "%s", name);
    new_uid(sb->uid);
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    sb->created_ms = tv.tv_sec * 1000 + tv.tv_usec / 1000;
    for (size_t i = 0; i < nproviders; i++) {
        if (!provider_find(g, providers[i])) {
            size_t o =
                (size_t)snprintf(err, errlen, "unknown provider '%.64s'; shipped:", providers[i]);
            for (size_t k = 0; k < g->nproviders && o < errlen; k++)
                o += (size_t)snprintf(err + o, errlen - o, " %s", g->providers[k]->id);
            sandbox_free(sb);
            return -ENOENT;
        }
        sb->providers[sb->nproviders++] = strdup(providers[i]);
    }
    sb->base = base ? base : pol_policy_create();
    sb->version = 1;
    int rc = recompose(g, sb, err, errlen);
    if (rc == 0)
        rc = save(g, sb, err, errlen);
    if (rc) {
        if (!base)
            pol_policy_destroy(sb->base);
        sb->base = NULL; /* the caller keeps its base on failure */
        sandbox_free(sb);
        return rc;
    }
    sb->next = g->sandboxes;
    g->sandboxes = sb;
    lifecycle_event(g, sb, "Create");
    char msg[200];
    snprintf(msg, sizeof msg, "policy created for sandbox %s", sb->name);
    config_event(g, sb, "updated", OCSF_SEV_INFO, msg, NULL, false);
    gw__history_remove(g, sb->name); /* a namesake's leftovers */
    gw__history_record(g, sb, "created");
    if (out)
        *out = sb;
    return 0;
}

int gw__sandbox_delete(gw__t *g, const char *name, char *err, size_t errlen)
{
    for (gw__sandbox_t **pp = &g->sandboxes; *pp; pp = &(*pp)->next) {
        gw__sandbox_t *sb = *pp;
        if (strcmp(sb->name, name) != 0)
            continue;
        char path[4400];
        state_path(g, name, ".json", path, sizeof path);
        if (unlink(path) != 0 && errno != ENOENT) {
            snprintf(err, errlen, "remove %s: %s", path, strerror(errno));
            return -errno;
        }
        *pp = sb->next;
        gw__history_remove(g, name);
        lifecycle_event(g, sb, "Delete");
        gw__waiters_poke(g, sb);
        sandbox_free(sb);
        return 0;
    }
    snprintf(err, errlen, "no sandbox '%s'", name);
    return -ENOENT;
}

int gw__sandbox_set_base(gw__t *g, gw__sandbox_t *sb, pol_policy_t *base, const char *summary,
                         char *err, size_t errlen)
{
    pol_policy_t *old = sb->base;
    char old_hash[65];
    memcpy(old_hash, sb->hash, sizeof old_hash);
    sb->base = base;
    sb->version++;
    int rc = recompose(g, sb, err, errlen);
    if (rc == 0)
        rc = save(g, sb, err, errlen);
    if (rc) { /* the previous policy stays in force */
        sb->base = old;
        sb->version--;
        char ignored[64];
        recompose(g, sb, ignored, sizeof ignored);
        memcpy(sb->hash, old_hash, sizeof old_hash);
        return rc;
    }
    pol_policy_destroy(old);
    char msg[400];
    snprintf(msg, sizeof msg, "policy updated for sandbox %s: %s", sb->name, summary);
    config_event(g, sb, "updated", OCSF_SEV_INFO, msg, NULL, false);
    gw__history_record(g, sb, summary);
    /* the in-process proxy decides with sb->index from its next connection on */
    if (g->proxy && strcmp(g->proxy_sandbox, sb->name) == 0)
        gw__sandbox_report(g, sb, "in-process", sb->version, true, NULL);
    gw__net_policy_changed(g, sb); /* and its namespace's proxy */
    gw__waiters_poke(g, sb);
    return 0;
}

void gw__sandbox_report(gw__t *g, gw__sandbox_t *sb, const char *proxy, uint64_t version,
                        bool loaded, const char *error)
{
    gw__proxy_t *p = NULL;
    for (size_t i = 0; i < sb->nproxies; i++)
        if (strcmp(sb->proxies[i].id, proxy) == 0)
            p = &sb->proxies[i];
    if (!p && sb->nproxies < GW__MAX_PROXIES) {
        p = &sb->proxies[sb->nproxies++];
        snprintf(p->id, sizeof p->id, "%s", proxy);
    }
    if (!p)
        return;
    uv_timeval64_t tv;
    uv_gettimeofday(&tv);
    p->version = version;
    p->state = loaded ? 1 : 2;
    p->seen_ms = tv.tv_sec * 1000 + tv.tv_usec / 1000;
    snprintf(p->error, sizeof p->error, "%s", error ? error : "");
    char msg[300];
    snprintf(msg, sizeof msg, "policy version %llu %s by proxy %s of sandbox %s",
             (unsigned long long)version, loaded ? "loaded" : "failed to load", proxy, sb->name);
    uint64_t cur = sb->version;
    sb->version = version; /* the event names the version the proxy speaks of */
    config_event(g, sb, loaded ? "loaded" : "failed", loaded ? OCSF_SEV_INFO : OCSF_SEV_MEDIUM, msg,
                 loaded ? NULL : error, true);
    sb->version = cur;
    gw__waiters_poke(g, sb);
}

/* ---- loading ------------------------------------------------------------------ */

static int load_providers(gw__t *g, char *err, size_t errlen)
{
    g->providers = calloc(gw__providers_count + 1, sizeof *g->providers);
    if (!g->providers)
        return -ENOMEM;
    for (size_t i = 0; i < gw__providers_count; i++) {
        const struct gw__embedded *e = &gw__providers_embedded[i];
        pol_provider_t *p = pol_provider_parse((const char *)e->data, e->len, e->name, err, errlen);
        if (!p)
            return -EINVAL; /* a shipped profile that does not parse: a build bug */
        g->providers[g->nproviders++] = p;
    }
    return 0;
}

/* A state file that does not load: say so, keep it. */
static void report_corrupt(gw__t *g, const char *file, const char *why)
{
    fprintf(stderr, "[gateway:sandbox] %s: %s; left as it is, the sandbox is not loaded\n", file,
            why);
    ocsf_event_t ev;
    char err[256], msg[4600];
    gw__event_base(g, &ev, OCSF_CLASS_CONFIG, OCSF_CONFIG_LOG, OCSF_SEV_HIGH);
    snprintf(msg, sizeof msg, "sandbox state file %s did not load", file);
    ev.state_id = OCSF_OTHER;
    ev.state_other = OCSF_STR("failed");
    ev.message = ocsf_str(msg);
    ev.status_id = OCSF_STATUS_FAILURE;
    ev.status_detail = ocsf_str(why);
    if (col_append(g->col, &ev, NULL, err, sizeof err) != 0)
        fprintf(stderr, "[gateway:sandbox] event: %s\n", err);
}

static int load_one(gw__t *g, const char *path, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *o = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    const char *name = NULL, *uid = NULL, *hash = NULL, *yaml = NULL;
    json_int_t created = 0, version = 0;
    json_t *provs = NULL;
    if (!o) {
        snprintf(err, errlen, "not JSON: %s (line %d)", jerr.text, jerr.line);
        return -EINVAL;
    }
    json_t *pins = json_incref(json_object_get(o, "pins"));
    json_object_del(o, "pins");
    const char *user = json_string_value(json_object_get(o, "user"));
    char user_copy[33] = "";
    if (user && strlen(user) < sizeof user_copy && gw__user_valid(user, NULL, 0) == 0)
        snprintf(user_copy, sizeof user_copy, "%s", user);
    json_object_del(o, "user");
    int rc = json_unpack_ex(o, &jerr, JSON_STRICT, "{s:s,s:s,s:I,s:o,s:I,s:s,s:s}", "name", &name,
                            "uid", &uid, "created_ms", &created, "providers", &provs, "version",
                            &version, "hash", &hash, "base_yaml", &yaml);
    if (rc != 0 || !gw__name_valid(name) || version < 1 || !json_is_array(provs) ||
        json_array_size(provs) > 16) {
        snprintf(err, errlen, "not a sandbox state file: %s", rc ? jerr.text : "bad values");
        json_decref(o);
        json_decref(pins);
        return -EINVAL;
    }
    gw__sandbox_t *sb = calloc(1, sizeof *sb);
    sb->providers = calloc(json_array_size(provs) + 1, sizeof *sb->providers);
    if (!sb || !sb->providers)
        abort();
    snprintf(sb->name, sizeof sb->name, "%s", name);
    snprintf(sb->uid, sizeof sb->uid, "%s", uid);
    snprintf(sb->user, sizeof sb->user, "%s", user_copy);
    sb->created_ms = created;
    sb->version = (uint64_t)version;
    size_t i;
    json_t *p;
    json_array_foreach(provs, i, p) sb->providers[sb->nproviders++] =
        strdup(json_is_string(p) ? json_string_value(p) : "");
    const char *pk;
    json_t *pv;
    json_object_foreach(pins, pk, pv)
    {
        if (!json_is_string(pv) || json_string_length(pv) != 64)
            continue;
        struct gw__pin *n = realloc(sb->pins, (sb->npins + 1) * sizeof *n);
        if (!n)
            break;
        sb->pins = n;
        sb->pins[sb->npins].path = strdup(pk);
        snprintf(sb->pins[sb->npins].sha256, 65, "%s", json_string_value(pv));
        sb->npins++;
    }
    json_decref(pins);
    sb->base = pol_parse_yaml(yaml, strlen(yaml), path, false, err, errlen);
    rc = sb->base ? recompose(g, sb, err, errlen) : -EINVAL;
    json_decref(o);
    if (rc || gw__sandbox_find(g, sb->name)) {
        if (!rc)
            snprintf(err, errlen, "a second sandbox named '%s'", sb->name);
        sandbox_free(sb);
        return -EINVAL;
    }
    sb->next = g->sandboxes;
    g->sandboxes = sb;
    return 0;
}

int gw__sandboxes_load(gw__t *g, char *err, size_t errlen)
{
    char dir[4200];
    int rc = load_providers(g, err, errlen);
    if (rc)
        return rc;
    snprintf(dir, sizeof dir, "%s/sandboxes", g->state_dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
        return -errno;
    }
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0)
            continue;
        char path[4500], why[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (load_one(g, path, why, sizeof why) != 0)
            report_corrupt(g, path, why);
    }
    if (d)
        closedir(d);
    if (!gw__sandbox_find(g, "default")) {
        char path[4400];
        struct stat st;
        state_path(g, "default", ".json", path, sizeof path);
        if (stat(path, &st) != 0) /* absent, not merely unloadable */
            return gw__sandbox_create(g, "default", NULL, 0, NULL, NULL, err, errlen);
    }
    return 0;
}

void gw__sandboxes_free(gw__t *g)
{
    while (g->sandboxes) {
        gw__sandbox_t *sb = g->sandboxes;
        g->sandboxes = sb->next;
        sandbox_free(sb);
    }
    for (size_t i = 0; i < g->nproviders; i++)
        pol_provider_destroy(g->providers[i]);
    free(g->providers);
    g->providers = NULL;
    g->nproviders = 0;
}

int gw__sandbox_pin(gw__t *g, gw__sandbox_t *sb, const char *path, const char *sha256,
                    char pinned[65])
{
    for (size_t i = 0; i < sb->npins; i++) {
        if (strcmp(sb->pins[i].path, path) != 0)
            continue;
        if (strcmp(sb->pins[i].sha256, sha256) == 0)
            return 0;
        memcpy(pinned, sb->pins[i].sha256, 65);
        return -EPERM;
    }
    if (sb->npins >= 4096)
        return 0; /* bounded: beyond this, binaries are not pinned (reported in get) */
    struct gw__pin *n = realloc(sb->pins, (sb->npins + 1) * sizeof *n);
    if (!n)
        return 0;
    sb->pins = n;
    sb->pins[sb->npins].path = strdup(path);
    snprintf(sb->pins[sb->npins].sha256, 65, "%s", sha256);
    sb->npins++;
    char err[256];
    if (save(g, sb, err, sizeof err) != 0)
        fprintf(stderr, "[gateway:sandbox] pin %s: %s\n", path, err);
    return 0;
}
