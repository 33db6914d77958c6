"""Any valid OCSF event, end to end: events of many classes (not only the six
tollgate emits) of OCSF 1.7.0, and a few of 1.8.0, 1.3.0 and 1.1.0, made by the
schema-driven generator (tests/ocsf_gen.py), each with an extra under
`unmapped`, are POSTed to /v1/events and read back from GET /v1/logs,
`tollgate logs --json`, file exporters (the events' own version and casts to
1.3.0, 1.1.0, 1.8.0), Kafka (mock cluster, read by kcat) and a Splunk HEC
receiver. Stored as received: the only change is tollgate's
metadata.sequence / metadata.logged_time (a producer's own values of those
two move to unmapped["metadata.sequence"] / unmapped["metadata.logged_time"]).
An exporter of another version casts: every value sent is at its path or
under unmapped. Duplicates are the same bytes, not the same metadata.uid.
Invalid events are refused with a reason naming the attribute; the valid
lines of the batch are kept. Whatever is exported validates with
../shared/ocsf/validate.py --warnings-fail against its version.

One gateway (with every exporter) for the whole module."""
import collections
import copy
import json
import os
import shutil
import subprocess
import sys
import uuid

import pytest

from conftest import ROOT, SHARED, Gateway, settle
from exportlib import delivered_all, exporter, file_lines, wait_for
from test_export_sinks import TOKEN, TOOLS, HecReceiver, KafkaMock

sys.path.insert(0, str(ROOT / "tests"))
import ocsf_gen  # noqa: E402

VALIDATE_PY = SHARED / "ocsf" / "validate.py"
HAVE_KAFKA = bool(shutil.which("kcat")) and (TOOLS / "kafka_mock").exists()
VERSIONS = ["1.7.0", "1.8.0", "1.3.0", "1.1.0"]
CASTS = ["1.3.0", "1.1.0", "1.8.0"]  # file exporters to13, to11, to18
TOLLGATE_META = ("sequence", "logged_time")

# base event, file, scheduled job, process, vulnerability / detection finding,
# account change, authentication, authorize session, user access, network,
# HTTP, DNS, SSH, email, inventory, web resources, API, datastore, registry key
CLASSES = [0, 1001, 1006, 1007, 2002, 2004, 3001, 3002, 3003, 3005, 4001, 4002, 4003, 4007,
           4009, 5001, 6001, 6003, 6005, 201001]
FEW = [3002, 4003, 2004, 1001, 6003, 4007]  # for 1.8.0, 1.3.0 and 1.1.0
INCLUDE = {2004: ("evidences",), 1007: ("process",), 4003: ("query",)}  # always there
# validate.py looks constraint names up as top-level keys, so the dotted ones
# (patch_state: device.os.sp_name, ..., evidence_info: device.hostname, ...)
# fail every event of these classes, however valid: not checked with it
VALIDATE_PY_CANNOT = {5004, 5040}


def have_schema(version):
    return ocsf_gen.schema_path(version) is not None


def gen(version, class_uid, seed, **kw):
    return ocsf_gen.gen(ocsf_gen.load_schema(version), class_uid, f"e2e/{seed}", **kw)


def line_of(ev, ascii_only=False):
    return json.dumps(ev, ensure_ascii=ascii_only, separators=(",", ":"))


def add_extra(ev, i):
    """An attribute no schema models, under unmapped (free-form)."""
    ev["unmapped"] = {"acme": {"rule_id": f"R-{i}", "score": 0.75, "tags": ["x", "ÿ"],
                               "raw": {"nested": [1, {"deep": True}], "nothing": None},
                               "note": 'ünï "quoted" \\ back\nslash'}}
    return ev


# -- what should come out ----------------------------------------------------

def expected(sent):
    """The event as tollgate should store it, without tollgate's own
    metadata.sequence / logged_time: a producer's values of those moved."""
    e = copy.deepcopy(sent)
    md = e["metadata"]
    for k in TOLLGATE_META:
        if k in md:
            e.setdefault("unmapped", {})["metadata." + k] = md.pop(k)
    return e


