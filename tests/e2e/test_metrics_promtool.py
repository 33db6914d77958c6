"""`promtool check metrics` (Debian's prometheus package, installed by
`scripts/deps.sh test`) on a live /metrics: a gateway with two file
exporters, two Kafka exporters and a HEC exporter (so families of the same
sink type are grouped once), and the Kafka source, all on the librdkafka mock
cluster. Every family has its HELP and TYPE, none twice."""
import re
import shutil
import subprocess

import pytest

from conftest import Gateway
from exportlib import delivered_all, make_events, post_all, wait_for
from test_export_sinks import TOKEN, KafkaMock, HecReceiver, config

PROMTOOL = shutil.which("promtool")
need_promtool = pytest.mark.skipif(
    not PROMTOOL, reason="promtool not installed: `scripts/deps.sh test` (root) installs "
                         "Debian's prometheus package, which has it")


@need_promtool
def test_live_metrics_pass_promtool(tollgate_bin, tmp_path):
    kafka = KafkaMock()
    hec = HecReceiver(tmp_path)
    g = None
    try:
        kafka.cmd("create-topic ocsf 2")
        kafka.cmd("create-topic ocsf2 1")
        kafka.cmd("create-topic fanin 1")
        cfg = config(tmp_path, f"""
exporters:
  - {{name: archive, type: file, dir: {tmp_path / "out1"}}}
  - {{name: archive-2, type: file, dir: {tmp_path / "out2"}, compress: none}}
  - name: siem
    type: kafka
    brokers: "{kafka.bootstrap}"
    topic: ocsf
  - name: siem-2
    type: kafka
    brokers: "{kafka.bootstrap}"
    topic: ocsf2
  - name: splunk
    type: hec
    url: "http://127.0.0.1:{hec.port}"
    token: "{TOKEN}"
""")
        g = Gateway(tollgate_bin, tmp_path / "state",
                    ["--config", cfg, "--set", f"source.kafka.brokers={kafka.bootstrap}",
                     "--set", "source.kafka.topic=fanin"]).start()
        post_all(g, make_events(tollgate_bin, 50))
        for name in ("archive", "archive-2", "siem", "siem-2", "splunk"):
            assert wait_for(lambda: delivered_all(g, name), timeout=60), name
        status, text = g.request("GET", "/metrics")
        assert status == 200
        (tmp_path / "metrics.txt").write_bytes(text)
        r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                           timeout=60)
        assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), (
            r.stdout.decode() + r.stderr.decode())
        body = text.decode()
        helps = re.findall(r"^# HELP (\S+) ", body, re.M)
        types = re.findall(r"^# TYPE (\S+) ", body, re.M)
        assert len(helps) == len(set(helps)) and set(helps) == set(types)
        samples = {re.match(r"[^{ ]+", l).group(0) for l in body.splitlines()
                   if l and not l.startswith("#")}
        assert samples <= set(types), samples - set(types)
        for family in ("tollgate_exporter_file_events_written_total",
                       "tollgate_exporter_kafka_queue_full_total",
                       "tollgate_hec_requests_total",
                       "tollgate_kafka_source_consumed_total"):
            assert family in helps, family
        # one group per family: both Kafka exporters under one HELP
        assert 'tollgate_exporter_kafka_purged_total{exporter="siem"}' in body
        assert 'tollgate_exporter_kafka_purged_total{exporter="siem-2"}' in body
    finally:
        if g:
            g.stop()
        hec.stop()
        kafka.stop()
