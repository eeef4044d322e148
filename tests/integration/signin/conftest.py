"""Fixtures for end-user sign-in: the connection fixtures (stack settings, a container with the operator secret,
the log and response recorder for the leak scan), a connected and synced tenant, and a scripted browser that
signs a chosen user in and stops at the product's return URL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest

from emulators.stack import CONSENT_REDIRECT, SIGNIN_REDIRECT, SIGNIN_RETURN_URL, LocalStack
from scripts.browser import Page
from shared import storage_names as names
from shared.composition import Container
from shared.domain.connection import Connection
from shared.services.connections import load
from shared.services.directory_sync import RunResult, SyncDeps, run_sync
from tests.integration.connections.conftest import _env, container, record_logs, tenant  # noqa: F401 (fixtures)
from tests.integration.connections.consent_helpers import browser, create_admin_consent, start_consent

START = "http://localhost:7071/api/signin/start"
QUEUED: list[str] = []  # every change-feed message the tests read
HANDOFF_CODES: set[str] = set()  # every hand-off code the callback returned


@dataclass
class Connected:
    stack: LocalStack
    container: Container
    tenant: dict[str, Any]
    connection: Connection

    @property
    def tid(self) -> str:
        return str(self.tenant["id"])

    async def sync(self, mode: str = "incremental") -> RunResult:
        deps = SyncDeps(
            graph=await self.container.graph_for(self.connection),
            tables=self.container.tables(),
            queues=self.container.queues(),
        )
        return await run_sync(deps, self.connection, mode=mode)

    async def events(self) -> list[dict[str, Any]]:
        got = await self.container.queues().receive_events(names.DIRECTORY_CHANGES)
        QUEUED.append(json.dumps(got))  # scanned for secrets at the end (test_zz_no_secret_leaks.py)
        return [e for e in got if e["connection_id"] == self.connection.id]

    async def user_row(self, uid: str) -> dict[str, Any] | None:
        row = await self.container.tables().get(names.DIRECTORY_USERS, self.connection.id, uid)
        return dict(row) if row else None

    async def sign_in(self, user_id: str | None, **params: str) -> Page:
        """Sign `user_id` in through start -> Entra -> callback; stops at the return URL (status 0) or a page."""
        if user_id is not None:
            self.stack.entra.control.sign_in_browser(self.tid, user_id)
        query = {"connection": self.connection.id, "return_to": SIGNIN_RETURN_URL, **params}
        walker = browser(self.stack)
        page = await walker.open(f"{START}?{urlencode(query)}", stop_at=lambda u: u.startswith(SIGNIN_RETURN_URL))
        if "code=" in page.url:
            HANDOFF_CODES.add(page.url.split("code=", 1)[1].split("&")[0])
        return page

    def new_user(self, name: str, groups: list[str] | None = None) -> dict[str, Any]:
        return self.stack.entra.control.create_user(self.tid, name, "Signin", password="Pa55word!-long", groups=groups)


@pytest.fixture
async def connected(stack: LocalStack, container: Container, tenant: dict[str, Any]) -> AsyncIterator[Connected]:  # noqa: F811
    """Tenant 1 connected through admin consent, then fully synced; the browser signed out afterwards."""
    stack.entra.control.set_redirect_uris(stack.app("multi_tenant")["client_id"], [CONSENT_REDIRECT, SIGNIN_REDIRECT])
    created = await create_admin_consent(tenant)
    page = await browser(stack).open(await start_consent(created["id"]))
    assert page.status == 200 and "Connected" in page.text, page.text
    connection, _ = await load(container, created["id"])
    world = Connected(stack, container, tenant, connection)
    assert (await world.sync("full")).outcome == "succeeded"
    await world.events()  # the full run's events are not this test's
    try:
        yield world
    finally:
        control = stack.entra.control
        control.sign_out_browser()
        control.set_user_consent(tenant["id"], "allowed")
        control.revoke_delegated(tenant["id"], stack.app("multi_tenant")["client_id"])
        QUEUED.append(json.dumps(await container.queues().receive_events(names.DIRECTORY_CHANGES)))
