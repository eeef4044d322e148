"""SyncApplier: the one place a sync writes. Dry runs are enforced here (planned changes recorded, nothing written),
and every write goes through the outbox: events stored, rows written, events sent, outbox cleared (the clearing
rides along with the next write of the sync state: see SyncState)."""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from shared import storage_names as names
from shared.adapters.directory_store import DirectoryStore
from shared.adapters.queues import QueueSender
from shared.adapters.sync_state import SyncState
from shared.domain.directory import INACTIVE, GroupRecord
from shared.domain.sync_plan import ActionKind, Removal, UserWrite
from shared.domain.timestamps import to_iso, utc_now

PLANNED_LIMIT = 5000  # a dry run lists at most this many planned changes (counts stay exact)
MEMBER_CHECKS_AT_ONCE = 8  # groups checked side by side for a stored member left


def event(
    kind: str,
    connection_id: str,
    tenant_id: str,
    run_id: str,
    object_id: str,
    *,
    group_id: str | None = None,
    version: str = "",
    occurred_at: str | None = None,
    reason: str = "",
) -> dict[str, Any]:
    """A small change-feed event. The idempotency key is the same for the same change replayed. A user leaving
    scope (deactivated, deleted, kept) says why: `deleted` (in Entra) or `left_scope`."""
    basis = f"{connection_id}|{kind}|{group_id or ''}|{object_id}|{version or run_id}"
    out: dict[str, Any] = {
        "id": hashlib.sha256(basis.encode()).hexdigest()[:32],
        "type": kind,
        "connection_id": connection_id,
        "tenant_id": tenant_id,
        "object_id": object_id,
        "run_id": run_id,
        "occurred_at": occurred_at or to_iso(utc_now()),
    }
    if group_id:
        out["group_id"] = group_id
    if reason:
        out["reason"] = reason
    return out


