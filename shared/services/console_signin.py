"""The console's sign-in for the operator's admins (OpenID Connect, authorization code with PKCE, through MSAL):
the authorize redirect with a signed state, then the callback that redeems the code, validates the ID token itself
(signature from the tenant's keys, issuer, audience, lifetime, nonce, tenant) and starts a session for an account
holding an app role (`Connector.Admin` or `Connector.Reader`). Nothing secret about a flow is stored: the PKCE
verifier, the OpenID nonce and the browser binding are derived from the console key and the flow's nonce."""

from __future__ import annotations

import hmac
import logging
import secrets as random_secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.adapters.entra_signin import authorize_url
from shared.domain.aadsts import explain
from shared.domain.console_session import (
    CONSOLE_ROLES,
    FLOW_COOKIE,
    FLOW_TTL_S,
    BadSession,
    Flow,
    check_shape,
    derived,
    flow_cookie,
    open_flow,
    pkce_pair,
    seal_flow,
    session_cookie,
)
from shared.domain.id_token import IdTokenRejected, verified_claims
from shared.domain.secret_names import GUID_PATTERN
from shared.errors import AuthenticationFailed, Conflict, TransientError
from shared.services import audit
from shared.services.console_session import console_key, end_session, start_session
from shared.storage_names import CONSENT_STATES

log = logging.getLogger(__name__)
USED_PARTITION = "console-flow"  # RK flow nonce: a sign-in answer already taken (single use), with its expiry


@dataclass(frozen=True)
class SignInPage:
    """What the callback answers: a page (status, title, message, plain-text lines), cookies to set, and where
    to continue (a local path, followed by the page itself: see docs/console.md on SameSite)."""

    status: int
    outcome: str
    title: str
    message: str
    details: tuple[str, ...] = ()
    cookies: tuple[str, ...] = ()
    continue_to: str | None = None
    user: dict[str, str] = field(default_factory=dict)


async def sign_in_start(container: Any, return_to: str, now: float) -> tuple[str, str]:
    """(authorize URL, Set-Cookie of the browser binding) for a new sign-in coming back to `return_to`."""
    signin = await container.console_sign_in()  # ConfigurationError when the console is not configured
    key = await console_key(container)
    flow = Flow(random_secrets.token_urlsafe(24), return_to, int(now) + FLOW_TTL_S)
    _, challenge = pkce_pair(key, flow.nonce)
    url = authorize_url(
        container.cloud().login_url,
        container.settings.console_tenant_id,
        signin.client_id,
        container.settings.console_redirect_uri,
        state=seal_flow(flow, key),
        nonce=derived(key, "oidc-nonce", flow.nonce),
        code_challenge=challenge,
    )
    return url, flow_cookie(derived(key, "browser", flow.nonce))


def _refused(outcome: str, title: str, message: str, *details: str, status: int = 400) -> SignInPage:
    return SignInPage(status, outcome, title, message, tuple(d for d in details if d), (flow_cookie("", 0),))


async def sign_in_callback(
    container: Any, query: Mapping[str, str], cookies: Mapping[str, str], now: float
) -> SignInPage:
    """The sign-in's answer: a session for an admin or reader of the console's tenant, or a page saying why not."""
    tables = container.tables()
    try:  # a refused state changes nothing (no audit row: anyone can send junk)
        check_shape(query.get("state"))
        key = await console_key(container)
        flow = open_flow(query.get("state"), key, now)
    except BadSession:
        return _refused(
            "bad_state", "Sign-in link not valid", "This sign-in is not valid or has expired.", "Sign in again."
        )
    binding = derived(key, "browser", flow.nonce)
    if not hmac.compare_digest(cookies.get(FLOW_COOKIE, "").encode(), binding.encode()):
        await audit.record(tables, "console.signin", None, "wrong_browser")
        return _refused("wrong_browser", "Sign-in not started here", "This sign-in was started in another browser.")
    if "error" in query or not query.get("code"):
        number, _ = _aadsts(query.get("error_description", ""))
        cause, fix = explain(number)
        await audit.record(tables, "console.signin", None, "declined", f"AADSTS{number}" if number else "no code")
        title = f"Sign-in did not complete{f' (AADSTS{number})' if number else ''}"
        return _refused("declined", title, "Entra ID did not sign you in.", cause, fix)
    try:  # single use: a second answer for the same flow (a replay, or a double submit) is refused
        await tables.insert(
            CONSENT_STATES, {"PartitionKey": USED_PARTITION, "RowKey": flow.nonce, "expires_at": flow.expires_at}
        )
    except Conflict:
        await audit.record(tables, "console.signin", None, "already_used")
        return _refused(
            "already_used", "Sign-in already used", "This sign-in answer was already used.", "Sign in again."
        )
    return await _finish(container, flow, query.get("code", ""), key, now)


