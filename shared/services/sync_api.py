"""What the sync triggers call: start, approve, status, run history, directory listings, scheduler tick, worker."""

from __future__ import annotations

import json
import logging
from typing import Any

from shared import storage_names as names
from shared.adapters.connection_store import load_connection
from shared.adapters.directory_store import members_partition
from shared.adapters.sync_state import SyncState, iso
from shared.composition import Container
from shared.domain.quarantine import quarantine_view
from shared.domain.schedule import next_slot
from shared.domain.timestamps import utc_now
from shared.errors import ConnectorError, NotFound, ValidationError
from shared.logging_context import job_context
from shared.services import audit, subscriptions
from shared.services.directory_sync import MODES, RunResult, SyncDeps, run_sync
from shared.services.password_rotation import rotation_status
from shared.services.sync_jobs import JobMessage, enqueue_due, record_failure, run_job

log = logging.getLogger(__name__)
DRY_RUN_BUDGET_S = 200.0  # an HTTP response must come within 230 s
MAX_PAGE = 1000


async def _deps(container: Container, connection: Any) -> SyncDeps:
    return SyncDeps(
        graph=await container.graph_for(connection),
        tables=container.tables(),
        queues=container.queues(),
        memo=container.cursor_memo(),
    )


async def start_sync(container: Container, connection_id: str, mode: str, dry_run: bool) -> tuple[int, Any]:
    if mode not in MODES:
        raise ValidationError({"mode": f"must be one of {', '.join(MODES)}"})
    connection = await load_connection(container.tables(), connection_id)
    if connection.is_ad:  # the same endpoint queues an AD sync for the connection's agents (dry run included)
        from shared.services.ad_sync import start_ad_sync

        status_code, started = await start_ad_sync(container, connection.id, mode, dry_run, trigger="manual")
        await audit.record(container.tables(), "sync.start", connection.id, "queued", f"AD, mode {mode}")
        return status_code, {"queued": True, **started}
    if dry_run:
        result: RunResult = await run_sync(
            await _deps(container, connection),
            connection,
            mode=mode,
            dry_run=True,
            trigger="dry_run",
            budget_s=DRY_RUN_BUDGET_S,
        )
        await audit.record(container.tables(), "sync.start", connection.id, "dry_run", f"mode {mode}: {result.outcome}")
        return 200, result.to_dict()
    job = JobMessage(connection.id, mode, "manual")
    await container.queues().send(names.SYNC_JOBS, job.to_dict())
    await audit.record(container.tables(), "sync.start", connection.id, "queued", f"mode {mode}")
    return 202, {"queued": True, **job.to_dict()}


async def approve(container: Container, connection_id: str) -> tuple[int, Any]:
    connection = await load_connection(container.tables(), connection_id)
    state = SyncState(container.tables(), connection.id)
    run_id, items = await state.approval()
    if not items:
        raise ValidationError({"approval": "no removals are waiting for approval on this connection"})
    if connection.is_ad:  # the approved run is an AD job: the agent reads the domain again, removals go through
        from shared.services.ad_sync import start_ad_sync

        _, started = await start_ad_sync(container, connection.id, trigger="approval", approved=True)
        detail = f"{len(items)} removal(s) held back by AD run {run_id}"
        await audit.record(container.tables(), "sync.approve", connection.id, "queued", detail)
        return 202, {"queued": True, "approved_run_id": run_id, "removals": len(items), "job_id": started["job_id"]}
    job = JobMessage(connection.id, "incremental", "approval", approved=True)
    await container.queues().send(names.SYNC_JOBS, job.to_dict())
    detail = f"{len(items)} removal(s) held back by run {run_id}"
    await audit.record(container.tables(), "sync.approve", connection.id, "queued", detail)
    return 202, {"queued": True, "approved_run_id": run_id, "removals": len(items)}


