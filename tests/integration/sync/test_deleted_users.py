"""Users deleted in Entra, under each removal behaviour: a soft delete then a restore, a delete for good, and the end
of the deleted-items window. After every run the stored copy equals the emulator's ground truth (plus, for `keep`,
the kept rows), and the change feed says what happened."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from shared.services.sync_fetch import scope_tree
from tests.integration.sync.conftest import SyncWorld

BEHAVIOURS = ["keep", "deactivate", "delete"]
REMOVAL_EVENT = {"keep": "user.kept", "deactivate": "user.deactivated", "delete": "user.deleted"}


async def _member_of_many(world: SyncWorld) -> tuple[str, set[str]]:
    """An in-scope user directly in several groups, one of them outside the sync group's tree (so group delta of
    the tree alone could not bring that link back): (user id, its groups)."""
    truth = world.entra.control.ground_truth(world.tid)
    tree = await scope_tree(world.graph, world.connection.sync_group_id)
    groups: dict[str, set[str]] = {}
    for gid, uid in truth["memberships"]:
        groups.setdefault(uid, set()).add(gid)
    candidates = sorted((-len(g), uid) for uid, g in groups.items() if len(g) >= 2 and g - tree)
    assert candidates, "the seed should have users in a tree group and in a group outside the tree"
    uid = candidates[0][1]
    return uid, groups[uid]


async def _assert_copy(world: SyncWorld, kept: dict[str, set[str]] | None = None) -> None:
    """Stored copy == ground truth; `kept` (removal behaviour keep): users kept out of scope, with the links kept."""
    if not kept:
        await world.assert_matches_ground_truth()
        return
    truth = world.entra.control.ground_truth(world.tid, world.connection.sync_group_id)
    users = await world.stored_users()
    active = {uid for uid, row in users.items() if row.get("in_scope") and row["status"] != "inactive"}
    assert active == set(truth["users"])
    assert all(users[uid]["in_scope"] is False and users[uid]["removed_reason"] == "deleted" for uid in kept)
    links = {tuple(pair) for pair in truth["memberships"]} | {(g, u) for u, gs in kept.items() for g in gs}
    assert await world.stored_links() == links
    assert set(await world.stored_groups()) == {g for g, _ in links}


def _of(events: list[dict[str, Any]], uid: str) -> list[tuple[str, str, str]]:
    """(type, group id, reason) of this user's events, sorted."""
    return sorted((e["type"], e.get("group_id", ""), e.get("reason", "")) for e in events if e["object_id"] == uid)


def _with(world: SyncWorld, behaviour: str) -> None:
    world.connection = dataclasses.replace(world.connection, removal_behaviour=behaviour)


@pytest.mark.parametrize("behaviour", BEHAVIOURS)
async def test_a_soft_deleted_then_restored_user(world: SyncWorld, behaviour: str) -> None:
    _with(world, behaviour)
    control, tid = world.entra.control, world.tid
    assert (await world.sync()).mode == "full"
    await world.events()
    uid, groups = await _member_of_many(world)

    control.delete_user(tid, uid)
    deleted = await world.sync()
    assert deleted.mode == "incremental" and deleted.outcome == "succeeded"
    await _assert_copy(world, {uid: groups} if behaviour == "keep" else None)
    users = await world.stored_users()
    if behaviour == "delete":
        assert uid not in users
    else:
        assert users[uid]["removed_reason"] == "deleted"
        assert (users[uid]["status"] == "inactive") == (behaviour == "deactivate")
    links_gone = [] if behaviour == "keep" else [("membership.removed", g, "") for g in groups]
    assert _of(await world.events(), uid) == sorted([(REMOVAL_EVENT[behaviour], "", "deleted"), *links_gone])

    control.restore_user(tid, uid)
    restored = await world.sync()
    assert restored.mode == "incremental" and restored.outcome == "succeeded"
    await world.assert_matches_ground_truth()  # the same memberships are back
    links_back = [] if behaviour == "keep" else [("membership.added", g, "") for g in groups]
    back = "user.created" if behaviour == "delete" else "user.restored"  # `delete` keeps no record of the user
    assert _of(await world.events(), uid) == sorted([(back, "", ""), *links_back])
    assert (await world.sync()).table_writes == 0