async def _finish(container: Any, flow: Flow, code: str, key: bytes, now: float) -> SignInPage:
    tables = container.tables()
    try:
        claims = await _claims(container, code, key, flow.nonce, now)
    except IdTokenRejected as exc:
        await audit.record(tables, "console.signin", None, exc.outcome, exc.reason)
        return _refused(exc.outcome, "Sign-in refused", f"The ID token was refused: {exc.reason}.", "Sign in again.")
    except AuthenticationFailed as exc:
        await audit.record(tables, "console.signin", None, "signin_failed", exc.message)
        return _refused("signin_failed", "Sign-in failed", exc.message, exc.cause, exc.fix)
    except TransientError as exc:
        await audit.record(tables, "console.signin", None, "unavailable", exc.message)
        return _refused("unavailable", "Sign-in unavailable", exc.message, "Try again in a minute.", status=503)
    oid, tid = str(claims.get("oid", "")).lower(), str(claims.get("tid", "")).lower()
    name = str(claims.get("name") or claims.get("preferred_username") or oid)[:256]
    raw_roles = claims.get("roles")
    roles = frozenset(str(r) for r in raw_roles if r in CONSOLE_ROLES) if isinstance(raw_roles, list) else frozenset()
    if not GUID_PATTERN.match(oid) or tid != (container.settings.console_tenant_id or "").lower():
        await audit.record(tables, "console.signin", None, "tenant_mismatch", f"account of tenant {tid[:36]}")
        return _refused(
            "tenant_mismatch", "Sign-in refused", "The account is not of the operator's tenant.", status=403
        )
    user = {"oid": oid, "tid": tid, "name": name}
    if not roles:
        await audit.record(tables, "console.signin", None, "no_role", f"user {oid}", actor=f"console user {oid}")
        return SignInPage(
            403,
            "no_role",
            "No access to the console",
            f"{name} is signed in, but holds neither the Connector.Admin nor the Connector.Reader app role.",
            (
                "Ask an administrator of the operator's tenant to assign you one of them "
                "(Enterprise applications > the operator app > Users and groups).",
            ),
            (flow_cookie("", 0),),
            user=user,
        )
    cookie = await start_session(container, oid, tid, name, roles, now)
    await audit.record(
        tables, "console.signin", None, "ok", f"user {oid} roles {' '.join(sorted(roles))}", actor=f"console user {oid}"
    )
    return SignInPage(
        200, "ok", "Signed in", f"Signed in as {name}.", (), (cookie, flow_cookie("", 0)), flow.return_to, user
    )


async def _claims(container: Any, code: str, key: bytes, nonce: str, now: float) -> dict[str, Any]:
    signin = await container.console_sign_in()
    verifier, _ = pkce_pair(key, nonce)
    id_token = await signin.redeem(code, container.settings.console_redirect_uri, verifier)
    issuer, jwks = await signin.tenant_keys()
    if (container.settings.console_tenant_id or "").lower() not in issuer.lower():
        raise IdTokenRejected("id_token_invalid", "the tenant's issuer does not name the tenant")
    return verified_claims(
        id_token, jwks, issuer=issuer, client_id=signin.client_id, nonce=derived(key, "oidc-nonce", nonce), now=now
    )


def _aadsts(description: str) -> tuple[int | None, str]:
    head = description[:16]
    digits = head[6:].split(":")[0] if head.startswith("AADSTS") else ""
    return (int(digits), "") if digits.isdigit() else (None, "")


async def sign_out(container: Any, sid: str | None) -> tuple[str, ...]:
    """End the session on the server (its row) and in the browser (an expired cookie)."""
    if sid:
        await end_session(container, sid)
        await audit.record(container.tables(), "console.signout", None, "ok")
    return (session_cookie("", 0),)
