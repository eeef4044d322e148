"""A connection's directory synced from on-prem AD through its agent: a sync job is queued for the agents, and the
answer of the agent that holds the lease goes through the same planner (shared/domain/sync_plan.py), applier
(outbox, dry run), store, change feed and run history as an Entra sync. The AD cursor (the DC's invocationId and
uSNChanged watermark) is a row of `syncstate` (RK `ad-cursor`), next to the Entra cursor it does not touch."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from shared import storage_names as names
from shared.adapters.directory_store import DirectoryStore
from shared.adapters.sync_state import Checkpoint, SyncState
from shared.domain.ad_directory import BadAnswer, link_changes, parse_answer
from shared.domain.ad_source import require_ad
from shared.domain.schedule import quarantine_until
from shared.domain.sync_plan import plan_group_writes, plan_removals, plan_user_writes, threshold_exceeded
from shared.domain.timestamps import from_iso, to_iso, utc_now
from shared.errors import Conflict, ValidationError
from shared.services.ad_connection import AD_CURSOR, run_ended
from shared.services.connections import load
from shared.services.sync_apply import SyncApplier
from shared.services.sync_removals_phase import behaviour_removes_links

log = logging.getLogger(__name__)
MODES = ("incremental", "full")


async def _cursor(tables: Any, connection_id: str) -> dict[str, Any] | None:
    row = await tables.get(names.SYNC_STATE, connection_id, AD_CURSOR)
    return json.loads(row["cursor_json"]) if row else None


async def start_ad_sync(
    container: Any,
    connection_id: str,
    mode: str = "incremental",
    dry_run: bool = False,
    trigger: str = "manual",
    *,
    approved: bool = False,
) -> tuple[int, dict[str, Any]]:
    """202 {job_id, run_id}: a sync job for the connection's agents (any one of them takes it). `approved`: the
    removals held back by the deletion threshold go through (the approve endpoint)."""
    from shared.services.agent_jobs import enqueue
    from shared.services.agent_registry import agents_of

    if mode not in MODES:
        raise ValidationError({"mode": f"must be one of {', '.join(MODES)}"})
    connection, _ = await load(container, connection_id)
    require_ad(connection, "An AD sync")
    if not connection.sync_group_id:
        raise ValidationError({"sync_group_id": "an AD sync needs the sync group's objectGUID"})
    if not [a for a in await agents_of(container, connection.id) if a.get("state") == "active"]:
        raise Conflict("No agent is registered for this connection: register one (docs/ad-agent.md)", code="no_agent")
    run_id = uuid.uuid4().hex
    payload = {
        "sync_group": connection.sync_group_id,
        "rotation_group": connection.rotation_group_id if connection.rotation_enabled else None,
        "cursor": None if mode == "full" else await _cursor(container.tables(), connection.id),
        "run_id": run_id,
        "mode": mode,  # as asked (the console shows it); the agent reads the cursor: none means a full read
        "dry_run": dry_run,
        "approved": approved and not dry_run,
        "trigger": trigger,
        "requested_at": to_iso(utc_now()),
    }
    job_id = await enqueue(container, connection.id, "sync", payload)
    log.info("connection %s: AD %s sync job %s queued (%s)", connection.id, mode, job_id, trigger)
    return 202, {"job_id": job_id, "run_id": run_id, "connection_id": connection.id, "source": "ad", "mode": mode,
                 "dry_run": dry_run, "trigger": trigger}  # fmt: skip


async def _record_success(state: SyncState, run_id: str, outcome: str, pending: int) -> None:
    """The connection's sync status after an AD run that read the domain (as the Entra worker leaves it)."""
    status = await state.status()
    status.last_run_id, status.last_run_at, status.last_success_at = run_id, utc_now(), utc_now()
    status.consecutive_failures, status.retry_after, status.last_error = 0, None, ""
    held = outcome == "awaiting_approval"
    status.state, status.pending_removals = ("awaiting_approval", pending) if held else ("idle", 0)
    await state.save_status(status)


def _checkpoint(payload: dict[str, Any], mode: str, counts: dict[str, int]) -> Checkpoint:
    started = from_iso(payload.get("requested_at")) or utc_now()
    return Checkpoint(run_id=str(payload["run_id"]), mode=mode, trigger=str(payload.get("trigger") or "agent"),
                      started_at=started, counts=counts, invocations=1)  # fmt: skip


async def record_failure(container: Any, connection_id: str, payload: dict[str, Any], code: str) -> None:
    """The agent could not read AD (no password, bind refused, DC unreachable): the run is recorded failed with
    the agent's code, so status and run history say why."""
    state = SyncState(container.tables(), connection_id)
    await state.record_run(_checkpoint(payload, "incremental", {}), "failed", utc_now(), error=code)
    if payload.get("dry_run"):
        return
    status = await state.status()
    status.consecutive_failures += 1
    status.state, status.last_run_at, status.last_error = "failing", utc_now(), f"{code}: the agent's AD run failed"
    status.retry_after = quarantine_until(status.consecutive_failures, utc_now())
    await state.save_status(status)
    await run_ended(container, connection_id, code)  # ad_credentials_missing: error, the scheduler skips it


