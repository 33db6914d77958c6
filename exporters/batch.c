/*
 * batch.c: the verdicts a sink gives the events of a batch.
 */
#include <stdlib.h>
#include <string.h>

#include "exporters/sink.h"

void exp_batch_set(exp_batch_t *b, size_t i, exp_verdict_t v, const char *reason)
{
    if (i >= b->n)
        return;
    b->verdict[i] = (uint8_t)v;
    if (b->reason) {
        free(b->reason[i]);
        b->reason[i] = reason ? strdup(reason) : NULL;
    }
}
