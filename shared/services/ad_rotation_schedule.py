"""The hourly password rotation of a connection synced from on-prem AD ("Auto Password Change (days)"): the members
of the rotation group (flagged by the last AD sync, read by the agent transitively) who are active, in scope, due
by `rotation_interval_days` or left with a pending version, and not in an open rotation job get ONE AD rotation job
(shared/services/ad_rotation.py start_ad_rotation). A short ETag-guarded row keeps two schedulers of one connection
from queueing two jobs for the same users at once."""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from shared import storage_names as names
from shared.domain.ad_rotation_schedule import due_users
from shared.domain.connection import Connection
from shared.errors import ConcurrencyConflict, Conflict

log = logging.getLogger(__name__)
SCHEDULE_ROW = "ad-rotation-schedule"  # syncstate, PK connection id: who is choosing the users right now
GUARD_S = 300.0  # a scheduler that crashed while holding the row holds it at most this long


async def open_rotation_users(container: Any, connection_id: str) -> set[str]:
    """Users named by a rotation job of the connection that no agent has finished yet (queued or leased)."""
    from shared.services.agent_jobs import jobs_partition

    rows = container.tables().query(names.AGENTS, "PartitionKey eq @pk", {"pk": jobs_partition(connection_id)})
    busy: set[str] = set()
    async for row in rows:
        if row.get("kind") == "rotate" and row.get("state") != "done":
            busy |= {str(item["user_id"]) for item in json.loads(row["payload_json"]).get("users", [])}
    return busy


async def _guard(tables: Any, connection_id: str, owner: str, now: float) -> str | None:
    """Take the connection's scheduling row; its ETag, or None when another scheduler holds it."""
    row = await tables.get(names.SYNC_STATE, connection_id, SCHEDULE_ROW)
    entity = {"PartitionKey": connection_id, "RowKey": SCHEDULE_ROW, "owner": owner, "until": now + GUARD_S}
    try:
        if row is None:
            return str(await tables.insert(names.SYNC_STATE, entity))
        if float(row.get("until") or 0) > now:
            return None
        return str(await tables.update_if_match(names.SYNC_STATE, entity, str(row.metadata.get("etag", ""))))
    except (Conflict, ConcurrencyConflict):
        return None


async def schedule_ad_rotation(container: Any, connection: Connection, now: datetime | None = None) -> dict[str, Any]:
    """Queue one rotation job for the due members of the rotation group. {job_id, users} (job_id None: nobody is
    due, or another scheduler of this connection is choosing right now)."""
    from shared.adapters.directory_store import DirectoryStore
    from shared.services.ad_rotation import MAX_USERS_PER_JOB, start_ad_rotation
    from shared.services.rotation_state import RotationState

    now = now or datetime.now(UTC)
    tables, owner = container.tables(), uuid.uuid4().hex
    etag = await _guard(tables, connection.id, owner, time.time())
    if etag is None:
        log.info("connection %s: another scheduler is choosing the AD rotation's users", connection.id)
        return {"job_id": None, "users": [], "reason": "scheduler_busy"}
    try:
        states = await RotationState(tables, connection.id).all()
        store = DirectoryStore(tables, connection.id)
        active = {str(r["RowKey"]) async for r in store.user_rows() if r.get("in_scope") and r["status"] == "active"}
        busy = await open_rotation_users(container, connection.id)
        due = due_users(states, active, busy, now, MAX_USERS_PER_JOB)
        if not due:
            return {"job_id": None, "users": [], "reason": "none_due"}
        _, started = await start_ad_rotation(container, connection.id, due)
        log.info("connection %s: AD rotation job %s for %d user(s)", connection.id, started["job_id"], len(due))
        return {"job_id": started["job_id"], "users": list(started["users"]), "reason": ""}
    finally:
        released = {"PartitionKey": connection.id, "RowKey": SCHEDULE_ROW, "owner": "", "until": 0.0}
        try:
            await tables.update_if_match(names.SYNC_STATE, released, etag)
        except ConcurrencyConflict:
            log.warning("connection %s: the AD rotation scheduling row was taken over", connection.id)
