"""End-to-end tests of the sandbox's cgroup and the identity fast path (issue
17): `sandbox exec` puts the sandbox's processes in a root-owned cgroup v2 of
their own, which they cannot leave; its proxy names callers from that
cgroup's processes first, and gives the same answers as the scan of every
process (TOLLGATE_IDENT_FULL_SCAN=1, the oracle) in each case below.

Needs root and network namespaces, like test_sandbox_exec.py."""
import json
import os
import shutil
import subprocess
import time

import pytest

from test_sandbox_confine import BORROW, PY, inside
from test_sandbox_exec import (SKIP, internet, pub, up,  # noqa: F401 (fixtures)
                               write_policy)

pytestmark = pytest.mark.skipif(SKIP is not None, reason=SKIP or "")

LEAVE = r"""
import errno, json, os
out = {"cgroup": open("/proc/self/cgroup").read().strip().splitlines()[-1]}
rel = out["cgroup"].split("::", 1)[1]
root = "/sys/fs/cgroup" if os.path.exists("/sys/fs/cgroup/cgroup.procs") else "/sys/fs/cgroup/unified"
mine = root + rel
for name, path in (("root", root + "/cgroup.procs"),
                   ("slice", os.path.dirname(mine) + "/cgroup.procs"),
                   ("own", mine + "/cgroup.procs")):
    try:
        with open(path, "w") as f:
            f.write(str(os.getpid()))
        out[name] = "ok"
    except OSError as e:
        out[name] = errno.errorcode[e.errno]
try:
    os.mkdir(mine + "/escape"); out["mkdir"] = "ok"
except OSError as e:
    out["mkdir"] = errno.errorcode[e.errno]
out["child"] = os.popen("cat /proc/self/cgroup").read().strip().splitlines()[-1]
out["after"] = open("/proc/self/cgroup").read().strip().splitlines()[-1]
print(json.dumps(out))
"""


def test_the_sandbox_cannot_leave_its_cgroup(up):
    u = up()
    assert u.cli("sandbox", "create", "--name", "pen").returncode == 0
    rc, out, err = inside(u, LEAVE, name="pen")
    assert rc == 0, err
    got = json.loads(out)
    want = f"0::/tollgate.slice/tg-{u.netid()}-pen"
    assert got["cgroup"] == want and got["child"] == want and got["after"] == want, got
    for k in ("root", "slice", "own", "mkdir"):
        assert got[k] in ("EACCES", "EPERM", "EROFS"), got
    # the gateway's answer names it, and the directory is root's, 0755
    status, net = u.net("pen")
    assert status == 200 and net["cgroup"].endswith(f"/tollgate.slice/tg-{u.netid()}-pen")
    st = os.stat(net["cgroup"])
    assert st.st_uid == 0 and st.st_mode & 0o777 == 0o755


