"""TableStore: the one adapter over azure-data-tables (async). Tables made on first use, batched upserts, ETags.

A table is created when a write finds it missing (404 TableNotFound), not checked before every first use: an
invocation then sends no create-table requests at all once the tables exist, which is every invocation but the
first. A read of a missing table is simply empty."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableTransactionError, UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient

from shared.adapters.http_transport import storage_transport
from shared.adapters.table_batch import BatchFailed, BatchSender, Unsupported, filter_with
from shared.errors import ConcurrencyConflict, Conflict, StorageUnavailable, ValidationError

log = logging.getLogger(__name__)

MAX_BATCH = 100  # Table Storage: at most 100 entities of one partition per transaction
MAX_FILTER_COMPARISONS = 15  # Table Storage: at most 15 discrete comparisons in one $filter (Azurite takes more)
_COMPARISON = re.compile(r"\s(?:eq|ne|gt|ge|lt|le)\s")
Entity = dict[str, Any]
Operation = tuple[Any, ...]  # ("upsert", entity, {"mode": ...}) | ("delete", keys): a transaction's operation
T = TypeVar("T")


@dataclass(frozen=True)
class Page:
    items: list[Entity]
    continuation: str | None


def etag_of(entity: Mapping[str, Any]) -> str | None:
    metadata = getattr(entity, "metadata", None) or {}
    etag = metadata.get("etag")
    return str(etag) if etag else None


def _unavailable(exc: Exception, what: str) -> StorageUnavailable:
    status = exc.status if isinstance(exc, BatchFailed) else getattr(exc, "status_code", None)
    return StorageUnavailable(f"Table Storage failed while {what} (status {status or 'n/a'}): {type(exc).__name__}")


class TableStore:
    """Async Table Storage access. Owns table creation, batching, error mapping; callers see typed errors only."""

    def __init__(
        self,
        service: TableServiceClient,
        *,
        concurrency: int = 4,
        request_hook: Callable[[Any], None] | None = None,
        trust_env: bool = False,
    ) -> None:
        self._service = service
        self._batch = BatchSender.for_service(service, request_hook, trust_env)  # None: transactions by the SDK
        self._tables: dict[str, TableClient] = {}
        self._creating: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._limit = asyncio.Semaphore(concurrency)

    @classmethod
    def from_connection_string(cls, conn: str, *, trust_env: bool = False, **kwargs: Any) -> TableStore:
        """`trust_env`: let the transport read the environment (set when a proxy is configured there)."""
        service = TableServiceClient.from_connection_string(conn, transport=storage_transport(trust_env))
        return cls(service, trust_env=trust_env, **kwargs)

    @classmethod
    def from_endpoint(cls, endpoint: str, credential: Any, *, trust_env: bool = False, **kwargs: Any) -> TableStore:
        transport = storage_transport(trust_env)
        service = TableServiceClient(endpoint=endpoint, credential=credential, transport=transport)
        return cls(service, trust_env=trust_env, **kwargs)

    async def close(self) -> None:
        if self._batch is not None:
            await self._batch.close()
        for client in self._tables.values():
            await client.close()
        self._tables.clear()
        await self._service.close()

    async def __aenter__(self) -> TableStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _table(self, name: str) -> TableClient:
        client = self._tables.get(name)
        if client is None:
            client = self._tables[name] = self._service.get_table_client(name)
        return client

    async def _create(self, name: str) -> None:
        """Make a table a write found missing (once, however many writes found it missing side by side)."""
        async with self._creating[name]:
            try:
                await self._table(name).create_table()
            except ResourceExistsError:
                pass
            except AzureError as exc:
                raise _unavailable(exc, f"creating table {name}") from exc

    async def _writing(self, table: str, write: Callable[[TableClient], Awaitable[T]]) -> T:
        """Run a write; if the table does not exist yet, create it and run the write once more."""
        client = self._table(table)
        try:
            return await write(client)
        except (ResourceNotFoundError, TableTransactionError) as exc:
            if not _table_missing(exc):
                raise
        await self._create(table)
        return await write(client)

    async def get(self, table: str, partition: str, row: str, select: list[str] | None = None) -> Entity | None:
        """The row, or None; with `select`, just those properties (less to send and to parse)."""
        try:
            return await self._table(table).get_entity(partition, row, select=select)
        except ResourceNotFoundError:  # no such row, or no such table yet
            return None
        except AzureError as exc:
            raise _unavailable(exc, f"reading {table}") from exc

    async def get_many(
        self, table: str, keys: Iterable[tuple[str, str]], select: list[str], concurrency: int = 16
    ) -> dict[tuple[str, str], Entity]:
        """Point reads of many rows side by side, just the `select`ed properties, as plain dicts (no ETag): the
        rows found by (PartitionKey, RowKey). Through the app's own request (shared/adapters/table_batch.py): the
        SDK's pipeline and model deserialization cost about 2 ms of CPU per read, most of an incremental run."""
        found: dict[tuple[str, str], Entity] = {}
        limit = asyncio.Semaphore(concurrency)
        columns = sorted({"PartitionKey", "RowKey", *select})

        async def one(key: tuple[str, str]) -> None:
            async with limit:
                row = await self._get_selected(table, key, columns)
            if row is not None:
                found[key] = row

        await asyncio.gather(*(one(key) for key in sorted(set(keys))))
        return found

    async def _get_selected(self, table: str, key: tuple[str, str], select: list[str]) -> Entity | None:
        if self._batch is not None:
            try:
                return await self._batch.get(table, key[0], key[1], select)
            except Unsupported:
                pass  # a property type the app's reader leaves to the SDK
            except (BatchFailed, AzureError) as exc:
                raise _unavailable(exc, f"reading {table}") from exc
        row = await self.get(table, key[0], key[1], select=select)
        return dict(row) if row is not None else None

    async def insert(self, table: str, entity: Mapping[str, Any]) -> str:
        """Create; Conflict when the row exists. Returns the new ETag."""
        try:
            result = await self._writing(table, lambda client: client.create_entity(dict(entity)))
        except ResourceExistsError as exc:
            raise Conflict(f"{table} row {entity['PartitionKey']}/{entity['RowKey']} already exists") from exc
        except AzureError as exc:
            raise _unavailable(exc, f"inserting into {table}") from exc
        return str(result.get("etag", ""))

    async def upsert(self, table: str, entity: Mapping[str, Any], *, replace: bool = False) -> str:
        mode = UpdateMode.REPLACE if replace else UpdateMode.MERGE
        try:
            result = await self._writing(table, lambda client: client.upsert_entity(dict(entity), mode=mode))
        except AzureError as exc:
            raise _unavailable(exc, f"writing {table}") from exc
        return str(result.get("etag", ""))

    async def update_if_match(self, table: str, entity: Mapping[str, Any], etag: str, *, replace: bool = True) -> str:
        """Write only if the stored ETag is still `etag`; ConcurrencyConflict otherwise (or if the row is gone)."""
        client = self._table(table)
        mode = UpdateMode.REPLACE if replace else UpdateMode.MERGE
        try:  # a missing table is a missing row: ConcurrencyConflict
            result = await client.update_entity(
                dict(entity), mode=mode, etag=etag, match_condition=MatchConditions.IfNotModified
            )
        except (ResourceModifiedError, ResourceNotFoundError) as exc:
            raise ConcurrencyConflict(
                f"{table} row {entity['PartitionKey']}/{entity['RowKey']} changed since it was read"
            ) from exc
        except HttpResponseError as exc:
            if exc.status_code == 412:
                raise ConcurrencyConflict(f"{table} row changed since it was read") from exc
            raise _unavailable(exc, f"updating {table}") from exc
        except AzureError as exc:
            raise _unavailable(exc, f"updating {table}") from exc
        return str(result.get("etag", ""))

    async def delete(self, table: str, partition: str, row: str, *, etag: str | None = None) -> None:
        """Idempotent delete; with `etag`, only if unchanged (ConcurrencyConflict otherwise)."""
        client = self._table(table)
        try:  # no such table: nothing to delete
            if etag:
                await client.delete_entity(partition, row, etag=etag, match_condition=MatchConditions.IfNotModified)
            else:
                await client.delete_entity(partition, row)
        except ResourceModifiedError as exc:
            raise ConcurrencyConflict(f"{table} row {partition}/{row} changed since it was read") from exc
        except ResourceNotFoundError:
            return
        except AzureError as exc:
            raise _unavailable(exc, f"deleting from {table}") from exc

    async def upsert_many(self, table: str, entities: Iterable[Mapping[str, Any]], *, replace: bool = False) -> int:
        """Upsert in transactions of <= 100 entities of one partition, a few at once. Returns entities written."""
        return await self.write_many(table, upserts=entities, replace=replace)

    async def delete_many(self, table: str, keys: Iterable[tuple[str, str]]) -> int:
        """Idempotent: rows already gone are fine."""
        return await self.write_many(table, deletes=keys)

    async def write_many(
        self,
        table: str,
        upserts: Iterable[Mapping[str, Any]] = (),
        deletes: Iterable[tuple[str, str]] = (),
        *,
        replace: bool = False,
    ) -> int:
        """Upserts and deletes of many partitions: one transaction per partition and 100 rows, a few at once (a
        row both upserted and deleted in one call is upserted). Returns the rows written or deleted."""
        mode = {"mode": UpdateMode.REPLACE if replace else UpdateMode.MERGE}
        by_partition: dict[str, dict[str, Operation]] = defaultdict(dict)
        for pk, rk in deletes:
            by_partition[pk][rk] = ("delete", {"PartitionKey": pk, "RowKey": rk})
        for entity in upserts:  # last write wins within one call; a transaction may not touch a row twice
            by_partition[str(entity["PartitionKey"])][str(entity["RowKey"])] = ("upsert", dict(entity), mode)
        chunks = [
            list(rows.values())[start : start + MAX_BATCH]
            for rows in by_partition.values()
            for start in range(0, len(rows), MAX_BATCH)
        ]
        await asyncio.gather(*(self._submit(table, chunk) for chunk in chunks))
        return sum(len(chunk) for chunk in chunks)

    async def _submit(self, table: str, operations: list[Operation]) -> None:
        only_deletes = all(op[0] == "delete" for op in operations)
        async with self._limit:
            try:
                if self._batch is not None:
                    try:
                        await self._send_batch(table, operations, create=not only_deletes)
                        return
                    except Unsupported:
                        pass  # a value the app's encoder leaves to the SDK: the SDK's transaction below
                if only_deletes:  # no table: nothing to delete (and nothing to create)
                    await self._table(table).submit_transaction(operations)
                else:
                    await self._writing(table, lambda client: client.submit_transaction(operations))
            except (TableTransactionError, BatchFailed) as exc:
                if only_deletes and _table_missing(exc):
                    return
                row_missing = _error_code(exc) == "ResourceNotFound"
                if row_missing and any(op[0] == "delete" for op in operations):
                    await self._one_by_one(table, operations)  # a missing row fails the whole batch: go singly
                    return
                raise _unavailable(exc, f"writing a batch to {table}") from exc
            except AzureError as exc:
                raise _unavailable(exc, f"writing a batch to {table}") from exc

    async def _send_batch(self, table: str, operations: list[Operation], *, create: bool) -> None:
        """The app's own transaction (shared/adapters/table_batch.py); a missing table is made and the transaction
        sent once more, as `_writing` does for the SDK's."""
        assert self._batch is not None
        try:
            await self._batch.send(table, operations)
        except BatchFailed as exc:
            if not (create and _table_missing(exc)):
                raise
            await self._create(table)
            await self._batch.send(table, operations)

    async def _one_by_one(self, table: str, operations: list[Operation]) -> None:
        for op in operations:
            entity = op[1]
            if op[0] == "delete":
                await self.delete(table, str(entity["PartitionKey"]), str(entity["RowKey"]))
            else:
                await self.upsert(table, entity, replace=op[2]["mode"] == UpdateMode.REPLACE)

    async def query(
        self,
        table: str,
        filter: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        select: list[str] | None = None,
        page_size: int = 1000,
    ) -> AsyncIterator[Entity]:
        """Stream every matching entity (pages of up to 1,000 as the service allows); none if no table yet."""
        _check_filter(filter)
        client = self._table(table)
        try:
            if filter:
                pager = client.query_entities(
                    filter, parameters=dict(parameters or {}), select=select, results_per_page=page_size
                )
            else:
                pager = client.list_entities(select=select, results_per_page=page_size)
            async for entity in pager:
                yield entity
        except ResourceNotFoundError as exc:
            if not _table_missing(exc):
                raise _unavailable(exc, f"querying {table}") from exc
        except AzureError as exc:
            raise _unavailable(exc, f"querying {table}") from exc

    async def query_plain(
        self,
        table: str,
        filter: str,
        parameters: Mapping[str, Any],
        select: list[str] | None,
        page_size: int = 1000,
    ) -> AsyncIterator[Entity]:
        """As `query`, for the hot reads: just the `select`ed properties (None: all), as plain dicts (no ETag, no
        Timestamp), read by the app's own request (shared/adapters/table_batch.py; the SDK's model
        deserialization was most of an incremental run's CPU). A value it leaves to the SDK: the rest through
        `query` (the same order: partition key, then row key)."""
        _check_filter(filter)
        if self._batch is None:
            async for entity in self.query(table, filter, parameters, select=select, page_size=page_size):
                yield dict(entity)
            return
        seen = 0
        try:
            text = filter_with(filter, dict(parameters))
            after: tuple[str, str] | None = None
            while True:
                rows, after = await self._batch.query_page(table, text, select, page_size, after)
                for row in rows:
                    seen += 1
                    yield row
                if after is None:
                    return
        except Unsupported:
            pass
        except (BatchFailed, AzureError) as exc:
            raise _unavailable(exc, f"querying {table}") from exc
        skipped = 0
        async for entity in self.query(table, filter, parameters, select=select, page_size=page_size):
            if skipped < seen:
                skipped += 1
                continue
            yield dict(entity)

    async def query_page(
        self,
        table: str,
        filter: str | None,
        parameters: Mapping[str, Any] | None = None,
        *,
        continuation: str | None = None,
        page_size: int = 100,
        select: list[str] | None = None,
    ) -> Page:
        """One page and an opaque continuation token (None at the end), for paged HTTP listings."""
        _check_filter(filter)
        client = self._table(table)
        try:
            if filter:
                pager = client.query_entities(
                    filter, parameters=dict(parameters or {}), select=select, results_per_page=page_size
                ).by_page(continuation_token=_decode_token(continuation))
            else:
                pager = client.list_entities(select=select, results_per_page=page_size).by_page(
                    continuation_token=_decode_token(continuation)
                )
            items: list[Entity] = []
            async for page in pager:
                items = [e async for e in page]
                break
            token = pager.continuation_token  # type: ignore[attr-defined]
        except ResourceNotFoundError as exc:
            if not _table_missing(exc):
                raise _unavailable(exc, f"querying {table}") from exc
            return Page(items=[], continuation=None)
        except AzureError as exc:
            raise _unavailable(exc, f"querying {table}") from exc
        return Page(items=items, continuation=_encode_token(token))