async def status(container: Container, connection_id: str) -> tuple[int, Any]:
    connection = await load_connection(container.tables(), connection_id)
    state = SyncState(container.tables(), connection.id)
    current, cursor = await state.status(), await state.cursor()
    ad = None
    if connection.is_ad:
        from shared.services.ad_connection import status_view

        ad = await status_view(container, connection)
    return 200, {
        "connection_id": connection.id,
        "state": current.state,
        "last_success_at": iso(current.last_success_at),
        "last_run_at": iso(current.last_run_at),
        "last_error": current.last_error or None,
        "consecutive_failures": current.consecutive_failures,
        "quarantined_until": iso(current.retry_after) or None,
        "quarantine": quarantine_view(current.retry_after, current.last_error, current.consecutive_failures, utc_now()),
        "pending_removals": current.pending_removals,
        "next_due": iso(next_slot(connection.schedule, utc_now())),
        "delta_links_obtained_at": iso(cursor.obtained_at) or None,
        "last_full_sync_at": iso(cursor.last_full_at) or None,
        "storage_loss_detected": current.storage_loss,
        "rotation": await rotation_status(container.tables(), connection.id) if connection.rotation_enabled else None,
        "notifications": None if ad else await subscriptions.status_view(container, connection),
        "source": connection.source,
        **(ad or {}),
    }


async def runs(container: Container, connection_id: str, top: int = 20) -> tuple[int, Any]:
    connection = await load_connection(container.tables(), connection_id)
    page = await container.tables().query_page(
        names.SYNC_RUNS, "PartitionKey eq @pk", {"pk": connection.id}, page_size=min(max(top, 1), 100)
    )
    out = []
    for row in page.items:
        out.append(
            {
                k: row.get(k)
                for k in (
                    "run_id",
                    "trigger",
                    "mode",
                    "outcome",
                    "started_at",
                    "ended_at",
                    "graph_requests",
                    "table_writes",
                    "invocations",
                )
            }
            | {
                "error_code": row.get("error_code") or None,
            }
            | {
                "counts": json.loads(row.get("counts_json") or "{}"),
                "errors": json.loads(row.get("errors_json") or "[]"),
            }
        )
    return 200, {"runs": out}


async def listing(
    container: Container, connection_id: str, what: str, continuation: str | None, top: int, group_id: str | None = None
) -> tuple[int, Any]:
    """Paged users / groups / members of a group, with an opaque continuation token."""
    if not 1 <= top <= MAX_PAGE:
        raise ValidationError({"top": f"must be between 1 and {MAX_PAGE}"})
    connection = await load_connection(container.tables(), connection_id)
    held = what != "members" or await container.tables().get(names.DIRECTORY_GROUPS, connection.id, group_id or "")
    if not held:
        raise NotFound("No such group in this connection's directory copy")
    table, partition = {
        "users": (names.DIRECTORY_USERS, connection.id),
        "groups": (names.DIRECTORY_GROUPS, connection.id),
        "members": (names.DIRECTORY_MEMBERS, members_partition(connection.id, group_id or "")),
    }[what]
    page = await container.tables().query_page(
        table, "PartitionKey eq @pk", {"pk": partition}, continuation=continuation, page_size=top
    )
    items = [
        {("id" if k == "RowKey" else k): v for k, v in row.items() if k not in ("PartitionKey", "hash")}
        for row in page.items
    ]
    return 200, {"value": items, "continuation": page.continuation}


async def scheduler_tick(container: Container) -> int:
    from shared.services.ad_sync import start_ad_sync

    async def start_ad(connection_id: str, trigger: str) -> None:  # a refusal or an error: no slot marker, next tick
        await start_ad_sync(container, connection_id, trigger=trigger)

    return len(await enqueue_due(container.tables(), container.queues(), start_ad=start_ad))


