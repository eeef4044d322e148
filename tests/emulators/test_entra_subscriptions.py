"""The emulator's /subscriptions and change notifications, as Learn documents them: HTTPS only, the validation call
(200 text/plain echo within 10 s), expiry bounds (41,760 min), permissions, the 100-per-app-and-tenant quota,
notifications per change with clientState, retries with backoff then drop, slow answers, lifecycle events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiohttp import web

from emulators.entra.server import EntraEmulator


@dataclass
class Receiver:
    """A notification endpoint on loopback: answers the handshake (or not), records or fails notifications."""

    url: str = ""
    echo: bool = True
    fail_first: int = 0  # answer 500 to this many notification POSTs
    slow_s: float = 0.0
    received: list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        token = request.query.get("validationToken")
        if token is not None:
            return web.Response(text=token if self.echo else "nope", content_type="text/plain")
        self.calls += 1
        if self.slow_s:
            await asyncio.sleep(self.slow_s)
        if self.calls <= self.fail_first:
            return web.Response(status=500)
        self.received.extend((await request.json())["value"])
        return web.Response(status=202)


@pytest.fixture
async def receiver(entra: EntraEmulator) -> AsyncIterator[Receiver]:
    rec = Receiver()
    _clock[:] = [entra.control.call("now", {})]
    app = web.Application()
    app.router.add_post("/{tail:.*}", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    entra.control.call("configure_notifications", {"allow_http": True, "retry_base_s": 0.05})
    try:
        yield rec
    finally:
        for sub in entra.control.call("subscriptions", {}):
            entra.control.call("remove_subscription", {"subscription_id": sub["id"]})
        await runner.cleanup()


_clock: list[float] = []  # the emulator's time (other tests may have advanced its clock)


def when(minutes: float) -> str:
    moment = datetime.fromtimestamp(_clock[0], UTC) if _clock else datetime.now(UTC)
    return (moment + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def body(url: str, resource: str = "/users", **extra: Any) -> dict[str, Any]:
    return {
        "changeType": "updated,deleted",
        "notificationUrl": url,
        "lifecycleNotificationUrl": url + "/lifecycle",
        "resource": resource,
        "expirationDateTime": when(60),
        "clientState": "the-client-state",
        **extra,
    }


async def graph(http: httpx.AsyncClient, token: str, method: str, path: str, payload: Any = None) -> httpx.Response:
    return await http.request(method, f"/v1.0/{path}", json=payload, headers={"Authorization": f"Bearer {token}"})


async def until(check: Any, within: float = 20.0) -> None:
    async with asyncio.timeout(within):
        while True:
            if check():
                return
            await asyncio.sleep(0.02)


async def test_https_only_by_default_and_the_validation_call_must_echo(
    entra: EntraEmulator, receiver: Receiver, http: httpx.AsyncClient, graph_token: str
) -> None:
    entra.control.call("configure_notifications", {"allow_http": False})
    refused = await graph(http, graph_token, "POST", "subscriptions", body(receiver.url))
    assert refused.status_code == 400 and "HTTPS" in refused.json()["error"]["message"]
    entra.control.call("configure_notifications", {"allow_http": True})
    receiver.echo = False
    failed = await graph(http, graph_token, "POST", "subscriptions", body(receiver.url))
    assert failed.status_code == 400 and "validation request failed" in failed.json()["error"]["message"]
    receiver.echo = True
    created = await graph(http, graph_token, "POST", "subscriptions", body(receiver.url))
    assert created.status_code == 201, created.text
    assert created.json()["resource"] == "users" and created.json()["changeType"] == "deleted,updated"


async def test_expiry_bounds_get_list_renew_and_delete(
    receiver: Receiver, http: httpx.AsyncClient, graph_token: str
) -> None:
    for minutes in (-1, 41_760 + 5):
        r = await graph(
            http, graph_token, "POST", "subscriptions", body(receiver.url, expirationDateTime=when(minutes))
        )
        assert r.status_code == 400, r.text
    sid = (await graph(http, graph_token, "POST", "subscriptions", body(receiver.url))).json()["id"]
    assert (await graph(http, graph_token, "GET", f"subscriptions/{sid}")).json()["id"] == sid
    assert sid in [s["id"] for s in (await graph(http, graph_token, "GET", "subscriptions")).json()["value"]]
    too_far = await graph(http, graph_token, "PATCH", f"subscriptions/{sid}", {"expirationDateTime": when(41_770)})
    assert too_far.status_code == 400
    renewed = await graph(http, graph_token, "PATCH", f"subscriptions/{sid}", {"expirationDateTime": when(41_700)})
    assert renewed.status_code == 200 and renewed.json()["expirationDateTime"].startswith(when(41_700)[:15])
    assert (await graph(http, graph_token, "DELETE", f"subscriptions/{sid}")).status_code == 204
    assert (await graph(http, graph_token, "GET", f"subscriptions/{sid}")).status_code == 404
    assert (
        await graph(http, graph_token, "PATCH", f"subscriptions/{sid}", {"expirationDateTime": when(60)})
    ).status_code == 404


async def test_groups_need_group_read_all_and_the_quota_is_100_per_app_and_tenant(
    entra: EntraEmulator, receiver: Receiver, http: httpx.AsyncClient, graph_token: str
) -> None:
    denied = await graph(http, graph_token, "POST", "subscriptions", body(receiver.url, resource="/groups"))
    assert denied.status_code == 403  # GroupMember.Read.All only
    for _ in range(100):
        assert (await graph(http, graph_token, "POST", "subscriptions", body(receiver.url))).status_code == 201
    over = await graph(http, graph_token, "POST", "subscriptions", body(receiver.url))
    assert over.status_code == 403 and "limit of 100" in over.json()["error"]["message"]


async def test_a_change_is_notified_with_client_state_retried_on_failure(
    entra: EntraEmulator, tenant: dict[str, Any], receiver: Receiver, http: httpx.AsyncClient, graph_token: str
) -> None:
    sid = (await graph(http, graph_token, "POST", "subscriptions", body(receiver.url))).json()["id"]
    receiver.fail_first = 2
    user = next(
        iter(
            entra.control.call("ground_truth", {"tenant": tenant["id"], "scope_group_id": tenant["sync_group"]["id"]})[
                "users"
            ]
        )
    )
    entra.control.call("update_user", {"tenant": tenant["id"], "user_id": user, "displayName": "Changed"})
    await until(lambda: receiver.received)
    (item,) = receiver.received
    assert item["subscriptionId"] == sid and item["clientState"] == "the-client-state"
    assert (item["changeType"], item["resource"], item["tenantId"]) == ("updated", f"Users/{user}", tenant["id"])
    assert item["resourceData"]["id"] == user
    assert receiver.calls == 3  # two failures, then delivered


async def test_a_notification_is_dropped_after_the_retry_window_and_slow_answers_count_as_failures(
    entra: EntraEmulator, tenant: dict[str, Any], receiver: Receiver, http: httpx.AsyncClient, graph_token: str
) -> None:
    await graph(http, graph_token, "POST", "subscriptions", body(receiver.url))
    entra.control.call("configure_notifications", {"retry_window_s": 0.5, "response_timeout_s": 0.2})
    receiver.slow_s = 0.5
    before = entra.control.call("notification_stats", {})["stats"].get("dropped", 0)
    user = next(
        iter(
            entra.control.call("ground_truth", {"tenant": tenant["id"], "scope_group_id": tenant["sync_group"]["id"]})[
                "users"
            ]
        )
    )
    entra.control.call("update_user", {"tenant": tenant["id"], "user_id": user, "jobTitle": "slow"})
    await until(lambda: entra.control.call("notification_stats", {})["stats"].get("dropped", 0) == before + 1)
    assert receiver.calls >= 2  # retried, then dropped


async def test_lifecycle_events_go_to_the_lifecycle_url_and_an_expired_subscription_gets_nothing(
    entra: EntraEmulator, tenant: dict[str, Any], receiver: Receiver, http: httpx.AsyncClient, graph_token: str
) -> None:
    sid = (await graph(http, graph_token, "POST", "subscriptions", body(receiver.url))).json()["id"]
    entra.control.call("lifecycle_event", {"subscription_id": sid, "event": "reauthorizationRequired"})
    await until(lambda: receiver.received)
    assert receiver.received[0]["lifecycleEvent"] == "reauthorizationRequired"
    assert receiver.received[0]["clientState"] == "the-client-state"
    receiver.received.clear()
    entra.control.call("expire_subscription", {"subscription_id": sid})
    user = next(
        iter(
            entra.control.call("ground_truth", {"tenant": tenant["id"], "scope_group_id": tenant["sync_group"]["id"]})[
                "users"
            ]
        )
    )
    entra.control.call("update_user", {"tenant": tenant["id"], "user_id": user, "jobTitle": "unheard"})
    await until(lambda: entra.control.call("notification_stats", {})["unscanned_changes"] == 0)
    assert (await graph(http, graph_token, "GET", f"subscriptions/{sid}")).status_code == 404
    assert receiver.received == [] and json.dumps(entra.control.call("subscriptions", {})) == "[]"
