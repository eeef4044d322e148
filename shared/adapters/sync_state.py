"""SyncState: per-connection cursors, checkpoints, lease, outbox, approval list and run history in Table Storage."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from shared import storage_names as names
from shared.adapters.table_store import TableStore, etag_of
from shared.domain.timestamps import from_iso, to_iso, utc_now
from shared.errors import ConcurrencyConflict, Conflict

CHUNK = 800  # ids per approval row (fits one 32K-character string property)
OUTBOX_PER_ROW = 50
MAX_TREE = 700  # group ids that fit one 32K-character property
SHARED_EVENT_FIELDS = ("connection_id", "tenant_id", "run_id", "occurred_at")


def iso(value: datetime | None) -> str:
    """A table column: the timestamp, or "" when there is none."""
    return to_iso(value) if value else ""


@dataclass
class Cursor:
    users_delta: str = ""
    groups_delta: str = ""
    obtained_at: datetime | None = None  # when the delta links were issued (they expire after 7 days)
    last_full_at: datetime | None = None
    scope_group: str = ""  # the sync group the links were made for: a new group means a full sync
    # The sync group and every group nested in it (None: unknown or too many to keep): a membership change in
    # one of these can change the scope; changes elsewhere cannot, so the scope need not be listed again.
    scope_tree: frozenset[str] | None = None
    users_stored: int = -1  # about how many user rows the connection has (-1: unknown); picks how rows are read
    # Set by a full run: its groups round may have been read while a user was soft-deleted (whose links group delta
    # hides, and never reports again once it is restored), so the next incremental run reads the memberships of
    # the users its users/delta names (every user changed since the full run began).
    after_full: bool = False
    # Set by a groups-only run whose round changed the sync tree: it applied the membership changes but not who
    # enters or leaves scope, so the next incremental run lists the scope (a leaver must not keep access).
    scope_dirty: bool = False
    # The run whose removals wait for approval ("" when none): every later run lists the scope and holds what it
    # would remove (superseding the list) until a run is approved or finds nothing left to remove.
    held_run: str = ""
    # The connection's user_defaults the stored rows carry (a hash; "" unknown): when they differ, the run's
    # defaults phase rewrites them on every stored user (shared/services/sync_defaults.py).
    defaults_hash: str = ""


@dataclass
class Checkpoint:
    run_id: str
    mode: str
    trigger: str
    started_at: datetime
    phase: str = "start"
    users_next: str = ""
    groups_next: str = ""
    new_users_delta: str = ""
    new_groups_delta: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    graph_requests: int = 0
    errors: list[str] = field(default_factory=list)
    invocations: int = 0
    table_writes: int = 0  # of every invocation of this run so far
    # facts one phase hands a later one (shared/services/sync_run_state.py): they survive a continued run
    scope_dirty: bool = False
    stale_groups: list[str] = field(default_factory=list)


@dataclass
class Status:
    state: str = "idle"  # idle | running | awaiting_approval | failing
    last_success_at: datetime | None = None
    last_run_at: datetime | None = None
    last_error: str = ""
    consecutive_failures: int = 0
    retry_after: datetime | None = None  # quarantine: no scheduled run before this
    last_run_id: str = ""
    pending_removals: int = 0
    # the last run found far fewer user rows than expected and ran full: run_id, users_expected, users_found,
    # detected_at. Kept until a later run finds the copy whole.
    storage_loss: dict[str, Any] | None = None


@dataclass
class Snapshot:
    """What a run starts from, read in one request: the cursor, a checkpoint to resume, events left in the outbox."""

    cursor: Cursor
    checkpoint: Checkpoint | None
    outbox: list[tuple[str, list[dict[str, Any]]]]


class SyncState:
    """One connection's rows in the syncstate table (one partition).

    Outbox rows whose events were sent are not deleted on their own: their deletes ride along with this
    partition's next write (the next outbox row, a checkpoint, the cursor), in the same transaction. A crash
    before that sends those events once more, with the same ids; consumers dedupe by id."""

    def __init__(self, tables: TableStore, connection_id: str) -> None:
        self.tables = tables
        self.cid = connection_id
        self._sent: list[str] = []  # outbox rows whose events went out, to delete with the next write

    def mark_sent(self, keys: list[str]) -> None:
        self._sent += keys

    async def _write(self, rows: list[dict[str, Any]], *, delete: Sequence[str] = ()) -> None:
        """Write rows of this partition (replacing them) and delete the sent outbox rows in the same transaction."""
        drops, self._sent = [*delete, *self._sent], []
        try:
            await self.tables.write_many(
                names.SYNC_STATE, upserts=rows, deletes=[(self.cid, key) for key in drops], replace=True
            )
        except Exception:
            self._sent = [key for key in drops if key.startswith("outbox-")] + self._sent
            raise

    async def drop_sent(self) -> None:
        """Delete the sent outbox rows now (when no write of this partition follows)."""
        if self._sent:
            await self._write([])

    async def load(self) -> Snapshot:
        """The cursor, checkpoint and outbox rows in one query of this partition."""
        cursor: Cursor = Cursor()
        checkpoint: Checkpoint | None = None
        outbox: list[tuple[str, list[dict[str, Any]]]] = []
        filter = (
            "PartitionKey eq @pk and (RowKey eq 'cursor' or RowKey eq 'checkpoint' or "
            "(RowKey ge 'outbox-' and RowKey lt 'outbox.'))"
        )
        async for row in self.tables.query_plain(names.SYNC_STATE, filter, {"pk": self.cid}, None):  # app's own GET
            key = row["RowKey"]
            if key == "cursor":
                cursor = _cursor(row)
            elif key == "checkpoint":
                checkpoint = checkpoint_of(row["data"])
            else:
                outbox.append((key, _outbox_events(row)))
        return Snapshot(cursor, checkpoint, outbox)

    def _prefixed(self, prefix: str) -> tuple[str, dict[str, str]]:
        """Filter and parameters for this connection's rows whose key starts with prefix (e.g. "outbox-")."""
        return "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi", {
            "pk": self.cid,
            "lo": prefix,
            "hi": prefix[:-1] + chr(ord(prefix[-1]) + 1),
        }

    # -- cursor ----------------------------------------------------------------------------------
    async def cursor(self) -> Cursor:
        row = await self.tables.get(names.SYNC_STATE, self.cid, "cursor")
        return Cursor() if row is None else _cursor(row)

    async def save_cursor(self, cursor: Cursor, *, drop_checkpoint: bool = False) -> None:
        """The cursor a finished run leaves (and, in the same transaction, its checkpoint removed)."""
        await self._write(
            [
                {
                    "PartitionKey": self.cid,
                    "RowKey": "cursor",
                    "users_delta": cursor.users_delta,
                    "groups_delta": cursor.groups_delta,
                    "obtained_at": iso(cursor.obtained_at),
                    "last_full_at": iso(cursor.last_full_at),
                    "scope_group": cursor.scope_group,
                    "scope_tree": json.dumps(sorted(cursor.scope_tree))
                    if cursor.scope_tree is not None and len(cursor.scope_tree) <= MAX_TREE
                    else "",
                    "users_stored": cursor.users_stored,
                    "after_full": cursor.after_full,
                    "scope_dirty": cursor.scope_dirty,
                    "held_run": cursor.held_run,
                    "defaults_hash": cursor.defaults_hash,
                }
            ],
            delete=["checkpoint"] if drop_checkpoint else (),
        )

    async def restart(self) -> None:
        """Forget the cursor and any checkpoint (the next run is a fresh full one), sent outbox rows with them."""
        await self._write([], delete=["cursor", "checkpoint"])

    # -- checkpoint --------------------------------------------------------------------------------
    async def checkpoint(self) -> Checkpoint | None:
        row = await self.tables.get(names.SYNC_STATE, self.cid, "checkpoint")
        return None if row is None else checkpoint_of(row["data"])

    async def save_checkpoint(self, cp: Checkpoint) -> None:
        await self._write([{"PartitionKey": self.cid, "RowKey": "checkpoint", "data": checkpoint_data(cp)}])

    # -- status ------------------------------------------------------------------------------------
    async def status(self) -> Status:
        row = await self.tables.get(names.SYNC_STATE, self.cid, "status")
        if row is None:
            return Status()
        return Status(
            row.get("state", "idle"),
            from_iso(row.get("last_success_at")),
            from_iso(row.get("last_run_at")),
            row.get("last_error", ""),
            int(row.get("consecutive_failures", 0)),
            from_iso(row.get("retry_after")),
            row.get("last_run_id", ""),
            int(row.get("pending_removals", 0)),
            json.loads(row["storage_loss_json"]) if row.get("storage_loss_json") else None,
        )

    async def save_status(self, status: Status) -> None:
        await self.tables.upsert(
            names.SYNC_STATE,
            {
                "PartitionKey": self.cid,
                "RowKey": "status",
                "state": status.state,
                "last_success_at": iso(status.last_success_at),
                "last_run_at": iso(status.last_run_at),
                "last_error": status.last_error[:2000],
                "consecutive_failures": status.consecutive_failures,
                "retry_after": iso(status.retry_after),
                "last_run_id": status.last_run_id,
                "pending_removals": status.pending_removals,
                "storage_loss_json": json.dumps(status.storage_loss, sort_keys=True) if status.storage_loss else "",
            },
            replace=True,
        )

    # -- lease -------------------------------------------------------------------------------------
    async def acquire_lease(self, owner: str, ttl: timedelta, key: str = "lease") -> bool:
        """ETag-guarded: True if this owner now holds the lease (free, expired or already its own). `key` names
        the lease: the sync run's by default, another row for work that excludes only itself (subscribing)."""
        now = utc_now()
        entity = {"PartitionKey": self.cid, "RowKey": key, "owner": owner, "expires_at": iso(now + ttl)}
        row = await self.tables.get(names.SYNC_STATE, self.cid, key)
        try:
            if row is None:
                await self.tables.insert(names.SYNC_STATE, entity)
                return True
            expires = from_iso(row.get("expires_at"))
            if row.get("owner") != owner and expires is not None and expires > now:
                return False
            await self.tables.update_if_match(names.SYNC_STATE, entity, etag_of(row) or "*")
            return True
        except (Conflict, ConcurrencyConflict):
            return False

    async def release_lease(self, owner: str, key: str = "lease") -> None:
        row = await self.tables.get(names.SYNC_STATE, self.cid, key)
        if row is not None and row.get("owner") == owner:
            try:
                await self.tables.delete(names.SYNC_STATE, self.cid, key, etag=etag_of(row))
            except ConcurrencyConflict:
                return

    # -- outbox (events stored before the writes they describe, sent after) -------------------------
    async def put_outbox(self, events: list[dict[str, Any]]) -> list[str]:
        """Store events compactly: fields every event of a run shares once per row, the rest as short lists
        (a row's string property holds at most 32K characters). Sent outbox rows are deleted in the same write."""
        keys = []
        rows = []
        for start in range(0, len(events), OUTBOX_PER_ROW):
            chunk = events[start : start + OUTBOX_PER_ROW]
            key = f"outbox-{uuid.uuid4().hex}"
            keys.append(key)
            shared = {k: chunk[0][k] for k in SHARED_EVENT_FIELDS}
            items = [
                [e["id"], e["type"], e["object_id"], e.get("group_id", ""), *([e["reason"]] if "reason" in e else [])]
                for e in chunk
            ]
            rows.append(
                {"PartitionKey": self.cid, "RowKey": key, "shared": json.dumps(shared), "events": json.dumps(items)}
            )
        await self._write(rows)
        return keys

    # -- approval (removals held back by the deletion threshold) ------------------------------------
    async def save_approval(self, run_id: str, removals: Sequence[tuple[str, str, str]]) -> None:
        await self.clear_approval()
        rows = [
            {
                "PartitionKey": self.cid,
                "RowKey": f"approval-{i:05d}",
                "run_id": run_id,
                "items": json.dumps(removals[start : start + CHUNK]),
            }
            for i, start in enumerate(range(0, len(removals), CHUNK))
        ]
        await self.tables.upsert_many(names.SYNC_STATE, rows)

    async def approval(self) -> tuple[str, list[tuple[str, str, str]]]:
        run_id = ""
        items: list[tuple[str, str, str]] = []
        async for row in self.tables.query(
            names.SYNC_STATE,
            *self._prefixed("approval-"),
        ):
            run_id = row["run_id"]
            items += [(str(x[0]), str(x[1]), str(x[2])) for x in json.loads(row["items"])]
        return run_id, items

    async def clear_approval(self) -> None:
        keys = [
            row["RowKey"]
            async for row in self.tables.query(
                names.SYNC_STATE,
                *self._prefixed("approval-"),
                select=["RowKey"],
            )
        ]
        await self.tables.delete_many(names.SYNC_STATE, [(self.cid, k) for k in keys])

    # -- run history --------------------------------------------------------------------------------
    async def record_run(self, cp: Checkpoint, outcome: str, ended_at: datetime, *, error: str = "") -> None:
        """One row per run (its key is the start time and run id): each invocation of a continued run replaces it.
        outcome: succeeded | failed (error: the code) | continued | awaiting_approval | dry_run."""
        inverted = f"{10**13 - int(cp.started_at.timestamp() * 1000):013d}"
        await self.tables.upsert(
            names.SYNC_RUNS,
            {
                "PartitionKey": self.cid,
                "RowKey": f"{inverted}-{cp.run_id}",
                "run_id": cp.run_id,
                "trigger": cp.trigger,
                "mode": cp.mode,
                "outcome": outcome,
                "started_at": iso(cp.started_at),
                "ended_at": iso(ended_at),
                "counts_json": json.dumps(cp.counts, sort_keys=True),
                "graph_requests": cp.graph_requests,
                "table_writes": cp.table_writes,
                "error_code": error,
                "errors_json": json.dumps(cp.errors[:50]),
                "invocations": cp.invocations,
            },
            replace=True,
        )


