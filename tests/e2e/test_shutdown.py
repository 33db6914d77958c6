"""A clean stop under every kind of client (issue 14, point 3): SIGINT and
SIGTERM end `tollgate up` with exit 0 and its stop event in the spool, while
followers (one reading, one that never reads), a raw API connection in the
middle of a request and a proxy tunnel are open."""
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time

import pytest

from test_proxy import set_policy, up  # noqa: F401 (fixture)

PY = os.path.realpath(sys.executable)


def listener():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    return s


def open_tunnel(proxy_port, target_port):
    s = socket.create_connection(("127.0.0.1", proxy_port), timeout=10)
    s.sendall(f"CONNECT 127.0.0.1:{target_port} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        assert chunk, head
        head += chunk
    assert head.startswith(b"HTTP/1.1 200"), head
    return s


def stop_events(g):
    """The LIFECYCLE events of the gateway, read from the spool after a restart."""
    g.start()
    try:
        status, data = g.request("GET", "/v1/logs?format=json&limit=0&source=gateway")
        assert status == 200
        return [json.loads(l) for l in data.decode().splitlines() if '"class_uid":6002' in l]
    finally:
        g.stop()


def dead_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens: an exporter to it retries forever
    return port


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_stop_with_followers_requests_and_a_tunnel(up, tollgate_bin, tmp_path, sig):
    cfg = tmp_path / "tollgate.yaml"
    cfg.write_text(f"""exporters:
  - {{name: files, type: file, dir: {tmp_path / "files"}, compress: none}}
  - {{name: down, type: hec, url: "http://127.0.0.1:{dead_port()}", token: "x",
     retry: {{initial: 100ms, max: 1s}}}}
""")
    g, port = up("--config", str(cfg))
    target = listener()
    set_policy(tollgate_bin, g, tmp_path, f"""version: 1
network_policies:
  local:
    endpoints: [{{host: 127.0.0.1, port: {target.getsockname()[1]}}}]
    binaries: [{{path: {PY}}}]
""")
    env = dict(os.environ, TOLLGATE_STATE=g.state, TOLLGATE_GATEWAY=g.url)
    follower = subprocess.Popen([tollgate_bin, "logs", "--tail", "-n", "1"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert follower.stdout.readline()  # connected and streaming
    stalled = socket.create_connection(("127.0.0.1", g.port))
    stalled.sendall(f"GET /v1/logs?follow=1&limit=0 HTTP/1.1\r\nHost: x\r\n"
                    f"Authorization: Bearer {g.token}\r\n\r\n".encode())  # never read
    half = socket.create_connection(("127.0.0.1", g.port))
    half.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n")  # no end
    tunnel = open_tunnel(port, target.getsockname()[1])
    poll = socket.create_connection(("127.0.0.1", g.port))  # a long poll on a version to come
    poll.sendall(f"GET /v1/sandboxes/default/policy/status?version=99&wait=60 HTTP/1.1\r\n"
                 f"Host: x\r\nAuthorization: Bearer {g.token}\r\n\r\n".encode())
    time.sleep(0.5)
    g.proc.send_signal(sig)
    assert g.proc.wait(20) == 0, g.proc.stderr.read().decode()[-2000:]
    g.proc.stderr.close()
    # the stop ends the follow stream: the client says so, and would reconnect until Ctrl-C
    ready, _, _ = select.select([follower.stderr], [], [], 10)
    assert ready and b"the gateway went away" in follower.stderr.readline()
    follower.terminate()
    assert follower.wait(10) is not None
    for s in (stalled, half, tunnel, target, poll):
        s.close()
    acts = [e["activity_id"] for e in stop_events(g)]
    first = acts.index(3)  # Start ... Stop, then the restart's Start
    assert 4 in acts[first:acts.index(3, first + 1)], acts
