"""End-to-end tests of the TLS interception CA (proxy/tls_ca.c): `tollgate ca`,
GET /v1/ca, the files and their modes, the key never anywhere but its file
(spool, exports, API replies), the same CA after a restart, the standalone
proxy's own CA, a readable key refused at start, ca_pem in attach replies."""
import base64
import gzip
import http.server
import json
import os
import re
import shutil
import subprocess
import threading
import time

import pytest

from conftest import Gateway, settle
from test_proxy import free_port, start_up as proxy_start_up
from test_sandbox_exec import SKIP as NETNS_SKIP

CURL = shutil.which("curl") or "/usr/bin/curl"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"hello\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture
def upstream():
    s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=s.serve_forever, daemon=True).start()
    yield s.server_address[1]
    s.shutdown()


def start_up(binary, state, proxy_port):
    """`tollgate up` with its proxy on proxy_port; returns the Gateway once both serve."""
    g = Gateway(binary, state, ["--proxy-listen", f"127.0.0.1:{proxy_port}",
                                "--set", "proxy.test_allow_loopback=1"], command="up")
    return proxy_start_up(g)


def tollgate_ca(binary, g):
    r = subprocess.run([binary, "ca", "--gateway", g.url, "--state", g.state],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def key_needles(state):
    """What must not appear outside ca/ca.key: its PEM, its DER, the private
    scalar (raw, hex, and the base64 characters that encode only it, as the
    key file has them). Nothing public (the key's point is in ca.pem too)."""
    path = os.path.join(state, "ca", "ca.key")
    pem = open(path, "rb").read()
    assert b"PRIVATE KEY" in pem
    body = b"".join(l for l in pem.splitlines() if not l.startswith(b"-----"))
    der = base64.b64decode(body)
    text = subprocess.run(["openssl", "pkey", "-in", path, "-noout", "-text"],
                          capture_output=True, check=True).stdout.decode()
    priv = re.search(r"priv:\s*((?:[0-9a-f]{2}:?\s*)+)", text).group(1)
    scalar = bytes.fromhex(re.sub(r"[^0-9a-f]", "", priv))[-32:]
    o = der.find(scalar)
    assert o > 0
    b64 = body[-(-o // 3) * 4:((o + 32) // 3) * 4]
    assert len(b64) >= 36
    return [pem, der, scalar, scalar.hex().encode(), b64]


def file_bytes(path):
    data = open(path, "rb").read()
    if path.endswith(".gz"):
        data += gzip.decompress(data)
    elif path.endswith(".zst") and shutil.which("zstd"):
        data += subprocess.run(["zstd", "-dc", path], capture_output=True).stdout
    return data


def assert_key_nowhere(state, needles, extra=()):
    key_path = os.path.realpath(os.path.join(state, "ca", "ca.key"))
    seen = 0
    for root, _, files in os.walk(state):
        for f in files:
            p = os.path.join(root, f)
            if os.path.realpath(p) == key_path or not os.path.isfile(p):
                continue
            data = file_bytes(p)
            data += data.replace(b"\n", b"").replace(b"\\n", b"")
            seen += 1
            for n in needles:
                assert n not in data, f"CA key material in {p}"
    for i, blob in enumerate(extra):
        blob += blob.replace(b"\n", b"").replace(b"\\n", b"")
        for n in needles:
            assert n not in blob, f"CA key material in API reply #{i}"
    return seen


def set_policy(binary, g, tmp_path, port):
    p = tmp_path / "policy.yaml"
    p.write_text(f"""version: 1
network_policies:
  local:
    name: local
    endpoints:
      - {{host: 127.0.0.1, port: {port}}}
    binaries:
      - {{path: "{os.path.realpath(CURL)}"}}
""")
    env = dict(os.environ, TOLLGATE_STATE=g.state, TOLLGATE_GATEWAY=g.url)
    r = subprocess.run([binary, "policy", "set", "default", "--policy", str(p), "--wait"],
                       capture_output=True, env=env)
    assert r.returncode == 0, r.stderr


def traffic(proxy_port, upstream_port):
    proxy = f"http://127.0.0.1:{proxy_port}"
    ok = subprocess.run([CURL, "-sS", "-m", "10", "-x", proxy,
                         f"http://127.0.0.1:{upstream_port}/x?token=1"], capture_output=True)
    assert ok.returncode == 0 and ok.stdout == b"hello\n", ok.stderr
    denied = subprocess.run([CURL, "-sS", "-m", "10", "-x", proxy, "-o", "/dev/null", "-w",
                             "%{http_code}", "http://127.0.0.1:9/"], capture_output=True)
    assert denied.stdout == b"403"
    tunnel = subprocess.run([CURL, "-sS", "-m", "10", "-p", "-x", proxy,
                             f"http://127.0.0.1:{upstream_port}/t"], capture_output=True)
    assert tunnel.returncode == 0, tunnel.stderr


def test_ca_printed_kept_secret_and_stable(tollgate_bin, tmp_path, upstream):
    state = str(tmp_path / "state")
    pport = free_port()
    g = start_up(tollgate_bin, state, pport)
    try:
        pem = tollgate_ca(tollgate_bin, g)
        assert pem.startswith(b"-----BEGIN CERTIFICATE-----\n") and b"PRIVATE" not in pem
        text = subprocess.run(["openssl", "x509", "-noout", "-text"], input=pem,
                              capture_output=True, check=True).stdout.decode()
        assert re.search(r"Basic Constraints: critical\s+CA:TRUE, pathlen:0", text), text
        assert "Certificate Sign, CRL Sign" in text
        assert "tollgate sandbox CA " in text
        assert open(os.path.join(state, "ca", "ca.pem"), "rb").read() == pem
        # the files and their modes
        assert os.stat(os.path.join(state, "ca")).st_mode & 0o777 == 0o700
        st = os.stat(os.path.join(state, "ca", "ca.key"))
        assert st.st_mode & 0o777 == 0o600 and st.st_uid == os.geteuid()
        # the API: authenticated, PEM
        status, _ = g.request("GET", "/v1/ca", token=False)
        assert status == 401
        status, body = g.request("GET", "/v1/ca")
        assert status == 200 and body == pem

        set_policy(tollgate_bin, g, tmp_path, upstream)
        traffic(pport, upstream)
        settle(g)
        replies = [body]
        for path in ["/v1/status", "/metrics", "/v1/logs?limit=1000&format=json",
                     "/v1/sandboxes", "/v1/sandboxes/default", "/v1/sandboxes/default/policy"]:
            status, data = g.request("GET", path)
            replies.append(data)
        logs = replies[3].decode()
        assert '"class_uid":4002' in logs or '"class_uid": 4002' in logs  # traffic was logged
        needles = key_needles(state)
        key_before = open(os.path.join(state, "ca", "ca.key"), "rb").read()
    finally:
        g.stop()
    # the exports are written by now (a clean stop flushes them)
    assert os.path.isdir(os.path.join(state, "export"))
    assert assert_key_nowhere(state, needles, replies) >= 3

    g = start_up(tollgate_bin, state, free_port())  # a restart keeps the same CA
    try:
        assert tollgate_ca(tollgate_bin, g) == pem
        assert open(os.path.join(state, "ca", "ca.key"), "rb").read() == key_before
    finally:
        g.stop()
    assert_key_nowhere(state, needles)


def test_a_readable_key_stops_the_gateway(tollgate_bin, tmp_path):
    state = tmp_path / "state"
    g = Gateway(tollgate_bin, state).start()
    g.stop()
    key = state / "ca" / "ca.key"
    key.chmod(0o644)
    r = subprocess.run([tollgate_bin, "gateway", "--state", str(state), "--listen",
                        "127.0.0.1:0"], capture_output=True, timeout=30)
    assert r.returncode != 0
    assert b"ca.key" in r.stderr and b"chmod 600" in r.stderr
    assert b"PRIVATE" not in r.stderr
    key.chmod(0o600)
    Gateway(tollgate_bin, state).start().stop()


def test_standalone_proxy_has_the_ca_of_its_state(tollgate_bin, tmp_path, gateway):
    g = gateway()
    own = tmp_path / "proxy-state"
    env = dict(os.environ, TOLLGATE_TOKEN=g.token)
    p = subprocess.Popen([tollgate_bin, "proxy", "--sandbox", "default", "--gateway", g.url,
                          "--state", str(own), "--listen", "127.0.0.1:0"],
                         stderr=subprocess.PIPE, env=env)
    try:
        end = time.time() + 20
        while time.time() < end and not (own / "ca" / "ca.pem").exists():
            assert p.poll() is None, p.stderr.read()
            time.sleep(0.1)
        assert (own / "ca" / "ca.key").stat().st_mode & 0o777 == 0o600
        mine = (own / "ca" / "ca.pem").read_bytes()
        assert mine != tollgate_ca(tollgate_bin, g)  # its own state, its own CA
    finally:
        p.terminate()
        p.wait(20)
        p.stderr.close()


@pytest.mark.skipif(NETNS_SKIP is not None, reason=NETNS_SKIP or "")
def test_attach_reply_carries_the_ca_certificate(tollgate_bin, gateway):
    g = gateway()
    status, body = g.request("POST", "/v1/sandboxes/default/attach", body=b"{}")
    assert status == 200, body
    att = json.loads(body)
    assert att["ca_pem"].encode() == tollgate_ca(tollgate_bin, g)
    assert "PRIVATE" not in body.decode()
    status, body = g.request("GET", "/v1/sandboxes/default/net")
    assert status == 200 and json.loads(body)["ca_pem"] == att["ca_pem"]
