"""Eventual consistency: with a 2-second lag on the emulated tenant (its clock frozen, moved only by the test),
runs that read before writes are applied miss them, and the next run after the lag converges: no joiner lost, no
leaver kept, no delta link committed past a change, and no full sync needed."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from shared.services.directory_sync import run_sync
from tests.integration.sync.conftest import SyncWorld
from tests.integration.sync.test_changes import _direct_users, _nested_groups, _out_of_scope_user

LAG = 2.0


@pytest.fixture
def lagging(world: SyncWorld) -> None:
    """The world's fixture resets the emulator's behaviour (lag off, clock running) when the test ends."""
    world.entra.control.freeze_clock(True)
    world.entra.control.set_consistency_lag(LAG, world.tid)


async def test_joiners_and_leavers_converge_at_the_next_run_after_the_lag(world: SyncWorld, lagging: None) -> None:
    control, tid, sync_group = world.entra.control, world.tid, world.connection.sync_group_id
    assert sync_group
    assert (await world.sync()).mode == "full"
    await world.assert_matches_ground_truth()
    await world.events()
    truth = control.ground_truth(tid)
    nested = (await _nested_groups(world, sync_group))[0]
    direct = await _direct_users(world, sync_group)
    before_users, before_links = await world.stored_users(), await world.stored_links()

    joiner = control.create_user(tid, "Jonas", "Joiner", groups=[nested])["id"]
    outsider = await _out_of_scope_user(world, truth)
    control.add_member(tid, sync_group, outsider)  # newly in scope; its own object did not change
    deleted, renamed = direct[0], direct[1]
    control.delete_user(tid, deleted)
    control.update_user(tid, renamed, displayName="Renamed While Lagging")
    only_direct = [u for u in direct[2:] if [g for g, m in truth["memberships"] if m == u] == [sync_group]]
    control.remove_member(tid, sync_group, only_direct[0])
    left = set(truth["users"]) - set(control.ground_truth(tid)["users"])
    assert {deleted, only_direct[0]} <= left

    early = await world.sync()  # reads before anything is applied: sees nothing, commits nothing past it
    assert early.mode == "incremental" and early.outcome == "succeeded"
    assert early.table_writes == 0 and await world.events() == []
    assert await world.stored_users() == before_users and await world.stored_links() == before_links

    control.advance_clock(LAG)
    late = await world.sync()
    assert late.mode == "incremental" and late.outcome == "succeeded"
    await world.assert_matches_ground_truth()
    events = await world.events()
    created = {e["object_id"] for e in events if e["type"] == "user.created"}
    assert {joiner, outsider} <= created
    deactivated = {e["object_id"]: e["reason"] for e in events if e["type"] == "user.deactivated"}
    assert deactivated[deleted] == "deleted" and deactivated[only_direct[0]] == "left_scope"
    assert set(deactivated) == left
    assert (await world.stored_users())[renamed]["displayName"] == "Renamed While Lagging"


def _writer(world: SyncWorld, seed: int) -> Callable[[], None]:
    """One directory change per call, picked from joiners, leavers, renames, moves, deletions and restores."""
    control, tid, sync_group = world.entra.control, world.tid, world.connection.sync_group_id
    assert sync_group
    rng = random.Random(seed)
    soft_deleted: list[str] = []
    count = 0

    def write() -> None:
        nonlocal count
        count += 1
        truth = control.ground_truth(tid)
        in_scope = sorted(truth["users"])
        groups = sorted(truth["groups"])
        kind = rng.choice(["join", "rename", "move", "leave", "delete", "restore", "purge"])
        if len(in_scope) < 20 or not truth["memberships"]:  # keep the scope from running dry over many runs
            kind = "join"
        if kind == "join":
            control.create_user(tid, "Lag", f"Joiner{count}", groups=[rng.choice(groups)])
        elif kind == "rename":
            control.update_user(tid, rng.choice(in_scope), displayName=f"Lagging name {count}")
        elif kind == "move":
            uid = rng.choice(in_scope)
            if control.add_member(tid, rng.choice(groups), uid) is False:
                control.update_user(tid, uid, displayName=f"Unmoved {count}")
        elif kind == "leave":
            gid, uid = rng.choice(truth["memberships"])
            control.remove_member(tid, gid, uid)
        elif kind == "delete":
            uid = rng.choice(in_scope)
            control.delete_user(tid, uid)
            soft_deleted.append(uid)
        elif kind == "restore" and soft_deleted:
            control.restore_user(tid, soft_deleted.pop(rng.randrange(len(soft_deleted))))
        elif kind == "purge" and soft_deleted:
            control.expire_deleted_items(tid, soft_deleted.pop(0))
        else:
            control.update_user(tid, rng.choice(in_scope), displayName=f"Fallback {count}")

    return write


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_writes_made_while_runs_read_are_never_skipped(world: SyncWorld, lagging: None, seed: int) -> None:
    """At every step of every run the directory changes and emulated time moves half a lag, so rounds end before
    the writes made during them are applied. After the lag, the next run equals the ground truth."""
    write = _writer(world, seed)

    def meanwhile(phase: str, counts: dict[str, int]) -> None:
        write()
        world.entra.control.advance_clock(LAG / 2)

    modes = []
    for _ in range(4):  # the first run is full, the others incremental
        result = await run_sync(world.deps(progress=meanwhile), world.connection, budget_s=60)
        assert result.outcome == "succeeded"
        modes.append(result.mode)
    assert modes == ["full", "incremental", "incremental", "incremental"]
    world.entra.control.advance_clock(LAG)
    last = await world.sync()
    assert last.mode == "incremental" and last.outcome == "succeeded"
    await world.assert_matches_ground_truth()


async def test_a_user_joining_the_scope_between_the_full_listing_and_the_groups_watermark_is_stored(
    world: SyncWorld,
) -> None:
    """A full run lists the scope with its users, then reads the groups. A user put into the sync group in between
    (its own object unchanged) is in neither: not in the listing, and its link is older than a groups watermark
    taken after the listing, so no incremental round would ever report it. No lag is needed: only the order."""
    control, tid, sync_group = world.entra.control, world.tid, world.connection.sync_group_id
    assert sync_group
    outsider = await _out_of_scope_user(world, control.ground_truth(tid))

    def meanwhile(phase: str, counts: dict[str, int]) -> None:
        listed = counts.get("user.created", 0) > 0  # the listing's page is written; the groups phase comes next
        if phase == "users" and listed and outsider not in control.ground_truth(tid)["users"]:
            control.add_member(tid, sync_group, outsider)

    full = await run_sync(world.deps(progress=meanwhile), world.connection, budget_s=60)
    assert full.mode == "full" and full.outcome == "succeeded"
    assert outsider in control.ground_truth(tid)["users"]
    assert (await world.sync()).mode == "incremental"
    await world.assert_matches_ground_truth()
    assert outsider in await world.stored_users()


async def test_a_user_deleted_while_its_memberships_are_read_gets_them_after_its_restore(world: SyncWorld) -> None:
    """A user entering scope (here: restored) has its groups read through memberOf after the users round. Deleted
    again in between, memberOf answers 404; if that counted as "member of nothing", the user was stored active
    without links, and its next restore (to users/delta an update of a stored user) never read them again."""
    control, tid, sync_group = world.entra.control, world.tid, world.connection.sync_group_id
    assert sync_group
    assert (await world.sync()).mode == "full"
    truth = control.ground_truth(tid)
    user = next(uid for uid in sorted(truth["users"]) if len([g for g, m in truth["memberships"] if m == uid]) > 1)
    links = {(g, m) for g, m in truth["memberships"] if m == user}
    control.delete_user(tid, user)
    assert (await world.sync()).outcome == "succeeded"  # deactivated: its links are removed
    assert not links & await world.stored_links()
    control.restore_user(tid, user)

    def meanwhile(phase: str, counts: dict[str, int]) -> None:
        if phase == "users" and user in control.ground_truth(tid)["users"]:
            control.delete_user(tid, user)  # after users/delta named it restored, before its memberOf is read

    raced = await run_sync(world.deps(progress=meanwhile), world.connection, budget_s=60)
    assert raced.mode == "incremental" and raced.outcome == "succeeded"
    control.restore_user(tid, user)
    assert (await world.sync()).outcome == "succeeded"
    await world.assert_matches_ground_truth()
    assert links <= await world.stored_links()


async def test_a_user_deleted_while_a_full_run_reads_the_groups_keeps_its_links_after_its_restore(
    world: SyncWorld, lagging: None
) -> None:
    """A full run's member reads must not be ahead of the delta rounds after it. Deleted once the scope is listed,
    a user is stored with the listing; if the groups' member lists then left it out (a plain read, which sees the
    delete at once) while the next users round, behind them, did not yet name it, its links were never read: its
    restore, seen later, is an update of a stored active user."""
    control, tid, sync_group = world.entra.control, world.tid, world.connection.sync_group_id
    assert sync_group
    control.advance_clock(LAG)  # what earlier tests wrote is applied
    truth = control.ground_truth(tid)
    user = next(uid for uid in sorted(truth["users"]) if len([g for g, m in truth["memberships"] if m == uid]) > 1)

    def meanwhile(phase: str, counts: dict[str, int]) -> None:
        if phase == "groups" and user in control.ground_truth(tid)["users"]:
            control.delete_user(tid, user)  # the scope is listed; the groups' members are read next

    full = await run_sync(world.deps(progress=meanwhile), world.connection, budget_s=60)
    assert full.mode == "full" and full.outcome == "succeeded"
    assert (await world.sync()).mode == "incremental"  # within the lag: its rounds do not show the delete yet
    control.restore_user(tid, user)
    control.advance_clock(LAG)
    assert (await world.sync()).mode == "incremental"
    await world.assert_matches_ground_truth()
