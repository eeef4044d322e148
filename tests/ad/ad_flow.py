"""The AD tests' shared flow: a domain layout with a sync group, a connection over it, a registered agent with the
DC's settings and password file; running one AD job through the real agent over HTTPS; reading the synced copy."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Any

from agent import __main__ as agent_cli
from agent.client import ServiceClient
from agent.config import AgentConfig
from agent.jobs import handlers
from agent.keys import load_identity
from agent.runner import work_once
from scripts import host
from shared.adapters.directory_store import DirectoryStore
from shared.composition import Container
from shared.config import load_settings
from shared.services import agent_jobs
from tests.ad.app_server import AppServer

PASSWORD = "Start-Pass-123!"


async def sync(setup: dict[str, Any], server: AppServer, mode: str = "incremental", dry_run: bool = False) -> Any:
    cid = setup["connection"]
    query = f"?mode={mode}" + ("&dry_run=true" if dry_run else "")
    status, started, _ = await host.http(
        "ad_sync_start", "POST", f"/api/connections/{cid}/agents/sync{query}", route={"id": cid}
    )
    assert status == 202, started
    return await run_agent(setup, server, started["job_id"])


async def stored(cid: str) -> dict[str, dict[str, Any]]:
    async with Container(load_settings(os.environ)) as container:
        store = DirectoryStore(container.tables(), cid)
        return {str(r["RowKey"]): dict(r) async for r in store.user_rows()}


async def run_agent(setup: dict[str, Any], server: AppServer, job_id: str) -> Any:
    """The registered agent polls once, runs the job and posts its answer; the job's row afterwards."""
    config: AgentConfig = setup["config"]
    identity = load_identity(config.state_dir)
    with ServiceClient(server.url, ca_file=server.ca_file) as client:
        assert await asyncio.to_thread(work_once, client, identity, handlers(config), 0) == job_id
    async with Container(load_settings(os.environ)) as container:
        row = await agent_jobs.job_row(container, setup["connection"], job_id)
    assert row["state"] == "done", row
    return row


def agent_config(tmp_path: Path, server: AppServer, name: str = "agent-1", **ldap: Any) -> AgentConfig:
    return AgentConfig(
        service_url=server.url,
        state_dir=tmp_path / name,
        password_file=str(tmp_path / name / "ad-password"),
        ldap=ldap,
        service_ca_file=server.ca_file,
        name=name,
    )


async def create_ad_connection(domain: str, sync_group_id: str, display_name: str = "AD domain", **extra: Any) -> str:
    """An on-prem AD connection (source ad) created through the real function; its id."""
    body = {"source": "ad", "domain": domain, "display_name": display_name, "sync_group_id": sync_group_id, **extra}
    status, created, _ = await host.http("connections_create", "POST", "/api/connections", body=body)
    assert status == 201, created
    return str(created["id"])


def unique_domain(base: str = "corp.example.test") -> str:
    """A domain name of the test's own (one connection per domain; the tests share one Table Storage)."""
    return f"t{uuid.uuid4().hex[:10]}.{base}"


async def new_code(connection: str) -> str:
    status, body, _ = await host.http(
        "agent_codes_create", "POST", f"/api/connections/{connection}/agents/codes", route={"id": connection}
    )
    assert status == 201, body
    return str(body["code"])


async def register(config: AgentConfig, code: str) -> str:
    return await asyncio.to_thread(agent_cli.register, config, code)
