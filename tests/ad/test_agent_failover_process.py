"""Failover with real agent processes: two agents run as OS processes of their own (`python -m agent ... run`);
agent A leases a job and is killed with SIGKILL while it holds the lease (its test-only pause makes the moment
deterministic); once the lease (AGENT_LEASE_SECONDS, shortened here) runs out agent B finishes the job. A sync so
finished equals the domain's ground truth and is applied once; a rotation whose password the DC accepted before A
died ends with Key Vault's current version equal to what binds. No secret is in either agent's log."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.keys import load_identity
from scripts import host
from shared.composition import Container
from shared.config import load_settings
from shared.domain.secret_names import password_ref
from shared.services import agent_jobs
from shared.storage_names import SYNC_RUNS
from tests.ad.ad_flow import PASSWORD, agent_config, new_code, register, stored, sync
from tests.ad.agent_process import WAIT_LIMIT_S, AgentProcess, write_config
from tests.ad.app_server import AppServer
from tests.ad.directory_admin import DomainAdmin
from tests.ad.test_ad_rotation import binds, start, vault
from tests.ad.test_ad_sync import in_scope
from tests.support.samba import SambaDC

LEASE_S = "3"
HOLD_S = 600  # A's pause: far longer than the test; A only leaves it by being killed


async def wait_done(cid: str, job_id: str) -> Any:
    deadline = time.monotonic() + WAIT_LIMIT_S
    while True:
        async with Container(load_settings(os.environ)) as container:
            row = await agent_jobs.job_row(container, cid, job_id)
        if row["state"] == "done":
            return row
        assert time.monotonic() < deadline, f"job {job_id} never finished: {dict(row)}"
        await asyncio.sleep(0.5)


async def second_agent(setup: dict[str, Any], server: AppServer, tmp_path: Path, samba_dc: SambaDC) -> Any:
    config = agent_config(tmp_path, server, "dc-agent-b", **setup["config"].ldap)
    await register(config, await new_code(setup["connection"]))
    await asyncio.to_thread(Path(config.password_file).write_text, samba_dc.admin_password)
    os.chmod(config.password_file, 0o600)
    return config


@pytest.fixture
def agents(
    ad_setup: dict[str, Any], app_server: AppServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., AgentProcess]]:
    monkeypatch.setenv("AGENT_LEASE_SECONDS", LEASE_S)
    started: list[AgentProcess] = []

    def make(name: str, config: Any, **extra: Any) -> AgentProcess:
        process = AgentProcess(name, write_config(config, tmp_path / f"{name}.json", **extra), tmp_path / f"{name}.log")
        started.append(process)
        return process

    yield make
    for process in started:
        process.stop()


async def test_a_killed_agents_sync_job_is_finished_by_the_other_agent_once(
    ad_setup: dict[str, Any],
    domain_admin: DomainAdmin,
    samba_dc: SambaDC,
    app_server: AppServer,
    tmp_path: Path,
    agents: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    s, cid = ad_setup, ad_setup["connection"]
    b_config = await second_agent(s, app_server, tmp_path, samba_dc)
    a_id, b_id = load_identity(s["config"].state_dir).agent_id, load_identity(b_config.state_dir).agent_id
    a = agents("a", s["config"], pause_after_lease_s=HOLD_S).start()
    status, job, _ = await host.http(
        "ad_sync_start", "POST", f"/api/connections/{cid}/agents/sync?mode=full", route={"id": cid}
    )
    assert status == 202, job
    await a.wait_for(f"job {job['job_id']}: pausing")
    b = agents("b", b_config).start()
    async with Container(load_settings(os.environ)) as container:
        held = await agent_jobs.job_row(container, cid, job["job_id"])
    assert held["state"] == "leased" and held["lease_agent"] == a_id

    a.kill()  # while it holds the lease: no answer, no more heartbeats
    row = await wait_done(cid, job["job_id"])
    assert row["done_by"] == b_id and row["outcome"] == "succeeded" and int(row["attempts"]) == 2, dict(row)
    assert f"job {job['job_id']} (sync, attempt 2) leased" in b.log()
    assert in_scope(await stored(cid)) == domain_admin.ground_truth(s["group"])
    async with Container(load_settings(os.environ)) as container:
        runs = [r async for r in container.tables().query(SYNC_RUNS, "PartitionKey eq @pk", {"pk": cid})]
    (run,) = [r for r in runs if r["run_id"] == job["run_id"]]
    assert run["outcome"] == "succeeded" and json.loads(run["counts_json"])["user.created"] == 2
    assert f"job {job['job_id']} succeeded" not in a.log()  # A never answered: only B's answer was applied
    for text in (a.log(), b.log(), caplog.text):
        assert samba_dc.admin_password not in text and PASSWORD not in text


async def test_a_rotation_the_dc_accepted_before_its_agent_was_killed_is_finished_by_the_next(
    ad_setup: dict[str, Any],
    domain_admin: DomainAdmin,
    samba_dc: SambaDC,
    app_server: AppServer,
    tmp_path: Path,
    agents: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    s, cid = ad_setup, ad_setup["connection"]
    await sync(s, app_server, "full")
    ann_dn = s["users"]["ann"]
    ann = domain_admin.guid(ann_dn)
    b_config = await second_agent(s, app_server, tmp_path, samba_dc)
    job = await start(cid, [ann])
    _, _, pending = await vault(cid, ann)
    assert pending is not None
    async with Container(load_settings(os.environ)) as container:
        new_value = (await container.secrets().get(password_ref(cid, ann).name, pending)).value.reveal()

    a = agents("a", s["config"], pause_before_result_s=HOLD_S).start()
    await a.wait_for(f"job {job['job_id']}: succeeded, pausing")
    assert binds(samba_dc, ann_dn, new_value)  # the DC took the password ...
    assert (await vault(cid, ann))[2] == pending  # ... but nobody told the service: Key Vault still says pending
    a.kill()

    b = agents("b", b_config).start()
    row = await wait_done(cid, job["job_id"])
    assert row["done_by"] == load_identity(b_config.state_dir).agent_id and int(row["attempts"]) == 2
    (answer,) = json.loads(row["result_json"])["users"]
    assert answer["outcome"] == "set", answer
    value, version, still = await vault(cid, ann)
    assert still is None and version == pending and value == new_value and binds(samba_dc, ann_dn, value)
    for text in (a.log(), b.log(), caplog.text):
        assert new_value not in text and samba_dc.admin_password not in text


@pytest.fixture(autouse=True)
def _default_policy(domain_admin: DomainAdmin, samba_dc: SambaDC) -> None:
    domain_admin.modify(samba_dc.base_dn, minPwdLength=7)
