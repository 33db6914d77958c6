#!/usr/bin/env python3
"""Generate the downgrade tables from schemas/ocsf-<version>.json (1.3.0, 1.1.0).

Usage: gen_downgrade.py schemas/ocsf-1.3.0.json schemas/ocsf-1.1.0.json \
           > build/gen/ocsf_downgrade_tables.c

For each target version: its profiles (the bit order of every mask), its
classes (caption, category, the profiles that apply, the attribute table) and
its objects (attribute table, at_least_one / just_one), as const C data that
ocsf/downgrade.c reads (types in ocsf/downgrade.h). Attribute tables are
sorted by name (strcmp order, so the C side can binary-search them); enums
by id. Nothing is parsed at run time.
"""
import json
import sys

INT_TYPES = {"integer_t", "long_t", "timestamp_t", "port_t"}


def c_str(s):
    return json.dumps(s, ensure_ascii=True) if s is not None else "NULL"


def c_ident(s):
    return "".join(ch if ch.isalnum() else "_" for ch in s)


def base_type(types, t):
    for _ in range(8):
        nxt = types.get(t, {}).get("type")
        if not nxt:
            break
        t = nxt
    return t


def kind(types, t):
    if t == "object_t":
        return "OCSF__DG_OBJECT"
    if t == "json_t":
        return "OCSF__DG_JSON"
    b = base_type(types, t)
    if t in INT_TYPES or b in INT_TYPES:
        return "OCSF__DG_INT"
    if b == "boolean_t":
        return "OCSF__DG_BOOL"
    if b == "float_t":
        return "OCSF__DG_FLOAT"
    return "OCSF__DG_STRING"


def byte_sorted(names):
    return sorted(names, key=lambda n: n.encode())


class Gen:
    def __init__(self, schema, tag, out):
        self.s, self.tag, self.w = schema, tag, out.write
        self.profiles = list(schema["profiles"])
        self.objects = byte_sorted(schema["objects"])

    def mask(self, names):
        m = 0
        for p in names or []:
            if p in self.profiles:
                m |= 1 << self.profiles.index(p)
        return m

    def attr_table(self, name, attrs):
        types = self.s["types"]
        rows = []
        for an in byte_sorted(attrs):
            a = attrs[an]
            enums = "NULL"
            n = 0
            # only integer enums are checked (a string enum, http_method, is free text)
            if a.get("enum") and all(k.lstrip("-").isdigit() for k in a["enum"]):
                enums = "%s_enum_%s_%s" % (self.tag, c_ident(name), c_ident(an))
                items = sorted(((int(k), v) for k, v in a["enum"].items()))
                n = len(items)
                self.w("static const ocsf__dg_enum_t %s[] = {" % enums)
                self.w(", ".join("{%d, %s}" % (k, c_str(v)) for k, v in items))
                self.w("};\n")
            ot = a.get("object_type")
            obj = self.objects.index(ot) if a.get("type") == "object_t" and ot in self.objects else -1
            rows.append("    {%s, %s, %s, %s, %s, %s, 0x%xu, %d, %s, %d},\n" % (
                c_str(an), c_str(a.get("type")), c_str(a.get("sibling")),
                kind(types, a.get("type")), "true" if a.get("is_array") else "false",
                "true" if a.get("requirement") == "required" else "false",
                self.mask(a.get("profiles")), obj, enums, n))
        table = "%s_attrs_%s" % (self.tag, c_ident(name))
        self.w("static const ocsf__dg_attr_t %s[] = {\n%s};\n" % (table, "".join(rows)))
        return table, len(rows)

    def name_list(self, name, kind_, names):
        if not names:
            return "NULL", 0
        v = "%s_%s_%s" % (self.tag, kind_, c_ident(name))
        self.w("static const char *const %s[] = {%s};\n" % (v, ", ".join(c_str(x) for x in names)))
        return v, len(names)

    def object_init(self, name, d):
        table, n = self.attr_table(name, d["attributes"])
        cons = d.get("constraints") or {}
        alo, nalo = self.name_list(name, "alo", cons.get("at_least_one"))
        jo, njo = self.name_list(name, "jo", cons.get("just_one"))
        return "{%s, %s, %d, %s, %s, %d, %d}" % (c_str(name), table, n, alo, jo, nalo, njo)

    def run(self):
        w, s, tag = self.w, self.s, self.tag
        w("\n/* ---- OCSF %s ---- */\n" % s["version"])
        objs = [self.object_init(o, s["objects"][o]) for o in self.objects]
        w("static const ocsf__dg_object_t %s_objects[] = {\n" % tag)
        for o in objs:
            w("    %s,\n" % o)
        w("};\n")
        classes = []
        for uid, c in sorted(s["classes"].items(), key=lambda kv: int(kv[0])):
            init = self.object_init(c["name"], c)
            classes.append("    {%d, %d, %s, %s, 0x%xu, %s},\n" % (
                int(uid), c["category_uid"], c_str(c["caption"]), c_str(c["category_name"]),
                self.mask(c.get("profiles")), init))
        w("static const ocsf__dg_class_t %s_classes[] = {\n%s};\n" % (tag, "".join(classes)))
        w("static const char *const %s_profiles[] = {%s};\n" % (
            tag, ", ".join(c_str(p) for p in self.profiles)))
        w("static const ocsf__dg_schema_t %s = {%s, %s_profiles, %d, %s_classes, %d, "
          "%s_objects, %d};\n" % (tag, c_str(s["version"]), tag, len(self.profiles), tag,
                                  len(classes), tag, len(objs)))


def main():
    out = sys.stdout
    out.write("/* Generated by schemas/gen_downgrade.py from %s. Do not edit. */\n"
              % " ".join(sys.argv[1:]))
    out.write('#include "ocsf/downgrade.h"\n')
    tags = []
    for path in sys.argv[1:]:
        s = json.load(open(path))
        if len(s["profiles"]) > 32:
            sys.exit("%s: more than 32 profiles" % path)
        tag = "dg_" + c_ident(s["version"])
        Gen(s, tag, out).run()
        tags.append(tag)
    out.write("\nconst ocsf__dg_schema_t *const ocsf__dg_schemas[] = {%s};\n"
              % ", ".join("&" + t for t in tags))
    out.write("const size_t ocsf__dg_nschemas = %d;\n" % len(tags))


if __name__ == "__main__":
    main()
