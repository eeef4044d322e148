"""No worker dies silently: an unexpected exception (here a connection row this version cannot read) met by the sync
worker, the rotation worker, the scheduler or an HTTP trigger is logged, recorded on the connection (`last_error`:
code internal_error and the exception's type, never its message) and in the audit trail; HTTP answers 500
internal_error; queue messages finish (no host retries into the poison queue). A stored certificate Entra cannot use
(accepted before input checks existed) is a typed, explained failure everywhere."""

from __future__ import annotations

import json
import logging
from typing import Any

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from emulators.stack import LocalStack
from scripts import host
from shared import storage_names as names
from shared.adapters.sync_state import SyncState
from shared.composition import Container
from shared.domain.secret_names import client_cert_ref
from shared.services import audit
from tests.functions.invoke import create_customer_connection
from tests.support.certificates import pem

UNREADABLE = "{broken"  # a schedule this version cannot parse: from_entity raises JSONDecodeError


@pytest.fixture(autouse=True)
def _env(stack_env: dict[str, str]) -> dict[str, str]:
    return stack_env


async def _connection(stack: LocalStack, **extra: Any) -> str:
    return await create_customer_connection(stack, "Unexpected errors", **extra)


async def _row(cid: str) -> dict[str, Any]:
    async with Container.from_env() as container:
        row = await container.tables().get(names.CONNECTIONS, "connection", cid)
    assert row is not None
    return dict(row)


async def _merge(cid: str, **columns: Any) -> None:
    async with Container.from_env() as container:
        await container.tables().upsert(names.CONNECTIONS, {"PartitionKey": "connection", "RowKey": cid, **columns})


async def _trail(cid: str) -> list[dict[str, Any]]:
    async with Container.from_env() as container:
        return await audit.trail(container.tables(), cid)


async def _last_error(cid: str) -> dict[str, Any]:
    raw = (await _row(cid)).get("last_error_json") or "{}"
    return dict(json.loads(raw))


def _assert_recorded(error: dict[str, Any], where: str, trail: list[dict[str, Any]]) -> None:
    assert error["code"] == "internal_error" and error["where"] == where, error
    assert error["exception_type"] == "JSONDecodeError" and error["at"]
    assert "Expecting" not in json.dumps(error)  # the exception's message is never kept
    assert [r for r in trail if r["action"] == f"{where}.failed" and r["result"] == "internal_error"], trail


async def test_the_sync_worker_records_an_unexpected_error_and_finishes_the_message(stack: LocalStack) -> None:
    cid = await _connection(stack)
    await _merge(cid, schedule_json=UNREADABLE)
    for _ in range(2):  # the host sees a finished message both times: no retries, no poison queue
        await host.queue("sync_worker", {"connection_id": cid, "mode": "incremental", "trigger": "schedule"})
    async with Container.from_env() as container:
        status = await SyncState(container.tables(), cid).status()
    assert status.state == "failing" and status.consecutive_failures == 2, status
    assert status.last_error.startswith("internal_error") and "JSONDecodeError" in status.last_error
    _assert_recorded(await _last_error(cid), "sync_worker", await _trail(cid))


async def test_the_rotation_worker_records_an_unexpected_error_and_finishes_the_message(stack: LocalStack) -> None:
    tenant = stack.tenant
    cid = await _connection(
        stack, features={"sync": True, "rotation": True}, rotation_group_id=tenant["rotation_group"]["id"]
    )
    await _merge(cid, schedule_json=UNREADABLE)
    await host.acall("rotation_worker", func.QueueMessage(body=json.dumps({"connection_id": cid}).encode()))
    _assert_recorded(await _last_error(cid), "rotation_worker", await _trail(cid))
    await host.acall("rotation_worker", func.QueueMessage(body=b"not json"))  # no connection to record it on: logged


async def test_the_scheduler_records_one_unreadable_connection_and_schedules_the_others(stack: LocalStack) -> None:
    due = {"schedule": {"frequency": "daily", "time_of_day": "00:00", "timezone": "UTC"}}
    healthy = await _connection(stack, **due)
    broken = await _connection(stack, allow_second_connection=True, **due)
    for cid in (healthy, broken):
        status, report, _ = await host.http(
            "connections_verify", "POST", f"/api/connections/{cid}/verify", route={"id": cid}
        )
        assert status == 200, report
    await _merge(broken, schedule_json=UNREADABLE)
    async with Container.from_env() as container:
        await container.queues().receive_all(names.SYNC_JOBS)
    await host.acall("sync_scheduler", TimerRequest(past_due=False))
    async with Container.from_env() as container:
        jobs = [j["connection_id"] for j in await container.queues().receive_all(names.SYNC_JOBS)]
    assert healthy in jobs and broken not in jobs
    _assert_recorded(await _last_error(broken), "sync_scheduler", await _trail(broken))


async def test_an_http_trigger_answers_internal_error_and_records_it(stack: LocalStack) -> None:
    cid = await _connection(stack)
    await _merge(cid, schedule_json=UNREADABLE)
    status, body, _ = await host.http("connections_get", "GET", f"/api/connections/{cid}", route={"id": cid})
    assert status == 500 and body["code"] == "internal_error" and body["exception_type"] == "JSONDecodeError"
    assert "Expecting" not in json.dumps(body)
    status, body, _ = await host.http("sync_status", "GET", f"/api/connections/{cid}/status", route={"id": cid})
    assert status == 500 and body["code"] == "internal_error"
    _assert_recorded(await _last_error(cid), "sync_status", await _trail(cid))
    assert [r for r in await _trail(cid) if r["action"] == "connections_get.failed"]


EC_PEM = pem("ec")


@pytest.fixture
async def ec_connection(stack: LocalStack) -> str:
    """A connection whose stored certificate has an EC key: what the API accepted before it checked certificates."""
    cid = await _connection(
        stack, features={"sync": True, "rotation": True}, rotation_group_id=stack.tenant["rotation_group"]["id"]
    )
    ref = client_cert_ref(cid)
    async with Container.from_env() as container:
        info = await container.secrets().set(ref.name, EC_PEM, tags=ref.tags, content_type="pem")
    credential = {
        "kind": "certificate",
        "hint": "abc",
        "expires_on": None,
        "secret_name": ref.name,
        "version": info.version,
    }
    await _merge(cid, credential_json=json.dumps(credential), state="active")
    return cid


async def test_a_stored_certificate_entra_cannot_use_is_an_explained_failure(
    ec_connection: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cid = ec_connection
    status, report, _ = await host.http(
        "connections_verify", "POST", f"/api/connections/{cid}/verify", route={"id": cid}
    )
    assert status == 200, report
    token = next(c for c in report["checks"] if c["name"] == "token")
    assert token["status"] == "fail" and "RSA" in token["detail"] and "certificate" in token["remedy"]
    await host.queue("sync_worker", {"connection_id": cid, "mode": "incremental", "trigger": "schedule"})
    async with Container.from_env() as container:
        status_row = await SyncState(container.tables(), cid).status()
    assert status_row.state == "failing" and status_row.last_error.startswith("credential_unusable"), status_row
    await host.acall("rotation_worker", func.QueueMessage(body=json.dumps({"connection_id": cid}).encode()))
    error = await _last_error(cid)
    assert error["code"] == "credential_unusable" and error["where"] == "rotation_worker", error
    key_lines = EC_PEM.split("PRIVATE KEY-----")[1].splitlines()[1:-1]
    assert key_lines and not [line for line in key_lines if line in caplog.text + json.dumps(report)]
