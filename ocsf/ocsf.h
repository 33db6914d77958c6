/*
 * ocsf.h: the OCSF v1.7.0 event library of tollgate.
 *
 * What it does: the event struct for every class tollgate emits (Network
 * Activity 4001, HTTP Activity 4002, Detection Finding 2004, Device Config
 * State Change 5019, Application Lifecycle 6002, Process Activity 1007), the
 * one JSON encoder (compact, one line, keys sorted at every level), the
 * decoder for events that come from other processes (jansson), the validator
 * against the project's own schemas/, and the human line of any JSON event.
 *
 * Contract:
 *  - No I/O, no global mutable state. Every function is safe to call from any
 *    thread on distinct objects.
 *  - Strings are length-carrying (ocsf_str_t) and may hold any bytes: NUL,
 *    invalid UTF-8, control characters. Every string reaches JSON through
 *    ocsf_json_escape() and a human line through ocsf_text_escape(); neither
 *    can produce a raw control byte, a second line or invalid UTF-8.
 *  - An ocsf_event_t borrows its strings, except after ocsf_decode(), which
 *    makes the event own them until ocsf_event_dispose().
 *  - Functions return 0 or a negative errno-style code. Those that fail for
 *    interesting reasons take `char *err, size_t errlen` and say why there.
 *  - Output buffers grow; a failed allocation aborts (the OOM policy of
 *    ocsf_buf_t). Input string fields are bounded by OCSF_MAX_FIELD.
 */
#ifndef TOLLGATE_OCSF_H
#define TOLLGATE_OCSF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The product identity written into metadata.product. */
#define TOLLGATE_VENDOR  "tollgate"
#define TOLLGATE_VERSION "0.1.0"

/* ---- strings and buffers ------------------------------------------------ */

/* A borrowed byte string. p == NULL means "absent"; n == 0 with p != NULL is
 * the empty string. */
typedef struct {
    const char *p;
    size_t n;
} ocsf_str_t;

#define OCSF_STR(lit) ((ocsf_str_t){(lit), sizeof(lit) - 1})
#define OCSF_NOSTR    ((ocsf_str_t){NULL, 0})

/* strlen() wrapper: NULL gives an absent string. */
ocsf_str_t ocsf_str(const char *s);
bool ocsf_str_eq(ocsf_str_t a, ocsf_str_t b);

/* A growable byte buffer. init/dispose: caller storage. Allocation failure
 * aborts the process. The bytes are not NUL-terminated unless
 * ocsf_buf_cstr() is called. */
typedef struct {
    char *p;
    size_t len;
    size_t cap;
} ocsf_buf_t;

void ocsf_buf_init(ocsf_buf_t *b);
void ocsf_buf_dispose(ocsf_buf_t *b);
void ocsf_buf_reserve(ocsf_buf_t *b, size_t more);
void ocsf_buf_put(ocsf_buf_t *b, const void *p, size_t n);
void ocsf_buf_putc(ocsf_buf_t *b, char c);
void ocsf_buf_puts(ocsf_buf_t *b, const char *s);
void ocsf_buf_put_i64(ocsf_buf_t *b, int64_t v);
const char *ocsf_buf_cstr(ocsf_buf_t *b); /* NUL-terminates, returns p */

/* The one JSON string escaper: appends `"` + escaped bytes + `"`. Invalid
 * UTF-8 becomes U+FFFD; C0/C1 controls, DEL, U+2028/U+2029 become \u escapes.
 * The output is always valid UTF-8 JSON. At most OCSF_MAX_FIELD input bytes
 * are used (cut on a UTF-8 boundary). */
#define OCSF_MAX_FIELD (64 * 1024)
void ocsf_json_escape(ocsf_buf_t *b, const char *s, size_t n);

/* The human-line escaper. Keeps printable ASCII and valid UTF-8 (minus
 * controls and bidi overrides); writes \xHH for every other byte and for
 * `\`, `[`, `]` (so no byte from outside can open or close a context
 * bracket). OCSF_ESC_SPACE also escapes the space (values that sit between
 * keys). `limit` > 0 cuts the input at `limit` bytes on a UTF-8 boundary and
 * appends "...". */
