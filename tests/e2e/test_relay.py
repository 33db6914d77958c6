"""End-to-end tests of the proxy's tunnel relay (proxy/relay_splice.c, and
the copy relay of proxy/relay.c it falls back to): byte-exact transfers
through a real `tollgate up` CONNECT tunnel with random write/read splits
(tests/tools/tunnel_xfer.c), half-closes each way, a slow reader (the
proxy's RSS stays bounded while the upstream is stopped by backpressure),
and the NET:CLOSE byte counts equal to what was sent."""
import os
import socket
import subprocess

import pytest

from test_proxy import events, set_policy, up, wait_for  # noqa: F401

GiB = 1 << 30
MiB = 1 << 20


@pytest.fixture
def xfer_bin():
    d = os.environ.get("TOLLGATE_TOOLS")
    if not d:
        d = os.path.join(os.path.dirname(os.environ.get("TOLLGATE_BIN", "build/tollgate")), "tools")
    path = os.path.join(d, "tunnel_xfer")
    if not os.access(path, os.X_OK):
        pytest.skip(f"{path} not built (make tools)")
    return path


def listener():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(4)
    return s


POLICY = """\
version: 1
network_policies:
  local:
    endpoints:
      - {{host: 127.0.0.1, port: {port}}}
    binaries:
      - path: {exe}
"""


def start(up, xfer_bin, tollgate_bin, tmp_path, monkeypatch, splice=True):
    if not splice:
        monkeypatch.setenv("TOLLGATE_PROXY_SPLICE", "0")
    g, port = up()
    ls = listener()
    set_policy(tollgate_bin, g, tmp_path,
               POLICY.format(port=ls.getsockname()[1], exe=os.path.realpath(xfer_bin)))
    return g, port, ls


def run(xfer_bin, port, ls, c2u, u2c, seed, *opts, stdin=None):
    return subprocess.Popen(
        [xfer_bin, str(port), str(ls.fileno()), str(ls.getsockname()[1]), str(c2u), str(u2c),
         str(seed), *opts],
        pass_fds=(ls.fileno(),), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        stdin=stdin)


def closes(g, upport):
    return [e for e in events(g) if e["class_uid"] == 4001 and e["activity_id"] == 2
            and e["dst_endpoint"]["port"] == upport]


def check(g, ls, proc, c2u, u2c, n=1):
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err.decode(errors="replace")
    assert out.decode().split()[-2:] == [f"c2u={c2u}", f"u2c={u2c}"]
    upport = ls.getsockname()[1]
    assert wait_for(lambda: len(closes(g, upport)) >= n, timeout=20)
    t = closes(g, upport)[-1]["traffic"]
    assert (t["bytes_out"], t["bytes_in"]) == (c2u, u2c)


def test_one_gib_each_way_byte_exact(up, xfer_bin, tollgate_bin, tmp_path, monkeypatch):
    g, port, ls = start(up, xfer_bin, tollgate_bin, tmp_path, monkeypatch)
    p = run(xfer_bin, port, ls, GiB, GiB, 7)
    check(g, ls, p, GiB, GiB)


@pytest.mark.parametrize("splice", [True, False], ids=["splice", "copy"])
def test_half_closes_each_way(up, xfer_bin, tollgate_bin, tmp_path, monkeypatch, splice):
    """The client shuts its write side first and the upstream then sends
    (the tunnel carries one way after the other ended), and the reverse;
    also odd sizes and an empty direction."""
    g, port, ls = start(up, xfer_bin, tollgate_bin, tmp_path, monkeypatch, splice)
    cases = [(1000, 64 * MiB + 3, "c-first"), (64 * MiB + 5, 777, "u-first"),
             (0, 5 * MiB, "c-first"), (3 * MiB, 0, "u-first"), (1, 1, "both")]
    if not splice:  # the fallback relay, smaller
        cases = [(1000, 8 * MiB + 3, "c-first"), (8 * MiB + 5, 777, "u-first")]
    for i, (c2u, u2c, order) in enumerate(cases):
        p = run(xfer_bin, port, ls, c2u, u2c, 100 + i, "--order", order)
        check(g, ls, p, c2u, u2c, n=i + 1)


