"""Session fixtures shared by every test layer: Azurite and the emulators, started once and always stopped."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest

from emulators.azurite import Azurite, start_azurite
from emulators.stack import LocalStack, start_local_stack


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """A running Azurite; the run fails (never skips) when it cannot start."""
    with start_azurite() as instance:
        yield instance


@pytest.fixture(scope="session")
def storage_connection_string(azurite: Azurite) -> str:
    return azurite.connection_string


@pytest.fixture(scope="session")
def stack(azurite: Azurite) -> Iterator[LocalStack]:
    """Azurite + Entra/Graph emulator (2 tenants, demo seed) + Key Vault trusting it, for the whole session."""
    with start_local_stack(seed="stack", size=60, tenants=2, azurite=azurite) as local:
        yield local


@pytest.fixture
def stack_env(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The process environment a function invocation sees, pointing at the local stack."""
    env = stack.env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture(scope="session", autouse=True)
async def pooled_clients_closed() -> AsyncIterator[None]:
    """Functions keep their clients in the process pool of the running loop (shared/client_pool.py), as in the
    Functions host; the session's loop closes them at the end."""
    yield
    from shared.client_pool import close_pool

    await close_pool()


@pytest.fixture(autouse=True)
async def connections_made_by_a_test_removed(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Tests on the shared stack leave its tenants as they found them: a tenant takes one connection (a second is
    refused), so every connection a test stored is deleted (with its data) after it, whatever the test did."""
    if "stack" not in request.fixturenames:
        yield
        return
    from shared.composition import Container
    from shared.config import load_settings
    from shared.domain.secret_names import GUID_PATTERN
    from shared.services import tenant_index
    from shared.services.connections import PARTITION, delete_connection
    from shared.storage_names import CONNECTIONS

    local: LocalStack = request.getfixturevalue("stack")

    async def ids(container: Container) -> set[str]:
        rows = container.tables().query(CONNECTIONS, "PartitionKey eq @pk", {"pk": PARTITION}, select=["RowKey"])
        return {str(row["RowKey"]) async for row in rows}

    async with Container(load_settings(local.env())) as container:
        before = await ids(container)
    yield
    async with Container(load_settings(local.env())) as container:
        tables = container.tables()
        for cid in sorted(await ids(container) - before):
            if GUID_PATTERN.match(cid):
                with contextlib.suppress(Exception):  # a row the test made unreadable is removed below
                    await delete_connection(container, cid, purge=True)
            row = await tables.get(CONNECTIONS, PARTITION, cid)  # a row a test stored itself, or left unreadable
            if row is not None:
                await tables.delete(CONNECTIONS, PARTITION, cid)
                await tenant_index.release(tables, str(row.get("tenant_id", "")), cid)
