/*
 * downgrade.h: the version cast by name (cast.c), for callers that hold no
 * checker: `tollgate ocsf cast|downgrade`, tests, fuzz and bench. The rules
 * are in cast.c; ocsf_cast() in ocsf.h is the same with a reused checker.
 */
#ifndef TOLLGATE_OCSF_DOWNGRADE_H
#define TOLLGATE_OCSF_DOWNGRADE_H

#include <stdbool.h>
#include <stddef.h>

#include "ocsf/ocsf.h"

/* ocsf_cast() to the bundled version named `target_version` ("1.8.0",
 * "1.7.0", "1.3.0", "1.1.0"). -EINVAL with err for a version not bundled. */
int ocsf_downgrade(const char *json, size_t len, const char *target_version, ocsf_buf_t *out,
                   char *err, size_t errlen);

/* True when `version` is bundled (ocsf_downgrade() accepts it). */
bool ocsf_downgrade_supported(const char *version);

#endif
