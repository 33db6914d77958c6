"""benchlib.py: what the benchmark scripts share (stdlib only)."""
import os
import signal
import subprocess

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
