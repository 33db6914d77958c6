"""End-to-end tests of L7 inspection in `tollgate up`'s proxy: CONNECT tunnels to
endpoints with `protocol: rest`, `access`, `rules` or `deny_rules` are intercepted
(TLS terminated with the state's CA, `$STATE/ca/ca.pem`) and every request inside
is decided and logged as its own HTTP Activity event. The upstream is a local
HTTPS server whose certificate a test CA signed (`proxy.upstream_ca` points at
it), on 127.0.0.1 with the test-only switch proxy.test_allow_loopback on. Clients:
curl, Python (urllib, http.client, ssl), node."""
import base64
import http.client
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import pytest

from conftest import SHARED
from test_proxy import CURL, CURL_REAL, events, free_port, lines, set_policy, up, wait_for  # noqa: F401

VALIDATE_PY = SHARED / "ocsf" / "validate.py"
PY_REAL = os.path.realpath(sys.executable)
NODE = shutil.which("node")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _any(self):
        if self.headers.get("Upgrade", "").lower() == "websocket":
            return self._ws()
        n = int(self.headers.get("Content-Length", 0) or 0)
        got = self.rfile.read(n) if n else b""
        if self.path == "/big":
            body = b"z" * (5 << 20)
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(body), 1 << 16):
                self.wfile.write(b"%x\r\n%s\r\n" % (1 << 16, body[i:i + (1 << 16)]))
            self.wfile.write(b"0\r\n\r\n")
            return
        body = json.dumps({"method": self.command, "path": self.path,
                           "host": self.headers.get("Host"), "len": len(got)}).encode() + b"\n"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _ws(self):
        """Not real websocket framing: a 101, then an echo of raw bytes."""
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.end_headers()
        self.wfile.flush()
        while True:
            data = self.connection.recv(4096)
            if not data:
                break
            self.connection.sendall(data)
        self.close_connection = True

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = do_OPTIONS = _any

    def log_message(self, *a):
        pass


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def serve(cert, key):
    s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    s.socket = ctx.wrap_socket(s.socket, server_side=True)
    threading.Thread(target=s.serve_forever, daemon=True).start()
    return s


@pytest.fixture(scope="module")
def tls_up(tmp_path_factory):
    """A test CA; an HTTPS upstream it signed (localhost, 127.0.0.1); a second
    one with a self-signed certificate (not trusted); a plain HTTP one."""
    d = tmp_path_factory.mktemp("l7tls")
    ca, cakey = d / "ca.pem", d / "ca.key"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            "/CN=tollgate test upstream CA", "-keyout", str(cakey), "-out", str(ca))
    key, csr, cert = d / "up.key", d / "up.csr", d / "up.pem"
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", str(key),
            "-out", str(csr))
    ext = d / "ext.cnf"
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(cakey),
            "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(cert))
    bad_key, bad_cert = d / "bad.key", d / "bad.pem"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(bad_key),
            "-out", str(bad_cert))
    good, bad = serve(cert, key), serve(bad_cert, bad_key)
    plain = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=plain.serve_forever, daemon=True).start()
    yield {"port": good.server_address[1], "bad": bad.server_address[1],
           "http": plain.server_address[1], "ca": str(ca)}
    for s in (good, bad, plain):
        s.shutdown()


@pytest.fixture
def l7(up, tls_up, tollgate_bin, tmp_path):
    """`tollgate up` trusting the test CA upstream; returns (g, proxy port, policy setter)."""
    def make(*extra):
        g, port = up("--set", f"proxy.upstream_ca={tls_up['ca']}", *extra)

        def policy(endpoints, binaries=(CURL_REAL, PY_REAL)):
            bins = "".join(f"      - path: {b}\n" for b in binaries)
            set_policy(tollgate_bin, g, tmp_path, "version: 1\nnetwork_policies:\n  api:\n"
                       "    endpoints:\n" + endpoints + "    binaries:\n" + bins)
        return g, port, policy
    return make


def ca_of(g):
    return os.path.join(g.state, "ca", "ca.pem")


def curl(g, port, url, *args):
    return subprocess.run([CURL, "-sS", "-x", f"http://127.0.0.1:{port}", "--cacert", ca_of(g),
                           *args, url], capture_output=True, timeout=30)


def ep(port, extra, host="127.0.0.1"):
    return f"      - {{host: {host}, port: {port}, {extra}}}\n"


