"""After a batch of changes an incremental sync equals ground truth again and rewrites only what changed."""

from __future__ import annotations

from typing import Any

from shared.domain.directory import GROUP_TYPE
from tests.integration.sync.conftest import SyncWorld


async def _nested_groups(world: SyncWorld, group_id: str) -> list[str]:
    data = await world.graph.get_json(f"groups/{group_id}/members", params={"$select": "id", "$top": "999"})
    return [m["id"] for m in data["value"] if m.get("@odata.type") == GROUP_TYPE]


async def _direct_users(world: SyncWorld, group_id: str) -> list[str]:
    data = await world.graph.get_json(f"groups/{group_id}/members", params={"$select": "id", "$top": "999"})
    return sorted(m["id"] for m in data["value"] if m.get("@odata.type") != GROUP_TYPE)


async def _out_of_scope_user(world: SyncWorld, truth: dict[str, Any]) -> str:
    data = await world.graph.get_json("users", params={"$select": "id,accountEnabled", "$top": "999"})
    return next(
        u["id"] for u in data["value"] if u["id"] not in truth["users"] and u.get("accountEnabled") is not False
    )


async def test_incremental_after_a_batch_of_changes_equals_ground_truth(world: SyncWorld) -> None:
    control, tid, sync_group = world.entra.control, world.tid, world.connection.sync_group_id
    assert sync_group
    await world.sync()
    before = await world.stored_users()
    await world.events()
    truth = control.ground_truth(tid)
    nested = await _nested_groups(world, sync_group)
    assert nested, "the seed should nest groups inside the sync group"
    deeper = await _nested_groups(world, nested[0])
    assert deeper, "the seed should nest groups at least two levels deep"
    direct = await _direct_users(world, sync_group)
    assert len(direct) >= 3

    created = control.create_user(tid, "Zoë", "Ångström", groups=[nested[0]])  # in scope through nesting
    renamed_group = truth["memberships"][0][0]
    control.rename_group(tid, renamed_group, "Renamed Team ✓")
    control.remove_member(tid, nested[0], deeper[0])  # a nested group leaves scope: its users may leave too
    deleted, disabled, restored = direct[0], direct[1], direct[2]
    control.delete_user(tid, deleted)
    control.delete_user(tid, restored)
    control.restore_user(tid, restored)
    control.update_user(tid, disabled, accountEnabled=False)
    newcomer = await _out_of_scope_user(world, truth)
    control.add_member(tid, sync_group, newcomer)  # newly in scope; its own object did not change

    result = await world.sync()
    assert result.mode == "incremental"
    await world.assert_matches_ground_truth()
    after = await world.stored_users()
    assert created["id"] in after and newcomer in after
    assert after[deleted]["status"] == "inactive"  # default removal behaviour: deactivate
    assert after[disabled]["status"] == "disabled"

    new_truth = control.ground_truth(tid)
    left = set(truth["users"]) - set(new_truth["users"])
    changed = {created["id"], newcomer, disabled, restored} | left
    untouched = [uid for uid in before if uid not in changed]
    assert untouched, "some users must be untouched for this test to mean anything"
    assert [uid for uid in untouched if after[uid]["synced_at"] != before[uid]["synced_at"]] == []

    types = [e["type"] for e in await world.events()]
    assert "user.created" in types and "group.updated" in types and "user.deactivated" in types
    assert "membership.added" in types and "membership.removed" in types


async def test_replayed_delta_entries_change_nothing(world: SyncWorld) -> None:
    control, tid = world.entra.control, world.tid
    await world.sync()
    control.create_user(tid, "Ana", "Replay", groups=[world.connection.sync_group_id])
    control.set_delta_duplicates(tid, True)
    await world.sync()
    await world.assert_matches_ground_truth()
    await world.events()
    again = await world.sync()
    assert again.table_writes == 0
    assert await world.events() == []


