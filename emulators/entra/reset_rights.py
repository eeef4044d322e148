"""Who may reset whose password, app-only (pure). Microsoft Learn: "Update user" (passwordProfile: "In app-only
scenarios, the calling app must be assigned a supported permission and at least the User Administrator Microsoft
Entra role") and "Privileged roles and permissions in Microsoft Entra ID" (table "Who can reset passwords")."""

from __future__ import annotations

from collections.abc import Iterable

from emulators.entra import permissions as perm
from emulators.entra.model import DIRECTORY_ROLE_TEMPLATES, GLOBAL_ADMIN, PRIVILEGED_AUTH_ADMIN, USER_ADMIN

HELPDESK_ADMIN = "Helpdesk Administrator"
PASSWORD_ADMIN = "Password Administrator"

_PASSWORD_ADMIN_REACH = frozenset({"Directory Readers", "Guest Inviter", PASSWORD_ADMIN})
_HELPDESK_REACH = _PASSWORD_ADMIN_REACH | {
    HELPDESK_ADMIN,
    "Message Center Reader",
    "Reports Reader",
    "Usage Summary Reports Reader",
}
_USER_ADMIN_REACH = _HELPDESK_REACH | {USER_ADMIN, "Groups Administrator"}
# the roles a target may hold (besides none) for each resetting role; None: every user
REACH: dict[str, frozenset[str] | None] = {
    PASSWORD_ADMIN: _PASSWORD_ADMIN_REACH,
    HELPDESK_ADMIN: _HELPDESK_REACH,
    USER_ADMIN: _USER_ADMIN_REACH,
    PRIVILEGED_AUTH_ADMIN: None,
    GLOBAL_ADMIN: None,
}
RESET_ROLES = frozenset(REACH)
ROLE_TEMPLATE_IDS = DIRECTORY_ROLE_TEMPLATES  # the same in every tenant (Learn: "Microsoft Entra built-in roles")


def may_reset(
    app_permissions: Iterable[str], sp_roles: Iterable[str], target_roles: Iterable[str], *, role_required: bool = True
) -> bool:
    """An app-only password reset needs a write permission (User-PasswordProfile.ReadWrite.All, or the broader
    User.ReadWrite.All / Directory.ReadWrite.All) AND a directory role on the service principal whose reach covers
    every role the target holds. Anything else is 403 Authorization_RequestDenied. `role_required=False` (a control
    switch, off only where a test says so) is the older documentation's rule: the dedicated permission alone may reset
    users holding no role."""
    granted = set(app_permissions)
    if not granted & (perm.WRITE_PASSWORD | perm.WRITE_USERS):
        return False
    held = set(target_roles)
    if not role_required and not held and granted & perm.WRITE_PASSWORD:
        return True
    for role in set(sp_roles) & RESET_ROLES:
        reach = REACH[role]
        if reach is None or held <= reach:
            return True
    return False


def within_user_admin_reach(target_roles: Iterable[str]) -> bool:
    return set(target_roles) <= _USER_ADMIN_REACH
