"""AD as a sync source, end to end against the Samba DC: the real agent reads the domain and posts its answer over
HTTPS; the same planner, applier, store, change feed and run history as Entra take it. A full sync equals the
domain's ground truth; after changes an incremental run equals it again and writes only what changed."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from agent.keys import load_identity
from scripts import host
from shared.adapters.directory_store import DirectoryStore
from shared.composition import Container
from shared.config import load_settings
from shared.storage_names import AGENT_NONCES, AGENTS, SYNC_RUNS, SYNC_STATE
from tests.ad.ad_flow import PASSWORD, stored, sync
from tests.ad.app_server import AppServer
from tests.ad.directory_admin import DomainAdmin
from tests.support.samba import SambaDC


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

    a.restore(gone, s["users"]["ann"])  # restored (it comes back without its links: given its group again)
    a.add_member(s["group"], s["users"]["ann"])
    back = json.loads((await sync(s, app_server))["result_json"])
    truth = a.ground_truth(s["group"])
    assert gone in truth and in_scope(await stored(cid)) == truth
    assert (await stored(cid))[gone]["status"] == "active"
    assert sum(back["counts"].values()) == 2 and back["counts"].get("membership.added") == 1, back  # the user, a link

    async with Container(load_settings(os.environ)) as container:
        runs = [r async for r in container.tables().query(SYNC_RUNS, "PartitionKey eq @pk", {"pk": cid})]
    assert sorted(r["outcome"] for r in runs) == ["succeeded"] * 5


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


async def test_the_deletion_threshold_holds_removals_back(
    ad_setup: dict[str, Any], domain_admin: DomainAdmin, app_server: AppServer
) -> None:
    s, cid = ad_setup, ad_setup["connection"]
    status, _, _ = await host.http(
        "connections_update", "PATCH", f"/api/connections/{cid}", body={"deletion_threshold": 1}, route={"id": cid}
    )
    assert status == 200
    await sync(s, app_server, "full")
    domain_admin.remove_member(s["group"], s["users"]["ann"])
    domain_admin.remove_member(s["nested"], s["users"]["bob"])
    held = json.loads((await sync(s, app_server))["result_json"])
    assert held["outcome"] == "awaiting_approval" and held["counts"]["removals.pending"] >= 2
    assert len(in_scope(await stored(cid))) == 2  # nothing removed


async def test_without_an_agent_an_ad_sync_is_refused_clearly(ad_setup: dict[str, Any], app_server: AppServer) -> None:
    cid = ad_setup["connection"]
    identity = load_identity(ad_setup["config"].state_dir)
    route = {"id": cid, "agentId": identity.agent_id}
    status, _, _ = await host.http("agents_remove", "DELETE", f"/api/connections/{cid}/agents/x", route=route)
    assert status == 200
    status, body, _ = await host.http("ad_sync_start", "POST", f"/api/connections/{cid}/agents/sync", route={"id": cid})
    assert (status, body["code"]) == (409, "no_agent")