def _cursor(row: dict[str, Any]) -> Cursor:
    return Cursor(
        row.get("users_delta", ""),
        row.get("groups_delta", ""),
        from_iso(row.get("obtained_at")),
        from_iso(row.get("last_full_at")),
        row.get("scope_group", ""),
        frozenset(json.loads(row["scope_tree"])) if row.get("scope_tree") else None,
        int(row.get("users_stored", -1)),
        bool(row.get("after_full", False)),
        bool(row.get("scope_dirty", False)),
        str(row.get("held_run", "")),
        str(row.get("defaults_hash", "")),
    )


def checkpoint_data(cp: Checkpoint) -> str:
    """The checkpoint row's `data` column (JSON): the run's state that a continued invocation restores."""
    data = asdict(cp)
    data["started_at"] = iso(cp.started_at)
    return json.dumps(data)


def checkpoint_of(text: str) -> Checkpoint:
    """The checkpoint back from its `data` column; fields it does not know are ignored, missing ones defaulted."""
    data = json.loads(text)
    data["started_at"] = from_iso(data["started_at"])
    known = {f.name for f in fields(Checkpoint)}
    return Checkpoint(**{k: v for k, v in data.items() if k in known})


def _outbox_events(row: dict[str, Any]) -> list[dict[str, Any]]:
    shared = json.loads(row["shared"])
    events = []
    for event_id, kind, object_id, group_id, *reason in json.loads(row["events"]):
        event = {**shared, "id": event_id, "type": kind, "object_id": object_id}
        if group_id:
            event["group_id"] = group_id
        if reason:
            event["reason"] = reason[0]
        events.append(event)
    return events
