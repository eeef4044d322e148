"""DELETE /api/connections/{id}?purge=true as a queued job, against Azurite and the strict Key Vault emulator: the
request deletes nothing and answers 202, the worker leaves nothing of the connection in any table or in the vault
(the other connection's data intact), a crash or a vault failure midway is finished by the next run, a repeat is
safe, and a plain DELETE does not wait for the vault's deletes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest

from emulators.stack import LocalStack
from scripts import host
from shared import storage_names as names
from shared.adapters.queues import QueueSender
from shared.adapters.sync_state import SyncState
from shared.adapters.table_store import etag_of
from shared.composition import Container
from shared.domain.purge import purge_message
from shared.domain.secret_names import client_secret_name
from shared.domain.timestamps import utc_now
from shared.services.connection_purge import STEPS, run_purge_job
from shared.services.rotation_state import RotationState
from tests.integration.connections.conftest import call, request
from tests.integration.connections.purge_world import (
    PurgeWorld,
    make_connection,
    rows_of,
    seed_rotated_users,
    sync_and_rotate,
    vault_names_of,
)


class Crash(Exception):
    """Stands for the worker process dying right after a step."""


@pytest.fixture
def vault_delay(stack: LocalStack) -> Iterator[Any]:
    """Set the vault's delete delay for one test; the default comes back afterwards."""
    control = stack.keyvault.control
    default = control.delete_delay
    yield control.set_delete_delay
    control.set_delete_delay(default)


@pytest.fixture
def purge_protection(stack: LocalStack) -> Iterator[None]:
    """The vault as the project deploys it (infra: purge protection on), for one test."""
    stack.keyvault.control.set_purge_protection(True)
    yield
    stack.keyvault.control.set_purge_protection(False)


@pytest.fixture
async def queues(stack: LocalStack) -> AsyncIterator[QueueSender]:
    sender = QueueSender.from_connection_string(stack.azurite.connection_string)
    yield sender
    await sender.close()


@pytest.fixture
async def worlds(stack: LocalStack) -> AsyncIterator[list[PurgeWorld]]:
    made: list[PurgeWorld] = []
    yield made
    for world in made:
        world.remove()


async def purge_jobs_for(queues: QueueSender, cid: str) -> list[dict[str, Any]]:
    return [m for m in await queues.receive_all(names.PURGE_JOBS) if m["connection_id"] == cid]


async def request_purge(cid: str) -> dict[str, Any]:
    status, body, _ = await call(
        "connections_delete", request("DELETE", "c", route={"id": cid}, params={"purge": "true"})
    )
    assert status == 202, body
    assert body["id"] == cid and body["state"] == "purging" and body["purge"]["job_id"]
    return dict(body)


async def shown(cid: str) -> tuple[int, Any]:
    status, body, _ = await call("connections_get", request("GET", "c", route={"id": cid}))
    return status, body


async def assert_nothing_left(stack: LocalStack, container: Container, cid: str) -> None:
    assert {t: r for t, r in (await rows_of(container, cid)).items() if r} == {}
    assert vault_names_of(stack, cid) == []
    assert (await shown(cid))[0] == 404


async def _agent_rows(container: Container, cid: str) -> None:
    """What an on-prem AD agent leaves: a registration code, a job, a remembered nonce (docs/ad-agent.md)."""
    from shared.services.agent_jobs import enqueue

    # a registration code's row as create_code writes it (create_code itself refuses an Entra connection since
    # agents belong to connections whose source is AD; the purge must still remove such rows)
    code = {"PartitionKey": "code", "RowKey": "f" * 64, "connection_id": cid, "expires_at": 0.0, "state": "open"}
    await container.tables().upsert(names.AGENTS, code)
    await enqueue(container, cid, "probe", {})
    nonce = {"PartitionKey": "0" * 32, "RowKey": f"{0:012d}_{cid}", "connection_id": cid}
    await container.tables().upsert(names.AGENT_NONCES, nonce)


