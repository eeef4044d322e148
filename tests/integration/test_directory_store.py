"""DirectoryStore's lookups: filtered queries (within the 15-comparison limit) and full scans find the same rows."""

from __future__ import annotations

import uuid

import pytest

from emulators.azurite import Azurite
from shared.adapters import directory_store
from shared.adapters.directory_store import DirectoryStore
from shared.adapters.table_store import TableStore


async def test_links_of_users_filtered_and_scanned_agree(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> None:
    users = [str(uuid.uuid4()) for _ in range(90)]
    groups = [str(uuid.uuid4()) for _ in range(5)]
    links = [(g, u) for i, g in enumerate(groups) for u in users[i * 10 : i * 10 + 40]]
    async with TableStore.from_connection_string(azurite.connection_string) as tables:
        store = DirectoryStore(tables, f"c{uuid.uuid4().hex[:10]}")
        other = DirectoryStore(tables, f"c{uuid.uuid4().hex[:10]}")  # another connection's links never match
        await store.change_links(links, [])
        await other.change_links(links, [])
        wanted = set(users[:45]) | {"not-a-member"}
        expected: dict[str, set[str]] = {}
        for g, u in links:
            if u in wanted:
                expected.setdefault(g, set()).add(u)
        filtered = await store.links_of_users(wanted)  # 46 ids: four filtered queries of at most 15 comparisons
        monkeypatch.setattr(directory_store, "FILTERED_LINK_LOOKUP_MAX", 0)
        scanned = await store.links_of_users(wanted)
    assert filtered == expected
    assert scanned == expected


async def test_links_many_splits_big_groups_and_loses_nothing(azurite: Azurite) -> None:
    from shared.adapters.queues import QueueSender
    from shared.adapters.sync_state import SyncState
    from shared.services.sync_apply import SyncApplier

    cid = f"c{uuid.uuid4().hex[:10]}"
    big, small = str(uuid.uuid4()), str(uuid.uuid4())
    users = [str(uuid.uuid4()) for _ in range(53)]
    async with TableStore.from_connection_string(azurite.connection_string) as tables:
        store = DirectoryStore(tables, cid)
        await store.change_links([(small, users[0]), (small, users[1])], [])
        queues = QueueSender.from_connection_string(azurite.connection_string)
        applier = SyncApplier(
            store, SyncState(tables, cid), queues, tenant_id="t", run_id="r", dry_run=False, defaults={}
        )
        await applier.links_many([(big, set(users), set()), (small, {users[2]}, {users[0]})], per_write=7)
        found = await store.links_of_users(set(users))
        events = [e for e in await queues.receive_events("directory-changes") if e["connection_id"] == cid]
        await queues.close()
    assert found == {big: set(users), small: {users[1], users[2]}}
    assert applier.counts["membership.added"] == 54 and applier.counts["membership.removed"] == 1
    assert len(events) == 55 and len({e["id"] for e in events}) == 55


async def test_reads_of_named_rows_find_exactly_the_stored_ones(azurite: Azurite) -> None:
    from shared.domain.directory import UserRecord
    from shared.domain.sync_plan import UserWrite

    cid = f"c{uuid.uuid4().hex[:10]}"
    users = sorted(str(uuid.uuid4()) for _ in range(40))
    groups = [str(uuid.uuid4()) for _ in range(3)]
    async with TableStore.from_connection_string(azurite.connection_string) as tables:
        store = DirectoryStore(tables, cid)
        writes = [
            UserWrite("user.created", UserRecord(id=u, attributes={"displayName": u}, hash=f"h{u}"), "active")
            for u in users[:30]
        ]
        await store.write_users(writes, {})
        links = {(groups[i % 3], u) for i, u in enumerate(users[:30])}
        await store.change_links(sorted(links), [])
        asked = set(users[5:40])  # 35 ids, 25 stored
        read = await store.read_users(asked)  # size unknown: point reads
        scanned = await store.read_users(asked, partition_rows=30)  # a small partition: three queries of 14 ids
        assert scanned == read
        asked_links = {(g, u) for g in groups for u in users[:12]}  # 36 pairs, 12 stored
        existing = await store.existing_links(asked_links)
    assert set(read) == set(users[5:30])
    assert all(read[u].hash == f"h{u}" for u in read)
    assert existing == {link for link in links if link[1] in users[:12]}


async def test_a_filter_beyond_the_service_limit_is_refused(azurite: Azurite) -> None:
    async with TableStore.from_connection_string(azurite.connection_string) as tables:
        params = {"pk": "p", **{f"u{i}": f"r{i}" for i in range(15)}}
        await tables.upsert("limits", {"PartitionKey": "p", "RowKey": "r3"})
        ok = " or ".join(f"RowKey eq @u{i}" for i in range(14))
        rows = [r async for r in tables.query("limits", f"PartitionKey eq @pk and ( {ok} )", params)]
        assert [r["RowKey"] for r in rows] == ["r3"]
        too_many = " or ".join(f"RowKey eq @u{i}" for i in range(15))
        with pytest.raises(ValueError, match="at most 15 comparisons"):
            [r async for r in tables.query("limits", f"PartitionKey eq @pk and ( {too_many} )", params)]
