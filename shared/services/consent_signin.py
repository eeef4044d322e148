"""The consent callback's second leg: the tenant administrator's OpenID sign-in comes back with a code. Only an
ID token of that tenant, for the operator app, with this flow's nonce, of an account that may grant tenant-wide
consent (plus an app-only token of that tenant) activates the connection."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shared.domain.connection import Connection, to_entity
from shared.domain.consent_outcomes import audited_error, signin_answer_outcome
from shared.domain.consent_state import ConsentState, browser_binding, oidc_nonce, pkce_pair
from shared.domain.id_token import ConsentAdmin, IdTokenRejected, consent_admin, verified_claims
from shared.domain.token_claims import tenant_of
from shared.errors import AuthenticationFailed, ConcurrencyConflict, TransientError
from shared.services import audit
from shared.services.connections import load
from shared.services.consent import CallbackResult, clear_cookie, consume, forget
from shared.services.verification import Sleep, run_checks
from shared.storage_names import CONNECTIONS

log = logging.getLogger(__name__)
ACTIVATION_ATTEMPTS = 3


async def signin_leg(
    container: Any,
    query: Mapping[str, str],
    cookies: Mapping[str, str],
    state: ConsentState,
    key: bytes,
    connection: Connection,
    etag: str,
    sleep: Sleep,
    wait_s: float,
) -> CallbackResult:
    tables = container.tables()
    name, value = browser_binding(key, state.nonce)
    if not hmac.compare_digest(cookies.get(name, "").encode(), value.encode()):
        await audit.record(tables, "consent.signin", connection.id, "wrong_browser")
        return CallbackResult.page("wrong_browser", connection)
    refusal = signin_answer_outcome(query)
    if refusal == "no_code":  # nothing to redeem: the state stays usable for the real answer
        await audit.record(tables, "consent.signin", connection.id, "no_code")
        return CallbackResult.page("no_code", connection)
    used = await consume(container, state, "consented", "signed_in")
    if used is None:
        await audit.record(tables, "consent.signin", connection.id, "already_used")
        return CallbackResult.page("already_used", connection)
    invitation_id = used.get("invitation_id") or None
    await forget(container, state)
    clear = clear_cookie(key, state.nonce)
    if refusal is not None:
        await audit.record(tables, "consent.signin", connection.id, refusal, audited_error(query))
        return CallbackResult.page(refusal, connection, set_cookie=clear)
    if connection.state == "disabled":
        await audit.record(tables, "consent.signin", connection.id, "disabled")
        return CallbackResult.page("disabled", connection, set_cookie=clear)
    proof = await _proof(container, connection, query.get("code", ""), key, state.nonce)
    if not isinstance(proof, ConsentAdmin):
        outcome, reason, details = proof
        await audit.record(tables, "consent.signin", connection.id, outcome, reason)
        return CallbackResult.page(outcome, connection, details=details, set_cookie=clear)
    result = await _activate(container, connection, etag, proof, clear, sleep, wait_s)
    if invitation_id and result.outcome == "ok":
        from shared.services.invitations import mark_used

        await mark_used(container, str(invitation_id), connection.id)
    return result


async def _proof(
    container: Any, connection: Connection, code: str, key: bytes, nonce: str
) -> ConsentAdmin | tuple[str, str, list[str]]:
    """The consenting administrator, or (refusal, audit detail, extra page lines)."""
    try:
        admin = await _signed_in_admin(container, connection, code, key, nonce)
    except IdTokenRejected as exc:
        return exc.outcome, exc.reason, []
    except AuthenticationFailed as exc:
        return "signin_failed", exc.message, [exc.cause, exc.fix]
    except TransientError as exc:
        return "signin_failed", exc.message, []
    try:
        tid = await _app_only_tenant(container, connection)
    except AuthenticationFailed as exc:
        return "not_confirmed", exc.message, [exc.cause, exc.fix]
    if tid != connection.tenant_id:
        return "tenant_mismatch", "the operator app's token came from another tenant", []
    return admin


async def _signed_in_admin(container: Any, connection: Connection, code: str, key: bytes, nonce: str) -> ConsentAdmin:
    signin = await container.operator_sign_in(connection)
    verifier, _ = pkce_pair(key, nonce)
    id_token = await signin.redeem(code, container.settings.consent_redirect_uri, verifier)
    issuer, jwks = await signin.tenant_keys()
    if connection.tenant_id not in issuer.lower():
        raise IdTokenRejected("id_token_invalid", "the tenant's issuer does not name the tenant")
    claims = verified_claims(
        id_token, jwks, issuer=issuer, client_id=signin.client_id, nonce=oidc_nonce(key, nonce), now=time.time()
    )
    return consent_admin(claims, connection.tenant_id)


async def _app_only_tenant(container: Any, connection: Connection) -> str:
    """The `tid` of an app-only token the operator app gets for the connection's tenant (fresh credential)."""
    from shared.adapters.entra_auth import CredentialTokens

    credential = await container.connection_credential(connection)
    token = await CredentialTokens(credential, container.cloud(connection.cloud).graph_scope).token()
    return tenant_of(token)  # v1.0 or v2.0: `tid`, checked against the tenant its `iss` names ("" if they differ)


async def _activate(
    container: Any,
    connection: Connection,
    etag: str,
    admin: ConsentAdmin,
    clear: str,
    sleep: Sleep,
    wait_s: float,
) -> CallbackResult:
    """ETag-guarded; a connection changed meanwhile is read again, and a disabled one is never activated."""
    tables = container.tables()
    for _ in range(ACTIVATION_ATTEMPTS):
        if connection.state == "disabled":
            await audit.record(tables, "consent.signin", connection.id, "disabled")
            return CallbackResult.page("disabled", connection, set_cookie=clear)
        activated = connection.with_changes(state="active", consented_at=datetime.now(UTC), state_reason=None)
        try:
            await tables.update_if_match(CONNECTIONS, to_entity(activated), etag)
            break
        except ConcurrencyConflict:
            connection, etag = await load(container, connection.id)
        except TransientError:
            log.warning("connection %s: activation not confirmed by storage", connection.id)
            return CallbackResult.page("outcome_unknown", connection, set_cookie=clear)
    else:
        return CallbackResult.page("outcome_unknown", connection, set_cookie=clear)
    detail = f"tenant {admin.tenant_id}; administrator object {admin.object_id} ({', '.join(admin.roles)})"
    await audit.record(tables, "consent.signin", connection.id, "ok", detail, actor=f"administrator {admin.object_id}")
    report = await run_checks(container, activated, wait_s=wait_s, sleep=sleep)
    await audit.record(tables, "connection.verify", connection.id, report.status, "after consent")
    if report.status != "fail":
        from shared.services.subscriptions import after_activation

        await after_activation(container, activated)  # Graph change notifications (docs/notifications.md)
    title = "Connected" if report.status != "fail" else "Connected, but verification failed"
    message = f"Tenant {connection.tenant_id} is connected."
    return CallbackResult(200, "ok", title, message, activated, report, set_cookie=clear)
