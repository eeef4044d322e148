"""`GET /roleManagement/directory/roleAssignments` (Learn: "List unifiedRoleAssignments"): tenant-wide role
assignments of a user or service principal, filtered by `principalId eq '...'`, with `$expand=roleDefinition`."""

from __future__ import annotations

import re

from emulators.entra.calls import GraphCall, GraphResult, ok
from emulators.entra.errors import bad_request
from emulators.entra.reset_rights import ROLE_TEMPLATE_IDS
from emulators.entra.seed import guid_from

READ_ROLE_ASSIGNMENTS = frozenset(
    {
        "RoleManagement.Read.Directory",
        "RoleManagement.Read.All",
        "RoleManagement.ReadWrite.Directory",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    }
)
PRINCIPAL_FILTER = re.compile(r"^\s*principalId\s+eq\s+'([0-9a-fA-F-]{36})'\s*$")


def list_role_assignments(call: GraphCall) -> GraphResult:
    call.require(READ_ROLE_ASSIGNMENTS)
    match = PRINCIPAL_FILTER.match(call.params.get("$filter", ""))
    if match is None:
        raise bad_request("This emulator answers role assignments filtered by principalId eq '{id}' only.")
    principal = match.group(1).lower()
    tenant = call.tenant
    roles: tuple[str, ...] = ()
    sp = next((p for p in tenant.service_principals.values() if p.id.lower() == principal), None)
    if sp is not None:
        roles = tuple(sorted(sp.directory_roles))
    else:
        user = tenant.directory.users.get(principal)
        roles = tuple(user.roles) if user is not None and user.state == "active" else ()
    expand = "roleDefinition" in call.params.get("$expand", "")
    rows = []
    for name in roles:
        template = ROLE_TEMPLATE_IDS.get(name, guid_from(f"role|{name}"))
        row: dict[str, object] = {
            "id": guid_from(f"{tenant.id}|{principal}|{template}"),
            "principalId": principal,
            "roleDefinitionId": template,
            "directoryScopeId": "/",
        }
        if expand:
            row["roleDefinition"] = {"id": template, "templateId": template, "displayName": name, "isBuiltIn": True}
        rows.append(row)
    context = f"{call.base}/$metadata#roleManagement/directory/roleAssignments"
    return ok({"@odata.context": context, "value": rows})
