"""The console's sessions against Azurite and the Key Vault emulator: the signing key is made once under a race and
kept in Key Vault only; a session ends after 30 idle minutes and at sign-out on the server, whatever the cookie."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator

import pytest

from emulators.stack import LocalStack
from shared.composition import Container
from shared.config import load_settings
from shared.domain.console_session import ADMIN_ROLE, IDLE_S, SESSION_COOKIE
from shared.domain.secret_names import console_signing_key_ref
from shared.services import console_session
from shared.services.consent_key import KEY_PARTITION
from shared.storage_names import CONSENT_STATES

OID = "0b0e1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d"


@pytest.fixture
async def container(stack: LocalStack, stack_env: dict[str, str]) -> AsyncIterator[Container]:
    async with Container(load_settings(stack_env)) as made:
        yield made


def _value(header: str) -> str:
    assert header.startswith(f"{SESSION_COOKIE}=")
    return header.split(";", maxsplit=1)[0].split("=", 1)[1]


async def test_the_key_is_made_once_under_a_race_and_lives_in_key_vault_only(
    stack: LocalStack, stack_env: dict[str, str]
) -> None:
    from shared.client_pool import ClientPool

    async with Container(load_settings(stack_env)) as setup:  # start from no key at all
        await setup.tables().delete(CONSENT_STATES, KEY_PARTITION, console_session.KEY_ROW)
    pools = [ClientPool() for _ in range(4)]  # four workers, each with its own memory
    try:
        containers = [Container(load_settings(stack_env), pool) for pool in pools]
        keys = await asyncio.gather(*(console_session.console_key(c) for c in containers))
        assert len(set(keys)) == 1 and len(keys[0]) == 32
        record = await containers[0].tables().get(CONSENT_STATES, KEY_PARTITION, console_session.KEY_ROW)
        assert record is not None and set(record) >= {"secret_name", "version"}
        stored = await containers[0].secrets().get(console_signing_key_ref().name, str(record["version"]))
        assert base64.b64decode(stored.value.reveal()) == keys[0]
        assert base64.b64encode(keys[0]).decode() not in str(dict(record))
        for c in containers:
            await c.close()
    finally:
        for pool in pools:
            await pool.close()


async def test_a_session_ends_after_30_idle_minutes_and_each_use_moves_the_clock(container: Container) -> None:
    start = 1_900_000_000.0
    cookie = _value(await console_session.start_session(container, OID, OID, "Ada", frozenset({ADMIN_ROLE}), start))
    used = start + IDLE_S - 10
    assert await console_session.session_of(container, cookie, used) is not None  # moves seen_at on
    assert await console_session.session_of(container, cookie, used + IDLE_S - 10) is not None
    assert await console_session.session_of(container, cookie, used + 2 * IDLE_S) is None  # idle: ended
    assert await console_session.session_of(container, cookie, used + IDLE_S - 10) is None  # and stays ended


async def test_a_signed_out_session_stays_ended_and_holds_no_token(container: Container) -> None:
    from shared.services.console_signin import sign_out

    now = 1_900_000_000.0
    cookie = _value(await console_session.start_session(container, OID, OID, "Ada", frozenset({ADMIN_ROLE}), now))
    session = await console_session.session_of(container, cookie, now)
    assert session is not None
    row = await container.tables().get(CONSENT_STATES, console_session.SESSION_PARTITION, session.sid)
    assert row is not None and set(row) == {"PartitionKey", "RowKey", "oid", "tid", "expires_at", "seen_at"}
    cleared = await sign_out(container, session.sid)
    assert cleared == (f"{SESSION_COOKIE}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict",)
    assert await console_session.session_of(container, cookie, now + 1) is None


async def test_sign_in_names_a_missing_console_tenant(stack: LocalStack, stack_env: dict[str, str]) -> None:
    from shared.errors import ConfigurationError
    from shared.services.console_signin import sign_in_start

    env = {k: v for k, v in stack_env.items() if k not in ("CONSOLE_TENANT_ID", "AZURE_TENANT_ID")}
    async with Container(load_settings(env)) as container:
        with pytest.raises(ConfigurationError) as raised:
            await sign_in_start(container, "/api/console/", 1_900_000_000.0)
    assert "CONSOLE_TENANT_ID" in str(raised.value.to_dict())
