"""Connections service: create, read, update and remove customer tenant connections (credentials in Key Vault only)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import replace
from typing import Any

from shared.adapters.connection_store import get_connection as read_connection
from shared.adapters.sync_state import SyncState
from shared.domain.clouds import cloud_mismatch
from shared.domain.connection import Connection, ConnectionState, CredentialInfo, from_entity, to_entity
from shared.domain.connection_input import guid, parse_create, parse_update
from shared.domain.quarantine import quarantine_view
from shared.domain.secret_names import client_cert_ref, client_secret_ref, notification_state_name
from shared.domain.timestamps import utc_now
from shared.errors import ConcurrencyConflict, ConnectorError, NotFound, ValidationError
from shared.services import audit, subscriptions, tenant_index
from shared.services import connection_credentials as credentials
from shared.services.connection_purge import purge_status, request_purge
from shared.storage_names import CONNECTIONS, CONSENT_STATES

log = logging.getLogger(__name__)
PARTITION = "connection"


def connection_id_of(raw: Any) -> str:
    try:
        return guid(raw)
    except Exception:  # noqa: BLE001 (_Bad: the id in the URL is not a GUID, so it names no connection)
        raise NotFound("No such connection") from None


async def load(container: Any, connection_id: str) -> tuple[Connection, str]:
    """The connection and its ETag; NotFound when absent."""
    return await read_connection(container.tables(), connection_id_of(connection_id))


async def create_connection(container: Any, body: Any) -> dict[str, Any]:
    from shared.adapters.certificates import certificate_problem

    request = parse_create(body, certificate_check=certificate_problem)
    if request.source == "ad":
        return await _create_ad(container, request)
    from shared.adapters.tenant_discovery import resolve_tenant

    cloud = container.cloud(request.fields["cloud"])
    discovered = await resolve_tenant(container.http(), cloud.login_url, request.tenant)
    problem = cloud_mismatch(cloud.name, discovered.cloud)
    if problem is not None:  # before anything is stored: the tenant lives in another cloud
        raise ValidationError({"cloud": problem})
    tenant_id = discovered.tenant_id
    state: ConnectionState = (
        "pending_consent" if request.fields["credential_mode"] == "admin_consent" else "pending_verification"
    )
    connection = Connection(
        id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        tenant_domain=None if request.tenant == tenant_id else request.tenant,
        state=state,
        **request.fields,
    )
    tables = container.tables()
    await tenant_index.claim(tables, connection, allow_second=request.allow_second_connection)
    try:
        if request.credential is not None:
            info = await credentials.store(container.secrets(), connection.id, request.credential)
            connection = replace(connection, credential=info)
        await tables.insert(CONNECTIONS, to_entity(connection))
    except ConnectorError:
        if await _stored(container, connection.id) is not None:
            pass  # the insert did land (its answer was lost): the connection exists, its credential stays
        else:  # the outcome is known: nothing was stored
            if connection.credential is not None:
                await container.secrets().delete(connection.credential.secret_name)
            await tenant_index.release(tables, tenant_id, connection.id)
            raise
    await audit.record(tables, "connection.create", connection.id, "ok", f"tenant {tenant_id}")
    if connection.credential is not None:
        await audit.record(tables, "credential.set", connection.id, "ok", _credential_detail(connection.credential))
    return await _view(container, connection)


async def _create_ad(container: Any, request: Any) -> dict[str, Any]:
    """An on-prem AD connection: no tenant, consent or credential; `pending_agent` until an agent registers."""
    from shared.services import ad_domains

    connection = Connection(
        id=str(uuid.uuid4()), tenant_id="", state="pending_agent", state_reason=NO_AGENT_REASON, **request.fields
    )
    tables = container.tables()
    await ad_domains.claim(tables, connection)
    try:
        await tables.insert(CONNECTIONS, to_entity(connection))
    except ConnectorError:
        if await _stored(container, connection.id) is None:  # known: nothing was stored
            await ad_domains.release(tables, connection)
            raise
    await audit.record(tables, "connection.create", connection.id, "ok", f"AD domain {connection.domain}")
    return await _view(container, connection)


NO_AGENT_REASON = "no_agent: no agent is registered for this AD connection yet"


async def _stored(container: Any, connection_id: str) -> Connection | None:
    """The stored row, or None; raises (outcome unknown) when storage cannot say."""
    row = await container.tables().get(CONNECTIONS, PARTITION, connection_id)
    return None if row is None else from_entity(row)


LIST_TOP = 100  # connections per page of GET /connections (default and most)


def page_size(raw: str | None) -> int:
    """The `top` of a listing request: absent gives LIST_TOP; anything but 1..LIST_TOP is a validation error."""
    if raw is None or raw == "":
        return LIST_TOP
    if not raw.isdigit() or not 1 <= int(raw) <= LIST_TOP:
        raise ValidationError({"top": f"must be a whole number between 1 and {LIST_TOP}"})
    return int(raw)


async def list_connections(container: Any) -> list[dict[str, Any]]:
    """Every connection's view, page after page (the CLI and pages that show all), oldest first."""
    out: list[dict[str, Any]] = []
    continuation: str | None = None
    while True:
        page = await list_connections_page(container, top=LIST_TOP, continuation=continuation)
        out += page["value"]
        continuation = page["continuation"]
        if not continuation:
            return sorted(out, key=lambda view: str(view.get("created_at") or ""))


