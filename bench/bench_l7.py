#!/usr/bin/python3
"""bench_l7.py: the L7 interception benchmark of `make bench`.

An endpoint with `protocol: rest` + `access:` is intercepted by `tollgate up`'s
proxy: it terminates the client's TLS with a leaf its CA signs ($STATE/ca),
opens its own TLS to the upstream (verified against proxy.upstream_ca), and
decides and logs every HTTP request inside (an OCSF HTTP Activity event each,
into the collector). This measures that path side by side with the same
client talking TLS directly to the same upstream, in the same run, on
127.0.0.1:

  1. requests/s on ONE keep-alive connection (sequential GETs, a 2-byte
     answer): through an intercepted CONNECT tunnel vs a direct TLS
     connection; per-request round trip p50/p99
  2. tollgate's CPU per intercepted request on that warm connection
     (utime+stime of the whole `tollgate up` process from /proc/PID/stat over
     the measured interval, divided by the requests; direct: no proxy, 0);
     goal: under 100 us
  3. new TLS connections/s, one request each (N client threads: connect,
     CONNECT, TLS handshake, GET, close): intercepted vs direct, with
     tollgate's CPU per connection
  4. the leaf certificate cache: hits and misses over the run, from
     tollgate's /metrics (tollgate_tls_leaf_{hits,misses}_total)

The client is Python's http.client.HTTPSConnection (set_tunnel through the
proxy, trusting $STATE/ca/ca.pem; direct: trusting the upstream's CA), TLS 1.3
both ways. Test 1 runs again with a lean client (an ssl socket writing a fixed
request and reading head + Content-Length bytes) as http.client's own CPU is
most of a direct round trip. The upstream is this script in another process (--upstream): a
single-threaded selectors loop over non-blocking ssl sockets answering each
request head with a fixed keep-alive response; its certificate (EC P-256, IP
127.0.0.1) is signed by a CA made for the run with `openssl`. Rounds alternate
direct / tollgate (the machine is shared and noisy: only same-run ratios mean
much); every phase reports the CPU of tollgate, the upstream, the client and
everyone else, so a reader can see who set the pace. When tollgate misses the
CPU goal, an extra, uncounted run under `perf record` shows where its time
goes (--perf). Goals are information
(PASS/MISS): the exit status is 1 only on an error. Free ports, a fresh
temporary directory ($TMPDIR or /tmp) removed at the end, every child stopped
on every exit path.

  bench/bench_l7.py [--build DIR] [--quick] [--conns N] [--rounds N]
                    [--clients http.client,raw] [--perf auto|on|off] [--set KEY=VALUE]...

Python standard library only (Debian's /usr/bin/python3); needs `openssl`.
"""
import argparse
import http.client
import os
import re
import selectors
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time

from benchlib import Cpu, Procs, system_busy_s, pct, fmt  # bench/ is on sys.path

LO = "127.0.0.1"
NCPU = os.cpu_count() or 1
GOAL_US_PER_REQ = 100.0  # 2: tollgate CPU per intercepted request, warm connection
PATH = "/v1/items"
BODY = b"ok"
RESP = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
        % (len(BODY), BODY))

PROCS = Procs()


def log(*a):
    print(*a, flush=True)


# ---- the upstream (a separate process: `bench_l7.py --upstream CERT KEY`) ------

