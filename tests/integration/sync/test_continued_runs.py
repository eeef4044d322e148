"""Runs cut by their time budget between two phases and continued by the next invocation: what one phase learned
for a later one travels in the checkpoint (the run's state, shared/services/sync_run_state.py), so the continued
run ends as an uninterrupted one would."""

from __future__ import annotations

from collections.abc import Callable

from shared.services.directory_sync import RunResult, run_sync
from tests.integration.sync.conftest import SyncWorld
from tests.integration.sync.test_changes import _direct_users


def _pausing_at(phase: str) -> tuple[Callable[[], float], Callable[[str, dict[str, int]], None]]:
    """A clock and a progress callback: the budget is spent as soon as the run reaches `phase` (no sleeping)."""
    now = [0.0]

    def clock() -> float:
        return now[0]

    def progress(at: str, _counts: dict[str, int]) -> None:
        if at == phase:
            now[0] = 1e9

    return clock, progress


async def _continued(world: SyncWorld, mode: str, phase: str) -> RunResult:
    clock, progress = _pausing_at(phase)
    first = await run_sync(world.deps(clock=clock, progress=progress), world.connection, mode=mode, budget_s=60)
    assert first.outcome == "continued", "the run should stop when it reaches the phase"
    return await world.sync(mode=mode)


async def test_a_full_run_continued_after_its_groups_phase_still_deletes_stale_groups(world: SyncWorld) -> None:
    control, tid = world.entra.control, world.tid
    await world.sync(mode="full")
    truth = control.ground_truth(tid)
    chain = {g for g, name in truth["groups"].items() if name.startswith(("Connector Sync Scope", "Sync Tier"))}
    gone = sorted(set(truth["groups"]) - chain - {world.connection.sync_group_id})[0]
    control.delete_group(tid, gone)
    result = await _continued(world, "full", "removals")
    assert result.outcome == "succeeded"
    assert gone not in await world.stored_groups()
    await world.assert_matches_ground_truth()
    # the same as an uninterrupted full run of the same tenant
    assert (await world.sync(mode="full")).counts.get("group.deleted", 0) == 0


async def test_a_groups_run_continued_after_its_groups_phase_still_leaves_the_joiner_to_the_next_run(
    world: SyncWorld,
) -> None:
    """Issue 14 defect 1 through a continued groups-only run: the tree change it applied is remembered (scope_dirty)
    across the invocations, so the next incremental run lists the scope and stores the joiner."""
    control, tid, sync_group = world.entra.control, world.tid, world.connection.sync_group_id
    assert sync_group
    await world.sync()
    await world.events()
    nested = [g for g in control.ground_truth(tid)["groups"] if g != sync_group]
    direct = set(await _direct_users(world, sync_group))
    # a new group nested in the sync tree, holding a user stored nowhere: only the tree changes in groups/delta
    data = await world.graph.get_json("users", params={"$select": "id,accountEnabled", "$top": "999"})
    truth = control.ground_truth(tid)
    joiner = next(
        u["id"]
        for u in data["value"]
        if u["id"] not in truth["users"] and u["id"] not in direct and u.get("accountEnabled") is not False
    )
    group = control.create_group(tid, "Continued Joiners", members=[joiner])["id"]
    control.add_member(tid, sync_group, group)
    assert nested  # the seed nests groups in the sync group
    result = await _continued(world, "groups", "defaults")
    assert result.outcome == "succeeded"
    assert (await world.sync()).mode == "incremental"
    await world.sync()
    users = await world.stored_users()
    assert joiner in users and users[joiner]["in_scope"] is True
    await world.assert_matches_ground_truth()
