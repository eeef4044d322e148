"""Graph change-notification subscriptions of a connection (/users and /groups): create after activation, renew on a
timer, recreate when gone, remove on delete; their rows (syncstate, no secret) and the clientState in Key Vault."""

from __future__ import annotations

import asyncio
import logging
import secrets as random_secrets
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from shared import storage_names as names
from shared.domain.connection import Connection, from_entity
from shared.domain.notifications import (
    CHANGE_TYPE,
    RESOURCES,
    SubscriptionRow,
    client_state_matches,
    expiry,
    failure,
    renewal_due,
)
from shared.domain.secret_names import notification_state_ref
from shared.domain.timestamps import from_iso, to_iso, utc_now
from shared.errors import ConnectorError, GraphError, GraphNotFound, SecretNotFound

log = logging.getLogger(__name__)
ROW_PREFIX = "subscription-"
LEASE_ROW = "subscriptions-lease"  # syncstate row: who is creating, renewing or removing the subscriptions now
LEASE_TTL = timedelta(minutes=2)  # a holder that died frees it this long after it took it
LEASE_WAIT_S = 60.0  # how long another caller waits for it
STATE_CACHE_S = 300.0  # clientState kept in memory this long (never written anywhere); a mismatch re-reads it
_state_cache: dict[str, tuple[str, float]] = {}


def enabled(container: Any, connection: Connection) -> bool:
    return bool(container.settings.notifications_on and connection.notifications_enabled and not connection.is_ad)


def urls(container: Any, connection_id: str) -> tuple[str, str]:
    base = container.settings.notifications_url_base
    return f"{base}/api/notifications/{connection_id}", f"{base}/api/notifications/{connection_id}/lifecycle"


# --- rows --------------------------------------------------------------------------------------------------
def _row_of(entity: dict[str, Any]) -> SubscriptionRow:
    return SubscriptionRow(
        resource=str(entity["resource"]),
        state=entity.get("state", "failed"),
        subscription_id=str(entity.get("subscription_id", "")),
        expires_at=from_iso(entity.get("expires_at")),
        renewed_at=from_iso(entity.get("renewed_at")),
        error=str(entity.get("error", "")),
        remedy=str(entity.get("remedy", "")),
    )


async def load_rows(tables: Any, connection_id: str) -> dict[str, SubscriptionRow]:
    rows: dict[str, SubscriptionRow] = {}
    for resource in RESOURCES:
        entity = await tables.get(names.SYNC_STATE, connection_id, ROW_PREFIX + resource)
        if entity is not None:
            rows[resource] = _row_of(entity)
    return rows


async def save_row(tables: Any, connection_id: str, row: SubscriptionRow) -> None:
    await tables.upsert(
        names.SYNC_STATE,
        {
            "PartitionKey": connection_id,
            "RowKey": ROW_PREFIX + row.resource,
            "resource": row.resource,
            "state": row.state,
            "subscription_id": row.subscription_id,
            "expires_at": to_iso(row.expires_at) if row.expires_at else "",
            "renewed_at": to_iso(row.renewed_at) if row.renewed_at else "",
            "error": row.error,
            "remedy": row.remedy,
        },
        replace=True,
    )


async def mark(tables: Any, connection_id: str, subscription_ids: frozenset[str], state: str) -> None:
    """A lifecycle event's request (reauthorize / removed), for the worker to carry out."""
    for row in (await load_rows(tables, connection_id)).values():
        if row.subscription_id in subscription_ids:
            await save_row(tables, connection_id, _with(row, state=state))


def _with(row: SubscriptionRow, **changes: Any) -> SubscriptionRow:
    from dataclasses import replace

    return replace(row, **changes)


