"""The console's pages in real headless Chromium against the local stack (served by the development host): add a
connection by domain and consent, Test permissions all green, sync, see the users, a dry run's table, a threshold
hold approved, a wrong secret's remedy, a Reader who cannot act (no buttons, POST refused), a POST without the
CSRF token refused, markup in a display name shown as text, the CSP header, no console errors. The tests take the
screenshots of the main pages that the README shows (docs/console/*.png)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.browser.conftest import ConsoleSite
from tests.browser.harness import Browser
from tests.browser.signin_steps import sign_in
from tests.functions.invoke import create_customer_connection

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "docs" / "console"
EVIL = '<img src=x onerror="document.title=1"><b>Bold</b>'
GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
WAIT_STEPS = 120  # page loads while waiting for a queued sync (each about half a second apart)


async def shot(browser: Browser, name: str, *, full_page: bool = True) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await browser.screenshot(SHOTS / f"{name}.png", full_page=full_page)


async def clean(browser: Browser) -> None:
    """The page is the console's, under its CSP, and nothing went wrong in the browser so far."""
    headers = (await browser.last_response()).get("headers", {})
    assert "default-src 'none'" in headers.get("content-security-policy", ""), headers
    assert headers.get("x-content-type-options") == "nosniff"
    assert await browser.console_errors() == []


async def signed_in(browser: Browser, site: ConsoleSite, who: str = "admin") -> None:
    """Sign in through the emulator's page and land on the account page (the callback's page moves on to it)."""
    account = site.accounts[who]
    await sign_in(browser, site.url, account.upn, account.password)
    await browser.wait_for_url(r"/api/console/account$")


async def admin(browser: Browser, site: ConsoleSite) -> None:
    await signed_in(browser, site, "admin")


async def connection_id(browser: Browser) -> str:
    found = re.search(rf"/api/console/connections/({GUID})", await browser.url())
    assert found, await browser.url()
    return found.group(1)


async def add_by_domain_and_consent(browser: Browser, site: ConsoleSite, name: str) -> str:
    tenant = site.stack.tenant
    await browser.goto(f"{site.url}/api/console/new")
    await clean(browser)
    await browser.fill("#display_name", name)
    await browser.fill("#tenant", tenant["domains"][0])
    await shot(browser, "add-connection")
    await browser.click('button:has-text("Configure")')
    cid = await connection_id(browser)
    assert "Connection added" in await browser.text("main")
    await browser.click('button:has-text("Grant permissions")')
    await browser.wait_for_url(r"/oauth2/v2\.0/authorize")  # the consenting administrator signs in
    admin_id = tenant["admin"]["id"]
    password = site.stack.entra.control.get_password(tenant["id"], admin_id)
    await browser.fill('input[name="login"]', tenant["admin"]["user_principal_name"])
    await browser.fill('input[name="passwd"]', password)
    await browser.click("#signin")
    await browser.wait_for_url(r"/api/consent/callback")
    assert "Connected" in await browser.text()
    await browser.goto(f"{site.url}/api/console/connections/{cid}")
    return cid


async def wait_for(browser: Browser, url: str, selector: str, present: bool = True) -> None:
    """Load `url` until `selector` is on it (or gone): a queued sync runs in the development host's queue worker."""
    for _ in range(WAIT_STEPS):
        await browser.goto(url)
        if (await browser.count(selector) > 0) == present:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"{selector} never {'appeared' if present else 'went'} on {url}: {await browser.text()}")


