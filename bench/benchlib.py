"""benchlib.py: what the benchmark scripts share (stdlib only)."""
import os
import signal
import subprocess
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


class Procs:
    """Every child we start; all are stopped (TERM, then KILL) on exit."""

    def __init__(self):
        self.procs = []

    def start(self, argv, **kw):
        p = subprocess.Popen(argv, **kw)
        self.procs.append(p)
        return p

    def stop(self, p, timeout=5):
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for f in (p.stdin, p.stdout, p.stderr):
            if f:
                try:
                    f.close()
                except OSError:
                    pass
        if p in self.procs:
            self.procs.remove(p)

    def stop_all(self):
        for p in list(self.procs):
            self.stop(p)


def system_busy_s():
    """CPU seconds spent busy by the whole machine (all CPUs), and steal"""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (v + [0] * 8)[:8]
    return (user + nice + system + irq + softirq) / CLK_TCK, steal / CLK_TCK


def proc_cpu_s(pid):
    """utime + stime of a process (all its threads), seconds; 0 when gone"""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return 0.0
    fields = s[s.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def pct(q, xs):
    """the q-th percentile (0-100) of a sorted list, nearest rank"""
    if not xs:
        return float("nan")
    i = min(len(xs) - 1, max(0, int(round(q / 100 * len(xs) + 0.5)) - 1))
    return xs[i]


def fmt(n):
    return f"{n:,.0f}"


def self_cpu_s():
    """utime + stime of this process (the client side of a bench), seconds"""
    t = os.times()
    return t.user + t.system


class Cpu:
    """CPU seconds used during measured intervals (summed over rounds) by the
    process under test (key `main`), the upstream, this client and everyone
    else (the whole machine's busy time minus those three)."""

    def __init__(self, main):
        self.main = main
        self.wall = 0.0
        self.s = {main: 0.0, "upstream": 0.0, "client": 0.0, "other": 0.0}

    def begin(self, main_pid, up_pid):
        self._pids = (main_pid, up_pid)
        self._t = time.monotonic()
        self._sys = system_busy_s()[0]
        self._v = (proc_cpu_s(main_pid) if main_pid else 0.0, proc_cpu_s(up_pid), self_cpu_s())

    def end(self):
        """Closes an interval; the CPU seconds of (main, upstream, client) in it."""
        wall = time.monotonic() - self._t
        sys1 = system_busy_s()[0]
        mp, up = self._pids
        v = (proc_cpu_s(mp) if mp else 0.0, proc_cpu_s(up), self_cpu_s())
        d = [b - a for a, b in zip(self._v, v)]
        self.wall += wall
        for k, x in zip((self.main, "upstream", "client"), d):
            self.s[k] += x
        self.s["other"] += max(0.0, (sys1 - self._sys) - sum(d))
        return d

    def cores(self, k):
        return self.s[k] / self.wall if self.wall else 0.0

    def line(self, label=None):
        """The cores busy, with the process under test named `label` (None: not shown)."""
        parts = [f"{label} {self.cores(self.main):.2f}"] if label else []
        parts += [f"upstream {self.cores('upstream'):.2f}", f"client {self.cores('client'):.2f}",
                  f"other processes {self.cores('other'):.2f}"]
        return f"cores busy ({os.cpu_count() or 1} in all): " + ", ".join(parts)
