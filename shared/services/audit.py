"""The audit trail: one row per admin action (what, when, connection, result, plain detail), never a secret."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from shared.domain.timestamps import to_iso, utc_now
from shared.storage_names import AUDIT

log = logging.getLogger(__name__)
MAX_TIME = 10**13  # milliseconds; inverted so the newest rows list first


async def record(
    tables: Any, action: str, connection_id: str | None, result: str, detail: str = "", actor: str = "api"
) -> None:
    """Write one audit row. `detail` must be plain words (error messages here never carry secrets)."""
    now = utc_now()
    inverted = MAX_TIME - int(now.timestamp() * 1000)
    await tables.insert(
        AUDIT,
        {
            "PartitionKey": connection_id or "deployment",
            "RowKey": f"{inverted:013d}-{uuid.uuid4().hex}",
            "action": action,
            "at": to_iso(now),
            "connection_id": connection_id or "",
            "result": result,
            "detail": detail[:1000],
            "actor": actor,
        },
    )
    log.info("audit %s connection=%s result=%s", action, connection_id, result)


async def trail(tables: Any, connection_id: str) -> list[dict[str, Any]]:
    return [dict(row) async for row in tables.query(AUDIT, "PartitionKey eq @pk", {"pk": connection_id})]
