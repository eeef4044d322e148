"""The emulator's clock: wall time plus an offset the control API can advance (no sleeping in tests); it can be
frozen, so that emulated time moves only when advanced (tests of lags and delays need no real waiting)."""

from __future__ import annotations

import threading
import time


class Clock:
    """Seconds since the epoch, as the emulated service sees them."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._frozen: float | None = None
        self._lock = threading.Lock()

    def now(self) -> float:
        frozen = self._frozen
        return frozen if frozen is not None else time.time() + self._offset

    def advance(self, seconds: float) -> float:
        """Move the emulated time forward (never backwards) and return the new time."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            if self._frozen is not None:
                self._frozen += seconds
            else:
                self._offset += seconds
        return self.now()

    def freeze(self, frozen: bool) -> float:
        """Stop emulated time where it is (it then moves only by `advance`), or let it run on from there."""
        with self._lock:
            if frozen and self._frozen is None:
                self._frozen = time.time() + self._offset
            elif not frozen and self._frozen is not None:
                self._offset = self._frozen - time.time()  # runs on from the frozen moment
                self._frozen = None
        return self.now()
