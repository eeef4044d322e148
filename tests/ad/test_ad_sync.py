"""AD as a sync source, end to end against the Samba DC: the real agent reads the domain and posts its answer over
HTTPS; the same planner, applier, store, change feed and run history as Entra take it. A full sync equals the
domain's ground truth; after changes an incremental run equals it again and writes only what changed."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent.client import ServiceClient
from agent.config import AgentConfig
from agent.jobs import handlers
from agent.keys import load_identity
from agent.runner import work_once
from emulators.stack import LocalStack
from scripts import host
from shared.adapters.directory_store import DirectoryStore
from shared.composition import Container
from shared.config import load_settings
from shared.services import agent_jobs
from shared.storage_names import AGENT_NONCES, AGENTS, SYNC_RUNS, SYNC_STATE
from tests.ad.app_server import AppServer
from tests.ad.conftest import agent_config, new_code, register
from tests.ad.directory_admin import DomainAdmin
from tests.functions.invoke import create_customer_connection
from tests.support.samba import SambaDC

PASSWORD = "Start-Pass-123!"


@pytest.fixture
async def ad_setup(
    stack: LocalStack, stack_env: dict[str, str], samba_dc: SambaDC, domain_admin: DomainAdmin, test_ou: str,
    app_server: AppServer, tmp_path: Path,
) -> AsyncIterator[dict[str, Any]]:  # fmt: skip
    a = domain_admin
    tag = test_ou[5:13]
    group = a.add_group(test_ou, f"sync-{tag}")
    nested = a.add_group(test_ou, f"nested-{tag}")
    a.add_member(group, nested)
    users = {n: a.add_user(test_ou, f"{n}{tag[:6]}", n.title(), "Tester", PASSWORD) for n in ("ann", "bob", "cy")}
    a.add_member(group, users["ann"])
    a.add_member(nested, users["bob"])
    outside = a.add_user(test_ou, f"out{tag[:6]}", "Out", "Side", PASSWORD)
    connection = await create_customer_connection(stack, "AD domain", sync_group_id=a.guid(group))
    config = agent_config(
        tmp_path, app_server, "dc-agent",
        host=samba_dc.host, base_dn=samba_dc.base_dn, bind_user=samba_dc.admin_user, ca_file=samba_dc.ca_file,
        server_name=samba_dc.server_name,
    )  # fmt: skip
    await register(config, await new_code(connection))
    await asyncio.to_thread(Path(config.password_file).write_text, samba_dc.admin_password)
    os.chmod(config.password_file, 0o600)
    yield {"connection": connection, "group": group, "nested": nested, "users": users, "outside": outside,
           "config": config, "ou": test_ou}  # fmt: skip


async def sync(setup: dict[str, Any], server: AppServer, mode: str = "incremental", dry_run: bool = False) -> Any:
    cid = setup["connection"]
    query = f"?mode={mode}" + ("&dry_run=true" if dry_run else "")
    status, started, _ = await host.http(
        "ad_sync_start", "POST", f"/api/connections/{cid}/agents/sync{query}", route={"id": cid}
    )
    assert status == 202, started
    config: AgentConfig = setup["config"]
    identity = load_identity(config.state_dir)
    with ServiceClient(server.url, ca_file=server.ca_file) as client:
        assert await asyncio.to_thread(work_once, client, identity, handlers(config), 0) == started["job_id"]
    async with Container(load_settings(os.environ)) as container:
        row = await agent_jobs.job_row(container, cid, started["job_id"])
    assert row["state"] == "done", row
    return row


async def stored(cid: str) -> dict[str, dict[str, Any]]:
    async with Container(load_settings(os.environ)) as container:
        store = DirectoryStore(container.tables(), cid)
        return {str(r["RowKey"]): dict(r) async for r in store.user_rows()}


async def links(cid: str, group_id: str) -> set[str]:
    async with Container(load_settings(os.environ)) as container:
        store = DirectoryStore(container.tables(), cid)
        return {uid async for uid in store.member_ids(group_id)}


def in_scope(rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {uid: {"displayName": r.get("displayName"), "enabled": r["status"] == "active"}
            for uid, r in rows.items() if r.get("in_scope") and r["status"] != "inactive"}  # fmt: skip


async def test_full_then_incremental_equal_the_domain(
    ad_setup: dict[str, Any],
    domain_admin: DomainAdmin,
    app_server: AppServer,
) -> None:
    a, s, cid = domain_admin, ad_setup, ad_setup["connection"]
    first = await sync(s, app_server, "full")
    summary = json.loads(first["result_json"])
    assert first["outcome"] == "succeeded" and summary["outcome"] == "succeeded", summary
    assert in_scope(await stored(cid)) == a.ground_truth(s["group"])
    assert summary["counts"]["user.created"] == 2 and summary["counts"]["group.created"] == 2
    assert await links(cid, a.guid(s["group"])) == {a.guid(s["users"]["ann"])}
    assert await links(cid, a.guid(s["nested"])) == {a.guid(s["users"]["bob"])}

    again = json.loads((await sync(s, app_server))["result_json"])
    assert again["mode"] == "incremental" and again["counts"] == {}, again  # nothing changed: nothing written

    new = a.add_user(s["ou"], f"new{s['ou'][5:11]}", "Nia", "New", PASSWORD)
    a.add_member(s["nested"], new)  # new
    a.modify(s["users"]["ann"], displayName="Ann Renamed")  # renamed
    a.disable(s["users"]["bob"])  # disabled
    a.add_member(s["group"], s["users"]["cy"])  # moved in
    changed = json.loads((await sync(s, app_server))["result_json"])
    assert in_scope(await stored(cid)) == a.ground_truth(s["group"])
    assert changed["counts"] == {"user.created": 2, "user.updated": 2, "membership.added": 2}, changed

    a.remove_member(s["group"], s["users"]["cy"])  # moved out of the group
    gone = a.delete(s["users"]["ann"])  # deleted
    removed = json.loads((await sync(s, app_server))["result_json"])
    truth = a.ground_truth(s["group"])
    assert in_scope(await stored(cid)) == truth and gone not in truth
    assert removed["counts"]["user.deactivated"] == 2 and removed["counts"]["membership.removed"] == 2, removed
    rows = await stored(cid)
    assert (
        rows[gone]["removed_reason"] == "deleted" and rows[a.guid(s["users"]["cy"])]["removed_reason"] == "left_scope"
    )

    async with Container(load_settings(os.environ)) as container:
        runs = [r async for r in container.tables().query(SYNC_RUNS, "PartitionKey eq @pk", {"pk": cid})]
    assert sorted(r["outcome"] for r in runs) == ["succeeded"] * 4


async def test_a_dry_run_plans_and_writes_nothing(
    ad_setup: dict[str, Any],
    app_server: AppServer,
) -> None:
    row = await sync(ad_setup, app_server, "full", dry_run=True)
    summary = json.loads(row["result_json"])
    assert summary["outcome"] == "dry_run" and summary["counts"]["user.created"] == 2
    assert await stored(ad_setup["connection"]) == {}


async def test_without_the_ad_password_the_run_fails_with_a_clear_code_and_no_password_is_stored(
    ad_setup: dict[str, Any],
    samba_dc: SambaDC,
    app_server: AppServer,
    stack_env: dict[str, str],
) -> None:
    await sync(ad_setup, app_server, "full")
    await asyncio.to_thread(
        Path(ad_setup["config"].password_file).unlink
    )  # the customer removes the account's credentials
    row = await sync(ad_setup, app_server)
    assert row["outcome"] == "failed" and row["error_code"] == "ad_credentials_missing"
    cid = ad_setup["connection"]
    async with Container(load_settings(stack_env)) as container:
        tables = container.tables()
        runs = [r async for r in tables.query(SYNC_RUNS, "PartitionKey eq @pk", {"pk": cid})]
        everything = []
        for table in (AGENTS, AGENT_NONCES, SYNC_STATE, SYNC_RUNS):
            everything += [dict(r) async for r in tables.query(table)]
    assert [r["error_code"] for r in runs if r["outcome"] == "failed"] == ["ad_credentials_missing"]
    assert samba_dc.admin_password not in json.dumps(everything, default=str)
