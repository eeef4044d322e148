"""Issue 19's acceptance: Graph change notifications from the emulator through the real endpoint (development
host) and queue worker to the change feed; refusals change nothing; bursts coalesce; renewal; a lost notification
caught by the scheduled run; no secret anywhere. The module's last test deletes the connection."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from typing import Any

import pytest

from shared import storage_names as names
from tests.integration.notifications.conftest import NotifyWorld, until


def all_subs(w: NotifyWorld) -> list[dict[str, Any]]:
    return list(w.control("subscriptions", tenant=w.tenant["id"]))


def subs(w: NotifyWorld) -> dict[str, dict[str, Any]]:
    """The tenant's subscriptions by resource; never two for one resource (each would deliver every change)."""
    found = all_subs(w)
    assert sorted(s["resource"] for s in found) == sorted({s["resource"] for s in found}), found
    return {s["resource"]: s for s in found}


async def notification_runs(w: NotifyWorld) -> list[dict[str, Any]]:
    return [r for r in await w.runs() if r["trigger"] == "notification"]


async def event_for(w: NotifyWorld, object_id: str, kind: str = "user.updated") -> None:
    async def seen() -> bool:
        return any(e["object_id"] == object_id and e["type"] == kind for e in await w.drain_feed())

    await until(seen, within=60)


async def test_subscriptions_were_created_on_activation_with_both_urls_validated(world: NotifyWorld) -> None:
    found = subs(world)
    assert set(found) == {"users", "groups"}
    for sub in found.values():
        assert sub["change_types"] == ["deleted", "updated"]
        assert sub["notification_url"] == f"{world.host.url}/api/notifications/{world.cid}"
        assert sub["lifecycle_url"] == f"{world.host.url}/api/notifications/{world.cid}/lifecycle"
    status = (await world.status())["notifications"]
    assert status["enabled"] is True
    assert {s["resource"]: (s["state"], s["subscription_id"]) for s in status["subscriptions"]} == {
        r: ("active", s["id"]) for r, s in found.items()
    }
    assert all(s["expires_at"] for s in status["subscriptions"])


@pytest.mark.parametrize("suffix", ["", "/lifecycle"])
async def test_the_validation_handshake_echoes_the_token_as_plain_text(world: NotifyWorld, suffix: str) -> None:
    token = "Validation: Testing client application reachability for subscription Request-Id: 1 2+3"
    before = await world.rows(names.SYNC_STATE)
    status, text, headers = await world.http(
        "POST", f"/api/notifications/{world.cid}{suffix}", key=False, params={"validationToken": token}
    )
    assert (status, text) == (200, token)
    assert headers["Content-Type"].startswith("text/plain")
    assert await world.rows(names.SYNC_STATE) == before


async def test_a_notification_leads_to_one_incremental_run_and_the_event_on_the_feed(world: NotifyWorld) -> None:
    before = len(await notification_runs(world))
    user = world.scope_users()[0]
    world.control("update_user", tenant=world.tenant["id"], user_id=user, displayName="Notified Once")
    await event_for(world, user)
    await world.quiet()
    runs = await notification_runs(world)
    assert len(runs) - before == 1
    assert runs[0]["mode"] == "incremental" and runs[0]["outcome"] == "succeeded"
    assert (await world.status())["notifications"]["run_pending"] is False


def _item(w: NotifyWorld, sub_id: str, client_state: str, tenant_id: str) -> dict[str, Any]:
    user = w.scope_users()[1]
    return {
        "subscriptionId": sub_id,
        "changeType": "updated",
        "resource": f"Users/{user}",
        "resourceData": {"id": user},
        "clientState": client_state,
        "tenantId": tenant_id,
    }


async def test_wrong_client_state_unknown_subscription_or_another_tenant_is_refused_and_changes_nothing(
    world: NotifyWorld,
) -> None:
    await world.quiet()
    users_sub = subs(world)["users"]["id"]
    state = await world.client_state()
    other_tenant = world.stack.entra.tenants[1]["id"]
    forged = [
        _item(world, users_sub, "not-the-client-state", world.tenant["id"]),
        _item(world, str(uuid.uuid4()), state, world.tenant["id"]),
        _item(world, users_sub, state, other_tenant),
    ]
    rows, runs = await world.rows(names.SYNC_STATE), await world.runs()
    for item in forged:
        status, text, _ = await world.http("POST", f"/api/notifications/{world.cid}", key=False, body={"value": [item]})
        assert status == 403, text
        assert state not in text
    status, _, _ = await world.http(
        "POST", f"/api/notifications/{uuid.uuid4()}", key=False, body={"value": [forged[0]]}
    )
    assert status == 404  # no such connection
    assert await world.sync_jobs() == []
    assert await world.rows(names.SYNC_STATE) == rows
    assert await world.runs() == runs


