"""End-user sign-in (docs/signin.md): the start redirects a tenant's user to the tenant's authorization endpoint
with a signed one-time state bound to the browser, PKCE and a nonce; the callback redeems the code (MSAL), checks
the ID token itself, admits the user (shared/services/signin_jit.py) and hands the product a one-time code."""

from __future__ import annotations

import hmac
import logging
import secrets as random_secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.domain import signin as rules
from shared.domain.connection import Connection
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
from shared.domain.id_token import IdTokenRejected, verified_tenant_claims
from shared.domain.secret_names import GUID_PATTERN
from shared.errors import AuthenticationFailed, ConcurrencyConflict, NotFound, TransientError, ValidationError
from shared.services import audit
from shared.services.connections import load
from shared.services.consent_key import signing_key
from shared.storage_names import CONNECTIONS, CONSENT_STATES

log = logging.getLogger(__name__)
COOKIE_ATTRIBUTES = "Path=/; Secure; HttpOnly; SameSite=Lax"


@dataclass(frozen=True)
class SignInResult:
    """A page (outcome's fixed texts) or a redirect (`location`), and a cookie to set or clear."""

    outcome: str
    location: str | None = None
    set_cookie: str | None = None
    details: list[str] = field(default_factory=list)
    audit: str = ""  # the audited detail of a refusal (plain words, AADSTS numbers; never a code or token)

    @property
    def page(self) -> rules.Outcome:
        return rules.OUTCOMES.get(self.outcome, rules.OUTCOMES["signin_failed"])


def browser_cookie(key: bytes, nonce: str) -> tuple[str, str]:
    """(name, value) of the cookie binding one sign-in to the browser that started it (derived, never stored)."""
    return browser_binding(key, nonce, "signin")


def _clear(key: bytes, nonce: str) -> str:
    return f"{browser_cookie(key, nonce)[0]}=; Max-Age=0; {COOKIE_ATTRIBUTES}"


def client_id_of(container: Any, connection: Connection) -> str:
    if connection.credential_mode == "admin_consent":
        return str(container.settings.operator_app(container.cloud(connection.cloud).registry).client_id)
    return str(connection.client_id or "")


async def _connection_for(container: Any, params: Mapping[str, str]) -> Connection:
    """The connection named by `connection` (its id) or `tenant` (GUID or verified domain); ValidationError
    naming the parameter when it is missing, ambiguous or names nothing connected."""
    cid, tenant = params.get("connection", "").strip().lower(), params.get("tenant", "").strip().lower()
    if bool(cid) == bool(tenant):
        raise ValidationError({"connection": "give exactly one of connection or tenant"})
    if cid:
        if not GUID_PATTERN.fullmatch(cid):
            raise ValidationError({"connection": "must be a connection id (GUID)"})
        try:
            connection, _ = await load(container, cid)
        except NotFound:
            raise ValidationError({"connection": "no such connection"}) from None
        if connection.is_ad:  # its users sign in to their domain, not through Entra ID
            raise ValidationError({"connection": "is an on-prem AD connection: Entra ID sign-in is not for it"})
        return connection
    if not GUID_PATTERN.fullmatch(tenant):
        from shared.adapters.tenant_discovery import resolve_tenant

        if len(tenant) > 253 or "." not in tenant:
            raise ValidationError({"tenant": "must be a tenant id (GUID) or a verified domain"})
        tenant = (await resolve_tenant(container.http(), container.cloud("global").login_url, tenant)).tenant_id
    rows = container.tables().query(
        CONNECTIONS, "PartitionKey eq @pk and tenant_id eq @tid", {"pk": "connection", "tid": tenant}, select=["RowKey"]
    )
    ids = sorted([str(r["RowKey"]) async for r in rows])
    active = [c for c in [(await load(container, i))[0] for i in ids] if c.state == "active"]
    if not active:
        raise ValidationError({"tenant": "is not connected"})
    if len(active) > 1:
        raise ValidationError({"tenant": "has several connections: name one with connection"})
    return active[0]


