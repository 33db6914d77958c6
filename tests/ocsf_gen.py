#!/usr/bin/env python3
"""A schema-driven generator of valid OCSF events, for tests and benchmarks.

    gen(schema, class_uid, seed) -> dict

`schema` is a compiled OCSF schema in the shape `../shared/ocsf/validate.py` reads
(`classes`, `objects`, `profiles`, `dictionary`, `version`); `load_schema("1.7.0")`
finds one (the project's `schemas/ocsf/VERSION.json`, else
`../shared/ocsf/schema-VERSION.json`) and `load_schema(PATH)` reads a file.

Each event has every required attribute, a random selection of optional ones
(nested objects down to a bounded depth, arrays of 1-2 items), enum ids from
the schema with the matching sibling caption (a custom label for 99, Other),
typed strings that match their type's regex (ip_t, uuid_t, mac_t, email_t,
datetime_t, hostname_t, file_hash_t, subnet_t, bytestring_t, ...), the class's
at_least_one / just_one constraints (dotted ones like `device.os.sp_name`
too), `class_uid`, `category_uid`, `activity_id`, `type_uid` =
class_uid * 100 + activity_id with their captions, `time` in ms,
`metadata.version`, `metadata.profiles` (the class's profiles whose
attributes it used, nothing else) and a fresh `metadata.uid`. Everything but
the uid (and times, relative to now_ms) is a function of (class_uid, seed).
Strings of type string_t sometimes hold non-ASCII text, quotes, backslashes or
a newline: what real producers send.

CLI (JSON lines on stdout):
    ocsf_gen.py --schema PATH|VERSION --class UID|all [--count N] [--seed S]
                [--uid-from-seed] [--now-ms MS] [--include ATTR,...]
"""
import argparse
import base64
import hashlib
import json
import os
import pathlib
import random
import sys
import time
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[1]
PROJECT_SCHEMAS = ROOT / "schemas" / "ocsf"
SHARED_SCHEMAS = ROOT.parent / "shared" / "ocsf"

INT_TYPES = {"integer_t", "long_t", "timestamp_t", "port_t"}
MAX_DEPTH = 3                   # objects deeper than this get only what they must have
OPTIONAL_PER_DEPTH = (12, 5, 3, 1)

WORDS = ("alpha", "bravo", "cedar", "delta", "ember", "falcon", "granite", "harbor", "iris",
         "juniper", "kestrel", "lumen", "maple", "nimbus", "onyx", "pebble", "quartz", "raven",
         "sierra", "tundra", "umber", "vertex", "willow", "xenon", "yarrow", "zephyr")
ODD_WORDS = ("café", "Zürich", "naïve", "東京", "данные", "🙂 ok", 'say "hi"',
             "C:\\Temp\\x", "two\nlines", "tab\there", "a/b\\c")


# -- schemas -------------------------------------------------------------------

def schema_path(version):
    """The compiled schema of an OCSF version: the project's own copy when it
    has one, else ../shared. None when neither exists."""
    for p in (PROJECT_SCHEMAS / f"{version}.json", SHARED_SCHEMAS / f"schema-{version}.json"):
        if p.is_file():
            return p
    return None


_loaded = {}


def load_schema(path_or_version):
    """A schema by version ("1.7.0") or by file path; cached."""
    key = str(path_or_version)
    if key not in _loaded:
        p = pathlib.Path(key)
        if not p.is_file():
            q = schema_path(key)
            if q is None:
                raise FileNotFoundError(f"no OCSF schema for {key!r} (looked in "
                                        f"{PROJECT_SCHEMAS} and {SHARED_SCHEMAS})")
            p = q
        with open(p, encoding="utf-8") as f:
            _loaded[key] = json.load(f)
    return _loaded[key]


def class_uids(schema):
    return sorted(c["uid"] for c in schema["classes"].values())


def class_by_uid(schema, class_uid):
    for c in schema["classes"].values():
        if c["uid"] == class_uid:
            return c
    raise KeyError(f"OCSF {schema.get('version')}: no class {class_uid}")


# -- the generator ---------------------------------------------------------------

