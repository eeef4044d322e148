"""Injected failures (429, 503, 504, latency, dropped connections, and writes applied before the answer is lost)
and per-endpoint request counters."""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

FaultKind = Literal["429", "503", "504", "latency", "drop", "apply_then_drop", "apply_then_504"]
KINDS: tuple[str, ...] = ("429", "503", "504", "latency", "drop", "apply_then_drop", "apply_then_504")
# The request is carried out (a write is committed) and only then is the answer lost: the connection closes without
# a response, or a gateway answers 504. The client cannot tell this from a request that never arrived.
AFTER_APPLY: frozenset[str] = frozenset({"apply_then_drop", "apply_then_504"})


@dataclass
class FaultRule:
    kind: FaultKind
    rate: float | None = None  # fire with this probability (seeded RNG)...
    nth: int | None = None  # ...or from the Nth matching request on
    count: int | None = None  # fire at most this many times (None: unlimited)
    path_prefix: str | None = None  # match on the request path...
    endpoint: str | None = None  # ...or on the counter name (e.g. "users.delta", "token", "batch")
    retry_after: int | None = 1  # seconds, for 429 (None: no Retry-After header)
    latency_ms: int = 0
    tenant: str | None = None  # a tenant id (Graph) or the tenant segment of a login path
    seen: int = 0
    fired: int = 0

    def describe(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Decision:
    kind: FaultKind
    retry_after: int | None = None
    latency_ms: int = 0


@dataclass
class Faults:
    """Rules are checked in order on every request; the first that fires decides. Thread-safe."""

    seed: int = 0
    rules: list[FaultRule] = field(default_factory=list)
    counters: Counter[str] = field(default_factory=Counter)
    _rng: random.Random = field(default_factory=random.Random)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._rng.seed(self.seed)

    def add(self, rule: FaultRule) -> int:
        if rule.kind not in KINDS:
            raise ValueError(f"unknown fault kind {rule.kind!r}; use one of {KINDS}")
        if rule.rate is None and rule.nth is None:
            raise ValueError("a fault needs a rate (0..1) or nth (1-based)")
        if rule.rate is not None and not 0 <= rule.rate <= 1:
            raise ValueError("rate must be within 0..1")
        with self._lock:
            self.rules.append(rule)
            return len(self.rules) - 1

    def clear(self, seed: int | None = None) -> None:
        with self._lock:
            self.rules.clear()
            if seed is not None:
                self._rng.seed(seed)

    def count(self, endpoint: str) -> None:
        with self._lock:
            self.counters[endpoint] += 1

    def read_counters(self, reset: bool = False) -> dict[str, int]:
        with self._lock:
            snapshot = dict(self.counters)
            if reset:
                self.counters.clear()
            return snapshot

    def decide(self, path: str, endpoint: str, tenant: str | None) -> Decision | None:
        with self._lock:
            for rule in self.rules:
                if rule.path_prefix is not None and not path.startswith(rule.path_prefix):
                    continue
                if rule.endpoint is not None and rule.endpoint != endpoint:
                    continue
                if rule.tenant is not None and rule.tenant != tenant:
                    continue
                if rule.count is not None and rule.fired >= rule.count:
                    continue
                rule.seen += 1
                fire = rule.seen >= rule.nth if rule.nth is not None else self._rng.random() < (rule.rate or 0.0)
                if fire:
                    rule.fired += 1
                    return Decision(rule.kind, rule.retry_after, rule.latency_ms)
        return None
