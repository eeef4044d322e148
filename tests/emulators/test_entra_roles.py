"""Role assignments (Learn: "List unifiedRoleAssignments"): readable with RoleManagement.Read.Directory, filtered by
principalId, expanded with the role definition; 403 without a permission that covers them."""

from __future__ import annotations

from typing import Any

import httpx

from emulators.entra.reset_rights import ROLE_TEMPLATE_IDS, USER_ADMIN
from emulators.entra.server import EntraEmulator
from tests.support.entra import jwt_claims, token_for


async def test_an_app_reads_its_own_role_assignments_only_with_a_role_management_permission(
    entra: EntraEmulator, tenant: dict[str, Any], customer_app: dict[str, Any], http: httpx.AsyncClient
) -> None:
    tid, client = tenant["id"], customer_app["client_id"]
    token = await token_for(http, tid, client, customer_app["client_secret"])
    principal = jwt_claims(token)["oid"]
    params = {"$filter": f"principalId eq '{principal}'", "$expand": "roleDefinition"}
    denied = await http.get(
        "/v1.0/roleManagement/directory/roleAssignments", params=params, headers={"Authorization": f"Bearer {token}"}
    )
    assert (denied.status_code, denied.json()["error"]["code"]) == (403, "Authorization_RequestDenied")
    entra.control.grant_permissions(tid, client, ["RoleManagement.Read.Directory"])
    try:
        token = await token_for(http, tid, client, customer_app["client_secret"])
        listed = await http.get(
            "/v1.0/roleManagement/directory/roleAssignments",
            params=params,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert listed.status_code == 200
        rows = listed.json()["value"]
        assert [(r["principalId"], r["directoryScopeId"], r["roleDefinition"]["templateId"]) for r in rows] == [
            (principal, "/", ROLE_TEMPLATE_IDS[USER_ADMIN])
        ]
        assert rows[0]["roleDefinition"]["displayName"] == USER_ADMIN
        entra.control.remove_directory_role(tid, client, USER_ADMIN)
        empty = await http.get(
            "/v1.0/roleManagement/directory/roleAssignments",
            params=params,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert empty.json()["value"] == []
    finally:
        entra.control.revoke_permissions(tid, client, ["RoleManagement.Read.Directory"])
        entra.control.assign_directory_role(tid, client, USER_ADMIN)
