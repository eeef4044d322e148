"""Customer-app connections against the emulators: secret and certificate, wrong and expired secrets, a missing
permission, credential expiry warnings, updates, and removal with and without purge."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import azure.functions as func

from emulators.stack import LocalStack
from shared.composition import Container
from shared.domain.secret_names import client_secret_ref, password_ref
from shared.storage_names import (
    CONNECTIONS,
    DIRECTORY_MEMBERS,
    DIRECTORY_USERS,
    PURGE_JOBS,
    ROTATION_STATE,
    SYNC_STATE,
)
from tests.functions.invoke import acall
from tests.integration.connections.conftest import SEEN, call, request

ROTATION_PERMISSION = "User-PasswordProfile.ReadWrite.All"


def customer(stack: LocalStack, tenant: dict[str, Any]) -> dict[str, Any]:
    app = stack.app("customer", tenant)
    SEEN.secrets.update({app["client_secret"], app["expired_client_secret"]})
    return app


async def create(tenant: dict[str, Any], app: dict[str, Any], **credential: Any) -> dict[str, Any]:
    body = {
        "tenant": tenant["id"].upper(),
        "display_name": "Customer app",
        "credential_mode": "customer_app",
        "client_id": app["client_id"],
        "features": {"sync": True, "rotation": True},
        "sync_group_id": tenant["sync_group"]["id"],
        "rotation_group_id": tenant["rotation_group"]["id"],
        "user_defaults": {"sso_enabled": True, "sign_in_method": "password"},
        **credential,
    }
    status, created, _ = await call("connections_create", request("POST", "connections", body))
    assert status == 201, created
    return dict(created)


async def verify(connection_id: str) -> tuple[str, dict[str, dict[str, Any]]]:
    status, report, _ = await call("connections_verify", request("POST", "v", route={"id": connection_id}))
    assert status == 200, report
    return report["status"], {c["name"]: c for c in report["checks"]}


async def test_client_secret_is_kept_in_key_vault_only(
    stack: LocalStack, container: Container, tenant: dict[str, Any]
) -> None:
    app = customer(stack, tenant)
    created = await create(tenant, app, client_secret=app["client_secret"])
    assert created["tenant_id"] == tenant["id"] and created["tenant_domain"] is None
    assert created["credential"] == {
        "set": True,
        "kind": "secret",
        "hint": f"...{app['client_secret'][-3:]}",
        "expires_on": None,
    }
    assert created["state"] == "pending_verification"
    stored = await container.secrets().get(client_secret_ref(created["id"]).name)
    assert stored.value.reveal() == app["client_secret"]
    status, checks = await verify(created["id"])
    assert status != "fail" and checks["token"]["status"] == "pass" and checks["permissions"]["status"] == "pass"
    _, shown, _ = await call("connections_get", request("GET", "c", route={"id": created["id"]}))
    assert shown["state"] == "active" and shown["user_defaults"]["sso_enabled"] is True
    _, listed, _ = await call("connections_list", request("GET", "connections"))
    assert created["id"] in [c["id"] for c in listed["value"]]


async def test_certificate_credential(stack: LocalStack, tenant: dict[str, Any]) -> None:
    app = customer(stack, tenant)
    pem = Path(app["certificate_path"]).read_text()  # noqa: ASYNC240 (a small local file)
    created = await create(tenant, app, certificate=pem)
    assert created["credential"]["kind"] == "certificate" and created["credential"]["expires_on"]
    status, checks = await verify(created["id"])
    assert checks["token"]["status"] == "pass" and status != "fail"


async def test_wrong_client_secret_fails_with_the_remedy(stack: LocalStack, tenant: dict[str, Any]) -> None:
    app = customer(stack, tenant)
    wrong = "Wrong~Secret~Value~" + "x" * 20
    SEEN.secrets.add(wrong)
    created = await create(tenant, app, client_secret=wrong)
    status, checks = await verify(created["id"])
    assert status == "fail" and checks["token"]["status"] == "fail"
    assert "7000215" in checks["token"]["detail"] and "Value, not its ID" in checks["token"]["remedy"]
    _, shown, _ = await call("connections_get", request("GET", "c", route={"id": created["id"]}))
    assert shown["state"] == "error"


async def test_expired_client_secret_fails_with_the_remedy(stack: LocalStack, tenant: dict[str, Any]) -> None:
    app = customer(stack, tenant)
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    created = await create(tenant, app, client_secret=app["expired_client_secret"], credential_expires_on=yesterday)
    status, checks = await verify(created["id"])
    assert status == "fail"
    assert "7000222" in checks["token"]["detail"] and "new client secret" in checks["token"]["remedy"]
    assert checks["credential_expiry"]["status"] == "fail"


async def test_secret_expiring_soon_is_a_warning(stack: LocalStack, tenant: dict[str, Any]) -> None:
    app = customer(stack, tenant)
    soon = (datetime.now(UTC) + timedelta(days=10)).isoformat()
    created = await create(tenant, app, client_secret=app["client_secret"], credential_expires_on=soon)
    status, checks = await verify(created["id"])
    assert checks["credential_expiry"]["status"] == "warn" and status in ("warn", "fail")
    assert checks["token"]["status"] == "pass"


async def test_missing_permission_is_named(stack: LocalStack, tenant: dict[str, Any]) -> None:
    app = customer(stack, tenant)
    created = await create(tenant, app, client_secret=app["client_secret"])
    stack.entra.control.revoke_permissions(tenant["id"], app["client_id"], [ROTATION_PERMISSION])
    try:
        status, checks = await verify(created["id"])
    finally:
        stack.entra.control.grant_permissions(tenant["id"], app["client_id"], [ROTATION_PERMISSION])
    assert status == "fail" and checks["permissions"]["status"] == "fail"
    assert ROTATION_PERMISSION in checks["permissions"]["detail"]
    assert ROTATION_PERMISSION in checks["permissions"]["remedy"]


async def test_update_replaces_the_secret_and_settings(
    stack: LocalStack, container: Container, tenant: dict[str, Any]
) -> None:
    app = customer(stack, tenant)
    created = await create(tenant, app, client_secret="Old~" + "y" * 30)
    SEEN.secrets.add("Old~" + "y" * 30)
    change = {"client_secret": app["client_secret"], "rotation_interval_days": 7, "removal_behaviour": "keep"}
    status, updated, _ = await call("connections_update", request("PATCH", "c", change, route={"id": created["id"]}))
    assert status == 200, updated
    assert updated["rotation_interval_days"] == 7 and updated["credential"]["hint"] == f"...{app['client_secret'][-3:]}"
    status, body, _ = await call(
        "connections_update", request("PATCH", "c", {"tenant": "x.com", "bogus": 1}, route={"id": created["id"]})
    )
    assert status == 400 and set(body["problems"]) == {"tenant", "bogus"}


async def test_delete_with_purge_removes_everything(
    stack: LocalStack, container: Container, tenant: dict[str, Any]
) -> None:
    app = customer(stack, tenant)
    created = await create(tenant, app, client_secret=app["client_secret"])
    cid, tables, secrets = created["id"], container.tables(), container.secrets()
    await tables.upsert(DIRECTORY_USERS, {"PartitionKey": cid, "RowKey": "u1"})
    await tables.upsert(DIRECTORY_MEMBERS, {"PartitionKey": f"{cid}_g1", "RowKey": "u1"})
    await tables.upsert(SYNC_STATE, {"PartitionKey": cid, "RowKey": "cursor-users"})
    await tables.upsert(ROTATION_STATE, {"PartitionKey": cid, "RowKey": "u1"})
    await tables.upsert(DIRECTORY_USERS, {"PartitionKey": "someone-else", "RowKey": "u1"})
    await secrets.set(password_ref(cid, "u1").name, "Pa55word!Rotated")
    SEEN.secrets.add("Pa55word!Rotated")
    status, body, _ = await call(
        "connections_delete", request("DELETE", "c", route={"id": cid}, params={"purge": "true"})
    )
    assert status == 202 and body["state"] == "purging"  # a queued job (tests/.../test_purge.py has the rest)
    jobs = [m for m in await container.queues().receive_all(PURGE_JOBS) if m["connection_id"] == cid]
    assert jobs == [{"connection_id": cid, "job_id": body["purge"]["job_id"]}]
    await acall("purge_worker", func.QueueMessage(body=json.dumps(jobs[0]).encode()))
    assert await tables.get(CONNECTIONS, "connection", cid) is None
    for table, pk, rk in (
        (DIRECTORY_USERS, cid, "u1"),
        (DIRECTORY_MEMBERS, f"{cid}_g1", "u1"),
        (SYNC_STATE, cid, "cursor-users"),
        (ROTATION_STATE, cid, "u1"),
    ):
        assert await tables.get(table, pk, rk) is None, table
    assert await tables.get(DIRECTORY_USERS, "someone-else", "u1") is not None
    assert not await secrets.exists(password_ref(cid, "u1").name)
    assert not await secrets.exists(client_secret_ref(cid).name)
    status, _, _ = await call("connections_get", request("GET", "c", route={"id": cid}))
    assert status == 404


async def test_delete_without_purge_keeps_synced_data(
    stack: LocalStack, container: Container, tenant: dict[str, Any]
) -> None:
    app = customer(stack, tenant)
    created = await create(tenant, app, client_secret=app["client_secret"])
    cid = created["id"]
    await container.tables().upsert(DIRECTORY_USERS, {"PartitionKey": cid, "RowKey": "u1"})
    status, body, _ = await call("connections_delete", request("DELETE", "c", route={"id": cid}))
    assert status == 200 and body["purged"] is False
    assert await container.tables().get(DIRECTORY_USERS, cid, "u1") is not None
    assert not await container.secrets().exists(client_secret_ref(cid).name)


async def test_unknown_tenant_is_400_aadsts90002(container: Container) -> None:
    body = {"tenant": "no-such-tenant.example.org", "display_name": "x", "credential_mode": "admin_consent"}
    before = [r async for r in container.tables().query(CONNECTIONS)]
    status, answer, _ = await call("connections_create", request("POST", "connections", body))
    assert status == 400 and "AADSTS90002" in answer["problems"]["tenant"]
    assert [r async for r in container.tables().query(CONNECTIONS)] == before
