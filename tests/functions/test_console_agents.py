"""The console's on-prem AD agents, called as the host calls them on the local stack: an Admin makes a registration
code (shown once on the answer page, never in a table, the audit or a log), an agent registers with it and shows
with its host and online; Remove needs the agent's name and then refuses the agent's signed requests; sync, dry run
and rotation through the agent queue the same jobs as the JSON API and their outcome shows in the run history; a
Reader sees the list with no button and every POST of theirs is 403; no session: sign-in; no CSRF token: 403."""

from __future__ import annotations

import json
import logging
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func
import pytest

from agent.keys import new_keys, public_b64
from agent.protocol import signed_headers
from emulators.stack import LocalStack
from shared.composition import Container
from shared.config import load_settings
from shared.domain.agent_protocol import code_hash
from shared.domain.secret_names import password_ref
from shared.services import agent_jobs
from shared.services.agent_registry import register
from shared.storage_names import AGENTS, AUDIT
from tests.functions.console_client import ADMIN_ROLES, NOBODY, READER_ROLES, Answer, Browser, sign_in
from tests.functions.invoke import acall, create_customer_connection

EVIL = '<script>alert("x")</script>'
CODE = re.compile(r"adreg_[A-Za-z0-9_-]{43}")
ANN, BOB, GROUP = (str(uuid.uuid4()) for _ in range(3))


@pytest.fixture
async def admin(stack_env: dict[str, str]) -> Browser:
    return await sign_in(stack_env, "Ada Admin", ADMIN_ROLES)


@pytest.fixture
async def reader(stack_env: dict[str, str]) -> Browser:
    return await sign_in(stack_env, "Rita Reader", READER_ROLES)


async def ad_connection(name: str = "Corp AD") -> str:
    """An on-premises AD connection (source ad, its own domain), created through the real function."""
    from scripts import host

    body = {"source": "ad", "domain": f"corp{uuid.uuid4().hex[:10]}.example.com", "display_name": name,
            "sync_group_id": GROUP}  # fmt: skip
    status, created, _ = await host.http("connections_create", "POST", "/api/connections", body=body)
    assert status == 201, created
    return str(created["id"])


@pytest.fixture
async def cid(stack: LocalStack, stack_env: dict[str, str]) -> str:
    return await ad_connection()


class Agent:
    """A registered agent's keys; its requests are signed like agent/client.py's and sent to the real functions."""

    def __init__(self, agent_id: str, signing: Any) -> None:
        self.id, self._signing = agent_id, signing

    async def call(self, name: str, path: str, body: Any = None, route: dict[str, str] | None = None) -> Any:
        raw = json.dumps(body).encode() if body is not None else b""
        headers = signed_headers(self._signing, self.id, "POST", path, raw)
        url = f"http://localhost:7071{path}"
        query = dict(p.split("=", 1) for p in urlsplit(url).query.split("&") if p)
        request = func.HttpRequest("POST", url, headers=headers, params=query, route_params=route or {}, body=raw)
        response = await acall(name, request)
        text = response.get_body().decode()
        return response.status_code, json.loads(text) if text else None

    async def poll(self) -> Any:
        return await self.call("agent_poll", "/api/agent/poll?wait=0")

    async def result(self, job_id: str, body: Any) -> Any:
        return await self.call("agent_result", f"/api/agent/jobs/{job_id}/result", body, {"jobId": job_id})


async def registered(env: dict[str, str], code: str, name: str, host: str = "srv-a.corp.example.com") -> Agent:
    signing, encryption = new_keys()
    body = {"code": code, "name": name, "host": host, "version": "0.1.0",
            "signing_key": public_b64(signing), "encryption_key": public_b64(encryption)}  # fmt: skip
    async with Container(load_settings(env)) as container:
        _, answer = await register(container, body)
    return Agent(answer["agent_id"], signing)


async def dump(env: dict[str, str], *tables: str) -> str:
    async with Container(load_settings(env)) as container:
        found = [dict(r) for t in tables async for r in container.tables().query(t)]
    return json.dumps(found, default=str)


async def jobs(env: dict[str, str], cid: str) -> list[dict[str, Any]]:
    async with Container(load_settings(env)) as container:
        rows = container.tables().query(AGENTS, "PartitionKey eq @pk", {"pk": agent_jobs.jobs_partition(cid)})
        return [dict(r) async for r in rows]