async def test_a_burst_of_changes_is_coalesced_into_a_few_runs(world: NotifyWorld) -> None:
    await world.quiet()
    before = len(await notification_runs(world))
    delivered = world.control("notification_stats")["stats"].get("delivered", 0)
    world.control("configure_notifications", batch=1)  # one POST per change: the endpoint sees 200 calls
    try:
        users = world.scope_users()
        changed = [users[i % len(users)] for i in range(200)]
        for i, user in enumerate(changed):
            world.control("update_user", tenant=world.tenant["id"], user_id=user, jobTitle=f"burst {i}")
        await world.quiet(within=300)  # a safety limit only: 200 POSTs on a shared machine
    finally:
        world.control("configure_notifications", batch=100)
    stats = world.control("notification_stats")["stats"]
    assert stats.get("delivered", 0) - delivered == 200, world.control("notification_stats")
    for user in set(changed):
        await event_for(world, user)
    runs = len(await notification_runs(world)) - before
    assert 1 <= runs <= 10, runs  # 200 notifications, a handful of runs


async def test_renewal_before_expiry_extends_both_subscriptions(world: NotifyWorld) -> None:
    from shared.composition import Container
    from shared.config import load_settings
    from shared.domain.timestamps import utc_now
    from shared.services import subscriptions
    from shared.services.connections import load

    before = subs(world)
    async with Container(load_settings(world.env)) as container:
        connection, _ = await load(container, world.cid)
        not_yet = await subscriptions.ensure(container, connection)  # renewed moments ago: not due
        assert {r: row.renewed_at for r, row in not_yet.items()} == {
            r: row.renewed_at for r, row in (await subscriptions.load_rows(container.tables(), world.cid)).items()
        }
        later = utc_now() + timedelta(days=1, minutes=1)  # a day on: due (daily renewal, ~28 days before expiry)
        rows = await subscriptions.ensure(container, connection, now=later)
    after = subs(world)
    for resource in ("users", "groups"):
        assert after[resource]["id"] == before[resource]["id"]
        assert after[resource]["expires"] > before[resource]["expires"]
        assert rows[resource].state == "active" and rows[resource].renewed_at == later


async def test_a_subscription_graph_removed_is_recreated_by_the_renewal(world: NotifyWorld) -> None:
    from shared.composition import Container
    from shared.config import load_settings
    from shared.domain.timestamps import utc_now
    from shared.services import subscriptions
    from shared.services.connections import load

    gone = subs(world)["groups"]["id"]
    assert world.control("remove_subscription", subscription_id=gone) is True
    async with Container(load_settings(world.env)) as container:
        connection, _ = await load(container, world.cid)
        await subscriptions.ensure(container, connection, now=utc_now() + timedelta(days=3))  # the next daily renewal
    now = subs(world)
    assert set(now) == {"users", "groups"} and now["groups"]["id"] != gone
    status = {s["resource"]: s for s in (await world.status())["notifications"]["subscriptions"]}
    assert status["groups"]["subscription_id"] == now["groups"]["id"] and status["groups"]["state"] == "active"


async def test_reauthorization_required_renews_through_the_worker(world: NotifyWorld) -> None:
    await world.quiet()
    sub = subs(world)["users"]
    world.control("lifecycle_event", subscription_id=sub["id"], event="reauthorizationRequired")

    async def renewed() -> bool:
        return subs(world)["users"]["expires"] > sub["expires"]

    await until(renewed, within=60)
    await world.quiet()
    status = {s["resource"]: s for s in (await world.status())["notifications"]["subscriptions"]}
    assert status["users"]["state"] == "active"


async def test_subscription_removed_recreates_it_through_the_worker(world: NotifyWorld) -> None:
    await world.quiet()
    sub = subs(world)["groups"]
    world.control("lifecycle_event", subscription_id=sub["id"], event="subscriptionRemoved")
    assert "groups" not in subs(world)  # Graph removed it, and says so

    async def recreated() -> bool:
        return "groups" in subs(world) and subs(world)["groups"]["id"] != sub["id"]

    await until(recreated, within=60)
    await world.quiet()
    status = {s["resource"]: s for s in (await world.status())["notifications"]["subscriptions"]}
    assert status["groups"] == {**status["groups"], "state": "active", "subscription_id": subs(world)["groups"]["id"]}


