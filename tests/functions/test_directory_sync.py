"""The sync triggers as the host calls them: dry run and queued sync over HTTP, the queue worker, status, runs,
paged listings, the scheduler timer (once per slot), approval with nothing pending, failure quarantine, and
clients pooled across invocations."""

from __future__ import annotations

from typing import Any

import pytest

from emulators.stack import LocalStack
from scripts import host
from shared import storage_names as names
from shared.adapters.queues import QueueSender
from shared.adapters.table_store import TableStore
from shared.domain.connection import Schedule
from shared.domain.schedule import latest_slot
from shared.domain.timestamps import utc_now
from tests.functions.invoke import create_customer_connection


async def _connection(stack: LocalStack, **extra: Any) -> str:
    return await create_customer_connection(stack, "Sync triggers", verify=True, **extra)


async def _jobs_for(queues: QueueSender, cid: str) -> list[dict[str, Any]]:
    return [m for m in await queues.receive_all(names.SYNC_JOBS) if m["connection_id"] == cid]


@pytest.fixture
async def queues(stack: LocalStack) -> Any:
    sender = QueueSender.from_connection_string(stack.azurite.connection_string)
    yield sender
    await sender.close()


async def test_sync_over_http_then_worker_then_listings(
    stack: LocalStack, stack_env: dict[str, str], queues: QueueSender
) -> None:
    cid = await _connection(stack)
    route = {"id": cid}
    truth = stack.entra.control.ground_truth(stack.tenant["id"])

    status, planned, _ = await host.http(
        "sync_start", "POST", f"/api/connections/{cid}/sync?mode=full&dry_run=true", route=route
    )
    assert status == 200 and planned["outcome"] == "dry_run"
    status, body, _ = await host.http("sync_start", "POST", f"/api/connections/{cid}/sync?mode=bogus", route=route)
    assert status == 400 and "mode" in body["problems"]

    status, queued, _ = await host.http("sync_start", "POST", f"/api/connections/{cid}/sync", route=route)
    assert status == 202 and queued["queued"] is True
    jobs = await _jobs_for(queues, cid)
    assert len(jobs) == 1
    await host.queue("sync_worker", jobs[0])

    status, state, _ = await host.http("sync_status", "GET", f"/api/connections/{cid}/status", route=route)
    assert status == 200 and state["state"] == "idle" and state["last_success_at"] and state["next_due"]
    status, runs, _ = await host.http("sync_runs", "GET", f"/api/connections/{cid}/runs", route=route)
    assert [r["outcome"] for r in runs["runs"]] == ["succeeded", "dry_run"]  # the dry run is in the history too
    assert runs["runs"][0]["counts"]["user.created"] == len(truth["users"])
    assert runs["runs"][0]["graph_requests"] > 0
    stack.entra.control.update_user(stack.tenant["id"], sorted(truth["users"])[0], jobTitle="Run history check")
    await host.http("sync_start", "POST", f"/api/connections/{cid}/sync", route=route)
    for job in await _jobs_for(queues, cid):
        await host.queue("sync_worker", job)
    status, runs, _ = await host.http("sync_runs", "GET", f"/api/connections/{cid}/runs", route=route)
    latest = runs["runs"][0]
    assert latest["mode"] == "incremental" and latest["graph_requests"] >= 2
    assert latest["counts"]["user.updated"] == 1

    seen: list[str] = []
    token = ""
    while True:
        url = f"/api/connections/{cid}/users?top=20" + (f"&continuation={token}" if token else "")
        status, page, _ = await host.http("directory_users", "GET", url, route=route)
        assert status == 200 and len(page["value"]) <= 20
        seen += [u["id"] for u in page["value"]]
        token = page["continuation"]
        if not token:
            break
    assert sorted(seen) == sorted(truth["users"])
    status, groups, _ = await host.http(
        "directory_groups", "GET", f"/api/connections/{cid}/groups?top=1000", route=route
    )
    assert {g["id"] for g in groups["value"]} == set(truth["groups"])
    gid = truth["memberships"][0][0]
    status, members, _ = await host.http(
        "group_members", "GET", f"/api/connections/{cid}/groups/{gid}/members", route={"id": cid, "groupId": gid}
    )
    assert {m["id"] for m in members["value"]} == {u for g, u in truth["memberships"] if g == gid}
    status, bad, _ = await host.http("directory_users", "GET", f"/api/connections/{cid}/users?top=0", route=route)
    assert status == 400 and "top" in bad["problems"]
    status, nothing, _ = await host.http("sync_approve", "POST", f"/api/connections/{cid}/sync/approve", route=route)
    assert status == 400 and "approval" in nothing["problems"]
    await host.http("connections_delete", "DELETE", f"/api/connections/{cid}?purge=true", route=route)


