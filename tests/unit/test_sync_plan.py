"""The sync's pure decisions, with literal data: which user rows to write, who leaves scope, the threshold."""

from __future__ import annotations

import pytest

from shared.domain.directory import group_record, user_record
from shared.domain.sync_plan import (
    StoredUser,
    plan_group_writes,
    plan_member_of,
    plan_removals,
    plan_user_writes,
    threshold_exceeded,
)

ANA = {"id": "u1", "displayName": "Ana", "accountEnabled": True, "jobTitle": "Engineer"}
BO = {"id": "u2", "displayName": "Bo", "accountEnabled": False}


def test_new_changed_and_unchanged_users() -> None:
    ana, bo = user_record(ANA), user_record(BO)
    stored = {"u1": StoredUser(ana.hash, "active", True)}
    assert [(w.kind, w.record.id, w.status) for w in plan_user_writes([ana, bo], stored, None)] == [
        ("user.created", "u2", "disabled")
    ]
    renamed = user_record({**ANA, "jobTitle": "Lead"})
    assert [w.kind for w in plan_user_writes([renamed], stored, None)] == ["user.updated"]


def test_users_outside_scope_are_not_written() -> None:
    assert plan_user_writes([user_record(ANA)], {}, scope={"u2"}) == []


def test_disabling_in_entra_rewrites_the_status_even_with_the_same_attributes_hash() -> None:
    ana = user_record(ANA)
    stored = {"u1": StoredUser(ana.hash, "disabled", True)}
    assert [(w.kind, w.status) for w in plan_user_writes([ana], stored, None)] == [("user.updated", "active")]


def test_a_user_coming_back_is_restored() -> None:
    ana = user_record(ANA)
    for before in (StoredUser(ana.hash, "inactive", False), StoredUser(ana.hash, "active", False)):
        assert [w.kind for w in plan_user_writes([ana], {"u1": before}, {"u1"})] == ["user.restored"]


def test_a_changed_default_rewrites_the_row() -> None:
    before = user_record(ANA, {"sso_enabled": True})
    after = user_record(ANA, {"sso_enabled": False})
    stored = {"u1": StoredUser(before.hash, "active", True)}
    assert [w.kind for w in plan_user_writes([after], stored, None)] == ["user.updated"]


@pytest.mark.parametrize(
    ("behaviour", "kind"), [("deactivate", "user.deactivated"), ("delete", "user.deleted"), ("keep", "user.kept")]
)
def test_removals_follow_the_behaviour_and_name_the_reason(behaviour: str, kind: str) -> None:
    stored = {
        "stay": StoredUser("h", "active", True),
        "left": StoredUser("h", "active", True),
        "gone": StoredUser("h", "disabled", True),
        "was_out": StoredUser("h", "inactive", False),
    }
    removals = plan_removals(stored, scope={"stay"}, deleted={"gone"}, behaviour=behaviour)
    assert [(r.kind, r.user_id, r.reason) for r in removals] == [
        (kind, "gone", "deleted"),
        (kind, "left", "left_scope"),
    ]


def test_an_inactive_user_is_not_deactivated_twice() -> None:
    stored = {"u1": StoredUser("h", "inactive", True)}
    assert plan_removals(stored, scope=set(), deleted=set(), behaviour="deactivate") == []


def test_threshold_absolute_and_percentage_whichever_is_smaller() -> None:
    assert not threshold_exceeded(500, 10_000, 500, None)
    assert threshold_exceeded(501, 10_000, 500, None)
    assert threshold_exceeded(101, 10_000, 500, 1)  # 1% of 10,000 = 100 < 500
    assert not threshold_exceeded(100, 10_000, 500, 1)
    assert not threshold_exceeded(3, 0, 500, 1)  # nothing stored yet: the absolute limit applies


def test_group_writes_only_for_new_or_changed_groups() -> None:
    team = group_record({"id": "g1", "displayName": "Team"})
    renamed = group_record({"id": "g1", "displayName": "Team ✓"})
    new = group_record({"id": "g2", "displayName": "New"})
    stored = {"g1": team.hash}
    assert [(k, r.id) for k, r in plan_group_writes([team, new], stored)] == [("group.created", "g2")]
    assert [(k, r.id) for k, r in plan_group_writes([renamed], stored)] == [("group.updated", "g1")]


def test_a_repeated_delta_entry_counts_once_and_the_last_state_wins() -> None:
    from shared.domain.sync_plan import latest_by_id

    items = [{"id": "u1", "v": 1}, {"displayName": "no id"}, {"id": "u2"}, {"id": "u1", "v": 2}, {"displayName": "x"}]
    assert latest_by_id(items) == [{"displayName": "no id"}, {"id": "u2"}, {"id": "u1", "v": 2}, {"displayName": "x"}]


def test_member_of_gives_links_by_group_and_a_404_marks_the_user_gone_not_a_member_of_nothing() -> None:
    sales = {"id": "g1", "displayName": "Sales"}
    memberships = {"u1": [sales, {"id": "g2", "displayName": "Ops"}], "u2": [sales], "u3": None, "u4": []}
    found = plan_member_of(["u1", "u2", "u3", "u4", "u5"], memberships)
    assert found.links == {"g1": frozenset({"u1", "u2"}), "g2": frozenset({"u1"})}
    assert sorted(found.groups) == ["g1", "g2"] and found.groups["g1"] == sales
    assert found.gone == frozenset({"u3"})  # deleted since the users round: its memberships are unknown
    assert plan_member_of(["u4", "u5"], memberships).gone == frozenset()  # no groups, or not asked: none