# --- clientState ---------------------------------------------------------------------------------------------
async def client_state(container: Any, connection_id: str, *, create: bool = False, fresh: bool = False) -> str | None:
    """The connection's clientState from Key Vault (cached in memory a few minutes); made when asked to."""
    cached = _state_cache.get(connection_id)
    if cached and not fresh and time.monotonic() - cached[1] < STATE_CACHE_S:
        return cached[0]
    ref = notification_state_ref(connection_id)
    try:
        value = (await container.secrets().get(ref.name)).value.reveal()
    except SecretNotFound:
        if not create:
            return None
        value = random_secrets.token_urlsafe(48)  # 64 characters; Graph allows 128
        await container.secrets().set(ref.name, value, tags=ref.tags)
    _state_cache[connection_id] = (value, time.monotonic())
    return str(value)


def forget_state(connection_id: str) -> None:
    _state_cache.pop(connection_id, None)


# --- create / renew / recreate ---------------------------------------------------------------------------------
@asynccontextmanager
async def _one_at_a_time(tables: Any, connection_id: str) -> AsyncIterator[bool]:
    """The connection's subscribing lease (its own syncstate row, not the sync run's): a job's start, the hourly
    timer, an activation and a delete can all reach the same subscriptions at once, and two that each list and
    create would leave two subscriptions for one resource. Waits for a holder (their work takes seconds); yields
    False when the lease stays held past the wait (a holder that died: it expires, the next hour tries again)."""
    from shared.adapters.sync_state import SyncState

    state, me = SyncState(tables, connection_id), uuid.uuid4().hex
    deadline, pause = time.monotonic() + LEASE_WAIT_S, 0.05
    while not await state.acquire_lease(me, LEASE_TTL, key=LEASE_ROW):
        if time.monotonic() > deadline:
            log.warning("connection %s: subscriptions busy elsewhere; left for the next renewal", connection_id)
            yield False
            return
        await asyncio.sleep(pause)
        pause = min(pause * 2, 1.0)
    try:
        yield True
    finally:
        await state.release_lease(me, key=LEASE_ROW)


async def ensure(container: Any, connection: Connection, now: datetime | None = None) -> dict[str, SubscriptionRow]:
    """Every subscription of the connection exists and is renewed when due; failures are kept on its rows (with
    the remedy) and retried by the hourly timer. Never raises for Graph's refusals. One at a time per connection."""
    if not enabled(container, connection):
        return {}
    async with _one_at_a_time(container.tables(), connection.id) as mine:
        if not mine:
            return await load_rows(container.tables(), connection.id)
        return await _ensure(container, connection, now)


async def _ensure(container: Any, connection: Connection, now: datetime | None) -> dict[str, SubscriptionRow]:
    from shared.adapters.graph_subscriptions import GraphSubscriptions

    moment = now or utc_now()
    tables = container.tables()
    rows = await load_rows(tables, connection.id)
    graph = GraphSubscriptions(await container.graph_for(connection))
    state = await client_state(container, connection.id, create=True)
    assert state is not None
    listed: list[dict[str, Any]] | None = None
    for resource in RESOURCES:
        row = rows.get(resource)
        try:
            if row is not None and row.subscription_id and row.state in ("active", "reauthorize"):
                if row.state == "reauthorize" or renewal_due(row, moment):
                    try:
                        expires = await graph.renew(row.subscription_id, expiry(utc_now()))
                        row = _with(row, state="active", expires_at=expires, renewed_at=moment, error="", remedy="")
                    except GraphNotFound:  # gone (expired or removed by Graph): recreate
                        row = None
                if row is not None:
                    rows[resource] = row
                    await save_row(tables, connection.id, row)
                    continue
            if listed is None:
                listed = await graph.list()
            rows[resource] = await _create(graph, container, connection.id, resource, state, listed, moment)
        except GraphError as exc:
            status, error, remedy = failure(exc.status, exc.graph_code, exc.message, resource)
            rows[resource] = SubscriptionRow(
                resource, status, row.subscription_id if row else "", error=error, remedy=remedy
            )
            log.warning("connection %s: %s subscription: %s", connection.id, resource, status)
        except ConnectorError as exc:  # Graph unreachable, credential unusable: try again next hour
            rows[resource] = SubscriptionRow(
                resource,
                "failed",
                row.subscription_id if row else "",
                error=f"{exc.code}: {exc.message}"[:400],
                remedy="retried hourly; the scheduled sync keeps the copy current",
            )
        await save_row(tables, connection.id, rows[resource])
    return rows


