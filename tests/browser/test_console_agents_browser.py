"""The console's on-prem AD agents in real headless Chromium: an Admin makes a registration code on the
connection's page, the real agent (`python -m agent ... register`, over HTTPS to the agent API on loopback, as
tests/ad does; registration needs no domain controller) registers with it, the page shows it online with its host,
a Reader sees it without any button, and the Admin removes it by typing its name: the agent's next poll is refused.
Takes the screenshots docs/console/agent-code.png and docs/console/agents.png."""

from __future__ import annotations

import asyncio
import platform
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.client import ServiceClient
from agent.errors import ProtocolError
from agent.keys import load_identity
from emulators.common.tls import make_loopback_tls
from tests.ad.ad_flow import agent_config, register
from tests.ad.app_server import AppServer, serve_agent_api
from tests.browser.conftest import ConsoleSite
from tests.browser.harness import Browser
from tests.browser.test_console_pages_browser import admin, clean, shot, signed_in
from tests.functions.test_console_agents import ad_connection

AGENT_NAME = "dc-site-a-1"


@pytest.fixture
async def agent_api() -> AsyncIterator[AppServer]:
    with tempfile.TemporaryDirectory() as folder:
        async with serve_agent_api(make_loopback_tls(folder)) as server:
            yield server


async def test_an_admin_makes_a_code_an_agent_registers_shows_online_and_is_removed(
    browser: Browser, console_site: ConsoleSite, agent_api: AppServer, tmp_path: Path
) -> None:
    site = console_site
    cid = await ad_connection("Corp AD (on-premises)")
    base = f"{site.url}/api/console/connections/{cid}"
    await admin(browser, site)
    await browser.goto(base)
    await clean(browser)
    assert "No agent registered yet." in await browser.text("#agents")
    assert "pending agent" in await browser.text(".facts") and "corp" in await browser.text(".facts")

    await browser.select("#expires_in_minutes", "1440")
    await browser.click('button:has-text("Make a registration code")')
    await clean(browser)
    code = await browser.attribute("#agent-code", "value")
    assert code and code.startswith("adreg_")
    command = f"python -m agent --config /etc/connector-agent/agent.json register --code {code}"
    assert f">{command}</textarea>" in await browser.content()  # the command box (a read-only textarea)
    assert "valid until" in await browser.text("main")
    await shot(browser, "agent-code")

    config = agent_config(tmp_path, agent_api, AGENT_NAME)
    agent_id = await register(config, code)
    await browser.goto(base)
    await clean(browser)
    row = await browser.text("table.agents tbody tr")
    assert AGENT_NAME in row and platform.node() in row and "online" in row, row  # the host the agent sent
    assert "active" in await browser.text(".facts")
    await shot(browser, "agents")

    assert code not in await browser.content()  # the code is shown nowhere again

    await browser.new_context()
    await signed_in(browser, site, "reader")
    await browser.goto(base)
    await clean(browser)
    assert AGENT_NAME in await browser.text("table.agents") and await browser.count("#agents button") == 0
    assert await browser.count("#agents form") == 0

    await browser.new_context()
    await admin(browser, site)
    await browser.goto(base)
    await browser.fill(f"#confirm-{agent_id}", AGENT_NAME)
    await browser.click(f'form[action$="/agents/{agent_id}/remove"] button')
    await clean(browser)
    assert "Agent removed" in await browser.text("main")
    assert "No agent registered yet." in await browser.text("#agents")

    identity = load_identity(config.state_dir)

    def poll() -> None:
        with ServiceClient(agent_api.url, ca_file=agent_api.ca_file) as client:
            client.poll(identity, 0)

    with pytest.raises(ProtocolError) as refused:
        await asyncio.to_thread(poll)
    assert refused.value.code == "agent_unknown"
