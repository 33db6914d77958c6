"""Kafka and Splunk HEC exporters end to end: the real `tollgate gateway`
with an exporters config, the librdkafka mock cluster (build/tools/kafka_mock)
read back by kcat, and a local HEC receiver (tests/tools/hec_receiver.py).
Counts and uids are checked against the spool: nothing lost, duplicates only
from batches in flight."""
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import Gateway, ROOT
from exportlib import (delivered_all, exporter, file_lines, make_events, post_all, spool_uids,
                       wait_for)

TOOLS = pathlib.Path(os.environ.get("TOLLGATE_TOOLS", ROOT / "build" / "tools"))
HEC = ROOT / "tests" / "tools" / "hec_receiver.py"
TOKEN = "00000000-1111-2222-3333-444444444444"

need_kcat = pytest.mark.skipif(not shutil.which("kcat"), reason="kcat not installed (make test installs it)")


class KafkaMock:
    def __init__(self, brokers=3):
        self.proc = subprocess.Popen([str(TOOLS / "kafka_mock"), str(brokers)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.bootstrap = self.proc.stdout.readline().strip()
        assert self.bootstrap, "kafka_mock did not start"

    def cmd(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline().strip()
        assert reply == "ok", f"{line}: {reply}"

    def consume(self, topic):
        """Every message of the topic, read by kcat (an independent consumer)."""
        r = subprocess.run(["kcat", "-b", self.bootstrap, "-C", "-t", topic, "-o", "beginning",
                            "-e", "-q", "-f", "%k\t%h\t%s\n"], capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr
        out = []
        for line in r.stdout.decode().splitlines():
            key, headers, value = line.split("\t", 2)
            out.append((key, headers, json.loads(value)))
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class HecReceiver:
    def __init__(self, tmp_path, port=0, *args):
        self.out = tmp_path / "hec.ndjson"
        self.proc = subprocess.Popen([sys.executable, str(HEC), "--port", str(port), "--token",
                                      TOKEN, "--out", str(self.out), *args],
                                     stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline())

    def _req(self, method, path, body=None):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.request(method, path, body=json.dumps(body) if body is not None else None)
        r = c.getresponse()
        data = r.read()
        c.close()
        return json.loads(data)

    def control(self, **kw):
        return self._req("POST", "/_control", kw)

    def stats(self):
        return self._req("GET", "/_stats")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def config(tmp_path, text):
    p = tmp_path / "tollgate.yaml"
    p.write_text(text)
    return str(p)


FAST_RETRY = "retry: {initial: 100ms, max: 1s}"


@pytest.fixture
def kafka():
    k = KafkaMock()
    yield k
    k.stop()


@pytest.fixture
def hec(tmp_path):
    started = []

    def make(*args, port=0):
        h = HecReceiver(tmp_path, port, *args)
        started.append(h)
        return h
    yield make
    for h in started:
        h.stop()


@need_kcat
def test_kafka_every_event_once_through_a_broker_outage(tollgate_bin, tmp_path, kafka):
    kafka.cmd("create-topic ocsf 3")
    cfg = config(tmp_path, f"""
exporters:
  - name: siem
    type: kafka
    brokers: "{kafka.bootstrap}"
    topic: ocsf
    {FAST_RETRY}
    timeout: 5s
    rdkafka.message.timeout.ms: "4000"
""")
    g = Gateway(tollgate_bin, tmp_path / "state", ["--config", cfg]).start()
    try:
        post_all(g, make_events(tollgate_bin, 1000))
        assert wait_for(lambda: delivered_all(g, "siem"), timeout=60)
        # request errors, then every broker down for 10 s while events keep coming
        kafka.cmd("errors Produce 5 NOT_LEADER_FOR_PARTITION")
        post_all(g, make_events(tollgate_bin, 300))
        for b in (1, 2, 3):
            kafka.cmd(f"down {b}")
        post_all(g, make_events(tollgate_bin, 300))
        time.sleep(10)
        assert exporter(g, "siem")["lag_events"] > 0  # held back, not lost
        for b in (1, 2, 3):
            kafka.cmd(f"up {b}")
        assert wait_for(lambda: delivered_all(g, "siem"), timeout=90)
        msgs = kafka.consume("ocsf")
        got = [m[2]["metadata"]["uid"] for m in msgs]
        spool = spool_uids(g)
        assert set(got) == set(spool)
        assert len(got) - len(set(got)) <= 2 * 5000  # duplicates only from batches in flight
        for key, headers, ev in msgs:
            assert "ocsf_class_uid=%d" % ev["class_uid"] in headers
            assert "ocsf_version=1.7.0" in headers
            sandbox = ev.get("device", {}).get("container", {}).get("name", "")
            assert key == sandbox
        x = exporter(g, "siem")
        assert x["delivered"] >= len(set(spool)) and x["dead_lettered"] == 0
    finally:
        g.stop()


def test_hec_storm_rejected_event_and_no_duplicates(tollgate_bin, tmp_path, hec):
    h = hec()
    events = make_events(tollgate_bin, 600)
    bad_uid = json.loads(events[250])["metadata"]["uid"]
    h.control(script=[503, 503, 503, 429, 200, 503], reject_uids=[bad_uid])
    cfg = config(tmp_path, f"""
exporters:
  - name: splunk
    type: hec
    url: "http://127.0.0.1:{h.port}"
    token: "{TOKEN}"
    {FAST_RETRY}
    batch: {{max_events: 100}}
""")
    g = Gateway(tollgate_bin, tmp_path / "state", ["--config", cfg]).start()
    try:
        post_all(g, events)
        assert wait_for(lambda: delivered_all(g, "splunk"), timeout=60)
        st = h.stats()
        spool = set(spool_uids(g))
        got = st["uids"]
        assert set(got) == spool - {bad_uid}
        assert len(got) == len(set(got)), "a partial failure resent what was delivered"
        # the refused event is in the dead letters, with Splunk's reason
        dlq = [json.loads(l) for l in
               (tmp_path / "state" / "dlq" / "splunk.jsonl").read_text().splitlines()]
        assert [d["event"]["metadata"]["uid"] for d in dlq] == [bad_uid]
        assert dlq[0]["exporter"] == "splunk" and dlq[0]["reason"]
        x = exporter(g, "splunk")
        assert x["dead_lettered"] == 1 and x["retried"] > 0
        assert st["statuses"].get("503", 0) >= 4 and st["statuses"].get("429", 0) == 1
        assert st["gzip_posts"] > 0
        # envelopes as Splunk documents them
        env = json.loads(open(h.out).readline())
        assert env["sourcetype"].startswith("ocsf:") and env["source"] == "tollgate"
        assert isinstance(env["time"], (int, float)) and env["event"]["metadata"]["uid"]
    finally:
        g.stop()


def test_hec_bad_token_pauses_then_resumes(tollgate_bin, tmp_path, hec):
    h = hec()
    h.control(token="another-token")
    cfg = config(tmp_path, f"""
exporters:
  - name: splunk
    type: hec
    url: "http://127.0.0.1:{h.port}"
    token: "{TOKEN}"
    retry: {{initial: 100ms, max: 500ms}}
""")
    g = Gateway(tollgate_bin, tmp_path / "state", ["--config", cfg]).start()
    try:
        post_all(g, make_events(tollgate_bin, 50))
        assert wait_for(lambda: exporter(g, "splunk")["paused"], timeout=20)
        r = subprocess.run([tollgate_bin, "status", "--gateway", g.url, "--state", g.state],
                           capture_output=True)
        assert r.returncode == 1 and b"PAUSED" in r.stdout, r.stdout
        assert TOKEN.encode() not in r.stdout  # the token is never shown
        status, metrics = g.request("GET", "/metrics")
        assert b'tollgate_exporter_paused{exporter="splunk"} 1' in metrics
        h.control(token=TOKEN)
        assert wait_for(lambda: delivered_all(g, "splunk"), timeout=30)
        assert not exporter(g, "splunk")["paused"]
        assert set(h.stats()["uids"]) == set(spool_uids(g))
    finally:
        g.stop()


def test_hec_indexer_acknowledgement(tollgate_bin, tmp_path, hec):
    h = hec("--ack", "--ack-delay", "0.3")
    cfg = config(tmp_path, f"""
exporters:
  - name: splunk
    type: hec
    url: "http://127.0.0.1:{h.port}"
    token: "{TOKEN}"
    ack: on
    {FAST_RETRY}
""")
    g = Gateway(tollgate_bin, tmp_path / "state", ["--config", cfg]).start()
    try:
        post_all(g, make_events(tollgate_bin, 200))
        assert wait_for(lambda: delivered_all(g, "splunk"), timeout=30)
        st = h.stats()
        assert st["ack_queries"] > 0 and st["channels"]
        assert set(st["uids"]) == set(spool_uids(g))
    finally:
        g.stop()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@need_kcat
def test_one_sink_down_30s_the_others_keep_delivering(tollgate_bin, tmp_path, hec, kafka):
    """Isolation: the HEC receiver is down for 30 s while Kafka and the file
    exporter deliver everything; then every Kafka broker is down for 30 s
    while HEC and the file deliver. Each catches up; all three end with every
    event, through a gateway restart in the middle of each outage."""
    port = free_port()
    kafka.cmd("create-topic ocsf 1")
    cfg = config(tmp_path, f"""
exporters:
  - {{name: archive, type: file, dir: {tmp_path / "files"}}}
  - name: siem
    type: kafka
    brokers: "{kafka.bootstrap}"
    topic: ocsf
    {FAST_RETRY}
  - name: splunk
    type: hec
    url: "http://127.0.0.1:{port}"
    token: "{TOKEN}"
    timeout: 2s
    {FAST_RETRY}
""")
    state = tmp_path / "state"
    g = Gateway(tollgate_bin, state, ["--config", cfg]).start()
    try:
        # the receiver is not there yet: down from the start
        t0 = time.time()
        post_all(g, make_events(tollgate_bin, 500))
        assert wait_for(lambda: delivered_all(g, "archive") and delivered_all(g, "siem"),
                        timeout=20)
        assert exporter(g, "splunk")["lag_events"] > 0
        post_all(g, make_events(tollgate_bin, 500))
        assert wait_for(lambda: delivered_all(g, "archive") and delivered_all(g, "siem"),
                        timeout=20)
        time.sleep(max(0, 30 - (time.time() - t0)))
        assert exporter(g, "splunk")["last_error"]  # the outage is visible
        assert exporter(g, "splunk")["lag_events"] > 0
        g.stop()  # a restart in the middle of the outage
        g = Gateway(tollgate_bin, state, ["--config", cfg]).start()
        h = hec(port=port)
        assert wait_for(lambda: delivered_all(g, "splunk"), timeout=60)
        # then Kafka's turn: every broker down for 30 s, HEC and the file go on
        for b in (1, 2, 3):
            kafka.cmd(f"down {b}")
        t0 = time.time()
        post_all(g, make_events(tollgate_bin, 500))
        assert wait_for(lambda: delivered_all(g, "archive") and delivered_all(g, "splunk"),
                        timeout=20)
        time.sleep(max(0, 30 - (time.time() - t0)))
        assert exporter(g, "siem")["lag_events"] > 0
        g.stop()  # and a restart in the middle of that outage too
        g = Gateway(tollgate_bin, state, ["--config", cfg]).start()
        for b in (1, 2, 3):
            kafka.cmd(f"up {b}")
        assert wait_for(lambda: delivered_all(g, "siem"), timeout=90)
        spool = set(spool_uids(g))
        assert set(h.stats()["uids"]) == spool
        assert set(m[2]["metadata"]["uid"] for m in kafka.consume("ocsf")) == spool
        assert set(e["metadata"]["uid"] for e in file_lines(tmp_path / "files")) == spool
    finally:
        g.stop()


@need_kcat
def test_kafka_source_fans_in_once(tollgate_bin, tmp_path, kafka):
    """A gateway consumes an OCSF topic (what other collectors export) into
    its spool: every valid event once, even across a restart (offsets are
    committed after the spool has them; re-deliveries are recognised by
    uid); a message that is not OCSF goes to the dead letters."""
    kafka.cmd("create-topic fanin 2")
    events = make_events(tollgate_bin, 400, sandbox="remote-host-box")
    junk = "this is not an OCSF event"
    r = subprocess.run(["kcat", "-b", kafka.bootstrap, "-P", "-t", "fanin"],
                       input=("\n".join(events[:300] + [junk]) + "\n").encode(),
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    state = tmp_path / "state"
    args = ["--set", f"source.kafka.brokers={kafka.bootstrap}", "--set", "source.kafka.topic=fanin"]
    g = Gateway(tollgate_bin, state, args).start()
    want = {json.loads(e)["metadata"]["uid"] for e in events}

    def remote_uids():
        return [u for u in spool_uids(g) if u in want]
    try:
        assert wait_for(lambda: len(remote_uids()) == 300, timeout=60)
        g.stop()
        subprocess.run(["kcat", "-b", kafka.bootstrap, "-P", "-t", "fanin"],
                       input=("\n".join(events[300:]) + "\n").encode(), check=True, timeout=60)
        g = Gateway(tollgate_bin, state, args).start()
        assert wait_for(lambda: len(remote_uids()) == 400, timeout=60)
        time.sleep(2)
        got = remote_uids()
        assert len(got) == len(set(got)) == 400  # none twice after the restart
        dlq = (state / "dlq" / "kafka-source.jsonl").read_text().splitlines()
        assert len(dlq) == 1 and json.loads(dlq[0])["raw"] == junk
        status, metrics = g.request("GET", "/metrics")
        assert b"tollgate_kafka_source_appended_total" in metrics
    finally:
        g.stop()
