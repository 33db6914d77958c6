/*
 * ingest.c: an event from outside (POST /v1/events, the Kafka source) on
 * its way into the spool: validated against its own version's schema,
 * stored as received.
 *
 * The only rewrite: metadata.sequence and metadata.logged_time are the
 * collector's. A producer's own values of those two move to the top-level
 * `unmapped` under the keys "metadata.sequence" / "metadata.logged_time"
 * (nothing is lost), and `at` says where the writer inserts its own
 * (`"logged_time":N,"sequence":N,` right after metadata's brace).
 *
 * The digest (SHA-256) is of the bytes stored without that insertion, so a
 * resent event is recognised by what it says, not by a uid two producers
 * may share; ocsf_ingest_stored_digest() gives the same digest back from
 * a spool record (after a restart).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <pthread.h>

#include "ocsf/check.h"

/* SHA-256, its algorithm fetched once: SHA256() fetches it (under a lock)
 * on every call, which showed on the ingest path. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_init(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (!sha256_md)
        abort(); /* no SHA-256 in this OpenSSL: nothing sane to do */
}

static void sha256(ocsf_checker_t *c, const void *p, size_t n, uint8_t out[32])
{
    pthread_once(&sha256_once, sha256_init);
    if (!c->md_ctx && !(c->md_ctx = EVP_MD_CTX_new()))
        abort();
    if (!EVP_DigestInit_ex2(c->md_ctx, sha256_md, NULL) || !EVP_DigestUpdate(c->md_ctx, p, n) ||
        !EVP_DigestFinal_ex(c->md_ctx, out, NULL))
        abort();
}

typedef struct {
    char *err;
    size_t errlen;
    const ocsf_checker_t *c;
} first_t;

static void on_first(void *ctx, const char *path, const char *msg)
{
    first_t *f = ctx;
    if (strcmp(path, "(event)") == 0 && !f->c->s)
        snprintf(f->err, f->errlen, "%s", msg); /* "not JSON: offset 3: ..." */
    else if (f->c->s)
        snprintf(f->err, f->errlen, "not valid OCSF %s: %s: %s", f->c->s->version, path, msg);
    else
        snprintf(f->err, f->errlen, "%s: %s", path, msg);
}

/* Byte offset just past value token v (strings: past the closing quote). */
static size_t value_end(const jt_doc_t *d, uint32_t v)
{
    const jt_t *t = &d->t[v];
    return (size_t)t->off + t->len + (t->type == JT_STR);
}

static size_t key_start(const jt_doc_t *d, uint32_t k)
{
    return (size_t)d->t[k].off - 1;
}

static int64_t int_at(const jt_doc_t *d, uint32_t v, int64_t dflt)
{
    return v && d->t[v].type == JT_NUM && (d->t[v].flags & JT_INT) ? d->t[v].i : dflt;
}

/* A string value without escapes, borrowed from the input; absent otherwise. */
static ocsf_str_t plain_str(const jt_doc_t *d, uint32_t v)
{
    if (!v || d->t[v].type != JT_STR || (d->t[v].flags & JT_ESC))
        return OCSF_NOSTR;
    return (ocsf_str_t){d->s + d->t[v].off, d->t[v].len};
}

/* Moves metadata.sequence / metadata.logged_time to unmapped: writes the
 * rewritten event into c->out. Returns 0 or -EINVAL (a clash in unmapped). */