def connect_from_host_in(ns, proxy, target):
    """A host process (not in the sandbox's cgroup) that joined the sandbox's
    network namespace sends a CONNECT to its proxy; (reply, pid)."""
    code = ("import os,socket,sys;h,p=sys.argv[1].rsplit(':',1);s=socket.create_connection((h,int(p)));"
            "s.sendall(('CONNECT %s:443 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'%sys.argv[2]).encode());"
            "s.settimeout(10);print(os.getpid());print(s.recv(100).decode().split('\\r\\n')[0])")
    r = subprocess.run(["ip", "netns", "exec", ns, PY, "-c", code, proxy, target],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    pid, reply = r.stdout.decode().splitlines()
    return reply, int(pid)


@pytest.mark.parametrize("mode", ["cgroup", "full-scan"])
def test_same_answers_with_and_without_the_cgroup(up, internet, tmp_path, pub, mode, monkeypatch):
    """The same decisions and names whichever path answers: an allowed curl,
    python holding the socket with curl (ambiguous, both named), python
    letting go to curl (curl named; the take-back fails), and a host process
    in the namespace (made outside the cgroup: the scan names it)."""
    if mode == "full-scan":
        monkeypatch.setenv("TOLLGATE_IDENT_FULL_SCAN", "1")
    u = up(upstream_ca=internet["cert"])
    curl = os.path.realpath(shutil.which("curl"))
    python = os.path.realpath(PY)
    pol = write_policy(tmp_path, internet, [curl])
    assert u.cli("sandbox", "create", "--name", "lender", "--policy", pol).returncode == 0
    r = u.exec("lender", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
               f"https://{internet['ip']}/")
    assert r.stdout == b"200", (r.stdout, r.stderr)
    rc, out, err = inside(u, BORROW, internet["ip"], "keep", name="lender")
    assert rc == 0, err
    assert json.loads(out)["reply"].startswith("HTTP/1.1 403"), out
    rc, out, err = inside(u, BORROW, internet["ip"], "give", name="lender")
    assert rc == 0, err
    assert json.loads(out)["getfd"] == "EPERM"
    status, net = u.net("lender")
    assert status == 200
    proxy = net["proxy"][len("http://"):]
    reply, hostpid = connect_from_host_in(net["netns"], proxy, internet["ip"])
    assert reply.startswith("HTTP/1.1 403"), reply
    opened = [e for e in u.events("sandbox") if e["class_uid"] == 4001 and e["activity_id"] == 1
              and internet["ip"] in json.dumps(e["dst_endpoint"])]
    got = [(e["action"], e.get("actor", {}).get("process", {}).get("file", {}).get("path"))
           for e in opened]
    assert got[0] == ("Allowed", curl), got
    assert got[1][0] == "Denied" and python in opened[1]["status_detail"] \
        and curl in opened[1]["status_detail"], opened[1]
    # "give": when allowed, curl alone held it when the head was complete
    assert got[2] == ("Allowed", curl) or got[2][0] == "Denied", got
    # the host process: named (its own python), denied by policy
    assert got[3] == ("Denied", python), got
    assert opened[3]["actor"]["process"]["pid"] == hostpid


CLIENT = r"""
import socket, sys, time
h, p = sys.argv[1].rsplit(":", 1)
n, target = int(sys.argv[2]), sys.argv[3]
t = time.time()
for i in range(n):
    s = socket.create_connection((h, int(p)))
    s.sendall(("CONNECT %s:443 HTTP/1.1\r\nHost: x\r\n\r\n" % target).encode())
    r = s.recv(100)
    assert r.startswith(b"HTTP/1.1 200"), r
    s.close()
print(time.time() - t)
"""


def gateway_cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(os.environ.get("TOLLGATE_IDENT_BENCH") is None,
                    reason="a measurement: TOLLGATE_IDENT_BENCH=N runs it")
@pytest.mark.parametrize("mode", ["full-scan", "cgroup"])
def test_measure_cpu_per_connection(up, internet, tmp_path, pub, mode, monkeypatch):
    """The gateway's CPU per proxied CONNECT from inside a sandbox (policy,
    identity, SSRF, dial, event), N connections one after the other."""
    n = int(os.environ["TOLLGATE_IDENT_BENCH"])
    if mode == "full-scan":
        monkeypatch.setenv("TOLLGATE_IDENT_FULL_SCAN", "1")
    u = up()
    pol = write_policy(tmp_path, internet, [os.path.realpath(PY)])
    assert u.cli("sandbox", "create", "--name", "bench", "--policy", pol).returncode == 0
    assert u.exec("bench", "true").returncode == 0
    status, net = u.net("bench")
    assert status == 200
    proxy = net["proxy"][len("http://"):]
    inside(u, CLIENT, proxy, "20", internet["ip"], name="bench")  # warm
    time.sleep(0.5)
    c0 = gateway_cpu(u.g.proc.pid)
    rc, out, err = inside(u, CLIENT, proxy, str(n), internet["ip"], name="bench")
    assert rc == 0, err
    c1 = gateway_cpu(u.g.proc.pid)
    nproc = len([d for d in os.listdir("/proc") if d.isdigit()])
    print(f"\n[{mode}] {n} CONNECTs in {float(out):.2f} s: gateway CPU "
          f"{(c1 - c0) / n * 1e6:.0f} us per connection ({nproc} processes on the host)")