class _Gen:
    def __init__(self, schema, rng, profiles, now_ms):
        self.s = schema
        self.rng = rng
        self.types = schema["dictionary"]["types"]["attributes"]
        self.dict_attrs = schema["dictionary"]["attributes"]
        self.objects = schema["objects"]
        self.profiles = profiles        # chosen for this event
        self.used = set()               # of those, the ones an attribute used
        self.now_ms = now_ms

    # -- schema helpers
    def base_type(self, t):
        for _ in range(8):
            nxt = self.types.get(t, {}).get("type")
            if not nxt or nxt == t:
                break
            t = nxt
        return t

    def enum_of(self, name, spec):
        e = spec.get("enum")
        if e:
            return e
        if spec.get("type") == "integer_t":
            return self.dict_attrs.get(name, {}).get("enum")
        return None

    def usable(self, spec):
        need = spec.get("profiles")
        return not need or bool(set(need) & self.profiles)

    def is_object(self, spec):
        return spec.get("type") == "object_t"

    def empty_object(self, spec):
        od = self.objects.get(spec.get("object_type"))
        return od is None or not od.get("attributes")

    def mark(self, spec):
        need = spec.get("profiles")
        if need:
            self.used |= set(need) & self.profiles

    # -- objects
    def fill(self, attrs, constraints, depth, skip=(), force=()):
        """One object (or the event's top level) of these attributes; force:
        optional ones to fill anyway."""
        rng = self.rng
        obj = {}
        captions = {a["sibling"] for n, a in attrs.items()  # set by their id (put)
                    if a.get("sibling") in attrs and self.enum_of(n, a)}
        required, optional = [], []
        for n, a in attrs.items():
            if n in skip or n in captions or not self.usable(a):
                continue
            if a.get("requirement") == "required" or n in force:
                required.append(n)
            elif not a.get("@deprecated") and not (self.is_object(a) and self.empty_object(a)):
                optional.append(n)
        for n, a in attrs.items():  # a required caption brings its id
            if n in captions and a.get("requirement") == "required":
                idn = [k for k, v in attrs.items() if v.get("sibling") == n][0]
                if idn not in required and idn not in skip:
                    required.append(idn)
        picked = []
        if depth <= MAX_DEPTH and optional:
            k = rng.randint(0, OPTIONAL_PER_DEPTH[min(depth, len(OPTIONAL_PER_DEPTH) - 1)])
            pool = sorted(optional)
            if depth >= 2:  # deep down, mostly scalars
                pool = [n for n in pool if not self.is_object(attrs[n]) or rng.random() < 0.2]
            picked = rng.sample(pool, min(k, len(pool)))
        for n in sorted(required) + picked:
            self.put(obj, attrs, n, depth)
        self.constrain(obj, attrs, constraints or {}, depth, skip)
        return obj

    def put(self, obj, attrs, n, depth):
        spec = attrs[n]
        if depth > 12:
            raise RecursionError(f"required objects nest too deep at {n}")
        obj[n] = self.value(n, spec, depth)
        self.mark(spec)
        sib = spec.get("sibling")
        enum = self.enum_of(n, spec)
        if sib and enum and sib in attrs and self.usable(attrs[sib]) and \
                self.base_type(attrs[sib].get("type")) == "string_t" and (
                attrs[sib].get("requirement") == "required" or self.rng.random() < 0.85):
            ids = obj[n] if isinstance(obj[n], list) else [obj[n]]
            caps = [self.caption(enum, v) for v in ids]
            obj[sib] = caps if attrs[sib].get("is_array") else caps[0]
            self.mark(attrs[sib])

    def caption(self, enum, v):
        if str(v) == "99":
            return "Custom " + self.rng.choice(WORDS)
        return enum[str(v)]["caption"]

    def constrain(self, obj, attrs, constraints, depth, skip):
        rng = self.rng
        for kind, names in sorted(constraints.items()):
            present = [n for n in names if _has(obj, n)]
            if present and kind == "at_least_one":
                continue
            if kind == "just_one" and len(present) > 1:
                keep = rng.choice(present)
                for n in present:
                    if n != keep and "." not in n and attrs[n].get("requirement") != "required":
                        del obj[n]
                continue
            if present:
                continue
            cands = [n for n in names if n not in skip and self.spec_at(attrs, n) is not None
                     and self.usable(self.spec_at(attrs, n))]
            if not cands:
                raise ValueError(f"cannot satisfy {kind} {names}: none usable")
            if depth >= 2:  # prefer what does not nest further
                flat = [n for n in cands if not self.is_object(self.spec_at(attrs, n))]
                cands = flat or cands
            self.put_path(obj, attrs, rng.choice(sorted(cands)), depth)

    def spec_at(self, attrs, dotted):
        """The spec a (dotted) constraint name points at; None when the schema
        names an attribute it does not define (1.3.0's event_log: log_file)."""
        parts = dotted.split(".")
        for p in parts[:-1]:
            if p not in attrs or attrs[p].get("object_type") not in self.objects:
                return None
            attrs = self.objects[attrs[p]["object_type"]]["attributes"]
        return attrs.get(parts[-1])

    def put_path(self, obj, attrs, dotted, depth):
        parts = dotted.split(".")
        for p in parts[:-1]:
            spec = attrs[p]
            od = self.objects[spec["object_type"]]
            if p not in obj:
                obj[p] = self.fill(od["attributes"], od.get("constraints"), depth + 1)
                self.mark(spec)
            obj, attrs, depth = obj[p], od["attributes"], depth + 1
        self.put(obj, attrs, parts[-1], depth)

    # -- values
    def value(self, name, spec, depth):
        rng = self.rng
        if spec.get("is_array"):
            inner = {k: v for k, v in spec.items() if k != "is_array"}
            out = []
            for _ in range(rng.randint(1, 2)):
                v = self.value(name, inner, depth)
                if v not in out:
                    out.append(v)
            return out
        t = spec.get("type")
        if t == "object_t":
            od = self.objects.get(spec.get("object_type"))
            if od is None or not od.get("attributes"):
                return {}
            return self.fill(od["attributes"], od.get("constraints"), depth + 1)
        if t == "json_t":
            return rng.choice([{"k": rng.choice(WORDS), "n": rng.randint(0, 99)},
                               [rng.choice(WORDS), rng.randint(0, 9)], rng.choice(WORDS)])
        base = self.base_type(t)
        enum = self.enum_of(name, spec)
        if enum:
            key = rng.choice(sorted(enum))
            if base in INT_TYPES or t in INT_TYPES:
                return int(key)
            return key
        return self.scalar(name, t, base)

    def scalar(self, name, t, base):
        rng = self.rng
        w = rng.choice(WORDS)
        n = rng.randint(1, 9999)
        if t == "timestamp_t" or base == "timestamp_t":
            return self.now_ms - rng.randint(0, 30 * 86400 * 1000)
        if t == "port_t":
            return rng.randint(1, 65535)
        if base == "boolean_t":
            return rng.random() < 0.5
        if base in ("integer_t",) or t == "integer_t":
            return rng.randint(0, 65535)
        if base == "long_t" or t == "long_t":
            return rng.randint(0, 10 ** 12)
        if base == "float_t" or t == "float_t":
            return round(rng.uniform(0, 1000), rng.choice((0, 1, 3)))
        if t == "ip_t":
            if rng.random() < 0.7:
                return "%d.%d.%d.%d" % (rng.choice((10, 172, 192, 198, 203)), rng.randint(0, 255),
                                        rng.randint(0, 255), rng.randint(1, 254))
            return "2001:db8:%x::%x" % (rng.randint(0, 0xffff), rng.randint(1, 0xffff))
        if t == "subnet_t":
            return rng.choice(("10.%d.0.0/16" % rng.randint(0, 255), "2001:db8:%x::/48" % n))
        if t == "mac_t":
            return ":".join("%02x" % b for b in [0x02] + [rng.randint(0, 255) for _ in range(5)])
        if t == "uuid_t":
            return str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if t == "email_t":
            return f"{w}.{n}@example.com"
        if t == "hostname_t":
            return f"{w}-{n}.example.com"
        if t == "url_t":
            return f"https://{w}.example.com/{rng.choice(WORDS)}/{n}?q={rng.choice(WORDS)}"
        if t == "file_hash_t":
            return hashlib.sha256(rng.getrandbits(64).to_bytes(8, "big")).hexdigest()
        if t == "datetime_t":
            ms = self.now_ms - rng.randint(0, 30 * 86400 * 1000)
            return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + \
                ".%03dZ" % (ms % 1000)
        if t == "bytestring_t":
            n = rng.choice((13, 14))  # the schema's regex wants padding
            return base64.b64encode(rng.getrandbits(8 * n).to_bytes(n, "big")).decode()
        if t == "file_path_t":
            return f"/usr/lib/{w}/{rng.choice(WORDS)}-{n}.so"
        if t == "file_name_t":
            return f"{w}-{n}.txt"
        if t == "process_name_t":
            return rng.choice(("sshd", "bash", "python3", "nginx", "curl", w))
        if t == "username_t":
            return f"{w}{n % 100}"
        if t == "reg_key_path_t":
            return f"HKEY_LOCAL_MACHINE\\SOFTWARE\\{w.title()}\\Key{n}"
        if t == "resource_uid_t":
            return f"arn:aws:s3:::{w}-{n}"
        return self.string(name, w, n)

    def string(self, name, w, n):
        rng = self.rng
        if rng.random() < 0.08:
            return f"{w} {rng.choice(ODD_WORDS)}"
        if name in ("uid", "uid_alt", "correlation_uid", "original_event_uid", "tenant_uid"):
            return f"{w}-{n:04d}"
        if name == "cmd_line":
            return f"/usr/bin/{w} --{rng.choice(WORDS)} {n}"
        if name in ("path", "parent_folder", "home_dir"):
            return f"/srv/{w}/{rng.choice(WORDS)}"
        if name in ("version", "log_version", "sp_ver", "build"):
            return f"{n % 10}.{n % 7}.{n % 13}"
        if name in ("domain", "hostname", "fqdn", "hostname_alt"):
            return f"{w}.example.org"
        if name in ("message", "desc", "description", "title", "comment", "summary"):
            return f"{w.title()} {rng.choice(WORDS)} {rng.choice(WORDS)} #{n}"
        return f"{w}-{n}"