static int move_owned(ocsf_checker_t *c, uint32_t meta, uint32_t moved[2], size_t *meta_at,
                      char *err, size_t errlen)
{
    static const char *const names[2] = {"metadata.logged_time", "metadata.sequence"};
    const jt_doc_t *d = &c->doc;
    const char *s = d->s;
    uint32_t um = jt_get(d, 0, "unmapped", 8);
    for (int i = 0; i < 2; i++)
        if (moved[i] && um && jt_get(d, um, names[i], strlen(names[i]))) {
            snprintf(err, errlen, "unmapped.%s: already present; metadata.%s is the collector's",
                     names[i], i ? "sequence" : "logged_time");
            return -EINVAL;
        }
    /* the new metadata object: its members but the two, joined by commas */
    ocsf_buf_t *m = &c->aux;
    m->len = 0;
    ocsf_buf_putc(m, '{');
    bool first = true;
    for (uint32_t k = jt_first(d, meta); k; k = jt_after(d, k, meta)) {
        if (k + 1 == moved[0] || k + 1 == moved[1])
            continue;
        if (!first)
            ocsf_buf_putc(m, ',');
        first = false;
        ocsf_buf_put(m, s + key_start(d, k), value_end(d, k + 1) - key_start(d, k));
    }
    ocsf_buf_putc(m, '}');
    /* what goes into unmapped */
    ocsf_buf_t add;
    ocsf_buf_init(&add);
    for (int i = 0; i < 2; i++) {
        if (!moved[i])
            continue;
        if (add.len)
            ocsf_buf_putc(&add, ',');
        ocsf_buf_putc(&add, '"');
        ocsf_buf_puts(&add, names[i]);
        ocsf_buf_puts(&add, "\":");
        ocsf_buf_put(&add, s + d->t[moved[i]].off - (d->t[moved[i]].type == JT_STR),
                     value_end(d, moved[i]) - d->t[moved[i]].off + (d->t[moved[i]].type == JT_STR));
    }
    /* two edits, applied in byte order: metadata replaced; unmapped grown
     * (or made before the root's closing brace) */
    size_t m0 = d->t[meta].off, m1 = m0 + d->t[meta].len;
    size_t u_at;
    ocsf_buf_t ins;
    ocsf_buf_init(&ins);
    if (um && d->t[um].type == JT_OBJ) {
        u_at = (size_t)d->t[um].off + d->t[um].len - 1; /* its closing brace */
        if (d->t[um].n)
            ocsf_buf_putc(&ins, ',');
        ocsf_buf_put(&ins, add.p, add.len);
    } else {
        u_at = (size_t)d->t[0].off + d->t[0].len - 1;
        ocsf_buf_puts(&ins, ",\"unmapped\":{");
        ocsf_buf_put(&ins, add.p, add.len);
        ocsf_buf_putc(&ins, '}');
    }
    ocsf_buf_t *o = &c->out;
    o->len = 0;
    if (u_at < m0) {
        ocsf_buf_put(o, s, u_at);
        ocsf_buf_put(o, ins.p, ins.len);
        ocsf_buf_put(o, s + u_at, m0 - u_at);
        *meta_at = o->len + 1;
        ocsf_buf_put(o, m->p, m->len);
        ocsf_buf_put(o, s + m1, d->n - m1);
    } else {
        ocsf_buf_put(o, s, m0);
        *meta_at = o->len + 1;
        ocsf_buf_put(o, m->p, m->len);
        ocsf_buf_put(o, s + m1, u_at - m1);
        ocsf_buf_put(o, ins.p, ins.len);
        ocsf_buf_put(o, s + u_at, d->n - u_at);
    }
    ocsf_buf_dispose(&add);
    ocsf_buf_dispose(&ins);
    return 0;
}

/* Can the cast make this event valid: a bundled version, a class of it, a
 * metadata object, an integer activity_id, an object unmapped, no
 * duplicate key? */
static bool repairable(const ocsf_checker_t *c)
{
    const jt_doc_t *d = &c->doc;
    if (!c->s || !c->cls || c->fatal)
        return false;
    uint32_t meta = jt_get(d, 0, "metadata", 8), act = jt_get(d, 0, "activity_id", 11),
             um = jt_get(d, 0, "unmapped", 8);
    return meta && d->t[meta].type == JT_OBJ && act && d->t[act].type == JT_NUM &&
           (d->t[act].flags & JT_INT) && (!um || d->t[um].type == JT_OBJ);
}

/* What every way out will send: the repair cast to the event's own
 * version, valid. Only then is a broken event taken (a constraint the cast
 * cannot fill, such as a dotted path, leaves it refused with its reason).
 * Uses the checker's tokens: the caller parses the input again. */
