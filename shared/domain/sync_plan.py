"""Pure decisions of a directory sync: which rows to write, which users leave scope, whether the threshold stops
the run. Inputs are literal data; outputs are action lists the service applies."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from shared.domain.directory import INACTIVE, GroupRecord, UserRecord, user_status

ActionKind = Literal[
    "user.created",
    "user.updated",
    "user.restored",
    "user.deactivated",
    "user.deleted",
    "user.kept",
    "group.created",
    "group.updated",
    "group.deleted",
    "membership.added",
    "membership.removed",
]


@dataclass(frozen=True, slots=True)
class StoredUser:
    hash: str
    status: str  # active | disabled | inactive
    in_scope: bool
    groups: frozenset[str] = frozenset()


@dataclass(frozen=True)
class UserWrite:
    kind: ActionKind  # user.created | user.updated | user.restored
    record: UserRecord
    status: str


@dataclass(frozen=True)
class Removal:
    """A user leaving scope (or deleted in Entra) and what the removal behaviour makes of it."""

    kind: ActionKind  # user.deactivated | user.deleted | user.kept
    user_id: str
    reason: str  # left_scope | deleted


def plan_user_writes(
    records: Iterable[UserRecord], stored: Mapping[str, StoredUser], scope: set[str] | None
) -> list[UserWrite]:
    """Writes for fetched users that are in scope: new, changed, back in scope, or enabled/disabled in Entra.
    A user whose hash and status are unchanged is not rewritten. `scope` None means everyone is in scope."""
    writes: list[UserWrite] = []
    for record in records:
        if scope is not None and record.id not in scope:
            continue
        status = user_status(record)
        before = stored.get(record.id)
        if before is None:
            writes.append(UserWrite("user.created", record, status))
        elif before.status == INACTIVE or not before.in_scope:
            writes.append(UserWrite("user.restored", record, status))
        elif before.hash != record.hash or before.status != status:
            writes.append(UserWrite("user.updated", record, status))
    return writes


@dataclass(frozen=True)
class MemberOf:
    """What memberOf says of users entering scope: their links by group, each group's entry, and who is gone."""

    links: dict[str, frozenset[str]]  # group id -> users to link
    groups: dict[str, Mapping[str, Any]]  # group id -> the group as memberOf returned it (for its row)
    gone: frozenset[str]  # users memberOf no longer finds (404)


def plan_member_of(users: Iterable[str], memberships: Mapping[str, Sequence[Mapping[str, Any]] | None]) -> MemberOf:
    """The links memberOf gives `users`, and the users it answered 404 for (None): deleted after the users round
    named them. Their memberships are unknown, not empty: stored as members of nothing, such a user came back at
    its restore as a mere update of a stored user, and its links were never read again. A user memberOf was not
    asked about counts as a member of nothing."""
    links: dict[str, set[str]] = {}
    groups: dict[str, Mapping[str, Any]] = {}
    gone = set()
    for uid in sorted(set(users)):
        found = memberships.get(uid, [])
        if found is None:
            gone.add(uid)
            continue
        for group in found:
            gid = str(group.get("id", ""))
            if gid:
                links.setdefault(gid, set()).add(uid)
                groups[gid] = group
    return MemberOf({g: frozenset(u) for g, u in links.items()}, groups, frozenset(gone))


def plan_removals(
    stored: Mapping[str, StoredUser], scope: set[str], deleted: set[str], behaviour: str
) -> list[Removal]:
    """Stored in-scope users no longer in scope. `deleted` holds ids Entra reported deleted (for the reason)."""
    kind: ActionKind = {"deactivate": "user.deactivated", "delete": "user.deleted"}.get(behaviour, "user.kept")  # type: ignore[assignment]
    removals = []
    for user_id, before in stored.items():
        if user_id in scope or not before.in_scope:
            continue
        if kind == "user.deactivated" and before.status == INACTIVE:
            continue
        removals.append(Removal(kind, user_id, "deleted" if user_id in deleted else "left_scope"))
    return sorted(removals, key=lambda r: r.user_id)


def threshold_exceeded(removal_count: int, stored_count: int, limit: int, percent: int | None) -> bool:
    """True when a run would remove more objects than allowed: the absolute limit, or the percentage of what is
    stored when one is set (whichever is smaller)."""
    allowed = limit
    if percent is not None and stored_count > 0:
        allowed = min(allowed, (stored_count * percent) // 100)
    return removal_count > allowed


def plan_group_writes(
    records: Iterable[GroupRecord], stored: Mapping[str, str]
) -> list[tuple[ActionKind, GroupRecord]]:
    """Group rows to write: new groups and groups whose kept attributes changed (stored: id -> hash)."""
    out: list[tuple[ActionKind, GroupRecord]] = []
    for record in records:
        before = stored.get(record.id)
        if before is None:
            out.append(("group.created", record))
        elif before != record.hash:
            out.append(("group.updated", record))
    return out


def latest_by_id(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """A delta round's user entries, one per id: the last one names the object's latest state (a round may repeat
    an entry: docs/emulators-entra.md, delta duplicates). Entries without an id are kept, for the caller to report
    as skipped."""
    out: dict[Any, dict[str, Any]] = {}
    for n, item in enumerate(items):
        key = str(item["id"]) if "id" in item else ("no-id", n)
        out.pop(key, None)
        out[key] = item
    return list(out.values())
