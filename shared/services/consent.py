"""Consent service: the admin-consent URL with a signed single-use state, and the callback that checks and activates."""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets as random_secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from shared.domain.connection import Connection, to_entity
from shared.domain.consent_state import STATE_TTL_S, BadState, ConsentState, read_state, sign_state
from shared.domain.secret_names import consent_signing_key_ref
from shared.domain.token_claims import tenant_of
from shared.domain.verification import Report
from shared.errors import (
    AuthenticationFailed,
    ConcurrencyConflict,
    ConfigurationError,
    SecretNotFound,
    ValidationError,
)
from shared.services import audit
from shared.services.connections import load
from shared.services.verification import Sleep, run_checks
from shared.storage_names import CONNECTIONS, CONSENT_STATES

log = logging.getLogger(__name__)
STATE_PARTITION = "state"
GRAPH_DEFAULT_SCOPE = "https://graph.microsoft.com/.default"


@dataclass(frozen=True)
class CallbackResult:
    """What the callback page shows. `status`: HTTP status; `outcome`: ok, declined, error, bad_state."""

    status: int
    outcome: str
    title: str
    message: str
    connection: Connection | None = None
    report: Report | None = None
    details: list[str] = field(default_factory=list)


async def _signing_key(container: Any) -> bytes:
    ref = consent_signing_key_ref()
    try:
        value = (await container.secrets().get(ref.name)).value.reveal()
    except SecretNotFound:
        value = base64.b64encode(random_secrets.token_bytes(32)).decode()
        await container.secrets().set(ref.name, value, tags=ref.with_tags(), content_type="hmac-sha256-key")
    return base64.b64decode(value)


async def consent_url(container: Any, connection_id: str) -> str:
    """The adminconsent URL for the connection's tenant, carrying a fresh state (recorded as unused)."""
    connection, _ = await load(container, connection_id)
    if connection.credential_mode != "admin_consent":
        raise ValidationError({"connection": "uses the customer's own app: no admin consent through this app"})
    client_id = container.settings.operator_client_id
    if not client_id:
        raise ConfigurationError({"OPERATOR_CLIENT_ID": "missing: needed for admin-consent connections"})
    state = ConsentState(connection.id, random_secrets.token_urlsafe(24), int(time.time()) + STATE_TTL_S)
    token = sign_state(state, await _signing_key(container))
    await container.tables().insert(
        CONSENT_STATES,
        {
            "PartitionKey": STATE_PARTITION,
            "RowKey": state.nonce,
            "connection_id": connection.id,
            "expires_at": state.expires_at,
        },
    )
    await audit.record(container.tables(), "consent.start", connection.id, "ok")
    query = urlencode(
        {
            "client_id": client_id,
            "redirect_uri": container.settings.consent_redirect_uri,
            "scope": GRAPH_DEFAULT_SCOPE,
            "state": token,
        }
    )
    return f"{container.cloud(connection.cloud).login_url}/{connection.tenant_id}/v2.0/adminconsent?{query}"


async def _consume(container: Any, token: str | None) -> ConsentState:
    """Check the state and use it up (ETag-guarded delete); BadState when missing, forged, expired or replayed."""
    state = read_state(token, await _signing_key(container), time.time())
    tables = container.tables()
    row = await tables.get(CONSENT_STATES, STATE_PARTITION, state.nonce)
    if row is None or row.get("connection_id") != state.connection_id:
        raise BadState("this consent link was already used: start again")
    try:
        await tables.delete(CONSENT_STATES, STATE_PARTITION, state.nonce, etag=str(row.metadata.get("etag", "")))
    except ConcurrencyConflict:
        raise BadState("this consent link was already used: start again") from None
    return state


async def _operator_tenant_of(container: Any, connection: Connection) -> str:
    """Ask Entra for an operator-app token in the connection's tenant; its tid is the proof of consent (v1.0 or
    v2.0 token: `tid`, checked against the tenant its `iss` names; "" when they disagree)."""
    from shared.adapters.entra_auth import CredentialTokens

    credential = await container.connection_credential(connection)
    token = await CredentialTokens(credential, container.cloud(connection.cloud).graph_scope).token()
    return tenant_of(token)


async def handle_callback(
    container: Any, query: dict[str, str], *, sleep: Sleep = asyncio.sleep, wait_s: float = 60.0
) -> CallbackResult:
    try:
        state = await _consume(container, query.get("state"))
    except BadState as exc:
        return CallbackResult(400, "bad_state", "This consent link is not valid", str(exc))
    try:
        connection, etag = await load(container, state.connection_id)
    except Exception:  # noqa: BLE001 (NotFound: the connection was removed meanwhile)
        return CallbackResult(400, "bad_state", "Connection not found", "The connection was removed. Create it again.")
    tables = container.tables()
    error = query.get("error")
    if error:
        declined = error == "access_denied"
        description = query.get("error_description", "")[:300]
        await audit.record(tables, "consent.callback", connection.id, "declined" if declined else "error", error[:100])
        title = "Consent was declined" if declined else "Consent did not complete"
        message = (
            "The administrator did not grant the permissions. Nothing was changed; start again to connect."
            if declined
            else f"Microsoft Entra returned {error}: {description}"
        )
        return CallbackResult(200, "declined" if declined else "error", title, message, connection)
    given = (query.get("tenant") or "").lower()
    if given and given != connection.tenant_id:
        await audit.record(
            tables, "consent.callback", connection.id, "tenant_mismatch", f"tenant parameter {given[:40]}"
        )
        return CallbackResult(
            400, "error", "Wrong tenant", "Consent was given in a different tenant than this connection's.", connection
        )
    try:
        tid = await _operator_tenant_of(container, connection)
    except AuthenticationFailed as exc:
        await audit.record(tables, "consent.callback", connection.id, "not_confirmed", exc.message)
        return CallbackResult(
            400, "error", "Consent could not be confirmed", f"{exc.cause} {exc.fix}".strip(), connection
        )
    if tid != connection.tenant_id:
        await audit.record(tables, "consent.callback", connection.id, "tenant_mismatch", "token tid differs")
        return CallbackResult(
            400, "error", "Wrong tenant", "The token came from another tenant; nothing was changed.", connection
        )
    now = datetime.now(UTC)
    activated = connection.with_changes(state="active", consented_at=now, state_reason=None)
    await tables.update_if_match(CONNECTIONS, to_entity(activated), etag)
    await audit.record(tables, "consent.callback", connection.id, "ok", f"tenant {tid}")
    report = await run_checks(container, activated, wait_s=wait_s, sleep=sleep)
    await audit.record(tables, "connection.verify", connection.id, report.status, "after consent")
    title = "Connected" if report.status != "fail" else "Connected, but verification failed"
    return CallbackResult(200, "ok", title, f"Tenant {connection.tenant_id} is connected.", activated, report)
