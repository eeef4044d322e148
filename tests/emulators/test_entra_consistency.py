"""Eventual consistency: with a lag set, reads with `ConsistencyLevel: eventual` and delta rounds see a write only
after the lag, and a delta token marks a position in what was applied, so a later round reports what it missed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from emulators.entra.server import EntraEmulator
from tests.support.graph_calls import EVENTUAL, Graph, links_of, reasons

LAG = 2.0


@pytest.fixture
async def api(http: httpx.AsyncClient, graph_token: str) -> Graph:
    return Graph(http, graph_token)


@pytest.fixture
def lagging(entra: EntraEmulator, tenant: dict[str, Any]) -> Iterator[None]:
    """Emulated time frozen (it moves only when the test advances it) and a 2-second lag on the tenant."""
    entra.control.freeze_clock(True)
    entra.control.set_consistency_lag(LAG, tenant["id"])
    yield  # reset_behaviour (after each test) turns both off


async def _count(api: Graph, group_id: str) -> int:
    page = await api.get(
        f"/v1.0/groups/{group_id}/transitiveMembers/microsoft.graph.user", headers=EVENTUAL, **{"$count": "true"}
    )
    return int(page["@odata.count"])


async def test_the_lag_is_off_by_default(entra: EntraEmulator, tenant: dict[str, Any], api: Graph) -> None:
    state = entra.control.consistency(tenant["id"])
    assert state["lag_s"] == 0 and state["applied_seq"] == state["written_seq"]
    group = entra.control.create_group(tenant["id"], "No lag")["id"]
    user = entra.control.create_user(tenant["id"], "Ida", "Instant", groups=[group])["id"]
    assert await api.member_ids(group, transitive=True) == {user}


async def test_eventual_reads_see_a_write_only_after_the_lag(
    entra: EntraEmulator, tenant: dict[str, Any], api: Graph, lagging: None
) -> None:
    control, tid = entra.control, tenant["id"]
    group = control.create_group(tid, "Lagging group")["id"]
    user = control.create_user(tid, "Lars", "Langsam", groups=[group])["id"]
    assert (await api.get(f"/v1.0/users/{user}"))["id"] == user  # a plain read sees the write at once
    plain = await api.get(f"/v1.0/groups/{group}/members", **{"$select": "id"})
    assert [m["id"] for m in plain["value"]] == [user]
    response = await api.http.get(f"/v1.0/groups/{group}", headers=api.auth)
    assert response.status_code == 200
    lagging_group = await api.http.get(
        f"/v1.0/groups/{group}/transitiveMembers/microsoft.graph.user",
        params={"$count": "true"},
        headers={**api.auth, **EVENTUAL},
    )
    assert lagging_group.status_code == 404  # the index does not know the group yet
    everyone = await api.get("/v1.0/users", headers=EVENTUAL, **{"$count": "true", "$top": "1"})
    state = control.consistency(tid)
    assert state["pending"] >= 2 and state["applied_seq"] < state["written_seq"]

    control.advance_clock(LAG - 0.5)
    assert (
        await api.http.get(f"/v1.0/groups/{group}/members", params={"$count": "true"}, headers={**api.auth, **EVENTUAL})
    ).status_code == 404
    control.advance_clock(0.5)
    assert await api.member_ids(group, transitive=True) == {user}
    assert await _count(api, group) == 1
    after = await api.get("/v1.0/users", headers=EVENTUAL, **{"$count": "true", "$top": "1"})
    assert after["@odata.count"] == everyone["@odata.count"] + 1
    assert control.consistency(tid)["applied_seq"] == control.consistency(tid)["written_seq"]


async def test_a_round_that_misses_a_write_reports_it_in_a_later_round(
    entra: EntraEmulator, tenant: dict[str, Any], api: Graph, lagging: None
) -> None:
    """A write at t - lag/2 is not in a round taken at t; that round's deltaLink (and a `latest` token taken at t)
    covers it: the token marks a position in the applied sequence, not the latest written one."""
    control, tid = entra.control, tenant["id"]
    group = control.create_group(tid, "Delayed delta")["id"]
    control.advance_clock(LAG)
    users_link, groups_link = await api.latest("users"), await api.latest("groups")
    early = control.create_user(tid, "Erik", "Früh", groups=[group])["id"]
    control.advance_clock(LAG / 2)
    late = control.create_user(tid, "Lena", "Spät", groups=[group])["id"]
    control.advance_clock(LAG / 2)  # now: `early` was written a lag ago, `late` half a lag ago

    users_round, users_link = await api.round(users_link)
    assert set(reasons(users_round)) == {early}
    groups_round, groups_link = await api.round(groups_link)
    assert links_of(groups_round) == {(group, early, False)}
    latest_users, latest_groups = await api.latest("users"), await api.latest("groups")

    control.advance_clock(LAG / 2)
    users_round, _ = await api.round(users_link)
    assert set(reasons(users_round)) == {late}
    groups_round, _ = await api.round(groups_link)
    assert links_of(groups_round) == {(group, late, False)}
    assert set(reasons((await api.round(latest_users))[0])) == {late}
    assert links_of((await api.round(latest_groups))[0]) == {(group, late, False)}


async def test_a_soft_delete_and_restore_reach_eventual_reads_after_the_lag(
    entra: EntraEmulator, tenant: dict[str, Any], api: Graph, lagging: None
) -> None:
    control, tid = entra.control, tenant["id"]
    group = control.create_group(tid, "Lagging deletions")["id"]
    user = control.create_user(tid, "Sunniva", "Sletta", groups=[group])["id"]
    control.advance_clock(LAG)
    users_link = await api.latest("users")
    control.delete_user(tid, user)
    assert (await api.http.get(f"/v1.0/users/{user}", headers=api.auth)).status_code == 404
    assert await api.member_ids(group, transitive=True) == {user}  # the index has not seen the delete
    assert (await api.round(users_link))[0] == []
    control.advance_clock(LAG)
    assert await api.member_ids(group, transitive=True) == set()
    users_round, users_link = await api.round(users_link)
    assert reasons(users_round) == {user: "changed"}
    control.restore_user(tid, user)
    control.advance_clock(LAG)
    assert await api.member_ids(group, transitive=True) == {user}
    assert reasons((await api.round(users_link))[0]) == {user: None}


async def test_turning_the_lag_off_applies_what_is_pending(
    entra: EntraEmulator, tenant: dict[str, Any], api: Graph, lagging: None
) -> None:
    control, tid = entra.control, tenant["id"]
    group = control.create_group(tid, "Flushed")["id"]
    user = control.create_user(tid, "Fiona", "Flush", groups=[group])["id"]
    control.set_consistency_lag(0, tid)
    assert await api.member_ids(group, transitive=True) == {user}
    assert control.consistency(tid) == {
        "lag_s": 0.0,
        "pending": 0,
        "written_seq": control.sequence(tid),
        "applied_seq": control.sequence(tid),
    }