async def test_connect_by_domain_consent_test_sync_users_and_dry_run(
    browser: Browser, console_site: ConsoleSite
) -> None:
    site, tenant = console_site, console_site.stack.tenant
    await admin(browser, site)
    cid = await add_by_domain_and_consent(browser, site, "Contoso (admin consent)")
    base = f"{site.url}/api/console/connections/{cid}"
    await clean(browser)
    assert "active" in await browser.text(".facts")

    await browser.click('button:has-text("Test permissions")')
    await clean(browser)
    assert "Ready, with warnings" in await browser.text("main")  # Organization.Read.All is optional
    assert await browser.count(".checks .badge.bad") == 0
    # the tenant's administrator grants the optional permission too (Entra admin center; here the control API)
    operator = site.stack.app("multi_tenant")["client_id"]
    site.stack.entra.control.grant_permissions(tenant["id"], operator, ["Organization.Read.All"])
    try:
        await browser.goto(base)
        await browser.click('button:has-text("Test permissions")')
        await clean(browser)
        assert "All checks passed" in await browser.text("main"), await browser.text("main")
        assert await browser.count(".checks .badge.bad") + await browser.count(".checks .badge.warn") == 0
        assert await browser.count(".checks .badge.ok") >= 4
        await shot(browser, "test-permissions")
    finally:
        site.stack.entra.control.revoke_permissions(tenant["id"], operator, ["Organization.Read.All"])

    await browser.goto(base)
    await browser.click('button:has-text("Sync now")')
    assert "Sync queued" in await browser.text("main")
    await wait_for(browser, f"{base}/users", "table.users tbody tr")
    await clean(browser)
    await shot(browser, "users", full_page=False)

    control = site.stack.entra.control
    member = next(iter(control.ground_truth(tenant["id"], tenant["sync_group"]["id"])["users"]))
    name = control.get_user(tenant["id"], member)["displayName"]
    control.update_user(tenant["id"], member, displayName=f"Mallory {EVIL}")
    try:
        await browser.goto(base)
        await browser.click('button:has-text("Dry run")')
        await clean(browser)
        planned = await browser.text("table.planned")
        assert await browser.count("table.planned tbody tr") >= 1 and "user.updated" in planned, planned
        await shot(browser, "dry-run")

        await browser.goto(base)
        await browser.click('button:has-text("Sync now")')
        await wait_for(browser, f"{base}/users", 'td:has-text("Mallory")')
        await clean(browser)
        assert f"Mallory {EVIL}" in await browser.text("table.users")  # the markup shows as text
        assert await browser.count("main img") == 0 and await browser.count("main table b") == 0
    finally:
        control.update_user(tenant["id"], member, displayName=name)
    await browser.goto(base)
    await shot(browser, "connection")
    await browser.goto(f"{site.url}/api/console/")
    await clean(browser)
    assert "Contoso (admin consent)" in await browser.text("table.connections")
    await shot(browser, "connections")


async def test_a_threshold_hold_is_listed_and_approved(browser: Browser, console_site: ConsoleSite) -> None:
    site, tenant = console_site, console_site.stack.tenant
    control, group = site.stack.entra.control, tenant["sync_group"]["id"]
    cid = await create_customer_connection(site.stack, "Held back")
    base = f"{site.url}/api/console/connections/{cid}"
    await admin(browser, site)
    await browser.goto(base)
    await browser.click('button:has-text("Sync now")')
    await wait_for(browser, f"{base}/users", "table.users tbody tr")
    await browser.goto(f"{base}/settings")
    await clean(browser)
    await browser.fill("#deletion_threshold", "1")
    await shot(browser, "settings")
    await browser.click('button:has-text("Save settings")')
    assert "Settings saved" in await browser.text("main")
    direct = [
        u
        for u in sorted(control.ground_truth(tenant["id"], group)["users"])
        if group in control.get_user(tenant["id"], u)["groups"]
    ]
    removed = [uid for uid in direct[:3] if control.remove_member(tenant["id"], group, uid)]
    assert len(removed) == 3, direct
    try:
        await browser.goto(base)
        await browser.click('button:has-text("Sync now")')
        await wait_for(browser, base, '.facts .badge:has-text("awaiting approval")')  # the run has ended
        await clean(browser)
        held = await browser.text(".held")
        assert all(uid in held for uid in removed), held
        await shot(browser, "approval")
        await browser.click('button:has-text("Approve deletions")')  # unconfirmed: the browser does not send it
        assert await browser.count(".held") == 1 and "Deletions approved" not in await browser.text("main")
        token = await browser.attribute(".held input[name=csrf]", "value")
        unconfirmed = await browser.request("POST", f"{base}/approve", {"csrf": token or ""})  # sent anyway
        assert unconfirmed["status"] == 400 and "tick the box" in unconfirmed["body"]
        await browser.goto(base)
        await browser.click("input[name=confirm]")
        await browser.click('button:has-text("Approve deletions")')
        assert "Deletions approved" in await browser.text("main")
        await wait_for(browser, base, 'button:has-text("Approve deletions")', present=False)
        await clean(browser)
    finally:
        for uid in removed:
            control.add_member(tenant["id"], group, uid)


