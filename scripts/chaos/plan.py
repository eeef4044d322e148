"""The fault schedule of one round, drawn from its seed (pure: the same seed gives the same schedule). Kinds follow
the emulators' control APIs: Graph faults (emulators/entra/faults.py), Key Vault throttling and slow deletes
(emulators/keyvault/control.py), worker kills, two workers on one connection, an Azurite restart."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

GRAPH_KINDS = ("429", "429_no_retry_after", "503", "apply_then_504", "apply_then_drop", "latency")
TENANT_OPS = ("create", "create", "update", "rename_user", "disable", "delete", "restore", "add_member",
              "remove_member", "rename_group")  # fmt: skip
WORKERS = ("sync", "rotation")


@dataclass(frozen=True)
class GraphFault:
    kind: str  # one of GRAPH_KINDS
    rate: float
    endpoint: str | None = None  # None: every endpoint

    def control_args(self) -> dict[str, Any]:
        """The arguments of the Entra emulator's set_fault for this fault."""
        args: dict[str, Any] = {"rate": self.rate, "endpoint": self.endpoint}
        if self.kind == "429_no_retry_after":
            return {"kind": "429", "retry_after": None, **args}
        if self.kind == "latency":
            return {"kind": "latency", "latency_ms": 150, **args}
        return {"kind": self.kind, **args}


@dataclass(frozen=True)
class Kill:
    at_s: float  # seconds into the round
    worker: str  # "sync" or "rotation"


@dataclass(frozen=True)
class RoundPlan:
    seed: str
    duration_s: float
    graph: tuple[GraphFault, ...]
    vault_throttle: int  # the next N Key Vault requests answer 429
    vault_delete_delay_s: float
    kills: tuple[Kill, ...]
    two_workers: bool  # two sync workers, and the same job queued twice at once
    azurite_restart_at: float | None
    tenant_ops: tuple[tuple[str, int], ...]
    sync_mode: str
    extra: dict[str, Any] = field(default_factory=dict)

    def faults_by_kind(self) -> dict[str, int]:
        """What this round schedules (Graph faults fire by rate: their fired counts come from the emulator)."""
        out: dict[str, int] = {}
        if self.vault_throttle:
            out["keyvault_429"] = self.vault_throttle
        if self.vault_delete_delay_s:
            out["keyvault_slow_delete"] = 1
        for kill in self.kills:
            out[f"sigkill_{kill.worker}"] = out.get(f"sigkill_{kill.worker}", 0) + 1
        if self.two_workers:
            out["two_workers_one_connection"] = 1
        if self.azurite_restart_at is not None:
            out["azurite_restart"] = 1
        return out


def draw(seed: str, duration_s: float, *, restarts: bool = True) -> RoundPlan:
    """A random round: a few Graph faults at moderate rates (the retry policy must ride them out most of the time,
    and a run that gives up is simply retried), kills at random moments, the rest by coin flips."""
    rng = random.Random(seed)  # noqa: S311 (a fault schedule, not a secret)
    kinds = rng.sample(GRAPH_KINDS, k=rng.randint(2, 4))
    endpoints = (None, None, "users.update", "users.delta", "groups.delta", "batch")
    graph = tuple(GraphFault(k, round(rng.uniform(0.05, 0.25), 3), rng.choice(endpoints)) for k in kinds)
    kills = tuple(
        sorted(
            (Kill(round(rng.uniform(0.5, duration_s * 0.7), 2), rng.choice(WORKERS)) for _ in range(rng.randint(1, 3))),
            key=lambda k: k.at_s,
        )
    )
    restart = round(rng.uniform(1.0, duration_s * 0.6), 2) if restarts and rng.random() < 0.35 else None
    ops = tuple((rng.choice(TENANT_OPS), rng.randint(0, 10_000)) for _ in range(rng.randint(2, 6)))
    return RoundPlan(
        seed=seed,
        duration_s=duration_s,
        graph=graph,
        vault_throttle=rng.choice((0, 3, 6, 10)),
        vault_delete_delay_s=rng.choice((0.0, 2.0, 5.0)),
        kills=kills,
        two_workers=rng.random() < 0.5,
        azurite_restart_at=restart,
        tenant_ops=ops,
        sync_mode=rng.choice(("incremental", "incremental", "incremental", "full")),
    )
