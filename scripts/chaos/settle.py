"""The settle after a round, in the harness's process, with the faults off and every worker dead: what the dead
workers held is aged to its expiry (as waiting out the TTL would), leftover job messages are dropped (their work
is in the checkpoints), then the ordinary runs the scheduler and the timer would queue are invoked as the host
invokes them: sync jobs until the connection is idle, a rotation job, the round's purge jobs until done."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func

from scripts.host import acall
from shared import storage_names as names
from shared.adapters.sync_state import SyncState, iso
from shared.adapters.table_store import TableStore
from shared.domain.timestamps import utc_now

SETTLE_RUNS = 12  # invocations a settle may take per connection (continued runs, an approval, a purge's parts)


def message(body: dict[str, Any]) -> func.QueueMessage:
    return func.QueueMessage(body=json.dumps(body).encode())


async def age_dead_holds(tables: TableStore, connection_ids: list[str]) -> int:
    """The sync lease and the rotation user locks the killed workers left: expired now. Returns how many."""
    now, aged = iso(utc_now()), 0
    for cid in connection_ids:
        if await tables.get(names.SYNC_STATE, cid, "lease") is not None:
            await tables.upsert(names.SYNC_STATE, {"PartitionKey": cid, "RowKey": "lease", "expires_at": now})
            aged += 1
        async for row in tables.query(names.ROTATION_STATE, "PartitionKey eq @pk", {"pk": cid}):
            if row.get("lock_owner"):
                entity = {"PartitionKey": cid, "RowKey": row["RowKey"], "lock_expires_at": now}
                await tables.upsert(names.ROTATION_STATE, entity)
                aged += 1
    return aged


async def clear_job_queues(connection_string: str) -> int:
    """Drop what is left in the job queues (continuations, lease re-checks, jobs not taken yet: the checkpoints
    hold the work); returns how many messages the poison queues held."""
    from azure.storage.queue.aio import QueueServiceClient

    poison = 0
    async with QueueServiceClient.from_connection_string(connection_string) as service:
        for queue in (names.SYNC_JOBS, names.ROTATION_JOBS, names.PURGE_JOBS, names.SYNC_FANOUT):
            for name in (queue, f"{queue}-poison"):
                client = service.get_queue_client(name)
                try:
                    if name.endswith("-poison"):
                        poison += (await client.get_queue_properties()).approximate_message_count or 0
                    await client.clear_messages()
                except Exception:  # noqa: BLE001, S112 (a queue never made holds nothing)
                    continue
    return poison


async def sync_until_idle(tables: TableStore, cid: str) -> list[str]:
    """Sync jobs (approving held removals) until no checkpoint is left and the connection is idle."""
    state = SyncState(tables, cid)
    approved = False
    for _ in range(SETTLE_RUNS):
        job = {"connection_id": cid, "mode": "incremental", "trigger": "chaos-settle", "approved": approved}
        await acall("sync_worker", message(job))
        status, checkpoint = await state.status(), await state.checkpoint()
        if checkpoint is None and status.state == "idle":
            return []
        approved = approved or status.state == "awaiting_approval"
    return [f"settle: connection {cid}'s sync did not finish in {SETTLE_RUNS} runs (state {status.state})"]


async def rotate(cid: str) -> None:
    await acall("rotation_worker", message({"connection_id": cid}))


async def purge_until_gone(tables: TableStore, cid: str, job_id: str) -> None:
    for _ in range(SETTLE_RUNS):  # a purge continues in new messages until the connection row goes
        if await tables.get(names.CONNECTIONS, "connection", cid) is None:
            return
        await acall("purge_worker", message({"connection_id": cid, "job_id": job_id}))
