"""The incremental run's scope decision with literal data: when the scope is listed, which rows and links are read."""

from __future__ import annotations

from shared.domain.sync_plan import StoredUser
from shared.domain.sync_scope import (
    APPROVED,
    DIRTY,
    HELD,
    NO_TREE,
    TREE_CHANGED,
    ScopeFacts,
    delta_facts,
    partial_scope,
    plan_scope,
    returning,
    unstored,
)

USER = "#microsoft.graph.user"
GROUP = "#microsoft.graph.group"
DEVICE = "#microsoft.graph.device"
TREE = frozenset({"sync", "nested"})
SCOPE = ScopeFacts(sync_group="sync", tree=TREE)


def _group(gid: str, *links: tuple[str, str, bool], removed: bool = False) -> dict[str, object]:
    item: dict[str, object] = {"id": gid, "displayName": gid}
    item["members@delta"] = [
        {"@odata.type": kind, "id": mid, **({"@removed": {"reason": "deleted"}} if gone else {})}
        for kind, mid, gone in links
    ]
    if removed:
        item["@removed"] = {"reason": "deleted"}
    return item


def test_facts_separate_live_and_deleted_users_and_name_user_links() -> None:
    facts = delta_facts(
        [{"id": "u1"}, {"id": "u2", "@removed": {"reason": "changed"}}, {"displayName": "no id"}],
        [_group("g1", (USER, "u3", False), (DEVICE, "d1", False)), _group("g2", removed=True)],
    )
    assert facts.changed == {"u1"} and facts.gone == {"u2"}
    assert facts.links == {("g1", "u3")}
    assert facts.removed_groups == {"g2"} and facts.touched_groups == {"g1", "g2"}


def test_changes_outside_the_tree_read_only_the_named_rows_and_links() -> None:
    facts = delta_facts([{"id": "u1"}], [_group("outside", (USER, "u2", False))])
    plan = plan_scope(facts, SCOPE)
    assert not plan.list_scope
    assert plan.rows == {"u1", "u2"} and plan.links == {("outside", "u2")}


def test_a_deleted_group_outside_the_tree_is_not_asked_for_links() -> None:
    facts = delta_facts([], [_group("outside", (USER, "u2", True), removed=True)])
    plan = plan_scope(facts, SCOPE)
    assert not plan.list_scope and plan.links == frozenset() and plan.rows == {"u2"}


def test_a_user_or_nested_group_link_in_the_tree_lists_the_scope() -> None:
    for link in [(USER, "u1", False), (USER, "u1", True), (GROUP, "deeper", False), ("", "x", False)]:
        item = _group("nested", link)
        if not link[0]:
            item["members@delta"] = [{"id": "x"}]  # untyped: counts as a scope link
        assert plan_scope(delta_facts([], [item]), SCOPE).reason == TREE_CHANGED


def test_a_device_joining_the_tree_does_not_list_the_scope() -> None:
    assert not plan_scope(delta_facts([], [_group("sync", (DEVICE, "d1", False))]), SCOPE).list_scope


def test_a_deleted_tree_group_lists_the_scope() -> None:
    assert plan_scope(delta_facts([], [_group("nested", removed=True)]), SCOPE).reason == TREE_CHANGED


def test_an_unknown_tree_lists_the_scope() -> None:
    unknown = ScopeFacts(sync_group="sync", tree=None)
    assert plan_scope(delta_facts([{"id": "u1"}], []), unknown).reason == NO_TREE


def test_without_a_sync_group_nothing_needs_a_listing() -> None:
    plan = plan_scope(delta_facts([{"id": "u1"}], [_group("any", (USER, "u2", False))]), ScopeFacts("", None))
    assert not plan.list_scope


def test_approved_removals_and_a_dirty_scope_list_it_whatever_the_rounds_say() -> None:
    empty = delta_facts([], [])
    assert plan_scope(empty, ScopeFacts("sync", TREE, approved=True)).reason == APPROVED
    assert plan_scope(empty, ScopeFacts("sync", TREE, dirty=True)).reason == DIRTY
    assert plan_scope(empty, ScopeFacts("sync", TREE, held=True)).reason == HELD
    assert plan_scope(empty, ScopeFacts("", None, held=True)).reason == HELD
    assert not plan_scope(empty, SCOPE).list_scope


def test_a_named_user_stored_out_of_scope_or_inactive_is_returning() -> None:
    facts = delta_facts([{"id": "u1"}], [])
    assert returning(facts, {"u1": StoredUser("h", "inactive", False)})
    assert returning(facts, {"u1": StoredUser("h", "active", False)})
    assert not returning(facts, {"u1": StoredUser("h", "active", True)})
    gone = delta_facts([{"id": "u1", "@removed": {"reason": "changed"}}], [])
    assert not returning(gone, {"u1": StoredUser("h", "inactive", False)})


def test_unstored_changed_users_are_checked_and_the_partial_scope_keeps_the_stored_ones() -> None:
    facts = delta_facts([{"id": "u1"}, {"id": "new"}, {"id": "u3", "@removed": {"reason": "deleted"}}], [])
    stored = {
        "u1": StoredUser("h", "active", True),
        "u2": StoredUser("h", "disabled", True),
        "u3": StoredUser("h", "active", True),
        "out": StoredUser("h", "active", False),
        "off": StoredUser("h", "inactive", True),
    }
    assert unstored(facts, stored) == {"new"}
    assert partial_scope(facts, stored, "sync", {"new"}) == {"u1", "u2", "new"}
    assert partial_scope(facts, stored, "", ()) == {"u1", "new"}


def test_many_changed_users_list_the_scope_ids_first_when_that_is_cheaper() -> None:
    from shared.domain.sync_scope import narrow_rows

    many = delta_facts([{"id": f"u{n}"} for n in range(41)] + [{"id": "gone", "@removed": {}}], [])
    small = ScopeFacts("sync", TREE, users_stored=1500)  # a listing of 2 pages against 3 memberOf batches
    plan = plan_scope(many, small)
    assert not plan.list_scope and plan.ids_first
    assert narrow_rows(plan, many, {"u1", "u2", "other"}) == {"u1", "u2", "gone"}
    assert not plan_scope(many, ScopeFacts("sync", TREE, users_stored=50_000)).ids_first  # 51 pages: memberOf
    assert not plan_scope(many, ScopeFacts("sync", TREE)).ids_first  # size unknown
    assert not plan_scope(many, ScopeFacts("", None, users_stored=10)).ids_first  # no sync group: nothing to check
    few = delta_facts([{"id": "u1"}], [])
    assert not plan_scope(few, small).ids_first
