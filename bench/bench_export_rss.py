#!/usr/bin/python3
"""bench_export_rss.py: the gateway's memory while one exporter is down.

A real `tollgate gateway` with two exporters: `archive` (file) and `splunk`
(HEC at a port where nothing listens: down for the whole run). Clients POST
events as fast as they can for --seconds (default 60); every 5 s we sample
the gateway's RSS, what the file exporter delivered and how far HEC lags.
The spool is the buffer, so RSS must stay flat: the line "RSS growth" is the
number to watch (the goal: flat, i.e. a few MiB at most, whatever the lag).

    bench_export_rss.py [--build build] [--seconds 60] [--clients 2]
"""
import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import Procs, fmt  # noqa: E402


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--clients", type=int, default=2)
    a = ap.parse_args()
    binary = os.path.abspath(os.path.join(a.build, "tollgate"))
    procs = Procs()
    tmp = tempfile.mkdtemp(prefix="tg-bench-rss-")
    try:
        run(a, binary, procs, tmp)
    finally:
        procs.stop_all()
        subprocess.run(["rm", "-rf", tmp])


def run(a, binary, procs, tmp):
    dead = free_port()
    cfg = os.path.join(tmp, "tollgate.yaml")
    with open(cfg, "w") as f:
        f.write(f"""
spool: {{fsync: interval}}
exporters:
  - {{name: archive, type: file, dir: {tmp}/files, compress: none}}
  - name: splunk
    type: hec
    url: "http://127.0.0.1:{dead}"
    token: "bench"
    retry: {{initial: 200ms, max: 2s}}
""")
    state = os.path.join(tmp, "state")
    gw = procs.start([binary, "gateway", "--state", state, "--listen", "127.0.0.1:0",
                      "--config", cfg], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    port = None
    for line in gw.stderr:
        line = line.decode(errors="replace")
        if "listening on" in line:
            port = int(line.split("://", 1)[1].split(" ")[0].rsplit(":", 1)[1])
            break
    threading.Thread(target=lambda: [None for _ in gw.stderr], daemon=True).start()
    token = open(os.path.join(state, "token")).read().strip()
    sample = subprocess.run([binary, "ocsf", "samples"], capture_output=True,
                            check=True).stdout.decode().splitlines()
    evs = [json.loads(l) for l in sample]

    def body(n):
        out = []
        for i in range(n):
            e = evs[i % len(evs)]
            e["metadata"]["uid"] = str(uuid.uuid4())
            out.append(json.dumps(e, separators=(",", ":")))
        return ("\n".join(out) + "\n").encode()

    stop = time.time() + a.seconds
    sent = [0] * a.clients

    def client(k):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while time.time() < stop:
            b = body(500)
            c.request("POST", "/v1/events", b, {"Authorization": "Bearer " + token})
            r = c.getresponse()
            r.read()
            if r.status == 200:
                sent[k] += 500

    def status():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("GET", "/v1/status", headers={"Authorization": "Bearer " + token})
        st = json.loads(c.getresponse().read())
        c.close()
        return {x["name"]: x for x in st["exporters"]}

    base = rss_kib(gw.pid)
    ts = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(a.clients)]
    for t in ts:
        t.start()
    t0 = time.time()
    samples = []
    print(f"{'t (s)':>6} {'ingested':>10} {'file delivered':>15} {'hec lag':>10} {'RSS MiB':>8}")
    while time.time() < stop:
        time.sleep(5)
        st = status()
        rss = rss_kib(gw.pid)
        samples.append(rss)
        print(f"{time.time() - t0:6.0f} {fmt(sum(sent)):>10} "
              f"{fmt(st['archive']['delivered']):>15} {fmt(st['splunk']['lag_events']):>10} "
              f"{rss / 1024:8.1f}")
    for t in ts:
        t.join()
    half = samples[len(samples) // 2:]
    print(f"events ingested: {fmt(sum(sent))} in {a.seconds} s "
          f"({fmt(sum(sent) / a.seconds)} ev/s), HEC down throughout")
    print(f"RSS: idle {base / 1024:.1f} MiB, first sample {samples[0] / 1024:.1f} MiB, "
          f"max {max(samples) / 1024:.1f} MiB, last {samples[-1] / 1024:.1f} MiB")
    print(f"RSS growth over the second half of the run: "
          f"{(max(half) - min(half)) / 1024:.1f} MiB (flat = buffering is the spool's job)")


if __name__ == "__main__":
    main()
