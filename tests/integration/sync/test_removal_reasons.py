"""Each user leaving scope keeps its own reason, in its row (`removed_reason`) and its event (issue 14, defect 6),
and `keep` still tells the change feed a user left (defect 12)."""

from __future__ import annotations

import dataclasses

import pytest

from tests.integration.sync.conftest import SyncWorld


@pytest.mark.parametrize("mode", ["incremental", "full", "approved"])
@pytest.mark.parametrize("behaviour", ["keep", "deactivate"])
async def test_a_deleted_user_and_a_leaver_each_keep_their_reason(world: SyncWorld, behaviour: str, mode: str) -> None:
    world.connection = dataclasses.replace(world.connection, removal_behaviour=behaviour)
    control, tid, sync_group = world.entra.control, world.tid, world.connection.sync_group_id
    assert sync_group
    deleted = control.create_user(tid, "Del", f"Reason {behaviour} {mode}", groups=[sync_group])["id"]
    leaver = control.create_user(tid, "Left", f"Reason {behaviour} {mode}", groups=[sync_group])["id"]
    await world.sync()
    await world.events()
    control.delete_user(tid, deleted)
    control.remove_member(tid, sync_group, leaver)
    assert leaver not in control.ground_truth(tid)["users"]
    if mode == "approved":
        world.connection = dataclasses.replace(world.connection, deletion_threshold=1)
        held = await world.sync()
        assert held.outcome == "awaiting_approval" or behaviour == "keep"
        await world.sync(approved=True)
    else:
        await world.sync(mode=mode)
    users = await world.stored_users()
    assert users[deleted]["removed_reason"] == "deleted"
    assert users[leaver]["removed_reason"] == "left_scope"
    kind = {"keep": "user.kept", "deactivate": "user.deactivated"}[behaviour]
    reasons = {e["object_id"]: e.get("reason") for e in await world.events() if e["type"] == kind}
    assert reasons == {deleted: "deleted", leaver: "left_scope"}


async def test_keep_announces_every_user_leaving_scope_through_a_nested_group(world: SyncWorld) -> None:
    """Issue 14, defect 12: under `keep` the row stays, and the change feed still hears that the user left."""
    from tests.integration.sync.test_safety import _shrunk_scope

    world.connection = dataclasses.replace(world.connection, removal_behaviour="keep")
    await world.sync()
    await world.events()
    async with _shrunk_scope(world) as left:
        await world.sync()
        kept = {e["object_id"]: e.get("reason") for e in await world.events() if e["type"] == "user.kept"}
        assert kept == dict.fromkeys(left, "left_scope")
        users = await world.stored_users()
        assert all(users[u]["in_scope"] is False and users[u]["removed_reason"] == "left_scope" for u in left)