async def list_connections_page(
    container: Any, *, top: int = LIST_TOP, continuation: str | None = None
) -> dict[str, Any]:
    """One page of connections by id (`top` 1-100) and the token of the next page (None at the end): the cost of a
    page does not grow with the number of connections stored."""
    if not 1 <= top <= LIST_TOP:
        raise ValidationError({"top": f"must be between 1 and {LIST_TOP}"})
    page = await container.tables().query_page(
        CONNECTIONS, "PartitionKey eq @pk", {"pk": PARTITION}, continuation=continuation, page_size=top
    )
    connections = [from_entity(row) for row in page.items]
    limit = asyncio.Semaphore(8)

    async def view(connection: Connection) -> dict[str, Any]:
        async with limit:
            return await _view(container, connection)

    return {"value": list(await asyncio.gather(*(view(c) for c in connections))), "continuation": page.continuation}


async def get_connection(container: Any, connection_id: str) -> dict[str, Any]:
    """The public view (with the quarantine); while the connection is being purged, with the purge's progress
    under `purge`."""
    tables = container.tables()
    connection, _ = await read_connection(tables, connection_id_of(connection_id), purging_ok=True)
    view = await _view(container, connection)
    if connection.state == "purging":
        view["purge"] = await purge_status(tables, connection.id)
    return view


async def _view(container: Any, connection: Connection) -> dict[str, Any]:
    """The public view with the quarantine (until when, why) next to the state: `active` alone hid it."""
    status = await SyncState(container.tables(), connection.id).status()
    quarantine = quarantine_view(status.retry_after, status.last_error, status.consecutive_failures, utc_now())
    return {**connection.public_view(), "quarantined": quarantine is not None, "quarantine": quarantine}


def _rotation(connection: Connection) -> tuple[bool, str | None]:
    return connection.rotation_enabled, connection.rotation_group_id if connection.rotation_enabled else None


async def update_connection(container: Any, connection_id: str, body: Any) -> dict[str, Any]:
    current, etag = await load(container, connection_id)
    from shared.adapters.certificates import certificate_problem

    changes, credential = parse_update(body, current, certificate_check=certificate_problem)
    updated = current.with_changes(**changes)
    tables = container.tables()
    rotation_changed = _rotation(updated) != _rotation(current) and not current.is_ad  # AD: one per domain
    took_group = rotation_changed and updated.rotation_enabled
    if took_group:  # take the group first: refused when another connection of the tenant rotates it
        await tenant_index.claim(tables, updated, allow_second=True)
    written: CredentialInfo | None = None
    if credential is not None:
        try:
            written = await credentials.store(container.secrets(), current.id, credential)
        except ConnectorError:
            if took_group:
                await _record_rotation(tables, current)  # nothing was changed: give the group back
            raise
        updated = replace(updated, credential=written)
    try:
        await tables.update_if_match(CONNECTIONS, to_entity(updated), etag)
    except ConcurrencyConflict:
        stored = await _stored(container, current.id)
        if (
            written is None
            or stored is None
            or stored.credential is None
            or stored.credential.version != written.version
        ):
            if written is not None:
                await credentials.abandon(container.secrets(), current.id, written)  # lost: no row will name it
            if took_group:
                await _record_rotation(tables, stored or current)  # give back the group this update took
            raise
        # our update did land (its answer was lost and the request was sent again): carry on as the winner
    if rotation_changed and not updated.rotation_enabled:
        await _record_rotation(tables, updated)  # the group is free now
    old = current.credential
    if written is not None and old is not None and old.secret_name != written.secret_name:
        await credentials.retire(container.secrets(), current.id, old)  # switched kinds, and the row says so now
    fields = ", ".join(sorted(body))  # the names only (unknown ones were refused); never a value
    await audit.record(tables, "connection.update", current.id, "ok", f"changed: {fields or 'nothing'}")
    if written is not None:
        action = "credential.replaced" if old is not None else "credential.set"
        await audit.record(tables, action, current.id, "ok", _credential_detail(written))
    return await _view(container, updated)


def _credential_detail(info: CredentialInfo) -> str:
    """Which credential, never its value: the kind and the Key Vault version the row now names."""
    return f"{info.kind}, Key Vault version {info.version}"


async def _record_rotation(tables: Any, connection: Connection) -> None:
    """Best effort: the tenant index says what group the connection rotates (an outdated entry only refuses more)."""
    try:
        await tenant_index.claim(tables, connection, allow_second=True, check=False)
    except ConnectorError as exc:
        log.warning("connection %s: tenant index not updated (%s)", connection.id, exc.code)


async def delete_connection(container: Any, connection_id: str, purge: bool = False) -> tuple[int, dict[str, Any]]:
    """Without purge (200): soft-delete the credential secrets (not waiting for the vault to complete the
    deletes), remove the pending consent states and the connection row. With purge (202): the connection becomes
    `purging` and a queued job removes everything of it (shared/services/connection_purge.py)."""
    if purge:
        return await request_purge(container, connection_id_of(connection_id))
    connection, etag = await load(container, connection_id)  # a purging one: ConnectionPurging (409)
    tables, secrets = container.tables(), container.secrets()
    if not connection.is_ad:
        await subscriptions.remove(container, connection)  # Graph change-notification subscriptions, best-effort
    stored = sorted({client_secret_ref(connection.id).name, client_cert_ref(connection.id).name})
    stored.append(notification_state_name(connection.id))
    await asyncio.gather(*(secrets.delete(name) for name in stored))
    grants = [
        (r["PartitionKey"], r["RowKey"])
        async for r in tables.query(CONSENT_STATES, "connection_id eq @id", {"id": connection.id})
    ]
    if grants:
        await tables.delete_many(CONSENT_STATES, grants)
    await tables.delete(CONNECTIONS, PARTITION, connection.id, etag=etag)
    from shared.services.ad_domains import release_claims

    await release_claims(tables, connection)  # its AD domain, or its tenant index entry
    await audit.record(tables, "connection.delete", connection.id, "ok", "credentials soft-deleted")
    return 200, {"id": connection.id, "deleted": True, "purged": False}
