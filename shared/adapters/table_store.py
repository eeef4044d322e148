"""TableStore: the one adapter over azure-data-tables (async). Tables made on first use, batched upserts, ETags."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

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

from shared.errors import ConcurrencyConflict, Conflict, StorageUnavailable, ValidationError

log = logging.getLogger(__name__)

MAX_BATCH = 100  # Table Storage: at most 100 entities of one partition per transaction
Entity = dict[str, Any]


@dataclass(frozen=True)
class Page:
    items: list[Entity]
    continuation: str | None


def etag_of(entity: Mapping[str, Any]) -> str | None:
    metadata = getattr(entity, "metadata", None) or {}
    etag = metadata.get("etag")
    return str(etag) if etag else None


def _unavailable(exc: AzureError, what: str) -> StorageUnavailable:
    status = getattr(exc, "status_code", None)
    return StorageUnavailable(f"Table Storage failed while {what} (status {status or 'n/a'}): {type(exc).__name__}")


class TableStore:
    """Async Table Storage access. Owns table creation, batching, error mapping; callers see typed errors only."""

    def __init__(self, service: TableServiceClient, *, concurrency: int = 4) -> None:
        self._service = service
        self._tables: dict[str, TableClient] = {}
        self._ready: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._created: set[str] = set()
        self._limit = asyncio.Semaphore(concurrency)

    @classmethod
    def from_connection_string(cls, conn: str, **kwargs: Any) -> TableStore:
        return cls(TableServiceClient.from_connection_string(conn), **kwargs)

    @classmethod
    def from_endpoint(cls, endpoint: str, credential: Any, **kwargs: Any) -> TableStore:
        return cls(TableServiceClient(endpoint=endpoint, credential=credential), **kwargs)

    async def close(self) -> None:
        for client in self._tables.values():
            await client.close()
        self._tables.clear()
        await self._service.close()

    async def __aenter__(self) -> TableStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _table(self, name: str) -> TableClient:
        if name in self._created:
            return self._tables[name]
        async with self._ready[name]:
            if name not in self._created:
                client = self._service.get_table_client(name)
                try:
                    await client.create_table()
                except ResourceExistsError:
                    pass
                except AzureError as exc:
                    raise _unavailable(exc, f"creating table {name}") from exc
                self._tables[name] = client
                self._created.add(name)
        return self._tables[name]

    async def get(self, table: str, partition: str, row: str) -> Entity | None:
        client = await self._table(table)
        try:
            return await client.get_entity(partition, row)
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise _unavailable(exc, f"reading {table}") from exc

    async def insert(self, table: str, entity: Mapping[str, Any]) -> str:
        """Create; Conflict when the row exists. Returns the new ETag."""
        client = await self._table(table)
        try:
            result = await client.create_entity(dict(entity))
        except ResourceExistsError as exc:
            raise Conflict(f"{table} row {entity['PartitionKey']}/{entity['RowKey']} already exists") from exc
        except AzureError as exc:
            raise _unavailable(exc, f"inserting into {table}") from exc
        return str(result.get("etag", ""))

    async def upsert(self, table: str, entity: Mapping[str, Any], *, replace: bool = False) -> str:
        client = await self._table(table)
        mode = UpdateMode.REPLACE if replace else UpdateMode.MERGE
        try:
            result = await client.upsert_entity(dict(entity), mode=mode)
        except AzureError as exc:
            raise _unavailable(exc, f"writing {table}") from exc
        return str(result.get("etag", ""))

    async def update_if_match(self, table: str, entity: Mapping[str, Any], etag: str, *, replace: bool = True) -> str:
        """Write only if the stored ETag is still `etag`; ConcurrencyConflict otherwise (or if the row is gone)."""
        client = await self._table(table)
        mode = UpdateMode.REPLACE if replace else UpdateMode.MERGE
        try:
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
        client = await self._table(table)
        try:
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
        return await self._batched(
            table, entities, "upsert", {"mode": UpdateMode.REPLACE if replace else UpdateMode.MERGE}
        )

    async def delete_many(self, table: str, keys: Iterable[tuple[str, str]]) -> int:
        entities = ({"PartitionKey": pk, "RowKey": rk} for pk, rk in keys)
        return await self._batched(table, entities, "delete", {})

    async def _batched(
        self, table: str, entities: Iterable[Mapping[str, Any]], op: str, options: dict[str, Any]
    ) -> int:
        client = await self._table(table)
        by_partition: dict[str, dict[str, Mapping[str, Any]]] = defaultdict(dict)
        for entity in entities:  # last write wins within one call; a transaction may not touch a row twice
            by_partition[str(entity["PartitionKey"])][str(entity["RowKey"])] = entity
        chunks = [
            list(rows.values())[start : start + MAX_BATCH]
            for rows in by_partition.values()
            for start in range(0, len(rows), MAX_BATCH)
        ]
        await asyncio.gather(*(self._submit(client, table, chunk, op, options) for chunk in chunks))
        return sum(len(chunk) for chunk in chunks)

    async def _submit(
        self, client: TableClient, table: str, chunk: list[Mapping[str, Any]], op: str, options: dict[str, Any]
    ) -> None:
        operations: list[Any] = [(op, dict(e), options) if options else (op, dict(e)) for e in chunk]
        async with self._limit:
            try:
                await client.submit_transaction(operations)
            except TableTransactionError as exc:
                if op == "delete" and getattr(exc, "error_code", None) == "ResourceNotFound":
                    await self._delete_one_by_one(table, chunk)  # a missing row fails the whole batch: go singly
                    return
                raise _unavailable(exc, f"writing a batch to {table}") from exc
            except AzureError as exc:
                raise _unavailable(exc, f"writing a batch to {table}") from exc

    async def _delete_one_by_one(self, table: str, chunk: list[Mapping[str, Any]]) -> None:
        for entity in chunk:
            await self.delete(table, str(entity["PartitionKey"]), str(entity["RowKey"]))

    async def query(
        self,
        table: str,
        filter: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        select: list[str] | None = None,
        page_size: int = 1000,
    ) -> AsyncIterator[Entity]:
        """Stream every matching entity (pages of up to 1,000 as the service allows)."""
        client = await self._table(table)
        try:
            if filter:
                pager = client.query_entities(
                    filter, parameters=dict(parameters or {}), select=select, results_per_page=page_size
                )
            else:
                pager = client.list_entities(select=select, results_per_page=page_size)
            async for entity in pager:
                yield entity
        except AzureError as exc:
            raise _unavailable(exc, f"querying {table}") from exc

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
        client = await self._table(table)
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
        except AzureError as exc:
            raise _unavailable(exc, f"querying {table}") from exc
        return Page(items=items, continuation=_encode_token(token))


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
