"""End to end against the emulators: create an admin-consent connection, consent, sign the administrator in,
verify; and each failure. A scripted browser follows every redirect (scripts/browser.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from emulators.stack import LocalStack
from shared.composition import Container
from shared.domain.consent_state import ConsentState, sign_state
from shared.services.consent import handle_callback
from shared.storage_names import CONSENT_STATES
from tests.integration.connections.conftest import call, request
from tests.integration.connections.consent_helpers import (
    CALLBACK,
    audit_rows,
    browser,
    callback,
    create_admin_consent,
    query_of,
    remember_browser_secrets,
    signing_key,
    start_consent,
    state_of,
    stored,
    until_sign_in_answer,
)


@pytest.fixture(autouse=True)
def _collect_browser_secrets() -> Iterator[None]:
    yield
    remember_browser_secrets()


async def test_consent_then_verification_passes(
    stack: LocalStack, container: Container, tenant: dict[str, Any]
) -> None:
    created = await create_admin_consent(tenant)
    assert created["tenant_id"] == tenant["id"] and created["tenant_domain"] == tenant["domains"][0]
    assert created["state"] == "pending_consent" and created["credential"] == {"set": False}
    location = await start_consent(created["id"])
    assert location.startswith(f"{stack.entra.login_url}/{tenant['id']}/v2.0/adminconsent?")
    walker = browser(stack)
    page = await walker.open(location)
    assert page.status == 200, page.text
    assert "<script" not in page.text and "Connected" in page.text
    hops = [url.split("?")[0] for url in page.trail]
    assert hops == [
        f"{stack.entra.login_url}/{tenant['id']}/v2.0/adminconsent",
        CALLBACK,
        f"{stack.entra.login_url}/{tenant['id']}/oauth2/v2.0/authorize",
        CALLBACK,
    ]
    assert walker.cookies == {}  # the flow's cookie is cleared at the end
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
    rows = await audit_rows(container, created["id"])
    assert {"connection.create", "consent.start", "consent.callback", "consent.signin", "connection.verify"} <= {
        r["action"] for r in rows
    }
    signed_in = next(r for r in rows if r["action"] == "consent.signin")
    assert signed_in["result"] == "ok" and tenant["admin"]["id"] in signed_in["detail"]
    assert not [r async for r in container.tables().query(CONSENT_STATES, "connection_id eq @c", {"c": created["id"]})]


async def test_replayed_answers_are_refused_and_change_nothing(
    stack: LocalStack, container: Container, tenant: dict[str, Any]
) -> None:
    created = await create_admin_consent(tenant)
    walker = browser(stack)
    page = await walker.open(await start_consent(created["id"]))
    assert page.status == 200, page.text
    first, second = [url for url in page.trail if url.startswith(CALLBACK)]
    before = await stored(container, created["id"])
    status, text, _ = await callback(query_of(first))
    assert status == 400 and "already used" in text
    status, text, _ = await callback(query_of(second), walker.cookies_set)  # even with the flow's cookie
    assert status == 400 and "already used" in text
    status, text, _ = await callback(query_of(second))
    assert status == 400 and "did not start in this browser" in text
    assert await stored(container, created["id"]) == before


async def test_declined_consent_shows_a_page_and_leaves_it_pending(
    stack: LocalStack, container: Container, tenant: dict[str, Any]
) -> None:
    created = await create_admin_consent(tenant)
    stack.entra.control.set_consent_decision(tenant["id"], "cancel")
    page = await browser(stack).open(await start_consent(created["id"]))
    assert page.status == 200 and "declined" in page.text
    row = await stored(container, created["id"])
    assert row is not None and row["state"] == "pending_consent"


async def test_forged_tenant_is_not_trusted(stack: LocalStack, container: Container, tenant: dict[str, Any]) -> None:
    """A made-up success answer: even after the tenant's real administrator signs in, the app-only token shows
    that consent was never given; and an answer naming another tenant stops at once."""
    created = await create_admin_consent(tenant)
    state = state_of(await start_consent(created["id"]))
    forged = f"{CALLBACK}?admin_consent=True&tenant={tenant['id']}&state={state}"
    page = await browser(stack).open(forged)
    assert page.status == 400 and "could not be confirmed" in page.text, page.text
    other = stack.entra.tenants[0]["id"]
    state2 = state_of(await start_consent(created["id"]))
    status, text, _ = await callback({"admin_consent": "True", "tenant": other, "state": state2})
    assert status == 400 and "Wrong tenant" in text
    row = await stored(container, created["id"])
    assert row is not None and row["state"] == "pending_consent" and not row["consented_at"]
    results = [r["result"] for r in await audit_rows(container, created["id"])]
    assert "not_confirmed" in results and "tenant_mismatch" in results


async def test_missing_forged_and_expired_states_are_400(container: Container, tenant: dict[str, Any]) -> None:
    created = await create_admin_consent(tenant)
    await start_consent(created["id"])
    states_before = [r async for r in container.tables().query(CONSENT_STATES)]
    assert (await callback({"admin_consent": "True", "tenant": tenant["id"]}))[0] == 400
    assert (await callback({"state": "abc.def", "tenant": tenant["id"]}))[0] == 400
    key = await signing_key(container)
    expired = sign_state(ConsentState(created["id"], "n" * 32, int(time.time()) - 1), key)
    status, page, _ = await callback({"state": expired, "tenant": tenant["id"], "admin_consent": "True"})
    assert status == 400 and "expired" in page
    wrong_key = sign_state(ConsentState(created["id"], "n" * 32, int(time.time()) + 60), b"k" * 32)
    assert (await callback({"state": wrong_key, "tenant": tenant["id"]}))[0] == 400
    unknown_nonce = sign_state(ConsentState(created["id"], "n" * 32, int(time.time()) + 60), key)
    status, page, _ = await callback({"state": unknown_nonce, "tenant": tenant["id"], "admin_consent": "True"})
    assert status == 400 and "already used" in page  # signed by us, but never issued: no row
    assert [r async for r in container.tables().query(CONSENT_STATES)] == states_before
    row = await stored(container, created["id"])
    assert row is not None and row["state"] == "pending_consent"


async def test_verification_waits_for_roles_to_propagate(
    stack: LocalStack, container: Container, tenant: dict[str, Any]
) -> None:
    created = await create_admin_consent(tenant)
    stack.entra.control.set_propagation_delay(25)
    answer, cookies = await until_sign_in_answer(stack, await start_consent(created["id"]))
    waits: list[float] = []

    async def advance(seconds: float) -> None:
        waits.append(seconds)
        stack.entra.control.advance_clock(seconds)

    result = await handle_callback(container, answer, cookies=cookies, sleep=advance)
    assert result.outcome == "ok" and result.report is not None
    assert result.report.status != "fail", result.report
    assert 20 <= sum(waits) <= 60 and result.report.waited_for_roles_s == sum(waits)
    assert "propagate" in result.report.checks[0].detail
