#!/usr/bin/python3
"""soak.py: `make soak` (not part of `make test`): for --seconds (default 600)
one `tollgate up` takes, all at once,

  - ingest: POST /v1/events batches with fresh uids (what was acknowledged
    with 200 is remembered),
  - followers: `tollgate logs --tail` processes, restarted with the gateway,
  - proxy traffic: curl through the proxy to a local upstream (allowed) and to
    a name the policy does not allow (denied),
  - policy updates: `tollgate policy update` adding and removing an endpoint,
  - chaos: every --chaos seconds a kill -9 of the gateway, then a restart on
    the same state directory (and now and then a clean SIGTERM instead),

then proves what survived: `tollgate verify` passes (and `verify
--checkpoints` over the file exporter's output when this build has it);
every acknowledged event is in the spool exactly once and in the exported
files at least once. Prints the counts; exit 1 on any loss.

  bench/soak.py [--build DIR] [--seconds N] [--chaos N]
"""
import argparse
import http.client
import http.server
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log(*a):
    print("[soak]", *a, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Gw:
    def __init__(self, binary, state):
        self.binary, self.state = binary, state
        self.port, self.proxy = free_port(), free_port()
        self.proc = None
        self.lock = threading.Lock()

    def start(self):
        args = [self.binary, "up", "--state", self.state, "--listen", f"127.0.0.1:{self.port}",
                "--proxy-listen", f"127.0.0.1:{self.proxy}", "--set",
                "proxy.test_allow_loopback=1"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.state, "..", "gw.log"), "ab"))
        end = time.time() + 30
        while time.time() < end:
            try:
                if self.request("GET", "/v1/health", auth=False)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the gateway did not come up")

    def token(self):
        return open(os.path.join(self.state, "token")).read().strip()

    def request(self, method, path, body=None, auth=True, timeout=30):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = {"Authorization": "Bearer " + self.token()} if auth else {}
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data

    def env(self):
        return dict(os.environ, TOLLGATE_STATE=self.state,
                    TOLLGATE_GATEWAY=f"http://127.0.0.1:{self.port}")


class Upstream(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a):
        pass


def samples(binary):
    out = subprocess.run([binary, "ocsf", "samples"], capture_output=True, check=True).stdout
    return [json.loads(l) for l in out.decode().splitlines()]


def ingest(gw, base, acked, stop, stats):
    while not stop.is_set():
        batch = []
        for _ in range(random.randint(1, 50)):
            ev = json.loads(json.dumps(random.choice(base)))
            ev["metadata"]["uid"] = str(uuid.uuid4())
            batch.append(ev)
        body = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in batch).encode()
        try:
            status, data = gw.request("POST", "/v1/events", body)
        except OSError:
            stats["ingest_errors"] += 1
            time.sleep(0.2)
            continue
        if status == 200 and json.loads(data).get("rejected", 0) == 0:
            acked.update(e["metadata"]["uid"] for e in batch)
        else:
            stats["ingest_refused"] += 1


def traffic(gw, up_port, stop, stats):
    curl = shutil.which("curl")
    while not stop.is_set():
        for url in (f"http://127.0.0.1:{up_port}/x", "http://attacker.example.com/"):
            r = subprocess.run([curl, "-s", "-m", "5", "-x", f"http://127.0.0.1:{gw.proxy}", url],
                               capture_output=True)
            stats["curl_ok" if r.returncode == 0 else "curl_failed"] += 1
            if r.returncode:
                stats["last_curl_error"] = f"{url}: exit {r.returncode}"
        time.sleep(0.05)


def updates(gw, stop, stats):
    n = 0
    while not stop.is_set():
        n += 1
        verb = "--add-endpoint" if n % 2 else "--remove-endpoint"
        binary = ["--binary", "/usr/bin/curl"] if n % 2 else []
        r = subprocess.run([gw.binary, "policy", "update", "default", verb,
                            f"soak{(n + 1) // 2}.example.com:443", *binary],
                           capture_output=True, env=gw.env())
        stats["updates_ok" if r.returncode == 0 else "updates_failed"] += 1
        if r.returncode:
            stats["last_update_error"] = r.stderr.decode(errors="replace").strip()[-200:]
        time.sleep(1)


