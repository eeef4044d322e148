"""Notifications to sync runs: the endpoint's checks, and at most one pending "run incremental now" job per
connection (a marker row guarded by its ETag, cleared by the worker when the run starts), so a burst of
notifications causes a few runs, not one each."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from shared import storage_names as names
from shared.adapters.table_store import etag_of
from shared.domain.notifications import check
from shared.domain.timestamps import from_iso, utc_now
from shared.errors import ConcurrencyConflict, Conflict, NotFound, ValidationError

log = logging.getLogger(__name__)
MARKER = "notify-pending"
TRIGGER = "notification"
STALE = timedelta(minutes=15)  # a marker whose job never started (lost message): replaced by the next notification


async def pending(tables: Any, connection_id: str) -> bool:
    return await tables.get(names.SYNC_STATE, connection_id, MARKER) is not None


async def request_run(tables: Any, queues: Any, connection_id: str) -> bool:
    """Queue one incremental run unless one is already pending. True when this call queued it."""
    from shared.services.sync_jobs import JobMessage

    now = utc_now()
    row = {"PartitionKey": connection_id, "RowKey": MARKER, "requested_at": now.isoformat()}
    marker = await tables.get(names.SYNC_STATE, connection_id, MARKER)
    try:
        if marker is None:
            etag = await tables.insert(names.SYNC_STATE, row)
        else:
            requested = from_iso(marker.get("requested_at"))
            if requested is not None and now - requested < STALE:
                return False  # coalesced: the pending run will read this change too
            etag = await tables.update_if_match(names.SYNC_STATE, row, etag_of(marker) or "*")
    except (Conflict, ConcurrencyConflict):
        return False  # another notification made the marker first
    try:
        await queues.send(names.SYNC_JOBS, JobMessage(connection_id, "incremental", TRIGGER).to_dict())
    except Exception:
        await tables.delete(names.SYNC_STATE, connection_id, MARKER, etag=etag)  # let the next notification try
        raise
    return True


async def run_started(container: Any, connection: Any, trigger: str) -> None:
    """The worker's hook when a job starts: a notification job clears the marker (changes from now on queue a new
    run), and carries out what lifecycle events asked for (renew, recreate)."""
    if trigger != TRIGGER:
        return
    await container.tables().delete(names.SYNC_STATE, connection.id, MARKER)
    from shared.services import subscriptions

    rows = await subscriptions.load_rows(container.tables(), connection.id)
    if any(r.state in ("reauthorize", "removed") for r in rows.values()):
        await subscriptions.after_activation(container, connection)


def retry_delay_s(trigger: str, attempt: int, default_s: float) -> int | None:
    """How long a job that found the lease held waits before trying again (None: give up). A notification's run
    retries soon (5 s, doubling to a minute, for about 5 minutes); others wait out the lease."""
    if trigger == TRIGGER:
        return min(5 * 2**attempt, 60) if attempt < 8 else None
    return int(default_s) if attempt < 3 else None


async def receive(container: Any, connection_id: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """A POST from Graph to the notification or lifecycle URL: every item checked against the connection (its
    subscriptions, tenant and clientState); accepted ones only enqueue (202). All refused: 403, nothing changed."""
    from shared.adapters.connection_store import load_connection
    from shared.services import subscriptions

    try:
        data = json.loads(body or b"null")
    except ValueError:
        raise ValidationError({"body": "must be a JSON notification collection"}) from None
    if not isinstance(data, dict) or not isinstance(data.get("value"), list) or not data["value"]:
        raise ValidationError({"value": "must be a non-empty list of notifications"})
    tables = container.tables()
    connection = await load_connection(tables, connection_id)
    from shared.domain.ad_source import require_entra

    require_entra(connection, "notifications")  # 409, nothing changed
    rows = await subscriptions.load_rows(tables, connection.id)
    known = frozenset(r.subscription_id for r in rows.values() if r.subscription_id)
    state = await subscriptions.client_state(container, connection.id) if known else None
    if state is None:
        raise NotFound("No subscription of this connection")
    accepted = check(data, tenant_id=connection.tenant_id, subscriptions=known, client_state=state)
    if accepted.refused:  # the clientState may have changed since it was cached: read it again once
        state = await subscriptions.client_state(container, connection.id, fresh=True) or ""
        accepted = check(data, tenant_id=connection.tenant_id, subscriptions=known, client_state=state)
    total = len(data["value"])
    if accepted.refused == total:
        log.warning(
            "connection %s: %d notification(s) refused (subscription, tenant or clientState)", connection.id, total
        )
        return 403, {"error": "forbidden", "message": "notification refused"}
    if accepted.renew:
        await subscriptions.mark(tables, connection.id, accepted.renew, "reauthorize")
    if accepted.recreate:
        await subscriptions.mark(tables, connection.id, accepted.recreate, "removed")
    queued = False
    if accepted.run or accepted.renew or accepted.recreate:
        queued = await request_run(tables, container.queues(), connection.id)
    return 202, {"accepted": total - accepted.refused, "refused": accepted.refused, "queued": queued}
