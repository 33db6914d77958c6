#!/usr/bin/env python3
"""Compare two compiled OCSF schemas on the fields the validator uses.

Usage: compare_compiled.py [--max N] A.json B.json

A and B are compiled schemas (the OCSF compiler's output, compile.py's output or
slim.py's output: they share the key layout). Compared, per version:

  version
  dictionary.types.attributes.<t>: type, regex, max_len, range
  dictionary.attributes.<a>: enum ids and their captions (attributes that have one)
  profiles: the names
  classes (keyed by name) and objects (keyed by name):
    uid, name, caption, category_uid, category_name, profiles (classes);
    constraints (both);
    attributes.<a>: type, object_type, requirement, is_array, sibling, profiles,
                    enum ids and their captions

Lists that are sets (profiles, constraint members) are compared as sets; a
missing is_array equals false; a missing/empty/null profiles list equals [].
Prints one line per difference ('-' only in A, '+' only in B, '~' differs) and a
last line 'N differences'. Exit 0 when there are none.
"""
import json
import sys

TYPE_FIELDS = ("type", "regex", "max_len", "range")
CLASS_FIELDS = ("uid", "name", "caption", "category_uid", "category_name")
ATTR_FIELDS = ("type", "object_type", "requirement", "sibling")


def enum_norm(enum):
    if not enum:
        return {}
    return {str(k): (v.get("caption") if isinstance(v, dict) else v) for k, v in enum.items()}


def set_norm(v):
    return sorted(v) if v else []


def constraints_norm(c):
    return {k: sorted(v) for k, v in (c or {}).items()}


class Diff:
    def __init__(self, limit):
        self.n = 0
        self.limit = limit

    def out(self, line):
        self.n += 1
        if self.limit is None or self.n <= self.limit:
            print(line)

    def cmp(self, where, a, b):
        if a != b:
            self.out(f"~ {where}: {json.dumps(a, sort_keys=True)} != {json.dumps(b, sort_keys=True)}")

    def keys(self, where, a, b):
        for k in sorted(set(a) - set(b)):
            self.out(f"- {where}.{k}")
        for k in sorted(set(b) - set(a)):
            self.out(f"+ {where}.{k}")
        return sorted(set(a) & set(b))


def compare_enum(d, where, a, b):
    ea, eb = enum_norm(a), enum_norm(b)
    if ea == eb:
        return
    for k in d.keys(where + ".enum", ea, eb):
        d.cmp(f"{where}.enum.{k}.caption", ea[k], eb[k])


def compare_attrs(d, where, a, b):
    for name in d.keys(where + ".attributes", a or {}, b or {}):
        x, y = a[name], b[name]
        w = f"{where}.attributes.{name}"
        for f in ATTR_FIELDS:
            d.cmp(f"{w}.{f}", x.get(f), y.get(f))
        d.cmp(f"{w}.is_array", bool(x.get("is_array")), bool(y.get("is_array")))
        d.cmp(f"{w}.profiles", set_norm(x.get("profiles")), set_norm(y.get("profiles")))
        compare_enum(d, w, x.get("enum"), y.get("enum"))


def compare(a, b, d):
    d.cmp("version", a.get("version"), b.get("version"))
    ta = a["dictionary"]["types"]["attributes"]
    tb = b["dictionary"]["types"]["attributes"]
    for t in d.keys("dictionary.types.attributes", ta, tb):
        for f in TYPE_FIELDS:
            d.cmp(f"dictionary.types.attributes.{t}.{f}", ta[t].get(f), tb[t].get(f))
    # Only the enums of dictionary attributes matter (an attribute without one
    # is the same as no entry: slim.py keeps only those with an enum).
    da = {k: v for k, v in a["dictionary"]["attributes"].items() if v.get("enum")}
    db = {k: v for k, v in b["dictionary"]["attributes"].items() if v.get("enum")}
    for k in d.keys("dictionary.attributes(with enum)", da, db):
        compare_enum(d, f"dictionary.attributes.{k}", da[k].get("enum"), db[k].get("enum"))
    d.keys("profiles", a.get("profiles") or {}, b.get("profiles") or {})
    for name in d.keys("classes", a["classes"], b["classes"]):
        x, y = a["classes"][name], b["classes"][name]
        w = f"classes.{name}"
        for f in CLASS_FIELDS:
            d.cmp(f"{w}.{f}", x.get(f), y.get(f))
        d.cmp(f"{w}.profiles", set_norm(x.get("profiles")), set_norm(y.get("profiles")))
        d.cmp(f"{w}.constraints", constraints_norm(x.get("constraints")), constraints_norm(y.get("constraints")))
        compare_attrs(d, w, x.get("attributes"), y.get("attributes"))
    for name in d.keys("objects", a["objects"], b["objects"]):
        x, y = a["objects"][name], b["objects"][name]
        w = f"objects.{name}"
        d.cmp(f"{w}.constraints", constraints_norm(x.get("constraints")), constraints_norm(y.get("constraints")))
        compare_attrs(d, w, x.get("attributes"), y.get("attributes"))


def main(argv):
    limit = None
    if len(argv) >= 2 and argv[0] == "--max":
        limit = int(argv[1])
        argv = argv[2:]
    if len(argv) != 2 or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 2
    with open(argv[0]) as f:
        a = json.load(f)
    with open(argv[1]) as f:
        b = json.load(f)
    d = Diff(limit)
    compare(a, b, d)
    print(f"{d.n} differences")
    return 1 if d.n else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