def followers(gw, stop):
    procs = []
    while not stop.is_set():
        procs = [p for p in procs if p.poll() is None]
        while len(procs) < 3:
            procs.append(subprocess.Popen([gw.binary, "logs", "--tail", "-n", "10"],
                                          env=gw.env(), stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
        time.sleep(1)
    for p in procs:
        p.kill()
        p.wait()


def chaos(gw, stop, every, stats):
    while not stop.wait(every * random.uniform(0.5, 1.5)):
        clean = random.random() < 0.25
        gw.proc.send_signal(signal.SIGTERM if clean else signal.SIGKILL)
        gw.proc.wait(30)
        stats["clean_stops" if clean else "kills"] += 1
        gw.start()


def exported(state):
    uids = {}
    for d, _, files in os.walk(os.path.join(state, "export")):
        for f in files:
            if not f.endswith(".jsonl"):
                continue
            for line in open(os.path.join(d, f), errors="replace"):
                try:
                    u = json.loads(line)["metadata"]["uid"]
                except (ValueError, KeyError):
                    continue
                uids[u] = uids.get(u, 0) + 1
    return uids


def check(gw, acked, stats):
    status, data = gw.request("GET", "/v1/logs?format=json&limit=0&source=all", timeout=300)
    assert status == 200
    spool = {}
    for line in data.decode().splitlines():
        u = json.loads(line)["metadata"]["uid"]
        spool[u] = spool.get(u, 0) + 1
    time.sleep(5)  # the file exporter catches up
    files = exported(gw.state)
    lost = [u for u in acked if u not in spool]
    twice = [u for u in acked if spool.get(u, 0) > 1]
    unexported = [u for u in acked if u not in files]
    log(f"acknowledged {len(acked)}; in the spool {len(acked) - len(lost)} "
        f"(twice: {len(twice)}); exported {len(acked) - len(unexported)}; stats {dict(stats)}")
    return not lost and not twice and not unexported


def verify(gw):
    ok = subprocess.run([gw.binary, "verify", "--state", gw.state]).returncode == 0
    help_text = subprocess.run([gw.binary, "verify", "--help"], capture_output=True).stdout
    if b"--checkpoints" in help_text:
        exports = [os.path.join(d, f) for d, _, fs in os.walk(os.path.join(gw.state, "export"))
                   for f in fs if f.endswith(".jsonl")]
        cat = os.path.join(gw.state, "..", "export-all.jsonl")
        with open(cat, "wb") as out:
            for f in sorted(exports):
                out.write(open(f, "rb").read())
        ok = subprocess.run([gw.binary, "verify", "--state", gw.state, "--checkpoints",
                             cat]).returncode == 0 and ok
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--chaos", type=float, default=30)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (state, gw.log)")
    a = ap.parse_args()
    binary = os.path.abspath(os.path.join(a.build, "tollgate"))
    tmp = tempfile.mkdtemp(prefix="tollgate-soak-")
    gw = Gw(binary, os.path.join(tmp, "state"))
    os.makedirs(gw.state, mode=0o700)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    stats = {k: 0 for k in ("ingest_errors", "ingest_refused", "curl_ok", "curl_failed",
                            "updates_ok", "updates_failed", "kills", "clean_stops")}
    acked, stop = set(), threading.Event()
    try:
        gw.start()
        pol = os.path.join(tmp, "p.yaml")
        open(pol, "w").write("version: 1\nnetwork_policies:\n  local:\n    endpoints: "
                             f"[{{host: 127.0.0.1, port: {srv.server_address[1]}}}]\n"
                             f"    binaries: [{{path: {os.path.realpath(shutil.which('curl'))}}}]\n")
        subprocess.run([binary, "policy", "set", "default", "--policy", pol], env=gw.env(),
                       check=True, capture_output=True)
        base = samples(binary)
        work = [threading.Thread(target=ingest, args=(gw, base, acked, stop, stats)),
                threading.Thread(target=traffic, args=(gw, srv.server_address[1], stop, stats)),
                threading.Thread(target=updates, args=(gw, stop, stats)),
                threading.Thread(target=followers, args=(gw, stop)),
                threading.Thread(target=chaos, args=(gw, stop, a.chaos, stats))]
        for t in work:
            t.start()
        log(f"running for {a.seconds:.0f} s in {tmp}")
        stop.wait(a.seconds)
        stop.set()
        for t in work:
            t.join(120)
        if gw.proc.poll() is not None:
            gw.start()
        ok = check(gw, acked, stats)
        gw.proc.send_signal(signal.SIGTERM)
        gw.proc.wait(30)
        ok = verify(gw) and ok
        log("PASS: nothing acknowledged was lost" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        stop.set()
        if gw.proc and gw.proc.poll() is None:
            gw.proc.kill()
        srv.shutdown()
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
