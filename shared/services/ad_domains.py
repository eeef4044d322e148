"""The AD domain index: one row per on-prem AD domain (table `connections`, PartitionKey "ad-domain", RowKey the
domain's DNS name) naming its one connection. Insert-if-absent, so two creates for one domain cannot both pass;
a claim whose create died (no connection row after CLAIM_GRACE) is taken over, ETag-guarded."""

from __future__ import annotations

import logging
from typing import Any

from shared.adapters.table_store import etag_of
from shared.domain.connection import PARTITION, Connection
from shared.domain.tenant_rules import CLAIM_GRACE
from shared.domain.timestamps import from_iso, to_iso, utc_now
from shared.errors import ConcurrencyConflict, Conflict, ConnectorError, DomainAlreadyConnected
from shared.storage_names import CONNECTIONS

log = logging.getLogger(__name__)
DOMAIN_PARTITION = "ad-domain"
ATTEMPTS = 4


def _row(domain: str, connection_id: str) -> dict[str, Any]:
    return {"PartitionKey": DOMAIN_PARTITION, "RowKey": domain, "connection_id": connection_id, "at": to_iso(utc_now())}


async def claim(tables: Any, connection: Connection) -> None:
    """Record the connection as its domain's one connection; DomainAlreadyConnected when another one has it."""
    domain = connection.domain or ""
    for _ in range(ATTEMPTS):
        try:
            await tables.insert(CONNECTIONS, _row(domain, connection.id))
            return
        except Conflict:
            pass
        row = await tables.get(CONNECTIONS, DOMAIN_PARTITION, domain)
        if row is None:
            continue  # released meanwhile: insert again
        owner = str(row.get("connection_id") or "")
        if owner == connection.id:
            return  # a retried create: the claim is ours
        stored = await tables.get(CONNECTIONS, PARTITION, owner)
        claimed_at = from_iso(row.get("at")) or utc_now()
        if stored is not None or utc_now() - claimed_at < CLAIM_GRACE:
            raise DomainAlreadyConnected(domain, owner)
        try:  # the owner's create died before its row was stored: take the domain over
            await tables.update_if_match(CONNECTIONS, _row(domain, connection.id), etag_of(row) or "")
            return
        except ConcurrencyConflict:
            continue
    raise ConcurrencyConflict(f"the connection of AD domain {domain} kept changing; try again")


async def release(tables: Any, connection: Connection) -> None:
    """The domain is free again (best effort: a claim left without its connection row expires by itself)."""
    domain = connection.domain or ""
    try:
        row = await tables.get(CONNECTIONS, DOMAIN_PARTITION, domain)
        if row is not None and row.get("connection_id") == connection.id:
            await tables.delete(CONNECTIONS, DOMAIN_PARTITION, domain, etag=etag_of(row))
    except ConnectorError as exc:
        log.warning("AD domain %s: index entry of connection %s left (%s); it expires", domain, connection.id, exc.code)


async def release_claims(tables: Any, connection: Connection) -> None:
    """What a removed connection held: its AD domain, or its place in its tenant's index."""
    from shared.services import tenant_index

    if connection.is_ad:
        await release(tables, connection)
    else:
        await tenant_index.release(tables, connection.tenant_id, connection.id)
