"""App roles: defined on an app registration (its manifest's appRoles), assigned to users of a tenant (an
appRoleAssignment on the app's service principal there), and emitted as the `roles` claim of the ID token the app
gets for a signed-in user; plus the control operations that set them up.

Learn: "Add app roles to your application and receive them in the token" (roles defined on the app registration,
assigned in Enterprise applications > Users and groups; the `roles` claim lists the values of the roles assigned
to the signed-in user, absent when none is); "ID token claims reference" (`roles`); "appRole resource type"
(id, value, displayName, description, allowedMemberTypes, isEnabled; value without spaces, unique in the app)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from emulators.entra.control_signin import SignInControlError
from emulators.entra.seed import guid_from
from emulators.entra.state import World

VALUE = re.compile(r"^[!-~]{1,120}$")  # printable ASCII without spaces (Learn: "cannot contain spaces")


@dataclass(frozen=True)
class AppRole:
    id: str
    value: str
    display_name: str
    description: str = ""
    allowed_member_types: tuple[str, ...] = ("User",)
    is_enabled: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "value": self.value,
            "displayName": self.display_name,
            "description": self.description,
            "allowedMemberTypes": list(self.allowed_member_types),
            "isEnabled": self.is_enabled,
        }


class AppRoleError(SignInControlError):
    """A control request about app roles that cannot be carried out."""


def _roles(world: World) -> dict[str, list[AppRole]]:
    found: dict[str, list[AppRole]] = world.app_roles
    return found


def _assignments(world: World) -> dict[tuple[str, str, str], set[str]]:
    """(tenant id, client id, user id) -> ids of the app roles assigned."""
    return world.app_role_assignments


def role_claim(world: World, client_id: str, tenant_id: str, user_id: str) -> list[str]:
    """The `roles` claim of an ID token for this app and user: values of the enabled roles assigned to the user."""
    assigned = _assignments(world).get((tenant_id, client_id, user_id), set())
    return sorted(r.value for r in _roles(world).get(client_id, []) if r.id in assigned and r.is_enabled)


class AppRoleControl:
    OPERATIONS = frozenset({"define_app_roles", "assign_app_role", "remove_app_role_assignment", "app_role_claims"})
    _world: World

    def define_app_roles(self, client_id: str, roles: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Replace the app's appRoles: each {value, displayName, description?, allowedMemberTypes?, id?}; ids are
        deterministic (from the app and the value) when not given. Assignments of removed roles stop counting."""
        with self._world.lock:
            if client_id not in self._world.apps:
                raise AppRoleError(f"no app {client_id!r}")
            made: list[AppRole] = []
            for raw in roles:
                value = str(raw.get("value", ""))
                if not VALUE.match(value):
                    raise AppRoleError(f"app role value {value!r} must be 1-120 printable characters without spaces")
                if any(r.value == value for r in made):
                    raise AppRoleError(f"app role value {value!r} is defined twice")
                made.append(
                    AppRole(
                        id=str(raw.get("id") or guid_from(f"{client_id}|approle|{value}")),
                        value=value,
                        display_name=str(raw.get("displayName") or value),
                        description=str(raw.get("description") or ""),
                        allowed_member_types=tuple(raw.get("allowedMemberTypes") or ("User",)),
                        is_enabled=bool(raw.get("isEnabled", True)),
                    )
                )
            _roles(self._world)[client_id] = made
            return [r.to_dict() for r in made]

    def _target(self, tenant: str, user: str, client_id: str, role: str) -> tuple[tuple[str, str, str], AppRole]:
        t = self._world.find_tenant(tenant)
        if t is None:
            raise AppRoleError(f"no tenant {tenant!r}")
        found = t.directory.users.get(user) or t.directory.find_user(user)
        if found is None:
            raise AppRoleError(f"no user {user!r} in tenant {t.id}")
        app = self._world.apps.get(client_id)
        if app is None or not app.usable_in(t.id, t.registry):
            raise AppRoleError(f"app {client_id!r} has no service principal in tenant {t.id}")
        defined = _roles(self._world).get(client_id, [])
        match = next((r for r in defined if role in (r.id, r.value)), None)
        if match is None or "User" not in match.allowed_member_types:
            raise AppRoleError(f"app {client_id!r} defines no user-assignable app role {role!r}")
        return (t.id, client_id, found.id), match

    def assign_app_role(self, tenant: str, user: str, client_id: str, role: str) -> dict[str, Any]:
        """Assign the app role (its value or id) to the user (id or UPN) in the tenant; idempotent."""
        with self._world.lock:
            key, match = self._target(tenant, user, client_id, role)
            _assignments(self._world).setdefault(key, set()).add(match.id)
            return {"principalId": key[2], "appRoleId": match.id, "resourceAppId": client_id, "value": match.value}

    def remove_app_role_assignment(self, tenant: str, user: str, client_id: str, role: str) -> None:
        with self._world.lock:
            key, match = self._target(tenant, user, client_id, role)
            _assignments(self._world).get(key, set()).discard(match.id)

    def app_role_claims(self, tenant: str, user: str, client_id: str) -> list[str]:
        """What the `roles` claim of this app's ID token for the user would hold now."""
        with self._world.lock:
            t = self._world.find_tenant(tenant)
            found = (t.directory.users.get(user) or t.directory.find_user(user)) if t else None
            if t is None or found is None:
                raise AppRoleError(f"no user {user!r} in tenant {tenant!r}")
            return role_claim(self._world, client_id, t.id, found.id)
