"""Shared fixtures of the end-to-end tests: they drive the real binary."""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
GOLDEN = ROOT / "tests" / "golden"


@pytest.fixture(scope="session")
def tollgate_bin():
    path = os.environ.get("TOLLGATE_BIN", str(ROOT / "build" / "tollgate"))
    assert os.access(path, os.X_OK), f"{path}: build it with `make` first"
    return path


@pytest.fixture
def tg(tollgate_bin):
    """Runs `tollgate ARGS...` with optional stdin bytes; returns CompletedProcess."""
    def run(*args, stdin=b"", timeout=60):
        return subprocess.run([tollgate_bin, *args], input=stdin, capture_output=True,
                              timeout=timeout)
    return run


class Gateway:
    """A real `tollgate gateway` on 127.0.0.1, port picked by the kernel,
    state in a temp dir. Restartable (same state) for crash tests."""

    def __init__(self, binary, state, extra=(), command="gateway"):
        self.binary, self.state, self.extra = binary, str(state), list(extra)
        self.command = command
        self.proc = None
        self.port = None
        self.stderr_lines = []

    def start(self, timeout=20):
        import select
        import time
        args = [self.binary, self.command, "--state", self.state,
                "--listen", f"127.0.0.1:{self.port or 0}", *self.extra]
        self.proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        end = time.time() + timeout
        buf = b""
        while time.time() < end:
            r, _, _ = select.select([self.proc.stderr], [], [], 0.2)
            if r:
                chunk = os.read(self.proc.stderr.fileno(), 4096)
                if not chunk:
                    break
                buf += chunk
                for line in buf.decode(errors="replace").splitlines():
                    if "listening on" in line:
                        self.port = int(line.split("://", 1)[1].split(" ")[0].rsplit(":", 1)[1])
                        self.stderr_lines = buf.decode(errors="replace").splitlines()
                        return self
            elif self.proc.poll() is not None:
                break
        self.proc.kill()
        raise RuntimeError(f"gateway did not start: {buf.decode(errors='replace')}")

    @property
    def token(self):
        with open(os.path.join(self.state, "token")) as f:
            return f.read().strip()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def request(self, method, path, body=None, token=True, headers=None, timeout=30):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + (self.token if token is True else token)
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data

    def post_events(self, lines, **kw):
        import json
        body = ("\n".join(lines) + "\n").encode() if isinstance(lines, list) else lines
        status, data = self.request("POST", "/v1/events", body, **kw)
        return status, json.loads(data) if data.startswith(b"{") else data

    def stop(self):
        import signal
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.proc.stderr.close()


@pytest.fixture
def gateway(tollgate_bin, tmp_path):
    started = []

    def make(*extra, state=None):
        g = Gateway(tollgate_bin, state or (tmp_path / "state"), extra).start()
        started.append(g)
        return g
    yield make
    for g in started:
        g.stop()


def settle(g):
    """Waits until the collector has written everything appended so far:
    events reach readers a few ms after they are appended (writer thread)."""
    import json
    import time
    last, end = None, time.time() + 5
    while time.time() < end:
        seq = json.loads(g.request("GET", "/v1/health", token=False)[1])["written_seq"]
        if seq == last:
            return
        last = seq
        time.sleep(0.15)
