/*
 * checkpoint.c: signed checkpoints and the head witness on the writer's side.
 *
 * Every spool.checkpoint_events events or spool.checkpoint_interval (and at
 * a clean stop) the writer adds a Device Config State Change (5019) event,
 * state "checkpoint", whose `unmapped` carries the sequence and chain head
 * of the record before it, the time, the key id and an Ed25519 signature of
 *   tollgate-checkpoint v1 seq=<n> head=<hex> time=<ms> key=<id>
 * so every exporter carries it off the machine. Then the syncer fsyncs the
 * spool and writes the head witness (at a clean stop: the writer, last). At start, a spool that
 * ends before the witness was cut: the writer continues after the witness and records a finding.
 *
 * Thread: the writer (or col_create before it starts).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "collector/col_internal.h"

static int64_t mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int col_ckpt_key_id(void *pkey, char out[17])
{
    unsigned char raw[32], d[32];
    size_t n = sizeof raw;
    unsigned int dn = sizeof d;
    if (!EVP_PKEY_get_raw_public_key(pkey, raw, &n) || n != 32)
        return -EINVAL;
    EVP_Digest(raw, n, d, &dn, EVP_sha256(), NULL);
    col__hex(d, 8, out);
    return 0;
}

/* PEM text of the private or the public half, into a file. */
static int write_pem(EVP_PKEY *k, bool priv, const char *path, char *err, size_t errlen)
{
    BIO *b = BIO_new(BIO_s_mem());
    int ok = b && (priv ? PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)
                        : PEM_write_bio_PUBKEY(b, k));
    char *p = NULL;
    long n = ok ? BIO_get_mem_data(b, &p) : 0;
    int rc =
        n > 0 ? col__write_private(path, p, (size_t)n, priv ? 0600 : 0644, err, errlen) : -ENOMEM;
    if (rc == -ENOMEM)
        snprintf(err, errlen, "%s: OpenSSL could not write the key", path);
    BIO_free(b);
    return rc;
}

static int signer_make(const char *keys, const char *path, EVP_PKEY **out, char *err, size_t errlen)
{
    char pub[COL__DIR_MAX + 40];
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!k) {
        snprintf(err, errlen, "OpenSSL: Ed25519 key generation failed");
        return -ENOSYS;
    }
    snprintf(pub, sizeof pub, "%s/checkpoint.pub", keys);
    int rc = write_pem(k, false, pub, err, errlen);
    if (rc == 0)
        rc = write_pem(k, true, path, err, errlen);
    if (rc) {
        EVP_PKEY_free(k);
        return rc;
    }
    *out = k;
    return 0;
}

int col__signer_open(col_t *c, char *err, size_t errlen)
{
    char keys[COL__DIR_MAX + 8], path[COL__DIR_MAX + 40], pem[8192];
    col__state_path(c->spool_dir, "keys", keys, sizeof keys);
    snprintf(path, sizeof path, "%s/checkpoint.key", keys);
    size_t n = 0;
    EVP_PKEY *k = NULL;
    int rc = col__read_private(path, pem, sizeof pem, &n, err, errlen);
    if (rc == -ENOENT) {
        rc = signer_make(keys, path, &k, err, errlen);
    } else if (rc == 0) {
        BIO *b = BIO_new_mem_buf(pem, (int)n);
        k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
        BIO_free(b);
        if (!k || EVP_PKEY_get_base_id(k) != EVP_PKEY_ED25519) {
            snprintf(err, errlen, "%s: not an Ed25519 private key (PEM)", path);
            EVP_PKEY_free(k);
            rc = -EINVAL;
        }
    }
    OPENSSL_cleanse(pem, sizeof pem);
    if (rc)
        return rc;
    c->signer = k;
    col_ckpt_key_id(k, c->signer_id);
    return 0;
}

void col__signer_close(col_t *c)
{
    EVP_PKEY_free(c->signer);
    c->signer = NULL;
}

int col_ckpt_text(uint64_t seq, const unsigned char head[32], int64_t time_ms, const char *key,
                  char *out, size_t n)
{
    char hh[65];
    col__hex(head, 32, hh);
    return snprintf(out, n,
                    "tollgate-checkpoint v1 seq=%" PRIu64 " head=%s time=%" PRId64 " key=%s", seq,
                    hh, time_ms, key);
}

