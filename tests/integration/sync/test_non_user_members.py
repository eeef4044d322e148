"""Devices, service principals and contacts are members of the sync tree and the rotation group (as in any real
tenant): sync never stores one as a user or a membership, still follows nested groups, and rotation never touches
them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from emulators.stack import LocalStack
from shared.composition import Container
from shared.services.password_rotation import run_rotation
from tests.integration.sync.conftest import SyncWorld
from tests.support.rotation import make_world, remove_world


def _non_users(world: SyncWorld) -> set[str]:
    return set(world.entra.world.tenants[world.tid].directory.objects)


def _chain(world: SyncWorld) -> list[str]:
    """The sync group and its nested tiers, top down (Connector Sync Scope, Sync Tier 1..5)."""
    directory = world.entra.world.tenants[world.tid].directory
    chain = [world.connection.sync_group_id or ""]
    while True:
        nested = [m for m in directory.groups[chain[-1]].member_ids() if m in directory.groups]
        if not nested:
            return chain
        chain.append(sorted(nested)[0])


async def _stored_ids(world: SyncWorld) -> set[str]:
    links = await world.stored_links()
    return set(await world.stored_users()) | set(await world.stored_groups()) | {m for _, m in links}


async def test_full_sync_stores_users_only_and_follows_nested_groups(world: SyncWorld) -> None:
    directory = world.entra.world.tenants[world.tid].directory
    sync_id = world.connection.sync_group_id or ""
    below = set(directory.transitive_all(sync_id))
    assert {directory.objects[o].kind for o in below & _non_users(world)} == {
        "device",
        "servicePrincipal",
        "orgContact",
    }
    result = await world.sync()
    assert result.mode == "full"
    await world.assert_matches_ground_truth()
    assert not await _stored_ids(world) & _non_users(world)
    assert not {e["object_id"] for e in await world.events()} & _non_users(world)
    direct = set(directory.groups[sync_id].member_ids())
    only_nested = set(world.entra.control.ground_truth(world.tid)["users"]) - direct
    assert only_nested and only_nested <= set(await world.stored_users())  # nested groups are still followed


async def test_incremental_run_ignores_non_user_member_changes(world: SyncWorld) -> None:
    await world.sync()
    await world.events()
    control, tid = world.entra.control, world.tid
    chain = _chain(world)
    directory = world.entra.world.tenants[tid].directory
    control.create_directory_object(tid, "device", "LAPTOP-NEW", groups=[chain[0], chain[3]])
    control.create_directory_object(tid, "servicePrincipal", "New Automation", groups=[chain[1]])
    contact = next(o for o in directory.groups[chain[0]].member_ids() if directory.kind_of(o) == "orgContact")
    control.remove_member(tid, chain[0], contact)
    result = await world.sync()
    assert result.mode == "incremental" and result.outcome == "succeeded"
    assert result.table_writes == 0
    assert await world.events() == []
    # a device joining or leaving cannot change who is in scope: the scope is not listed again
    assert world.graph.stats.requests["scope.transitiveMembers"] == 0
    await world.assert_matches_ground_truth()


async def test_a_new_nested_group_with_a_device_brings_its_users_only(world: SyncWorld) -> None:
    await world.sync()
    await world.events()
    control, tid = world.entra.control, world.tid
    chain = _chain(world)
    newcomer = control.create_user(tid, "Nesta", "Newgroup")
    nested = control.create_group(tid, "Nested With Devices", members=[newcomer["id"]])
    device = control.create_directory_object(tid, "device", "KIOSK-NESTED", groups=[nested["id"]])
    control.add_member(tid, chain[2], nested["id"])
    result = await world.sync()
    assert result.mode == "incremental" and result.counts.get("user.created") == 1
    await world.assert_matches_ground_truth()
    stored = await _stored_ids(world)
    assert newcomer["id"] in stored and device["id"] not in stored
    assert not stored & _non_users(world)


@pytest.fixture
async def container(stack_env: dict[str, str]) -> AsyncIterator[Container]:
    async with Container.from_env() as c:
        yield c


async def test_rotation_never_touches_non_user_members(stack: LocalStack, container: Container) -> None:
    made = await make_world(stack, container)
    control, tid = stack.entra.control, made.tid
    groups = [made.connection.rotation_group_id or "", made.connection.sync_group_id or ""]
    objects: list[dict[str, Any]] = [
        control.create_directory_object(tid, kind, f"{kind} in rotation", groups=groups)
        for kind in ("device", "servicePrincipal", "orgContact")
    ]
    try:
        report = await run_rotation(container, made.connection.id)
        ids = {str(o["id"]) for o in objects}
        assert set(report.rotated) == {made.users["ok1"], made.users["ok2"]}
        assert report.considered == 5  # the five users in both groups; the three objects are not candidates
        everything = report.to_dict()
        assert not ids & (set(everything["rotated"]) | set(everything["skipped"]) | set(everything["failed"]))
    finally:
        remove_world(made)
