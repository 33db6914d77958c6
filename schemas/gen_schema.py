#!/usr/bin/env python3
"""Generate the C tables of every bundled OCSF version (build/gen/ocsf_schema_tables.c).

Usage: gen_schema.py schemas/ocsf/1.1.0.json schemas/ocsf/1.3.0.json ... > out.c

Input: the validate.py-shaped schemas of schemas/ocsf/ (every class, object,
profile and dictionary type of a version). Output: per version, const tables
(types in ocsf/schema.h) that ocsf/check.c validates with and ocsf/cast.c
casts with: classes sorted by uid, objects sorted by name, attributes sorted
by name (binary search), enum ids sorted with their captions, profiles as bit
positions, at_least_one / just_one as attribute indexes. Nothing is parsed
at run time.

Typed strings: every regex a version's types carry must map to a checker in
ocsf/check.c (CHECKS below); an unknown regex stops the build rather than
letting an unchecked type through.
"""
import json
import sys

INT_TYPES = {"integer_t", "long_t", "timestamp_t", "port_t"}

# (type, regex) -> checker name in ocsf/schema.h (OCSF__CHK_*)
CHECKS = {
    "uuid_t": "UUID", "ip_t": "IP", "mac_t": "MAC", "hostname_t": "HOSTNAME",
    "file_hash_t": "HEX", "bytestring_t": "BASE64",
}
EMAIL_11 = r"^[a-zA-Z0-9_.+-]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$"
EMAIL_13 = r"^[a-zA-Z0-9!#$%&'*+-/=?^_`{|}~.]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$"
DT_11 = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(Z|[\+-]\d{2}:\d{2})?$"
DT_17 = r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?([Zz]|[\+-]\d{2}:\d{2})?$"
KNOWN_RX = {
    "uuid_t": {r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"},
    "mac_t": {r"^([0-9A-Fa-f]{2}[:-]){5}([0-9A-Fa-f]{2})$"},
    "hostname_t": {r"^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])\.)*"
                   r"([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9\-]*[A-Za-z0-9])$"},
    "file_hash_t": {r"^[a-fA-F0-9]+$"},
    "bytestring_t": {r"^(?:(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)|"
                     r"(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2}==|[A-Za-z0-9_-]{3}=))?$"},
}


def c_str(s):
    return json.dumps(s, ensure_ascii=True) if s is not None else "NULL"


def check_of(t, spec):
    rx = spec.get("regex")
    if not rx:
        return "NONE"
    if t == "email_t":
        if rx == EMAIL_11:
            return "EMAIL11"
        if rx == EMAIL_13:
            return "EMAIL13"
    elif t == "datetime_t":
        if rx == DT_11:
            return "DATETIME11"
        if rx == DT_17:
            return "DATETIME17"
    elif t == "ip_t":
        return "IP"  # the schema's long alternation of IPv4 / IPv6 forms
    elif rx in KNOWN_RX.get(t, ()):
        return CHECKS[t]
    sys.exit(f"gen_schema.py: no checker for {t} with regex {rx!r}: add one to ocsf/check.c")


class Gen:
    def __init__(self, path, out):
        self.s = json.load(open(path))
        self.v = self.s["version"]
        self.tag = self.v.replace(".", "_")
        self.types = self.s["dictionary"]["types"]["attributes"]
        self.dict_attrs = self.s["dictionary"]["attributes"]
        self.out = out
        self.profiles = sorted(self.s["profiles"])
        if len(self.profiles) > 32:
            sys.exit("gen_schema.py: more than 32 profiles")
        self.pbit = {p: i for i, p in enumerate(self.profiles)}
        self.objects = sorted(self.s["objects"])
        self.oidx = {o: i for i, o in enumerate(self.objects)}
        self.enums = []  # (id, caption)
        self.enum_at = {}

    def base(self, t):
        seen = 0
        while t in self.types and self.types[t].get("type") and seen < 8:
            t = self.types[t]["type"]
            seen += 1
        return t

    def mask(self, names):
        m = 0
        for p in names or []:
            if p in self.pbit:
                m |= 1 << self.pbit[p]
        return m

    def enum_ref(self, enum):
        # string-keyed enums (a few string attributes) are not checked by
        # validate.py: it compares only integer values
        ints = {k: v for k, v in (enum or {}).items() if k.lstrip("-").isdigit()}
        if not ints:
            return (0, 0)
        items = tuple(sorted((int(k), v.get("caption", "") if isinstance(v, dict) else str(v))
                             for k, v in ints.items()))
        if items not in self.enum_at:
            self.enum_at[items] = len(self.enums)
            self.enums.extend(items)
        return (self.enum_at[items], len(items))

    def attr_row(self, key, a, names):
        t = a.get("type") or "string_t"
        b = self.base(t)
        if t == "object_t":
            kind = "OBJECT"
        elif t == "json_t":
            kind = "JSON"
        elif b == "boolean_t":
            kind = "BOOL"
        elif b in INT_TYPES or t in INT_TYPES:
            kind = "INT"
        elif b == "float_t":
            kind = "FLOAT"
        else:
            kind = "STRING"
        tspec = self.types.get(t, {})
        check = check_of(t, tspec) if kind == "STRING" else "NONE"
        flags = []
        if a.get("is_array"):
            flags.append("OCSF__A_ARRAY")
        if a.get("requirement") == "required":
            flags.append("OCSF__A_REQUIRED")
        if t == "port_t":
            flags.append("OCSF__A_PORT")
        if t == "timestamp_t":
            flags.append("OCSF__A_TIMESTAMP")
        if key == "unmapped" and kind == "OBJECT":
            flags.append("OCSF__A_UNMAPPED")
        # value check: the attribute's enum, else the dictionary's for integer_t;
        # sibling check: the attribute's enum, else the dictionary's (validate.py)
        own = a.get("enum")
        dict_enum = self.dict_attrs.get(key, {}).get("enum")
        if own:
            ev = own
            flags.append("OCSF__A_ENUM")
        elif dict_enum and t == "integer_t":
            ev = dict_enum
            flags.append("OCSF__A_ENUM")
        else:
            ev = dict_enum
        eoff, en = self.enum_ref(ev)
        if not en:
            flags = [f for f in flags if f != "OCSF__A_ENUM"]
        sib = a.get("sibling")
        sidx = names.index(sib) if sib in names else -1
        obj = self.oidx.get(a.get("object_type"), -1) if kind == "OBJECT" else -1
        return ("{%s, %d, OCSF__K_%s, OCSF__CHK_%s, %s, %d, %d, %d, %d, %d, 0x%xu, %s}"
                % (c_str(key), len(key.encode()), kind, check, "|".join(flags) or "0", obj, sidx,
                   eoff, en, int(tspec.get("max_len") or 0), self.mask(a.get("profiles")),
                   c_str(t)))

    def emit_body(self, label, spec):
        attrs = spec.get("attributes") or {}
        names = sorted(attrs, key=lambda k: k.encode())
        if len(names) > 1024:
            sys.exit(f"gen_schema.py: {label}: more than 1024 attributes")
        w = self.out.write
        w(f"static const ocsf__attr_t {label}_a[] = {{\n")
        for k in names:
            w("    " + self.attr_row(k, attrs[k], names) + ",\n")
        if not names:
            w("    {0}\n")
        w("};\n")
        cons = spec.get("constraints") or {}
        # a constraint names an attribute, or a dotted path below one
        # ("device.os.sp_name"): index n + i stands for paths[i]
        paths = []

        def ref(n):
            if n in names:
                return names.index(n)
            # (a few upstream constraints name no attribute of their class,
            # e.g. event_log's log_file: as in validate.py, never present)
            paths.append(n)
            return len(names) + len(paths) - 1
        alo = [ref(n) for n in cons.get("at_least_one", [])]
        jo = [ref(n) for n in cons.get("just_one", [])]
        w(f"static const uint16_t {label}_c[] = {{{', '.join(map(str, alo + jo)) or '0'}}};\n")
        w(f"static const char *const {label}_p[] = {{{', '.join(c_str(p) for p in paths) or 'NULL'}}};\n")
        return "{%s_a, %d, %s_c, %d, %d, %s_p}" % (label, len(names), label, len(alo), len(jo), label)

    def emit(self):
        w = self.out.write
        t = self.tag
        w(f"\n/* ---- OCSF {self.v} ---- */\n")
        objs = []
        for i, name in enumerate(self.objects):
            objs.append((name, self.emit_body(f"o{t}_{i}", self.s["objects"][name])))
        classes = sorted(self.s["classes"].values(), key=lambda c: c["uid"])
        rows = []
        for c in classes:
            body = self.emit_body(f"c{t}_{c['uid']}", c)
            rows.append("{%d, %s, %s, %d, %s, 0x%xu, %s}" % (
                c["uid"], c_str(c["name"]), c_str(c["caption"]), c.get("category_uid") or 0,
                c_str(c.get("category_name")), self.mask(c.get("profiles")), body))
        w(f"static const ocsf__enum_t e{t}[] = {{\n")
        for i, cap in self.enums:
            w(f"    {{{i}, {c_str(cap)}}},\n")
        if not self.enums:
            w("    {0, NULL}\n")
        w("};\n")
        w(f"static const ocsf__obj_t o{t}[] = {{\n")
        for name, body in objs:
            w(f"    {{{c_str(name)}, {body}}},\n")
        w("};\n")
        w(f"static const ocsf__class_t k{t}[] = {{\n")
        for r in rows:
            w(f"    {r},\n")
        w("};\n")
        w(f"static const char *const p{t}[] = {{{', '.join(c_str(p) for p in self.profiles)}}};\n")
        dt = self.pbit.get("datetime", -1)
        dtc = check_of("datetime_t", self.types.get("datetime_t", {}))
        w(f"const ocsf_schema_t ocsf__schema_{t} = {{{c_str(self.v)}, k{t}, {len(rows)}, o{t}, "
          f"{len(objs)}, e{t}, p{t}, {len(self.profiles)}, {dt}, OCSF__CHK_{dtc}}};\n")


def main():
    w = sys.stdout.write
    w("/* Generated by schemas/gen_schema.py from %s. Do not edit. */\n" % " ".join(sys.argv[1:]))
    w('#include "ocsf/schema.h"\n')
    tags = []
    for path in sys.argv[1:]:
        g = Gen(path, sys.stdout)
        g.emit()
        tags.append(g.tag)
    w("\nconst ocsf_schema_t *const ocsf__schemas[] = {%s, NULL};\n"
      % ", ".join(f"&ocsf__schema_{t}" for t in tags))
    w("const char ocsf__versions_list[] = %s;\n" % c_str(", ".join(t.replace("_", ".") for t in tags)))


if __name__ == "__main__":
    main()