async def _create(
    graph: Any, container: Any, cid: str, resource: str, state: str, listed: list[dict[str, Any]], now: datetime
) -> SubscriptionRow:
    """Adopt this connection's subscription a lost answer left behind (same URL and clientState), else create."""
    url, lifecycle = urls(container, cid)
    mine = [s for s in listed if s.get("notificationUrl") == url and str(s.get("resource", "")).strip("/") == resource]
    adopt = next((s for s in mine if client_state_matches(s.get("clientState"), state)), None)
    for extra in mine:
        if extra is not adopt:
            await graph.delete(str(extra["id"]))
    sub = adopt or await graph.create(resource, CHANGE_TYPE, url, lifecycle, state, expiry(utc_now()))
    return SubscriptionRow(resource, "active", str(sub["id"]), from_iso(sub.get("expirationDateTime")), now)


async def after_activation(container: Any, connection: Connection) -> None:
    """The hook of the activation paths (consent, verified credentials): subscribe now; a failure is recorded
    on the rows and never stops the activation."""
    try:
        await ensure(container, connection)
    except Exception as exc:  # noqa: BLE001 (subscribing is best-effort here; the hourly timer retries)
        log.warning("connection %s: subscribing after activation failed: %s", connection.id, type(exc).__name__)


async def renew_all(container: Any, now: datetime | None = None) -> int:
    """Timer: for each active connection, (re)create or renew its subscriptions as due. Returns connections seen."""
    count = 0
    async for entity in container.tables().query(names.CONNECTIONS, "PartitionKey eq 'connection'"):
        connection = from_entity(entity)
        if connection.state != "active" or not enabled(container, connection):
            continue
        count += 1
        try:
            await ensure(container, connection, now)
        except ConnectorError as exc:
            log.warning("connection %s: subscription renewal skipped: %s", connection.id, exc.code)
    return count


async def remove(container: Any, connection: Connection) -> None:
    """On delete or purge: delete the subscriptions in Graph (best-effort: unrenewed ones expire anyway), their
    rows, and the clientState (soft-deleted here; the purge erases it). Graph's own list decides what goes: every
    subscription of this app at the connection's notification URL, also one whose create answer was lost."""
    tables = container.tables()
    async with _one_at_a_time(tables, connection.id):
        rows = await load_rows(tables, connection.id)
        if rows:
            try:
                from shared.adapters.graph_subscriptions import GraphSubscriptions

                graph = GraphSubscriptions(await container.graph_for(connection))
                url, _ = urls(container, connection.id)
                known = {r.subscription_id for r in rows.values() if r.subscription_id}
                listed = {str(s["id"]) for s in await graph.list() if s.get("notificationUrl") == url}
                for subscription_id in sorted(known | listed):
                    await graph.delete(subscription_id)
            except ConnectorError as exc:
                log.warning(
                    "connection %s: subscriptions not deleted in Graph (%s); they expire", connection.id, exc.code
                )
        for resource in rows:
            await tables.delete(names.SYNC_STATE, connection.id, ROW_PREFIX + resource)
    forget_state(connection.id)


async def status_view(container: Any, connection: Connection) -> dict[str, Any]:
    rows = await load_rows(container.tables(), connection.id)
    from shared.services.subscriptions_runs import pending

    return {
        "enabled": enabled(container, connection),
        "run_pending": await pending(container.tables(), connection.id),
        "subscriptions": [
            {
                "resource": r.resource,
                "state": r.state,
                "subscription_id": r.subscription_id or None,
                "expires_at": to_iso(r.expires_at) if r.expires_at else None,
                "renewed_at": to_iso(r.renewed_at) if r.renewed_at else None,
                "error": r.error or None,
                "remedy": r.remedy or None,
            }
            for r in rows.values()
        ],
    }