#define OCSF_ESC_SPACE 0x1u
#define OCSF_ESC_QUOTE 0x2u /* also escape `"` */
/* For a message line (an error text): keep `\`, `[` and `]`; control bytes,
 * invalid UTF-8 and bidi controls are still escaped. */
#define OCSF_ESC_MSG 0x4u
void ocsf_text_escape(ocsf_buf_t *b, const char *s, size_t n, size_t limit, unsigned flags);

/* Formats 16 random bytes (from the caller's CSPRNG) as a version 4 UUID:
 * 36 characters plus NUL. */
void ocsf_uuid_v4(const uint8_t rnd[16], char out[37]);

/* ---- ids ---------------------------------------------------------------- */

#define OCSF_NONE INT64_MIN /* an absent integer attribute */

enum {
    OCSF_CLASS_PROCESS = 1007,
    OCSF_CLASS_FINDING = 2004,
    OCSF_CLASS_NETWORK = 4001,
    OCSF_CLASS_HTTP = 4002,
    OCSF_CLASS_CONFIG = 5019,
    OCSF_CLASS_LIFECYCLE = 6002,
};

enum { OCSF_OTHER = 99 };

/* Network Activity 4001 activities */
enum { OCSF_NET_OPEN = 1, OCSF_NET_CLOSE = 2, OCSF_NET_FAIL = 4, OCSF_NET_LISTEN = 7 };
/* Application Lifecycle 6002 activities */
enum { OCSF_APP_START = 3, OCSF_APP_STOP = 4 };
/* Process Activity 1007 */
enum { OCSF_PROC_LAUNCH = 1 };
/* Detection Finding 2004 */
enum { OCSF_FINDING_CREATE = 1 };
/* Device Config State Change 5019 */
enum { OCSF_CONFIG_LOG = 1 };

enum {
    OCSF_SEV_UNKNOWN = 0,
    OCSF_SEV_INFO = 1,
    OCSF_SEV_LOW = 2,
    OCSF_SEV_MEDIUM = 3,
    OCSF_SEV_HIGH = 4,
    OCSF_SEV_CRITICAL = 5,
    OCSF_SEV_FATAL = 6,
};
enum { OCSF_ACTION_ALLOWED = 1, OCSF_ACTION_DENIED = 2, OCSF_ACTION_OBSERVED = 3 };
enum { OCSF_DISP_ALLOWED = 1, OCSF_DISP_BLOCKED = 2, OCSF_DISP_DETECTED = 15 };
enum { OCSF_STATUS_SUCCESS = 1, OCSF_STATUS_FAILURE = 2 }; /* all but 2004 */
enum { OCSF_FSTATUS_NEW = 1 };                             /* 2004 */
enum { OCSF_CONF_LOW = 1, OCSF_CONF_MEDIUM = 2, OCSF_CONF_HIGH = 3 };
enum { OCSF_DEVICE_SERVER = 1 };
enum { OCSF_HASH_SHA256 = 3 };
enum { OCSF_FILE_REGULAR = 1 };

/* HTTP Activity 4002 activity for a request method (GET 3, POST 6, ...);
 * OCSF_OTHER for a method OCSF does not list. */
int ocsf_http_activity(ocsf_str_t method);

/* ---- the event ---------------------------------------------------------- */

typedef struct {
    ocsf_str_t name, vendor_name, version;
} ocsf_product_t;

typedef struct {
    int64_t pid;
    ocsf_str_t name; /* process.name */
    ocsf_str_t cmd_line;
    ocsf_str_t uid;       /* process.uid */
    ocsf_str_t path;      /* process.file.path */
    ocsf_str_t file_name; /* process.file.name (required in OCSF when file is) */
    ocsf_str_t sha256;    /* process.file.hashes[SHA-256].value, lowercase hex */
    ocsf_str_t user_name; /* process.user.name */
    ocsf_str_t user_uid;  /* process.user.uid (a decimal uid) */
} ocsf_process_t;

