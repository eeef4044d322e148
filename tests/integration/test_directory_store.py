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
