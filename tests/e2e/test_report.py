"""End-to-end tests of `tollgate report`: a real gateway takes known events,
then the report (every format) is checked against numbers this test computes
from the same events."""
import csv
import io
import json
import os
import shutil
import subprocess
import uuid

import pytest

from conftest import settle

T0 = 1767225600000  # 2026-01-01T00:00:00Z: far from the gateway's own events
HOUR = 3600000
SANDBOXES = ["alpha", "beta", "gamma"]
N = 90


def samples(tg):
    r = tg("ocsf", "samples")
    assert r.returncode == 0
    return [json.loads(l) for l in r.stdout.decode().splitlines()]


def make_events(tg):
    """N events from the samples: sandbox, time and uid varied; 30 minutes
    apart from 2026-01-01T00:00Z, so two UTC days."""
    base = samples(tg)
    out = []
    for k in range(N):
        ev = json.loads(json.dumps(base[k % len(base)]))
        ev["metadata"]["uid"] = str(uuid.uuid4())
        ev["device"]["container"]["name"] = SANDBOXES[k % 3]
        ev["time"] = T0 + k * 30 * 60000
        if "traffic" in ev:
            ev["traffic"] = {"bytes_in": 1000 + k, "bytes_out": 10 + k}
        out.append(ev)
    return out


def is_decision(e):
    return e["class_uid"] == 4002 or (e["class_uid"] == 4001 and e["activity_id"] in (1, 5))


def destination(e):
    d = e.get("dst_endpoint", {})
    return f'{d.get("domain") or d.get("ip")}:{d["port"]}'


NOT_DECISION = {"Allowed": "Allowed, not a decision (NET:CLOSE, NET:FAIL, ...)",
                "Denied": "Denied, not a decision"}


def expected(events, seq_of):
    x = {"events": len(events), "verdict": {"Allowed": 0, "Denied": 0}, "class": {}, "sandbox": {}, "bytes": {},
         "denied": {}, "allowed": {}, "findings": {}, "policies": 0, "days": {}}
    for e in events:
        seq = seq_of[e["metadata"]["uid"]]
        sb = e["device"]["container"]["name"]
        v = {1: "Allowed", 2: "Denied"}.get(e.get("action_id"), "(none)")
        if v != "(none)" and not is_decision(e):
            v = NOT_DECISION[v]
        x["verdict"][v] = x["verdict"].get(v, 0) + 1
        x["class"][e["class_uid"]] = x["class"].get(e["class_uid"], 0) + 1
        s = x["sandbox"].setdefault(sb, {"events": 0, "allowed": 0, "denied": 0})
        s["events"] += 1
        day = "2026-01-01" if e["time"] < T0 + 24 * HOUR else "2026-01-02"
        dd = x["days"].setdefault(day, {"allowed": 0, "denied": 0, "other_events": 0})
        if e["class_uid"] == 4001 and e["activity_id"] == 2:
            b = x["bytes"].setdefault(sb, [0, 0, 0])
            b[0] += 1
            b[1] += e["traffic"]["bytes_in"]
            b[2] += e["traffic"]["bytes_out"]
        if is_decision(e) and e.get("action_id") in (1, 2):
            key = "allowed" if e["action_id"] == 1 else "denied"
            s[key] += 1
            dd[key] += 1
            t = x[key].setdefault(destination(e), [0, None, None])
            t[0] += 1
            t[1] = seq if t[1] is None else min(t[1], seq)
            t[2] = seq if t[2] is None else max(t[2], seq)
        else:
            dd["other_events"] += 1
        if e["class_uid"] == 2004:
            uid = e["finding_info"]["uid"]
            kind = {"binary_hash_changed": "binary_hash_change",
                    "ssrf_attempt": "ssrf_attempt"}.get(uid, "other")
            x["findings"][kind] = x["findings"].get(kind, 0) + 1
        if e["class_uid"] == 5019:
            x["policies"] += 1
    return x


