"""Sync integration fixtures: a fresh emulated tenant per test module, Azurite, a connection, real adapters."""

from __future__ import annotations

import itertools
import ssl
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from emulators.azurite import Azurite
from emulators.entra.server import EntraEmulator
from shared import storage_names as names
from shared.adapters.entra_auth import CredentialTokens, make_credential
from shared.adapters.graph import GraphClient, RetryPolicy
from shared.adapters.queues import QueueSender
from shared.adapters.table_store import TableStore
from shared.domain.connection import Connection
from shared.services.directory_sync import RunResult, SyncDeps, run_sync
from tests.support.entra import app_of, start_entra

_seeds = itertools.count()


@pytest.fixture(scope="module")
def tenant_emulator() -> Iterator[EntraEmulator]:
    """Each module mutates its tenant, so each gets its own emulator (small, quick to seed)."""
    with start_entra(seed=f"sync-{next(_seeds)}", size=60, tenants=1) as emulator:
        yield emulator


async def _no_sleep(_: float) -> None:
    return None


@dataclass
class SyncWorld:
    entra: EntraEmulator
    tenant: dict[str, Any]
    tables: TableStore
    queues: QueueSender
    graph: GraphClient
    connection: Connection
    http: httpx.AsyncClient
    tokens: CredentialTokens

    @property
    def tid(self) -> str:
        return str(self.tenant["id"])

    def deps(self, **kwargs: Any) -> SyncDeps:
        return SyncDeps(graph=self.graph, tables=self.tables, queues=self.queues, **kwargs)

    async def sync(self, **kwargs: Any) -> RunResult:
        self.graph.stats.requests.clear()
        return await run_sync(self.deps(), self.connection, **kwargs)

    async def stored_users(self) -> dict[str, dict[str, Any]]:
        return {
            r["RowKey"]: r
            async for r in self.tables.query(names.DIRECTORY_USERS, "PartitionKey eq @pk", {"pk": self.connection.id})
        }

    async def stored_groups(self) -> dict[str, dict[str, Any]]:
        return {
            r["RowKey"]: r
            async for r in self.tables.query(names.DIRECTORY_GROUPS, "PartitionKey eq @pk", {"pk": self.connection.id})
        }

    async def stored_links(self) -> set[tuple[str, str]]:
        prefix = f"{self.connection.id}_"
        return {
            (r["PartitionKey"][len(prefix) :], r["RowKey"])
            async for r in self.tables.query(
                names.DIRECTORY_MEMBERS,
                "PartitionKey ge @lo and PartitionKey lt @hi",
                {"lo": prefix, "hi": f"{self.connection.id}`"},
            )
        }

    async def events(self) -> list[dict[str, Any]]:
        """This connection's change-feed events (the queue is shared by the whole test session)."""
        events = await self.queues.receive_events(names.DIRECTORY_CHANGES)
        return [e for e in events if e["connection_id"] == self.connection.id]

    async def assert_matches_ground_truth(self) -> None:
        truth = self.entra.control.ground_truth(self.tid, self.connection.sync_group_id)
        users = await self.stored_users()
        active = {uid for uid, row in users.items() if row.get("in_scope") and row["status"] != "inactive"}
        assert active == set(truth["users"])
        for uid, props in truth["users"].items():
            assert users[uid]["displayName"] == props["displayName"]
            assert users[uid]["status"] == ("disabled" if props.get("accountEnabled") is False else "active")
        groups = await self.stored_groups()
        assert {gid: row["displayName"] for gid, row in groups.items()} == truth["groups"]
        assert await self.stored_links() == {tuple(pair) for pair in truth["memberships"]}


@pytest.fixture
async def world(tenant_emulator: EntraEmulator, azurite: Azurite) -> AsyncIterator[SyncWorld]:
    tenant = tenant_emulator.tenants[0]
    app = app_of(tenant, "customer")
    credential = make_credential(
        tenant_id=tenant["id"],
        client_id=app["client_id"],
        secret=app["client_secret"],
        login_url=tenant_emulator.login_url,
        ca_path=tenant_emulator.ca_path,
        emulated=True,
    )
    tokens = CredentialTokens(credential, "https://graph.microsoft.com/.default")
    http = httpx.AsyncClient(verify=ssl.create_default_context(cafile=tenant_emulator.ca_path), timeout=30)
    graph = GraphClient(http, tokens, tenant_emulator.graph_url, retry=RetryPolicy(sleep=_no_sleep))
    connection = Connection(
        id=f"c{uuid.uuid4().hex[:12]}",
        tenant_id=tenant["id"],
        display_name="Test tenant",
        credential_mode="customer_app",
        client_id=app["client_id"],
        sync_group_id=tenant["sync_group"]["id"],
        state="active",
        user_defaults={"sso_enabled": True},
    )
    tables = TableStore.from_connection_string(azurite.connection_string)
    queues = QueueSender.from_connection_string(azurite.connection_string)
    try:
        yield SyncWorld(tenant_emulator, tenant, tables, queues, graph, connection, http, tokens)
    finally:
        tenant_emulator.control.reset_behaviour()
        await queues.receive_events(names.DIRECTORY_CHANGES)
        await tables.close()
        await queues.close()
        await http.aclose()
        await tokens.close()
