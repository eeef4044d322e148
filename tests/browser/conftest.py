"""Browser-test fixtures: the app served over http://127.0.0.1:<port> by the development host (scripts/devhost.py)
on the shared local stack, the console's sign-in seeded (scripts/console.py), and one headless Chromium for the
package with a fresh context per test. Everything is undone when the package's tests end (other tests share the
stack and its queues)."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from emulators.stack import CONSENT_REDIRECT, SIGNIN_REDIRECT, LocalStack
from scripts.console import ConsoleAccount, seed_console
from tests.browser.harness import Browser, spki_pin


@dataclass
class ConsoleSite:
    url: str  # http://127.0.0.1:<port>
    env: dict[str, str]
    accounts: dict[str, ConsoleAccount]
    host: Any  # scripts.devhost.DevHost
    stack: LocalStack


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="package")
async def console_site(stack: LocalStack) -> AsyncIterator[ConsoleSite]:
    from scripts.devhost import serve
    from scripts.local import seed_vault

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = stack.env(public_base_url=url)
    await seed_vault(env, stack.app("multi_tenant")["client_secret"])
    accounts = seed_console(stack, url)
    try:
        async with serve(env, port=port, timers=False) as host:
            yield ConsoleSite(url, env, accounts, host, stack)
    finally:
        stack.entra.control.use_sign_in_page(False)
        stack.entra.control.set_redirect_uris(
            stack.app("multi_tenant")["client_id"], [CONSENT_REDIRECT, SIGNIN_REDIRECT]
        )


@pytest.fixture(scope="package")
def emulator_pins(stack: LocalStack) -> list[str]:
    return [spki_pin(stack.entra.login_url, stack.entra.ca_path)]


@pytest.fixture(scope="package")
async def chromium(emulator_pins: list[str]) -> AsyncIterator[Browser]:
    browser = await Browser.launch(emulator_pins)
    try:
        yield browser
    finally:
        await browser.close()


@pytest.fixture
async def browser(chromium: Browser) -> Browser:
    """A fresh browser context (no cookies, no history) for the test."""
    await chromium.new_context()
    return chromium


@pytest.fixture
def app_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every log record of the test (the app runs in this process), to prove no secret is logged."""
    caplog.set_level(logging.DEBUG)
    yield caplog
