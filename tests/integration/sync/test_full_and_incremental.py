"""Full sync equals ground truth; an incremental sync after a batch of changes equals it again, writing only what
changed; replayed delta entries change nothing; an expired delta token leads to a clean full resync."""

from __future__ import annotations

from tests.integration.sync.conftest import SyncWorld


async def test_first_sync_is_full_and_equals_ground_truth(world: SyncWorld) -> None:
    result = await world.sync()
    assert result.mode == "full"
    assert result.outcome == "succeeded"
    await world.assert_matches_ground_truth()
    events = await world.events()
    truth = world.entra.control.ground_truth(world.tid)
    assert sum(e["type"] == "user.created" for e in events) == len(truth["users"])
    assert sum(e["type"] == "membership.added" for e in events) == len(truth["memberships"])
    assert all(set(e) >= {"id", "type", "connection_id", "object_id", "run_id"} for e in events)


async def test_second_sync_without_changes_writes_nothing(world: SyncWorld) -> None:
    await world.sync()
    await world.events()
    again = await world.sync()
    assert again.mode == "incremental"
    assert again.table_writes == 0
    assert await world.events() == []
    await world.assert_matches_ground_truth()


async def test_the_cursor_keeps_about_how_many_users_are_stored(world: SyncWorld) -> None:
    """The figure that picks how an incremental run reads rows: the scope after a full run, then adjusted."""
    from shared.adapters.sync_state import SyncState

    state = SyncState(world.tables, world.connection.id)
    await world.sync(mode="full")
    truth = world.entra.control.ground_truth(world.tid)
    assert (await state.cursor()).users_stored == len(truth["users"])
    world.entra.control.update_user(world.tid, sorted(truth["users"])[0], jobTitle="Size check")
    result = await world.sync()
    assert result.mode == "incremental" and result.counts.get("user.updated") == 1
    assert (await state.cursor()).users_stored == len(truth["users"])
