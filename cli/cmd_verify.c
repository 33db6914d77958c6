/*
 * cmd_verify.c: `tollgate verify`: the spool's CRCs, keyed chain and head
 * witness (needs the state directory and its chain key), and, with
 * --checkpoints, the signed checkpoints read back from an export: each
 * signature, then the spool against them (rewritten history, a cut tail).
 * An auditor with only the public key and an export checks the signatures
 * and their order (--public-key without --state).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "cli/cli.h"
#include "collector/collector.h"
#include "gateway/gateway.h"

#define MAX_FILES 64

typedef struct {
    EVP_PKEY *pub;
    char key_id[17];
    col_vpoint_t *v;
    size_t n, cap;
    uint64_t max_seq;
    int problems;
} ckpts_t;

static void problem(ckpts_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(ckpts_t *c, const char *fmt, ...)
{
    char line[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    cli_err_escaped("tollgate verify: FAILED: ", line, strlen(line));
    c->problems++;
}

static int unhex32(const char *s, unsigned char out[32])
{
    if (strlen(s) != 64)
        return -EINVAL;
    for (int i = 0; i < 64; i++) {
        char ch = s[i];
        int v = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (v < 0)
            return -EINVAL;
        out[i / 2] = (unsigned char)(i % 2 ? (out[i / 2] | v) : v << 4);
    }
    return 0;
}

static const char *ustr(json_t *um, const char *k)
{
    return json_string_value(json_object_get(um, k));
}

static bool sig_ok(ckpts_t *c, const char *text, const char *b64)
{
    unsigned char sig[128];
    size_t bn = strlen(b64);
    if (bn != 88)
        return false;
    int n = EVP_DecodeBlock(sig, (const unsigned char *)b64, (int)bn);
    if (n != 66)
        return false;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, c->pub) == 1 &&
              EVP_DigestVerify(md, sig, 64, (const unsigned char *)text, strlen(text)) == 1;
    EVP_MD_CTX_free(md);
    return ok;
}

/* One line of an export: a checkpoint event is checked and kept. */
static void one_line(ckpts_t *c, const char *file, size_t lineno, const char *line)
{
    json_t *ev = json_loads(line, JSON_DISABLE_EOF_CHECK, NULL);
    json_t *um = json_object_get(ev, "unmapped");
    const char *sig = ustr(um, "checkpoint_sig"), *head = ustr(um, "checkpoint_head");
    const char *seqs = ustr(um, "checkpoint_seq"), *tms = ustr(um, "checkpoint_time");
    const char *key = ustr(um, "checkpoint_key");
    if (!sig) {
        json_decref(ev);
        return;
    }
    col_vpoint_t p = {0};
    char text[300];
    char *end = NULL;
    p.seq = seqs ? strtoull(seqs, &end, 10) : 0;
    if (!head || !tms || !key || !end || *end || unhex32(head, p.head) != 0) {
        problem(c, "%s:%zu: a checkpoint event without its fields", file, lineno);
    } else if (strcmp(key, c->key_id) != 0) {
        problem(c,
                "%s:%zu: checkpoint at sequence %" PRIu64 " is signed by key %s, not by the "
                "public key's %s",
                file, lineno, p.seq, key, c->key_id);
    } else if (col_ckpt_text(p.seq, p.head, strtoll(tms, NULL, 10), key, text, sizeof text),
               !sig_ok(c, text, sig)) {
        problem(c,
                "%s:%zu: checkpoint at sequence %" PRIu64 ": the signature does not verify "
                "(forged or altered)",
                file, lineno, p.seq);
    } else {
        bool dup = false;
        for (size_t i = 0; i < c->n && !dup; i++)
            if (c->v[i].seq == p.seq) {
                dup = true;
                if (memcmp(c->v[i].head, p.head, 32) != 0)
                    problem(c,
                            "%s:%zu: two signed checkpoints name sequence %" PRIu64
                            " with different chain heads",
                            file, lineno, p.seq);
            }
        if (!dup && p.seq < c->max_seq)
            problem(c,
                    "%s:%zu: checkpoint at sequence %" PRIu64 " comes after one at %" PRIu64
                    ": out of order",
                    file, lineno, p.seq, c->max_seq);
        if (!dup) {
            if (c->n == c->cap) {
                col_vpoint_t *nv = realloc(c->v, (c->cap = c->cap ? c->cap * 2 : 64) * sizeof *nv);
                if (!nv)
                    abort();
                c->v = nv;
            }
            c->v[c->n++] = p;
            if (p.seq > c->max_seq)
                c->max_seq = p.seq;
        }
    }
    json_decref(ev);
}

static int read_file(ckpts_t *c, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "tollgate verify: %s: %s\n", path, strerror(errno));
        return -errno;
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    while (getline(&line, &cap, f) > 0)
        one_line(c, path, ++lineno, line);
    free(line);
    fclose(f);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A file, or every *.jsonl of a directory (compressed rotations: unpack
 * them first). */
static int read_path(ckpts_t *c, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return read_file(c, path);
    DIR *d = opendir(path);
    char *names[256];
    size_t n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) && n < 256) {
        size_t l = strlen(e->d_name);
        if (l > 6 && strcmp(e->d_name + l - 6, ".jsonl") == 0)
            names[n++] = strdup(e->d_name);
    }
    if (d)
        closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char p[4400];
        snprintf(p, sizeof p, "%s/%s", path, names[i]);
        if (rc == 0)
            rc = read_file(c, p);
        free(names[i]);
    }
    return rc;
}