def page_of(cid: str) -> tuple[str, dict[str, str]]:
    return f"/api/console/connections/{cid}", {"id": cid}


async def post(who: Browser, name: str, cid: str, tail: str, fields: list[tuple[str, str]], **kw: Any) -> Answer:
    return await who.post(name, f"/api/console/connections/{cid}/agents/{tail}", {"id": cid, **kw}, fields)


async def make_code(admin: Browser, cid: str) -> str:
    answer = await post(admin, "console_agent_code", cid, "codes", [("expires_in_minutes", "1440")])
    assert answer.status == 200, answer.text[:800]
    found = CODE.search(answer.text)
    assert found, answer.text[:800]
    return found.group(0)


def user(guid: str, name: str) -> dict[str, Any]:
    return {"objectGUID": guid, "userPrincipalName": f"{name}@corp.example.com", "displayName": name.title(),
            "userAccountControl": 512}  # fmt: skip


def sync_answer(
    mode: str, users: list[dict[str, Any]], scope: list[str], deleted: list[str], usn: int
) -> dict[str, Any]:
    """An agent's sync answer as agent/ad_reader.py sends it (literal data: no domain controller here)."""
    return {"outcome": "succeeded", "result": {
        "mode": mode, "users": users, "scope": scope, "deleted": deleted,
        "groups": [{"objectGUID": GROUP, "cn": "sync", "groupType": -2147483646}], "links": {GROUP: scope},
        "cursor": {"invocation_id": "inv-1", "host": "dc1.corp.example.com", "usn": usn},
    }}  # fmt: skip


