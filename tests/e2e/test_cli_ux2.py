"""Issue 18, items 9, 13, 14: what a new user meets at the start (busy ports,
`make run ARGS=...`), `status` (aligned, `--watch`), `sandbox get` and
`policy status` as tables, `sandbox delete` of the sandbox `up` serves, the
per-argument command-line redaction and PROC events tagged `sandbox`, and the
README's links. Each test runs the real binary."""
import json
import os
import re
import signal
import socket
import subprocess
import time

from conftest import ROOT, Gateway, settle


def busy_port():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s, s.getsockname()[1]


def run_up(tollgate_bin, state, *args, timeout=30):
    return subprocess.run([tollgate_bin, "up", "--state", str(state), *args],
                          capture_output=True, timeout=timeout)


def make_run_command(tollgate_bin, args):
    """The command `make run ARGS=...` runs, for the build tree of tollgate_bin."""
    build = os.path.relpath(os.path.dirname(tollgate_bin), ROOT)
    r = subprocess.run(["make", "-n", "-s", "run", f"BUILD={build}", f"ARGS={args}"], cwd=ROOT,
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    line = r.stdout.decode().strip().splitlines()[-1]
    assert line.endswith(f"/tollgate up {args}") or line.endswith(f"tollgate up {args}"), line
    return line.split()


def test_make_run_passes_args_and_a_busy_api_port_says_what_to_do(tollgate_bin, tmp_path):
    sock, port = busy_port()
    try:
        cmd = make_run_command(tollgate_bin, f"--state {tmp_path}/s --listen 127.0.0.1:{port} "
                                             "--proxy-listen 127.0.0.1:0")
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, timeout=30)
    finally:
        sock.close()
    err = r.stderr.decode()
    assert r.returncode == 1, err
    want = (f"127.0.0.1:{port}: address already in use (another tollgate? "
            "use --listen HOST:PORT)")
    assert want in err, err
    # nothing started before the check: no exporter, no signal that was never sent
    assert "[export:" not in err and "SIGTERM" not in err and "listening on" not in err, err


def test_busy_proxy_port(tollgate_bin, tmp_path):
    sock, port = busy_port()
    try:
        r = run_up(tollgate_bin, tmp_path / "s", "--listen", "127.0.0.1:0",
                   "--proxy-listen", f"127.0.0.1:{port}")
    finally:
        sock.close()
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert f"proxy 127.0.0.1:{port}: address already in use" in err, err
    assert "--proxy-listen HOST:PORT" in err, err
    assert "SIGTERM" not in err and "[export:" not in err, err
    # the state is usable at once by the next start
    g = Gateway(tollgate_bin, tmp_path / "s", ["--proxy-listen", "127.0.0.1:0"], "up").start()
    g.stop()
    assert g.proc.returncode == 0


def up(tollgate_bin, tmp_path):
    return Gateway(tollgate_bin, tmp_path / "state", ["--proxy-listen", "127.0.0.1:0"],
                   "up").start()


def cli(tollgate_bin, g, *args, timeout=60):
    env = dict(os.environ, TOLLGATE_GATEWAY=g.url, TOLLGATE_STATE=g.state)
    env.pop("TOLLGATE_TOKEN", None)
    return subprocess.run([tollgate_bin, *args], capture_output=True, timeout=timeout, env=env)


def columns_align(header, row, names):
    """Right-aligned numeric columns: the header's name and the row's value
    end at the same offset."""
    for name in names:
        end = header.index(name) + len(name)
        assert row[end - 1] != " " and (end == len(row) or row[end] == " "), (name, header, row)


def test_status_header_is_aligned(tollgate_bin, tmp_path):
    g = up(tollgate_bin, tmp_path)
    try:
        r = cli(tollgate_bin, g, "status")
        assert r.returncode == 0, r.stderr.decode()
        lines = r.stdout.decode().splitlines()
        header = next(l for l in lines if l.startswith("EXPORTER"))
        row = lines[lines.index(header) + 1]
        assert row.startswith("file ")  # the name under EXPORTER, not one column off
        assert row.index("file", 5) == header.index("TYPE")
        columns_align(header, row, ["DELIVERED", "RETRIED", "DEAD", "INFLIGHT", "LAG", "LAG_S"])
    finally:
        g.stop()


