"""Consent service: the admin-consent link with a signed single-use state, and the callback's two legs on one URL:
(1) Entra's admin-consent answer, which only moves the flow on to (2) the tenant administrator's OpenID sign-in
(shared/services/consent_signin.py), which proves the tenant and activates. docs/connections.md tells the flow."""

from __future__ import annotations

import asyncio
import logging
import secrets as random_secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.domain.ad_source import require_entra
from shared.domain.clouds import admin_consent_url
from shared.domain.connection import Connection
from shared.domain.consent_outcomes import OUTCOMES, audited_error, consent_answer_outcome
from shared.domain.consent_state import (
    STATE_TTL_S,
    BadState,
    ConsentState,
    browser_binding,
    oidc_nonce,
    parse_state,
    pkce_pair,
    sign_state,
    verify_state,
)
from shared.domain.verification import Report
from shared.errors import ConcurrencyConflict, NotFound, ValidationError
from shared.services import audit
from shared.services.connections import load
from shared.services.consent_key import signing_key
from shared.services.verification import Sleep
from shared.storage_names import CONSENT_STATES

log = logging.getLogger(__name__)
STATE_PARTITION = "state"
COOKIE_ATTRIBUTES = "Path=/; Secure; HttpOnly; SameSite=Lax"


@dataclass(frozen=True)
class CallbackResult:
    """What the callback answers: a page (`status`, fixed `title`/`message`), or a redirect (`location`), plus a
    cookie to set or clear. `outcome` is the audited result (ok, declined, not_admin, bad_state...)."""

    status: int
    outcome: str
    title: str
    message: str
    connection: Connection | None = None
    report: Report | None = None
    details: list[str] = field(default_factory=list)
    location: str | None = None
    set_cookie: str | None = None

    @classmethod
    def page(cls, outcome: str, connection: Connection | None = None, **extra: Any) -> CallbackResult:
        fixed = OUTCOMES[outcome]
        return cls(fixed.status, outcome, fixed.title, fixed.message, connection, **extra)


async def consent_url(container: Any, connection_id: str, invitation_id: str | None = None) -> str:
    """The adminconsent URL for the connection's tenant, carrying a fresh state (recorded as `issued`; a state
    started from an invitation remembers its id, so a successful flow uses the invitation up)."""
    connection, _ = await load(container, connection_id)
    require_entra(connection, "consent")
    if connection.credential_mode != "admin_consent":
        raise ValidationError({"connection": "uses the customer's own app: no admin consent through this app"})
    if connection.state == "disabled":
        raise ValidationError({"connection": "is disabled: enable it before connecting it again"})
    cloud = container.cloud(connection.cloud)
    operator = container.settings.operator_app(cloud.registry)  # ConfigurationError naming that cloud's setting
    state = ConsentState(connection.id, random_secrets.token_urlsafe(24), int(time.time()) + STATE_TTL_S)
    token = sign_state(state, await signing_key(container))
    row = {"PartitionKey": STATE_PARTITION, "RowKey": state.nonce, "connection_id": connection.id}
    if invitation_id is not None:
        row["invitation_id"] = invitation_id
    await container.tables().insert(CONSENT_STATES, {**row, "expires_at": state.expires_at, "phase": "issued"})
    detail = f"from invitation {invitation_id}" if invitation_id else ""
    await audit.record(container.tables(), "consent.start", connection.id, "ok", detail)
    redirect_uri = container.settings.consent_redirect_uri
    return admin_consent_url(cloud, connection.tenant_id, str(operator.client_id), redirect_uri, token)


async def consume(
    container: Any, state: ConsentState, expect: str, to: str, expires_at: int | None = None
) -> dict[str, Any] | None:
    """Use the state up: move its row from phase `expect` to `to` with an ETag-guarded write, and return the row as
    written. Exactly one of any number of concurrent callers wins (a missing row, another phase or a lost race:
    None)."""
    tables = container.tables()
    row = await tables.get(CONSENT_STATES, STATE_PARTITION, state.nonce)
    if row is None or row.get("connection_id") != state.connection_id or row.get("phase", "issued") != expect:
        return None
    changed = {**row, "phase": to, "used_at": int(time.time())}
    if expires_at is not None:
        changed["expires_at"] = expires_at
    try:
        await tables.update_if_match(CONSENT_STATES, changed, str(row.metadata.get("etag", "")))
    except ConcurrencyConflict:
        return None
    return changed


