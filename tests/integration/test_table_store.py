"""TableStore against Azurite: tables on first write, 100-entity transactions, ETag-guarded writes, paging."""

from __future__ import annotations

import asyncio
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


async def test_reads_of_a_missing_table_are_empty_and_create_nothing(store: TableStore, azurite: Azurite) -> None:
    name = _table()
    assert await store.get(name, "p", "r") is None
    assert [e async for e in store.query(name, "PartitionKey eq @pk", {"pk": "p"})] == []
    page = await store.query_page(name, None)
    assert page.items == [] and page.continuation is None
    await store.delete(name, "p", "r")
    assert await store.delete_many(name, [("p", "r"), ("p", "s")]) == 2
    assert name not in await _table_names(azurite)


@pytest.mark.parametrize("write", ["upsert", "insert", "upsert_many", "write_many"])
async def test_the_first_write_creates_the_table(store: TableStore, azurite: Azurite, write: str) -> None:
    name = _table()
    row = {"PartitionKey": "p", "RowKey": "r", "v": 1}
    if write == "upsert":
        await store.upsert(name, row)
    elif write == "insert":
        await store.insert(name, row)
    elif write == "upsert_many":
        assert await store.upsert_many(name, [row, {**row, "RowKey": "s"}]) == 2
    else:
        assert await store.write_many(name, upserts=[row], deletes=[("p", "gone")]) == 2
    assert name in await _table_names(azurite)
    stored = await store.get(name, "p", "r")
    assert stored is not None and stored["v"] == 1


async def test_writes_racing_to_create_one_table_all_land(store: TableStore) -> None:
    name = _table()
    await asyncio.gather(*(store.upsert(name, {"PartitionKey": "p", "RowKey": f"r{i}", "v": i}) for i in range(8)))
    assert sorted([e["v"] async for e in store.query(name)]) == list(range(8))


async def test_one_call_adds_and_removes_rows_of_many_partitions(store: TableStore) -> None:
    name = _table()
    await store.upsert_many(name, [{"PartitionKey": f"p{i % 2}", "RowKey": f"r{i}"} for i in range(6)])
    written = await store.write_many(
        name,
        upserts=[{"PartitionKey": "p0", "RowKey": "new"}, {"PartitionKey": "p1", "RowKey": "new"}],
        deletes=[("p0", "r0"), ("p1", "r1"), ("p1", "never-there")],
    )
    assert written == 5
    assert sorted([(e["PartitionKey"], e["RowKey"]) async for e in store.query(name)]) == [
        ("p0", "new"),
        ("p0", "r2"),
        ("p0", "r4"),
        ("p1", "new"),
        ("p1", "r3"),
        ("p1", "r5"),
    ]


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


async def test_the_apps_own_transactions_round_trip_every_value_and_key_the_store_writes(store: TableStore) -> None:
    """write_many goes through shared/adapters/table_batch.py: what it writes reads back the same through the SDK
    (keys with quotes, spaces and non-ASCII; str, int, bool, float; None left out), merge keeps other columns,
    replace drops them, and a value the encoder leaves to the SDK (a datetime) is written by the SDK instead."""
    from datetime import UTC, datetime

    assert store._batch is not None  # a connection string: the app signs its own transactions (Shared Key)
    name, pk = _table(), "c'1 é+%"
    rows = [
        {"PartitionKey": pk, "RowKey": f"o'r {i}", "s": "x" * i, "n": i, "b": i % 2 == 0, "f": i / 4} for i in range(5)
    ]
    rows[0]["gone"] = None
    assert await store.write_many(name, upserts=rows) == 5
    stored = sorted([dict(e) async for e in store.query(name)], key=lambda e: e["RowKey"])
    assert stored == [{k: v for k, v in r.items() if v is not None} for r in rows]
    await store.write_many(name, upserts=[{"PartitionKey": pk, "RowKey": "o'r 1", "extra": "merged"}])
    assert (await store.get(name, pk, "o'r 1") or {})["s"] == "x"  # merge: the other columns stay
    await store.write_many(name, upserts=[{"PartitionKey": pk, "RowKey": "o'r 2", "only": "this"}], replace=True)
    assert dict(await store.get(name, pk, "o'r 2") or {}) == {"PartitionKey": pk, "RowKey": "o'r 2", "only": "this"}
    at = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    await store.write_many(name, upserts=[{"PartitionKey": pk, "RowKey": "when", "at": at}])
    assert (await store.get(name, pk, "when") or {})["at"] == at
    assert await store.delete_many(name, [(pk, "o'r 3"), (pk, "never there")]) == 2
    assert await store.get(name, pk, "o'r 3") is None


