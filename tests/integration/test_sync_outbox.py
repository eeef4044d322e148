"""The outbox round-trips events exactly, also many at once (a big group's memberships)."""

from __future__ import annotations

import uuid

from emulators.azurite import Azurite
from shared.adapters.sync_state import SyncState
from shared.adapters.table_store import TableStore
from shared.services.sync_apply import event


async def test_outbox_round_trips_thousands_of_events(azurite: Azurite) -> None:
    cid = f"c{uuid.uuid4().hex[:10]}"
    tenant, run_id, group = str(uuid.uuid4()), uuid.uuid4().hex, str(uuid.uuid4())
    at = "2026-11-22T00:00:00Z"
    events = [
        event("membership.added", cid, tenant, run_id, str(uuid.uuid4()), group_id=group, occurred_at=at)
        for _ in range(2500)
    ]
    events += [event("user.created", cid, tenant, run_id, str(uuid.uuid4()), version="h1", occurred_at=at)]
    async with TableStore.from_connection_string(azurite.connection_string) as tables:
        state = SyncState(tables, cid)
        keys = await state.put_outbox(events)
        stored = await state.outbox()
        assert sorted(k for k, _ in stored) == sorted(keys)
        got = sorted((e for _, batch in stored for e in batch), key=lambda e: e["id"])
        assert got == sorted(events, key=lambda e: e["id"])
        await state.drop_outbox(keys)
        assert await state.outbox() == []
