"""One tenant's directory: users, groups, other member objects and links, each stamped with the change sequence
delta queries read."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Any

from emulators.entra.changes import ChangeTracker, change
from emulators.entra.model import DirectoryObject, Group, Link, MemberKind, User

DELETED_ITEMS_RETENTION_S = 30 * 24 * 3600  # soft-deleted users are purged for good after 30 days


class DirectoryError(Exception):
    """A control operation that the directory refuses (unknown object, duplicate link, cycle...)."""


class Directory:
    """Objects by id plus id-ordered lists (for paging) and per-kind change logs (for delta)."""

    def __init__(self) -> None:
        self.seq = 0
        self.users: dict[str, User] = {}
        self.groups: dict[str, Group] = {}
        self.objects: dict[str, DirectoryObject] = {}  # devices, service principals, contacts (members only)
        self.user_ids: list[str] = []  # sorted; every user ever seen, tombstones included
        self.group_ids: list[str] = []
        self.user_log: list[tuple[int, str]] = []  # (seq, id) of each change after the seed
        self.group_log: list[tuple[int, str]] = []
        self.upn_index: dict[str, str] = {}  # lower-case UPN -> id (active users)
        self.member_of: dict[str, set[str]] = {}  # member id -> ids of groups it is a direct member of
        self.links_version = 0
        self._transitive: dict[str, tuple[int, list[str], list[str], list[str]]] = {}
        self.deleted_items: dict[str, float] = {}  # soft-deleted user id -> when (emulator clock)
        self.tracker: ChangeTracker | None = None  # set while reads lag behind writes (consistency.py)
        self.depth = 0  # nesting of changes in progress

    # -- bulk load (seed) -------------------------------------------------------------------------
    def load(self, users: Iterable[User], groups: Iterable[Group], objects: Iterable[DirectoryObject] = ()) -> None:
        """Install seeded objects at sequence 1 (their links must already be set on the groups)."""
        self.seq = max(self.seq, 1)
        self.objects.update((obj.id, obj) for obj in objects)
        for user in users:
            user.seq = 1
            user.stamp(1, life=True)
            self.users[user.id] = user
            self.upn_index[user.props["userPrincipalName"].lower()] = user.id
        for group in groups:
            group.seq = group.props_seq = 1
            self.groups[group.id] = group
            for mid, link in group.links.items():
                link.seq = 1
                self.member_of.setdefault(mid, set()).add(group.id)
        self.user_ids = sorted(self.users)
        self.group_ids = sorted(self.groups)
        self.links_version += 1

    # -- lookups ----------------------------------------------------------------------------------
    def find_user(self, key: str) -> User | None:
        """An active user by object id or UPN (what /users/{id | userPrincipalName} accepts)."""
        user = self.users.get(key)
        if user is None:
            uid = self.upn_index.get(key.lower())
            user = self.users.get(uid) if uid else None
        return user if user is not None and user.state == "active" else None

    def find_group(self, gid: str) -> Group | None:
        group = self.groups.get(gid)
        return group if group is not None and group.state == "active" else None

    def kind_of(self, object_id: str) -> MemberKind:
        user = self.users.get(object_id)
        if user is not None:
            if user.state != "active":
                raise DirectoryError(f"user {object_id} is deleted")
            return "user"
        if object_id in self.groups:
            return "group"
        if object_id in self.objects:
            return self.objects[object_id].kind
        raise DirectoryError(f"no object with id {object_id}")

    # -- change stamping --------------------------------------------------------------------------
    def _bump(self) -> int:
        self.seq += 1
        return self.seq

    def _touch_user(self, user: User, changed: Iterable[str] = (), life: bool = False) -> None:
        """Stamp a change: `changed` properties (what users/delta reports), or the object's life (all of it)."""
        user.seq = self._bump()
        user.stamp(user.seq, changed, life)
        user.json_cache.clear()
        self.user_log.append((user.seq, user.id))
        if self.tracker is not None:
            self.tracker.touched("user", user.id)

    def _touch_group(self, group: Group, props: bool) -> None:
        group.seq = self._bump()
        if props:
            group.props_seq = group.seq
            group.json_cache.clear()
        self.group_log.append((group.seq, group.id))
        if self.tracker is not None:
            self.tracker.touched("group", group.id)

    # -- users ------------------------------------------------------------------------------------
    @change
    def add_user(self, user: User) -> User:
        upn = user.props["userPrincipalName"].lower()
        if user.id in self.users or upn in self.upn_index:
            raise DirectoryError(f"a user with id {user.id} or UPN {upn} already exists")
        self.users[user.id] = user
        self.upn_index[upn] = user.id
        bisect.insort(self.user_ids, user.id)
        self._touch_user(user, life=True)
        return user

    @change
    def update_user(self, user: User, changes: dict[str, Any]) -> None:
        old_upn = user.props["userPrincipalName"].lower()
        changed = [k for k, v in changes.items() if k != "id" and user.props.get(k) != v]
        user.props.update({k: v for k, v in changes.items() if k != "id"})
        new_upn = user.props["userPrincipalName"].lower()
        if new_upn != old_upn:
            self.upn_index.pop(old_upn, None)
            self.upn_index[new_upn] = user.id
        self._touch_user(user, changed)

    @change
    def set_password(self, user: User, password: str) -> None:
        user.previous_password, user.password = user.password, password
        self._touch_user(user)  # no property users/delta can select changes: delta reports nothing

    @change
    def soft_delete_user(self, user: User, now: float = 0.0) -> None:
        """Move to deleted items (restorable for 30 days). The user keeps its memberships, but no listing shows it
        and group delta never reports them; users/delta reports `@removed: changed`."""
        if user.state != "active":
            raise DirectoryError(f"user {user.id} is not active")
        user.state = "soft_deleted"
        self.deleted_items[user.id] = now
        self.upn_index.pop(user.props["userPrincipalName"].lower(), None)
        self._touch_user(user, life=True)
        self.links_version += 1  # transitive listings skip a deleted user: rebuild them

    @change
    def restore_user(self, user: User) -> None:
        """Back from deleted items with the same memberships (group delta reports nothing: no link changed)."""
        if user.state != "soft_deleted":
            raise DirectoryError(f"user {user.id} is not in deleted items")
        upn = user.props["userPrincipalName"].lower()
        if upn in self.upn_index:
            raise DirectoryError(f"another user holds the UPN {upn} now")
        user.state = "active"
        self.deleted_items.pop(user.id, None)
        self.upn_index[upn] = user.id
        self._touch_user(user, life=True)
        self.links_version += 1  # transitive listings skip a deleted user: rebuild them

    @change
    def hard_delete_user(self, user: User) -> None:
        """Gone for good: users/delta reports `@removed: deleted`, and group delta each of its links removed."""
        if user.state == "hard_deleted":
            raise DirectoryError(f"user {user.id} is already deleted for good")
        if user.state == "active":
            self.soft_delete_user(user)
        for gid in sorted(self.member_of.get(user.id, ())):
            self._remove_link(self.groups[gid], user.id)
        user.state = "hard_deleted"
        self.deleted_items.pop(user.id, None)
        user.password = user.previous_password = None
        self._touch_user(user, life=True)

    # -- devices, service principals, contacts ------------------------------------------------------
    def add_object(self, obj: DirectoryObject) -> DirectoryObject:
        """A member object that is neither user nor group; it changes nothing delta reports until it is linked."""
        if obj.id in self.users or obj.id in self.groups or obj.id in self.objects:
            raise DirectoryError(f"an object with id {obj.id} already exists")
        self.objects[obj.id] = obj
        return obj

    @change
    def purge_deleted(self, now: float, retention_s: float = DELETED_ITEMS_RETENTION_S) -> list[str]:
        """Delete for good the users soft-deleted at least `retention_s` ago (Entra's 30-day window)."""
        due = sorted(uid for uid, when in self.deleted_items.items() if now - when >= retention_s)
        for uid in due:
            self.hard_delete_user(self.users[uid])
        return due

    # -- groups -----------------------------------------------------------------------------------
    @change
    def add_group(self, group: Group) -> Group:
        if group.id in self.groups:
            raise DirectoryError(f"a group with id {group.id} already exists")
        self.groups[group.id] = group
        bisect.insort(self.group_ids, group.id)
        self._touch_group(group, props=True)
        return group

    @change
    def update_group(self, group: Group, changes: dict[str, Any]) -> None:
        group.props.update({k: v for k, v in changes.items() if k != "id"})
        self._touch_group(group, props=True)

    @change
    def delete_group(self, group: Group) -> None:
        """Security groups are deleted for good: delta reports them as removed with reason 'deleted'."""
        for mid in group.member_ids():
            self._drop_link_silently(group, mid)
        for parent_id in sorted(self.member_of.get(group.id, ())):
            self._drop_link_silently(self.groups[parent_id], group.id)
        group.state = "hard_deleted"
        self._touch_group(group, props=True)

    # -- membership -------------------------------------------------------------------------------
    @change
    def add_member(self, group: Group, member_id: str) -> bool:
        """Add a direct member; False when it already is one. Refuses links that would make a cycle."""
        kind = self.kind_of(member_id)
        link = group.links.get(member_id)
        if link is not None and link.alive:
            return False
        if kind == "group" and (member_id == group.id or group.id in self.transitive(member_id)[1]):
            raise DirectoryError(f"adding group {member_id} to {group.id} would create a cycle")
        self._touch_group(group, props=False)
        group.links.pop(member_id, None)
        group.links[member_id] = Link(kind, group.seq)
        self.member_of.setdefault(member_id, set()).add(group.id)
        self._links_changed(group)
        return True

    @change
    def remove_member(self, group: Group, member_id: str) -> bool:
        link = group.links.get(member_id)
        if link is None or not link.alive:
            return False
        user = self.users.get(member_id)
        if user is not None and user.state != "active":
            raise DirectoryError(f"user {member_id} is deleted: its memberships cannot be changed")
        return self._remove_link(group, member_id)

    def _remove_link(self, group: Group, member_id: str) -> bool:
        link = group.links[member_id]
        self._touch_group(group, props=False)
        group.links.pop(member_id)
        group.links[member_id] = Link(link.kind, group.seq, alive=False)
        self.member_of.get(member_id, set()).discard(group.id)
        self._links_changed(group)
        return True

    def _drop_link_silently(self, group: Group, member_id: str) -> None:
        """The member object went away: the link disappears without a change group delta would report."""
        group.links.pop(member_id, None)
        self.member_of.get(member_id, set()).discard(group.id)
        self._links_changed(group)

    def _links_changed(self, group: Group) -> None:
        group.sorted_links = None
        group.sorted_members = None
        self.links_version += 1
        if self.tracker is not None:
            self.tracker.touched("group", group.id)

    # -- derived views ----------------------------------------------------------------------------
    def links_by_seq(self, group: Group) -> list[tuple[int, str, MemberKind, bool]]:
        """Every link (alive and removed) ordered by (seq, member id): delta pages resume by bisecting."""
        cached = group.sorted_links
        if cached is None or cached[0] != group.seq:
            entries = sorted((link.seq, mid, link.kind, link.alive) for mid, link in group.links.items())
            cached = group.sorted_links = (group.seq, entries)
        return cached[1]

    def members_by_id(self, group: Group) -> list[str]:
        cached = group.sorted_members
        if cached is None or cached[0] != group.seq:
            cached = group.sorted_members = (group.seq, sorted(group.member_ids()))
        return cached[1]

    def transitive(self, gid: str) -> tuple[list[str], list[str]]:
        """(active user ids, group ids) reachable below a group through alive links, each sorted by id."""
        cached = self._transitive_entry(gid)
        return cached[1], cached[2]

    def transitive_all(self, gid: str) -> list[str]:
        """Every object below a group (users, groups, devices...), sorted by id (what /transitiveMembers pages)."""
        return self._transitive_entry(gid)[3]

    def _transitive_entry(self, gid: str) -> tuple[int, list[str], list[str], list[str]]:
        cached = self._transitive.get(gid)
        if cached is not None and cached[0] == self.links_version:
            return cached
        users: set[str] = set()
        groups: set[str] = set()
        others: set[str] = set()  # devices, service principals, contacts: listed, never followed
        stack = [gid]
        while stack:
            group = self.groups.get(stack.pop())
            if group is None:
                continue
            for mid, link in group.links.items():
                if not link.alive:
                    continue
                if link.kind == "user":
                    if self.users[mid].state == "active":  # a soft-deleted user keeps links but is not listed
                        users.add(mid)
                elif link.kind != "group":
                    others.add(mid)
                elif mid not in groups:
                    groups.add(mid)
                    stack.append(mid)
        entry = (self.links_version, sorted(users), sorted(groups), sorted(users | groups | others))
        self._transitive[gid] = entry
        return entry

    def ground_truth(self, scope_group_id: str) -> dict[str, Any]:
        """What a correct sync of the scope holds: users in scope (transitively), their groups and memberships."""
        if scope_group_id not in self.groups:
            raise DirectoryError(f"no group with id {scope_group_id}")
        user_ids, _ = self.transitive(scope_group_id)
        users = {uid: dict(self.users[uid].props) for uid in user_ids}
        memberships = sorted((gid, uid) for uid in user_ids for gid in self.member_of.get(uid, ()))
        group_ids = sorted({gid for gid, _ in memberships})
        return {
            "scope_group_id": scope_group_id,
            "users": users,
            "groups": {gid: self.groups[gid].props["displayName"] for gid in group_ids},
            "memberships": [list(pair) for pair in memberships],
        }