@pytest.fixture
def loaded(gateway, tg):
    """A gateway that took the events; returns (gateway, events, uid -> seq)."""
    g = gateway()
    events = make_events(tg)
    status, reply = g.post_events([json.dumps(e) for e in events])
    assert status == 200 and reply["accepted"] == N, reply
    settle(g)
    status, data = g.request("GET", "/v1/logs?format=json&limit=0")
    seq_of = {json.loads(l)["metadata"]["uid"]: json.loads(l)["metadata"]["sequence"]
              for l in data.decode().splitlines()}
    return g, events, seq_of


SCOPE = ["--since", "2026-01-01", "--until", "2026-01-02",
         "--sandbox", "alpha", "--sandbox", "beta", "--sandbox", "gamma"]


def report(tollgate_bin, state, *args, ok=True):
    r = subprocess.run([tollgate_bin, "report", "--state", state, *args],
                       capture_output=True, timeout=120)
    if ok:
        assert r.returncode == 0, r.stderr.decode()
    return r


def rows_by(rows, key):
    return {r[key]: r for r in rows}


def check_json(doc, events, seq_of):
    x = expected(events, seq_of)
    seqs = sorted(seq_of[e["metadata"]["uid"]] for e in events)
    assert doc["scope"]["events_in_scope"] == x["events"]
    assert doc["scope"]["sandboxes"] == SANDBOXES
    assert doc["scope"]["first_sequence"] == seqs[0]
    assert doc["scope"]["last_sequence"] == seqs[-1]
    act = doc["activity"]
    assert {r["verdict"]: r["events"] for r in act["by_verdict"]} == x["verdict"]
    assert {r["class_uid"]: r["events"] for r in act["by_class"]} == x["class"]
    for sb, s in x["sandbox"].items():
        r = rows_by(act["by_sandbox"], "sandbox")[sb]
        assert (r["events"], r["allowed"], r["denied"]) == (s["events"], s["allowed"], s["denied"])
    assert {r["sandbox"]: [r["closes"], r["bytes_in"], r["bytes_out"]]
            for r in act["traffic"]} == x["bytes"]
    for key, table in (("denied", "destinations_denied"), ("allowed", "destinations_allowed")):
        got = {r["destination"]: [r["events"], r["first_sequence"], r["last_sequence"]]
               for r in act[table]}
        assert got == {k: v for k, v in x[key].items()}, (key, got, x[key])
    assert {r["day"]: {k: r[k] for k in ("allowed", "denied", "other_events")}
            for r in act["per_day"]} == x["days"]
    summary = {r["kind"]: r["events"] for r in doc["findings"]["summary"] if r["events"]}
    assert summary == x["findings"]
    assert doc["changes"]["policy_events_total"] == x["policies"]
    assert doc["completeness"]["verify"]["result"] == "pass"
    assert doc["completeness"]["gaps_total"] == 0


def test_json_numbers_match_the_events(loaded, tollgate_bin):
    g, events, seq_of = loaded
    g.stop()
    doc = json.loads(report(tollgate_bin, g.state, *SCOPE, "--format", "json").stdout)
    check_json(doc, events, seq_of)
    # the whole spool: the gateway's own events too, and the chain verified over all
    whole = json.loads(report(tollgate_bin, g.state, "--format", "json").stdout)
    # + its stop event and the signed checkpoint written at the stop
    assert whole["scope"]["events_in_scope"] == len(seq_of) + 2
    assert whole["completeness"]["verify"]["records_checked"] == len(seq_of) + 2
    assert any(r["action"] == "Create" and r["sandbox"] == "default"
               for r in whole["changes"]["lifecycle"])


def test_report_beside_a_running_gateway(loaded, tollgate_bin):
    g, events, seq_of = loaded
    doc = json.loads(report(tollgate_bin, g.state, *SCOPE, "--format", "json").stdout)
    check_json(doc, events, seq_of)


