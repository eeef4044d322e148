"""Sync phase "groups": a full groups/delta round diffed against the stored links, or an incremental round
applied slice by slice (deleted, renamed and new groups; real membership changes only)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from shared.domain import sync_scope
from shared.domain.directory import (
    USER_TYPE,
    group_record,
    removed_reason,
)
from shared.services import sync_fetch as fetch
from shared.services.sync_run import RunBase


class GroupsPhase(RunBase):
    # -- groups ------------------------------------------------------------------------------------
    async def groups(self) -> str:
        full = self.cp.mode == "full" or not self.cursor.groups_delta
        if full:
            return await self._groups_full()
        if self.cp.mode == "groups":  # groups-only runs read their round here (incremental ones read it first)
            self.rs.group_items, self.cp.new_groups_delta = await fetch.collect(
                fetch.groups_delta(self.deps.graph, self.cursor.groups_delta)
            )
            facts = sync_scope.delta_facts([], self.rs.group_items)
            if self.connection.sync_group_id and sync_scope.tree_touched(facts, self.cursor.scope_tree):
                self.rs.scope_dirty = True  # users entering or leaving scope are left to the next incremental run
        for start in range(0, len(self.rs.group_items), 200):
            await self._groups_incremental_page(self.rs.group_items[start : start + 200])
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
                    if link.get("@odata.type", USER_TYPE) != USER_TYPE or uid not in self.rs.scope:
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
        stored_links = await self.store.links_of_users(set(self.rs.stored) | self.rs.scope)

        def changes() -> Iterator[tuple[str, set[str], set[str]]]:  # one group at a time: no copy of every link
            for gid in sorted(wanted | set(stored_links)):
                want = members.pop(gid, set()) if gid in wanted else set()
                have = stored_links.pop(gid, set())
                if want != have:
                    yield gid, want - have, have - want

        await self.apply.links_many(changes())
        self.rs.stale_groups = sorted(set(self.rs.stored_groups) - wanted)
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
                if gid in self.rs.stored_groups:
                    await self.apply.delete_groups([gid])
                    self.rs.stored_groups.pop(gid, None)
                continue
            added, removed = set(), set()
            for link in item.get("members@delta", []):
                uid = str(link.get("id", ""))
                if link.get("@odata.type", USER_TYPE) != USER_TYPE:
                    continue
                if "@removed" in link:
                    removed.add(uid)
                elif uid in self.rs.scope:
                    added.add(uid)
            if "displayName" in item and (gid in self.rs.stored_groups or added):
                new_records.append(group_record(item))
            elif added and gid not in self.rs.stored_groups:
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
            if gid in self.rs.stored_groups and not await self.apply.has_members(gid):
                await self.apply.delete_groups([gid])
                self.rs.stored_groups.pop(gid, None)
        self.tick()
