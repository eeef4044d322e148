"""The real agent as an OS process of its own (`python -m agent --config FILE run`, as the systemd unit runs it):
its configuration written to a file, its log captured, waited for by what it logs, stopped (or killed) by its pid."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from agent.config import AgentConfig

REPO = Path(__file__).resolve().parents[2]
WAIT_LIMIT_S = 120.0  # a line that never comes fails the test instead of hanging it


def write_config(config: AgentConfig, path: Path, **extra: Any) -> Path:
    data = {
        "service_url": config.service_url,
        "state_dir": str(config.state_dir),
        "password_file": config.password_file,
        "ldap": config.ldap,
        "service_ca_file": config.service_ca_file,
        "name": config.name,
        **extra,
    }
    path.write_text(json.dumps(data))
    return path


@dataclass
class AgentProcess:
    name: str
    config_file: Path
    log_file: Path
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> AgentProcess:
        self._log = self.log_file.open("wb")
        self.process = subprocess.Popen(  # the repo's own agent, run by the test's interpreter
            [sys.executable, "-m", "agent", "--config", str(self.config_file), "run"],
            cwd=REPO,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        return self

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    async def wait_for(self, text: str) -> str:
        """Wait (serving the in-process app meanwhile) until the agent's log holds `text`; the log so far."""
        deadline = time.monotonic() + WAIT_LIMIT_S
        while text not in self.log():
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"agent {self.name} exited ({self.process.returncode}):\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"agent {self.name} never logged {text!r}:\n{self.log()}")
            await asyncio.sleep(0.2)
        return self.log()

    def kill(self) -> None:
        """SIGKILL: no clean-up, no last heartbeat or answer, as when the machine dies."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """At the test's end: killed by its pid if still running (a long-poll would make SIGTERM wait 20 s)."""
        if self.process is not None and self.process.poll() is None:
            self.kill()
        if self._log is not None:
            self._log.close()
