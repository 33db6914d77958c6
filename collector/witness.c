/*
 * witness.c: the head witness, <state>/head beside the spool: the last
 * sequence and its chain, MACed with the chain key, so a spool whose tail
 * was cut (records or whole segments) is visible without any export.
 *
 * Thread: the writer thread writes; anyone reads.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/col_internal.h"

#define WITNESS_MAX 256

/* The witness line without " mac=...": what the MAC covers. */
static int witness_text(col__mac_t *m, uint64_t seq, const unsigned char head[32], char *out,
                        size_t n)
{
    char hh[65], id[2 * COL__KEY_ID + 1];
    col__hex(head, 32, hh);
    col__hex(m->id, COL__KEY_ID, id);
    return snprintf(out, n, "tollgate-head v1 seq=%" PRIu64 " head=%s key=%s", seq, hh, id);
}

int col__witness_write(const char *spool_dir, col__mac_t *m, uint64_t seq,
                       const unsigned char head[32], char *err, size_t errlen)
{
    char path[COL__DIR_MAX + 8], line[WITNESS_MAX], mh[65];
    unsigned char mac[32];
    col__state_path(spool_dir, "head", path, sizeof path);
    int n = witness_text(m, seq, head, line, sizeof line);
    col__mac(m, line, (size_t)n, mac);
    col__hex(mac, 32, mh);
    n += snprintf(line + n, sizeof line - (size_t)n, " mac=%s\n", mh);
    return col__write_private(path, line, (size_t)n, 0600, err, errlen);
}

int col__witness_read(const char *spool_dir, col__mac_t *m, col__witness_t *w, char *err,
                      size_t errlen)
{
    char path[COL__DIR_MAX + 8], line[WITNESS_MAX + 1], text[WITNESS_MAX], hh[65], mh[65];
    size_t n;
    col__state_path(spool_dir, "head", path, sizeof path);
    int rc = col__read_private(path, line, WITNESS_MAX, &n, err, errlen);
    if (rc)
        return rc;
    line[n] = '\0';
    uint64_t seq;
    char id[40];
    unsigned char mac[32], want[32];
    if (sscanf(line, "tollgate-head v1 seq=%" SCNu64 " head=%64s key=%32s mac=%64s", &seq, hh, id,
               mh) != 4 ||
        col__unhex(hh, strlen(hh), w->head, 32) != 0 || col__unhex(mh, strlen(mh), mac, 32) != 0) {
        snprintf(err, errlen, "%s: not a head witness", path);
        return -EBADMSG;
    }
    int tn = witness_text(m, seq, w->head, text, sizeof text);
    col__mac(m, text, (size_t)tn, want);
    if (memcmp(want, mac, 32) != 0 || strncmp(line, text, (size_t)tn) != 0) {
        snprintf(err, errlen,
                 "%s: its MAC does not verify under keys/chain.key (altered, or "
                 "another key)",
                 path);
        return -EBADMSG;
    }
    w->seq = seq;
    return 0;
}
