"""The audit trail: one row per admin action (who, when, what, outcome, plain detail), never a secret; read back
paged, newest first, per connection or deployment-wide.

Each row is written twice with one RowKey (inverted time + id): in the connection's partition and in the partition
`all`, so both listings are one partition read in RowKey order, newest first, however many connections there are.
"Who" comes from the invocation's context (`acting_as`): the HTTP edge sets it from the request, the CLI to the
operating-system user, timers and workers leave it at `system`."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import uuid
from collections.abc import Iterator
from typing import Any

from shared.domain.timestamps import to_iso, utc_now
from shared.errors import ValidationError
from shared.storage_names import AUDIT

log = logging.getLogger(__name__)
MAX_TIME = 10**13  # milliseconds; inverted so the newest rows list first
ALL = "all"  # the deployment-wide partition: a copy of every row
DEPLOYMENT = "deployment"  # rows of actions that name no connection
MAX_PAGE = 100
SHOWN = ("at", "who", "action", "connection_id", "outcome", "detail")
_who: contextvars.ContextVar[str] = contextvars.ContextVar("audit_who", default="system")


@contextlib.contextmanager
def acting_as(who: str) -> Iterator[None]:
    """Audit rows written inside this block name `who` (a kind of caller and, where known, an address or a name:
    never a key, token or other secret)."""
    token = _who.set(who[:200])
    try:
        yield
    finally:
        _who.reset(token)


def current_who() -> str:
    return _who.get()


async def record(
    tables: Any, action: str, connection_id: str | None, result: str, detail: str = "", actor: str | None = None
) -> None:
    """Write one audit row. `detail` must be plain words (error messages here never carry secrets)."""
    now = utc_now()
    inverted = MAX_TIME - int(now.timestamp() * 1000)
    who = actor or _who.get()
    row = {
        "RowKey": f"{inverted:013d}-{uuid.uuid4().hex}",
        "action": action,
        "at": to_iso(now),
        "connection_id": connection_id or "",
        "result": result,
        "detail": detail[:1000],
        "who": who,
    }
    await tables.insert(AUDIT, {"PartitionKey": connection_id or DEPLOYMENT, **row})
    await tables.insert(AUDIT, {"PartitionKey": ALL, **row})
    log.info("audit %s connection=%s result=%s who=%s", action, connection_id, result, who)


async def trail(tables: Any, connection_id: str) -> list[dict[str, Any]]:
    return [dict(row) async for row in tables.query(AUDIT, "PartitionKey eq @pk", {"pk": connection_id})]


def _view(row: Any) -> dict[str, Any]:
    return {
        "at": row.get("at"),
        "who": row.get("who") or row.get("actor") or "unknown",  # rows from before `who` said `actor`
        "action": row.get("action"),
        "connection_id": row.get("connection_id") or None,
        "outcome": row.get("result"),
        "detail": row.get("detail") or "",
    }


def page_size(raw: str | None) -> int:
    if raw is None or raw == "":
        return 50
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise ValidationError({"top": f"must be a whole number between 1 and {MAX_PAGE}"})
    return int(raw)


async def page(
    tables: Any, connection_id: str | None, top: int = 50, continuation: str | None = None
) -> dict[str, Any]:
    """One page, newest first: a connection's rows (they outlive it: a deleted connection's trail stays readable),
    or with None every row of the deployment."""
    result = await tables.query_page(
        AUDIT, "PartitionKey eq @pk", {"pk": connection_id or ALL}, continuation=continuation, page_size=top
    )
    return {"value": [_view(row) for row in result.items], "continuation": result.continuation}
