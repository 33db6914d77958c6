"""Issue 14's smaller failures, each as a test that failed before its fix:
what an unauthenticated client can make the gateway hold, and how the
gateway answers it."""
import socket
import threading
import time

from test_proxy import raw_exchange, up  # noqa: F401 (up: a fixture)


def vm(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])  # kB
    raise KeyError(key)


def big_unauthenticated_post(port, size, out):
    """A POST /v1/events with a size-byte body and no token; records the
    status line the gateway answered and how much of the body went out."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(f"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n"
              "Content-Type: application/x-ndjson\r\n\r\n".encode())
    chunk, sent = b"x" * (1 << 20), 0
    try:
        while sent < size:
            sent += s.send(chunk[:size - sent])
    except OSError:
        pass  # the gateway closed: it refused without reading
    try:
        reply = s.recv(4096)
    except OSError:
        reply = b""
    s.close()
    out.append((reply.split(b"\r\n", 1)[0], sent))


def test_unauthenticated_bodies_are_refused_before_they_are_read(gateway):
    g = gateway()
    pid = g.proc.pid
    time.sleep(0.3)
    peak0 = vm(pid, "VmHWM")
    out = []
    threads = [threading.Thread(target=big_unauthenticated_post, args=(g.port, 60 << 20, out))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(out) == 3
    for status, _ in out:
        assert status == b"HTTP/1.1 401 Unauthorized", out
    grown = vm(pid, "VmHWM") - peak0
    assert grown < 5 * 1024, f"peak RSS grew {grown} kB"
    # the API still answers, and the refusals are counted
    status, data = g.request("GET", "/metrics")
    assert status == 200 and b"tollgate_http_unauthorized_total 3" in data
    assert g.request("GET", "/v1/health", token=False)[0] == 200
    # a wrong token is refused the same way; a right one still posts
    assert g.request("POST", "/v1/events", b"{}\n", token="0" * 64)[0] == 401
    assert g.request("GET", "/nope")[0] == 404


def start_fails(tollgate_bin, state):
    import subprocess
    r = subprocess.run([tollgate_bin, "gateway", "--state", str(state), "--listen",
                        "127.0.0.1:0"], capture_output=True, timeout=30)
    assert r.returncode == 1, r.stderr
    return r.stderr.decode()


def test_one_gateway_per_state_directory(gateway, tollgate_bin):
    g = gateway()
    err = start_fails(tollgate_bin, g.state)
    assert f"state directory {g.state} in use by pid {g.proc.pid}" in err, err
    assert g.proc.poll() is None and g.request("GET", "/v1/status")[0] == 200
    g.stop()  # the lock goes with the process: the next one starts
    g.start()
    assert g.request("GET", "/v1/health", token=False)[0] == 200


def test_state_owned_or_opened_by_others_is_refused(gateway, tollgate_bin, tmp_path):
    import os
    g = gateway()
    g.stop()
    state, token = g.state, os.path.join(g.state, "token")
    cases = [
        (lambda: os.chmod(state, 0o777), lambda: os.chmod(state, 0o700), f"{state} has mode"),
        (lambda: os.chown(state, 65534, 65534), lambda: os.chown(state, 0, 0),
         f"{state} belongs to uid 65534"),
        (lambda: os.chmod(token, 0o644), lambda: os.chmod(token, 0o600), f"{token} has mode"),
        (lambda: os.chown(token, 65534, 65534), lambda: os.chown(token, 0, 0),
         f"{token} belongs to uid 65534"),
        (lambda: os.chmod(os.path.join(state, "spool"), 0o757),
         lambda: os.chmod(os.path.join(state, "spool"), 0o700), "spool has mode"),
    ]
    if os.geteuid() != 0:
        cases = [c for c in cases if "belongs" not in c[2]]
    for spoil, mend, want in cases:
        spoil()
        err = start_fails(tollgate_bin, state)
        assert want in err, (want, err)
        mend()
    g.start()  # all mended: it starts again
    assert g.request("GET", "/v1/status")[0] == 200


def test_logs_parameter_with_nul_is_refused(gateway):
    g = gateway()
    status, data = g.request("GET", "/v1/logs?limit=1%00")
    assert status == 400 and b"limit" in data, data
    status, data = g.request("GET", "/v1/logs?source=%zz")
    assert status == 400 and b"source" in data, data
    assert g.request("GET", "/v1/logs?limit=1")[0] == 200


def test_status_report_for_a_version_that_does_not_exist(gateway):
    import json
    g = gateway()
    body = json.dumps({"proxy": "p1", "version": 99, "status": "loaded"}).encode()
    status, data = g.request("POST", "/v1/sandboxes/default/policy/status", body)
    assert status == 409 and b"does not exist" in data, data
    status, data = g.request("GET", "/v1/sandboxes/default/policy/status")
    assert b'"p1"' not in data, data
    body = json.dumps({"proxy": "p1", "version": 1, "status": "loaded"}).encode()
    assert g.request("POST", "/v1/sandboxes/default/policy/status", body)[0] == 200


def test_cli_with_state_goes_to_that_states_gateway(gateway, tollgate_bin):
    import os
    import subprocess
    g = gateway()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLGATE_")}
    r = subprocess.run([tollgate_bin, "status", "--state", g.state], capture_output=True,
                       env=env, timeout=30)
    assert r.returncode == 0 and b"spool" in r.stdout.lower(), (r.stdout, r.stderr)
    g.stop()  # gone: the CLI refuses rather than sending the token to the default address
    r = subprocess.run([tollgate_bin, "status", "--state", g.state], capture_output=True,
                       env=env, timeout=30)
    assert r.returncode == 1 and b"no gateway holds the state directory" in r.stderr, r.stderr


def head_recorder():
    """A one-shot upstream on 127.0.0.1 that keeps the request head it got."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    got = []

    def serve():
        c, _ = s.accept()
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = c.recv(4096)
            if not chunk:
                break
            data += chunk
        got.append(data)
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        c.close()
        s.close()
    threading.Thread(target=serve, daemon=True).start()
    return s.getsockname()[1], got