def test_status_watch_piped(tollgate_bin, tmp_path):
    g = up(tollgate_bin, tmp_path)
    try:
        env = dict(os.environ, TOLLGATE_GATEWAY=g.url, TOLLGATE_STATE=g.state)
        p = subprocess.Popen([tollgate_bin, "status", "--watch", "--interval", "0.2"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        time.sleep(0.7)
        r = subprocess.run([tollgate_bin, "ocsf", "samples"], capture_output=True, timeout=30)
        lines = r.stdout.decode().splitlines()
        status, reply = g.post_events(lines)
        assert status == 200, reply
        time.sleep(1.2)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=10)
        assert p.returncode == 0, err.decode()
        text = out.decode()
        assert "\033[" not in text  # piped: no screen control
        blocks = [b for b in text.split("\n\n") if b.strip()]
        assert len(blocks) >= 5, text
        for b in blocks:
            assert b.startswith("tollgate status ") and "every 0.2s" in b, b
            assert "DELIVERED/S" in b and "events/s" in b, b
        rates = [float(m) for m in re.findall(r"; ([\d.]+) events/s", text)]
        assert rates and max(rates) > 0, text  # the posted events show as a rate
        delivered = []
        for b in blocks:
            bl = b.splitlines()
            h = next(l for l in bl if l.startswith("EXPORTER"))
            row = bl[bl.index(h) + 1]
            columns_align(h, row, ["DELIVERED/S", "LAG"])
            delivered.append(row.split()[4])
        assert delivered[0] == "-" and any(d not in ("-", "0.0") for d in delivered), delivered
        # --json: one JSON document a line
        p = subprocess.Popen([tollgate_bin, "status", "--watch", "--json", "--interval", "0.2"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        time.sleep(0.8)
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=10)
        assert p.returncode == 0
        docs = [json.loads(l) for l in out.decode().splitlines()]
        assert len(docs) >= 2 and all("exporters" in d for d in docs)
        r = cli(tollgate_bin, g, "status", "--interval", "0")
        assert r.returncode == 2 and b"--interval" in r.stderr
    finally:
        g.stop()


def test_sandbox_get_and_policy_status_tables(tollgate_bin, tmp_path):
    g = up(tollgate_bin, tmp_path)
    try:
        r = cli(tollgate_bin, g, "sandbox", "get", "default")
        out = r.stdout.decode()
        assert r.returncode == 0 and not out.startswith("{"), out
        assert re.search(r"^name\s+default$", out, re.M), out
        assert re.search(r"^PROXY\s+STATE\s+VERSION", out, re.M), out
        assert re.search(r"^in-process\s+loaded\s+1\s", out, re.M), out
        r = cli(tollgate_bin, g, "sandbox", "get", "default", "--json")
        doc = json.loads(r.stdout)
        assert doc["name"] == "default" and doc["proxies"][0]["state"] == "loaded"
        r = cli(tollgate_bin, g, "policy", "status", "default")
        out = r.stdout.decode()
        assert r.returncode == 0 and not out.startswith("{"), out
        assert "sandbox default: policy version 1 (wanted 1), state loaded" in out, out
        assert re.search(r"^in-process\s+loaded\s+1\s", out, re.M), out
        doc = json.loads(cli(tollgate_bin, g, "policy", "status", "default", "--json").stdout)
        assert doc["state"] == "loaded" and doc["version"] == 1
    finally:
        g.stop()


def test_sandbox_delete_refused_while_up_serves_it(tollgate_bin, tmp_path):
    g = up(tollgate_bin, tmp_path)
    try:
        r = cli(tollgate_bin, g, "sandbox", "delete", "default")
        err = r.stderr.decode()
        assert r.returncode == 1, err
        assert "409" in err and "served by the proxy this gateway runs" in err, err
        assert "tollgate gateway" in err, err
        assert cli(tollgate_bin, g, "sandbox", "get", "default").returncode == 0
        # another sandbox goes as before
        assert cli(tollgate_bin, g, "sandbox", "create", "--name", "other").returncode == 0
        r = cli(tollgate_bin, g, "sandbox", "delete", "other")
        assert r.returncode == 0 and b"deleted sandbox other" in r.stdout, r.stderr
    finally:
        g.stop()
    # under `tollgate gateway` (no in-process proxy) it can be deleted
    g = Gateway(tollgate_bin, tmp_path / "state").start()
    try:
        r = cli(tollgate_bin, g, "sandbox", "delete", "default")
        assert r.returncode == 0, r.stderr.decode()
    finally:
        g.stop()


def test_proc_events_are_sandbox_source_and_redacted_per_argument(tollgate_bin, tmp_path):
    """The PROC event `sandbox exec` posts: source `sandbox`, and the command
    line one token per argument (`sh -c 'env | grep -i proxy'` is 3)."""
    g = up(tollgate_bin, tmp_path)
    try:
        body = {"activity": "launch", "pid": 4242, "path": "/bin/sh",
                "argv": ["sh", "-c", "env | grep -i proxy; echo SECRET"],
                "actor": {"pid": os.getpid(), "path": tollgate_bin,
                          "argv": ["tollgate", "sandbox", "exec", "--name", "default", "--",
                                   "sh", "-c", "env | grep -i proxy; echo SECRET"]}}
        status, data = g.request("POST", "/v1/sandboxes/default/process", json.dumps(body))
        assert status == 200, data
        settle(g)
        r = cli(tollgate_bin, g, "logs", "default", "--source", "sandbox", "--json")
        evs = [json.loads(l) for l in r.stdout.decode().splitlines()]
        procs = [e for e in evs if e["class_uid"] == 1007]
        assert len(procs) == 1, r.stdout.decode()
        e = procs[0]
        assert e["metadata"]["log_name"] == "sandbox"
        assert e["process"]["cmd_line"] == "sh -c <redacted>"
        assert len(e["process"]["cmd_line"].split(" ")) == 3
        assert "SECRET" not in json.dumps(e)
        r = cli(tollgate_bin, g, "logs", "default", "--source", "gateway", "--json")
        assert all(json.loads(l)["class_uid"] != 1007 for l in r.stdout.decode().splitlines())
        r = cli(tollgate_bin, g, "logs", "default", "--source", "sandbox")
        assert "PROC:LAUNCH" in r.stdout.decode()
    finally:
        g.stop()


def test_readme_links_and_command_table():
    readme = (ROOT / "README.md").read_text()
    assert "../shared/DESIGN.md" not in readme and "../shared/STYLE.md" not in readme
    for link in re.findall(r"\]\(([^)#:]+)\)", readme):
        assert (ROOT / link).exists(), link
    design = ROOT / "docs" / "DESIGN.md"
    assert design.exists() and "docs/DESIGN.md" in readme
    text = design.read_text()
    for word in ("NET:OPEN", "PROC:LAUNCH", "FINDING", "trust", "sequence"):
        assert word in text, word
    table = readme[readme.index("## Commands"):]
    table = table[:table.index("\n\n", table.index("| command |"))]
    rows = [l for l in table.splitlines() if l.startswith("| `tollgate up")]
    assert len(rows) == 1, rows
    assert "make run ARGS=" in readme
    assert "status --watch" in readme or "[--watch" in readme
