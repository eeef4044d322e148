"""What the console's pages show, gathered from the services the JSON functions call (nothing decided here): the
connections list with each one's sync status, a connection's page model, its listings and its audit trail."""

from __future__ import annotations

import asyncio
from typing import Any

from shared.errors import NotFound
from shared.services import agent_overview, audit, sync_api
from shared.services.connections import get_connection, list_connections

LIST_CONCURRENCY = 8


async def last_run(container: Any, connection_id: str) -> dict[str, Any] | None:
    _, data = await sync_api.runs(container, connection_id, 1)
    runs = data["runs"]
    return dict(runs[0]) if runs else None


async def status_with_last_run(container: Any, connection_id: str) -> dict[str, Any]:
    _, status = await sync_api.status(container, connection_id)
    return {**status, "last_run": await last_run(container, connection_id)}


async def connections_list(container: Any) -> list[dict[str, Any]]:
    """Each connection's view with its sync status; a purging connection shows without one."""
    limit = asyncio.Semaphore(LIST_CONCURRENCY)

    async def item(view: dict[str, Any]) -> dict[str, Any]:
        async with limit:
            try:
                status = await status_with_last_run(container, view["id"])
            except NotFound:  # purging, or removed meanwhile
                status = {}
            return {"connection": view, "status": status}

    return list(await asyncio.gather(*(item(v) for v in await list_connections(container))))


async def connection_model(container: Any, connection_id: str) -> dict[str, Any]:
    view = await get_connection(container, connection_id)
    if view.get("state") == "purging":
        return {"view": view, "status": {}, "progress": None, "held": {}}
    status = await status_with_last_run(container, view["id"])
    progress = await sync_api.progress(container, view["id"])
    held = await sync_api.held_removals(container, view["id"])
    agents = await agent_overview.overview(container, view["id"]) if view.get("source") == "ad" else None
    return {
        "view": view,
        "status": status,
        "progress": progress if progress["running"] else None,
        "held": held,
        "agents": agents,
    }


async def audit_page(container: Any, connection_id: str | None, continuation: str | None) -> dict[str, Any]:
    return await audit.page(container.tables(), connection_id, 50, continuation)
