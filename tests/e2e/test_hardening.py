"""Issue 14's smaller failures, each as a test that failed before its fix:
what an unauthenticated client can make the gateway hold, and how the
gateway answers it."""
import socket
import threading
import time


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
