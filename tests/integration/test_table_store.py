"""TableStore against Azurite: tables on first use, 100-entity transactions, ETag-guarded writes, paging."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from azure.data.tables.aio import TableServiceClient

from emulators.azurite import Azurite
from shared.adapters.table_store import MAX_BATCH, TableStore, etag_of
from shared.errors import ConcurrencyConflict, Conflict, ValidationError


def _table() -> str:
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture
async def store(azurite: Azurite) -> AsyncIterator[TableStore]:
    async with TableStore.from_connection_string(azurite.connection_string) as instance:
        yield instance


async def _table_names(azurite: Azurite) -> set[str]:
    async with TableServiceClient.from_connection_string(azurite.connection_string) as service:
        return {t.name async for t in service.list_tables()}


async def test_table_is_created_on_first_use(store: TableStore, azurite: Azurite) -> None:
    name = _table()
    assert name not in await _table_names(azurite)
    assert await store.get(name, "p", "r") is None
    assert name in await _table_names(azurite)


async def test_upsert_many_groups_by_partition_in_batches_of_100(store: TableStore) -> None:
    name = _table()
    entities = [{"PartitionKey": f"p{i % 3}", "RowKey": f"r{i:04d}", "n": i} for i in range(250)]
    written = await store.upsert_many(name, entities)
    assert written == 250
    rows = [e async for e in store.query(name)]
    assert sorted(r["n"] for r in rows) == list(range(250))
    assert MAX_BATCH == 100


async def test_a_partition_of_more_than_100_is_split(store: TableStore) -> None:
    name = _table()
    entities = [{"PartitionKey": "one", "RowKey": f"{i:04d}", "v": "x"} for i in range(MAX_BATCH * 2 + 7)]
    assert await store.upsert_many(name, entities) == 207
    rows = [e async for e in store.query(name, "PartitionKey eq @pk", {"pk": "one"})]
    assert len(rows) == 207


async def test_duplicate_rows_in_one_call_keep_the_last(store: TableStore) -> None:
    name = _table()
    await store.upsert_many(
        name, [{"PartitionKey": "p", "RowKey": "r", "v": 1}, {"PartitionKey": "p", "RowKey": "r", "v": 2}]
    )
    row = await store.get(name, "p", "r")
    assert row is not None and row["v"] == 2


async def test_stale_etag_is_rejected_with_a_typed_error(store: TableStore) -> None:
    name = _table()
    await store.upsert(name, {"PartitionKey": "p", "RowKey": "lease", "owner": "a"})
    first = await store.get(name, "p", "lease")
    assert first is not None
    stale = etag_of(first)
    assert stale
    fresh = await store.update_if_match(name, {"PartitionKey": "p", "RowKey": "lease", "owner": "b"}, stale)
    assert fresh != stale
    with pytest.raises(ConcurrencyConflict):
        await store.update_if_match(name, {"PartitionKey": "p", "RowKey": "lease", "owner": "c"}, stale)
    row = await store.get(name, "p", "lease")
    assert row is not None and row["owner"] == "b"


async def test_insert_refuses_an_existing_row(store: TableStore) -> None:
    name = _table()
    await store.insert(name, {"PartitionKey": "p", "RowKey": "r"})
    with pytest.raises(Conflict):
        await store.insert(name, {"PartitionKey": "p", "RowKey": "r"})


async def test_delete_many_tolerates_missing_rows(store: TableStore) -> None:
    name = _table()
    await store.upsert_many(name, [{"PartitionKey": "p", "RowKey": str(i)} for i in range(5)])
    assert await store.delete_many(name, [("p", "0"), ("p", "1"), ("p", "missing")]) == 3
    remaining = sorted([e["RowKey"] async for e in store.query(name)])
    assert remaining == ["2", "3", "4"]
    await store.delete(name, "p", "never-there")


async def test_query_page_walks_with_continuation_tokens(store: TableStore) -> None:
    name = _table()
    await store.upsert_many(name, [{"PartitionKey": "p", "RowKey": f"{i:03d}"} for i in range(25)])
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        page = await store.query_page(name, "PartitionKey eq @pk", {"pk": "p"}, continuation=token, page_size=10)
        seen += [e["RowKey"] for e in page.items]
        pages += 1
        token = page.continuation
        if token is None:
            break
    assert seen == [f"{i:03d}" for i in range(25)]
    assert pages == 3


async def test_a_forged_continuation_token_is_a_validation_error(store: TableStore) -> None:
    with pytest.raises(ValidationError):
        await store.query_page(_table(), None, continuation="%%%not-base64")