async def forget(container: Any, state: ConsentState) -> None:
    """Remove a state row once the flow is over (it was used up first, so a replay finds nothing either way)."""
    await container.tables().delete(CONSENT_STATES, STATE_PARTITION, state.nonce)


def clear_cookie(key: bytes, nonce: str) -> str:
    name, _ = browser_binding(key, nonce)
    return f"{name}=; Max-Age=0; {COOKIE_ATTRIBUTES}"


async def handle_callback(
    container: Any,
    query: Mapping[str, str],
    *,
    cookies: Mapping[str, str] | None = None,
    sleep: Sleep = asyncio.sleep,
    wait_s: float = 60.0,
) -> CallbackResult:
    """Both legs: the state's shape is checked first (no Key Vault read for junk), then its MAC and expiry, and
    its leg decides which answer this is. Pages carry fixed texts only; nothing from the query is shown."""
    try:
        parsed = parse_state(query.get("state"))
        key = await signing_key(container)
        state = verify_state(parsed, key, time.time())
    except BadState as exc:
        log.warning("consent callback refused: %s", exc)  # not audited: an unproven state names no connection
        return CallbackResult.page("bad_state")
    if state.leg == "user":  # an end-user sign-in's state has its own callback (shared/services/signin.py)
        return CallbackResult.page("bad_state")
    try:
        connection, etag = await load(container, state.connection_id)
    except (NotFound, ValidationError):
        return CallbackResult.page("connection_removed")
    if connection.is_ad:  # no consent state is issued for one (consent_url refuses): nothing to grant
        return CallbackResult.page("connection_removed")
    if state.leg == "signin":
        from shared.services.consent_signin import signin_leg

        return await signin_leg(container, query, cookies or {}, state, key, connection, etag, sleep, wait_s)
    return await _consent_leg(container, query, state, key, connection)


async def _consent_leg(
    container: Any, query: Mapping[str, str], state: ConsentState, key: bytes, connection: Connection
) -> CallbackResult:
    """Entra's admin-consent answer. It proves nothing about the tenant (anyone can type it); when it claims
    success, the state moves on to the sign-in leg and the browser goes to the tenant's sign-in page."""
    tables = container.tables()
    refusal = consent_answer_outcome(query, connection)
    expires_at = int(time.time()) + STATE_TTL_S
    if await consume(container, state, "issued", "closed" if refusal else "consented", expires_at) is None:
        await audit.record(tables, "consent.callback", connection.id, "already_used")
        return CallbackResult.page("already_used", connection)
    if refusal is not None:
        await forget(container, state)
        await audit.record(tables, "consent.callback", connection.id, refusal, audited_error(query))
        return CallbackResult.page(refusal, connection)
    from shared.adapters.entra_signin import authorize_url

    signin = ConsentState(connection.id, state.nonce, expires_at, "signin")
    _, challenge = pkce_pair(key, state.nonce)
    cloud = container.cloud(connection.cloud)
    location = authorize_url(
        cloud.login_url,
        connection.tenant_id,
        str(container.settings.operator_app(cloud.registry).client_id),
        container.settings.consent_redirect_uri,
        state=sign_state(signin, key),
        nonce=oidc_nonce(key, state.nonce),
        code_challenge=challenge,
    )
    name, value = browser_binding(key, state.nonce)
    await audit.record(tables, "consent.callback", connection.id, "consented", "on to the administrator's sign-in")
    return CallbackResult(
        302,
        "consented",
        "Sign in",
        "Sign in as an administrator of the tenant.",
        connection,
        location=location,
        set_cookie=f"{name}={value}; Max-Age={STATE_TTL_S}; {COOKIE_ATTRIBUTES}",
    )
