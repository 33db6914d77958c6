"""End-to-end tests of OpenShell's CLI spellings as aliases of tollgate's
(issue 16): `lg`, `pol`, -g/--gateway-endpoint, repeated --source, --level
names, policy list / get --rev / -o, --add-allow, --add-deny, --remove-rule,
the six-field --add-endpoint, set --yes/--dry-run, the refused --global and
`policy delete`; an identical set makes no version, a refused one leaves a
CONFIG event. Each drives the real binary against a real gateway."""
import json
import os
import subprocess

from conftest import settle

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
"""

DEAD = "http://127.0.0.1:1"  # nothing listens there


def run(tollgate_bin, g, *args, gateway=True, timeout=60):
    """`tollgate ARGS`, the gateway named by $TOLLGATE_GATEWAY unless
    gateway is False (then a dead address: the flag under test must win)."""
    env = dict(os.environ, TOLLGATE_STATE=g.state, TOLLGATE_GATEWAY=g.url if gateway else DEAD)
    return subprocess.run([tollgate_bin, *args], capture_output=True, env=env, timeout=timeout)


def policy_file(tmp_path, text=POLICY, name="p.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def version(g, name="default"):
    return json.loads(g.request("GET", f"/v1/sandboxes/{name}")[1])["version"]


def json_lines(r):
    assert r.returncode == 0, r.stderr
    return [json.loads(l) for l in r.stdout.decode().splitlines() if l]


# ---- logs --------------------------------------------------------------------------------

def test_lg_is_logs(gateway, tollgate_bin):
    g = gateway()
    settle(g)
    a = run(tollgate_bin, g, "logs", "--json", "-n", "50")
    b = run(tollgate_bin, g, "lg", "--json", "-n", "50")
    assert a.returncode == b.returncode == 0 and a.stdout == b.stdout and a.stdout


def test_logs_gateway_endpoint_and_g(gateway, tollgate_bin):
    g = gateway()
    settle(g)
    want = run(tollgate_bin, g, "logs", "--json", "-n", "5").stdout
    assert run(tollgate_bin, g, "logs", "--json", "-n", "5", gateway=False).returncode == 1
    for flag in ("-g", "--gateway-endpoint", "--gateway"):
        r = run(tollgate_bin, g, "logs", flag, g.url, "--json", "-n", "5", gateway=False)
        assert r.returncode == 0 and r.stdout == want, (flag, r.stderr)
    # OpenShell's global form: before the command
    for flag in ("-g", "--gateway-endpoint"):
        r = run(tollgate_bin, g, flag, g.url, "lg", "--json", "-n", "5", gateway=False)
        assert r.returncode == 0 and r.stdout == want, (flag, r.stderr)


def test_logs_source_repeated_is_a_union(gateway, tollgate_bin):
    g = gateway()
    # a sandbox-side event: a proxy's load report
    assert g.request("POST", "/v1/sandboxes/default/policy/status",
                     b'{"proxy":"p1","version":1,"status":"loaded"}')[0] == 200
    settle(g)
    src = {s: json_lines(run(tollgate_bin, g, "logs", "--source", s, "--json", "-n", "all"))
           for s in ("gateway", "sandbox", "all")}
    assert src["gateway"] and src["sandbox"]
    assert {e["metadata"]["log_name"] for e in src["gateway"]} == {"gateway"}
    assert {e["metadata"]["log_name"] for e in src["sandbox"]} == {"sandbox"}
    both = json_lines(run(tollgate_bin, g, "logs", "--source", "gateway", "--source", "sandbox",
                          "--json", "-n", "all"))
    assert both == src["all"] and len(both) == len(src["gateway"]) + len(src["sandbox"])
    again = json_lines(run(tollgate_bin, g, "logs", "--source", "sandbox", "--source", "sandbox",
                           "--json", "-n", "all"))
    assert again == src["sandbox"]
    r = run(tollgate_bin, g, "logs", "--source", "gateway", "--source", "nope")
    assert r.returncode == 2 and b"--source" in r.stderr


def test_logs_level_names_map_onto_severities(gateway, tollgate_bin, tmp_path):
    g = gateway()
    # one medium event: a refused policy set (CONFIG failed); the rest are info
    bad = policy_file(tmp_path, "network_polices: {}\n", "bad.yaml")
    assert run(tollgate_bin, g, "policy", "set", "default", "--policy", bad).returncode == 1
    settle(g)

    def sev(*args):
        return sorted({e["severity_id"]
                       for e in json_lines(run(tollgate_bin, g, "logs", *args, "--json",
                                               "-n", "all"))})
    everything = sev()
    assert 1 in everything and 3 in everything
    assert sev("--level", "error") == [3]          # medium and above
    assert sev("--level", "warn") == [3]           # low and above (no low event here)
    assert sev("--level", "WARN") == [3]
    assert sev("--level", "info") == everything    # informational and above
    assert sev("--level", "debug") == everything   # no filter
    assert sev("--level", "trace") == everything
    # tollgate's own spellings still work
    assert sev("--level", "medium") == [3] and sev("--min-severity", "medium") == [3]
    assert sev("--level", "high") == []
    r = run(tollgate_bin, g, "logs", "--level", "verbose")
    assert r.returncode == 2 and b"--level" in r.stderr


def test_logs_unknown_flag_exit_2(gateway, tollgate_bin):
    g = gateway()
    r = run(tollgate_bin, g, "lg", "--workspace", "x")
    assert r.returncode == 2 and b"unknown or incomplete option: --workspace" in r.stderr
    r = run(tollgate_bin, g, "-g")
    assert r.returncode == 2 and b"a URL must follow -g" in r.stderr


# ---- policy ------------------------------------------------------------------------------

def test_pol_is_policy_and_g_reaches_the_gateway(gateway, tollgate_bin, tmp_path):
    g = gateway()
    p = policy_file(tmp_path)
    r = run(tollgate_bin, g, "pol", "set", "default", "--policy", p, "-g", g.url, gateway=False)
    assert r.returncode == 0 and b"policy version 2" in r.stdout, r.stderr
    r = run(tollgate_bin, g, "pol", "get", "default", "--gateway-endpoint", g.url, gateway=False)
    assert r.returncode == 0 and b"api.github.com" in r.stdout, r.stderr
    a = run(tollgate_bin, g, "policy", "get", "default", "--json")
    b = run(tollgate_bin, g, "pol", "get", "default", "-o", "json")
    assert a.stdout == b.stdout and json.loads(a.stdout)["version"] == 2
    r = run(tollgate_bin, g, "-g", g.url, "pol", "status", "default", "--json", gateway=False)
    assert r.returncode == 0 and json.loads(r.stdout)["version"] == 2


def test_policy_list_and_get_rev(gateway, tollgate_bin, tmp_path):
    g = gateway()
    p = policy_file(tmp_path)
    assert run(tollgate_bin, g, "policy", "set", "default", "--policy", p).returncode == 0
    assert run(tollgate_bin, g, "policy", "update", "default", "--add-endpoint",
               "pypi.org:443", "--binary", "/usr/bin/pip").returncode == 0
    r = run(tollgate_bin, g, "pol", "list", "default")
    assert r.returncode == 0, r.stderr
    rows = r.stdout.decode().splitlines()
    assert rows[0].split()[:4] == ["VERSION", "HASH", "CREATED", "SUMMARY"]
    assert [l[2:].split()[0] for l in rows[1:]] == ["3", "2", "1"]
    assert rows[1].startswith("* 3") and "add-endpoint allow_pypi_org_443" in rows[1]
    assert "set from" in rows[2] and "created" in rows[3]
    lst = json.loads(run(tollgate_bin, g, "policy", "list", "default", "-o", "json").stdout)
    assert lst["version"] == 3 and [h["version"] for h in lst["history"]] == [3, 2, 1]
    assert [h["version"] for h in json.loads(run(tollgate_bin, g, "policy", "list", "default",
                                                 "--limit", "2", "--json").stdout)["history"]] \
        == [3, 2]
    # --rev: a past version, as it was
    r = run(tollgate_bin, g, "pol", "get", "default", "--rev", "2", "-o", "json")
    old = json.loads(r.stdout)
    assert old["version"] == 2 and old["current"] == 3 and old["hash"] == lst["history"][1]["hash"]
    assert list(old["policy"]["network_policies"]) == ["github_api"]
    r = run(tollgate_bin, g, "pol", "get", "default", "--rev", "1", "-o", "table")
    assert r.returncode == 0 and b"policy version 1" in r.stdout
    assert b"a past version: the current one is 3" in r.stdout
    assert b"network_policies: {}" in r.stdout
    r = run(tollgate_bin, g, "pol", "get", "default", "--rev", "2", "--base")
    assert r.returncode == 0 and b"api.github.com" in r.stdout and b"pypi.org" not in r.stdout
    # the current one by number, and one that does not exist
    cur = json.loads(run(tollgate_bin, g, "pol", "get", "default", "--rev", "3", "--json").stdout)
    assert cur["version"] == 3 and "pypi.org" in json.dumps(cur["policy"])
    r = run(tollgate_bin, g, "pol", "get", "default", "--rev", "9")
    assert r.returncode == 1 and b"404" in r.stderr and b"not kept" in r.stderr
    r = run(tollgate_bin, g, "pol", "get", "default", "-o", "yaml")
    assert r.returncode == 2 and b"table or json" in r.stderr
    # the history goes with the sandbox
    assert run(tollgate_bin, g, "sandbox", "create", "--name", "tmp").returncode == 0
    assert os.path.isdir(os.path.join(g.state, "sandboxes", "tmp.history"))
    assert run(tollgate_bin, g, "sandbox", "delete", "tmp").returncode == 0
    assert not os.path.exists(os.path.join(g.state, "sandboxes", "tmp.history"))


def test_add_allow_add_deny_remove_rule(gateway, tollgate_bin, tmp_path):
    g = gateway()
    assert run(tollgate_bin, g, "policy", "set", "default", "--policy",
               policy_file(tmp_path)).returncode == 0
    r = run(tollgate_bin, g, "pol", "update", "default",
            "--add-allow", "api.github.com:443:post:/repos/*/issues",
            "--add-deny", "api.github.com:443:DELETE:/**")
    assert r.returncode == 0, r.stderr
    base = json.loads(run(tollgate_bin, g, "policy", "get", "default", "--base", "--json").stdout)
    ep = base["policy"]["network_policies"]["github_api"]["endpoints"][0]
    # the access preset became its rules (as OpenShell expands it), then the new one
    assert "access" not in ep
    assert [(x["allow"]["method"], x["allow"]["path"]) for x in ep["rules"]] == [
        ("GET", "**"), ("HEAD", "**"), ("OPTIONS", "**"), ("POST", "/repos/*/issues")]
    assert ep["deny_rules"] == [{"method": "DELETE", "path": "/**"}]
    # refusals, each by name
    for spec, why in (("nohost.example:443:GET:/x", b"was not found in the current policy"),):
        r = run(tollgate_bin, g, "pol", "update", "default", "--add-allow", spec)
        assert r.returncode == 1 and why in r.stderr, r.stderr
    r = run(tollgate_bin, g, "pol", "update", "default", "--add-allow", "api.github.com:443:GET")
    assert r.returncode == 2 and b"HOST:PORT:METHOD:PATH_GLOB" in r.stderr
    r = run(tollgate_bin, g, "pol", "update", "default", "--add-deny", "api.github.com:443:GET:x")
    assert r.returncode == 2 and b"must start with '/'" in r.stderr
    # --remove-rule: the whole rule; a missing one and a provider layer refused
    r = run(tollgate_bin, g, "pol", "update", "default", "--remove-rule", "github_api")
    assert r.returncode == 0 and b"remove-rule github_api" in r.stdout, r.stderr
    base = json.loads(run(tollgate_bin, g, "policy", "get", "default", "--base", "--json").stdout)
    assert base["policy"]["network_policies"] == {}
    r = run(tollgate_bin, g, "pol", "update", "default", "--remove-rule", "github_api")
    assert r.returncode == 1 and b"is not a rule of the policy" in r.stderr
    r = run(tollgate_bin, g, "pol", "update", "default", "--remove-rule", "_provider_codex")
    assert r.returncode == 1 and b"provider layer" in r.stderr


def test_six_field_add_endpoint(gateway, tollgate_bin):
    g = gateway()
    r = run(tollgate_bin, g, "pol", "update", "default", "--add-endpoint",
            "api.example.com:443:read-only:rest:enforce:allowed-ip=10.1.0.0/16,allowed-ip=10.2.0.1",
            "--add-endpoint", "db.example.com:5432::tcp::allowed-ip=10.0.0.0/8",
            "--binary", "/usr/bin/curl")
    assert r.returncode == 0, r.stderr
    rules = json.loads(run(tollgate_bin, g, "policy", "get", "default", "--base",
                           "--json").stdout)["policy"]["network_policies"]
    api = rules["allow_api_example_com_443"]["endpoints"][0]
    assert api["allowed_ips"] == ["10.1.0.0/16", "10.2.0.1"] and api["access"] == "read-only"
    db = rules["allow_db_example_com_5432"]["endpoints"][0]
    assert db["protocol"] == "tcp" and db["allowed_ips"] == ["10.0.0.0/8"]
    for spec, code, why in (
            ("x.example.com:443:full:rest:enforce:websocket-credential-rewrite", 2,
             b"not supported by tollgate yet"),
            ("x.example.com:443::::allow-uninspected-credentials", 2,
             b"not supported by tollgate yet"),
            ("x.example.com:443:full:rest:enforce:", 2, b"empty options field"),
            ("x.example.com:443:full:rest:enforce:frobnicate", 2, b"not valid"),
            ("x.example.com:443:full:rest:enforce:allowed-ip=127.0.0.1", 1, b"loopback"),
            ("x.example.com:443:full:websocket", 2, b"not supported by tollgate yet")):
        r = run(tollgate_bin, g, "pol", "update", "default", "--add-endpoint", spec,
                "--binary", "/usr/bin/curl")
        assert r.returncode == code and why in r.stderr, (spec, r.stderr)


def test_set_yes_dry_run_and_identical(gateway, tollgate_bin, tmp_path):
    g = gateway()
    p = policy_file(tmp_path)
    r = run(tollgate_bin, g, "pol", "set", "default", "--policy", p, "--dry-run")
    assert r.returncode == 0 and b"+  github_api:" in r.stdout and b"dry run" in r.stderr
    assert version(g) == 1
    r = run(tollgate_bin, g, "pol", "set", "default", "--policy", p, "--yes")
    assert r.returncode == 0 and version(g) == 2, r.stderr
    # the same content again, reformatted: no new version, and it says so
    p2 = policy_file(tmp_path, POLICY.replace("api.github.com", "API.GitHub.com"), "p2.yaml")
    r = run(tollgate_bin, g, "pol", "set", "default", "--policy", p2)
    assert r.returncode == 0 and b"policy unchanged" in r.stdout and b"no new version" in r.stdout
    assert version(g) == 2
    r = run(tollgate_bin, g, "pol", "set", "default", "--policy", p2, "--dry-run")
    assert r.returncode == 0 and b"identical to version 2" in r.stderr and r.stdout == b""
    # an update that changes nothing: no version either
    r = run(tollgate_bin, g, "pol", "update", "default", "--add-allow",
            "api.github.com:443:GET:/**")
    assert r.returncode == 0 and version(g) == 3  # the preset expanded: a change
    r = run(tollgate_bin, g, "pol", "update", "default", "--add-allow",
            "api.github.com:443:GET:/**")
    assert r.returncode == 0 and b"policy unchanged" in r.stdout and version(g) == 3
    settle(g)
    status, data = g.request("GET", "/v1/logs?format=json&limit=0&class=config&source=gateway")
    updated = [json.loads(l) for l in data.decode().splitlines()]
    assert [e["policy"]["version"] for e in updated] == ["1", "2", "3"]
    r = run(tollgate_bin, g, "pol", "set", "default", "--policy", p, "--dry-run", "--wait")
    assert r.returncode == 2 and b"--dry-run and --wait" in r.stderr


def test_refused_set_leaves_a_config_failed_event(gateway, tollgate_bin, tmp_path):
    g = gateway()
    bad = policy_file(tmp_path, "version: 1\nnetwork_polices: {}\n", "bad.yaml")
    r = run(tollgate_bin, g, "pol", "set", "default", "--policy", bad)
    assert r.returncode == 1 and b"network_polices: unknown key" in r.stderr
    r = run(tollgate_bin, g, "pol", "update", "default", "--remove-rule", "nope")
    assert r.returncode == 1
    # a dry run that fails is a check, not an attempt: no event
    r = run(tollgate_bin, g, "pol", "set", "default", "--policy", bad, "--dry-run")
    assert r.returncode == 1
    assert version(g) == 1
    settle(g)
    status, data = g.request("GET", "/v1/logs?format=json&limit=0&class=config&min_severity=medium")
    evs = [json.loads(l) for l in data.decode().splitlines()]
    assert [(e["state"], e["status"], e["message"]) for e in evs] == [
        ("failed", "Failure", "policy set refused for sandbox default"),
        ("failed", "Failure", "policy update refused for sandbox default")]
    assert "bad.yaml:2: network_polices: unknown key" in evs[0]["status_detail"]
    assert "'nope' is not a rule of the policy" in evs[1]["status_detail"]
    assert evs[0]["policy"] == {"name": "default", "version": "1",
                                "uid": evs[0]["policy"]["uid"]}
    r = run(tollgate_bin, g, "logs", "--class", "config", "--level", "error")
    assert r.returncode == 0 and r.stdout.decode().count("CONFIG:FAILED") == 2


def test_global_and_delete_are_refused_by_name(gateway, tollgate_bin, tmp_path):
    g = gateway()
    p = policy_file(tmp_path)
    for args in (("set", "--global", "--policy", p, "--yes"), ("set", "default", "--global",
                                                               "--policy", p),
                 ("get", "--global"), ("list", "--global")):
        r = run(tollgate_bin, g, "pol", *args)
        assert r.returncode == 2 and b"--global: tollgate has no gateway-wide policy" in r.stderr, \
            (args, r.stderr)
    r = run(tollgate_bin, g, "pol", "delete", "--global", "--yes")
    assert r.returncode == 2 and b"policy delete: tollgate has no gateway-wide policy" in r.stderr
    assert version(g) == 1
    # OpenShell's last-used sandbox does not exist here
    r = run(tollgate_bin, g, "pol", "set", "--policy", p)
    assert r.returncode == 2 and b"a sandbox NAME is required" in r.stderr


def test_policy_unknown_flags_exit_2_and_own_flags_work(gateway, tollgate_bin, tmp_path):
    g = gateway()
    for args, why in ((("get", "default", "--bogus"), b"unknown option: --bogus"),
                      (("get", "default", "--add-allow", "x"),
                       b"not an option of `policy get`: --add-allow"),
                      (("list", "default", "--limit", "x"), b"not a number: x"),
                      (("frob", "default"), b"unknown subcommand: frob"),
                      (("get", "default", "--rev"), b"a value must follow --rev")):
        r = run(tollgate_bin, g, "policy", *args)
        assert r.returncode == 2 and why in r.stderr, (args, r.stderr)
    # tollgate's own spellings, unchanged
    p = policy_file(tmp_path)
    r = run(tollgate_bin, g, "policy", "set", "default", "--policy", p, "--gateway", g.url,
            "--state", g.state, gateway=False)
    assert r.returncode == 0, r.stderr
    r = run(tollgate_bin, g, "policy", "update", "default", "--add-endpoint",
            "pypi.org:443:read-only:rest:enforce", "--binary", "/usr/bin/pip",
            "--rule-name", "pypi", "--remove-endpoint", "api.github.com:443")
    assert r.returncode == 0 and b"remove-endpoint github_api" in r.stdout, r.stderr
    r = run(tollgate_bin, g, "policy", "get", "default", "--full", "--json")
    assert r.returncode == 0 and "pypi" in json.loads(r.stdout)["policy"]["network_policies"]
    r = run(tollgate_bin, g, "policy", "status", "default", "--version", "3", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["wanted"] == 3
