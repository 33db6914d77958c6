"""build/tools/kafka_mock (a librdkafka mock cluster driven over stdin) works
with an independent client: kcat produces to it and consumes back.

The tool's protocol is documented at the top of tests/tools/kafka_mock.c:
first stdout line = bootstrap list; commands on stdin (create-topic NAME
PARTITIONS, down ID, up ID, errors APIKEY COUNT CODE, quit), one "ok" or
"error: ..." line each.
"""
import os
import pathlib
import shutil
import signal
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOOLS = pathlib.Path(os.environ.get("TOLLGATE_TOOLS", str(ROOT / "build" / "tools")))
MOCK = TOOLS / "kafka_mock"
KCAT = shutil.which("kcat") or shutil.which("kafkacat")

pytestmark = [
    pytest.mark.skipif(not os.access(MOCK, os.X_OK), reason=f"{MOCK}: run `make tools`"),
    pytest.mark.skipif(KCAT is None, reason="kcat is not installed (Debian package kcat)"),
]


class Mock:
    def __init__(self, brokers=3):
        self.proc = subprocess.Popen([str(MOCK), str(brokers)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.bootstrap = self.proc.stdout.readline().strip()
        assert self.bootstrap.startswith("127.0.0.1:"), self.bootstrap

    def cmd(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


@pytest.fixture
def mock():
    m = Mock()
    yield m
    m.close()


def kcat(*args, stdin=None, timeout=30):
    return subprocess.run([KCAT, *args], input=stdin, capture_output=True, timeout=timeout)


def test_kcat_reads_what_kcat_wrote(mock):
    assert mock.cmd("create-topic t1 3") == "ok"
    lines = [f'{{"n":{i},"msg":"event {i}"}}' for i in range(200)]
    p = kcat("-b", mock.bootstrap, "-P", "-t", "t1", "-K", "|",
             stdin=("".join(f"sb{i % 5}|{line}\n" for i, line in enumerate(lines))).encode())
    assert p.returncode == 0, p.stderr
    c = kcat("-b", mock.bootstrap, "-C", "-t", "t1", "-e", "-o", "beginning", "-q",
             "-f", "%p %k %s\n")
    assert c.returncode == 0, c.stderr
    got = c.stdout.decode().splitlines()
    assert len(got) == 200
    assert sorted(g.split(" ", 2)[2] for g in got) == sorted(lines)
    # the same key always lands on the same partition, and 3 partitions are used
    part_of = {}
    for g in got:
        p_, k, _ = g.split(" ", 2)
        assert part_of.setdefault(k, p_) == p_
    meta = kcat("-b", mock.bootstrap, "-L", "-t", "t1")
    assert meta.returncode == 0
    assert meta.stdout.decode().count("partition ") == 3


def test_commands_and_errors(mock):
    mock.proc.stdin.write("\n")  # an empty line gets no reply: the next reply is create-topic's
    assert mock.cmd("create-topic t2 2") == "ok"
    assert mock.cmd("create-topic t2").startswith("error: usage")
    assert mock.cmd("down 2") == "ok"
    assert mock.cmd("up 2") == "ok"
    assert mock.cmd("down 9").startswith("error:")
    assert mock.cmd("errors Produce 2 NOT_LEADER_FOR_PARTITION") == "ok"
    assert mock.cmd("errors 0 1 7") == "ok"
    assert mock.cmd("errors Produce 1 NO_SUCH_CODE").startswith("error: unknown error code")
    assert mock.cmd("errors Nope 1 7").startswith("error: unknown api key")
    assert mock.cmd("frobnicate").startswith("error: unknown command")
    # the queued Produce errors are retriable: kcat's producer retries through them
    p = kcat("-b", mock.bootstrap, "-P", "-t", "t2", stdin=b"a\nb\nc\n")
    assert p.returncode == 0, p.stderr
    c = kcat("-b", mock.bootstrap, "-C", "-t", "t2", "-e", "-o", "beginning", "-q")
    assert sorted(c.stdout.decode().split()) == ["a", "b", "c"]
    assert mock.cmd("quit") == "ok"
    assert mock.proc.wait(timeout=10) == 0


def test_broker_down_blocks_consumer_until_up(mock):
    assert mock.cmd("create-topic t3 1") == "ok"
    p = kcat("-b", mock.bootstrap, "-P", "-t", "t3", stdin=b"x\n")
    assert p.returncode == 0, p.stderr
    meta = kcat("-b", mock.bootstrap, "-L", "-t", "t3").stdout.decode()
    leader = meta.split("leader ", 1)[1].split(",", 1)[0]
    assert mock.cmd(f"down {leader}") == "ok"
    try:  # the leader is down: nothing comes back in 3 s
        c = kcat("-b", mock.bootstrap, "-C", "-t", "t3", "-e", "-o", "beginning", "-q", timeout=3)
        assert c.stdout.decode().split() != ["x"]
    except subprocess.TimeoutExpired as e:
        assert not (e.output or b"").strip()
    assert mock.cmd(f"up {leader}") == "ok"
    c = kcat("-b", mock.bootstrap, "-C", "-t", "t3", "-e", "-o", "beginning", "-q")
    assert c.stdout.decode().split() == ["x"]


@pytest.mark.parametrize("how", ["eof", "sigterm"])
def test_exits_cleanly(how):
    m = Mock(brokers=1)
    try:
        if how == "eof":
            m.proc.stdin.close()
        else:
            m.proc.send_signal(signal.SIGTERM)
        assert m.proc.wait(timeout=10) == 0
    finally:
        m.close()