async def start(container: Any, params: Mapping[str, str]) -> SignInResult:
    """The redirect to the tenant's authorization endpoint. ValidationError (nothing stored) for an unregistered
    return_to, an unknown or inactive connection."""
    return_to = rules.allowed_return_to(params.get("return_to"), container.settings.signin_return_urls)
    if return_to is None:
        raise ValidationError({"return_to": "must be one of the product's registered return URLs"})
    connection = await _connection_for(container, params)
    if connection.state != "active":
        raise ValidationError({"connection": "is not active: an administrator connects the tenant first"})
    key = await signing_key(container)
    state = ConsentState(connection.id, random_secrets.token_urlsafe(24), int(time.time()) + STATE_TTL_S, "user")
    row = {"PartitionKey": rules.STATE_PARTITION, "RowKey": state.nonce, "connection_id": connection.id}
    await container.tables().insert(
        CONSENT_STATES, {**row, "return_to": return_to, "expires_at": state.expires_at, "phase": "issued"}
    )
    from shared.adapters.entra_signin import authorize_url

    _, challenge = pkce_pair(key, state.nonce)
    location = authorize_url(
        container.cloud(connection.cloud).login_url,
        connection.tenant_id,
        client_id_of(container, connection),
        container.settings.signin_redirect_uri,
        state=sign_state(state, key),
        nonce=oidc_nonce(key, state.nonce),
        code_challenge=challenge,
        scope=container.settings.signin_scopes,
    )
    await audit.record(container.tables(), "signin.start", connection.id, "ok")
    name, value = browser_cookie(key, state.nonce)
    return SignInResult("redirect", location, f"{name}={value}; Max-Age={STATE_TTL_S}; {COOKIE_ATTRIBUTES}")


async def _consume(container: Any, state: ConsentState) -> dict[str, Any] | None:
    """Use the state up (ETag-guarded: one caller of any number wins), then remove it; the row as it was."""
    tables = container.tables()
    row = await tables.get(CONSENT_STATES, rules.STATE_PARTITION, state.nonce)
    if row is None or row.get("connection_id") != state.connection_id or row.get("phase") != "issued":
        return None
    try:
        await tables.update_if_match(CONSENT_STATES, {**row, "phase": "used"}, str(row.metadata.get("etag", "")))
    except ConcurrencyConflict:
        return None
    await tables.delete(CONSENT_STATES, rules.STATE_PARTITION, state.nonce)
    return dict(row)


async def callback(container: Any, query: Mapping[str, str], cookies: Mapping[str, str]) -> SignInResult:
    """Entra's answer. Pages carry fixed texts; nothing from the query is shown or stored."""
    try:
        parsed = parse_state(query.get("state"))
        key = await signing_key(container)
        state = verify_state(parsed, key, time.time())
    except BadState as exc:
        log.warning("sign-in callback refused: %s", exc)  # not audited: an unproven state names no connection
        return SignInResult("bad_state")
    if state.leg != "user":
        return SignInResult("bad_state")
    tables = container.tables()
    name, value = browser_cookie(key, state.nonce)
    if not hmac.compare_digest(cookies.get(name, "").encode(), value.encode()):
        await audit.record(tables, "signin.callback", state.connection_id, "wrong_browser")
        return SignInResult("wrong_browser")
    refusal = rules.answer_outcome(query)
    if refusal == "no_code":  # nothing to redeem: the state stays usable for the real answer
        await audit.record(tables, "signin.callback", state.connection_id, "no_code")
        return SignInResult("no_code")
    row = await _consume(container, state)
    if row is None:
        await audit.record(tables, "signin.callback", state.connection_id, "already_used")
        return SignInResult("already_used")
    clear = _clear(key, state.nonce)
    if refusal is not None:
        number = rules.aadsts_of(query.get("error_description", ""))
        detail = f"{query.get('error', '')[:40]}{f' (AADSTS{number})' if number else ''}"
        await audit.record(tables, "signin.callback", state.connection_id, refusal, detail)
        return SignInResult(refusal, set_cookie=clear, details=list(rules.OUTCOMES[refusal].remedy))
    from shared.services.signin_handoff import complete

    return await complete(container, state, str(row.get("return_to", "")), query.get("code", ""), key, clear)


async def verified_user(
    container: Any, connection: Connection, code: str, key: bytes, nonce: str
) -> dict[str, Any] | SignInResult:
    """The ID token's claims for the code (redeemed by MSAL, checked here), or the refusal."""
    signin = await container.operator_sign_in(connection)
    verifier, _ = pkce_pair(key, nonce)
    try:
        id_token = await signin.redeem(code, container.settings.signin_redirect_uri, verifier)
        template, jwks = await signin.multi_tenant_keys()
        claims = verified_tenant_claims(
            id_token, jwks, issuer_template=template, client_id=signin.client_id, nonce=oidc_nonce(key, nonce),
            now=time.time(),
        )  # fmt: skip
    except AuthenticationFailed as exc:
        outcome = rules.redemption_outcome(exc.aadsts)
        return SignInResult(outcome, details=[exc.cause, *rules.OUTCOMES[outcome].remedy], audit=exc.message)
    except TransientError as exc:
        return SignInResult("signin_failed", audit=exc.message)
    except IdTokenRejected as exc:
        log.warning("connection %s: ID token refused: %s", connection.id, exc.reason)
        return SignInResult("id_token_invalid", details=[exc.reason], audit=exc.reason)
    return claims