def strip_tollgate(out):
    """out without tollgate's metadata.sequence / logged_time (which must be there)."""
    o = copy.deepcopy(out)
    md = o["metadata"]
    assert isinstance(md.get("sequence"), int), f"metadata.sequence: {md.get('sequence')!r}"
    assert isinstance(md.get("logged_time"), int) and md["logged_time"] >= 10 ** 12, \
        f"metadata.logged_time: {md.get('logged_time')!r}"
    for k in TOLLGATE_META:
        del md[k]
    return o


def leaves(v, path=()):
    if isinstance(v, dict):
        if not v and path:
            yield path, v
        for k, x in v.items():
            yield from leaves(x, path + (k,))
    elif isinstance(v, list):
        if not v:
            yield path, v
        for i, x in enumerate(v):
            yield from leaves(x, path + (i,))
    else:
        yield path, v


MISSING = object()


def same(a, b, loose_numbers=False):
    """a == b as JSON: true is not 1, 1 is not 1.0 (unless loose_numbers: a
    cast may re-encode a number), and key sets must match."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b and (loose_numbers or type(a) is type(b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and \
            all(same(a[k], b[k], loose_numbers) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and \
            all(same(x, y, loose_numbers) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def get(node, parts):
    for p in parts:
        if isinstance(p, int):
            if not isinstance(node, list) or p >= len(node):
                return MISSING
        elif not isinstance(node, dict) or p not in node:
            return MISSING
        node = node[p]
    return node


def render(parts):
    s = ""
    for p in parts:
        s += f"[{p}]" if isinstance(p, int) else (f".{p}" if s else p)
    return s


def found(out, parts, val):
    """val at its path in out, or under out.unmapped[path prefix] + rest."""
    if same(get(out, parts), val, True):
        return True
    um = out.get("unmapped") if isinstance(out.get("unmapped"), dict) else {}
    for cut in range(len(parts), 0, -1):
        key = render(parts[:cut])
        if key in um and same(get(um[key], parts[cut:]), val, True):
            return True
    return False


def caption_paths(version, ev, out):
    """Paths of sibling captions (activity_name, severity, ...) whose enum id
    is unchanged in out: the target's caption may be worded differently."""
    schema = ocsf_gen.load_schema(version)
    paths = set()

    def walk(obj, attrs, path):
        for k, v in obj.items():
            spec = attrs.get(k)
            if not spec or k == "unmapped":
                continue
            sib = spec.get("sibling")
            if sib and sib in obj and same(get(out, path + (k,)), v, True):
                paths.add(path + (sib,))
            od = schema["objects"].get(spec.get("object_type") or "")
            if spec.get("type") == "object_t" and od:
                for i, item in enumerate(v if isinstance(v, list) else [v]):
                    if isinstance(item, dict):
                        sub = path + ((k, i) if isinstance(v, list) else (k,))
                        walk(item, od["attributes"], sub)
    walk(ev, ocsf_gen.class_by_uid(schema, ev["class_uid"])["attributes"], ())
    return paths


def check_cast(sent, out, target):
    """out is sent cast to target: metadata.version is target, type_uid and
    category follow, and every other value is at its path or under unmapped."""
    exp = expected(sent)
    got = strip_tollgate(out)
    assert got["metadata"]["version"] == target
    assert got["type_uid"] == got["class_uid"] * 100 + got["activity_id"]
    caps = caption_paths(sent["metadata"]["version"], exp, got)
    lost = []
    for parts, val in leaves(exp):
        if parts[:2] in (("metadata", "version"), ("metadata", "profiles")) or \
                parts[0] in ("type_uid", "type_name", "category_uid", "category_name") or \
                parts[:len(parts) - (isinstance(parts[-1], int))] in caps:
            continue
        if not found(got, parts, val):
            lost.append(f"{render(parts)}={val!r}")
    assert not lost, (f"{sent['metadata']['version']} -> {target}, class {sent['class_uid']}: "
                      f"lost {lost[:10]}; got {json.dumps(got)[:1500]}")


