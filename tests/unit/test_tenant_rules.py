"""The tenant rules with literal data: stored rows and fresh claims are neighbours, stale claims are not; a second
connection needs the flag; a rotation group held by a row or by a claim is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.tenant_rules import CLAIM_GRACE, Claim, StoredConnection, check, neighbours
from shared.errors import RotationGroupInUse, TenantAlreadyConnected

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TENANT = "t-1"


def test_rows_and_fresh_claims_are_neighbours_stale_claims_are_not() -> None:
    rows = [StoredConnection("a", "", NOW - timedelta(days=3))]
    claims = {
        "a": Claim("g1", NOW - timedelta(days=1)),  # row says rotation off, its claim says g1: both count
        "fresh": Claim("g2", NOW - CLAIM_GRACE + timedelta(seconds=1)),
        "stale": Claim("g3", NOW - CLAIM_GRACE),
    }
    found = neighbours(rows, claims, NOW)
    assert set(found) == {"a", "fresh"}
    assert found["a"].rotation_groups == {"g1"} and found["fresh"].rotation_groups == {"g2"}


def test_a_second_connection_is_refused_naming_the_oldest() -> None:
    rows = [StoredConnection("b", "", NOW - timedelta(days=1)), StoredConnection("a", "", NOW - timedelta(days=2))]
    others = neighbours(rows, {}, NOW)
    with pytest.raises(TenantAlreadyConnected) as refused:
        check(TENANT, "new", "", others, allow_second=False)
    assert refused.value.connection_id == "a" and refused.value.to_dict()["connection_id"] == "a"
    check(TENANT, "new", "", others, allow_second=True)
    check(TENANT, "a", "", neighbours(rows[1:], {}, NOW), allow_second=False)  # itself is no second


def test_the_rotation_group_of_another_connection_is_refused() -> None:
    others = neighbours([StoredConnection("a", "g1", NOW)], {"x": Claim("g2", NOW)}, NOW)
    for group, holder in (("g1", "a"), ("g2", "x")):
        with pytest.raises(RotationGroupInUse) as refused:
            check(TENANT, "new", group, others, allow_second=True)
        assert refused.value.connection_id == holder and set(refused.value.problems) == {"rotation_group_id"}
    check(TENANT, "new", "g3", others, allow_second=True)
    check(TENANT, "a", "g1", others, allow_second=True)  # its own group
