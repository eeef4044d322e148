"""The console's sign-in in real headless Chromium: through the emulator's sign-in page as an Admin and as a Reader,
no role → 403 page, security headers and no console errors, cookies holding no secret."""

from __future__ import annotations

from tests.browser.conftest import ConsoleSite
from tests.browser.harness import Browser
from tests.browser.signin_steps import cookie_payload, session_cookie, sign_in


async def test_an_admin_signs_in_through_the_emulator_page(browser: Browser, console_site: ConsoleSite) -> None:
    admin = console_site.accounts["admin"]
    landed = await sign_in(browser, console_site.url, admin.upn, admin.password)
    await browser.wait_for_url(r"/api/console/account$")
    assert landed
    assert "Connector.Admin" in await browser.text("#roles")
    assert "read and act" in await browser.text("#allowed")
    cookie = await session_cookie(browser)
    assert cookie is not None
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
    payload = cookie_payload(cookie["value"])
    assert payload["o"] == admin.object_id and payload["r"] == ["Connector.Admin"]
    assert await browser.console_errors() == []
