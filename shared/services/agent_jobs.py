"""Jobs for a connection's agents: queued in the `agents` table, leased to one agent at a time (ETag-guarded),
kept by heartbeats, taken over by another agent when the lease runs out, finished by the result of the agent that
holds the lease. Polls may wait (long-poll) up to MAX_WAIT_S for a job."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from shared.domain.agent_protocol import JOB_ID, LEASE_S, MAX_WAIT_S, JobState, exhausted, pick_job
from shared.errors import ConcurrencyConflict, LeaseLost, NotFound, ValidationError
from shared.storage_names import AGENTS

log = logging.getLogger(__name__)
AGENT_PARTITION = "agent"
POLL_INTERVAL_S = 1.0
MAX_RESULT_CHARS = 30_000  # what one table property holds (64 KiB of UTF-16)
KINDS = ("sync", "rotate", "probe")
Sleep = Callable[[float], Awaitable[None]]


def jobs_partition(connection_id: str) -> str:
    return f"jobs_{connection_id}"


def new_job_id(now: float) -> str:
    return f"{int(now * 1000):013d}-{uuid.uuid4().hex[:12]}"


async def enqueue(
    container: Any, connection_id: str, kind: str, payload: dict[str, Any], now: float | None = None
) -> str:
    """A job for whichever agent of the connection polls first; its id."""
    if kind not in KINDS:
        raise ValueError(f"unknown agent job kind {kind}")
    now = time.time() if now is None else now
    job_id = new_job_id(now)
    await container.tables().insert(
        AGENTS,
        {
            "PartitionKey": jobs_partition(connection_id),
            "RowKey": job_id,
            "connection_id": connection_id,
            "kind": kind,
            "payload_json": json.dumps(payload),
            "state": "queued",
            "lease_agent": "",
            "lease_until": 0.0,
            "attempts": 0,
            "created_at": now,
        },
    )
    return job_id


def _state(row: Any) -> JobState:
    return JobState(
        str(row["RowKey"]), str(row["state"]), str(row.get("lease_agent") or ""),
        float(row.get("lease_until") or 0), int(row.get("attempts") or 0),
    )  # fmt: skip


def lease_seconds(container: Any) -> float:
    """How long a lease lasts after the last heartbeat (AGENT_LEASE_SECONDS, default LEASE_S)."""
    return float(getattr(container.settings, "agent_lease_s", LEASE_S))


def _job(row: Any, lease_s: float) -> dict[str, Any]:
    return {
        "id": str(row["RowKey"]),
        "kind": row["kind"],
        "payload": json.loads(row["payload_json"]),
        "lease_seconds": lease_s,
        "attempt": int(row["attempts"]),
    }


async def _seen(container: Any, agent: dict[str, Any], now: float) -> None:
    keys = {"PartitionKey": AGENT_PARTITION, "RowKey": agent["RowKey"]}
    await container.tables().upsert(AGENTS, {**keys, "last_seen": now})


async def _try_lease(container: Any, agent: dict[str, Any], now: float) -> dict[str, Any] | None:
    tables = container.tables()
    partition = jobs_partition(str(agent["connection_id"]))
    rows = {str(r["RowKey"]): r async for r in tables.query(AGENTS, "PartitionKey eq @pk", {"pk": partition})}
    for row in rows.values():
        if exhausted(_state(row), now):
            failed = {**row, "state": "done", "outcome": "failed", "error_code": "agent_attempts_exhausted"}
            try:
                await tables.update_if_match(AGENTS, failed, str(row.metadata.get("etag", "")))
            except ConcurrencyConflict:
                continue
    for candidate in pick_job([_state(r) for r in rows.values()], now):
        row = rows[candidate.id]
        leased = {
            **row,
            "state": "leased",
            "lease_agent": agent["RowKey"],
            "lease_until": now + lease_seconds(container),
            "attempts": candidate.attempts + 1,
            "leased_at": now,
        }
        try:  # two agents polling at once: only one ETag-guarded write wins, the other tries the next job
            await tables.update_if_match(AGENTS, leased, str(row.metadata.get("etag", "")))
        except ConcurrencyConflict:
            continue
        log.info("agent %s leased job %s (attempt %d)", agent["RowKey"], candidate.id, leased["attempts"])
        job = _job(leased, lease_seconds(container))
        if job["kind"] == "rotate":  # passwords are sealed to the agent that leased the job, in this answer only
            from shared.services.ad_rotation import seal_for

            job["payload"] = await seal_for(container, agent, job["id"], job["payload"], leased["attempts"])
        return job
    return None


async def poll(
    container: Any,
    agent: dict[str, Any],
    wait_s: float = 0,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Sleep = asyncio.sleep,
) -> tuple[int, Any]:
    """200 {job} leased to this agent, or 204 when none came within `wait_s` (at most MAX_WAIT_S)."""
    from shared.services.agent_auth import forget_old_nonces

    if not 0 <= wait_s <= MAX_WAIT_S:
        raise ValidationError({"wait": f"must be 0..{MAX_WAIT_S} seconds"})
    await _seen(container, agent, clock())
    await forget_old_nonces(container, str(agent["RowKey"]), clock())
    deadline = clock() + wait_s
    while True:
        job = await _try_lease(container, agent, clock())
        if job is not None:
            return 200, {"job": job}
        if clock() + POLL_INTERVAL_S > deadline:
            return 204, None
        await sleep(POLL_INTERVAL_S)


async def _held(container: Any, agent: dict[str, Any], job_id: str) -> Any:
    if not JOB_ID.match(job_id):
        raise NotFound("No such job")
    row = await container.tables().get(AGENTS, jobs_partition(str(agent["connection_id"])), job_id)
    if row is None:
        raise NotFound("No such job")
    return row


async def heartbeat(container: Any, agent: dict[str, Any], job_id: str, now: float | None = None) -> tuple[int, Any]:
    """200 {lease_until}: the lease is extended; 409 lease_lost when another agent holds the job now."""
    now = time.time() if now is None else now
    await _seen(container, agent, now)
    row = await _held(container, agent, job_id)
    if row["state"] != "leased" or row["lease_agent"] != agent["RowKey"]:
        raise LeaseLost("The job is no longer leased to this agent: stop working on it")
    try:
        await container.tables().update_if_match(
            AGENTS, {**row, "lease_until": now + lease_seconds(container)}, str(row.metadata.get("etag", ""))
        )
    except ConcurrencyConflict:
        raise LeaseLost("The job's lease changed meanwhile: stop working on it") from None
    return 200, {"id": job_id, "lease_seconds": lease_seconds(container)}


async def put_part(container: Any, agent: dict[str, Any], job_id: str, index: str, body: bytes) -> tuple[int, Any]:
    """200: part `index` of the answer of the job this agent holds is stored (docs/ad-agent.md, answers in parts)."""
    from shared.services import agent_parts

    await _seen(container, agent, time.time())
    row = await _held(container, agent, job_id)
    return await agent_parts.put_part(container, agent, row, index, body)


async def complete(
    container: Any, agent: dict[str, Any], job_id: str, body: Any, now: float | None = None
) -> tuple[int, Any]:
    """200: the job is done with the result of the agent that holds its lease (a lease that ran out counts while
    nobody took the job over). The same result again answers 200; a result from another agent: 409 lease_lost."""
    now = time.time() if now is None else now
    if not isinstance(body, dict) or body.get("outcome") not in ("succeeded", "failed"):
        raise ValidationError({"outcome": "must be succeeded or failed"})
    parts = body.get("parts")
    if parts is not None and ("result" in body or body["outcome"] != "succeeded"):
        raise ValidationError({"parts": "only a succeeded result without `result` is sent in parts"})
    result = body.get("result", {})
    error = body.get("error")
    if not isinstance(result, dict):
        raise ValidationError({"result": "must be a JSON object"})
    if error is not None and not (isinstance(error, dict) and isinstance(error.get("code"), str)):
        raise ValidationError({"error": "must be an object with a code and a message"})
    await _seen(container, agent, now)
    row = await _held(container, agent, job_id)
    if row["state"] == "done" and row.get("done_by") == agent["RowKey"]:
        return 200, {"id": job_id, "state": "done"}
    if row["state"] != "leased" or row["lease_agent"] != agent["RowKey"]:
        raise LeaseLost("The job is no longer leased to this agent: its result is not used")
    if parts is not None:
        from shared.services.agent_parts import assemble

        result = await assemble(container, agent, row, parts)
    if row["kind"] == "sync":  # the answer goes through the sync now; the job keeps the run's summary only
        from shared.services import ad_sync

        payload = json.loads(row["payload_json"])
        if body["outcome"] == "succeeded":
            result = await ad_sync.apply_answer(container, str(agent["connection_id"]), payload, result)
        else:
            code = str((error or {}).get("code") or "agent_failed")
            await ad_sync.record_failure(container, str(agent["connection_id"]), payload, code)
    elif row["kind"] == "rotate":  # a failed job answers nothing per user: every password stays pending
        from shared.services import ad_rotation

        payload = json.loads(row["payload_json"])
        answer = result if body["outcome"] == "succeeded" else {}
        result = await ad_rotation.apply_result(container, str(agent["connection_id"]), payload, answer)
    text = json.dumps(result)
    if len(text) > MAX_RESULT_CHARS:
        raise ValidationError({"result": f"must be at most {MAX_RESULT_CHARS} characters of JSON"})
    done = {
        **row,
        "state": "done",
        "outcome": body["outcome"],
        "result_json": text,
        "error_code": (error or {}).get("code", ""),
        "error_message": str((error or {}).get("message", ""))[:1000],
        "done_by": agent["RowKey"],
        "done_at": now,
    }
    await _finish(container, agent, job_id, row, done)
    from shared.services.agent_parts import drop_parts  # also parts an earlier lease left and nobody used

    await drop_parts(container, str(agent["connection_id"]), job_id)
    return 200, {"id": job_id, "state": "done"}


async def _finish(container: Any, agent: dict[str, Any], job_id: str, row: Any, done: dict[str, Any]) -> None:
    """Write the done row, ETag-guarded. The agent keeps heartbeating while its answer is applied, so the row's
    ETag may have moved by this agent's own heartbeat: written again while the lease is still this agent's."""
    for _ in range(5):
        try:
            await container.tables().update_if_match(AGENTS, {**row, **done}, str(row.metadata.get("etag", "")))
            return
        except ConcurrencyConflict:
            row = await _held(container, agent, job_id)
            if row["state"] != "leased" or row["lease_agent"] != agent["RowKey"]:
                break
    raise LeaseLost("The job changed meanwhile (another agent took it over)")


async def job_row(container: Any, connection_id: str, job_id: str) -> Any:
    return await container.tables().get(AGENTS, jobs_partition(connection_id), job_id)


async def release_leases(container: Any, connection_id: str, agent_id: str) -> int:
    """A removed agent's leased jobs go back to the queue at once (not after the lease runs out)."""
    tables = container.tables()
    released = 0
    where = {"pk": jobs_partition(connection_id), "a": agent_id}
    async for row in tables.query(AGENTS, "PartitionKey eq @pk and lease_agent eq @a", where):
        if row["state"] != "leased":
            continue
        queued = {**row, "state": "queued", "lease_until": 0.0}
        try:
            await tables.update_if_match(AGENTS, queued, str(row.metadata.get("etag", "")))
            released += 1
        except ConcurrencyConflict:
            continue
    return released
