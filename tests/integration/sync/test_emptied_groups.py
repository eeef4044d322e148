"""Groups that lose members in an incremental run: one left without a stored member is deleted (once, also when
planned by a dry run), one that keeps a member or gains one in the same change stays. The check runs beside the
sending of the membership events (shared/services/sync_apply.py, links_many)."""

from __future__ import annotations

from emulators.azurite import Azurite
from shared import storage_names as names
from shared.adapters.table_store import TableStore
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


async def test_a_group_row_names_an_anchor_member_and_the_check_reads_it_before_any_query(
    world: SyncWorld, azurite: Azurite
) -> None:
    """Each group row keeps one member as its `anchor`; "any member left?" is then a point read of that link, and
    only a group whose anchor is gone gets the query for its first member (which Azurite answers by a scan)."""
    control = world.entra.control
    sent: list[str] = []
    tables = TableStore.from_connection_string(
        azurite.connection_string, request_hook=lambda r: sent.append(r.http_request.url)
    )
    world.tables = tables
    try:
        await world.sync(mode="full")
        links = await world.stored_links()
        for gid, row in (await world.stored_groups()).items():
            assert (gid, row["anchor"]) in links  # a member it has, for every stored group
        users = sorted(control.ground_truth(world.tid, world.connection.sync_group_id)["users"])[:3]
        team = control.create_group(world.tid, "Anchored Team", members=users)["id"]
        await world.sync()
        anchor = (await world.stored_groups())[team]["anchor"]
        assert anchor == min(users)  # a new group's row, written with its first links
        others = [u for u in users if u != anchor]

        control.remove_member(world.tid, team, others[0])
        sent.clear()
        assert (await world.sync()).outcome == "succeeded"
        assert team in await world.stored_groups()
        assert not [url for url in sent if f"{names.DIRECTORY_MEMBERS}()" in url]  # the anchor answered

        control.remove_member(world.tid, team, anchor)
        sent.clear()
        await world.sync()
        assert team in await world.stored_groups()  # the query found the member left
        assert [url for url in sent if f"{names.DIRECTORY_MEMBERS}()" in url]

        control.remove_member(world.tid, team, others[1])
        await world.sync()
        assert team not in await world.stored_groups()
        await world.assert_matches_ground_truth()
    finally:
        await tables.close()
