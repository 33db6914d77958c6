/*
 * stdout_internal.h: what the stdout sink's files share. Not for outside.
 */
#ifndef TOLLGATE_EXPORTERS_STDOUT_INTERNAL_H
#define TOLLGATE_EXPORTERS_STDOUT_INTERNAL_H

#include <stdint.h>

#include "exporters/sink.h"

enum { STDOUT__JSON = 0, STDOUT__LOG = 1 };

typedef struct {
    int format; /* STDOUT__JSON: NDJSON; STDOUT__LOG: the human file lines */
    int64_t fd; /* 1 (CONF_INT is an int64_t) */
} stdout__config_t;

extern const conf_option_t stdout__options[];

#endif