def http_events(g, n, timeout=10):
    assert wait_for(lambda: len([e for e in events(g) if e["class_uid"] == 4002]) >= n, timeout)
    return [e for e in events(g) if e["class_uid"] == 4002]


def test_read_only_allows_get_and_refuses_post_delete(l7, tls_up, tollgate_bin):
    g, port, policy = l7()
    up_port = tls_up["port"]
    policy(ep(up_port, "protocol: rest, access: read-only, enforcement: enforce"))
    base = f"https://127.0.0.1:{up_port}"
    r = curl(g, port, base + "/repos/x")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["method"] == "GET"
    r = curl(g, port, base + "/repos/x", "-d", "a=1")
    assert json.loads(r.stdout)["error"] == "policy_denied", r.stdout
    r = curl(g, port, base + "/repos/x", "-X", "DELETE", "-w", "%{http_code}", "-o", "/dev/null")
    assert r.stdout == b"403"
    evs = http_events(g, 3)
    by = {e["http_request"]["http_method"]: e for e in evs}
    assert by["GET"]["action"] == "Allowed" and by["GET"]["http_response"]["code"] == 200
    for m in ("POST", "DELETE"):
        e = by[m]
        assert e["action"] == "Denied" and e["http_response"]["code"] == 403
        assert e["firewall_rule"]["type"] == "l7" and e["firewall_rule"]["name"] == "api"
        assert e["severity"] == "Medium" and e["status_detail"]
        assert e["actor"]["process"]["file"]["path"] == CURL_REAL
        assert e["http_request"]["url"]["scheme"] == "https"
        assert e["http_request"]["url"]["path"] == "/repos/x"
    assert by["GET"]["traffic"]["bytes_in"] > 0 and by["GET"]["traffic"]["bytes_out"] > 0
    text = lines(tollgate_bin, g)
    assert (f"HTTP:POST [MED] DENIED {CURL_REAL}(") in text
    assert f"-> POST https://127.0.0.1:{up_port}/repos/x [policy:api engine:l7] [reason:" in text
    assert f"HTTP:GET [INFO] ALLOWED {CURL_REAL}(" in text
    opens = [e for e in events(g) if e["class_uid"] == 4001 and e["activity_id"] == 1]
    assert len(opens) == 3 and all(e["action"] == "Allowed" for e in opens)


def test_rules_with_path_globs(l7, tls_up):
    g, port, policy = l7()
    up_port = tls_up["port"]
    policy(f"      - host: 127.0.0.1\n        port: {up_port}\n        protocol: rest\n"
           "        enforcement: enforce\n        rules:\n"
           "          - allow: {method: GET, path: '/repos/**'}\n"
           "          - allow: {method: POST, path: '/repos/*/issues'}\n")
    base = f"https://127.0.0.1:{up_port}"

    def code(path, *a):
        r = curl(g, port, base + path, "-w", "%{http_code}", "-o", "/dev/null", *a)
        return r.stdout.decode()
    assert code("/repos/a/b/c") == "200"
    assert code("/other") == "403"
    assert code("/repos/x/issues", "-d", "t=1") == "200"
    assert code("/repos/x/pulls", "-d", "t=1") == "403"
    evs = http_events(g, 4)
    assert [e["action"] for e in evs] == ["Allowed", "Denied", "Allowed", "Denied"]


def test_deny_rules_win_over_access(l7, tls_up):
    g, port, policy = l7()
    up_port = tls_up["port"]
    policy(f"      - host: 127.0.0.1\n        port: {up_port}\n        protocol: rest\n"
           "        enforcement: enforce\n        access: read-write\n"
           "        deny_rules:\n          - {method: POST, path: '/admin/**'}\n")
    base = f"https://127.0.0.1:{up_port}"
    r = curl(g, port, base + "/data", "-d", "x=1")
    assert json.loads(r.stdout)["method"] == "POST"
    r = curl(g, port, base + "/admin/users", "-d", "x=1")
    assert json.loads(r.stdout)["error"] == "policy_denied"
    evs = http_events(g, 2)
    assert [e["action"] for e in evs] == ["Allowed", "Denied"]
    assert "deny" in (evs[1]["status_detail"] + evs[1]["firewall_rule"].get("uid", "")).lower()


