"""DirectoryStore's membership lookups: the filtered queries and the full scan find the same links."""

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
        filtered = await store.links_of_users(wanted)  # 46 ids: two filtered queries
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
