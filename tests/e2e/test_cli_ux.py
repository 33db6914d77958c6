"""What a new user meets on the command line (issue 18, items 1-7): --help on
every subcommand, `logs` argument errors, unknown sandboxes, -n 0, --tail
across a gateway restart, the multi-sandbox line, and token errors. Each test
runs the real binary."""
import json
import os
import queue
import re
import subprocess
import threading
import time
import uuid

from conftest import settle


def samples(tg):
    r = tg("ocsf", "samples")
    assert r.returncode == 0
    return r.stdout.decode().splitlines()


def event(line, uid=None, sandbox=None):
    ev = json.loads(line)
    ev["metadata"]["uid"] = uid or str(uuid.uuid4())
    if sandbox:
        ev["device"]["container"]["name"] = sandbox
    return json.dumps(ev, separators=(",", ":"))


def env_for(g, **extra):
    e = dict(os.environ, TOLLGATE_STATE=g.state, TOLLGATE_GATEWAY=g.url)
    for k in ("NO_COLOR", "TOLLGATE_TOKEN"):
        e.pop(k, None)
    e.update(extra)
    return e


def cli(tollgate_bin, g, *args, timeout=30, **extra):
    return subprocess.run([tollgate_bin, *args], capture_output=True, env=env_for(g, **extra),
                          timeout=timeout)


# ---- 1. --help -----------------------------------------------------------------

HELP = [("up",), ("gateway",), ("proxy",), ("logs",), ("lg",), ("sandbox",),
        ("sandbox", "create"), ("sandbox", "list"), ("sandbox", "get"), ("sandbox", "delete"),
        ("sandbox", "exec"), ("policy",), ("pol",), ("policy", "set"), ("policy", "update"),
        ("policy", "get"), ("policy", "status"), ("policy", "list"), ("policy", "check"),
        ("status",), ("verify",), ("report",), ("ca",), ("ocsf",), ("ocsf", "samples"),
        ("ocsf", "render"), ("ocsf", "validate"), ("ocsf", "cast")]


def test_help_on_every_subcommand(tg):
    for args in HELP:
        for flag in ("--help", "-h"):
            r = tg(*args, flag)
            assert r.returncode == 0, (args, flag, r.stderr)
            assert r.stdout.startswith(b"usage: "), (args, flag, r.stdout[:200])
            assert r.stderr == b"", (args, flag, r.stderr)
    for cmd in ("up", "gateway"):
        text = tg(cmd, "--help").stdout.decode()
        sentences = [s.strip() for s in re.split(r"(?<=\.)\s", " ".join(text.split())) if s]
        assert len(sentences) == len(set(sentences)), text  # no sentence twice
        assert text.count("DIR/spool") == 1, text
    assert "--proxy-listen" in tg("up", "--help").stdout.decode()
    assert "--proxy-listen" not in tg("gateway", "--help").stdout.decode()
    top = tg("--help")
    assert top.returncode == 0 and b"sandbox exec" in top.stdout


# ---- 2. logs argument errors ---------------------------------------------------

def test_logs_argument_errors_exit_2_and_name_the_flag(gateway, tollgate_bin):
    g = gateway()
    for args, flag in ((("--since", "5x"), b"--since"), (("--until", "tomorrow"), b"--until"),
                       (("-n", "abc"), b"-n"), (("-n", "-3"), b"-n"),
                       (("-n", "100001"), b"-n"), (("--timestamps", "unix"), b"--timestamps")):
        r = cli(tollgate_bin, g, "logs", *args)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.startswith(b"tollgate logs: " + flag + b": "), r.stderr
        assert b"the gateway said" not in r.stderr and b"{" not in r.stderr
    # the gateway's own 400 (a class it does not know) is a usage error too, in words
    r = cli(tollgate_bin, g, "logs", "--class", "nope")
    assert r.returncode == 2 and r.stderr.startswith(b"tollgate logs: 400: class: ")


def test_logs_since_takes_reports_forms(gateway, tg, tollgate_bin):
    g = gateway()
    base = samples(tg)  # times 2026-11-27T00:00:00.123Z + i s
    assert g.post_events([event(l) for l in base])[0] == 200
    settle(g)

    def uids(*args):
        r = cli(tollgate_bin, g, "logs", "--json", "-n", "all", *args)
        assert r.returncode == 0, r.stderr
        return [json.loads(l)["time"] for l in r.stdout.decode().splitlines()]
    t0 = 1795737600123
    # no zone: UTC, as `report` reads it
    assert uids("--since", "2026-11-27T00:00:05", "--until", "2026-11-27T00:00:07.999") == \
        [t0 + 5000, t0 + 6000, t0 + 7000]
    assert uids("--since", "2026-11-27 00:00:13", "--until", "2026-11-27") == \
        [t0 + 13000, t0 + 14000]
    # a date: from its start; as --until, the whole day
    day = uids("--since", "2026-11-27", "--until", "2026-11-27")
    assert day == [t0 + i * 1000 for i in range(len(base))]
    assert uids("--until", "2026-11-26") == []
    # report takes the same forms (one parser)
    r = tg("report", "--state", g.state, "--since", "2026-11-27T00:00:05", "--format", "json")
    assert r.returncode != 2, r.stderr


