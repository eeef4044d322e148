"""What the console shows of a connection's on-prem agents: the agents (as GET .../agents lists them) and their
recent jobs (AD sync and rotation: queued, running on which agent, done with which outcome), read from the
`agents` table. Never a key, a payload's secret version or a result's content beyond its outcome and code."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from shared.domain.timestamps import to_iso
from shared.services.agent_jobs import jobs_partition
from shared.services.agent_registry import list_agents
from shared.storage_names import AGENTS

RECENT_JOBS_S = 7 * 24 * 3600  # job ids start with their creation time in ms: a range query reads only these
MAX_JOBS = 50


def _iso(seconds: Any) -> str | None:
    return to_iso(datetime.fromtimestamp(float(seconds), UTC)) if seconds else None


def job_view(row: Any, names: dict[str, str], now: float) -> dict[str, Any]:
    """One job as the console lists it: queued, running (leased to a live agent), stalled (its agent stopped
    heartbeating: another agent takes it over) or done. `names`: agent id -> name (a removed agent shows by its id)."""
    try:
        payload = json.loads(row.get("payload_json") or "{}")
    except ValueError:
        payload = {}
    state = str(row.get("state") or "queued")
    agent = str(row.get("done_by") if state == "done" else row.get("lease_agent") if state == "leased" else "")
    if state == "leased":
        state = "running" if float(row.get("lease_until") or 0) > now else "stalled"
    return {
        "id": str(row["RowKey"]),
        "kind": str(row.get("kind") or ""),
        "state": state,
        "run_id": payload.get("run_id"),
        "mode": _mode(payload) if row.get("kind") == "sync" else "",
        "dry_run": bool(payload.get("dry_run")),
        "users": len(payload.get("users") or []),
        "agent": names.get(agent, agent) if agent else "",
        "attempts": int(row.get("attempts") or 0),
        "outcome": row.get("outcome") or None,
        "error_code": row.get("error_code") or None,
        "created_at": _iso(row.get("created_at")),
        "done_at": _iso(row.get("done_at")),
    }


def _mode(payload: dict[str, Any]) -> str:
    """The sync mode asked (jobs queued before the payload named it: no cursor sent means a full read)."""
    return str(payload.get("mode") or ("full" if payload.get("cursor") is None else "incremental"))


async def overview(container: Any, connection_id: str, now: float | None = None) -> dict[str, Any]:
    """{agents: [...], jobs: [...]} of the connection, jobs newest first (the last RECENT_JOBS_S, at most
    MAX_JOBS)."""
    now = time.time() if now is None else now
    _, listed = await list_agents(container, connection_id, now)
    agents = listed["agents"]
    since = f"{int((now - RECENT_JOBS_S) * 1000):013d}"
    rows = container.tables().query(
        AGENTS, "PartitionKey eq @pk and RowKey ge @since", {"pk": jobs_partition(connection_id), "since": since}
    )
    found = [row async for row in rows]
    names = await _names(container, connection_id)
    jobs = [job_view(row, names, now) for row in sorted(found, key=lambda r: str(r["RowKey"]), reverse=True)]
    return {"agents": agents, "jobs": jobs[:MAX_JOBS]}


async def _names(container: Any, connection_id: str) -> dict[str, str]:
    from shared.services.agent_registry import agents_of

    return {str(r["RowKey"]): str(r.get("name") or r["RowKey"]) for r in await agents_of(container, connection_id)}
