"""Eventual consistency: the copy of a tenant's directory that advanced queries and delta rounds read, a set lag
behind the writes (Learn: "Advanced query capabilities on Microsoft Entra ID objects", "Use delta query")."""

from __future__ import annotations

import bisect
import copy
import dataclasses
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from emulators.entra.directory import Directory
from emulators.entra.model import Group, MemberKind, User


@dataclass
class _Write:
    """What one change wrote, as the copy will take it `due` (emulator clock): the objects as they were then."""

    due: float
    seq: int
    users: list[User]
    groups: list[Group]
    user_log: list[tuple[int, str]]
    group_log: list[tuple[int, str]]


@dataclass
class Replica:
    """Off (lag 0) by default: every read sees the directory itself. With a lag, a copy of the directory takes each
    change `lag` seconds after it was made, in the order made, with the same change sequence numbers: a delta
    token marks a position in the sequence the copy has applied, so a change not yet applied when a round ends
    has a later number and is reported by a later round (never skipped)."""

    lag: float = 0.0
    copy: Directory | None = None
    pending: deque[_Write] = field(default_factory=deque)
    clock: Callable[[], float] | None = None
    _users: set[str] = field(default_factory=set)  # touched by the change in progress
    _groups: set[str] = field(default_factory=set)
    _since: float | None = None  # when the change in progress touched its first object
    _logs: tuple[int, int] = (0, 0)  # lengths of the primary's change logs already handed over

    # -- switching ---------------------------------------------------------------------------------
    def configure(self, primary: Directory, lag: float, clock: Callable[[], float]) -> None:
        """Set the lag. Turning it on copies the directory; turning it off applies everything pending first."""
        self.view(primary, float("inf"))
        if lag <= 0:
            primary.tracker = None
            self.copy, self.lag = None, 0.0
            return
        if self.copy is None:
            primary.tracker = None
            self.copy = copy.deepcopy(primary)
            self._logs = (len(primary.user_log), len(primary.group_log))
        self.lag, self.clock = float(lag), clock
        primary.tracker = self

    # -- the ChangeTracker protocol (called by the primary directory) ---------------------------------
    def touched(self, kind: MemberKind, object_id: str) -> None:
        if self._since is None and self.clock is not None:
            self._since = self.clock()
        (self._users if kind == "user" else self._groups).add(object_id)

    def commit(self, directory: Directory) -> None:
        """A change is complete: keep what it wrote, to be applied to the copy `lag` seconds after it was made."""
        if self.copy is None or (not self._users and not self._groups):
            return
        users = [_user_copy(directory.users[uid]) for uid in sorted(self._users)]
        groups = [_group_copy(directory.groups[gid]) for gid in sorted(self._groups)]
        ulog, glog = self._logs
        self._logs = (len(directory.user_log), len(directory.group_log))
        since = self._since if self._since is not None else 0.0
        self.pending.append(
            _Write(
                since + self.lag, directory.seq, users, groups, directory.user_log[ulog:], directory.group_log[glog:]
            )
        )
        self._users, self._groups, self._since = set(), set(), None

    # -- reads ---------------------------------------------------------------------------------------
    def view(self, primary: Directory, now: float) -> Directory:
        """The directory as eventually consistent reads see it at `now`."""
        if self.copy is None:
            return primary
        self.commit(primary)  # a change made outside a tracked operation is complete by the time anyone reads
        while self.pending and self.pending[0].due <= now:
            _apply(self.copy, self.pending.popleft())
        return self.copy

    def describe(self, primary: Directory) -> dict[str, float | int]:
        applied = self.copy.seq if self.copy is not None else primary.seq
        return {"lag_s": self.lag, "pending": len(self.pending), "written_seq": primary.seq, "applied_seq": applied}


def _user_copy(user: User) -> User:
    return dataclasses.replace(user, props=dict(user.props), json_cache={})


def _group_copy(group: Group) -> Group:
    links = {mid: dataclasses.replace(link) for mid, link in group.links.items()}
    return dataclasses.replace(
        group, props=dict(group.props), links=links, json_cache={}, sorted_links=None, sorted_members=None
    )


def _apply(target: Directory, write: _Write) -> None:
    for user in write.users:
        old = target.users.get(user.id)
        if old is None:
            bisect.insort(target.user_ids, user.id)
        else:
            old_upn = old.props["userPrincipalName"].lower()
            if target.upn_index.get(old_upn) == user.id:
                del target.upn_index[old_upn]
        target.users[user.id] = user
        if user.state == "active":
            target.upn_index[user.props["userPrincipalName"].lower()] = user.id
    for group in write.groups:
        old_group = target.groups.get(group.id)
        before = set(old_group.member_ids()) if old_group is not None else set()
        after = set(group.member_ids())
        for mid in before - after:
            target.member_of.get(mid, set()).discard(group.id)
        for mid in after - before:
            target.member_of.setdefault(mid, set()).add(group.id)
        if old_group is None:
            bisect.insort(target.group_ids, group.id)
        target.groups[group.id] = group
    target.user_log += write.user_log
    target.group_log += write.group_log
    target.seq = write.seq
    target.links_version += 1
