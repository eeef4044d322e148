"""What a sync run reads before its cursor is known: one round trip less for the run a worker repeats most.

A worker process remembers, per connection, the cursor its own last run committed (`CursorMemo`, one per process,
kept in its client pool). A run starts its first reads beside the read of its sync state (`EarlyReads`): the stored
groups, which do not depend on the cursor, and, with a remembered cursor and an incremental run asked for, both
delta rounds and the storage check. The early delta and storage results are the run's only when what was read back
is exactly what was remembered (the same two delta links and row count) and the run is a new incremental one (no
checkpoint waits); otherwise they are dropped and the run reads again from the cursor it read. Reading a delta
round changes nothing in Graph, so a dropped read costs only its requests, and a memo that is out of date (another
instance ran the connection since) can cost a request, never a wrong result."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.adapters.directory_store import DirectoryStore
from shared.adapters.sync_state import Checkpoint, Cursor, Snapshot
from shared.domain import storage_check
from shared.services import sync_fetch as fetch

if TYPE_CHECKING:
    from shared.adapters.graph import GraphClient
    from shared.domain.connection import Connection
    from shared.services.sync_run import SyncDeps

log = logging.getLogger(__name__)

MEMO_LIMIT = 10_000  # connections remembered by one worker process (beyond: it starts again from none)
Round = tuple[list[dict[str, Any]], str]  # a delta round's items and its new deltaLink


@dataclass(frozen=True)
class Remembered:
    """The part of a committed cursor the early reads depend on."""

    users_delta: str
    groups_delta: str
    users_stored: int

    @classmethod
    def of(cls, cursor: Cursor) -> Remembered:
        return cls(cursor.users_delta, cursor.groups_delta, cursor.users_stored)


class CursorMemo:
    """Per connection, the cursor this process's last run of it committed (only ever a guess, checked on use)."""

    def __init__(self) -> None:
        self._items: dict[str, Remembered] = {}

    def get(self, connection_id: str) -> Remembered | None:
        return self._items.get(connection_id)

    def remember(self, connection_id: str, cursor: Cursor) -> None:
        if len(self._items) >= MEMO_LIMIT and connection_id not in self._items:
            self._items.clear()
        self._items[connection_id] = Remembered.of(cursor)

    def forget(self, connection_id: str) -> None:
        self._items.pop(connection_id, None)

    async def close(self) -> None:
        self._items.clear()


def early_kept(basis: Remembered | None, cursor: Cursor, *, resumed: bool, mode: str) -> bool:
    """Whether reads made from the remembered cursor are the run's: a new incremental run (not resumed from a
    checkpoint, not turned full or groups-only) whose cursor read back is exactly the remembered one."""
    return basis is not None and not resumed and mode == "incremental" and Remembered.of(cursor) == basis


async def storage_loss(deps: SyncDeps, connection: Connection, users_stored: int) -> dict[str, int]:
    """Far fewer user rows than the cursor expects (storage emptied or restored from an old copy): the counts for
    the run record, and the run goes full instead of committing the small copy. {} when the copy looks whole."""
    sample = storage_check.sample_for(users_stored)
    if sample is None:
        return {}
    counted = await DirectoryStore(deps.tables, connection.id).count_users_below(sample.upper_key)
    if not storage_check.storage_lost(sample, counted):
        return {}
    found = storage_check.estimated_rows(sample, counted)
    log.warning(
        "connection %s: about %d user rows stored, %d expected: storage lost; running a full sync",
        connection.id,
        found,
        sample.expected,
    )
    return {"storage.users_expected": sample.expected, "storage.users_found": found}


async def delta_rounds(graph: GraphClient, users_link: str, groups_link: str) -> tuple[Round, Round]:
    """Both delta rounds of an incremental run, side by side."""
    users, groups = await asyncio.gather(
        fetch.collect(fetch.users_delta(graph, users_link)),
        fetch.collect(fetch.groups_delta(graph, groups_link)),
    )
    return users, groups


class EarlyReads:
    """The reads a run starts before its sync state is read; `adopt` keeps those the state read back allows."""

    def __init__(self, deps: SyncDeps, connection: Connection, *, incremental: bool) -> None:
        self.groups: asyncio.Task[tuple[dict[str, str], dict[str, str]]] = asyncio.ensure_future(
            DirectoryStore(deps.tables, connection.id).group_index()
        )
        memo = deps.memo
        self.basis = memo.get(connection.id) if memo is not None and incremental else None
        self.deltas: asyncio.Task[tuple[Round, Round]] | None = None
        self.storage: asyncio.Task[dict[str, int]] | None = None
        self._dropped: list[asyncio.Future[Any]] = []
        if self.basis is not None and self.basis.users_delta:
            self.deltas = asyncio.ensure_future(
                delta_rounds(deps.graph, self.basis.users_delta, self.basis.groups_delta)
            )
            self.storage = asyncio.ensure_future(storage_loss(deps, connection, self.basis.users_stored))

    def adopt(self, snapshot: Snapshot, cp: Checkpoint) -> bool:
        """Keep the early delta rounds and storage check when the run is a new incremental one from exactly the
        remembered cursor; drop them otherwise. Returns whether they were kept."""
        kept = early_kept(self.basis, snapshot.cursor, resumed=snapshot.checkpoint is not None, mode=cp.mode)
        if not kept:
            self._drop()
        return kept

    def _drop(self) -> None:
        for task in (self.deltas, self.storage):
            if task is not None:
                task.cancel()
                self._dropped.append(task)
        self.deltas = self.storage = None

    async def close(self) -> None:
        """Cancel and collect what the run did not use (an error of a read nobody used is nobody's)."""
        tasks = [t for t in (self.groups, self.deltas, self.storage, *self._dropped) if t is not None]
        for task in tasks:
            task.cancel()  # a task already done is left as it is
        await asyncio.gather(*tasks, return_exceptions=True)
