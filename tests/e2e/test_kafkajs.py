"""kafkajs (Node's most used Kafka client) reads what the Kafka exporter
writes with its default settings: every exported event exactly once, from
the librdkafka mock cluster (build/tools/kafka_mock). kafkajs decodes only
gzip without a plugin, so this holds the exporter's default codec to one
every mainstream client reads.

kafkajs is installed from the npm registry into <build>/npm (kept between
runs); the test skips, saying why, without node and npm or when the install
fails (no registry)."""
import json
import os
import pathlib
import shutil
import subprocess

import pytest

from conftest import Gateway, ROOT
from exportlib import delivered_all, make_events, post_all, spool_uids, wait_for
from test_export_sinks import KafkaMock, config

KAFKAJS = "kafkajs@2.2.4"
TOOLS = pathlib.Path(os.environ.get("TOLLGATE_TOOLS", ROOT / "build" / "tools"))
NPM_DIR = TOOLS.parent / "npm"

CONSUMER = r"""
const { Kafka, logLevel } = require(process.env.KAFKAJS);
const [broker, topic, want] = [process.argv[2], process.argv[3], Number(process.argv[4])];
const kafka = new Kafka({ clientId: 'tollgate-e2e', brokers: broker.split(','), logLevel: logLevel.ERROR,
                          retry: { retries: 10 } });
const consumer = kafka.consumer({ groupId: 'tollgate-e2e-kafkajs' });
let got = 0, done = false;
const finish = async (code) => {
  if (done) return;
  done = true;
  clearTimeout(timer);
  await consumer.disconnect().catch(() => {});
  process.exit(code);
};
const timer = setTimeout(() => {
  process.stderr.write(`timed out with ${got} of ${want} messages\n`);
  finish(got >= want ? 0 : 3);
}, 60000);
consumer.on(consumer.events.CRASH, (e) => {
  process.stderr.write(`crash: ${e.payload.error && e.payload.error.message}\n`);
  finish(2);
});
(async () => {
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      const headers = {};
      for (const [k, v] of Object.entries(message.headers || {})) headers[k] = v.toString();
      process.stdout.write(JSON.stringify({ partition, offset: message.offset,
        key: message.key && message.key.toString(), headers,
        value: message.value.toString() }) + '\n');
      if (++got >= want) setTimeout(() => finish(0), 1000); // a second more: no extra message
    },
  });
})().catch((e) => { process.stderr.write(`error: ${e.message}\n`); finish(1); });
"""


def kafkajs_path():
    """The installed kafkajs (installed on first use); a skip reason when it
    cannot be had."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node and npm are needed for the kafkajs test "
                    "(`scripts/deps.sh test` installs nodejs)")
    mod = NPM_DIR / "node_modules" / "kafkajs"
    if not (mod / "package.json").exists():
        NPM_DIR.mkdir(parents=True, exist_ok=True)
        r = subprocess.run([npm, "install", "--prefix", str(NPM_DIR), "--no-audit", "--no-fund",
                            "--no-save", "--loglevel=error", KAFKAJS],
                           capture_output=True, timeout=300)
        if r.returncode != 0 or not (mod / "package.json").exists():
            pytest.skip(f"npm install {KAFKAJS} failed (is the npm registry reachable?): "
                        + r.stderr.decode(errors="replace")[-500:])
    return str(mod)


def test_kafkajs_reads_every_exported_event_once(tollgate_bin, tmp_path):
    kafkajs = kafkajs_path()
    kafka = KafkaMock()
    g = None
    try:
        kafka.cmd("create-topic ocsf 3")
        # the exporter's defaults: no rdkafka.compression.codec here
        cfg = config(tmp_path, f"""
exporters:
  - name: siem
    type: kafka
    brokers: "{kafka.bootstrap}"
    topic: ocsf
""")
        g = Gateway(tollgate_bin, tmp_path / "state", ["--config", cfg]).start()
        post_all(g, make_events(tollgate_bin, 600))
        assert wait_for(lambda: delivered_all(g, "siem"), timeout=60)
        spool = spool_uids(g)
        script = tmp_path / "consume.js"
        script.write_text(CONSUMER)
        r = subprocess.run(["node", str(script), kafka.bootstrap, "ocsf", str(len(spool))],
                           capture_output=True, timeout=120, env=dict(os.environ, KAFKAJS=kafkajs))
        assert r.returncode == 0, r.stderr.decode()
        msgs = [json.loads(l) for l in r.stdout.decode().splitlines()]
        got = [json.loads(m["value"])["metadata"]["uid"] for m in msgs]
        assert len(got) == len(set(got)) == len(spool), (len(got), len(set(got)), len(spool))
        assert set(got) == set(spool)
        for m in msgs:
            ev = json.loads(m["value"])
            assert m["headers"]["ocsf_class_uid"] == str(ev["class_uid"])
            assert m["headers"]["ocsf_version"] == "1.7.0"
    finally:
        if g:
            g.stop()
        kafka.stop()