async def test_changes_outside_the_scope_tree_need_no_scope_listing(world: SyncWorld) -> None:
    """Renames, attribute changes, memberships of groups outside the sync group's tree and deletions cannot
    change who is in scope beyond the users they name: the run reads only those users' rows."""
    from shared.services.sync_fetch import scope_tree

    control, tid, sync_group = world.entra.control, world.tid, world.connection.sync_group_id
    await world.sync()
    await world.events()
    truth = control.ground_truth(tid)
    tree = await scope_tree(world.graph, sync_group)
    outside = sorted({g for g, _ in truth["memberships"]} - tree)
    assert outside, "the seed should have groups outside the sync tree holding in-scope users"
    members = {u for g, u in truth["memberships"] if g == outside[0]}
    joiner = next(u for u in sorted(truth["users"]) if u not in members)
    leaver, changed, deleted = sorted(members)[0], sorted(truth["users"])[-1], sorted(truth["users"])[-2]

    control.rename_group(tid, outside[0], "Outside the tree ✓")
    control.add_member(tid, outside[0], joiner)
    control.remove_member(tid, outside[0], leaver)
    control.update_user(tid, changed, jobTitle="Chief Tester")
    control.delete_user(tid, deleted)
    control.create_user(tid, "Not", "InScope")  # in no group: never stored

    result = await world.sync()
    assert result.mode == "incremental"
    assert "scope.transitiveMembers" not in world.graph.stats.requests
    assert result.graph_requests == world.graph.stats.total > 0
    assert result.counts["user.updated"] == 1 and result.counts["membership.added"] == 1
    await world.assert_matches_ground_truth()
    users = await world.stored_users()
    assert users[changed]["jobTitle"] == "Chief Tester"
    assert users[deleted]["status"] == "inactive"
    kinds = sorted(e["type"] for e in await world.events())
    assert kinds.count("membership.added") == 1 and kinds.count("user.updated") == 1
    assert "group.updated" in kinds and "user.deactivated" in kinds


async def test_duplicated_delta_entries_emit_each_event_once(world: SyncWorld) -> None:
    """docs/sync.md: replayed or duplicated delta entries neither write nor emit again, in the same run either."""
    control, tid, sync_group = world.entra.control, world.tid, world.connection.sync_group_id
    assert sync_group
    await world.sync()
    await world.events()
    truth = control.ground_truth(tid)
    changed = sorted(truth["users"])[0]
    control.set_delta_duplicates(tid, True)
    created = control.create_user(tid, "Dup", "Licate", groups=[sync_group])["id"]
    control.update_user(tid, changed, jobTitle="Duplicated")
    result = await world.sync()
    assert result.mode == "incremental"
    await world.assert_matches_ground_truth()
    events = await world.events()
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)), "an event id twice"
    assert sorted((e["type"], e["object_id"]) for e in events if e["type"].startswith("user.")) == sorted(
        [("user.created", created), ("user.updated", changed)]
    )
    assert result.counts["user.created"] == 1 and result.counts["user.updated"] == 1


async def test_many_changes_outside_the_scope_cost_little_more_than_reading_the_delta(world: SyncWorld) -> None:
    """Issue 14, defect 13: 5,020 changed users outside the scope cost one memberOf check each (13.5 s). When the
    changed users nobody stores are many, one listing of the scope's ids (a page per 999 users) answers for all."""
    control, tid = world.entra.control, world.tid
    await world.sync()
    await world.sync()  # past the first incremental run after a full one (it re-reads memberOf: Cursor.after_full)
    await world.events()
    outsiders = [control.create_user(tid, "Out", f"Side{n}")["id"] for n in range(200)]
    in_scope = sorted(control.ground_truth(tid)["users"])[0]
    control.update_user(tid, in_scope, jobTitle="Still here")
    result = await world.sync()
    assert result.mode == "incremental"
    assert "users.memberOf" not in world.graph.stats.requests
    assert result.graph_requests <= 8, world.graph.stats.requests
    assert result.counts.get("user.updated") == 1 and "user.created" not in result.counts
    users = await world.stored_users()
    assert not set(outsiders) & set(users)
    await world.assert_matches_ground_truth()
