"""End-to-end tests of sandboxes and policies: `tollgate sandbox`, `tollgate
policy`, the /v1/sandboxes API, their CONFIG and LIFECYCLE events."""
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse

import pytest

from conftest import settle, SHARED

VALIDATE_PY = SHARED / "ocsf" / "validate.py"

POLICY = """\
version: 1
network_policies:
  github_api:
    name: GitHub API
    endpoints:
      - host: api.github.com
        port: 443
        protocol: rest
        access: read-only
        enforcement: enforce
    binaries:
      - path: /usr/bin/curl
filesystem_policy:
  read_only: [/usr]
"""


def cli(tollgate_bin, g, *args, timeout=60):
    env = dict(os.environ, TOLLGATE_STATE=g.state, TOLLGATE_GATEWAY=g.url)
    return subprocess.run([tollgate_bin, *args], capture_output=True, env=env, timeout=timeout)


def decide(g, name, host, port, *exes):
    q = urllib.parse.urlencode([("host", host), ("port", port)] + [("exe", e) for e in exes])
    status, data = g.request("GET", f"/v1/sandboxes/{name}/decide?{q}")
    assert status == 200, data
    return json.loads(data)


def events(g, query):
    settle(g)
    status, data = g.request("GET", "/v1/logs?format=json&limit=0&" + query)
    assert status == 200
    return [json.loads(l) for l in data.decode().splitlines()]


def test_default_sandbox_allows_nothing(gateway, tollgate_bin):
    g = gateway()
    r = cli(tollgate_bin, g, "sandbox", "list")
    assert r.returncode == 0 and r.stdout.startswith(b"default "), r.stdout
    d = decide(g, "default", "api.github.com", 443, "/usr/bin/curl")
    assert not d["allowed"]
    assert d["reason"] == "network connections not allowed by policy"


def test_codex_scenario_provider_layer_survives_updates(gateway, tollgate_bin):
    g = gateway()
    r = cli(tollgate_bin, g, "sandbox", "create", "--name", "agent", "--provider", "codex")
    assert r.returncode == 0, r.stderr
    r = cli(tollgate_bin, g, "policy", "update", "agent", "--add-endpoint",
            "registry.npmjs.org:443:read-write:rest:enforce", "--binary", "/usr/bin/node",
            "--wait")
    assert r.returncode == 0, r.stderr
    assert b"no proxy of sandbox agent is running" in r.stderr
    r = cli(tollgate_bin, g, "policy", "get", "agent", "--full")
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    for host in ("api.openai.com", "auth.openai.com", "chatgpt.com", "ab.chatgpt.com",
                 "registry.npmjs.org"):
        assert host in out, host
    d = decide(g, "agent", "ab.chatgpt.com", 443, "/usr/local/bin/codex")
    assert d["allowed"] and d["rule"] == "_provider_codex", d
    d = decide(g, "agent", "registry.npmjs.org", 443, "/usr/bin/node")
    assert d["allowed"] and d["layer"] == "base", d
    d = decide(g, "agent", "registry.npmjs.org", 443, "/usr/bin/curl", "/bin/bash", "/sbin/init")
    assert not d["allowed"]
    assert d["reason"].startswith("binary '/usr/bin/curl' not allowed in policy 'allow_registry")
    assert "(ancestors: [/bin/bash -> /sbin/init])" in d["reason"]
    d = decide(g, "agent", "attacker.example.com", 443, "/usr/local/bin/codex")
    assert d["reason"] == "endpoint attacker.example.com:443 is not allowed by any policy"
    # the provider layer cannot be touched through the base
    r = cli(tollgate_bin, g, "policy", "update", "agent", "--remove-endpoint",
            "ab.chatgpt.com:443")
    assert r.returncode == 1
    d = decide(g, "agent", "ab.chatgpt.com", 443, "/usr/local/bin/codex")
    assert d["allowed"]