/* The checkpoint event for the record before it; false when signing failed. */
static bool checkpoint_add(col_t *c)
{
    uint64_t seq = c->sp.next_seq - 1;
    int64_t now = col__now_ms();
    char text[256], hh[65], sq[24], tm[24], msg[200];
    unsigned char sig[64];
    char b64[96];
    size_t sn = sizeof sig;
    int tn = col_ckpt_text(seq, c->sp.chain, now, c->signer_id, text, sizeof text);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md && EVP_DigestSignInit(md, NULL, NULL, NULL, c->signer) == 1 &&
              EVP_DigestSign(md, sig, &sn, (const unsigned char *)text, (size_t)tn) == 1;
    EVP_MD_CTX_free(md);
    if (!ok)
        return false;
    EVP_EncodeBlock((unsigned char *)b64, sig, (int)sn);
    col__hex(c->sp.chain, 32, hh);
    snprintf(sq, sizeof sq, "%" PRIu64, seq);
    snprintf(tm, sizeof tm, "%" PRId64, now);
    snprintf(msg, sizeof msg,
             "signed checkpoint: sequence %" PRIu64 ", chain head %.16s..., key %s", seq, hh,
             c->signer_id);
    ocsf_event_t ev;
    ocsf_event_init(&ev);
    ocsf_event_begin(&ev, OCSF_CLASS_CONFIG, OCSF_CONFIG_LOG, OCSF_SEV_INFO, now, &c->cfg.product);
    ev.state_id = OCSF_OTHER;
    ev.state_other = OCSF_STR("checkpoint");
    ev.message = ocsf_str(msg);
    ev.status_id = OCSF_STATUS_SUCCESS;
    ev.log_name = OCSF_STR("gateway");
    ev.device_hostname = c->cfg.hostname.p ? c->cfg.hostname : OCSF_STR("localhost");
    ev.device_type_id = 0;
    const ocsf_str_t k[] = {OCSF_STR("checkpoint_head"), OCSF_STR("checkpoint_key"),
                            OCSF_STR("checkpoint_seq"), OCSF_STR("checkpoint_sig"),
                            OCSF_STR("checkpoint_time")};
    const ocsf_str_t v[] = {ocsf_str(hh), ocsf_str(c->signer_id), ocsf_str(sq), ocsf_str(b64),
                            ocsf_str(tm)};
    ocsf_buf_t um;
    ocsf_buf_init(&um);
    ocsf_unmapped_build(&um, k, v, 5);
    ev.unmapped = (ocsf_str_t){um.p, um.len};
    col__add_own(c, &ev);
    ocsf_buf_dispose(&um);
    return true;
}

bool col__checkpoint_tick(col_t *c, bool force)
{
    char err[300];
    int64_t now = mono_now();
    if (c->ckpt_mono == 0)
        c->ckpt_mono = now;
    uint64_t last = c->sp.next_seq - 1;
    bool asked = atomic_exchange(&c->ckpt_asked, false);
    bool due = last > c->ckpt_seq &&
               (force || asked || (int64_t)(last - c->ckpt_seq) >= c->cfg.checkpoint_events ||
                now - c->ckpt_mono >= c->cfg.checkpoint_ms);
    if (c->sp.wlen || (!due && !force))
        return false;           /* a failing write is retried first */
    if (!c->signer && !force) { /* no checkpoints: the witness only at a clean stop */
        c->ckpt_seq = last;
        c->ckpt_mono = now;
        return false;
    }
    bool added = due && c->signer && checkpoint_add(c);
    int rc = added ? col__spool_flush(&c->sp) : 0;
    if (rc == 0 && added && !force && c->syncer_started) {
        /* the fdatasync and the witness on the syncer, off the writer's path */
        col__witness_later(c, c->sp.next_seq - 1, c->sp.chain);
        c->ckpt_seq = c->sp.next_seq - 1;
        c->ckpt_mono = now;
        atomic_store_explicit(&c->written_seq, c->sp.next_seq - 1, memory_order_release);
        return true;
    }
    if (rc == 0 && (added || force))
        rc = col__sync_all(c); /* a pending seal first: the witness never runs ahead */
    if (rc == 0)
        rc = col__witness_write(c->spool_dir, &c->mac, c->sp.next_seq - 1, c->sp.chain, err,
                                sizeof err);
    else
        snprintf(err, sizeof err, "%s", strerror(-rc));
    if (rc)
        fprintf(stderr, "[collector:writer] checkpoint in %s: %s\n", c->spool_dir, err);
    c->ckpt_seq = c->sp.next_seq - 1;
    c->ckpt_mono = now;
    if (!added || rc)
        return false;
    atomic_store_explicit(&c->written_seq, c->sp.next_seq - 1, memory_order_release);
    return true;
}

