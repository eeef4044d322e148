"""Steps the browser tests share: sign in through the emulator's page, read the session cookie."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from tests.browser.harness import Browser

SESSION_COOKIE = "__Host-console-session"


async def sign_in(browser: Browser, site_url: str, upn: str, password: str, back: str = "/api/console/account") -> str:
    """Open a console page, get sent to the emulator's sign-in page, sign in; the URL the browser ends on."""
    await browser.goto(f"{site_url}{back}")
    assert await browser.count('input[name="passwd"]') == 1, await browser.text()
    await browser.fill('input[name="login"]', upn)
    await browser.fill('input[name="passwd"]', password)
    await browser.click("#signin")
    return await browser.wait_for_url(re.escape(site_url) + r"/api/console/(account|callback)")


async def session_cookie(browser: Browser) -> dict[str, Any] | None:
    found = [c for c in await browser.cookies() if c["name"] == SESSION_COOKIE]
    return found[0] if found else None


def cookie_payload(value: str) -> dict[str, Any]:
    payload = value.split(".", maxsplit=1)[0]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded
