"""Checks of the bundled OCSF schemas (schemas/ocsf/X.json).

Run: python3 -m pytest -q tests/unit/test_schemas.py
Needs nothing outside the repository (not ../shared, not the ocsf-schema mirror).
"""
import glob
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DIR = os.path.join(ROOT, "schemas", "ocsf")
VERSIONS = ["1.1.0", "1.3.0", "1.7.0", "1.8.0"]
# classes (base_event and platform-extension classes included), objects, profiles
COUNTS = {
    "1.1.0": (50, 106, 8),
    "1.3.0": (72, 121, 10),
    "1.7.0": (83, 170, 12),
    "1.8.0": (83, 178, 14),
}
# Classes / objects of 1.7.0 that 1.8.0 no longer has (none, as of 1.8.0).
REMOVED_IN_1_8 = set()
# Upstream quirks: constraint members that are not attributes of the class
# (OCSF 1.3.0+ event_log / event_log_actvity list "log_file" in at_least_one).
CONSTRAINT_QUIRKS = {("event_log", "log_file"), ("event_log_actvity", "log_file")}
MAX_BYTES = 1_500_000
SCALAR_BASES = {"boolean_t", "integer_t", "long_t", "float_t", "string_t", "json_t", "object_t"}


def load(v):
    with open(os.path.join(DIR, f"{v}.json"), encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module", params=VERSIONS)
def schema(request):
    return request.param, load(request.param)


def test_files_present_and_small():
    for v in VERSIONS:
        path = os.path.join(DIR, f"{v}.json")
        assert os.path.isfile(path), path
        assert os.path.getsize(path) < MAX_BYTES, f"{path} is {os.path.getsize(path)} bytes"


def test_version_and_counts(schema):
    v, s = schema
    assert s["version"] == v
    classes, objects, profiles = COUNTS[v]
    assert len(s["classes"]) >= 50
    assert (len(s["classes"]), len(s["objects"]), len(s["profiles"])) == (classes, objects, profiles)
    assert "base_event" in s["classes"]


def test_validator_shape(schema):
    """The keys validate.py reads exist and refer to things that exist."""
    v, s = schema
    types = s["dictionary"]["types"]["attributes"]
    dict_attrs = s["dictionary"]["attributes"]
    profiles = s["profiles"]
    assert {"string_t", "integer_t", "timestamp_t", "port_t", "ip_t", "uuid_t"} <= set(types)
    for t, spec in types.items():
        assert spec.get("type") is None or spec["type"] in types or spec["type"] in SCALAR_BASES, t
        if "regex" in spec:
            assert isinstance(spec["regex"], str)
    for name, a in dict_attrs.items():
        assert all(isinstance(e.get("caption"), str) for e in a["enum"].values()), name
    for p, spec in profiles.items():
        assert isinstance(spec.get("caption"), str), p
        assert isinstance(spec.get("attributes"), list), p

    uids = set()
    items = [("class", n, c) for n, c in s["classes"].items()] + [("object", n, o) for n, o in s["objects"].items()]
    for kind, name, item in items:
        attrs = item["attributes"]
        assert attrs or (kind, name) == ("object", "object"), f"{kind} {name} has no attributes"
        for aname, a in attrs.items():
            where = f"{v} {kind} {name}.{aname}"
            assert a["type"] in types or a["type"] == "object_t", where
            assert a["requirement"] in ("required", "recommended", "optional"), where
            if a["type"] == "object_t":
                assert a["object_type"] in s["objects"], where
            for p in a.get("profiles") or []:
                assert p in profiles, where
            if "enum" in a:
                assert all(isinstance(e["caption"], str) for e in a["enum"].values()), where
            if "is_array" in a:
                assert a["is_array"] is True, where
        for kind_c, names in (item.get("constraints") or {}).items():
            assert kind_c in ("at_least_one", "just_one"), f"{name}: {kind_c}"
            for n in names:
                if (name, n) not in CONSTRAINT_QUIRKS:
                    assert n.split(".")[0] in attrs, f"{v} {kind} {name}: constraint on {n}"
        if kind == "class":
            assert item["name"] == name
            assert isinstance(item["uid"], int) and item["uid"] not in uids, name
            uids.add(item["uid"])
            assert isinstance(item["category_uid"], int)
            assert isinstance(item["caption"], str)
            for p in item["profiles"]:
                assert p in profiles, f"{name}: profile {p}"
            if name != "base_event":
                assert item["category_name"], name
                assert item["uid"] // 1000 % 100 == item["category_uid"], name
            for must in ("class_uid", "category_uid", "activity_id", "type_uid", "metadata", "time", "severity_id"):
                assert must in attrs, f"{name} lacks {must}"
            acts = {int(k) for k in attrs["activity_id"]["enum"]}
            types_uid = {int(k) for k in attrs["type_uid"]["enum"]}
            assert {item["uid"] * 100 + a for a in acts} | {item["uid"] * 100} == types_uid, name
            assert set(attrs["class_uid"]["enum"]) == {str(item["uid"])}, name


def test_1_8_keeps_1_7():
    a, b = load("1.7.0"), load("1.8.0")
    gone = (set(a["classes"]) - set(b["classes"])) | (set(a["objects"]) - set(b["objects"]))
    assert gone == REMOVED_IN_1_8
    for name, c in a["classes"].items():
        if name in REMOVED_IN_1_8:
            continue
        assert b["classes"][name]["uid"] == c["uid"], name
        assert set(c["attributes"]) <= set(b["classes"][name]["attributes"]), name
    assert set(a["profiles"]) <= set(b["profiles"])


def golden_events():
    out = []
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "golden", "*.json"))):
        with open(path, encoding="utf-8") as f:
            out += [(os.path.basename(path), json.loads(line)) for line in f if line.strip()]
    return out


@pytest.mark.parametrize("v", ["1.7.0", "1.8.0"])
def test_golden_events_fit(v):
    """The project's golden events name known classes and only their attributes."""
    s = load(v)
    by_uid = {c["uid"]: c for c in s["classes"].values()}
    events = golden_events()
    assert events
    for name, ev in events:
        cls = by_uid[ev["class_uid"]]
        assert ev["category_uid"] == cls["category_uid"], name
        assert ev["type_uid"] == ev["class_uid"] * 100 + ev["activity_id"], name
        assert set(ev) <= set(cls["attributes"]), f"{name}: {set(ev) - set(cls['attributes'])}"
        for p in ev.get("metadata", {}).get("profiles", []):
            assert p in cls["profiles"], f"{name}: profile {p}"
