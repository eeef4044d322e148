"""An on-prem AD domain as a connection of its own (source ad), through the real functions: created with a domain
(no tenant, consent or credential; one per domain), Entra-only actions refused with 409, its state following its
agents and runs, its status, the scheduler and on-demand sync queueing AD jobs, the deletion threshold's approval,
and two domains (two Samba DCs) each syncing only its own."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.keys import load_identity
from emulators.stack import LocalStack
from scripts import host
from shared.composition import Container
from shared.config import load_settings
from shared.storage_names import AGENTS, SYNC_JOBS, SYNC_RUNS
from tests.ad.ad_flow import (
    PASSWORD,
    agent_config,
    create_ad_connection,
    new_code,
    register,
    run_agent,
    stored,
    unique_domain,
)
from tests.ad.app_server import AppServer
from tests.ad.directory_admin import DomainAdmin
from tests.functions.invoke import create_customer_connection
from tests.integration.connections.purge_world import vault_names_of
from tests.support.samba import SambaDC, start_samba_dc


async def get(name: str, path: str, cid: str) -> tuple[int, Any]:
    status, body, _ = await host.http(name, "GET", path, route={"id": cid})
    return status, body


async def post(name: str, path: str, cid: str, body: Any = None) -> tuple[int, Any]:
    status, answer, _ = await host.http(name, "POST", path, body=body, route={"id": cid})
    return status, answer


async def connection_row(cid: str) -> dict[str, Any]:
    status, body = await get("connections_get", f"/api/connections/{cid}", cid)
    assert status == 200, body
    return dict(body)


async def queued_jobs(cid: str) -> list[dict[str, Any]]:
    async with Container(load_settings(os.environ)) as container:
        rows = container.tables().query(AGENTS, "PartitionKey eq @pk", {"pk": f"jobs_{cid}"})
        return [{"id": r["RowKey"], "state": r["state"], **json.loads(r["payload_json"])} async for r in rows]


async def graph_jobs(cid: str) -> list[dict[str, Any]]:
    async with Container(load_settings(os.environ)) as container:
        return [m for m in await container.queues().receive_all(SYNC_JOBS) if m.get("connection_id") == cid]


async def runs_of(cid: str) -> list[dict[str, Any]]:
    async with Container(load_settings(os.environ)) as container:
        return [dict(r) async for r in container.tables().query(SYNC_RUNS, "PartitionKey eq @pk", {"pk": cid})]


def in_scope(rows: dict[str, dict[str, Any]]) -> set[str]:
    return {uid for uid, r in rows.items() if r.get("in_scope") and r["status"] != "inactive"}


# -- create, validation, one per domain ---------------------------------------------------------------------------
async def test_an_ad_connection_has_a_domain_and_no_tenant_consent_or_credential(
    stack: LocalStack, stack_env: dict[str, str]
) -> None:
    domain = unique_domain()
    group = str(uuid.uuid4())
    body = {"source": "ad", "domain": domain.upper(), "display_name": "Corp", "sync_group_id": group}
    status, created, _ = await host.http("connections_create", "POST", "/api/connections", body=body)
    assert status == 201, created
    assert (created["source"], created["domain"], created["tenant_id"]) == ("ad", domain, "")
    assert (created["state"], created["credential"], created["notifications_enabled"]) == (
        "pending_agent", {"set": False}, False
    )  # fmt: skip
    assert created["sync_group_id"] == group and created["credential_mode"] == "agent"
    assert vault_names_of(stack, created["id"]) == []  # nothing in Key Vault

    again = {**body, "domain": f"{domain}.", "display_name": "Corp again"}
    status, refused, _ = await host.http("connections_create", "POST", "/api/connections", body=again)
    assert (status, refused["code"], refused["connection_id"]) == (409, "domain_already_connected", created["id"])
    assert created["id"] in refused["message"]
    status, listed, _ = await host.http("connections_list", "GET", "/api/connections")
    assert [c["id"] for c in listed["value"] if c.get("domain") == domain] == [created["id"]]


async def test_bad_ad_input_is_400_by_field_and_stores_nothing(stack_env: dict[str, str]) -> None:
    domain = unique_domain()
    body = {"source": "ad", "domain": "corp_example", "display_name": "Corp", "sync_group_id": "not-a-guid",
            "tenant": str(uuid.uuid4()), "credential_mode": "admin_consent"}  # fmt: skip
    status, refused, _ = await host.http("connections_create", "POST", "/api/connections", body=body)
    assert (status, refused["code"]) == (400, "validation_error")
    assert set(refused["problems"]) == {"domain", "sync_group_id", "tenant", "credential_mode"}
    status, refused, _ = await host.http(
        "connections_create", "POST", "/api/connections", body={"source": "ad", "domain": domain, "display_name": "x"}
    )
    assert status == 400 and set(refused["problems"]) == {"sync_group_id"}
    status, listed, _ = await host.http("connections_list", "GET", "/api/connections")
    assert [c for c in listed["value"] if c.get("domain") == domain] == []


# -- Entra-only actions ---------------------------------------------------------------------------------------------
async def test_entra_only_actions_answer_409_naming_what_to_use_and_change_nothing(
    stack: LocalStack, stack_env: dict[str, str]
) -> None:
    cid = await create_ad_connection(unique_domain(), str(uuid.uuid4()), features={"sync": True, "rotation": True},
                                     rotation_group_id=str(uuid.uuid4()))  # fmt: skip
    before = await connection_row(cid)
    answers = [
        await post("rotate_connection", f"/api/connections/{cid}/rotate", cid),
        await post("invitations_create", f"/api/connections/{cid}/invitations", cid, {}),
        await post("notifications", f"/api/notifications/{cid}", cid, {"value": [{"subscriptionId": "x"}]}),
    ]
    status, body, _ = await host.http("consent_start", "GET", f"/api/consent/start?connection={cid}")
    answers.append((status, body))
    for status, body in answers:
        assert (status, body["code"]) == (409, "not_for_ad_source"), body
        assert "instead" in body["message"] and "on-prem AD" in body["message"]
    assert "agents/rotate" in answers[0][1]["message"] and "agents/codes" in answers[3][1]["message"]
    assert await connection_row(cid) == before

    entra_cid = await create_customer_connection(stack, "Entra, not AD")
    status, refused = await post("agent_codes_create", f"/api/connections/{entra_cid}/agents/codes", entra_cid)
    assert (status, refused["code"]) == (409, "not_for_entra_source")


# -- state, status and Test permissions follow the agents ----------------------------------------------------------
async def test_state_status_and_test_permissions_follow_its_agents(
    stack_env: dict[str, str], app_server: AppServer, tmp_path: Path
) -> None:
    cid = await create_ad_connection(unique_domain(), str(uuid.uuid4()))
    status, view = await get("sync_status", f"/api/connections/{cid}/status", cid)
    assert status == 200 and (view["source"], view["connection_state"], view["agents"]) == ("ad", "pending_agent", [])
    assert "agents/codes" in view["remedy"] and view["scheduled"] is False and view["ad_cursor"] is None
    status, report = await post("connections_verify", f"/api/connections/{cid}/verify", cid)
    assert status == 200 and [(c["name"], c["status"]) for c in report["checks"]] == [("agent_registered", "fail")]

    config = agent_config(tmp_path, app_server)
    agent_id = await register(config, await new_code(cid))
    assert (await connection_row(cid))["state"] == "active"
    status, view = await get("sync_status", f"/api/connections/{cid}/status", cid)
    assert [(a["id"], a["status"]) for a in view["agents"]] == [(agent_id, "online")] and view["agents"][0][
        "last_contact"
    ]
    assert view["connection_state"] == "active" and view["scheduled"] is True and view["remedy"] is None
    _, report = await post("connections_verify", f"/api/connections/{cid}/verify", cid)
    assert [(c["name"], c["status"]) for c in report["checks"]] == [
        ("agent_registered", "pass"), ("agent_online", "pass"), ("last_ad_run", "warn")
    ]  # fmt: skip

    route = {"id": cid, "agentId": agent_id}
    status, _, _ = await host.http("agents_remove", "DELETE", f"/api/connections/{cid}/agents/{agent_id}", route=route)
    assert status == 200
    removed = await connection_row(cid)
    assert removed["state"] == "pending_agent" and removed["state_reason"].startswith("no_agent")
    status, refused = await post("sync_start", f"/api/connections/{cid}/sync", cid)
    assert (status, refused["code"]) == (409, "no_agent")


# -- against the Samba DC: scheduler, on-demand sync, credentials missing, approval ------------------------------
async def test_the_scheduler_queues_an_ad_job_for_a_due_ad_connection_not_a_graph_job(
    ad_setup: dict[str, Any], domain_admin: DomainAdmin, app_server: AppServer
) -> None:
    cid = ad_setup["connection"]
    schedule = {"frequency": "daily", "time_of_day": "00:00", "timezone": "Europe/Paris"}
    status, _, _ = await host.http(
        "connections_update", "PATCH", f"/api/connections/{cid}", body={"schedule": schedule}, route={"id": cid}
    )
    assert status == 200
    await graph_jobs(cid)
    await host.acall("sync_scheduler", None)
    jobs = await queued_jobs(cid)
    assert [(j["state"], j["trigger"], j["cursor"]) for j in jobs] == [("queued", "schedule", None)]
    assert await graph_jobs(cid) == []
    await host.acall("sync_scheduler", None)  # once per slot
    assert len(await queued_jobs(cid)) == 1

    row = await run_agent(ad_setup, app_server, jobs[0]["id"])
    assert json.loads(row["result_json"])["outcome"] == "succeeded"
    assert in_scope(await stored(cid)) == set(domain_admin.ground_truth(ad_setup["group"]))
    assert [(r["trigger"], r["outcome"]) for r in await runs_of(cid)] == [("schedule", "succeeded")]
    _, view = await get("sync_status", f"/api/connections/{cid}/status", cid)
    assert view["state"] == "idle" and view["last_run"]["trigger"] == "schedule"
    assert view["ad_cursor"]["invocation_id"] and int(view["ad_cursor"]["watermark"]) > 0
    assert view["ad_cursor"]["updated_at"] and view["awaiting_approval"] is None


async def test_on_demand_sync_and_dry_run_go_to_the_agent(ad_setup: dict[str, Any], app_server: AppServer) -> None:
    cid = ad_setup["connection"]
    status, dry = await post("sync_start", f"/api/connections/{cid}/sync?mode=full&dry_run=true", cid)
    assert status == 202 and dry["source"] == "ad" and dry["dry_run"] is True
    summary = json.loads((await run_agent(ad_setup, app_server, dry["job_id"]))["result_json"])
    assert summary["outcome"] == "dry_run" and summary["counts"]["user.created"] == 2
    assert await stored(cid) == {}
    status, started = await post("sync_start", f"/api/connections/{cid}/sync", cid)
    assert status == 202 and started["trigger"] == "manual"
    summary = json.loads((await run_agent(ad_setup, app_server, started["job_id"]))["result_json"])
    assert summary["outcome"] == "succeeded" and len(in_scope(await stored(cid))) == 2
    assert await graph_jobs(cid) == []


async def test_missing_ad_credentials_make_the_status_say_so_and_the_scheduler_skip_it(
    ad_setup: dict[str, Any], app_server: AppServer
) -> None:
    cid, password_file = ad_setup["connection"], Path(ad_setup["config"].password_file)
    secret = await asyncio.to_thread(password_file.read_text)
    await asyncio.to_thread(password_file.unlink)
    _, started = await post("sync_start", f"/api/connections/{cid}/sync", cid)
    row = await run_agent(ad_setup, app_server, started["job_id"])
    assert (row["outcome"], row["error_code"]) == ("failed", "ad_credentials_missing")
    _, view = await get("sync_status", f"/api/connections/{cid}/status", cid)
    assert view["connection_state"] == "error" and view["state_reason"].startswith("ad_credentials_missing")
    assert "password_file" in view["remedy"] and view["scheduled"] is False
    assert view["last_run"]["error_code"] == "ad_credentials_missing"
    _, report = await post("connections_verify", f"/api/connections/{cid}/verify", cid)
    assert report["checks"][-1]["name"] == "last_ad_run" and report["checks"][-1]["status"] == "fail"
    await host.acall("sync_scheduler", None)
    assert [j for j in await queued_jobs(cid) if j["state"] == "queued"] == []

    await asyncio.to_thread(password_file.write_text, secret)  # the customer puts it back
    os.chmod(password_file, 0o600)
    _, started = await post("sync_start", f"/api/connections/{cid}/sync", cid)
    assert (await run_agent(ad_setup, app_server, started["job_id"]))["outcome"] == "succeeded"
    assert (await connection_row(cid))["state"] == "active"


async def test_a_run_over_the_deletion_threshold_waits_for_approval_then_the_approved_run_removes(
    ad_setup: dict[str, Any], domain_admin: DomainAdmin, app_server: AppServer
) -> None:
    s, cid = ad_setup, ad_setup["connection"]
    status, _, _ = await host.http(
        "connections_update", "PATCH", f"/api/connections/{cid}", body={"deletion_threshold": 1}, route={"id": cid}
    )
    assert status == 200
    _, started = await post("sync_start", f"/api/connections/{cid}/sync?mode=full", cid)
    await run_agent(s, app_server, started["job_id"])
    domain_admin.remove_member(s["group"], s["users"]["ann"])
    domain_admin.remove_member(s["nested"], s["users"]["bob"])
    _, started = await post("sync_start", f"/api/connections/{cid}/sync", cid)
    held = json.loads((await run_agent(s, app_server, started["job_id"]))["result_json"])
    assert held["outcome"] == "awaiting_approval" and len(in_scope(await stored(cid))) == 2
    _, view = await get("sync_status", f"/api/connections/{cid}/status", cid)
    assert view["state"] == "awaiting_approval" and view["awaiting_approval"]["removals"] >= 2
    assert view["pending_removals"] == held["counts"]["removals.pending"]

    status, approved = await post("sync_approve", f"/api/connections/{cid}/sync/approve", cid)
    assert status == 202 and approved["approved_run_id"] == held["run_id"] and approved["job_id"]
    assert (await queued_jobs(cid))[-1]["approved"] is True
    done = json.loads((await run_agent(s, app_server, approved["job_id"]))["result_json"])
    assert done["outcome"] == "succeeded" and in_scope(await stored(cid)) == set()
    _, view = await get("sync_status", f"/api/connections/{cid}/status", cid)
    assert view["state"] == "idle" and view["awaiting_approval"] is None and view["pending_removals"] == 0
    status, nothing = await post("sync_approve", f"/api/connections/{cid}/sync/approve", cid)
    assert status == 400 and "approval" in nothing["problems"]
    outcomes = sorted(r["outcome"] for r in await runs_of(cid))
    assert outcomes == ["awaiting_approval", "succeeded", "succeeded"]


# -- two domains ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def second_dc() -> Iterator[SambaDC]:
    """A second Samba DC of another domain, on its own loopback address (stopped by its pid)."""
    with start_samba_dc(realm="BRANCH.EXAMPLE.TEST", domain="BRANCH") as dc:
        yield dc


async def _domain_connection(dc: SambaDC, admin: DomainAdmin, server: AppServer, tmp_path: Path, tag: str) -> Any:
    ou = admin.ou(f"two-{tag}-{uuid.uuid4().hex[:6]}")
    group = admin.add_group(ou, f"sync-{tag}")
    users = {admin.add_user(ou, f"{tag}{i}{uuid.uuid4().hex[:4]}", f"U{i}", tag.title(), PASSWORD) for i in range(2)}
    for user in users:
        admin.add_member(group, user)
    cid = await create_ad_connection(dc.domain, admin.guid(group), f"Domain {dc.domain}")
    config = agent_config(tmp_path, server, f"agent-{tag}", host=dc.host, base_dn=dc.base_dn, bind_user=dc.admin_user,
                          ca_file=dc.ca_file, server_name=dc.server_name)  # fmt: skip
    await register(config, await new_code(cid))
    await asyncio.to_thread(Path(config.password_file).write_text, dc.admin_password)
    return {"connection": cid, "config": config, "group": group, "users": {admin.guid(u) for u in users}}


async def test_two_domains_each_sync_only_their_own_and_removing_one_agent_stops_only_that_one(
    stack_env: dict[str, str], samba_dc: SambaDC, domain_admin: DomainAdmin, second_dc: SambaDC,
    app_server: AppServer, tmp_path: Path,
) -> None:  # fmt: skip
    other_admin = DomainAdmin(second_dc)
    try:
        first = await _domain_connection(samba_dc, domain_admin, app_server, tmp_path, "corp")
        second = await _domain_connection(second_dc, other_admin, app_server, tmp_path, "branch")
        for setup, admin in ((first, domain_admin), (second, other_admin)):
            cid = setup["connection"]
            _, started = await post("sync_start", f"/api/connections/{cid}/sync?mode=full", cid)
            await run_agent(setup, app_server, started["job_id"])
            assert in_scope(await stored(cid)) == set(admin.ground_truth(setup["group"])) == setup["users"]
        assert not first["users"] & in_scope(await stored(second["connection"]))

        cid = first["connection"]
        agent_id = load_identity(first["config"].state_dir).agent_id
        route = {"id": cid, "agentId": agent_id}
        await host.http("agents_remove", "DELETE", f"/api/connections/{cid}/agents/{agent_id}", route=route)
        status, refused = await post("sync_start", f"/api/connections/{cid}/sync", cid)
        assert (status, refused["code"]) == (409, "no_agent")
        assert (await connection_row(cid))["state"] == "pending_agent"
        other = second["connection"]
        status, started = await post("sync_start", f"/api/connections/{other}/sync", other)
        assert status == 202
        assert json.loads((await run_agent(second, app_server, started["job_id"]))["result_json"])["outcome"] == (
            "succeeded"
        )
        for setup in (first, second):  # the domains are free for the next run of the suite's shared storage
            c = setup["connection"]
            await host.http("connections_delete", "DELETE", f"/api/connections/{c}", route={"id": c})
    finally:
        other_admin.close()