def test_proxy_framing_and_hop_by_hop_headers(up, tollgate_bin, tmp_path):
    import os
    import sys
    from test_proxy import set_policy
    g, port = up()
    up_port, got = head_recorder()
    set_policy(tollgate_bin, g, tmp_path, f"""version: 1
network_policies:
  local:
    endpoints: [{{host: 127.0.0.1, port: {up_port}}}]
    binaries: [{{path: {os.path.realpath(sys.executable)}}}]
""")
    url = f"http://127.0.0.1:{up_port}/x"
    out = raw_exchange(port, f"POST {url} HTTP/1.1\r\nHost: 127.0.0.1:{up_port}\r\n"
                         "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n".encode())
    assert out.startswith(b"HTTP/1.1 400"), out
    out = raw_exchange(port, f"GET {url} HTTP/1.1\r\nHost: 127.0.0.1:{up_port}\r\n"
                         "Connection: close, X-Secret-Hop\r\nX-Secret-Hop: 42\r\n"
                         "X-Kept: 1\r\n\r\n".encode())
    assert out.startswith(b"HTTP/1.1 200"), out
    head = got[0].decode().lower()
    assert "x-kept: 1" in head and "x-secret-hop" not in head, head


def test_a_thousand_idle_connections_under_a_1024_soft_limit(tollgate_bin, tmp_path):
    """`ulimit -Sn 1024`, then 1,100 idle connections to the proxy: the
    gateway raised its own limit (or capped the proxy below it), so the API
    and a CONNECT still answer."""
    import resource
    from conftest import Gateway
    from test_proxy import free_port, start_up
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    else:
        resource.setrlimit(resource.RLIMIT_NOFILE, (4096, hard))  # this test's own 1,100 sockets
    port = free_port()
    g = Gateway(tollgate_bin, tmp_path / "state", ["--proxy-listen", f"127.0.0.1:{port}"])
    real = g.binary
    wrapper = tmp_path / "tollgate-1024"
    wrapper.write_text(f'#!/bin/sh\nulimit -Sn 1024\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    g.binary = str(wrapper)
    start_up(g)
    idle = []
    try:
        for _ in range(1100):
            try:
                idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            except OSError:
                break  # capped: closed at accept is fine, the process must still serve
        time.sleep(0.5)
        assert g.request("GET", "/v1/health", token=False)[0] == 200
        assert g.request("GET", "/v1/status")[0] == 200
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"CONNECT attacker.example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = s.recv(4096)
        s.close()
        assert reply.startswith(b"HTTP/1.1 "), reply  # answered (403 or 503), not reset
    finally:
        for s in idle:
            s.close()
        g.stop()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_cli_never_trusts_an_address_another_user_wrote(gateway, tollgate_bin, tmp_path):
    """A gateway.lock someone else owns (or may write) could name their own
    listener and collect the caller's token: the CLI refuses it."""
    import os
    import subprocess
    g = gateway()
    lock = os.path.join(g.state, "gateway.lock")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLGATE_")}
    os.chmod(lock, 0o666)
    r = subprocess.run([tollgate_bin, "status", "--state", g.state], capture_output=True,
                       env=env, timeout=30)
    assert r.returncode == 1 and b"no gateway holds the state directory" in r.stderr, r.stderr
    os.chmod(lock, 0o600)
    if os.geteuid() == 0:
        os.chown(lock, 65534, 65534)
        r = subprocess.run([tollgate_bin, "status", "--state", g.state], capture_output=True,
                           env=env, timeout=30)
        assert r.returncode == 1, r.stderr
        os.chown(lock, 0, 0)
