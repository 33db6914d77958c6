"""End-to-end tests of `tollgate gateway`, its HTTP API, `tollgate logs` and
`tollgate verify`, driving the real binary over loopback."""
import http.client
import json
import os
import random
import re
import signal
import stat
import subprocess
import threading
import time
import uuid

import pytest

from conftest import settle, GOLDEN


def samples(tg):
    r = tg("ocsf", "samples")
    assert r.returncode == 0
    return r.stdout.decode().splitlines()


def with_uid(line, uid=None, sandbox=None, time_ms=None):
    ev = json.loads(line)
    ev["metadata"]["uid"] = uid or str(uuid.uuid4())
    if sandbox:
        ev["device"]["container"]["name"] = sandbox
    if time_ms:
        ev["time"] = time_ms
    return json.dumps(ev, separators=(",", ":"))


def logs_json(g, query="limit=0"):
    settle(g)
    status, data = g.request("GET", "/v1/logs?format=json&" + query)
    assert status == 200, data
    return [json.loads(l) for l in data.decode().splitlines()]


def run_logs(tollgate_bin, g, *args, env=None, timeout=30):
    e = dict(os.environ, TOLLGATE_STATE=g.state, TOLLGATE_GATEWAY=g.url)
    e.pop("NO_COLOR", None)
    e.update(env or {})
    return subprocess.run([tollgate_bin, "logs", *args], capture_output=True, env=e,
                          timeout=timeout)


def test_health_auth_and_token_file(gateway):
    g = gateway()
    status, data = g.request("GET", "/v1/health", token=False)
    assert status == 200 and json.loads(data)["status"] == "ok"
    mode = stat.S_IMODE(os.stat(os.path.join(g.state, "token")).st_mode)
    assert mode == 0o600
    for path in ("/v1/logs", "/metrics"):
        assert g.request("GET", path, token=False)[0] == 401
        assert g.request("GET", path, token="0" * 64)[0] == 401
        assert g.request("GET", path, token="short")[0] == 401
    c = http.client.HTTPConnection("127.0.0.1", g.port, timeout=10)
    c.request("GET", "/v1/logs")
    r = c.getresponse()
    assert r.status == 401 and r.getheader("WWW-Authenticate", "").startswith("Bearer")
    r.read()
    assert g.request("GET", "/nope")[0] == 404
    assert g.request("DELETE", "/v1/events")[0] == 405


def test_ingest_keeps_good_lines_and_explains_bad_ones(gateway, tg):
    # refuse: invalid events are rejected (the default repairs them:
    # test_openshell_ingest.py)
    g = gateway("--set", "gateway.ingest_invalid=refuse")
    good = [with_uid(l) for l in samples(tg)[:3]]
    wrong_type = json.loads(good[0])
    wrong_type["severity_id"] = "high"
    missing = json.loads(good[0])
    del missing["actor"]["process"]["file"]["name"]
    body = b"\n".join([
        good[0].encode(),
        b"not json at all",
        json.dumps(wrong_type).encode(),
        b'{"class_uid":9999,"activity_id":1}',
        good[1].encode(),
        b'{"message":"\xff\xfe invalid utf-8"}',
        b"{" + b'"x":"' + b"a" * (10 << 20) + b'"}',  # a 10 MB line
        json.dumps(missing).encode(),
        good[2].encode(),
    ]) + b"\n"
    status, reply = g.post_events(body)
    assert status == 200
    assert reply["accepted"] == 3 and reply["rejected"] == 6
    reasons = {e["line"]: e["reason"] for e in reply["errors"]}
    assert reasons[2].startswith("not JSON")
    assert "severity_id: string" in reasons[3] and "is not integer_t" in reasons[3]
    assert "9999 is not a class" in reasons[4]
    assert "not JSON" in reasons[6]
    assert "over gateway.max_line" in reasons[7]
    assert "actor.process.file.name: required attribute missing" in reasons[8]
    posted = [json.loads(l)["metadata"]["uid"] for l in good]
    uids = [e["metadata"]["uid"] for e in logs_json(g) if e["metadata"]["uid"] in posted]
    assert uids == posted
    # all bad: 400, same shape; the server still serves
    status, reply = g.post_events([b"nope".decode()])
    assert status == 400 and reply["accepted"] == 0 and reply["errors"][0]["line"] == 1
    assert g.request("GET", "/v1/health", token=False)[0] == 200