def check_same(sent, out, where):
    exp, got = expected(sent), strip_tollgate(out)
    if not same(got, exp):
        diff = [render(p) for p, v in leaves(exp) if not same(get(got, p), v)] + \
               [render(p) + " (added)" for p, v in leaves(got) if get(exp, p) is MISSING]
        raise AssertionError(f"{where}: class {sent['class_uid']} uid {sent['metadata']['uid']} "
                             f"differs at {diff[:10]}")


def check_out(sent, out, target, where):
    if sent["metadata"]["version"] == target:
        check_same(sent, out, where)
    else:
        check_cast(sent, out, target)


def by_uid(events):
    d = collections.defaultdict(list)
    for e in events:
        u = e.get("metadata", {}).get("uid") if isinstance(e, dict) else None
        d[u].append(e)
    return d


# -- the pipeline --------------------------------------------------------------

class Pipeline:
    pass


def start_gateway(p, with_18):
    retry = "retry: {initial: 100ms, max: 1s}"
    text = "exporters:\n"
    text += f"  - {{name: same, type: file, dir: {p.dirs['same']}, compress: none}}\n"
    casts = (("to13", "1.3.0"), ("to11", "1.1.0")) + ((("to18", "1.8.0"),) if with_18 else ())
    for name, v in casts:
        text += (f"  - {{name: {name}, type: file, dir: {p.dirs[name]}, compress: none, "
                 f"ocsf_version: \"{v}\"}}\n")
    if p.kafka:
        text += f"""  - name: siem
    type: kafka
    brokers: "{p.kafka.bootstrap}"
    topic: ocsf
    {retry}
"""
    text += f"""  - name: splunk
    type: hec
    url: "http://127.0.0.1:{p.hec.port}"
    token: "{TOKEN}"
    {retry}
"""
    cfg = p.tmp / "tollgate.yaml"
    cfg.write_text(text)
    p.exporters = ["same"] + [c[0] for c in casts] + ["splunk"] + (["siem"] if p.kafka else [])
    return Gateway(p.bin, p.tmp / "state", ["--config", str(cfg)]).start()


