"""An on-prem AD connection's own views and states: its state as its agents and runs leave it (pending_agent,
active, error ad_credentials_missing; ETag-guarded writes), "Test permissions" from the cloud's side, and the AD
part of `GET /api/connections/{id}/status` (agents, AD cursor, last run, held removals)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from shared import storage_names as names
from shared.adapters.connection_store import get_connection
from shared.adapters.sync_state import SyncState
from shared.domain import ad_source
from shared.domain.agent_protocol import agent_status
from shared.domain.connection import Connection, to_entity
from shared.domain.timestamps import to_iso
from shared.domain.verification import Report
from shared.errors import ConcurrencyConflict, NotFound
from shared.services import audit

log = logging.getLogger(__name__)
AD_CURSOR = "ad-cursor"
ATTEMPTS = 4
Decide = Callable[[Connection], ad_source.StateChange | None]


async def change_state(container: Any, connection_id: str, decide: Decide) -> Connection | None:
    """Apply `decide`'s state change to the stored connection (re-read and decided again on an ETag race); the
    connection as written, or None when nothing changed (or it is gone)."""
    tables = container.tables()
    for _ in range(ATTEMPTS):
        try:
            connection, etag = await get_connection(tables, connection_id)
        except NotFound:
            return None
        change = decide(connection)
        if change is None:
            return None
        updated = connection.with_changes(state=change.state, state_reason=change.reason)
        try:
            await tables.update_if_match(names.CONNECTIONS, to_entity(updated), etag)
        except ConcurrencyConflict:
            continue
        log.info("AD connection %s: %s -> %s (%s)", connection.id, connection.state, change.state, change.reason)
        await audit.record(tables, "connection.state", connection.id, change.state, change.reason or "")
        return updated
    log.warning("AD connection %s kept changing; its state is decided again by the next change", connection_id)
    return None


async def agents_changed(container: Any, connection_id: str) -> None:
    """After an agent registered or was removed: pending_agent with no agent left, active with the first one."""
    from shared.services.agent_registry import agents_of

    active = len([a for a in await agents_of(container, connection_id) if a.get("state") == "active"])
    await change_state(container, connection_id, lambda c: ad_source.after_agents_change(c, active))


async def run_ended(container: Any, connection_id: str, error_code: str | None) -> None:
    await change_state(container, connection_id, lambda c: ad_source.after_run(c, error_code))


async def last_run(tables: Any, connection_id: str) -> dict[str, Any] | None:
    """The newest run record (run rows sort newest first)."""
    page = await tables.query_page(names.SYNC_RUNS, "PartitionKey eq @pk", {"pk": connection_id}, page_size=1)
    if not page.items:
        return None
    row = page.items[0]
    keys = ("run_id", "trigger", "mode", "outcome", "started_at", "ended_at", "error_code")
    return {k: row.get(k) or None for k in keys} | {"counts": json.loads(row.get("counts_json") or "{}")}


async def test_permissions(container: Any, connection: Connection, now: float | None = None) -> Report:
    """What the cloud can check of an AD connection (the agent checks the domain itself on each job)."""
    from shared.services.agent_registry import agents_of

    agents = [dict(a) for a in await agents_of(container, connection.id)]
    run = await last_run(container.tables(), connection.id)
    report = Report(connection.id, ad_source.checks(connection, agents, run, time.time() if now is None else now))
    failing = ", ".join(c.name for c in report.checks if c.status != "pass")
    await audit.record(container.tables(), "connection.verify", connection.id, report.status, failing)
    return report


def _iso(seconds: Any) -> str | None:
    return to_iso(datetime.fromtimestamp(float(seconds), UTC)) if seconds else None


async def status_view(container: Any, connection: Connection, now: float | None = None) -> dict[str, Any]:
    """The AD part of the status: source, domain, state and remedy, agents, the AD cursor, last run, approval."""
    from shared.services.agent_registry import agents_of

    tables, moment = container.tables(), time.time() if now is None else now
    agents = sorted(
        (
            {
                "id": str(a["RowKey"]),
                "name": a.get("name", ""),
                "status": agent_status(dict(a), moment),
                "last_contact": _iso(a.get("last_seen")),
            }
            for a in await agents_of(container, connection.id)
            if a.get("state") == "active"
        ),
        key=lambda a: a["id"],
    )
    cursor_row = await tables.get(names.SYNC_STATE, connection.id, AD_CURSOR)
    cursor = json.loads(cursor_row["cursor_json"]) if cursor_row else None
    run_id, held = await SyncState(tables, connection.id).approval()
    return {
        "source": "ad",
        "domain": connection.domain,
        "connection_state": connection.state,
        "state_reason": connection.state_reason,
        "remedy": ad_source.remedy(connection.state_reason, connection.id),
        "scheduled": connection.state == "active" and connection.sync_enabled,
        "agents": agents,
        "agents_online": len([a for a in agents if a["status"] == "online"]),
        "ad_cursor": {
            "invocation_id": cursor.get("invocation_id"),
            "host": cursor.get("host"),
            "watermark": cursor.get("highest_usn"),
            "updated_at": cursor_row.get("updated_at") or None,
        }
        if cursor and cursor_row
        else None,
        "last_run": await last_run(tables, connection.id),
        "awaiting_approval": {"run_id": run_id, "removals": len(held)} if held else None,
    }
