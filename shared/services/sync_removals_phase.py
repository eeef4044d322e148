"""Sync phases "defaults" and "removals": new default settings on stored users; users leaving scope, the
deletion threshold, held removals (kept until approved or superseded) and their reasons."""

from __future__ import annotations

from typing import Any

from shared.domain.sync_plan import (
    plan_removals,
    threshold_exceeded,
)
from shared.services import sync_defaults
from shared.services import sync_fetch as fetch
from shared.services.sync_run import RunBase


class RemovalsPhase(RunBase):
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
        rs = self.rs
        removals = [] if self.cp.mode == "groups" else plan_removals(rs.stored, rs.scope, rs.deleted, behaviour)
        unexplained = [r.user_id for r in removals if r.reason != "deleted"]
        if unexplained:  # this run's users/delta did not report them deleted: a full listing, or an earlier hold
            self.rs.deleted |= await fetch.missing_users(self.deps.graph, unexplained)
            removals = plan_removals(self.rs.stored, self.rs.scope, self.rs.deleted, behaviour)
        leaving = {r.user_id for r in removals}
        stale_groups = list(self.rs.stale_groups)
        counted = len([r for r in removals if r.kind != "user.kept"]) + len(stale_groups)
        stored_total = len(self.rs.stored)
        if counted and not self.rs.scope_complete and self.connection.deletion_threshold_percent is not None:
            stored_total = await self.store.count_users()  # the percentage is of everything stored
        limit_hit = threshold_exceeded(
            counted,
            stored_total + len(self.rs.stored_groups),
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
            emptied = [gid for gid in sorted(links) if gid in self.rs.stored_groups]
            stale_groups += await self.apply.links_many(
                [(gid, set(), uids) for gid, uids in sorted(links.items())],
                emptied=emptied,
                anchors=self.rs.group_anchors,
            )
        await self.apply.removals(removals)
        if stale_groups:
            await self.apply.delete_groups(sorted(set(stale_groups)))


def behaviour_removes_links(behaviour: str) -> bool:
    return behaviour in ("deactivate", "delete")
