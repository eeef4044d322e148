"""Lost storage is noticed: when the directory copy holds far fewer user rows than the cursor says it should
(emptied, or restored from an old copy), the next run says so and does a full sync instead of committing the
emptied copy as an incremental success. A copy that only shrank a little is not mistaken for a loss."""

from __future__ import annotations

from shared import storage_names as names
from shared.adapters.sync_state import SyncState
from shared.services.sync_jobs import JobMessage, run_job
from tests.integration.sync.conftest import SyncWorld


async def _delete_user_rows(world: SyncWorld, keep: int = 0) -> int:
    """Delete the connection's user rows in Azurite behind the connector's back (all but `keep`)."""
    rows = sorted(await world.stored_users())
    doomed = [(world.connection.id, uid) for uid in rows[keep:]]
    await world.tables.delete_many(names.DIRECTORY_USERS, doomed)
    return len(doomed)


async def test_an_emptied_copy_leads_to_a_full_sync_and_is_said_in_status(world: SyncWorld) -> None:
    state = SyncState(world.tables, world.connection.id)
    first = await run_job(world.deps(), None, world.connection, JobMessage(world.connection.id), budget_s=300)
    assert first is not None and first.mode == "full"
    expected = (await state.cursor()).users_stored
    assert expected >= 20
    await _delete_user_rows(world)

    job = JobMessage(world.connection.id, "incremental", "schedule")
    result = await run_job(world.deps(), None, world.connection, job, budget_s=300)
    assert result is not None and result.outcome == "succeeded"
    assert result.mode == "full", "an emptied copy must not be committed by an incremental run"
    assert result.counts["storage.users_expected"] == expected and result.counts["storage.users_found"] == 0
    await world.assert_matches_ground_truth()  # restored
    status = await state.status()
    assert status.state == "idle" and status.last_run_id == result.run_id
    assert status.storage_loss is not None and status.storage_loss["users_expected"] == expected
    assert status.storage_loss["users_found"] == 0 and status.storage_loss["run_id"] == result.run_id

    again = await run_job(world.deps(), None, world.connection, job, budget_s=300)
    assert again is not None and again.mode == "incremental" and "storage.users_found" not in again.counts
    assert (await state.status()).storage_loss is None  # the next healthy run clears the note


async def test_a_copy_restored_from_an_old_backup_is_noticed_by_a_sample(world: SyncWorld) -> None:
    """The cursor (in syncstate) is newer than the directory rows: it expects many more users than are stored. Large
    copies are checked on a slice of the row keys (user ids are random GUIDs), not counted row by row."""
    state = SyncState(world.tables, world.connection.id)
    await world.sync(mode="full")
    cursor = await state.cursor()
    stored = len(await world.stored_users())
    cursor.users_stored = stored * 40  # e.g. 2,400 expected: the rows are from when the tenant was small
    await state.save_cursor(cursor)
    result = await world.sync()
    assert result.mode == "full" and result.counts["storage.users_expected"] == stored * 40
    assert result.counts["storage.users_found"] < stored * 20
    assert (await state.cursor()).users_stored == stored  # the full run counted them again


async def test_a_copy_that_shrank_a_little_is_not_a_loss(world: SyncWorld) -> None:
    state = SyncState(world.tables, world.connection.id)
    await world.sync(mode="full")
    expected = (await state.cursor()).users_stored
    await _delete_user_rows(world, keep=expected - expected // 4)  # a quarter gone: not "far smaller"
    result = await world.sync()
    assert result.mode == "incremental" and "storage.users_found" not in result.counts
