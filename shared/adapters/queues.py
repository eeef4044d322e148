"""QueueSender: the one adapter over Storage Queues (async); base64 messages, as the Functions host reads them."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterable
from typing import Any

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import BinaryBase64EncodePolicy
from azure.storage.queue.aio import QueueServiceClient

from shared.adapters.http_transport import storage_transport
from shared.errors import StorageUnavailable

MAX_MESSAGE_BYTES = 48 * 1024  # 64 KiB limit after base64
EVENTS_PER_MESSAGE = 100


class QueueSender:
    def __init__(self, service: QueueServiceClient, *, concurrency: int = 16) -> None:
        self._service = service
        self._clients: dict[str, Any] = {}
        self._creating = asyncio.Lock()
        self._limit = asyncio.Semaphore(concurrency)
        self.sent = 0

    @classmethod
    def from_connection_string(cls, conn: str, *, trust_env: bool = False, **kwargs: Any) -> QueueSender:
        """`trust_env`: let the transport read the environment (set when a proxy is configured there)."""
        return cls(QueueServiceClient.from_connection_string(conn, transport=storage_transport(trust_env)), **kwargs)

    @classmethod
    def from_endpoint(cls, endpoint: str, credential: Any, *, trust_env: bool = False, **kwargs: Any) -> QueueSender:
        transport = storage_transport(trust_env)
        return cls(QueueServiceClient(account_url=endpoint, credential=credential, transport=transport), **kwargs)

    async def close(self) -> None:
        await self._service.close()

    def _queue(self, name: str) -> Any:
        client = self._clients.get(name)
        if client is None:
            client = self._service.get_queue_client(name, message_encode_policy=BinaryBase64EncodePolicy())
            self._clients[name] = client
        return client

    async def _create(self, name: str) -> None:
        """Make a queue a send found missing (404 QueueNotFound): no create request once the queue exists."""
        async with self._creating:
            try:
                await self._queue(name).create_queue()
            except ResourceExistsError:
                pass
            except AzureError as exc:
                raise StorageUnavailable(f"could not create queue {name}: {type(exc).__name__}") from exc

    async def send(self, queue: str, message: dict[str, Any], *, delay_s: int = 0) -> None:
        await self.send_many(queue, [message], delay_s=delay_s)

    async def send_many(self, queue: str, messages: Iterable[dict[str, Any]], *, delay_s: int = 0) -> int:
        client = self._queue(queue)
        payloads = [json.dumps(m, separators=(",", ":"), sort_keys=True).encode() for m in messages]
        for payload in payloads:
            if len(payload) > MAX_MESSAGE_BYTES:
                raise ValueError(f"a message for {queue} is {len(payload)} bytes; the limit is {MAX_MESSAGE_BYTES}")

        async def one(payload: bytes) -> None:
            async with self._limit:
                try:
                    try:
                        await client.send_message(payload, visibility_timeout=delay_s or None)
                    except ResourceNotFoundError:
                        await self._create(queue)
                        await client.send_message(payload, visibility_timeout=delay_s or None)
                except AzureError as exc:
                    raise StorageUnavailable(f"could not send to queue {queue}: {type(exc).__name__}") from exc

        await asyncio.gather(*(one(p) for p in payloads))
        self.sent += len(payloads)
        return len(payloads)

    async def publish_events(self, queue: str, events: list[dict[str, Any]]) -> int:
        """The change feed: events go out in envelopes {"events": [...]} of up to EVENTS_PER_MESSAGE (a queue
        request per event would cost more than the sync's table writes); each event keeps its own id."""
        envelopes: list[dict[str, Any]] = []
        batch: list[dict[str, Any]] = []
        size = 0
        for event in events:
            length = len(json.dumps(event, separators=(",", ":")))
            if batch and (len(batch) >= EVENTS_PER_MESSAGE or size + length > MAX_MESSAGE_BYTES - 1024):
                envelopes.append({"events": batch})
                batch, size = [], 0
            batch.append(event)
            size += length + 1
        if batch:
            envelopes.append({"events": batch})
        await self.send_many(queue, envelopes)
        return len(envelopes)

    async def receive_events(self, queue: str, *, max_messages: int = 10_000) -> list[dict[str, Any]]:
        """Read and delete change-feed messages, flattened to their events (tests, the demo, the CLI)."""
        return [
            event
            for envelope in await self.receive_all(queue, max_messages=max_messages)
            for event in envelope.get("events", [])
        ]

    async def receive_all(self, queue: str, *, max_messages: int = 10_000) -> list[dict[str, Any]]:
        """Read and delete messages (tests, the demo and the CLI's change-feed viewer)."""
        client = self._service.get_queue_client(queue)
        out: list[dict[str, Any]] = []
        try:
            async for message in client.receive_messages(messages_per_page=32, max_messages=max_messages):
                out.append(json.loads(base64.b64decode(message.content)))
                await client.delete_message(message)
        except AzureError as exc:
            if getattr(exc, "status_code", None) == 404:
                return out
            raise StorageUnavailable(f"could not read queue {queue}: {type(exc).__name__}") from exc
        return out
