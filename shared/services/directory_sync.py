"""Directory sync for one connection: gather from Graph, plan with pure functions, apply, checkpoint.

Phases: users (full listing or users/delta) -> fill (users newly in scope, fetched by id) -> groups (groups/delta:
groups and direct memberships of in-scope users) -> removals (threshold) -> commit (delta links, run record).
Each phase checkpoints, so a run that uses up its time budget continues in the next invocation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import timedelta

from shared.adapters.sync_state import Checkpoint, Cursor, SyncState
from shared.domain.connection import Connection
from shared.domain.timestamps import utc_now
from shared.errors import ConnectorError, DeltaTokenExpired, ValidationError
from shared.logging_context import bind_run
from shared.services import sync_defaults
from shared.services import sync_fetch as fetch
from shared.services import sync_start as start
from shared.services.sync_groups_phase import GroupsPhase
from shared.services.sync_removals_phase import RemovalsPhase
from shared.services.sync_run import Budget, RunResult, SyncDeps
from shared.services.sync_users_phase import UsersPhase

__all__ = ["MODES", "RunResult", "SyncDeps", "run_sync"]

log = logging.getLogger(__name__)

MODES = ("incremental", "full", "groups")
DELTA_MAX_AGE = timedelta(days=6)  # Graph delta tokens expire after 7 days; refresh well before


class _Run(UsersPhase, GroupsPhase, RemovalsPhase):
    """One invocation of one run: its phases in order, each from its own module."""

    async def run(self, check_storage: bool = False) -> str:
        self.cp.invocations += 1
        # independent reads go side by side: events a crash left in the outbox, the delta or the scope, the groups,
        # and (a new incremental run) whether the copy holds about as many users as the cursor expects
        reads = [self.apply.flush_outbox(self.left_in_outbox), self._load_state(), self._load_groups()]
        if check_storage:
            reads.append(self._check_storage())
        await asyncio.gather(*reads)
        if self.rs.storage_loss:
            return "storage_lost"
        phases = {
            "users": self.users,
            "fill": self.fill,
            "groups": self.groups,
            "defaults": self.defaults,
            "removals": self.removals,
        }
        order = {
            "full": ["users", "fill", "groups", "removals"],  # its rows carry the defaults (in their hash); fill: none
            "incremental": ["users", "fill", "groups", "defaults", "removals"],
            "groups": ["groups", "defaults", "removals"],
        }[self.cp.mode]
        if self.cp.phase == "start":
            self.cp.phase = order[0]
        while self.cp.phase in phases:
            if self.budget.spent():
                await self.save()
                return "continued"
            outcome = await phases[self.cp.phase]()
            if outcome != "done":
                await self.save()
                return outcome
            index = order.index(self.cp.phase)
            self.cp.phase = order[index + 1] if index + 1 < len(order) else "commit"
            if self.cp.mode == "incremental":
                self.tick()  # a restarted incremental run reads its delta again: no checkpoint needed between phases
            else:
                await self.save()
        if self.rs.scope_complete and self.connection.sync_group_id:
            self.rs.new_tree = await fetch.scope_tree(self.deps.graph, self.connection.sync_group_id)
        self.totals()
        return "done"

    async def _check_storage(self) -> None:
        early = self.early.storage  # read beside the sync state, from the same cursor (kept only if so)
        self.rs.storage_loss = await (
            early if early is not None else start.storage_loss(self.deps, self.connection, self.cursor.users_stored)
        )

    async def _load_groups(self) -> None:
        self.rs.stored_groups, self.rs.group_anchors = await self.early.groups


async def run_sync(
    deps: SyncDeps,
    connection: Connection,
    *,
    mode: str = "incremental",
    dry_run: bool = False,
    trigger: str = "manual",
    budget_s: float = 480.0,
    approved: bool = False,
    storage_loss: dict[str, int] | None = None,
) -> RunResult:
    """Run (or continue) a sync for one connection within a time budget. The caller holds the lease.
    `storage_loss` (internal): the counts of a run that found the copy far smaller than expected and restarted full."""
    if mode not in MODES:
        raise ValidationError({"mode": f"must be one of {', '.join(MODES)}"})
    early = start.EarlyReads(deps, connection, incremental=mode == "incremental" and not dry_run)
    try:
        return await _run_sync(
            deps,
            connection,
            early,
            mode=mode,
            dry_run=dry_run,
            trigger=trigger,
            budget_s=budget_s,
            approved=approved,
            storage_loss=storage_loss,
        )
    except BaseException:
        if deps.memo is not None:  # the cursor may or may not have been committed: nothing is remembered
            deps.memo.forget(connection.id)
        raise
    finally:
        await early.close()


async def _run_sync(
    deps: SyncDeps,
    connection: Connection,
    early: start.EarlyReads,
    *,
    mode: str,
    dry_run: bool,
    trigger: str,
    budget_s: float,
    approved: bool,
    storage_loss: dict[str, int] | None,
) -> RunResult:
    state = SyncState(deps.tables, connection.id)
    snapshot = await state.load()  # cursor, checkpoint and outbox: one request (the early reads beside it)
    cursor = snapshot.cursor
    cp = None if dry_run else snapshot.checkpoint
    check_storage = False
    if cp is None:
        cp = Checkpoint(
            run_id=uuid.uuid4().hex,
            mode=_effective_mode(mode, cursor, connection),
            trigger=trigger,
            started_at=utc_now(),
            counts=dict(storage_loss or {}),
        )
        check_storage = cp.mode != "full"  # a new incremental or groups run first checks the copy is whole
    bind_run(cp.run_id)  # log lines of the job carry the run from here on
    budget = Budget(deps.clock, budget_s)
    early.adopt(snapshot, cp)
    run = _Run(deps, connection, cp, snapshot, state, dry_run, budget, approved, early)
    try:
        outcome = await run.run(check_storage)
    except DeltaTokenExpired:
        log.warning("connection %s: delta token expired; starting a full sync", connection.id)
        if not dry_run:
            await state.restart()
        await early.close()
        return await run_sync(
            deps, connection, mode="full", dry_run=dry_run, trigger=trigger, budget_s=budget_s, approved=approved
        )
    except Exception as exc:
        with contextlib.suppress(Exception):  # best effort: rows left are sent again next time (same event ids)
            await state.drop_sent()
        with contextlib.suppress(Exception):  # best effort: the failure is also on the status (sync_jobs)
            run.totals()
            code = exc.code if isinstance(exc, ConnectorError) else "internal_error"
            await state.record_run(cp, "failed", utc_now(), error=code)
        raise
    if outcome == "storage_lost":  # nothing was written: the run starts again as a full one
        if not dry_run:
            await state.drop_sent()  # events a crash left behind went out during the check
        await early.close()
        return await run_sync(
            deps,
            connection,
            mode="full",
            dry_run=dry_run,
            trigger=trigger,
            budget_s=budget_s,
            approved=approved,
            storage_loss=run.rs.storage_loss,
        )
    run.totals()
    table_writes = cp.table_writes
    result_outcome = {"done": "succeeded"}.get(outcome, outcome)
    partial = None
    if dry_run:  # a dry run cannot continue (it keeps no checkpoint): one cut short says so, and how far it got
        result_outcome = "dry_run_partial" if outcome == "continued" else "dry_run"
        partial = {"phase": cp.phase} if outcome == "continued" else None
    if outcome in ("done", "awaiting_approval") and not dry_run:
        committed, _ = await asyncio.gather(  # different rows: the cursor and the run record go side by side
            _commit(state, run, cursor, outcome),
            state.record_run(cp, result_outcome, utc_now()),
        )
        if deps.memo is not None:
            deps.memo.remember(connection.id, committed)
    else:  # continued (this invocation; the next one replaces the row) or a dry run
        if deps.memo is not None and not dry_run:
            deps.memo.forget(connection.id)
        await state.record_run(cp, result_outcome, utc_now())
    counts = dict(run.apply.counts) if dry_run else dict(cp.counts)
    return RunResult(
        cp.run_id,
        cp.mode,
        result_outcome,
        counts,
        cp.graph_requests or deps.graph.stats.total,
        table_writes,
        run.apply.planned,
        list(cp.errors),
        partial,
    )


async def _commit(state: SyncState, run: _Run, cursor: Cursor, outcome: str) -> Cursor:
    cp = run.cp
    new = Cursor(
        users_delta=cp.new_users_delta or cursor.users_delta,
        groups_delta=cp.new_groups_delta or cursor.groups_delta,
        obtained_at=utc_now() if cp.new_users_delta else cursor.obtained_at,
        last_full_at=utc_now() if cp.mode == "full" else cursor.last_full_at,
        scope_group=run.connection.sync_group_id or "",
        scope_tree=run.rs.new_tree
        if run.rs.new_tree is not None
        else (cursor.scope_tree if run.connection.sync_group_id else frozenset()),
        users_stored=_users_stored(run, cursor),
        after_full=cp.mode == "full" or (cursor.after_full and cp.mode == "groups"),
        # only an incremental run lists the scope when dirty: a groups-only run keeps (or raises) the flag
        scope_dirty=(cursor.scope_dirty or run.rs.scope_dirty) if cp.mode == "groups" else False,
        defaults_hash=sync_defaults.defaults_hash(run.connection.user_defaults),
        held_run=cp.run_id
        if outcome == "awaiting_approval" and cp.mode != "groups"
        else (cursor.held_run if outcome == "awaiting_approval" else ""),
    )
    await state.save_cursor(new, drop_checkpoint=run.rs.checkpointed)  # one transaction, with the sent outbox rows
    return new


def _users_stored(run: _Run, cursor: Cursor) -> int:
    """About how many user rows the connection has now: a full run knows its scope; an incremental run adjusts the
    last figure by what it created and deleted. Only used to choose how an incremental run reads rows."""
    if run.cp.mode == "full":
        return len(run.rs.scope)
    if cursor.users_stored < 0:
        return -1
    counts = run.cp.counts
    return max(0, cursor.users_stored + counts.get("user.created", 0) - counts.get("user.deleted", 0))


def _effective_mode(mode: str, cursor: Cursor, connection: Connection) -> str:
    """Full the first time, when the sync group changed, or when the delta links are close to expiry."""
    if mode == "full":
        return "full"
    if not cursor.users_delta or cursor.scope_group != (connection.sync_group_id or ""):
        return "full"
    if cursor.obtained_at is None or utc_now() - cursor.obtained_at > DELTA_MAX_AGE:
        return "full"
    return mode
