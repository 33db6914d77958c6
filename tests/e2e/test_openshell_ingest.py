"""NVIDIA OpenShell's own events, end to end: the 41 events of
tests/fixtures/openshell/shorthand.jsonl (OCSF 1.8.0, exactly as OpenShell's
serde writes them) POSTed to /v1/events as sent.

Most of them break the 1.8.0 schema (top-level `container`, no
`device.type_id`, custom `state` captions, ...; the fixture README lists
why). With `gateway.ingest_invalid = repair` (the default) every one is
accepted, stored as received (so the human line is OpenShell's own
shorthand) and counted in "repaired"; every way out (`GET /v1/logs?format=json`,
`tollgate logs --json`, an exporter) sends it repaired into valid OCSF:
each original value at its path or under `unmapped`, what was filled listed
in unmapped["tollgate.downgrade.filled"]. With `refuse` exactly the invalid
ones are rejected, each with a reason naming the attribute.

Which events are invalid is decided by the project's own checker
(`tollgate ocsf validate`), not hard-coded. Two fixtures
(`net_open_allowed`, `net_allowed_no_reason`) are the same event byte for
byte: in one batch the second is a duplicate (accepted, not stored again,
not counted as repaired), so the batch stores 40 events.

OpenShell puts the sandbox id in `metadata.uid`, so many events share one:
they are told apart by their bytes (SHA-256), not by the uid."""
import collections
import json
import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT, SHARED, Gateway, settle
from exportlib import delivered_all, exporter, file_lines, wait_for
from test_ocsf_any import MISSING, expected, found, get, leaves, render, same, strip_tollgate

sys.path.insert(0, str(ROOT / "tests"))
import ocsf_gen  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "openshell" / "shorthand.jsonl"
VALIDATE_PY = SHARED / "ocsf" / "validate.py"
SCHEMA_18 = ROOT / "schemas" / "ocsf" / "1.8.0.json"
SCHEMA_17 = ROOT / "schemas" / "ocsf" / "1.7.0.json"
SANDBOX = "my-sandbox"  # the top-level container.name of the events from the crates
FILLED = "tollgate.downgrade.filled"

CASES = [json.loads(l) for l in FIXTURES.read_text(encoding="utf-8").splitlines() if l.strip()]
# the bytes OpenShell sends: serde_json, compact, UTF-8 as is, keys in the fixture's order
LINES = [json.dumps(c["event"], ensure_ascii=False, separators=(",", ":")) for c in CASES]


def want_line(case):
    return case.get("tollgate", case["shorthand"])


def distinct():
    """[(index into CASES)] of the first occurrence of each distinct line, in order."""
    seen, out = set(), []
    for i, l in enumerate(LINES):
        if l not in seen:
            seen.add(l)
            out.append(i)
    return out


def is_openshell(ev):
    return ev.get("metadata", {}).get("product", {}).get("vendor_name") == "OpenShell"


def in_sandbox(case):
    c = case["event"].get("container")
    return isinstance(c, dict) and c.get("name") == SANDBOX


# -- tollgate's own checker -------------------------------------------------------

def c_check(tollgate_bin, tmp, lines, name="events.jsonl"):
    """`tollgate ocsf validate` on lines: [list of problem texts] per line
    (empty: valid), checked against its own "N passed, M failed"."""
    path = tmp / name
    path.write_bytes(b"".join(l.encode() + b"\n" for l in lines))
    r = subprocess.run([tollgate_bin, "ocsf", "validate", str(path)], capture_output=True,
                       timeout=120)
    probs = collections.defaultdict(list)
    rx = re.compile(re.escape(str(path)) + r":(\d+): (.*)")
    for l in r.stdout.decode().splitlines():
        m = rx.fullmatch(l)
        assert m, f"tollgate ocsf validate: unexpected output line {l!r}"
        probs[int(m.group(1))].append(m.group(2))
    summary = r.stderr.decode().strip().splitlines()
    nbad = len(probs)
    assert summary and summary[-1] == f"{len(lines) - nbad} passed, {nbad} failed", \
        f"summary {summary[-1:]} but problems on {nbad} lines: {r.stdout.decode()[-2000:]}"
    assert r.returncode == (1 if nbad else 0), r.returncode
    return [probs.get(n, []) for n in range(1, len(lines) + 1)]