def test_csv_tables_parse(loaded, tollgate_bin, tmp_path):
    g, events, seq_of = loaded
    g.stop()
    doc = json.loads(report(tollgate_bin, g.state, *SCOPE, "--format", "json").stdout)
    out = tmp_path / "csv"
    report(tollgate_bin, g.state, *SCOPE, "--format", "csv", "-o", str(out))
    names = sorted(p.name for p in out.iterdir())
    assert "denied_destinations.csv" in names and "findings.csv" in names and len(names) >= 20
    for name in names:
        with open(out / name, newline="") as f:
            rows = list(csv.reader(f))
        assert rows, name
        assert all(len(r) == len(rows[0]) for r in rows), name
    with open(out / "denied_destinations.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    want = {r["destination"]: r["events"] for r in doc["activity"]["destinations_denied"]}
    assert {r["destination"]: int(r["events"]) for r in rows} == want
    one = report(tollgate_bin, g.state, *SCOPE, "--format", "csv", "--table", "sandboxes")
    rows = list(csv.DictReader(io.StringIO(one.stdout.decode())))
    assert sorted(r["sandbox"] for r in rows) == SANDBOXES
    r = report(tollgate_bin, g.state, "--format", "csv", ok=False)
    assert r.returncode == 2 and b"--table" in r.stderr


def md_cells(line):
    cells, cur, i = 0, 0, 0
    while i < len(line):
        if line[i] == "\\":
            i += 2
            continue
        if line[i] == "|":
            cells += 1
        i += 1
    return cells


def test_markdown_tables_are_well_formed(loaded, tollgate_bin):
    g, events, seq_of = loaded
    g.stop()
    md = report(tollgate_bin, g.state, *SCOPE).stdout.decode()
    assert md.startswith("# tollgate compliance report")
    tables, cur = [], None
    for line in md.splitlines():
        if line.startswith("|"):
            if cur is None:
                cur = []
                tables.append(cur)
            cur.append(line)
        else:
            cur = None
    assert len(tables) >= 12
    for t in tables:
        assert len(t) >= 3, t  # header, separator, at least one row
        assert set(t[1].replace("|", "")) == {"-"}, t[1]
        assert len({md_cells(l) for l in t}) == 1, t
    assert "attacker.example.com:443" in md


def find_chromium():
    path = shutil.which("chromium")
    if path:
        return path
    if os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], capture_output=True,
                       timeout=900, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    return shutil.which("chromium")


def test_html_renders_in_headless_chromium(loaded, tollgate_bin, tmp_path):
    g, events, seq_of = loaded
    g.stop()
    html = tmp_path / "report.html"
    report(tollgate_bin, g.state, *SCOPE, "--format", "html", "-o", str(html))
    text = html.read_text()
    assert "<script" not in text and "http://" not in text.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    chromium = find_chromium()
    if not chromium:
        pytest.skip("chromium is not installed and `apt-get install chromium` failed")
    base = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path / 'chromium-profile'}"]
    r = subprocess.run(base + ["--dump-dom", html.as_uri()], capture_output=True, timeout=180)
    dom = r.stdout.decode()
    assert r.returncode == 0 and "</html>" in dom, r.stderr.decode()[-2000:]
    for chart in ("chart-hours", "chart-denied", "chart-policies"):
        assert f'id="{chart}"' in dom, chart
    assert dom.count("<svg") >= 3 and dom.count("<rect") > 10
    for table in ("scope", "denied_destinations", "binaries", "policy_changes", "findings"):
        assert f'data-table="{table}"' in dom, table
    assert "attacker.example.com:443" in dom
    shot = tmp_path / "report.png"
    r = subprocess.run(base + [f"--screenshot={shot}", "--window-size=1280,2000", html.as_uri()],
                       capture_output=True, timeout=180)
    assert r.returncode == 0 and shot.exists() and shot.stat().st_size > 10000, r.stderr[-2000:]
    print(f"report screenshot: {shot}")


def test_tampered_record_shows_up(loaded, tollgate_bin):
    g, events, seq_of = loaded
    g.stop()
    seg = sorted(os.path.join(g.state, "spool", f) for f in os.listdir(os.path.join(g.state, "spool"))
                 if f.startswith("seg-"))[0]
    data = bytearray(open(seg, "rb").read())
    at = data.index(b"attacker.example.com")
    rec = data.rindex(b"TGRC", 0, at)
    seq = int.from_bytes(data[rec + 12:rec + 20], "little")
    data[at] ^= 0x20
    open(seg, "wb").write(bytes(data))
    r = report(tollgate_bin, g.state, "--format", "json", ok=False)
    assert r.returncode == 1 and b"NOT complete or NOT intact" in r.stderr
    doc = json.loads(r.stdout)
    v = doc["completeness"]["verify"]
    assert v["result"] == "fail" and v["first_bad"]["sequence"] == seq
    assert v["first_bad"]["kind"] == "crc" and os.path.basename(seg) == v["first_bad"]["segment"]
    assert doc["completeness"]["unreadable_records"] == 1
    md = report(tollgate_bin, g.state, ok=False).stdout.decode()
    assert f"| {seq} | crc |" in md


