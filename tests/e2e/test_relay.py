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
