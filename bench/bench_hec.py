#!/usr/bin/python3
"""bench_hec.py: the HEC sink vs the receiver's ceiling vs syslog-ng's http().

    bench/bench_hec.py [--build DIR] [--events M] [--syslog-ng-root DIR]

All three send the same M OCSF events (build/bench/bench_hec --write-events)
as HEC envelopes in ~1 MiB batches over one keep-alive connection to one
tests/tools/hec_receiver.py --fast on 127.0.0.1, and each rate is M divided
by (the receiver's time of its last event POST - the launch of the sender):

  1. ours: build/bench/bench_hec --send (exp_sink_hec, as the engine drives
     it), gzip on and off
  2. ceiling: this script POSTing prebuilt bodies (built before the clock
     starts) with http.client, plain and gzip: what the receiver can take
  3. peer: syslog-ng 3.38 (Debian) http() destination, one worker, 1 MiB
     batches, flow control, reading the events file (bench/hec/syslog-ng.conf);
     it sends plain bodies (its gzip option came in 4.x)

The ratio is ours (plain) / syslog-ng: both send plain JSON. Without a
syslog-ng tree, the script fetches the Debian packages with `apt-get
download` into DIR/bench/syslog-ng and unpacks them there (nothing is
installed; Debian's syslog-ng conflicts with rsyslog). Standard library only.
"""
import argparse
import glob
import gzip
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import Procs, fmt, proc_cpu_s  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "bench-token"
SNG_PKGS = ["syslog-ng-core", "syslog-ng-mod-http", "libivykis0", "libnet1", "libwrap0"]