void col_checkpoint_now(col_t *c)
{
    atomic_store(&c->ckpt_asked, true);
    pthread_mutex_lock(&c->ring.mu);
    pthread_cond_signal(&c->ring.not_empty);
    pthread_mutex_unlock(&c->ring.mu);
}

/* ---- at start: the witness against the spool's end ------------------------ */

static void finding(col_t *c, const char *uid, const char *title, const char *msg,
                    const ocsf_str_t *k, const ocsf_str_t *v, size_t n)
{
    fprintf(stderr, "[collector] %s\n", msg);
    ocsf_event_t ev;
    ocsf_event_init(&ev);
    ocsf_event_begin(&ev, OCSF_CLASS_FINDING, OCSF_FINDING_CREATE, OCSF_SEV_HIGH, col__now_ms(),
                     &c->cfg.product);
    ev.log_name = OCSF_STR("gateway");
    ev.device_hostname = c->cfg.hostname.p ? c->cfg.hostname : OCSF_STR("localhost");
    ev.device_type_id = 0;
    ev.finding_uid = ocsf_str(uid);
    ev.finding_type = ocsf_str(uid);
    ev.finding_title = ocsf_str(title);
    ev.confidence_id = OCSF_CONF_HIGH;
    ev.status_id = OCSF_FSTATUS_NEW;
    ev.message = ocsf_str(msg);
    ocsf_buf_t um;
    ocsf_buf_init(&um);
    if (n) {
        ocsf_unmapped_build(&um, k, v, n);
        ev.unmapped = (ocsf_str_t){um.p, um.len};
    }
    col__add_own(c, &ev);
    ocsf_buf_dispose(&um);
}

static int cut_detected(col_t *c, const col__witness_t *w, char *err, size_t errlen)
{
    uint64_t end = c->sp.next_seq - 1;
    int rc = col__spool_skip_to(&c->sp, w->seq + 1, err, errlen);
    if (rc)
        return rc;
    char msg[400], a[24], b[24], ws[24];
    snprintf(msg, sizeof msg,
             "audit trail cut: the spool ends at sequence %" PRIu64
             " but the head witness names %" PRIu64 ": sequences %" PRIu64 "..%" PRIu64
             " are missing; continuing at %" PRIu64 ", never reusing them",
             end, w->seq, end + 1, w->seq, w->seq + 1);
    snprintf(a, sizeof a, "%" PRIu64, end + 1);
    snprintf(b, sizeof b, "%" PRIu64, w->seq);
    snprintf(ws, sizeof ws, "%" PRIu64, w->seq);
    const ocsf_str_t k[] = {OCSF_STR("missing_first"), OCSF_STR("missing_last"),
                            OCSF_STR("witness_seq")};
    const ocsf_str_t v[] = {ocsf_str(a), ocsf_str(b), ocsf_str(ws)};
    finding(c, "spool_cut", "audit trail cut: sequences missing", msg, k, v, 3);
    return 0;
}

int col__witness_start(col_t *c, char *err, size_t errlen)
{
    col__witness_t w;
    char werr[300], msg[500];
    uint64_t end = c->sp.next_seq - 1;
    int rc = col__witness_read(c->spool_dir, &c->mac, &w, werr, sizeof werr);
    if (rc == -EPERM) {
        snprintf(err, errlen, "%s", werr);
        return rc;
    }
    if (rc == -ENOENT && end == 0)
        return 0; /* a new spool */
    if (rc) {
        snprintf(msg, sizeof msg,
                 "head witness unusable (%s): a cut of the spool's tail before this start "
                 "cannot be ruled out",
                 werr);
        finding(c, "spool_witness", "audit trail head witness missing or invalid", msg, NULL, NULL,
                0);
        return 0;
    }
    if (w.seq > end)
        return cut_detected(c, &w, err, errlen);
    if (w.seq == end && memcmp(w.head, c->sp.chain, 32) != 0) {
        snprintf(msg, sizeof msg,
                 "audit trail rewritten: the chain head at sequence %" PRIu64
                 " is not the one the head witness names",
                 end);
        finding(c, "spool_rewritten", "audit trail history rewritten", msg, NULL, NULL, 0);
    }
    return 0;
}
