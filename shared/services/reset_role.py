"""Asks Graph which directory roles the connection's own service principal holds, to tell whether app-only password
resets can work (rotation readiness) before any reset is sent."""

from __future__ import annotations

import logging

from shared.adapters.graph import GraphClient
from shared.domain.directory_roles import RoleCheck, role_check
from shared.errors import GraphError, GraphPermissionDenied

log = logging.getLogger(__name__)


async def check_reset_role(graph: GraphClient) -> RoleCheck:
    """`unknown` when the app may not read role assignments (the optional RoleManagement.Read.Directory)."""
    principal = str((await graph.caller_claims()).get("oid", ""))
    if not principal:
        return RoleCheck("unknown")
    try:
        data = await graph.get_json(
            "roleManagement/directory/roleAssignments",
            params={"$filter": f"principalId eq '{principal}'", "$expand": "roleDefinition"},
            label="roleAssignments.list",
        )
    except GraphPermissionDenied:
        return RoleCheck("unknown")
    except GraphError as exc:
        log.info("role assignments of the app could not be read: %s", exc.code)
        return RoleCheck("unknown")
    return role_check(data.get("value", []))