# ---- 3. unknown sandboxes ------------------------------------------------------

def test_logs_of_an_unknown_sandbox_says_so(gateway, tg, tollgate_bin):
    g = gateway()
    want = b"tollgate logs: no such sandbox: nosuch (tollgate sandbox list shows them)\n"
    r = cli(tollgate_bin, g, "logs", "nosuch")
    assert r.returncode == 1 and r.stderr == want and r.stdout == b""
    r = cli(tollgate_bin, g, "logs", "--tail", "nosuch", timeout=15)  # does not wait
    assert r.returncode == 1 and r.stderr == want
    # `default` exists (the gateway makes it)
    r = cli(tollgate_bin, g, "logs", "default", "-n", "5")
    assert r.returncode == 0, r.stderr
    # a name only events carry (a remote proxy's sandbox): its events
    assert g.post_events([event(samples(tg)[0], sandbox="remote-box")])[0] == 200
    settle(g)
    r = cli(tollgate_bin, g, "logs", "remote-box")
    assert r.returncode == 0 and r.stdout.count(b"\n") == 1, r.stderr
    # other commands name it and say what to do next
    for args in (("sandbox", "get", "nosuch"), ("policy", "get", "nosuch"),
                 ("policy", "status", "nosuch")):
        r = cli(tollgate_bin, g, *args)
        assert r.returncode == 1, (args, r.stderr)
        assert b"404: no such sandbox: nosuch (tollgate sandbox list shows them)" in r.stderr, \
            (args, r.stderr)


# ---- 4. -n 0 -------------------------------------------------------------------

class Reader:
    """Reads a process's stdout lines on a thread."""

    def __init__(self, proc):
        self.q = queue.Queue()
        self.proc = proc
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        for line in iter(self.proc.stdout.readline, b""):
            self.q.put(line)

    def until(self, pred, timeout=20):
        got, end = [], time.time() + timeout
        while time.time() < end:
            try:
                got.append(self.q.get(timeout=0.2))
            except queue.Empty:
                continue
            if pred(got):
                return got
        raise AssertionError(f"timed out; got {got!r}")

    def drain(self, secs=0.5):
        got, end = [], time.time() + secs
        while time.time() < end:
            try:
                got.append(self.q.get(timeout=0.1))
            except queue.Empty:
                pass
        return got


