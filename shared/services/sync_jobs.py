"""Sync jobs: the scheduler enqueues due connections, the worker runs one under a lease, continues a run that
used up its time budget, records failures and quarantines a connection that keeps failing."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared import storage_names as names
from shared import telemetry
from shared.adapters.sync_state import SyncState
from shared.adapters.table_store import TableStore
from shared.domain.connection import Connection, from_entity
from shared.domain.schedule import due_reason, latest_slot, quarantine_until
from shared.domain.timestamps import from_iso, utc_now
from shared.errors import ConnectorError, ValidationError
from shared.logging_context import job_context
from shared.services.directory_sync import MODES, RunResult, SyncDeps, run_sync
from shared.services.subscriptions_runs import retry_delay_s

log = logging.getLogger(__name__)
LEASE_MARGIN = timedelta(seconds=120)


@dataclass(frozen=True)
class JobMessage:
    connection_id: str
    mode: str = "incremental"
    trigger: str = "manual"
    approved: bool = False
    attempt: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "connection_id": self.connection_id,
            "mode": self.mode,
            "trigger": self.trigger,
            "approved": self.approved,
            "attempt": self.attempt,
        }

    @classmethod
    def parse(cls, body: Any) -> JobMessage:
        if not isinstance(body, dict) or not isinstance(body.get("connection_id"), str):
            raise ValidationError({"connection_id": "a sync job message needs a connection_id"})
        mode = body.get("mode", "incremental")
        if mode not in MODES:
            raise ValidationError({"mode": f"must be one of {', '.join(MODES)}"})
        return cls(
            body["connection_id"],
            mode,
            str(body.get("trigger", "manual")),
            bool(body.get("approved", False)),
            int(body.get("attempt", 0)),
        )


TICK_CONCURRENCY = 16  # due connections enqueued side by side (a send and a slot marker each)
# what the scheduler needs of each connection's sync state: one scan of three small rows (a few columns each) per
# connection, not three point reads per connection (thousands of tenants fit one tick)
FACT_ROWS = {"status": "retry_after", "cursor": "obtained_at", "schedule": "last_slot"}
FACTS_FILTER = " or ".join(f"RowKey eq '{row}'" for row in FACT_ROWS)


StartAd = Callable[[str, str], Awaitable[Any]]  # (connection id, trigger): queue an AD sync job for its agents


async def enqueue_due(
    tables: TableStore, queues: Any, now: datetime | None = None, *, start_ad: StartAd | None = None
) -> list[JobMessage]:
    """Timer: one job per connection whose scheduled slot (or delta-token refresh) is due and not yet enqueued. An
    AD connection's job is an AD sync job for its agents (`start_ad`; without it, a queue message that the worker
    turns into one), on the same schedules and time zones. The
    connections and their schedule facts are read in two scans side by side, the decision is made in memory, and
    the due ones are enqueued TICK_CONCURRENCY at a time. A connection that fails is logged (an unexpected error
    also recorded on it) and the others are still scheduled. The jobs come back in the order of the connections."""
    from shared.services import incidents

    moment = now or utc_now()
    rows, facts = await asyncio.gather(
        _collect(tables.query(names.CONNECTIONS, "PartitionKey eq 'connection'")), _schedule_facts(tables)
    )
    due: list[tuple[Connection, str]] = []
    for row in rows:
        try:
            connection = from_entity(row)
            reason = _due_reason(connection, facts.get(connection.id, {}), moment)
        except Exception as exc:  # noqa: BLE001 (one unreadable connection must not stop everyone's schedule)
            await incidents.record(tables, "sync_scheduler", exc, connection_id=str(row.get("RowKey", "")))
            continue
        if reason is not None:
            due.append((connection, reason))
    limit = asyncio.Semaphore(TICK_CONCURRENCY)

    async def enqueue(connection: Connection, reason: str) -> JobMessage | None:
        async with limit:
            try:
                return await _enqueue(tables, queues, connection, reason, moment, start_ad)
            except ConnectorError as exc:
                log.warning("sync scheduler: connection %s skipped this tick: %s", connection.id, exc.code)
            except Exception as exc:  # noqa: BLE001 (as above)
                await incidents.record(tables, "sync_scheduler", exc, connection_id=connection.id)
            return None

    jobs = await asyncio.gather(*(enqueue(connection, reason) for connection, reason in due))
    return [job for job in jobs if job is not None]


async def _collect(rows: Any) -> list[dict[str, Any]]:
    return [row async for row in rows]


async def _schedule_facts(tables: TableStore) -> dict[str, dict[str, datetime | None]]:
    """Per connection id: retry_after (status row), obtained_at (cursor row), last_slot (the scheduler's marker)."""
    facts: dict[str, dict[str, datetime | None]] = {}
    select = ["PartitionKey", "RowKey", *FACT_ROWS.values()]
    async for row in tables.query(names.SYNC_STATE, FACTS_FILTER, select=select):
        column = FACT_ROWS.get(str(row.get("RowKey", "")))
        if column:
            facts.setdefault(str(row["PartitionKey"]), {})[column] = from_iso(row.get(column) or None)
    return facts


def _due_reason(connection: Connection, facts: dict[str, datetime | None], moment: datetime) -> str | None:
    if not connection.sync_enabled or connection.state != "active":
        return None
    try:
        return due_reason(
            connection.schedule, moment, facts.get("last_slot"), facts.get("obtained_at"), facts.get("retry_after")
        )
    except ValueError as exc:
        log.warning("connection %s has a bad schedule: %s", connection.id, exc)
        return None


async def _enqueue(
    tables: TableStore, queues: Any, connection: Connection, reason: str, moment: datetime, start_ad: StartAd | None
) -> JobMessage:
    job = JobMessage(connection.id, "incremental", reason)
    if connection.is_ad and start_ad is not None:
        await start_ad(connection.id, reason)
    else:
        await queues.send(names.SYNC_JOBS, job.to_dict())
    slot = latest_slot(connection.schedule, moment)
    await tables.upsert(
        names.SYNC_STATE,
        {"PartitionKey": connection.id, "RowKey": "schedule", "last_slot": (slot or moment).isoformat()},
    )
    return job


async def run_job(
    deps: SyncDeps, queues: Any, connection: Connection, job: JobMessage, *, budget_s: float, owner: str | None = None
) -> RunResult | None:
    """Run one job under the connection's lease. None when another worker holds the lease (this one skips; a
    delayed check is queued in case that worker died). Its log lines name the connection and the run."""
    with job_context(connection.id):
        return await _run_job(deps, queues, connection, job, budget_s=budget_s, owner=owner)


async def _run_job(
    deps: SyncDeps, queues: Any, connection: Connection, job: JobMessage, *, budget_s: float, owner: str | None
) -> RunResult | None:
    state = SyncState(deps.tables, connection.id)
    me = owner or uuid.uuid4().hex
    ttl = timedelta(seconds=budget_s) + LEASE_MARGIN
    if not await state.acquire_lease(me, ttl):
        log.info("connection %s: another worker holds the sync lease; skipping", connection.id)
        delay = retry_delay_s(job.trigger, job.attempt, ttl.total_seconds())  # a notification's run retries soon
        if queues is not None and delay is not None:
            later = JobMessage(job.connection_id, job.mode, job.trigger, job.approved, job.attempt + 1)
            await queues.send(names.SYNC_JOBS, later.to_dict(), delay_s=delay)
        return None
    status = await state.status()
    status.state, status.last_run_at = "running", utc_now()
    await state.save_status(status)
    watch = telemetry.RunWatch(deps.graph)
    try:
        result = await run_sync(
            deps, connection, mode=job.mode, trigger=job.trigger, budget_s=budget_s, approved=job.approved
        )
    except ConnectorError as exc:
        telemetry.sync_failed(watch, connection.id, exc.code)
        await record_failure(state, exc)
        raise
    finally:
        await state.release_lease(me)
    status = await state.status()
    status.last_run_id = result.run_id
    status.storage_loss = _storage_loss_note(status.storage_loss, result)
    if result.outcome == "continued" and queues is not None:
        await queues.send(names.SYNC_JOBS, JobMessage(connection.id, result.mode, job.trigger, job.approved).to_dict())
        status.state = "running"
    elif result.outcome == "awaiting_approval":
        status.state, status.pending_removals = "awaiting_approval", result.counts.get("removals.pending", 0)
        status.last_success_at, status.consecutive_failures, status.retry_after = utc_now(), 0, None
    else:
        status.state, status.pending_removals, status.last_error = "idle", 0, ""
        status.last_success_at, status.consecutive_failures, status.retry_after = utc_now(), 0, None
        if job.approved:
            await state.clear_approval()
    await state.save_status(status)
    telemetry.sync_run(watch, connection.id, result)
    log.info(
        "sync %s: %s, %d Graph requests, %d table writes, %d errors",
        result.mode,
        result.outcome,
        result.graph_requests,
        result.table_writes,
        len(result.errors),
    )
    return result


def _storage_loss_note(before: dict[str, Any] | None, result: RunResult) -> dict[str, Any] | None:
    """What status says about lost storage: the run that found it (while it runs and after), until a later run
    finds the copy whole."""
    if "storage.users_expected" not in result.counts:
        return None
    if before and before.get("run_id") == result.run_id:
        return before  # the same (continued) run
    return {
        "run_id": result.run_id,
        "users_expected": result.counts["storage.users_expected"],
        "users_found": result.counts.get("storage.users_found", 0),
        "detected_at": utc_now().isoformat(),
    }


async def record_failure(state: SyncState, exc: ConnectorError) -> None:
    """Count a failed job on the connection's status; repeated failures quarantine it (hourly, then daily)."""
    status = await state.status()
    status.consecutive_failures += 1
    status.state = "failing"
    status.last_error = f"{exc.code}: {exc.message}"
    status.retry_after = quarantine_until(status.consecutive_failures, utc_now())
    await state.save_status(status)
    if status.retry_after is not None:
        telemetry.quarantined(state.cid, status.consecutive_failures, status.retry_after.isoformat(), exc.code)
