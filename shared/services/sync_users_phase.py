"""Sync phases "users" and "fill": the scope and the stored index (the pure scope decision applied), user
listings and users/delta, and users entering scope with their memberships."""

from __future__ import annotations

import asyncio
from typing import Any

from shared.domain import sync_scope
from shared.domain.directory import (
    INACTIVE,
    UserRecord,
    group_record,
    removed_reason,
    user_record,
)
from shared.domain.sync_plan import (
    StoredUser,
    latest_by_id,
    plan_member_of,
    plan_user_writes,
)
from shared.services import sync_fetch as fetch
from shared.services import sync_start as start
from shared.services.sync_run import RunBase


class UsersPhase(RunBase):
    async def _load_state(self) -> None:
        # A fresh full run learns the scope from its own listing (the same endpoint with more fields); any other
        # start (incremental, or resuming mid-run) lists the scope's ids first.
        if self.cp.mode == "incremental":
            await self._prepare_incremental()
            return
        if self.full_groups_round() and not self.cp.new_groups_delta:
            # The groups watermark comes before every read of the scope: a membership change made after the scope
            # was read is then after the watermark too, and the next incremental round reports it. Taken after the
            # listing (as the groups phase did), a user put into the tree in between was in neither.
            self.cp.new_groups_delta = await fetch.latest_delta_link(self.deps.graph, "groups")
        self.rs.scope_from_listing = (
            self.cp.mode == "full" and self.cp.phase in ("start", "users") and not self.cp.users_next
        )
        if not self.rs.scope_from_listing:
            self.rs.scope = await fetch.scope_ids(self.deps.graph, self.connection.sync_group_id)
        self.rs.stored = await self.store.load_users()

    async def _prepare_incremental(self) -> None:
        """Read both delta rounds first, then let the pure scope decision (shared/domain/sync_scope.py) say
        whether the scope must be listed again or which stored rows and links to read."""
        graph = self.deps.graph
        rs = self.rs
        if self.early.deltas is not None:  # read beside the sync state, from the same cursor (sync_start.py)
            rounds = await self.early.deltas
        else:
            rounds = await start.delta_rounds(graph, self.cursor.users_delta, self.cursor.groups_delta)
        (rs.user_items, self.cp.new_users_delta), (rs.group_items, self.cp.new_groups_delta) = rounds
        self.rs.user_items = latest_by_id(self.rs.user_items)  # a duplicated entry must not write or emit twice
        facts = sync_scope.delta_facts(self.rs.user_items, self.rs.group_items)
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
            self.rs.stored, found = await asyncio.gather(
                self.store.read_users(rows, partition_rows=self.cursor.users_stored),
                self.store.existing_links(set(plan.links)),
            )
            self.rs.known_links = (set(plan.links), found, self.store.link_writes)
            listed = sync_scope.returning(facts, self.rs.stored)
        if listed:
            self.rs.scope = await fetch.scope_ids(graph, self.connection.sync_group_id)
            self.rs.stored = await self.store.load_users()
            return
        self.rs.scope_complete = False
        entering: set[str] = set()
        if listed_ids is not None:  # every named user's scope is known: no memberOf check
            self.rs.scope = listed_ids
            return
        if self.connection.sync_group_id:
            entering = await self._entering_unstored(sorted(sync_scope.unstored(facts, self.rs.stored)), tree or set())
        self.rs.scope = sync_scope.partial_scope(facts, self.rs.stored, self.connection.sync_group_id or "", entering)

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
        self.rs.memberships.update(await fetch.groups_of_users(self.deps.graph, unknown))
        return {uid for uid in unknown if any(str(g.get("id", "")) in tree for g in self.rs.memberships[uid] or [])}

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
                    if self.rs.scope_from_listing:
                        self.rs.scope.update(str(item["id"]) for item in items if "id" in item)
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
            for start in range(0, len(self.rs.user_items), 1000):
                await self._user_page(self.rs.user_items[start : start + 1000])
        finally:
            self.apply.hold_users = False
        return "done"

    async def _user_page(self, items: list[dict[str, Any]]) -> None:
        records = []
        for item in items:
            if "id" not in item:
                self.cp.errors.append("a user without an id was skipped")
                continue
            if removed_reason(item):
                self.rs.deleted.add(str(item["id"]))
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
        if self.rs.scope_complete:
            stored = self.rs.stored
            missing = sorted(
                uid
                for uid in self.rs.scope
                if uid not in self.rs.written
                and (uid not in stored or not stored[uid].in_scope or stored[uid].status == INACTIVE)
            )
            if missing:
                fetched = await fetch.users_by_id(self.deps.graph, missing)
                await self._write_fetched(
                    [user_record(body, self.connection.user_defaults) for body in fetched.values() if body]
                )
        reread = set(self.rs.entering)
        if self.cursor.after_full:  # links a full run's groups round may have missed (see Cursor.after_full)
            reread |= {str(i["id"]) for i in self.rs.user_items if "id" in i and not removed_reason(i)} & self.rs.scope
        if not reread:
            return "done"
        need = sorted(reread - set(self.rs.memberships))
        if need:
            self.rs.memberships.update(await fetch.groups_of_users(self.deps.graph, need))
        found = plan_member_of(reread, self.rs.memberships)
        if found.gone:
            self._gone_since_round(found.gone)
        await self._ensure_groups(
            [group_record(dict(group)) for _, group in sorted(found.groups.items())],
            {gid: set(uids) for gid, uids in found.links.items()},
        )
        links: list[tuple[str, set[str], set[str]]] = [(g, set(u), set()) for g, u in sorted(found.links.items())]
        await self.apply.links_many(await self._real_link_changes(links))
        self.apply.hold_users = True  # the rows go out with the run's next write, after their links
        try:
            await self.apply.users(self.rs.deferred)
        finally:
            self.apply.hold_users = False
        self.rs.deferred = []
        return "done"

    def _gone_since_round(self, gone: frozenset[str]) -> None:
        """Users memberOf no longer finds were deleted after the users round named them: removed as deleted, as the
        next round will report them (a user entering scope is simply not stored; its row stays absent, inactive or
        out of scope). Their restore is then a user entering scope again, whose memberships memberOf reads."""
        rs = self.rs
        rs.deferred = [w for w in rs.deferred if w.record.id not in gone]
        for uid in gone & rs.entering:
            rs.stored.pop(uid, None)  # not written: nothing to remove either
        rs.entering -= gone
        rs.scope -= gone
        rs.deleted |= gone

    async def _write_fetched(self, records: list[UserRecord]) -> None:
        writes = plan_user_writes(records, self.rs.stored, self.rs.scope)
        if self.cp.mode != "full":  # users entering scope wait for their memberships (fill)
            self.rs.deferred += [w for w in writes if w.kind != "user.updated"]
            self.rs.entering.update(w.record.id for w in writes if w.kind != "user.updated")
            await self.apply.users([w for w in writes if w.kind == "user.updated"])
        else:
            await self.apply.users(writes)
        for w in writes:
            if self.cp.mode != "full":  # only an incremental run's fill phase asks what was written
                self.rs.written.add(w.record.id)
            self.rs.stored[w.record.id] = StoredUser(w.record.hash, w.status, True)
