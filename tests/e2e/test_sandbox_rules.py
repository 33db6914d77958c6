"""End-to-end tests of the rules' guard (gateway/netns_guard.c): every attach
of a built namespace (each `sandbox exec`) checks that the nftables rules
confining it are as the gateway installed them, restores them when they are
not, and records FINDING:CREATE `sandbox_rules_changed`.

The tampering is done by the test, as root, from outside the sandbox; the
commands run inside the sandbox are inline code and system binaries only (they
run as an unprivileged uid that cannot read pytest's tmp_path). The only
addresses used are loopback and the sandbox's own 10.203.x addresses.

Needs root and network namespaces; skipped otherwise (see test_sandbox_exec)."""
import json
import os
import subprocess

import pytest

from test_sandbox_exec import SKIP, up, validate  # noqa: F401 (up: a fixture)

pytestmark = pytest.mark.skipif(SKIP is not None, reason=SKIP or "")

UID = "sandbox_rules_changed"


def nft(*args, ns=None, check=True):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + ["nft", *args]
    r = subprocess.run(cmd, capture_output=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{cmd}: {r.stderr.decode()}")
    return r


def listing(ns):
    return nft("-s", "list", "table", "inet", "tollgate", ns=ns).stdout.decode()


def host_listing(u):
    return nft("-t", "-s", "list", "table", "inet", f"tollgate_{u.netid()}").stdout.decode()


def element(u, net):
    return '{ "tg%sh%d" . %s . 3128 }' % (u.netid(), net["index"], net["host_ip"])


def has_element(u, net):
    r = nft("get", "element", "inet", f"tollgate_{u.netid()}", "proxies", element(u, net),
            check=False)
    return r.returncode == 0


def attached(u, name):
    """A sandbox with its namespace built; its /net reply."""
    assert u.cli("sandbox", "create", "--name", name).returncode == 0
    r = u.exec(name, "true")
    assert r.returncode == 0, r.stderr
    status, net = u.net(name)
    assert status == 200, net
    assert net["netns"].startswith(f"tg-{u.netid()}-") and net["host_ip"].startswith("10.203.")
    return net


def findings(u, name):
    return [e for e in u.events() if e["class_uid"] == 2004
            and e["finding_info"]["uid"] == UID
            and e["device"]["container"]["name"] == name]


def bypass(u, name, ip, port):
    """Connects around the proxy to ip:port; the catcher's refusals of it."""
    r = u.exec(name, "curl", "-sS", "--noproxy", "*", "-m", "5", f"http://{ip}:{port}/")
    assert r.returncode != 0  # nothing answers there, whatever the rules
    return [e for e in u.events("sandbox") if e["class_uid"] == 4001
            and e.get("firewall_rule", {}).get("type") == "bypass"
            and e["dst_endpoint"].get("ip") == ip and e["dst_endpoint"].get("port") == port]


def test_deleted_table_is_restored_and_reported(up, tmp_path):
    u = up()
    net = attached(u, "rules-a")
    ns, installed = net["netns"], listing(net["netns"])
    assert "chain nat_out" in installed and "chain filter_out" in installed
    assert findings(u, "rules-a") == []
    nft("delete", "table", "inet", "tollgate", ns=ns)
    assert nft("list", "table", "inet", "tollgate", ns=ns, check=False).returncode != 0
    # the next exec: caught as a bypass, because the table is back before it runs
    caught = bypass(u, "rules-a", net["host_ip"], 9)
    assert caught and caught[0]["action"] == "Denied", caught
    assert listing(ns) == installed
    got = findings(u, "rules-a")
    assert len(got) == 1, got
    f = got[0]
    assert f["severity_id"] == 4 and f["activity_id"] == 1
    assert f["finding_info"]["title"] == "sandbox firewall rules changed"
    assert "table missing" in f["message"] and "restored" in f["message"]
    assert ns in f["message"]
    assert f["unmapped"]["rules_found"] == "table_missing" and f["unmapped"]["restored"] == "true"
    # restored once: the next exec finds it intact
    assert u.exec("rules-a", "true").returncode == 0
    assert len(findings(u, "rules-a")) == 1
    validate(tmp_path, u.events())


def test_changed_rule_is_restored_and_reported(up, tmp_path):
    u = up()
    net = attached(u, "rules-b")
    ns, installed = net["netns"], listing(net["netns"])
    nft("flush", "chain", "inet", "tollgate", "filter_out", ns=ns)
    assert listing(ns) != installed
    # UDP that is not DNS is dropped again (a flushed filter_out would let it out)
    code = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "try:\n"
            f"    s.sendto(b'x', ('{net['host_ip']}', 9999)); print('sent')\n"
            "except OSError as e:\n"
            "    print('errno', e.errno)\n")
    r = u.exec("rules-b", "python3", "-c", code)
    assert r.returncode == 0 and r.stdout.startswith(b"errno"), (r.stdout, r.stderr)
    assert listing(ns) == installed
    got = findings(u, "rules-b")
    assert len(got) == 1 and "rules changed" in got[0]["message"], got
    assert got[0]["unmapped"]["rules_found"] == "rules_changed"
    # a rule added (not removed) is a change too
    nft("insert", "rule", "inet", "tollgate", "filter_out", "ip", "daddr", net["host_ip"],
        "accept", ns=ns)
    assert bypass(u, "rules-b", net["host_ip"], 9)
    assert listing(ns) == installed and len(findings(u, "rules-b")) == 2
    validate(tmp_path, u.events())


