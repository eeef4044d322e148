"""The emulator's clock: wall time plus an offset the control API can advance (no sleeping in tests)."""

from __future__ import annotations

import threading
import time


class Clock:
    """Seconds since the epoch, as the emulated service sees them."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> float:
        """Move the emulated time forward (never backwards) and return the new time."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds
        return self.now()
