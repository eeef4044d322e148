"""Lost storage through the functions: after the directory rows vanish from Azurite, the next queued sync runs
full, `GET .../status` says storage loss was detected (with the counts) and the listing is whole again."""

from __future__ import annotations

from typing import Any

from emulators.stack import LocalStack
from scripts import host
from shared import storage_names as names
from shared.composition import Container
from tests.functions.invoke import create_customer_connection


async def _sync(cid: str) -> dict[str, Any]:
    route = {"id": cid}
    status, _, _ = await host.http("sync_start", "POST", f"/api/connections/{cid}/sync", route=route)
    assert status == 202
    async with Container.from_env() as container:
        jobs = [j for j in await container.queues().receive_all(names.SYNC_JOBS) if j["connection_id"] == cid]
    for job in jobs:
        await host.queue("sync_worker", job)
    _, runs, _ = await host.http("sync_runs", "GET", f"/api/connections/{cid}/runs", route=route)
    return dict(runs["runs"][0])


async def test_lost_directory_rows_are_noticed_reported_and_restored(
    stack: LocalStack, stack_env: dict[str, str]
) -> None:
    tenant = stack.tenant
    cid = await create_customer_connection(stack, "Storage loss")
    route = {"id": cid}
    assert (await _sync(cid))["mode"] == "full"
    truth = stack.entra.control.ground_truth(tenant["id"], tenant["sync_group"]["id"])

    async with Container.from_env() as container:  # the directory copy is lost behind the connector's back
        tables = container.tables()
        keys = [
            (r["PartitionKey"], r["RowKey"])
            async for r in tables.query(names.DIRECTORY_USERS, "PartitionKey eq @pk", {"pk": cid})
        ]
        await tables.delete_many(names.DIRECTORY_USERS, keys)

    latest = await _sync(cid)
    assert latest["mode"] == "full" and latest["outcome"] == "succeeded", latest
    assert latest["counts"]["storage.users_expected"] == len(keys) and latest["counts"]["storage.users_found"] == 0
    status, state, _ = await host.http("sync_status", "GET", f"/api/connections/{cid}/status", route=route)
    assert status == 200 and state["state"] == "idle"
    assert state["storage_loss_detected"]["users_expected"] == len(keys)
    assert state["storage_loss_detected"]["users_found"] == 0
    assert state["storage_loss_detected"]["run_id"] == latest["run_id"]
    status, users, _ = await host.http("directory_users", "GET", f"/api/connections/{cid}/users?top=1000", route=route)
    assert {u["id"] for u in users["value"]} == set(truth["users"])
