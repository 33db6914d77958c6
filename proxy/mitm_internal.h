/*
 * mitm_internal.h: what the files of TLS interception share (mitm.c: the
 * TLS and socket side; mitm_http.c: requests, decisions, events;
 * mitm_frame.c: the framing of one request, pure, also fed by
 * fuzz/fuzz_mitm.c). Loop thread only.
 */
#ifndef TOLLGATE_PROXY_MITM_INTERNAL_H
#define TOLLGATE_PROXY_MITM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <http_parser.h>

#include "ocsf/ocsf.h"

/* ---- mitm_frame.c: one request's framing inside a tunnel --------------------- */

typedef struct {
    http_parser hp;
    size_t max_head;   /* request line + headers; over: -E2BIG */
    size_t head_bytes; /* of this request's head, so far */
    bool head_done;    /* paused after the head: the next byte (its last LF) is unfed */
    bool msg_done;     /* paused after the message's last byte */
    bool in_value;
    ocsf_buf_t url;         /* the request target as sent */
    ocsf_buf_t name, value; /* the header being read */
    int nhost;              /* Host headers seen */
    char host[256];         /* the (first) Host value, cut at 255 */
    bool host_too_long;
    bool expect_continue; /* Expect: 100-continue */
    char method[24];
} px__frame_t;

void px__frame_init(px__frame_t *f, size_t max_head);
void px__frame_dispose(px__frame_t *f);
/* Ready for the next request on the connection. */
void px__frame_reset(px__frame_t *f);
/* Feeds request bytes; *used of them were taken. Stops (and pauses) after
 * the head (head_done; the head's last LF is the next byte, fed again
 * after px__frame_resume) and after the message (msg_done; what follows is
 * the next request's). 0, -E2BIG (the head is over max_head), -EINVAL (not
 * valid HTTP/1.x: the parser's text in err). */
int px__frame_feed(px__frame_t *f, const char *p, size_t n, size_t *used, char *err, size_t errlen);
void px__frame_resume(px__frame_t *f);
/* After the head: true when body bytes follow it (Content-Length > 0 or
 * chunked); an upgrade request (websocket) has none. */
bool px__frame_has_body(const px__frame_t *f);
bool px__frame_upgrade(const px__frame_t *f);
bool px__frame_keep_alive(const px__frame_t *f);

/* The request's target against the tunnel's host (normalised, as
 * px_host_normalize gives it) and port: origin form, or absolute form whose
 * authority must name the same host and port; the Host header (one, required
 * for HTTP/1.1) likewise, its port checked when given. Fills path (never
 * empty; "*" for OPTIONS *) and query (absent: *has_query false), both as
 * sent. 0; -EINVAL (malformed: 400) or -EPERM (another host: 403) with a
 * reason (untrusted bytes in it are cut, not escaped: escape on display). */
int px__frame_target(px__frame_t *f, const char *host, uint16_t port, ocsf_buf_t *path,
                     ocsf_buf_t *query, bool *has_query, char *reason, size_t reasonlen);

/* ---- the interception of one tunnel (mitm.c, mitm_http.c) --------------------- */

#include <openssl/ssl.h>

#include "proxy/px_internal.h"

/* One side of the tunnel: the client (the proxy is its TLS server) or the
 * upstream (the proxy is its TLS client). */
typedef struct {
    SSL *ssl;         /* NULL: plain HTTP in the tunnel */
    BIO *rbio, *wbio; /* ssl's network side: memory BIOs owned by ssl */
    ocsf_buf_t raw;   /* plain: bytes read from the socket, not taken yet */
    size_t pending;   /* bytes queued toward this side's socket */
    bool sock_eof;    /* the socket gave EOF (or an error) */
    bool plain_eof;   /* no more plaintext will come from this side */
    bool hs_done;     /* the handshake is complete (always true when plain) */
    bool reading;
} px__mside_t;

typedef enum {
    PX_M_PEEK,   /* the client's first bytes tell TLS or plain */
    PX_M_HEAD,   /* a request head */
    PX_M_WAIT,   /* allowed; the upstream's TLS handshake is not done yet */
    PX_M_BODY,   /* the request (head, body) goes upstream; its response comes back */
    PX_M_RESP,   /* the request has gone; the response is still coming */
    PX_M_DRAIN,  /* denied: the request's body is read and dropped */
    PX_M_WS,     /* after a 101: bytes both ways, unparsed */
    PX_M_ENDING, /* the last reply is flushed, then the connection closes */
} px__mstate_t;

typedef struct px__mitm {
    px_conn_t *c;
    bool tls;
    px__mside_t cl, up;
    px__mstate_t st;
    char up_err[600]; /* why the upstream's TLS failed ("": it did not) */
    char cl_err[600]; /* why the client's TLS was refused (SNI) */
    px__frame_t f;
    ocsf_buf_t cin, uin; /* plaintext from the client / upstream, not handled yet */
    size_t fed;          /* bytes of cin the frame has taken */
    /* the request in flight */
    http_parser resp;
    bool req_done, resp_done, resp_started, ws, event_pending, had_upgrade;
    int status;               /* the response's (or the proxy's) status; 0: none */
    uint64_t req_in, req_out; /* plaintext bytes of this exchange */
    int64_t req_start;
    bool allowed, audit; /* the verdict */
    char rule[128], matched[256], reason[600];
    ocsf_buf_t path, query;
    bool has_query;
    char method[24];
    uint64_t nreq;
} px__mitm_t;

/* mitm.c for mitm_http.c */
/* Queues plaintext toward the client (to_up false) or upstream. 0 or -1. */
int px__mitm_send(px__mitm_t *m, bool to_up, const char *p, size_t n);
/* Moves up to max plaintext bytes from a side into dst; sets plain_eof. */
size_t px__mitm_fill(px__mitm_t *m, bool up, ocsf_buf_t *dst, size_t max);
/* Ends the tunnel once what is queued toward the client is flushed (TLS
 * close_notify first). */
void px__mitm_finish(px__mitm_t *m);

/* mitm_http.c */
/* Runs the requests as far as the bytes at hand allow. */
void px__mitm_http_step(px__mitm_t *m);
/* NET:REFUSE for a tunnel refused before any request (an SNI that names
 * another host). */
void px__mitm_event_refuse(px__mitm_t *m, const char *reason);
/* The connection closes: the event of a request still in flight. */
void px__mitm_http_close(px__mitm_t *m);
/* A reply from the proxy (JSON body as px__refuse writes). */
void px__mitm_reply(px__mitm_t *m, int status, const char *error, const char *detail,
                    const char *reason, bool close);

#endif