async def test_a_wrong_secret_shows_its_remedy(browser: Browser, console_site: ConsoleSite) -> None:
    site = console_site
    second = site.stack.entra.tenants[1]
    app = site.stack.app("customer", second)
    await admin(browser, site)
    await browser.goto(f"{site.url}/api/console/new")
    await browser.fill("#display_name", f"Fabrikam {EVIL}")
    await browser.fill("#tenant", second["id"])
    await browser.click("input[value=customer_app]")
    await browser.fill("#client_id", app["client_id"])
    await browser.fill("#client_secret", "a0b1c2d3-this-is-the-secret-id-not-its-value")
    await browser.click('button:has-text("Configure")')
    await clean(browser)
    assert f"Fabrikam {EVIL}" in await browser.text("h1") and await browser.count("main img") == 0
    await browser.click('button:has-text("Test permissions")')
    await clean(browser)
    report = await browser.text("main")
    assert "Not ready" in report and "7000215" in report and "Value" in report, report
    assert await browser.count(".checks .badge.bad") >= 1
    await shot(browser, "test-permissions-failed")


async def test_a_reader_cannot_act_and_a_post_without_the_csrf_token_is_refused(
    browser: Browser, console_site: ConsoleSite
) -> None:
    site = console_site
    cid = await create_customer_connection(site.stack, "Read only")
    base = f"{site.url}/api/console/connections/{cid}"
    await signed_in(browser, site, "reader")
    await browser.goto(base)
    await clean(browser)
    assert await browser.count("main form[method=post]") == 0 and await browser.count("main button") == 0
    assert "Connector.Admin" in await browser.text("main")
    await shot(browser, "reader")
    token = await browser.attribute("form.signout input[name=csrf]", "value")
    assert token
    refused = await browser.request("POST", f"{base}/sync", {"csrf": token, "mode": "incremental"})
    assert refused["status"] == 403 and "Readers cannot act" in refused["body"]
    await browser.clear_cookies()
    await admin(browser, site)
    await browser.goto(base)
    forged = await browser.request("POST", f"{base}/sync", {"mode": "incremental"})
    assert forged["status"] == 403 and "anti-forgery" in forged["body"]
    await clean(browser)


@pytest.fixture(scope="module")
async def chromium_without_js(emulator_pins: list[str]) -> AsyncIterator[Browser]:
    browser = await Browser.launch(emulator_pins, java_script=False)
    try:
        yield browser
    finally:
        await browser.close()


async def test_without_javascript_a_connection_is_added_consented_and_synced(
    chromium_without_js: Browser, console_site: ConsoleSite
) -> None:
    """The pages need no script: plain forms, and Grant permissions' link clicked by hand."""
    browser, site, tenant = chromium_without_js, console_site, console_site.stack.tenant
    await browser.new_context()
    await admin(browser, site)
    await browser.goto(f"{site.url}/api/console/new")
    await browser.fill("#display_name", "Contoso without script")
    await browser.fill("#tenant", tenant["domains"][0])
    await browser.click('button:has-text("Configure")')
    cid = await connection_id(browser)
    await browser.click('button:has-text("Grant permissions")')
    assert "Continue to Microsoft Entra ID" in await browser.text("main")  # no script follows the link here
    await browser.click("#continue")
    await browser.wait_for_url(r"/oauth2/v2\.0/authorize")
    password = site.stack.entra.control.get_password(tenant["id"], tenant["admin"]["id"])
    await browser.fill('input[name="login"]', tenant["admin"]["user_principal_name"])
    await browser.fill('input[name="passwd"]', password)
    await browser.click("#signin")
    await browser.wait_for_url(r"/api/consent/callback")
    base = f"{site.url}/api/console/connections/{cid}"
    await browser.goto(base)
    assert "active" in await browser.text(".facts")
    await browser.click('button:has-text("Sync now")')
    assert "Sync queued" in await browser.text("main")
    await wait_for(browser, f"{base}/users", "table.users tbody tr")
    await clean(browser)
