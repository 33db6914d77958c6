/*
 * lines.c: bounded line reading for commands that take JSON lines.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "ocsf/ocsf.h"

void cli_lines_init(cli_lines_t *r, FILE *f, size_t max)
{
    memset(r, 0, sizeof *r);
    r->f = f;
    r->max = max;
}

void cli_lines_dispose(cli_lines_t *r)
{
    free(r->buf);
    r->buf = NULL;
}

int cli_lines_next(cli_lines_t *r, const char **line, size_t *n)
{
    bool toolong = false, any = false;
    int c;
    r->len = 0;
    if (r->eof)
        return 0;
    while ((c = getc_unlocked(r->f)) != EOF && c != '\n') {
        any = true;
        if (r->len >= r->max) {
            toolong = true;
            continue;
        }
        if (r->len + 1 >= r->cap) {
            size_t cap = r->cap ? r->cap * 2 : 4096;
            char *p = realloc(r->buf, cap);
            if (!p)
                abort(); /* bounded by max: see STYLE rule 11 */
            r->buf = p;
            r->cap = cap;
        }
        r->buf[r->len++] = (char)c;
    }
    if (c == EOF) {
        if (ferror(r->f))
            return -EIO;
        r->eof = true;
        if (!any)
            return 0;
    }
    r->lineno++;
    if (toolong)
        return -E2BIG;
    if (r->len && r->buf[r->len - 1] == '\r')
        r->len--;
    *line = r->buf ? r->buf : "";
    *n = r->len;
    return 1;
}

void cli_err_escaped(const char *prefix, const char *s, size_t n)
{
    ocsf_buf_t b;
    ocsf_buf_init(&b);
    ocsf_buf_puts(&b, prefix);
    ocsf_text_escape(&b, s, n, 512, OCSF_ESC_MSG);
    ocsf_buf_putc(&b, '\n');
    fwrite(b.p, 1, b.len, stderr);
    ocsf_buf_dispose(&b);
}
