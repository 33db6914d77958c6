"""The export engine end to end with the file exporter: `tollgate up`'s
default, restart and kill -9 (at least once, duplicates only from the batch
in flight), dead letters, downgrade, status and metrics, config errors."""
import os
import subprocess
import sys
import time

import pytest

from conftest import Gateway, SHARED
from exportlib import (delivered_all, exporter, file_lines, make_events, post_all, spool_uids,
                       status_json, wait_for)

VALIDATE_PY = SHARED / "ocsf" / "validate.py"


def config(tmp_path, text):
    p = tmp_path / "tollgate.yaml"
    p.write_text(text)
    return str(p)


def test_up_runs_the_file_exporter_by_default(tollgate_bin, tmp_path):
    g = Gateway(tollgate_bin, tmp_path / "state",
                ["--proxy-listen", "127.0.0.1:0"], command="up").start()
    try:
        uids = post_all(g, make_events(tollgate_bin, 300))
        out = tmp_path / "state" / "export"
        assert wait_for(lambda: delivered_all(g, "file"))
        got = [e["metadata"]["uid"] for e in file_lines(out)]
        assert set(uids) <= set(got)
        assert sorted(got) == sorted(spool_uids(g))  # everything, once
        x = exporter(g, "file")
        assert x["type"] == "file" and not x["paused"] and x["lag_events"] == 0
        status, metrics = g.request("GET", "/metrics")
        assert b'tollgate_exporter_delivered_total{exporter="file"} ' in metrics
        r = subprocess.run([tollgate_bin, "status", "--gateway", g.url, "--state", g.state],
                           capture_output=True)
        assert r.returncode == 0, r.stderr
        assert b" file " in r.stdout and b"ok" in r.stdout
    finally:
        g.stop()


def test_kill9_during_export_loses_nothing(tollgate_bin, tmp_path):
    out = tmp_path / "out"
    cfg = config(tmp_path, f"""
exporters:
  - name: archive
    type: file
    dir: {out}
    rotate_bytes: 256KiB
    batch: {{max_events: 200, linger: 0ms}}
""")
    state = tmp_path / "state"
    g = Gateway(tollgate_bin, state, ["--config", cfg]).start()
    uids = post_all(g, make_events(tollgate_bin, 3000))
    time.sleep(0.3)  # mid-export
    g.kill9()
    g = Gateway(tollgate_bin, state, ["--config", cfg]).start()
    try:
        uids += post_all(g, make_events(tollgate_bin, 1000))
        assert wait_for(lambda: delivered_all(g, "archive"), timeout=60)
        got = [e["metadata"]["uid"] for e in file_lines(out)]
        spool = spool_uids(g)
        assert set(spool) == set(got)  # every event, rotated files included
        assert set(uids) <= set(got)
        dups = len(got) - len(set(got))
        assert dups <= 200, f"{dups} duplicates: more than the batch in flight"
        assert any(n.endswith(".jsonl.zst") for n in os.listdir(out))  # rotation happened
    finally:
        g.stop()


def test_restart_resumes_at_the_checkpoint(tollgate_bin, tmp_path):
    out = tmp_path / "out"
    cfg = config(tmp_path, f"exporters:\n  - {{name: a, type: file, dir: {out}}}\n")
    state = tmp_path / "state"
    g = Gateway(tollgate_bin, state, ["--config", cfg]).start()
    uids = post_all(g, make_events(tollgate_bin, 100))
    g.stop()  # right away: a clean stop lets the exporter ship what it has
    got = file_lines(out)
    assert set(uids) <= {e["metadata"]["uid"] for e in got}
    assert any(e["class_uid"] == 6002 and e["activity_id"] == 4 for e in got)  # gateway stop
    g = Gateway(tollgate_bin, state, ["--config", cfg]).start()
    try:
        post_all(g, make_events(tollgate_bin, 50))
        assert wait_for(lambda: delivered_all(g, "a"))
        got = [e["metadata"]["uid"] for e in file_lines(out)]
        assert len(got) == len(set(got))  # a clean stop and start: no duplicates
        assert set(got) == set(spool_uids(g))
    finally:
        g.stop()


@pytest.mark.parametrize("version", ["1.3.0", "1.1.0"])
def test_downgraded_output_validates(tollgate_bin, tmp_path, version):
    out = tmp_path / "out"
    cfg = config(tmp_path, f"""
exporters:
  - {{name: old, type: file, dir: {out}, ocsf_version: "{version}", compress: none}}
""")
    g = Gateway(tollgate_bin, tmp_path / "state", ["--config", cfg]).start()
    try:
        post_all(g, make_events(tollgate_bin, 45))
        assert wait_for(lambda: delivered_all(g, "old"))
        lines = file_lines(out)
        assert lines and all(e["metadata"]["version"] == version for e in lines)
        assert exporter(g, "old")["dead_lettered"] == 0
        if VALIDATE_PY.exists():
            files = [out / n for n in os.listdir(out) if n.endswith(".jsonl")]
            r = subprocess.run([sys.executable, str(VALIDATE_PY), "--schema", version,
                                "--warnings-fail", *map(str, files)], capture_output=True)
            assert r.returncode == 0, r.stdout.decode()[-3000:]
            assert b" 0 failed" in r.stdout
    finally:
        g.stop()


