#!/usr/bin/env python3
"""Compile an ocsf-schema source tree into one JSON document (stdlib only).

Usage: compile.py [--no-extensions] SRC_DIR > compiled.json

SRC_DIR is a checkout of https://github.com/ocsf/ocsf-schema at a release tag
(version.json, categories.json, dictionary.json, events/, objects/, profiles/,
extensions/). The output has the layout of the OCSF project's schema compiler
(ocsf-schema-compiler, "compile_version 1" layout):

  version, categories, dictionary{attributes, types}, classes{name: ...},
  objects{name: ...}, profiles{name: ...}, extensions{name: ...}

with one addition: profiles keep their attribute names as a list
(profiles.<name>.attributes, as in ../shared/ocsf/schema-1.7.0.json).

What it does, in order:
  - reads the base schema; an attribute's "profile" becomes "profiles" ([p],
    or null meaning "not subject to a profile");
  - reads the platform extensions under SRC_DIR/extensions (linux, windows,
    macos, ...) unless --no-extensions: their classes/objects are added (marked
    with extension / extension_id), files that only "extends" a base item are
    patches of that item, their dictionary attributes and types, categories
    (uid = extension uid * 100 + uid) and profiles ("<ext>/<name>") are merged;
  - resolves "$include": at the attributes level (profiles and other files:
    the item's own attribute details win over the included ones; a profile's
    attributes get "profiles": [name] and its annotations) and inside one
    attribute (deep merge, the attribute's details win);
  - dictionary attributes whose type is not a dictionary type become
    type object_t + object_type;
  - applies extension patches, then "extends" inheritance (child attribute
    details win; profiles lists are merged; profiles: null clears them;
    a requirement set by two profiles takes the stronger one); classes without
    a uid (abstract: system, findings, ...) and objects named _* are dropped;
  - class uid = (extension uid * 100 + category uid) * 1000 + class uid,
    category_uid / category_name, class_uid enum, type_uid enum
    (class_uid * 100 + activity_id, caption "Class: Activity", plus 0 Unknown);
  - the observable object's type_id enum gets the ids declared with
    "observable" on dictionary types and attributes, objects, class and object
    attributes and class "observables";
  - profiles of classes and objects include the profiles of every object they
    can contain; when the schema has the datetime profile and datetime_t type,
    every timestamp_t attribute gets a <name>_dt sibling (datetime_t, profile
    datetime, optional), in the dictionary too;
  - attributes without a requirement get "optional"; finally every class and
    object attribute is the dictionary attribute deep-merged with the
    class/object's own details (class/object details win; enums merge).
"@deprecated" markers are carried through untouched and otherwise ignored.
"""
import copy
import json
import os
import sys

RANK = {None: 0, "optional": 1, "recommended": 2, "required": 3}
UNRANK = {v: k for k, v in RANK.items()}


class SchemaError(Exception):
    pass


def load(path):
    with open(path, encoding="utf-8") as f:
        v = json.load(f)
    if not isinstance(v, dict):
        raise SchemaError(f"{path}: not a JSON object")
    return v


def deep_merge(dest, src):
    """Merge src into dest in place: dicts recursively, anything else replaced."""
    for k, v in src.items():
        if k in dest and isinstance(dest[k], dict) and isinstance(v, dict):
            deep_merge(dest[k], v)
        else:
            dest[k] = v


def json_files(top):
    out = []
    for d, dirs, files in os.walk(top):
        dirs.sort()
        for f in sorted(files):
            if f.endswith(".json"):
                out.append(os.path.join(d, f))
    return out


def profile_to_profiles(item):
    for name, attr in (item.get("attributes") or {}).items():
        if isinstance(attr, dict) and "profile" in attr:
            p = attr.pop("profile")
            attr["profiles"] = None if p is None else [p]


