"""Password-rotation decisions: who is due, who is skipped and why, version tags and the run report. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.domain.secret_values import SecretVersionInfo

STATUS_TAG = "status"
PENDING = "pending"
CURRENT = "current"
SUPERSEDED = "superseded"
FAILED = "failed"
LOCK_TTL = timedelta(minutes=10)


class Skip(StrEnum):
    ON_PREMISES = "on_premises_synced"  # writeback needs a delegated-only API
    DISABLED = "account_disabled"
    PRIVILEGED = "privileged_account_denied"  # Graph answered 403 Authorization_RequestDenied to the PATCH
    NOT_FOUND = "user_not_found"
    NOT_IN_SCOPE = "not_in_rotation_scope"
    BUSY = "rotation_in_progress"  # another rotation holds the user's lock
    OTHER_OWNER = "rotated_by_another_connection"  # another connection of the tenant owns this user's rotation


def skip_reason(user: Mapping[str, Any] | None) -> Skip | None:
    """Why a user read from Graph cannot be rotated, or None when it can."""
    if user is None:
        return Skip.NOT_FOUND
    if user.get("onPremisesSyncEnabled") is True:
        return Skip.ON_PREMISES
    if user.get("accountEnabled") is False:
        return Skip.DISABLED
    return None


def due_set(rotation_members: Iterable[str], scope: Iterable[str]) -> list[str]:
    """Users to consider: members of the rotation group who are also in sync scope, in a stable order."""
    return sorted(set(rotation_members) & set(scope))


def is_due(state: Mapping[str, Any] | None, now: datetime) -> bool:
    """Due when never rotated, or when the stored next-due time has come."""
    if not state or not state.get("next_due_at"):
        return True
    return datetime.fromisoformat(str(state["next_due_at"])) <= now


def next_due(now: datetime, interval_days: int) -> datetime:
    return now + timedelta(days=max(1, interval_days))


def lock_is_free(state: Mapping[str, Any] | None, now: datetime) -> bool:
    if not state or not state.get("lock_owner"):
        return True
    expires = state.get("lock_expires_at")
    return not expires or datetime.fromisoformat(str(expires)) <= now


def status_of(info: SecretVersionInfo) -> str:
    return str(info.tags.get(STATUS_TAG, ""))


def needs_resolution(state: Mapping[str, Any]) -> bool:
    """A user whose last attempt may have left a pending version in Key Vault (an unknown answer, a failure, or a
    crash that kept the lock): every run looks at it first, whatever its due date."""
    return bool(state.get("needs_resolution") or state.get("pending_version") or state.get("lock_owner"))


def with_status(tags: Mapping[str, str], status: str, **extra: str) -> dict[str, str]:
    return {**tags, STATUS_TAG: status, **{k.replace("_", "-"): v for k, v in extra.items()}}


@dataclass
class RotationReport:
    """What one run did, by user id. Holds version ids and reasons, never a password."""

    connection_id: str
    run_id: str
    considered: int = 0
    rotated: dict[str, str] = field(default_factory=dict)  # user id -> Key Vault version now current
    resolved: dict[str, str] = field(default_factory=dict)  # user id -> pending version completed after a crash
    pending: dict[str, str] = field(default_factory=dict)  # user id -> why Entra's answer is not known yet
    skipped: dict[str, str] = field(default_factory=dict)  # user id -> Skip reason
    failed: dict[str, str] = field(default_factory=dict)  # user id -> error code
    not_due: int = 0
    blocked: dict[str, str] = field(default_factory=dict)  # reason, detail, remedy when no reset can work

    def to_dict(self) -> dict[str, Any]:
        return {
            "connection_id": self.connection_id,
            "run_id": self.run_id,
            "considered": self.considered,
            "rotated": dict(sorted(self.rotated.items())),
            "resolved": dict(sorted(self.resolved.items())),
            "pending": dict(sorted(self.pending.items())),
            "skipped": dict(sorted(self.skipped.items())),
            "failed": dict(sorted(self.failed.items())),
            "not_due": self.not_due,
            "blocked": dict(self.blocked) or None,
        }