def _has(obj, dotted):
    for p in dotted.split("."):
        if not isinstance(obj, dict) or p not in obj:
            return False
        obj = obj[p]
    return True


TOP_SET = ("class_uid", "class_name", "category_uid", "category_name", "activity_id",
           "activity_name", "type_uid", "type_name", "time", "metadata", "unmapped")
META_SET = ("version", "profiles", "uid")


def gen(schema, class_uid, seed, uid=None, now_ms=None, include=()):
    """One valid event of class_uid. uid: its metadata.uid (default: a fresh
    UUID); now_ms: 'now' for the timestamps (default: the clock); include:
    top-level attributes to fill even when optional (e.g. 2004's evidences)."""
    cls = class_by_uid(schema, class_uid)
    rng = random.Random(f"{schema.get('version')}/{class_uid}/{seed}")
    known = schema.get("profiles", {})
    chosen = {p for p in sorted(cls.get("profiles") or []) if p in known and rng.random() < 0.4}
    for n in include:
        if n not in cls["attributes"]:
            raise KeyError(f"OCSF {schema.get('version')}: {cls['name']} has no attribute {n}")
        need = [p for p in cls["attributes"][n].get("profiles") or []
                if p in known and p in (cls.get("profiles") or [])]
        if need and not set(need) & chosen:
            chosen.add(need[0])
    g = _Gen(schema, rng, chosen, now_ms if now_ms is not None else int(time.time() * 1000))
    attrs = cls["attributes"]

    ev = {}
    ev["class_uid"] = cls["uid"]
    ce = attrs["class_uid"].get("enum", {})
    ev["class_name"] = ce.get(str(cls["uid"]), {}).get("caption", cls["caption"])
    ev["category_uid"] = cls["category_uid"]
    ge = attrs["category_uid"].get("enum", {})
    ev["category_name"] = ge.get(str(cls["category_uid"]), {}).get(
        "caption", cls.get("category_name", ""))
    ae = g.enum_of("activity_id", attrs["activity_id"])
    act = int(rng.choice(sorted(ae)))
    ev["activity_id"] = act
    ev["activity_name"] = g.caption(ae, act)
    ev["type_uid"] = cls["uid"] * 100 + act
    te = attrs["type_uid"].get("enum") or {}
    ev["type_name"] = te.get(str(ev["type_uid"]), {}).get(
        "caption", f"{ev['class_name']}: {ev['activity_name']}")
    ev["time"] = g.now_ms - rng.randint(0, 3_600_000)

    md = g.objects["metadata"]
    meta = g.fill(md["attributes"], md.get("constraints"), 1, skip=META_SET)
    meta["version"] = schema["version"]
    meta["uid"] = uid or str(uuid.uuid4())

    rest = g.fill(attrs, cls.get("constraints"), 0, skip=TOP_SET, force=tuple(include))
    ev.update(rest)
    ev["metadata"] = meta
    if g.used:
        meta["profiles"] = sorted(g.used)
    return ev


