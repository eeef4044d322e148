"""Token buckets that keep rotation under Graph's and Key Vault's write limits; pure, with an injectable clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

GRAPH_WRITES_PER_TENANT = (3000, 150.0)  # Graph identity writes: 3,000 requests per 150 s per tenant
KEYVAULT_SECRET_CREATES = (300, 10.0)  # Key Vault: 300 secret creates (new versions) per 10 s per vault


@dataclass
class TokenBucket:
    """`capacity` tokens refilled evenly over `period` seconds. `take()` says how long to wait before acting."""

    capacity: int
    period: float
    clock: Callable[[], float] = time.monotonic
    _tokens: float = field(init=False)
    _at: float = field(init=False)

    def __post_init__(self) -> None:
        if self.capacity <= 0 or self.period <= 0:
            raise ValueError("a token bucket needs a positive capacity and period")
        self._tokens = float(self.capacity)
        self._at = self.clock()

    @property
    def rate(self) -> float:
        return self.capacity / self.period

    def _refill(self) -> None:
        now = self.clock()
        self._tokens = min(float(self.capacity), self._tokens + (now - self._at) * self.rate)
        self._at = now

    def available(self) -> float:
        self._refill()
        return self._tokens

    def take(self, n: int = 1) -> float:
        """Reserve `n` tokens; returns 0 when they were there, else the seconds until the reservation is covered."""
        if n > self.capacity:
            raise ValueError(f"cannot take {n} tokens from a bucket of {self.capacity}")
        self._refill()
        self._tokens -= n
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    async def acquire(self, n: int = 1, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> float:
        """Take `n` tokens, sleeping as long as needed. Returns the time slept."""
        wait = self.take(n)
        if wait > 0:
            await sleep(wait)
        return wait


_buckets: dict[tuple[str, str], TokenBucket] = {}


def bucket_for(kind: str, key: str) -> TokenBucket:
    """The process-wide bucket for ("graph-writes", tenant id) or ("keyvault-creates", vault url), made on first use."""
    found = _buckets.get((kind, key))
    if found is None:
        capacity, period = GRAPH_WRITES_PER_TENANT if kind == "graph-writes" else KEYVAULT_SECRET_CREATES
        found = _buckets[(kind, key)] = TokenBucket(capacity, period)
    return found
