"""Who signed in during consent, proven by the ID token (pure): signature against the tenant's keys, issuer,
audience, lifetime, nonce and tenant; then whether the account may grant tenant-wide admin consent (`wids`).

OpenID Connect Core 3.1.3.7 (ID token validation); Learn: "ID token claims reference", "Microsoft Entra built-in
roles" (who may consent to application permissions of Microsoft Graph)."""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
PRIVILEGED_ROLE_ADMINISTRATOR = "e8611ab8-c189-46e8-94e1-60213ab1f814"
CONSENT_ADMIN_ROLES = {
    GLOBAL_ADMINISTRATOR: "Global Administrator",
    PRIVILEGED_ROLE_ADMINISTRATOR: "Privileged Role Administrator",
}
GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
LEEWAY_S = 120  # clock skew allowed on exp / nbf / iat


class IdTokenRejected(Exception):
    """The ID token does not prove what the consent flow needs. `outcome` names the refusal (id_token_invalid,
    tenant_mismatch, roles_missing, not_admin); `reason` says which check, in plain words (never a claim value
    beyond ids)."""

    def __init__(self, outcome: str, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


@dataclass(frozen=True)
class ConsentAdmin:
    object_id: str
    tenant_id: str
    roles: tuple[str, ...]  # names of the consent-admin roles held


def verified_claims(
    token: str, jwks: Mapping[str, Any], *, issuer: str, client_id: str, nonce: str, now: float
) -> dict[str, Any]:
    """The claims of a signed, current ID token issued by `issuer` for `client_id` carrying `nonce`; otherwise
    IdTokenRejected('id_token_invalid')."""
    import jwt

    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != "RS256":
            raise IdTokenRejected("id_token_invalid", f"unexpected signing algorithm {str(header.get('alg'))[:10]}")
        keys = [k for k in jwks.get("keys", []) if isinstance(k, dict) and k.get("kid") == header.get("kid")]
        if len(keys) != 1:
            raise IdTokenRejected("id_token_invalid", "signed with a key the tenant does not publish")
        key = jwt.PyJWK(keys[0]).key
        options: Any = {"verify_exp": False, "verify_nbf": False, "verify_iat": False, "require": ["exp", "iat"]}
        claims: dict[str, Any] = jwt.decode(
            token, key, algorithms=["RS256"], audience=client_id, issuer=issuer, options=options
        )
    except IdTokenRejected:
        raise
    except jwt.InvalidAudienceError:
        raise IdTokenRejected("id_token_invalid", "issued for another application (aud)") from None
    except jwt.InvalidIssuerError:
        raise IdTokenRejected("id_token_invalid", "issued by another authority (iss)") from None
    except jwt.PyJWTError as exc:
        raise IdTokenRejected("id_token_invalid", f"not a valid signed token ({type(exc).__name__})") from None
    if not isinstance(claims.get("exp"), int) or claims["exp"] + LEEWAY_S <= now:
        raise IdTokenRejected("id_token_invalid", "expired (exp)")
    if isinstance(claims.get("nbf"), int) and claims["nbf"] - LEEWAY_S > now:
        raise IdTokenRejected("id_token_invalid", "not valid yet (nbf)")
    if not isinstance(claims.get("iat"), int) or claims["iat"] - LEEWAY_S > now:
        raise IdTokenRejected("id_token_invalid", "issued in the future (iat)")
    given = claims.get("nonce")
    if not isinstance(given, str) or not hmac.compare_digest(given, nonce):
        raise IdTokenRejected("id_token_invalid", "the nonce is not the one this sign-in sent")
    return claims


CONSUMER_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"  # personal Microsoft accounts: never a customer tenant


def issuer_for(template: str, tid: str) -> str:
    """The issuer a multi-tenant ID token must carry: the `{tenantid}` template with the token's `tid`."""
    return template.replace("{tenantid}", tid)


def verified_tenant_claims(
    token: str, jwks: Mapping[str, Any], *, issuer_template: str, client_id: str, nonce: str, now: float
) -> dict[str, Any]:
    """verified_claims for a token of any organisation's tenant: its (unverified) `tid` must be a GUID other than
    the consumer tenant; it picks the issuer (template) that the signature check then proves, and a key that names
    its own issuer must name the same one. IdTokenRejected('id_token_invalid') otherwise."""
    import jwt

    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise IdTokenRejected("id_token_invalid", "not a valid signed token") from None
    tid = str(unverified.get("tid", "")).lower()
    if not GUID.fullmatch(tid) or tid == CONSUMER_TENANT:
        raise IdTokenRejected("id_token_invalid", "no organisation tenant (tid)")
    issuer = issuer_for(issuer_template, tid)
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        raise IdTokenRejected("id_token_invalid", "not a valid signed token") from None
    for key in jwks.get("keys", []):
        named = key.get("issuer") if isinstance(key, dict) and key.get("kid") == kid else None
        if isinstance(named, str) and issuer_for(named, tid) != issuer:
            raise IdTokenRejected("id_token_invalid", "signed with a key of another issuer")
    claims = verified_claims(token, jwks, issuer=issuer, client_id=client_id, nonce=nonce, now=now)
    if str(claims.get("tid", "")).lower() != tid:  # the same token: cannot differ, kept as the rule
        raise IdTokenRejected("id_token_invalid", "the tenant changed")
    return claims


def consent_admin(claims: Mapping[str, Any], tenant_id: str) -> ConsentAdmin:
    """The signed-in account, if it belongs to `tenant_id` and holds a role that may grant tenant-wide consent to
    Microsoft Graph application permissions (from `wids`); otherwise IdTokenRejected."""
    tid = str(claims.get("tid", "")).lower()
    if tid != tenant_id.lower():
        raise IdTokenRejected("tenant_mismatch", f"the account signed in to tenant {tid[:36] or 'none'}")
    wids = claims.get("wids")
    if not isinstance(wids, list):
        raise IdTokenRejected("roles_missing", "the ID token has no wids claim")
    held = tuple(CONSENT_ADMIN_ROLES[w] for w in sorted({str(w).lower() for w in wids}) if w in CONSENT_ADMIN_ROLES)
    if not held:
        raise IdTokenRejected("not_admin", "the account holds no Global or Privileged Role Administrator role")
    return ConsentAdmin(object_id=str(claims.get("oid", ""))[:36], tenant_id=tid, roles=held)