@pytest.mark.parametrize("behaviour", BEHAVIOURS)
async def test_a_user_deleted_for_good(world: SyncWorld, behaviour: str) -> None:
    _with(world, behaviour)
    control, tid = world.entra.control, world.tid
    await world.sync()
    await world.events()
    uid, groups = await _member_of_many(world)
    control.set_delta_duplicates(tid, True)  # replayed entries must not remove or announce twice

    control.hard_delete_user(tid, uid)
    result = await world.sync()
    assert result.mode == "incremental" and result.outcome == "succeeded"
    await _assert_copy(world)  # for `keep` too: the links went with the user
    users = await world.stored_users()
    assert (uid in users) == (behaviour != "delete")
    expected = [(REMOVAL_EVENT[behaviour], "", "deleted"), *[("membership.removed", g, "") for g in groups]]
    assert _of(await world.events(), uid) == sorted(expected)
    again = await world.sync()
    assert again.table_writes == 0 and await world.events() == []


@pytest.mark.parametrize("behaviour", BEHAVIOURS)
async def test_the_end_of_the_deleted_items_window_changes_nothing_twice(world: SyncWorld, behaviour: str) -> None:
    """Soft delete, then 30 days later the delete for good: its `@removed` links are idempotent (links a
    deactivate or delete already removed are not removed or announced again; `keep` loses them now)."""
    _with(world, behaviour)
    control, tid = world.entra.control, world.tid
    await world.sync()
    uid, groups = await _member_of_many(world)
    control.delete_user(tid, uid)
    await world.sync()
    await world.events()

    assert control.expire_deleted_items(tid, uid) == [uid]
    result = await world.sync()
    assert result.outcome == "succeeded"
    await _assert_copy(world)
    if behaviour == "keep":
        assert _of(await world.events(), uid) == sorted(("membership.removed", g, "") for g in groups)
        assert (await world.stored_users())[uid]["in_scope"] is False
    else:
        assert result.table_writes == 0
        assert await world.events() == []


async def test_a_user_deleted_and_restored_while_a_full_run_reads_gets_its_memberships_next_run(
    world: SyncWorld,
) -> None:
    """The full run lists the user, then reads its groups round while the user is soft-deleted (group delta hides
    its links, and never shows them again after the restore): the next incremental run reads them from memberOf."""
    from shared.services.directory_sync import run_sync

    control, tid = world.entra.control, world.tid
    uid, groups = await _member_of_many(world)

    def meanwhile(phase: str, counts: dict[str, int]) -> None:
        user = control.get_user(tid, uid)
        if phase == "fill" and user["state"] == "active":  # the listing is done, the groups round comes next
            control.delete_user(tid, uid)
        elif phase == "removals" and user["state"] == "soft_deleted":  # the groups round is done
            control.restore_user(tid, uid)

    full = await run_sync(world.deps(progress=meanwhile), world.connection, budget_s=60)
    assert full.mode == "full" and control.get_user(tid, uid)["state"] == "active"
    assert not {g for g, u in await world.stored_links() if u == uid}  # what the groups round showed
    await world.events()
    result = await world.sync()
    assert result.mode == "incremental"
    await world.assert_matches_ground_truth()
    assert _of(await world.events(), uid) == sorted(("membership.added", g, "") for g in groups)


async def test_a_restore_killed_between_its_links_and_its_row_is_finished_by_the_next_run(world: SyncWorld) -> None:
    """A user entering scope is stored after its memberships: killed in between, the next run still sees it
    entering (row inactive), reads its memberships again and stores it."""
    from shared.services.directory_sync import run_sync
    from tests.integration.sync.test_safety import _Killed

    _with(world, "deactivate")
    control, tid = world.entra.control, world.tid
    await world.sync()
    uid, groups = await _member_of_many(world)
    control.delete_user(tid, uid)
    await world.sync()
    control.restore_user(tid, uid)
    await world.events()

    def die_after_fill(phase: str, counts: dict[str, int]) -> None:
        if phase == "groups":
            raise _Killed(phase)

    with pytest.raises(_Killed):
        await run_sync(world.deps(progress=die_after_fill), world.connection, budget_s=60)
    assert {g for g, u in await world.stored_links() if u == uid} == groups  # the links went first
    assert (await world.stored_users())[uid]["status"] == "inactive"  # the row had not gone yet
    resumed = await world.sync()
    assert resumed.outcome == "succeeded"
    await world.assert_matches_ground_truth()
    unique = {e["id"]: e for e in await world.events() if e["object_id"] == uid}  # consumers dedupe on id
    kinds = sorted(e["type"] for e in unique.values())
    assert kinds == sorted(["user.restored", *["membership.added"] * len(groups)])
