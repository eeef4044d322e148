"""Sync phase "defaults": a connection's changed `user_defaults` applied to every stored user row, without reading
Graph (the rows hold the kept attributes, so each row's content hash is recomputed with the new defaults).

Runs when the cursor's `defaults_hash` differs from the connection's defaults. Idempotent: a row that already
carries the new defaults is skipped, so a run killed midway does only the rest next time."""

from __future__ import annotations

import json
from typing import Any

from shared.adapters.directory_store import DirectoryStore
from shared.domain.directory import content_hash, user_record
from shared.services.sync_apply import SyncApplier

PER_WRITE = 1000


def defaults_hash(defaults: dict[str, Any]) -> str:
    return content_hash({"__defaults": defaults})


def _new_hash(row: dict[str, Any], defaults: dict[str, Any]) -> str:
    """The hash user_record gives this user's attributes with the new defaults (the row keeps every attribute)."""
    return user_record({**row, "id": row["RowKey"]}, defaults).hash


async def apply_defaults(store: DirectoryStore, apply: SyncApplier, defaults: dict[str, Any]) -> int:
    """Rewrite defaults_json (and the hash) of every stored user whose row has other defaults; one `user.updated`
    event (reason `defaults_changed`) each. Returns how many rows changed."""
    wanted = json.dumps(defaults, sort_keys=True)
    pending: list[tuple[str, str]] = []
    changed = 0
    async for row in store.user_rows():
        if row.get("defaults_json", "") == wanted:
            continue
        pending.append((str(row["RowKey"]), _new_hash(row, defaults)))
        if len(pending) >= PER_WRITE:
            await apply.new_defaults(pending, wanted)
            changed += len(pending)
            pending = []
    if pending:
        await apply.new_defaults(pending, wanted)
        changed += len(pending)
    return changed