async def test_scheduler_enqueues_a_due_connection_once_per_slot(
    stack: LocalStack, stack_env: dict[str, str], queues: QueueSender
) -> None:
    cid = await _connection(stack, schedule={"frequency": "daily", "time_of_day": "00:00", "timezone": "UTC"})
    await queues.receive_all(names.SYNC_JOBS)
    await host.acall("sync_scheduler", None)
    first = await _jobs_for(queues, cid)
    assert [(j["trigger"], j["mode"]) for j in first] == [("schedule", "incremental")]
    tables = TableStore.from_connection_string(stack.azurite.connection_string)
    marker = await tables.get(names.SYNC_STATE, names.SCHEDULER_SLOTS, cid)  # one partition for every connection
    await tables.close()
    assert marker is not None and marker["last_slot"].endswith("T00:00:00+00:00")
    await host.acall("sync_scheduler", None)
    assert await _jobs_for(queues, cid) == []
    await host.http("connections_delete", "DELETE", f"/api/connections/{cid}?purge=true", route={"id": cid})


async def test_a_slot_marked_on_the_connections_own_row_before_the_scheduler_partition_still_counts(
    stack: LocalStack, stack_env: dict[str, str], queues: QueueSender
) -> None:
    """Markers written by an earlier version (PK connection id, RK "schedule") are read as well: an upgrade must not
    enqueue every connection's slot a second time."""
    schedule = Schedule(frequency="daily", time_of_day="00:00", timezone="UTC")
    cid = await _connection(stack, schedule={"frequency": "daily", "time_of_day": "00:00", "timezone": "UTC"})
    slot = latest_slot(schedule, utc_now())
    assert slot is not None
    tables = TableStore.from_connection_string(stack.azurite.connection_string)
    await tables.upsert(names.SYNC_STATE, {"PartitionKey": cid, "RowKey": "schedule", "last_slot": slot.isoformat()})
    await tables.close()
    await queues.receive_all(names.SYNC_JOBS)
    await host.acall("sync_scheduler", None)
    assert await _jobs_for(queues, cid) == []
    await host.http("connections_delete", "DELETE", f"/api/connections/{cid}?purge=true", route={"id": cid})


async def test_unknown_connection_is_404(stack_env: dict[str, str]) -> None:
    status, body, _ = await host.http("sync_status", "GET", "/api/connections/nope/status", route={"id": "nope"})
    assert status == 404 and body["code"] == "not_found"


async def test_a_failing_job_is_recorded_once_and_not_thrown_back_to_the_host(
    stack: LocalStack, stack_env: dict[str, str]
) -> None:
    from shared.composition import Container
    from shared.domain.secret_names import client_secret_ref

    cid = await _connection(stack)
    async with Container.from_env() as container:
        await container.secrets().delete(client_secret_ref(cid).name)  # the credential is gone
    await host.queue("sync_worker", {"connection_id": cid, "mode": "incremental", "trigger": "schedule"})
    status, state, _ = await host.http("sync_status", "GET", f"/api/connections/{cid}/status", route={"id": cid})
    assert status == 200
    assert state["state"] == "failing" and state["consecutive_failures"] == 1
    assert "secret" in state["last_error"]
    await host.http("connections_delete", "DELETE", f"/api/connections/{cid}?purge=true", route={"id": cid})


async def test_jobs_for_a_deleted_connection_are_dropped_quietly(stack_env: dict[str, str]) -> None:
    """A connection deleted after its job was queued: the message is done (no host retries, no poison queue)."""
    gone = "00000000-0000-4000-8000-000000000000"
    await host.queue("sync_worker", {"connection_id": gone, "mode": "incremental", "trigger": "schedule"})
    await host.queue("rotation_worker", {"connection_id": gone})


async def test_later_invocations_reuse_the_pooled_token_until_the_secret_changes(
    stack: LocalStack, stack_env: dict[str, str], queues: QueueSender
) -> None:
    """The Functions host keeps its worker: the second sync invocation asks Entra for no token at all (the sync's
    credential and the app's Key Vault credential are pooled); a replaced client secret gets a credential of its own."""
    cid = await _connection(stack)
    route = {"id": cid}
    control, tid = stack.entra.control, stack.tenant["id"]

    async def queued_sync() -> dict[str, Any]:
        status, _, _ = await host.http("sync_start", "POST", f"/api/connections/{cid}/sync", route=route)
        assert status == 202
        for job in await _jobs_for(queues, cid):
            await host.queue("sync_worker", job)
        _, runs, _ = await host.http("sync_runs", "GET", f"/api/connections/{cid}/runs", route=route)
        return dict(runs["runs"][0])

    assert (await queued_sync())["outcome"] == "succeeded"
    users = sorted(control.ground_truth(tid)["users"])
    tokens_before = control.counters().get("token", 0)
    control.update_user(tid, users[0], jobTitle="Pooled token check")
    second = await queued_sync()
    assert second["outcome"] == "succeeded" and second["mode"] == "incremental"
    assert second["counts"].get("user.updated") == 1
    assert control.counters().get("token", 0) == tokens_before, "the second invocation requested a new token"

    fresh = control.add_secret(stack.app("customer")["client_id"], expires_in_s=3600)
    status, _, _ = await host.http(
        "connections_update", "PATCH", f"/api/connections/{cid}", body={"client_secret": fresh["value"]}, route=route
    )
    assert status == 200
    tokens_before = control.counters().get("token", 0)  # the update may check the new secret itself
    control.update_user(tid, users[1], jobTitle="New secret check")
    third = await queued_sync()
    assert third["outcome"] == "succeeded" and third["counts"].get("user.updated") == 1
    assert control.counters().get("token", 0) == tokens_before + 1, "the new secret should sign in once"