typedef struct {
    ocsf_str_t domain, hostname, ip;
    int64_t port;
} ocsf_endpoint_t;

typedef struct ocsf_event {
    int class_uid;
    int activity_id;
    ocsf_str_t activity_other; /* activity_name when activity_id == 99 */
    int severity_id;
    int64_t time; /* ms since the epoch */

    /* metadata */
    char uid[40]; /* metadata.uid, NUL-terminated; empty: absent */
    int64_t sequence;
    int64_t logged_time;
    ocsf_str_t log_name; /* "sandbox" or "gateway" */
    ocsf_product_t product;

    /* device (this host) and its container (the sandbox) */
    ocsf_str_t device_hostname, device_ip;
    int64_t device_type_id;
    ocsf_str_t container_name, container_uid;

    ocsf_process_t actor;   /* actor.process (absent when pid, name, path all are) */
    ocsf_process_t process; /* 1007: the launched process */
    int64_t exit_code;      /* 1007 */

    ocsf_endpoint_t dst, src;
    ocsf_endpoint_t proxy;       /* proxy_endpoint: the listener that took the connection */
    int64_t bytes_in, bytes_out; /* traffic */
    int64_t start_time, end_time, duration;

    int64_t action_id, disposition_id, status_id, confidence_id;
    ocsf_str_t status_detail, message;
    ocsf_str_t rule_name, rule_uid, rule_type; /* firewall_rule; type is the engine */

    /* 4002 */
    ocsf_str_t http_method, url_scheme, url_hostname, url_path, url_query, url_string;
    int64_t url_port, http_status;

    /* 2004 */
    ocsf_str_t finding_uid, finding_title, finding_type;

    /* 5019 */
    int64_t state_id;
    ocsf_str_t state_other; /* state when state_id == 99: "loaded", "updated", ... */
    ocsf_str_t policy_name, policy_uid, policy_version; /* policy_uid holds the hash */

    /* 6002 */
    ocsf_product_t app;

    /* unmapped: a compact JSON object. Only text produced by ocsf_decode() or
     * ocsf_unmapped_build() may go here: the encoder copies it verbatim. */
    ocsf_str_t unmapped;

    /* Owned storage after ocsf_decode(); NULL for builder-made events. */
    void *owner__;
    char *owned_unmapped__;
} ocsf_event_t;

/* Resets every field to absent (class 0). */
void ocsf_event_init(ocsf_event_t *ev);
/* Frees what ocsf_decode() made the event own; then the event is as after
 * init. Accepts an event that owns nothing. */
void ocsf_event_dispose(ocsf_event_t *ev);

/* Builders: set the class, activity and the captions' ids; the rest of the
 * fields are plain assignments. `product` is borrowed. */
void ocsf_event_begin(ocsf_event_t *ev, int class_uid, int activity_id, int severity_id,
                      int64_t time_ms, const ocsf_product_t *product);
/* Sets path, file_name (the basename) and sha256 of a process. */
void ocsf_process_set_file(ocsf_process_t *p, ocsf_str_t path, ocsf_str_t sha256);
/* A policy verdict on a 4001/4002 event: allowed (Allowed/Allowed/INFO) or
 * denied (Denied/Blocked/MEDIUM) with the reason in status_detail. */
void ocsf_event_verdict(ocsf_event_t *ev, bool allowed, ocsf_str_t rule, ocsf_str_t engine,
                        ocsf_str_t reason);

/* Field-by-field equality (strings by bytes). */
bool ocsf_event_equal(const ocsf_event_t *a, const ocsf_event_t *b);

/* Builds a compact JSON object for `unmapped` from string pairs (escaped,
 * keys sorted by the caller). Appends to `out`. */
