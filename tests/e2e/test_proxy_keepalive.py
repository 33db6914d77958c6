"""End-to-end tests of keep-alive forwarding in `tollgate up`'s proxy: one client
connection carrying many absolute-form requests (bodies framed by Content-Length
or chunked, HEAD, 204, chunked and close-delimited responses), each decided on its
own with its own HTTP:<METHOD> event; denials, smuggling attempts and bad framing
end the connection; a response that never ends meets the idle timeout. Real
clients (http.client, curl), real HTTP/1.1 upstreams on loopback (the test-only
switch proxy.test_allow_loopback on)."""
import http.client
import http.server
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from test_proxy import CURL, CURL_REAL, events, free_port, lines, set_policy, up, wait_for  # noqa: F401

PY_REAL = os.path.realpath(sys.executable)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, unlike the default 1.0
    body = b"hello from upstream\n" * 50
    seen = []  # (server port, client port, method, path, body) per request

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def _reply(self, body, status=200, chunked=False, close=False, length=True):
        self.send_response(status)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif length and status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command == "HEAD" or status in (204, 304):
            return
        if chunked:
            for i in range(0, len(body), 100):
                part = body[i:i + 100]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.wfile.write(body)

    def _handle(self):
        data = self._read_body() if self.command == "POST" else b""
        Handler.seen.append((self.server.server_address[1], self.client_address[1],
                             self.command, self.path, data, self.headers.get("Host")))
        p = self.path
        if p.startswith("/204"):
            self._reply(b"", 204)
        elif p.startswith("/chunked"):
            self._reply(self.body * 3, chunked=True)
        elif p.startswith("/close"):
            self._reply(b"closing after this\n", close=True)
        elif p.startswith("/eof"):  # close-delimited: no length, the end is the close
            self._reply(b"read me until the end\n" * 10, close=True, length=False)
        elif p.startswith("/hang"):  # promises 1000 bytes, sends 10, then waits
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.wfile.flush()
            time.sleep(8)
            self.close_connection = True
        elif self.command == "POST":
            self._reply(b"got %d bytes: %s" % (len(data), data[:40]))
        else:
            self._reply(self.body + p.encode())

    do_GET = do_HEAD = do_POST = do_PUT = _handle

    def log_message(self, *a):
        pass


@pytest.fixture(scope="module")
def ups():
    """Two HTTP/1.1 upstreams on 127.0.0.1 (policy allows both) and a third it denies."""
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler) for _ in range(3)]
    for s in servers:
        s.daemon_threads = True
        threading.Thread(target=s.serve_forever, daemon=True).start()
    yield [s.server_address[1] for s in servers]
    for s in servers:
        s.shutdown()


POLICY = """\
version: 1
network_policies:
  local:
    endpoints:
      - {{host: 127.0.0.1, port: {a}}}
      - {{host: 127.0.0.1, port: {b}}}
    binaries:
      - path: {curl}
      - path: {py}
"""


def start(up, ups, tollgate_bin, tmp_path, *extra):
    g, port = up(*extra)
    set_policy(tollgate_bin, g, tmp_path,
               POLICY.format(a=ups[0], b=ups[1], curl=CURL_REAL, py=PY_REAL))
    return g, port


def http_events(g, n, timeout=10):
    """The HTTP activity events, once there are n of them."""
    assert wait_for(lambda: len([e for e in events(g) if e["class_uid"] == 4002]) >= n, timeout)
    return [e for e in events(g) if e["class_uid"] == 4002]


