"""Removals held by the deletion threshold stay visible (status, runs) and held through later runs until they are
approved or superseded; a later run neither applies nor drops them (issue 14, defect 2)."""

from __future__ import annotations

import dataclasses

from shared.adapters.sync_state import SyncState
from shared.services.sync_jobs import JobMessage, run_job
from tests.integration.sync.conftest import SyncWorld
from tests.integration.sync.test_safety import _shrunk_scope


async def _job(world: SyncWorld, **kwargs: object) -> str:
    result = await run_job(
        world.deps(), world.queues, world.connection, JobMessage(world.connection.id, **kwargs), budget_s=60
    )  # type: ignore[arg-type]
    assert result is not None
    return result.outcome


async def test_a_held_removal_stays_held_and_visible_through_later_runs_until_approved(world: SyncWorld) -> None:
    world.connection = dataclasses.replace(world.connection, deletion_threshold=1)
    state = SyncState(world.tables, world.connection.id)
    await _job(world)
    async with _shrunk_scope(world) as left:
        assert await _job(world) == "awaiting_approval"
        held = await state.status()
        assert held.state == "awaiting_approval" and held.pending_removals == len(left)
        for trigger in ("schedule", "manual"):
            assert await _job(world, trigger=trigger) == "awaiting_approval"
            again = await state.status()
            assert (again.state, again.pending_removals) == ("awaiting_approval", len(left))
            users = await world.stored_users()
            assert all(users[u]["status"] != "inactive" for u in left), "a later run must not apply the hold"
            _, items = await state.approval()
            assert {i[1] for i in items if i[0] == "user.deactivated"} == left, "nor drop it"
        assert await _job(world, approved=True) == "succeeded"
        await world.assert_matches_ground_truth()
    done = await state.status()
    assert (done.state, done.pending_removals) == ("idle", 0)


async def test_a_hold_is_superseded_when_the_leavers_come_back(world: SyncWorld) -> None:
    world.connection = dataclasses.replace(world.connection, deletion_threshold=1)
    state = SyncState(world.tables, world.connection.id)
    await _job(world)
    async with _shrunk_scope(world):
        assert await _job(world) == "awaiting_approval"
    assert await _job(world) == "succeeded"  # every leaver is back: nothing left to approve
    status = await state.status()
    assert (status.state, status.pending_removals) == ("idle", 0)
    assert (await state.approval())[1] == []
    await world.assert_matches_ground_truth()
