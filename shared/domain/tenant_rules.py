"""One connection per tenant, and one rotation owner per group: pure decisions over a tenant's other connections
(stored rows and the claims of the tenant index, see shared/services/tenant_index.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.errors import RotationGroupInUse, TenantAlreadyConnected

# A claim whose connection row does not exist yet belongs to a create still running, or to one that died. An HTTP
# answer comes within 230 s (Functions' limit), so a claim this old without its row is from a create that died.
CLAIM_GRACE = timedelta(minutes=5)


@dataclass(frozen=True)
class Claim:
    """A tenant index entry: a connection of the tenant and the group it rotates ("" when rotation is off)."""

    rotation_group: str
    at: datetime


@dataclass(frozen=True)
class StoredConnection:
    """What the rules need from a stored connection row."""

    connection_id: str
    rotation_group: str  # "" when rotation is off
    created_at: datetime


@dataclass(frozen=True)
class Neighbour:
    connection_id: str
    rotation_groups: frozenset[str]  # the groups it rotates, or may: row and claim both count
    since: datetime


def neighbours(rows: Iterable[StoredConnection], claims: Mapping[str, Claim], now: datetime) -> dict[str, Neighbour]:
    """The tenant's connections: every stored row (with or without a claim: rows stored before the index count),
    plus claims younger than CLAIM_GRACE whose create is still storing its row."""
    found: dict[str, Neighbour] = {}
    for row in rows:
        claim = claims.get(row.connection_id)
        groups = {g for g in (row.rotation_group, claim.rotation_group if claim else "") if g}
        found[row.connection_id] = Neighbour(row.connection_id, frozenset(groups), row.created_at)
    for cid, claim in claims.items():
        if cid not in found and now - claim.at < CLAIM_GRACE:
            found[cid] = Neighbour(cid, frozenset({claim.rotation_group} - {""}), claim.at)
    return found


def check(
    tenant_id: str,
    connection_id: str,
    rotation_group: str,
    others: Mapping[str, Neighbour],
    *,
    allow_second: bool,
) -> None:
    """TenantAlreadyConnected (naming the oldest other connection) unless a second one is allowed; then
    RotationGroupInUse when another connection of the tenant rotates (or may rotate) the same group."""
    rest = sorted(
        (n for n in others.values() if n.connection_id != connection_id), key=lambda n: (n.since, n.connection_id)
    )
    if rest and not allow_second:
        raise TenantAlreadyConnected(tenant_id, rest[0].connection_id)
    if rotation_group:
        for other in rest:
            if rotation_group in other.rotation_groups:
                raise RotationGroupInUse(rotation_group, other.connection_id)
