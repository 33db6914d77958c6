/* Unit tests of the request framing inside intercepted tunnels
 * (proxy/mitm_frame.c): where requests end, and which targets and Host
 * headers name the tunnel's host. */
#include "unit.h"

#include <errno.h>
#include <string.h>

#include "proxy/mitm_internal.h"

/* Feeds one request's bytes: the head, then (resumed) the rest. Returns the
 * feed's result; *taken says how many bytes the request took. */
static int frame_one(px__frame_t *f, const char *req, size_t n, size_t *taken)
{
    char err[200];
    size_t used;
    *taken = 0;
    int rc = px__frame_feed(f, req, n, &used, err, sizeof err);
    *taken = used;
    if (rc || !f->head_done)
        return rc;
    px__frame_resume(f);
    rc = px__frame_feed(f, req + *taken, n - *taken, &used, err, sizeof err);
    *taken += used;
    return rc;
}

static int target(const char *req, const char *host, uint16_t port, char *path, char *query)
{
    px__frame_t f;
    ocsf_buf_t p, q;
    bool hq;
    char reason[300];
    size_t taken;
    px__frame_init(&f, 8192);
    ocsf_buf_init(&p);
    ocsf_buf_init(&q);
    int rc = frame_one(&f, req, strlen(req), &taken);
    if (rc == 0)
        rc = px__frame_target(&f, host, port, &p, &q, &hq, reason, sizeof reason);
    snprintf(path, 64, "%.*s", (int)p.len, p.p ? p.p : "");
    snprintf(query, 64, "%s%.*s", hq ? "?" : "", (int)q.len, q.p ? q.p : "");
    ocsf_buf_dispose(&p);
    ocsf_buf_dispose(&q);
    px__frame_dispose(&f);
    return rc;
}

static void targets_and_hosts(void **state)
{
    (void)state;
    char path[64], query[64];
    assert_int_equal(target("GET /a/b?x=1 HTTP/1.1\r\nHost: api.example\r\n\r\n", "api.example",
                            443, path, query),
                     0);
    assert_string_equal(path, "/a/b");
    assert_string_equal(query, "?x=1");
    assert_int_equal(
        target("GET / HTTP/1.1\r\nHost: API.Example.:443\r\n\r\n", "api.example", 443, path, query),
        0);
    assert_int_equal(
        target("GET / HTTP/1.1\r\nHost: api.example:444\r\n\r\n", "api.example", 443, path, query),
        -EPERM);
    assert_int_equal(
        target("GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n", "api.example", 443, path, query),
        -EPERM);
    assert_int_equal(target("GET / HTTP/1.1\r\n\r\n", "api.example", 443, path, query), -EINVAL);
    assert_int_equal(target("GET / HTTP/1.0\r\n\r\n", "api.example", 443, path, query), 0);
    assert_int_equal(target("GET / HTTP/1.1\r\nHost: api.example\r\nHost: api.example\r\n\r\n",
                            "api.example", 443, path, query),
                     -EINVAL);
    assert_int_equal(target("GET https://api.example/p?q HTTP/1.1\r\nHost: api.example\r\n\r\n",
                            "api.example", 443, path, query),
                     0);
    assert_string_equal(path, "/p");
    assert_string_equal(query, "?q");
    assert_int_equal(target("GET https://evil.example/p HTTP/1.1\r\nHost: api.example\r\n\r\n",
                            "api.example", 443, path, query),
                     -EPERM);
    assert_int_equal(target("GET / HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n", "::1", 8443, path, query),
                     0);
    assert_int_equal(target("GET / HTTP/1.1\r\nHost: 127.1\r\n\r\n", "127.0.0.1", 80, path, query),
                     0);
    assert_int_equal(target("CONNECT a:1 HTTP/1.1\r\nHost: a\r\n\r\n", "a", 1, path, query),
                     -EINVAL);
}

static void framing(void **state)
{
    (void)state;
    static const char two[] = "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "3\r\nabc\r\n0\r\n\r\n"
                              "GET /y HTTP/1.1\r\nHost: h\r\n\r\n";
    px__frame_t f;
    size_t taken;
    px__frame_init(&f, 8192);
    assert_int_equal(frame_one(&f, two, sizeof two - 1, &taken), 0);
    assert_true(f.msg_done);
    assert_true(px__frame_has_body(&f) || f.msg_done);
    assert_memory_equal(two + taken, "GET /y", 6);
    size_t first = taken;
    px__frame_reset(&f);
    assert_int_equal(frame_one(&f, two + first, sizeof two - 1 - first, &taken), 0);
    assert_true(f.msg_done);
    assert_int_equal(first + taken, sizeof two - 1);
    assert_string_equal(f.method, "GET");
    /* a head over the limit, and garbage */
    px__frame_t small;
    px__frame_init(&small, 64);
    char big[200];
    memset(big, 'a', sizeof big);
    memcpy(big, "GET /", 5);
    char err[100];
    size_t used;
    assert_int_equal(px__frame_feed(&small, big, sizeof big, &used, err, sizeof err), -E2BIG);
    px__frame_reset(&f);
    assert_int_equal(px__frame_feed(&f, "\x16\x03\x01\x00", 4, &used, err, sizeof err), -EINVAL);
    /* Expect: 100-continue is noted; zero bytes are not an EOF */
    px__frame_reset(&f);
    static const char ec[] = "PUT /u HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
                             "Content-Length: 5\r\n\r\n";
    assert_int_equal(frame_one(&f, ec, sizeof ec - 1, &taken), 0);
    assert_true(f.expect_continue && px__frame_has_body(&f) && !f.msg_done);
    assert_int_equal(px__frame_feed(&f, "", 0, &used, err, sizeof err), 0);
    assert_int_equal(px__frame_feed(&f, "hello", 5, &used, err, sizeof err), 0);
    assert_true(f.msg_done);
    px__frame_dispose(&f);
    px__frame_dispose(&small);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(targets_and_hosts),
        cmocka_unit_test(framing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
