"""End-to-end tests of `tollgate ocsf samples | render | validate`."""
import json
import subprocess
import sys

import pytest

from conftest import GOLDEN, SHARED

VALIDATE_PY = SHARED / "ocsf" / "validate.py"
CONTROL = set(range(0x20)) | {0x7f}


def sample_lines(tg):
    r = tg("ocsf", "samples")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert len(lines) >= 15
    return lines


def test_samples_match_golden(tg):
    """Each sample's JSON and human lines equal tests/golden/<name>.{json,txt}.
    tests/golden/update.sh rewrites them (review the diff before committing)."""
    lines = sample_lines(tg)
    cli = tg("ocsf", "render", "--cli", stdin="\n".join(lines).encode() + b"\n")
    fil = tg("ocsf", "render", "--file", stdin="\n".join(lines).encode() + b"\n")
    assert cli.returncode == 0 and fil.returncode == 0, cli.stderr + fil.stderr
    cli_lines = cli.stdout.decode().splitlines()
    file_lines = fil.stdout.decode().splitlines()
    uids = [json.loads(l)["metadata"]["uid"] for l in lines]
    assert len(set(uids)) == len(lines), "metadata.uid must differ per event"
    order = (GOLDEN / "ORDER").read_text().split()
    assert len(order) == len(lines), "sample count changed: run tests/golden/update.sh"
    for name, line, c, f in zip(order, lines, cli_lines, file_lines):
        assert (GOLDEN / f"{name}.json").read_text() == line + "\n", name
        assert (GOLDEN / f"{name}.txt").read_text() == c + "\n" + f + "\n", name


def test_samples_keys_sorted_and_compact(tg):
    for line in sample_lines(tg):
        ev = json.loads(line)
        assert json.dumps(ev, sort_keys=True, separators=(",", ":"), ensure_ascii=False) == line


def test_samples_cover_the_catalogue(tg):
    seen = set()
    for line in sample_lines(tg):
        ev = json.loads(line)
        seen.add((ev["class_uid"], ev["activity_id"], ev.get("action_id")))
        assert ev["metadata"]["version"] == "1.7.0"
        assert ev["metadata"]["product"]["vendor_name"] == "tollgate"
        assert ev["device"]["type_id"] in range(0, 100)
        assert ev["device"]["container"]["name"] == "default"
        if ev["class_uid"] in (4001, 4002):
            proc = ev["actor"]["process"]
            assert {"pid", "name", "cmd_line", "file"} <= proc.keys()
            assert proc["file"]["hashes"][0]["algorithm_id"] == 3
            assert len(proc["file"]["hashes"][0]["value"]) == 64
    for want in [(4001, 1, 1), (4001, 1, 2), (4001, 2, 1), (4001, 4, 1), (4001, 7, None),
                 (4002, 3, 1), (4002, 6, 2), (2004, 1, None), (5019, 1, None),
                 (6002, 3, None), (6002, 4, None), (1007, 1, None)]:
        assert want in seen, want


@pytest.mark.skipif(not VALIDATE_PY.exists(), reason="../shared/ocsf absent (see README)")
def test_samples_pass_reference_validator(tg):
    lines = sample_lines(tg)
    r = subprocess.run([sys.executable, str(VALIDATE_PY), "--warnings-fail"],
                       input="\n".join(lines).encode(), capture_output=True)
    out = r.stdout.decode()
    assert r.returncode == 0, out
    assert out.strip().splitlines()[-1] == f"{len(lines)} passed, 0 failed"


def test_own_validator_passes_samples(tg):
    lines = sample_lines(tg)
    r = tg("ocsf", "validate", "-", stdin="\n".join(lines).encode())
    assert r.returncode == 0, r.stdout
    assert r.stderr.decode().strip() == f"{len(lines)} passed, 0 failed"


def mutations(lines):
    """(description, event) pairs: each breaks or keeps one rule."""
    base = json.loads(lines[0])
    fin = json.loads([l for l in lines if '"class_uid":2004' in l][0])
    out = []

    def mut(desc, ev, fn):
        ev = json.loads(json.dumps(ev))
        fn(ev)
        out.append((desc, ev))
    mut("unchanged", base, lambda e: None)
    mut("no severity_id", base, lambda e: e.pop("severity_id"))
    mut("bad severity", base, lambda e: e.update(severity_id=42))
    mut("caption mismatch", base, lambda e: e.update(severity="Low"))
    mut("type_uid", base, lambda e: e.update(type_uid=1))
    mut("unknown attr", base, lambda e: e.update(bogus=1))
    mut("port range", base, lambda e: e["dst_endpoint"].update(port=70000))
    mut("port type", base, lambda e: e["dst_endpoint"].update(port="443"))
    mut("bad ip", base, lambda e: e["dst_endpoint"].update(ip="1.2.3"))
    mut("good ip6", base, lambda e: e["dst_endpoint"].update(ip="::1"))
    mut("secs not ms", base, lambda e: e.update(time=1795737600))
    mut("profile missing", base, lambda e: e["metadata"].update(profiles=["host"]))
    mut("unknown profile", base, lambda e: e["metadata"].update(profiles=["x"]))
    mut("version", base, lambda e: e["metadata"].update(version="1.1.0"))
    mut("empty endpoint", base, lambda e: e.update(dst_endpoint={}))
    mut("unmapped anything", base, lambda e: e.update(unmapped={"a": [1, {"b": None}]}))
    mut("hash not hex", base,
        lambda e: e["actor"]["process"]["file"]["hashes"][0].update(value="xyz"))
    mut("no file name", base, lambda e: e["actor"]["process"]["file"].pop("name"))
    mut("finding uid", fin, lambda e: e["finding_info"].pop("uid"))
    mut("category", base, lambda e: e.update(category_uid=2))
    mut("unknown class", base, lambda e: e.update(class_uid=3001))
    return out