def follower(tollgate_bin, g, *args):
    return subprocess.Popen([tollgate_bin, "logs", "--tail", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env_for(g))


def stop(p):
    p.terminate()
    try:
        _, err = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
    return err.decode()


def test_logs_n_zero_prints_no_history(gateway, tg, tollgate_bin):
    g = gateway()
    assert g.post_events([event(l) for l in samples(tg)])[0] == 200
    settle(g)
    r = cli(tollgate_bin, g, "logs", "-n", "0")
    assert r.returncode == 0 and r.stdout == b"" and r.stderr == b""
    assert len(cli(tollgate_bin, g, "logs", "-n", "all").stdout.splitlines()) >= 15
    p = follower(tollgate_bin, g, "-n", "0", "--json")
    try:
        r = Reader(p)
        time.sleep(1)
        assert r.drain() == []  # no history
        uid = str(uuid.uuid4())
        assert g.post_events([event(samples(tg)[0], uid=uid)])[0] == 200
        got = r.until(lambda ls: any(uid.encode() in l for l in ls))
        assert len(got) == 1, got
    finally:
        stop(p)


# ---- 5. --tail across a gateway restart ---------------------------------------

def test_tail_reconnects_across_a_restart_without_gap_or_duplicate(gateway, tg, tollgate_bin):
    g = gateway()
    line = samples(tg)[0]
    before = [str(uuid.uuid4()) for _ in range(5)]
    assert g.post_events([event(line, uid=u) for u in before[:2]])[0] == 200
    settle(g)
    p = follower(tollgate_bin, g, "--json", "-n", "all")
    try:
        r = Reader(p)
        seen = r.until(lambda ls: sum(u.encode() in l for l in ls for u in before[:2]) == 2)
        assert g.post_events([event(line, uid=u) for u in before[2:]])[0] == 200
        seen += r.until(lambda ls: sum(u.encode() in l for l in ls for u in before[2:]) == 3)
        g.stop()
        time.sleep(1.5)  # the follower finds no gateway at least once
        g.start()
        after = [str(uuid.uuid4()) for _ in range(5)]
        assert g.post_events([event(line, uid=u) for u in after])[0] == 200
        seen += r.until(lambda ls: sum(u.encode() in l for l in ls for u in after) == 5,
                        timeout=30)
        seen += r.drain(1.0)
    finally:
        err = stop(p)
    evs = [json.loads(l) for l in seen]
    seqs = [e["metadata"]["sequence"] for e in evs]
    assert len(seqs) == len(set(seqs)) and seqs == sorted(seqs), seqs  # no duplicate
    uids = [e["metadata"]["uid"] for e in evs]
    for u in before + after:
        assert uids.count(u) == 1, (u, uids)
    # no gap: every sequence from the first seen to the last is there
    assert seqs == list(range(seqs[0], seqs[-1] + 1)), seqs
    assert "tollgate: the gateway went away; reconnecting..." in err, err
    assert err.count("went away") == 1, err


# ---- 6. the line: sandbox, timestamps, short hashes ----------------------------

HEX64 = re.compile(rb"(?<![0-9a-fA-F])[0-9a-f]{64}(?![0-9a-fA-F])")


def test_lines_name_the_sandbox_and_shorten_hashes(gateway, tg, tollgate_bin):
    g = gateway()
    base = samples(tg)
    evs = [event(l, sandbox="alpha" if i % 2 else "beta") for i, l in enumerate(base)]
    assert g.post_events(evs)[0] == 200
    settle(g)
    plain = tg("ocsf", "render", "--cli", stdin=("\n".join(evs) + "\n").encode())
    want = plain.stdout.decode().splitlines()
    assert HEX64.search(plain.stdout)  # the samples carry SHA-256 values

    def short(s):
        return HEX64.sub(lambda m: m.group(0)[:12], s.encode()).decode()
    r = cli(tollgate_bin, g, "logs", "--source", "sandbox", "-n", "all")
    assert r.returncode == 0, r.stderr
    got = r.stdout.decode().splitlines()
    assert not HEX64.search(r.stdout)
    sandbox_want = [w for w, e in zip(want, evs) if '"log_name":"sandbox"' in e]
    names = [json.loads(e)["device"]["container"]["name"] for e in evs
             if '"log_name":"sandbox"' in e]
    assert got == [f"[{n}] {short(w)}" for n, w in zip(names, sandbox_want)]
    # --no-prefix and a named sandbox: OpenShell's line as it is (hashes short)
    r = cli(tollgate_bin, g, "logs", "--source", "sandbox", "-n", "all", "--no-prefix")
    assert r.stdout.decode().splitlines() == [short(w) for w in sandbox_want]
    r = cli(tollgate_bin, g, "logs", "alpha", "-n", "all")
    assert r.stdout and not r.stdout.startswith(b"[alpha]") and b"\n[alpha]" not in r.stdout
    # --json: the full values
    r = cli(tollgate_bin, g, "logs", "--json", "-n", "all")
    assert HEX64.search(r.stdout)
    # timestamps: epoch (default), iso (UTC), local
    first = cli(tollgate_bin, g, "logs", "beta", "-n", "1", "--timestamps", "epoch").stdout
    assert re.match(rb"\[\d+\.\d{3}\] ", first), first
    iso = cli(tollgate_bin, g, "logs", "beta", "-n", "1", "--timestamps", "iso").stdout
    assert re.match(rb"\[2026-11-27T00:00:\d\d\.123Z\] \[", iso), iso
    local = cli(tollgate_bin, g, "logs", "beta", "-n", "1", "--timestamps", "local",
                TZ="Asia/Tokyo").stdout
    assert re.match(rb"\[2026-11-27T09:00:\d\d\.123\+09:00\] \[", local), local
    assert iso.split(b"] ", 1)[1] == first.split(b"] ", 1)[1] == local.split(b"] ", 1)[1]


# ---- 7. tokens -----------------------------------------------------------------

def test_token_errors_name_the_token_and_its_file(gateway, tollgate_bin):
    g = gateway()
    for bad in ("wrong", "a" * 63, "g" * 64):
        r = cli(tollgate_bin, g, "status", TOLLGATE_TOKEN=bad)
        assert r.returncode == 2, (bad, r.stderr)
        assert b"TOLLGATE_TOKEN" in r.stderr and (g.state + "/token").encode() in r.stderr
        r = cli(tollgate_bin, g, "logs", "-n", "1", TOLLGATE_TOKEN=bad)
        assert r.returncode == 2 and b"TOLLGATE_TOKEN" in r.stderr
    r = cli(tollgate_bin, g, "status", TOLLGATE_TOKEN="0" * 64)
    assert r.returncode == 1
    assert r.stderr.decode() == (f"tollgate status: 401: unauthorized (TOLLGATE_TOKEN does not "
                                 f"match {g.state}/token)\n")
    r = cli(tollgate_bin, g, "sandbox", "list", TOLLGATE_TOKEN="0" * 64)
    assert r.returncode == 1 and b"tollgate tollgate" not in r.stderr
    assert b"401: unauthorized (TOLLGATE_TOKEN does not match" in r.stderr
    # the right token from the environment works; an empty one is no token
    assert cli(tollgate_bin, g, "status", TOLLGATE_TOKEN=g.token).returncode == 0
    assert cli(tollgate_bin, g, "status", TOLLGATE_TOKEN="").returncode == 0