def main(argv=None):
    ap = argparse.ArgumentParser(description="Generate valid OCSF events as JSON lines.")
    ap.add_argument("--schema", required=True, help="a compiled schema file or a version")
    ap.add_argument("--class", dest="cls", required=True,
                    help="a class_uid, several comma-separated, or 'all'")
    ap.add_argument("--count", type=int, default=1, help="events per class")
    ap.add_argument("--seed", default="0")
    ap.add_argument("--uid-from-seed", action="store_true",
                    help="metadata.uid derived from the seed (reproducible output)")
    ap.add_argument("--now-ms", type=int, help="'now' for timestamps (reproducible output)")
    ap.add_argument("--include", default="",
                    help="top-level attributes to fill even when optional, comma-separated")
    a = ap.parse_args(argv)
    schema = load_schema(a.schema)
    uids = class_uids(schema) if a.cls == "all" else [int(x) for x in a.cls.split(",")]
    out = sys.stdout
    for cu in uids:
        for i in range(a.count):
            seed = f"{a.seed}/{i}"
            uid = None
            if a.uid_from_seed:
                uid = str(uuid.UUID(bytes=hashlib.sha256(f"{cu}/{seed}".encode()).digest()[:16],
                                    version=4))
            ev = gen(schema, cu, seed, uid=uid, now_ms=a.now_ms,
                     include=[x for x in a.include.split(",") if x])
            out.write(json.dumps(ev, ensure_ascii=False, separators=(",", ":")) + "\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:
        os._exit(0)