def test_two_file_exporters_each_get_everything(tollgate_bin, tmp_path):
    cfg = config(tmp_path, f"""
exporters:
  - {{name: one, type: file, dir: {tmp_path / "one"}}}
  - {{name: two, type: file, dir: {tmp_path / "two"}, human_log: on}}
  - {{name: off, type: file, dir: {tmp_path / "off"}, enabled: off}}
""")
    g = Gateway(tollgate_bin, tmp_path / "state", ["--config", cfg]).start()
    try:
        post_all(g, make_events(tollgate_bin, 200))
        assert wait_for(lambda: delivered_all(g, "one") and delivered_all(g, "two"))
        a = sorted(e["metadata"]["uid"] for e in file_lines(tmp_path / "one"))
        b = sorted(e["metadata"]["uid"] for e in file_lines(tmp_path / "two"))
        assert a == b == sorted(spool_uids(g))
        logs = [n for n in os.listdir(tmp_path / "two") if n.endswith(".log")]
        assert logs, "human_log: on writes the log lines too"
        assert not (tmp_path / "off").exists()
        st = status_json(g)
        assert [x["enabled"] for x in st["exporters"]] == [True, True, False]
    finally:
        g.stop()


BAD = [
    ("exporters:\n  - {name: a, type: file}\n", ":2:", "dir"),
    ("exporters:\n  - name: a\n    type: file\n    dir: /x\n    colour: red\n", ":5:",
     "unknown key 'colour'"),
    ("exporters:\n  - name: a\n    type: kafka\n    topic: t\n", ":2:", "brokers"),
    ("exporters:\n  - name: a\n    type: kafka\n    brokers: x:1\n    topic: t\n"
     "    rdkafka.no.such.property: 1\n", ":6:", "no.such.property"),
    ("exporters:\n  - name: a\n    type: hec\n    url: http://x\n", ":2:", "token"),
    ("exporters:\n  - name: a\n    type: file\n    dir: /x\n    batch: {max_events: -1}\n",
     ":5:", "batch.max_events"),
    ("exporters:\n  - name: a\n    type: nope\n", ":3:", "type 'nope'"),
    ("exporters:\n  - {name: a, type: file, dir: /x}\n  - {name: a, type: file, dir: /y}\n",
     ":3:", "used twice"),
]


@pytest.mark.parametrize("text,line,what", BAD)
def test_bad_exporter_config_names_file_line_and_key(tollgate_bin, tmp_path, text, line, what):
    cfg = config(tmp_path, text)
    r = subprocess.run([tollgate_bin, "gateway", "--state", str(tmp_path / "s"), "--config", cfg,
                        "--listen", "127.0.0.1:0"], capture_output=True, timeout=20)
    err = r.stderr.decode()
    assert r.returncode != 0
    assert cfg + line in err, err
    assert what in err, err


@pytest.mark.parametrize("fmt", ["json", "log"])
def test_stdout_exporter(tollgate_bin, tmp_path, fmt):
    """type: stdout writes every event as a line on the gateway's standard
    output: NDJSON, or the human log line."""
    import json as _json
    import select
    cfg = config(tmp_path, f"exporters:\n  - {{name: out, type: stdout, format: {fmt}}}\n")
    g = Gateway(tollgate_bin, tmp_path / "state", ["--config", cfg])
    args = [tollgate_bin, "gateway", "--state", g.state, "--listen", "127.0.0.1:0",
            "--config", cfg]
    g.proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.PIPE)
    buf = b""
    end = time.time() + 20
    while b"listening on" not in buf and time.time() < end:
        chunk = os.read(g.proc.stderr.fileno(), 4096)
        if not chunk:
            break
        buf += chunk
    started = [l for l in buf.decode(errors="replace").splitlines() if "listening on" in l]
    assert started, buf.decode(errors="replace")
    line = started[0]
    g.port = int(line.split("://", 1)[1].split(" ")[0].rsplit(":", 1)[1])
    try:
        lines = make_events(tollgate_bin, 30)
        uids = post_all(g, lines)
        assert wait_for(lambda: delivered_all(g, "out"))
        out = b""
        while True:
            r, _, _ = select.select([g.proc.stdout], [], [], 0.5)
            if not r:
                break
            chunk = os.read(g.proc.stdout.fileno(), 65536)
            if not chunk:
                break
            out += chunk
        text = out.decode()
        if fmt == "json":
            got = [_json.loads(l)["metadata"]["uid"] for l in text.splitlines()]
            assert set(uids) <= set(got) and len(got) == len(set(got))
        else:
            assert len(text.splitlines()) >= 30
            assert all(" OCSF " in l for l in text.splitlines())
            assert "DENIED" in text and "ALLOWED" in text
    finally:
        g.stop()
