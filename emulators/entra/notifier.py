"""Change notifications as Graph sends them: the validation call to a notification URL, one notification per user or
group change (after a configurable delay), retried with exponential backoff when the endpoint fails or answers
late, then dropped; lifecycle events on demand (Learn: "Receive change notifications through webhooks",
"Reduce missing subscriptions and change notifications" (lifecycle notifications))."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp

from emulators.entra.errors import GraphError
from emulators.entra.state import World
from emulators.entra.subscriptions import RESOURCES, Subscription, SubscriptionStore, iso

VALIDATION_TIMEOUT_S = 10.0  # Learn: the endpoint must answer the validation request within 10 seconds
RESPONSE_TIMEOUT_S = 3.0  # Learn: answer a notification within 3 seconds, or it counts as failed and is retried
RETRY_WINDOW_S = 4 * 3600.0  # Learn: retried with exponential backoff for up to 4 hours, then dropped
TICK_S = 0.02


@dataclass
class NotifySettings:
    """The control API's knobs (configure_notifications)."""

    delay_s: float = 0.0  # Graph's own delay before a notification leaves (undocumented for users and groups)
    retry_base_s: float = 1.0  # first retry after this; doubles each time
    retry_window_s: float = RETRY_WINDOW_S
    response_timeout_s: float = RESPONSE_TIMEOUT_S
    batch: int = 100  # notifications of one subscription sent together in one POST's `value`
    drop_next: int = 0  # the next N notifications are lost without a trace (Graph does not announce it)


@dataclass
class _Pending:
    sub_id: str
    items: list[dict[str, Any]]
    url_kind: str  # "notification" | "lifecycle"
    due: float
    first: float
    attempts: int = 0
    url: str | None = None  # a lifecycle event's URL, kept: `subscriptionRemoved` outlives its subscription


