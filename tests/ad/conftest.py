"""AD test fixtures: one Samba AD DC per session (provisioning takes 5-20 s), a domain administrator's connection
for arranging the directory, and the agent's LDAP settings trusting the DC's self-signed CA."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.ldap_conn import LdapSettings
from emulators.common.tls import make_loopback_tls
from emulators.stack import LocalStack
from tests.ad.ad_flow import PASSWORD, agent_config, create_ad_connection, new_code, register, unique_domain
from tests.ad.app_server import AppServer, serve_agent_api
from tests.ad.directory_admin import DomainAdmin
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
    """An AD connection (source ad) of a domain of its own, no agent yet."""
    return await create_ad_connection(unique_domain(), str(uuid.uuid4()), "AD agent connection")


@pytest.fixture
async def ad_setup(
    stack: LocalStack, stack_env: dict[str, str], samba_dc: SambaDC, domain_admin: DomainAdmin, test_ou: str,
    app_server: AppServer, tmp_path: Path,
) -> AsyncIterator[dict[str, Any]]:  # fmt: skip
    a = domain_admin
    tag = test_ou[5:13]
    group = a.add_group(test_ou, f"sync-{tag}")
    nested = a.add_group(test_ou, f"nested-{tag}")
    a.add_member(group, nested)
    users = {n: a.add_user(test_ou, f"{n}{tag[:6]}", n.title(), "Tester", PASSWORD) for n in ("ann", "bob", "cy")}
    a.add_member(group, users["ann"])
    a.add_member(nested, users["bob"])
    outside = a.add_user(test_ou, f"out{tag[:6]}", "Out", "Side", PASSWORD)
    connection = await create_ad_connection(unique_domain(samba_dc.domain), a.guid(group))
    config = agent_config(
        tmp_path, app_server, "dc-agent",
        host=samba_dc.host, base_dn=samba_dc.base_dn, bind_user=samba_dc.admin_user, ca_file=samba_dc.ca_file,
        server_name=samba_dc.server_name,
    )  # fmt: skip
    await register(config, await new_code(connection))
    await asyncio.to_thread(Path(config.password_file).write_text, samba_dc.admin_password)
    os.chmod(config.password_file, 0o600)
    yield {"connection": connection, "group": group, "nested": nested, "users": users, "outside": outside,
           "config": config, "ou": test_ou}  # fmt: skip
