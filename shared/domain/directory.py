"""Directory records as the connector stores them: which Graph attributes are kept, and their content hashes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

USER_ATTRIBUTES: tuple[str, ...] = (
    "id",
    "userPrincipalName",
    "mail",
    "displayName",
    "givenName",
    "surname",
    "jobTitle",
    "department",
    "accountEnabled",
    "onPremisesSyncEnabled",
    "mobilePhone",
    "officeLocation",
    "userType",
)
GROUP_ATTRIBUTES: tuple[str, ...] = ("id", "displayName", "description", "mail", "mailEnabled", "securityEnabled")
GROUP_DELTA_SELECT: tuple[str, ...] = (*GROUP_ATTRIBUTES, "members")

USER_TYPE = "#microsoft.graph.user"
GROUP_TYPE = "#microsoft.graph.group"

# A user row's status: active (in scope, enabled), disabled (in scope, accountEnabled false in Entra),
# inactive (left scope or deleted in Entra, removal behaviour "deactivate"; restored when they come back).
ACTIVE, DISABLED, INACTIVE = "active", "disabled", "inactive"


def content_hash(values: dict[str, Any]) -> str:
    return hashlib.blake2b(json.dumps(values, sort_keys=True, default=str).encode(), digest_size=12).hexdigest()


@dataclass(frozen=True)
class UserRecord:
    """A user's kept attributes (Graph names) and their hash; the hash decides whether the row is rewritten."""

    id: str
    attributes: dict[str, Any]
    hash: str

    @property
    def enabled(self) -> bool:
        return self.attributes.get("accountEnabled") is not False


@dataclass(frozen=True)
class GroupRecord:
    id: str
    attributes: dict[str, Any]
    hash: str


def user_record(graph_user: dict[str, Any], defaults: dict[str, Any] | None = None) -> UserRecord:
    """Keep only the attributes the product needs. Defaults change the hash so a new default rewrites the row."""
    kept = {name: graph_user.get(name) for name in USER_ATTRIBUTES if name != "id"}
    hashed = {**kept, "__defaults": defaults or {}}
    return UserRecord(id=str(graph_user["id"]), attributes=kept, hash=content_hash(hashed))


def group_record(graph_group: dict[str, Any]) -> GroupRecord:
    kept = {name: graph_group.get(name) for name in GROUP_ATTRIBUTES if name != "id"}
    return GroupRecord(id=str(graph_group["id"]), attributes=kept, hash=content_hash(kept))


def removed_reason(item: dict[str, Any]) -> str | None:
    """'changed' (soft-deleted, restorable) or 'deleted' (gone) for a delta tombstone; None for a live object."""
    removed = item.get("@removed")
    if not isinstance(removed, dict):
        return None
    return str(removed.get("reason") or "deleted")


def user_status(record: UserRecord) -> str:
    return ACTIVE if record.enabled else DISABLED
