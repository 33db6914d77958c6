"""The audit trail needs a secret to rewrite: a keyed chain (HMAC-SHA-256,
key outside the spool), a head witness beside the spool, and signed
checkpoints (Ed25519) that the exporters carry off the machine."""
import base64
import hashlib
import json
import os
import shutil
import subprocess

from conftest import Gateway, SHARED
from exportlib import delivered_all, file_lines, make_events, post_all, wait_for

VALIDATE_PY = SHARED / "ocsf" / "validate.py"


def run(tollgate_bin, *args):
    return subprocess.run([tollgate_bin, *args], capture_output=True, timeout=60)


def segments(state):
    d = os.path.join(state, "spool")
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.startswith("seg-"))


def records(seg):
    """(offset, sequence, total) of every record of a segment."""
    data = open(seg, "rb").read()
    off, out = 96, []
    while off + 84 <= len(data):
        total = int.from_bytes(data[off + 4:off + 8], "little")
        out.append((off, int.from_bytes(data[off + 12:off + 20], "little"), total))
        off += total
    return out


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def start(tollgate_bin, tmp_path, n=200, every=50):
    out = tmp_path / "export"
    cfg = tmp_path / "tollgate.yaml"
    cfg.write_text(f"spool:\n  checkpoint_events: {every}\n"
                   f"exporters:\n  - {{name: f, type: file, dir: {out}}}\n")
    g = Gateway(tollgate_bin, tmp_path / "state", ["--config", str(cfg)]).start()
    post_all(g, make_events(tollgate_bin, n))
    assert wait_for(lambda: delivered_all(g, "f"))
    return g, out


def export_file(out, tmp_path):
    p = tmp_path / "export.jsonl"
    with open(p, "w") as f:
        for e in file_lines(out):
            f.write(json.dumps(e) + "\n")
    return str(p)


def test_rechain_without_the_key_is_named(tollgate_bin, tmp_path):
    g, _ = start(tollgate_bin, tmp_path)
    g.stop()
    assert run(tollgate_bin, "verify", "--state", g.state).returncode == 0
    seg = segments(g.state)[0]
    data = bytearray(open(seg, "rb").read())
    recs = records(seg)
    off0, seq, _ = recs[20]
    chain = bytes(data[off0 - 32 - (recs[19][2] - 80 - 4) - 4:off0]) if False else None
    chain = bytes(data[recs[19][0] + 48:recs[19][0] + 80])
    data[off0 + 80 + data[off0 + 41] + 5] ^= 0x01  # edit record 21 (one JSON byte)
    for off, _, total in recs[20:]:
        body = bytes(data[off + 80:off + total - 4])
        chain = hashlib.sha256(chain + bytes(data[off + 12:off + 48]) + body).digest()
        data[off + 48:off + 80] = chain
        data[off + 8:off + 12] = crc32c(bytes(data[off + 12:off + total - 4])).to_bytes(4, "little")
    open(seg, "wb").write(bytes(data))
    r = run(tollgate_bin, "verify", "--state", g.state)
    err = r.stderr.decode()
    assert r.returncode == 1 and f"sequence {seq} " in err and os.path.basename(seg) in err, err


def test_cut_tail_is_seen_with_and_without_exports(tollgate_bin, tmp_path):
    g, out = start(tollgate_bin, tmp_path, n=300, every=40)
    g.stop()
    exp = export_file(out, tmp_path)
    assert run(tollgate_bin, "verify", "--state", g.state, "--checkpoints", exp).returncode == 0
    seg = segments(g.state)[-1]
    recs = records(seg)
    end = recs[-1][1]
    os.truncate(seg, recs[-60][0])  # the last 60 records
    kept = recs[-61][1]
    r = run(tollgate_bin, "verify", "--state", g.state)
    assert r.returncode == 1
    assert f"ends at sequence {kept} but the head witness names {end}" in r.stderr.decode()
    r = run(tollgate_bin, "verify", "--state", g.state, "--checkpoints", exp)
    err = r.stderr.decode()
    assert r.returncode == 1 and f"the spool ends at sequence {kept} but a signed checkpoint" in err
    # the next start continues after the witness and records a finding
    g.start()
    status, data = g.request("GET", "/v1/logs?format=json&limit=0&class=finding")
    found = [json.loads(l) for l in data.decode().splitlines()]
    cut = [e for e in found if e["finding_info"]["uid"] == "spool_cut"]
    assert len(cut) == 1 and f"sequences {kept + 1}..{end} are missing" in cut[0]["message"]
    assert cut[0]["metadata"]["sequence"] == end + 1
    g.stop()