@dataclass
class Notifier:
    world: World
    store: SubscriptionStore = field(default_factory=SubscriptionStore)
    settings: NotifySettings = field(default_factory=NotifySettings)
    stats: Counter[str] = field(default_factory=Counter)
    _cursors: dict[str, tuple[int, int]] = field(default_factory=dict)
    _queue: list[_Pending] = field(default_factory=list)
    _session: aiohttp.ClientSession | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    last_error: str = ""
    _qlock: threading.Lock = field(default_factory=threading.Lock)  # control calls may come from other threads

    # -- running ----------------------------------------------------------------------------------------
    async def run(self) -> None:
        self._session = aiohttp.ClientSession()
        try:
            while True:
                self._scan()
                self._send_due()
                await asyncio.sleep(TICK_S)
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._session.close()

    def _scan(self) -> None:
        """New entries in each tenant's change logs become notifications for the matching subscriptions."""
        now_clock = self.world.clock.now()
        subs = self.store.alive(now_clock)
        with self.world.lock:
            for tenant in self.world.tenants.values():
                d = tenant.directory
                seen_users, seen_groups = self._cursors.get(tenant.id, (len(d.user_log), len(d.group_log)))
                changes = [("users", uid) for _, uid in d.user_log[seen_users:]]
                changes += [("groups", gid) for _, gid in d.group_log[seen_groups:]]
                self._cursors[tenant.id] = (len(d.user_log), len(d.group_log))
                mine = [s for s in subs if s.tenant_id == tenant.id]
                for resource, oid in changes:
                    obj = (d.users if resource == "users" else d.groups).get(oid)
                    kind = "deleted" if obj is None or obj.state == "hard_deleted" else "updated"
                    for sub in mine:
                        if sub.resource == resource and kind in sub.change_types:
                            self._enqueue(sub, resource, oid, kind)

    def _enqueue(self, sub: Subscription, resource: str, oid: str, kind: str) -> None:
        if self.settings.drop_next > 0:
            self.settings.drop_next -= 1
            self.stats["dropped_by_fault"] += 1
            return
        path = f"{resource.capitalize()}/{oid}"
        item = {
            "id": str(uuid.uuid4()),
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": iso(sub.expires),
            "changeType": kind,
            "resource": path,
            "resourceData": {
                "@odata.type": f"#Microsoft.Graph.{RESOURCES[resource].capitalize()}",
                "@odata.id": path,
                "id": oid,
                "organizationId": sub.tenant_id,
            },
            "clientState": sub.client_state,
            "tenantId": sub.tenant_id,
        }
        now = time.monotonic()
        due = now + self.settings.delay_s
        with self._qlock:
            self._append(sub.id, item, due, now)
        self.stats["queued"] += 1

    def _append(self, sub_id: str, item: dict[str, Any], due: float, now: float) -> None:
        last = self._queue[-1] if self._queue else None
        if (
            last is not None
            and last.sub_id == sub_id
            and last.attempts == 0
            and last.url_kind == "notification"
            and len(last.items) < self.settings.batch
            and due - last.due <= 0.05  # sent together when due within 50 ms of each other
        ):
            last.items.append(item)
        else:
            self._queue.append(_Pending(sub_id, [item], "notification", due, now))

    def lifecycle(self, sub_id: str, event: str) -> None:
        sub = next((s for s in self.store.alive(self.world.clock.now()) if s.id == sub_id), None)
        if sub is None:
            raise ValueError(f"no subscription {sub_id!r}")
        if sub.lifecycle_url is None:
            raise ValueError(f"subscription {sub_id} has no lifecycleNotificationUrl")
        item = {
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": iso(sub.expires),
            "tenantId": sub.tenant_id,
            "clientState": sub.client_state,
            "lifecycleEvent": event,
        }
        now = time.monotonic()
        with self._qlock:
            self._queue.append(_Pending(sub.id, [item], "lifecycle", now, now, url=sub.lifecycle_url))
        if event == "subscriptionRemoved":  # Graph says so because it removed the subscription
            with self.store.lock:
                self.store.items.pop(sub.id, None)

    def _send_due(self) -> None:
        now = time.monotonic()
        with self._qlock:
            due = [p for p in self._queue if p.due <= now]
            if not due:
                return
            self._queue = [p for p in self._queue if p.due > now]
        for pending in due:
            task = asyncio.create_task(self._deliver(pending))
            self._tasks.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.stats["delivery_errors"] += 1  # a bug of the emulator: counted, and shown by notification_stats
            self.last_error = repr(task.exception())

    async def _deliver(self, pending: _Pending) -> None:
        sub = self.store.items.get(pending.sub_id)
        if sub is None and pending.url is None:  # deleted or expired meanwhile: nothing is sent
            self.stats["discarded_no_subscription"] += len(pending.items)
            return
        url = pending.url or (sub.notification_url if sub is not None else None)
        assert self._session is not None and url is not None
        pending.attempts += 1
        self.stats["attempts"] += 1
        try:
            async with self._session.post(
                url,
                json={"value": pending.items},
                timeout=aiohttp.ClientTimeout(total=self.settings.response_timeout_s),
            ) as response:
                delivered = 200 <= response.status < 300
        except (aiohttp.ClientError, TimeoutError):
            delivered = False
        if delivered:
            self.stats["delivered" if pending.url_kind == "notification" else "lifecycle_delivered"] += len(
                pending.items
            )
            return
        self.stats["failed_attempts"] += 1
        backoff = self.settings.retry_base_s * 2 ** (pending.attempts - 1)
        now = time.monotonic()
        if now + backoff - pending.first > self.settings.retry_window_s:
            self.stats["dropped"] += len(pending.items)  # as Graph does after its retry window
            return
        pending.due = now + backoff
        with self._qlock:
            self._queue.append(pending)

    # -- the validation request ---------------------------------------------------------------------------
    async def validate(self, url: str) -> None:
        """POST {url}?validationToken=...; the endpoint must answer 200, text/plain, the token, within 10 s."""
        token = f"Validation: Testing client application reachability for subscription Request-Id: {uuid.uuid4()}"
        token += f" {secrets.token_hex(4)}"
        target = url + ("&" if "?" in url else "?") + "validationToken=" + quote(token)
        session = self._session or aiohttp.ClientSession()
        self.stats["validations"] += 1
        try:
            async with session.post(
                target,
                data=b"",
                headers={"Content-Type": "text/plain; charset=utf-8"},
                timeout=aiohttp.ClientTimeout(total=VALIDATION_TIMEOUT_S),
            ) as response:
                text = await response.text()
                plain = response.headers.get("Content-Type", "").lower().startswith("text/plain")
                if response.status == 200 and plain and text == token:
                    return
        except TimeoutError as exc:
            raise GraphError(400, "InvalidRequest", "Subscription validation request timed out.") from exc
        except aiohttp.ClientError as exc:
            raise _failed() from exc
        finally:
            if session is not self._session:
                await session.close()
        raise _failed()

    # -- control --------------------------------------------------------------------------------------------
    def view(self) -> dict[str, Any]:
        pending: defaultdict[str, int] = defaultdict(int)
        with self._qlock:
            for p in self._queue:
                pending[p.url_kind] += len(p.items)
        with self.world.lock:
            behind = sum(
                len(t.directory.user_log) + len(t.directory.group_log) - sum(self._cursors.get(t.id, (0, 0)))
                for t in self.world.tenants.values()
                if t.id in self._cursors
            )
        return {
            "unscanned_changes": behind,  # changes made but not yet turned into notifications
            "stats": dict(self.stats),
            "pending": dict(pending),
            "in_flight": len(self._tasks),
            "last_error": self.last_error or None,
        }

    def clear(self) -> None:
        with self._qlock:
            self._queue.clear()
        self.settings = NotifySettings()
        self.store.allow_http = False


def _failed() -> GraphError:
    return GraphError(
        400,
        "InvalidRequest",
        "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.",
    )
