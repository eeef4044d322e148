"""Key Vault's rules for secrets, without state: limits, the errors it answers and the checks of a request body."""

from __future__ import annotations

import re
from typing import Any

NAME_PATTERN = re.compile(r"^[0-9A-Za-z-]{1,127}$")
MAX_VALUE_BYTES = 25 * 1024  # Key Vault: a secret value is at most 25 KB
MAX_CONTENT_TYPE = 255  # "The maximum length of this field is 255 characters" (About Azure Key Vault secrets)
MAX_TAGS = 15
MAX_TAG_NAME = 512
MAX_TAG_VALUE = 256
DELETE_DELAY_S = 3.0  # a delete completes seconds later ("deletion may take several seconds to complete")
RECOVERY_LEVEL = "Recoverable+Purgeable"  # soft delete on, purge protection off: a new vault's default
PROTECTED_RECOVERY_LEVEL = "Recoverable"  # purge protection on: deleted secrets wait out the retention period
PURGE_PROTECTED = (
    'Operation "purge" is not allowed because purge protection is enabled for this vault. '
    "Key Vault service will automatically purge it after the retention period has passed."
)
RECOVERABLE_DAYS = 90
CREATE_LIMIT = 300  # secret creates (new versions) per window per vault, as Azure documents
CREATE_WINDOW_S = 10.0
RECOVERY_HINT = (
    "If you recently deleted this secret you may be able to recover it using the correct recovery command. "
    "For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"
)


class VaultError(Exception):
    """A failure Key Vault reports as `{"error": {"code", "message", "innererror"?}}` with an HTTP status."""

    def __init__(
        self, status: int, code: str, message: str, *, inner_code: str | None = None, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.inner_code = inner_code
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.inner_code:
            error["innererror"] = {"code": self.inner_code}
        return {"error": error}


def bad_parameter(message: str) -> VaultError:
    return VaultError(400, "BadParameter", message)


def not_found(name: str, version: str = "") -> VaultError:
    ident = f"{name}/{version}" if version else name
    return VaultError(
        404, "SecretNotFound", f"A secret with (name/id) {ident} was not found in this key vault. " + RECOVERY_HINT
    )


def deleted_not_found(name: str) -> VaultError:
    return VaultError(404, "SecretNotFound", f"Deleted Secret not found: {name}")


def being_deleted(message: str) -> VaultError:
    """409 while a delete has not completed yet: the name is neither active nor (yet) in the deleted state."""
    return VaultError(409, "Conflict", message, inner_code="ObjectIsBeingDeleted")


def check_name(name: str) -> None:
    if not NAME_PATTERN.match(name):
        raise bad_parameter(f"The request URI contains an invalid name: {name}")


def check_tags(tags: Any) -> dict[str, str] | None:
    if tags is None:
        return None
    if not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        raise bad_parameter("Tags must be a JSON object of string names to string values.")
    if len(tags) > MAX_TAGS:
        raise bad_parameter(f"Too many tags: at most {MAX_TAGS} are allowed.")
    for key, value in tags.items():
        if not key or len(key) > MAX_TAG_NAME or len(value) > MAX_TAG_VALUE:
            raise bad_parameter(
                f"Tag names must be 1-{MAX_TAG_NAME} characters and tag values at most {MAX_TAG_VALUE} characters."
            )
    return dict(tags)


def check_content_type(body: dict[str, Any]) -> str | None:
    content_type = body.get("contentType")
    if content_type is not None and not isinstance(content_type, str):
        raise bad_parameter("contentType must be a string.")
    if content_type is not None and len(content_type) > MAX_CONTENT_TYPE:
        raise bad_parameter(f"contentType is too long: at most {MAX_CONTENT_TYPE} characters are allowed.")
    return content_type


def timestamp(attributes: dict[str, Any], key: str) -> int | None:
    value = attributes.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_parameter(f"Attribute {key} must be a Unix time in seconds.")
    return int(value)


def attributes_of(body: dict[str, Any]) -> dict[str, Any]:
    attributes = body.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise bad_parameter("attributes must be a JSON object.")
    if "enabled" in attributes and attributes["enabled"] is not None and not isinstance(attributes["enabled"], bool):
        raise bad_parameter("Attribute enabled must be true or false.")
    return attributes
