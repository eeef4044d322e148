"""Fixtures for the Entra emulator's own tests: one emulator for the session, behaviour reset after each test."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from emulators.entra.server import EntraEmulator
from tests.support.entra import app_of, graph_client, secret_credential, start_entra, token_for


@pytest.fixture(scope="session")
def entra() -> Iterator[EntraEmulator]:
    with start_entra(seed="demo", size=60, tenants=2) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _reset_entra_behaviour(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "entra" in request.fixturenames:
        request.getfixturevalue("entra").control.reset_behaviour()


@pytest.fixture(scope="session")
def tenant(entra: EntraEmulator) -> dict[str, Any]:
    return entra.tenants[0]


@pytest.fixture(scope="session")
def customer_app(tenant: dict[str, Any]) -> dict[str, Any]:
    return app_of(tenant, "customer")


@pytest.fixture
async def http(entra: EntraEmulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        verify=ssl.create_default_context(cafile=entra.ca_path), base_url=entra.login_url
    ) as client:
        yield client


@pytest.fixture
async def graph_token(tenant: dict[str, Any], customer_app: dict[str, Any], http: httpx.AsyncClient) -> str:
    """A Graph token for the customer app (User.Read.All, GroupMember.Read.All, User-PasswordProfile.ReadWrite.All)."""
    return await token_for(http, tenant["id"], customer_app["client_id"], customer_app["client_secret"])


@pytest.fixture
async def graph(entra: EntraEmulator, tenant: dict[str, Any], customer_app: dict[str, Any]) -> AsyncIterator[Any]:
    """A GraphServiceClient for the customer app (client secret, async credential)."""
    credential = secret_credential(entra, tenant["id"], customer_app["client_id"], customer_app["client_secret"])
    async with credential:
        yield graph_client(entra, credential)