def check_validate_py(tmp, events, schema, where):
    if not VALIDATE_PY.exists():
        return False
    path = tmp / f"validate-py-{where}.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    r = subprocess.run([sys.executable, str(VALIDATE_PY), "--schema", str(schema),
                        "--warnings-fail", str(path)], capture_output=True, timeout=120)
    text = r.stdout.decode()
    assert r.returncode == 0 and text.strip().splitlines()[-1] == \
        f"{len(events)} passed, 0 failed", f"{where}: validate.py --warnings-fail:\n{text[-4000:]}"
    return True


# -- what comes out ------------------------------------------------------------------

def check_repaired(sent, out, version, where):
    """out is sent, repaired (and cast to version): every original value at
    its path or under unmapped; what is new is a listed fill, a profile, a
    caption whose original went under unmapped, or under unmapped."""
    exp, got = expected(sent), strip_tollgate(out)
    assert got["metadata"]["version"] == version, f"{where}: {got['metadata']['version']}"
    lost = [f"{render(p)}={v!r}" for p, v in leaves(exp)
            if p != ("metadata", "version") and not found(got, p, v)]
    um = got.get("unmapped") if isinstance(got.get("unmapped"), dict) else {}
    filled = um.get(FILLED, [])
    assert isinstance(filled, list) and all(isinstance(x, str) for x in filled), \
        f"{where}: unmapped[{FILLED!r}] = {filled!r}"
    unexplained = []
    for p, v in leaves(got):
        if p[0] == "unmapped" or p[:2] in (("metadata", "profiles"), ("metadata", "version")):
            continue
        old = get(exp, p)
        if old is not MISSING and same(old, v):
            continue
        key = render(p)
        if any(key == f or key.startswith(f + ".") or key.startswith(f + "[") for f in filled):
            continue
        if old is not MISSING and key in um and same(um[key], old, True):
            continue  # a caption replaced, the original kept
        unexplained.append(f"{key}={v!r} (sent {old if old is not MISSING else 'nothing'!r})")
    assert not lost and not unexplained, \
        f"{where}: lost {lost[:10]}, changed or added without a trace {unexplained[:10]}; " \
        f"got {json.dumps(got)[:1500]}"


def check_stored_events(outs, c_verdicts, where, version="1.8.0"):
    """outs (tollgate's copies of the OpenShell events, in order): one per
    distinct fixture event; valid ones exactly as sent, the others repaired."""
    idx = distinct()
    assert len(outs) == len(idx), \
        f"{where}: {len(outs)} OpenShell events, {len(idx)} distinct ones were sent"
    for i, out in zip(idx, outs):
        case, sent = CASES[i], CASES[i]["event"]
        w = f"{where}, {case['name']}"
        assert out["class_uid"] == sent["class_uid"] and \
            out.get("message") == sent.get("message"), f"{w}: out of order? got class {out['class_uid']} message {out.get('message')!r}"
        if version == "1.8.0" and not c_verdicts[i]:
            got, exp = strip_tollgate(out), expected(sent)
            assert same(got, exp), f"{w}: valid as sent but changed: " \
                f"{[render(p) for p, v in leaves(exp) if not same(get(got, p), v)][:10]} " \
                f"{[render(p) for p, v in leaves(got) if get(exp, p) is MISSING][:10]}"
        else:
            check_repaired(sent, out, version, w)


# -- the gateway ------------------------------------------------------------------------

class Run:
    pass


