"""End-to-end tests of the BPF step of caller identity (issue 17): the proxy of
`tollgate up` (no sandbox cgroup, so every lookup's holders come from the BPF
task_file iterator, proxy/ident_bpf.c) makes the same decisions as with the
/proc scan (TOLLGATE_IDENT_BPF=0): an allowed client is named, and a socket
held by two binaries is refused as ambiguous with both named.

Needs root and kernel BTF; skipped with the reason the gateway logged when
the BPF iterator cannot load there."""
import json
import os
import socket
import subprocess
import sys
import threading

import pytest

from conftest import Gateway, settle
from test_proxy import free_port, set_policy, start_up

PY = os.path.realpath(sys.executable)
SLEEP = os.path.realpath("/bin/sleep")
OFF_LINE = "caller identity: the BPF iterator is off"

# Connects to the proxy; "share" first gives a copy of the socket to a
# /bin/sleep child (another binary: ambiguous). Prints the reply's first line.
CLIENT = r"""
import socket, subprocess, sys
port, target, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port))
kid = None
if mode == "share":
    kid = subprocess.Popen(["/bin/sleep", "30"], pass_fds=(s.fileno(),))
s.sendall(("CONNECT %s HTTP/1.1\r\nHost: x\r\n\r\n" % target).encode())
s.settimeout(15)
print(s.recv(200).decode(errors="replace").split("\r\n")[0])
if kid:
    kid.kill(); kid.wait()
"""


@pytest.fixture(scope="module")
def upstream():
    """A TCP server on loopback that accepts and holds connections."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    held = []

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            held.append(c)
    threading.Thread(target=serve, daemon=True).start()
    yield srv.getsockname()[1]
    srv.close()


def start(tollgate_bin, state, env):
    port = free_port()
    g = start_up(Gateway(tollgate_bin, state, ["--proxy-listen", f"127.0.0.1:{port}",
                                               "--set", "proxy.test_allow_loopback=1"]), env)
    return g, port, g.startup_text


def run_cases(tollgate_bin, tmp_path, upstream, bpf):
    env = dict(os.environ)
    env.pop("TOLLGATE_IDENT_FULL_SCAN", None)
    if not bpf:
        env["TOLLGATE_IDENT_BPF"] = "0"
    g, port, log = start(tollgate_bin, tmp_path / ("state-bpf" if bpf else "state-scan"), env)
    try:
        if bpf and OFF_LINE in log:
            why = [l for l in log.splitlines() if OFF_LINE in l][0]
            pytest.skip(f"BPF unavailable here: {why}")
        assert OFF_LINE not in log, log  # TOLLGATE_IDENT_BPF=0 is said nowhere
        set_policy(tollgate_bin, g, tmp_path, f"""\
version: 1
network_policies:
  local:
    endpoints:
      - {{host: 127.0.0.1, port: {upstream}}}
    binaries:
      - path: {PY}
""")
        target = f"127.0.0.1:{upstream}"
        replies = []
        for mode in ("alone", "share", "alone"):
            r = subprocess.run([PY, "-c", CLIENT, str(port), target, mode], capture_output=True,
                               timeout=30)
            assert r.returncode == 0, r.stderr
            replies.append(r.stdout.decode().strip())
        settle(g)
        status, data = g.request("GET", "/v1/logs?format=json&limit=0&source=sandbox")
        assert status == 200
        opened = [json.loads(l) for l in data.decode().splitlines()]
        opened = [e for e in opened if e["class_uid"] == 4001 and e["activity_id"] == 1]
        return replies, opened
    finally:
        g.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="the BPF iterator needs root (CAP_BPF, CAP_PERFMON)")
def test_bpf_and_scan_make_the_same_decisions(tollgate_bin, tmp_path, upstream):
    got = {}
    for bpf in (True, False):
        replies, opened = run_cases(tollgate_bin, tmp_path, upstream, bpf)
        assert replies[0].startswith("HTTP/1.1 200") and replies[2].startswith("HTTP/1.1 200"), \
            replies
        assert replies[1].startswith("HTTP/1.1 403"), replies  # ambiguous: refused
        assert len(opened) == 3, opened
        assert [e["action"] for e in opened] == ["Allowed", "Denied", "Allowed"]
        assert opened[0]["actor"]["process"]["file"]["path"] == PY
        detail = opened[1]["status_detail"]
        assert "different binaries" in detail and PY in detail and SLEEP in detail, detail
        got[bpf] = [(e["action"], e.get("actor", {}).get("process", {}).get("file", {})
                     .get("path")) for e in opened]
    assert got[True] == got[False]
