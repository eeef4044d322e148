"""`make demo`'s script: runs the whole walk-through to exit 0, and on Ctrl-C stops everything it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


MARK_NAME, MARK_VALUE = "ENTRA_CONNECTOR_DEMO_RUN", uuid.uuid4().hex  # inherited by every process the demo starts
MARK = f"{MARK_NAME}={MARK_VALUE}"


def _azurite_processes() -> set[int]:
    """PIDs of running Azurite processes this test's demos started (found by the marker in their environment, so an
    Azurite of the test session or of anything else on the machine never counts)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
                environ = (entry / "environ").read_bytes() if b"azurite" in cmdline else b""
            except OSError:
                continue
            if b"azurite" in cmdline and MARK.encode() in environ.split(b"\0"):
                found.add(int(entry.name))
    return found


def _demo(**kwargs: object) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("AzureWebJobsStorage", "KEY_VAULT_URL")}
    env[MARK_NAME] = MARK_VALUE
    return subprocess.Popen(
        [sys.executable, "-m", "scripts.demo"],
        cwd=REPO,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        **kwargs,
    )  # type: ignore[call-overload]


def _settle(before: set[int]) -> set[int]:
    deadline = time.monotonic() + 10
    while (left := _azurite_processes() - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def test_the_demo_runs_to_the_end_and_leaves_nothing_behind() -> None:
    before = _azurite_processes()
    proc = _demo()
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    assert "identical" in out and "Key Vault's current password equals the tenant's" in out
    assert "DIFFERENT" not in out
    assert "/oauth2/v2.0/authorize" in out and "consented and signed in" in out  # both legs of consent
    assert "callback page: HTTP 200; verification passed" in out
    assert _settle(before) == set()


def test_ctrl_c_stops_every_process_the_demo_started() -> None:
    before = _azurite_processes()
    proc = _demo()
    assert proc.stdout is not None
    for line in proc.stdout:  # wait until the stack is up and the walk-through has begun
        if "Connect the tenant" in line:
            break
    assert _azurite_processes() - before, "the demo's own Azurite is not seen: this test would prove nothing"
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "interrupted" in out
    assert _settle(before) == set()
