"""OpenShell compatibility of policies and provider profiles (issue 16).

The fixture folder tests/fixtures/openshell-policies/ holds OpenShell policy
documents taken from its repository at a pinned commit (index.json: the
commit, each document's source path and line, OpenShell's verdict and its
basis, tollgate's verdict). `tollgate policy check` must give each one the
recorded verdict, and the pair must be one of:

  accept / accept            the same
  refuse / refuse            the same (tollgate may refuse by name)
  accept / unsupported       OpenShell accepts, tollgate refuses by name a key
                             it does not enforce ("not supported by tollgate yet")

Never accept / refuse (tollgate refusing what OpenShell takes for another
reason) and never refuse / accept (a hole)."""
import json
import os
import pathlib
import re
import subprocess
import urllib.parse

import pytest

from conftest import ROOT

FIX = ROOT / "tests" / "fixtures" / "openshell-policies"
INDEX = json.loads((FIX / "index.json").read_text())
DOCS = INDEX["documents"]
ALLOWED_PAIRS = {("accept", "accept"), ("refuse", "refuse"), ("refuse", "unsupported"),
                 ("accept", "unsupported")}
UNSUPPORTED = re.compile(r"(: |is )not supported by tollgate yet")


def check(tollgate_bin, path, profile=False, cwd=None):
    args = [tollgate_bin, "policy", "check"] + (["--profile"] if profile else []) + [str(path)]
    return subprocess.run(args, capture_output=True, timeout=30, cwd=cwd)


def verdict(r):
    """accept, unsupported (refused by name) or refuse; and the first error line."""
    errors = [l for l in r.stderr.decode().splitlines() if ": warning: " not in l]
    if r.returncode == 0:
        assert not errors, errors
        return "accept", ""
    assert r.returncode == 1 and errors, r
    return ("unsupported" if UNSUPPORTED.search(errors[0]) else "refuse"), errors[0]


def test_index_covers_the_folder():
    files = {p.name for p in FIX.glob("*.yaml")}
    listed = [d["file"] for d in DOCS]
    assert sorted(listed) == sorted(files)
    assert re.fullmatch(r"[0-9a-f]{40}", INDEX["openshell_commit"])
    for d in DOCS:
        assert d["openshell"] in ("accept", "refuse") and d["basis"] and d["source"], d
        assert (d["openshell"], d["tollgate"]) in ALLOWED_PAIRS, d


@pytest.mark.parametrize("doc", DOCS, ids=[d["file"] for d in DOCS])
def test_openshell_document_verdict(tollgate_bin, doc):
    r = check(tollgate_bin, doc["file"], profile=doc["kind"] == "profile", cwd=FIX)
    got, err = verdict(r)
    assert got == doc["tollgate"], (doc, err)
    if got != "accept":
        # the error names the file, the line and the key
        assert re.match(r"tollgate policy check: " + re.escape(doc["file"][:60]), err), err
        assert doc["tollgate_error"] in err, (doc["tollgate_error"], err)


def test_verdict_counts():
    """No document OpenShell refuses is accepted; every document OpenShell
    accepts is accepted or refused only by name (the README's table)."""
    pairs = {}
    for d in DOCS:
        key = (d["openshell"], d["tollgate"])
        pairs[key] = pairs.get(key, 0) + 1
    assert ("refuse", "accept") not in pairs and ("accept", "refuse") not in pairs
    assert sum(pairs.values()) == len(DOCS) >= 90


