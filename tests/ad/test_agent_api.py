"""The agent protocol end to end: a one-time code (API and CLI), registration by the real agent over HTTPS, signed
polls, forged and replayed requests refused, leases with heartbeats and takeover, removal."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from agent.client import ServiceClient
from agent.errors import ProtocolError
from agent.keys import load_identity, new_keys, public_b64
from agent.protocol import signed_headers
from agent.runner import work_once
from scripts import host
from shared.composition import Container
from shared.config import load_settings
from shared.domain.agent_protocol import LEASE_S
from shared.errors import LeaseLost
from shared.services import agent_jobs
from shared.storage_names import AGENT_NONCES, AGENTS
from tests.ad.ad_flow import agent_config, new_code, register
from tests.ad.app_server import AppServer


async def rows(stack_env: dict[str, str], table: str) -> list[dict[str, Any]]:
    async with Container(load_settings(stack_env)) as container:
        return [dict(r) async for r in container.tables().query(table)]


async def test_an_agent_registers_with_a_one_time_code_and_shows_in_status(
    app_server: AppServer, connection: str, stack_env: dict[str, str], tmp_path: Path
) -> None:
    code = await new_code(connection)
    config = agent_config(tmp_path, app_server)
    agent_id = await register(config, code)

    identity = load_identity(config.state_dir)
    assert identity.agent_id == agent_id and identity.connection_id == connection
    for name in ("signing-key.pem", "encryption-key.pem", "agent.json"):
        assert stat.S_IMODE(os.stat(config.state_dir / name).st_mode) == 0o600
    status, listed, _ = await host.http(
        "agents_list", "GET", f"/api/connections/{connection}/agents", route={"id": connection}
    )
    assert status == 200 and [(a["id"], a["status"]) for a in listed["agents"]] == [(agent_id, "online")]
    assert listed["agents"][0]["last_seen"]

    # the code is spent: another agent (another key) cannot use it; nothing stored holds the code or a private key
    with pytest.raises(ProtocolError) as refused:
        await register(agent_config(tmp_path, app_server, "agent-2"), code)
    assert refused.value.code == "registration_refused"
    stored = json.dumps(await rows(stack_env, AGENTS), default=str)
    assert code not in stored and code[6:] not in stored
    assert (config.state_dir / "signing-key.pem").read_text().splitlines()[1] not in stored


async def test_a_retried_registration_answers_the_same_agent(app_server: AppServer, connection: str) -> None:
    code = await new_code(connection)
    signing, encryption = new_keys()
    with ServiceClient(app_server.url, ca_file=app_server.ca_file) as client:
        args = (code, "agent", "0.1.0", public_b64(signing), public_b64(encryption))
        first = await asyncio.to_thread(client.register, *args)
        again = await asyncio.to_thread(client.register, *args)  # the first answer was lost
    assert first == again


async def test_signed_polls_work_and_forged_or_replayed_requests_are_refused(
    app_server: AppServer, connection: str, tmp_path: Path
) -> None:
    config = agent_config(tmp_path, app_server)
    await register(config, await new_code(connection))
    identity = load_identity(config.state_dir)
    with ServiceClient(app_server.url, ca_file=app_server.ca_file) as client:
        assert await asyncio.to_thread(client.poll, identity, 0) is None  # signed: 204, no job

        def send(headers: dict[str, str], body: bytes = b"") -> Any:
            return client._http.post("/api/agent/poll?wait=0", content=body, headers=headers)

        good = signed_headers(identity.signing, identity.agent_id, "POST", "/api/agent/poll?wait=0", b"")
        assert (await asyncio.to_thread(send, good)).status_code == 204
        replay = await asyncio.to_thread(send, good)
        assert (replay.status_code, replay.json()["code"]) == (401, "agent_replay")

        forger, _ = new_keys()  # someone with the agent's id but not its key
        forged = signed_headers(forger, identity.agent_id, "POST", "/api/agent/poll?wait=0", b"")
        answer = await asyncio.to_thread(send, forged)
        assert (answer.status_code, answer.json()["code"]) == (401, "agent_signature_invalid")

        other_path = signed_headers(identity.signing, identity.agent_id, "POST", "/api/agent/poll?wait=9", b"")
        answer = await asyncio.to_thread(send, other_path)  # signed for another request
        assert answer.json()["code"] == "agent_signature_invalid"

        answer = await asyncio.to_thread(send, {})
        assert (answer.status_code, answer.json()["code"]) == (401, "agent_unsigned")
        old = {**good, "X-Agent-Timestamp": str(int(good["X-Agent-Timestamp"]) - 3600)}
        assert (await asyncio.to_thread(send, old)).json()["code"] == "agent_clock_skew"


async def test_a_job_runs_on_one_agent_and_its_result_is_stored(
    app_server: AppServer, connection: str, stack_env: dict[str, str], tmp_path: Path
) -> None:
    config = agent_config(tmp_path, app_server)
    await register(config, await new_code(connection))
    identity = load_identity(config.state_dir)
    async with Container(load_settings(stack_env)) as container:
        job_id = await agent_jobs.enqueue(container, connection, "probe", {})
    handlers = {"probe": lambda payload: {"answer": 42}}
    with ServiceClient(app_server.url, ca_file=app_server.ca_file) as client:
        assert await asyncio.to_thread(work_once, client, identity, handlers, 0) == job_id
        assert await asyncio.to_thread(work_once, client, identity, handlers, 0) is None  # done: not leased again
    async with Container(load_settings(stack_env)) as container:
        row = await agent_jobs.job_row(container, connection, job_id)
    assert row is not None and row["state"] == "done" and row["outcome"] == "succeeded"
    assert json.loads(row["result_json"]) == {"answer": 42} and row["done_by"] == identity.agent_id


async def _agent(container: Any, connection: str, tmp_path: Path, server: AppServer, name: str) -> dict[str, Any]:
    config = agent_config(tmp_path, server, name)
    agent_id = await register(config, await new_code(connection))
    row = await container.tables().get(AGENTS, "agent", agent_id)
    return dict(row)


async def test_a_dead_agents_job_is_taken_over_and_its_late_result_refused(
    app_server: AppServer, connection: str, stack_env: dict[str, str], tmp_path: Path
) -> None:
    async with Container(load_settings(stack_env)) as container:
        a = await _agent(container, connection, tmp_path, app_server, "a")
        b = await _agent(container, connection, tmp_path, app_server, "b")
        job_id = await agent_jobs.enqueue(container, connection, "probe", {})
        t0 = 2_000_000_000.0
        status, leased = await agent_jobs.poll(container, a, clock=lambda: t0)
        assert status == 200 and leased["job"]["id"] == job_id
        assert (await agent_jobs.poll(container, b, clock=lambda: t0 + 1))[0] == 204  # a holds it
        await agent_jobs.heartbeat(container, a, job_id, now=t0 + LEASE_S - 1)  # a is alive: lease extended
        assert (await agent_jobs.poll(container, b, clock=lambda: t0 + LEASE_S + 1))[0] == 204

        # a dies mid-job (no more heartbeats); once its lease runs out, b takes the job over
        late = t0 + 2 * LEASE_S
        status, taken = await agent_jobs.poll(container, b, clock=lambda: late)
        assert status == 200 and taken["job"]["id"] == job_id and taken["job"]["attempt"] == 2
        with pytest.raises(LeaseLost):
            await agent_jobs.heartbeat(container, a, job_id, now=late + 1)
        with pytest.raises(LeaseLost):
            await agent_jobs.complete(container, a, job_id, {"outcome": "succeeded", "result": {}}, now=late + 1)
        done = {"outcome": "succeeded", "result": {"by": "b"}}
        assert (await agent_jobs.complete(container, b, job_id, done, now=late + 2))[0] == 200
        assert (await agent_jobs.complete(container, b, job_id, done, now=late + 3))[0] == 200  # retried: same
        row = await agent_jobs.job_row(container, connection, job_id)
    assert row["done_by"] == b["RowKey"] and json.loads(row["result_json"]) == {"by": "b"}


async def test_two_agents_polling_at_once_never_both_get_a_job(
    app_server: AppServer, connection: str, stack_env: dict[str, str], tmp_path: Path
) -> None:
    async with Container(load_settings(stack_env)) as container:
        a = await _agent(container, connection, tmp_path, app_server, "a")
        b = await _agent(container, connection, tmp_path, app_server, "b")
        for _ in range(5):
            await agent_jobs.enqueue(container, connection, "probe", {})
            answers = await asyncio.gather(agent_jobs.poll(container, a), agent_jobs.poll(container, b))
            winners = [body["job"]["id"] for status, body in answers if status == 200]
            assert len(winners) == 1, answers
            leaser = a if answers[0][0] == 200 else b
            await agent_jobs.complete(container, leaser, winners[0], {"outcome": "succeeded", "result": {}})


async def test_a_removed_agent_is_refused_and_its_job_goes_to_another(
    app_server: AppServer, connection: str, stack_env: dict[str, str], tmp_path: Path
) -> None:
    config = agent_config(tmp_path, app_server, "gone")
    agent_id = await register(config, await new_code(connection))
    identity = load_identity(config.state_dir)
    async with Container(load_settings(stack_env)) as container:
        job_id = await agent_jobs.enqueue(container, connection, "probe", {})
        gone = dict(await container.tables().get(AGENTS, "agent", agent_id))
        assert (await agent_jobs.poll(container, gone))[0] == 200
    status, _, _ = await host.http(
        "agents_remove", "DELETE", f"/api/connections/{connection}/agents/{agent_id}",
        route={"id": connection, "agentId": agent_id},
    )  # fmt: skip
    assert status == 200
    with ServiceClient(app_server.url, ca_file=app_server.ca_file) as client, pytest.raises(ProtocolError) as refused:
        await asyncio.to_thread(client.poll, identity, 0)
    assert refused.value.code == "agent_unknown"
    async with Container(load_settings(stack_env)) as container:
        other = await _agent(container, connection, tmp_path, app_server, "other")
        status, body = await agent_jobs.poll(container, other)
    assert status == 200 and body["job"]["id"] == job_id  # released at once, not after the lease


async def test_nonces_are_kept_per_agent_and_old_ones_forgotten(
    app_server: AppServer, connection: str, stack_env: dict[str, str], tmp_path: Path
) -> None:
    config = agent_config(tmp_path, app_server)
    agent_id = await register(config, await new_code(connection))
    identity = load_identity(config.state_dir)
    with ServiceClient(app_server.url, ca_file=app_server.ca_file) as client:
        await asyncio.to_thread(client.poll, identity, 0)
    mine = [r for r in await rows(stack_env, AGENT_NONCES) if r["PartitionKey"] == agent_id]
    assert len(mine) == 1 and mine[0]["connection_id"] == connection
    from shared.services.agent_auth import forget_old_nonces

    async with Container(load_settings(stack_env)) as container:
        assert await forget_old_nonces(container, agent_id, now=4_000_000_000) == 1


def test_the_cli_makes_a_registration_code_and_lists_agents(
    connection: str, stack_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    from scripts.cli import main

    assert main(["agents", "code", connection, "--minutes", "30"], environ=stack_env) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["code"].startswith("adreg_") and made["connection_id"] == connection
    assert main(["agents", "list", connection], environ=stack_env) == 0
    assert json.loads(capsys.readouterr().out) == {"agents": []}
    assert main(["agents", "code", connection, "--minutes", "1"], environ=stack_env) == 1
    assert "expires_in_minutes" in capsys.readouterr().err