def test_audit_mode_lets_through_and_logs(l7, tls_up, tollgate_bin):
    g, port, policy = l7()
    up_port = tls_up["port"]
    policy(ep(up_port, "protocol: rest, access: read-only, enforcement: audit"))
    r = curl(g, port, f"https://127.0.0.1:{up_port}/x", "-d", "a=1")
    assert json.loads(r.stdout)["method"] == "POST", r.stdout
    e = http_events(g, 1)[0]
    assert e["action"] == "Allowed" and e["http_response"]["code"] == 200
    assert e["status_detail"].startswith("audit: ")
    assert e["severity_id"] > 1
    assert "HTTP:POST [LOW] ALLOWED" in lines(tollgate_bin, g)


def lines_dbg(g):
    return [(e["class_uid"], e["activity_id"], e.get("status_detail"), e.get("http_response")) for e in events(g)]


def tunnel(port, host, up_port, cafile, server_hostname=None):
    ctx = ssl.create_default_context(cafile=cafile)
    c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=20)
    c.set_tunnel(host, up_port)
    return c


def test_keep_alive_mixed_verdicts_on_one_connection(l7, tls_up):
    g, port, policy = l7()
    up_port = tls_up["port"]
    policy(ep(up_port, "protocol: rest, access: read-only, enforcement: enforce"))
    c = tunnel(port, "127.0.0.1", up_port, ca_of(g))
    got = []
    for method, body in [("GET", None), ("POST", b"x" * 5000), ("GET", None), ("DELETE", None),
                         ("HEAD", None), ("PUT", b"y"), ("GET", None)]:
        try:
            c.request(method, f"/r/{len(got)}?n={len(got)}", body=body)
        except Exception as ex:
            raise AssertionError((got, method, lines_dbg(g))) from ex
        r = c.getresponse()
        data = r.read()
        got.append(r.status)
        if r.status == 200 and method != "HEAD":
            assert json.loads(data)["path"] == f"/r/{len(got) - 1}?n={len(got) - 1}"
    c.close()
    assert got == [200, 403, 200, 403, 200, 403, 200]
    evs = http_events(g, 7)
    assert [e["http_response"]["code"] for e in evs] == got
    opens = [e for e in events(g) if e["class_uid"] == 4001 and e["activity_id"] == 1]
    assert len(opens) == 1  # one tunnel
    assert all(e["actor"]["process"]["file"]["path"] == PY_REAL for e in evs)


def test_urllib_get_allowed_post_denied(l7, tls_up):
    g, port, policy = l7()
    up_port = tls_up["port"]
    policy(ep(up_port, "protocol: rest, access: read-only, enforcement: enforce", "localhost"))
    ctx = ssl.create_default_context(cafile=ca_of(g))
    o = urllib.request.build_opener(
        urllib.request.ProxyHandler({"https": f"http://127.0.0.1:{port}"}),
        urllib.request.HTTPSHandler(context=ctx))
    assert json.loads(o.open(f"https://localhost:{up_port}/a").read())["host"].startswith(
        "localhost")
    with pytest.raises(urllib.error.HTTPError) as ex:
        o.open(f"https://localhost:{up_port}/a", data=b"x=1")
    assert ex.value.code == 403
    assert json.loads(ex.value.read())["error"] == "policy_denied"
    evs = http_events(g, 2)
    assert [e["action"] for e in evs] == ["Allowed", "Denied"]
    assert evs[0]["http_request"]["url"]["hostname"] == "localhost"


def test_websocket_upgrade_is_decided_then_relayed_raw(l7, tls_up):
    g, port, policy = l7()
    up_port = tls_up["port"]
    policy(ep(up_port, "protocol: rest, access: read-only, enforcement: enforce"))
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(f"CONNECT 127.0.0.1:{up_port} HTTP/1.1\r\n\r\n".encode())
    assert s.recv(4096).startswith(b"HTTP/1.1 200")
    t = ssl.create_default_context(cafile=ca_of(g)).wrap_socket(s, server_hostname="127.0.0.1")
    t.sendall(f"GET /ws?tok=SECRETWS HTTP/1.1\r\nHost: 127.0.0.1:{up_port}\r\n"
              "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += t.recv(4096)
    assert head.startswith(b"HTTP/1.1 101")
    for msg in (b"ping", b"\x00\xff" * 1000):
        t.sendall(msg)
        got = b""
        while len(got) < len(msg):
            got += t.recv(65536)
        assert got == msg
    t.close()
    e = http_events(g, 1)[0]
    assert e["http_response"]["code"] == 101 and e["action"] == "Allowed"
    assert e["http_request"]["url"]["query_string"] == "tok=<redacted>"


def test_big_bodies_both_ways_and_100_continue(l7, tls_up, tmp_path):
    g, port, policy = l7()
    up_port = tls_up["port"]
    policy(ep(up_port, "protocol: rest, access: read-write, enforcement: enforce"))
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 << 20))
    r = curl(g, port, f"https://127.0.0.1:{up_port}/up", "--data-binary", f"@{big}", "-H",
             "Expect: 100-continue")
    assert json.loads(r.stdout)["len"] == 3 << 20, r.stderr
    r = curl(g, port, f"https://127.0.0.1:{up_port}/big")
    assert r.returncode == 0 and r.stdout == b"z" * (5 << 20)
    evs = http_events(g, 2)
    assert evs[0]["traffic"]["bytes_out"] > 3 << 20
    assert evs[1]["traffic"]["bytes_in"] > 5 << 20