def test_body_over_limit_is_413(gateway, tg):
    g = gateway("--set", "gateway.max_body=64KiB")
    line = with_uid(samples(tg)[0])
    status, _ = g.request("POST", "/v1/events", ("\n".join([line] * 200)).encode())
    assert status == 413
    status, reply = g.post_events([line])
    assert status == 200 and reply["accepted"] == 1


def test_logs_cli_matches_golden_lines(gateway, tg, tollgate_bin):
    g = gateway()
    lines = samples(tg)
    assert g.post_events(lines)[0] == 200
    order = (GOLDEN / "ORDER").read_text().split()
    want = [(GOLDEN / f"{n}.txt").read_text().splitlines()[0] for n in order]
    want_sandbox = [w for w, l in zip(want, lines) if '"log_name":"sandbox"' in l]
    r = run_logs(tollgate_bin, g, "--source", "sandbox", "-n", "100", "--no-prefix")
    assert r.returncode == 0, r.stderr
    # the log view cuts a SHA-256 to 12 hex digits (test_cli_ux.py); the rest is the golden line
    short = [re.sub(r"\b[0-9a-f]{64}\b", lambda m: m.group(0)[:12], w) for w in want_sandbox]
    assert r.stdout.decode().splitlines() == short
    assert b"\x1b" not in r.stdout  # not a terminal: no colour


def test_logs_filters_then_limits(gateway, tg, tollgate_bin):
    g = gateway()
    base = samples(tg)
    t0 = 1795737600000
    batch = []
    for i in range(300):
        sb = "alpha" if i % 10 == 0 else "beta"
        batch.append(with_uid(base[i % 8], sandbox=sb, time_ms=t0 + i * 1000))
    assert g.post_events(batch)[0] == 200
    # filter first, then the last 5: alpha has 30 events
    got = logs_json(g, "sandbox=alpha&limit=5")
    assert [e["time"] for e in got] == [t0 + i * 1000 for i in (250, 260, 270, 280, 290)]
    denied = logs_json(g, "action=denied&limit=0")
    assert denied and all(e["action_id"] == 2 for e in denied)
    http_only = logs_json(g, "class=http&limit=0")
    assert http_only and all(e["class_uid"] == 4002 for e in http_only)
    high = logs_json(g, "min_severity=high&limit=0")
    assert high and all(e["severity_id"] >= 4 for e in high)
    window = logs_json(g, "since=2026-11-27T00:01:00Z&until=2026-11-27T00:01:59.999Z&limit=0")
    assert [e["time"] for e in window] == [t0 + i * 1000 for i in range(60, 120)]
    r = run_logs(tollgate_bin, g, "alpha", "-n", "3", "--json")
    assert [json.loads(l)["time"] for l in r.stdout.decode().splitlines()] == \
        [t0 + i * 1000 for i in (270, 280, 290)]
    assert g.request("GET", "/v1/logs?since=yesterday")[0] == 400
    assert g.request("GET", "/v1/logs?limit=-1")[0] == 400
    r = run_logs(tollgate_bin, g, "--since", "garbage")
    assert r.returncode == 2 and b"--since" in r.stderr  # a usage error, caught by the CLI


def test_follow_reader_far_behind_the_ring_gets_everything(gateway, tg):
    # a 64 KiB ring and a reader that does not read while 20000 events pass
    g = gateway("--set", "ring.bytes=64KiB")
    c = http.client.HTTPConnection("127.0.0.1", g.port, timeout=60)
    c.request("GET", "/v1/logs?follow=1&limit=1&format=json",
              headers={"Authorization": "Bearer " + g.token})
    r = c.getresponse()
    assert r.status == 200
    base = samples(tg)[0]
    sent = []
    for _ in range(20):
        batch = [with_uid(base) for _ in range(1000)]
        sent += [json.loads(l)["metadata"]["uid"] for l in batch]
        assert g.post_events(batch)[0] == 200
    seen, seqs = [], []
    while len(seen) < len(sent):
        ev = json.loads(r.readline())
        seqs.append(ev["metadata"]["sequence"])
        if ev["class_uid"] == 4001:
            seen.append(ev["metadata"]["uid"])
    assert seen == sent
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    c.close()


