/*
 * config.c: the collector's settings table (see conf/conf.h): what
 * `tollgate gateway --config FILE` accepts under spool.* and ring.*, with
 * defaults, bounds and the reference text.
 */
#include <stddef.h>
#include <string.h>

#include "collector/collector.h"

#define O(f) offsetof(col_config_t, f)

const conf_option_t col_options[] = {
    {"spool.fsync", CONF_ENUM, "interval", 0, 0, "always|interval|never", O(fsync),
     "when an append is acknowledged durable: after its own fsync, a group fsync every "
     "spool.fsync_interval, or after write() only"},
    {"spool.fsync_interval", CONF_DURATION, "100ms", 1, 60000, NULL, O(fsync_interval_ms),
     "group-commit interval for spool.fsync = interval"},
    {"spool.when_full", CONF_ENUM, "block", 0, 0, "block|drop_newest", O(when_full),
     "when the ring is full: producers wait, or the newest event is dropped, counted and "
     "reported"},
    {"spool.segment_bytes", CONF_BYTES, "64MiB", 64 << 10, 1ll << 34, NULL, O(segment_bytes),
     "a segment file rotates at this size"},
    {"spool.retention_bytes", CONF_BYTES, "4GiB", 0, INT64_MAX, NULL, O(retention_bytes),
     "delete the oldest segments past this total (0: keep all)"},
    {"spool.retention_age", CONF_DURATION, "30d", 0, INT64_MAX, NULL, O(retention_age_ms),
     "delete segments whose newest event is older (0: keep all)"},
    {"spool.max_bytes", CONF_BYTES, "16GiB", 0, INT64_MAX, NULL, O(max_bytes),
     "the spool's cap: retention keeps what an exporter has not delivered up to here; past "
     "it new events wait or are dropped (spool.when_full) and a CONFIG event says so "
     "(0: no cap)"},
    {"spool.drop_report_interval", CONF_DURATION, "10s", 1, 3600000, NULL, O(drop_report_ms),
     "at most one \"N events dropped\" event per interval"},
    {"spool.checkpoint_events", CONF_INT, "1000", 1, 100000000, NULL, O(checkpoint_events),
     "a signed checkpoint (sequence, chain head; Ed25519) every this many events"},
    {"spool.checkpoint_interval", CONF_DURATION, "60s", 100, 86400000, NULL, O(checkpoint_ms),
     "... or after this long when anything was written (and at a clean stop)"},
    {"ring.bytes", CONF_BYTES, "16MiB", 4096, 1ll << 32, NULL, O(ring_bytes),
     "the in-memory ring between producers and the spool writer (a power of two)"},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL},
};

void col_config_default(col_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    conf_defaults(col_options, cfg);
    cfg->product = (ocsf_product_t){OCSF_STR("tollgate-collector"), OCSF_STR(TOLLGATE_VENDOR),
                                    OCSF_STR(TOLLGATE_VERSION)};
}
