"""Who an AD connection's hourly rotation picks and what a user's schedule row says after an agent's answer
(shared/domain/ad_rotation_schedule.py), with literal data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.domain.ad_rotation_schedule import MEMBER_FLAG, due_users, membership_changes, state_after

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def row(member: bool = True, due_in_days: float | None = None, pending: str = "") -> dict[str, object]:
    out: dict[str, object] = {MEMBER_FLAG: member, "pending_version": pending}
    if due_in_days is not None:
        out["next_due_at"] = (NOW + timedelta(days=due_in_days)).isoformat()
    return out


def test_due_members_only_and_pending_first() -> None:
    states = {
        "never": row(),  # never rotated: due
        "old": row(due_in_days=-3),  # older than the interval: due
        "recent": row(due_in_days=20),  # rotated recently: not due
        "left": row(member=False),  # not in the rotation group
        "stuck": row(due_in_days=25, pending="v7"),  # a pending version to finish, whatever its due date
        "gone": row(),  # member, but no longer active in scope
        "busy": row(),  # already in an open rotation job
    }
    active = {"never", "old", "recent", "left", "stuck", "busy"}
    assert due_users(states, active, {"busy"}, NOW, 10) == ["stuck", "never", "old"]
    assert due_users(states, active, {"busy"}, NOW, 2) == ["stuck", "never"]
    assert due_users(states, active, set(), NOW + timedelta(days=21), 10) == ["stuck", "busy", "never", "old", "recent"]


def test_only_joiners_and_leavers_are_written() -> None:
    states = {"a": row(), "b": row(), "c": row(member=False)}
    assert membership_changes(states, ["a", "c", "d"]) == (["c", "d"], ["b"])
    assert membership_changes(states, ["a", "b"]) == ([], [])


def test_the_schedule_row_after_each_answer() -> None:
    rotated = state_after("set", "v2", NOW, 30, current="v1", other_pending=False)
    assert rotated is not None and rotated["current_version"] == "v2" and rotated["pending_version"] == ""
    assert rotated["next_due_at"] == (NOW + timedelta(days=30)).isoformat()
    refused = state_after("refused", "v2", NOW, 30, current="v1", other_pending=False)
    assert (
        refused is not None
        and refused["pending_version"] == ""
        and refused["next_due_at"] == (NOW + timedelta(days=1)).isoformat()
    )  # tried again tomorrow, not every hour
    unknown = state_after("pending", "v2", NOW, 30, current="v1", other_pending=False)
    assert unknown == {"pending_version": "v2", "needs_resolution": True, "last_result": "pending"}
    landed = state_after("already_resolved", "v2", NOW, 30, current="v2", other_pending=False)
    assert landed is not None and landed["current_version"] == "v2"  # an earlier answer made it current
    assert state_after("already_resolved", "v2", NOW, 30, current="v1", other_pending=False) == {
        "pending_version": "",
        "needs_resolution": False,
    }
    assert state_after("already_resolved", "v2", NOW, 30, current="v1", other_pending=True) is None
