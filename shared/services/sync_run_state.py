"""A sync run's state as one explicit value: the part the checkpoint carries between invocations (`Checkpoint`:
phase, paging and delta links, totals, and the facts one phase hands a later one) and the working set one invocation
rebuilds from Graph and the store (scope, stored index, delta rounds, users entering scope)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.adapters.sync_state import Checkpoint
from shared.domain.sync_plan import StoredUser, UserWrite


@dataclass
class RunState:
    """Phases read and change this one value (`RunBase.rs`); `cp` is what a continued invocation restores, the rest
    is rebuilt by the next invocation's loading step (`UsersPhase._load_state`)."""

    cp: Checkpoint
    checkpointed: bool = False  # a stored checkpoint exists (this run was resumed, or saved one)
    # -- the working set of this invocation ------------------------------------------------------------------
    scope: set[str] = field(default_factory=set)  # ids of the users in scope (complete or, see scope_complete, not)
    scope_from_listing: bool = False  # a fresh full run learns the scope from its own user listing
    scope_complete: bool = True  # False when an incremental run knows the scope only for the ids it touches
    stored: dict[str, StoredUser] = field(default_factory=dict)
    stored_groups: dict[str, str] = field(default_factory=dict)  # group id -> content hash
    group_anchors: dict[str, str] = field(default_factory=dict)  # group id -> a member it had (a hint, see store)
    written: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    # Users entering scope in an incremental run (new, back from deletion or from outside the scope): their
    # memberships come from memberOf, and their rows are written after those links (see UsersPhase.fill).
    entering: set[str] = field(default_factory=set)
    deferred: list[UserWrite] = field(default_factory=list)
    # memberOf read this run, by user; None: Graph no longer has the user (see sync_plan.plan_member_of)
    memberships: dict[str, list[dict[str, Any]] | None] = field(default_factory=dict)
    user_items: list[dict[str, Any]] = field(default_factory=list)  # an incremental run's delta rounds
    group_items: list[dict[str, Any]] = field(default_factory=list)
    new_tree: frozenset[str] | None = None  # the sync group's tree, read at the end of a run that knows its scope
    # links read ahead by an incremental run: (asked, found, the store's link writes at the time)
    known_links: tuple[set[tuple[str, str]], set[tuple[str, str]], int] = (set(), set(), -1)
    storage_loss: dict[str, int] = field(default_factory=dict)  # the copy is far smaller than the cursor expects

    @classmethod
    def resume(cls, cp: Checkpoint) -> RunState:
        """The state an invocation starts from: a new run's, or a continued one's (its checkpoint)."""
        return cls(cp=cp, checkpointed=cp.invocations > 0)

    # -- facts a phase hands a later one: kept in the checkpoint, so a continued run still has them ----------
    @property
    def scope_dirty(self) -> bool:
        """A groups-only run applied sync-tree changes whose effect on users it leaves to the next incremental run."""
        return self.cp.scope_dirty

    @scope_dirty.setter
    def scope_dirty(self, value: bool) -> None:
        self.cp.scope_dirty = value

    @property
    def stale_groups(self) -> list[str]:
        """Stored groups a full groups round found without in-scope members (deleted by the removals phase)."""
        return self.cp.stale_groups

    @stale_groups.setter
    def stale_groups(self, value: list[str]) -> None:
        self.cp.stale_groups = list(value)