@pytest.fixture(scope="module")
def pipe(tollgate_bin, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ocsf_any")
    p = Pipeline()
    p.tmp, p.bin = tmp, tollgate_bin
    p.kafka = KafkaMock(1) if HAVE_KAFKA else None
    p.hec = HecReceiver(tmp)
    p.g = None
    p.dirs = {"same": tmp / "same", "to13": tmp / "to13", "to11": tmp / "to11",
              "to18": tmp / "to18"}
    p.to18_error = None
    try:
        if p.kafka:
            p.kafka.cmd("create-topic ocsf 1")
        try:
            p.g = start_gateway(p, with_18=True)
        except RuntimeError as e:
            # a gateway that does not take ocsf_version 1.8.0 fails the 1.8.0
            # tests only (with this message); everything else still runs
            if "to18" not in str(e):
                raise
            p.to18_error = str(e)
            p.g = start_gateway(p, with_18=False)
        yield p
    finally:
        if p.g:
            p.g.stop()
        p.hec.stop()
        if p.kafka:
            p.kafka.stop()


@pytest.fixture(scope="module")
def strict(tollgate_bin, tmp_path_factory):
    """A gateway with gateway.ingest_invalid = refuse: invalid events are
    rejected with their reason (the default, repair, stores them as received
    and repairs them on the way out: test_openshell_ingest.py)."""
    tmp = tmp_path_factory.mktemp("ocsf_strict")
    g = Gateway(tollgate_bin, tmp / "state", ["--set", "gateway.ingest_invalid=refuse"]).start()
    yield g
    g.stop()


@pytest.fixture(scope="module")
def sent(pipe):
    """The round-trip set, POSTed once: [(event, line)], and the reply."""
    evs = []
    for cu in CLASSES:
        for seed in (1, 2):
            evs.append(gen("1.7.0", cu, f"{cu}/{seed}", include=INCLUDE.get(cu, ())))
    for v in ("1.8.0", "1.3.0", "1.1.0"):
        if have_schema(v):
            schema = ocsf_gen.load_schema(v)
            for cu in FEW:
                if cu in ocsf_gen.class_uids(schema):
                    inc = [n for n in INCLUDE.get(cu, ())
                           if n in ocsf_gen.class_by_uid(schema, cu)["attributes"]]
                    evs.append(gen(v, cu, f"{v}/{cu}", include=inc))
    for i, ev in enumerate(evs):
        add_extra(ev, i)
        if i % 7 == 3:  # a producer's own sequence and logged time
            ev["metadata"]["sequence"] = 7000 + i
            ev["metadata"]["logged_time"] = ev["time"] + 5
    lines = [line_of(ev, ascii_only=(i % 3 == 0)) for i, ev in enumerate(evs)]
    status, reply = pipe.g.post_events(lines)
    s = Pipeline()
    s.events, s.lines, s.status, s.reply = evs, lines, status, reply
    s.uids = {ev["metadata"]["uid"] for ev in evs}
    return s


def logs_json(g):
    settle(g)
    status, data = g.request("GET", "/v1/logs?format=json&limit=0")
    assert status == 200, data
    return [json.loads(l) for l in data.decode().splitlines()]


def wait_delivered(pipe, names=None):
    names = names or pipe.exporters
    ok = wait_for(lambda: all(delivered_all(pipe.g, n) for n in names), timeout=60)
    assert ok, {n: exporter(pipe.g, n) for n in names}


def reasons_of(reply):
    return {e["line"]: e["reason"] for e in reply.get("errors", [])} if isinstance(reply, dict) \
        else {}


def check_outputs(sent, outputs, target, where, exactly_once=True):
    """Each sent event is in outputs (a list of events), as it should be."""
    got = by_uid(outputs)
    missing = [f"{ev['class_uid']}@{ev['metadata']['version']}" for ev in sent.events
               if not got.get(ev["metadata"]["uid"])]
    assert not missing, f"{where}: {len(missing)} of {len(sent.events)} events missing: {missing}"
    for ev in sent.events:
        copies = got[ev["metadata"]["uid"]]
        if exactly_once:
            assert len(copies) == 1, f"{where}: {ev['metadata']['uid']} {len(copies)} times"
        for out in copies:
            check_out(ev, out, target, where)


# -- the round trip -------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
def test_every_event_accepted_and_stored_as_received(pipe, sent, version):
    """Every generated event of this version is accepted and GET /v1/logs gives
    it back with the same attributes, in order, with tollgate's sequence."""
    if not have_schema(version):
        pytest.skip(f"no OCSF {version} schema (schemas/ocsf/{version}.json or "
                    f"../shared/ocsf/schema-{version}.json): no {version} events generated")
    mine = [(n, ev) for n, ev in enumerate(sent.events, 1) if ev["metadata"]["version"] == version]
    assert mine and all(ev.get("evidences") for _n, ev in mine if ev["class_uid"] == 2004)
    reasons = reasons_of(sent.reply)
    refused = {f"line {n} ({ev['class_uid']})": reasons[n] for n, ev in mine if n in reasons}
    assert sent.status == 200 and not refused, f"{sent.status}: refused {refused}"
    assert sent.reply["rejected"] == 0 and sent.reply["duplicates"] == 0, sent.reply
    assert sent.reply["accepted"] == len(sent.events), sent.reply
    got = by_uid(logs_json(pipe.g))
    seqs = []
    for n, ev in mine:
        copies = got.get(ev["metadata"]["uid"], [])
        assert len(copies) == 1, f"line {n}, class {ev['class_uid']}: stored {len(copies)} times"
        check_same(ev, copies[0], "GET /v1/logs")
        seqs.append(copies[0]["metadata"]["sequence"])
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_logs_cli_json(pipe, sent):
    """`tollgate logs --json -n 0` prints every event as stored."""
    settle(pipe.g)
    env = dict(os.environ, TOLLGATE_STATE=pipe.g.state, TOLLGATE_GATEWAY=pipe.g.url)
    r = subprocess.run([pipe.bin, "logs", "--json", "-n", "all"], capture_output=True, env=env,
                       timeout=60)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    assert not r.stderr, r.stderr.decode()[-2000:]
    out = [json.loads(l) for l in r.stdout.decode().splitlines()]
    got = by_uid(out)
    for ev in sent.events:
        copies = got.get(ev["metadata"]["uid"], [])
        assert len(copies) == 1, f"class {ev['class_uid']}@{ev['metadata']['version']}: " \
                                 f"{len(copies)} times in `tollgate logs --json`"
        check_same(ev, copies[0], "tollgate logs --json")


def test_file_exporter_own_version(pipe, sent):
    """The default (1.7.0) file exporter: 1.7.0 events with exactly the
    attributes sent (as parsed JSON), events of other versions cast to 1.7.0."""
    wait_delivered(pipe, ["same"])
    check_outputs(sent, file_lines(pipe.dirs["same"]), "1.7.0", "file exporter (1.7.0)")


@pytest.mark.parametrize("target", CASTS)
def test_file_exporter_casts(pipe, sent, target):
    """A file exporter with ocsf_version: every event comes out as target,
    every value sent at its path or under unmapped, none dead-lettered."""
    name = {"1.3.0": "to13", "1.1.0": "to11", "1.8.0": "to18"}[target]
    if name == "to18" and pipe.to18_error:
        pytest.fail(pipe.to18_error)
    wait_delivered(pipe, [name])
    out = file_lines(pipe.dirs[name])
    assert out and all(e["metadata"]["version"] == target for e in out)
    check_outputs(sent, out, target, f"file exporter ({target})")
    assert exporter(pipe.g, name)["dead_lettered"] == 0


@pytest.mark.skipif(not HAVE_KAFKA, reason="kcat or build/tools/kafka_mock missing "
                                          "(make test installs kcat; make tools builds the mock)")
def test_kafka_exporter(pipe, sent):
    wait_delivered(pipe, ["siem"])
    msgs = pipe.kafka.consume("ocsf")
    for _key, headers, ev in msgs:
        assert "ocsf_class_uid=%d" % ev["class_uid"] in headers
        assert "ocsf_version=1.7.0" in headers
    check_outputs(sent, [m[2] for m in msgs], "1.7.0", "Kafka")


def test_hec_exporter(pipe, sent):
    wait_delivered(pipe, ["splunk"])
    envs = [json.loads(l) for l in open(pipe.hec.out, encoding="utf-8")]
    for env in envs:
        assert env["sourcetype"].startswith("ocsf:") and env["source"] == "tollgate"
        assert isinstance(env["time"], (int, float))
    check_outputs(sent, [e["event"] for e in envs], "1.7.0", "Splunk HEC")


# -- duplicates -----------------------------------------------------------------

def test_same_uid_distinct_events_are_both_stored(pipe):
    uid = str(uuid.uuid4())
    a = add_extra(gen("1.7.0", 3002, "dup/a", uid=uid), 1)
    b = add_extra(gen("1.7.0", 4003, "dup/b", uid=uid), 2)
    c = copy.deepcopy(a)
    c["message"] = "the same event but for this"
    status, reply = pipe.g.post_events([line_of(a), line_of(b)])
    assert status == 200 and reply["accepted"] == 2 and reply["duplicates"] == 0, reply
    status, reply = pipe.g.post_events([line_of(c)])  # same uid, later, alone
    assert status == 200 and reply["accepted"] == 1 and reply["duplicates"] == 0, reply
    stored = by_uid(logs_json(pipe.g)).get(uid, [])
    assert len(stored) == 3, f"{len(stored)} stored of 3 distinct events sharing a uid"
    for ev, out in zip((a, b, c), sorted(stored, key=lambda e: e["metadata"]["sequence"])):
        check_same(ev, out, "GET /v1/logs")
    wait_delivered(pipe, ["same"])
    exported = by_uid(file_lines(pipe.dirs["same"])).get(uid, [])
    assert len(exported) == 3, f"file exporter has {len(exported)} of the 3"


def test_resent_batch_is_stored_once(pipe):
    evs = [add_extra(gen("1.7.0", cu, f"resend/{cu}"), cu) for cu in (1001, 2004, 3001, 6001,
                                                                        6003, 0)]
    batch = [line_of(e) for e in evs]
    status, first = pipe.g.post_events(batch)
    assert status == 200 and first["accepted"] == 6 and first["duplicates"] == 0, first
    status, again = pipe.g.post_events(batch)  # a proxy resending after a lost reply
    assert status == 200 and again["duplicates"] == 6 and again["rejected"] == 0, again
    # the same batch with one event changed: that one is new, the rest are not
    changed = copy.deepcopy(evs[2])
    changed["message"] = "edited before the resend"
    status, third = pipe.g.post_events(batch[:2] + [line_of(changed)] + batch[3:])
    assert status == 200 and third["duplicates"] == 5, third
    got = by_uid(logs_json(pipe.g))
    for i, ev in enumerate(evs):
        copies = got.get(ev["metadata"]["uid"], [])
        assert len(copies) == (2 if i == 2 else 1), (ev["class_uid"], len(copies))
        check_same(ev, copies[0], "GET /v1/logs")
    check_same(changed, got[changed["metadata"]["uid"]][1], "GET /v1/logs")


# -- refusals -------------------------------------------------------------------

def bad_events():
    """(what, line, words the reason must hold): invalid events, each with its own uid."""
    def base(**kw):
        ev = gen("1.7.0", 3002, "bad/" + str(uuid.uuid4()), **kw)
        ev["user"] = {"name": "alice", "uid": "u-1"}
        ev["src_endpoint"] = {"ip": "10.0.0.1", "port": 22}
        return add_extra(ev, 0)
    out = []
    ev = base()
    ev.update(class_uid=9999, type_uid=999901)
    out.append(("unknown class", ev, ["class_uid"]))
    ev = base()
    ev["severity_id"], ev["severity"] = 42, "Extreme"
    out.append(("wrong enum", ev, ["severity_id"]))
    ev = base()
    ev["user"]["type_id"] = 42
    out.append(("wrong nested enum", ev, ["user.type_id"]))
    ev = base()
    ev["src_endpoint"]["port"] = "22"
    out.append(("wrong type", ev, ["src_endpoint.port"]))
    ev = base()
    ev["src_endpoint"]["ip"] = "999.1.1.1"
    out.append(("string not matching ip_t", ev, ["src_endpoint.ip"]))
    ev = base()
    ev["time"] = "yesterday"
    out.append(("time not an integer", ev, ["time"]))
    ev = base()
    ev["metadata"]["version"] = "2.0.0"
    out.append(("a version tollgate does not bundle", ev, ["metadata.version", "2.0.0"]))
    ev = base()
    del ev["metadata"]["version"]
    out.append(("no version", ev, ["metadata.version"]))
    ev = base()
    del ev["severity_id"]
    ev.pop("severity", None)
    out.append(("required attribute missing", ev, ["severity_id"]))
    ev = base()
    ev["x_custom_field"] = 1
    out.append(("attribute of no class (not under unmapped)", ev, ["x_custom_field"]))
    ev = base()
    ev["type_uid"] = ev["class_uid"] * 100 + 77
    out.append(("type_uid not class_uid * 100 + activity_id", ev, ["type_uid"]))
    if have_schema("1.1.0"):
        ev = add_extra(gen("1.1.0", 3002, "bad/old/" + str(uuid.uuid4())), 0)
        ev["raw_data_size"] = 123  # an attribute of 1.7.0's authentication, not 1.1.0's
        out.append(("a 1.7.0 attribute in a 1.1.0 event", ev, ["raw_data_size"]))
    return out


def test_invalid_events_refused_with_the_attribute_named(strict):
    good = [add_extra(gen("1.7.0", cu, f"good/{cu}/" + str(uuid.uuid4())), cu)
            for cu in (4007, 6005, 1006)]
    bad = bad_events()
    lines, want_bad = [], {}
    for i, (what, ev, words) in enumerate(bad):
        if i % 4 == 0 and good[i // 4:i // 4 + 1]:
            lines.append(line_of(good[i // 4]))
        lines.append(line_of(ev))
        want_bad[len(lines)] = (what, words, ev["metadata"]["uid"])
    lines.append("[1, 2, 3]")  # JSON, not an object
    want_bad[len(lines)] = ("not an object", [], None)
    status, reply = strict.post_events(lines)
    assert status == 200, reply
    reasons = reasons_of(reply)
    problems = []
    for n, (what, words, _uid) in sorted(want_bad.items()):
        r = reasons.get(n)
        if r is None:
            problems.append(f"line {n} ({what}) accepted")
        elif not all(w in r for w in words):
            problems.append(f"line {n} ({what}): reason {r!r} does not name {words}")
    extra = sorted(set(reasons) - set(want_bad))
    assert not problems and not extra, problems + [f"valid line {n} refused: {reasons[n]}"
                                                   for n in extra]
    assert reply["accepted"] == len(good) and reply["rejected"] == len(want_bad), reply
    got = by_uid(logs_json(strict))
    for ev in good:
        assert len(got.get(ev["metadata"]["uid"], [])) == 1
        check_same(ev, got[ev["metadata"]["uid"]][0], "GET /v1/logs")
    for n, (what, _w, uid) in want_bad.items():
        assert uid is None or uid not in got, f"{what}: stored"


def test_dotted_constraints_are_paths(strict):
    """patch_state needs one of device.os.sp_name / sp_ver / version (paths
    into device.os, not top-level keys): with one it is stored, with none refused."""
    ok = add_extra(gen("1.7.0", 5004, "dotted/ok"), 1)
    assert any(k in ok["device"]["os"] for k in ("sp_name", "sp_ver", "version"))
    bad = add_extra(gen("1.7.0", 5004, "dotted/bad"), 2)
    for k in ("sp_name", "sp_ver", "version"):
        bad["device"]["os"].pop(k, None)
    status, reply = strict.post_events([line_of(ok), line_of(bad)])
    reasons = reasons_of(reply)
    assert 1 not in reasons, f"a valid patch_state refused: {reasons[1]}"
    assert 2 in reasons and "device.os" in reasons[2], reply
    got = by_uid(logs_json(strict)).get(ok["metadata"]["uid"], [])
    assert len(got) == 1
    check_same(ok, got[0], "GET /v1/logs")


# -- what is exported validates (last: it reads what every test above sent) -------

def validate_groups(pipe, events, where):
    by_version = collections.defaultdict(list)
    for ev in events:
        if ev.get("class_uid") not in VALIDATE_PY_CANNOT:
            by_version[ev.get("metadata", {}).get("version")].append(ev)
    assert by_version, f"{where}: nothing exported"
    unchecked = []
    for version, evs in sorted(by_version.items(), key=lambda kv: str(kv[0])):
        ref = SHARED / "ocsf" / f"schema-{version}.json"
        schema = ref if ref.exists() else ocsf_gen.schema_path(version)
        if schema is None:
            unchecked.append(version)
            continue
        path = pipe.tmp / f"validate-{where}-{version}.jsonl"
        path.write_text("".join(json.dumps(e) + "\n" for e in evs))
        r = subprocess.run([sys.executable, str(VALIDATE_PY), "--schema", str(schema),
                            "--warnings-fail", str(path)], capture_output=True, timeout=120)
        text = r.stdout.decode()
        last = text.strip().splitlines()[-1] if text.strip() else r.stderr.decode()[-2000:]
        assert r.returncode == 0 and last == f"{len(evs)} passed, 0 failed", \
            f"{where}, OCSF {version}:\n" + text[-4000:]
    return unchecked


@pytest.mark.skipif(not VALIDATE_PY.exists(), reason="../shared/ocsf absent (see README): "
                                                     "the reference validator is not there")
@pytest.mark.parametrize("where", ["same", "to13", "to11", "to18", "siem", "splunk"])
def test_everything_exported_validates(pipe, sent, where):
    if where == "siem" and not pipe.kafka:
        pytest.skip("kcat or the Kafka mock missing")
    if where == "to18" and pipe.to18_error:
        pytest.fail(pipe.to18_error)
    wait_delivered(pipe, [where])
    if where == "siem":
        events = [m[2] for m in pipe.kafka.consume("ocsf")]
    elif where == "splunk":
        events = [json.loads(l)["event"] for l in open(pipe.hec.out, encoding="utf-8")]
    else:
        events = file_lines(pipe.dirs[where])
    unchecked = validate_groups(pipe, events, where)
    if unchecked:
        pytest.skip(f"no schema to validate OCSF {unchecked} with (the rest validated)")
