/*
 * when.c: the --since/--until values every command takes (logs, report):
 * a duration back from now, an RFC 3339 time, the same without a zone (UTC),
 * or a date (UTC; as --until, the whole day).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "gateway/gateway.h"

int cli_parse_when(const char *s, bool until, int64_t *out)
{
    int y, m, d;
    char tail;
    if (sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3) {
        if (m < 1 || m > 12 || d < 1 || d > 31)
            return -1;
        struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d};
        *out = (int64_t)timegm(&tm) * 1000 + (until ? 86400000 - 1 : 0);
        return 0;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (gw_parse_time(s, now, out) == 0)
        return 0;
    /* 2026-12-03T22:46:00[.250] without a zone: UTC, like a bare date */
    char z[64];
    size_t n = strlen(s);
    if (n < 19 || n > sizeof z - 2 || (s[10] != 'T' && s[10] != 't' && s[10] != ' '))
        return -1;
    memcpy(z, s, n);
    z[10] = 'T';
    z[n] = 'Z';
    z[n + 1] = '\0';
    return gw_parse_time(z, now, out);
}
