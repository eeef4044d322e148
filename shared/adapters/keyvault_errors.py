"""How Key Vault's answers become the connector's typed errors or retries (used by KeyVaultSecretStore only)."""

from __future__ import annotations

import email.utils
import json
import time
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

from shared.errors import ConnectorError, SecretAccessDenied, SecretConflict, SecretNotFound, ValidationError

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# 409s that clear by themselves: the name is mid-delete or mid-recovery on the service side ("Secret is currently
# being deleted"). They are waited out (bounded by the adapter's delete wait), not counted as failed attempts.
PENDING_CONFLICTS = frozenset({"ObjectIsBeingDeleted", "ObjectIsBeingRecovered"})


@dataclass(frozen=True)
class Retry:
    """Try again: `pending` when the vault is still finishing a delete or recovery of the name."""

    reason: str
    hint: float | None  # the server's Retry-After, in seconds
    pending: bool = False


def _body(response: Any) -> Any:
    try:
        return json.loads(response.text()) if response is not None else None
    except (ValueError, TypeError, AttributeError):
        return None


def error_codes_of(response: Any) -> tuple[str | None, str | None]:
    """Key Vault's `error.code` and `error.innererror.code` from a response body, when there is one."""
    body = _body(response)
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None
    inner = error.get("innererror")
    return error.get("code"), inner.get("code") if isinstance(inner, dict) else None


def is_pending_conflict(response: Any) -> bool:
    """A 409 saying the name is still being deleted or recovered."""
    return getattr(response, "status_code", None) == 409 and error_codes_of(response)[1] in PENDING_CONFLICTS


def retry_after(exc: HttpResponseError) -> float | None:
    response = getattr(exc, "response", None)
    raw = response.headers.get("Retry-After") if response is not None else None
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        try:
            return max(0.0, email.utils.parsedate_to_datetime(raw).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def classify(exc: HttpResponseError, what: str, name: str) -> ConnectorError | Retry:
    """The typed error to raise, or how to retry. `what` is the operation in words ("reading", "purging")."""
    status = exc.status_code or 0
    code, inner = error_codes_of(getattr(exc, "response", None))
    if isinstance(exc, ClientAuthenticationError) or status == 401:
        return SecretAccessDenied(
            f"Key Vault did not accept the app's identity while {what} {name!r}", code="secret_store_unauthenticated"
        )
    if status == 404:
        return SecretNotFound(f"Key Vault has no secret {name!r} ({what})")
    if status == 409:
        if inner in PENDING_CONFLICTS:
            return Retry(f"409 {inner}", retry_after(exc), pending=True)
        return SecretConflict(f"Secret {name!r} is deleted but recoverable in Key Vault: recover or purge it first")
    if status == 403:
        if inner == "SecretDisabled":
            return SecretAccessDenied(f"Secret {name!r} is disabled in Key Vault", code="secret_disabled")
        return SecretAccessDenied(
            f"The app's identity may not use Key Vault secrets ({what} {name!r}): "
            "grant it the 'Key Vault Secrets Officer' role on the vault"
        )
    if status == 400:
        return ValidationError({"secret": f"Key Vault refused {what} {name!r}: {code or 'BadParameter'}"})
    if status in RETRYABLE_STATUS:
        return Retry(f"{status} {code or ''}".strip(), retry_after(exc))
    return ConnectorError(f"Key Vault answered {status} {code or ''} while {what} {name!r}", code="secret_store_error")
