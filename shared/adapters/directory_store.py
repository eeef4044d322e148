"""DirectoryStore: the connector's copy of one tenant in Table Storage (users, groups, memberships)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from shared import storage_names as names
from shared.adapters.table_store import MAX_FILTER_COMPARISONS, TableStore
from shared.domain.directory import GroupRecord
from shared.domain.sync_plan import StoredUser, UserWrite
from shared.domain.timestamps import to_iso, utc_now

# Table Storage takes at most 15 comparisons in one $filter (MAX_FILTER_COMPARISONS): keys are asked for in chunks.
IDS_PER_FILTER = MAX_FILTER_COMPARISONS - 2  # user ids OR-ed with the two bounds of the membership partitions
ROWS_PER_FILTER = MAX_FILTER_COMPARISONS - 1  # row keys OR-ed within one partition
INDEX_COLUMNS = ["RowKey", "hash", "status", "in_scope"]  # what the planner's index of a stored user needs
SCAN_PARTITION_MAX = 5_000  # up to this many rows a partition scan per 14 ids beats 14 point reads
FILTERED_LINK_LOOKUP_MAX = 8 * IDS_PER_FILTER  # beyond this one scan of the links is cheaper than many queries
QUERIES_AT_ONCE = 4


def members_partition(connection_id: str, group_id: str) -> str:
    return f"{connection_id}_{group_id}"


def _stored(row: dict[str, Any]) -> StoredUser:
    """A user row as the planner's index entry."""
    return StoredUser(
        hash=row.get("hash", ""), status=row.get("status", "active"), in_scope=bool(row.get("in_scope", True))
    )


def _row_key_queries(
    base: str, params: dict[str, Any], ids: list[str], per_query: int
) -> list[tuple[str, dict[str, Any]]]:
    """`base and ( RowKey eq id or ... )` filters with their parameters, per_query ids each."""
    queries = []
    for start in range(0, len(ids), per_query):
        chunk = ids[start : start + per_query]
        either = " or ".join(f"RowKey eq @u{i}" for i in range(len(chunk)))
        queries.append((f"{base} and ( {either} )", {**params, **{f"u{i}": uid for i, uid in enumerate(chunk)}}))
    return queries


def _now() -> str:
    return to_iso(utc_now())


def _attribute_columns(attributes: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in attributes.items() if value is not None}


