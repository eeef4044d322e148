"""Azurite for the suite: persisted on disk, so that it can be stopped and started again on the same ports in the
middle of a round (emulators/azurite.py with `location`), as a storage outage that loses nothing written."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from emulators.azurite import Azurite, start_azurite
from emulators.common.processes import free_port


class Storage:
    def __init__(self, workdir: Path) -> None:
        self.location = workdir / "azurite-data"
        self.location.mkdir(parents=True, exist_ok=True)
        self.log_dir = workdir
        self.ports = Azurite(free_port(), free_port(), free_port())
        self._running: contextlib.ExitStack | None = None
        self.restarts = 0
        self.downtime_s = 0.0

    def start(self, attempts: int = 10) -> Azurite:
        """Start on this suite's ports. A port the old process has only just let go of (or that another process on
        this shared machine took meanwhile) is tried again a few times before giving up."""
        for attempt in range(1, attempts + 1):
            stack = contextlib.ExitStack()
            try:
                stack.enter_context(
                    start_azurite(log_dir=str(self.log_dir), ports=self.ports, location=str(self.location))
                )
            except RuntimeError as exc:
                if "EADDRINUSE" not in str(exc) or attempt == attempts:
                    raise
                time.sleep(1.0)
                continue
            self._running = stack
            break
        return self.ports

    def stop(self) -> None:
        if self._running is not None:
            self._running.close()
            self._running = None

    def restart(self) -> None:
        """Stop (SIGTERM, as a host shutting down) and start again on the same ports with the same data."""
        began = time.monotonic()
        self.stop()
        self.start()
        self.restarts += 1
        self.downtime_s += time.monotonic() - began
