"""Deleted users as Graph shows them: a soft delete keeps memberships out of sight and out of group delta, a restore
brings them back silently, a delete for good (or the end of the 30-day window) reports each link removed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from emulators.entra.control import ControlError
from emulators.entra.server import EntraEmulator
from tests.support.graph_calls import EVENTUAL, Graph, links_of, reasons

THIRTY_DAYS = 30 * 24 * 3600


@pytest.fixture
async def api(http: httpx.AsyncClient, graph_token: str) -> Graph:
    return Graph(http, graph_token)


@pytest.fixture
def two_groups(entra: EntraEmulator, tenant: dict[str, Any]) -> tuple[str, str, str]:
    """A user in two fresh groups, one of them nested in the other: (user, outer group, inner group)."""
    control, tid = entra.control, tenant["id"]
    inner = control.create_group(tid, "Deleted-items inner")["id"]
    outer = control.create_group(tid, "Deleted-items outer", members=[inner])["id"]
    user = control.create_user(tid, "Dagný", "Eyðdóttir", groups=[inner, outer])["id"]
    return user, outer, inner


async def test_soft_delete_keeps_memberships_hidden_and_restore_brings_them_back_silently(
    entra: EntraEmulator, tenant: dict[str, Any], api: Graph, two_groups: tuple[str, str, str]
) -> None:
    control, tid = entra.control, tenant["id"]
    user, outer, inner = two_groups
    users_link, groups_link = await api.latest("users"), await api.latest("groups")
    control.delete_user(tid, user)

    assert control.get_user(tid, user)["groups"] == sorted([outer, inner])  # kept while in deleted items
    assert user not in await api.member_ids(inner)
    plain = await api.get(f"/v1.0/groups/{inner}/members", **{"$select": "id"})  # no ConsistencyLevel header
    assert user not in {m["id"] for m in plain["value"]}
    assert (await api.http.get(f"/v1.0/users/{user}", headers=api.auth)).status_code == 404
    assert user not in await api.member_ids(outer, transitive=True)
    count = await api.get(
        f"/v1.0/groups/{outer}/transitiveMembers/microsoft.graph.user", headers=EVENTUAL, **{"$count": "true"}
    )
    assert count["@odata.count"] == 0
    assert user not in control.ground_truth(tid, outer)["users"]
    users_round, users_link = await api.round(users_link)
    assert reasons(users_round) == {user: "changed"}
    groups_round, groups_link = await api.round(groups_link)
    assert links_of(groups_round) == set()  # group delta never shows a soft delete
    first_round, _ = await api.round("/v1.0/groups/delta", **{"$select": "displayName,members"})
    assert not {link for link in links_of(first_round) if link[1] == user}  # nor a fresh round its links
    with pytest.raises(ControlError):
        control.remove_member(tid, inner, user)  # a deleted object's memberships cannot be changed

    control.restore_user(tid, user)
    assert await api.member_ids(inner) == {user}
    assert await api.member_ids(outer, transitive=True) == {user}
    users_round, _ = await api.round(users_link)
    assert reasons(users_round) == {user: None}  # users/delta reports the user again
    groups_round, _ = await api.round(groups_link)
    assert links_of(groups_round) == set()  # the same memberships came back: no link changed
    assert control.ground_truth(tid, outer)["memberships"] == sorted([[outer, user], [inner, user]])


@pytest.mark.parametrize("soft_first", [False, True])
async def test_a_delete_for_good_reports_each_link_removed(
    entra: EntraEmulator, tenant: dict[str, Any], api: Graph, two_groups: tuple[str, str, str], soft_first: bool
) -> None:
    control, tid = entra.control, tenant["id"]
    user, outer, inner = two_groups
    users_link, groups_link = await api.latest("users"), await api.latest("groups")
    if soft_first:
        control.delete_user(tid, user)
        users_round, users_link = await api.round(users_link)
        assert reasons(users_round) == {user: "changed"}
    control.hard_delete_user(tid, user)
    users_round, _ = await api.round(users_link)
    assert reasons(users_round) == {user: "deleted"}
    groups_round, _ = await api.round(groups_link)
    assert links_of(groups_round) == {(outer, user, True), (inner, user, True)}
    assert control.get_user(tid, user)["groups"] == []
    with pytest.raises(ControlError):
        control.restore_user(tid, user)


async def test_the_deleted_items_window_ends_in_a_delete_for_good(
    entra: EntraEmulator, tenant: dict[str, Any], api: Graph, two_groups: tuple[str, str, str]
) -> None:
    control, tid = entra.control, tenant["id"]
    user, outer, inner = two_groups
    other = control.create_user(tid, "Ørjan", "Fjeldstad", groups=[inner])["id"]
    control.set_delta_max_age(2 * THIRTY_DAYS)  # keep this test's tokens alive across the window
    groups_link = await api.latest("groups")
    control.delete_user(tid, user)
    control.delete_user(tid, other)
    control.advance_clock(THIRTY_DAYS - 60)
    groups_round, groups_link = await api.round(groups_link)
    assert links_of(groups_round) == set()  # still restorable
    control.advance_clock(120)
    groups_round, groups_link = await api.round(groups_link)  # the window ended: gone for good
    assert links_of(groups_round) == {(outer, user, True), (inner, user, True), (inner, other, True)}
    assert control.get_user(tid, user)["state"] == "hard_deleted"


async def test_the_control_api_can_end_the_window_now(
    entra: EntraEmulator, tenant: dict[str, Any], api: Graph, two_groups: tuple[str, str, str]
) -> None:
    control, tid = entra.control, tenant["id"]
    user, outer, inner = two_groups
    groups_link = await api.latest("groups")
    with pytest.raises(ControlError):
        control.expire_deleted_items(tid, user)  # not in deleted items
    control.delete_user(tid, user)
    assert control.expire_deleted_items(tid, user) == [user]
    groups_round, _ = await api.round(groups_link)
    assert links_of(groups_round) == {(outer, user, True), (inner, user, True)}
    assert control.get_user(tid, user)["state"] == "hard_deleted"
