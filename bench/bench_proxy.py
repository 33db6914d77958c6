#!/usr/bin/python3
"""bench_proxy.py: the proxy benchmark of `make bench`.

tollgate's egress proxy (`tollgate up`: policy, caller identity (the holders
of the client socket from a BPF task_file iterator), SSRF guard, an OCSF
event per connection into the collector) side by side with a direct
connection, tollgate-scan (the same with TOLLGATE_IDENT_BPF=0: the holders
from the /proc/*/fd scan) and two peers, tinyproxy (twice: without and with
its per-connection log) and squid, all measured in the same run, with the
same client and upstream, on 127.0.0.1:

  a. CONNECT setup latency: sequential connections, client sends CONNECT and
     waits for the 200 (direct: connect() returns); p50, p99, after warm-up;
     then tollgate again with an idle process holding --extra-fds more fds
     (its identity lookup reads every fd on the host)
  b. new connections per second: N client threads each doing CONNECT, a tiny
     request and response through the tunnel, close, for a few seconds
  c. bulk tunnel throughput: one tunnel, the upstream streams zeros, the
     client reads and discards them; MB/s, proxy CPU per GB, page faults

Rounds of each test alternate between the peers (the machine is shared and
noisy; only same-run ratios mean much). Every phase reports the CPU of the
proxy, the upstream, the client and everyone else (/proc). The upstream is
this script in another process (--upstream). A peer that cannot be found or
started is reported and skipped. For each goal tollgate misses, an extra,
uncounted run under `perf record` shows where its time goes (--perf). Goals
are information (PASS/MISS): the exit status is 1 only on an error. Free
ports, a fresh temporary directory ($TMPDIR or /tmp) removed at the end,
every child stopped on every exit path.

  bench/bench_proxy.py [--build DIR] [--quick] [--only a,b,c] [--perf auto|all|off]
                       [--peers tollgate,tollgate-scan,tinyproxy,tinyproxy+log,squid]
                       [--conns N] [--rounds N] [--extra-fds N] [--no-ceiling]
                       [--set KEY=VALUE]... [--env KEY=VALUE]...

Python standard library only (Debian's /usr/bin/python3).
"""
import argparse
import os
import pwd
import queue
import re
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1
LO = "127.0.0.1"

# goals (information only)
GOAL_P99_MS = 1.0       # a: tollgate CONNECT setup p99, warm
GOAL_RATE_VS_TINY = 1.0  # b: tollgate conn/s over tinyproxy conn/s
GOAL_BULK_VS_DIRECT = 0.90  # c: tollgate MB/s over direct MB/s

# the short exchange of test b (and the probes): an HTTP-looking request and
# a fixed response; the upstream answers when it has seen the end of the head
REQ = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
RESP = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
BULK_CHUNK = 1 << 20


def log(*a):
    print(*a, flush=True)


# ---- the upstream (a separate process: `bench_proxy.py --upstream`) ----------

def upstream_main():
    """Two listeners on 127.0.0.1: `short` answers RESP to each request head
    (a selectors loop, one thread), then closes when the client does; `bulk`
    reads a line with a byte count (0: until the client goes away) and streams
    that many zero bytes, one thread per connection. Prints the ports; exits
    when stdin closes (the bench is gone)."""
    short = socket.socket()
    short.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    short.bind((LO, 0))
    short.listen(4096)
    short.setblocking(False)
    bulk = socket.socket()
    bulk.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    bulk.bind((LO, 0))
    bulk.listen(64)
    print(f"ports {short.getsockname()[1]} {bulk.getsockname()[1]}", flush=True)

    def watchdog():
        sys.stdin.buffer.read()
        os._exit(0)

    zeros = memoryview(bytes(BULK_CHUNK))

    def stream(c):
        try:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            line = b""
            while b"\n" not in line:
                d = c.recv(64)
                if not d:
                    return
                line += d
            left = int(line.split(b"\n", 1)[0] or 0)
            if left == 0:
                while True:
                    c.sendall(zeros)
            while left > 0:
                k = c.send(zeros[:min(left, BULK_CHUNK)])
                left -= k
            c.shutdown(socket.SHUT_WR)
            c.recv(1)  # the client's close
        except (OSError, ValueError):
            pass
        finally:
            c.close()

    def bulk_loop():
        while True:
            c, _ = bulk.accept()
            threading.Thread(target=stream, args=(c,), daemon=True).start()

    threading.Thread(target=watchdog, daemon=True).start()
    threading.Thread(target=bulk_loop, daemon=True).start()

    sel = selectors.DefaultSelector()
    sel.register(short, selectors.EVENT_READ, None)
    bufs = {}
    while True:
        for key, _ in sel.select():
            s = key.fileobj
            if s is short:
                while True:
                    try:
                        c, _ = short.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:  # EMFILE and the like: let the backlog wait
                        break
                    c.setblocking(False)
                    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    bufs[c] = b""
                    sel.register(c, selectors.EVENT_READ, None)
                continue
            try:
                d = s.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                d = b""
            if not d:
                sel.unregister(s)
                bufs.pop(s, None)
                s.close()
                continue
            b = bufs[s] + d
            if b"\r\n\r\n" in b:
                try:
                    s.send(RESP)  # short: fits the empty send buffer
                except OSError:
                    pass
                b = b""
            bufs[s] = b


# ---- processes, cleanup ------------------------------------------------------

import benchlib  # noqa: E402  (bench/ is on sys.path)
from benchlib import Procs, system_busy_s, proc_cpu_s, pct, fmt  # noqa: E402,F401


PROCS = Procs()


def on_signal(signum, frame):
    raise SystemExit(128 + signum)


def drain(p, keep):
    """reads a child's stderr (text) into `keep` (last lines) and a queue"""
    q = queue.Queue()

    def run():
        for ln in p.stderr:
            keep.append(ln.rstrip())
            del keep[:-40]
            q.put(ln)
        q.put(None)

    threading.Thread(target=run, daemon=True).start()
    return q