def raw(port, data, wait=3.0):
    """Sends data on one connection; everything read until the proxy closes (or wait)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(data)
    s.settimeout(wait)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                return out, True
            out += b
    except socket.timeout:
        return out, False
    finally:
        s.close()


def test_one_connection_carries_many_requests(up, ups, tollgate_bin, tmp_path):
    g, port = start(up, ups, tollgate_bin, tmp_path)
    a, b = (f"http://127.0.0.1:{p}" for p in ups[:2])
    Handler.seen.clear()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    socks = []

    def ask(method, url, body=None, headers=None, **kw):
        conn.request(method, url, body=body, headers=headers or {}, **kw)
        r = conn.getresponse()
        data = r.read()
        socks.append(conn.sock)
        return r, data

    r, d = ask("GET", f"{a}/one")
    assert r.status == 200 and d == Handler.body + b"/one"
    r, d = ask("GET", f"{a}/two?x=1")
    assert r.status == 200 and d == Handler.body + b"/two?x=1"
    r, d = ask("GET", f"{b}/other")  # another upstream, another decision
    assert r.status == 200 and d == Handler.body + b"/other"
    r, d = ask("POST", f"{a}/post", body=b"k=v&" * 1000)
    assert r.status == 200 and d.startswith(b"got 4000 bytes: k=v&")
    r, d = ask("POST", f"{b}/cpost", body=iter([b"abc", b"defgh", b"x" * 5000]),
               encode_chunked=True)
    assert r.status == 200 and d.startswith(b"got 5008 bytes: abcdefghxxx")
    r, d = ask("HEAD", f"{a}/head")
    assert r.status == 200 and d == b"" and int(r.headers["Content-Length"]) > 0
    r, d = ask("GET", f"{a}/204")
    assert r.status == 204 and d == b""
    r, d = ask("GET", f"{b}/chunked")
    assert r.status == 200 and d == Handler.body * 3
    r, d = ask("GET", f"{a}/last")
    assert r.status == 200 and d == Handler.body + b"/last"
    # http.client reconnects silently when the server closes: one socket throughout
    assert socks[0] is not None and all(s is socks[0] for s in socks)
    conn.close()

    # the upstreams saw what was asked, Host from the URL; one upstream connection per
    # upstream: the caller's idle upstream is reused (proxy/upstream_pool.c)
    got = [(m, p, body) for _, _, m, p, body, _ in Handler.seen]
    assert got[0] == ("GET", "/one", b"") and got[3] == ("POST", "/post", b"k=v&" * 1000)
    assert got[4] == ("POST", "/cpost", b"abcdefgh" + b"x" * 5000)
    assert [h for *_, h in Handler.seen][2] == f"127.0.0.1:{ups[1]}"
    assert len({(sp, cp) for sp, cp, *_ in Handler.seen}) == 2

    evs = http_events(g, 9)
    want = [("GET", "/one", 200), ("GET", "/two", 200), ("GET", "/other", 200),
            ("POST", "/post", 200), ("POST", "/cpost", 200), ("HEAD", "/head", 200),
            ("GET", "/204", 204), ("GET", "/chunked", 200), ("GET", "/last", 200)]
    assert [(e["http_request"]["http_method"], e["http_request"]["url"]["path"],
             e["http_response"]["code"]) for e in evs] == want
    # query values are redacted in events (proxy.log_query_values=0), keys kept
    assert evs[1]["http_request"]["url"]["query_string"] == "x=<redacted>"
    assert all(e["action"] == "Allowed" for e in evs)
    assert len({e["src_endpoint"]["port"] for e in evs}) == 1  # one client connection
    assert {e["actor"]["process"]["file"]["path"] for e in evs} == {PY_REAL}
    # each forwarded request's upstream connection gets its NET:CLOSE with its bytes
    closes = [e for e in events(g) if e["class_uid"] == 4001 and e["activity_id"] == 2]
    assert len(closes) == 9
    post = [e for e in closes if e["traffic"]["bytes_out"] > 4000]
    assert len(post) == 2 and all(e["traffic"]["bytes_in"] > 0 for e in closes)
    text = lines(tollgate_bin, g)
    for m in ("HTTP:GET [INFO] ALLOWED", "HTTP:POST [INFO] ALLOWED", "HTTP:HEAD [INFO] ALLOWED"):
        assert m in text


def test_denied_request_answers_403_and_closes(up, ups, tollgate_bin, tmp_path):
    g, port = start(up, ups, tollgate_bin, tmp_path)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", f"http://127.0.0.1:{ups[0]}/fine")
    r = conn.getresponse()
    assert r.status == 200 and r.read().endswith(b"/fine")
    first = conn.sock
    conn.request("GET", f"http://127.0.0.1:{ups[2]}/nope")  # not in the policy
    assert conn.sock is first  # sent on the kept-alive connection
    r = conn.getresponse()
    assert r.status == 403 and r.headers["Connection"] == "close"
    assert b"policy_denied" in r.read()
    assert conn.sock is None  # http.client let it go, as the response said
    # the proxy closes it too: after the 403, nothing more is read or answered
    a, d = f"127.0.0.1:{ups[0]}", f"127.0.0.1:{ups[2]}"
    out, closed = raw(port, (f"GET http://{a}/ok HTTP/1.1\r\n\r\nGET http://{d}/no HTTP/1.1"
                             f"\r\n\r\nGET http://{a}/never HTTP/1.1\r\n\r\n").encode())
    assert closed and out.startswith(b"HTTP/1.1 200") and b"/ok" in out
    assert b"HTTP/1.1 403 Forbidden" in out and out.count(b"HTTP/1.1") == 2
    evs = http_events(g, 4)
    assert [(e["action"], e["http_response"]["code"]) for e in evs] == [
        ("Allowed", 200), ("Denied", 403), ("Allowed", 200), ("Denied", 403)]
    assert evs[1]["http_request"]["url"]["path"] == "/nope"
    assert f"127.0.0.1:{ups[2]} is not allowed" in evs[1]["status_detail"]


def test_curl_reuses_the_connection_for_two_urls(up, ups, tollgate_bin, tmp_path):
    g, port = start(up, ups, tollgate_bin, tmp_path)
    r = subprocess.run([CURL, "-sS", "-x", f"http://127.0.0.1:{port}", "-o", "/dev/null",
                        "-o", "/dev/null", "-w", "%{num_connects} %{http_code}\n",
                        f"http://127.0.0.1:{ups[0]}/c1", f"http://127.0.0.1:{ups[1]}/c2"],
                       capture_output=True, timeout=20)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split("\n")[:2] == ["1 200", "0 200"]  # the second: no connect
    evs = http_events(g, 2)
    assert [e["http_request"]["url"]["path"] for e in evs] == ["/c1", "/c2"]
    assert all(e["actor"]["process"]["file"]["path"] == CURL_REAL for e in evs)
    assert lines(tollgate_bin, g).count("HTTP:GET [INFO] ALLOWED") == 2


def test_pipelined_requests_are_answered_in_order(up, ups, tollgate_bin, tmp_path):
    g, port = start(up, ups, tollgate_bin, tmp_path)
    a = f"127.0.0.1:{ups[0]}"
    req = (f"GET http://{a}/p1 HTTP/1.1\r\nHost: {a}\r\n\r\n"
           f"POST http://{a}/p2 HTTP/1.1\r\nHost: {a}\r\nContent-Length: 3\r\n\r\nabc"
           f"GET http://{a}/close HTTP/1.1\r\nHost: {a}\r\n\r\n").encode()
    out, closed = raw(port, req, wait=10)
    assert closed  # the upstream's Connection: close ends the client connection too
    assert out.count(b"HTTP/1.1 200 OK") == 3
    assert out.index(b"/p1") < out.index(b"got 3 bytes: abc") < out.index(b"closing after")
    evs = http_events(g, 3)
    assert [e["http_request"]["url"]["path"] for e in evs] == ["/p1", "/p2", "/close"]


def test_client_connection_close_and_close_delimited_responses_end_it(up, ups, tollgate_bin,
                                                                     tmp_path):
    g, port = start(up, ups, tollgate_bin, tmp_path)
    a = f"127.0.0.1:{ups[0]}"
    out, closed = raw(port, f"GET http://{a}/x HTTP/1.1\r\nConnection: close\r\n\r\n".encode())
    assert closed and out.startswith(b"HTTP/1.1 200") and out.endswith(b"/x")
    out, closed = raw(port, f"GET http://{a}/eof HTTP/1.1\r\n\r\n".encode())
    assert closed and out.endswith(b"read me until the end\n" * 10)
    # HTTP/1.0 without keep-alive: one request
    out, closed = raw(port, f"GET http://{a}/y HTTP/1.0\r\n\r\n".encode())
    assert closed and out.endswith(b"/y")
    evs = http_events(g, 3)
    assert [e["http_response"]["code"] for e in evs] == [200, 200, 200]


@pytest.mark.parametrize("head,why", [
    ("Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", "both framings"),
    ("Transfer-Encoding: chunked\r\nContent-Length: 4\r\n", "both framings, other order"),
    ("Content-Length: 4\r\nContent-Length: 40\r\n", "two Content-Lengths"),
    ("Content-Length: 4\r\nContent-Length: 4\r\n", "a repeated Content-Length"),
    ("Transfer-Encoding: gzip\r\n", "a request body without a final chunked coding"),
])
def test_smuggling_attempts_get_400_and_close(up, ups, tollgate_bin, tmp_path, head, why):
    g, port = start(up, ups, tollgate_bin, tmp_path)
    a = f"127.0.0.1:{ups[0]}"
    Handler.seen.clear()
    out, closed = raw(port, (f"POST http://{a}/s HTTP/1.1\r\nHost: {a}\r\n{head}\r\n0\r\n\r\n"
                             f"GET http://{a}/smuggled HTTP/1.1\r\nHost: {a}\r\n\r\n").encode())
    assert out.startswith(b"HTTP/1.1 400") and closed, why
    assert out.count(b"HTTP/1.1") == 1
    assert not [s for s in Handler.seen if s[3] == "/smuggled"]


def test_bad_chunked_body_gets_400_and_close(up, ups, tollgate_bin, tmp_path):
    g, port = start(up, ups, tollgate_bin, tmp_path)
    a = f"127.0.0.1:{ups[0]}"
    Handler.seen.clear()
    out, closed = raw(port, (f"POST http://{a}/bad HTTP/1.1\r\nHost: {a}\r\n"
                             "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
                             f"GET http://{a}/after HTTP/1.1\r\n\r\n").encode())
    assert out.startswith(b"HTTP/1.1 400") and closed
    assert b"Connection: close" in out
    assert not [s for s in Handler.seen if s[3] == "/after"]
    evs = http_events(g, 1)
    assert evs[0]["http_request"]["http_method"] == "POST"
    assert evs[0]["http_response"]["code"] == 400


def test_idle_timeouts_between_requests_and_in_a_response(up, ups, tollgate_bin, tmp_path):
    g, port = start(up, ups, tollgate_bin, tmp_path, "--set", "proxy.idle_timeout=1s")
    a = f"127.0.0.1:{ups[0]}"
    # a kept-alive connection idle between requests is closed without a word
    t = time.time()
    out, closed = raw(port, f"GET http://{a}/i HTTP/1.1\r\n\r\n".encode(), wait=6)
    assert closed and out.startswith(b"HTTP/1.1 200") and out.endswith(b"/i")
    assert out.count(b"HTTP/1.1") == 1 and time.time() - t < 5
    # a response that never ends: the client gets what came, then the close
    t = time.time()
    out, closed = raw(port, f"GET http://{a}/hang HTTP/1.1\r\n\r\n".encode(), wait=6)
    assert closed and out.endswith(b"0123456789") and time.time() - t < 5
    evs = http_events(g, 2)
    assert evs[1]["http_response"]["code"] == 200


def test_many_keepalive_requests_use_bounded_memory(up, ups, tollgate_bin, tmp_path):
    g, port = start(up, ups, tollgate_bin, tmp_path)

    def rss():
        with open(f"/proc/{g.proc.pid}/status") as f:
            return int([l for l in f if l.startswith("VmRSS")][0].split()[1])

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    big = b"z" * (4 << 20)
    for i in range(3):  # warm up: pools, allocator arenas
        conn.request("POST", f"http://127.0.0.1:{ups[0]}/w{i}", body=big)
        assert conn.getresponse().read().startswith(b"got 4194304 bytes")
    before = rss()
    sock = conn.sock
    for i in range(40):
        conn.request("POST", f"http://127.0.0.1:{ups[i % 2]}/m{i}", body=big)
        assert conn.getresponse().read().startswith(b"got 4194304 bytes")
    assert conn.sock is sock
    conn.close()
    with open(f"/proc/{g.proc.pid}/maps") as f:
        if "libasan" in f.read():
            pytest.skip("ASan's quarantine keeps freed memory: RSS says nothing here")
    assert rss() - before < 16 * 1024, (before, rss())  # KiB: 160 MiB went through


def test_expect_continue_and_connect_after_forwarding(up, ups, tollgate_bin, tmp_path):
    g, port = start(up, ups, tollgate_bin, tmp_path)
    big = tmp_path / "big"
    big.write_bytes(b"q" * (3 << 20))
    # curl sends Expect: 100-continue for a body this big: the interim 100 is relayed,
    # the final response ends the exchange, the next URL reuses the connection
    r = subprocess.run([CURL, "-sS", "-x", f"http://127.0.0.1:{port}", "--data-binary",
                        f"@{big}", "-w", " %{num_connects}\n", f"http://127.0.0.1:{ups[0]}/big",
                        f"http://127.0.0.1:{ups[0]}/again"], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count(b"got 3145728 bytes") == 2 and r.stdout.count(b" 0\n") == 1
    # a CONNECT on a connection that forwarded a request first: a tunnel from then on
    a, b = f"127.0.0.1:{ups[0]}", f"127.0.0.1:{ups[1]}"
    out, closed = raw(port, (f"GET http://{a}/first HTTP/1.1\r\n\r\nCONNECT {b} HTTP/1.1\r\n\r\n"
                             f"GET /inside HTTP/1.1\r\nHost: {b}\r\nConnection: close\r\n\r\n"
                             ).encode(), wait=10)
    assert closed and out.index(b"/first") < out.index(b"200 Connection Established")
    assert out.endswith(b"/inside")
    evs = events(g)
    assert [e["http_request"]["url"]["path"] for e in evs if e["class_uid"] == 4002] == [
        "/big", "/again", "/first"]
    assert [e["dst_endpoint"]["port"] for e in evs
            if e["class_uid"] == 4001 and e["activity_id"] == 1] == [ups[1]]


def test_http10_keepalive_client(up, ups, tollgate_bin, tmp_path):
    g, port = start(up, ups, tollgate_bin, tmp_path)
    a = f"127.0.0.1:{ups[0]}"
    # an HTTP/1.0 client keeps the connection only when the response head it reads says
    # keep-alive; this upstream (HTTP/1.1) does not say it: one request, then the close
    out, closed = raw(port, (f"GET http://{a}/k1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                             f"GET http://{a}/k2 HTTP/1.0\r\n\r\n").encode())
    assert closed and out.endswith(b"/k1") and out.count(b"HTTP/1.1 200") == 1