void ocsf_unmapped_build(ocsf_buf_t *out, const ocsf_str_t *keys, const ocsf_str_t *vals, size_t n);

/* ---- captions (from schemas/, generated at build time) ----------------- */

/* NULL when the class is not one tollgate knows. */
const char *ocsf_class_name(int class_uid);
/* Caption of an enum attribute ("activity_id", "severity_id", "action_id",
 * "disposition_id", "status_id", "confidence_id", "state_id", "type_uid"
 * (give the activity id)) of a class; NULL when undefined. */
const char *ocsf_caption(int class_uid, const char *attr, int64_t id);

/* ---- JSON --------------------------------------------------------------- */

/* Appends one event as compact OCSF 1.7.0 JSON, keys sorted, no newline.
 * Returns 0, or -EINVAL (with err) when the event cannot be encoded: unknown
 * class or activity. Nothing is appended on error. */
int ocsf_encode(const ocsf_event_t *ev, ocsf_buf_t *out, char *err, size_t errlen);

/* Like ocsf_encode, but without metadata.logged_time and metadata.sequence:
 * the collector's writer fills them in when it assigns the sequence. at[0]
 * is where `"logged_time":<n>,` goes and at[1] where `"sequence":<n>,` goes
 * (byte offsets from the start of this event's output, at[0] < at[1]);
 * inserting both gives exactly what ocsf_encode writes. */
int ocsf_encode_deferred(const ocsf_event_t *ev, ocsf_buf_t *out, size_t at[2], char *err,
                         size_t errlen);

/* Decodes one JSON event. On success returns 0 and `ev` owns its strings
 * (call ocsf_event_dispose). On failure returns -EINVAL, `ev` is left
 * disposed, and err says why ("line 1: class_uid 9999 is not a class
 * tollgate accepts", "metadata.uid: expected a string"). */
int ocsf_decode(const char *json, size_t n, ocsf_event_t *ev, char *err, size_t errlen);

/* ---- validation ------------------------------------------------------- */

/* Called once per problem: `path` like "dst_endpoint.port", a message.
 * Both are printable ASCII/UTF-8 (bytes from the event are escaped). */
typedef void (*ocsf_problem_cb)(void *ctx, const char *path, const char *msg);

/* ---- any OCSF event: the bundled schemas (check.c, ingest.c) ----------- */

/* One bundled OCSF version's tables (every class, object, enum, profile),
 * generated at build time from schemas/ocsf/<version>.json. */
typedef struct ocsf_schema ocsf_schema_t;

/* NULL when `version` is not bundled. */
const ocsf_schema_t *ocsf_schema_find(const char *version, size_t n);
const char *ocsf_schema_version(const ocsf_schema_t *s);
/* "1.1.0, 1.3.0, 1.7.0, 1.8.0": the bundled versions, oldest first. */
const char *ocsf_schema_versions(void);

/* A checker: the reusable buffers of the checks below (a token array, no
 * tree per event). One per thread; not shared. */
typedef struct ocsf_checker ocsf_checker_t;
ocsf_checker_t *ocsf_checker_new(void);
void ocsf_checker_free(ocsf_checker_t *c);

#define OCSF_CHECK_FIRST 0x1u /* stop at the first problem */

/* Checks one JSON event against `force`, or (NULL) the bundled schema of
 * the version its metadata.version names, the way validate.py
 * --warnings-fail does, plus: duplicate keys, integers beyond int64 and
 * invalid UTF-8 are problems. Returns the number of problems (0: valid). */
int ocsf_check(ocsf_checker_t *c, const char *json, size_t n, const ocsf_schema_t *force,
               unsigned flags, ocsf_problem_cb cb, void *ctx);

/* An ingested event, ready for col_append_raw(). json points into the
 * input or into the checker (valid until its next use). */