def test_tls_skip_passes_through_untouched(l7, tls_up):
    g, port, policy = l7()
    up_port = tls_up["port"]
    policy(ep(up_port, "tls: skip"))
    url = f"https://127.0.0.1:{up_port}/x"
    r = subprocess.run([CURL, "-sS", "-x", f"http://127.0.0.1:{port}", "--cacert", tls_up["ca"],
                        "-d", "a=1", url], capture_output=True, timeout=30)
    assert r.returncode == 0 and json.loads(r.stdout)["method"] == "POST", r.stderr
    r = curl(g, port, url)  # trusting only the tollgate CA: the upstream's own cert fails
    assert r.returncode == 60, r.stderr
    assert wait_for(lambda: len([e for e in events(g) if e["activity_id"] == 2]) >= 2)
    assert not [e for e in events(g) if e["class_uid"] == 4002]


def test_sni_and_host_mismatch_are_refused(l7, tls_up):
    g, port, policy = l7()
    up_port = tls_up["port"]
    policy(f"      - {{host: localhost, port: {up_port}, protocol: rest, access: full, "
           "enforcement: enforce}\n")
    # SNI names another host than the CONNECT
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(f"CONNECT localhost:{up_port} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    assert s.recv(4096).startswith(b"HTTP/1.1 200")
    ctx = ssl.create_default_context(cafile=ca_of(g))
    with pytest.raises(ssl.SSLError):
        ctx.wrap_socket(s, server_hostname="evil.example")
    s.close()
    # Host names another host
    c = tunnel(port, "localhost", up_port, ca_of(g))
    c.request("GET", "/", headers={"Host": "evil.example"})
    r = c.getresponse()
    assert r.status == 403 and b"does not match" in r.read()
    c.close()
    # the same connection shape with the right Host is fine
    c = tunnel(port, "localhost", up_port, ca_of(g))
    c.request("GET", "/ok")
    assert c.getresponse().status == 200
    c.close()
    assert wait_for(lambda: any(e["activity_id"] == 5 for e in events(g)))
    refuse = [e for e in events(g) if e["class_uid"] == 4001 and e["activity_id"] == 5][0]
    assert refuse["action"] == "Denied" and "SNI evil.example" in refuse["status_detail"]
    evs = http_events(g, 2)
    assert evs[0]["action"] == "Denied" and "evil.example" in evs[0]["status_detail"]
    assert evs[1]["action"] == "Allowed"


def test_upstream_with_a_bad_certificate_is_502_and_net_fail(l7, tls_up, tollgate_bin):
    g, port, policy = l7()
    bad = tls_up["bad"]
    policy(ep(bad, "protocol: rest, access: full, enforcement: enforce"))
    r = curl(g, port, f"https://127.0.0.1:{bad}/x", "-w", "\n%{http_code}")
    body, code = r.stdout.rsplit(b"\n", 1)
    assert code == b"502", r.stderr
    assert json.loads(body)["error"] == "bad_gateway"
    assert "verification" in json.loads(body)["reason"]
    assert wait_for(lambda: any(e["activity_id"] == 4 for e in events(g)))
    fail = [e for e in events(g) if e["class_uid"] == 4001 and e["activity_id"] == 4][0]
    assert "failed verification: self-signed certificate" in fail["status_detail"]
    assert "NET:FAIL [LOW]" in lines(tollgate_bin, g)


def test_query_values_are_redacted_everywhere(l7, tls_up, tollgate_bin):
    g, port, policy = l7()
    up_port = tls_up["port"]
    policy(ep(up_port, "protocol: rest, access: read-only, enforcement: enforce") +
           f"      - {{host: 127.0.0.1, port: {tls_up['http']}}}\n")
    r = curl(g, port, f"https://127.0.0.1:{up_port}/s?diag=TOPSECRET-Q1&flag&e=")
    assert r.returncode == 0
    r = curl(g, port, f"https://127.0.0.1:{up_port}/s?diag=TOPSECRET-Q2", "-d", "x")
    assert json.loads(r.stdout)["error"] == "policy_denied"
    r = curl(g, port, f"http://127.0.0.1:{tls_up['http']}/f?token=TOPSECRET-Q3")
    assert r.returncode == 0
    evs = http_events(g, 3)
    qs = [e["http_request"]["url"]["query_string"] for e in evs]
    assert qs == ["diag=<redacted>&<redacted>&e=", "diag=<redacted>", "token=<redacted>"]
    text = lines(tollgate_bin, g)
    assert "/s?diag=<redacted>" in text and "TOPSECRET" not in text
    for root, _, files in os.walk(g.state):
        for f in files:
            assert b"TOPSECRET" not in open(os.path.join(root, f), "rb").read(), f


def test_log_query_values_keeps_them(l7, tls_up):
    g, port, policy = l7("--set", "proxy.log_query_values=1")
    up_port = tls_up["port"]
    policy(ep(up_port, "protocol: rest, access: read-only, enforcement: enforce"))
    assert curl(g, port, f"https://127.0.0.1:{up_port}/s?q=kept").returncode == 0
    assert http_events(g, 1)[0]["http_request"]["url"]["query_string"] == "q=kept"


@pytest.mark.skipif(not NODE, reason="node is not installed")
def test_node_client(l7, tls_up, tmp_path):
    g, port, policy = l7()
    up_port = tls_up["port"]
    node = os.path.realpath(NODE)
    policy(ep(up_port, "protocol: rest, access: read-only, enforcement: enforce", "localhost"),
           [node])
    script = tmp_path / "c.js"
    script.write_text(r"""
const http = require('http'), tls = require('tls'), fs = require('fs');
const [proxyPort, port, ca] = process.argv.slice(2);
const req = http.request({host: '127.0.0.1', port: +proxyPort, method: 'CONNECT',
                          path: `localhost:${port}`});
req.on('connect', (res, socket) => {
  const t = tls.connect({socket, servername: 'localhost', ca: fs.readFileSync(ca)}, () => {
    t.write(`GET /n HTTP/1.1\r\nHost: localhost:${port}\r\n\r\n` +
            `POST /n HTTP/1.1\r\nHost: localhost:${port}\r\nContent-Length: 2\r\n` +
            `Connection: close\r\n\r\nhi`);
  });
  let out = '';
  t.on('data', d => out += d);
  t.on('end', () => process.stdout.write(out));
  t.on('error', e => { console.log('error', e.message); process.exit(4); });
});
req.end();
""")
    r = subprocess.run([node, str(script), str(port), str(up_port), ca_of(g)],
                       capture_output=True, timeout=30)
    out = r.stdout.decode()
    assert out.startswith("HTTP/1.1 200") and "HTTP/1.1 403 Forbidden" in out, (out, r.stderr)
    evs = http_events(g, 2)
    assert [e["action"] for e in evs] == ["Allowed", "Denied"]
    assert evs[0]["actor"]["process"]["file"]["path"] == node


def test_ca_key_never_in_spool_or_exports(l7, tls_up):
    g, port, policy = l7()
    up_port = tls_up["port"]
    policy(ep(up_port, "protocol: rest, access: read-only, enforcement: enforce"))
    curl(g, port, f"https://127.0.0.1:{up_port}/a")
    curl(g, port, f"https://127.0.0.1:{up_port}/a", "-d", "x")
    http_events(g, 2)
    key = open(os.path.join(g.state, "ca", "ca.key"), "rb").read()
    b64 = b"".join(l for l in key.splitlines() if not l.startswith(b"-----"))
    der = base64.b64decode(b64)
    needles = [der[i:i + 24] for i in range(0, len(der) - 24, 12)]
    needles += [b64[i:i + 32] for i in range(0, len(b64) - 32, 16)]
    for root, _, files in os.walk(g.state):
        if os.path.abspath(root) == os.path.abspath(os.path.join(g.state, "ca")):
            continue
        for f in files:
            data = open(os.path.join(root, f), "rb").read()
            assert not any(n in data for n in needles), f


@pytest.mark.skipif(not VALIDATE_PY.exists(), reason="../shared/ocsf absent (see README)")
def test_every_l7_event_validates(l7, tls_up, tmp_path):
    g, port, policy = l7()
    up_port, bad = tls_up["port"], tls_up["bad"]
    policy(ep(up_port, "protocol: rest, access: read-only, enforcement: enforce") +
           ep(bad, "protocol: rest, access: full, enforcement: enforce") +
           f"      - {{host: localhost, port: {up_port}, protocol: rest, access: read-only, "
           "enforcement: audit}\n")
    curl(g, port, f"https://127.0.0.1:{up_port}/a?k=v")
    curl(g, port, f"https://127.0.0.1:{up_port}/a?k=v", "-d", "x")
    curl(g, port, f"https://localhost:{up_port}/a", "-X", "PATCH")
    curl(g, port, f"https://127.0.0.1:{bad}/")
    c = tunnel(port, "localhost", up_port, ca_of(g))
    c.request("GET", "/", headers={"Host": "evil.example"})
    c.getresponse().read()
    c.close()
    http_events(g, 5)
    status, data = g.request("GET", "/v1/logs?format=json&limit=0")
    f = tmp_path / "all.jsonl"
    f.write_bytes(data)
    r = subprocess.run([sys.executable, str(VALIDATE_PY), "--warnings-fail", str(f)],
                       capture_output=True)
    assert r.returncode == 0, r.stdout.decode()[-3000:]


def test_add_endpoint_read_only_rest_enforce_from_the_cli(l7, tls_up, tollgate_bin, tmp_path):
    """The article's flow with the CLI: `policy update --add-endpoint
    HOST:PORT:read-only:rest:enforce --binary curl` on an empty sandbox
    policy; GET goes through, POST is refused, both in `tollgate logs`; a
    deprecated `tls: terminate` loads with a warning the CLI prints."""
    g, port, _ = l7()
    env = dict(os.environ, TOLLGATE_STATE=g.state, TOLLGATE_GATEWAY=g.url)
    up_port = tls_up["port"]
    r = subprocess.run([tollgate_bin, "policy", "update", "default", "--add-endpoint",
                        f"127.0.0.1:{up_port}:read-only:rest:enforce", "--binary", CURL_REAL,
                        "--wait"], capture_output=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    base = f"https://127.0.0.1:{up_port}"
    assert json.loads(curl(g, port, base + "/user").stdout)["method"] == "GET"
    r = curl(g, port, base + "/user/repos", "-d", "{}", "-w", "%{http_code}", "-o", "/dev/null")
    assert r.stdout == b"403"
    http_events(g, 2)
    text = lines(tollgate_bin, g)
    assert f"HTTP:GET [INFO] ALLOWED {CURL_REAL}(" in text
    assert f"-> POST {base}/user/repos [policy:allow_127_0_0_1_{up_port} engine:l7]" in text
    p = tmp_path / "deprecated.yaml"
    p.write_text(f"""version: 1
network_policies:
  api:
    endpoints: [{{host: 127.0.0.1, port: {up_port}, protocol: rest, access: read-only,
                 enforcement: enforce, tls: terminate}}]
    binaries: [{{path: {CURL_REAL}}}]
""")
    r = subprocess.run([tollgate_bin, "policy", "set", "default", "--policy", str(p)],
                       capture_output=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert b"warning:" in r.stderr and b"tls" in r.stderr, r.stderr


def test_an_upstream_ca_that_cannot_be_loaded_is_refused_at_start(tollgate_bin, tmp_path):
    """A setting that is accepted is used: a typo in proxy.upstream_ca stops
    the start with the file's name, instead of failing every request later."""
    bad = tmp_path / "not-a-cert.pem"
    bad.write_text("not a certificate\n")
    for path, want in ((tmp_path / "missing.pem", "No such file"), (bad, "no PEM certificate")):
        r = subprocess.run([tollgate_bin, "up", "--state", str(tmp_path / "state"), "--listen",
                            "127.0.0.1:0", "--proxy-listen", "127.0.0.1:0", "--set",
                            f"proxy.upstream_ca={path}"], capture_output=True, timeout=30)
        assert r.returncode == 1, r.stderr
        assert f"proxy.upstream_ca: {path}: {want}".encode() in r.stderr, r.stderr