async def test_purge_leaves_nothing_of_the_connection_in_any_table_or_the_vault(
    stack: LocalStack, container: Container, queues: QueueSender, worlds: list[PurgeWorld]
) -> None:
    worlds += [await make_connection(stack, users=3), await make_connection(stack, users=2)]
    gone, kept = worlds
    for world in worlds:
        await sync_and_rotate(world, container)
    await container.tables().upsert(  # an unused consent link, as consent_start leaves one
        names.CONSENT_STATES,
        {"PartitionKey": "state", "RowKey": f"nonce-{gone.connection_id}"[:60], "connection_id": gone.connection_id},
    )
    await _agent_rows(container, gone.connection_id)
    before = await rows_of(container, gone.connection_id)
    expected = {
        names.CONNECTIONS, names.AUDIT, names.CONSENT_STATES, names.SYNC_STATE, names.SYNC_RUNS,
        names.DIRECTORY_USERS, names.DIRECTORY_GROUPS, names.DIRECTORY_MEMBERS, names.ROTATION_STATE,
        names.ROTATION_HISTORY, names.ROTATION_OWNERS, names.AGENTS, names.AGENT_NONCES,
    }  # fmt: skip
    assert {table for table, rows in before.items() if rows} == expected == set(names.TABLES)
    assert len(vault_names_of(stack, gone.connection_id)) == 1 + 3  # the client secret and three passwords
    kept_rows, kept_secrets = await rows_of(container, kept.connection_id), vault_names_of(stack, kept.connection_id)

    answer = await request_purge(gone.connection_id)
    status, view = await shown(gone.connection_id)
    assert status == 200 and view["state"] == "purging" and view["purge"]["job_id"] == answer["purge"]["job_id"]
    (job,) = await purge_jobs_for(queues, gone.connection_id)
    await host.queue("purge_worker", job)

    await assert_nothing_left(stack, container, gone.connection_id)

    def own(rows: dict[str, list[str]]) -> dict[str, list[str]]:  # the tenant index row names both: it changes
        return {t: [r for r in found if '"PartitionKey": "tenant"' not in r] for t, found in rows.items()}

    after = await rows_of(container, kept.connection_id)
    assert own(after) == own(kept_rows)
    assert any('"PartitionKey": "tenant"' in r for r in after[names.CONNECTIONS])  # still in the tenant index
    assert vault_names_of(stack, kept.connection_id) == kept_secrets
    assert await purge_jobs_for(queues, gone.connection_id) == []  # done: no continuation


async def test_purge_of_200_rotated_users_under_a_5_s_vault_delay_is_a_queued_job(
    stack: LocalStack, container: Container, queues: QueueSender, worlds: list[PurgeWorld], vault_delay: Any
) -> None:
    worlds.append(await make_connection(stack))
    cid = worlds[0].connection_id
    users = await seed_rotated_users(container, cid, 200)
    vault_delay(5)
    control = stack.keyvault.control
    before = control.counters()
    rows_before = await rows_of(container, cid)

    answer = await request_purge(cid)  # the HTTP call: it only marks the connection and queues the job

    during = control.counters()
    for operation in ("delete", "purge", "get_deleted", "recover"):
        assert during.get(operation, 0) == before.get(operation, 0), f"the request did a vault {operation}"
    assert len(vault_names_of(stack, cid)) == 201 and control.snapshot()["deleting"] == []
    rows_now = await rows_of(container, cid)
    changed = {table for table in names.TABLES if rows_now[table] != rows_before[table]}
    assert changed == {names.CONNECTIONS, names.AUDIT}  # the row says purging; the request is audited
    (job,) = await purge_jobs_for(queues, cid)
    assert job == purge_message(cid, answer["purge"]["job_id"])

    await host.queue("purge_worker", job)  # as the host runs it

    await assert_nothing_left(stack, container, cid)
    after = control.counters()
    assert after["purge"] - before.get("purge", 0) == len(users) + 1  # each password, and the client secret
    assert after["delete"] - before.get("delete", 0) == len(users) + 1


@pytest.mark.parametrize("step", STEPS)
async def test_a_crash_after_any_step_is_finished_by_the_next_run(
    step: str, stack: LocalStack, container: Container, queues: QueueSender, worlds: list[PurgeWorld], vault_delay: Any
) -> None:
    vault_delay(1)  # on, and short: five crash points
    worlds.append(await make_connection(stack))
    cid = worlds[0].connection_id
    await seed_rotated_users(container, cid, 3)
    await container.tables().upsert(names.DIRECTORY_USERS, {"PartitionKey": cid, "RowKey": "u1"})
    await request_purge(cid)
    (job,) = await purge_jobs_for(queues, cid)

    async def crash(at: str) -> None:
        if at == step:
            raise Crash(at)

    with pytest.raises(Crash):
        await run_purge_job(container, job, after_step=crash)
    status, view = await shown(cid)
    assert status == 200 and view["state"] == "purging"  # the row stays until everything else is gone
    await host.queue("purge_worker", job)  # the host runs the message again
    await assert_nothing_left(stack, container, cid)


