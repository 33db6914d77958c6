#!/usr/bin/python3
"""bench_gateway.py: the collector and gateway benchmarks of `make bench`.

Each number is printed next to a peer measured in the same run, on the same
disk and CPUs, with the ratio (the machine is shared and noisy):

  1. collector append throughput (bench_collector, in-process)  vs  the disk
     ceiling for the same bytes per event (dd)
  2. spool write bandwidth  vs  dd writing the same bytes to the same directory
  3. POST /v1/events over loopback  vs  the same requests answered 401 (HTTP
     and client ceiling: the same bytes, no ingest work)
  4. the same event lines through rsyslogd (imtcp -> omfile)  vs  tollgate
  5. latency from POST to a GET /v1/logs?follow=1 reader and to a
     `tollgate logs --tail --json` reader  vs  append -> col_read in-process

then a summary table for README.md. Goals are information (PASS/MISS): the
exit status is 1 only on an error. Everything talks to 127.0.0.1 only, lives
in a fresh temporary directory ($TMPDIR or /tmp), uses free ports, and the
gateway and rsyslogd are stopped on every exit path.

  bench/bench_gateway.py [--build DIR] [--quick] [--only 1,2,3,4,5] [--perf]
                         [--no-rsyslog-sync] [--set KEY=VALUE]...

Python standard library only (Debian's /usr/bin/python3).
"""
import argparse
import http.client
import json
import os
import queue
import itertools
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1

# goals (information only)
GOAL_APPEND = 1_000_000  # events/s, in-process
GOAL_SPOOL_VS_DD = 0.70  # spool MB/s over dd MB/s
GOAL_POST = 200_000  # events/s over loopback


def log(*a):
    print(*a, flush=True)


# ---- processes, cleanup ------------------------------------------------------

from benchlib import Procs, system_busy_s, proc_cpu_s, pct, fmt  # noqa: E402,F401  (bench/ is on sys.path)


PROCS = Procs()


def on_signal(signum, frame):
    raise SystemExit(128 + signum)


# ---- CPU accounting ----------------------------------------------------------

OTHER = []  # (cores used by other processes, seconds) per measured phase


class CpuMeter:
    """Who used the CPUs during a phase: the named server processes, this
    client (self + waited-for children), and everyone else."""

    def __init__(self, servers=None):
        self.servers = servers or {}  # name -> pid
        self.t0 = time.monotonic()
        self.sys0, self.steal0 = system_busy_s()
        t = os.times()
        self.self0 = t.user + t.system + t.children_user + t.children_system
        self.srv0 = {k: proc_cpu_s(p) for k, p in self.servers.items()}

    def stop(self):
        wall = time.monotonic() - self.t0
        sys1, steal1 = system_busy_s()
        t = os.times()
        me = t.user + t.system + t.children_user + t.children_system - self.self0
        srv = {k: proc_cpu_s(p) - self.srv0[k] for k, p in self.servers.items()}
        busy = sys1 - self.sys0
        other = max(0.0, busy - me - sum(srv.values()))
        self.res = {"wall": wall, "client": me / wall, "other": other / wall,
                    "steal": (steal1 - self.steal0) / wall}
        for k, v in srv.items():
            self.res[k] = v / wall
        OTHER.append((self.res["other"], wall))
        return self.res

    def line(self):
        r = self.res
        parts = [f"{k} {r[k]:.2f}" for k in self.servers]
        parts += [f"client {r['client']:.2f}", f"other processes {r['other']:.2f}"]
        if r["steal"] > 0.01:
            parts.append(f"steal {r['steal']:.2f}")
        return f"cores busy ({NCPU} in all): " + ", ".join(parts)


# ---- the machine -------------------------------------------------------------

def machine(tmp):
    model = "?"
    with open("/proc/cpuinfo") as f:
        for ln in f:
            if ln.startswith("model name"):
                model = ln.split(":", 1)[1].strip()
                break
    mem = "?"
    with open("/proc/meminfo") as f:
        for ln in f:
            if ln.startswith("MemTotal"):
                mem = f"{int(ln.split()[1]) / 1048576:.1f} GiB"
    best = ("?", "", "?", "")
    with open("/proc/mounts") as f:
        for ln in f:
            dev, mnt, fs, opts = ln.split()[:4]
            mnt = mnt.replace("\\040", " ")
            if (tmp == mnt or tmp.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best[1]):
                best = (dev, mnt, fs, opts)
    dev, mnt, fs, opts = best
    rot = ""
    base = os.path.basename(os.path.realpath(dev)) if dev.startswith("/dev/") else ""
    for cand in (base, re.sub(r"p?\d+$", "", base)):
        try:
            with open(f"/sys/block/{cand}/queue/rotational") as f:
                rot = f", queue/rotational={f.read().strip()}"
            break
        except OSError:
            pass
    st = os.statvfs(tmp)
    free = st.f_bavail * st.f_frsize / 2**30
    load = os.getloadavg()
    s0, _ = system_busy_s()
    time.sleep(0.5)
    s1, _ = system_busy_s()
    log("== machine")
    log(f"cpu        {model}, {NCPU} CPUs (this process may use {len(os.sched_getaffinity(0))})")
    log(f"memory     {mem}")
    log(f"kernel     {os.uname().sysname} {os.uname().release} {os.uname().machine}")
    log(f"temp dir   {tmp}: {fs} on {dev} (mounted on {mnt}{rot}; {opts}), {free:.0f} GiB free")
    log(f"load       {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1/5/15 min); "
        f"{(s1 - s0) / 0.5:.2f} cores busy before the bench started")
    return {"cpu": model, "ncpu": NCPU, "kernel": os.uname().release, "fs": fs, "dev": dev}


