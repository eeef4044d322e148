"""The console's sign-in refuses what an attacker would try, in real Chromium: a forged, edited, re-signed or
expired session cookie (signed out), a callback with a wrong state, a replayed answer, and a code whose ID token
carries another nonce (a code injected into this sign-in)."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from shared.domain.console_session import ADMIN_ROLE, Session, seal_session
from tests.browser.conftest import ConsoleSite
from tests.browser.harness import Browser
from tests.browser.signin_steps import SESSION_COOKIE, console_key, session_cookie, sign_in


async def _signed_out(browser: Browser, site: ConsoleSite) -> bool:
    await browser.goto(f"{site.url}/api/console/account")
    return await browser.count('input[name="passwd"]') == 1


async def test_forged_edited_re_signed_and_expired_cookies_are_signed_out(
    browser: Browser, console_site: ConsoleSite
) -> None:
    reader = console_site.accounts["reader"]
    await sign_in(browser, console_site.url, reader.upn, reader.password)
    await browser.wait_for_url(r"/api/console/account$")
    cookie = await session_cookie(browser)
    assert cookie is not None
    payload, mac = cookie["value"].split(".")
    raw = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    promoted = base64.urlsafe_b64encode(json.dumps({**raw, "r": [ADMIN_ROLE]}).encode()).decode().rstrip("=")
    key = await console_key(console_site.env)
    now = int(time.time())
    roles = frozenset({ADMIN_ROLE})
    forgeries = {
        "edited (Reader made Admin, old MAC)": f"{promoted}.{mac}",
        "re-signed with another key": seal_session(
            Session(raw["s"], raw["o"], raw["t"], raw["n"], roles, raw["e"]), b"x" * 32
        ),
        "expired (8 hours passed)": seal_session(Session(raw["s"], raw["o"], raw["t"], raw["n"], roles, now - 1), key),
        "a session id the app never issued": seal_session(
            Session("A" * 32, raw["o"], raw["t"], raw["n"], roles, now + 600), key
        ),
        "junk": "not-a-cookie",
    }
    for what, value in forgeries.items():
        await browser.add_cookies([{**cookie, "value": value, "expires": -1}])
        assert await _signed_out(browser, console_site), what
    await browser.add_cookies([{**cookie, "expires": -1}])  # the real one still works
    await browser.goto(f"{console_site.url}/api/console/account")
    assert await browser.text("#roles") == "Connector.Reader"


def _with(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {**dict(parse_qsl(parts.query)), **changes}
    return urlunsplit(parts._replace(query=urlencode(query)))


async def test_a_wrong_state_and_a_replayed_answer_are_refused(browser: Browser, console_site: ConsoleSite) -> None:
    admin = console_site.accounts["admin"]
    await sign_in(browser, console_site.url, admin.upn, admin.password)
    await browser.wait_for_url(r"/api/console/account$")
    navigations = await browser.navigations()
    callback = next(n for n in navigations if "/api/console/callback?" in n["url"])
    flow_cookie = next(n for n in navigations if "__Host-console-flow=" in n["headers"].get("set-cookie", ""))
    binding = flow_cookie["headers"]["set-cookie"].split(";")[0].split("=", 1)[1]
    template = await session_cookie(browser)
    assert template is not None
    await browser.clear_cookies()
    state = dict(parse_qsl(urlsplit(callback["url"]).query))["state"]
    tampered = state[:-2] + ("AA" if not state.endswith("AA") else "BB")
    flow = {**template, "name": "__Host-console-flow", "value": binding, "sameSite": "Lax", "expires": -1}
    await browser.add_cookies([flow])
    for bad in (_with(callback["url"], state=tampered), _with(callback["url"], state="junk")):
        await browser.goto(bad)
        assert (await browser.last_response())["status"] == 400
        assert "not valid or has expired" in await browser.text()
    await browser.goto(callback["url"])  # the very answer that signed in, again, with its browser binding
    assert (await browser.last_response())["status"] == 400
    assert "already used" in await browser.text()
    assert await session_cookie(browser) is None
    await browser.clear_cookies()  # and from a browser that did not start the sign-in
    await browser.goto(callback["url"])
    assert "started in another browser" in await browser.text()
    errors = await browser.console_errors()  # only the refused pages' own 400s
    assert errors and all("status of 400" in e["text"] for e in errors)


async def test_a_code_carrying_another_nonce_is_refused(browser: Browser, console_site: ConsoleSite) -> None:
    """An attacker's code for this sign-in's PKCE challenge but with its own nonce (injected into the callback)."""
    admin = console_site.accounts["admin"]
    await browser.goto(f"{console_site.url}/api/console/signin")
    authorize = await browser.url()
    assert "nonce=" in authorize
    await browser.goto(_with(authorize, nonce="the-attackers-own-nonce"))
    await browser.fill('input[name="login"]', admin.upn)
    await browser.fill('input[name="passwd"]', admin.password)
    await browser.click("#signin")
    await browser.wait_for_url(r"/api/console/callback\?")
    last = await browser.last_response()
    assert last["status"] == 400, await browser.text()
    assert "nonce" in await browser.text()
    assert SESSION_COOKIE not in {c["name"] for c in await browser.cookies()}