def pipes(pid):
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("pipe:")
        except OSError:
            pass
    return n


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@pytest.mark.parametrize("splice", [True, False], ids=["splice", "copy"])
def test_slow_reader_keeps_memory_bounded(up, xfer_bin, tollgate_bin, tmp_path, monkeypatch,
                                          splice):
    """The client stops reading after 1 MiB: the upstream's writes stall
    (backpressure through the proxy) with at most a few MiB in flight, the
    proxy's RSS does not grow with what the upstream wanted to send; then the
    reader resumes and every byte arrives."""
    g, port, ls = start(up, xfer_bin, tollgate_bin, tmp_path, monkeypatch, splice)
    total = 512 * MiB
    # warm up the relay's buffers once, so RSS is compared like for like
    check(g, ls, run(xfer_bin, port, ls, MiB, 8 * MiB, 1), MiB, 8 * MiB)
    before, pipes_before = rss_kib(g.proc.pid), pipes(g.proc.pid)
    p = run(xfer_bin, port, ls, 0, total, 2, "--pause-at", str(MiB), stdin=subprocess.PIPE)
    line = p.stdout.readline().decode()
    assert line.startswith("STALLED"), line + p.stderr.read().decode(errors="replace")
    written = int(line.split()[1])
    grown = rss_kib(g.proc.pid) - before
    # the spliced tunnel holds two pipes (four fds); the copy relay none
    assert pipes(g.proc.pid) - pipes_before == (4 if splice else 0)
    # the kernel's socket buffers (a few MiB on loopback) and the proxy's
    # bounded queue hold what was written beyond the 1 MiB read
    assert written < 64 * MiB, written
    assert grown < 8 * 1024, f"RSS grew {grown} KiB with {written} bytes written"
    p.stdin.write(b"go\n")
    p.stdin.flush()
    check(g, ls, p, 0, total, n=2)