async def test_a_purge_stopped_midway_by_the_vault_is_finished_by_the_next_run(
    stack: LocalStack, container: Container, queues: QueueSender, worlds: list[PurgeWorld]
) -> None:
    """The vault refuses purges (the identity lost the role): every delete is done, no purge. The job fails with
    the reason in its progress; once the vault lets it, the next run purges what is deleted or still deleting."""
    worlds.append(await make_connection(stack))
    cid = worlds[0].connection_id
    await seed_rotated_users(container, cid, 4)
    await request_purge(cid)
    (job,) = await purge_jobs_for(queues, cid)
    control = stack.keyvault.control
    control.inject_error(403, "Forbidden", "Caller is not authorized (purge)", count=1000, operations=["purge"])
    try:
        with pytest.raises(Exception, match="Key Vault Secrets Officer"):
            await host.queue("purge_worker", job)
        snapshot = control.snapshot()
        left = [n for n in [*snapshot["deleted"], *snapshot["deleting"]] if cid in n]
        assert len(left) == 4  # every password's delete was done; none was purged
        assert [n for n in snapshot["secrets"] if cid in n] == [client_secret_name(cid)]  # the credential goes last
        status, view = await shown(cid)
        assert status == 200 and "secret_access_denied" in view["purge"]["detail"]
    finally:
        control.clear_faults()
    await host.queue("purge_worker", job)
    await assert_nothing_left(stack, container, cid)


async def test_a_used_up_budget_continues_in_new_messages(
    stack: LocalStack, container: Container, queues: QueueSender, worlds: list[PurgeWorld]
) -> None:
    worlds.append(await make_connection(stack))
    cid = worlds[0].connection_id
    await seed_rotated_users(container, cid, 2)
    for table, partition in ((names.DIRECTORY_USERS, cid), (names.DIRECTORY_MEMBERS, f"{cid}_g1")):
        await container.tables().upsert(table, {"PartitionKey": partition, "RowKey": "u1"})
    await request_purge(cid)
    (job,) = await purge_jobs_for(queues, cid)
    invocations = 0
    while job:
        invocations += 1
        progress = await run_purge_job(container, job, budget_s=0)  # each invocation does one step's worth
        assert progress is not None
        continued = await purge_jobs_for(queues, cid)
        assert len(continued) == (0 if progress.phase == "done" else 1)
        job = continued[0] if continued else {}
        if job:
            _, view = await shown(cid)
            assert view["purge"]["invocations"] == invocations and view["purge"]["phase"] in ("secrets", "tables")
    assert invocations >= 5  # passwords | dirmembers | dirusers | audit | syncstate
    await assert_nothing_left(stack, container, cid)


async def test_a_repeated_purge_request_is_the_same_job_and_a_second_message_finds_nothing(
    stack: LocalStack, container: Container, queues: QueueSender, worlds: list[PurgeWorld]
) -> None:
    worlds.append(await make_connection(stack))
    cid = worlds[0].connection_id
    first, again = await request_purge(cid), await request_purge(cid)
    assert first["purge"]["job_id"] == again["purge"]["job_id"]
    jobs = await purge_jobs_for(queues, cid)
    assert len(jobs) == 2 and jobs[0] == jobs[1]
    await host.queue("purge_worker", jobs[0])
    await host.queue("purge_worker", jobs[1])  # nothing left to do: done quietly
    await assert_nothing_left(stack, container, cid)
    status, body, _ = await call(
        "connections_delete", request("DELETE", "c", route={"id": cid}, params={"purge": "true"})
    )
    assert status == 404 and body["code"] == "not_found"


