"""End-user sign-in in real headless Chromium (tests/browser/harness.py), through the emulator's password page:
a tenant connected by its administrator in the browser, then a new user of a nested group signs in and is created
just in time (its groups and events), a stored user signs in, an out-of-scope user and a tenant without user
consent get their pages (the remedy shown, strict CSP, no console error), and nothing secret reaches a cookie
value, a page or a log record."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from emulators.stack import CONSENT_REDIRECT
from shared import storage_names as names
from shared.composition import Container
from shared.config import load_settings
from shared.domain.connection import Connection
from shared.services.connections import load
from shared.services.directory_sync import SyncDeps, run_sync
from tests.browser.conftest import ConsoleSite
from tests.browser.harness import Browser
from tests.integration.connections.conftest import call, request
from tests.integration.connections.consent_helpers import create_admin_consent, start_consent


@dataclass
class Tenant:
    site: ConsoleSite
    info: dict[str, Any]
    connection: Connection
    container: Container
    return_to: str

    @property
    def tid(self) -> str:
        return str(self.info["id"])

    async def events(self) -> list[dict[str, Any]]:
        got = await self.container.queues().receive_events(names.DIRECTORY_CHANGES)
        return [e for e in got if e["connection_id"] == self.connection.id]


async def _password_sign_in(browser: Browser, upn: str, password: str) -> None:
    assert await browser.count('input[name="passwd"]') == 1, await browser.text()
    await browser.fill('input[name="login"]', upn)
    await browser.fill('input[name="passwd"]', password)
    await browser.click("#signin")


@pytest.fixture
async def connected(
    browser: Browser, console_site: ConsoleSite, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Tenant]:
    """Tenant 1 connected by its administrator in Chromium (consent page, then the password page), fully synced;
    the product's return URL is the app's own health page (it answers 200, so the browser stops there)."""
    stack, url = console_site.stack, console_site.url
    control = stack.entra.control
    operator = stack.app("multi_tenant")["client_id"]
    uris = {
        CONSENT_REDIRECT,
        f"{url}/api/consent/callback",
        f"{url}/api/console/callback",
        f"{url}/api/signin/callback",
    }
    control.set_redirect_uris(operator, sorted(uris))
    return_to = f"{url}/api/health"
    monkeypatch.setenv("SIGNIN_RETURN_URLS", return_to)
    info = stack.entra.tenants[1]
    created = await create_admin_consent(info)
    await browser.goto(await start_consent(created["id"]))
    admin = info["admin"]
    await _password_sign_in(browser, admin["user_principal_name"], control.get_password(info["id"], admin["id"]))
    await browser.wait_for_url(re.escape(url) + r"/api/consent/callback")
    assert "Connected" in await browser.text("h1"), await browser.text()
    async with Container(load_settings(console_site.env | {"SIGNIN_RETURN_URLS": return_to})) as container:
        connection, _ = await load(container, created["id"])
        deps = SyncDeps(
            graph=await container.graph_for(connection), tables=container.tables(), queues=container.queues()
        )
        assert (await run_sync(deps, connection, mode="full")).outcome == "succeeded"
        tenant = Tenant(console_site, info, connection, container, return_to)
        await tenant.events()
        try:
            yield tenant
        finally:
            control.set_user_consent(info["id"], "allowed")
            control.revoke_delegated(info["id"], operator)
            await tenant.events()


async def _sign_in(browser: Browser, tenant: Tenant, upn: str, password: str) -> str:
    """A fresh browser signs `upn` in from the product's link; the URL it ends on."""
    await browser.new_context()
    query = urlencode({"connection": tenant.connection.id, "return_to": tenant.return_to})
    await browser.goto(f"{tenant.site.url}/api/signin/start?{query}")
    await _password_sign_in(browser, upn, password)
    return await browser.wait_for_url(r"/api/(health|signin/callback)")


async def _exchange(code: str) -> tuple[int, dict[str, Any]]:
    status, body, _ = await call("signin_exchange", request("POST", "signin/exchange", {"code": code}))
    return status, body


def _new_user(tenant: Tenant, name: str, groups: list[str]) -> tuple[dict[str, Any], str]:
    password = f"Signin-{name}-Pa55word!"
    made = tenant.site.stack.entra.control.create_user(tenant.tid, name, "Browser", password=password, groups=groups)
    return made, password


async def test_a_new_user_is_created_just_in_time_and_a_stored_user_signs_in(
    browser: Browser, connected: Tenant, app_logs: pytest.LogCaptureFixture
) -> None:
    control = connected.site.stack.entra.control
    nested = control.create_group(connected.tid, "Browser nested team")
    control.add_member(connected.tid, connected.connection.sync_group_id, nested["id"])
    user, password = _new_user(connected, "Newcomer", [nested["id"]])
    landed = await _sign_in(browser, connected, user["userPrincipalName"], password)
    assert landed.startswith(connected.return_to + "?code="), await browser.text()
    code = dict(parse_qsl(urlsplit(landed).query))["code"]
    assert all(code not in c["value"] for c in await browser.cookies())
    status, identity = await _exchange(code)
    assert status == 200, identity
    assert identity["object_id"] == user["id"] and identity["tenant_id"] == connected.tid
    assert identity["groups"] == [{"id": nested["id"], "display_name": "Browser nested team"}]
    kinds = [e["type"] for e in await connected.events() if e["object_id"] in (user["id"], nested["id"])]
    assert kinds == ["group.created", "membership.added", "user.created", "user.signed_in"]
    assert (await _exchange(code))[0] == 400  # once

    again = await _sign_in(browser, connected, user["userPrincipalName"], password)  # now a stored user
    status, identity = await _exchange(dict(parse_qsl(urlsplit(again).query))["code"])
    assert status == 200 and identity["object_id"] == user["id"]
    assert [e["type"] for e in await connected.events()] == ["user.signed_in"]
    for secret in (code, password):
        assert all(secret not in r.getMessage() for r in app_logs.records)


async def test_refusal_pages_in_the_browser(browser: Browser, connected: Tenant) -> None:
    outsider, password = _new_user(connected, "Outsider", [])
    landed = await _sign_in(browser, connected, outsider["userPrincipalName"], password)
    assert "/api/signin/callback" in landed
    assert "not in the group of users" in await browser.text()
    response = await browser.last_response()
    assert response["status"] == 403 and "default-src 'none'" in response["headers"]["content-security-policy"]
    assert await browser.count("script") == 0
    errors = [e for e in await browser.console_errors() if not e["text"].startswith("Failed to load resource")]
    assert errors == []  # the page's own 403 is the only one
    rows = connected.container.tables().query(
        names.DIRECTORY_USERS, "PartitionKey eq @p", {"p": connected.connection.id}
    )
    assert outsider["id"] not in {r["RowKey"] async for r in rows}

    connected.site.stack.entra.control.set_user_consent(connected.tid, "disabled")
    member, password = _new_user(connected, "Approval", [connected.connection.sync_group_id or ""])
    await _sign_in(browser, connected, member["userPrincipalName"], password)
    text = await browser.text()
    assert "An administrator must approve this app" in text and "Grant admin consent" in text
    assert "Permission classifications" in text
    assert (await browser.last_response())["status"] == 403
    assert await connected.events() == []