def upstream_main(cert, key):
    """An HTTPS keep-alive responder on 127.0.0.1: one thread, a selectors
    loop over non-blocking ssl sockets; each complete request head (no
    bodies: the bench sends GETs) gets RESP. Prints its port; exits when
    stdin closes (the bench is gone)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((LO, 0))
    ls.listen(4096)
    ls.setblocking(False)
    print(f"port {ls.getsockname()[1]}", flush=True)

    def watchdog():
        sys.stdin.buffer.read()
        os._exit(0)

    threading.Thread(target=watchdog, daemon=True).start()
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ, None)

    def close(s):
        sel.unregister(s)
        s.close()

    def serve(s, st):
        if not st[0]:  # handshaking
            try:
                s.do_handshake()
            except ssl.SSLWantReadError:
                return
            except ssl.SSLWantWriteError:
                sel.modify(s, selectors.EVENT_READ | selectors.EVENT_WRITE, st)
                return
            except (ssl.SSLError, OSError):
                return close(s)
            st[0] = True
            sel.modify(s, selectors.EVENT_READ, st)
        while True:
            try:
                d = s.recv(65536)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            except (ssl.SSLError, OSError):
                d = b""
            if not d:
                return close(s)
            b = st[1] + d
            n = b.count(b"\r\n\r\n")
            if n:
                b = b[b.rindex(b"\r\n\r\n") + 4:]
                try:
                    s.send(RESP * n)  # small: fits the send buffer
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    s.setblocking(True)  # rare: finish it blocking
                    try:
                        s.sendall(RESP * n)
                    except OSError:
                        return close(s)
                    s.setblocking(False)
                except OSError:
                    return close(s)
            st[1] = b
            if not s.pending():  # the rest, if any, is in the kernel: select says
                return

    while True:
        for k, _ in sel.select():
            s = k.fileobj
            if s is not ls:
                serve(s, k.data)
                continue
            while True:
                try:
                    c, _ = ls.accept()
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:  # EMFILE and the like: let the backlog wait
                    break
                c.setblocking(False)
                c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                t = ctx.wrap_socket(c, server_side=True, do_handshake_on_connect=False)
                sel.register(t, selectors.EVENT_READ, [False, b""])


class Upstream:
    def __init__(self, cert, key):
        self.p = PROCS.start([sys.executable, os.path.abspath(__file__), "--upstream", cert, key],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ln = self.p.stdout.readline()
        m = re.match(r"port (\d+)", ln)
        if not m:
            raise RuntimeError(f"the upstream did not start: {ln!r}")
        self.port = int(m.group(1))
        self.pid = self.p.pid


def make_certs(d):
    """a CA for the run and the upstream's certificate (EC P-256, like
    tollgate's leaves, so both sides' handshakes cost the same kind of
    signature), IP:127.0.0.1. Returns (ca.pem, cert, key)."""
    def openssl(*args):
        r = subprocess.run(["openssl", *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"openssl {args[0]} failed: {r.stdout.strip()[-300:]}")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca, cakey = os.path.join(d, "up-ca.pem"), os.path.join(d, "up-ca.key")
    key, csr, cert = (os.path.join(d, x) for x in ("up.key", "up.csr", "up.pem"))
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")
    openssl("req", "-x509", *ec, "-days", "2", "-subj", "/CN=bench_l7 upstream CA",
            "-keyout", cakey, "-out", ca)
    openssl("req", *ec, "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", csr)
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", cakey, "-CAcreateserial",
            "-days", "2", "-extfile", ext, "-out", cert)
    return ca, cert, key


# ---- CPU accounting ----------------------------------------------------------

# ---- the machine -------------------------------------------------------------

def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        text = f.read()
    m = re.search(r"^model name\s*:\s*(.*)$", text, re.M)
    if m:
        model = m.group(1).strip()
    virt = "a virtual machine (cpuinfo: hypervisor)" if re.search(
        r"^flags\s*:.*\bhypervisor\b", text, re.M) else ""
    try:
        with open("/proc/cmdline") as f:
            if re.search(r"\bpvm", f.read()):
                virt += "; a PVM guest (pvm_* on the kernel command line)"
    except OSError:
        pass
    mem = "?"
    with open("/proc/meminfo") as f:
        for ln in f:
            if ln.startswith("MemTotal"):
                mem = f"{int(ln.split()[1]) / 1048576:.1f} GiB"
    load = os.getloadavg()
    s0 = system_busy_s()[0]
    time.sleep(0.5)
    busy = (system_busy_s()[0] - s0) / 0.5
    u = os.uname()
    log("== machine")
    log(f"cpu        {model}, {NCPU} CPUs (this process may use {len(os.sched_getaffinity(0))})")
    log(f"memory     {mem}")
    log(f"kernel     {u.sysname} {u.release} {u.machine}")
    if virt:
        log(f"virt       {virt.lstrip('; ')}")
    log(f"python     {sys.version.split()[0]}, {ssl.OPENSSL_VERSION}")
    log(f"load       {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1/5/15 min); "
        f"{busy:.2f} cores busy before the bench started")
    return {"cpu": model, "kernel": u.release, "busy0": busy}


# ---- tollgate ------------------------------------------------------------------

class Tollgate:
    def __init__(self, a, tmp, up_port, up_ca):
        self.state = os.path.join(tmp, "tollgate")
        os.makedirs(self.state)
        sets = ["proxy.test_allow_loopback=1", f"proxy.upstream_ca={up_ca}"] + a.set
        argv = [a.bin_tollgate, "up", "--state", self.state, "--listen", f"{LO}:0",
                "--proxy-listen", f"{LO}:0"] + [x for kv in sets for x in ("--set", kv)]
        # stderr into a file, not a pipe: draining a pipe here would bill
        # tollgate's log lines to the client's CPU
        self.errfile = os.path.join(tmp, "tollgate.stderr")
        with open(self.errfile, "w") as ef:
            self.p = PROCS.start(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=ef)
        self.pid = self.p.pid
        self.gw = self.port = None
        deadline = time.monotonic() + 15
        while self.gw is None or self.port is None:
            text = self.err_text()
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", text)
            self.gw = int(m.group(1)) if m else None
            m = re.search(r"proxy for sandbox \S+ listening on port (\d+)", text)
            self.port = int(m.group(1)) if m else None
            if self.p.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tollgate up did not start: {self.tail()}")
            time.sleep(0.05)
        with open(os.path.join(self.state, "token")) as f:
            self.token = f.read().strip()
        self.ca = os.path.join(self.state, "ca", "ca.pem")
        self.bins = []
        for b in (os.path.realpath("/usr/bin/python3"), os.path.realpath(sys.executable)):
            if b not in self.bins:
                self.bins.append(b)
        pol = os.path.join(tmp, "policy.yaml")
        with open(pol, "w") as f:
            f.write("version: 1\nnetwork_policies:\n  bench:\n    endpoints:\n"
                    f"      - {{host: {LO}, port: {up_port}, protocol: rest, access: read-write, "
                    "enforcement: enforce}\n    binaries:\n")
            for b in self.bins:
                f.write(f"      - path: {b}\n")
        env = dict(os.environ, TOLLGATE_STATE=self.state, TOLLGATE_GATEWAY=f"http://{LO}:{self.gw}")
        r = subprocess.run([a.bin_tollgate, "policy", "set", "default", "--policy", pol],
                           env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"tollgate policy set failed ({r.returncode}): {r.stdout.strip()}")
        self.version = subprocess.run([a.bin_tollgate, "--version"], stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True).stdout.strip()

    def err_text(self):
        try:
            with open(self.errfile, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def tail(self, n=6):
        return " | ".join(self.err_text().strip().splitlines()[-n:])

    def metrics(self):
        """{name: value} of /metrics (unlabelled series only)"""
        c = http.client.HTTPConnection(LO, self.gw, timeout=10)
        try:
            c.request("GET", "/metrics", headers={"Authorization": f"Bearer {self.token}"})
            r = c.getresponse()
            body = r.read().decode(errors="replace")
            if r.status != 200:
                raise RuntimeError(f"/metrics: {r.status} {body[:200]}")
        finally:
            c.close()
        out = {}
        for ln in body.splitlines():
            m = re.match(r"([a-z_]+) (\d+)$", ln)
            if m:
                out[m.group(1)] = int(m.group(2))
        return out

    def spool_bytes(self):
        n = 0
        for dirpath, _, files in os.walk(os.path.join(self.state, "spool")):
            for f in files:
                try:
                    n += os.path.getsize(os.path.join(dirpath, f))
                except OSError:
                    pass
        return n


# ---- the client --------------------------------------------------------------

TIMEO = struct.pack("ll", 10, 0)


def create_conn(address, timeout=None, source_address=None):
    """http.client's socket: blocking without a Python timeout (that adds a
    poll() per call) but bounded by SO_RCVTIMEO/SO_SNDTIMEO"""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, TIMEO)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, TIMEO)
        s.connect(address)
    except BaseException:
        s.close()
        raise
    return s


class Side:
    """one way to reach the upstream: direct, or through tollgate"""

    def __init__(self, name, up_port, cafile, proxy_port=None, pid=None):
        self.name, self.up_port, self.proxy_port, self.pid = name, up_port, proxy_port, pid
        self.ctx = ssl.create_default_context(cafile=cafile)
        self.ctx.set_alpn_protocols(["http/1.1"])
        self.conns = self.reqs = 0

    def connect(self):
        if self.proxy_port:
            c = http.client.HTTPSConnection(LO, self.proxy_port, context=self.ctx)
            c.set_tunnel(LO, self.up_port)
        else:
            c = http.client.HTTPSConnection(LO, self.up_port, context=self.ctx)
        c._create_connection = create_conn
        c.connect()
        self.conns += 1
        return c


def get(c):
    c.request("GET", PATH)
    r = c.getresponse()
    body = r.read()
    if r.status != 200 or body != BODY:
        raise RuntimeError(f"unexpected answer {r.status} {body[:200]!r}")


class Raw:
    """the lean client of test 1: an ssl socket (through a CONNECT tunnel, or
    direct) writing a fixed request and reading one response (head, then
    Content-Length bytes): what http.client costs besides TLS shows in the
    difference"""

    def __init__(self, side):
        s = create_conn((LO, side.proxy_port or side.up_port))
        try:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if side.proxy_port:
                s.sendall(b"CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n"
                          % (LO.encode(), side.up_port, LO.encode(), side.up_port))
                buf = b""
                while b"\r\n\r\n" not in buf:
                    d = s.recv(4096)
                    if not d:
                        raise RuntimeError(f"the proxy closed before replying ({buf[:120]!r})")
                    buf += d
                if buf.split(b" ", 2)[1:2] != [b"200"] or not buf.endswith(b"\r\n\r\n"):
                    raise RuntimeError(f"CONNECT refused: {buf[:200]!r}")
            self.s = side.ctx.wrap_socket(s, server_hostname=LO)
        except BaseException:
            s.close()
            raise
        side.conns += 1
        self.req = b"GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (
            PATH.encode(), LO.encode(), side.up_port)
        self.buf = b""

    def get(self):
        s = self.s
        s.sendall(self.req)
        buf = self.buf
        while True:
            i = buf.find(b"\r\n\r\n")
            if i >= 0:
                break
            d = s.recv(65536)
            if not d:
                raise RuntimeError("the connection closed mid-response")
            buf += d
        head = buf[:i].lower()
        if not head.startswith(b"http/1.1 200"):
            raise RuntimeError(f"unexpected answer {buf[:200]!r}")
        j = head.find(b"content-length:")
        if j < 0:
            raise RuntimeError(f"no Content-Length: {buf[:200]!r}")
        k = head.find(b"\r\n", j)
        end = i + 4 + int(head[j + 15:k if k > 0 else None])
        while len(buf) < end:
            d = s.recv(65536)
            if not d:
                raise RuntimeError("the connection closed mid-body")
            buf += d
        self.buf = buf[end:]

    def close(self):
        self.s.close()


def keepalive_round(side, client, up, seconds, warm):
    """sequential GETs on one connection with `client` ("http.client" or
    "raw"); returns (requests, seconds, latencies ns sorted, cpu deltas
    [tollgate, upstream, client], cpu)"""
    if client == "raw":
        c = Raw(side)
        one = c.get
    else:
        c = side.connect()
        one = lambda: get(c)  # noqa: E731
    try:
        for _ in range(warm):
            one()
        cpu = Cpu("tollgate")
        lat = []
        clock = time.perf_counter_ns
        cpu.begin(side.pid, up.pid)
        t0 = time.monotonic()
        n = 0
        while True:
            t = clock()
            one()
            lat.append(clock() - t)
            n += 1
            if not n & 63 and time.monotonic() - t0 >= seconds:
                break
        wall = time.monotonic() - t0
        d = cpu.end()
    finally:
        c.close()
    side.reqs += warm + n
    lat.sort()
    return n, wall, lat, d, cpu


def newconn_round(side, up, threads, seconds, warm):
    """`threads` threads each: connect (through the tunnel), GET, close, in a
    loop. Returns (connections, seconds, errors, cpu deltas, cpu)"""
    counts = [0] * threads
    errors = [0] * threads
    last_err = [None]
    stop = threading.Event()

    def run(i):
        while not stop.is_set():
            try:
                c = side.connect()
                try:
                    get(c)
                finally:
                    c.close()
                counts[i] += 1
            except (OSError, RuntimeError, http.client.HTTPException) as e:
                errors[i] += 1
                last_err[0] = repr(e)
                time.sleep(0.01)

    ts = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(threads)]
    for t in ts:
        t.start()
    try:
        time.sleep(warm)
        cpu = Cpu("tollgate")
        n0, e0 = sum(counts), sum(errors)
        cpu.begin(side.pid, up.pid)
        t0 = time.monotonic()
        time.sleep(seconds)
        n1, e1 = sum(counts), sum(errors)
        wall = time.monotonic() - t0
        d = cpu.end()
    finally:
        stop.set()
        for t in ts:
            t.join(15)
    side.reqs += sum(counts)
    return n1 - n0, wall, e1 - e0, last_err[0], d, cpu


# ---- the tests -----------------------------------------------------------------

def test_keepalive(a, sides, up, S):
    """S["ka"][client][side]: test 1 (and 2) with each client"""
    S["ka"] = {}
    for client in a.clients:
        what = ("http.client.HTTPSConnection (set_tunnel through tollgate)"
                if client == "http.client" else "a lean client: an ssl socket writing a fixed "
                "request, reading head + Content-Length bytes")
        log(f"\n== 1+2. one keep-alive connection, {what}: sequential GET {PATH} -> 200 "
            f"\"{BODY.decode()}\", {a.ka_seconds:g} s x {a.rounds} rounds each (after "
            f"{a.ka_warm} warm-up requests)")
        res = {s.name: {"n": 0, "wall": 0.0, "lat": [], "d": [0.0, 0.0, 0.0], "cpu": Cpu("tollgate")}
               for s in sides}
        for r in range(a.rounds):
            for side in (sides if r % 2 == 0 else sides[::-1]):
                n, wall, lat, d, cpu = keepalive_round(side, client, up, a.ka_seconds, a.ka_warm)
                m = res[side.name]
                m["n"] += n
                m["wall"] += wall
                m["lat"] += lat
                m["d"] = [x + y for x, y in zip(m["d"], d)]
                for k in cpu.s:
                    m["cpu"].s[k] += cpu.s[k]
                m["cpu"].wall += cpu.wall
                tg = f", tollgate {d[0] / n * 1e6:.1f} us/req" if side.pid else ""
                log(f"  round {r + 1} {side.name:9s} {fmt(n / wall):>7s} req/s  p50 "
                    f"{pct(50, lat) / 1e3:6.1f} us  p99 {pct(99, lat) / 1e3:7.1f} us{tg}; client "
                    f"{d[2] / n * 1e6:.1f} us/req, upstream {d[1] / n * 1e6:.1f} us/req")
        for side in sides:
            m = res[side.name]
            m["lat"].sort()
            m["rate"] = m["n"] / m["wall"]
            m["us"] = [x / m["n"] * 1e6 for x in m["d"]]
            log(f"  {side.name:9s} {fmt(m['rate'])} req/s over {fmt(m['n'])} requests; p50 "
                f"{pct(50, m['lat']) / 1e3:.1f} us, p99 {pct(99, m['lat']) / 1e3:.1f} us; CPU per "
                f"request: tollgate {m['us'][0]:.1f} us, upstream {m['us'][1]:.1f} us, client "
                f"{m['us'][2]:.1f} us")
            log(f"  {'':9s} {m['cpu'].line('tollgate' if side.pid else None)}")
        d = res["direct"]
        share = d["us"][2] / (1e6 / d["rate"])
        log(f"  the client's own CPU is {share:.0%} of a direct round trip"
            + (": it sets the direct pace, so the ratio understates what tollgate adds; "
               "tollgate's CPU per request does not depend on it" if share > 0.5 else ""))
        S["ka"][client] = res


def test_newconn(a, sides, up, S):
    log(f"\n== 3. new TLS connections, one GET each: {a.conns} client threads with "
        f"http.client (connect, CONNECT when through tollgate, TLS handshake, GET, close), "
        f"{a.nc_seconds:g} s x "
        f"{a.rounds} rounds each (after {a.nc_warm:g} s warm-up)")
    res = {s.name: {"n": 0, "wall": 0.0, "errors": 0, "d": [0.0, 0.0, 0.0], "cpu": Cpu("tollgate")}
           for s in sides}
    for r in range(a.rounds):
        for side in (sides if r % 2 == 0 else sides[::-1]):
            n, wall, errs, last, d, cpu = newconn_round(side, up, a.conns, a.nc_seconds, a.nc_warm)
            m = res[side.name]
            m["n"] += n
            m["wall"] += wall
            m["errors"] += errs
            m["d"] = [x + y for x, y in zip(m["d"], d)]
            for k in cpu.s:
                m["cpu"].s[k] += cpu.s[k]
            m["cpu"].wall += cpu.wall
            tg = f", tollgate {d[0] / max(n, 1) * 1e6:,.0f} us/conn" if side.pid else ""
            err = f", {errs} errors (last: {last})" if errs else ""
            log(f"  round {r + 1} {side.name:9s} {fmt(n / wall):>6s} conn/s{tg}; client "
                f"{d[2] / max(n, 1) * 1e6:,.0f} us/conn, upstream {d[1] / max(n, 1) * 1e6:,.0f} "
                f"us/conn{err}")
    for side in sides:
        m = res[side.name]
        m["rate"] = m["n"] / m["wall"]
        m["us"] = [x / max(m["n"], 1) * 1e6 for x in m["d"]]
        log(f"  {side.name:9s} {fmt(m['rate'])} conn/s over {fmt(m['n'])} connections; CPU per "
            f"connection: tollgate {m['us'][0]:,.0f} us, upstream {m['us'][1]:,.0f} us, client "
            f"{m['us'][2]:,.0f} us")
        log(f"  {'':9s} {m['cpu'].line('tollgate' if side.pid else None)}")
    S["nc"] = res


# ---- where tollgate's time goes (perf) -----------------------------------------

def perf_run(a, tmp, inter, up, S):
    """an extra, uncounted keep-alive run (the lean client) under `perf
    record` of tollgate: its CPU by thread and by function (self)"""
    res = S.get("ka", {}).get("raw") or S.get("ka", {}).get("http.client")
    if a.perf == "off" or not res or (a.perf == "auto" and
                                      res["tollgate"]["us"][0] < GOAL_US_PER_REQ):
        return
    if not shutil.which("perf"):
        log("\n(perf: not installed (Debian linux-perf); skipped)")
        return
    data = os.path.join(tmp, "perf.data")
    pr = PROCS.start(["perf", "record", "-q", "-F", "999", "-g", "-p", str(inter.pid), "-o",
                      data, "--", "sleep", "3"], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    n, _, _, d, _ = keepalive_round(inter, "raw", up, 2.4, 100)
    err = pr.communicate(timeout=60)[1]
    PROCS.stop(pr)
    log(f"\n== where tollgate's time goes: perf record (999 Hz) of tollgate during an extra, "
        f"uncounted 2.4 s keep-alive run with the lean client: {fmt(n)} requests, "
        f"{d[0] / max(n, 1) * 1e6:.0f} us of tollgate CPU each (under perf)")
    if not os.path.exists(data):
        log(f"  perf record failed: {err.strip()[-300:]}")
        return
    for what, args, top in (("per thread (tid:name; tid = pid: the libuv loop), self",
                             ["--sort", "pid"], 8),
                            ("per library, self", ["--sort", "dso"], 8),
                            ("per function, self", ["--sort", "dso,sym"], 25),
                            ("per function, with callees", ["--children", "--sort", "sym"], 25)):
        p = subprocess.run(["perf", "report", "-i", data, "--stdio", "-g", "none",
                            "--percent-limit", "0.5"] + (["--no-children"] if "--children"
                                                         not in args else []) + args,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        rows = [ln.strip() for ln in p.stdout.splitlines() if ln.strip() and
                not ln.startswith("#")]
        log(f"  {what}:")
        for ln in rows[:top]:
            log("    " + ln)


# ---- the summary -------------------------------------------------------------

def summary(a, S, M, tg, t_total):
    def pf(ok):
        return "PASS" if ok else "MISS"

    log("\n== summary (markdown)\n")
    log(f"Machine: {M['cpu']}, {NCPU} CPUs, Linux {M['kernel']}; {M['busy0']:.2f} cores busy "
        f"before the run. One run of `bench/bench_l7.py{' --quick' if a.quick else ''}`, "
        f"{t_total:.0f} s; direct and intercepted alternate in the same run, on 127.0.0.1, same "
        f"Python clients and upstream, TLS 1.3.\n")
    log("| # | what | direct TLS | through tollgate, intercepted | ratio | tollgate CPU | goal |")
    log("|---|---|---|---|---|---|---|")
    for client, res in S.get("ka", {}).items():
        d, t = res["direct"], res["tollgate"]
        ok = t["us"][0] < GOAL_US_PER_REQ
        c = "http.client" if client == "http.client" else "lean ssl-socket client"
        log(f"| 1 | requests/s, one keep-alive connection, {c} | {fmt(d['rate'])}/s | "
            f"{fmt(t['rate'])}/s | {t['rate'] / d['rate']:.2f}x | | |")
        log(f"| | round trip p50 / p99 | {pct(50, d['lat']) / 1e3:.0f} / "
            f"{pct(99, d['lat']) / 1e3:.0f} us | {pct(50, t['lat']) / 1e3:.0f} / "
            f"{pct(99, t['lat']) / 1e3:.0f} us | "
            f"+{(pct(50, t['lat']) - pct(50, d['lat'])) / 1e3:.0f} us (p50) | | |")
        log(f"| 2 | tollgate CPU per request, warm connection, {c} | 0 (no proxy) | "
            f"{t['us'][0]:.1f} us | | {t['us'][0]:.1f} us/req ({t['cpu'].cores('tollgate'):.2f} "
            f"cores) | < {GOAL_US_PER_REQ:g} us: {pf(ok)} |")
        log(f"| | client / upstream CPU per request | {d['us'][2]:.0f} / {d['us'][1]:.0f} us | "
            f"{t['us'][2]:.0f} / {t['us'][1]:.0f} us | | | information |")
    nc = S.get("nc")
    if nc:
        d, t = nc["direct"], nc["tollgate"]
        err = f" ({t['errors']} errors)" if t["errors"] else ""
        log(f"| 3 | new TLS connections/s, one GET each, {a.conns} threads | {fmt(d['rate'])}/s | "
            f"{fmt(t['rate'])}/s{err} | {t['rate'] / d['rate']:.2f}x | {t['us'][0]:,.0f} us/conn "
            f"({t['cpu'].cores('tollgate'):.2f} cores) | information |")
        log(f"| | client / upstream CPU per connection | {d['us'][2]:,.0f} / {d['us'][1]:,.0f} us "
            f"| {t['us'][2]:,.0f} / {t['us'][1]:,.0f} us | | | information |")
    lf = S.get("leaf")
    if lf:
        tot = lf["hits"] + lf["misses"]
        rate = f"{lf['hits'] / tot:.2%}" if tot else "n/a"
        log(f"| 4 | leaf certificate cache, over the run | | {fmt(lf['hits'])} hits, "
            f"{fmt(lf['misses'])} misses: {rate} hits | | | information |")
    log("")
    if tg:
        n = max(1, S.get("tg_reqs", 0))
        sb = tg.spool_bytes()
        log(f"Audit on: tollgate's spool holds {sb / 1e6:.1f} MB after {fmt(n)} intercepted "
            f"requests ({sb / n:,.0f} B per request: an HTTP Activity event each, plus the "
            f"connections' events).")
    for client, res in S.get("ka", {}).items():
        d = res["direct"]
        share = d["us"][2] / (1e6 / d["rate"])
        log(f"Test 1, {client}: the client's own CPU is {share:.0%} of a direct round trip"
            + (" (it sets the direct pace: the ratio understates what tollgate adds; tollgate's "
               "CPU per request does not depend on the client)." if share > 0.5 else "."))
    phases = [m for res in S.get("ka", {}).values() for m in res.values()]
    phases += list(S.get("nc", {}).values())
    w = sum(m["cpu"].wall for m in phases)
    if w:
        log(f"Other processes used {sum(m['cpu'].s['other'] for m in phases) / w:.2f} of the "
            f"{NCPU} cores on average during the measured phases: the more, the lower every "
            f"number.")
    log("Goals are information only; the exit status reports errors, never speed.")


# ---- main ------------------------------------------------------------------------

def on_signal(signum, frame):
    raise SystemExit(128 + signum)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--upstream":
        return upstream_main(sys.argv[2], sys.argv[3])
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "build"), help="the build directory (its tollgate is "
        "copied and run)")
    ap.add_argument("--quick", action="store_true", help="short runs (a smoke test)")
    ap.add_argument("--conns", type=int, default=4, help="client threads of test 3")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds per test")
    ap.add_argument("--clients", default="http.client,raw",
                    help="clients of test 1: http.client, raw (an ssl socket, fixed request)")
    ap.add_argument("--perf", choices=("auto", "on", "off"), default="auto",
                    help="an extra, uncounted keep-alive run under `perf record` of tollgate: "
                    "when the CPU goal was missed (auto), always (on), never (off)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="passed to `tollgate up --set`")
    a = ap.parse_args()
    a.build = os.path.abspath(a.build)
    a.clients = [x for x in a.clients.split(",") if x]
    if not a.clients or set(a.clients) - {"http.client", "raw"}:
        ap.error("--clients takes http.client and/or raw")
    a.ka_seconds, a.ka_warm = (1.5, 200) if a.quick else (5.0, 1000)
    a.nc_seconds, a.nc_warm = (1.5, 0.3) if a.quick else (5.0, 0.5)
    if not os.access(os.path.join(a.build, "tollgate"), os.X_OK):
        sys.exit(f"bench_l7: {a.build}/tollgate missing: run `make` first")
    if not shutil.which("openssl"):
        sys.exit("bench_l7: needs the openssl command (Debian package openssl)")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    tmp = tempfile.mkdtemp(prefix="tg-bench-l7-", dir=os.environ.get("TMPDIR") or None)
    t0 = time.monotonic()
    S = {}
    rc = 0
    tg = None
    try:
        os.makedirs(os.path.join(tmp, "bin"))
        a.bin_tollgate = shutil.copy2(os.path.join(a.build, "tollgate"),
                                      os.path.join(tmp, "bin", "tollgate"))
        M = machine()
        up_ca, cert, key = make_certs(tmp)
        up = Upstream(cert, key)
        t = time.monotonic()
        tg = Tollgate(a, tmp, up.port, up_ca)
        direct = Side("direct", up.port, up_ca)
        inter = Side("tollgate", up.port, tg.ca, tg.port, tg.pid)
        # the proxy follows the policy: wait until it intercepts the bench's
        # tunnel (the client trusts only tollgate's CA: a tunnel that is not
        # intercepted fails verification)
        deadline = time.monotonic() + 15
        while True:
            try:
                c = inter.connect()
                try:
                    get(c)
                finally:
                    c.close()
                break
            except (OSError, RuntimeError, http.client.HTTPException) as e:
                if time.monotonic() > deadline or tg.p.poll() is not None:
                    raise RuntimeError(f"no intercepted request got through: {e!r}; "
                                       f"tollgate: {tg.tail(4)}")
                time.sleep(0.2)
        c = direct.connect()
        get(c)
        c.close()
        log(f"\n== sides (upstream: {os.path.basename(sys.executable)} --upstream, pid {up.pid}, "
            f"port {up.port}, one thread, EC P-256 certificate for IP:127.0.0.1)")
        log("direct     the client connects to the upstream, trusting the run's upstream CA")
        log(f"tollgate   {tg.version}: `tollgate up`, pid {tg.pid}, proxy on {LO}:{tg.port} "
            f"(ready in {time.monotonic() - t:.1f} s); policy: {{host: {LO}, port: {up.port}, "
            f"protocol: rest, access: read-write, enforcement: enforce}} for "
            f"{', '.join(tg.bins)}; the client CONNECTs (set_tunnel) and trusts "
            f"$STATE/ca/ca.pem; tollgate trusts the upstream CA (proxy.upstream_ca); "
            f"loopback allowed by proxy.test_allow_loopback=1"
            + (f"; --set {' '.join(a.set)}" if a.set else ""))
        m0 = tg.metrics()
        have_leaf = "tollgate_tls_leaf_hits_total" in m0
        sides = [direct, inter]
        test_keepalive(a, sides, up, S)
        test_newconn(a, sides, up, S)
        m1 = tg.metrics()
        log("\n== 4. leaf certificate cache (tollgate's /metrics)")
        if have_leaf:
            hk, mk = "tollgate_tls_leaf_hits_total", "tollgate_tls_leaf_misses_total"
            S["leaf"] = {"hits": m1[hk], "misses": m1[mk]}
            log(f"  over the run ({fmt(inter.conns + 1)} intercepted connections): "
                f"{fmt(S['leaf']['hits'])} hits, {fmt(S['leaf']['misses'])} misses; during the "
                f"tests: {fmt(m1[hk] - m0[hk])} hits, {fmt(m1[mk] - m0[mk])} misses")
        else:
            log("  not exposed by this tollgate (no tollgate_tls_leaf_hits_total in /metrics)")
        if tg.p.poll() is not None:
            raise RuntimeError(f"tollgate exited ({tg.p.returncode}): {tg.tail()}")
        perf_run(a, tmp, inter, up, S)
        S["tg_reqs"] = inter.reqs + 1  # + the readiness probe
        summary(a, S, M, tg, time.monotonic() - t0)
    except (Exception, KeyboardInterrupt, SystemExit) as e:
        log(f"\nbench_l7: ERROR: {e!r}")
        if tg:
            log(f"  tollgate stderr: {tg.tail()}")
        rc = 1
    finally:
        PROCS.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