class SyncApplier:
    def __init__(
        self,
        store: DirectoryStore,
        state: SyncState,
        queues: QueueSender | None,
        *,
        tenant_id: str,
        run_id: str,
        dry_run: bool,
        defaults: dict[str, Any],
    ) -> None:
        self.store = store
        self.state = state
        self.queues = queues
        self.tenant_id = tenant_id
        self.run_id = run_id
        self.dry_run = dry_run
        self.defaults = defaults
        self.counts: Counter[str] = Counter()
        self.planned: list[dict[str, Any]] = []
        # An incremental run's user writes wait for the run's next write and go out with it: one outbox row, the
        # two writes side by side, one queue message (instead of two rounds of three requests each).
        self.hold_users = False
        self._held: list[tuple[list[dict[str, Any]], Any]] = []
        # A dry run writes nothing, so the store still shows what it planned to change: the links it planned are
        # kept here, so a link planned twice (a full diff, then a leaver's links) counts once, and a group the run
        # planned to empty is empty.
        self._planned_links: dict[tuple[str, str], bool] = {}  # (group id, user id) -> added?

    def _event(
        self, kind: str, object_id: str, *, group_id: str | None = None, version: str = "", reason: str = ""
    ) -> dict[str, Any]:
        return event(
            kind,
            self.store.connection_id,
            self.tenant_id,
            self.run_id,
            object_id,
            group_id=group_id,
            version=version,
            reason=reason,
        )

    async def _apply(
        self, events: list[dict[str, Any]], write: Any, *, hold: bool = False, alongside: Any = None
    ) -> None:
        """Outbox first, then the write, then the events; a crash between steps replays the events (same ids).
        `alongside`: a read that needs the write done, run while the events are sent (not in a dry run)."""
        if not events:
            return
        stamp = events[0]["occurred_at"]  # one write, one moment
        for e in events:
            e["occurred_at"] = stamp
            self.counts[e["type"]] += 1
        if self.dry_run:
            room = PLANNED_LIMIT - len(self.planned)
            self.planned += [{k: e[k] for k in ("type", "object_id", "group_id") if k in e} for e in events[:room]]
            return
        if hold:
            self._held.append((events, write))
            return
        items, self._held = [*self._held, (events, write)], []
        await self._write_all(items, alongside)

    async def release(self) -> None:
        """Write what is held now (before a checkpoint, a read of user rows, or the commit)."""
        if self._held:
            items, self._held = self._held, []
            await self._write_all(items)

    async def _write_all(self, items: list[tuple[list[dict[str, Any]], Any]], alongside: Any = None) -> None:
        """Every event in the outbox first; then the writes (of different tables) side by side; then the events
        (and beside them the read that waited for the writes)."""
        events = [e for batch, _ in items for e in batch]
        keys = await self.state.put_outbox(events) if self.queues else []
        await asyncio.gather(*(write() for _, write in items))

        async def publish() -> None:
            if self.queues:
                await self.queues.publish_events(names.DIRECTORY_CHANGES, events)
                self.state.mark_sent(keys)

        await asyncio.gather(publish(), *([alongside()] if alongside else []))

    async def flush_outbox(self, left: list[tuple[str, list[dict[str, Any]]]]) -> int:
        """Send events a crashed invocation stored but may not have sent (consumers dedupe by id)."""
        if self.dry_run or not self.queues:
            return 0
        sent = 0
        for key, events in left:
            await self.queues.publish_events(names.DIRECTORY_CHANGES, events)
            self.state.mark_sent([key])
            sent += len(events)
        return sent

    async def users(self, writes: list[UserWrite]) -> None:
        events = [self._event(w.kind, w.record.id, version=w.record.hash + w.status) for w in writes]

        async def write() -> None:
            await self.store.write_users(writes, self.defaults)

        await self._apply(events, write, hold=self.hold_users)

    async def signed_in(self, user_id: str) -> None:
        """A user signed in through end-user sign-in (shared/services/signin_jit.py): one `user.signed_in` event
        through the outbox, nothing written."""

        async def write() -> None:
            return None

        await self._apply([self._event("user.signed_in", user_id)], write)

    async def new_defaults(self, rows: list[tuple[str, str]], defaults_json: str) -> None:
        """New default settings on stored users: (user id, new hash) each, one `user.updated` event each."""
        events = [self._event("user.updated", uid, version=digest, reason="defaults_changed") for uid, digest in rows]

        async def write() -> None:
            await self.store.set_defaults(rows, defaults_json)

        await self._apply(events, write)

    async def removals(self, removals: list[Removal]) -> None:
        """Users leaving scope: deactivated (row kept, inactive), deleted (row removed) or kept (row kept, out of
        scope); each event and each kept row says why (`deleted` in Entra, or `left_scope`)."""
        events = [self._event(r.kind, r.user_id, reason=r.reason) for r in removals]
        marks: dict[tuple[str | None, str], list[str]] = {}  # (status, reason) -> user ids
        for r in removals:
            if r.kind != "user.deleted":
                marks.setdefault((INACTIVE if r.kind == "user.deactivated" else None, r.reason), []).append(r.user_id)
        delete = [r.user_id for r in removals if r.kind == "user.deleted"]

        async def write() -> None:
            for (status, reason), ids in sorted(marks.items(), key=lambda item: (item[0][0] or "", item[0][1])):
                await self.store.mark_users(ids, status=status, in_scope=False, reason=reason)
            if delete:
                await self.store.delete_users(delete)

        await self._apply(events, write)

    async def groups(
        self, writes: list[tuple[ActionKind, GroupRecord]], anchors: Mapping[str, str] | None = None
    ) -> None:
        events = [self._event(kind, record.id, version=record.hash) for kind, record in writes]

        async def write() -> None:
            await self.store.write_groups((record for _, record in writes), anchors)

        await self._apply(events, write)

    async def delete_groups(self, group_ids: Iterable[str]) -> None:
        ids = list(group_ids)
        events = [self._event("group.deleted", gid) for gid in ids]

        async def write() -> None:
            await self.store.delete_groups(ids)

        await self._apply(events, write)

    async def links_many(
        self,
        changes: Iterable[tuple[str, set[str], set[str]]],
        *,
        per_write: int = 2000,
        emptied: Sequence[str] = (),
        anchors: Mapping[str, str] | None = None,
    ) -> list[str]:
        """Membership changes of many groups, applied in large writes (a full sync touches every group). Returns
        which of the `emptied` groups (those that lost members) have no stored member left afterwards, checked
        while the last write's events are sent."""
        pending: list[tuple[bool, str, str]] = []  # (added?, group id, user id)
        for group_id, add, rem in changes:
            pending += [(True, group_id, uid) for uid in sorted(add)]
            pending += [(False, group_id, uid) for uid in sorted(rem)]
            while len(pending) >= per_write:  # a big group is split too: no write holds more than per_write
                await self._links_write(pending[:per_write])
                pending = pending[per_write:]
        found: list[list[str]] = []

        async def check() -> None:
            found.append(await self.without_members(emptied, anchors))

        await self._links_write(pending, alongside=check if emptied else None)
        return found[0] if found else await self.without_members(emptied, anchors)

    async def without_members(self, group_ids: Sequence[str], anchors: Mapping[str, str] | None = None) -> list[str]:
        """Which of these groups have no stored member left. A group whose anchor (a member its row names) is still
        stored has one: point reads first; the others get one small query each, side by side (one after the other
        they were most of a 50k-user incremental run's groups phase)."""
        anchored = {gid: anchors[gid] for gid in group_ids if anchors and anchors.get(gid)}
        if anchored and not self.dry_run:
            kept = await self.store.anchored(anchored)
            group_ids = [gid for gid in group_ids if gid not in kept]
        limit = asyncio.Semaphore(MEMBER_CHECKS_AT_ONCE)

        async def check(gid: str) -> bool:
            async with limit:
                return not await self.has_members(gid)

        found = await asyncio.gather(*(check(gid) for gid in group_ids))
        return [gid for gid, empty in zip(group_ids, found, strict=True) if empty]

    async def has_members(self, group_id: str) -> bool:
        """Whether the group has stored members, after this run's planned changes in a dry run."""
        if not self.dry_run:
            return await self.store.has_members(group_id)
        if any(added and gid == group_id for (gid, _), added in self._planned_links.items()):
            return True
        async for uid in self.store.member_ids(group_id):
            if (group_id, uid) not in self._planned_links:
                return True
        return False

    async def _links_write(self, links: list[tuple[bool, str, str]], alongside: Any = None) -> None:
        if self.dry_run:  # a link already planned this way is not planned (nor counted) again
            links = [(a, g, u) for a, g, u in links if self._planned_links.get((g, u)) is not a]
            self._planned_links.update({(g, u): a for a, g, u in links})
        added = [(gid, uid) for is_add, gid, uid in links if is_add]
        removed = [(gid, uid) for is_add, gid, uid in links if not is_add]
        events = [self._event("membership.added", uid, group_id=gid) for gid, uid in added]
        events += [self._event("membership.removed", uid, group_id=gid) for gid, uid in removed]

        async def write() -> None:
            await self.store.change_links(added, removed)

        await self._apply(events, write, alongside=alongside)