class DirectoryStore:
    def __init__(self, tables: TableStore, connection_id: str) -> None:
        self.tables = tables
        self.connection_id = connection_id
        self.writes = 0
        self.link_writes = 0  # membership writes by this store (a read-ahead of links is stale once it grows)

    async def load_users(self) -> dict[str, StoredUser]:
        index: dict[str, StoredUser] = {}
        async for row in self.tables.query_plain(
            names.DIRECTORY_USERS, "PartitionKey eq @pk", {"pk": self.connection_id}, INDEX_COLUMNS
        ):
            index[row["RowKey"]] = _stored(row)
        return index

    async def read_users(
        self, user_ids: set[str], *, partition_rows: int = -1, concurrency: int = 16
    ) -> dict[str, StoredUser]:
        """Just these users' rows (an incremental run touches few). In a small partition (`partition_rows`, about
        how many rows it has, up to SCAN_PARTITION_MAX), queries OR-ing ROWS_PER_FILTER row keys: the service scans
        the partition for each, cheap when it is small, and one request replaces 14. Otherwise point reads side
        by side: a scan of a large partition per 14 ids (Azure's table design guide warns against it) made a
        50k-user incremental run twice as slow."""
        found: dict[str, StoredUser] = {}
        ids = sorted(user_ids)
        if 0 <= partition_rows <= SCAN_PARTITION_MAX and len(ids) > 1:
            queries = _row_key_queries("PartitionKey eq @pk", {"pk": self.connection_id}, ids, ROWS_PER_FILTER)
            async for row in self._each(names.DIRECTORY_USERS, queries, INDEX_COLUMNS):
                found[row["RowKey"]] = _stored(row)
            return found
        rows = await self.tables.get_many(
            names.DIRECTORY_USERS, [(self.connection_id, uid) for uid in ids], INDEX_COLUMNS, concurrency
        )
        return {key[1]: _stored(row) for key, row in rows.items()}

    async def _each(
        self, table: str, queries: list[tuple[str, dict[str, Any]]], select: list[str]
    ) -> AsyncIterator[dict[str, Any]]:
        """The rows of several queries, QUERIES_AT_ONCE of them running side by side."""
        limit = asyncio.Semaphore(QUERIES_AT_ONCE)

        async def one(query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
            async with limit:
                return [row async for row in self.tables.query_plain(table, query, params, select)]

        for rows in await asyncio.gather(*(one(q, p) for q, p in queries)):
            for row in rows:
                yield row

    async def user_rows(self) -> AsyncIterator[dict[str, Any]]:
        """Every user row of the connection with all its columns (the defaults phase recomputes hashes from them)."""
        async for row in self.tables.query(names.DIRECTORY_USERS, "PartitionKey eq @pk", {"pk": self.connection_id}):
            yield row

    async def set_defaults(self, rows: list[tuple[str, str]], defaults_json: str) -> int:
        """Merge new defaults and the recomputed hash into these (user id, hash) rows; attributes stay."""
        stamp = _now()
        entities = [
            {
                "PartitionKey": self.connection_id,
                "RowKey": uid,
                "defaults_json": defaults_json,
                "hash": digest,
                "synced_at": stamp,
            }
            for uid, digest in rows
        ]
        count = await self.tables.upsert_many(names.DIRECTORY_USERS, entities)
        self.writes += count
        return count

    async def count_users(self) -> int:
        return len(
            [
                row
                async for row in self.tables.query_plain(
                    names.DIRECTORY_USERS, "PartitionKey eq @pk", {"pk": self.connection_id}, ["RowKey"]
                )
            ]
        )

    async def count_users_below(self, upper_key: str | None) -> int:
        """How many user rows there are (None), or how many whose id sorts below upper_key: one range query."""
        if upper_key is None:
            return await self.count_users()
        rows = self.tables.query_plain(
            names.DIRECTORY_USERS,
            "PartitionKey eq @pk and RowKey lt @hi",
            {"pk": self.connection_id, "hi": upper_key},
            ["RowKey"],
        )
        return len([row async for row in rows])

    async def group_index(self) -> tuple[dict[str, str], dict[str, str]]:
        """The stored groups' content hashes, and for those that have one their `anchor`: a user who was a member
        when the row was written. Only a hint: whether the link is still stored is a point read (`anchored`)."""
        hashes: dict[str, str] = {}
        anchors: dict[str, str] = {}
        async for row in self.tables.query_plain(
            names.DIRECTORY_GROUPS, "PartitionKey eq @pk", {"pk": self.connection_id}, ["RowKey", "hash", "anchor"]
        ):
            hashes[row["RowKey"]] = row.get("hash") or ""
            if row.get("anchor"):
                anchors[row["RowKey"]] = str(row["anchor"])
        return hashes, anchors

    async def anchored(self, anchors: Mapping[str, str]) -> set[str]:
        """Which of these groups still have their anchor as a stored member: point reads side by side, the cheapest
        question Table Storage answers (a query for a group's first member scans on Azurite)."""
        found = await self.existing_links({(gid, uid) for gid, uid in anchors.items()})
        return {gid for gid, _ in found}

    async def load_groups(self) -> dict[str, str]:
        """The stored groups' content hashes."""
        hashes, _ = await self.group_index()
        return hashes

    async def write_users(self, writes: Iterable[UserWrite], defaults: dict[str, Any]) -> int:
        stamp = _now()
        rows = [
            {
                "PartitionKey": self.connection_id,
                "RowKey": w.record.id,
                **_attribute_columns(w.record.attributes),
                "status": w.status,
                "in_scope": True,
                "hash": w.record.hash,
                "removed_reason": "",
                "defaults_json": json.dumps(defaults, sort_keys=True),
                "synced_at": stamp,
            }
            for w in writes
        ]
        count = await self.tables.upsert_many(names.DIRECTORY_USERS, rows, replace=True)
        self.writes += count
        return count

    async def mark_users(self, user_ids: Iterable[str], *, status: str | None, in_scope: bool, reason: str) -> int:
        rows = [
            {
                "PartitionKey": self.connection_id,
                "RowKey": uid,
                "in_scope": in_scope,
                "removed_reason": reason,
                "synced_at": _now(),
                **({"status": status} if status else {}),
            }
            for uid in user_ids
        ]
        count = await self.tables.upsert_many(names.DIRECTORY_USERS, rows)  # merge: attributes stay
        self.writes += count
        return count

    async def delete_users(self, user_ids: Iterable[str]) -> int:
        count = await self.tables.delete_many(names.DIRECTORY_USERS, [(self.connection_id, u) for u in user_ids])
        self.writes += count
        return count

    async def write_groups(self, records: Iterable[GroupRecord], anchors: Mapping[str, str] | None = None) -> int:
        """Group rows (replacing what was there). `anchors`: a member each group is known to have, kept in the row
        as `anchor` (see `group_index`)."""
        known = anchors or {}
        rows = [
            {
                "PartitionKey": self.connection_id,
                "RowKey": r.id,
                **_attribute_columns(r.attributes),
                "hash": r.hash,
                **({"anchor": known[r.id]} if known.get(r.id) else {}),
                "synced_at": _now(),
            }
            for r in records
        ]
        count = await self.tables.upsert_many(names.DIRECTORY_GROUPS, rows, replace=True)
        self.writes += count
        return count

    async def delete_groups(self, group_ids: Iterable[str]) -> int:
        ids = list(group_ids)
        for gid in ids:
            members = [key async for key in self.member_ids(gid)]
            await self.remove_links(gid, members)
        count = await self.tables.delete_many(names.DIRECTORY_GROUPS, [(self.connection_id, g) for g in ids])
        self.writes += count
        return count

    async def member_ids(self, group_id: str, page_size: int = 1000) -> AsyncIterator[str]:
        async for row in self.tables.query_plain(
            names.DIRECTORY_MEMBERS,
            "PartitionKey eq @pk",
            {"pk": members_partition(self.connection_id, group_id)},
            ["RowKey"],
            page_size=page_size,
        ):
            yield str(row["RowKey"])

    async def has_members(self, group_id: str) -> bool:
        """One row is enough to know (a page of one: a big group's first 1,000 member rows are not read)."""
        async for _ in self.member_ids(group_id, page_size=1):
            return True
        return False

    async def existing_links(self, links: set[tuple[str, str]], concurrency: int = 16) -> set[tuple[str, str]]:
        """Which of these (group id, user id) links are stored: point reads side by side (an incremental run
        checks the few links its delta names, so replayed entries neither write nor emit again)."""
        keys = {(members_partition(self.connection_id, gid), uid): (gid, uid) for gid, uid in links}
        rows = await self.tables.get_many(names.DIRECTORY_MEMBERS, keys, ["RowKey"], concurrency)
        return {keys[key] for key in rows}

    async def remove_links(self, group_id: str, user_ids: Iterable[str]) -> int:
        partition = members_partition(self.connection_id, group_id)
        self.link_writes += 1
        count = await self.tables.delete_many(names.DIRECTORY_MEMBERS, [(partition, uid) for uid in user_ids])
        self.writes += count
        return count

    async def change_links(self, added: Iterable[tuple[str, str]], removed: Iterable[tuple[str, str]]) -> int:
        """Add and remove (group id, user id) links of many groups at once: one partition per group, additions
        and removals of a group in the same transactions, which the table store runs side by side."""
        rows = [
            {"PartitionKey": members_partition(self.connection_id, g), "RowKey": u, "type": "user"} for g, u in added
        ]
        keys = [(members_partition(self.connection_id, g), u) for g, u in removed]
        self.link_writes += 1
        count = await self.tables.write_many(names.DIRECTORY_MEMBERS, upserts=rows, deletes=keys)
        self.writes += count
        return count

    async def links_of_users(self, user_ids: set[str]) -> dict[str, set[str]]:
        """group id -> which of these users it holds. A few users: the table filters by RowKey (IDS_PER_FILTER ids
        a query, nothing else transferred); many: one scan of this connection's membership partitions."""
        found: dict[str, set[str]] = {}
        if not user_ids:
            return found
        prefix = f"{self.connection_id}_"
        bounds = {"lo": prefix, "hi": f"{self.connection_id}`"}
        ids = sorted(user_ids)
        if len(ids) > FILTERED_LINK_LOOKUP_MAX:
            queries = [("PartitionKey ge @lo and PartitionKey lt @hi", bounds)]
        else:
            queries = _row_key_queries("PartitionKey ge @lo and PartitionKey lt @hi", bounds, ids, IDS_PER_FILTER)
        async for row in self._each(names.DIRECTORY_MEMBERS, queries, ["PartitionKey", "RowKey"]):
            if row["RowKey"] in user_ids:
                found.setdefault(str(row["PartitionKey"])[len(prefix) :], set()).add(str(row["RowKey"]))
        return found
