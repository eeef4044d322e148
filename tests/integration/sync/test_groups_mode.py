"""A groups-only run (mode=groups) between incremental runs: users who joined or left the sync group while it ran
are still stored, removed and announced by the runs that follow (issue 14, defect 1: a leaver kept access)."""

from __future__ import annotations

import dataclasses

import pytest

from tests.integration.sync.conftest import SyncWorld
from tests.integration.sync.test_changes import _direct_users, _out_of_scope_user


async def test_a_joiner_seen_first_by_a_groups_run_is_stored_by_the_next_incremental_run(world: SyncWorld) -> None:
    control, tid, sync_group = world.entra.control, world.tid, world.connection.sync_group_id
    assert sync_group
    assert (await world.sync()).mode == "full"
    joiner = control.create_user(tid, "Gia", "Groupsonly", groups=[sync_group])["id"]
    assert (await world.sync(mode="groups")).outcome == "succeeded"
    first = await world.sync()
    assert first.mode == "incremental"
    await world.sync()
    users = await world.stored_users()
    assert joiner in users and users[joiner]["in_scope"] is True
    await world.assert_matches_ground_truth()
    assert any(e["type"] == "user.created" and e["object_id"] == joiner for e in await world.events())


async def test_an_existing_user_added_to_the_sync_group_before_a_groups_run_is_stored_afterwards(
    world: SyncWorld,
) -> None:
    """Its object did not change, so users/delta never names it: only the scope can show it."""
    control, tid, sync_group = world.entra.control, world.tid, world.connection.sync_group_id
    assert sync_group
    await world.sync()
    await world.events()
    joiner = await _out_of_scope_user(world, control.ground_truth(tid))
    control.add_member(tid, sync_group, joiner)
    assert (await world.sync(mode="groups")).outcome == "succeeded"
    assert (await world.sync()).mode == "incremental"
    await world.sync()
    users = await world.stored_users()
    assert joiner in users and users[joiner]["in_scope"] is True
    await world.assert_matches_ground_truth()
    assert any(e["type"] == "user.created" and e["object_id"] == joiner for e in await world.events())


@pytest.mark.parametrize("behaviour", ["keep", "deactivate", "delete"])
async def test_a_leaver_seen_first_by_a_groups_run_loses_access_at_the_next_incremental_run(
    world: SyncWorld, behaviour: str
) -> None:
    world.connection = dataclasses.replace(world.connection, removal_behaviour=behaviour)
    control, tid, sync_group = world.entra.control, world.tid, world.connection.sync_group_id
    assert sync_group
    await world.sync()
    await world.events()
    truth = control.ground_truth(tid)
    direct = await _direct_users(world, sync_group)
    leaver = next(u for u in direct if [g for g, m in truth["memberships"] if m == u] == [sync_group])
    control.remove_member(tid, sync_group, leaver)
    assert leaver not in control.ground_truth(tid)["users"]
    await world.sync(mode="groups")
    result = await world.sync()
    assert result.mode == "incremental"
    users = await world.stored_users()
    if behaviour == "delete":
        assert leaver not in users
    else:
        assert users[leaver]["in_scope"] is False
        assert (users[leaver]["status"] == "inactive") is (behaviour == "deactivate")
    if behaviour != "keep":
        await world.assert_matches_ground_truth()
    kinds = {"keep": "user.kept", "deactivate": "user.deactivated", "delete": "user.deleted"}
    assert any(e["type"] == kinds[behaviour] and e["object_id"] == leaver for e in await world.events())
