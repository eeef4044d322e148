"""The end of an end-user sign-in: the verified user is admitted (just in time when new) and the browser goes back
to the product's return URL with a one-time code (stored only as its hash); the product's backend exchanges it,
within 60 seconds and once, for the verified identity (POST /api/signin/exchange)."""

from __future__ import annotations

import logging
import secrets as random_secrets
import time
from typing import Any

from shared.domain import signin as rules
from shared.domain.consent_state import ConsentState
from shared.domain.secret_names import GUID_PATTERN
from shared.errors import ConcurrencyConflict, NotFound, TransientError, ValidationError
from shared.services import audit
from shared.services.connections import load
from shared.services.signin import SignInResult, verified_user
from shared.services.signin_jit import admit, identity
from shared.storage_names import CONSENT_STATES

log = logging.getLogger(__name__)
REFUSED_CODE = "is unknown, expired or already used: sign the user in again"


async def complete(
    container: Any, state: ConsentState, return_to: str, code: str, key: bytes, clear: str
) -> SignInResult:
    tables = container.tables()

    async def refuse(outcome: str, detail: str = "", details: list[str] | None = None) -> SignInResult:
        await audit.record(tables, "signin.callback", state.connection_id, outcome, detail)
        extra = details if details is not None else list(rules.OUTCOMES[outcome].remedy)
        return SignInResult(outcome, set_cookie=clear, details=[d for d in extra if d])

    try:
        connection, _ = await load(container, state.connection_id)
    except (NotFound, ValidationError):
        return await refuse("not_connected", "the connection was removed")
    if connection.state != "active":
        return await refuse("not_connected", f"the connection is {connection.state}")
    proof = await verified_user(container, connection, code, key, state.nonce)
    if isinstance(proof, SignInResult):
        return await refuse(proof.outcome, proof.audit[:300], proof.details)
    tid, oid = str(proof.get("tid", "")).lower(), str(proof.get("oid", "")).lower()
    if tid != connection.tenant_id:
        return await refuse("wrong_tenant", f"the account signed in to tenant {tid}")
    if not GUID_PATTERN.fullmatch(oid):
        return await refuse("id_token_invalid", "the ID token has no object id (oid)")
    try:
        admitted = await admit(container, connection, oid, f"signin-{state.nonce[:16]}")
    except (TransientError, ConcurrencyConflict) as exc:
        log.warning("connection %s: sign-in of user %s not confirmed: %s", connection.id, oid, exc.code)
        return await refuse("outcome_unknown", f"user {oid}: {exc.code}")
    if admitted.outcome in ("out_of_scope", "deactivated"):
        return await refuse(admitted.outcome, f"user {oid}")
    form, _ = rules.groups_claim(proof)
    raw = random_secrets.token_urlsafe(32)
    await tables.insert(
        CONSENT_STATES,
        {
            "PartitionKey": rules.HANDOFF_PARTITION,
            "RowKey": rules.handoff_key(raw),
            "connection_id": connection.id,
            "tenant_id": tid,
            "object_id": oid,
            "groups_claim": form,
            "expires_at": int(time.time()) + rules.HANDOFF_TTL_S,
            "phase": "issued",
        },
    )
    how = "created just in time" if admitted.outcome == "created" else "stored"
    await audit.record(
        tables, "signin.callback", connection.id, "ok", f"user {oid} of tenant {tid} ({how})", actor=f"user {oid}"
    )
    return SignInResult("ok", rules.with_code(return_to, raw), clear)


async def exchange(container: Any, body: Any) -> dict[str, Any]:
    """The verified identity for a hand-off code (once, within HANDOFF_TTL_S). ValidationError naming `code`
    otherwise; the code is never echoed."""
    if not isinstance(body, dict) or set(body) != {"code"}:
        raise ValidationError({"body": "must be a JSON object with exactly one field, code"})
    code = body["code"]
    if not isinstance(code, str) or not rules.HANDOFF_CODE.fullmatch(code):
        raise ValidationError({"code": "must be the code the sign-in returned (43 characters)"})
    tables = container.tables()
    key = rules.handoff_key(code)
    row = await tables.get(CONSENT_STATES, rules.HANDOFF_PARTITION, key)
    if row is None or row.get("phase") != "issued":
        raise ValidationError({"code": REFUSED_CODE})
    try:
        await tables.update_if_match(CONSENT_STATES, {**row, "phase": "used"}, str(row.metadata.get("etag", "")))
    except ConcurrencyConflict:
        raise ValidationError({"code": REFUSED_CODE}) from None
    await tables.delete(CONSENT_STATES, rules.HANDOFF_PARTITION, key)
    connection_id = str(row["connection_id"])
    if int(row.get("expires_at", 0)) <= time.time():
        await audit.record(tables, "signin.exchange", connection_id, "expired")
        raise ValidationError({"code": REFUSED_CODE})
    found = await identity(container, connection_id, str(row["object_id"]))
    if found is None:  # removed since (a purge or a sync that deleted it): nothing to vouch for
        await audit.record(tables, "signin.exchange", connection_id, "user_removed")
        raise ValidationError({"code": REFUSED_CODE})
    await audit.record(tables, "signin.exchange", connection_id, "ok", f"user {row['object_id']}")
    return {
        "connection_id": connection_id,
        "tenant_id": row["tenant_id"],
        **found,
        "groups_source": "directory",
        "groups_claim": row.get("groups_claim", "absent"),
    }
