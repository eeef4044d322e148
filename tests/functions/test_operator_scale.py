"""Operator scale (issue 21): many stored connections. The scheduler tick looks at them side by side and enqueues each
due one exactly once, fanning out when many are due at once; the connection listing is paged (`top`,
`continuation`) so a page costs the same at any count."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from emulators.stack import LocalStack
from scripts import host
from shared import storage_names as names
from shared.adapters.queues import QueueSender
from shared.adapters.table_store import TableStore
from shared.domain.connection import Connection, Schedule, to_entity
from shared.services.sync_fanout import FANOUT_CHUNK, SEND_CONCURRENCY
from shared.services.sync_jobs import enqueue_due

COUNT = SEND_CONCURRENCY * 2 + 5  # more than the tick looks at side by side


@pytest.fixture
async def many(stack: LocalStack, stack_env: dict[str, str]) -> Any:
    """COUNT connections due now (daily at 00:00 UTC, never run), written straight to the table (as the operator's
    thousands of tenants would be); removed afterwards so other tests' ticks do not see them."""
    tables = TableStore.from_connection_string(stack.azurite.connection_string)
    queues = QueueSender.from_connection_string(stack.azurite.connection_string)
    tag = uuid.uuid4().hex[:6]
    ids = [f"00000000-0000-4000-8000-{tag}{i:06d}" for i in range(COUNT)]
    schedule = Schedule(frequency="daily", time_of_day="00:00", timezone="UTC")
    for cid in ids:
        entity = to_entity(
            Connection(
                id=cid,
                tenant_id=str(uuid.uuid4()),
                display_name=f"Scale {cid[-6:]}",
                credential_mode="customer_app",
                client_id=str(uuid.uuid4()),
                state="active",
                schedule=schedule,
            )
        )
        await tables.upsert(names.CONNECTIONS, entity)
    try:
        yield ids, queues
    finally:
        await tables.delete_many(names.CONNECTIONS, [("connection", cid) for cid in ids])
        await tables.delete_many(names.SYNC_STATE, [(names.SCHEDULER_SLOTS, cid) for cid in ids])
        await queues.receive_all(names.SYNC_JOBS)
        await tables.close()
        await queues.close()


async def test_one_tick_enqueues_every_due_connection_once(many: Any) -> None:
    ids, queues = many
    await queues.receive_all(names.SYNC_JOBS)
    await host.acall("sync_scheduler", None)
    jobs = [m["connection_id"] for m in await queues.receive_all(names.SYNC_JOBS) if m["connection_id"] in ids]
    assert sorted(jobs) == sorted(ids)  # each once, none missed
    await host.acall("sync_scheduler", None)
    assert [m for m in await queues.receive_all(names.SYNC_JOBS) if m["connection_id"] in ids] == []


async def test_the_listing_pages_through_every_connection_once(many: Any) -> None:
    ids, _ = many
    seen: list[str] = []
    continuation = ""
    pages = 0
    while True:
        query = "top=7" + (f"&continuation={continuation}" if continuation else "")
        status, body, _ = await host.http("connections_list", "GET", f"/api/connections?{query}")
        assert status == 200, body
        assert len(body["value"]) <= 7
        seen += [c["id"] for c in body["value"]]
        pages += 1
        continuation = body["continuation"]
        if not continuation:
            break
    mine = [cid for cid in seen if cid in ids]
    assert sorted(mine) == sorted(ids) and len(mine) == len(set(mine))
    assert pages >= COUNT // 7
    assert all("client_secret" not in c for c in body["value"])


@pytest.mark.parametrize("top", ["0", "101", "x"])
async def test_a_bad_page_size_is_a_validation_error(stack_env: dict[str, str], top: str) -> None:
    status, body, _ = await host.http("connections_list", "GET", f"/api/connections?top={top}")
    assert status == 400
    assert body["code"] == "validation_error" and "top" in body["problems"]


async def test_a_forged_continuation_is_a_validation_error(stack_env: dict[str, str]) -> None:
    status, body, _ = await host.http("connections_list", "GET", "/api/connections?continuation=bm90LWEtdG9rZW4")
    assert status == 400 and "continuation" in body["problems"]


async def test_many_due_at_once_are_fanned_out_and_each_job_is_sent_once_by_the_fanout_worker(
    many: Any, stack: LocalStack
) -> None:
    """More due connections than `fanout_at`: the tick sends fan-out messages only (no job yet, no marker), the
    fan-out worker sends each job and writes its marker, and the next tick finds nothing due."""
    ids, queues = many
    tables = TableStore.from_connection_string(stack.azurite.connection_string)
    try:
        await queues.receive_all(names.SYNC_JOBS)
        await queues.receive_all(names.SYNC_FANOUT)
        handed = await enqueue_due(tables, queues, fanout_at=10)
        assert sorted(j.connection_id for j in handed if j.connection_id in ids) == sorted(ids)
        assert [m for m in await queues.receive_all(names.SYNC_JOBS) if m["connection_id"] in ids] == []
        messages = await queues.receive_all(names.SYNC_FANOUT)
        assert len(messages) == -(-len(handed) // FANOUT_CHUNK)  # one per chunk of 100
        for message in messages:
            await host.queue("sync_fanout", message)
        jobs = [m["connection_id"] for m in await queues.receive_all(names.SYNC_JOBS) if m["connection_id"] in ids]
        assert sorted(jobs) == sorted(ids)
        assert await enqueue_due(tables, queues, fanout_at=10) == []
    finally:
        await tables.close()


async def test_a_fanout_message_that_is_lost_leaves_its_connections_due_for_the_next_tick(
    many: Any, stack: LocalStack
) -> None:
    ids, queues = many
    tables = TableStore.from_connection_string(stack.azurite.connection_string)
    try:
        await queues.receive_all(names.SYNC_FANOUT)
        await enqueue_due(tables, queues, fanout_at=10)
        await queues.receive_all(names.SYNC_FANOUT)  # lost: never reaches the fan-out worker
        again = await enqueue_due(tables, queues, fanout_at=10)
        assert sorted(j.connection_id for j in again if j.connection_id in ids) == sorted(ids)
    finally:
        await queues.receive_all(names.SYNC_FANOUT)
        await tables.close()


async def test_a_malformed_fanout_message_is_dropped_and_sends_nothing(many: Any) -> None:
    _, queues = many
    await queues.receive_all(names.SYNC_JOBS)
    await host.queue("sync_fanout", {"due": [["x", "someday", "2026-01-01T00:00:00+00:00"]]})
    assert await queues.receive_all(names.SYNC_JOBS) == []