static bool repairs_to_valid(ocsf_checker_t *c, const char *json, size_t n)
{
    if (ocsf__check_unique_all(c) != 0)
        return false; /* a duplicate key inside a value of the wrong type */
    ocsf_buf_t b;
    char err[64];
    ocsf_buf_init(&b);
    bool ok = ocsf_cast(c, json, n, NULL, OCSF_CAST_REPAIR, &b, err, sizeof err) == 0 &&
              ocsf_check(c, b.p, b.len, NULL, OCSF_CHECK_FIRST, NULL, NULL) == 0;
    ocsf_buf_dispose(&b);
    return ok;
}

int ocsf_ingest(ocsf_checker_t *c, const char *json, size_t n, unsigned flags, ocsf_ingest_t *out,
                char *err, size_t errlen)
{
    first_t f = {err, errlen, c};
    memset(out, 0, sizeof *out);
    if (ocsf_check(c, json, n, NULL, OCSF_CHECK_FIRST, on_first, &f) != 0) {
        if (!(flags & OCSF_INGEST_REPAIR))
            return -EINVAL;
        /* the whole event this time: a duplicate key anywhere refuses it */
        ocsf_check(c, json, n, NULL, 0, NULL, NULL);
        if (!repairable(c) || !repairs_to_valid(c, json, n))
            return -EINVAL;
        /* the tokens describe the input again */
        char perr[64];
        if (jt_parse(&c->doc, json, n, perr, sizeof perr) != 0)
            return -EINVAL;
        out->repaired = true;
    }
    const jt_doc_t *d = &c->doc;
    uint32_t meta = jt_get(d, 0, "metadata", 8); /* present: checked or repairable */
    uint32_t moved[2] = {jt_get(d, meta, "logged_time", 11), jt_get(d, meta, "sequence", 8)};
    if (moved[0] || moved[1]) {
        if (move_owned(c, meta, moved, &out->at, err, errlen) != 0)
            return -EINVAL;
        out->json = c->out.p;
        out->len = c->out.len;
        /* the tokens still describe the input: take the fields from there */
    } else {
        out->json = json;
        out->len = n;
        out->at = (size_t)d->t[meta].off + 1;
    }
    out->schema = c->s;
    out->class_uid = c->cls->uid;
    out->time = int_at(d, jt_get(d, 0, "time", 4), OCSF_NONE);
    out->severity_id = (int)int_at(d, jt_get(d, 0, "severity_id", 11), 0);
    out->action_id = (int)int_at(d, jt_get(d, 0, "action_id", 9), -1);
    out->log_name = plain_str(d, jt_get(d, meta, "log_name", 8));
    uint32_t dev = jt_get(d, 0, "device", 6);
    uint32_t ctr = dev ? jt_get(d, dev, "container", 9) : 0;
    if (!ctr)
        ctr = jt_get(d, 0, "container", 9);
    out->sandbox = ctr ? plain_str(d, jt_get(d, ctr, "name", 4)) : OCSF_NOSTR;
    sha256(c, out->json, out->len, out->digest);
    return 0;
}

int ocsf_ingest_stored_digest(ocsf_checker_t *c, const char *json, size_t n, uint8_t digest[32])
{
    char err[64];
    const jt_doc_t *d = &c->doc;
    if (jt_parse(&c->doc, json, n, err, sizeof err) != 0 || d->t[0].type != JT_OBJ)
        return -EINVAL;
    uint32_t meta = jt_get(d, 0, "metadata", 8);
    if (!meta || d->t[meta].type != JT_OBJ || d->t[meta].n < 3)
        return -EINVAL;
    uint32_t k1 = meta + 1, k2 = d->t[k1 + 1].next, k3 = d->t[k2 + 1].next;
    if (!jt_str_eq(d, k1, "logged_time", 11) || !jt_str_eq(d, k2, "sequence", 8))
        return -ENOENT; /* not an ingested record (the encoder sorts its keys) */
    size_t a = key_start(d, k1), b = key_start(d, k3);
    c->aux.len = 0;
    ocsf_buf_put(&c->aux, json, a);
    ocsf_buf_put(&c->aux, json + b, n - b);
    sha256(c, c->aux.p, c->aux.len, digest);
    return 0;
}
