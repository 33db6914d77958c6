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
