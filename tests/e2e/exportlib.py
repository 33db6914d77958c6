"""Helpers of the exporter end-to-end tests: events to send, what arrived."""
import json
import os
import subprocess
import time
import uuid

from conftest import settle


def sample_lines(tollgate_bin):
    r = subprocess.run([tollgate_bin, "ocsf", "samples"], capture_output=True, check=True)
    return r.stdout.decode().splitlines()


def make_events(tollgate_bin, n, sandbox="box"):
    """n distinct events (each its own uid), cycling through the samples."""
    base = [json.loads(l) for l in sample_lines(tollgate_bin)]
    out = []
    for i in range(n):
        ev = json.loads(json.dumps(base[i % len(base)]))
        ev["metadata"]["uid"] = str(uuid.uuid4())
        ev.setdefault("device", {}).setdefault("container", {})["name"] = sandbox
        out.append(json.dumps(ev, separators=(",", ":")))
    return out


def post_all(g, lines, chunk=500):
    """POSTs lines in chunks; returns the uids the gateway acknowledged."""
    uids = []
    for i in range(0, len(lines), chunk):
        part = lines[i:i + chunk]
        status, reply = g.post_events(part)
        assert status == 200, reply
        assert reply["accepted"] == len(part), reply
        uids += [json.loads(l)["metadata"]["uid"] for l in part]
    return uids


def spool_uids(g):
    """Every event uid in the spool (the truth the exporters must match)."""
    settle(g)
    status, data = g.request("GET", "/v1/logs?format=json&limit=0")
    assert status == 200
    return [json.loads(l)["metadata"]["uid"] for l in data.decode().splitlines()]


def file_lines(d):
    """Every line of the file exporter's output, rotated (.zst) ones included,
    in no particular order. Asserts each line is whole JSON."""
    lines = []
    if not os.path.isdir(d):
        return lines
    for name in sorted(os.listdir(d)):
        path = os.path.join(d, name)
        if name.endswith(".jsonl.zst"):
            data = subprocess.run(["zstd", "-dcq", path], capture_output=True,
                                  check=True).stdout
        elif name.endswith(".jsonl"):
            with open(path, "rb") as f:
                data = f.read()
        else:
            continue
        assert not data or data.endswith(b"\n"), f"{name}: a torn last line"
        for l in data.decode().splitlines():
            lines.append(json.loads(l))
    return lines


def wait_for(pred, timeout=30, step=0.2):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def status_json(g):
    status, data = g.request("GET", "/v1/status")
    assert status == 200, data
    return json.loads(data)


def exporter(g, name):
    for x in status_json(g)["exporters"]:
        if x["name"] == name:
            return x
    raise KeyError(name)


def delivered_all(g, name):
    """True once the exporter's checkpoint has reached the spool's end."""
    settle(g)
    st = status_json(g)
    x = [x for x in st["exporters"] if x["name"] == name][0]
    return x["checkpoint"] >= st["collector"]["written_sequence"]