def read_items(top, patchable=False):
    """Items of a folder (events/, objects/, profiles/) keyed by name; with
    patchable, also the patches (no name, or name == extends) keyed by extends."""
    items, patches = {}, {}
    for path in json_files(top):
        obj = load(path)
        name, ext = obj.get("name"), obj.get("extends")
        if patchable and ext and (not name or name == ext):
            if ext in patches:
                raise SchemaError(f"{path}: second patch of {ext}")
            patches[ext] = obj
        elif not name:
            raise SchemaError(f"{path}: no name")
        elif name in items:
            raise SchemaError(f"{path}: duplicate name {name}")
        else:
            items[name] = obj
        obj["__path__"] = path
    return items, patches


class Extension:
    def __init__(self, path, version):
        self.path = path
        info = load(os.path.join(path, "extension.json"))
        self.uid, self.name = info["uid"], info["name"]
        self.info = {
            "uid": self.uid,
            "name": self.name,
            "platform_extension?": True,
            "caption": info.get("caption"),
            "description": info.get("description"),
            "version": info.get("version", version),
        }
        cat = os.path.join(path, "categories.json")
        self.categories = load(cat) if os.path.isfile(cat) else {}
        self.classes, self.class_patches = read_items(os.path.join(path, "events"), True)
        self.objects, self.object_patches = read_items(os.path.join(path, "objects"), True)
        dic = os.path.join(path, "dictionary.json")
        self.dictionary = load(dic) if os.path.isfile(dic) else {}
        self.profiles, _ = read_items(os.path.join(path, "profiles"))
        mark = {"extension": self.name, "extension_id": self.uid}
        for c in self.categories.setdefault("attributes", {}).values():
            c["uid"] = self.uid * 100 + c["uid"]
            c.update(mark)
        for group in (self.classes, self.class_patches, self.objects, self.object_patches, self.profiles):
            for item in group.values():
                item.update(mark)
        for a in self.dictionary.setdefault("attributes", {}).values():
            a.update(mark)
        for t in self.dictionary.setdefault("types", {}).setdefault("attributes", {}).values():
            t.update(mark)


