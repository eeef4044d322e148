"""Key Vault secret names and tags for the connector's secrets: pure, valid by construction, never colliding.

Key Vault allows letters, digits and dashes, 1-127 characters, and compares names case-insensitively. Each id
goes into a name as a fixed-width 36-character slot: a GUID in canonical lower-case form as it is, anything
else as "x" + 35 hex characters of its SHA-256. Templates have distinct prefixes and suffixes and their slots
sit at fixed positions, so different (kind, ids) never give the same name (GUIDs are compared case-insensitively,
as Entra does). Names never contain the secret or anything secret.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

NAME_PATTERN = re.compile(r"^[0-9A-Za-z-]{1,127}$")
GUID_PATTERN = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
SLOT_WIDTH = 36
MAX_TAG_VALUE = 256  # Key Vault: tag values up to 256 characters, at most 15 tags
MANAGED_BY = "entra-connector"


class SecretKind(StrEnum):
    CLIENT_SECRET = "client-secret"  # noqa: S105 (a kind, not a secret); a customer's app registration client secret, per connection
    CLIENT_CERT = "client-cert"  # a customer's app registration certificate (PEM with key), per connection
    PASSWORD = "password"  # noqa: S105 (a kind, not a secret); a rotated password of one directory user, per connection
    SIGNING_KEY = "signing-key"  # the keys that sign consent-flow state and console sessions
    NOTIFY_STATE = "notify-state"  # the clientState of a connection's Graph change-notification subscriptions


CONSENT_STATE_SIGNING_KEY = "consent-state-signing-key"
CONSOLE_SESSION_SIGNING_KEY = "console-session-signing-key"  # console session cookies and sign-in state


def is_valid_secret_name(name: str) -> bool:
    return bool(NAME_PATTERN.match(name))


def id_slot(identifier: str) -> str:
    """A 36-character, name-safe stand-in for an id: the GUID itself (lower case) or "x" + a stable hash."""
    if not identifier:
        raise ValueError("an id must not be empty")
    if GUID_PATTERN.match(identifier):
        return identifier.lower()
    return "x" + hashlib.sha256(identifier.encode("utf-8")).hexdigest()[: SLOT_WIDTH - 1]


def client_secret_name(connection_id: str) -> str:
    return f"conn-{id_slot(connection_id)}-client-secret"


def client_cert_name(connection_id: str) -> str:
    return f"conn-{id_slot(connection_id)}-client-cert"


def notification_state_name(connection_id: str) -> str:
    """The clientState of the connection's Graph subscriptions (a shared secret Graph echoes in notifications)."""
    return f"conn-{id_slot(connection_id)}-notify-state"


def password_name(connection_id: str, user_id: str) -> str:
    return f"pwd-{id_slot(connection_id)}-{id_slot(user_id)}"


def _tag_safe(identifier: str) -> str:
    return identifier if len(identifier) <= MAX_TAG_VALUE else id_slot(identifier)


@dataclass(frozen=True)
class SecretRef:
    """Where a secret lives (its name) and the metadata tags written with every version."""

    name: str
    tags: Mapping[str, str] = field(default_factory=dict)

    def with_tags(self, **extra: str) -> Mapping[str, str]:
        """The ref's tags plus extra ones (keys with underscores become dashes, e.g. rotated_at -> rotated-at)."""
        return {**self.tags, **{k.replace("_", "-"): v for k, v in extra.items()}}


def _tags(kind: SecretKind, connection_id: str | None = None, object_id: str | None = None) -> dict[str, str]:
    tags = {"managed-by": MANAGED_BY, "kind": kind.value}
    if connection_id is not None:
        tags["connection-id"] = _tag_safe(connection_id)
    if object_id is not None:
        tags["object-id"] = _tag_safe(object_id)
    return tags


def client_secret_ref(connection_id: str) -> SecretRef:
    return SecretRef(client_secret_name(connection_id), _tags(SecretKind.CLIENT_SECRET, connection_id))


def client_cert_ref(connection_id: str) -> SecretRef:
    return SecretRef(client_cert_name(connection_id), _tags(SecretKind.CLIENT_CERT, connection_id))


def password_ref(connection_id: str, user_id: str) -> SecretRef:
    return SecretRef(password_name(connection_id, user_id), _tags(SecretKind.PASSWORD, connection_id, user_id))


def notification_state_ref(connection_id: str) -> SecretRef:
    return SecretRef(notification_state_name(connection_id), _tags(SecretKind.NOTIFY_STATE, connection_id))


def consent_signing_key_ref() -> SecretRef:
    return SecretRef(CONSENT_STATE_SIGNING_KEY, _tags(SecretKind.SIGNING_KEY))


def console_signing_key_ref() -> SecretRef:
    return SecretRef(CONSOLE_SESSION_SIGNING_KEY, _tags(SecretKind.SIGNING_KEY))
