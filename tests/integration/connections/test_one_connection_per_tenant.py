"""One connection per tenant: a second is refused naming the first (also when many are created at once), unless the
body allows it; even then two connections of one tenant never rotate the same group; deleting frees the tenant."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from emulators.stack import LocalStack
from shared.composition import Container
from shared.storage_names import CONNECTIONS
from tests.integration.connections.conftest import call, request


def body(tenant: dict[str, Any], key: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "tenant": key or tenant["id"],
        "display_name": "One per tenant",
        "credential_mode": "admin_consent",
        "sync_group_id": tenant["sync_group"]["id"],
        **extra,
    }


def rotating(tenant: dict[str, Any], group: str, **extra: Any) -> dict[str, Any]:
    return body(tenant, features={"sync": True, "rotation": True}, rotation_group_id=group, **extra)


async def create(payload: dict[str, Any]) -> tuple[int, Any]:
    status, answer, _ = await call("connections_create", request("POST", "connections", payload))
    return status, answer


async def patch(cid: str, payload: dict[str, Any]) -> tuple[int, Any]:
    status, answer, _ = await call("connections_update", request("PATCH", "c", payload, route={"id": cid}))
    return status, answer


async def rows(container: Container) -> list[dict[str, Any]]:
    return [dict(r) async for r in container.tables().query(CONNECTIONS)]


async def test_a_second_connection_is_refused_naming_the_first(container: Container, tenant: dict[str, Any]) -> None:
    status, first = await create(body(tenant))
    assert status == 201, first
    before = await rows(container)
    for key in (tenant["id"], tenant["id"].upper(), tenant["domains"][0]):  # the same tenant, however it is named
        status, refused = await create(body(tenant, key))
        assert status == 409, refused
        assert refused["code"] == "tenant_already_connected" and refused["connection_id"] == first["id"]
        assert first["id"] in refused["message"] and "allow_second_connection" in refused["message"]
    assert await rows(container) == before  # nothing stored


async def test_concurrent_creates_for_one_tenant_one_wins(container: Container, tenant: dict[str, Any]) -> None:
    answers = await asyncio.gather(*(create(body(tenant, display_name=f"Racer {i}")) for i in range(6)))
    created = [a for s, a in answers if s == 201]
    assert len(created) == 1, answers
    refused = [a for s, a in answers if s != 201]
    assert all(a["code"] == "tenant_already_connected" for a in refused), refused
    assert {a["connection_id"] for a in refused} == {created[0]["id"]}
    mine = [r for r in await rows(container) if r["PartitionKey"] == "connection" and r["tenant_id"] == tenant["id"]]
    assert [r["RowKey"] for r in mine] == [created[0]["id"]]


async def test_a_second_connection_when_allowed_never_shares_the_rotation_group(
    container: Container, tenant: dict[str, Any]
) -> None:
    group, other_group = tenant["rotation_group"]["id"], tenant["sync_group"]["id"]
    status, first = await create(rotating(tenant, group))
    assert status == 201, first
    status, clash = await create(rotating(tenant, group, allow_second_connection=True))
    assert status == 409 and clash["code"] == "rotation_group_in_use", clash
    assert "rotation_group_id" in clash["problems"] and clash["connection_id"] == first["id"]
    status, second = await create(rotating(tenant, other_group, allow_second_connection=True))
    assert status == 201, second

    status, clash = await patch(second["id"], {"rotation_group_id": group})  # an update that would share it
    assert status == 409 and clash["code"] == "rotation_group_in_use" and clash["connection_id"] == first["id"]
    status, _ = await patch(first["id"], {"features": {"sync": True, "rotation": False}})
    assert status == 200
    status, moved = await patch(second["id"], {"rotation_group_id": group})  # free now: the first stopped rotating
    assert status == 200 and moved["rotation_group_id"] == group
    status, clash = await patch(first["id"], {"features": {"sync": True, "rotation": True}})
    assert status == 409 and clash["connection_id"] == second["id"], clash
    status, _ = await patch(
        first["id"], {"features": {"sync": True, "rotation": True}, "rotation_group_id": other_group}
    )
    assert status == 200
    status, mixed = await create(body(tenant, allow_second_connection="yes"))
    assert status == 400 and "allow_second_connection" in mixed["problems"]
    status, fixed = await patch(first["id"], {"allow_second_connection": True})
    assert status == 400 and "allow_second_connection" in fixed["problems"]


async def test_deleting_the_connection_frees_the_tenant(container: Container, tenant: dict[str, Any]) -> None:
    status, first = await create(body(tenant))
    assert status == 201
    status, _, _ = await call("connections_delete", request("DELETE", "c", route={"id": first["id"]}))
    assert status == 200
    status, second = await create(body(tenant))
    assert status == 201, second
    index = [r for r in await rows(container) if r["PartitionKey"] == "tenant" and r["RowKey"] == tenant["id"]]
    assert len(index) == 1 and first["id"] not in index[0]["members_json"] and second["id"] in index[0]["members_json"]


async def test_a_claim_left_by_a_crashed_create_expires(container: Container, tenant: dict[str, Any]) -> None:
    """A create that claimed the tenant and died before storing its connection: refused while it may still be
    running (an HTTP answer comes within 230 s), taken over once the claim is older than that."""
    import json

    crashed = "00000000-0000-4000-8000-00000000dead"
    fresh = {crashed: {"rotation_group": "", "at": datetime.now(UTC).isoformat()}}
    entity = {"PartitionKey": "tenant", "RowKey": tenant["id"], "members_json": json.dumps(fresh)}
    await container.tables().upsert(CONNECTIONS, entity, replace=True)
    status, refused = await create(body(tenant))
    assert status == 409 and refused["connection_id"] == crashed
    old = {crashed: {"rotation_group": "", "at": (datetime.now(UTC) - timedelta(minutes=10)).isoformat()}}
    await container.tables().upsert(CONNECTIONS, {**entity, "members_json": json.dumps(old)}, replace=True)
    status, created = await create(body(tenant))
    assert status == 201, created
    index = await container.tables().get(CONNECTIONS, "tenant", tenant["id"])
    assert index is not None and crashed not in index["members_json"]


async def test_connections_made_before_the_rule_count(
    stack: LocalStack, container: Container, tenant: dict[str, Any]
) -> None:
    """A connection stored before the tenant index existed (no index entry) still makes a new one a second."""
    from shared.domain.connection import Connection, to_entity

    legacy = Connection(
        id="00000000-0000-4000-8000-0000000001d5",
        tenant_id=tenant["id"],
        display_name="Legacy",
        credential_mode="admin_consent",
        state="active",
    )
    await container.tables().upsert(CONNECTIONS, to_entity(legacy), replace=True)
    status, refused = await create(body(tenant))
    assert status == 409 and refused["connection_id"] == legacy.id
    status, deleted, _ = await call("connections_delete", request("DELETE", "c", route={"id": legacy.id}))
    assert status == 200, deleted
    status, created = await create(body(tenant))
    assert status == 201, created