def test_tail_shows_new_events(gateway, tg, tollgate_bin):
    g = gateway()
    e = dict(os.environ, TOLLGATE_STATE=g.state, TOLLGATE_GATEWAY=g.url)
    p = subprocess.Popen([tollgate_bin, "logs", "--tail", "-n", "1"], stdout=subprocess.PIPE,
                         env=e)
    try:
        first = p.stdout.readline()  # the backlog: the gateway's own last event
        assert b"[gateway] [OCSF ] [ocsf] " in first
        g.post_events([with_uid(samples(tg)[1])])
        line = p.stdout.readline()
        assert b"NET:OPEN [MED] DENIED /usr/bin/curl(1310) -> attacker.example.com:443" in line
    finally:
        p.send_signal(signal.SIGINT)
        p.wait(10)


def test_crash_kill9_loses_nothing_acknowledged(gateway, tg, tollgate_bin):
    """A client ingests while the gateway is kill -9'd 20 times; every event
    whose POST got a 200 is in the spool exactly once; verify passes."""
    g = gateway()
    base = samples(tg)[0]
    acked, lock, stop = [], threading.Lock(), threading.Event()

    def client():
        while not stop.is_set():
            batch = [with_uid(base) for _ in range(50)]
            try:
                status, reply = g.post_events(batch, timeout=5)
            except (OSError, http.client.HTTPException, ValueError):
                time.sleep(0.02)
                continue
            if status == 200 and reply["accepted"] == 50:
                with lock:
                    acked.extend(json.loads(l)["metadata"]["uid"] for l in batch)

    threads = [threading.Thread(target=client) for _ in range(2)]
    for t in threads:
        t.start()
    rnd = random.Random(7)
    for _ in range(20):
        time.sleep(rnd.uniform(0.05, 0.4))
        g.kill9()
        g.start()
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) > 500
    uids = [e["metadata"]["uid"] for e in logs_json(g) if e["class_uid"] == 4001]
    counts = {}
    for u in uids:
        counts[u] = counts.get(u, 0) + 1
    assert not [u for u in acked if counts.get(u) != 1]
    assert max(counts.values()) == 1  # nothing twice, acknowledged or not
    g.stop()
    r = subprocess.run([tollgate_bin, "verify", "--state", g.state], capture_output=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"ok: ")


def spool_segments(state):
    d = os.path.join(state, "spool")
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.startswith("seg-"))


def test_verify_names_a_tampered_record(gateway, tg, tollgate_bin):
    g = gateway()
    assert g.post_events([with_uid(l) for l in samples(tg)])[0] == 200
    seq = [e["metadata"]["sequence"] for e in logs_json(g)
           if e.get("dst_endpoint", {}).get("domain") == "attacker.example.com"][0]
    g.stop()
    seg = spool_segments(g.state)[0]
    data = bytearray(open(seg, "rb").read())
    at = data.index(b"attacker.example.com")
    data[at] ^= 0x20
    open(seg, "wb").write(bytes(data))
    r = subprocess.run([tollgate_bin, "verify", "--state", g.state], capture_output=True)
    assert r.returncode == 1
    err = r.stderr.decode()
    assert "FAILED" in err and f"sequence {seq} " in err and os.path.basename(seg) in err, err


def test_torn_tail_restart_recovers_and_reports(gateway, tg, tollgate_bin):
    g = gateway()
    posted = [with_uid(l) for l in samples(tg)]
    uids = [json.loads(l)["metadata"]["uid"] for l in posted]
    assert g.post_events(posted)[0] == 200
    g.kill9()
    seg = spool_segments(g.state)[-1]
    size = os.path.getsize(seg)
    os.truncate(seg, size - 100)
    g.start()
    evs = logs_json(g)
    recovered = [e for e in evs if e.get("state") == "recovered"]
    assert len(recovered) == 1 and "bytes was cut" in recovered[0]["message"]
    # the cut took the last record: the last sample posted (PROC:LAUNCH)
    kept = [e["metadata"]["uid"] for e in evs if e["metadata"]["uid"] in uids]
    assert kept == uids[:-1]
    assert any(f.startswith("quarantine-") for f in os.listdir(os.path.join(g.state, "spool")))
    g.stop()
    r = subprocess.run([tollgate_bin, "verify", "--state", g.state], capture_output=True)
    assert r.returncode == 0, r.stderr


