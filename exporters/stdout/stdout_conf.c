/*
 * stdout_conf.c: the stdout sink's options (see conf/conf.h).
 */
#include <stddef.h>

#include "exporters/stdout/stdout_internal.h"

const conf_option_t stdout__options[] = {
    {"format", CONF_ENUM, "json", 0, 0, "json|log", offsetof(stdout__config_t, format),
     "json: one OCSF event per line (NDJSON); log: the human line of `tollgate logs`"},
    {"fd", CONF_INT, "1", 1, 1024, NULL, offsetof(stdout__config_t, fd),
     "the file descriptor written (1: standard output; 2: standard error)"},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL},
};