async def test_the_apps_own_reads_answer_as_the_sdk_does(store: TableStore) -> None:
    """get_many and query_plain go through shared/adapters/table_batch.py: the same rows and selected values as
    the SDK's get and query (keys with quotes, spaces, '+', '%', the other sub-delimiters and non-ASCII; str, int,
    bool, float; a 64-bit int read by the SDK), across continuation pages, none for a missing row or table; a
    selected value the reader leaves to the SDK (a datetime) makes the rest of the query go through the SDK, in
    the same order, nothing read twice."""
    from datetime import UTC, datetime

    from azure.data.tables import EdmType, EntityProperty

    assert store._batch is not None
    name, pk = _table(), "c'1 é+%(a,b)=x;y:@!$&*~"
    rows = [
        {"PartitionKey": pk, "RowKey": f"o'r {i:02d}", "s": "x" * i, "n": i, "b": i % 2 == 0, "f": i / 4}
        for i in range(12)
    ]
    await store.write_many(name, upserts=rows)
    big = {"PartitionKey": pk, "RowKey": "o'r 99", "n": EntityProperty(2**40, EdmType.INT64), "s": "big"}
    await store.upsert(name, big)
    keys = [(pk, r["RowKey"]) for r in rows] + [(pk, "o'r 99"), (pk, "never there")]
    got = await store.get_many(name, keys, ["s", "n", "b", "f"])
    assert set(got) == set(keys[:-1])
    for key, row in got.items():
        sdk = dict(await store.get(name, *key) or {})
        assert (
            row == {k: sdk[k] for k in ("PartitionKey", "RowKey", "s", "n", "b", "f") if k in sdk} or key[1] == "o'r 99"
        )
    assert got[(pk, "o'r 99")]["n"] == big["n"] and got[(pk, "o'r 99")]["s"] == "big"  # read by the SDK
    assert await store.get_many(_table(), [(pk, "x")], ["s"]) == {}  # no such table

    select = ["RowKey", "s", "n", "b"]
    sdk_rows = [{k: e[k] for k in select if k in e} async for e in store.query(name, "PartitionKey eq @pk", {"pk": pk})]
    plain = [r async for r in store.query_plain(name, "PartitionKey eq @pk and b eq @b", {"pk": pk, "b": True}, select)]
    assert plain == [r for r in sdk_rows if r.get("b") is True]
    paged = [r async for r in store.query_plain(name, "PartitionKey eq @pk", {"pk": pk}, select, page_size=5)]
    assert paged == sdk_rows  # three pages of five, walked by the service's continuation
    assert [r async for r in store.query_plain(_table(), "PartitionKey eq @pk", {"pk": pk}, select)] == []

    # select None: every property, as the SDK gives them (the service's Timestamp is the SDK's metadata, not a value);
    # the 64-bit int of the last row sends the rest of the read through the SDK
    whole = [r async for r in store.query_plain(name, "PartitionKey eq @pk", {"pk": pk}, None, page_size=5)]
    assert whole == [dict(e) async for e in store.query(name, "PartitionKey eq @pk", {"pk": pk})]
    assert len(whole) == 13 and not any("Timestamp" in r for r in whole) and whole[0]["f"] == 0.0

    at = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    await store.upsert(name, {"PartitionKey": pk, "RowKey": "o'r 07", "at": at})  # the 8th row holds a datetime
    mixed = [r async for r in store.query_plain(name, "PartitionKey eq @pk", {"pk": pk}, ["RowKey", "at"], page_size=5)]
    assert [r["RowKey"] for r in mixed] == [r["RowKey"] for r in sdk_rows]
    assert [r.get("at") for r in mixed] == [at if r["RowKey"] == "o'r 07" else None for r in sdk_rows]
