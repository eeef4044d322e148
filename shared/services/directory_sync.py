"""Directory sync for one connection: gather from Graph, plan with pure functions, apply, checkpoint.

Phases: users (full listing or users/delta) -> fill (users newly in scope, fetched by id) -> groups (groups/delta:
groups and direct memberships of in-scope users) -> removals (threshold) -> commit (delta links, run record).
Each phase checkpoints, so a run that uses up its time budget continues in the next invocation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from shared.adapters.directory_store import DirectoryStore
from shared.adapters.graph import GraphClient
from shared.adapters.queues import QueueSender
from shared.adapters.sync_state import Checkpoint, Cursor, Snapshot, SyncState
from shared.adapters.table_store import TableStore
from shared.domain import storage_check, sync_scope
from shared.domain.connection import Connection
from shared.domain.directory import (
    INACTIVE,
    USER_TYPE,
    UserRecord,
    group_record,
    removed_reason,
    user_record,
)
from shared.domain.sync_plan import (
    StoredUser,
    UserWrite,
    latest_by_id,
    plan_group_writes,
    plan_removals,
    plan_user_writes,
    threshold_exceeded,
)
from shared.domain.timestamps import utc_now
from shared.errors import ConnectorError, DeltaTokenExpired, ValidationError
from shared.services import sync_defaults
from shared.services import sync_fetch as fetch
from shared.services.sync_apply import SyncApplier

log = logging.getLogger(__name__)

MODES = ("incremental", "full", "groups")
DELTA_MAX_AGE = timedelta(days=6)  # Graph delta tokens expire after 7 days; refresh well before


@dataclass
class SyncDeps:
    graph: GraphClient
    tables: TableStore
    queues: QueueSender | None
    clock: Callable[[], float] = time.monotonic
    progress: Callable[[str, dict[str, int]], None] | None = None  # (phase, counts so far) at each checkpoint


@dataclass
class RunResult:
    run_id: str
    mode: str
    outcome: str  # succeeded | continued | awaiting_approval | dry_run | dry_run_partial
    counts: dict[str, int]
    graph_requests: int
    table_writes: int
    planned: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # a dry run its time budget cut short: where it stopped ({"phase": ...}); its counts cover only that far
    partial: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "mode": self.mode,
            "outcome": self.outcome,
            "counts": self.counts,
            "graph_requests": self.graph_requests,
            "table_writes": self.table_writes,
            "planned": self.planned,
            "errors": self.errors,
            "partial": self.partial,
        }


class _Budget:
    def __init__(self, clock: Callable[[], float], seconds: float) -> None:
        self.clock = clock
        self.deadline = clock() + seconds

    def spent(self) -> bool:
        return self.clock() >= self.deadline


class _Run:
    """State of one invocation of one run."""

    def __init__(
        self,
        deps: SyncDeps,
        connection: Connection,
        cp: Checkpoint,
        snapshot: Snapshot,
        state: SyncState,
        dry_run: bool,
        budget: _Budget,
        approved: bool,
    ) -> None:
        self.deps = deps
        self.connection = connection
        self.cp = cp
        self.cursor = snapshot.cursor
        self.left_in_outbox = snapshot.outbox
        self.dry_run = dry_run
        self.budget = budget
        self.approved = approved
        self.state = state
        self.store = DirectoryStore(deps.tables, connection.id)
        self.apply = SyncApplier(
            self.store,
            self.state,
            deps.queues,
            tenant_id=connection.tenant_id,
            run_id=cp.run_id,
            dry_run=dry_run,
            defaults=connection.user_defaults,
        )
        self.scope: set[str] = set()
        self.stored: dict[str, StoredUser] = {}
        self.stored_groups: dict[str, str] = {}
        self.written: set[str] = set()
        self.deleted: set[str] = set()
        # Users entering scope in an incremental run (new, back from deletion or from outside the scope): their
        # memberships come from memberOf, and their rows are written after those links (see fill).
        self.entering: set[str] = set()
        self.deferred: list[UserWrite] = []
        self.memberships: dict[str, list[dict[str, Any]]] = {}  # memberOf read this run, by user id
        self.stale_groups: list[str] = []
        self.scope_from_listing = False
        self.scope_dirty = False  # a groups-only run applied tree changes whose effect on users it leaves undone
        self.checkpointed = cp.invocations > 0  # a stored checkpoint exists (this run was resumed)
        self.scope_complete = True  # False when an incremental run knows the scope only for the ids it touches
        self.user_items: list[dict[str, Any]] = []
        self.group_items: list[dict[str, Any]] = []
        self.new_tree: frozenset[str] | None = None
        # links read ahead by an incremental run: (asked, found, the store's link writes at the time)
        self.known_links: tuple[set[tuple[str, str]], set[tuple[str, str]], int] = (set(), set(), -1)
        self._requests_before = cp.graph_requests  # totals of earlier invocations of this run
        self._writes_before = cp.table_writes
        self.storage_loss: dict[str, int] = {}  # set when the copy is far smaller than the cursor expects
        self._counts_before = dict(cp.counts)

    def tick(self) -> None:
        """Tell the caller (CLI progress display) where the run is; cheap, called once a page."""
        if self.deps.progress is not None:
            counts = {
                **self.apply.counts,
                "graph_requests": self.deps.graph.stats.total,
                "table_writes": self.store.writes,
            }
            self.deps.progress(self.cp.phase, counts)

    def totals(self) -> None:
        """Carry this invocation's counts into the run's totals (kept in the checkpoint between invocations)."""
        self.cp.graph_requests = self.deps.graph.stats.total + self._requests_before
        self.cp.table_writes = self.store.writes + self._writes_before
        for kind, n in self.apply.counts.items():
            self.cp.counts[kind] = self._counts_before.get(kind, 0) + n

    async def save(self) -> None:
        self.tick()
        if not self.dry_run:
            await self.apply.release()
            self.totals()
            await self.state.save_checkpoint(self.cp)
            self.checkpointed = True

    async def run(self, check_storage: bool = False) -> str:
        self.cp.invocations += 1
        # independent reads go side by side: events a crash left in the outbox, the delta or the scope, the groups,
        # and (a new incremental run) whether the copy holds about as many users as the cursor expects
        reads = [self.apply.flush_outbox(self.left_in_outbox), self._load_state(), self._load_groups()]
        if check_storage:
            reads.append(self._check_storage())
        await asyncio.gather(*reads)
        if self.storage_loss:
            return "storage_lost"
        phases = {
            "users": self.users,
            "fill": self.fill,
            "groups": self.groups,
            "defaults": self.defaults,
            "removals": self.removals,
        }
        order = {
            "full": ["users", "fill", "groups", "removals"],  # its rows carry the defaults (in their hash); fill: none
            "incremental": ["users", "fill", "groups", "defaults", "removals"],
            "groups": ["groups", "defaults", "removals"],
        }[self.cp.mode]
        if self.cp.phase == "start":
            self.cp.phase = order[0]
        while self.cp.phase in phases:
            if self.budget.spent():
                await self.save()
                return "continued"
            outcome = await phases[self.cp.phase]()
            if outcome != "done":
                await self.save()
                return outcome
            index = order.index(self.cp.phase)
            self.cp.phase = order[index + 1] if index + 1 < len(order) else "commit"
            if self.cp.mode == "incremental":
                self.tick()  # a restarted incremental run reads its delta again: no checkpoint needed between phases
            else:
                await self.save()
        if self.scope_complete and self.connection.sync_group_id:
            self.new_tree = await fetch.scope_tree(self.deps.graph, self.connection.sync_group_id)
        self.totals()
        return "done"

    async def _check_storage(self) -> None:
        self.storage_loss = await _storage_loss(self.deps, self.connection, self.cursor)

    async def _load_groups(self) -> None:
        self.stored_groups = await self.store.load_groups()

    async def _load_state(self) -> None:
        # A fresh full run learns the scope from its own listing (the same endpoint with more fields); any other
        # start (incremental, or resuming mid-run) lists the scope's ids first.
        if self.cp.mode == "incremental":
            await self._prepare_incremental()
            return
        self.scope_from_listing = (
            self.cp.mode == "full" and self.cp.phase in ("start", "users") and not self.cp.users_next
        )
        if not self.scope_from_listing:
            self.scope = await fetch.scope_ids(self.deps.graph, self.connection.sync_group_id)
        self.stored = await self.store.load_users()

    async def _prepare_incremental(self) -> None:
        """Read both delta rounds first, then let the pure scope decision (shared/domain/sync_scope.py) say
        whether the scope must be listed again or which stored rows and links to read."""
        graph = self.deps.graph
        (self.user_items, self.cp.new_users_delta), (self.group_items, self.cp.new_groups_delta) = await asyncio.gather(
            fetch.collect(fetch.users_delta(graph, self.cursor.users_delta)),
            fetch.collect(fetch.groups_delta(graph, self.cursor.groups_delta)),
        )
        self.user_items = latest_by_id(self.user_items)  # a duplicated entry must not write or emit twice
        facts = sync_scope.delta_facts(self.user_items, self.group_items)
        tree = self.cursor.scope_tree
        plan = sync_scope.plan_scope(facts, self._scope_facts())
        listed = plan.list_scope
        listed_ids: set[str] | None = None
        if not listed:
            rows = set(plan.rows)
            if plan.ids_first:  # many changed users: the scope's ids say which of them matter
                listed_ids = await fetch.scope_ids(graph, self.connection.sync_group_id)
                rows = set(sync_scope.narrow_rows(plan, facts, listed_ids))
            # the links the groups phase will check are read now, beside the user rows (one round trip less)
            self.stored, found = await asyncio.gather(
                self.store.read_users(rows, partition_rows=self.cursor.users_stored),
                self.store.existing_links(set(plan.links)),
            )
            self.known_links = (set(plan.links), found, self.store.link_writes)
            listed = sync_scope.returning(facts, self.stored)
        if listed:
            self.scope = await fetch.scope_ids(graph, self.connection.sync_group_id)
            self.stored = await self.store.load_users()
            return
        self.scope_complete = False
        entering: set[str] = set()
        if listed_ids is not None:  # every named user's scope is known: no memberOf check
            self.scope = listed_ids
            return
        if self.connection.sync_group_id:
            entering = await self._entering_unstored(sorted(sync_scope.unstored(facts, self.stored)), tree or set())
        self.scope = sync_scope.partial_scope(facts, self.stored, self.connection.sync_group_id or "", entering)

    def _scope_facts(self) -> sync_scope.ScopeFacts:
        return sync_scope.ScopeFacts(
            sync_group=self.connection.sync_group_id or "",
            tree=self.cursor.scope_tree,
            dirty=self.cursor.scope_dirty,
            held=bool(self.cursor.held_run),
            users_stored=self.cursor.users_stored,
            approved=self.approved,
        )

    async def _entering_unstored(self, unknown: list[str], tree: frozenset[str] | set[str]) -> set[str]:
        """Of the changed users nobody stores, those in scope: a user is in scope when it is a direct member of a
        group of the sync group's tree. Most are simply outside the scope; a user restored after `delete` removed
        its row is not, and group delta shows nothing for it (its links never changed)."""
        if not unknown:
            return set()
        self.memberships.update(await fetch.groups_of_users(self.deps.graph, unknown))
        return {uid for uid in unknown if any(str(g.get("id", "")) in tree for g in self.memberships[uid])}

    # -- users -------------------------------------------------------------------------------------
    async def users(self) -> str:
        graph = self.deps.graph
        if self.cp.mode == "full":
            if not self.cp.new_users_delta:
                self.cp.new_users_delta = await fetch.latest_delta_link(graph, "users")
                await self.save()
            path, params, headers = fetch.user_listing(self.connection.sync_group_id)

            def get(url: str) -> asyncio.Task[dict[str, Any]]:
                query = params if url == path else None
                return asyncio.create_task(graph.get_json(url, params=query, headers=headers, label="users.list"))

            pending: asyncio.Task[dict[str, Any]] | None = get(self.cp.users_next or path)
            try:
                while pending is not None:
                    data = await pending
                    url = data.get("@odata.nextLink")
                    pending = get(url) if url else None  # read the next page while this one is written
                    items = data.get("value", [])
                    if self.scope_from_listing:
                        self.scope.update(str(item["id"]) for item in items if "id" in item)
                    await self._user_page(items)
                    self.cp.users_next = url or ""
                    if pending is not None and self.budget.spent():
                        return await self._pause()
            finally:
                if pending is not None:
                    pending.cancel()
            return "done"
        self.apply.hold_users = True  # released with the run's next write (or before a checkpoint or the commit)
        try:
            for start in range(0, len(self.user_items), 1000):
                await self._user_page(self.user_items[start : start + 1000])
        finally:
            self.apply.hold_users = False
        return "done"

    async def _pause(self) -> str:
        await self.save()
        return "continued"

    async def _user_page(self, items: list[dict[str, Any]]) -> None:
        records = []
        for item in items:
            if "id" not in item:
                self.cp.errors.append("a user without an id was skipped")
                continue
            if removed_reason(item):
                self.deleted.add(str(item["id"]))
                continue
            records.append(user_record(item, self.connection.user_defaults))
        await self._write_fetched(records)
        self.tick()

    # -- users entering scope: those whose objects did not change (delta does not show them), and links ----
    async def fill(self) -> str:
        """Users newly in scope whose objects did not change are read by id. Every user entering scope gets its
        memberships from memberOf (groups/delta shows only links changed since its last round, and none of a
        restored user), and only then its row: a run killed in between finds the user entering again."""
        if self.cp.mode == "full":
            return "done"
        if self.scope_complete:
            missing = sorted(
                uid
                for uid in self.scope
                if uid not in self.written
                and (uid not in self.stored or not self.stored[uid].in_scope or self.stored[uid].status == INACTIVE)
            )
            if missing:
                fetched = await fetch.users_by_id(self.deps.graph, missing)
                await self._write_fetched(
                    [user_record(body, self.connection.user_defaults) for body in fetched.values() if body]
                )
        reread = set(self.entering)
        if self.cursor.after_full:  # links a full run's groups round may have missed (see Cursor.after_full)
            reread |= {str(i["id"]) for i in self.user_items if "id" in i and not removed_reason(i)} & self.scope
        if not reread:
            return "done"
        need = sorted(reread - set(self.memberships))
        if need:
            self.memberships.update(await fetch.groups_of_users(self.deps.graph, need))
        by_group: dict[str, set[str]] = {}
        records = {}
        for uid in sorted(reread):
            for group in self.memberships.get(uid, []):
                by_group.setdefault(str(group["id"]), set()).add(uid)
                records[str(group["id"])] = group_record(group)
        await self._ensure_groups([records[g] for g in by_group])
        await self.apply.links_many(await self._real_link_changes([(g, u, set()) for g, u in sorted(by_group.items())]))
        self.apply.hold_users = True  # the rows go out with the run's next write, after their links
        try:
            await self.apply.users(self.deferred)
        finally:
            self.apply.hold_users = False
        self.deferred = []
        return "done"

    async def _write_fetched(self, records: list[UserRecord]) -> None:
        writes = plan_user_writes(records, self.stored, self.scope)
        if self.cp.mode != "full":  # users entering scope wait for their memberships (fill)
            self.deferred += [w for w in writes if w.kind != "user.updated"]
            self.entering.update(w.record.id for w in writes if w.kind != "user.updated")
            await self.apply.users([w for w in writes if w.kind == "user.updated"])
        else:
            await self.apply.users(writes)
        for w in writes:
            if self.cp.mode != "full":  # only an incremental run's fill phase asks what was written
                self.written.add(w.record.id)
            self.stored[w.record.id] = StoredUser(w.record.hash, w.status, True)

    async def _ensure_groups(self, records: list[Any]) -> None:
        latest = {record.id: record for record in records}  # a group named twice is written (and announced) once
        writes = plan_group_writes(latest.values(), self.stored_groups)
        await self.apply.groups(writes)
        for _, record in writes:
            self.stored_groups[record.id] = record.hash

    # -- groups ------------------------------------------------------------------------------------
    async def groups(self) -> str:
        full = self.cp.mode == "full" or not self.cursor.groups_delta
        if full:
            return await self._groups_full()
        if self.cp.mode == "groups":  # groups-only runs read their round here (incremental ones read it first)
            self.group_items, self.cp.new_groups_delta = await fetch.collect(
                fetch.groups_delta(self.deps.graph, self.cursor.groups_delta)
            )
            facts = sync_scope.delta_facts([], self.group_items)
            if self.connection.sync_group_id and sync_scope.tree_touched(facts, self.cursor.scope_tree):
                self.scope_dirty = True  # users entering or leaving scope are left to the next incremental run
        for start in range(0, len(self.group_items), 200):
            await self._groups_incremental_page(self.group_items[start : start + 200])
        return "done"

    async def _groups_full(self) -> str:
        """A whole groups/delta round: complete direct memberships (a big group spans pages), then one diff."""
        members: dict[str, set[str]] = {}
        records: dict[str, Any] = {}
        gone: set[str] = set()
        async for page in fetch.groups_delta(self.deps.graph, None):
            for item in page.items:
                gid = str(item.get("id", ""))
                if not gid:
                    continue
                if removed_reason(item):
                    gone.add(gid)
                    continue
                if "displayName" in item:
                    records[gid] = group_record(item)
                for link in item.get("members@delta", []):
                    uid = str(link.get("id", ""))
                    if link.get("@odata.type", USER_TYPE) != USER_TYPE or uid not in self.scope:
                        continue
                    if "@removed" in link:
                        members.get(gid, set()).discard(uid)
                    else:
                        members.setdefault(gid, set()).add(uid)
            if page.delta_link:
                self.cp.new_groups_delta = page.delta_link
            self.tick()
        wanted = {gid for gid, uids in members.items() if uids and gid not in gone and gid in records}
        await self._ensure_groups([records[g] for g in sorted(wanted)])
        stored_links = await self.store.links_of_users(set(self.stored) | self.scope)

        def changes() -> Iterator[tuple[str, set[str], set[str]]]:  # one group at a time: no copy of every link
            for gid in sorted(wanted | set(stored_links)):
                want = members.pop(gid, set()) if gid in wanted else set()
                have = stored_links.pop(gid, set())
                if want != have:
                    yield gid, want - have, have - want

        await self.apply.links_many(changes())
        self.stale_groups = sorted(set(self.stored_groups) - wanted)
        return "done"

    async def _groups_incremental_page(self, items: list[dict[str, Any]]) -> None:
        """Apply one slice of a groups/delta round: deleted groups, renamed or new groups, then every membership
        change of the slice in one write (not one write per group)."""
        new_records = []
        candidates: list[tuple[str, set[str], set[str]]] = []
        for item in items:
            gid = str(item.get("id", ""))
            if not gid:
                continue
            if removed_reason(item):
                if gid in self.stored_groups:
                    await self.apply.delete_groups([gid])
                    self.stored_groups.pop(gid, None)
                continue
            added, removed = set(), set()
            for link in item.get("members@delta", []):
                uid = str(link.get("id", ""))
                if link.get("@odata.type", USER_TYPE) != USER_TYPE:
                    continue
                if "@removed" in link:
                    removed.add(uid)
                elif uid in self.scope:
                    added.add(uid)
            if "displayName" in item and (gid in self.stored_groups or added):
                new_records.append(group_record(item))
            elif added and gid not in self.stored_groups:
                body = await self.deps.graph.get_json(
                    f"groups/{gid}",
                    params={"$select": "id,displayName,description,mail,mailEnabled,securityEnabled"},
                    label="groups.get",
                )
                new_records.append(group_record(body))
            if added or removed:
                candidates.append((gid, added, removed))
        await self._ensure_groups(new_records)
        changes = await self._real_link_changes(candidates)
        await self.apply.links_many(changes)
        emptied = sorted(gid for gid, _, removed in changes if removed)
        for gid in emptied:
            if gid in self.stored_groups and not await self.apply.has_members(gid):
                await self.apply.delete_groups([gid])
                self.stored_groups.pop(gid, None)
        self.tick()

    async def _real_link_changes(
        self, candidates: list[tuple[str, set[str], set[str]]]
    ) -> list[tuple[str, set[str], set[str]]]:
        """Only links that really change: a replayed or duplicated delta entry must not write or emit again (nor put
        one link twice in a table transaction, which Table Storage refuses)."""
        merged: dict[str, tuple[set[str], set[str]]] = {}
        for gid, added, removed in candidates:
            adds, rems = merged.setdefault(gid, (set(), set()))
            adds |= added
            rems |= removed
        candidates = [(gid, adds, rems) for gid, (adds, rems) in merged.items()]
        asked = {(gid, uid) for gid, added, removed in candidates for uid in added | removed}
        known_pairs, known, writes_then = self.known_links
        if asked <= known_pairs and self.store.link_writes == writes_then:  # read this run, unchanged since
            exists = known & asked
        else:
            exists = await self.store.existing_links(asked) if asked else set()
        out = []
        for gid, added, removed in candidates:
            add = {uid for uid in added if (gid, uid) not in exists}
            rem = {uid for uid in removed if (gid, uid) in exists}
            if add or rem:
                out.append((gid, add, rem))
        return out

    # -- defaults: changed user_defaults on every stored user (shared/services/sync_defaults.py) ----------
    async def defaults(self) -> str:
        if self.cursor.defaults_hash == sync_defaults.defaults_hash(self.connection.user_defaults):
            return "done"
        await self.apply.release()  # this run's user writes (with the new defaults already) are read below
        await sync_defaults.apply_defaults(self.store, self.apply, self.connection.user_defaults)
        return "done"

    # -- removals ----------------------------------------------------------------------------------
    async def removals(self) -> str:
        await self.apply.release()  # the user rows are read below (count) and written (marks)
        behaviour = self.connection.removal_behaviour
        removals = [] if self.cp.mode == "groups" else plan_removals(self.stored, self.scope, self.deleted, behaviour)
        unexplained = [r.user_id for r in removals if r.reason != "deleted"]
        if unexplained:  # this run's users/delta did not report them deleted: a full listing, or an earlier hold
            self.deleted |= await fetch.missing_users(self.deps.graph, unexplained)
            removals = plan_removals(self.stored, self.scope, self.deleted, behaviour)
        leaving = {r.user_id for r in removals}
        stale_groups = list(self.stale_groups)
        counted = len([r for r in removals if r.kind != "user.kept"]) + len(stale_groups)
        stored_total = len(self.stored)
        if counted and not self.scope_complete and self.connection.deletion_threshold_percent is not None:
            stored_total = await self.store.count_users()  # the percentage is of everything stored
        limit_hit = threshold_exceeded(
            counted,
            stored_total + len(self.stored_groups),
            self.connection.deletion_threshold,
            self.connection.deletion_threshold_percent,
        )
        held_before = bool(self.cursor.held_run)
        if self.cp.mode == "groups" and held_before and not self.approved:
            # a groups-only run plans no user removals: the hold stays as it is, and visible
            self.cp.counts["removals.pending"] = len((await self.state.approval())[1])
            return "awaiting_approval"
        # while removals are held, a later run holds whatever it would remove (superseding the list), so it neither
        # applies a hold nobody approved nor drops it; one with nothing to remove ends the hold (recorded)
        if counted and (limit_hit or held_before) and not self.approved:
            self.cp.counts["removals.pending"] = counted
            if not self.dry_run:
                items = [(r.kind, r.user_id, r.reason) for r in removals] + [
                    ("group.deleted", g, "") for g in stale_groups
                ]
                await self.state.save_approval(self.cp.run_id, items)
            else:
                self.apply.planned += [{"type": r.kind, "object_id": r.user_id, "held": True} for r in removals[:100]]
            self.cp.phase = "commit"
            return "awaiting_approval"
        await self.apply_removals(removals, stale_groups, leaving)
        if held_before and not self.dry_run:
            await self.state.clear_approval()  # approved and applied, or nothing is left to remove
            if not self.approved:
                self.cp.counts["removals.hold_superseded"] = 1
        return "done"

    async def apply_removals(self, removals: list[Any], stale_groups: list[str], leaving: set[str]) -> None:
        if behaviour_removes_links(self.connection.removal_behaviour) and leaving:
            links = await self.store.links_of_users(leaving)
            await self.apply.links_many([(gid, set(), uids) for gid, uids in sorted(links.items())])
            for gid in sorted(links):
                if gid in self.stored_groups and not await self.apply.has_members(gid):
                    stale_groups.append(gid)
        await self.apply.removals(removals)
        if stale_groups:
            await self.apply.delete_groups(sorted(set(stale_groups)))


def behaviour_removes_links(behaviour: str) -> bool:
    return behaviour in ("deactivate", "delete")


async def run_sync(
    deps: SyncDeps,
    connection: Connection,
    *,
    mode: str = "incremental",
    dry_run: bool = False,
    trigger: str = "manual",
    budget_s: float = 480.0,
    approved: bool = False,
    storage_loss: dict[str, int] | None = None,
) -> RunResult:
    """Run (or continue) a sync for one connection within a time budget. The caller holds the lease.
    `storage_loss` (internal): the counts of a run that found the copy far smaller than expected and restarted full."""
    if mode not in MODES:
        raise ValidationError({"mode": f"must be one of {', '.join(MODES)}"})
    state = SyncState(deps.tables, connection.id)
    snapshot = await state.load()  # cursor, checkpoint and outbox: one request
    cursor = snapshot.cursor
    cp = None if dry_run else snapshot.checkpoint
    check_storage = False
    if cp is None:
        cp = Checkpoint(
            run_id=uuid.uuid4().hex,
            mode=_effective_mode(mode, cursor, connection),
            trigger=trigger,
            started_at=utc_now(),
            counts=dict(storage_loss or {}),
        )
        check_storage = cp.mode != "full"  # a new incremental or groups run first checks the copy is whole
    budget = _Budget(deps.clock, budget_s)
    run = _Run(deps, connection, cp, snapshot, state, dry_run, budget, approved)
    try:
        outcome = await run.run(check_storage)
    except DeltaTokenExpired:
        log.warning("connection %s: delta token expired; starting a full sync", connection.id)
        if not dry_run:
            await state.restart()
        return await run_sync(
            deps, connection, mode="full", dry_run=dry_run, trigger=trigger, budget_s=budget_s, approved=approved
        )
    except Exception as exc:
        with contextlib.suppress(Exception):  # best effort: rows left are sent again next time (same event ids)
            await state.drop_sent()
        with contextlib.suppress(Exception):  # best effort: the failure is also on the status (sync_jobs)
            run.totals()
            code = exc.code if isinstance(exc, ConnectorError) else "internal_error"
            await state.record_run(cp, "failed", utc_now(), error=code)
        raise
    if outcome == "storage_lost":  # nothing was written: the run starts again as a full one
        if not dry_run:
            await state.drop_sent()  # events a crash left behind went out during the check
        return await run_sync(
            deps,
            connection,
            mode="full",
            dry_run=dry_run,
            trigger=trigger,
            budget_s=budget_s,
            approved=approved,
            storage_loss=run.storage_loss,
        )
    run.totals()
    table_writes = cp.table_writes
    result_outcome = {"done": "succeeded"}.get(outcome, outcome)
    partial = None
    if dry_run:  # a dry run cannot continue (it keeps no checkpoint): one cut short says so, and how far it got
        result_outcome = "dry_run_partial" if outcome == "continued" else "dry_run"
        partial = {"phase": cp.phase} if outcome == "continued" else None
    if outcome in ("done", "awaiting_approval") and not dry_run:
        await asyncio.gather(  # different rows: the cursor and the run record go side by side
            _commit(state, run, cursor, outcome),
            state.record_run(cp, result_outcome, utc_now()),
        )
    else:  # continued (this invocation; the next one replaces the row) or a dry run
        await state.record_run(cp, result_outcome, utc_now())
    counts = dict(run.apply.counts) if dry_run else dict(cp.counts)
    return RunResult(
        cp.run_id,
        cp.mode,
        result_outcome,
        counts,
        cp.graph_requests or deps.graph.stats.total,
        table_writes,
        run.apply.planned,
        list(cp.errors),
        partial,
    )


async def _commit(state: SyncState, run: _Run, cursor: Cursor, outcome: str) -> None:
    cp = run.cp
    new = Cursor(
        users_delta=cp.new_users_delta or cursor.users_delta,
        groups_delta=cp.new_groups_delta or cursor.groups_delta,
        obtained_at=utc_now() if cp.new_users_delta else cursor.obtained_at,
        last_full_at=utc_now() if cp.mode == "full" else cursor.last_full_at,
        scope_group=run.connection.sync_group_id or "",
        scope_tree=run.new_tree
        if run.new_tree is not None
        else (cursor.scope_tree if run.connection.sync_group_id else frozenset()),
        users_stored=_users_stored(run, cursor),
        after_full=cp.mode == "full" or (cursor.after_full and cp.mode == "groups"),
        # only an incremental run lists the scope when dirty: a groups-only run keeps (or raises) the flag
        scope_dirty=(cursor.scope_dirty or run.scope_dirty) if cp.mode == "groups" else False,
        defaults_hash=sync_defaults.defaults_hash(run.connection.user_defaults),
        held_run=cp.run_id
        if outcome == "awaiting_approval" and cp.mode != "groups"
        else (cursor.held_run if outcome == "awaiting_approval" else ""),
    )
    await state.save_cursor(new, drop_checkpoint=run.checkpointed)  # one transaction, with the sent outbox rows


def _users_stored(run: _Run, cursor: Cursor) -> int:
    """About how many user rows the connection has now: a full run knows its scope; an incremental run adjusts the
    last figure by what it created and deleted. Only used to choose how an incremental run reads rows."""
    if run.cp.mode == "full":
        return len(run.scope)
    if cursor.users_stored < 0:
        return -1
    counts = run.cp.counts
    return max(0, cursor.users_stored + counts.get("user.created", 0) - counts.get("user.deleted", 0))


async def _storage_loss(deps: SyncDeps, connection: Connection, cursor: Cursor) -> dict[str, int]:
    """Far fewer user rows than the cursor expects (storage emptied or restored from an old copy): the counts for
    the run record, and the run goes full instead of committing the small copy. {} when the copy looks whole."""
    sample = storage_check.sample_for(cursor.users_stored)
    if sample is None:
        return {}
    counted = await DirectoryStore(deps.tables, connection.id).count_users_below(sample.upper_key)
    if not storage_check.storage_lost(sample, counted):
        return {}
    found = storage_check.estimated_rows(sample, counted)
    log.warning(
        "connection %s: about %d user rows stored, %d expected: storage lost; running a full sync",
        connection.id,
        found,
        sample.expected,
    )
    return {"storage.users_expected": sample.expected, "storage.users_found": found}


def _effective_mode(mode: str, cursor: Cursor, connection: Connection) -> str:
    """Full the first time, when the sync group changed, or when the delta links are close to expiry."""
    if mode == "full":
        return "full"
    if not cursor.users_delta or cursor.scope_group != (connection.sync_group_id or ""):
        return "full"
    if cursor.obtained_at is None or utc_now() - cursor.obtained_at > DELTA_MAX_AGE:
        return "full"
    return mode
