"""AD test fixtures: one Samba AD DC per session (provisioning takes 5-20 s), a domain administrator's connection
for arranging the directory, and the agent's LDAP settings trusting the DC's self-signed CA."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent import __main__ as agent_cli
from agent.config import AgentConfig
from agent.ldap_conn import LdapSettings
from emulators.common.tls import make_loopback_tls
from emulators.stack import LocalStack
from scripts import host
from tests.ad.app_server import AppServer, serve_agent_api
from tests.ad.directory_admin import DomainAdmin
from tests.functions.invoke import create_customer_connection
from tests.support.samba import SambaDC, start_samba_dc


@pytest.fixture(scope="session")
def samba_dc() -> Iterator[SambaDC]:
    """A running Samba AD DC; the run fails (never skips) when it cannot start."""
    with start_samba_dc() as dc:
        yield dc


@pytest.fixture(scope="session")
def domain_admin(samba_dc: SambaDC) -> Iterator[DomainAdmin]:
    admin = DomainAdmin(samba_dc)
    yield admin
    admin.close()


@pytest.fixture
def test_ou(domain_admin: DomainAdmin) -> str:
    """An OU of its own per test, so tests on the shared domain never see each other's objects."""
    return domain_admin.ou(f"t-{uuid.uuid4().hex[:10]}")


def agent_settings(dc: SambaDC, **overrides: object) -> LdapSettings:
    values: dict[str, object] = {
        "host": dc.host,
        "base_dn": dc.base_dn,
        "bind_user": dc.admin_user,
        "password": dc.admin_password,
        "ca_file": dc.ca_file,
        "server_name": dc.server_name,
    }
    values.update(overrides)
    return LdapSettings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
async def app_server() -> AsyncIterator[AppServer]:
    with tempfile.TemporaryDirectory() as folder:
        async with serve_agent_api(make_loopback_tls(folder)) as server:
            yield server


@pytest.fixture
async def connection(stack: LocalStack, stack_env: dict[str, str]) -> str:
    return await create_customer_connection(stack, "AD agent connection")


def agent_config(tmp_path: Path, server: AppServer, name: str = "agent-1", **ldap: Any) -> AgentConfig:
    return AgentConfig(
        service_url=server.url,
        state_dir=tmp_path / name,
        password_file=str(tmp_path / name / "ad-password"),
        ldap=ldap,
        service_ca_file=server.ca_file,
        name=name,
    )


async def new_code(connection: str) -> str:
    status, body, _ = await host.http(
        "agent_codes_create", "POST", f"/api/connections/{connection}/agents/codes", route={"id": connection}
    )
    assert status == 201, body
    return str(body["code"])


async def register(config: AgentConfig, code: str) -> str:
    return await asyncio.to_thread(agent_cli.register, config, code)
