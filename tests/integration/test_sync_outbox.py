"""The outbox round-trips events exactly, also many at once (a big group's memberships); sent rows go with the
next write of the partition; a run's start reads its state in one query."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from emulators.azurite import Azurite
from shared.adapters.sync_state import Checkpoint, Cursor, Status, SyncState
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
    events += [  # a removal says why, also when a crashed run's outbox is sent again
        event(kind, cid, tenant, run_id, str(uuid.uuid4()), occurred_at=at, reason=reason)
        for kind, reason in [("user.deactivated", "deleted"), ("user.kept", "left_scope"), ("user.deleted", "deleted")]
    ]
    async with TableStore.from_connection_string(azurite.connection_string) as tables:
        state = SyncState(tables, cid)
        keys = await state.put_outbox(events)
        stored = (await state.load()).outbox
        assert sorted(k for k, _ in stored) == sorted(keys)
        got = sorted((e for _, batch in stored for e in batch), key=lambda e: e["id"])
        assert got == sorted(events, key=lambda e: e["id"])
        state.mark_sent(keys)
        await state.drop_sent()
        assert (await state.load()).outbox == []


async def test_sent_rows_are_deleted_with_the_next_write_of_the_partition(azurite: Azurite) -> None:
    cid = f"c{uuid.uuid4().hex[:10]}"
    at = "2026-11-22T00:00:00Z"

    def batch(n: int) -> list[dict[str, object]]:
        return [event("user.created", cid, "t", "r", str(uuid.uuid4()), version="h", occurred_at=at) for _ in range(n)]

    async with TableStore.from_connection_string(azurite.connection_string) as tables:
        state = SyncState(tables, cid)
        first = await state.put_outbox(batch(3))
        state.mark_sent(first)
        assert [k for k, _ in (await state.load()).outbox] == first  # sent, not deleted: a crash sends it again
        second = await state.put_outbox(batch(2))
        assert [k for k, _ in (await state.load()).outbox] == second  # the first went with the second's write
        state.mark_sent(second)
        await state.save_cursor(Cursor(users_delta="u", groups_delta="g"))
        snapshot = await state.load()
        assert snapshot.outbox == [] and snapshot.cursor.users_delta == "u" and snapshot.checkpoint is None


async def test_the_snapshot_reads_cursor_checkpoint_and_outbox_only(azurite: Azurite) -> None:
    cid = f"c{uuid.uuid4().hex[:10]}"
    started = datetime(2026, 11, 22, tzinfo=UTC)
    async with TableStore.from_connection_string(azurite.connection_string) as tables:
        state = SyncState(tables, cid)
        other = SyncState(tables, cid + "x")  # a neighbouring connection's rows never show up
        for s in (state, other):
            await s.save_cursor(Cursor(users_delta=f"u-{s.cid}"))
            await s.save_checkpoint(Checkpoint(run_id=f"r-{s.cid}", mode="full", trigger="t", started_at=started))
            await s.put_outbox([event("user.created", s.cid, "t", "r", "o", occurred_at="2026-11-22T00:00:00Z")])
            await s.save_status(Status(state="running"))
            await s.save_approval("r", [("u1", "user.deleted", "left_scope")])
        snapshot = await state.load()
    assert snapshot.cursor.users_delta == f"u-{cid}"
    assert snapshot.checkpoint is not None and snapshot.checkpoint.run_id == f"r-{cid}"
    assert [[e["connection_id"] for e in events] for _, events in snapshot.outbox] == [[cid]]