def _check_filter(filter: str | None) -> None:
    """Refuse what the service refuses (with 400 InvalidInput), which Azurite would let through."""
    if filter and len(_COMPARISON.findall(filter)) > MAX_FILTER_COMPARISONS:
        raise ValueError(f"a table filter may hold at most {MAX_FILTER_COMPARISONS} comparisons: {filter[:200]}")


def _error_code(exc: Exception) -> str | None:
    return exc.code if isinstance(exc, BatchFailed) else getattr(exc, "error_code", None)


def _table_missing(exc: Exception) -> bool:
    """404 TableNotFound (Azurite leaves the code out of some 404s; a row-level 404 always names ResourceNotFound)."""
    code = _error_code(exc)
    status = exc.status if isinstance(exc, BatchFailed) else getattr(exc, "status_code", None)
    return status == 404 and (code is None or code == "TableNotFound")


def _encode_token(token: Any) -> str | None:
    if not token:
        return None
    return base64.urlsafe_b64encode(json.dumps(token, sort_keys=True).encode()).decode().rstrip("=")


def _decode_token(token: str | None) -> Any:
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise ValidationError({"continuation": "not a continuation token this API issued"}) from exc
    if not isinstance(value, dict):
        raise ValidationError({"continuation": "not a continuation token this API issued"})
    return value
