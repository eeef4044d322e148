"""Connections service: create, read, update and remove customer tenant connections (credentials in Key Vault only)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime
from typing import Any

from shared.adapters.connection_store import get_connection as read_connection
from shared.domain.connection import Connection, ConnectionState, CredentialInfo, from_entity, to_entity
from shared.domain.connection_input import CredentialInput, guid, parse_create, parse_update
from shared.domain.secret_names import client_cert_ref, client_secret_ref
from shared.errors import ConnectorError, ValidationError
from shared.services import audit
from shared.services.connection_purge import purge_status, request_purge
from shared.storage_names import CONNECTIONS, CONSENT_STATES

log = logging.getLogger(__name__)
PARTITION = "connection"


def connection_id_of(raw: Any) -> str:
    try:
        return guid(raw)
    except Exception:  # noqa: BLE001 (_Bad: the id in the URL is not a GUID)
        raise ValidationError({"id": "must be a connection id (GUID)"}) from None


async def load(container: Any, connection_id: str) -> tuple[Connection, str]:
    """The connection and its ETag; NotFound when absent."""
    return await read_connection(container.tables(), connection_id_of(connection_id))


async def _store_credential(container: Any, connection_id: str, credential: CredentialInput) -> CredentialInfo:
    """Put the credential into Key Vault; return what may be shown about it."""
    expires_on: datetime | None
    if credential.kind == "certificate":
        from shared.adapters.certificates import certificate_facts

        facts = certificate_facts(credential.material)
        ref = client_cert_ref(connection_id)
        hint, expires_on, content_type = facts.thumbprint[-3:], credential.expires_on or facts.expires_on, "pem"
    else:
        ref = client_secret_ref(connection_id)
        hint, expires_on, content_type = credential.material.reveal()[-3:], credential.expires_on, "text/plain"
    await container.secrets().set(
        ref.name, credential.material, tags=ref.with_tags(), content_type=content_type, expires_on=None
    )
    return CredentialInfo(kind=credential.kind, hint=hint, expires_on=expires_on, secret_name=ref.name)  # type: ignore[arg-type]


async def create_connection(container: Any, body: Any) -> dict[str, Any]:
    request = parse_create(body)
    from shared.adapters.tenant_discovery import resolve_tenant

    cloud = container.cloud(request.fields["cloud"])
    tenant_id = await resolve_tenant(container.http(), cloud.login_url, request.tenant)
    connection_id = str(uuid.uuid4())
    credential_info = None
    if request.credential is not None:
        credential_info = await _store_credential(container, connection_id, request.credential)
    state: ConnectionState = (
        "pending_consent" if request.fields["credential_mode"] == "admin_consent" else "pending_verification"
    )
    connection = Connection(
        id=connection_id,
        tenant_id=tenant_id,
        tenant_domain=None if request.tenant == tenant_id else request.tenant,
        credential=credential_info,
        state=state,
        **request.fields,
    )
    try:
        await container.tables().insert(CONNECTIONS, to_entity(connection))
    except ConnectorError:
        if credential_info is not None:
            await container.secrets().delete(credential_info.secret_name)
        raise
    await audit.record(container.tables(), "connection.create", connection_id, "ok", f"tenant {tenant_id}")
    return connection.public_view()


async def list_connections(container: Any) -> list[dict[str, Any]]:
    rows = container.tables().query(CONNECTIONS, "PartitionKey eq @pk", {"pk": PARTITION})
    connections = [from_entity(row) async for row in rows]
    return [c.public_view() for c in sorted(connections, key=lambda c: c.created_at)]


async def get_connection(container: Any, connection_id: str) -> dict[str, Any]:
    """The public view; while the connection is being purged, with the purge's progress under `purge`."""
    tables = container.tables()
    connection, _ = await read_connection(tables, connection_id_of(connection_id), purging_ok=True)
    view = connection.public_view()
    if connection.state == "purging":
        view["purge"] = await purge_status(tables, connection.id)
    return view


async def update_connection(container: Any, connection_id: str, body: Any) -> dict[str, Any]:
    current, etag = await load(container, connection_id)
    changes, credential = parse_update(body, current)
    if credential is not None:
        old = current.credential
        changes["credential"] = await _store_credential(container, current.id, credential)
        if old and old.secret_name != changes["credential"].secret_name:
            await container.secrets().delete(old.secret_name)  # switched between secret and certificate
    updated = current.with_changes(**changes)
    await container.tables().update_if_match(CONNECTIONS, to_entity(updated), etag)
    fields = ", ".join(sorted(k for k in body if k not in ("client_secret", "certificate")))
    await audit.record(container.tables(), "connection.update", current.id, "ok", f"changed: {fields}")
    return updated.public_view()


async def delete_connection(container: Any, connection_id: str, purge: bool = False) -> tuple[int, dict[str, Any]]:
    """Without purge (200): soft-delete the credential secrets (not waiting for the vault to complete the
    deletes), remove the pending consent states and the connection row. With purge (202): the connection becomes
    `purging` and a queued job removes everything of it (shared/services/connection_purge.py)."""
    if purge:
        return await request_purge(container, connection_id_of(connection_id))
    connection, etag = await load(container, connection_id)  # a purging one: ConnectionPurging (409)
    tables, secrets = container.tables(), container.secrets()
    credentials = sorted({client_secret_ref(connection.id).name, client_cert_ref(connection.id).name})
    await asyncio.gather(*(secrets.delete(name) for name in credentials))
    grants = [
        (r["PartitionKey"], r["RowKey"])
        async for r in tables.query(CONSENT_STATES, "connection_id eq @id", {"id": connection.id})
    ]
    if grants:
        await tables.delete_many(CONSENT_STATES, grants)
    # TENANT-INDEX HOOK (lead, at merge): remove the connection's tenant-index row here (the purge job does too).
    await tables.delete(CONNECTIONS, PARTITION, connection.id, etag=etag)
    await audit.record(tables, "connection.delete", connection.id, "ok", "credentials soft-deleted")
    return 200, {"id": connection.id, "deleted": True, "purged": False}
