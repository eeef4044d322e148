"""Which permissions each feature needs, how a missing one is named, and credential expiry warnings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.domain.connection import Connection
from shared.domain.verification import Check, Report, expiry_check, missing_permissions, permissions_check

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def conn(sync: bool = True, rotation: bool = False) -> Connection:
    return Connection(
        id="c",
        tenant_id="t",
        display_name="x",
        credential_mode="admin_consent",
        sync_enabled=sync,
        rotation_enabled=rotation,
    )


def test_sync_needs_users_and_group_members() -> None:
    assert missing_permissions(conn(), {"User.Read.All", "Group.Read.All"}) == []
    assert missing_permissions(conn(), {"User.Read.All"}) == ["GroupMember.Read.All"]
    assert missing_permissions(conn(), {"Directory.Read.All"}) == []


def test_rotation_needs_password_profile() -> None:
    check = permissions_check(conn(rotation=True), {"User.Read.All", "GroupMember.Read.All"})
    assert check.status == "fail" and "User-PasswordProfile.ReadWrite.All" in check.detail


def test_no_roles_is_a_failure_with_advice() -> None:
    assert permissions_check(conn(), set()).status == "fail"


def test_expiry() -> None:
    assert expiry_check(None, NOW) is None
    assert expiry_check(NOW - timedelta(days=1), NOW).status == "fail"  # type: ignore[union-attr]
    assert expiry_check(NOW + timedelta(days=29), NOW).status == "warn"  # type: ignore[union-attr]
    assert expiry_check(NOW + timedelta(days=31), NOW).status == "pass"  # type: ignore[union-attr]


def test_report_status_is_the_worst() -> None:
    assert Report("c", [Check("a", "pass", ""), Check("b", "warn", "")]).status == "warn"
    assert Report("c", [Check("a", "fail", ""), Check("b", "warn", "")]).to_dict()["status"] == "fail"
