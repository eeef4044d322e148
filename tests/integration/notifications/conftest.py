"""Change-notification fixtures: a stack of its own (own Azurite, Entra, Key Vault), the app served by the
development host (HTTP, queue worker) so that the emulator's notifications reach the real endpoint, and one
customer-app connection subscribed to /users and /groups."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from emulators.common.processes import free_port
from emulators.stack import LocalStack, start_local_stack
from scripts.devhost import DevHost, serve
from shared import storage_names as names


@pytest.fixture(scope="module")
def nstack() -> Iterator[LocalStack]:
    with start_local_stack(seed="notify", size=60, tenants=2) as local:
        yield local


@dataclass
class NotifyWorld:
    stack: LocalStack
    host: DevHost
    env: dict[str, str]
    cid: str = ""
    feed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def tenant(self) -> dict[str, Any]:
        return self.stack.tenant

    def control(self, operation: str, **arguments: Any) -> Any:
        return self.stack.entra.control.call(operation, arguments)

    def scope_users(self) -> list[str]:
        truth = self.control("ground_truth", tenant=self.tenant["id"], scope_group_id=self.tenant["sync_group"]["id"])
        return sorted(truth["users"])

    async def http(self, method: str, path: str, *, body: Any = None, key: bool = True, **kw: Any) -> Any:
        headers = {"x-functions-key": self.host.function_key} if key else {}
        data = json.dumps(body).encode() if body is not None else None
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, f"{self.host.url}{path}", data=data, headers=headers, **kw) as r,
        ):
            text = await r.text()
            return r.status, text, r.headers

    async def json(self, method: str, path: str, **kw: Any) -> Any:
        status, text, _ = await self.http(method, path, **kw)
        assert status < 300, (status, text)
        return json.loads(text)

    async def status(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.json("GET", f"/api/connections/{self.cid}/status")
        return result

    async def runs(self) -> list[dict[str, Any]]:
        return list((await self.json("GET", f"/api/connections/{self.cid}/runs?top=100"))["runs"])

    async def drain_feed(self) -> list[dict[str, Any]]:
        """Read the change feed; keep this connection's events."""
        from shared.adapters.queues import QueueSender

        sender = QueueSender.from_connection_string(self.env["AzureWebJobsStorage"])
        try:
            events = await sender.receive_events(names.DIRECTORY_CHANGES)
        finally:
            await sender.close()
        self.feed.extend(e for e in events if e.get("connection_id") == self.cid)
        return self.feed

    async def sync_jobs(self) -> list[dict[str, Any]]:
        """The sync-jobs queue's waiting messages, read without taking them (peek)."""
        import base64

        from azure.storage.queue.aio import QueueClient

        async with QueueClient.from_connection_string(self.env["AzureWebJobsStorage"], names.SYNC_JOBS) as q:
            return [json.loads(base64.b64decode(m.content)) for m in await q.peek_messages(max_messages=32)]

    async def rows(self, table: str) -> list[dict[str, Any]]:
        from shared.adapters.table_store import TableStore

        store = TableStore.from_connection_string(self.env["AzureWebJobsStorage"])
        try:
            return [dict(r) async for r in store.query(table, "PartitionKey eq @pk", {"pk": self.cid})]
        finally:
            await store.close()

    async def client_state(self) -> str:
        from shared.composition import Container
        from shared.config import load_settings
        from shared.domain.secret_names import notification_state_name

        async with Container(load_settings(self.env)) as container:
            return (await container.secrets().get(notification_state_name(self.cid))).value.reveal()

    async def quiet(self, within: float = 120) -> None:
        """Until nothing is pending: no notification queued or in flight, no sync job waiting or running."""
        await until(self._is_quiet, within=within)

    async def _is_quiet(self) -> bool:
        stats = self.control("notification_stats")
        if stats["unscanned_changes"] or stats["pending"] or stats["in_flight"]:
            return False
        if await self.sync_jobs():
            return False
        listener = next(x for x in self.host.listeners if x.queue == names.SYNC_JOBS)
        return not listener.tasks and not listener.receiving


async def until(check: Callable[[], Awaitable[bool]], within: float = 60.0) -> None:
    """Wait for a condition (a safety limit, not a timing assertion)."""
    async with asyncio.timeout(within):
        while True:
            if await check():
                return
            await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
async def world(nstack: LocalStack) -> AsyncIterator[NotifyWorld]:
    tenant, app = nstack.tenant, nstack.app("customer")
    nstack.entra.control.call("configure_notifications", {"allow_http": True})  # the dev host serves plain HTTP
    nstack.entra.control.call(  # Learn: a /groups subscription needs Group.Read.All (GroupMember.Read.All is not it)
        "grant_permissions", {"tenant": tenant["id"], "client_id": app["client_id"], "permissions": ["Group.Read.All"]}
    )
    port = free_port()
    env = {**nstack.env(), "CHANGE_NOTIFICATIONS": "on", "NOTIFICATION_BASE_URL": f"http://127.0.0.1:{port}"}
    async with serve(env, port=port, timers=False) as host:
        w = NotifyWorld(nstack, host, env)
        body = {
            "display_name": "Notified",
            "tenant": tenant["id"],
            "credential_mode": "customer_app",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "sync_group_id": tenant["sync_group"]["id"],
        }
        created = await w.json("POST", "/api/connections", body=body)
        w.cid = created["id"]
        await w.json("POST", f"/api/connections/{w.cid}/verify")  # activates, and subscribes
        await w.json("POST", f"/api/connections/{w.cid}/sync?mode=full")

        async def synced() -> bool:
            return bool((await w.status())["last_success_at"])

        await until(synced, within=120)
        await w.quiet()
        await w.drain_feed()
        w.feed.clear()
        yield w
