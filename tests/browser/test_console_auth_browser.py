"""The console's sign-in in real headless Chromium: through the emulator's sign-in page as an Admin and as a Reader,
no role → 403 page, sign-out with and without the CSRF token, the security headers, no console errors, and no code,
token, verifier, cookie or key in the pages, the logs, the tables or the cookie."""

from __future__ import annotations

import base64

import pytest

from tests.browser.conftest import ConsoleSite
from tests.browser.harness import Browser
from tests.browser.signin_steps import console_key, cookie_payload, session_cookie, sign_in, stored_rows

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def _assert_security_headers(headers: dict[str, str]) -> None:
    assert headers["content-security-policy"] == CSP
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"


async def test_an_admin_signs_in_through_the_emulator_page(browser: Browser, console_site: ConsoleSite) -> None:
    admin = console_site.accounts["admin"]
    await sign_in(browser, console_site.url, admin.upn, admin.password)
    await browser.wait_for_url(r"/api/console/account$")
    assert "Connector.Admin" in await browser.text("#roles")
    assert "read and act" in await browser.text("#allowed")
    _assert_security_headers((await browser.last_response())["headers"])
    cookie = await session_cookie(browser)
    assert cookie is not None
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    payload = cookie_payload(cookie["value"])
    assert payload["o"] == admin.object_id and payload["r"] == ["Connector.Admin"]
    assert set(payload) == {"s", "o", "t", "n", "r", "e"}  # ids, name, roles, expiry: no token
    flow = [c for c in await browser.cookies() if c["name"] == "__Host-console-flow"]
    assert flow == []  # the sign-in's binding is cleared once used
    assert await browser.console_errors() == []


async def test_a_reader_signs_in_and_may_only_read(browser: Browser, console_site: ConsoleSite) -> None:
    reader = console_site.accounts["reader"]
    await sign_in(browser, console_site.url, reader.upn, reader.password)
    await browser.wait_for_url(r"/api/console/account$")
    assert await browser.text("#roles") == "Connector.Reader"
    assert "read only" in await browser.text("#allowed")
    assert await browser.console_errors() == []


async def test_an_account_without_an_app_role_gets_a_403_page_and_no_session(
    browser: Browser, console_site: ConsoleSite
) -> None:
    nobody = console_site.accounts["norole"]
    await sign_in(browser, console_site.url, nobody.upn, nobody.password)
    last = await browser.last_response()
    assert last["status"] == 403 and "/api/console/callback" in last["url"]
    _assert_security_headers(last["headers"])
    text = await browser.text()
    assert "No access to the console" in text and "Connector.Admin" in text and "Connector.Reader" in text
    assert await session_cookie(browser) is None
    await browser.goto(f"{console_site.url}/api/console/account")  # still signed out: back to the sign-in page
    assert await browser.count('input[name="passwd"]') == 1
    errors = await browser.console_errors()  # Chromium reports the 403 page itself; nothing else
    assert len(errors) == 1 and "status of 403" in errors[0]["text"]


async def test_a_wrong_password_shows_the_emulator_error(browser: Browser, console_site: ConsoleSite) -> None:
    admin = console_site.accounts["admin"]
    await browser.goto(f"{console_site.url}/api/console/account")
    await browser.fill('input[name="login"]', admin.upn)
    await browser.fill('input[name="passwd"]', "not-the-password")
    await browser.click("#signin")
    assert "AADSTS50126" in await browser.text("#error")
    assert await session_cookie(browser) is None


async def test_sign_out_needs_the_csrf_token_and_ends_the_session_on_the_server(
    browser: Browser, console_site: ConsoleSite
) -> None:
    admin = console_site.accounts["admin"]
    await sign_in(browser, console_site.url, admin.upn, admin.password)
    await browser.wait_for_url(r"/api/console/account$")
    cookie = await session_cookie(browser)
    assert cookie is not None
    refused = await browser.request("POST", f"{console_site.url}/api/console/signout", form={"csrf": "forged"})
    assert refused["status"] == 403 and "security token" in refused["body"]
    _assert_security_headers(refused["headers"])
    bare = await browser.request("POST", f"{console_site.url}/api/console/signout")
    assert bare["status"] == 403
    await browser.goto(f"{console_site.url}/api/console/account")  # still signed in
    assert "Connector.Admin" in await browser.text("#roles")
    await browser.click("#signout")  # the page's form carries the token
    assert "You are signed out" in await browser.text()
    assert await session_cookie(browser) is None
    await browser.add_cookies([{**cookie, "expires": -1}])  # the old cookie, replayed: the session is gone
    await browser.goto(f"{console_site.url}/api/console/account")
    assert await browser.count('input[name="passwd"]') == 1
    assert await browser.console_errors() == []


@pytest.mark.usefixtures("app_logs")
async def test_no_secret_reaches_a_page_a_log_a_table_or_the_cookie(
    browser: Browser, console_site: ConsoleSite, app_logs: pytest.LogCaptureFixture
) -> None:
    admin = console_site.accounts["admin"]
    pages: list[str] = []
    await browser.goto(f"{console_site.url}/api/console/account")
    pages.append(await browser.content())
    await browser.fill('input[name="login"]', admin.upn)
    await browser.fill('input[name="passwd"]', admin.password)
    await browser.click("#signin")
    await browser.wait_for_url(r"/api/console/account$")
    pages.append(await browser.content())
    cookie = await session_cookie(browser)
    assert cookie is not None
    key = await console_key(console_site.env)
    issued = [s for s in console_site.stack.entra.control.issued_secrets() if len(s) >= 16]
    assert any(s.startswith("1.A") for s in issued)  # the codes of this run are among them
    secrets = [*issued, admin.password, cookie["value"], base64.b64encode(key).decode(), key.hex()]
    logs = "\n".join(r.getMessage() for r in app_logs.records)
    rows = "\n".join(await stored_rows(console_site.env))
    payload = str(cookie_payload(cookie["value"]))
    for secret in secrets:
        for where, text in (("page", "\n".join(pages)), ("log", logs), ("table", rows)):
            assert secret not in text, f"a secret reached a {where}"
        if secret != cookie["value"]:
            assert secret not in payload
    assert "console.signin" in rows  # the sign-in is audited (who, roles), without any of it