static int load_pub(ckpts_t *c, const char *path)
{
    FILE *f = fopen(path, "r");
    c->pub = f ? PEM_read_PUBKEY(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    if (!c->pub || EVP_PKEY_get_base_id(c->pub) != EVP_PKEY_ED25519 ||
        col_ckpt_key_id(c->pub, c->key_id) != 0) {
        fprintf(stderr, "tollgate verify: %s: not an Ed25519 public key (PEM)\n", path);
        return -EINVAL;
    }
    return 0;
}

static int cmp_point(const void *a, const void *b)
{
    uint64_t x = ((const col_vpoint_t *)a)->seq, y = ((const col_vpoint_t *)b)->seq;
    return x < y ? -1 : x > y;
}

/* The spool against the checkpoints (state set), after col_verify_ex. */
static void points_report(ckpts_t *c, const col_verify_opts_t *o, int rc)
{
    for (size_t i = 0; i < c->n; i++) {
        const col_vpoint_t *p = &c->v[i];
        if (p->state < 0)
            problem(c,
                    "signed checkpoint at sequence %" PRIu64 ": the spool's chain head there "
                    "differs (history rewritten)",
                    p->seq);
        else if (p->state == 0 && rc == 0 && p->seq > o->last_seq && i + 1 == c->n)
            problem(c,
                    "the spool ends at sequence %" PRIu64 " but a signed checkpoint names %" PRIu64
                    ": sequences %" PRIu64 "..%" PRIu64 " were cut",
                    o->last_seq, p->seq, o->last_seq + 1, p->seq);
        else if (p->state == 0 && rc == 0 && p->seq >= o->first_seq && p->seq <= o->last_seq)
            problem(c,
                    "signed checkpoint at sequence %" PRIu64 ": that record is missing from "
                    "the spool",
                    p->seq);
    }
}

static int run(const char *dir, const char **files, size_t nfiles, const char *pub)
{
    ckpts_t c = {0};
    char spool[4200], pubpath[4200], err[600];
    if (nfiles) {
        snprintf(pubpath, sizeof pubpath, "%s/keys/checkpoint.pub", dir ? dir : ".");
        if (load_pub(&c, pub ? pub : pubpath) != 0)
            return CLI_EXIT_FAIL;
        for (size_t i = 0; i < nfiles; i++)
            if (read_path(&c, files[i]) != 0)
                c.problems++;
        qsort(c.v, c.n, sizeof *c.v, cmp_point);
    }
    int rc = 0;
    col_verify_opts_t o = {.points = c.v, .npoints = c.n};
    if (dir) {
        snprintf(spool, sizeof spool, "%s/spool", dir);
        rc = col_verify_ex(spool, &o, err, sizeof err);
        if (rc)
            problem(&c, "%s", err);
        points_report(&c, &o, o.walked ? 0 : rc);
        if (o.notes[0])
            fprintf(stderr, "tollgate verify: note: %s", o.notes);
    }
    if (c.problems) {
        if (dir)
            fprintf(stderr, "tollgate verify: %" PRIu64 " records checked\n", o.records);
    } else if (dir) {
        printf("ok: %" PRIu64 " records (sequences %" PRIu64 "..%" PRIu64 "), CRCs, keyed chain "
               "and head witness intact (%s)",
               o.records, o.first_seq, o.last_seq, spool);
        if (nfiles)
            printf("; %zu signed checkpoints (key %s) verified and found in the spool", c.n,
                   c.key_id);
        printf("\n");
    } else {
        printf("ok: %zu signed checkpoints verified with key %s (sequences %" PRIu64 "..%" PRIu64
               ", in order); no state directory: the spool itself was not checked\n",
               c.n, c.key_id, c.n ? c.v[0].seq : 0, c.max_seq);
    }
    EVP_PKEY_free(c.pub);
    free(c.v);
    return c.problems ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

static void usage(void)
{
    printf("usage: tollgate verify [--state DIR] [--checkpoints FILE|DIR]... [--public-key PEM]\n\n"
           "Checks every record of the spool: CRC-32C, sequence continuity, the keyed chain\n"
           "(HMAC-SHA-256 under DIR/keys/chain.key) and the head witness DIR/head (a spool\n"
           "that ends before it was cut). --checkpoints reads the signed checkpoint events of\n"
           "an export (NDJSON, one event per line; a directory: its *.jsonl files), verifies\n"
           "each signature (--public-key, default DIR/keys/checkpoint.pub) and checks that\n"
           "the spool passes through every one. With --public-key and no --state only the\n"
           "checkpoints are checked (an auditor without the state directory).\n"
           "Exit 1 with one line per problem, naming sequences and segments.\n");
}

int cli_verify(int argc, char **argv)
{
    const char *state = NULL, *pub = NULL, *files[MAX_FILES];
    size_t nfiles = 0;
    char dir[4096], err[512];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return CLI_EXIT_OK;
        } else if (strcmp(a, "--state") == 0 && i + 1 < argc) {
            state = argv[++i];
        } else if (strcmp(a, "--public-key") == 0 && i + 1 < argc) {
            pub = argv[++i];
        } else if (strcmp(a, "--checkpoints") == 0 && i + 1 < argc && nfiles < MAX_FILES) {
            files[nfiles++] = argv[++i];
        } else {
            cli_err_escaped("tollgate verify: unknown option: ", a, strlen(a));
            return CLI_EXIT_USAGE;
        }
    }
    if (pub && !state)
        return run(NULL, files, nfiles, pub);
    if (gw_state_dir(state, dir, sizeof dir, err, sizeof err) != 0) {
        fprintf(stderr, "tollgate verify: %s\n", err);
        return CLI_EXIT_FAIL;
    }
    return run(dir, files, nfiles, pub);
}
