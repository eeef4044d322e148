"""A sync run's shared state and helpers: dependencies, result, time budget, and the run base every phase
module builds on (counts, checkpoints, group rows, real link changes)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.adapters.directory_store import DirectoryStore
from shared.adapters.graph import GraphClient
from shared.adapters.queues import QueueSender
from shared.adapters.sync_state import Checkpoint, Snapshot, SyncState
from shared.adapters.table_store import TableStore
from shared.domain.connection import Connection
from shared.domain.sync_plan import plan_group_writes
from shared.services.sync_apply import SyncApplier
from shared.services.sync_run_state import RunState
from shared.services.sync_start import CursorMemo, EarlyReads


@dataclass
class SyncDeps:
    graph: GraphClient
    tables: TableStore
    queues: QueueSender | None
    clock: Callable[[], float] = time.monotonic
    progress: Callable[[str, dict[str, int]], None] | None = None  # (phase, counts so far) at each checkpoint
    memo: CursorMemo | None = None  # the worker process's last committed cursors (shared/services/sync_start.py)


@dataclass
class RunResult:
    run_id: str
    mode: str
    outcome: str  # succeeded | continued | awaiting_approval | dry_run | dry_run_partial
    counts: dict[str, int]
    graph_requests: int
    table_writes: int
    planned: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # a dry run its time budget cut short: where it stopped ({"phase": ...}); its counts cover only that far
    partial: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "mode": self.mode,
            "outcome": self.outcome,
            "counts": self.counts,
            "graph_requests": self.graph_requests,
            "table_writes": self.table_writes,
            "planned": self.planned,
            "errors": self.errors,
            "partial": self.partial,
        }


class Budget:
    def __init__(self, clock: Callable[[], float], seconds: float) -> None:
        self.clock = clock
        self.deadline = clock() + seconds

    def spent(self) -> bool:
        return self.clock() >= self.deadline


class RunBase:
    """One invocation of one run: its inputs (deps, connection, cursor, budget) and its state `rs` (a RunState,
    whose `cp` is what the checkpoint saves and a continued invocation restores)."""

    def __init__(
        self,
        deps: SyncDeps,
        connection: Connection,
        cp: Checkpoint,
        snapshot: Snapshot,
        state: SyncState,
        dry_run: bool,
        budget: Budget,
        approved: bool,
        early: EarlyReads,
    ) -> None:
        self.deps = deps
        self.early = early  # reads started beside the sync state's (their results kept only if `adopt` allowed)
        self.connection = connection
        self.cursor = snapshot.cursor
        self.left_in_outbox = snapshot.outbox
        self.dry_run = dry_run
        self.budget = budget
        self.approved = approved
        self.state = state
        self.store = DirectoryStore(deps.tables, connection.id)
        self.apply = SyncApplier(
            self.store,
            self.state,
            deps.queues,
            tenant_id=connection.tenant_id,
            run_id=cp.run_id,
            dry_run=dry_run,
            defaults=connection.user_defaults,
        )
        self.rs = RunState.resume(cp)  # the run's state: every phase reads and changes this one value
        self._requests_before = cp.graph_requests  # totals of earlier invocations of this run
        self._writes_before = cp.table_writes
        self._counts_before = dict(cp.counts)

    @property
    def cp(self) -> Checkpoint:
        """The checkpointed part of the run's state (`rs.cp`)."""
        return self.rs.cp

    def full_groups_round(self) -> bool:
        """The groups phase lists every group (a full run, or no groups deltaLink yet) instead of a delta round."""
        return self.cp.mode == "full" or not self.cursor.groups_delta

    def tick(self) -> None:
        """Tell the caller (CLI progress display) where the run is; cheap, called once a page."""
        if self.deps.progress is not None:
            counts = {
                **self.apply.counts,
                "graph_requests": self.deps.graph.stats.total,
                "table_writes": self.store.writes,
            }
            self.deps.progress(self.cp.phase, counts)

    def totals(self) -> None:
        """Carry this invocation's counts into the run's totals (kept in the checkpoint between invocations)."""
        self.cp.graph_requests = self.deps.graph.stats.total + self._requests_before
        self.cp.table_writes = self.store.writes + self._writes_before
        for kind, n in self.apply.counts.items():
            self.cp.counts[kind] = self._counts_before.get(kind, 0) + n

    async def save(self) -> None:
        self.tick()
        if not self.dry_run:
            await self.apply.release()
            self.totals()
            await self.state.save_checkpoint(self.cp)
            self.rs.checkpointed = True

    async def _pause(self) -> str:
        await self.save()
        return "continued"

    async def _ensure_groups(self, records: list[Any], members: Mapping[str, set[str]] | None = None) -> None:
        """Write the groups whose content changed. `members`: users each group is known to have now; a written row
        keeps one as its anchor (else the one it had), for the cheap "any member left?" check (SyncApplier)."""
        latest = {record.id: record for record in records}  # a group named twice is written (and announced) once
        writes = plan_group_writes(latest.values(), self.rs.stored_groups)
        anchors = self.rs.group_anchors
        for _, record in writes:
            known = (members or {}).get(record.id)
            if known:
                anchors[record.id] = min(known)
        await self.apply.groups(writes, anchors)
        for _, record in writes:
            self.rs.stored_groups[record.id] = record.hash

    async def _real_link_changes(
        self, candidates: list[tuple[str, set[str], set[str]]]
    ) -> list[tuple[str, set[str], set[str]]]:
        """Only links that really change: a replayed or duplicated delta entry must not write or emit again (nor put
        one link twice in a table transaction, which Table Storage refuses)."""
        merged: dict[str, tuple[set[str], set[str]]] = {}
        for gid, added, removed in candidates:
            adds, rems = merged.setdefault(gid, (set(), set()))
            adds |= added
            rems |= removed
        candidates = [(gid, adds, rems) for gid, (adds, rems) in merged.items()]
        asked = {(gid, uid) for gid, added, removed in candidates for uid in added | removed}
        known_pairs, known, writes_then = self.rs.known_links
        if asked <= known_pairs and self.store.link_writes == writes_then:  # read this run, unchanged since
            exists = known & asked
        else:
            exists = await self.store.existing_links(asked) if asked else set()
        out = []
        for gid, added, removed in candidates:
            add = {uid for uid in added if (gid, uid) not in exists}
            rem = {uid for uid in removed if (gid, uid) in exists}
            if add or rem:
                out.append((gid, add, rem))
        return out
