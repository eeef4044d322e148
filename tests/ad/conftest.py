"""AD test fixtures: one Samba AD DC per session (provisioning takes 5-20 s), a domain administrator's connection
for arranging the directory, and the agent's LDAP settings trusting the DC's self-signed CA."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from agent.ldap_conn import LdapSettings
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
