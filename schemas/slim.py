#!/usr/bin/env python3
"""Reduce a compiled OCSF schema to what event validation needs.

Usage: slim.py [--profiles-from OTHER.json] COMPILED.json > schemas/ocsf/X.json

COMPILED.json is the output of the OCSF schema compiler (../shared/ocsf/schema-X.json)
or of schemas/compile.py. The result keeps the compiled layout, so
../shared/ocsf/validate.py --schema schemas/ocsf/X.json accepts it, and holds:

  version
  categories.<name>: uid, caption
  extensions.<name>: uid, caption, version
  profiles.<name>: caption, attributes (the attribute names the profile adds)
  dictionary.types.attributes.<t>: caption, type, regex, max_len, range
  dictionary.attributes.<a>: enum (id -> caption), only for attributes with an enum
  classes.<name>: uid, name, caption, category_uid, category_name, profiles,
                  constraints, attributes
  objects.<name>: name, caption, constraints, attributes
  attributes.<a>: type, object_type, requirement, is_array (when true),
                  sibling, profiles (when not empty), enum (id -> {caption})

--profiles-from takes the profile attribute names from another compiled file of
the same version when COMPILED.json has none (the OCSF compiler drops them:
../shared/ocsf/schema-1.1.0.json and 1.3.0.json; compile.py keeps them).

Output: sorted keys; one line per class/object attribute, dictionary entry,
type and profile, so that diffs between versions stay readable.
"""
import json
import sys

ATTR_KEYS = ("type", "object_type", "requirement", "sibling")
TYPE_KEYS = ("caption", "type", "regex", "max_len", "range")


def slim_enum(enum):
    return {str(k): {"caption": v.get("caption") if isinstance(v, dict) else v} for k, v in enum.items()}


def slim_attr(a):
    out = {k: a[k] for k in ATTR_KEYS if a.get(k) is not None}
    if a.get("is_array"):
        out["is_array"] = True
    if a.get("profiles"):
        out["profiles"] = sorted(a["profiles"])
    if a.get("enum"):
        out["enum"] = slim_enum(a["enum"])
    return out


def profile_names(p):
    attrs = p.get("attributes")
    if isinstance(attrs, dict):
        return sorted(attrs)
    if isinstance(attrs, list):
        return sorted(attrs)
    return None


def slim(s, other=None):
    out = {"version": s["version"]}
    out["categories"] = {
        k: {"uid": v.get("uid"), "caption": v.get("caption")}
        for k, v in (s.get("categories") or {}).get("attributes", {}).items()
    }
    out["extensions"] = {
        k: {"uid": v.get("uid"), "caption": v.get("caption"), "version": v.get("version")}
        for k, v in (s.get("extensions") or {}).items()
    }
    out["profiles"] = {}
    for name, p in (s.get("profiles") or {}).items():
        names = profile_names(p)
        if names is None and other is not None:
            names = profile_names((other.get("profiles") or {}).get(name, {}))
        q = {"caption": p.get("caption", name)}
        if names is not None:
            q["attributes"] = names
        out["profiles"][name] = q
    dic = s["dictionary"]
    out["dictionary"] = {
        "types": {
            "attributes": {
                t: {k: v[k] for k in TYPE_KEYS if k in v}
                for t, v in dic["types"]["attributes"].items()
            }
        },
        "attributes": {
            k: {"enum": slim_enum(v["enum"])}
            for k, v in dic["attributes"].items() if v.get("enum")
        },
    }
    out["classes"] = {}
    for name, c in s["classes"].items():
        out["classes"][name] = {
            "uid": c["uid"],
            "name": c.get("name", name),
            "caption": c.get("caption"),
            "category_uid": c.get("category_uid"),
            "category_name": c.get("category_name"),
            "profiles": sorted(c.get("profiles") or []),
            "constraints": c.get("constraints") or {},
            "attributes": {k: slim_attr(a) for k, a in c.get("attributes", {}).items()},
        }
    out["objects"] = {}
    for name, o in s["objects"].items():
        out["objects"][name] = {
            "name": o.get("name", name),
            "caption": o.get("caption"),
            "constraints": o.get("constraints") or {},
            "attributes": {k: slim_attr(a) for k, a in o.get("attributes", {}).items()},
        }
    return out


# Dicts at these paths are written one key per line; anything deeper is
# written compactly on the line of its key.
EXPANDED = {
    (), ("categories",), ("extensions",), ("profiles",), ("dictionary",),
    ("dictionary", "types"), ("dictionary", "types", "attributes"),
    ("dictionary", "attributes"), ("classes",), ("classes", "*"),
    ("classes", "*", "attributes"), ("objects",), ("objects", "*"),
    ("objects", "*", "attributes"),
}


def compact(v):
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def write(v, path, out):
    pattern = tuple("*" if i == 1 and path[0] in ("classes", "objects") else p for i, p in enumerate(path))
    if not isinstance(v, dict) or pattern not in EXPANDED or not v:
        out.append(compact(v))
        return
    out.append("{\n")
    keys = sorted(v)
    for i, k in enumerate(keys):
        out.append(json.dumps(k, ensure_ascii=False) + ":")
        write(v[k], path + (k,), out)
        out.append(",\n" if i < len(keys) - 1 else "\n")
    out.append("}")


def main(argv):
    other = None
    args = []
    it = iter(argv)
    for a in it:
        if a == "--profiles-from":
            with open(next(it)) as f:
                other = json.load(f)
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
        else:
            args.append(a)
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    with open(args[0]) as f:
        s = json.load(f)
    if other is not None and other.get("version") != s.get("version"):
        print(f"slim.py: --profiles-from is version {other.get('version')}, not {s.get('version')}", file=sys.stderr)
        return 2
    out = []
    write(slim(s, other), (), out)
    sys.stdout.write("".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