def free_port():
    s = socket.socket()
    s.bind((LO, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, p, timeout, what, errfile=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if p.poll() is not None:
            tail = ""
            if errfile and os.path.exists(errfile):
                with open(errfile, errors="replace") as f:
                    tail = " | ".join(f.read().strip().splitlines()[-6:])
            raise RuntimeError(f"{what} exited with status {p.returncode}: {tail}")
        try:
            socket.create_connection((LO, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {LO}:{port} within {timeout:.0f} s")


# ---- CPU accounting ----------------------------------------------------------

def proc_minflt(pid):
    """minor page faults of a process so far (all its threads); 0 when gone"""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return 0
    return int(s[s.rindex(")") + 2:].split()[7])


class Cpu(benchlib.Cpu):
    """benchlib's Cpu for a proxy, plus its minor page faults."""

    def __init__(self):
        super().__init__("proxy")
        self.faults = 0

    def begin(self, proxy_pid, up_pid):
        super().begin(proxy_pid, up_pid)
        self._flt = proc_minflt(proxy_pid) if proxy_pid else 0

    def end(self):
        d = super().end()
        if self._pids[0]:
            self.faults += proc_minflt(self._pids[0]) - self._flt
        return d

    def line(self, name):
        return super().line(None if name == "direct" else name)


# ---- the machine -------------------------------------------------------------

def machine():
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
    nproc = nfd = 0
    for d in os.listdir("/proc"):
        if d.isdigit():
            nproc += 1
            try:
                nfd += len(os.listdir(f"/proc/{d}/fd"))
            except OSError:
                pass
    load = os.getloadavg()
    s0, _ = system_busy_s()
    time.sleep(0.5)
    s1, _ = system_busy_s()
    log("== machine")
    log(f"cpu        {model}, {NCPU} CPUs (this process may use {len(os.sched_getaffinity(0))})")
    log(f"memory     {mem}")
    log(f"kernel     {os.uname().sysname} {os.uname().release} {os.uname().machine}")
    virt = []
    with open("/proc/cpuinfo") as f:
        if re.search(r"^flags\s*:.*\bhypervisor\b", f.read(), re.M):
            virt.append("a virtual machine (cpuinfo: hypervisor)")
    try:
        with open("/proc/cmdline") as f:
            if re.search(r"\bpvm", f.read()):
                virt.append("a PVM guest (pvm_* on the kernel command line)")
    except OSError:
        pass
    if virt:
        log(f"virt       {'; '.join(virt)}")
    log(f"load       {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1/5/15 min); "
        f"{(s1 - s0) / 0.5:.2f} cores busy before the bench started")
    log(f"/proc      {nproc} processes holding {nfd} fds (tollgate's identity lookup walks "
        f"them for each connection)")
    return {"cpu": model, "kernel": os.uname().release, "nproc": nproc, "nfd": nfd,
            "busy0": (s1 - s0) / 0.5}


# ---- the client --------------------------------------------------------------

TIMEO = struct.pack("ll", 10, 0)


class Refused(Exception):
    pass


def new_sock():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # blocking (no Python timeout: that adds a poll() per call), but bounded
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, TIMEO)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, TIMEO)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def open_conn(proxy_port, target_port):
    """A connection to the upstream's target_port: direct (proxy_port None)
    or through a CONNECT tunnel. Returns the socket and the bytes that came
    after the proxy's reply head."""
    s = new_sock()
    try:
        if proxy_port is None:
            s.connect((LO, target_port))
            return s, b""
        s.connect((LO, proxy_port))
        s.sendall(b"CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n"
                  % (LO.encode(), target_port, LO.encode(), target_port))
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = s.recv(4096)
            if not d:
                raise Refused(f"the proxy closed before replying ({buf[:120]!r})")
            buf += d
        head, rest = buf.split(b"\r\n\r\n", 1)
        parts = head.split(b" ", 2)
        if len(parts) < 2 or parts[1] != b"200":
            first = head.split(b"\r\n", 1)[0].decode(errors="replace")
            body = rest[:300].decode(errors="replace")
            raise Refused(f"{first} {body}".strip())
        return s, rest
    except BaseException:
        s.close()
        raise


def exchange(s, rest):
    """the tiny request/response of test b"""
    s.sendall(REQ)
    got = len(rest)
    while got < len(RESP):
        d = s.recv(4096)
        if not d:
            raise ConnectionError("the upstream closed early")
        got += len(d)


# ---- peers -------------------------------------------------------------------

class Peer:
    name = "?"
    port = None  # the proxy's port; None: direct
    pid = None
    desc = ""
    bulk = True  # takes part in test c
    conns = 0  # connections made through it (all tests, warm-ups too)

    def stop(self):
        pass


class Direct(Peer):
    name = "direct"
    desc = "no proxy: the client connects to the upstream"


class Tollgate(Peer):
    name = "tollgate"

    def __init__(self, a, tmp, up_ports, scan=False):
        # scan: "tollgate-scan", the same binary with the BPF step of caller
        # identity off (TOLLGATE_IDENT_BPF=0): every lookup scans /proc/*/fd
        if scan:
            self.name = "tollgate-scan"
        self.state = os.path.join(tmp, self.name)
        os.makedirs(self.state)
        sets = ["proxy.test_allow_loopback=1"] + a.set
        argv = [a.bin_tollgate, "up", "--state", self.state, "--listen", f"{LO}:0",
                "--proxy-listen", f"{LO}:0"] + [x for kv in sets for x in ("--set", kv)]
        self.err = []
        env = dict(os.environ, **dict(kv.split("=", 1) for kv in a.env))
        if scan:
            env["TOLLGATE_IDENT_BPF"] = "0"
        self.p = PROCS.start(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True, env=env)
        q = drain(self.p, self.err)
        deadline = time.monotonic() + 15
        gw = None
        while gw is None or self.port is None:
            try:
                ln = q.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                ln = None
            if ln is None:
                raise RuntimeError("did not start: " + " | ".join(self.err[-6:]))
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", ln)
            if m:
                gw = int(m.group(1))
            m = re.search(r"proxy for sandbox \S+ listening on port (\d+)", ln)
            if m:
                self.port = int(m.group(1))
        self.pid = self.p.pid
        # the policy: the upstream's two ports, for the python that runs this
        # script (its realpath too: /usr/bin/python3 -> python3.11)
        bins = ["/usr/bin/python3*"]
        for b in (sys.executable, os.path.realpath(sys.executable)):
            if b and not b.startswith("/usr/bin/python3") and b not in bins:
                bins.append(b)
        pol = os.path.join(tmp, "policy.yaml")
        with open(pol, "w") as f:
            f.write("version: 1\nnetwork_policies:\n  bench:\n    endpoints:\n")
            for port in up_ports:
                f.write(f"      - {{host: {LO}, port: {port}}}\n")
            f.write("    binaries:\n")
            for b in bins:
                f.write(f"      - path: {b}\n")
        env = dict(os.environ, TOLLGATE_STATE=self.state, TOLLGATE_GATEWAY=f"http://{LO}:{gw}")
        r = subprocess.run([a.bin_tollgate, "policy", "set", "default", "--policy", pol],
                           env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"tollgate policy set failed ({r.returncode}): "
                               f"{r.stdout.strip()}")
        # the proxy follows the policy: wait until it lets the bench through
        deadline = time.monotonic() + 15
        while True:
            try:
                s, rest = open_conn(self.port, up_ports[0])
                exchange(s, rest)
                s.close()
                break
            except (Refused, OSError) as e:
                if time.monotonic() > deadline or self.p.poll() is not None:
                    raise RuntimeError(f"the proxy still refuses the bench: {e}; "
                                       + " | ".join(self.err[-4:]))
                time.sleep(0.1)
        v = subprocess.run([a.bin_tollgate, "--version"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True).stdout.strip()
        self.desc = (f"{v}: `tollgate up` (gateway, collector, proxy in one process), "
                     f"pid {self.pid}, proxy on {LO}:{self.port}; policy: the upstream's "
                     f"ports for {', '.join(bins)}; identity, SSRF guard (loopback allowed "
                     f"by proxy.test_allow_loopback=1), an OCSF event per connection")
        off = [ln for ln in self.err if "caller identity: the BPF iterator is off" in ln]
        if scan:
            self.desc += "; TOLLGATE_IDENT_BPF=0: identity by the /proc/*/fd scan"
        elif off:
            self.desc += f"; BPF OFF, identity by the /proc scan: {off[0].strip()}"
        else:
            self.desc += "; identity holders by the BPF task_file iterator"
        if a.set:
            self.desc += f"; --set {' '.join(a.set)}"
        if a.env:
            self.desc += f"; environment {' '.join(a.env)}"

    def spool_bytes(self):
        n = 0
        for dirpath, _, files in os.walk(os.path.join(self.state, "spool")):
            for f in files:
                try:
                    n += os.path.getsize(os.path.join(dirpath, f))
                except OSError:
                    pass
        return n

    def stop(self):
        PROCS.stop(self.p, timeout=15)


def drop_to(path, user):
    """when root: let `user` (the daemon drops to it) write in path"""
    if os.geteuid() != 0:
        return
    pw = pwd.getpwnam(user)
    os.chown(path, pw.pw_uid, pw.pw_gid)


class Tinyproxy(Peer):
    """log=False: LogLevel Critical (nothing logged per connection: tinyproxy
    at its fastest). log=True: LogLevel Connect, three lines per connection,
    each written and fsync()ed by tinyproxy (Debian's own config logs at Info,
    which includes these)."""
    name = "tinyproxy"

    def __init__(self, a, tmp, up_ports, log=False):
        if log:
            self.name = "tinyproxy+log"
            self.bulk = False  # one connection: the log changes nothing
        exe = shutil.which("tinyproxy") or (os.path.exists("/usr/bin/tinyproxy")
                                            and "/usr/bin/tinyproxy")
        if not exe:
            raise RuntimeError("tinyproxy is not installed (Debian package tinyproxy)")
        d = os.path.join(tmp, self.name)
        os.makedirs(d)
        user = None
        if os.geteuid() == 0:
            user = "nobody"
            drop_to(d, user)
        err = os.path.join(d, "stderr")
        last = None
        for attempt in range(3):
            self.port = free_port()
            conf = os.path.join(d, "tinyproxy.conf")
            with open(conf, "w") as f:
                f.write(f"Port {self.port}\nListen {LO}\nTimeout 600\nMaxClients 4096\n"
                        f"Allow {LO}\nDisableViaHeader Yes\n"
                        f"LogFile \"{d}/tinyproxy.log\"\n"
                        f"LogLevel {'Connect' if log else 'Critical'}\n")
                for p in up_ports:
                    f.write(f"ConnectPort {p}\n")
                if user:
                    f.write(f"User {user}\nGroup {pwd.getpwnam(user).pw_gid}\n")
            with open(err, "w") as ef:
                self.p = PROCS.start([exe, "-d", "-c", conf], stdin=subprocess.DEVNULL,
                                     stdout=ef, stderr=ef)
            try:
                wait_port(self.port, self.p, 10, "tinyproxy", err)
                break
            except RuntimeError as e:
                last = e
                PROCS.stop(self.p)
        else:
            raise last
        self.pid = self.p.pid
        v = subprocess.run([exe, "-v"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True).stdout.strip()
        self.desc = (f"{v}, pid {self.pid}, port {self.port}: own config (Listen/Allow "
                     f"127.0.0.1, ConnectPort the upstream's, MaxClients 4096, "
                     + ("LogLevel Connect: 3 lines per connection, each fsync()ed by tinyproxy, "
                        "into the temp dir" if log else "LogLevel Critical: no per-connection "
                        "log")
                     + f"{', User nobody' if user else ''})")

    def stop(self):
        PROCS.stop(self.p)


class Squid(Peer):
    name = "squid"

    def __init__(self, a, tmp, up_ports):
        exe = shutil.which("squid") or (os.path.exists("/usr/sbin/squid") and "/usr/sbin/squid")
        if not exe:
            raise RuntimeError("squid is not installed (Debian package squid)")
        d = os.path.join(tmp, "squid")
        os.makedirs(d)
        if os.geteuid() == 0:
            drop_to(d, "proxy")  # squid started as root runs as cache_effective_user proxy
        err = os.path.join(d, "stderr")
        last = None
        for attempt in range(3):
            self.port = free_port()
            conf = os.path.join(d, "squid.conf")
            with open(conf, "w") as f:
                f.write(f"""http_port {LO}:{self.port}
acl bench_src src {LO}/32
acl bench_ports port {' '.join(map(str, up_ports))}
acl CONNECT method CONNECT
http_access allow bench_src CONNECT bench_ports
http_access allow bench_src
http_access deny all
cache deny all
cache_mem 8 MB
access_log stdio:{d}/access.log
cache_log {d}/cache.log
cache_store_log none
logfile_rotate 0
pid_filename {d}/squid.pid
coredump_dir {d}
netdb_filename none
pinger_enable off
client_db off
shutdown_lifetime 0 seconds
max_filedescriptors 16384
visible_hostname tg-bench
via off
forwarded_for delete
""")
            with open(err, "w") as ef:
                self.p = PROCS.start([exe, "-N", "-f", conf], stdin=subprocess.DEVNULL,
                                     stdout=ef, stderr=ef)
            try:
                wait_port(self.port, self.p, 30, "squid", err)
                break
            except RuntimeError as e:
                last = e
                PROCS.stop(self.p)
                if os.path.exists(os.path.join(d, "cache.log")):
                    with open(os.path.join(d, "cache.log"), errors="replace") as f:
                        last = RuntimeError(f"{e} | cache.log: "
                                            + " | ".join(f.read().strip().splitlines()[-4:]))
        else:
            raise last
        self.pid = self.p.pid
        v = subprocess.run([exe, "-v"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True).stdout.splitlines()[0].strip()
        self.desc = (f"{v}, pid {self.pid}, port {self.port}: `squid -N -f CONF`, own config "
                     f"(allow 127.0.0.1, cache deny all, no cache_dir, access_log in the "
                     f"temp dir)")

    def stop(self):
        PROCS.stop(self.p, timeout=10)


# ---- results -----------------------------------------------------------------

def vs(out, name, fd, ft):
    """`name` against direct (fd) and against tinyproxy (ft): f(result, base)"""
    parts = []
    for base, f in (("direct", fd), ("tinyproxy", ft)):
        if base != name and base in out and name != "direct":
            parts.append(f"vs {base} {f(out[name], out[base])}")
    return ", ".join(parts)


CPUS = []  # every Cpu of a measured phase (for the mean of other processes)


def new_cpu():
    c = Cpu()
    CPUS.append(c)
    return c


FAILED = {}  # (test, peer name) -> why: that peer left that test


def attempt(test, p, cpu, up, fn):
    """one round of a test for peer p, its CPU counted; None when it failed
    (or failed before): p leaves the test. A failure of tollgate or direct
    makes the run's exit status 1."""
    if (test, p.name) in FAILED:
        return None
    cpu.begin(p.pid, up.pid)
    try:
        return fn()
    except (OSError, Refused) as e:
        why = repr(e)
        if p.pid and getattr(p, "p", None) and p.p.poll() is not None:
            why += f" (it exited with status {p.p.returncode})"
        FAILED[(test, p.name)] = why
        log(f"  {p.name}: FAILED, leaves test {test}: {why}")
        return None
    finally:
        cpu.end()


# ---- test a: CONNECT setup latency -------------------------------------------

def lat_round(peer, up, n, warm):
    xs = []
    pc = time.perf_counter_ns
    for i in range(warm + n):
        t0 = pc()
        s, _ = open_conn(peer.port, up.short)
        t1 = pc()
        s.close()
        if i >= warm:
            xs.append(t1 - t0)
    peer.conns += warm + n
    return xs


def test_latency(a, peers, up, S):
    log(f"\n== a. CONNECT setup latency: {a.lat_n} sequential connections per peer after "
        f"{a.lat_warm} warm-up, in {a.rounds} alternating rounds")
    log("   proxies: connect() to the proxy + CONNECT until its 200 (the proxy dials the "
        "upstream first);\n   direct: connect() to the upstream (until the client could "
        "send its first byte)")
    res = {p.name: {"xs": [], "cpu": new_cpu()} for p in peers}
    per = max(1, a.lat_n // a.rounds)
    for r in range(a.rounds):
        for p in peers:
            warm = a.lat_warm if r == 0 else a.lat_warm // 4
            xs = attempt("a", p, res[p.name]["cpu"], up, lambda: lat_round(p, up, per, warm))
            res[p.name]["xs"] += xs or []
    peers = [p for p in peers if ("a", p.name) not in FAILED]
    out = {}
    for p in peers:
        xs = sorted(res[p.name]["xs"])
        m = {k: pct(q, xs) / 1e6 for k, q in (("p50", 50), ("p90", 90), ("p99", 99),
                                              ("max", 100))}
        m["n"] = len(xs)
        c = res[p.name]["cpu"]
        m["cpu_us"] = c.s["proxy"] / len(xs) * 1e6 if p.port else 0.0
        m["cpu"] = c
        out[p.name] = m
    for p in peers:
        m = out[p.name]
        r = lambda x, b: f"x{x['p50'] / b['p50']:.1f} / x{x['p99'] / b['p99']:.1f}"
        rel = vs(out, p.name, r, r)
        log(f"  {p.name:13s} p50 {m['p50']:6.3f}  p90 {m['p90']:6.3f}  p99 {m['p99']:6.3f}  "
            f"max {m['max']:7.3f} ms   {rel}")
        if p.port:
            log(f"  {'':13s} CPU {m['cpu_us']:.0f} us per connection; {m['cpu'].line(p.name)}")
        else:
            log(f"  {'':13s} {m['cpu'].line(p.name)}")
    if "tollgate" in out:
        t = out["tollgate"]
        log(f"  goal: tollgate p99 < {GOAL_P99_MS:g} ms warm: "
            f"{'PASS' if t['p99'] < GOAL_P99_MS else 'MISS'} ({t['p99']:.3f} ms)")
        S["goal_a"] = t["p99"] < GOAL_P99_MS
        if a.extra_fds > 0:
            fd_scaling(a, next(p for p in peers if p.name == "tollgate"), up, t, S)
    S["lat"] = out


FD_HOLDER = """
import os, resource, sys
n = int(sys.argv[1])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = n + 64 if hard == resource.RLIM_INFINITY else min(hard, n + 64)
resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
fds = []
try:
    for _ in range(n):
        fds.append(os.open("/dev/null", os.O_RDONLY))
except OSError:
    pass
print(len(fds), flush=True)
sys.stdin.read()
"""


def fd_scaling(a, tg, up, base, S):
    """tollgate's identity lookup reads every fd of every process: the same
    sequential CONNECTs with an idle process holding extra fds"""
    p = PROCS.start([sys.executable, "-c", FD_HOLDER, str(a.extra_fds)],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        got = int(p.stdout.readline() or 0)
        c = Cpu()
        c.begin(tg.pid, up.pid)
        xs = sorted(lat_round(tg, up, a.extra_n, 20))
        c.end()
    finally:
        PROCS.stop(p)
    m = {"fds": got, "p50": pct(50, xs) / 1e6, "p99": pct(99, xs) / 1e6,
         "cpu_us": c.s["proxy"] / len(xs) * 1e6}
    m["us_per_kfd"] = (m["cpu_us"] - base["cpu_us"]) / max(1, got) * 1000
    log(f"  tollgate, {fmt(got)} more fds on the host (an idle process holding /dev/null "
        f"{fmt(got)} times), {a.extra_n} connections:\n  {'':13s} p50 {m['p50']:6.3f}  p99 "
        f"{m['p99']:6.3f} ms, CPU {m['cpu_us']:.0f} us per connection: "
        f"+{m['us_per_kfd']:.0f} us per 1,000 fds on the host (the identity lookup reads them "
        f"all)")
    S["fd_scaling"] = m


# ---- test b: new connections per second --------------------------------------

def rate_round(peer, up, nthreads, seconds):
    """nthreads threads, each: open (CONNECT) + exchange + close, until the
    deadline. Returns (connections, elapsed, errors, first error)."""
    counts = [0] * nthreads
    errs = [0] * nthreads
    first = []
    go = threading.Barrier(nthreads + 1)

    def work(i):
        go.wait()
        deadline = time.monotonic() + seconds
        n = e = 0
        while time.monotonic() < deadline:
            try:
                s, rest = open_conn(peer.port, up.short)
                try:
                    exchange(s, rest)
                finally:
                    s.close()
                n += 1
            except (OSError, Refused) as ex:
                e += 1
                if not first:
                    first.append(repr(ex))
                if e > 1000:
                    break
                time.sleep(0.001)
        counts[i] = n
        errs[i] = e

    ts = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(nthreads)]
    for t in ts:
        t.start()
    go.wait()
    t0 = time.monotonic()
    for t in ts:
        t.join()
    peer.conns += sum(counts) + sum(errs)
    return sum(counts), time.monotonic() - t0, sum(errs), (first[0] if first else "")


def test_rate(a, peers, up, S):
    log(f"\n== b. new connections per second: {a.conns} client threads, each CONNECT + "
        f"{len(REQ)} B request / {len(RESP)} B response through the tunnel + close;\n"
        f"   {a.rate_seconds:g} s per peer in {a.rounds} alternating rounds (each after "
        f"{a.rate_warm:g} s uncounted); direct: the same exchange without the CONNECT")
    res = {p.name: {"n": 0, "t": 0.0, "e": 0, "first": "", "rounds": [], "cpu": new_cpu()}
           for p in peers}
    per = a.rate_seconds / a.rounds
    for r in range(a.rounds):
        for p in peers:
            if ("b", p.name) in FAILED:
                continue
            rate_round(p, up, a.conns, a.rate_warm)
            x = res[p.name]
            got = attempt("b", p, x["cpu"], up, lambda: rate_round(p, up, a.conns, per))
            if got is None:
                continue
            n, t, e, first = got
            if n == 0:
                FAILED[("b", p.name)] = f"no connection completed: {first}"
                log(f"  {p.name}: FAILED, leaves test b: {FAILED[('b', p.name)]}")
                continue
            x["n"] += n
            x["t"] += t
            x["e"] += e
            x["first"] = x["first"] or first
            x["rounds"].append(n / t)
    peers = [p for p in peers if ("b", p.name) not in FAILED]
    out = {}
    for p in peers:
        x = res[p.name]
        c = x["cpu"]
        n = max(1, x["n"])
        out[p.name] = {"rate": x["n"] / x["t"], "n": x["n"], "errors": x["e"],
                       "proxy_us": c.s["proxy"] / n * 1e6, "client_us": c.s["client"] / n * 1e6,
                       "up_us": c.s["upstream"] / n * 1e6, "client_cores": c.cores("client"),
                       "proxy_cores": c.cores("proxy"), "cpu": c}
    for p in peers:
        x, m = res[p.name], out[p.name]
        rel = vs(out, p.name, lambda y, b: f"{y['rate'] / b['rate']:.0%}",
                 lambda y, b: f"{y['rate'] / b['rate']:.2f}x")
        rounds = " / ".join(fmt(v) for v in x["rounds"])
        log(f"  {p.name:13s} {m['rate']:9,.0f} conn/s   {rel}")
        log(f"  {'':13s} rounds {rounds}; {fmt(x['n'])} connections, {x['e']} errors"
            f"{': ' + x['first'] if x['e'] else ''}")
        cpu = f"client {m['client_us']:.0f} us, upstream {m['up_us']:.0f} us"
        if p.port:
            cpu = f"{p.name} {m['proxy_us']:.0f} us, " + cpu
        log(f"  {'':13s} CPU per connection: {cpu}; {m['cpu'].line(p.name)}")
    if "direct" in out and out["direct"]["client_cores"] > 0.85:
        log(f"  note: the Python client used {out['direct']['client_cores']:.2f} cores in the "
            f"direct run: direct is bounded by the client (and upstream); a proxy whose rate "
            f"nears direct's is too")
    if "tollgate" in out and "tinyproxy" in out:
        t, ti = out["tollgate"]["rate"], out["tinyproxy"]["rate"]
        ok = t >= ti * GOAL_RATE_VS_TINY
        log(f"  goal: tollgate >= tinyproxy: {'PASS' if ok else 'MISS'} ({t / ti:.2f}x)"
            + (f"; vs tinyproxy+log {t / out['tinyproxy+log']['rate']:.2f}x"
               if "tinyproxy+log" in out else ""))
        S["goal_b"] = ok
    S["rate"] = out


# ---- test c: bulk tunnel throughput ------------------------------------------

def bulk_round(peer, up, seconds, skip):
    """one tunnel; the upstream streams zeros until we close. Bytes and
    seconds of the window after `skip` seconds."""
    s, rest = open_conn(peer.port, up.bulk)
    peer.conns += 1
    try:
        s.sendall(b"0\n")
        buf = bytearray(BULK_CHUNK)
        mv = memoryview(buf)
        mono = time.monotonic
        t0 = mono()
        t_skip = t0 + skip
        t_end = t_skip + seconds
        n = len(rest)
        n0 = None
        while True:
            k = s.recv_into(mv)
            if k == 0:
                raise ConnectionError(f"the tunnel closed after {n} bytes")
            n += k
            now = mono()
            if n0 is None and now >= t_skip:
                n0, t1 = n, now
            if now >= t_end:
                break
        return n - n0, now - t1
    finally:
        s.close()


def dd_read(up, nbytes):
    """the upstream -> `dd of=/dev/null` (C) over a direct connection: MB/s
    (dd's own count and time)"""
    sh = (f"exec 3<>/dev/tcp/{LO}/{up.bulk} && printf '%d\\n' {nbytes} >&3 && "
          f"exec dd bs=1M of=/dev/null <&3")
    r = subprocess.run(["bash", "-c", sh], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, env=dict(os.environ, LC_ALL="C"), timeout=60)
    m = re.search(r"(\d+) bytes .* copied, ([\d.e+-]+) s", r.stderr)
    if r.returncode != 0 or not m:
        raise RuntimeError(f"dd reader failed: {r.stderr.strip()}")
    return int(m.group(1)) / float(m.group(2)) / 1e6


def dd_write(nbytes):
    """`dd if=/dev/zero` (C) -> the client's read loop, direct: MB/s from the
    first byte to EOF"""
    ls = socket.socket()
    ls.bind((LO, 0))
    ls.listen(1)
    port = ls.getsockname()[1]
    count = max(1, nbytes >> 20)
    p = PROCS.start(["bash", "-c", f"exec dd if=/dev/zero bs=1M count={count} status=none "
                     f"> /dev/tcp/{LO}/{port}"], stdin=subprocess.DEVNULL)
    try:
        ls.settimeout(10)
        c, _ = ls.accept()
        c.settimeout(60)
        buf = bytearray(BULK_CHUNK)
        mv = memoryview(buf)
        n = c.recv_into(mv)
        t0 = time.monotonic()
        n0 = n
        while True:
            k = c.recv_into(mv)
            if k == 0:
                break
            n += k
        dt = time.monotonic() - t0
        c.close()
        if n != count << 20:
            raise RuntimeError(f"dd sent {n} bytes, not {count << 20}")
        return (n - n0) / dt / 1e6
    finally:
        ls.close()
        PROCS.stop(p)


def test_bulk(a, peers, up, S):
    peers = [p for p in peers if p.bulk]
    log(f"\n== c. bulk tunnel throughput: one tunnel per round, the upstream streams zeros "
        f"(sendall of 1 MiB), the client\n   recv_into()s a 1 MiB buffer and discards; "
        f"{a.bulk_seconds:g} s per peer in {a.rounds} alternating rounds, the first "
        f"{a.bulk_skip:g} s of each uncounted")
    res = {p.name: {"b": 0, "t": 0.0, "rounds": [], "cpu": new_cpu()} for p in peers}
    per = a.bulk_seconds / a.rounds
    ceil = {}
    for r in range(a.rounds):
        for p in peers:
            x = res[p.name]
            got = attempt("c", p, x["cpu"], up, lambda: bulk_round(p, up, per, a.bulk_skip))
            if got is None:
                continue
            b, t = got
            x["b"] += b
            x["t"] += t
            x["rounds"].append(b / t / 1e6)
            if p.name == "direct" and r == 0 and a.ceiling:
                # the client and upstream are not the limit if C programs in
                # their place do no better
                nb = int(b / t * min(per, 1.5))
                try:
                    ceil["up->dd"] = dd_read(up, nb)
                    ceil["dd->client"] = dd_write(nb)
                except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                    log(f"  (the dd ceiling check failed: {e})")
                    ceil = {}
    peers = [p for p in peers if ("c", p.name) not in FAILED]
    out = {}
    for p in peers:
        x = res[p.name]
        c = x["cpu"]
        out[p.name] = {"mbs": x["b"] / x["t"] / 1e6, "bytes": x["b"],
                       "faults_per_mb": c.faults / (x["b"] / 1e6),
                       "proxy_s_per_gb": c.s["proxy"] / (x["b"] / 1e9),
                       "ends_s_per_gb": (c.s["client"] + c.s["upstream"]) / (x["b"] / 1e9),
                       "proxy_cores": c.cores("proxy"), "cpu": c}
    for p in peers:
        x, m = res[p.name], out[p.name]
        rel = vs(out, p.name, lambda y, b: f"{y['mbs'] / b['mbs']:.0%}",
                 lambda y, b: f"{y['mbs'] / b['mbs']:.2f}x")
        rounds = " / ".join(f"{v:,.0f}" for v in x["rounds"])
        log(f"  {p.name:13s} {m['mbs']:8,.0f} MB/s   {rel}")
        log(f"  {'':13s} rounds {rounds}; {x['b'] / 2**20:,.0f} MiB counted")
        cpu = f"client + upstream {m['ends_s_per_gb'] * 1e3:.0f}"
        if p.port:
            cpu = f"{p.name} {m['proxy_s_per_gb'] * 1e3:.0f}, " + cpu
        log(f"  {'':13s} CPU ms per GB: {cpu}; {m['cpu'].line(p.name)}")
        if p.port and m["faults_per_mb"] >= 1:
            log(f"  {'':13s} {p.name} took {m['faults_per_mb']:.0f} page faults per MB relayed "
                f"(244 per MB: every byte read into a page the kernel had to map afresh)")
    if ceil and "direct" in out:
        dm = out["direct"]["mbs"]
        log(f"  ceiling check, direct, C programs in place of the Python ends: upstream -> "
            f"dd of=/dev/null {ceil['up->dd']:,.0f} MB/s ({ceil['up->dd'] / dm:.2f}x direct), "
            f"dd if=/dev/zero -> client {ceil['dd->client']:,.0f} MB/s "
            f"({ceil['dd->client'] / dm:.2f}x direct)")
        S["ceil"] = ceil
    if "tollgate" in out and "direct" in out:
        r = out["tollgate"]["mbs"] / out["direct"]["mbs"]
        ok = r >= GOAL_BULK_VS_DIRECT
        log(f"  goal: tollgate >= {GOAL_BULK_VS_DIRECT:.0%} of direct: "
            f"{'PASS' if ok else 'MISS'} ({r:.0%})")
        S["goal_c"] = ok
    S["bulk"] = out


# ---- perf --------------------------------------------------------------------

NOISE = re.compile(r"\] (0x[0-9a-f]+|clone3|start_thread|_start|__libc_start\S*|"
                   r"main|entry_SYSCALL_64\S*|do_syscall_64|gw_run|cli_gateway|uv_run)\s*$")
# functions whose share (with callees) says where tollgate's time goes; for a
# tuple, the largest (DWARF unwinding of deep stacks is sometimes cut short:
# the pool's ident_work runs px_ident_lookup and nothing else)
KEY_SYMS = [
    (("ident_work", "px_ident_lookup", "lookup_inode"),
     "identity: ident_work -> px_ident_lookup (socket inode, holders, exe, hash)"),
    ("px__ident_bpf_run", "  of which the BPF task_file iterator (px__ident_bpf_run)"),
    ("scan_procs", "  of which the /proc/*/fd scan (scan_procs)"),
    ("note_holder", "  of which the holders' exe links (note_holder)"),
    ("fill_ident", "  of which the holder's exe, comm, cmdline, ancestors (fill_ident)"),
    ("px__ident_hash_fd", "  of which hashing exes (px__ident_hash_fd)"),
    ("pol_decide", "policy: pol_decide"),
    ("px_ssrf_check", "SSRF guard: px_ssrf_check"),
    ("px__event_open", "OCSF open events: px__event_open"),
    ("px__event_close", "OCSF close events: px__event_close"),
    ("writer_main", "collector: its writer thread (spool writes, fsync)"),
    ("on_connection", "accept: on_connection"),
    ("on_head_read", "request head: on_head_read"),
    ("on_up_read", "relay, upstream -> client: on_up_read"),
    ("on_client_read", "relay, client -> upstream: on_client_read"),
    ("alloc_cb", "read buffers: alloc_cb (malloc 64 KiB per read)"),
    ("_int_free", "free: _int_free"),
    ("systrim", "  of which glibc giving heap back (systrim)"),
    ("asm_exc_page_fault", "page faults (asm_exc_page_fault)"),
    ("__GI___libc_read", "read() (kernel copies out)"),
    ("__GI___libc_write", "write() (kernel copies in)"),
    ("pvm_irq_enable", "  inside the kernel: this VM's paravirtual irq enable (pvm_irq_enable)"),
]


def perf_report(path, title, cpu_per_unit, unit, rec_err="", top=24):
    if not os.path.exists(path):
        return
    log(f"  perf ({title}; 999 Hz, DWARF call graphs):")
    p = subprocess.run(["perf", "report", "-i", path, "--stdio", "-g", "none", "--children",
                        "--sort", "sym", "--percent-limit", "0.3"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0 or not p.stdout.strip():
        log(f"    perf report failed ({p.returncode}): {p.stderr.strip()[-300:]}; perf record "
            f"said: {rec_err.strip()[-300:]}")
        return
    shares = {}
    for ln in p.stdout.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+([\d.]+)%\s+\[[.k]\]\s+(\S+)", ln)
        if m and m.group(3) not in shares:
            shares[m.group(3)] = float(m.group(1))
    log(f"    where tollgate's time goes (share of its samples, with callees; x its "
        f"{cpu_per_unit:,.0f} {unit}):")
    for sym, what in KEY_SYMS:
        share = max((shares.get(x, 0.0) for x in (sym if isinstance(sym, tuple) else (sym,))))
        if share >= 0.5:
            log(f"      {share:5.1f}%  {cpu_per_unit * share / 100:8,.0f} {unit}  {what}")
    rows = [ln.strip() for ln in p.stdout.splitlines()
            if ln.strip() and not ln.startswith("#") and not NOISE.search(ln)]
    log(f"    per function, with callees (top {top}):")
    for ln in rows[:top]:
        log("      " + ln)
    for what, args, n in (("per thread (tid:name; tid = pid: the libuv loop), self",
                           ["--no-children", "--sort", "pid"], 8),
                          ("per function, self", ["--no-children", "--sort", "dso,sym"], 12)):
        p = subprocess.run(["perf", "report", "-i", path, "--stdio", "-g", "none",
                            "--percent-limit", "1"] + args,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        rows = [ln.strip() for ln in p.stdout.splitlines()
                if ln.strip() and not ln.startswith("#") and not NOISE.search(ln)]
        log(f"    {what}:")
        for ln in rows[:n]:
            log("      " + ln)


def perf_runs(a, tmp, peers, up, S):
    tg = next((p for p in peers if p.name == "tollgate"), None)
    keys = [k for k in "abc" if k in a.only and (a.perf == "all" or S.get(f"goal_{k}") is False)]
    if not keys or a.perf == "off":
        return
    if not tg or not shutil.which("perf"):
        log("\n(perf: needs tollgate and perf (Debian linux-perf); skipped)")
        return
    titles = {"a": "a. sequential CONNECTs", "b": f"b. {a.conns} threads: CONNECT + exchange "
              f"+ close", "c": "c. one bulk tunnel"}
    log(f"\n== where tollgate's time goes: perf record of tollgate (pid {tg.pid}) during extra, "
        f"uncounted {a.perf_seconds:g} s runs of {', '.join(keys)} "
        f"({'--perf all' if a.perf == 'all' else 'the tests whose goal was missed'})")
    for key in keys:
        data = os.path.join(tmp, f"perf.{key}.data")
        pr = PROCS.start(["perf", "record", "-q", "-F", "999", "--call-graph", "dwarf,16384",
                          "-p", str(tg.pid), "-o", data, "--", "sleep", str(a.perf_seconds)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
        time.sleep(0.3)
        cpu0 = proc_cpu_s(tg.pid)
        t0 = time.monotonic()
        run = a.perf_seconds - 0.6
        if key == "a":
            n = 0
            while time.monotonic() - t0 < run:
                n += len(lat_round(tg, up, 50, 0))
        elif key == "b":
            n = rate_round(tg, up, a.conns, run)[0]
        else:
            n = bulk_round(tg, up, run, 0.1)[0]
        cpu = proc_cpu_s(tg.pid) - cpu0
        err = pr.communicate(timeout=60)[1]
        PROCS.stop(pr)
        log("")
        if not os.path.exists(data):
            log(f"  {key}: perf record failed: {err.strip()}")
            continue
        if key == "c":
            log(f"  c: {n / 2**20:,.0f} MiB through the tunnel, tollgate "
                f"{cpu / max(n, 1) * 1e12:,.0f} ms CPU per GB (under perf)")
            perf_report(data, titles[key], cpu / max(n, 1) * 1e12, "ms/GB", err)
        else:
            log(f"  {key}: {fmt(n)} connections, tollgate {cpu / max(n, 1) * 1e6:,.0f} us CPU "
                f"per connection (under perf)")
            perf_report(data, titles[key], cpu / max(n, 1) * 1e6, "us/conn", err)
        os.unlink(data)


# ---- the summary -------------------------------------------------------------

def summary(a, S, M, peers, skipped, t_total):
    log("\n== summary (markdown)\n")
    log(f"Machine: {M['cpu']}, {NCPU} CPUs, Linux {M['kernel']}; {M['busy0']:.2f} cores busy "
        f"before the run; /proc: {M['nproc']} processes, {M['nfd']} fds. One run of "
        f"`bench/bench_proxy.py`, {t_total:.0f} s; all peers in the same run, on 127.0.0.1, "
        f"same Python client and upstream.\n")
    log("| test | peer | result | vs direct | vs tinyproxy | proxy CPU | goal |")
    log("|---|---|---|---|---|---|---|")

    def pf(ok):
        return "PASS" if ok else "MISS"

    def cell(out, name, base, f):
        if name in (base, "direct") or base not in out:
            return ""
        return f(out[name], out[base])

    def pc(x, b, k):
        return f"{x[k] / b[k]:.0%}"

    def xr(x, b, k):
        return f"{x[k] / b[k]:.2f}x"

    lat = S.get("lat")
    if lat:
        first = True
        for p in peers:
            if p.name not in lat:
                continue
            n, m = p.name, lat[p.name]
            r = lambda x, b: f"x{x['p50'] / b['p50']:.1f} / x{x['p99'] / b['p99']:.1f}"
            cpu = f"{m['cpu_us']:,.0f} us/conn" if p.port else ""
            goal = (f"p99 < {GOAL_P99_MS:g} ms: {pf(m['p99'] < GOAL_P99_MS)}"
                    if n == "tollgate" else "")
            what = "a. CONNECT -> 200, p50 / p99 (direct: connect())" if first else ""
            first = False
            log(f"| {what} | {n} | {m['p50']:.3f} / {m['p99']:.3f} ms | "
                f"{cell(lat, n, 'direct', r)} | {cell(lat, n, 'tinyproxy', r)} | {cpu} | {goal} |")
            fs = S.get("fd_scaling")
            if n == "tollgate" and fs:
                log(f"| | tollgate, {fmt(fs['fds'])} more fds on the host | {fs['p50']:.3f} / "
                    f"{fs['p99']:.3f} ms | | | {fs['cpu_us']:,.0f} us/conn (+{fs['us_per_kfd']:.0f}"
                    f" us per 1,000 fds) | information |")
    rate = S.get("rate")
    if rate:
        first = True
        for p in peers:
            if p.name not in rate:
                continue
            n, m = p.name, rate[p.name]
            cpu = f"{m['proxy_us']:,.0f} us/conn" if p.port else ""
            goal = ""
            if n == "tollgate" and "tinyproxy" in rate:
                goal = (f">= tinyproxy: "
                        f"{pf(m['rate'] >= rate['tinyproxy']['rate'] * GOAL_RATE_VS_TINY)}")
            what = f"b. new connections/s, {a.conns} threads" if first else ""
            first = False
            err = f" ({m['errors']} errors)" if m["errors"] else ""
            log(f"| {what} | {n} | {fmt(m['rate'])}/s{err} | "
                f"{cell(rate, n, 'direct', lambda x, b: pc(x, b, 'rate'))} | "
                f"{cell(rate, n, 'tinyproxy', lambda x, b: xr(x, b, 'rate'))} | {cpu} | {goal} |")
    bulk = S.get("bulk")
    if bulk:
        first = True
        for p in peers:
            if p.name not in bulk:
                continue
            n, m = p.name, bulk[p.name]
            cpu = (f"{m['proxy_s_per_gb'] * 1e3:,.0f} ms/GB ({m['proxy_cores']:.2f} cores, "
                   f"{m['faults_per_mb']:.0f} faults/MB)"
                   if p.port else f"(ends: {m['ends_s_per_gb'] * 1e3:,.0f} ms/GB)")
            goal = ""
            if n == "tollgate" and "direct" in bulk:
                goal = (f">= {GOAL_BULK_VS_DIRECT:.0%} of direct: "
                        f"{pf(m['mbs'] >= bulk['direct']['mbs'] * GOAL_BULK_VS_DIRECT)}")
            what = "c. bulk tunnel" if first else ""
            first = False
            log(f"| {what} | {n} | {fmt(m['mbs'])} MB/s | "
                f"{cell(bulk, n, 'direct', lambda x, b: pc(x, b, 'mbs'))} | "
                f"{cell(bulk, n, 'tinyproxy', lambda x, b: xr(x, b, 'mbs'))} | {cpu} | {goal} |")
        c = S.get("ceil")
        if c and "direct" in bulk:
            d = bulk["direct"]["mbs"]
            log(f"| c. ceiling check | upstream -> dd / dd -> client | {fmt(c['up->dd'])} / "
                f"{fmt(c['dd->client'])} MB/s | {c['up->dd'] / d:.0%} / "
                f"{c['dd->client'] / d:.0%} | | | information |")
    log("")
    tg = next((p for p in peers if p.name == "tollgate"), None)
    if tg:
        sb = tg.spool_bytes()
        log(f"Audit on: tollgate's spool holds {sb / 1e6:.1f} MB after {fmt(tg.conns)} "
            f"connections through it ({sb / max(1, tg.conns):,.0f} B per connection).")
    wall = sum(c.wall for c in CPUS)
    if wall:
        log(f"Other processes used {sum(c.s['other'] for c in CPUS) / wall:.2f} of the {NCPU} "
            f"cores on average during the measured phases: the more, the lower every number.")
    for name, why in skipped:
        log(f"{name} skipped: {why}")
    for (test, name), why in FAILED.items():
        log(f"{name} failed in test {test}: {why}")
    log("Goals are information only; the exit status reports errors, never speed.")


class Upstream:
    def __init__(self):
        self.p = PROCS.start([sys.executable, os.path.abspath(__file__), "--upstream"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=None, text=True)
        ln = self.p.stdout.readline()
        m = re.match(r"ports (\d+) (\d+)", ln)
        if not m:
            raise RuntimeError(f"the upstream did not start: {ln!r}")
        self.short, self.bulk = int(m.group(1)), int(m.group(2))
        self.pid = self.p.pid


def main():
    if "--upstream" in sys.argv[1:]:
        return upstream_main()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"),
                    help="the build directory (its tollgate is copied and run)")
    ap.add_argument("--quick", action="store_true", help="smaller runs (a smoke test)")
    ap.add_argument("--only", default="a,b,c", help="tests to run, e.g. a,c")
    ap.add_argument("--peers", default="tollgate,tollgate-scan,tinyproxy,tinyproxy+log,squid",
                    help="proxies to compare (direct always runs)")
    ap.add_argument("--conns", type=int, default=16, help="client threads of test b")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds per test")
    ap.add_argument("--extra-fds", type=int, default=2000,
                    help="test a again for tollgate with an idle process holding this many "
                    "more fds (0: skip)")
    ap.add_argument("--perf", choices=("auto", "all", "off"), default="auto",
                    help="extra, uncounted run under `perf record` of tollgate for each test "
                    "whose goal it missed (auto), of each test (all), or none (off)")
    ap.add_argument("--no-ceiling", dest="ceiling", action="store_false",
                    help="skip the dd checks of the client's and upstream's speed")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="passed to `tollgate up --set`")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                    help="in tollgate's environment only (experiments: GLIBC_TUNABLES=...)")
    a = ap.parse_args()
    a.build = os.path.abspath(a.build)
    a.only = set(a.only.split(","))
    a.lat_n, a.lat_warm = (400, 100) if a.quick else (2000, 200)
    a.extra_n = 100 if a.quick else 300
    a.rate_seconds, a.rate_warm = (2.0, 0.3) if a.quick else (5.0, 0.5)
    a.bulk_seconds, a.bulk_skip = (2.0, 0.2) if a.quick else (5.0, 0.25)
    a.perf_seconds = 3.0
    if any("=" not in kv for kv in a.env):
        ap.error("--env takes KEY=VALUE")
    want = [x for x in a.peers.split(",") if x]
    tg_want = "tollgate" in want or "tollgate-scan" in want
    if tg_want and not os.access(os.path.join(a.build, "tollgate"), os.X_OK):
        sys.exit(f"bench_proxy: {a.build}/tollgate missing: run `make` first")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    tmp = tempfile.mkdtemp(prefix="tg-bench-proxy-", dir=os.environ.get("TMPDIR") or None)
    if os.geteuid() == 0:
        os.chmod(tmp, 0o711)  # squid and tinyproxy drop privileges to reach their dirs
    t0 = time.monotonic()
    S = {}
    rc = 0
    peers = []
    try:
        os.makedirs(os.path.join(tmp, "bin"))
        if tg_want:
            a.bin_tollgate = shutil.copy2(os.path.join(a.build, "tollgate"),
                                          os.path.join(tmp, "bin", "tollgate"))
        M = machine()
        up = Upstream()
        log(f"\n== peers (upstream: {os.path.basename(sys.executable)} --upstream, pid {up.pid},"
            f" ports {up.short} short / {up.bulk} bulk)")
        peers = [Direct()]
        skipped = []
        for name, make in (("tollgate", Tollgate),
                           ("tollgate-scan", lambda *x: Tollgate(*x, scan=True)),
                           ("tinyproxy", Tinyproxy),
                           ("tinyproxy+log", lambda *x: Tinyproxy(*x, log=True)),
                           ("squid", Squid)):
            if name not in want:
                continue
            p = None
            try:
                t = time.monotonic()
                p = make(a, tmp, [up.short, up.bulk])
                # it works before anything is measured: a tunnel and an exchange
                s, rest = open_conn(p.port, up.short)
                exchange(s, rest)
                s.close()
                peers.append(p)
                log(f"{name:13s} {p.desc} (ready in {time.monotonic() - t:.1f} s)")
            except (RuntimeError, OSError, Refused, subprocess.SubprocessError, KeyError) as e:
                if p:
                    p.stop()
                if name.startswith("tollgate"):  # what is measured: an error, not a skip
                    raise RuntimeError(f"tollgate: {e}") from e
                skipped.append((name, str(e)))
                log(f"{name:13s} SKIPPED: {e}")
        if "a" in a.only:
            test_latency(a, peers, up, S)
        if "b" in a.only:
            test_rate(a, peers, up, S)
        if "c" in a.only:
            test_bulk(a, peers, up, S)
        perf_runs(a, tmp, peers, up, S)
        summary(a, S, M, peers, skipped, time.monotonic() - t0)
        if any(name in ("tollgate", "tollgate-scan", "direct") for _, name in FAILED):
            rc = 1
    except (Exception, KeyboardInterrupt, SystemExit) as e:
        log(f"\nbench_proxy: ERROR: {e!r}")
        for p in peers:
            if getattr(p, "err", None):
                log(f"  {p.name} stderr: " + " | ".join(p.err[-6:]))
        rc = 1
    finally:
        PROCS.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