# ---- 1 + 2: collector append and spool bandwidth vs dd -----------------------

def run_bench_collector(binary, tmp, producers, per, fsync, lat_n=0, rate=1000, perf=None,
                        event_bytes=0):
    env = dict(os.environ, TMPDIR=tmp)
    size = ["--event-bytes", str(event_bytes)] if event_bytes else []
    argv = [binary] + size + [str(producers), str(per), fsync, str(lat_n), str(rate)]
    if perf and shutil.which("perf"):
        argv = ["perf", "record", "-q", "-F", "499", "--call-graph", "dwarf,32768", "-o",
                perf, "--"] + argv
    p = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=300)
    for ln in p.stdout.splitlines():
        if not ln.startswith("result "):
            log("  " + ln)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({p.returncode}): {p.stderr.strip()}")
    res = {}
    for ln in p.stdout.splitlines():
        if ln.startswith("result "):
            kind, *kv = ln.split()[1:]
            res[kind] = {k: (float(v) if re.fullmatch(r"[-\d.e+]+", v) else v)
                         for k, v in (x.split("=", 1) for x in kv)}
    return res


def sync():
    subprocess.run(["sync"], check=False)


def run_dd(tmp, nbytes, fdatasync):
    """dd bs=1M of /dev/zero into tmp; MB/s measured by us (whole dd run)"""
    path = os.path.join(tmp, "dd.out")
    count = max(1, (nbytes + (1 << 20) - 1) >> 20)
    argv = ["dd", "if=/dev/zero", f"of={path}", "bs=1M", f"count={count}"]
    if fdatasync:
        argv.append("conv=fdatasync")
    t0 = time.monotonic()
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    dt = time.monotonic() - t0
    os.unlink(path)
    if p.returncode != 0:
        raise RuntimeError(f"dd failed: {p.stderr.strip()}")
    return count * (1 << 20) / dt / 1e6, dt


