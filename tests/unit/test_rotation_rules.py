"""Rotation decisions: the due set, skip reasons, due times, the lock's expiry and version status tags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.domain import rotation as rules

NOW = datetime(2025, 6, 1, tzinfo=UTC)


def test_due_set_is_rotation_members_in_scope() -> None:
    assert rules.due_set(["a", "b", "c"], ["b", "c", "d"]) == ["b", "c"]


def test_skip_reasons() -> None:
    assert rules.skip_reason(None) == rules.Skip.NOT_FOUND
    assert rules.skip_reason({"onPremisesSyncEnabled": True, "accountEnabled": True}) == rules.Skip.ON_PREMISES
    assert rules.skip_reason({"onPremisesSyncEnabled": None, "accountEnabled": False}) == rules.Skip.DISABLED
    assert rules.skip_reason({"onPremisesSyncEnabled": None, "accountEnabled": True}) is None


def test_due_and_next_due() -> None:
    assert rules.is_due(None, NOW)
    assert rules.is_due({"next_due_at": ""}, NOW)
    assert rules.is_due({"next_due_at": (NOW - timedelta(seconds=1)).isoformat()}, NOW)
    assert not rules.is_due({"next_due_at": rules.next_due(NOW, 30).isoformat()}, NOW)
    assert rules.next_due(NOW, 30) == NOW + timedelta(days=30)
    assert rules.next_due(NOW, 0) == NOW + timedelta(days=1)


def test_lock_expires() -> None:
    held = {"lock_owner": "run1", "lock_expires_at": (NOW + rules.LOCK_TTL).isoformat()}
    assert rules.lock_is_free(None, NOW)
    assert rules.lock_is_free({"lock_owner": ""}, NOW)
    assert not rules.lock_is_free(held, NOW)
    assert rules.lock_is_free(held, NOW + rules.LOCK_TTL)


def test_status_tags() -> None:
    assert rules.with_status({"kind": "password", "status": "pending"}, "current", rotated_at="t") == {
        "kind": "password",
        "status": "current",
        "rotated-at": "t",
    }


def test_report_shape_has_no_values() -> None:
    report = rules.RotationReport("c", "r", considered=2, rotated={"u": "v1"}, skipped={"x": rules.Skip.DISABLED})
    assert report.to_dict()["skipped"] == {"x": "account_disabled"}
    assert report.to_dict()["rotated"] == {"u": "v1"}
