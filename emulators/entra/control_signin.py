"""Control operations for sign-in: who the browser is signed in as, users' directory roles, an app's
groupMembershipClaims, and the code-flow secrets issued (so tests can prove none leaked)."""

from __future__ import annotations

from typing import Any

from emulators.entra.model import DIRECTORY_ROLE_TEMPLATES, GROUP_MEMBERSHIP_CLAIMS, User
from emulators.entra.state import World


class SignInControlError(Exception):
    """A sign-in control request that cannot be carried out (Control maps it to its ControlError)."""


class SignInControl:
    OPERATIONS = frozenset(
        {
            "sign_in_browser",
            "sign_out_browser",
            "assign_user_role",
            "remove_user_role",
            "set_group_membership_claims",
            "issued_secrets",
            "use_sign_in_page",
            "set_user_password",
        }
    )
    _world: World

    def _signin_user(self, tenant: str, user: str) -> User:
        t = self._world.find_tenant(tenant)
        if t is None:
            raise SignInControlError(f"no tenant {tenant!r}")
        found = t.directory.users.get(user) or t.directory.find_user(user)
        if found is None:
            raise SignInControlError(f"no user {user!r} in tenant {t.id}")
        return found

    def sign_in_browser(self, tenant: str, user: str) -> dict[str, Any]:
        """From now on the browser is signed in with this account (user id or UPN) at every login page, until
        `sign_out_browser` or `reset_behaviour`. A `login_hint` on a request still picks another account."""
        with self._world.lock:
            found = self._signin_user(tenant, user)
            self._world.browser_user = found.id
            return {"id": found.id, "userPrincipalName": found.props.get("userPrincipalName")}

    def sign_out_browser(self) -> None:
        """Back to the default: each tenant's login page signs in that tenant's seeded Global Administrator."""
        with self._world.lock:
            self._world.browser_user = None
            self._world.sign_in_sessions.clear()  # and out of the sign-in page's sessions

    def assign_user_role(self, tenant: str, user: str, role: str) -> list[str]:
        if role not in DIRECTORY_ROLE_TEMPLATES:
            raise SignInControlError(f"unknown directory role {role!r}; use one of {sorted(DIRECTORY_ROLE_TEMPLATES)}")
        with self._world.lock:
            found = self._signin_user(tenant, user)
            if role not in found.roles:
                found.roles = (*found.roles, role)
            return list(found.roles)

    def remove_user_role(self, tenant: str, user: str, role: str) -> list[str]:
        with self._world.lock:
            found = self._signin_user(tenant, user)
            found.roles = tuple(r for r in found.roles if r != role)
            return list(found.roles)

    def set_group_membership_claims(self, client_id: str, value: str) -> None:
        """The app manifest's groupMembershipClaims: DirectoryRole or All put `wids` into its tokens."""
        if value not in GROUP_MEMBERSHIP_CLAIMS:
            raise SignInControlError(f"groupMembershipClaims must be one of {GROUP_MEMBERSHIP_CLAIMS}")
        with self._world.lock:
            app = self._world.apps.get(client_id)
            if app is None:
                raise SignInControlError(f"no app {client_id!r}")
            app.group_membership_claims = value

    def use_sign_in_page(self, enabled: bool = True) -> None:
        """/authorize shows the username and password page (emulators/entra/signin_page.py) to a browser without
        a session there; off again at `reset_behaviour`."""
        with self._world.lock:
            self._world.settings.sign_in_page = bool(enabled)
            if not enabled:
                self._world.sign_in_sessions.clear()

    def set_user_password(self, tenant: str, user: str, password: str) -> dict[str, Any]:
        """The password the user signs in with on the sign-in page (as an admin's reset would set it)."""
        if not isinstance(password, str) or not 8 <= len(password) <= 256:
            raise SignInControlError("a password must be 8-256 characters")
        with self._world.lock:
            found = self._signin_user(tenant, user)
            found.previous_password, found.password = found.password, password
            return {"id": found.id, "userPrincipalName": found.props.get("userPrincipalName")}

    def issued_secrets(self) -> list[str]:
        """Authorization codes, ID and access tokens and PKCE verifiers of the code flow (the last 2,000)."""
        with self._world.lock:
            return list(self._world.issued)