@pytest.mark.skipif(not VALIDATE_PY.exists(), reason="../shared/ocsf absent (see README)")
def test_own_validator_agrees_with_reference(tg, tmp_path):
    """Our `ocsf validate` (schemas/) and validate.py give the same verdict."""
    cases = mutations(sample_lines(tg))
    for desc, ev in cases:
        f = tmp_path / "ev.jsonl"
        f.write_text(json.dumps(ev) + "\n")
        ours = tg("ocsf", "validate", str(f)).returncode
        ref = subprocess.run([sys.executable, str(VALIDATE_PY), "--warnings-fail", str(f)],
                             capture_output=True).returncode
        assert (ours == 0) == (ref == 0), f"{desc}: ours={ours} reference={ref}"


def test_validate_reports_each_problem(tg, tmp_path):
    lines = sample_lines(tg)
    bad = json.loads(lines[0])
    bad.pop("severity_id")
    bad["dst_endpoint"]["port"] = 99999
    f = tmp_path / "bad.jsonl"
    f.write_text(lines[1] + "\n" + json.dumps(bad) + "\n")
    r = tg("ocsf", "validate", str(f))
    assert r.returncode == 1
    out = r.stdout.decode().splitlines()
    assert any(l.startswith(f"{f}:2: severity_id: required attribute missing") for l in out), out
    assert any(":2: dst_endpoint.port: port 99999 out of range" in l for l in out), out
    assert not any(":1:" in l for l in out)
    assert r.stderr.decode().strip() == "1 passed, 1 failed"


def test_validate_missing_file(tg, tmp_path):
    r = tg("ocsf", "validate", str(tmp_path / "nope\x1b[31m.jsonl"))
    assert r.returncode == 1
    assert b"No such file" in r.stderr
    assert b"\x1b" not in r.stderr


HOSTILE = ["new\nline", "cr\r", "\x1b[31mred\x1b[0m", "nul\x00byte", "\u2028sep",
           "x] [reason:forged", "[reason:fake]", "\u202emoc.live", "\x9b2J", "\\x5d"]


def hostile_event(base, s):
    ev = json.loads(base)
    ev["dst_endpoint"]["domain"] = s
    ev["actor"]["process"]["name"] = s
    ev["actor"]["process"]["file"]["path"] = s
    ev["actor"]["process"]["cmd_line"] = s
    ev["status_detail"] = s
    ev["firewall_rule"]["type"] = s
    ev["metadata"]["log_name"] = s
    return json.dumps(ev)


@pytest.mark.parametrize("fmt", ["--cli", "--file", None])
def test_render_hostile_stays_one_clean_line(tg, fmt):
    base = sample_lines(tg)[1]
    events = [hostile_event(base, s) for s in HOSTILE]
    events.append(hostile_event(base, "h" * 65536))
    args = ["ocsf", "render"] + ([fmt] if fmt else [])
    r = tg(*args, stdin=("\n".join(events) + "\n").encode())
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.endswith(b"\n")
    lines = out[:-1].split(b"\n")
    assert len(lines) == len(events)
    clean = tg(*args, stdin=(base + "\n").encode()).stdout
    for line in lines:
        assert not (set(line) & CONTROL), line[:200]
        line.decode("utf-8")  # valid UTF-8
        assert b"\xe2\x80\xae" not in line
        # the renderer's own brackets only: hostile bytes cannot add one
        assert line.count(b"[") == clean.count(b"["), line[:300]
        assert line.count(b"[reason:") == 1


def test_render_bad_lines_do_not_spoil_good_ones(tg):
    good = sample_lines(tg)
    feed = [good[0], "not json", "", '{"class_uid":9999}', good[1], "[1]", good[2]]
    r = tg("ocsf", "render", stdin=("\n".join(feed) + "\n").encode())
    assert r.returncode == 1
    out = r.stdout.decode().splitlines()
    # any JSON object renders, whatever its class: a class without a line of
    # its own gets the generic one
    assert len(out) == 4 and out[1] == "CLASS_9999: [INFO]"
    err = r.stderr.decode().splitlines()
    assert len(err) == 2
    assert err[0].startswith("tollgate: line 2: not a JSON object")
    assert err[1].startswith("tollgate: line 6: not a JSON object")


def test_render_stable_through_decode(tg):
    """samples -> render and samples -> decode -> encode -> render agree."""
    lines = sample_lines(tg)
    a = tg("ocsf", "render", "--cli", stdin=("\n".join(lines) + "\n").encode()).stdout
    b = tg("ocsf", "render", "--cli", stdin=("\r\n".join(lines) + "\r\n").encode()).stdout
    assert a == b


@pytest.mark.parametrize("args,code", [
    ([], 2), (["bogus"], 2), (["ocsf"], 2), (["ocsf", "bogus"], 2),
    (["ocsf", "render", "--bogus"], 2), (["ocsf", "validate"], 2), (["ocsf", "samples", "x"], 2),
    (["--help"], 0), (["ocsf", "--help"], 0), (["--version"], 0),
])
def test_usage_exit_codes(tg, args, code):
    r = tg(*args)
    assert r.returncode == code, (args, r.stdout, r.stderr)
    if code == 0:
        assert r.stdout
    else:
        assert b"usage" in r.stderr or b"tollgate" in r.stderr