def test_host_rules_are_restored_for_every_sandbox(up, tmp_path):
    u = up()
    a, b = attached(u, "rules-h"), attached(u, "rules-i")
    host = host_listing(u)
    assert has_element(u, a) and has_element(u, b)
    # the host table gone: a's exec restores it, with b's element too
    nft("delete", "table", "inet", f"tollgate_{u.netid()}")
    r = u.exec("rules-h", "curl", "-sS", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}",
               "http://not-allowed.example/")
    assert r.stdout == b"403", (r.stdout, r.stderr)  # its proxy is reachable again
    assert host_listing(u) == host and has_element(u, a) and has_element(u, b)
    got = findings(u, "rules-h")
    assert len(got) == 1 and "host rules missing" in got[0]["message"], got
    assert got[0]["unmapped"]["rules_found"] == "host_rules_missing"
    assert findings(u, "rules-i") == []
    # only b's element gone: b's next exec adds it back
    nft("delete", "element", "inet", f"tollgate_{u.netid()}", "proxies", element(u, b))
    assert not has_element(u, b)
    r = u.exec("rules-i", "curl", "-sS", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}",
               "http://not-allowed.example/")
    assert r.stdout == b"403", (r.stdout, r.stderr)
    assert has_element(u, b)
    got = findings(u, "rules-i")
    assert len(got) == 1 and got[0]["unmapped"]["rules_found"] == "host_element_missing", got
    # a changed host chain
    nft("flush", "chain", "inet", f"tollgate_{u.netid()}", "forward")
    assert u.exec("rules-h", "true").returncode == 0
    assert host_listing(u) == host and has_element(u, a) and has_element(u, b)
    got = findings(u, "rules-h")
    assert len(got) == 2 and got[1]["unmapped"]["rules_found"] == "host_rules_changed", got
    validate(tmp_path, u.events())


def test_intact_rules_yield_no_finding(up, tmp_path):
    u = up()
    net = attached(u, "rules-c")
    installed, host = listing(net["netns"]), host_listing(u)
    for _ in range(4):
        r = u.exec("rules-c", "sh", "-c", "echo ok")
        assert r.returncode == 0 and r.stdout == b"ok\n", r.stderr
    # traffic moved the counters; the stateless listings do not show them
    assert bypass(u, "rules-c", net["host_ip"], 9)
    assert listing(net["netns"]) == installed and host_listing(u) == host
    assert findings(u, "rules-c") == []
    assert [e for e in u.events() if e["class_uid"] == 2004
            and e["finding_info"]["uid"] == UID] == []
    validate(tmp_path, u.events())


def test_attach_reply_names_the_state_directory(up):
    u = up()
    assert u.cli("sandbox", "create", "--name", "rules-s").returncode == 0
    status, data = u.g.request("POST", "/v1/sandboxes/rules-s/attach", b"")
    assert status == 200, data
    reply = json.loads(data)
    assert reply["state_dir"] == os.path.realpath(u.g.state)
    assert os.path.isabs(reply["state_dir"])
    # a second attach (a check) answers the same
    status, data = u.g.request("POST", "/v1/sandboxes/rules-s/attach", b"")
    assert status == 200 and json.loads(data) == reply


def test_concurrent_attaches_all_wait_for_the_check(up):
    """Many attaches at once right after the table was deleted: every one is
    answered only once the rules are back, and one finding is recorded per
    check that found them gone."""
    import concurrent.futures
    u = up()
    net = attached(u, "rules-p")
    installed = listing(net["netns"])
    nft("delete", "table", "inet", "tollgate", ns=net["netns"])

    def attach(_):
        status, data = u.g.request("POST", "/v1/sandboxes/rules-p/attach", b"")
        ok = status == 200 and listing(net["netns"]) == installed
        return status, ok, data
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        res = list(pool.map(attach, range(8)))
    assert all(s == 200 and ok for s, ok, _ in res), res
    assert len(findings(u, "rules-p")) == 1
