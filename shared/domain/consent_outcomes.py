"""What the consent callback answers, per outcome: a fixed status, title and text (never words from the query
string), and the pure decision on the admin-consent answer (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.domain.connection import Connection

DECLINED_ERRORS = ("consent_required", "access_denied")  # Learn's documented decline and the cancel
OAUTH_ERRORS = frozenset(
    {
        "access_denied",
        "consent_required",
        "interaction_required",
        "invalid_client",
        "invalid_request",
        "invalid_resource",
        "invalid_scope",
        "login_required",
        "server_error",
        "temporarily_unavailable",
        "unauthorized_client",
        "unsupported_response_type",
    }
)
START_AGAIN = "Nothing was changed. Start the connection again from the product."


@dataclass(frozen=True)
class Outcome:
    status: int
    title: str
    message: str


OUTCOMES: dict[str, Outcome] = {
    "declined": Outcome(
        200,
        "Consent was declined",
        "The administrator did not grant the permissions. Nothing was changed; start again to connect.",
    ),
    "consent_error": Outcome(
        200, "Consent did not complete", "Microsoft Entra reported an error during consent. " + START_AGAIN
    ),
    "not_granted": Outcome(
        400, "Consent was not granted", "Admin consent was not granted in this flow. " + START_AGAIN
    ),
    "tenant_mismatch": Outcome(
        400,
        "Wrong tenant",
        "Consent or sign-in happened in a different tenant than this connection's. " + START_AGAIN,
    ),
    "disabled": Outcome(
        409,
        "This connection is disabled",
        "The operator disabled this connection after the link was made, so consent cannot activate it. Nothing "
        "was changed; ask the operator to enable it, then connect again.",
    ),
    "bad_state": Outcome(
        400, "This consent link is not valid", "The link is malformed, forged or expired. " + START_AGAIN
    ),
    "already_used": Outcome(
        400, "This consent link is not valid", "This link was already used: each link works once. " + START_AGAIN
    ),
    "connection_removed": Outcome(400, "Connection not found", "The connection was removed. Create it again."),
    "wrong_browser": Outcome(
        400,
        "Sign-in did not start here",
        "This sign-in did not start in this browser: finish the flow in the browser where consent was given. "
        + START_AGAIN,
    ),
    "no_code": Outcome(
        400,
        "Sign-in did not complete",
        "The administrator did not sign in, so the tenant is not proven. " + START_AGAIN,
    ),
    "signin_cancelled": Outcome(200, "Sign-in was cancelled", "The sign-in was cancelled. " + START_AGAIN),
    "signin_failed": Outcome(
        400, "Sign-in could not be confirmed", "Microsoft Entra did not confirm the sign-in. " + START_AGAIN
    ),
    "id_token_invalid": Outcome(
        400, "Sign-in could not be verified", "The sign-in answer did not pass verification. " + START_AGAIN
    ),
    "roles_missing": Outcome(
        403,
        "The sign-in does not show the account's roles",
        "The ID token carries no directory roles (wids), so the administrator cannot be recognised. The operator "
        'must set groupMembershipClaims to "DirectoryRole" (or "All") in the operator app\'s manifest (App '
        "registrations > Manifest, or Token configuration > Add groups claim > Directory roles). Nothing was changed.",
    ),
    "not_admin": Outcome(
        403,
        "An administrator must sign in",
        "The account that signed in does not hold a role that may grant tenant-wide admin consent (Global "
        "Administrator or Privileged Role Administrator). Nothing was changed; sign in with such an account.",
    ),
    "not_confirmed": Outcome(
        400,
        "Consent could not be confirmed",
        "The operator app could not get a token for the tenant, so consent is not confirmed. " + START_AGAIN,
    ),
    "invite_invalid": Outcome(
        400,
        "This invitation link is not valid",
        "The link is malformed or was not issued by this product. Nothing was changed; ask the operator for a new "
        "invitation.",
    ),
    "invite_expired": Outcome(
        410, "This invitation has expired", "Nothing was changed; ask the operator for a new invitation."
    ),
    "invite_revoked": Outcome(
        410, "This invitation was withdrawn", "The operator revoked it. Nothing was changed; ask for a new one."
    ),
    "invite_used": Outcome(
        410,
        "This invitation was already used",
        "Consent was already completed through this link; each invitation works once. Nothing was changed.",
    ),
    "invite_unusable": Outcome(
        409,
        "This connection cannot be connected now",
        "The connection is disabled or does not use admin consent. Nothing was changed; ask the operator.",
    ),
    "outcome_unknown": Outcome(
        503,
        "The result is not known yet",
        "The connection could not be updated just now. Check the connection's status before starting again.",
    ),
}


def consent_answer_outcome(query: Mapping[str, str], connection: Connection) -> str | None:
    """The refusal for the admin-consent redirect (first leg), or None when the flow may go on to sign-in.

    `error` wins over everything (it may arrive with admin_consent=True); success needs exactly
    admin_consent=True and, when Entra sends it, the connection's tenant."""
    error = query.get("error")
    if error:
        return "declined" if error in DECLINED_ERRORS else "consent_error"
    if query.get("admin_consent") != "True":
        return "not_granted"
    given = query.get("tenant")
    if given is not None and given.lower() != connection.tenant_id:
        return "tenant_mismatch"
    if connection.state == "disabled":
        return "disabled"
    return None


def signin_answer_outcome(query: Mapping[str, str]) -> str | None:
    """The refusal for the sign-in redirect (second leg) before the code is redeemed, or None."""
    error = query.get("error")
    if error:
        return "signin_cancelled" if error == "access_denied" else "signin_failed"
    if not query.get("code"):
        return "no_code"
    return None


def audited_error(query: Mapping[str, str]) -> str:
    """The `error` code for the audit row: a known OAuth code as it is, anything else only as 'other'."""
    error = query.get("error") or ""
    return error if error in OAUTH_ERRORS else ("other error code" if error else "")
