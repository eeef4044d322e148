""" "Test permissions" never calls rotation ready from the token's permissions alone: app-only resets need a directory
role. It checks the app's role where it may (the optional RoleManagement.Read.Directory) and warns otherwise."""

from __future__ import annotations

from typing import Any

from emulators.stack import LocalStack
from tests.integration.connections.test_customer_app import create, customer, verify

READ_ROLES = "RoleManagement.Read.Directory"
ROLE = "User Administrator"


async def test_rotation_readiness_follows_the_apps_directory_role(stack: LocalStack, tenant: dict[str, Any]) -> None:
    app = customer(stack, tenant)
    control = stack.entra.control
    created = await create(tenant, app, client_secret=app["client_secret"])
    # the token carries User-PasswordProfile.ReadWrite.All, but the role cannot be read: a warning with the remedy
    _, checks = await verify(created["id"])
    assert checks["permissions"]["status"] == "pass"
    assert checks["rotation_role"]["status"] == "warn"
    assert READ_ROLES in checks["rotation_role"]["detail"] and ROLE in checks["rotation_role"]["remedy"]
    control.grant_permissions(tenant["id"], app["client_id"], [READ_ROLES])
    try:
        _, checks = await verify(created["id"])
        assert checks["rotation_role"]["status"] == "pass" and ROLE in checks["rotation_role"]["detail"]
        assert "not administrators" in checks["rotation_role"]["detail"]
        control.remove_directory_role(tenant["id"], app["client_id"], ROLE)
        status, checks = await verify(created["id"])
        assert status == "fail" and checks["rotation_role"]["status"] == "fail"
        assert "Roles & admins" in checks["rotation_role"]["remedy"]
        assert checks["permissions"]["status"] == "pass"  # the permissions alone would have said ready
    finally:
        control.assign_directory_role(tenant["id"], app["client_id"], ROLE)
        control.revoke_permissions(tenant["id"], app["client_id"], [READ_ROLES])