def test_deleted_last_segment_is_seen(tollgate_bin, tmp_path):
    out = tmp_path / "export"
    cfg = tmp_path / "tollgate.yaml"
    cfg.write_text(f"spool:\n  checkpoint_events: 30\n  segment_bytes: 64KiB\n"
                   f"exporters:\n  - {{name: f, type: file, dir: {out}}}\n")
    g = Gateway(tollgate_bin, tmp_path / "state", ["--config", str(cfg)]).start()
    post_all(g, make_events(tollgate_bin, 400))
    assert wait_for(lambda: delivered_all(g, "f"))
    g.stop()
    segs = segments(g.state)
    assert len(segs) > 2
    os.unlink(segs[-1])
    r = run(tollgate_bin, "verify", "--state", g.state)
    assert r.returncode == 1 and "head witness names" in r.stderr.decode()
    r = run(tollgate_bin, "verify", "--state", g.state, "--checkpoints", export_file(out, tmp_path))
    assert r.returncode == 1 and "but a signed checkpoint names" in r.stderr.decode()


def test_forged_checkpoint_and_public_key_only(tollgate_bin, tmp_path):
    g, out = start(tollgate_bin, tmp_path)
    g.stop()
    exp = export_file(out, tmp_path)
    pub = tmp_path / "pub.pem"
    shutil.copy(os.path.join(g.state, "keys", "checkpoint.pub"), pub)
    r = run(tollgate_bin, "verify", "--public-key", str(pub), "--checkpoints", exp)
    assert r.returncode == 0, r.stderr
    assert b"no state directory" in r.stdout
    lines = open(exp).read().splitlines()
    i = next(i for i, l in enumerate(lines) if "checkpoint_sig" in l)
    ev = json.loads(lines[i])
    sig = bytearray(base64.b64decode(ev["unmapped"]["checkpoint_sig"]))
    sig[5] ^= 1
    ev["unmapped"]["checkpoint_sig"] = base64.b64encode(bytes(sig)).decode()
    lines[i] = json.dumps(ev)
    forged = tmp_path / "forged.jsonl"
    forged.write_text("\n".join(lines) + "\n")
    seq = ev["unmapped"]["checkpoint_seq"]
    for args in (["--public-key", str(pub)], ["--state", g.state]):
        r = run(tollgate_bin, "verify", *args, "--checkpoints", str(forged))
        err = r.stderr.decode()
        assert r.returncode == 1 and f"sequence {seq}: the signature does not verify" in err, err


def test_keys_stay_out_of_spool_and_exports_and_events_validate(tollgate_bin, tmp_path):
    g, out = start(tollgate_bin, tmp_path)
    g.stop()
    keys = os.path.join(g.state, "keys")
    assert os.stat(keys).st_mode & 0o777 == 0o700
    for f in ("chain.key", "checkpoint.key"):
        assert os.stat(os.path.join(keys, f)).st_mode & 0o777 == 0o600
    key = open(os.path.join(keys, "chain.key"), "rb").read()
    assert len(key) == 32
    blobs = [open(p, "rb").read() for p in segments(g.state)]
    blobs += [open(os.path.join(out, f), "rb").read() for f in os.listdir(out)]
    blobs.append(open(os.path.join(g.state, "head"), "rb").read())
    for b in blobs:
        assert key not in b and key.hex().encode() not in b
        assert base64.b64encode(key) not in b
    evs = file_lines(out)
    ckpts = [e for e in evs if "checkpoint_sig" in e.get("unmapped", {})]
    assert len(ckpts) >= 4
    path = tmp_path / "ck.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in ckpts))
    r = subprocess.run(["/usr/bin/python3", str(VALIDATE_PY), "--warnings-fail", str(path)],
                       capture_output=True)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([tollgate_bin, "ocsf", "validate", str(path)], capture_output=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_group_readable_chain_key_is_refused(tollgate_bin, tmp_path):
    g, _ = start(tollgate_bin, tmp_path, n=10)
    g.stop()
    os.chmod(os.path.join(g.state, "keys", "chain.key"), 0o640)
    r = subprocess.run([tollgate_bin, "gateway", "--state", g.state, "--listen", "127.0.0.1:0"],
                       capture_output=True, timeout=30)
    assert r.returncode == 1 and b"chain.key" in r.stderr and b"refused" in r.stderr
