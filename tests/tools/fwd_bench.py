#!/usr/bin/python3
"""fwd_bench: a forwarded plain-HTTP body through `tollgate up`'s proxy against
the same transfer straight to the upstream, with the spliced body relay and
with the copy relay (TOLLGATE_PROXY_SPLICE=0, a second proxy), interleaved in
one run; tollgate's CPU per GB from /proc/<pid>/stat. Both ends are
tests/tools/fwd_xfer (C), the upstream on loopback.

  /usr/bin/python3 tests/tools/fwd_bench.py --build build-relay2 [--mib 256] [--runs 5]

Rows: resp (a GET with a MiB-sized response body), req (a POST with a
MiB-sized request body, empty reply). Per run: MB/s of direct, splice and
copy, the ratios to the direct run next to them, and tollgate's CPU ms per
GB moved (user + system)."""
import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

from conftest import Gateway  # noqa: E402
from test_proxy import free_port, set_policy, start_up  # noqa: E402

POLICY = """\
version: 1
network_policies:
  local:
    endpoints:
      - {{host: 127.0.0.1, port: {port}}}
    binaries:
      - path: {exe}
"""


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return int(parts[11]) + int(parts[12])  # utime, stime


def proxy(binary, tmp, name, upport, xfer, env):
    port = free_port()
    g = Gateway(binary, os.path.join(tmp, name),
                ["--proxy-listen", f"127.0.0.1:{port}", "--set", "proxy.test_allow_loopback=1"])
    start_up(g, env=env)
    set_policy(binary, g, __import__("pathlib").Path(tmp),
               POLICY.format(port=upport, exe=os.path.realpath(xfer)))
    return g, port


def run(xfer, pport, upport, resp, req, rounds):
    r = subprocess.run([xfer, "get", str(pport), str(upport), str(resp), str(req), str(rounds)],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise SystemExit(f"fwd_xfer get failed: {r.stderr.strip()}")
    return float(r.stdout.split("MBps=")[1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2, help="requests per connection")
    a = ap.parse_args()
    binary = os.path.join(ROOT, a.build, "tollgate")
    xfer = os.path.join(ROOT, a.build, "tools", "fwd_xfer")
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    upport = ls.getsockname()[1]
    srv = subprocess.Popen([xfer, "serve", str(ls.fileno())], pass_fds=(ls.fileno(),))
    tmp = tempfile.mkdtemp(prefix="fwd_bench.")
    gs = {}
    try:
        gs["splice"] = proxy(binary, tmp, "s", upport, xfer, dict(os.environ))
        gs["copy"] = proxy(binary, tmp, "c", upport, xfer,
                           dict(os.environ, TOLLGATE_PROXY_SPLICE="0"))
        n = a.mib << 20
        print(f"# {a.mib} MiB body x {a.rounds} requests per connection, {a.runs} runs, "
              f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
        for row, resp, req in (("resp", n, 0), ("req", 0, n)):
            print(f"{row}: direct MB/s | splice MB/s (vs direct) CPU ms/GB | "
                  f"copy MB/s (vs direct) CPU ms/GB")
            for _ in range(a.runs):
                d = run(xfer, 0, upport, resp, req, a.rounds)
                out = [f"  {d:7.0f}"]
                for mode in ("splice", "copy"):
                    g, pport = gs[mode]
                    t0 = cpu_ticks(g.proc.pid)
                    mbps = run(xfer, pport, upport, resp, req, a.rounds)
                    ticks = cpu_ticks(g.proc.pid) - t0
                    ms_gb = ticks * 1000 / os.sysconf("SC_CLK_TCK") / (n * a.rounds / 1e9)
                    out.append(f"{mode} {mbps:7.0f} ({mbps / d * 100:3.0f}%) {ms_gb:5.0f}")
                print(" | ".join(out), flush=True)
                time.sleep(0.2)
    finally:
        for g, _ in gs.values():
            g.stop()
        srv.kill()


if __name__ == "__main__":
    main()