async def _start_ad(
    container: Container, connection_id: str, trigger: str, mode: str = "incremental", approved: bool = False
) -> None:
    """An AD sync job for the connection's agents; refused ones (no agent) are logged, the status says why."""
    from shared.services.ad_sync import start_ad_sync

    try:
        await start_ad_sync(container, connection_id, mode, trigger=trigger, approved=approved)
    except ConnectorError as exc:
        log.warning("AD connection %s: no AD sync job queued (%s): %s", connection_id, trigger, exc.code)


async def worker(container: Container, body: Any) -> RunResult | None:
    """Run a queued job (its JSON body, or the parsed object). A failure is recorded on the connection's status
    and the message is done: re-raising would make the host retry it five times, counting one failure five times;
    the quarantine decides when to try again. An unexpected exception is recorded the same way, as
    internal_error with its type (shared/services/incidents.py)."""
    from shared.services import incidents

    try:
        job = JobMessage.parse(json.loads(body) if isinstance(body, bytes | str) else body)
    except ValueError:  # not JSON (json.JSONDecodeError is a ValueError)
        job = None
    if job is None:
        raise ValidationError({"message": "a sync job message must be a JSON object with a connection_id"})
    try:
        with job_context(job.connection_id):  # every line of the job, the failure lines included, names it
            return await _work(container, job)
    except Exception as exc:  # noqa: BLE001 (after the typed handling in _work: recorded, the message is done)
        state = SyncState(container.tables(), job.connection_id)
        checkpoint = await state.checkpoint()
        run_id = checkpoint.run_id if checkpoint else None
        error = await incidents.record(
            container.tables(), "sync_worker", exc, connection_id=job.connection_id, run_id=run_id
        )
        await record_failure(state, error)
        return None


async def _work(container: Container, job: JobMessage) -> RunResult | None:
    try:
        connection = await load_connection(container.tables(), job.connection_id)
    except NotFound:  # deleted since the job was queued: nothing to do
        log.info("sync job for a deleted connection %s dropped", job.connection_id)
        return None
    if not connection.sync_enabled:
        return None
    if connection.is_ad:  # a scheduled or approved run of an AD connection is a job for its agents, not Graph
        await _start_ad(container, connection.id, job.trigger, job.mode, job.approved)
        return None
    from shared.services.subscriptions_runs import run_started

    await run_started(container, connection, job.trigger)  # a notification's run: clear its marker (coalescing)
    try:
        deps = await _deps(container, connection)
    except ConnectorError as exc:  # e.g. the credential is gone from Key Vault
        await record_failure(SyncState(container.tables(), connection.id), exc)
        log.warning("sync job for connection %s failed before it started: %s", connection.id, exc.code)
        return None
    try:
        return await run_job(deps, container.queues(), connection, job, budget_s=container.settings.sync_time_budget_s)
    except ConnectorError as exc:  # run_job recorded it
        log.warning("sync job for connection %s failed: %s", connection.id, exc.code)
        return None


async def progress(container: Container, connection_id: str) -> dict[str, Any]:
    """A running sync as it goes (the console's progress): the status's state and, while a run is under way, its
    checkpoint's phase and counts; `running` false otherwise."""
    connection = await load_connection(container.tables(), connection_id)
    state = SyncState(container.tables(), connection.id)
    current, checkpoint = await state.status(), await state.checkpoint()
    running = current.state == "running" and checkpoint is not None
    return {
        "connection_id": connection.id,
        "state": current.state,
        "running": running,
        "run_id": checkpoint.run_id if running and checkpoint else None,
        "phase": checkpoint.phase if running and checkpoint else None,
        "counts": dict(checkpoint.counts) if running and checkpoint else {},
    }


async def held_removals(container: Container, connection_id: str) -> dict[str, Any]:
    """The removals the deletion threshold holds back (what `approve` would let through): the run and its items
    (kind, object id, reason)."""
    connection = await load_connection(container.tables(), connection_id)
    run_id, items = await SyncState(container.tables(), connection.id).approval()
    return {"connection_id": connection.id, "run_id": run_id or None, "items": [list(i) for i in items]}