def test_report_file_honours_umask(loaded, tollgate_bin, tmp_path):
    g, _, _ = loaded
    for mask, want in ((0o077, 0o600), (0o022, 0o644)):
        out = tmp_path / f"report-{mask:o}.md"
        r = subprocess.run(["sh", "-c", f'umask {mask:03o}; exec "$0" "$@"', tollgate_bin,
                            "report", "--state", g.state, "-o", str(out)],
                           capture_output=True, timeout=120)
        assert out.exists(), r.stderr.decode()
        assert out.stat().st_mode & 0o777 == want, oct(out.stat().st_mode)


def seq_count(ranges):
    return sum(hi - lo + 1 for lo, hi in ranges)


def test_tables_agree(loaded, tollgate_bin):
    """Issue 18/10: the verdict table, the sandbox, daily, hourly and
    destination tables count the same decisions; "(gateway)" is no sandbox;
    sequences are [first, last] ranges."""
    g, events, seq_of = loaded
    g.stop()
    for scope in (SCOPE, []):
        doc = json.loads(report(tollgate_bin, g.state, *scope, "--format", "json").stdout)
        act = doc["activity"]
        verdict = {r["verdict"]: r for r in act["by_verdict"]}
        assert sum(r["events"] for r in act["by_verdict"]) == doc["scope"]["events_in_scope"]
        for key, name in (("allowed", "Allowed"), ("denied", "Denied")):
            n = verdict[name]["events"]
            assert verdict[name]["decision"] is True
            assert act["decisions"][key] == n
            assert sum(r[key] for r in act["by_sandbox"]) == n, key
            assert sum(r[key] for r in act["per_day"]) == n, key
            assert sum(r[key] for r in act["per_hour"]) == n, key
            assert sum(r["events"] for r in act[f"destinations_{key}"]) == n, key
            assert sum(r[key] for r in act["binaries"]) == n, key
        assert verdict["Allowed"]["events"] > 0 and verdict["Denied"]["events"] > 0
        names = {r["sandbox"] for r in act["by_sandbox"]}
        assert doc["scope"]["sandboxes_seen"] == len(names - {"(gateway)"})
        for r in act["by_sandbox"] + act["by_class"] + act["destinations_denied"]:
            assert isinstance(r["sequences"], list)
            assert all(isinstance(p, list) and len(p) == 2 and p[0] <= p[1]
                       for p in r["sequences"]), r["sequences"]
            assert seq_count(r["sequences"]) + r["sequences_more"] == r["events"], r
            assert r["sequences"][0][0] == r["first_sequence"]
        for r in act["binaries"]:
            assert seq_count(r["allowed_sequences"]) + r["allowed_sequences_more"] == r["allowed"]
    doc = json.loads(report(tollgate_bin, g.state, "--format", "json").stdout)
    assert "(gateway)" in {r["sandbox"] for r in doc["activity"]["by_sandbox"]}
    assert doc["scope"]["sandboxes_seen"] == 4  # alpha, beta, gamma, default
    md = report(tollgate_bin, g.state, *SCOPE).stdout.decode()
    assert "| Sandboxes seen | 3 |" in md
    row = next(l for l in md.splitlines() if l.startswith("| alpha |"))
    assert "[" not in row  # ranges as text in the human formats: "4-6, 9"


def test_unknown_sandbox_warns(loaded, tollgate_bin):
    g, _, _ = loaded
    r = report(tollgate_bin, g.state, "--sandbox", "nosuch", ok=False)
    assert r.returncode == 1
    assert b"--sandbox nosuch: no event of this sandbox" in r.stderr
    assert b"sandbox list" in r.stderr
    r = report(tollgate_bin, g.state, "--sandbox", "alpha", "--sandbox", "alhpa", ok=False)
    assert r.returncode == 1 and b"alhpa" in r.stderr and b"alpha:" not in r.stderr
    r = report(tollgate_bin, g.state, "--sandbox", "alpha")
    assert r.returncode == 0 and r.stderr == b""


