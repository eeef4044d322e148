"""The tenant index: one row per tenant (table `connections`, PartitionKey "tenant", RowKey tenant id) listing its
connections and the group each rotates. Every change is insert-if-absent or ETag-guarded, so two creates for one
tenant, or two connections taking one rotation group, cannot both pass: one wins, the other is refused."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from shared.adapters.table_store import etag_of
from shared.domain import tenant_rules as rules
from shared.domain.connection import PARTITION, Connection
from shared.domain.timestamps import from_iso, to_iso, utc_now
from shared.errors import ConcurrencyConflict, Conflict, ConnectorError
from shared.storage_names import CONNECTIONS

log = logging.getLogger(__name__)
INDEX_PARTITION = "tenant"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ATTEMPTS = 8  # ETag races on one tenant's row are short: this many rereads settle them


def _rotation_group(connection: Connection) -> str:
    return (connection.rotation_group_id or "") if connection.rotation_enabled else ""


def _claims(row: dict[str, Any] | None) -> dict[str, rules.Claim]:
    raw = json.loads(row.get("members_json") or "{}") if row else {}
    return {
        str(cid): rules.Claim(str(item.get("rotation_group", "")), from_iso(item.get("at")) or EPOCH)
        for cid, item in raw.items()
    }


def _entity(tenant_id: str, claims: dict[str, rules.Claim]) -> dict[str, Any]:
    members = {cid: {"rotation_group": c.rotation_group, "at": to_iso(c.at)} for cid, c in sorted(claims.items())}
    return {"PartitionKey": INDEX_PARTITION, "RowKey": tenant_id, "members_json": json.dumps(members)}


async def _stored(tables: Any, tenant_id: str) -> list[rules.StoredConnection]:
    rows = tables.query(
        CONNECTIONS,
        "PartitionKey eq @pk and tenant_id eq @tid",
        {"pk": PARTITION, "tid": tenant_id},
        select=["RowKey", "rotation_enabled", "rotation_group_id", "created_at"],
    )
    return [
        rules.StoredConnection(
            str(r["RowKey"]),
            str(r.get("rotation_group_id") or "") if r.get("rotation_enabled") else "",
            from_iso(r.get("created_at")) or utc_now(),
        )
        async for r in rows
    ]


async def claim(tables: Any, connection: Connection, *, allow_second: bool, check: bool = True) -> None:
    """Record the connection (and the group it rotates) under its tenant, after checking the tenant's rules
    against its other connections. TenantAlreadyConnected / RotationGroupInUse when refused; claims of creates
    that died are dropped on the way."""
    tenant = connection.tenant_id
    for _ in range(ATTEMPTS):
        row = await tables.get(CONNECTIONS, INDEX_PARTITION, tenant)
        claims, now = _claims(row), utc_now()
        others = rules.neighbours(await _stored(tables, tenant), claims, now)
        if check:
            rules.check(tenant, connection.id, _rotation_group(connection), others, allow_second=allow_second)
        kept = {cid: c for cid, c in claims.items() if cid in others}  # stale claims go
        kept[connection.id] = rules.Claim(_rotation_group(connection), now)
        try:
            if row is None:
                await tables.insert(CONNECTIONS, _entity(tenant, kept))
            else:
                await tables.update_if_match(CONNECTIONS, _entity(tenant, kept), etag_of(row) or "")
            return
        except Conflict:  # another create or update of this tenant wrote first: read again and decide again
            continue
    raise ConcurrencyConflict(f"the connections of tenant {tenant} kept changing; try again")


async def release(tables: Any, tenant_id: str, connection_id: str) -> None:
    """Remove a connection from its tenant's row (the row goes with its last connection). Best effort: a claim
    left behind without its connection row expires by itself (CLAIM_GRACE)."""
    try:
        for _ in range(ATTEMPTS):
            row = await tables.get(CONNECTIONS, INDEX_PARTITION, tenant_id)
            claims = _claims(row)
            if row is None or connection_id not in claims:
                return
            del claims[connection_id]
            try:
                if claims:
                    await tables.update_if_match(CONNECTIONS, _entity(tenant_id, claims), etag_of(row) or "")
                else:
                    await tables.delete(CONNECTIONS, INDEX_PARTITION, tenant_id, etag=etag_of(row))
                return
            except ConcurrencyConflict:
                continue
    except ConnectorError as exc:
        log.warning("tenant %s: index entry of connection %s left (%s); it expires", tenant_id, connection_id, exc.code)