class Receiver:
    def __init__(self, procs):
        self.p = procs.start([sys.executable, os.path.join(ROOT, "tests/tools/hec_receiver.py"),
                              "--fast", "--token", TOKEN], stdout=subprocess.PIPE)
        self.port = int(self.p.stdout.readline())

    def call(self, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        c.request("POST" if body is not None else "GET", path,
                  body=json.dumps(body) if body is not None else None)
        r = json.loads(c.getresponse().read())
        c.close()
        return r

    def reset(self):
        self.call("/_control", {"reset_stats": True})

    def wait_events(self, m, timeout=300):
        end = time.time() + timeout
        while time.time() < end:
            s = self.call("/_stats")
            if s["events"] >= m:
                return s
            time.sleep(0.05)
        raise RuntimeError(f"receiver got {s['events']} of {m} events")


def row(name, m, mb, t0, st, cpu_rx, cpu_tx, note=""):
    dt = st["last_event_t"] - t0
    print(f"{name:<34} {fmt(m / dt):>9} ev/s {mb / dt:8.1f} MB/s  {dt:6.2f} s  "
          f"cpu receiver {cpu_rx:5.2f} s sender {cpu_tx:5.2f} s {note}")
    return m / dt


def ours(rx, build, m, body, events_mb):
    rx.reset()
    c0 = proc_cpu_s(rx.p.pid)
    t0 = time.time()
    out = subprocess.run([os.path.join(build, "bench/bench_hec"), "--send",
                          f"http://127.0.0.1:{rx.port}", TOKEN, str(m), body],
                         check=True, capture_output=True, text=True).stdout
    st = rx.wait_events(m)
    res = dict(kv.split("=", 1) for kv in out.split()[1:])
    return row(f"tollgate hec sink ({body})", m, events_mb, t0, st, proc_cpu_s(rx.p.pid) - c0,
               float(res["cpu_s"]), f"resends {res['resends']}")


def bodies(lines, gz):
    out, cur, size = [], [], 0
    for ln in lines:
        cur.append(b'{"time":1795737600.123,"host":"benchhost","source":"tollgate",'
                   b'"sourcetype":"ocsf:network_activity","event":' + ln + b"}")
        size += len(ln)
        if size >= 1 << 20:
            out.append(b"".join(cur))
            cur, size = [], 0
    if cur:
        out.append(b"".join(cur))
    return [gzip.compress(b, 1) for b in out] if gz else out


def ceiling(rx, lines, gz, events_mb):
    bs = bodies(lines, gz)
    hdr = {"Authorization": "Splunk " + TOKEN, "Content-Type": "application/json"}
    if gz:
        hdr["Content-Encoding"] = "gzip"
    rx.reset()
    c0, t0, tx0 = proc_cpu_s(rx.p.pid), time.time(), time.process_time()
    c = http.client.HTTPConnection("127.0.0.1", rx.port, timeout=60)
    for b in bs:
        c.request("POST", "/services/collector/event", body=b, headers=hdr)
        r = c.getresponse()
        r.read()
        if r.status != 200:
            raise RuntimeError(f"ceiling client: HTTP {r.status}")
    c.close()
    st = rx.wait_events(len(lines))
    return row(f"ceiling: http.client ({'gzip' if gz else 'plain'})", len(lines), events_mb, t0,
               st, proc_cpu_s(rx.p.pid) - c0, time.process_time() - tx0)


def syslog_ng_root(build, arg):
    root = arg or os.path.join(build, "bench/syslog-ng")
    if os.path.exists(os.path.join(root, "usr/sbin/syslog-ng")):
        return root
    if arg:
        return None
    os.makedirs(root, exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run(["apt-get", "download"] + SNG_PKGS, cwd=d, capture_output=True, text=True)
        if r.returncode != 0:
            print("syslog-ng: apt-get download failed:", r.stderr.strip()[-300:])
            return None
        for deb in glob.glob(os.path.join(d, "*.deb")):
            subprocess.run(["dpkg-deb", "-x", deb, root], check=True)
    return root if os.path.exists(os.path.join(root, "usr/sbin/syslog-ng")) else None


def peer(rx, procs, root, tmp, events, m, events_mb):
    conf = open(os.path.join(ROOT, "bench/hec/syslog-ng.conf")).read()
    conf = (conf.replace("@EVENTS@", events).replace("@URL@", f"http://127.0.0.1:{rx.port}")
            .replace("@TOKEN@", TOKEN))
    cpath = os.path.join(tmp, "syslog-ng.conf")
    with open(cpath, "w") as f:
        f.write(conf)
    env = dict(os.environ, LD_LIBRARY_PATH=f"{root}/usr/lib/x86_64-linux-gnu:{root}/usr/lib/syslog-ng")
    rx.reset()
    c0, t0 = proc_cpu_s(rx.p.pid), time.time()
    p = procs.start([f"{root}/usr/sbin/syslog-ng", "-F", "--no-caps", "-f", cpath,
                     f"--module-path={root}/usr/lib/syslog-ng/3.38", "-R", f"{tmp}/persist",
                     "-p", f"{tmp}/syslog-ng.pid", "-c", f"{tmp}/syslog-ng.ctl"],
                    env=env, stdout=subprocess.DEVNULL, stderr=open(f"{tmp}/syslog-ng.log", "w"))
    try:
        st = rx.wait_events(m, timeout=120)
        tx = proc_cpu_s(p.pid)
    finally:
        procs.stop(p)
    return row("syslog-ng 3.38 http() (plain)", m, events_mb, t0, st,
               proc_cpu_s(rx.p.pid) - c0, tx)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--events", type=int, default=200000)
    ap.add_argument("--syslog-ng-root")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    procs = Procs()
    tmp = tempfile.mkdtemp(prefix="tg-bench-hec-")
    try:
        events = os.path.join(tmp, "events.ndjson")
        subprocess.run([os.path.join(build, "bench/bench_hec"), "--write-events", events,
                        str(a.events)], check=True)
        with open(events, "rb") as f:
            lines = f.read().splitlines()
        events_mb = sum(len(x) for x in lines) / 1e6
        print(f"{a.events} OCSF events, {events_mb / a.events * 1e6:.0f} bytes each on average, "
              f"{events_mb:.1f} MB of event JSON; MB/s below counts event JSON")
        rx = Receiver(procs)
        ceiling(rx, lines[:20000], False, events_mb * 20000 / a.events)  # warm-up, not shown twice
        print()
        cp = ceiling(rx, lines, False, events_mb)
        cg = ceiling(rx, lines, True, events_mb)
        op = ours(rx, build, a.events, "plain", events_mb)
        og = ours(rx, build, a.events, "gzip", events_mb)
        root = syslog_ng_root(build, a.syslog_ng_root)
        if root:
            sp = peer(rx, procs, root, tmp, events, a.events, events_mb)
            print(f"\nratio ours/syslog-ng (plain bodies): {op / sp:.2f}x  (goal >= 2x: "
                  f"{'PASS' if op / sp >= 2 else 'MISS'}); ours gzip/syslog-ng: {og / sp:.2f}x")
        else:
            print("\nsyslog-ng: no tree; peer skipped")
        print(f"ours/ceiling: plain {op / cp:.2f}, gzip {og / cg:.2f} "
              "(near 1: the Python receiver is the bottleneck)")
    finally:
        procs.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
