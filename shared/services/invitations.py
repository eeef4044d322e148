"""Consent invitations: an operator makes a signed, expiring, revocable link for a connection that needs no
function key; opening it starts the same admin-consent flow (a fresh state that remembers the invitation), and the
invitation is used up when that flow activates the connection. Rows: table consentstates, partition `invite`."""

from __future__ import annotations

import logging
import secrets as random_secrets
import time
from datetime import UTC, datetime
from typing import Any

from shared.domain.ad_source import require_entra
from shared.domain.invitation import (
    DAY_S,
    DEFAULT_DAYS,
    ID_PATTERN,
    INVITE_PARTITION,
    MAX_DAYS,
    BadInvitation,
    Invitation,
    parse_invitation,
    sign_invitation,
    verify_invitation,
)
from shared.domain.timestamps import to_iso
from shared.errors import ConcurrencyConflict, Conflict, NotFound, ValidationError
from shared.services import audit
from shared.services.connections import load
from shared.services.consent_key import signing_key
from shared.storage_names import CONSENT_STATES

log = logging.getLogger(__name__)
USE_ATTEMPTS = 3


def _days(body: Any) -> int:
    if body is None:
        return DEFAULT_DAYS
    if not isinstance(body, dict):
        raise ValidationError({"body": "must be a JSON object"})
    unknown = sorted(set(body) - {"expires_in_days"})
    if unknown:
        raise ValidationError({name: "is not a field of an invitation" for name in unknown[:10]})
    days = body.get("expires_in_days", DEFAULT_DAYS)
    if type(days) is not int or not 1 <= days <= MAX_DAYS:
        raise ValidationError({"expires_in_days": f"must be a whole number of days from 1 to {MAX_DAYS}"})
    return days


def _invitation(row: Any) -> Invitation:
    return Invitation(
        str(row["RowKey"]), str(row["connection_id"]), int(row["expires_at"]), row["state"], str(row["created_by"])
    )


async def create_invitation(container: Any, connection_id: str, body: Any) -> tuple[int, dict[str, Any]]:
    """201 {id, url, expires_at}. The body is checked first; the connection must take admin consent."""
    days = _days(body)
    connection, _ = await load(container, connection_id)
    require_entra(connection, "consent")
    if connection.credential_mode != "admin_consent":
        raise ValidationError({"connection": "uses the customer's own app: no admin consent through this app"})
    if connection.state == "disabled":
        raise ValidationError({"connection": "is disabled: enable it before inviting its administrator"})
    key = await signing_key(container)
    invitation_id = random_secrets.token_urlsafe(16)
    expires_at = int(time.time()) + days * DAY_S
    row = {
        "PartitionKey": INVITE_PARTITION,
        "RowKey": invitation_id,
        "connection_id": connection.id,
        "expires_at": expires_at,
        "state": "open",
        "created_by": audit.current_who(),
        "created_at": int(time.time()),
    }
    await container.tables().insert(CONSENT_STATES, row)
    when = to_iso(datetime.fromtimestamp(expires_at, UTC))
    await audit.record(
        container.tables(), "consent.invite", connection.id, "ok", f"invitation {invitation_id}; expires {when}"
    )
    url = f"{container.settings.public_base_url}/api/consent/invite/{sign_invitation(invitation_id, key)}"
    return 201, {"id": invitation_id, "connection_id": connection.id, "url": url, "expires_at": when}


async def revoke_invitation(container: Any, connection_id: str, invitation_id: str) -> tuple[int, dict[str, Any]]:
    """200 {id, state: revoked}; revoking twice answers the same; a used one is a 409 (it did its work)."""
    connection, _ = await load(container, connection_id)
    tables = container.tables()
    row = await tables.get(CONSENT_STATES, INVITE_PARTITION, invitation_id) if ID_PATTERN.match(invitation_id) else None
    if row is None or row.get("connection_id") != connection.id:
        raise NotFound("No such invitation")
    if row["state"] == "used":
        raise Conflict("The invitation was already used: consent completed through it")
    if row["state"] != "revoked":
        try:
            await tables.update_if_match(CONSENT_STATES, {**row, "state": "revoked"}, str(row.metadata.get("etag", "")))
        except ConcurrencyConflict:
            raise Conflict("The invitation changed meanwhile: try again") from None
        await audit.record(tables, "consent.invite_revoke", connection.id, "ok", f"invitation {invitation_id}")
    return 200, {"id": invitation_id, "connection_id": connection.id, "state": "revoked"}


async def open_invitation(container: Any, token: str | None, now: float | None = None) -> tuple[str, str | None]:
    """('redirect', adminconsent URL) or (page outcome, None). The token's shape is checked before any Key Vault
    read; forged tokens are not audited (they name no connection); nothing is changed on a refusal."""
    from shared.services.consent import consent_url

    try:
        parsed = parse_invitation(token)
        invitation_id = verify_invitation(parsed, await signing_key(container))
    except BadInvitation as exc:
        log.warning("consent invitation refused: %s", exc)
        return "invite_invalid", None
    row = await container.tables().get(CONSENT_STATES, INVITE_PARTITION, invitation_id)
    if row is None:
        return "invite_invalid", None
    invitation = _invitation(row)
    refusal = invitation.refusal(time.time() if now is None else now)
    if refusal is not None:
        await audit.record(
            container.tables(), "consent.invite_open", invitation.connection_id, refusal, f"invitation {invitation.id}"
        )
        return refusal, None
    try:
        return "redirect", await consent_url(container, invitation.connection_id, invitation_id=invitation.id)
    except NotFound:
        return "connection_removed", None
    except ValidationError:
        await audit.record(
            container.tables(),
            "consent.invite_open",
            invitation.connection_id,
            "invite_unusable",
            f"invitation {invitation.id}",
        )
        return "invite_unusable", None


async def mark_used(container: Any, invitation_id: str, connection_id: str) -> None:
    """The flow this invitation started activated the connection: use it up (ETag-guarded; a revoke that won the
    race stays revoked)."""
    tables = container.tables()
    for _ in range(USE_ATTEMPTS):
        row = await tables.get(CONSENT_STATES, INVITE_PARTITION, invitation_id)
        if row is None or row.get("connection_id") != connection_id or row["state"] != "open":
            return
        try:
            changed = {**row, "state": "used", "used_at": int(time.time())}
            await tables.update_if_match(CONSENT_STATES, changed, str(row.metadata.get("etag", "")))
        except ConcurrencyConflict:
            continue
        await audit.record(tables, "consent.invite_used", connection_id, "ok", f"invitation {invitation_id}")
        return
