"""Rotation bookkeeping in Table Storage: the per-user lock and schedule (rotationstate) and the history rows
(rotationhistory). Rows hold times, results, reasons and Key Vault version ids, never a password."""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from shared import storage_names as names
from shared.adapters.table_store import TableStore, etag_of
from shared.domain.rotation import LOCK_TTL, lock_is_free
from shared.errors import ConcurrencyConflict, Conflict

log = logging.getLogger(__name__)
OwnerCheck = Callable[[str], Awaitable[bool]]  # connection id -> does it still exist and rotate passwords?


def _iso(value: datetime) -> str:
    return value.isoformat()


class RotationState:
    def __init__(self, tables: TableStore, connection_id: str) -> None:
        self._tables = tables
        self.connection_id = connection_id

    async def all(self) -> dict[str, dict[str, Any]]:
        rows = self._tables.query(names.ROTATION_STATE, "PartitionKey eq @pk", {"pk": self.connection_id})
        return {str(row["RowKey"]): dict(row) async for row in rows}

    async def lock(self, user_id: str, owner: str, now: datetime) -> str | None:
        """Take the user's lock (ETag-guarded, expiring); the ETag to finish with, or None when someone holds it."""
        fields = {"lock_owner": owner, "lock_expires_at": _iso(now + LOCK_TTL), "last_attempt_at": _iso(now)}
        row = await self._tables.get(names.ROTATION_STATE, self.connection_id, user_id)
        try:
            if row is None:
                return await self._tables.insert(
                    names.ROTATION_STATE, {"PartitionKey": self.connection_id, "RowKey": user_id, **fields}
                )
            if not lock_is_free(row, now):
                return None
            return await self._tables.update_if_match(
                names.ROTATION_STATE, {**dict(row), **fields}, etag_of(row) or "", replace=False
            )
        except (Conflict, ConcurrencyConflict):
            return None

    async def finish(self, user_id: str, etag: str, fields: dict[str, Any]) -> None:
        """Record the outcome and release the lock, unless the lock expired and was taken by another run."""
        entity = {
            "PartitionKey": self.connection_id,
            "RowKey": user_id,
            "lock_owner": "",
            "lock_expires_at": "",
            **fields,
        }
        try:
            await self._tables.update_if_match(names.ROTATION_STATE, entity, etag, replace=False)
        except ConcurrencyConflict:
            log.warning("rotation lock of user %s in connection %s was taken over", user_id, self.connection_id)

    async def claim(self, tenant_id: str, user_id: str, owner_alive: OwnerCheck) -> str | None:
        """Make this connection the one rotation owner of the tenant's user (insert-if-absent, ETag-guarded
        take-over of an owner whose connection is gone or no longer rotates). None when it is ours now; otherwise the
        id of the connection that owns the user (two connections must never rotate one user: each would keep its
        own "current" password and one of them would be wrong)."""
        row = await self._tables.get(names.ROTATION_OWNERS, tenant_id, user_id)
        entity = {"PartitionKey": tenant_id, "RowKey": user_id, "connection_id": self.connection_id}
        try:
            if row is None:
                await self._tables.insert(names.ROTATION_OWNERS, entity)
                return None
            owner = str(row.get("connection_id", ""))
            if owner == self.connection_id:
                return None
            if await owner_alive(owner):
                return owner
            await self._tables.update_if_match(names.ROTATION_OWNERS, entity, etag_of(row) or "")
            log.info("user %s: rotation taken over from connection %s (gone or not rotating)", user_id, owner)
            return None
        except (Conflict, ConcurrencyConflict):
            latest = await self._tables.get(names.ROTATION_OWNERS, tenant_id, user_id)
            owner = str((latest or {}).get("connection_id", ""))
            return None if owner == self.connection_id else owner or "unknown"

    async def record(self, user_id: str, at: datetime, run_id: str, result: str, reason: str, version: str) -> None:
        inverted = f"{sys.maxsize - int(at.timestamp() * 1_000_000):020d}"
        await self._tables.upsert(
            names.ROTATION_HISTORY,
            {
                "PartitionKey": f"{self.connection_id}_{user_id}",
                "RowKey": f"{inverted}_{run_id}",
                "at": _iso(at),
                "run_id": run_id,
                "result": result,
                "reason": reason,
                "version": version,
            },
        )

    async def history(self, user_id: str) -> list[dict[str, Any]]:
        rows = self._tables.query(
            names.ROTATION_HISTORY, "PartitionKey eq @pk", {"pk": f"{self.connection_id}_{user_id}"}
        )
        return [dict(row) async for row in rows]
