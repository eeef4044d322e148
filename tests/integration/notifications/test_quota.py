"""Graph's subscription quota (100 per app per tenant, users and groups each) and a missing permission are reported
on the connection's status with their remedy, and activation goes on regardless."""

from __future__ import annotations

import ssl
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from tests.integration.notifications.conftest import NotifyWorld, until
from tests.support.entra import token_for


async def test_quota_and_permission_refusals_are_shown_with_their_remedy(world: NotifyWorld) -> None:
    tenant = world.stack.entra.tenants[1]
    app = world.stack.app("customer", tenant)
    verify = ssl.create_default_context(cafile=world.stack.entra.ca_path)
    async with httpx.AsyncClient(verify=verify, base_url=world.stack.entra.login_url) as http:
        token = await token_for(http, tenant["id"], app["client_id"], app["client_secret"])
        hook = f"{world.host.url}/api/notifications/{uuid.uuid4()}"  # the endpoint answers any handshake
        for _ in range(100):  # another use of the same app fills the quota
            body = {
                "changeType": "updated",
                "notificationUrl": hook,
                "resource": "/users",
                "expirationDateTime": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
                "clientState": "someone-else",
            }
            r = await http.post("/v1.0/subscriptions", json=body, headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 201, r.text
    cid = ""
    try:
        created = await world.json(
            "POST",
            "/api/connections",
            body={
                "display_name": "Quota",
                "tenant": tenant["id"],
                "credential_mode": "customer_app",
                "client_id": app["client_id"],
                "client_secret": app["client_secret"],
                "sync_group_id": tenant["sync_group"]["id"],
            },
        )
        cid = created["id"]
        report = await world.json("POST", f"/api/connections/{cid}/verify")
        assert report["status"] != "fail", report
        status = await world.json("GET", f"/api/connections/{cid}/status")
        found = {s["resource"]: s for s in status["notifications"]["subscriptions"]}
        assert found["users"]["state"] == "quota_exceeded"
        assert "100 subscriptions per app per tenant" in found["users"]["remedy"]
        assert found["groups"]["state"] == "forbidden" and "Group.Read.All" in found["groups"]["remedy"]
        assert (await world.json("GET", f"/api/connections/{cid}"))["state"] == "active"
    finally:
        for sub in world.control("subscriptions", tenant=tenant["id"]):
            world.control("remove_subscription", subscription_id=sub["id"])
        if cid:
            await world.http("DELETE", f"/api/connections/{cid}")


async def test_a_purge_deletes_the_subscriptions_and_erases_the_client_state(world: NotifyWorld) -> None:
    from shared.composition import Container
    from shared.config import load_settings
    from shared.domain.secret_names import notification_state_name

    tenant = world.stack.entra.tenants[1]
    app = world.stack.app("customer", tenant)
    body = {
        "display_name": "Purged",
        "tenant": tenant["id"],
        "credential_mode": "customer_app",
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "sync_group_id": tenant["sync_group"]["id"],
    }
    cid = (await world.json("POST", "/api/connections", body=body))["id"]
    await world.json("POST", f"/api/connections/{cid}/verify")
    assert [s["resource"] for s in world.control("subscriptions", tenant=tenant["id"])] == ["users"]  # groups: 403
    status, text, _ = await world.http("DELETE", f"/api/connections/{cid}?purge=true")
    assert status == 202, text

    async def purged() -> bool:
        return (await world.http("GET", f"/api/connections/{cid}"))[0] == 404

    await until(purged, within=120)
    assert world.control("subscriptions", tenant=tenant["id"]) == []
    async with Container(load_settings(world.env)) as container:
        assert not await container.secrets().exists(notification_state_name(cid))