def test_versions_hashes_and_events(gateway, tollgate_bin, tmp_path):
    g = gateway()
    pol = tmp_path / "p.yaml"
    pol.write_text(POLICY)
    assert cli(tollgate_bin, g, "sandbox", "create", "--name", "web", "--policy",
               str(pol)).returncode == 0
    v1 = json.loads(g.request("GET", "/v1/sandboxes/web")[1])
    assert v1["version"] == 1
    # the same content reformatted: the same hash, so no new version
    pol.write_text("version: 1\nfilesystem_policy: {read_only: [/usr]}\nnetwork_policies:\n"
                   "  github_api:\n    binaries: [{path: /usr/bin/curl}]\n    name: GitHub API\n"
                   "    endpoints: [{port: 443, host: API.GitHub.com, enforcement: enforce,"
                   " access: read-only, protocol: rest}]\n")
    r = cli(tollgate_bin, g, "policy", "set", "web", "--policy", str(pol))
    assert r.returncode == 0 and b"policy unchanged" in r.stdout, r.stderr
    v2 = json.loads(g.request("GET", "/v1/sandboxes/web")[1])
    assert v2["version"] == 1 and v2["hash"] == v1["hash"]
    r = cli(tollgate_bin, g, "policy", "update", "web", "--add-endpoint", "pypi.org:443",
            "--binary", "/usr/bin/pip")
    assert r.returncode == 0, r.stderr
    v3 = json.loads(g.request("GET", "/v1/sandboxes/web")[1])
    assert v3["version"] == 2 and v3["hash"] != v2["hash"]
    # dry run: the diff, no new version
    r = cli(tollgate_bin, g, "policy", "update", "web", "--add-endpoint", "example.org:443",
            "--binary", "/usr/bin/curl", "--dry-run")
    assert r.returncode == 0 and b"+" in r.stdout and b"example.org" in r.stdout
    assert json.loads(g.request("GET", "/v1/sandboxes/web")[1])["version"] == 2
    # the log view shows each change as a CONFIG line
    r = cli(tollgate_bin, g, "logs", "web", "--class", "config", "-n", "10")
    lines = r.stdout.decode().splitlines()
    assert len(lines) == 2 and all("CONFIG:UPDATED [INFO]" in l for l in lines)
    assert "[version:2 hash:" + v3["hash"][:12] + "]" in lines[-1]  # the log view: 12 hex digits
    # brackets from the event's text are escaped in the human line
    assert "add-endpoint allow_pypi_org_443 endpoints=\\x5bpypi.org:443\\x5d" in lines[-1]
    evs = events(g, "sandbox=web")
    assert [e["class_uid"] for e in evs][:1] == [6002] and evs[0]["activity_name"] == "Create"


def test_broken_policy_is_refused_and_the_old_one_stays(gateway, tollgate_bin, tmp_path):
    g = gateway()
    pol = tmp_path / "bad.yaml"
    pol.write_text("version: 1\nnetwork_policies:\n  x:\n    endpoints:\n"
                   "      - hosst: a.example.com\n        port: 443\n")
    r = cli(tollgate_bin, g, "policy", "set", "default", "--policy", str(pol))
    assert r.returncode == 1
    assert f"{pol}:5".encode() in r.stderr and b"hosst" in r.stderr, r.stderr
    pol.write_text("version: 1\nnetwork_policies:\n  _provider_evil:\n    endpoints:\n"
                   "      - {host: a.example.com, port: 443}\n")
    r = cli(tollgate_bin, g, "policy", "set", "default", "--policy", str(pol))
    assert r.returncode == 1 and b"_provider_" in r.stderr
    pol.write_text("version: 1\nnetwork_policies:\n  x:\n    endpoints:\n"
                   "      - {host: '*.com', port: 443}\n")
    r = cli(tollgate_bin, g, "policy", "set", "default", "--policy", str(pol))
    assert r.returncode == 1
    assert json.loads(g.request("GET", "/v1/sandboxes/default")[1])["version"] == 1


def test_api_errors(gateway):
    g = gateway()
    for body, want in [(b"{", 400), (b"[]", 400), (b'{"name":"Bad_Name"}', 400),
                       (b'{"name":"ok","providers":["nope"]}', 400),
                       (b'{"name":"default"}', 409)]:
        status, data = g.request("POST", "/v1/sandboxes", body)
        assert status == want, (body, data)
        assert b"error" in data
    assert g.request("GET", "/v1/sandboxes/nosuch")[0] == 404
    assert g.request("GET", "/v1/sandboxes/nosuch/policy")[0] == 404
    assert g.request("PATCH", "/v1/sandboxes/default/policy", b'{"add_endpoints":["x"]}')[0] == 400
    status, _ = g.request("PATCH", "/v1/sandboxes/default/policy",
                          b'{"add_endpoints":["a.example.com:443"],"binaries":["/bin/x"],'
                          b'"if_version":7}')
    assert status == 409
    assert g.request("GET", "/v1/sandboxes/default/policy?view=weird")[0] == 400
    assert g.request("GET", "/v1/sandboxes", token=False)[0] == 401


