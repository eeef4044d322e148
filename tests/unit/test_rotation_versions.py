"""The product's own order of password versions, the plan before any change, and what Entra's answer means."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.domain import rotation as rules
from shared.domain.rotation_versions import Verdict, judge, newest_with, ordered, plan_versions
from shared.domain.secret_values import SecretVersionInfo

T = datetime(2026, 1, 1, tzinfo=UTC)


def v(version: str, status: str, seq: int | None = None, *, enabled: bool = True) -> SecretVersionInfo:
    tags = {"status": status, **({"seq": str(seq)} if seq is not None else {})}
    return SecretVersionInfo("pwd", version, enabled=enabled, created_on=T, tags=tags)


def test_order_is_the_seq_tag_never_listing_order_or_a_same_second_tie() -> None:
    listed = [v("aaa", "superseded", 1), v("zzz", "current", 3), v("mmm", "superseded", 2)]  # one second, any order
    assert [x.version for x in ordered(listed)] == ["zzz", "mmm", "aaa"]
    assert [x.version for x in ordered(list(reversed(listed)))] == ["zzz", "mmm", "aaa"]
    assert newest_with(listed, rules.CURRENT) == listed[1]
    disabled = [v("a", "current", 5, enabled=False), v("b", "current", 4)]
    assert newest_with(disabled, rules.CURRENT) == v("b", "current", 4)


def test_a_pending_version_newer_than_current_is_resolved_first() -> None:
    plan = plan_versions([v("c", "current", 1), v("p", "pending", 2)])
    assert plan.pending == v("p", "pending", 2) and plan.current == v("c", "current", 1)
    assert plan.retag == () and plan.next_seq == 3


def test_a_pending_version_older_than_current_never_became_entras() -> None:
    plan = plan_versions([v("p", "pending", 1), v("r", "current", 2)])  # a crash after the restore write
    assert plan.pending is None and plan.retag == ((v("p", "pending", 1), rules.FAILED),)


def test_only_the_newest_current_stays_current_and_only_the_newest_pending_counts() -> None:
    plan = plan_versions([v("c1", "current", 1), v("c2", "current", 2), v("p3", "pending", 3), v("p4", "pending", 4)])
    assert plan.current == v("c2", "current", 2) and plan.pending == v("p4", "pending", 4)
    assert list(plan.retag) == [(v("c1", "current", 1), rules.SUPERSEDED), (v("p3", "pending", 3), rules.FAILED)]
    assert plan_versions([]).next_seq == 1 and plan_versions([]).current is None


def test_versions_written_before_seq_count_as_zero() -> None:
    plan = plan_versions([v("old", "current"), v("new", "pending", 1)])
    assert plan.pending == v("new", "pending", 1) and plan.next_seq == 2


def test_what_an_answer_means() -> None:
    assert judge(204).verdict is Verdict.APPLIED
    assert judge(400, "The specified password has been used previously.").verdict is Verdict.APPLIED
    assert judge(None) == judge(None, possibly_applied=True)
    assert judge(None).verdict is Verdict.UNKNOWN  # throttled or failing after retries: maybe applied
    assert judge(404, possibly_applied=True).verdict is Verdict.REFUSED  # the user is gone
    complexity = "The specified password does not comply with password complexity requirements."
    assert judge(400, complexity, possibly_applied=True).verdict is Verdict.REFUSED  # can never have been accepted
    assert judge(403).verdict is Verdict.REFUSED and judge(403).reason == "reset_denied"
    assert judge(403, possibly_applied=True).verdict is Verdict.UNKNOWN  # an earlier sending may have landed
    assert judge(400, "Unable to update", graph_code="Request_BadRequest").verdict is Verdict.REFUSED
    assert judge(400, "Unable to update", graph_code="Request_BadRequest", possibly_applied=True).verdict is (
        Verdict.UNKNOWN
    )
