"""End to end against the emulators: create an admin-consent connection, consent, callback, verify; and each failure."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from emulators.stack import LocalStack
from shared.composition import Container
from shared.domain.consent_state import ConsentState, sign_state
from shared.domain.secret_names import consent_signing_key_ref
from shared.services.consent import handle_callback
from shared.storage_names import AUDIT, CONNECTIONS, CONSENT_STATES
from tests.integration.connections.conftest import call, request


async def create_admin_consent(tenant: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body = {
        "tenant": tenant["domains"][0],
        "display_name": "Fabrikam <b>HQ</b>",
        "credential_mode": "admin_consent",
        "features": {"sync": True, "rotation": True},
        "sync_group_id": tenant["sync_group"]["id"],
        "rotation_group_id": tenant["rotation_group"]["id"],
        **extra,
    }
    status, created, _ = await call("connections_create", request("POST", "connections", body))
    assert status == 201, created
    return dict(created)


async def start_consent(connection_id: str) -> str:
    status, _, response = await call(
        "consent_start", request("GET", "consent/start", params={"connection": connection_id})
    )
    assert status == 302
    return str(response.headers["Location"])


async def follow(stack: LocalStack, location: str) -> dict[str, str]:
    """GET the adminconsent URL at the emulator; return the query it redirects to our callback with."""
    async with httpx.AsyncClient(verify=stack.ca_bundle, follow_redirects=False) as http:
        answer = await http.get(location)
    assert answer.status_code == 302, answer.text
    target = urlsplit(answer.headers["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == "http://localhost:7071/api/consent/callback"
    return dict(parse_qsl(target.query))


async def callback(query: dict[str, str]) -> tuple[int, str]:
    status, body, _ = await call("consent_callback", request("GET", "consent/callback", params=query))
    return status, str(body)


async def stored(container: Container, connection_id: str) -> dict[str, Any] | None:
    row = await container.tables().get(CONNECTIONS, "connection", connection_id)
    return dict(row) if row else None


async def test_consent_then_verification_passes(
    stack: LocalStack, container: Container, tenant: dict[str, Any]
) -> None:
    created = await create_admin_consent(tenant)
    assert created["tenant_id"] == tenant["id"] and created["tenant_domain"] == tenant["domains"][0]
    assert created["state"] == "pending_consent" and created["credential"] == {"set": False}
    location = await start_consent(created["id"])
    assert location.startswith(f"{stack.entra.login_url}/{tenant['id']}/v2.0/adminconsent?")
    query = await follow(stack, location)
    assert query["tenant"] == tenant["id"] and query["admin_consent"] == "True"
    status, page = await callback(query)
    assert status == 200, page
    assert "<script" not in page and "Connected" in page
    _, shown, _ = await call("connections_get", request("GET", "connections/x", route={"id": created["id"]}))
    assert shown["state"] == "active" and shown["consented_at"]
    status, report, _ = await call("connections_verify", request("POST", "x", route={"id": created["id"]}))
    assert status == 200
    checks = {c["name"]: c for c in report["checks"]}
    assert report["status"] != "fail", report
    for name in ("token", "permissions", "read_users", "sync_group", "rotation_group"):
        assert checks[name]["status"] == "pass", checks[name]
    assert checks["rotation_scope"]["status"] in ("pass", "warn")  # the seed puts a few rotation users outside
    assert checks["organization"]["status"] in ("pass", "warn")  # Organization.Read.All is optional
    actions = [r["action"] async for r in container.tables().query(AUDIT, "PartitionKey eq @p", {"p": created["id"]})]
    assert {"connection.create", "consent.start", "consent.callback", "connection.verify"} <= set(actions)


async def test_replayed_state_is_refused_and_changes_nothing(
    stack: LocalStack, container: Container, tenant: dict[str, Any]
) -> None:
    created = await create_admin_consent(tenant)
    query = await follow(stack, await start_consent(created["id"]))
    assert (await callback(query))[0] == 200
    before = await stored(container, created["id"])
    status, page = await callback(query)
    assert status == 400 and "already used" in page
    assert await stored(container, created["id"]) == before


async def test_declined_consent_shows_a_page_and_leaves_it_pending(
    stack: LocalStack, container: Container, tenant: dict[str, Any]
) -> None:
    created = await create_admin_consent(tenant)
    stack.entra.control.set_consent_decision(tenant["id"], "cancel")
    query = await follow(stack, await start_consent(created["id"]))
    assert query["error"] == "access_denied"
    status, page = await callback(query)
    assert status == 200 and "declined" in page
    row = await stored(container, created["id"])
    assert row is not None and row["state"] == "pending_consent"


async def test_forged_tenant_is_not_trusted(stack: LocalStack, container: Container, tenant: dict[str, Any]) -> None:
    """A callback claiming success without consent in the connection's tenant: the operator token proves otherwise."""
    created = await create_admin_consent(tenant)
    location = await start_consent(created["id"])
    state = dict(parse_qsl(urlsplit(location).query))["state"]
    forged = {"admin_consent": "True", "tenant": tenant["id"], "state": state}
    status, page = await callback(forged)
    assert status == 400 and "could not be confirmed" in page
    other = stack.entra.tenants[0]["id"]
    state2 = dict(parse_qsl(urlsplit(await start_consent(created["id"])).query))["state"]
    status, page = await callback({"admin_consent": "True", "tenant": other, "state": state2})
    assert status == 400 and "Wrong tenant" in page
    row = await stored(container, created["id"])
    assert row is not None and row["state"] == "pending_consent" and not row["consented_at"]


async def test_missing_forged_and_expired_states_are_400(container: Container, tenant: dict[str, Any]) -> None:
    created = await create_admin_consent(tenant)
    states_before = [r async for r in container.tables().query(CONSENT_STATES)]
    assert (await callback({"admin_consent": "True", "tenant": tenant["id"]}))[0] == 400
    assert (await callback({"state": "abc.def", "tenant": tenant["id"]}))[0] == 400
    key = await container.secrets().get(consent_signing_key_ref().name)
    import base64

    raw_key = base64.b64decode(key.value.reveal())
    expired = sign_state(ConsentState(created["id"], "n" * 32, int(time.time()) - 1), raw_key)
    status, page = await callback({"state": expired, "tenant": tenant["id"], "admin_consent": "True"})
    assert status == 400 and "expired" in page
    wrong_key = sign_state(ConsentState(created["id"], "n" * 32, int(time.time()) + 60), b"k" * 32)
    assert (await callback({"state": wrong_key, "tenant": tenant["id"]}))[0] == 400
    assert [r async for r in container.tables().query(CONSENT_STATES)] == states_before
    row = await stored(container, created["id"])
    assert row is not None and row["state"] == "pending_consent"


async def test_verification_waits_for_roles_to_propagate(
    stack: LocalStack, container: Container, tenant: dict[str, Any]
) -> None:
    created = await create_admin_consent(tenant)
    stack.entra.control.set_propagation_delay(25)
    query = await follow(stack, await start_consent(created["id"]))
    waits: list[float] = []

    async def advance(seconds: float) -> None:
        waits.append(seconds)
        stack.entra.control.advance_clock(seconds)

    result = await handle_callback(container, query, sleep=advance)
    assert result.outcome == "ok" and result.report is not None
    assert result.report.status != "fail", result.report
    assert 20 <= sum(waits) <= 60 and result.report.waited_for_roles_s == sum(waits)
    assert "propagate" in result.report.checks[0].detail
