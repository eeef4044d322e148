"""Purging a connection, pure: which rows of every table are the connection's, the job's progress, its message."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from shared import storage_names as names
from shared.domain.timestamps import from_iso, to_iso
from shared.errors import ValidationError

PurgePhase = Literal["queued", "waiting", "secrets", "tables", "done"]
BY_PARTITION = "PartitionKey eq @pk"
BY_PARTITION_PREFIX = "PartitionKey ge @lo and PartitionKey lt @hi"  # "{id}_..." partitions
# its own partition, and its row (RK = its id) in one shared partition (@shared: the scheduler's slot markers); the
# spaces inside the parentheses are needed: the SDK substitutes only parameters that stand alone between spaces
BY_PARTITION_AND_SHARED_ROW = "PartitionKey eq @pk or ( PartitionKey eq @shared and RowKey eq @pk )"


@dataclass(frozen=True)
class RowScope:
    """How one table's rows of a connection are found: a filter and its parameters."""

    table: str
    filter: str
    parameters: Mapping[str, str]


def row_scopes(connection_id: str) -> tuple[RowScope, ...]:
    """Every table's rows of the connection, in the order the purge removes them, except its own row in
    `connections`, which goes last of all. Bulk data first; `syncstate` (it holds the purge's lease) last."""
    one = {"pk": connection_id}
    prefixed = {"lo": f"{connection_id}_", "hi": f"{connection_id}`"}  # '`' sorts right after '_'
    return (
        RowScope(names.DIRECTORY_MEMBERS, BY_PARTITION_PREFIX, prefixed),
        RowScope(names.DIRECTORY_USERS, BY_PARTITION, one),
        RowScope(names.DIRECTORY_GROUPS, BY_PARTITION, one),
        RowScope(names.ROTATION_HISTORY, BY_PARTITION_PREFIX, prefixed),
        RowScope(names.ROTATION_STATE, BY_PARTITION, one),
        RowScope(names.ROTATION_OWNERS, "connection_id eq @cid", {"cid": connection_id}),  # PK tenant id
        RowScope(names.SYNC_RUNS, BY_PARTITION, one),
        RowScope(names.CONSENT_STATES, "connection_id eq @cid", {"cid": connection_id}),
        RowScope(names.AUDIT, "connection_id eq @cid", {"cid": connection_id}),  # its partition and the "all" copies
        RowScope(names.AGENT_NONCES, "connection_id eq @cid", {"cid": connection_id}),
        RowScope(names.AGENTS, "connection_id eq @cid", {"cid": connection_id}),  # agents, codes, jobs
        RowScope(names.SYNC_STATE, BY_PARTITION_AND_SHARED_ROW, {**one, "shared": names.SCHEDULER_SLOTS}),
    )


def history_user(connection_id: str, partition: str) -> str | None:
    """The user id of a `rotationhistory` partition ("{connection id}_{user id}"), or None if not this one's."""
    prefix = f"{connection_id}_"
    return partition[len(prefix) :] or None if partition.startswith(prefix) else None


@dataclass(frozen=True)
class PurgeProgress:
    """What the purge job has done so far; kept on the connection row (`purge_json`) until the row goes."""

    job_id: str
    requested_at: datetime
    phase: PurgePhase = "queued"
    secrets_purged: int = 0
    secrets_retained: int = 0  # deleted, but kept by the vault's purge protection until its retention ends
    rows_removed: Mapping[str, int] = field(default_factory=dict)
    invocations: int = 0
    updated_at: datetime | None = None
    detail: str = ""  # what it waits for, or the last error (code: message; never a secret)

    def advanced(self, **changes: Any) -> PurgeProgress:
        return replace(self, **changes)

    def with_secrets(self, purged: int, retained: int) -> PurgeProgress:
        return replace(
            self, secrets_purged=self.secrets_purged + purged, secrets_retained=self.secrets_retained + retained
        )

    def with_rows(self, table: str, count: int) -> PurgeProgress:
        rows = dict(self.rows_removed)
        rows[table] = rows.get(table, 0) + count
        return replace(self, rows_removed=rows)

    def public_view(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "phase": self.phase,
            "requested_at": to_iso(self.requested_at),
            "updated_at": to_iso(self.updated_at) if self.updated_at else None,
            "secrets_purged": self.secrets_purged,
            "secrets_retained": self.secrets_retained,
            "rows_removed": dict(sorted(self.rows_removed.items())),
            "invocations": self.invocations,
            "detail": self.detail or None,
        }

    def to_json(self) -> str:
        return json.dumps(self.public_view(), sort_keys=True)

    @classmethod
    def from_json(cls, raw: str) -> PurgeProgress:
        data = json.loads(raw)
        return cls(
            job_id=str(data["job_id"]),
            requested_at=from_iso(data["requested_at"]) or datetime.fromtimestamp(0),
            phase=data.get("phase", "queued"),
            secrets_purged=int(data.get("secrets_purged", 0)),
            secrets_retained=int(data.get("secrets_retained", 0)),
            rows_removed={str(k): int(v) for k, v in (data.get("rows_removed") or {}).items()},
            invocations=int(data.get("invocations", 0)),
            updated_at=from_iso(data.get("updated_at")),
            detail=str(data.get("detail") or ""),
        )


def purge_message(connection_id: str, job_id: str) -> dict[str, str]:
    """The `purge-jobs` message: ids only, never anything secret."""
    return {"connection_id": connection_id, "job_id": job_id}


def parse_purge_message(body: Any) -> tuple[str, str]:
    if not isinstance(body, dict):
        raise ValidationError({"message": "a purge job message is a JSON object"})
    problems = {key: "must be a non-empty string" for key in ("connection_id", "job_id") if not body.get(key)}
    problems |= {key: "must be a string" for key in ("connection_id", "job_id") if not isinstance(body.get(key), str)}
    if problems:
        raise ValidationError(problems)
    return str(body["connection_id"]), str(body["job_id"])