@pytest.fixture(scope="module")
def osh(tollgate_bin, tmp_path_factory):
    """One gateway (default ingest_invalid, a 1.7.0 file exporter), the 41 events
    POSTed once, in one batch, as sent."""
    tmp = tmp_path_factory.mktemp("openshell")
    r = Run()
    r.bin, r.tmp, r.dir17 = tollgate_bin, tmp, tmp / "to17"
    cfg = tmp / "tollgate.yaml"
    cfg.write_text("exporters:\n"
                   f"  - {{name: to17, type: file, dir: {r.dir17}, compress: none, "
                   "ocsf_version: \"1.7.0\", retry: {initial: 100ms, max: 1s}}\n")
    r.g = Gateway(tollgate_bin, tmp / "state", ["--config", str(cfg)]).start()
    try:
        r.verdicts = c_check(tollgate_bin, tmp, LINES, "sent.jsonl")
        r.status, r.reply = r.g.post_events(LINES)
        yield r
    finally:
        r.g.stop()


def api_json(g, query=""):
    settle(g)
    status, data = g.request("GET", "/v1/logs?format=json&limit=0" + query)
    assert status == 200, data
    return [json.loads(l) for l in data.decode().splitlines()]


def api_text(g, query=""):
    settle(g)
    status, data = g.request("GET", "/v1/logs?format=text&limit=0" + query)
    assert status == 200, data
    return data.decode().splitlines()


def cli(r, *args):
    settle(r.g)
    env = dict(os.environ, TOLLGATE_STATE=r.g.state, TOLLGATE_GATEWAY=r.g.url)
    env.pop("NO_COLOR", None)
    p = subprocess.run([r.bin, "logs", *args, "-n", "all"], capture_output=True, env=env,
                       timeout=60)
    assert p.returncode == 0 and not p.stderr, p.stderr.decode()[-2000:]
    return p.stdout.decode().splitlines()


def fixture_sanity():
    # the same event must have the same expected line
    by_line = collections.defaultdict(set)
    for c, l in zip(CASES, LINES):
        by_line[l].add(want_line(c))
    assert all(len(v) == 1 for v in by_line.values()), "identical events, different lines"


def test_fixtures_as_described(osh):
    assert len(CASES) == 41
    fixture_sanity()
    nbad = sum(1 for v in osh.verdicts if v)
    assert nbad > 0, "every OpenShell event valid: the repair path is not exercised"


def test_batch_accepted_and_repaired_counted(osh):
    """accepted 41, rejected 0; repaired = the distinct events that are not
    valid 1.8.0 (per `tollgate ocsf validate`); a byte-identical repeat in
    the batch is a duplicate."""
    idx = distinct()
    invalid = [CASES[i]["name"] for i in idx if osh.verdicts[i]]
    dups = len(LINES) - len(idx)
    assert osh.status == 200, osh.reply
    assert osh.reply["accepted"] == 41 and osh.reply["rejected"] == 0, osh.reply
    assert not osh.reply.get("errors"), osh.reply
    assert osh.reply["duplicates"] == dups, osh.reply
    assert osh.reply["repaired"] == len(invalid), \
        f"repaired {osh.reply['repaired']}, {len(invalid)} distinct invalid: {invalid}"


def shorthand_of(line, where):
    assert "[ocsf] " in line, f"{where}: no [ocsf] prefix in {line!r}"
    return line.split("[ocsf] ", 1)[1]


@pytest.mark.parametrize("how", ["api", "cli"])
@pytest.mark.parametrize("sandbox", [None, SANDBOX])
def test_human_lines_are_openshells(osh, how, sandbox):
    """Each OpenShell event's human line (after `[ocsf] `) is the fixture's
    line (`tollgate` when present, else OpenShell's `shorthand`), through
    GET /v1/logs?format=text and `tollgate logs [NAME]`. The text and JSON
    views list the same events in the same order, which tells the gateway's
    own events apart."""
    if how == "api":
        q = f"&sandbox={sandbox}" if sandbox else ""
        evs, text = api_json(osh.g, q), api_text(osh.g, q)
    else:
        args = (sandbox,) if sandbox else ()
        evs = [json.loads(l) for l in cli(osh, *args, "--json")]
        text = cli(osh, *args)
    assert len(evs) == len(text), f"{len(evs)} JSON events, {len(text)} text lines"
    got = [shorthand_of(t, how) for e, t in zip(evs, text) if is_openshell(e)]
    want = [(CASES[i]["name"], want_line(CASES[i])) for i in distinct()
            if sandbox is None or in_sandbox(CASES[i])]
    assert want and len(got) == len(want), f"{len(got)} lines, {len(want)} expected"
    bad = [f"{name}:\n  want {w!r}\n  got  {g!r}" for (name, w), g in zip(want, got) if w != g]
    assert not bad, f"{how} {sandbox or '(all)'}: {len(bad)} of {len(want)} lines differ:\n" + \
        "\n".join(bad)