async def test_concurrent_recreations_make_one_subscription(world: NotifyWorld) -> None:
    """The job's start, the hourly timer and an activation can all find a subscription gone at once: one is made."""
    from shared.composition import Container
    from shared.config import load_settings
    from shared.domain.timestamps import utc_now
    from shared.services import subscriptions
    from shared.services.connections import load

    await world.quiet()
    gone = subs(world)["groups"]["id"]
    assert world.control("remove_subscription", subscription_id=gone) is True
    async with Container(load_settings(world.env)) as container:
        connection, _ = await load(container, world.cid)
        later = utc_now() + timedelta(days=3)
        results = await asyncio.gather(*(subscriptions.ensure(container, connection, now=later) for _ in range(6)))
        rows = await subscriptions.load_rows(container.tables(), world.cid)
    groups = [s for s in all_subs(world) if s["resource"] == "groups"]
    assert len(groups) == 1, groups
    assert rows["groups"].subscription_id == groups[0]["id"] and rows["groups"].state == "active"
    assert all(r["groups"].subscription_id == groups[0]["id"] for r in results)


async def test_a_missed_notification_is_caught_by_the_scheduled_run(world: NotifyWorld) -> None:
    await world.quiet()
    await world.drain_feed()
    world.feed.clear()
    dropped = world.control("notification_stats")["stats"].get("dropped_by_fault", 0)
    world.control("drop_notifications", count=1)  # Graph loses it, and never says so for users and groups
    user = world.scope_users()[2]
    world.control("update_user", tenant=world.tenant["id"], user_id=user, displayName="Never Announced")

    async def lost() -> bool:
        return world.control("notification_stats")["stats"].get("dropped_by_fault", 0) == dropped + 1

    await until(lost)
    await world.quiet()
    assert not [e for e in await world.drain_feed() if e["object_id"] == user and e["type"] == "user.updated"]
    await world.host.run_timer("sync_scheduler")  # the safety net: the scheduled delta run
    await event_for(world, user)


async def test_no_secret_in_responses_logs_queue_messages_or_tables(
    world: NotifyWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    state = await world.client_state()
    user = world.scope_users()[3]
    world.control("update_user", tenant=world.tenant["id"], user_id=user, displayName="Secretless")
    jobs_seen: list[Any] = []

    async def arrived() -> bool:
        jobs_seen.extend(await world.sync_jobs())
        return any(e["object_id"] == user for e in await world.drain_feed())

    await until(arrived)
    await world.quiet()
    texts = [
        (await world.http("GET", f"/api/connections/{world.cid}/status"))[1],
        (await world.http("GET", f"/api/connections/{world.cid}"))[1],
        (await world.http("GET", f"/api/connections/{world.cid}/runs"))[1],
        caplog.text,
        repr(jobs_seen),
        repr(world.feed),
        repr(await world.rows(names.SYNC_STATE)),
        repr(await world.rows(names.SYNC_RUNS)),
    ]
    for text in texts:
        assert state not in text


async def test_zz_subscriptions_are_removed_when_the_connection_is_deleted(world: NotifyWorld) -> None:
    """Every subscription Graph has for the connection's URL goes, also one whose create answer was lost (the
    connector never learnt its id)."""
    from shared.adapters.graph_subscriptions import GraphSubscriptions
    from shared.composition import Container
    from shared.config import load_settings
    from shared.domain.notifications import CHANGE_TYPE, expiry
    from shared.domain.timestamps import utc_now
    from shared.services import subscriptions
    from shared.services.connections import load

    await world.quiet()
    assert subs(world)
    async with Container(load_settings(world.env)) as container:
        connection, _ = await load(container, world.cid)
        url, lifecycle = subscriptions.urls(container, world.cid)
        state = await subscriptions.client_state(container, world.cid)
        graph = GraphSubscriptions(await container.graph_for(connection))
        await graph.create("groups", CHANGE_TYPE, url, lifecycle, str(state), expiry(utc_now()))  # answer "lost"
    assert len(all_subs(world)) == 3
    status, text, _ = await world.http("DELETE", f"/api/connections/{world.cid}")
    assert status == 200, text
    assert all_subs(world) == []
    status, _, _ = await world.http(
        "POST", f"/api/notifications/{world.cid}", key=False, body={"value": [{"subscriptionId": "x"}]}
    )
    assert status == 404
