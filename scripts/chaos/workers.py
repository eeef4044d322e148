"""The worker processes of a round: sync and rotation queue workers (scripts/chaos/worker.py), started, killed
with SIGKILL at random moments and restarted, as a Functions instance dies and another takes over."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from emulators.common.processes import stop_process
from shared import storage_names as names

REPO = Path(__file__).resolve().parents[2]
ROLES = {"sync": ("sync_worker", names.SYNC_JOBS), "rotation": ("rotation_worker", names.ROTATION_JOBS)}


@dataclass
class Worker:
    role: str
    name: str
    proc: subprocess.Popen[bytes]
    log: Path


def _busy(worker: Worker) -> bool:
    """Its last stand-in-host line says an invocation started and has not ended."""
    if not worker.log.exists():
        return False
    marks = [line for line in worker.log.read_text(errors="replace").splitlines() if "chaos.host invoke." in line]
    return bool(marks) and "chaos.host invoke.start" in marks[-1]


@dataclass
class WorkerPool:
    workdir: Path
    env: dict[str, str]
    visibility_s: int = 5
    running: list[Worker] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    kills: int = 0
    kills_mid_job: int = 0  # the victim was running a function invocation when it died
    died: int = 0  # workers found dead that nobody killed (the stand-in host itself failed): should stay 0
    started: int = 0

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.env_file = self.workdir / "app-settings.json"
        self.env_file.write_text(json.dumps(self.env))

    def start(self, role: str) -> Worker:
        function, queue = ROLES[role]
        self.started += 1
        name = f"{role}-{self.started}"
        log = self.workdir / f"{name}.jsonl"
        args = [sys.executable, "-m", "scripts.chaos.worker", "--function", function, "--queue", queue]
        args += ["--env", str(self.env_file), "--log", str(log), "--name", name, "--visibility", str(self.visibility_s)]
        out = open(self.workdir / f"{name}.out", "wb")  # noqa: SIM115 (the child's; closed by the OS with it)
        env = {k: v for k, v in os.environ.items() if k not in self.env} | {"PYTHONPATH": str(REPO)}
        proc = subprocess.Popen(args, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        out.close()
        worker = Worker(role, name, proc, log)
        self.running.append(worker)
        self.logs.append(log)
        return worker

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Until every running worker has indexed the app and takes messages (a round's clock starts then)."""
        deadline = time.monotonic() + timeout_s
        for worker in self.running:
            while "chaos.host ready" not in (worker.log.read_text() if worker.log.exists() else ""):
                if worker.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"worker {worker.name} did not start; see {worker.log.with_suffix('.out')}")
                time.sleep(0.1)

    def kill(self, role: str) -> str | None:
        """SIGKILL one running worker of this role (no clean-up of any kind), then start its replacement."""
        self._bury()
        victims = [w for w in self.running if w.role == role]
        if not victims:
            self.start(role)
            return None
        busy = [w for w in victims if _busy(w)]
        victim = (busy or victims)[0]  # at a random moment; the worker at work, when one is
        self.kills_mid_job += bool(busy)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(victim.proc.pid, signal.SIGKILL)
        victim.proc.wait(timeout=10)
        self.running.remove(victim)
        self.kills += 1
        self.start(role)
        return victim.name

    def _bury(self) -> None:
        """Workers that exited by themselves are counted and replaced."""
        for worker in [w for w in self.running if w.proc.poll() is not None]:
            self.running.remove(worker)
            self.died += 1
            self.start(worker.role)

    def stop_all(self) -> None:
        """End of the round: every worker goes (SIGKILL: what it was doing is left as a crash leaves it)."""
        self.died += sum(w.proc.poll() is not None for w in self.running)
        for worker in self.running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.proc.wait(timeout=10)
            stop_process(worker.proc)
        self.running.clear()
