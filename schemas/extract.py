#!/usr/bin/env python3
"""Derive schemas/ocsf-1.7.0.json from a compiled OCSF schema: the six classes
tollgate itself emits, for the caption tables of its encoder (gen_tables.py).

Usage: extract.py SCHEMA-1.7.0.json > schemas/ocsf-1.7.0.json

The output keeps the classes tollgate emits (with every attribute, its type,
requirement, enum captions and profiles), the objects those events use (same
detail), the regex/range of the scalar types, and the captions of the profiles.
Validation and casts of any event use the whole schemas in schemas/ocsf/ instead.
The data is Apache-2.0, from the OCSF project (github.com/ocsf/ocsf-schema).
"""
import json
import sys

CLASSES = [4001, 4002, 2004, 5019, 6002, 1007]
OBJECTS = [
    "metadata", "product", "device", "container", "image", "actor", "process",
    "file", "fingerprint", "network_endpoint", "network_traffic",
    "firewall_rule", "http_request", "http_response", "url", "finding_info",
    "policy", "user", "network_proxy",
]
PROFILES = ["host", "container", "security_control", "network_proxy"]


def slim_attr(a, name, dict_attrs):
    out = {"type": a.get("type")}
    for k in ("object_type", "requirement", "is_array", "sibling", "profiles"):
        if a.get(k):
            out[k] = a[k]
    enum = a.get("enum")
    if not enum and a.get("type") == "integer_t":
        enum = dict_attrs.get(name, {}).get("enum")  # as the reference validator does
    if enum:
        out["enum"] = {k: v["caption"] for k, v in enum.items()}
    return out


def main():
    s = json.load(open(sys.argv[1]))
    by_uid = {c["uid"]: c for c in s["classes"].values()}
    dict_attrs = s["dictionary"]["attributes"]
    out = {"version": s["version"], "classes": {}, "objects": {}, "types": {},
           "profiles": {}}
    for uid in CLASSES:
        c = by_uid[uid]
        attrs = {k: slim_attr(a, k, dict_attrs) for k, a in c["attributes"].items()}
        out["classes"][str(uid)] = {
            "name": c["name"], "caption": c["caption"],
            "category_uid": c["category_uid"], "category_name": c["category_name"],
            "profiles": c.get("profiles", []), "constraints": c.get("constraints") or {},
            "attributes": attrs,
        }
    for name in OBJECTS:
        o = s["objects"][name]
        out["objects"][name] = {
            "constraints": o.get("constraints") or {},
            "attributes": {k: slim_attr(a, k, dict_attrs) for k, a in o["attributes"].items()},
        }
    for t, spec in s["dictionary"]["types"]["attributes"].items():
        keep = {k: spec[k] for k in ("type", "regex", "max_len", "range") if k in spec}
        out["types"][t] = keep
    for p, spec in s["profiles"].items():
        out["profiles"][p] = {"caption": spec.get("caption", p)}
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
