"""Verification reports: named checks (pass/warn/fail with a remedy) and the pure decisions behind them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from shared.domain.connection import Connection
from shared.domain.directory_roles import ASSIGN_ROLE_REMEDY, READ_ROLES_PERMISSION, RoleCheck

Status = Literal["pass", "warn", "fail"]
EXPIRY_WARNING = timedelta(days=30)

# Each need is satisfied by any one of its alternatives (the narrowest first: that is the one we ask for).
SYNC_NEEDS: tuple[tuple[str, ...], ...] = (
    ("User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"),
    ("GroupMember.Read.All", "Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"),
)
ROTATION_NEEDS: tuple[tuple[str, ...], ...] = (("User-PasswordProfile.ReadWrite.All",),)


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    remedy: str = ""


@dataclass(frozen=True)
class Report:
    connection_id: str
    checks: list[Check] = field(default_factory=list)
    waited_for_roles_s: float = 0.0

    @property
    def status(self) -> Status:
        statuses = {c.status for c in self.checks}
        return "fail" if "fail" in statuses else "warn" if "warn" in statuses else "pass"

    def to_dict(self) -> dict[str, Any]:
        return {
            "connection_id": self.connection_id,
            "status": self.status,
            "waited_for_roles_s": round(self.waited_for_roles_s, 1),
            "checks": [asdict(c) for c in self.checks],
        }


def needed_permissions(connection: Connection) -> tuple[tuple[str, ...], ...]:
    return (SYNC_NEEDS if connection.sync_enabled else ()) + (ROTATION_NEEDS if connection.rotation_enabled else ())


def missing_permissions(connection: Connection, roles: set[str]) -> list[str]:
    """The permission to grant for each need no granted role covers."""
    return [options[0] for options in needed_permissions(connection) if not roles.intersection(options)]


def permissions_check(connection: Connection, roles: set[str]) -> Check:
    missing = missing_permissions(connection, roles)
    if not roles:
        return Check(
            "permissions",
            "fail",
            "The token carries no application permissions (roles).",
            "Grant admin consent for the app; right after consent, wait a few minutes and verify again.",
        )
    if missing:
        return Check(
            "permissions",
            "fail",
            f"Missing Microsoft Graph application permission(s): {', '.join(missing)}.",
            f"In Entra admin center > App registrations > API permissions, add {', '.join(missing)} "
            "(Application) and grant admin consent.",
        )
    return Check("permissions", "pass", f"Granted: {', '.join(sorted(roles))}.")


def expiry_check(expires_on: datetime | None, now: datetime) -> Check | None:
    if expires_on is None:
        return None
    if expires_on <= now:
        return Check(
            "credential_expiry",
            "fail",
            f"The credential expired on {expires_on.date().isoformat()}.",
            "Create a new client secret or certificate and update the connection with it.",
        )
    if expires_on - now <= EXPIRY_WARNING:
        days = (expires_on - now).days
        return Check(
            "credential_expiry",
            "warn",
            f"The credential expires in {days} day(s), on {expires_on.date().isoformat()}.",
            "Create a new client secret or certificate now and update the connection with it.",
        )
    return Check("credential_expiry", "pass", f"The credential is valid until {expires_on.date().isoformat()}.")


def rotation_role_check(role: RoleCheck, last_blocked: str = "") -> Check:
    """Rotation readiness from the app's directory role, never from the token's permissions alone (app-only resets
    are refused without a role however many permissions the token carries). `last_blocked`: what the last rotation
    run recorded when every reset was refused."""
    if role.state == "ready":
        reach = "administrators too" if role.resets_admins else "not administrators (they are skipped)"
        return Check("rotation_role", "pass", f"The app holds {', '.join(role.roles)}: it may reset users, {reach}.")
    if role.state == "missing":
        return Check(
            "rotation_role",
            "fail",
            "The app's service principal holds no directory role that may reset passwords: every reset is refused.",
            ASSIGN_ROLE_REMEDY,
        )
    if last_blocked:
        return Check("rotation_role", "fail", f"The last rotation run was blocked: {last_blocked}", ASSIGN_ROLE_REMEDY)
    return Check(
        "rotation_role",
        "warn",
        f"Could not check the app's directory role (that needs the optional {READ_ROLES_PERMISSION}). App-only "
        "password resets are refused without User Administrator (or Privileged Authentication Administrator).",
        ASSIGN_ROLE_REMEDY,
    )