class Compiler:
    def __init__(self, src, extensions=True):
        self.src = src
        self.use_extensions = extensions
        self.include_cache = {}
        self.observable_ids = {}

    # -- reading ---------------------------------------------------------------
    def read(self):
        src = self.src
        self.version = load(os.path.join(src, "version.json"))["version"]
        self.categories = load(os.path.join(src, "categories.json"))
        self.dictionary = load(os.path.join(src, "dictionary.json"))
        self.classes, _ = read_items(os.path.join(src, "events"))
        self.objects, _ = read_items(os.path.join(src, "objects"))
        self.profiles, _ = read_items(os.path.join(src, "profiles"))
        for group in (self.classes, self.objects):
            for item in group.values():
                profile_to_profiles(item)
        # Profile attribute names, before anything touches them.
        self.profile_attr_names = {n: list((p.get("attributes") or {}).keys()) for n, p in self.profiles.items()}
        for p in self.profiles.values():
            self.include_cache[os.path.abspath(p["__path__"])] = p
        base = lambda f: os.path.join(src, f)
        for item in list(self.classes.values()) + list(self.objects.values()):
            self.resolve_includes(item, base)

        self.extensions = []
        ext_root = os.path.join(src, "extensions")
        if self.use_extensions and os.path.isdir(ext_root):
            for d in sorted(os.listdir(ext_root)):
                if os.path.isfile(os.path.join(ext_root, d, "extension.json")):
                    self.extensions.append(Extension(os.path.join(ext_root, d), self.version))
        self.class_patches, self.object_patches = {}, {}
        self.ext_profiles = {}
        for ext in self.extensions:
            for group in (ext.classes, ext.class_patches, ext.objects, ext.object_patches, ext.profiles):
                for item in group.values():
                    profile_to_profiles(item)
            for n, p in ext.profiles.items():
                self.include_cache[os.path.abspath(p["__path__"])] = p

            def resolver(f, ext=ext):
                p = os.path.join(ext.path, f)
                return p if os.path.isfile(p) else os.path.join(self.src, f)

            for group in (ext.classes, ext.class_patches, ext.objects, ext.object_patches):
                for item in group.values():
                    self.resolve_includes(item, resolver)
            for group in (ext.classes, ext.class_patches, ext.objects, ext.object_patches):
                for item in group.values():
                    self.scope_ext_profiles(ext, item)
        for ext in self.extensions:
            self.merge_ext_attributes(self.categories, ext.categories)
            for name, item in ext.classes.items():
                if name in self.classes:
                    raise SchemaError(f"extension {ext.name} class {name} collides")
                self.classes[name] = item
            for name, item in ext.objects.items():
                if name in self.objects:
                    raise SchemaError(f"extension {ext.name} object {name} collides")
                self.objects[name] = item
            self.merge_ext_attributes(self.dictionary, ext.dictionary)
            for name, p in ext.profiles.items():
                key = f"{ext.name}/{name}"
                self.ext_profiles[key] = p
                self.profile_attr_names[key] = list((p.get("attributes") or {}).keys())
            for name, p in ext.class_patches.items():
                self.class_patches.setdefault(name, []).append(p)
            for name, p in ext.object_patches.items():
                self.object_patches.setdefault(name, []).append(p)

    def scope_ext_profiles(self, ext, item):
        def fix(p):
            return f"{ext.name}/{p}" if p and "/" not in p and p in ext.profiles else p

        if item.get("profiles"):
            item["profiles"] = [fix(p) for p in item["profiles"]]
        for attr in (item.get("attributes") or {}).values():
            if isinstance(attr, dict) and attr.get("profiles"):
                attr["profiles"] = [fix(p) for p in attr["profiles"]]

    def merge_ext_attributes(self, base, ext_part):
        battrs = base.setdefault("attributes", {})
        for name, attr in (ext_part.get("attributes") or {}).items():
            if name in battrs and battrs[name]:
                deep_merge(battrs[name], attr)
            else:
                battrs[name] = attr
        if "types" in ext_part:
            btypes = base.setdefault("types", {}).setdefault("attributes", {})
            for name, t in ext_part["types"].get("attributes", {}).items():
                if name in btypes:
                    raise SchemaError(f"extension type {name} redefines a type")
                btypes[name] = t

    # -- $include ----------------------------------------------------------------
    def include(self, path):
        key = os.path.abspath(path)
        if key not in self.include_cache:
            self.include_cache[key] = load(path)
        return self.include_cache[key]

    def resolve_includes(self, item, resolver):
        attrs = item.setdefault("attributes", {})
        if "$include" in attrs:
            inc = attrs.pop("$include")
            for f in [inc] if isinstance(inc, str) else inc:
                src = self.include(resolver(f))
                merged = copy.deepcopy(src.get("attributes") or {})
                for a in merged.values():
                    a.pop("__path__", None)
                if src.get("meta") == "profile":
                    for a in merged.values():
                        a["profiles"] = [src["name"]]
                for k, v in (src.get("annotations") or {}).items():
                    for a in merged.values():
                        a.setdefault(k, v)
                self.merge_attributes(merged, item["attributes"])
                item["attributes"] = merged
        attrs = item["attributes"]
        for name, attr in list(attrs.items()):
            if isinstance(attr, dict) and "$include" in attr:
                f = attr.pop("$include")
                new = copy.deepcopy(self.include(resolver(f)))
                new.pop("__path__", None)
                deep_merge(new, attr)
                attrs[name] = new

    # -- merging -----------------------------------------------------------------
    @staticmethod
    def merge_attribute(dest, src):
        for k, v in src.items():
            if k not in dest:
                dest[k] = v
            elif dest[k] == v:
                continue
            elif k == "profiles":
                dest[k] = None if v is None else sorted(set(dest[k] or []) | set(v))
            elif k == "requirement" and src.get("profiles") is not None and "profiles" in dest:
                dest[k] = UNRANK[max(RANK[dest[k]], RANK[v])]
            elif isinstance(dest[k], dict) and isinstance(v, dict):
                deep_merge(dest[k], v)
            else:
                dest[k] = v

    def merge_attributes(self, dest, src):
        for name, attr in src.items():
            if name in dest:
                self.merge_attribute(dest[name], attr)
            else:
                dest[name] = attr

    @staticmethod
    def merge_profiles(dest, src):
        merged = set(dest.get("profiles") or []) | set(src.get("profiles") or [])
        if merged:
            dest["profiles"] = sorted(merged)

    def apply_patches(self, items, patches):
        for name, plist in patches.items():
            if name not in items:
                raise SchemaError(f"patch of undefined {name}")
            base = items[name]
            for p in plist:
                self.merge_profiles(base, p)
                self.merge_attributes(base.setdefault("attributes", {}), p.setdefault("attributes", {}))
                for k in ("observable", "observables", "references", "associations"):
                    if p.get(k) is not None:
                        base[k] = p[k]
                if "constraints" in p:
                    if p["constraints"]:
                        base["constraints"] = p["constraints"]
                    else:
                        base.pop("constraints", None)

    def resolve_extends(self, items):
        done = set()

        def resolve(name, stack=()):
            if name in done or name not in items:
                return
            if name in stack:
                raise SchemaError(f"extends cycle at {name}")
            item = items[name]
            parent = item.get("extends")
            if parent:
                if parent not in items:
                    raise SchemaError(f"{name} extends undefined {parent}")
                resolve(parent, stack + (name,))
                new = copy.deepcopy(items[parent])
                for k, v in item.items():
                    if k == "attributes":
                        attrs = new.get("attributes", {})
                        self.merge_attributes(attrs, v)
                        new["attributes"] = attrs
                    elif k == "profiles":
                        self.merge_profiles(new, item)
                    else:
                        new[k] = v
                items[name] = new
            done.add(name)

        for name in list(items):
            resolve(name)

    # -- observables ----------------------------------------------------------------
    def caption_of(self, items, name, item):
        seen = 0
        while item is not None and seen < 32:
            if "caption" in item:
                return item["caption"], item.get("description", item["caption"])
            item = items.get(item.get("extends"))
            seen += 1
        return name, name

    def add_observable(self, type_id, caption, description, kind):
        key = str(type_id)
        if key in self.observable_ids:
            raise SchemaError(f"observable type_id {key} collision: {caption} / {self.observable_ids[key]['caption']}")
        self.observable_ids[key] = {"caption": caption, "description": f"Observable by {kind}.<br>{description}"}

    def observables_from(self, items, patches, kind):
        def one(name, item, caption):
            if kind == "Object" and "observable" in item:
                cap, desc = self.caption_of(items, name, item)
                self.add_observable(item["observable"], cap, desc, "Object")
            for aname, attr in (item.get("attributes") or {}).items():
                if isinstance(attr, dict) and "observable" in attr:
                    self.add_observable(attr["observable"], f"{caption} {kind}: {aname}",
                                        f'{kind}-specific attribute "{aname}" for the {caption} {kind}.',
                                        f"{kind}-Specific Attribute")
            if kind == "Class":
                for path, tid in (item.get("observables") or {}).items():
                    self.add_observable(tid, f"{caption} {kind}: {path}",
                                        f'{kind}-specific attribute "{path}" for the {caption} {kind}.',
                                        f"{kind}-Specific Attribute")

        for name, item in items.items():
            one(name, item, self.caption_of(items, name, item)[0])
        for name, plist in patches.items():
            for p in plist:
                base = items.get(name, {})
                one(name, p, self.caption_of(items, name, base)[0])

    # -- classes -----------------------------------------------------------------
    def enrich_classes(self):
        cats = self.categories.setdefault("attributes", {})
        for name, cls in self.classes.items():
            cat = cats.get(cls.get("category"))
            cat_uid = cat.get("uid", 0) if cat else 0
            if cat:
                cls["category_name"] = cat.get("caption")
            if "extension_id" in cls:
                cat_uid_scoped = cls["extension_id"] * 100 + cat_uid
            else:
                cat_uid_scoped = cat_uid
            uid = cat_uid_scoped * 1000 + cls.get("uid", 0)
            cls["uid"] = uid
            attrs = cls.setdefault("attributes", {})
            caption = cls.get("caption", "UNKNOWN")
            act = attrs.get("activity_id", {}).get("enum")
            if act is None:
                raise SchemaError(f"class {name}: activity_id has no enum")
            tenum = {}
            for k, v in act.items():
                e = copy.deepcopy(v)
                e["caption"] = f"{caption}: {v.get('caption', '<unknown>')}"
                tenum[str(uid * 100 + int(k))] = e
            tenum[str(uid * 100)] = {"caption": f"{caption}: Unknown"}
            attrs.setdefault("type_uid", {})["enum"] = tenum
            attrs.setdefault("class_uid", {})["enum"] = {
                str(uid): {"caption": caption, "description": cls.get("description", "")}
            }
            attrs.setdefault("class_name", {})["description"] = (
                f"The event class name, as defined by class_uid value: <code>{caption}</code>."
            )
            if cat:
                cls["category_uid"] = cat_uid
                attrs.setdefault("category_uid", {})["enum"] = {str(cat_uid): copy.deepcopy(cat)}
                attrs.setdefault("category_name", {})["description"] = (
                    f"The event category name, as defined by category_uid value: <code>{cat.get('caption', '')}</code>."
                )
            elif cls.get("category") == "other":
                cls["category_uid"] = 0
            else:
                raise SchemaError(f"class {name}: undefined category {cls.get('category')!r}")

    # -- dictionary ----------------------------------------------------------------
    def dictionary_object_types(self):
        types = self.dictionary.setdefault("types", {}).setdefault("attributes", {})
        for name, attr in self.dictionary.setdefault("attributes", {}).items():
            t = attr.get("type")
            if t not in types:
                if t not in self.objects:
                    raise SchemaError(f"dictionary attribute {name}: undefined type/object {t!r}")
                attr["type"] = "object_t"
                attr["object_type"] = t

    def has_datetime(self):
        return "datetime" in self.profiles and "datetime_t" in self.dictionary["types"]["attributes"]

    def enrich_dictionary(self):
        types = self.dictionary["types"]["attributes"]
        attrs = self.dictionary["attributes"]
        for name, attr in attrs.items():
            if attr["type"] == "object_t":
                attr["object_name"] = self.objects[attr["object_type"]].get("caption", "")
            elif attr["type"] in types:
                attr["type_name"] = types[attr["type"]].get("caption", "")
            else:
                raise SchemaError(f"dictionary attribute {name}: undefined type {attr['type']!r}")
        if self.has_datetime() and "timestamp_t" in types:
            add = {}
            for name, attr in attrs.items():
                if attr.get("type") == "timestamp_t":
                    sib = copy.deepcopy(attr)
                    sib["type"] = "datetime_t"
                    sib["type_name"] = "Datetime"
                    add[name + "_dt"] = sib
            attrs.update(add)
        for group, kind in ((types, "Dictionary Type"), (attrs, "Dictionary Attribute")):
            for name, d in group.items():
                if "observable" in d:
                    self.add_observable(d["observable"], d.get("caption", ""), d.get("description", ""), kind)

    # -- profiles of classes / objects ------------------------------------------------
    def object_type_of(self, name):
        d = self.dictionary["attributes"].get(name)
        if d is None:
            raise SchemaError(f"attribute {name} is not in the dictionary")
        return d.get("object_type")

    def gather(self, obj_name, acc):
        if obj_name in acc:
            return
        if obj_name not in self.objects:
            raise SchemaError(f"object {obj_name} is not defined")
        obj = self.objects[obj_name]
        acc[obj_name] = obj.get("profiles")
        for aname in obj.setdefault("attributes", {}):
            ot = self.object_type_of(aname)
            if ot:
                self.gather(ot, acc)

    def consolidate(self, items, is_class):
        for name, item in items.items():
            acc = {}
            if is_class:
                if "profiles" in item:
                    acc["class:" + name] = item["profiles"]
                for aname in item.setdefault("attributes", {}):
                    ot = self.object_type_of(aname)
                    if ot:
                        self.gather(ot, acc)
            else:
                self.gather(name, acc)
            allp = set()
            for v in acc.values():
                allp.update(v or [])
            if allp:
                item["profiles"] = sorted(allp)

    def add_datetime(self, items):
        if not self.has_datetime():
            return
        dattrs = self.dictionary["attributes"]
        for name, item in items.items():
            attrs = item.setdefault("attributes", {})
            add = {}
            for aname, attr in attrs.items():
                t = attr["type"] if "type" in attr else dattrs.get(aname, {}).get("type")
                if t == "timestamp_t":
                    dt = copy.deepcopy(attr)
                    dt["profiles"] = ["datetime"]
                    dt["requirement"] = "optional"
                    add[aname + "_dt"] = dt
            if add:
                attrs.update(add)
                profiles = item.setdefault("profiles", [])
                if "datetime" not in profiles:
                    profiles.append("datetime")
                    profiles.sort()

    def finish(self, items):
        dattrs = self.dictionary["attributes"]
        for name, item in items.items():
            new = {}
            for aname, attr in item.setdefault("attributes", {}).items():
                if attr.get("requirement") is None:
                    attr["requirement"] = "optional"
                if aname not in dattrs:
                    raise SchemaError(f"{name}.{aname} is not a dictionary attribute")
                a = copy.deepcopy(dattrs[aname])
                deep_merge(a, attr)
                new[aname] = a
            item["attributes"] = new

    # -- all ---------------------------------------------------------------------------
    def compile(self):
        self.read()
        self.dictionary_object_types()

        self.observables_from(self.classes, self.class_patches, "Class")
        self.apply_patches(self.classes, self.class_patches)
        self.resolve_extends(self.classes)
        self.classes = {n: c for n, c in self.classes.items() if n == "base_event" or "uid" in c}
        self.enrich_classes()

        self.observables_from(self.objects, self.object_patches, "Object")
        self.apply_patches(self.objects, self.object_patches)
        self.resolve_extends(self.objects)
        self.objects = {n: o for n, o in self.objects.items() if not n.startswith("_")}

        self.enrich_dictionary()
        if "observable" in self.objects:
            enum = self.objects["observable"].setdefault("attributes", {}).setdefault("type_id", {}).setdefault("enum", {})
            for k, v in self.observable_ids.items():
                if k in enum:
                    raise SchemaError(f"observable type_id {k} defined twice")
                enum[k] = v

        self.consolidate(self.objects, False)
        self.add_datetime(self.objects)
        self.consolidate(self.classes, True)
        self.add_datetime(self.classes)
        self.finish(self.classes)
        self.finish(self.objects)

        profiles = {}
        for name, p in list(self.profiles.items()) + list(self.ext_profiles.items()):
            q = {k: v for k, v in p.items() if k != "attributes"}
            q["attributes"] = self.profile_attr_names[name]
            profiles[name] = q
        out = {
            "version": self.version,
            "categories": self.categories,
            "dictionary": self.dictionary,
            "classes": self.classes,
            "objects": self.objects,
            "profiles": profiles,
            "extensions": {e.name: e.info for e in self.extensions},
            # The output layout is the OCSF schema compiler's layout number 1.
            "compile_version": 1,
        }
        return strip_paths(out)


def strip_paths(v):
    if isinstance(v, dict):
        return {k: strip_paths(x) for k, x in v.items() if k != "__path__"}
    if isinstance(v, list):
        return [strip_paths(x) for x in v]
    return v


def main(argv):
    ext = True
    args = []
    for a in argv:
        if a == "--no-extensions":
            ext = False
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
        else:
            args.append(a)
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        out = Compiler(args[0], ext).compile()
    except (SchemaError, OSError, KeyError, ValueError) as e:
        print(f"compile.py: {e}", file=sys.stderr)
        return 1
    json.dump(out, sys.stdout, sort_keys=True, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
