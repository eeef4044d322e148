"""Sync phase "groups": a full groups/delta round diffed against the stored links, or an incremental round
applied slice by slice (deleted, renamed and new groups; real membership changes only)."""

from __future__ import annotations

import asyncio
from typing import Any

from shared.domain import sync_scope
from shared.domain.directory import (
    USER_TYPE,
    GroupRecord,
    group_record,
    removed_reason,
)
from shared.services import sync_fetch as fetch
from shared.services.sync_run import RunBase

MEMBER_READS = 8  # groups whose members a full run reads side by side (within the GraphClient's own limit)
LINKS_PER_WRITE = 2000  # links gathered before a group batch is written


class GroupsPhase(RunBase):
    # -- groups ------------------------------------------------------------------------------------
    async def groups(self) -> str:
        if self.full_groups_round():
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
        """The groups watermark first (taken before the scope was read, in `UsersPhase._load_state`: a change made
        since is replayed by the next incremental run), then the groups listed and their direct members read side by
        side (MEMBER_READS groups at a time), each group's links diffed against the stored ones and written while
        later groups are still being read."""
        graph = self.deps.graph
        if not self.cp.new_groups_delta:  # an incremental run whose first groups round gave no deltaLink
            self.cp.new_groups_delta = await fetch.latest_delta_link(graph, "groups")
            await self.save()
        scope = self.rs.scope
        stored_links_read = asyncio.create_task(self.store.links_of_users(set(self.rs.stored) | scope))
        done: asyncio.Queue[tuple[GroupRecord, set[str]] | None] = asyncio.Queue(maxsize=4 * MEMBER_READS)
        reads = asyncio.create_task(self._read_groups(done))
        wanted: set[str] = set()
        try:
            stored_links = await stored_links_read
            batch: list[tuple[GroupRecord, set[str]]] = []
            size = 0
            while (item := await done.get()) is not None:
                record, members = item
                if not members:
                    continue
                wanted.add(record.id)
                batch.append((record, members))
                size += len(members)
                if size >= LINKS_PER_WRITE:
                    await self._write_group_batch(batch, stored_links)
                    batch, size = [], 0
            await reads  # its error, if the listing failed
            await self._write_group_batch(batch, stored_links)
        finally:
            for task in (reads, stored_links_read):
                if not task.done():
                    task.cancel()
        # groups no longer listed, or without in-scope members: their stored links go
        await self.apply.links_many((gid, set(), uids) for gid, uids in sorted(stored_links.items()) if uids)
        self.rs.stale_groups = sorted(set(self.rs.stored_groups) - wanted)
        return "done"

    async def _read_groups(self, done: asyncio.Queue[tuple[GroupRecord, set[str]] | None]) -> None:
        """Producer: each listed group with its in-scope direct user members, in the order their reads finish; at
        most MEMBER_READS reads at once (so a tenant with many groups never holds a task per group)."""
        limit = asyncio.Semaphore(MEMBER_READS)
        scope = self.rs.scope
        running: set[asyncio.Task[None]] = set()
        failed: list[BaseException] = []

        async def one(record: GroupRecord) -> None:
            try:
                members = await fetch.member_user_ids(self.deps.graph, record.id)
                if members is not None:  # None: deleted since the listing (the next incremental run sees it too)
                    await done.put((record, members & scope))
            except Exception as exc:  # noqa: BLE001 - handed to the producer, which raises it
                failed.append(exc)
            finally:
                limit.release()

        try:
            async for page in fetch.group_listing(self.deps.graph):
                for item in page:
                    if not item.get("id"):
                        continue
                    await limit.acquire()
                    if failed:
                        raise failed[0]
                    task = asyncio.create_task(one(group_record(item)))
                    running.add(task)
                    task.add_done_callback(running.discard)
            await asyncio.gather(*running)
            if failed:
                raise failed[0]
        except asyncio.CancelledError:
            for task in list(running):
                task.cancel()
            raise
        except Exception:
            for task in list(running):
                task.cancel()
            await done.put(None)  # the consumer stops, then awaits this task for the error
            raise
        await done.put(None)

    async def _write_group_batch(
        self, batch: list[tuple[GroupRecord, set[str]]], stored_links: dict[str, set[str]]
    ) -> None:
        """Group rows first, then their links' changes (a group's stored links are dropped from `stored_links`)."""
        if not batch:
            return
        await self._ensure_groups([record for record, _ in batch], {record.id: want for record, want in batch})
        changes = []
        for record, want in batch:
            have = stored_links.pop(record.id, set())
            if want != have:
                changes.append((record.id, want - have, have - want))
        await self.apply.links_many(changes)
        self.tick()

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
        await self._ensure_groups(new_records, {gid: added for gid, added, _ in candidates if added})
        changes = await self._real_link_changes(candidates)
        # a group that gained a member in this slice is not empty; the others that lost one are checked
        emptied = sorted(
            gid for gid, added, removed in changes if removed and not added and gid in self.rs.stored_groups
        )
        empty = await self.apply.links_many(changes, emptied=emptied, anchors=self.rs.group_anchors)
        if empty:
            await self.apply.delete_groups(empty)
            for gid in empty:
                self.rs.stored_groups.pop(gid, None)
                self.rs.group_anchors.pop(gid, None)
        self.tick()