def test_splice_stays_within_the_fd_budget(up, tollgate_bin, tmp_path):
    """proxy.max_connections is an open-file budget of two fds per
    connection; a spliced tunnel holds six more (two dups, two pipes). With
    max_connections=4 (8 fds) the first tunnel is spliced (2 + 6), the
    second falls back to the copy relay (no pipes), and both carry bytes."""
    import sys
    g, port = up("--set", "proxy.max_connections=4")
    ls = listener()
    upport = ls.getsockname()[1]
    set_policy(tollgate_bin, g, tmp_path,
               POLICY.format(port=upport, exe=os.path.realpath(sys.executable)))
    base = pipes(g.proc.pid)
    held = []
    for i, want_pipes in enumerate((4, 4)):
        c = socket.create_connection(("127.0.0.1", port))
        c.settimeout(30)
        c.sendall(f"CONNECT 127.0.0.1:{upport} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        u, _ = ls.accept()
        u.settimeout(30)
        assert c.recv(4096).startswith(b"HTTP/1.1 200")
        c.sendall(b"x%d" % i)
        assert u.recv(16) == b"x%d" % i
        u.sendall(b"y%d" % i)
        assert c.recv(16) == b"y%d" % i
        held += [c, u]
        assert pipes(g.proc.pid) - base == want_pipes
    for s in held:
        s.close()


def test_idle_spliced_tunnel_meets_the_idle_timeout(up, tollgate_bin, tmp_path):
    import sys
    g, port = up("--set", "proxy.idle_timeout=1s")
    ls = listener()
    upport = ls.getsockname()[1]
    set_policy(tollgate_bin, g, tmp_path,
               POLICY.format(port=upport, exe=os.path.realpath(sys.executable)))
    c = socket.create_connection(("127.0.0.1", port))
    c.sendall(f"CONNECT 127.0.0.1:{upport} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    u, _ = ls.accept()
    c.settimeout(30)
    u.settimeout(30)
    assert c.recv(4096).startswith(b"HTTP/1.1 200")
    c.sendall(b"ping")
    assert u.recv(16) == b"ping"
    # no traffic either way: the proxy closes both sides
    assert c.recv(16) == b"" and u.recv(16) == b""
    assert wait_for(lambda: len(closes(g, upport)) == 1, timeout=10)
    t = closes(g, upport)[0]["traffic"]
    assert (t["bytes_out"], t["bytes_in"]) == (4, 0)


# ---- upstream reuse for forwarded requests (proxy/upstream_pool.c) -------------------------

class CountingUpstream:
    """A raw HTTP/1.1 upstream on 127.0.0.1 that counts the connections it
    accepts. answer_once: each connection answers its first request only and
    closes on the next one without a byte (a pooled upstream that died)."""

    def __init__(self, answer_once=False):
        self.sock = listener()
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.requests = []
        self.answer_once = answer_once
        import threading
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        import threading
        while True:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self.conn, args=(s,), daemon=True).start()

    def conn(self, s):
        buf, answered = b"", 0
        with s:
            while True:
                while b"\r\n\r\n" not in buf:
                    d = s.recv(65536)
                    if not d:
                        return
                    buf += d
                head, buf = buf.split(b"\r\n\r\n", 1)
                n = 0
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        n = int(v)
                while len(buf) < n:
                    buf += s.recv(65536)
                buf = buf[n:]
                self.requests.append(head.split(b"\r\n")[0].decode())
                if self.answer_once and answered:
                    return  # closes: EOF before any response byte
                body = b"reply %d\n" % len(self.requests)
                s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                answered += 1


REUSE_POLICY = """\
version: 1
network_policies:
  local:
    endpoints:
      - {{host: 127.0.0.1, port: {port}}}
    binaries:
      - path: {curl}
      - path: {py}
"""


def reuse_setup(up, tollgate_bin, tmp_path, answer_once=False):
    from test_proxy import CURL_REAL
    import sys
    g, port = up()
    u = CountingUpstream(answer_once)
    set_policy(tollgate_bin, g, tmp_path, REUSE_POLICY.format(
        port=u.port, curl=CURL_REAL, py=os.path.realpath(sys.executable)))
    return g, port, u


def fetch(port, url, *args):
    from test_proxy import CURL
    return subprocess.run([CURL, "-sS", "--proxy", f"http://127.0.0.1:{port}", *args, url],
                          capture_output=True, timeout=20)


def http_events(g):
    return [e for e in events(g) if e["class_uid"] == 4002]


def test_reuse_same_binary_one_upstream(up, tollgate_bin, tmp_path):
    g, port, u = reuse_setup(up, tollgate_bin, tmp_path)
    url = f"http://127.0.0.1:{u.port}/a"
    for i in range(3):
        r = fetch(port, url)
        assert r.returncode == 0 and r.stdout == b"reply %d\n" % (i + 1), r.stderr
    assert u.accepted == 1
    # each request still decided and logged on its own
    assert wait_for(lambda: len(http_events(g)) == 3)
    assert all(e["action"] == "Allowed" for e in http_events(g))


def test_reuse_not_across_binaries_nor_after_close(up, tollgate_bin, tmp_path):
    import http.client
    g, port, u = reuse_setup(up, tollgate_bin, tmp_path)
    url = f"http://127.0.0.1:{u.port}/a"
    assert fetch(port, url).returncode == 0
    assert u.accepted == 1
    # another binary (python): its own upstream
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", url)
    r = c.getresponse()
    assert r.status == 200 and r.read().startswith(b"reply")
    c.close()
    assert u.accepted == 2
    # curl again: its pooled upstream; then with Connection: close (not pooled)
    assert fetch(port, url, "-H", "Connection: close").returncode == 0
    assert u.accepted == 2
    assert fetch(port, url).returncode == 0
    assert u.accepted == 3


def test_dead_pooled_upstream_is_retried_once_for_idempotent(up, tollgate_bin, tmp_path):
    g, port, u = reuse_setup(up, tollgate_bin, tmp_path, answer_once=True)
    url = f"http://127.0.0.1:{u.port}/a"
    assert fetch(port, url).returncode == 0 and u.accepted == 1
    r = fetch(port, url)  # the pooled one closes without answering: retried
    assert r.returncode == 0 and r.stdout.startswith(b"reply"), r.stderr
    assert u.accepted == 2
    # a POST is not retried: 502
    r = fetch(port, url, "-d", "x=1", "-w", "%{http_code}")
    assert r.stdout.endswith(b"502"), r.stdout
    assert u.accepted == 2
    assert wait_for(lambda: len(http_events(g)) == 3)
    codes = sorted(e["http_response"]["code"] for e in http_events(g))
    assert codes == [200, 200, 502]


# ---- forwarded Content-Length bodies spliced (relay.c + relay_splice.c) ------------------
#
# A request or response body of PX__SPLICE_BODY_MIN (64 KiB) or more still to come
# is spliced but its last byte, which goes through the copy relay's parser: the
# connection must come back to the parser at the exact end of the body (the next
# request on the same client connection, a pipelined one, the pooled upstream's
# next response). Each test runs with splice and with TOLLGATE_PROXY_SPLICE=0
# (the copy relay), which must give the same results.

import hashlib  # noqa: E402
import random  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402


def stream(seed, n, block=1 << 20):
    """n pseudo-random bytes (seeded): blocks that all differ."""
    r = random.Random(seed)
    while n > 0:
        k = min(block, n)
        yield r.randbytes(k)
        n -= k


def stream_sha(seed, n):
    h = hashlib.sha256()
    for b in stream(seed, n):
        h.update(b)
    return h.hexdigest()


class BodyUpstream:
    """A raw HTTP/1.1 keep-alive upstream. Every request's body (Content-Length)
    is read whole and hashed; the reply carries its length and SHA-256 in
    X-Req-Len / X-Req-SHA256 and a body of n=<bytes> pseudo-random bytes
    (seed=<s>). /echo streams the request body back while it reads it; cut=1
    closes after half the reply's body, stall=1 then waits for the proxy to
    close; drop=<k> closes, unanswered, after k bytes of the body. gate (a threading.Event): a request
    waits for it before reading its body. Per request, `log` keeps what was
    received and sent (the proxy's NET:CLOSE must say the same)."""

    def __init__(self):
        self.sock = listener()
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.log = []
        self.sent = 0  # bytes of the current reply sent so far
        self.gate = None
        self.waiting = threading.Event()  # a request waits at the gate
        self.ended = []  # (bytes of body read, expected) of requests cut short
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self.conn, args=(s,), daemon=True).start()

    def conn(self, s):
        from urllib.parse import parse_qs, urlsplit
        buf = b""
        with s:
            while True:
                while b"\r\n\r\n" not in buf:
                    d = s.recv(1 << 20)
                    if not d:
                        return
                    buf += d
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines_ = head.split(b"\r\n")
                method, target = lines_[0].decode().split()[:2]
                n = 0
                for line in lines_[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        n = int(v)
                q = {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
                size, seed = int(q.get("n", 0)), int(q.get("seed", 0))
                if self.gate is not None and n:
                    self.waiting.set()
                    self.gate.wait()
                sent = 0
                if urlsplit(target).path == "/echo":
                    size = n
                    h = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % n
                    s.sendall(h)
                    sent = len(h)
                drop = int(q.get("drop", -1))
                sha, got = hashlib.sha256(), min(len(buf), n)
                sha.update(buf[:got])
                if urlsplit(target).path == "/echo" and got:
                    s.sendall(buf[:got])
                    sent += got
                buf = buf[got:]
                while got < n:
                    if 0 <= drop <= got:
                        self.ended.append((got, n))
                        return
                    d = s.recv(min(1 << 20, n - got))
                    if not d:
                        self.ended.append((got, n))
                        return
                    sha.update(d)
                    got += len(d)
                    if urlsplit(target).path == "/echo":
                        s.sendall(d)
                        sent += len(d)
                rec = {"method": method, "target": target, "recv": len(head) + 4 + n}
                self.log.append(rec)
                if urlsplit(target).path != "/echo":
                    h = (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Req-Len: %d\r\n"
                         b"X-Req-SHA256: %s\r\n\r\n" % (size, n, sha.hexdigest().encode()))
                    s.sendall(h)
                    sent = self.sent = len(h)
                    cut = size // 2 if q.get("cut") else size
                    for b in stream(seed, cut):
                        s.sendall(b)
                        sent = self.sent = sent + len(b)
                    if q.get("cut"):
                        rec["sent"] = sent
                        if q.get("stall"):
                            s.recv(1)  # until the proxy closes (idle timeout)
                        return
                rec["sent"] = sent


class Reader:
    """Reads responses off a client socket (keeps what comes after one)."""

    def __init__(self, sock):
        self.s, self.buf = sock, b""

    def response(self, limit=None):
        """(status, headers, body SHA-256, body length); limit: stop reading
        the body after that many bytes (returns then, body half read)."""
        while b"\r\n\r\n" not in self.buf:
            d = self.s.recv(1 << 20)
            assert d, "EOF before a response head"
            self.buf += d
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines_ = head.decode().split("\r\n")
        hdrs = {k.strip().lower(): v.strip() for k, _, v in
                (line.partition(":") for line in lines_[1:])}
        n = int(hdrs.get("content-length", 0))
        self.h, self.left = hashlib.sha256(), n
        self.body(limit)
        return int(lines_[0].split()[1]), hdrs

    def body(self, limit=None):
        """Reads the rest of the current body (or `limit` more bytes of it)."""
        want = self.left if limit is None else min(limit, self.left)
        got = min(len(self.buf), want)
        self.h.update(self.buf[:got])
        self.buf, self.left, want = self.buf[got:], self.left - got, want - got
        while want:
            d = self.s.recv(min(1 << 20, want))
            if not d:
                raise EOFError(self.left)
            self.h.update(d)
            self.left -= len(d)
            want -= len(d)
        return self.h.hexdigest()


def body_setup(up, tollgate_bin, tmp_path, monkeypatch, splice, *extra):
    import sys
    if not splice:
        monkeypatch.setenv("TOLLGATE_PROXY_SPLICE", "0")
    g, port = up(*extra)
    u = BodyUpstream()
    set_policy(tollgate_bin, g, tmp_path,
               POLICY.format(port=u.port, exe=os.path.realpath(sys.executable)))
    return g, port, u


def post_head(u, path, n):
    return (f"POST http://127.0.0.1:{u.port}{path} HTTP/1.1\r\nHost: x\r\n"
            f"Content-Length: {n}\r\n\r\n").encode()


def get_head(u, path):
    return f"GET http://127.0.0.1:{u.port}{path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


def send_in_thread(sock, *parts):
    """sendall of parts (generators of bytes too) on a thread: a big body
    does not fit in the socket buffers while the response is read here."""
    def run():
        try:
            for p in parts:
                for b in ([p] if isinstance(p, bytes) else p):
                    sock.sendall(b)
        except OSError:
            pass  # the proxy closed (a refused or cut-short request)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def net_closes(g, u):
    return sorted((e["traffic"]["bytes_out"], e["traffic"]["bytes_in"]) for e in closes(g, u.port))


@pytest.mark.parametrize("splice", [True, False], ids=["splice", "copy"])
def test_forwarded_bodies_end_exactly(up, tollgate_bin, tmp_path, monkeypatch, splice):
    """A 64 MiB POST body and a 64 MiB response on one keep-alive client
    connection, then a small request on it (the body's end was exact) that
    reuses the pooled upstream; the same with the next request pipelined in
    the body's last write (16 MiB); a 16 MiB echo (both bodies spliced at once). Every
    byte checked by SHA-256 at the other end; the NET:CLOSE byte counts are
    what the upstream received and sent, one HTTP event per request."""
    g, port, u = body_setup(up, tollgate_bin, tmp_path, monkeypatch, splice)
    N = 64 * MiB
    u.gate = threading.Event()
    c = socket.create_connection(("127.0.0.1", port))
    c.settimeout(60)
    rd = Reader(c)
    base = pipes(g.proc.pid)
    t = send_in_thread(c, post_head(u, f"/big?n={N}&seed=2", N), stream(1, N))
    # the upstream holds the body: the proxy's pipe (splice) or nothing (copy)
    assert u.waiting.wait(20)
    assert wait_for(lambda: pipes(g.proc.pid) - base == (2 if splice else 0), timeout=10)
    u.gate.set()
    status, h = rd.response()
    t.join(30)
    assert status == 200 and h["x-req-len"] == str(N)
    assert h["x-req-sha256"] == stream_sha(1, N)
    assert rd.h.hexdigest() == stream_sha(2, N)
    # the next request on the same connection, on the pooled upstream
    c.sendall(get_head(u, "/small?n=10&seed=3"))
    status, h = rd.response()
    assert status == 200 and rd.h.hexdigest() == stream_sha(3, 10)
    assert u.accepted == 1
    # pipelined: the next request in the same write as the body's last bytes
    M = 16 * MiB
    body = b"".join(stream(4, M))
    t = send_in_thread(c, post_head(u, f"/big?n={M + 1}&seed=5", M) + body +
                       get_head(u, "/small?n=100000&seed=6"))
    status, h = rd.response()
    assert status == 200 and h["x-req-sha256"] == stream_sha(4, M)
    assert rd.h.hexdigest() == stream_sha(5, M + 1)
    status, h = rd.response()
    assert status == 200 and h["x-req-len"] == "0" and rd.h.hexdigest() == stream_sha(6, 100000)
    t.join(30)
    # both bodies at once: the upstream sends the request body back as it reads it
    t = send_in_thread(c, post_head(u, "/echo", M), stream(7, M))
    status, h = rd.response()
    assert status == 200 and rd.h.hexdigest() == stream_sha(7, M)
    t.join(30)
    c.sendall(get_head(u, "/small?n=1&seed=8"))
    assert rd.response()[0] == 200 and rd.h.hexdigest() == stream_sha(8, 1)
    assert u.accepted == 1 and len(u.log) == 6
    c.close()
    assert wait_for(lambda: len(closes(g, u.port)) == 6, timeout=20)
    assert net_closes(g, u) == sorted((r["recv"], r["sent"]) for r in u.log)
    https = [e for e in events(g) if e["class_uid"] == 4002]
    assert sorted(e["http_request"]["http_method"] for e in https) == ["GET"] * 3 + ["POST"] * 3
    assert all(e["http_response"]["code"] == 200 for e in https)


@pytest.mark.parametrize("splice", [True, False], ids=["splice", "copy"])
def test_forwarded_body_cut_short(up, tollgate_bin, tmp_path, monkeypatch, splice):
    """The upstream closes halfway through an 8 MiB response body: the client
    gets the head, the bytes sent, then the close (no byte invented); the
    client leaves halfway through its 8 MiB request body: the upstream sees
    the close; the upstream closes 1 MiB into a request body without a
    reply: 502; the upstream stops halfway through a response body and stays
    silent: the idle timeout (1 s) closes both. The NET:CLOSE bytes_in is
    what the upstream sent."""
    g, port, u = body_setup(up, tollgate_bin, tmp_path, monkeypatch, splice,
                            "--set", "proxy.idle_timeout=1s")
    N = 8 * MiB
    c = socket.create_connection(("127.0.0.1", port))
    c.settimeout(30)
    rd = Reader(c)
    c.sendall(get_head(u, f"/x?n={N}&seed=9&cut=1"))
    with pytest.raises(EOFError) as e:
        rd.response()
    # spliced, what came is out before the close; copied, writes still
    # queued at the close may be dropped (the body is cut short either way)
    if splice:
        assert e.value.args[0] == N - N // 2
    assert e.value.args[0] >= N - N // 2
    assert c.recv(1) == b""
    c.close()
    assert wait_for(lambda: len(closes(g, u.port)) == 1, timeout=20)
    assert closes(g, u.port)[0]["traffic"]["bytes_in"] == u.log[0]["sent"]
    # the client leaves mid-body
    c = socket.create_connection(("127.0.0.1", port))
    c.sendall(post_head(u, "/y", N))
    for b in stream(10, 3 * MiB):
        c.sendall(b)
    c.close()
    assert wait_for(lambda: len(u.ended) == 1, timeout=20)
    got, want = u.ended[0]
    assert want == N and got <= 3 * MiB
    assert wait_for(lambda: len(closes(g, u.port)) == 2, timeout=20)
    # the upstream leaves 1 MiB into the request body, unanswered: 502
    c = socket.create_connection(("127.0.0.1", port))
    c.settimeout(30)
    t = send_in_thread(c, post_head(u, f"/z?drop={MiB}", N), stream(14, N))
    status, h = Reader(c).response()
    assert status == 502, h
    t.join(30)
    c.close()
    assert wait_for(lambda: len(u.ended) == 2, timeout=20)
    # the upstream stalls mid-body: the idle timeout ends the exchange
    c = socket.create_connection(("127.0.0.1", port))
    c.settimeout(30)
    c.sendall(get_head(u, f"/s?n={N}&seed=15&cut=1&stall=1"))
    with pytest.raises(EOFError) as e:
        Reader(c).response()
    assert e.value.args[0] == N - N // 2
    c.close()
    assert wait_for(lambda: len(closes(g, u.port)) == 4, timeout=20)
    t = closes(g, u.port)[-1]["traffic"]
    assert t["bytes_in"] == u.log[-1]["sent"]
    codes = [e.get("http_response", {}).get("code", 0) for e in events(g)
             if e["class_uid"] == 4002]
    assert sorted(codes) == [0, 200, 200, 502], codes  # 0: the client left, no reply


@pytest.mark.parametrize("splice", [True, False], ids=["splice", "copy"])
def test_forwarded_body_slow_reader_keeps_memory_bounded(up, tollgate_bin, tmp_path,
                                                         monkeypatch, splice):
    """The client stops reading after 1 MiB of a 96 MiB response: the
    upstream's writes stall with a bounded amount in flight, the proxy's RSS
    does not grow with the body (one pipe when spliced, none copied); then
    the reader resumes, every byte arrives, and the connection carries the
    next request."""
    g, port, u = body_setup(up, tollgate_bin, tmp_path, monkeypatch, splice)
    N = 96 * MiB
    c = socket.create_connection(("127.0.0.1", port))
    c.settimeout(60)
    rd = Reader(c)
    # warm up the relay's buffers once, so RSS is compared like for like
    c.sendall(get_head(u, f"/w?n={8 * MiB}&seed=11"))
    assert rd.response()[0] == 200 and rd.h.hexdigest() == stream_sha(11, 8 * MiB)
    before, pipes_before = rss_kib(g.proc.pid), pipes(g.proc.pid)
    c.sendall(get_head(u, f"/big?n={N}&seed=12"))
    rd.response(limit=MiB)
    last, since = -1, time.time()
    while time.time() - since < 0.5:  # the upstream's writes stalled
        if u.sent != last:
            last, since = u.sent, time.time()
        time.sleep(0.05)
    assert u.sent < 64 * MiB, u.sent
    grown = rss_kib(g.proc.pid) - before
    assert grown < 8 * 1024, f"RSS grew {grown} KiB with {u.sent} bytes sent"
    assert pipes(g.proc.pid) - pipes_before == (2 if splice else 0)
    assert rd.body() == stream_sha(12, N)
    c.sendall(get_head(u, "/small?n=5&seed=13"))
    assert rd.response()[0] == 200 and rd.h.hexdigest() == stream_sha(13, 5)
    assert u.accepted == 1
    c.close()
    assert wait_for(lambda: len(closes(g, u.port)) == 3, timeout=20)
    assert net_closes(g, u) == sorted((r["recv"], r["sent"]) for r in u.log)


def test_forwarded_body_within_the_fd_budget(up, tollgate_bin, tmp_path, monkeypatch):
    """With proxy.max_connections=3 (6 fds) a spliced body (2 + 6) would be
    over the open-file budget: the body goes through the copy relay (no
    pipe) and arrives whole."""
    g, port, u = body_setup(up, tollgate_bin, tmp_path, monkeypatch, True,
                            "--set", "proxy.max_connections=3")
    N = 4 * MiB
    u.gate = threading.Event()
    c = socket.create_connection(("127.0.0.1", port))
    c.settimeout(30)
    base = pipes(g.proc.pid)
    t = send_in_thread(c, post_head(u, f"/b?n={N}&seed=17", N), stream(16, N))
    assert u.waiting.wait(20)
    time.sleep(0.2)
    assert pipes(g.proc.pid) == base
    u.gate.set()
    rd = Reader(c)
    status, h = rd.response()
    t.join(30)
    assert status == 200 and h["x-req-sha256"] == stream_sha(16, N)
    assert rd.h.hexdigest() == stream_sha(17, N)


def test_a_mistyped_switch_is_refused_by_name(tollgate_bin, tmp_path):
    """TOLLGATE_PROXY_SPLICE / TOLLGATE_IDENT_BPF / TOLLGATE_IDENT_FULL_SCAN
    take 0 or 1: `off` would otherwise read as "not 0" and leave the switch
    on unnoticed. tollgate up refuses to start and names the variable."""
    for name in ("TOLLGATE_PROXY_SPLICE", "TOLLGATE_IDENT_BPF", "TOLLGATE_IDENT_FULL_SCAN"):
        env = dict(os.environ, **{name: "off"})
        r = subprocess.run([tollgate_bin, "up", "--state", str(tmp_path / name), "--listen",
                            "127.0.0.1:0", "--proxy-listen", "127.0.0.1:0"],
                           env=env, capture_output=True, timeout=30)
        assert r.returncode != 0
        assert f"{name}: set to something other than 0 or 1".encode() in r.stderr, r.stderr