def bench_collector_and_dd(a, tmp, S):
    binary = a.bin_collector
    log(f"\n== 1. collector append, in-process ({a.producers} producers x {fmt(a.per)} events)"
        f" and 2. spool write bandwidth vs dd (same directory, same bytes)")
    log("dd: if=/dev/zero bs=1M, conv=fdatasync for fsync=interval (both end with the data on "
        "disk),\n    no conv for fsync=never (both end in the page cache; the spool still "
        "fsyncs each 64 MiB segment it seals)")
    out = {}
    # (row, fsync, event bytes, events per producer): the ~1.35 KB NET:OPEN event through
    # col_append, twice, and 500 B events through col_append_raw (as the gateway stores them)
    runs = [("interval", "interval", 0, a.per), ("never", "never", 0, a.per),
            ("interval500", "interval", 500, a.per * 2)]
    for row, mode, ebytes, per in runs:
        # dd before and after the collector (the mean is the peer; the spread shows the
        # noise). The spool's size is known in advance only roughly: use the last run's.
        if ebytes:
            log(f"  -- {a.producers} producers x {fmt(per)} events of {ebytes} B (JSON as stored),"
                f" fsync={mode}")
        sync()
        guess = S.get("spool_bytes" + row) or int(a.producers * per * (ebytes + 90 or 1353))
        dd0, _ = run_dd(tmp, guess, mode == "interval")
        sync()
        cm = CpuMeter()
        r = run_bench_collector(binary, tmp, a.producers, per, mode, event_bytes=ebytes)["append"]
        cm.stop()
        log(f"    {cm.line().replace('client', 'bench_collector')}")
        nbytes = int(r["spool_bytes"])
        sync()
        dd2, _ = run_dd(tmp, nbytes, mode == "interval")
        sync()
        dd1 = (dd0 + dd2) / 2
        S["spool_bytes" + row] = nbytes
        col_mbs = nbytes / r["durable_s"] / 1e6
        evs = r["events"] / r["durable_s"]
        bpe = nbytes / r["events"]
        ratio = col_mbs / dd1
        log(f"  dd         {dd1:8.1f} MB/s   writing {nbytes / 1e6:.0f} MB"
            f"{' + fdatasync' if mode == 'interval' else ' (page cache)'}: the mean of "
            f"{dd0:.0f} before and {dd2:.0f} after")
        if mode == "interval":
            log(f"  spool      {col_mbs:8.1f} MB/s   = {ratio:.0%} of dd (goal >= 70%: "
                f"{'PASS' if ratio >= GOAL_SPOOL_VS_DD else 'MISS'})")
        else:
            dds = out["interval"]["dd"]
            log(f"  spool      {col_mbs:8.1f} MB/s   = {ratio:.0%} of dd to the page cache, "
                f"{col_mbs / dds:.0%} of dd conv=fdatasync above")
        log(f"  ceiling    {dd1 * 1e6 / bpe:8,.0f} ev/s "
            f"{'the disk' if mode == 'interval' else 'the page cache'} takes at {bpe:.0f} B/ev"
            f" (dd MB/s / bytes per event): the collector reached {evs / (dd1 * 1e6 / bpe):.0%}"
            f" of it")
        wns = r["writer_cpu_s"] * 1e9 / r["events"]
        if wns > 0:
            log(f"  writer     {wns:8.0f} ns/ev   on a CPU: one writer thread with a core to "
                f"itself, never waiting on I/O, would cap at {fmt(1e9 / wns)} ev/s")
        if ebytes:
            log(f"  events     {fmt(evs):>8} ev/s durable, {fmt(r['events'] / r['append_s'])} ev/s "
                f"appended (goal >= 1M ev/s: {'PASS' if evs >= GOAL_APPEND else 'MISS'})")
        out[row] = {"evs": evs, "writer_ns": wns, "append_evs": r["events"] / r["append_s"], "mbs": col_mbs, "dd": dd1, "ratio": ratio, "bpe": bpe,
                     "writer_cpu": r["writer_cpu_s"] / r["durable_s"],
                     "writer_rq": r["writer_runnable_s"] / r["durable_s"],
                     "blocked": r["blocked"]}
    S["collector"] = out
    if a.perf and shutil.which("perf"):
        log("  an extra run under perf (not counted):")
        prof = os.path.join(tmp, "perf.collector.data")
        run_bench_collector(binary, tmp, a.producers, a.per // 2, "interval", perf=prof)
        perf_report(prof, "bench_collector, fsync=interval")


# ---- the gateway -------------------------------------------------------------

class Gateway:
    def __init__(self, a, tmp, name):
        self.state = os.path.join(tmp, name)
        os.makedirs(self.state)
        self.bin = a.bin_tollgate
        sets = [x for kv in a.set for x in ("--set", kv)]
        self.p = PROCS.start([self.bin, "gateway", "--state", self.state,
                              "--listen", "127.0.0.1:0"] + sets,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        self.errlines = []
        q = queue.Queue()

        def drain():
            for ln in self.p.stderr:
                self.errlines.append(ln.rstrip())
                q.put(ln)
            q.put(None)

        threading.Thread(target=drain, daemon=True).start()
        deadline = time.monotonic() + 15
        self.port = None
        while self.port is None:
            try:
                ln = q.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                ln = None
            if ln is None:
                raise RuntimeError("the gateway did not start: " + " | ".join(self.errlines))
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", ln)
            if m:
                self.port = int(m.group(1))
        with open(os.path.join(self.state, "token")) as f:
            self.token = f.read().strip()
        self.pid = self.p.pid

    def conn(self, timeout=60):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def stop(self):
        PROCS.stop(self.p, timeout=15)
        shutil.rmtree(self.state, ignore_errors=True)


ACCEPTED = re.compile(rb'"accepted":(\d+),"rejected":(\d+)')


def post_load(gw, body, nev, conns, seconds, token):
    """conns keep-alive connections, each POSTing `body` back to back for
    `seconds`. Returns (events accepted, elapsed, requests, rejected,
    statuses, per-request latencies sorted)."""
    stop = threading.Event()
    start = threading.Barrier(conns + 1)
    lock = threading.Lock()
    tot = {"acc": 0, "rej": 0, "req": 0, "last": 0.0, "status": {}, "lat": [], "err": []}
    hdrs = {"Authorization": "Bearer " + token, "Content-Type": "application/x-ndjson"}

    def worker():
        c = gw.conn()
        acc = rej = req = 0
        lat = []
        st = {}
        last = 0.0
        try:
            c.connect()
            start.wait()
            while not stop.is_set():
                t = time.monotonic()
                c.request("POST", "/v1/events", body=unique_body(body), headers=hdrs)
                r = c.getresponse()
                data = r.read()
                last = time.monotonic()
                lat.append(last - t)
                st[r.status] = st.get(r.status, 0) + 1
                req += 1
                m = ACCEPTED.search(data)
                if m:
                    acc += int(m.group(1))
                    rej += int(m.group(2))
        except Exception as e:  # reported, not fatal to the others
            with lock:
                tot["err"].append(repr(e))
            try:
                start.abort()
            except threading.BrokenBarrierError:
                pass
        finally:
            c.close()
        with lock:
            tot["acc"] += acc
            tot["rej"] += rej
            tot["req"] += req
            tot["last"] = max(tot["last"], last)
            tot["lat"] += lat
            for k, v in st.items():
                tot["status"][k] = tot["status"].get(k, 0) + v

    ths = [threading.Thread(target=worker, daemon=True) for _ in range(conns)]
    for t in ths:
        t.start()
    try:
        start.wait()
    except threading.BrokenBarrierError:
        pass
    t0 = time.monotonic()
    time.sleep(seconds)
    stop.set()
    for t in ths:
        t.join(120)
    if tot["err"]:
        raise RuntimeError("POST client: " + "; ".join(tot["err"][:3]))
    el = max(tot["last"] - t0, 1e-9)
    tot["lat"].sort()
    return tot, el


def samples(a):
    out = subprocess.run([a.bin_tollgate, "ocsf", "samples"],
                         stdout=subprocess.PIPE, check=True).stdout
    lines = [ln for ln in out.split(b"\n") if ln.strip()]
    if not lines:
        raise RuntimeError("tollgate ocsf samples printed nothing")
    return lines


UID_RE = re.compile(rb'"uid":"[0-9a-f-]{36}","version"')
REQ_IDS = itertools.count(1)


def ndjson(lines, n):
    """n events; each metadata.uid is ZZZZZZZZ-0000-4000-8000-<index>: unique_body()
    puts a request number in place of ZZZZZZZZ, so every event is new to the
    gateway (which does not store a uid it has seen lately twice)."""
    out = []
    for i in range(n):
        line = UID_RE.sub(b'"uid":"ZZZZZZZZ-0000-4000-8000-%012d","version"' % i,
                          lines[i % len(lines)])
        out.append(line + b"\n")
    return b"".join(out)


def unique_body(body):
    return body.replace(b"ZZZZZZZZ", b"%08x" % next(REQ_IDS))


def perf_profile(pid, seconds, path):
    """perf record (DWARF call graphs, 499 Hz) of pid for `seconds`, in the
    background; returns the Popen, or None when perf is missing"""
    if not shutil.which("perf"):
        log("  (perf not installed: no profile)")
        return None
    return PROCS.start(["perf", "record", "-q", "-F", "499", "--call-graph", "dwarf,32768",
                        "-p", str(pid), "-o", path, "--", "sleep", str(seconds)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


NOISE = re.compile(r"\] (0x[0-9a-f]+|clone3|start_thread|_start|__libc_start\S*|"
                   r"entry_SYSCALL\S*|do_syscall_64|__raw_callee_save\S*)\s*$")


def perf_report(path, title, top=30):
    """where the time went: per thread (self), per library (self), and the
    functions including their callees"""
    if not os.path.exists(path):
        return
    log(f"  perf ({title}; 499 Hz, DWARF call graphs):")
    for what, args, n in (("per thread (tid:name), self", ["--no-children", "--sort", "pid"], 12),
                          ("per library, self", ["--no-children", "--sort", "dso"], 8),
                          ("per function, with callees", ["--children", "--sort", "sym"], top)):
        p = subprocess.run(["perf", "report", "-i", path, "--stdio", "-g", "none",
                            "--percent-limit", "1"] + args,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        rows = [ln.strip() for ln in p.stdout.splitlines()
                if ln.strip() and not ln.startswith("#") and not NOISE.search(ln)]
        log(f"    {what}:")
        for ln in rows[:n]:
            log("      " + ln)


def bench_post(a, tmp, lines, S):
    log(f"\n== 3. POST /v1/events over loopback (keep-alive http.client threads, "
        f"replies after fsync)")
    gw = Gateway(a, tmp, "gw-post")
    try:
        log(f"gateway pid {gw.pid} on 127.0.0.1:{gw.port}; events: `tollgate ocsf samples` "
            f"({len(lines)} lines, {sum(map(len, lines)) / len(lines):.0f} B avg) replicated")
        log("ceiling: the same client and requests with a wrong token: the gateway reads each "
            "body and answers 401\n         without decoding it (client + HTTP, no ingest)")
        best = None
        for conns, batch in a.configs:
            body = ndjson(lines, batch)
            cm = CpuMeter({"gateway": gw.pid})
            tot, el = post_load(gw, body, batch, conns, a.seconds / 3, "0" * 64)
            cm.stop()
            ceiling = tot["req"] * batch / el
            log(f"  ceiling   {conns:3d} conns x {batch:5d} ev/request: {fmt(ceiling):>9} ev/s "
                f"{tot['req'] * len(body) / el / 1e6:6.0f} MB/s  {tot['req'] / el:6.0f} req/s")
            log(f"            {cm.line()}")
            cm = CpuMeter({"gateway": gw.pid})
            tot, el = post_load(gw, body, batch, conns, a.seconds, gw.token)
            cm.stop()
            evs = tot["acc"] / el
            lat = tot["lat"]
            bad = {k: v for k, v in tot["status"].items() if k != 200}
            gcores = max(cm.res["gateway"], 1e-9)
            log(f"  ingest    {conns:3d} conns x {batch:5d} ev/request: {fmt(evs):>9} ev/s "
                f"{tot['acc'] * len(body) / batch / el / 1e6:6.1f} MB/s  {tot['req'] / el:6.0f}"
                f" req/s  request p50 {pct(50, lat) * 1e3:.0f} ms p99 {pct(99, lat) * 1e3:.0f}"
                f" ms  rejected {tot['rej']}{'  statuses ' + str(bad) if bad else ''}")
            log(f"            {cm.line()}; {fmt(evs / gcores)} ev/s per gateway core "
                f"({gcores * 1e6 / max(evs, 1e-9):.1f} us of CPU per event)")
            r = {"evs": evs, "conns": conns, "batch": batch, "cpu": cm.res, "ceiling": ceiling,
                 "p50": pct(50, lat), "p99": pct(99, lat), "per_core": evs / gcores,
                 "us_per_ev": gcores * 1e6 / max(evs, 1e-9)}
            if best is None or evs > best["evs"]:
                best = r
        ok = (best["cpu"]["client"] < 0.5 * best["cpu"]["gateway"] and
              best["ceiling"] > 2 * best["evs"])
        log(f"  best      {fmt(best['evs'])} ev/s ({best['conns']} x {best['batch']}) = "
            f"{best['evs'] / best['ceiling']:.0%} of its 401 ceiling; goal >= {fmt(GOAL_POST)}"
            f" ev/s: {'PASS' if best['evs'] >= GOAL_POST else 'MISS'}")
        log(f"  client    {'not the bottleneck' if ok else 'MAY BE THE BOTTLENECK'}: it used "
            f"{best['cpu']['client']:.2f} cores vs the gateway's {best['cpu']['gateway']:.2f}, "
            f"and pushed {best['ceiling'] / best['evs']:.1f}x as many events through the 401 "
            f"path")
        log(f"  2 idle    at {best['us_per_ev']:.1f} us of gateway CPU per event, {NCPU} idle "
            f"cores would take ~{fmt(NCPU * 1e6 / best['us_per_ev'])} ev/s (projection)")
        S["post"] = dict(best, client_ok=ok)
        if a.perf:
            conns, batch = best["conns"], best["batch"]
            path = os.path.join(tmp, "perf.gateway.data")
            prof = perf_profile(gw.pid, a.seconds, path)
            if prof:
                time.sleep(0.3)  # attached before the load starts
                post_load(gw, ndjson(lines, batch), batch, conns, a.seconds - 1, gw.token)
                prof.wait()
                PROCS.stop(prof)
                perf_report(path, f"the gateway, an extra {conns} x {batch} run, not counted")
    finally:
        gw.stop()


# ---- 4: rsyslog --------------------------------------------------------------

RSYSLOG_CONF = """\
global(workDirectory="{dir}" maxMessageSize="64k")
module(load="imtcp" MaxSessions="256")
template(name="raw" type="string" string="%rawmsg%\\n")
input(type="imtcp" address="127.0.0.1" port="0" listenPortFileName="{dir}/port"
      ruleset="bench")
ruleset(name="bench") {{
    action(type="omfile" file="{dir}/out.log" template="raw"{extra})
}}
"""


RSYSLOG_SYNC_EVENTS = 24_000


def tcp_load(port, body, nev, conns, seconds, max_sends=None):
    """conns TCP connections sending `body` (nev newline-framed events) back to
    back for `seconds` (or max_sends times each); returns (events sent, bytes
    sent, t0)"""
    stop = threading.Event()
    start = threading.Barrier(conns + 1)
    lock = threading.Lock()
    tot = {"n": 0, "err": []}

    def worker():
        n = 0
        try:
            s = socket.create_connection(("127.0.0.1", port))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            start.wait()
            while not stop.is_set() and (max_sends is None or n < max_sends):
                s.sendall(body)
                n += 1
            s.close()
        except Exception as e:
            with lock:
                tot["err"].append(repr(e))
            try:
                start.abort()
            except threading.BrokenBarrierError:
                pass
        with lock:
            tot["n"] += n

    ths = [threading.Thread(target=worker, daemon=True) for _ in range(conns)]
    for t in ths:
        t.start()
    try:
        start.wait()
    except threading.BrokenBarrierError:
        pass
    t0 = time.monotonic()
    deadline = t0 + seconds
    while time.monotonic() < deadline and any(t.is_alive() for t in ths):
        time.sleep(0.01)
    stop.set()
    for t in ths:
        t.join(120)
    if tot["err"]:
        raise RuntimeError("TCP client: " + "; ".join(tot["err"][:3]))
    return tot["n"] * nev, tot["n"] * len(body), t0


def bench_rsyslog(a, tmp, lines, S):
    log("\n== 4. the same event lines into a file through rsyslogd "
        "(imtcp, newline framing -> omfile %rawmsg%)")
    rs = shutil.which("rsyslogd") or ("/usr/sbin/rsyslogd" if os.path.exists(
        "/usr/sbin/rsyslogd") else None)
    if not rs:
        log("  rsyslogd not installed (Debian: apt-get install rsyslog): skipped")
        return
    ver = subprocess.run([rs, "-v"], stdout=subprocess.PIPE, text=True).stdout.split("\n")[0]
    ver = " ".join(ver.replace("compiled with:", "").split())
    log(f"  {ver}; own instance, private config, only this input and this file")
    res = {}
    variants = [("rsyslog", "")]
    if a.rsyslog_sync:
        variants.append(("rsyslog-sync", ' sync="on"'))
    conns, batch = S.get("post", {}).get("conns"), S.get("post", {}).get("batch")
    conns, batch = conns or a.configs[0][0], batch or a.configs[0][1]
    body = ndjson(lines, batch)
    for name, extra in variants:
        d = os.path.join(tmp, name)
        os.makedirs(d)
        conf = os.path.join(d, "rsyslog.conf")
        with open(conf, "w") as f:
            f.write(RSYSLOG_CONF.format(dir=d, extra=extra))
        p = PROCS.start([rs, "-n", "-f", conf, "-i", os.path.join(d, "rsyslogd.pid")],
                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE, text=True)
        try:
            portf = os.path.join(d, "port")
            deadline = time.monotonic() + 10
            while not (os.path.exists(portf) and open(portf).read().strip()):
                if p.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("rsyslogd did not start: " + p.stderr.read()[-500:])
                time.sleep(0.02)
            time.sleep(0.05)
            port = int(open(portf).read().strip())
            out = os.path.join(d, "out.log")
            cm = CpuMeter({"rsyslogd": p.pid})
            # with sync=on the TCP buffers alone hold many seconds of work: send a
            # fixed amount (~RSYSLOG_SYNC_EVENTS) instead of for a.seconds
            sends = max(1, RSYSLOG_SYNC_EVENTS // (conns * batch)) if extra else None
            nev, nbytes, t0 = tcp_load(port, body, batch, conns, a.seconds, sends)
            # done when every byte sent is in the file
            deadline = time.monotonic() + 60
            size = 0
            while True:
                size = os.path.getsize(out) if os.path.exists(out) else 0
                if size >= nbytes or time.monotonic() > deadline:
                    break
                time.sleep(0.002)
            el = time.monotonic() - t0
            cm.stop()
            if size < nbytes:
                raise RuntimeError(f"{name}: only {size} of {nbytes} bytes reached the file")
            evs = nev / el
            log(f"  {name:12s} {conns:3d} conns x {batch:5d} lines/send: {fmt(evs):>9} ev/s "
                f"{nbytes / el / 1e6:6.1f} MB/s into the file ({fmt(nev)} events, {el:.2f} s"
                f" until the last byte was in the file{', fsync per batch' if extra else ', no fsync'})")
            log(f"               {cm.line()}")
            rcores = max(cm.res["rsyslogd"], 1e-9)
            log(f"               {fmt(evs / rcores)} ev/s per rsyslogd core "
                f"({rcores * 1e6 / evs:.1f} us of CPU per event)")
            res[name] = {"evs": evs, "cpu": cm.res, "per_core": evs / rcores}
        finally:
            PROCS.stop(p)
            shutil.rmtree(d, ignore_errors=True)
    S["rsyslog"] = res
    if "post" in S:
        tg = S["post"]["evs"]
        r = res["rsyslog"]["evs"]
        log(f"  ratio        tollgate {fmt(tg)} ev/s / rsyslog {fmt(r)} ev/s = {tg / r:.2f}x "
            f"(goal: tollgate faster: {'PASS' if tg > r else 'MISS'})")
        tpc, rpc = S["post"]["per_core"], res["rsyslog"]["per_core"]
        log(f"  per core     tollgate {fmt(tpc)} / rsyslog {fmt(rpc)} ev/s per server core = "
            f"{tpc / rpc:.2f}x (steadier on a shared machine)")
        if "rsyslog-sync" in res:
            rs = res["rsyslog-sync"]["evs"]
            log(f"  vs sync=on   tollgate {fmt(tg)} / rsyslog with fsync per batch {fmt(rs)} ev/s"
                f" = {tg / rs:.2f}x")
        log("               tollgate per event: decode + schema check + re-encode + CRC-32C + "
            "SHA-256 chain + fsync (100 ms) + reply after durable;\n"
            "               rsyslog per event: frame + write() the raw line, no reply; no fsync "
            "(sync=on: fsync per batch)")


# ---- 5: latency --------------------------------------------------------------

MSG = re.compile(rb"tgbench i=(-?\d+) t=(\d+)")


def bench_latency(a, tmp, lines, S):
    log(f"\n== 5. latency: POST (1 event per request, {a.lat_rate}/s) -> a follower has the "
        f"line ({a.lat_n} events)")
    gw = Gateway(a, tmp, "gw-latency")
    seen = {"http": {}, "cli": {}}
    cli = None
    try:
        # the event: the denied NET:OPEN sample with `message` = our index and send time
        ev = json.loads(lines[1] if len(lines) > 1 else lines[0])
        ev["message"] = "@@MSG@@"
        ev["metadata"]["uid"] = "ZZZZZZZZ-0000-4000-8000-000000000000"  # unique_body()
        tmpl = json.dumps(ev, separators=(",", ":"), sort_keys=True).encode()
        pre, post = tmpl.split(b"@@MSG@@")

        def body(i):
            return unique_body(pre + b"tgbench i=%d t=%d" % (i, time.monotonic_ns()) + post
                               + b"\n")

        def reader_http():
            c = gw.conn(timeout=None)
            c.request("GET", "/v1/logs?follow=1&format=json&limit=1",
                      headers={"Authorization": "Bearer " + gw.token})
            r = c.getresponse()
            if r.status != 200:
                raise RuntimeError(f"GET /v1/logs: {r.status}")
            while True:
                ln = r.readline()
                if not ln:
                    break
                t = time.monotonic_ns()
                m = MSG.search(ln)
                if m:
                    seen["http"][int(m.group(1))] = (t - int(m.group(2))) / 1e9

        def reader_cli(p):
            for ln in p.stdout:
                t = time.monotonic_ns()
                m = MSG.search(ln)
                if m:
                    seen["cli"][int(m.group(1))] = (t - int(m.group(2))) / 1e9

        threading.Thread(target=reader_http, daemon=True).start()
        cli = PROCS.start([gw.bin, "logs", "--tail", "--json", "-n", "1", "--gateway",
                           f"http://127.0.0.1:{gw.port}", "--state", gw.state],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, env=dict(os.environ, NO_COLOR="1"))
        threading.Thread(target=reader_cli, args=(cli,), daemon=True).start()
        hdrs = {"Authorization": "Bearer " + gw.token, "Content-Type": "application/x-ndjson"}
        # both readers must be following before we start: post markers until both see one
        c = gw.conn()
        marker = -1
        deadline = time.monotonic() + 15
        while not (seen["http"].keys() & seen["cli"].keys()):
            if time.monotonic() > deadline:
                raise RuntimeError("the follow readers did not start")
            c.request("POST", "/v1/events", body=body(marker), headers=hdrs)
            c.getresponse().read()
            marker -= 1
            time.sleep(0.05)
        c.close()

        # senders: a pool of keep-alive connections (each waits ~fsync for its
        # reply); a pacer hands out event i at t0 + i / rate
        q = queue.Queue()
        acked = {}
        errs = []

        def sender():
            cc = gw.conn()
            try:
                while True:
                    i = q.get()
                    if i is None:
                        return
                    b = body(i)
                    t = time.monotonic()
                    cc.request("POST", "/v1/events", body=b, headers=hdrs)
                    r = cc.getresponse()
                    data = r.read()
                    acked[i] = time.monotonic() - t
                    m = ACCEPTED.search(data)
                    if not m or m.group(1) != b"1":
                        errs.append(data[:200])
            except Exception as e:
                errs.append(repr(e))
            finally:
                cc.close()

        nsend = a.lat_senders
        ths = [threading.Thread(target=sender, daemon=True) for _ in range(nsend)]
        for t in ths:
            t.start()
        cm = CpuMeter({"gateway": gw.pid, "tollgate logs": cli.pid})
        t0 = time.monotonic()
        late = 0
        for i in range(a.lat_n):
            at = t0 + i / a.lat_rate
            d = at - time.monotonic()
            if d > 0:
                time.sleep(d)
            elif d < -0.01:
                late += 1
            q.put(i)
        for _ in ths:
            q.put(None)
        for t in ths:
            t.join(60)
        deadline = time.monotonic() + 10
        while (len([k for k in seen["http"] if k >= 0]) < a.lat_n or
               len([k for k in seen["cli"] if k >= 0]) < a.lat_n) and time.monotonic() < deadline:
            time.sleep(0.01)
        cm.stop()
        if errs:
            raise RuntimeError("latency POSTs: " + "; ".join(map(str, errs[:3])))
        res = {}
        rows = [("http", "GET /v1/logs?follow=1 reader", seen["http"]),
                ("cli", "tollgate logs --tail --json", seen["cli"]),
                ("ack", "POST reply (durable)", acked)]
        for key, title, d in rows:
            xs = sorted(v for k, v in d.items() if k >= 0)
            res[key] = {"n": len(xs), "p50": pct(50, xs), "p99": pct(99, xs),
                        "max": xs[-1] if xs else float("nan")}
            log(f"  {title:32s} p50 {res[key]['p50'] * 1e3:7.2f} ms  p99 "
                f"{res[key]['p99'] * 1e3:7.2f} ms  max {res[key]['max'] * 1e3:7.2f} ms  "
                f"({len(xs)}/{a.lat_n})")
        log(f"  {cm.line()}")
        if late:
            log(f"  ({late} events went out more than 10 ms behind schedule: a busy client "
                f"or machine)")
        S["latency"] = res
    finally:
        if cli:
            PROCS.stop(cli)
        gw.stop()
    # the peer: append -> col_read inside one process, same rate and count
    r = run_bench_collector(a.bin_collector, tmp, 1, 0, "interval", a.lat_n,
                            a.lat_rate)["latency"]
    S["latency"]["inproc"] = {"p50": r["p50_us"] / 1e6, "p99": r["p99_us"] / 1e6}
    h = S["latency"]["http"]
    if h["n"]:
        log(f"  ratio      the HTTP follower's p50 is {h['p50'] / (r['p50_us'] / 1e6):.0f}x, "
            f"p99 {h['p99'] / (r['p99_us'] / 1e6):.0f}x the in-process reader's")


# ---- summary -----------------------------------------------------------------

def summary(a, S, M, t_total):
    log("\n== summary (markdown)\n")
    log(f"Machine: {M['cpu']}, {M['ncpu']} CPUs, Linux {M['kernel']}, temp dir on {M['fs']} "
        f"({M['dev']}). One run of `bench/bench_gateway.py`, {t_total:.0f} s; peers measured "
        f"in the same run.\n")
    log("| # | what | tollgate | peer, same run | ratio | goal |")
    log("|---|---|---|---|---|---|")

    def pf(ok):
        return "PASS" if ok else "MISS"

    c = S.get("collector")
    if c:
        i = c["interval"]
        log(f"| 1 | collector append, {a.producers} producers, fsync=interval, "
            f"{i['bpe']:.0f} B/ev | {fmt(i['evs'])} ev/s | disk ceiling (dd MB/s / B/ev) "
            f"{fmt(i['dd'] * 1e6 / i['bpe'])} ev/s | {i['evs'] / (i['dd'] * 1e6 / i['bpe']):.0%} "
            f"| >= 1M ev/s: {pf(i['evs'] >= GOAL_APPEND)} |")
        log(f"| 2 | spool write, fsync=interval | {i['mbs']:.0f} MB/s | dd bs=1M "
            f"conv=fdatasync {i['dd']:.0f} MB/s | {i['ratio']:.0%} | >= 70%: "
            f"{pf(i['ratio'] >= GOAL_SPOOL_VS_DD)} |")
        n = c["never"]
        log(f"| 2 | spool write, fsync=never | {n['mbs']:.0f} MB/s | dd bs=1M (page cache) "
            f"{n['dd']:.0f} MB/s | {n['ratio']:.0%} | information |")
        h = c.get("interval500")
        if h:
            log(f"| 1 | collector append, {a.producers} producers, fsync=interval, 500 B events "
                f"({h['bpe']:.0f} B/ev) | {fmt(h['evs'])} ev/s durable ({fmt(h['append_evs'])} "
                f"appended) | disk ceiling {fmt(h['dd'] * 1e6 / h['bpe'])} ev/s | "
                f"{h['evs'] / (h['dd'] * 1e6 / h['bpe']):.0%} | >= 1M ev/s: "
                f"{pf(h['evs'] >= GOAL_APPEND)} |")
            log(f"| 2 | spool write, fsync=interval, 500 B events | {h['mbs']:.0f} MB/s | dd bs=1M "
                f"conv=fdatasync {h['dd']:.0f} MB/s | {h['ratio']:.0%} | >= 70%: "
                f"{pf(h['ratio'] >= GOAL_SPOOL_VS_DD)} |")
    p = S.get("post")
    if p:
        log(f"| 3 | POST /v1/events, {p['conns']} conns x {p['batch']} ev | {fmt(p['evs'])} ev/s "
            f"| same requests answered 401: {fmt(p['ceiling'])} ev/s | {p['evs'] / p['ceiling']:.0%}"
            f" | >= 200k ev/s: {pf(p['evs'] >= GOAL_POST)} |")
        log(f"| 3 | ... gateway CPU per event | {p['us_per_ev']:.1f} us | "
            f"{NCPU} idle cores: ~{fmt(NCPU * 1e6 / p['us_per_ev'])} ev/s (projection) | | |")
    r = S.get("rsyslog")
    if r and p:
        rr = r["rsyslog"]["evs"]
        log(f"| 4 | same lines over TCP into a file | {fmt(p['evs'])} ev/s (durable, acked) | "
            f"rsyslogd imtcp -> omfile {fmt(rr)} ev/s (no fsync) | {p['evs'] / rr:.2f}x | "
            f"faster than rsyslog: {pf(p['evs'] > rr)} |")
        log(f"| 4 | ... per core of server CPU | {fmt(p['per_core'])} ev/s/core | "
            f"{fmt(r['rsyslog']['per_core'])} ev/s/core | "
            f"{p['per_core'] / r['rsyslog']['per_core']:.2f}x | information |")
        if "rsyslog-sync" in r:
            rs = r["rsyslog-sync"]["evs"]
            log(f"| 4 | ... rsyslog with omfile sync=on | | {fmt(rs)} ev/s (fsync per batch) | "
                f"{p['evs'] / rs:.2f}x | information |")
    lt = S.get("latency")
    if lt:
        h, cl, ip, ack = lt["http"], lt["cli"], lt.get("inproc"), lt["ack"]
        peer = (f"in-process col_read p50 {ip['p50'] * 1e3:.2f} / p99 {ip['p99'] * 1e3:.2f} ms"
                if ip else "")
        ratio = f"{h['p50'] / ip['p50']:.0f}x / {h['p99'] / ip['p99']:.0f}x" if ip else ""
        log(f"| 5 | POST -> follow reader, {a.lat_n} ev at {a.lat_rate}/s | p50 "
            f"{h['p50'] * 1e3:.2f} / p99 {h['p99'] * 1e3:.2f} ms | {peer} | {ratio} | "
            f"information |")
        log(f"| 5 | POST -> `tollgate logs --tail` | p50 {cl['p50'] * 1e3:.2f} / p99 "
            f"{cl['p99'] * 1e3:.2f} ms | | | information |")
        log(f"| 5 | POST -> durable reply | p50 {ack['p50'] * 1e3:.1f} / p99 "
            f"{ack['p99'] * 1e3:.1f} ms | fsync interval 100 ms | | information |")
    if OTHER:
        mean = sum(o * w for o, w in OTHER) / max(sum(w for _, w in OTHER), 1e-9)
        log(f"\nOther processes used {mean:.2f} of the {NCPU} cores on average during the "
            f"measured phases (max {max(o for o, _ in OTHER):.2f}): the more, the lower the "
            f"throughputs; the per-core rows move less.")
    log("\nGoals are information only; the exit status reports errors, never speed.")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"),
                    help="the build directory (tollgate, bench/bench_collector)")
    ap.add_argument("--quick", action="store_true", help="smaller runs (a smoke test)")
    ap.add_argument("--only", default="1,2,3,4,5", help="sections to run, e.g. 3,4")
    ap.add_argument("--perf", action="store_true",
                    help="perf record -g the gateway during the first POST configuration")
    ap.add_argument("--no-rsyslog-sync", dest="rsyslog_sync", action="store_false",
                    help="skip the second rsyslog run (omfile sync=on: fsync per batch)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="passed to `tollgate gateway --set` (experiments: spool.fsync=never)")
    a = ap.parse_args()
    a.build = os.path.abspath(a.build)
    only = set(a.only.split(","))
    a.producers = 2
    a.per = 60_000 if a.quick else 250_000
    a.seconds = 2.0 if a.quick else 6.0
    # (connections, events per request); the first also sets the 401 ceiling,
    # the rsyslog client and the perf profile
    a.configs = [(8, 2000)] if a.quick else [(8, 2000), (16, 500), (32, 100)]
    a.lat_n = 500 if a.quick else 2000
    a.lat_rate = 500
    a.lat_senders = 200
    for b in ("tollgate", "bench/bench_collector"):
        if not os.access(os.path.join(a.build, b), os.X_OK):
            sys.exit(f"bench_gateway: {a.build}/{b} missing: run `make {a.build}/{b}` first")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    signal.signal(signal.SIGINT, on_signal)  # also when started with SIGINT ignored
    sys.setswitchinterval(0.0005)  # reader threads get the GIL back quickly
    tmp = tempfile.mkdtemp(prefix="tg-bench-", dir=os.environ.get("TMPDIR") or None)
    t0 = time.monotonic()
    S = {}
    rc = 0
    try:
        # private copies: a rebuild during the run changes nothing (and perf
        # resolves symbols against the file that runs)
        os.makedirs(os.path.join(tmp, "bin"))
        a.bin_tollgate = shutil.copy2(os.path.join(a.build, "tollgate"),
                                      os.path.join(tmp, "bin", "tollgate"))
        a.bin_collector = shutil.copy2(os.path.join(a.build, "bench", "bench_collector"),
                                       os.path.join(tmp, "bin", "bench_collector"))
        M = machine(tmp)
        lines = samples(a)
        if "1" in only or "2" in only:
            bench_collector_and_dd(a, tmp, S)
        if "3" in only:
            bench_post(a, tmp, lines, S)
        if "4" in only:
            bench_rsyslog(a, tmp, lines, S)
        if "5" in only:
            bench_latency(a, tmp, lines, S)
        summary(a, S, M, time.monotonic() - t0)
    except (Exception, KeyboardInterrupt, SystemExit) as e:
        log(f"\nbench_gateway: ERROR: {e!r}")
        rc = 1
    finally:
        PROCS.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