def test_policy_check_cli(tollgate_bin, tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("version: 1\nnetwork_policies:\n  s3:\n    endpoints:\n"
                    "      - {host: '*.s3.*.amazonaws.com', port: 443}\n"
                    "      - {host: 'API-*.Example.com', ports: [443, 8443]}\n"
                    "    binaries:\n      - {path: /usr//bin/./curl, harness: true}\n")
    r = check(tollgate_bin, good)
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert 'host: "*.s3.*.amazonaws.com"' in out and 'host: "api-*.example.com"' in out
    assert "path: /usr/bin/curl" in out  # normalised
    assert b"harness: deprecated and ignored" in r.stderr
    r = subprocess.run([tollgate_bin, "policy", "check", "--json", str(good)],
                       capture_output=True)
    assert json.loads(r.stdout)["network_policies"]["s3"]["endpoints"][1]["ports"] == [443, 8443]
    cases = [
        ("network_polices:\n  x: {}\n", "2: network_polices: unknown key"),
        ("network_policies:\n  x:\n    binaries: [{path: /usr/../usr/bin/curl}]\n",
         "4: network_policies.x.binaries[0]: '..' in binary path"),
        ("network_policies:\n  x:\n    endpoints: [{host: '*.github.com:443', port: 443}]\n",
         "4: network_policies.x.endpoints[0].host: host '*.github.com:443': a host has no port"),
        ("process: {run_as_user: root}\n", "2: process.run_as_user: run_as_user must be"),
        ("network_policies:\n  x:\n    endpoints: [{host: a.com, port: 443, allowed_ips: "
         "[169.254.169.254]}]\n", "allowed_ips[0]: '169.254.169.254': falls within"),
        ("network_policies:\n  _provider_x: {}\n", "keys starting with '_provider_' are reserved"),
    ]
    for body, want in cases:
        bad = tmp_path / "bad.yaml"
        bad.write_text("version: 1\n" + body)
        r = check(tollgate_bin, bad)
        assert r.returncode == 1 and want.encode() in r.stderr, (body, r.stderr)
        assert r.stdout == b""
    r = check(tollgate_bin, tmp_path / "missing.yaml")
    assert r.returncode == 1 and b"missing.yaml" in r.stderr
    r = subprocess.run([tollgate_bin, "policy", "check"], capture_output=True)
    assert r.returncode == 2


SHIPPED = sorted(p.stem for p in (ROOT / "providers").glob("*.yaml"))
OPENSHELL_PROFILES = sorted(d["file"][len("profile-"):-len(".yaml")] for d in DOCS
                            if d["kind"] == "profile")


def test_every_openshell_profile_is_shipped(tollgate_bin):
    assert SHIPPED == OPENSHELL_PROFILES and len(SHIPPED) == 13
    for pid in SHIPPED:
        r = check(tollgate_bin, ROOT / "providers" / f"{pid}.yaml", profile=True)
        assert r.returncode == 0, r.stderr
        # same endpoints, binaries and access as OpenShell's, except the parts a
        # tollgate profile leaves out by name (credential signing, GraphQL)
        ours = check(tollgate_bin, ROOT / "providers" / f"{pid}.yaml", profile=True).stdout
        theirs = check(tollgate_bin, FIX / f"profile-{pid}.yaml", profile=True)
        if theirs.returncode == 0:
            assert ours == theirs.stdout, pid
    for pid, why in (("aws-s3", b"credential_signing"), ("copilot",
                     b"allow_uninspected_credentials"), ("github", b"protocol graphql")):
        r = check(tollgate_bin, FIX / f"profile-{pid}.yaml", profile=True)
        assert r.returncode == 1 and why in r.stderr and b"not supported by tollgate yet" in \
            r.stderr, r.stderr


def cli(tollgate_bin, g, *args):
    env = dict(os.environ, TOLLGATE_STATE=g.state, TOLLGATE_GATEWAY=g.url)
    return subprocess.run([tollgate_bin, *args], capture_output=True, env=env, timeout=60)


def decide(g, name, host, port, *exes):
    q = urllib.parse.urlencode([("host", host), ("port", port)] + [("exe", e) for e in exes])
    status, data = g.request("GET", f"/v1/sandboxes/{name}/decide?{q}")
    assert status == 200, data
    return json.loads(data)


def test_profiles_compose_as_layers(gateway, tollgate_bin):
    g = gateway()
    args = ["sandbox", "create", "--name", "many"]
    for pid in ("codex", "github", "aws-s3", "google-vertex-ai", "pypi", "claude-code"):
        args += ["--provider", pid]
    r = cli(tollgate_bin, g, *args)
    assert r.returncode == 0, r.stderr
    # middle-label and in-label wildcards of the profiles decide as in OpenShell
    d = decide(g, "many", "bucket.s3.eu-west-1.amazonaws.com", 443, "/usr/bin/curl")
    assert d["allowed"] and d["rule"] == "_provider_aws_s3", d
    d = decide(g, "many", "a.b.s3.eu-west-1.amazonaws.com", 443, "/usr/bin/curl")
    assert not d["allowed"]
    # a profile without binaries allows no binary; the layer is named after the instance
    d = decide(g, "many", "us-central1-aiplatform.googleapis.com", 443, "/usr/bin/curl")
    assert d["reason"].startswith("binary '/usr/bin/curl' not allowed in policy "
                                  "'_provider_google_vertex_ai'"), d
    d = decide(g, "many", "api.github.com", 443, "/usr/bin/gh")
    assert d["allowed"] and d["rule"] == "_provider_github", d
    d = decide(g, "many", "api.anthropic.com", 443, "/usr/local/bin/claude")
    assert d["allowed"] and d["rule"] == "_provider_claude_code", d
    d = decide(g, "many", "files.pythonhosted.org", 443, "/sandbox/.uv/python/3.12/bin/python")
    assert d["allowed"] and d["rule"] == "_provider_pypi", d
    r = cli(tollgate_bin, g, "policy", "get", "many", "--full")
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert "# layer: _provider_aws_s3 (profile: aws-s3)" in out
    assert "# layer: _provider_codex (profile: codex)" in out
    # user documents cannot take a provider layer's key
    r = cli(tollgate_bin, g, "policy", "update", "many", "--rule-name", "_provider_codex",
            "--add-endpoint", "x.example.com:443")
    assert r.returncode == 1