async def apply_answer(
    container: Any, connection_id: str, payload: dict[str, Any], raw: Any, *, approved: bool = False
) -> dict[str, Any]:
    """Plan and apply one answer; the run's summary. Idempotent: the same answer again writes nothing new (rows
    by content hash) and resends no event twice (ids from the run id and versions)."""
    connection, _ = await load(container, connection_id)
    try:
        answer = parse_answer(raw, connection.user_defaults)
    except BadAnswer as exc:
        raise ValidationError({"result": str(exc)}) from None
    tables = container.tables()
    store, state = DirectoryStore(tables, connection.id), SyncState(tables, connection.id)
    dry_run = bool(payload.get("dry_run"))
    approved = (approved or bool(payload.get("approved"))) and not dry_run
    held_run, _ = await state.approval()
    snapshot = await state.load()
    queues = container.queues()
    apply = SyncApplier(store, state, queues, tenant_id=connection.tenant_id, run_id=str(payload["run_id"]),
                        dry_run=dry_run, defaults=connection.user_defaults)  # fmt: skip
    await apply.flush_outbox(snapshot.outbox)
    stored = await store.load_users()
    stored_groups = await store.load_groups()

    await apply.users(plan_user_writes(answer.users, stored, set(answer.scope)))
    await apply.groups(plan_group_writes(answer.groups, stored_groups))
    tree = {g.id for g in answer.groups}
    current = {gid: {uid async for uid in store.member_ids(gid)} for gid in answer.links}
    await apply.links_many(link_changes(answer.links, current, answer.scope))

    removals = plan_removals(stored, set(answer.scope), set(answer.deleted) & set(stored), connection.removal_behaviour)
    stale_groups = sorted(set(stored_groups) - tree)
    counted = len([r for r in removals if r.kind != "user.kept"]) + len(stale_groups)
    over = threshold_exceeded(
        counted, len(stored) + len(stored_groups), connection.deletion_threshold, connection.deletion_threshold_percent
    )
    # as for Entra: while removals are held, a later run holds what it would remove (superseding the list) until a
    # run is approved, or one finds nothing left to remove
    held = counted > 0 and (over or bool(held_run)) and not approved
    if held:
        apply.counts["removals.pending"] = counted
        outcome = "awaiting_approval"
        if not dry_run:
            items = [(r.kind, r.user_id, r.reason) for r in removals] + [("group.deleted", g, "") for g in stale_groups]
            await state.save_approval(str(payload["run_id"]), items)
        else:
            apply.planned += [{"type": r.kind, "object_id": r.user_id, "held": True} for r in removals[:100]]
    else:
        leaving = {r.user_id for r in removals}
        if behaviour_removes_links(connection.removal_behaviour) and leaving:
            links = await store.links_of_users(leaving)
            await apply.links_many([(gid, set(), uids) for gid, uids in sorted(links.items())])
        await apply.removals(removals)
        if stale_groups:
            await apply.delete_groups(stale_groups)
        outcome = "succeeded"
        if held_run and not dry_run:
            await state.clear_approval()  # approved and applied, or nothing is left to remove
            if not approved:
                apply.counts["removals.hold_superseded"] = 1
    await apply.release()
    counts = dict(apply.counts)
    if answer.full_reason:
        counts[f"ad.full.{answer.full_reason}"] = 1
    if dry_run:
        outcome = "dry_run"
    cp = _checkpoint(payload, answer.mode, counts)
    cp.table_writes = store.writes
    if not dry_run:
        cursor_row = {"PartitionKey": connection.id, "RowKey": AD_CURSOR, "cursor_json": json.dumps(answer.cursor),
                      "updated_at": to_iso(utc_now())}  # fmt: skip
        await tables.upsert(names.SYNC_STATE, cursor_row, replace=True)
        if answer.rotation_members is not None:
            await record_rotation_members(tables, connection.id, answer.rotation_members & set(answer.scope))
        await state.drop_sent()
    await state.record_run(cp, outcome, utc_now())
    if not dry_run:
        await _record_success(state, cp.run_id, outcome, counts.get("removals.pending", 0))
        await run_ended(container, connection.id, None)  # a run that read AD ends ad_credentials_missing
    log.info("connection %s: AD %s sync %s %s", connection.id, answer.mode, outcome, counts)
    return {"run_id": cp.run_id, "mode": answer.mode, "outcome": outcome, "counts": counts,
            "planned": apply.planned[:100] if dry_run else []}  # fmt: skip


async def record_rotation_members(tables: Any, connection_id: str, members: set[str] | frozenset[str]) -> int:
    """Flag the rotation group's members (in sync scope) on their rotationstate rows, writing only the users who
    joined or left; the hourly AD rotation picks from these flags. The number of rows written."""
    from shared.domain.ad_rotation_schedule import MEMBER_FLAG, membership_changes
    from shared.services.rotation_state import RotationState

    joined, left = membership_changes(await RotationState(tables, connection_id).all(), members)
    rows = [{"PartitionKey": connection_id, "RowKey": uid, MEMBER_FLAG: True} for uid in joined]
    rows += [{"PartitionKey": connection_id, "RowKey": uid, MEMBER_FLAG: False} for uid in left]
    return await tables.upsert_many(names.ROTATION_STATE, rows) if rows else 0