def test_html_columns_and_one_hour_chart(gateway, tg, tollgate_bin, tmp_path):
    """No mid-word breaks in table cells; one hour of events draws one bar on
    an axis of several hours, with different start and end labels."""
    import re
    g = gateway()
    ev = samples(tg)[:6]
    for i, e in enumerate(ev):
        e["metadata"]["uid"] = str(uuid.uuid4())
        e["time"] = T0 + i * 60000
        e["device"]["container"]["name"] = "alpha"
    status, reply = g.post_events([json.dumps(e) for e in ev])
    assert status == 200, reply
    settle(g)
    g.stop()
    html = tmp_path / "r.html"
    report(tollgate_bin, g.state, "--sandbox", "alpha", "--format", "html", "-o", str(html))
    text = html.read_text()
    assert "word-break:break-word" not in text and "word-break:normal" in text
    assert "table.t th{background:#f3f5f7;white-space:nowrap}" in text
    chart = text[text.index('id="chart-hours"'):]
    chart = chart[:chart.index("</svg>")]
    labels = re.findall(r">(\d{4}-\d\d-\d\dT\d\d:\d\dZ)<", chart)
    assert len(labels) == 2 and labels[0] != labels[1], labels
    assert labels[0] == "2026-01-01T00:00Z"
    widths = [float(w) for w in re.findall(r'<rect class="b-[a-z_]+" x="[\d.]+" y="[\d.]+" '
                                           r'width="([\d.]+)"', chart)]
    assert widths and max(widths) < 960 / 4, widths


def test_many_segments_and_a_deleted_one(gateway, tg, tollgate_bin, tmp_path):
    """A spool of many 64 KiB segments, read by the parallel segment workers:
    every record counted once and the chain verified across every seam; then
    a segment in the middle deleted: the report and `tollgate verify` both
    name the sequences that went with it."""
    cfg = tmp_path / "tollgate.yaml"
    cfg.write_text("spool:\n  segment_bytes: 64KiB\n")
    g = gateway("--config", str(cfg))
    base = make_events(tg)
    sent = 0
    for _ in range(6):
        batch = []
        for e in base:
            e = json.loads(json.dumps(e))
            e["metadata"]["uid"] = str(uuid.uuid4())
            batch.append(json.dumps(e))
        status, reply = g.post_events(batch)
        assert status == 200 and reply["accepted"] == len(batch), reply
        sent += len(batch)
    settle(g)
    g.stop()
    spool = os.path.join(g.state, "spool")
    segs = sorted(f for f in os.listdir(spool) if f.startswith("seg-"))
    assert len(segs) >= 4, segs
    doc = json.loads(report(tollgate_bin, g.state, "--format", "json").stdout)
    c = doc["completeness"]
    assert c["verify"]["result"] == "pass", c["verify"]
    assert c["records_read"] == c["spool_last_sequence"] - c["spool_first_sequence"] + 1
    assert c["records_read"] >= sent and c["gaps_total"] == 0
    assert c["verify"]["records_checked"] == c["records_read"]
    assert doc["scope"]["segments"] == len(segs)

    gone = segs[len(segs) // 2]
    first = int(gone[4:24])
    after = int(segs[len(segs) // 2 + 1][4:24])
    os.unlink(os.path.join(spool, gone))
    r = report(tollgate_bin, g.state, "--format", "json", ok=False)
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    c = doc["completeness"]
    v = c["verify"]
    assert v["result"] == "fail"
    assert v["first_bad"]["kind"] == "sequence" and v["first_bad"]["sequence"] == first
    assert f"sequences {first}..{after - 1} are not in the spool" in v["first_bad"]["problem"]
    assert c["gaps_total"] == 1 and c["missing_sequences"] == after - first
    assert c["gaps"][0]["from_sequence"] == first and c["gaps"][0]["to_sequence"] == after - 1
    r = subprocess.run([tollgate_bin, "verify", "--state", g.state], capture_output=True,
                       timeout=60)
    assert r.returncode != 0