typedef struct {
    const char *json;
    size_t len;
    size_t at; /* where the writer inserts "logged_time":N,"sequence":N, */
    int64_t time;
    int class_uid, severity_id, action_id; /* action_id -1: absent */
    ocsf_str_t log_name, sandbox;          /* borrowed from the input; may be absent */
    uint8_t digest[32];                    /* SHA-256 of json (what a resend repeats) */
    const ocsf_schema_t *schema;
    bool repaired; /* taken with OCSF_INGEST_REPAIR although not valid: err says why;
                    * every way out casts it into valid OCSF (ocsf_cast) */
} ocsf_ingest_t;

/* Accept an event that names a bundled version and one of its classes but
 * breaks the schema (OpenShell's: no device.type_id, custom captions, ...):
 * stored as received, marked repaired; not JSON, duplicate keys, an unknown
 * version or class are still refused. */
#define OCSF_INGEST_REPAIR 0x1u

/* Validates an event of any bundled version and prepares it for the spool,
 * as received: only a producer's metadata.sequence / logged_time move to
 * unmapped["metadata.sequence"] / ["metadata.logged_time"]. 0, or -EINVAL
 * with the first problem in err ("not valid OCSF 1.8.0: device.ip: ..."). */
int ocsf_ingest(ocsf_checker_t *c, const char *json, size_t n, unsigned flags, ocsf_ingest_t *out,
                char *err, size_t errlen);
/* Appends `json` (one event of a bundled version) cast to `target`, no
 * newline: what the target lacks goes under unmapped by its path, ids it
 * lacks become 99/0 with the original kept, what it requires is filled and
 * listed (cast.c has the rules). An event of the target version is copied
 * as is, unless OCSF_CAST_REPAIR (an event ingested as repaired: the same
 * rules make it valid for its own version). 0, or -EINVAL with err (not
 * JSON, no class_uid, an unmapped clash); nothing is appended on error. */
#define OCSF_CAST_REPAIR 0x1u /* target NULL: the event's own version */
int ocsf_cast(ocsf_checker_t *c, const char *json, size_t len, const ocsf_schema_t *target,
              unsigned flags, ocsf_buf_t *out, char *err, size_t errlen);

/* The digest ocsf_ingest() gave for the event a spool record holds (the
 * writer's insertion taken out). -ENOENT when the record was not ingested. */
int ocsf_ingest_stored_digest(ocsf_checker_t *c, const char *json, size_t n, uint8_t digest[32]);

/* ---- the human view ----------------------------------------------------- */

typedef enum {
    OCSF_LINE_SHORT, /* the shorthand alone */
    OCSF_LINE_CLI,   /* [<secs>.<ms>] [<source>] [OCSF ] [ocsf] <shorthand> */
    OCSF_LINE_FILE,  /* <UTC ISO-8601 with ms>Z OCSF <shorthand> */
} ocsf_line_fmt_t;

/* Appends the human line of one JSON event (any OCSF class, any version;
 * `json` borrowed) in `fmt`, no newline. The shorthand is OpenShell's
 * grammar, `CLASS:ACTIVITY [SEV] ACTION DETAILS [CONTEXT]` (render_json.c
 * lists it per class); every byte from the event goes through
 * ocsf_text_escape(), so the line is one line of valid UTF-8 without control
 * bytes (invalid UTF-8 in the input reads as U+FFFD). Attributes that are
 * missing or of another type are left out, never an error. Returns 0, or
 * -EINVAL (err says why; nothing appended) when `json` is not a JSON
 * object. Parses with jansson: for the log view, not the ingest path. */
int ocsf_render_json(const char *json, size_t n, ocsf_line_fmt_t fmt, ocsf_buf_t *out, char *err,
                     size_t errlen);

/* ---- samples ------------------------------------------------------------ */

/* The sample events: one per (class, activity, verdict) the project emits,
 * with fixed times and ids so they can be golden files. Returns how many;
 * fills evs[i] (borrowing static strings) for i < min(count, max). */
size_t ocsf_samples(ocsf_event_t *evs, size_t max);
/* A short name for sample i ("net_open_allowed"); NULL past the end. */
const char *ocsf_sample_name(size_t i);

#endif
