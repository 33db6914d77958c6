"""End-to-end tests of `tollgate ocsf downgrade --to VERSION` (OCSF 1.3.0 / 1.1.0)."""
import json
import subprocess
import sys

import pytest

from conftest import SHARED

VALIDATE_PY = SHARED / "ocsf" / "validate.py"
TARGETS = ["1.3.0", "1.1.0"]
FILLED = "tollgate.downgrade.filled"


def sample_lines(tg):
    r = tg("ocsf", "samples")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert len(lines) >= 15
    return lines


def downgrade(tg, version, lines):
    r = tg("ocsf", "downgrade", "--to", version, stdin="\n".join(lines).encode() + b"\n")
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode().splitlines()
    assert len(out) == len(lines)
    return out


@pytest.mark.skipif(not VALIDATE_PY.exists(), reason="../shared/ocsf absent (see README)")
@pytest.mark.parametrize("version", TARGETS)
def test_samples_validate_as_target(tg, version):
    """`tollgate ocsf samples | tollgate ocsf downgrade --to V` passes the
    reference validator for V, warnings counted as failures."""
    lines = sample_lines(tg)
    out = downgrade(tg, version, lines)
    r = subprocess.run([sys.executable, str(VALIDATE_PY), "--schema", version, "--warnings-fail"],
                       input="\n".join(out).encode() + b"\n", capture_output=True)
    text = r.stdout.decode()
    assert r.returncode == 0, text
    assert text.strip().splitlines()[-1] == f"{len(lines)} passed, 0 failed"


@pytest.mark.skipif(not VALIDATE_PY.exists(), reason="../shared/ocsf absent (see README)")
@pytest.mark.parametrize("version", TARGETS)
def test_samples_as_is_fail_the_target(tg, version):
    """The validator does reject 1.7.0 events as V (the test above means something)."""
    lines = sample_lines(tg)
    r = subprocess.run([sys.executable, str(VALIDATE_PY), "--schema", version, "--warnings-fail"],
                       input="\n".join(lines).encode() + b"\n", capture_output=True)
    assert r.returncode != 0


def leaves(v, path=""):
    if isinstance(v, dict):
        for k, x in v.items():
            yield from leaves(x, f"{path}.{k}" if path else k)
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from leaves(x, f"{path}[{i}]")
    else:
        yield path, v


def lookup(ev, unmapped, path):
    """The value at `path` in ev, else under unmapped[prefix] + rest."""
    import re
    parts = re.findall(r"[^.\[\]]+|\[\d+\]", path)
    for cut in range(len(parts), 0, -1):
        key = ".".join(parts[:cut]).replace(".[", "[")
        if key in unmapped:
            node = unmapped[key]
            for p in parts[cut:]:
                node = node[int(p[1:-1])] if p.startswith("[") else node[p]
            return node
    node = ev
    for p in parts:
        node = node[int(p[1:-1])] if p.startswith("[") else node[p]
    return node


@pytest.mark.parametrize("version", TARGETS)
def test_nothing_lost(tg, version):
    lines = sample_lines(tg)
    for orig, got in zip(lines, downgrade(tg, version, lines)):
        o, g = json.loads(orig), json.loads(got)
        assert g["metadata"]["version"] == version
        um = g.get("unmapped", {})
        for path, val in leaves(o):
            assert lookup(g, um, path) == val, path


def test_listen_is_other_in_110(tg):
    lines = [l for l in sample_lines(tg) if json.loads(l).get("activity_id") == 7]
    assert lines
    ev = json.loads(downgrade(tg, "1.1.0", lines)[0])
    assert (ev["activity_id"], ev["activity_name"], ev["type_uid"]) == (99, "Listen", 400199)
    assert ev["unmapped"]["activity_id"] == 7


def test_identity_170(tg):
    lines = sample_lines(tg)
    assert downgrade(tg, "1.7.0", lines) == lines


def test_bad_lines_reported_with_line_number(tg):
    lines = sample_lines(tg)[:2]
    stdin = (lines[0] + "\nnot json\n\n" + '{"class_uid":4001,"metadata":{},"unmapped":1}\n'
             + lines[1] + "\n")
    r = tg("ocsf", "downgrade", "--to", "1.3.0", stdin=stdin.encode())
    assert r.returncode == 1
    err = r.stderr.decode()
    assert "line 2:" in err and "line 4:" in err and "line 1:" not in err
    assert len(r.stdout.decode().splitlines()) == 2


def test_usage_errors(tg):
    assert tg("ocsf", "downgrade").returncode == 2
    r = tg("ocsf", "downgrade", "--to", "1.2.0")
    assert r.returncode == 2 and b"not a bundled OCSF version" in r.stderr
    assert tg("ocsf", "cast", "--to", "1.8.0", stdin=b"").returncode == 0
    r = tg("ocsf", "downgrade", "--to", "\x1b[31m")
    assert r.returncode == 2 and b"\x1b" not in r.stderr
    assert tg("ocsf", "downgrade", "--bogus").returncode == 2
