"""The development host's non-HTTP triggers: queue functions driven from Azurite the way the Functions host's queue
listener does (batchSize/newBatchThreshold, polling backoff up to maxPollingInterval, visibilityTimeout between
retries, dequeue count, `<queue>-poison` after maxDequeueCount) and timer functions on their schedules."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest

from scripts.devhost_routes import Schedule

log = logging.getLogger("devhost")
Invoke = Callable[[str, dict[str, Any]], Awaitable[Any]]


def _span(text: str | None, default: float) -> float:
    """A host.json TimeSpan `[d.]hh:mm:ss[.fff]` in seconds."""
    if not text:
        return default
    days, rest = ("0", text)
    if "." in text.split(":")[0]:
        days, rest = text.split(".", 1)
    h, m, s = rest.split(":")
    return int(days) * 86400 + int(h) * 3600 + int(m) * 60 + float(s)


@dataclass(frozen=True)
class HostOptions:
    """What host.json says (learn.microsoft.com/azure/azure-functions/functions-host-json and
    functions-bindings-storage-queue#host-json); tests may override single values (e.g. visibility_timeout_s=0)."""

    route_prefix: str = "api"
    batch_size: int = 16
    new_batch_threshold: int = 8
    max_dequeue_count: int = 5
    visibility_timeout_s: float = 0.0
    max_polling_interval_s: float = 60.0
    min_polling_interval_s: float = 0.1
    function_timeout_s: float = 600.0
    message_encoding: str = "base64"

    @classmethod
    def from_host_json(cls, path: Path, **overrides: Any) -> HostOptions:
        data = json.loads(path.read_text())
        ext = data.get("extensions", {})
        queues = ext.get("queues", {})
        values: dict[str, Any] = {
            "route_prefix": ext.get("http", {}).get("routePrefix", "api"),
            "batch_size": int(queues.get("batchSize", 16)),
            "max_dequeue_count": int(queues.get("maxDequeueCount", 5)),
            "visibility_timeout_s": _span(queues.get("visibilityTimeout"), 0.0),
            "max_polling_interval_s": _span(queues.get("maxPollingInterval"), 60.0),
            "function_timeout_s": _span(data.get("functionTimeout"), 600.0),
            "message_encoding": queues.get("messageEncoding", "base64"),
        }
        values["new_batch_threshold"] = int(queues.get("newBatchThreshold", values["batch_size"] // 2))
        values.update(overrides)
        return cls(**values)


@dataclass
class TriggerStats:
    """What the host did, per function (tests wait on it): succeeded, failed, poisoned invocations."""

    counts: Counter[str] = field(default_factory=Counter)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, key: str) -> None:
        self.counts[key] += 1
        self.changed.set()

    async def wait(self, predicate: Callable[[Counter[str]], bool], within_s: float = 60.0) -> None:
        async with asyncio.timeout(within_s):
            while not predicate(self.counts):
                self.changed.clear()
                await self.changed.wait()


class QueueListener:
    """One queue-triggered function over one Azurite queue."""

    def __init__(
        self, name: str, arg: str, queue: str, conn: str, options: HostOptions, invoke: Invoke, stats: TriggerStats
    ) -> None:
        from azure.storage.queue.aio import QueueClient

        self.name, self.arg, self.queue, self.options = name, arg, queue, options
        self.invoke, self.stats = invoke, stats
        self.client = QueueClient.from_connection_string(conn, queue)
        self.poison = QueueClient.from_connection_string(conn, f"{queue}-poison")
        self.tasks: set[asyncio.Task[None]] = set()
        self.receiving = False  # a receive is under way (its messages are invisible but not yet running)

    async def run(self) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        delay = self.options.min_polling_interval_s
        while True:
            if len(self.tasks) > self.options.new_batch_threshold:  # fetch a new batch only below the threshold
                await asyncio.wait(self.tasks, return_when=asyncio.FIRST_COMPLETED)
                continue
            self.receiving = True
            try:
                got = [
                    m
                    async for m in self.client.receive_messages(
                        messages_per_page=self.options.batch_size,
                        max_messages=self.options.batch_size,
                        visibility_timeout=int(self.options.function_timeout_s),
                    )
                ]
            except ResourceNotFoundError:
                got = []  # the queue does not exist yet: poll again later, as the host does
            for message in got:
                task = asyncio.create_task(self._one(message))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            self.receiving = False
            delay = self.options.min_polling_interval_s if got else min(delay * 2, self.options.max_polling_interval_s)
            if not got:
                await asyncio.sleep(delay)

    def _decode(self, content: str) -> bytes:
        if self.options.message_encoding == "base64":
            return base64.b64decode(content, validate=True)
        return content.encode()

    async def _one(self, message: Any) -> None:
        if message.dequeue_count > self.options.max_dequeue_count:  # an earlier attempt crashed the worker
            await self._to_poison(message)
            return
        started = time.monotonic()
        try:
            body = self._decode(message.content)
            request = QueueMessage(  # type: ignore[no-untyped-call]
                id=message.id,
                body=body,
                dequeue_count=message.dequeue_count,
                pop_receipt=message.pop_receipt,
                expiration_time=message.expires_on,
                insertion_time=message.inserted_on,
                time_next_visible=message.next_visible_on,
            )
            async with asyncio.timeout(self.options.function_timeout_s):
                await self.invoke(self.name, {self.arg: request})
        except Exception as exc:  # noqa: BLE001 (any failure of the function, as the host: retried, then poison)
            log.warning(
                "Executed 'Functions.%s' (Failed, Id=%s, DequeueCount=%s): %s",
                self.name,
                message.id,
                message.dequeue_count,
                type(exc).__name__,
            )
            self.stats.add(f"{self.name}:failed")
            if message.dequeue_count >= self.options.max_dequeue_count:
                await self._to_poison(message)
            else:
                await self.client.update_message(message, visibility_timeout=int(self.options.visibility_timeout_s))
            return
        await self.client.delete_message(message)
        log.info(
            "Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%dms)",
            self.name,
            message.id,
            (time.monotonic() - started) * 1000,
        )
        self.stats.add(f"{self.name}:succeeded")

    async def _to_poison(self, message: Any) -> None:
        from azure.core.exceptions import ResourceExistsError

        with contextlib.suppress(ResourceExistsError):
            await self.poison.create_queue()
        await self.poison.send_message(message.content)
        await self.client.delete_message(message)
        log.warning("Message %s moved to poison queue %s-poison", message.id, self.queue)
        self.stats.add(f"{self.name}:poisoned")

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.client.close()
        await self.poison.close()


async def run_timer_once(
    name: str, arg: str, schedule: Schedule, invoke: Invoke, stats: TriggerStats, *, past_due: bool = False
) -> None:
    now = datetime.now(UTC)
    status = {"Last": now.isoformat(), "Next": schedule.next_after(now).isoformat(), "LastUpdated": now.isoformat()}
    try:
        await invoke(name, {arg: TimerRequest(past_due=past_due, schedule_status=status)})
    except Exception:
        stats.add(f"{name}:failed")
        log.exception("Executed 'Functions.%s' (Failed, Id=%s)", name, uuid.uuid4())
        raise
    stats.add(f"{name}:succeeded")


async def timer_loop(
    name: str, arg: str, schedule: Schedule, run_on_startup: bool, invoke: Invoke, stats: TriggerStats
) -> None:
    if run_on_startup:
        await _quietly(run_timer_once(name, arg, schedule, invoke, stats))
    while True:
        now = datetime.now(UTC)
        await asyncio.sleep(max(0.0, (schedule.next_after(now) - now).total_seconds()))
        await _quietly(run_timer_once(name, arg, schedule, invoke, stats))


async def _quietly(run: Awaitable[None]) -> None:
    try:
        await run
    except Exception:  # noqa: BLE001 (logged and counted by run_timer_once; the schedule goes on, as in the host)
        return
