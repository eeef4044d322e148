"""Agent answers larger than one request: the real agent sends a sync answer in parts (its part size forced small by
its configuration) and the assembled answer syncs equal to the Samba domain's ground truth; the service keeps the
parts in Table Storage below the entity limits, takes a part sent again, refuses missing, out-of-range, altered and
foreign parts with a 4xx naming the problem, applies the answer once and removes the parts after the job."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from shared.composition import Container
from shared.config import load_settings
from shared.errors import LeaseLost, ValidationError
from shared.services import agent_jobs
from shared.services.agent_parts import MAX_PARTS, PIECE_BYTES, parts_partition
from shared.storage_names import AGENTS, SYNC_RUNS
from tests.ad.ad_flow import PASSWORD, agent_config, new_code, register, stored, sync
from tests.ad.app_server import AppServer
from tests.ad.directory_admin import DomainAdmin


async def part_rows(container: Any, cid: str, job_id: str) -> list[dict[str, Any]]:
    query = container.tables().query(AGENTS, "PartitionKey eq @pk", {"pk": parts_partition(cid, job_id)})
    return [dict(r) async for r in query]


def in_scope(rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {uid: {"displayName": r.get("displayName"), "enabled": r["status"] == "active"}
            for uid, r in rows.items() if r.get("in_scope") and r["status"] != "inactive"}  # fmt: skip


async def test_a_sync_answer_in_several_parts_equals_the_domain(
    ad_setup: dict[str, Any],
    domain_admin: DomainAdmin,
    app_server: AppServer,
    stack_env: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="agent")
    a, cid = domain_admin, ad_setup["connection"]
    for n in range(6):  # more users: an answer of several KiB
        user = a.add_user(ad_setup["ou"], f"p{n}{ad_setup['ou'][5:10]}", "Part", f"U{n}", PASSWORD)
        a.add_member(ad_setup["nested"], user)
    setup = {**ad_setup, "config": dataclasses.replace(ad_setup["config"], result_part_bytes=1024)}
    row = await sync(setup, app_server, "full")
    summary = json.loads(row["result_json"])
    assert row["outcome"] == "succeeded" and summary["outcome"] == "succeeded", summary
    sent = [int(m) for m in re.findall(r"answer sent in (\d+) parts", caplog.text)]
    assert sent and sent[0] >= 3, caplog.text  # the answer really went in several parts
    assert in_scope(await stored(cid)) == a.ground_truth(ad_setup["group"])
    async with Container(load_settings(stack_env)) as container:
        assert await part_rows(container, cid, row["RowKey"]) == []  # removed after the job


async def _agent(container: Any, connection: str, tmp_path: Path, server: AppServer, name: str) -> dict[str, Any]:
    config = agent_config(tmp_path, server, name)
    agent_id = await register(config, await new_code(connection))
    return dict(await container.tables().get(AGENTS, "agent", agent_id))


def split(result: dict[str, Any], size: int) -> tuple[list[bytes], str]:
    raw = json.dumps(result).encode()
    return [raw[at : at + size] for at in range(0, len(raw), size)], hashlib.sha256(raw).hexdigest()


def synthetic_answer(count: int) -> dict[str, Any]:
    """A full sync answer of `count` made-up AD users (the shape agent/ad_reader.py sends)."""
    users = [
        {
            "objectGUID": str(uuid.UUID(int=n + 1)),
            "sAMAccountName": f"u{n:05d}",
            "userPrincipalName": f"u{n:05d}@corp.example.com",
            "displayName": f"Part User {n:05d}",
            "givenName": "Part",
            "sn": f"User {n:05d}",
            "department": "Parts and pieces",
            "userAccountControl": 512,
            "distinguishedName": f"CN=u{n:05d},OU=Parts,DC=corp,DC=example,DC=com",
        }
        for n in range(count)
    ]
    cursor = {"host": "dc1.corp.example.com", "invocation_id": str(uuid.UUID(int=7)), "highest_usn": 1, "groups": []}
    return {"dc": cursor, "mode": "full", "full_reason": "first_run", "users": users, "groups": [], "links": {},
            "scope": [u["objectGUID"] for u in users], "deleted": [], "cursor": cursor}  # fmt: skip


async def test_parts_are_checked_assembled_applied_once_and_removed(
    app_server: AppServer, connection: str, stack_env: dict[str, str], tmp_path: Path
) -> None:
    answer = synthetic_answer(1500)
    chunks, digest = split(answer, 150_000)  # each part larger than one table property: kept in pieces
    assert len(chunks) >= 3 and len(chunks[0]) > PIECE_BYTES
    run_id = uuid.uuid4().hex
    payload = {"sync_group": str(uuid.UUID(int=9)), "cursor": None, "run_id": run_id, "dry_run": False,
               "trigger": "manual", "requested_at": "2026-12-01T10:00:00+00:00"}  # fmt: skip
    async with Container(load_settings(stack_env)) as container:
        a = await _agent(container, connection, tmp_path, app_server, "a")
        b = await _agent(container, connection, tmp_path, app_server, "b")
        job_id = await agent_jobs.enqueue(container, connection, "sync", payload)
        assert (await agent_jobs.poll(container, a))[0] == 200
        for bad in (str(MAX_PARTS), "-1", "x"):
            with pytest.raises(ValidationError) as refused:
                await agent_jobs.put_part(container, a, job_id, bad, chunks[0])
            assert "part" in refused.value.problems
        with pytest.raises(ValidationError) as empty:
            await agent_jobs.put_part(container, a, job_id, "0", b"")
        assert "body" in empty.value.problems
        with pytest.raises(LeaseLost):  # b does not hold the job
            await agent_jobs.put_part(container, b, job_id, "0", chunks[0])
        for n, chunk in enumerate(chunks[:-1]):
            assert (await agent_jobs.put_part(container, a, job_id, str(n), chunk))[0] == 200
        assert (await agent_jobs.put_part(container, a, job_id, "0", chunks[0]))[0] == 200  # sent again: the same
        final = {"outcome": "succeeded", "parts": {"count": len(chunks), "sha256": digest}}
        with pytest.raises(ValidationError) as missing:
            await agent_jobs.complete(container, a, job_id, final)
        assert f"missing part(s) {len(chunks) - 1}" in missing.value.problems["parts"]
        last = str(len(chunks) - 1)
        await agent_jobs.put_part(container, a, job_id, last, chunks[-1][:-1] + b" ")  # altered
        with pytest.raises(ValidationError) as altered:
            await agent_jobs.complete(container, a, job_id, final)
        assert "parts.sha256" in altered.value.problems
        assert await stored(connection) == {}  # nothing applied from refused answers
        await agent_jobs.put_part(container, a, job_id, last, chunks[-1])  # sent again, right this time
        assert len(await part_rows(container, connection, job_id)) == len(chunks)
        assert (await agent_jobs.complete(container, a, job_id, final))[0] == 200
        assert (await agent_jobs.complete(container, a, job_id, final))[0] == 200  # the answer was lost: same
        row = await agent_jobs.job_row(container, connection, job_id)
        assert row["state"] == "done" and json.loads(row["result_json"])["counts"]["user.created"] == 1500
        assert await part_rows(container, connection, job_id) == []
        runs = [r async for r in container.tables().query(SYNC_RUNS, "PartitionKey eq @pk", {"pk": connection})]
    (run,) = [r for r in runs if r.get("run_id") == run_id]
    assert json.loads(run["counts_json"])["user.created"] == 1500  # applied once: a second pass would count 0
    users = await stored(connection)
    assert len(users) == 1500 and users[str(uuid.UUID(int=1))]["displayName"] == "Part User 00000"


async def test_parts_of_an_earlier_lease_are_refused_until_sent_again(
    app_server: AppServer, connection: str, stack_env: dict[str, str], tmp_path: Path
) -> None:
    result = {"dc": {"names": [f"n{n}" for n in range(2000)]}}
    chunks, digest = split(result, 5_000)
    final = {"outcome": "succeeded", "parts": {"count": len(chunks), "sha256": digest}}
    async with Container(load_settings(stack_env)) as container:
        a = await _agent(container, connection, tmp_path, app_server, "a")
        b = await _agent(container, connection, tmp_path, app_server, "b")
        job_id = await agent_jobs.enqueue(container, connection, "probe", {})
        t0 = 2_000_000_000.0
        assert (await agent_jobs.poll(container, a, clock=lambda: t0))[0] == 200
        for n, chunk in enumerate(chunks):
            await agent_jobs.put_part(container, a, job_id, str(n), chunk)
        # a dies before its final result; b takes the job after the lease and sends only the last part so far
        assert (await agent_jobs.poll(container, b, clock=lambda: t0 + 3600))[0] == 200
        with pytest.raises(LeaseLost):
            await agent_jobs.complete(container, a, job_id, final)
        await agent_jobs.put_part(container, b, job_id, str(len(chunks) - 1), chunks[-1])
        with pytest.raises(ValidationError) as foreign:
            await agent_jobs.complete(container, b, job_id, final)
        assert "belong to another agent's lease" in foreign.value.problems["parts"]
        for n, chunk in enumerate(chunks[:-1]):
            await agent_jobs.put_part(container, b, job_id, str(n), chunk)
        assert (await agent_jobs.complete(container, b, job_id, final))[0] == 200
        row = await agent_jobs.job_row(container, connection, job_id)
        assert row["done_by"] == b["RowKey"] and json.loads(row["result_json"]) == result
        assert await part_rows(container, connection, job_id) == []


async def test_a_final_result_naming_parts_is_checked_before_anything_is_read(
    app_server: AppServer, connection: str, stack_env: dict[str, str], tmp_path: Path
) -> None:
    async with Container(load_settings(stack_env)) as container:
        a = await _agent(container, connection, tmp_path, app_server, "a")
        job_id = await agent_jobs.enqueue(container, connection, "probe", {})
        assert (await agent_jobs.poll(container, a))[0] == 200
        bad_bodies = [
            ({"outcome": "succeeded", "parts": {"count": 0, "sha256": "0" * 64}}, "parts.count"),
            ({"outcome": "succeeded", "parts": {"count": MAX_PARTS + 1, "sha256": "0" * 64}}, "parts.count"),
            ({"outcome": "succeeded", "parts": {"count": 1, "sha256": "nope"}}, "parts.sha256"),
            ({"outcome": "succeeded", "parts": {"count": 1}}, "parts"),
            ({"outcome": "succeeded", "parts": {"count": 1, "sha256": "0" * 64}, "result": {}}, "parts"),
        ]
        for body, field in bad_bodies:
            with pytest.raises(ValidationError) as refused:
                await agent_jobs.complete(container, a, job_id, body)
            assert field in refused.value.problems, (body, refused.value.problems)
        row = await agent_jobs.job_row(container, connection, job_id)
    assert row["state"] == "leased"  # nothing changed