def test_metrics_and_lifecycle(gateway, tg):
    g = gateway()
    g.post_events([with_uid(samples(tg)[0]), "bad"])
    status, data = g.request("GET", "/metrics")
    text = data.decode()
    assert status == 200
    for name in ("tollgate_events_in_total", "tollgate_events_rejected_total 1",
                 "tollgate_ring_used_bytes", "tollgate_spool_bytes",
                 "tollgate_spool_fsyncs_total", "tollgate_events_dropped_total 0"):
        assert name in text, name
    g.stop()
    g.start()
    acts = [e["activity_name"] for e in logs_json(g, "class=lifecycle&limit=0")
            if e["activity_name"] != "Create"]  # the default sandbox, made on first start
    assert acts == ["Start", "Stop", "Start"]


def test_tls(gateway, tmp_path, tollgate_bin, tg):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                        "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", str(key), "-out", str(cert)], capture_output=True)
    assert r.returncode == 0, r.stderr
    g = gateway("--tls-cert", str(cert), "--tls-key", str(key))
    assert "https://" in "\n".join(g.stderr_lines)
    r = run_logs(tollgate_bin, g, "-n", "5", env={
        "TOLLGATE_GATEWAY": f"https://127.0.0.1:{g.port}", "TOLLGATE_CACERT": str(cert)})
    assert r.returncode == 0, r.stderr
    assert b"LIFECYCLE:START" in r.stdout
    r = run_logs(tollgate_bin, g, "-n", "5")  # plain HTTP to a TLS port: a clear failure
    assert r.returncode == 1


def test_config_errors_name_file_and_line(tmp_path, tollgate_bin):
    cfg = tmp_path / "tollgate.yaml"
    cfg.write_text("spool:\n  fsync: always\n  fsyn: never\n")
    r = subprocess.run([tollgate_bin, "gateway", "--state", str(tmp_path / "s"), "--config",
                        str(cfg)], capture_output=True, timeout=20)
    assert r.returncode == 2
    assert f"{cfg}:3: unknown key 'spool.fsyn'".encode() in r.stderr
    cfg.write_text("spool:\n  fsync: sometimes\n")
    r = subprocess.run([tollgate_bin, "gateway", "--state", str(tmp_path / "s"), "--config",
                        str(cfg)], capture_output=True, timeout=20)
    assert b":2: spool.fsync: 'sometimes' is not one of always|interval|never" in r.stderr
    r = subprocess.run([tollgate_bin, "gateway", "--set", "ring.bytes=3000"],
                       capture_output=True, timeout=20)
    assert r.returncode != 0
    r = subprocess.run([tollgate_bin, "gateway", "--help-config"], capture_output=True)
    assert b"spool.fsync" in r.stdout and b"gateway.listen" in r.stdout


def run_in_pty(argv, env):
    """Runs argv with stdout on a pseudo-terminal; returns what it wrote."""
    import pty
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(argv[0], argv, env)
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    return out


def test_colour_only_on_a_terminal_and_never_with_no_color(gateway, tg, tollgate_bin):
    g = gateway()
    g.post_events([with_uid(l) for l in samples(tg)[:2]])
    env = dict(os.environ, TOLLGATE_STATE=g.state, TOLLGATE_GATEWAY=g.url)
    env.pop("NO_COLOR", None)
    out = run_in_pty([tollgate_bin, "logs", "-n", "2"], env)
    assert b"\x1b[32mALLOWED\x1b[0m" in out and b"\x1b[31mDENIED\x1b[0m" in out
    out = run_in_pty([tollgate_bin, "logs", "-n", "2"], dict(env, NO_COLOR="1"))
    assert b"DENIED" in out and b"\x1b" not in out


def test_a_resent_batch_is_not_stored_twice(gateway, tg):
    g = gateway()
    batch = [with_uid(l) for l in samples(tg)[:5]]
    status, first = g.post_events(batch)
    assert status == 200 and first["accepted"] == 5 and first["duplicates"] == 0
    status, again = g.post_events(batch)  # a proxy resending after a lost reply
    assert status == 200 and again["accepted"] == 5 and again["duplicates"] == 5
    g.stop()
    g.start()  # the memory of recent uids is refilled from the spool
    status, after = g.post_events(batch)
    assert after["duplicates"] == 5
    uids = [json.loads(l)["metadata"]["uid"] for l in batch]
    stored = [e["metadata"]["uid"] for e in logs_json(g) if e["metadata"]["uid"] in uids]
    assert sorted(stored) == sorted(uids)
