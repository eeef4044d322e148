"""Shared helpers of the benchmark: client-side request counters for Storage, process RSS, emulator processes."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "MERGE", "DELETE"})


class StorageCounter:
    """Counts every HTTP request an azure-data-tables / azure-storage-queue client sends (retries included).

    Installed as the SDKs' `raw_request_hook` (their CustomHookPolicy / StorageRequestHook), which runs once per
    attempt, just before the transport. A 100-entity transaction is ONE request (`POST .../$batch`)."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()

    def hook(self, pipeline_request: Any) -> None:
        request = pipeline_request.http_request
        method = request.method.upper()
        url = request.url.split("?", 1)[0]
        if url.endswith("$batch"):
            self.requests["batch"] += 1
        elif method in WRITE_METHODS:
            self.requests["write"] += 1
        else:
            self.requests["read"] += 1

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    def as_dict(self) -> dict[str, int]:
        return {"total": self.total, **dict(self.requests)}


class GraphCounter:
    """Counts HTTP requests an httpx.AsyncClient sends (an event hook; token requests go through azure-core and
    are not counted here)."""

    def __init__(self) -> None:
        self.requests = 0
        self.throttled = 0  # 429 answers (a `$batch` item's inner 429 is in the result's graph_retries)
        self.resource_units = 0  # as Graph charged them (x-aad-resource-unit on each answer)

    async def hook(self, _request: Any) -> None:
        self.requests += 1

    async def response_hook(self, response: Any) -> None:
        if response.status_code == 429:
            self.throttled += 1
        units = response.headers.get("x-aad-resource-unit", "")
        if units.isdigit():
            self.resource_units += int(units)


def peak_rss_mb() -> float:
    """Peak resident set size of THIS process: VmHWM of its own address space.

    Not ru_maxrss: subprocess starts children with vfork + exec, and Linux carries the parent's high-water mark
    into the child's ru_maxrss at exec, so every worker would report at least the orchestrator's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def emit(result: dict[str, Any]) -> None:
    """Workers print exactly one JSON line prefixed with RESULT: (the orchestrator reads it)."""
    sys.stdout.write("RESULT:" + json.dumps(result) + "\n")
    sys.stdout.flush()


class EntraProcess:
    """`python -m emulators.entra` in its own process (its CPU and RSS are not the measured process's)."""

    def __init__(self, size: int, seed: str, log_path: Path) -> None:
        self.size = size
        self.seed = seed
        self.log_path = log_path
        self.proc: subprocess.Popen[str] | None = None
        self.description: dict[str, Any] = {}
        self.seed_s = 0.0

    def start(self) -> dict[str, Any]:
        started = time.perf_counter()
        log = open(self.log_path, "w")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "emulators.entra", "--port", "0", "--seed", self.seed, "--size", str(self.size)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError(f"the Entra emulator did not start; see {self.log_path}")
        self.description = json.loads(line)
        self.seed_s = time.perf_counter() - started
        return self.description

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def control(self, operation: str, **arguments: Any) -> Any:
        """The emulator's HTTP control API (POST {control_url}/{operation})."""
        import httpx

        response = httpx.post(
            f"{self.description['control_url']}/{operation}",
            json=arguments,
            verify=self.description["ca_path"],
            timeout=120,
        )
        response.raise_for_status()
        return response.json()["result"]


@contextlib.contextmanager
def entra(size: int, seed: str, log_dir: Path) -> Iterator[EntraProcess]:
    process = EntraProcess(size, seed, log_dir / f"entra-{size}.log")
    process.start()
    try:
        yield process
    finally:
        process.stop()
