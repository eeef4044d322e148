"""The incremental run's scope decision, pure: from the two delta rounds, the stored scope tree and scope facts and
the connection's settings, decide whether the scope must be listed again or which stored rows and links to read.

Stage 1 (`plan_scope`) needs only the delta rounds and the cursor; stage 2 (`after_rows`) the stored rows of the
users the rounds name. The service gathers those inputs and applies the answer; nothing here does I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.domain.directory import GROUP_TYPE, INACTIVE, USER_TYPE, removed_reason
from shared.domain.sync_plan import StoredUser

# why the scope is listed (the run record counts them as `scope.listed.<reason>`)
APPROVED = "approved_removals"
NO_TREE = "tree_unknown"
TREE_CHANGED = "tree_changed"
DIRTY = "scope_dirty"  # an earlier run (groups-only) applied tree changes without their effect on users
RETURNING = "user_returning"
HELD = "removals_held"  # removals wait for approval: each run re-plans them against the complete scope


@dataclass(frozen=True)
class DeltaFacts:
    """What the two delta rounds say, reduced to ids."""

    changed: frozenset[str]  # users users/delta names alive (created, changed, restored)
    gone: frozenset[str]  # users users/delta reports removed (soft or hard deleted)
    links: frozenset[tuple[str, str]]  # (group id, user id) of every user link groups/delta names
    removed_groups: frozenset[str]  # groups groups/delta reports deleted
    touched_groups: frozenset[str]  # groups whose user or nested-group members changed, or that were deleted


@dataclass(frozen=True)
class ScopeFacts:
    """What the cursor keeps about the scope, and the settings the decision depends on."""

    sync_group: str  # "" means every user is in scope
    tree: frozenset[str] | None  # the sync group and its nested groups (None: unknown)
    dirty: bool = False
    approved: bool = False
    held: bool = False
    users_stored: int = -1  # about how many users are stored (-1 unknown): prices a listing of the scope's ids


@dataclass(frozen=True)
class ScopePlan:
    list_scope: bool
    reason: str = ""
    rows: frozenset[str] = frozenset()  # stored user rows to read (when the scope is not listed)
    links: frozenset[tuple[str, str]] = frozenset()  # stored links to read beside them
    # Many changed users: list the scope's ids first (no full index of stored rows), then read only the rows of the
    # named users in it (`narrow_rows`); cheaper than a memberOf check per unknown user.
    ids_first: bool = False


LISTING_PAGE = 999  # ids per page of a scope listing
BATCH = 20  # memberOf checks per $batch request


def _scope_link(link: Mapping[str, Any]) -> bool:
    """A members@delta entry that can change the scope: a user or a nested group (an untyped entry counts)."""
    return link.get("@odata.type", USER_TYPE) in (USER_TYPE, GROUP_TYPE)


def delta_facts(user_items: Iterable[Mapping[str, Any]], group_items: Iterable[Mapping[str, Any]]) -> DeltaFacts:
    changed: set[str] = set()
    gone: set[str] = set()
    for item in user_items:
        if "id" not in item:
            continue
        (gone if removed_reason(dict(item)) else changed).add(str(item["id"]))
    links: set[tuple[str, str]] = set()
    removed_groups: set[str] = set()
    touched: set[str] = set()
    for group in group_items:
        gid = str(group.get("id", ""))
        if not gid:
            continue
        if removed_reason(dict(group)):
            removed_groups.add(gid)
            touched.add(gid)
        members = group.get("members@delta", [])
        if any(_scope_link(link) for link in members):
            touched.add(gid)
        for link in members:
            uid = str(link.get("id", ""))
            if uid and link.get("@odata.type", USER_TYPE) == USER_TYPE:
                links.add((gid, uid))
    return DeltaFacts(
        frozenset(changed - gone), frozenset(gone), frozenset(links), frozenset(removed_groups), frozenset(touched)
    )


def tree_touched(facts: DeltaFacts, tree: frozenset[str] | None) -> bool:
    """True when a group of the sync tree changed user or group members or was deleted (or the tree is unknown).
    Devices, service principals and contacts joining or leaving the tree cannot change the scope."""
    return tree is None or bool(facts.touched_groups & tree)


def plan_scope(facts: DeltaFacts, scope: ScopeFacts) -> ScopePlan:
    """Stage 1: list the scope, or read only the rows and links the rounds name."""
    if scope.approved:  # held removals are applied against the complete scope
        return ScopePlan(True, APPROVED)
    if scope.held:
        return ScopePlan(True, HELD)
    if scope.dirty:
        return ScopePlan(True, DIRTY)
    if scope.sync_group and tree_touched(facts, scope.tree):
        return ScopePlan(True, NO_TREE if scope.tree is None else TREE_CHANGED)
    linked = {uid for _, uid in facts.links}
    pairs = {(g, u) for g, u in facts.links if g not in facts.removed_groups}
    listing_pages = max(1, -(-max(scope.users_stored, 0) // LISTING_PAGE))
    ids_first = bool(scope.sync_group) and scope.users_stored >= 0 and -(-len(facts.changed) // BATCH) > listing_pages
    return ScopePlan(False, "", frozenset(facts.changed | facts.gone | linked), frozenset(pairs), ids_first)


def narrow_rows(plan: ScopePlan, facts: DeltaFacts, listed: set[str]) -> frozenset[str]:
    """With the scope's ids listed first: the rows worth reading are the named users in scope, and the deleted
    ones (leaving). A changed user outside the scope cannot have left it without a tree change (which lists)."""
    return frozenset((plan.rows & listed) | facts.gone)


def returning(facts: DeltaFacts, stored: Mapping[str, StoredUser]) -> bool:
    """Stage 2: a named user that comes back (stored out of scope or inactive) needs the complete scope."""
    return any(uid in stored and (not stored[uid].in_scope or stored[uid].status == INACTIVE) for uid in facts.changed)


def unstored(facts: DeltaFacts, stored: Mapping[str, StoredUser]) -> frozenset[str]:
    """Changed users nobody stores: in scope only if a direct member of a group of the tree (checked by memberOf)."""
    return frozenset(facts.changed - set(stored))


def partial_scope(
    facts: DeltaFacts, stored: Mapping[str, StoredUser], sync_group: str, entering: Iterable[str]
) -> set[str]:
    """The scope as far as the run needs it without a listing: the stored in-scope users the rounds did not report
    deleted, plus the unstored users found to be entering; without a sync group every named live user."""
    if not sync_group:
        return set(facts.changed | {uid for _, uid in facts.links}) - facts.gone
    kept = {u for u, s in stored.items() if s.in_scope and s.status != INACTIVE}
    return (kept - facts.gone) | set(entering)