async def test_an_admin_makes_a_code_shown_once_and_never_stored_logged_or_audited(
    admin: Browser, cid: str, stack_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answer = await post(admin, "console_agent_code", cid, "codes", [("expires_in_minutes", "1440")])
    assert answer.status == 200 and answer.headers["Cache-Control"] == "no-store"
    code = CODE.search(answer.text)
    assert code, answer.text[:800]
    command = f"python -m agent --config /etc/connector-agent/agent.json register --code {code.group(0)}"
    assert command in answer.text and "valid until" in answer.text and "shown only" in answer.text
    stored = await dump(stack_env, AGENTS, AUDIT)
    assert code_hash(code.group(0)) in stored and code.group(0) not in stored and code.group(0)[6:] not in stored
    assert code.group(0) not in caplog.text
    page = await admin.get("console_connection", *page_of(cid))
    assert page.status == 200 and code.group(0) not in page.text  # never shown again

    agent = await registered(stack_env, code.group(0), f"dc {EVIL}")
    page = await admin.get("console_connection", *page_of(cid))
    assert "srv-a.corp.example.com" in page.text and '<span class="badge ok">online</span>' in page.text
    assert f"dc {EVIL}" not in page.text and "dc &lt;script&gt;" in page.text
    assert f"/agents/{agent.id}/remove" in page.text
    async with Container(load_settings(stack_env)) as container:
        from shared.services import audit

        rows = await audit.trail(container.tables(), cid)
    made = [r for r in rows if r["action"] == "agent.code"]
    assert len(made) == 1 and made[0]["who"] == f"console {admin.oid} ({admin.name})"


async def test_a_refused_code_form_changes_nothing(admin: Browser, cid: str, stack_env: dict[str, str]) -> None:
    before = await dump(stack_env, AGENTS)
    for minutes in ("3", "x", "99999999"):
        answer = await post(admin, "console_agent_code", cid, "codes", [("expires_in_minutes", minutes)])
        assert answer.status == 400 and "must be a whole number" in answer.text and not CODE.search(answer.text)
    assert await dump(stack_env, AGENTS) == before


async def test_remove_needs_the_agents_name_then_refuses_it_and_releases_its_job(
    admin: Browser, cid: str, stack_env: dict[str, str]
) -> None:
    agent = await registered(stack_env, await make_code(admin, cid), "dc-site-a-1")
    queued = await post(admin, "console_ad_sync", cid, "sync", [("mode", "full")])
    assert queued.status == 303 and queued.location.endswith("?done=ad_sync_queued#agents")
    status, leased = await agent.poll()
    assert status == 200, leased

    wrong = await post(admin, "console_agent_remove", cid, f"{agent.id}/remove", [("confirm_name", "dc")],
                       agentId=agent.id)  # fmt: skip
    assert wrong.status == 400 and "type the agent&#x27;s name exactly" in wrong.text
    assert (await agent.poll())[0] == 204  # still registered: its poll is answered (nothing else queued)

    removed = await post(admin, "console_agent_remove", cid, f"{agent.id}/remove",
                         [("confirm_name", "dc-site-a-1")], agentId=agent.id)  # fmt: skip
    assert removed.status == 303 and removed.location.endswith("?done=agent_removed#agents")
    status, refused = await agent.poll()
    assert status == 401 and refused["code"] == "agent_unknown", refused
    job = next(j for j in await jobs(stack_env, cid) if j["RowKey"] == leased["job"]["id"])
    assert job["state"] == "queued"  # released at once for another agent
    page = await admin.get("console_connection", removed.location.split("#")[0], {"id": cid})
    assert "Agent removed" in page.text and "dc-site-a-1" not in page.text.split('id="agents"')[1].split("<h3")[0]


async def test_sync_dry_run_and_rotation_through_the_agent_and_their_outcome_in_the_run_history(
    admin: Browser, cid: str, stack_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    agent = await registered(stack_env, await make_code(admin, cid), "dc-site-a-1")
    assert (await post(admin, "console_ad_sync", cid, "sync", [("mode", "full")])).status == 303
    page = await admin.get("console_connection", *page_of(cid))
    assert '<span class="badge idle">queued</span>' in page.text and "AD sync, full" in page.text
    status, leased = await agent.poll()
    assert status == 200 and leased["job"]["payload"]["mode"] == "full"
    runs = await admin.get("console_runs", f"/api/console/connections/{cid}/runs", {"id": cid})
    assert '<span class="badge info">running</span> on dc-site-a-1' in runs.text
    done = await agent.result(leased["job"]["id"], sync_answer("full", [user(ANN, "ann"), user(BOB, "bob")],
                                                         [ANN, BOB], [], 100))  # fmt: skip
    assert done[0] == 200, done
    runs = await admin.get("console_runs", f"/api/console/connections/{cid}/runs", {"id": cid})
    assert "full (manual) through agent dc-site-a-1" in runs.text and "user.created: 2" in runs.text

    dry = await post(admin, "console_ad_sync", cid, "sync", [("mode", "incremental"), ("dry_run", "yes")])
    assert dry.status == 303 and dry.location.endswith("?done=ad_dry_run_queued#agents")
    status, leased = await agent.poll()
    assert status == 200 and leased["job"]["payload"]["dry_run"] is True
    await agent.result(leased["job"]["id"], sync_answer("incremental", [], [ANN], [BOB], 120))
    runs = await admin.get("console_runs", f"/api/console/connections/{cid}/runs", {"id": cid})
    assert '<span class="badge info">dry run</span>' in runs.text

    # bob leaves the domain; rotation by default takes every active synced user, so only ann
    assert (await post(admin, "console_ad_sync", cid, "sync", [("mode", "incremental")])).status == 303
    status, leased = await agent.poll()
    assert (await agent.result(leased["job"]["id"], sync_answer("incremental", [], [ANN], [BOB], 130)))[0] == 200
    before = len(await jobs(stack_env, cid))
    unticked = await post(admin, "console_ad_rotate", cid, "rotate", [])
    assert unticked.status == 400 and "tick the box" in unticked.text and len(await jobs(stack_env, cid)) == before
    rotated = await post(admin, "console_ad_rotate", cid, "rotate", [("confirm_rotation", "yes")])
    assert rotated.status == 303, rotated.text[:800]
    assert rotated.location.endswith("?done=ad_rotation_queued#agents")
    job = max(await jobs(stack_env, cid), key=lambda j: str(j["RowKey"]))
    payload = json.loads(job["payload_json"])
    assert job["kind"] == "rotate" and [u["user_id"] for u in payload["users"]] == [ANN]
    status, leased = await agent.poll()
    assert status == 200 and leased["job"]["kind"] == "rotate"
    page = await admin.get("console_connection", *page_of(cid))
    assert "Password rotation, 1 user(s)" in page.text and "running</span> on dc-site-a-1" in page.text
    async with Container(load_settings(stack_env)) as container:  # the generated password: pending in Key Vault
        item = payload["users"][0]
        secret = await container.secrets().get(password_ref(cid, ANN).name, item["version"])
        password = secret.value.reveal()
    runs = await admin.get("console_runs", f"/api/console/connections/{cid}/runs", {"id": cid})
    stored = await dump(stack_env, AGENTS, AUDIT)
    for text in (page.text, runs.text, rotated.text, stored, caplog.text):
        assert password not in text


async def test_a_sync_without_an_agent_or_a_sync_group_says_why_and_queues_nothing(
    admin: Browser, stack: LocalStack, cid: str, stack_env: dict[str, str]
) -> None:
    answer = await post(admin, "console_ad_sync", cid, "sync", [("mode", "full")])
    assert answer.status == 409 and "No agent is registered" in answer.text
    await registered(stack_env, await make_code(admin, cid), "dc-site-a-1")
    bad = await post(admin, "console_ad_sync", cid, "sync", [("mode", "groups")])
    assert bad.status == 400 and "must be one of incremental, full" in bad.text
    assert await jobs(stack_env, cid) == []


async def test_a_reader_sees_the_agents_without_buttons_and_every_post_is_refused(
    admin: Browser, reader: Browser, cid: str, stack_env: dict[str, str]
) -> None:
    agent = await registered(stack_env, await make_code(admin, cid), "dc-site-a-1")
    page = await reader.get("console_connection", *page_of(cid))
    assert page.status == 200 and "dc-site-a-1" in page.text and "srv-a.corp.example.com" in page.text
    section = page.text.split('id="agents"')[1]
    assert "<form" not in section and "<button" not in section
    before = await dump(stack_env, AGENTS)
    posts = [
        ("console_agent_code", "codes", [("expires_in_minutes", "60")]),
        ("console_agent_remove", f"{agent.id}/remove", [("confirm_name", "dc-site-a-1")]),
        ("console_ad_sync", "sync", [("mode", "full")]),
        ("console_ad_rotate", "rotate", [("confirm_rotation", "yes")]),
    ]
    for name, tail, fields in posts:
        refused = await post(reader, name, cid, tail, fields, agentId=agent.id)
        assert refused.status == 403 and "Readers cannot act" in refused.text, name
        without_token = await admin.post(name, f"/api/console/connections/{cid}/agents/{tail}",
                                         {"id": cid, "agentId": agent.id}, fields, csrf=False)  # fmt: skip
        assert without_token.status == 403 and "anti-forgery" in without_token.text, name
        nobody = await NOBODY.post(name, f"/api/console/connections/{cid}/agents/{tail}",
                                   {"id": cid, "agentId": agent.id}, fields, csrf=False)  # fmt: skip
        assert nobody.status == 302, name
    assert await dump(stack_env, AGENTS) == before


async def test_an_entra_connection_has_no_agents_section_and_refuses_agent_actions(
    admin: Browser, stack: LocalStack, stack_env: dict[str, str]
) -> None:
    entra = await create_customer_connection(stack, "Entra only")
    page = await admin.get("console_connection", *page_of(entra))
    assert page.status == 200 and 'id="agents"' not in page.text
    before = await dump(stack_env, AGENTS)
    answer = await post(admin, "console_agent_code", entra, "codes", [("expires_in_minutes", "60")])
    assert answer.status == 409 and not CODE.search(answer.text)
    assert await dump(stack_env, AGENTS) == before


async def test_a_registration_with_a_bad_host_is_refused_by_field_and_spends_no_code(
    admin: Browser, cid: str, stack_env: dict[str, str]
) -> None:
    from shared.errors import ValidationError

    code = await make_code(admin, cid)
    for host in ("h" * 256, "tab\there"):
        with pytest.raises(ValidationError) as refused:
            await registered(stack_env, code, "dc-site-a-1", host=host)
        assert set(refused.value.problems) == {"host"}
    agent = await registered(stack_env, code, "dc-site-a-1", host="h" * 255)  # the code is still unused
    page = await admin.get("console_connection", *page_of(cid))
    assert "h" * 255 in page.text and agent.id in page.text
