"""Entra directory roles the connector cares about (template ids are the same in every tenant) and what a service
principal's role assignments mean for app-only password resets (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
PRIVILEGED_ROLE_ADMIN = "e8611ab8-c189-46e8-94e1-60213ab1f814"
PRIVILEGED_AUTH_ADMIN = "7be44c8a-adaf-4e2a-84d6-ab2649e08a13"
USER_ADMIN = "fe930be7-5e62-47db-91af-98c3a49a38b1"
HELPDESK_ADMIN = "729827e3-9c14-49f7-bb1b-9608f156bbb8"
PASSWORD_ADMIN = "966707d0-3269-4727-9be2-8c3a10f19b9d"  # noqa: S105 (a role template id)

NAMES: Mapping[str, str] = {
    GLOBAL_ADMIN: "Global Administrator",
    PRIVILEGED_ROLE_ADMIN: "Privileged Role Administrator",
    PRIVILEGED_AUTH_ADMIN: "Privileged Authentication Administrator",
    USER_ADMIN: "User Administrator",
    HELPDESK_ADMIN: "Helpdesk Administrator",
    PASSWORD_ADMIN: "Password Administrator",
}
# Learn, "Update user": app-only resets need a permission and at least User Administrator (Helpdesk and Password
# Administrator reach fewer users); admins need Privileged Authentication Administrator or Global Administrator.
RESET_ROLES = frozenset({USER_ADMIN, HELPDESK_ADMIN, PASSWORD_ADMIN, PRIVILEGED_AUTH_ADMIN, GLOBAL_ADMIN})
ADMIN_RESET_ROLES = frozenset({PRIVILEGED_AUTH_ADMIN, GLOBAL_ADMIN})
READ_ROLES_PERMISSION = "RoleManagement.Read.Directory"  # optional: lets the connector read its own role

RoleState = Literal["ready", "missing", "unknown"]
ASSIGN_ROLE_REMEDY = (
    "Assign the User Administrator role to the app's service principal: Entra admin center > Roles & admins > "
    "User Administrator > Add assignments > select the app (enterprise application) used by this connection. "
    "To rotate administrators' passwords as well, assign Privileged Authentication Administrator instead. "
    f"Optional: grant the application permission {READ_ROLES_PERMISSION} so Test permissions can check the role."
)


@dataclass(frozen=True)
class RoleCheck:
    """`ready`: a reset role is assigned; `missing`: the assignments were read and none can reset; `unknown`: the
    assignments could not be read (no RoleManagement.Read.Directory)."""

    state: RoleState
    roles: tuple[str, ...] = ()  # display names of the reset-relevant roles held
    resets_admins: bool = False


def role_check(assignments: Iterable[Mapping[str, Any]]) -> RoleCheck:
    """From `roleManagement/directory/roleAssignments?$expand=roleDefinition` rows of the app's principal; only
    tenant-wide assignments (directoryScopeId "/") count: an administrative-unit scope reaches few users."""
    held: set[str] = set()
    for row in assignments:
        if str(row.get("directoryScopeId", "/")) != "/":
            continue
        definition = row.get("roleDefinition") or {}
        template = str(definition.get("templateId") or definition.get("id") or row.get("roleDefinitionId") or "")
        held.add(template.lower())
    relevant = held & RESET_ROLES
    names = tuple(sorted(NAMES[r] for r in relevant))
    return RoleCheck("ready" if relevant else "missing", names, bool(held & ADMIN_RESET_ROLES))
