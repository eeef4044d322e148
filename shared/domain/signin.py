"""End-user sign-in decisions (pure): which return URLs are allowed, what Entra's answer means, the pages of each
outcome (fixed texts, with the remedy an administrator can act on), the hand-off code's hash, and the groups form
of an ID token. docs/signin.md tells the flow."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

HANDOFF_TTL_S = 60  # the product's backend exchanges the code within a minute, once
HANDOFF_CODE = re.compile(r"[A-Za-z0-9_-]{43}")  # 32 random bytes, base64url
STATE_PARTITION = "signin"  # consentstates rows of sign-in flows (RowKey: the state's nonce)
HANDOFF_PARTITION = "handoff"  # consentstates rows of hand-off codes (RowKey: the code's SHA-256)


@dataclass(frozen=True)
class Outcome:
    status: int
    title: str
    message: str
    remedy: tuple[str, ...] = ()


OUTCOMES: dict[str, Outcome] = {
    "bad_request": Outcome(400, "Sign-in refused", "The sign-in link is not valid."),
    "bad_state": Outcome(400, "Sign-in refused", "This sign-in answer was not started here, or it has expired."),
    "wrong_browser": Outcome(400, "Sign-in refused", "This sign-in was started in another browser: start again."),
    "already_used": Outcome(400, "Sign-in refused", "This sign-in answer was already used: start again."),
    "no_code": Outcome(400, "Sign-in refused", "The sign-in answer carries no authorization code: start again."),
    "cancelled": Outcome(400, "Sign-in cancelled", "The sign-in was cancelled. You can start again."),
    "user_consent_disabled": Outcome(
        403,
        "An administrator must approve this app",
        "Users of your organisation may not consent to this app's permissions themselves.",
        (
            "An administrator of the tenant grants admin consent for the app's delegated permissions (Microsoft "
            "Entra admin center > Enterprise applications > the app > Permissions > Grant admin consent).",
            "Or the administrator lets users consent to low-impact permissions: Enterprise applications > Consent "
            "and permissions > User consent settings, and classifies openid, profile, email, offline_access and "
            "User.ReadBasic.All as low impact (Permission classifications).",
        ),
    ),
    "app_not_consented": Outcome(
        403,
        "This app is not set up in your organisation",
        "Your organisation has not consented to this app.",
        ("An administrator of the tenant connects it again (admin consent), then users can sign in.",),
    ),
    "wrong_tenant": Outcome(
        403,
        "Wrong organisation",
        "The account signed in belongs to another organisation than the one this sign-in is for.",
        ("Sign in with an account of the organisation the product is connected to.",),
    ),
    "not_connected": Outcome(403, "Sign-in refused", "This organisation is not connected to the product."),
    "id_token_invalid": Outcome(400, "Sign-in refused", "The sign-in could not be verified: start again."),
    "signin_failed": Outcome(502, "Sign-in failed", "Microsoft Entra ID did not complete the sign-in."),
    "out_of_scope": Outcome(
        403,
        "No access",
        "Your account is not in the group of users the product serves.",
        ("Ask an administrator to add you to the group the product's connection synchronises.",),
    ),
    "deactivated": Outcome(403, "Account not active", "Your account is deactivated or disabled for the product."),
    "outcome_unknown": Outcome(503, "Try again", "The sign-in could not be confirmed: start again in a moment."),
}

# AADSTS numbers in an error redirect, and what an administrator can do about them (Learn: "Microsoft Entra
# authentication and authorization error codes", "Unexpected error when performing consent to an application").
AADSTS_OUTCOMES = {
    90094: "user_consent_disabled",  # the grant requires admin permission (user consent is off)
    90008: "user_consent_disabled",  # the user or admin has not consented (admin approval required)
    65001: "app_not_consented",
    700016: "app_not_consented",  # the application was not found in the directory
    7000112: "app_not_consented",  # the application is disabled
    50020: "wrong_tenant",  # user account from another tenant
    700005: "wrong_tenant",  # the code is for another tenant
    65004: "cancelled",  # user declined to consent
}
AADSTS = re.compile(r"AADSTS(\d{5,7})")


def aadsts_of(text: str) -> int | None:
    found = AADSTS.search(text or "")
    return int(found.group(1)) if found else None


def answer_outcome(query: Mapping[str, str]) -> str | None:
    """The refusal Entra's answer carries (None: a code to redeem; 'no_code' when it carries neither)."""
    error = query.get("error")
    if not error:
        return None if query.get("code") else "no_code"
    number = aadsts_of(query.get("error_description", ""))
    if number in AADSTS_OUTCOMES:
        return AADSTS_OUTCOMES[number]
    if error == "access_denied":
        return "cancelled"
    if error == "consent_required":
        return "user_consent_disabled"
    return "signin_failed"


def redemption_outcome(aadsts: int | None) -> str:
    """What a failed code redemption means (replayed or expired codes are plain failures: start again)."""
    return AADSTS_OUTCOMES.get(aadsts or 0, "signin_failed")


def _parts(url: str) -> tuple[str, str, int | None, str] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.username or parts.password:
        return None
    default = {"https": 443, "http": 80}[parts.scheme]
    return parts.scheme, parts.hostname.lower(), port or default, parts.path or "/"


def allowed_return_to(raw: str | None, registered: Sequence[str]) -> str | None:
    """`raw` when it matches a registered return URL in scheme, host, port and path exactly (its query is kept, a
    fragment or a `code` parameter refused); None otherwise."""
    if not raw or len(raw) > 2048 or any(c in raw for c in "\r\n\t \\#"):
        return None
    given = _parts(raw)
    if given is None:
        return None
    query = urlsplit(raw).query
    if re.search(r"(^|&)code=", query):
        return None
    return raw if any(_parts(url) == given for url in registered) else None


def with_code(return_to: str, code: str) -> str:
    return f"{return_to}{'&' if '?' in return_to else '?'}code={code}"


def handoff_key(code: str) -> str:
    """The hand-off code as stored: its SHA-256 (hex). The raw code exists only in the redirect."""
    return hashlib.sha256(code.encode()).hexdigest()


def groups_claim(claims: Mapping[str, Any]) -> tuple[str, list[str]]:
    """How the ID token names the user's groups: ('listed', ids), ('overage', []) when `_claim_names` points
    elsewhere (more than 200 groups), or ('absent', []). The product's groups come from the directory copy."""
    names = claims.get("_claim_names")
    if isinstance(names, dict) and "groups" in names:
        return "overage", []
    groups = claims.get("groups")
    if isinstance(groups, list):
        return "listed", sorted(str(g).lower() for g in groups if isinstance(g, str))
    return "absent", []