@pytest.mark.parametrize("how", ["api", "cli"])
def test_json_each_event_once_valid_and_faithful(osh, how):
    """GET /v1/logs?format=json / `tollgate logs --json`: each distinct event
    once; each valid 1.8.0 (`tollgate ocsf validate`, validate.py
    --warnings-fail); the valid ones exactly as sent (but for tollgate's
    metadata.sequence / logged_time), the others repaired."""
    evs = api_json(osh.g) if how == "api" else [json.loads(l) for l in cli(osh, "--json")]
    outs = [e for e in evs if is_openshell(e)]
    seqs = [e["metadata"]["sequence"] for e in outs]
    assert seqs == sorted(set(seqs)), f"sequences not strictly increasing: {seqs}"
    check_stored_events(outs, osh.verdicts, how)
    lines = [json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in outs]
    probs = c_check(osh.bin, osh.tmp, lines, f"out-{how}.jsonl")
    names = [CASES[i]["name"] for i in distinct()]
    bad = {n: p for n, p in zip(names, probs) if p}
    assert not bad, f"{how}: not valid per tollgate ocsf validate: {bad}"
    if not check_validate_py(osh.tmp, outs, SCHEMA_18, how):
        pytest.skip(f"{VALIDATE_PY} absent: checked with tollgate ocsf validate only")


def test_file_exporter_170(osh):
    """A file exporter with ocsf_version 1.7.0 gets every event (each distinct
    one once), cast to valid 1.7.0, every original value at its path or
    under unmapped."""
    ok = wait_for(lambda: delivered_all(osh.g, "to17"), timeout=60)
    assert ok, exporter(osh.g, "to17")
    outs = sorted((e for e in file_lines(osh.dir17) if is_openshell(e)),
                  key=lambda e: e["metadata"]["sequence"])
    assert all(e["metadata"]["version"] == "1.7.0" for e in outs)
    stored = [e["metadata"]["sequence"] for e in api_json(osh.g) if is_openshell(e)]
    assert [e["metadata"]["sequence"] for e in outs] == stored
    check_stored_events(outs, osh.verdicts, "file exporter (1.7.0)", version="1.7.0")
    lines = [json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in outs]
    probs = c_check(osh.bin, osh.tmp, lines, "out-to17.jsonl")
    bad = {CASES[i]["name"]: p for i, p in zip(distinct(), probs) if p}
    assert not bad, f"1.7.0 export not valid per tollgate ocsf validate: {bad}"
    assert exporter(osh.g, "to17")["dead_lettered"] == 0
    check_validate_py(osh.tmp, outs, SHARED / "ocsf" / "schema-1.7.0.json"
                      if (SHARED / "ocsf" / "schema-1.7.0.json").exists() else SCHEMA_17, "to17")


# -- refuse ---------------------------------------------------------------------------

def attribute_paths(schema, class_uid):
    """Every attribute path of a class (objects followed to a bounded depth)."""
    cls = ocsf_gen.class_by_uid(schema, class_uid)
    out = set()

    def walk(attrs, prefix, depth):
        for n, spec in attrs.items():
            p = prefix + n
            out.add(p)
            od = schema["objects"].get(spec.get("object_type") or "")
            if od and depth < 4:
                walk(od["attributes"], p + ".", depth + 1)
    walk(cls["attributes"], "", 0)
    return out