def test_wait_follows_proxy_reports(gateway, tollgate_bin):
    g = gateway()
    # a proxy reports that it loaded version 1
    assert g.request("POST", "/v1/sandboxes/default/policy/status",
                     b'{"proxy":"p1","version":1,"status":"loaded"}')[0] == 200
    result = {}

    def run(host="a.example.com"):
        result["r"] = cli(tollgate_bin, g, "policy", "update", "default", "--add-endpoint",
                          host + ":443", "--binary", "/bin/x", "--wait", "--timeout", "20")
    t = threading.Thread(target=run)
    t.start()
    time.sleep(1.0)
    assert g.request("POST", "/v1/sandboxes/default/policy/status",
                     b'{"proxy":"p1","version":2,"status":"loaded"}')[0] == 200
    t.join(30)
    assert result["r"].returncode == 0, result["r"].stderr
    # a failed load: exit 1 with the error (a new endpoint: the same update
    # again would change nothing and make no version)
    t = threading.Thread(target=run, args=("c.example.com",))
    t.start()
    time.sleep(1.0)
    g.request("POST", "/v1/sandboxes/default/policy/status",
              b'{"proxy":"p1","version":3,"status":"failed","error":"bad \\u001b[31m rule"}')
    t.join(30)
    assert result["r"].returncode == 1 and b"bad \\x1b" in result["r"].stderr
    assert b"\x1b" not in result["r"].stderr
    # nobody reports: timeout, exit 124
    r = cli(tollgate_bin, g, "policy", "update", "default", "--add-endpoint",
            "b.example.com:443", "--binary", "/bin/x", "--wait", "--timeout", "1")
    assert r.returncode == 124
    evs = events(g, "source=sandbox&class=config")
    assert [e["state"] for e in evs] == ["loaded", "loaded", "failed"]


def test_restart_keeps_state_and_reports_a_corrupt_file(gateway, tollgate_bin):
    g = gateway()
    assert cli(tollgate_bin, g, "sandbox", "create", "--name", "keep", "--provider",
               "github").returncode == 0
    assert cli(tollgate_bin, g, "policy", "update", "keep", "--add-endpoint",
               "pypi.org:443", "--binary", "/usr/bin/pip").returncode == 0
    before = json.loads(g.request("GET", "/v1/sandboxes/keep")[1])
    bad = os.path.join(g.state, "sandboxes", "broken.json")
    open(bad, "w").write('{"name": "broken", "trunc')
    g.stop()
    g.start()
    after = json.loads(g.request("GET", "/v1/sandboxes/keep")[1])
    assert (after["version"], after["hash"]) == (before["version"], before["hash"])
    assert open(bad).read() == '{"name": "broken", "trunc'  # left as it was
    failed = [e for e in events(g, "class=config") if e.get("state") == "failed"]
    assert failed and "broken.json did not load" in failed[-1]["message"]
    status, data = g.request("POST", "/v1/sandboxes", b'{"name":"broken"}')
    assert status == 409 and b"did not load" in data
    r = cli(tollgate_bin, g, "sandbox", "delete", "keep")
    assert r.returncode == 0
    assert g.request("GET", "/v1/sandboxes/keep")[0] == 404


@pytest.mark.skipif(not VALIDATE_PY.exists(), reason="../shared/ocsf absent (see README)")
def test_every_config_and_lifecycle_event_validates(gateway, tollgate_bin, tmp_path):
    g = gateway()
    cli(tollgate_bin, g, "sandbox", "create", "--name", "v", "--provider", "codex")
    cli(tollgate_bin, g, "policy", "update", "v", "--add-endpoint", "x.example.com:443",
        "--binary", "/bin/x")
    g.request("POST", "/v1/sandboxes/v/policy/status",
              b'{"proxy":"p","version":2,"status":"failed","error":"boom"}')
    cli(tollgate_bin, g, "sandbox", "delete", "v")
    evs = events(g, "")
    assert {e["class_uid"] for e in evs} >= {5019, 6002}
    f = tmp_path / "evs.jsonl"
    f.write_text("".join(json.dumps(e) + "\n" for e in evs))
    r = subprocess.run([sys.executable, str(VALIDATE_PY), "--warnings-fail", str(f)],
                       capture_output=True)
    assert r.returncode == 0, r.stdout.decode()[-2000:]
