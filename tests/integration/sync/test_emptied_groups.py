"""Groups that lose members in an incremental run: one left without a stored member is deleted (once, also when
planned by a dry run), one that keeps a member or gains one in the same change stays. The check runs beside the
sending of the membership events (shared/services/sync_apply.py, links_many)."""

from __future__ import annotations

from tests.integration.sync.conftest import SyncWorld


async def test_only_the_group_left_without_a_member_is_deleted(world: SyncWorld) -> None:
    control = world.entra.control
    await world.sync(mode="full")
    users = sorted(control.ground_truth(world.tid, world.connection.sync_group_id)["users"])[:3]
    emptied = control.create_group(world.tid, "Emptied Team", members=users[:2])["id"]
    kept = control.create_group(world.tid, "Kept Team", members=users[:2])["id"]
    refilled = control.create_group(world.tid, "Refilled Team", members=users[:1])["id"]
    await world.sync()
    assert {emptied, kept, refilled} <= set(await world.stored_groups())
    await world.events()
    for uid in users[:2]:
        control.remove_member(world.tid, emptied, uid)
    control.remove_member(world.tid, kept, users[0])
    control.remove_member(world.tid, refilled, users[0])
    control.add_member(world.tid, refilled, users[2])

    dry = await world.sync(dry_run=True)
    assert [p["object_id"] for p in dry.planned if p["type"] == "group.deleted"] == [emptied]
    assert dry.counts["group.deleted"] == 1
    assert {emptied, kept, refilled} <= set(await world.stored_groups()), "a dry run writes nothing"

    result = await world.sync()
    assert result.outcome == "succeeded" and result.counts["group.deleted"] == 1
    stored = await world.stored_groups()
    assert emptied not in stored and {kept, refilled} <= set(stored)
    deleted = [e["object_id"] for e in await world.events() if e["type"] == "group.deleted"]
    assert deleted == [emptied]
    await world.assert_matches_ground_truth()