def names_attribute(reason, ev):
    """The reason names an attribute path of the event's class, or one of its
    keys (an attribute the class does not have)."""
    paths = attribute_paths(ocsf_gen.load_schema("1.8.0"), ev["class_uid"])
    for tok in re.findall(r"[A-Za-z_][A-Za-z0-9_]*(?:\[\d+\])?(?:\.[A-Za-z_][A-Za-z0-9_]*"
                          r"(?:\[\d+\])?)*", reason):
        plain = re.sub(r"\[\d+\]", "", tok)
        if plain in paths or get(ev, tuple(plain.split("."))) is not MISSING:
            return True
    return False


def test_refuse_rejects_exactly_the_invalid(gateway, tollgate_bin, tmp_path):
    g = gateway("--set", "gateway.ingest_invalid=refuse")
    verdicts = c_check(tollgate_bin, tmp_path, LINES)
    status, reply = g.post_events(LINES)
    assert status == 200, reply
    invalid = {n for n, v in enumerate(verdicts, 1) if v}
    reasons = {e["line"]: e["reason"] for e in reply["errors"]}
    assert set(reasons) == invalid, \
        f"rejected {sorted(reasons)}, invalid per tollgate ocsf validate {sorted(invalid)}"
    assert reply["rejected"] == len(invalid) and reply["repaired"] == 0, reply
    assert reply["accepted"] == len(LINES) - len(invalid), reply
    bad = []
    for n, r in sorted(reasons.items()):
        ev = CASES[n - 1]["event"]
        if not r.startswith("not valid OCSF 1.8.0: ") or \
                not names_attribute(r[len("not valid OCSF 1.8.0: "):], ev):
            bad.append(f"line {n} ({CASES[n - 1]['name']}): {r!r}")
        elif r[len("not valid OCSF 1.8.0: "):] not in verdicts[n - 1]:
            bad.append(f"line {n} ({CASES[n - 1]['name']}): {r!r} is none of the checker's "
                       f"problems {verdicts[n - 1]}")
    assert not bad, "\n".join(bad)
    outs = [e for e in api_json(g) if is_openshell(e)]
    valid = [i for i in distinct() if not verdicts[i]]
    assert len(outs) == len(valid), f"{len(outs)} stored, {len(valid)} valid sent"
    for i, out in zip(valid, outs):
        assert same(strip_tollgate(out), expected(CASES[i]["event"])), CASES[i]["name"]


# -- duplicates --------------------------------------------------------------------------

def test_same_uid_distinct_events_both_stored(gateway):
    """OpenShell's metadata.uid is the sandbox id: distinct events sharing it
    are all stored, valid or repaired."""
    by_uid = collections.defaultdict(list)
    for i in distinct():
        by_uid[CASES[i]["event"]["metadata"].get("uid")].append(i)
    pick = []
    for uid, idx in by_uid.items():
        if len(idx) >= 2 and uid:
            pick += idx[:2]
    assert len(pick) >= 4
    g = gateway()
    status, reply = g.post_events([LINES[i] for i in pick])
    assert status == 200 and reply["accepted"] == len(pick) and reply["duplicates"] == 0, reply
    outs = [e for e in api_json(g) if is_openshell(e)]
    assert len(outs) == len(pick), f"{len(outs)} stored of {len(pick)} distinct events"
    counts = collections.Counter(e["metadata"]["uid"] for e in outs)
    for i in pick:
        assert counts[CASES[i]["event"]["metadata"]["uid"]] == 2, counts


def test_resent_batch_is_stored_once(gateway):
    g = gateway()
    status, first = g.post_events(LINES)
    assert status == 200 and first["accepted"] == 41, first
    assert first["duplicates"] == len(LINES) - len(distinct()), first
    status, again = g.post_events(LINES)
    assert status == 200, again
    assert again["accepted"] == 41 and again["duplicates"] == 41 and again["rejected"] == 0 \
        and again["repaired"] == 0, again
    outs = [e for e in api_json(g) if is_openshell(e)]
    assert len(outs) == len(distinct()), f"{len(outs)} stored, {len(distinct())} distinct sent"