async def test_a_connection_being_purged_is_gone_to_every_other_feature(
    stack: LocalStack, container: Container, queues: QueueSender, worlds: list[PurgeWorld]
) -> None:
    worlds.append(await make_connection(stack))
    cid = worlds[0].connection_id
    await request_purge(cid)
    route = {"id": cid}
    for name, req in (
        ("connections_update", request("PATCH", "c", {"display_name": "x"}, route=route)),
        ("connections_delete", request("DELETE", "c", route=route)),
        ("connections_verify", request("POST", "v", route=route)),
        ("sync_start", request("POST", "s", route=route)),
        ("rotate_connection", request("POST", "r", route=route)),
    ):
        status, body, _ = await call(name, req)
        assert (status, body["code"]) == (409, "connection_purging"), name
        assert f"GET /api/connections/{cid}" in body["message"]
    await host.queue("sync_worker", {"connection_id": cid, "mode": "full", "trigger": "schedule"})  # dropped
    await host.queue("rotation_worker", {"connection_id": cid})  # dropped
    rows = await rows_of(container, cid)
    assert {table for table, found in rows.items() if found} == {names.CONNECTIONS, names.AUDIT}  # jobs wrote nothing
    _, listed, _ = await call("connections_list", request("GET", "connections"))
    assert [c["state"] for c in listed["value"] if c["id"] == cid] == ["purging"]
    (job,) = await purge_jobs_for(queues, cid)
    await host.queue("purge_worker", job)
    await assert_nothing_left(stack, container, cid)


async def test_the_purge_waits_for_a_running_sync_or_rotation(
    stack: LocalStack, container: Container, queues: QueueSender, worlds: list[PurgeWorld]
) -> None:
    worlds.append(await make_connection(stack))
    cid = worlds[0].connection_id
    users = await seed_rotated_users(container, cid, 1)
    await request_purge(cid)
    (job,) = await purge_jobs_for(queues, cid)
    sync = SyncState(container.tables(), cid)
    assert await sync.acquire_lease("a-sync-worker", timedelta(minutes=10))
    progress = await run_purge_job(container, job)
    assert progress is not None and progress.phase == "waiting" and "sync" in progress.detail
    await sync.release_lease("a-sync-worker")
    rotation = RotationState(container.tables(), cid)
    assert await rotation.lock(users[0], "a-rotation-run", utc_now())
    progress = await run_purge_job(container, job)
    assert progress is not None and progress.phase == "waiting" and "rotation" in progress.detail
    assert len(vault_names_of(stack, cid)) == 2  # nothing was touched meanwhile
    row = await container.tables().get(names.ROTATION_STATE, cid, users[0])
    assert row is not None
    await rotation.finish(users[0], etag_of(row) or "", {})
    assert (await run_purge_job(container, job)) is not None
    await assert_nothing_left(stack, container, cid)


async def test_a_plain_delete_does_not_wait_for_the_vaults_deletes(
    stack: LocalStack, container: Container, worlds: list[PurgeWorld], vault_delay: Any
) -> None:
    worlds.append(await make_connection(stack))
    cid = worlds[0].connection_id
    vault_delay(5)
    control = stack.keyvault.control
    polls = control.counters().get("get_deleted", 0)
    status, body, _ = await call("connections_delete", request("DELETE", "c", route={"id": cid}))
    assert status == 200 and body == {"id": cid, "deleted": True, "purged": False}
    assert control.counters().get("get_deleted", 0) == polls  # it never waited for a delete to complete
    assert client_secret_name(cid) in control.snapshot()["deleting"]  # still completing, the answer already sent
    assert (await shown(cid))[0] == 404


async def test_under_purge_protection_the_rows_go_and_the_vault_keeps_deleted_secrets_until_retention(
    stack: LocalStack, container: Container, queues: QueueSender, worlds: list[PurgeWorld], purge_protection: None
) -> None:
    """The deployed vault has purge protection on: a purge is refused and Key Vault purges deleted secrets itself
    when the retention period ends. The job deletes them (unreadable, recoverable only by the vault's owners),
    says so in its result, and removes every row."""
    worlds.append(await make_connection(stack))
    cid = worlds[0].connection_id
    await seed_rotated_users(container, cid, 2)
    await request_purge(cid)
    (job,) = await purge_jobs_for(queues, cid)
    progress = await run_purge_job(container, job)
    assert progress is not None and progress.phase == "done"
    assert (progress.secrets_purged, progress.secrets_retained) == (0, 3)
    assert "purge protection" in progress.detail
    assert {t: r for t, r in (await rows_of(container, cid)).items() if r} == {}
    snapshot = stack.keyvault.control.snapshot()
    assert [n for n in snapshot["secrets"] if cid in n] == [] and len([n for n in snapshot["deleted"] if cid in n]) == 3
    assert (await shown(cid))[0] == 404
