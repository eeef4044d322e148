"""Who an AD connection's hourly rotation picks, and what its per-user schedule row says after an agent's answer.
Pure: the members of the rotation group (as the last AD sync read them), the active synced users, the schedule rows
(rotationstate) and the users already in an open rotation job go in; a sorted list of user ids comes out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from shared.domain.rotation import is_due, next_due

MEMBER_FLAG = "ad_rotation_member"  # rotationstate column: in the rotation group when the last AD sync read it
RETRY_REFUSED_DAYS = 1  # a policy refusal is tried again the next day, not every hour


def due_users(
    states: Mapping[str, Mapping[str, Any]],
    active: Iterable[str],
    busy: Iterable[str],
    now: datetime,
    limit: int,
) -> list[str]:
    """Members of the rotation group who are active and in sync scope, not in an open rotation job, and either due
    (never rotated, or their password is older than the interval) or left with a pending version: at most `limit`,
    the pending ones and the longest-waiting first."""
    taken, eligible = set(busy), set(active)
    picked = []
    for uid, row in states.items():
        if not row.get(MEMBER_FLAG) or uid not in eligible or uid in taken:
            continue
        if row.get("pending_version") or is_due(row, now):
            picked.append((not row.get("pending_version"), str(row.get("next_due_at") or ""), uid))
    return [uid for *_, uid in sorted(picked)[:limit]]


def membership_changes(states: Mapping[str, Mapping[str, Any]], members: Iterable[str]) -> tuple[list[str], list[str]]:
    """(users who joined the rotation group, users who left it) against the stored flags: only these rows change."""
    wanted = set(members)
    flagged = {uid for uid, row in states.items() if row.get(MEMBER_FLAG)}
    return sorted(wanted - flagged), sorted(flagged - wanted)


def state_after(
    outcome: str, version: str, now: datetime, interval_days: int, *, current: str | None, other_pending: bool
) -> dict[str, Any] | None:
    """The schedule row's new fields after an agent's answer for one user (None: leave the row as it is)."""
    if outcome == "already_resolved":
        if other_pending:
            return None  # a newer rotation holds a pending version: its answer decides
        outcome = "set" if current == version else "cleared"
    if outcome == "set":
        return {"pending_version": "", "needs_resolution": False, "current_version": version,
                "last_rotated_at": now.isoformat(), "next_due_at": next_due(now, interval_days).isoformat(),
                "last_result": "rotated", "last_reason": ""}  # fmt: skip
    if outcome == "refused":
        return {"pending_version": "", "needs_resolution": False, "last_result": "failed",
                "next_due_at": next_due(now, RETRY_REFUSED_DAYS).isoformat()}  # fmt: skip
    if outcome == "cleared":
        return {"pending_version": "", "needs_resolution": False}
    return {"pending_version": version, "needs_resolution": True, "last_result": "pending"}
