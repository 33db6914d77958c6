"""End-to-end tests of IPv6 inside a sandbox's namespace: TCP and UDP over
IPv6 around the proxy are refused and recorded like the IPv4 bypasses
(NET:REFUSE + FINDING naming the binary, its pid and SHA-256, and the
destination); ::1 inside still works; nothing leaves over IPv6 (a counter
on the host side of the sandbox's link proves it).

Only documentation addresses (2001:db8::/32). The sandboxed command runs as
an unprivileged uid in its own mount and pid namespaces: inline `python3 -c`
code only. Needs root and network namespaces; skipped otherwise."""
import os
import random
import re
import subprocess
import sys

import pytest

from test_sandbox_exec import SKIP, sh, up, validate  # noqa: F401 (up: a fixture)

pytestmark = pytest.mark.skipif(SKIP is not None, reason=SKIP or "")

PY = os.path.realpath(sys.executable)
DST = "2001:db8::1"

ATTEMPTS = f"""
import socket, time
try:
    s = socket.create_connection(("{DST}", 443), timeout=5)
    print("tcp data", s.recv(1))  # the catcher answers nothing, then resets
except OSError as e:
    print("tcp refused", type(e).__name__)
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
try:
    u.sendto(b"x", ("{DST}", 5353))
    print("udp sent")
except OSError as e:
    print("udp errno", e.errno)
time.sleep(1.0)  # the socket stays open while the gateway names its holder
"""

FLOOD = f"""
import socket, time
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
for i in range(50):
    try:
        u.sendto(b"x", ("{DST}", 7))
    except OSError:
        pass
time.sleep(1.0)
"""

LOOPBACK = """
import socket
l = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
l.bind(("::1", 0)); l.listen(1)
c = socket.create_connection(("::1", l.getsockname()[1]), timeout=5)
a, _ = l.accept(); c.sendall(b"ping")
u1 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u1.bind(("::1", 0))
u2 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u2.settimeout(5)
u2.sendto(b"pong", u1.getsockname()); u1.settimeout(5)
print(a.recv(4).decode(), u1.recv(4).decode())
"""


class HostWatch:
    """A netdev ingress counter of IPv6 packets on the host side of the
    sandbox's link: every packet arriving there from inside is counted,
    before any other hook (and whatever the host's IPv6 settings)."""

    def __init__(self, link):
        self.table = "tgtest6_%06x" % random.getrandbits(24)
        r = subprocess.run(["nft", "-f", "-"], input=(
            f"table netdev {self.table} {{\n"
            f"  chain ingress {{ type filter hook ingress device \"{link}\" priority 0;\n"
            f"    meta protocol ip6 counter\n"
            f"    counter\n"
            f"  }}\n}}\n").encode(), capture_output=True)
        assert r.returncode == 0, r.stderr

    def counts(self):
        out = sh("nft", "list", "table", "netdev", self.table).stdout.decode()
        return [int(x) for x in re.findall(r"counter packets (\d+)", out)]

    def remove(self):
        subprocess.run(["nft", "delete", "table", "netdev", self.table], capture_output=True)


def bypasses(u, port):
    evs = u.events("sandbox")
    refuse = [e for e in evs if e["class_uid"] == 4001
              and e.get("firewall_rule", {}).get("type") == "bypass"
              and e.get("dst_endpoint", {}).get("ip") == DST
              and e["dst_endpoint"].get("port") == port]
    finding = [e for e in evs if e["class_uid"] == 2004
               and e["finding_info"]["uid"] == "proxy_bypass"
               and e.get("unmapped", {}).get("bypass_destination") == f"[{DST}]:{port}"]
    return refuse, finding


def check_named(refuse, finding, proto, port):
    assert len(refuse) == 1 and len(finding) == 1, (refuse, finding)
    r, f = refuse[0], finding[0]
    for e in (r, f):
        p = e["actor"]["process"]
        assert p["file"]["path"] == PY, p
        assert re.fullmatch(r"[0-9a-f]{64}", p["file"]["hashes"][0]["value"])
        assert isinstance(p["pid"], int) and p["pid"] > 0
    assert r["actor"]["process"]["pid"] == f["actor"]["process"]["pid"]
    assert r["action"] == "Denied" and r["activity_id"] == 5
    assert r["firewall_rule"]["name"] == "proxy_bypass"
    assert r["src_endpoint"]["ip"] and r["src_endpoint"]["port"] > 0
    assert f["unmapped"]["bypass_protocol"] == proto and f["unmapped"]["bypass_ip"] == DST
    pid = r["actor"]["process"]["pid"]
    assert f"{PY}({pid}) tried [{DST}]:{port}" in f["message"], f["message"]
    return pid


def test_ipv6_attempts_are_refused_recorded_and_nothing_leaves(up, tmp_path):
    u = up()
    assert u.cli("sandbox", "create", "--name", "v6box").returncode == 0
    assert u.exec("v6box", "true").returncode == 0  # attached: the link exists
    st, net = u.net("v6box")
    assert st == 200, net
    link = f"tg{u.netid()}h{net['index']}"
    # the host side has IPv6 off: no address, nothing it would answer
    assert open(f"/proc/sys/net/ipv6/conf/{link}/disable_ipv6").read().strip() == "1"
    watch = HostWatch(link)
    try:
        r = u.exec("v6box", PY, "-c", ATTEMPTS)
        assert r.returncode == 0, r.stderr
        out = r.stdout.decode()
        assert "tcp data b'x'" not in out and ("tcp refused" in out or "tcp data b''" in out), out
        assert "udp errno 1" in out, out  # dropped in the namespace's output hook: EPERM
        tcp_pid = check_named(*bypasses(u, 443), "tcp", 443)
        udp_pid = check_named(*bypasses(u, 5353), "udp", 5353)
        assert tcp_pid == udp_pid  # one process made both attempts
        refuse = bypasses(u, 5353)[0][0]
        assert "UDP datagram to [2001:db8::1]:5353" in refuse["status_detail"]
        # a flood from one socket to one destination: one event, the rest counted
        r = u.exec("v6box", PY, "-c", FLOOD)
        assert r.returncode == 0, r.stderr
        refuse7, finding7 = bypasses(u, 7)
        assert len(refuse7) == 1 and len(finding7) == 1, (refuse7, finding7)
        st, net = u.net("v6box")
        v6 = net["ipv6"]
        assert v6["tcp_caught"] >= 1 and v6["udp_recorded"] >= 2, v6
        assert v6["udp_seen"] >= 51 and v6["udp_suppressed"] >= 49, v6
        assert v6["udp_dropped"] >= 51, v6
        # ::1 inside still works, TCP and UDP
        r = u.exec("v6box", PY, "-c", LOOPBACK)
        assert r.returncode == 0 and r.stdout == b"ping pong\n", (r.stdout, r.stderr)
        # not one IPv6 packet reached the host side of the link, though the
        # counter sees what does arrive there (IPv4 to the proxy)
        r = u.exec("v6box", PY, "-c", "import socket; socket.create_connection("
                   f"('{net['host_ip']}', 3128), timeout=5).close()")
        assert r.returncode == 0, r.stderr
        ip6, everything = watch.counts()
        assert ip6 == 0 and everything > 0, (ip6, everything)
    finally:
        watch.remove()
    validate(tmp_path, u.events())
