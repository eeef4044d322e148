"""users/delta and groups/delta rounds through msgraph-sdk: paging, changes, removals, big groups, expiry, resets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_http.middleware.options import RetryHandlerOption
from msgraph.generated.groups.delta.delta_request_builder import DeltaRequestBuilder as GroupsDelta
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.users.delta.delta_request_builder import DeltaRequestBuilder as UsersDelta

from emulators.entra.server import EntraEmulator

SEVEN_DAYS = 7 * 24 * 3600


@pytest.fixture
def small_pages(entra: EntraEmulator) -> Iterator[None]:
    entra.control.set_delta_page_size(objects=7, links=10)
    yield


async def _round(builder: Any, first: Any, config: Any = None) -> tuple[list[Any], str, int]:
    """Follow nextLinks to the deltaLink; return (entries, deltaLink, pages)."""
    result = await first.get(request_configuration=config) if config is not None else await first.get()
    entries = list(result.value)
    pages = 1
    while result.odata_next_link:
        assert result.odata_delta_link is None  # never both
        result = await builder.with_url(result.odata_next_link).get()
        entries += result.value
        pages += 1
    assert result.odata_delta_link
    return entries, result.odata_delta_link, pages


def _active(entra: EntraEmulator, tenant_id: str) -> set[str]:
    return {uid for uid, u in entra.world.tenants[tenant_id].directory.users.items() if u.state == "active"}


def _removed(entry: Any) -> str | None:
    removed = (entry.additional_data or {}).get("@removed")
    return removed["reason"] if removed else None


async def test_users_delta_rounds_track_changes(
    entra: EntraEmulator, tenant: dict[str, Any], graph: Any, small_pages: None
) -> None:
    tid = tenant["id"]
    config = RequestConfiguration(
        query_parameters=UsersDelta.DeltaRequestBuilderGetQueryParameters(
            select=["displayName", "jobTitle", "accountEnabled"]
        )
    )
    entries, delta_link, pages = await _round(graph.users.delta, graph.users.delta, config)
    live = {e.id for e in entries if _removed(e) is None}
    assert live == _active(entra, tid)
    assert pages >= len(live) // 7
    assert delta_link.startswith(entra.graph_url + "/users/delta?$deltatoken=")
    changed, soft, hard = sorted(live)[:3]
    created = entra.control.create_user(tid, "Ægir", "Þórsson", department="Support")
    entra.control.update_user(tid, changed, jobTitle="Chief Delta Officer")
    entra.control.delete_user(tid, soft)
    entra.control.hard_delete_user(tid, hard)
    second, delta_link, _ = await _round(graph.users.delta, graph.users.delta.with_url(delta_link))
    by_id = {e.id: e for e in second}
    assert set(by_id) == {created["id"], changed, soft, hard}
    assert by_id[created["id"]].display_name == "Ægir Þórsson"
    assert by_id[changed].job_title == "Chief Delta Officer"
    assert by_id[changed].account_enabled is not None  # the first call's $select is baked into the token
    assert (_removed(by_id[soft]), _removed(by_id[hard])) == ("changed", "deleted")
    entra.control.restore_user(tid, soft)
    third, delta_link, _ = await _round(graph.users.delta, graph.users.delta.with_url(delta_link))
    assert [(e.id, _removed(e)) for e in third] == [(soft, None)]
    quiet, _, _ = await _round(graph.users.delta, graph.users.delta.with_url(delta_link))
    assert quiet == []


async def test_change_during_a_round_is_not_lost(
    entra: EntraEmulator, tenant: dict[str, Any], graph: Any, small_pages: None
) -> None:
    tid = tenant["id"]
    first = await graph.users.delta.get()
    served = first.value[0].id
    entra.control.update_user(tid, served, jobTitle="Changed mid-round")
    result = first
    while result.odata_next_link:
        result = await graph.users.delta.with_url(result.odata_next_link).get()
    again, _, _ = await _round(graph.users.delta, graph.users.delta.with_url(result.odata_delta_link))
    assert served in {e.id for e in again}


async def test_groups_delta_members_and_big_group_split(
    entra: EntraEmulator, tenant: dict[str, Any], graph: Any, small_pages: None
) -> None:
    tid = tenant["id"]
    directory = entra.world.tenants[tid].directory
    config = RequestConfiguration(
        query_parameters=GroupsDelta.DeltaRequestBuilderGetQueryParameters(select=["displayName", "members"])
    )
    entries, delta_link, _ = await _round(graph.groups.delta, graph.groups.delta, config)
    members: dict[str, set[str]] = {}
    appearances: dict[str, int] = {}
    for entry in entries:
        appearances[entry.id] = appearances.get(entry.id, 0) + 1
        links = entry.additional_data.get("members@delta", [])
        assert len(links) <= 10
        members.setdefault(entry.id, set()).update(str(link["id"]) for link in links)  # the SDK parses ids to UUID
    expected = {gid: set(g.member_ids()) for gid, g in directory.groups.items() if g.state == "active"}
    assert members == expected
    assert max(appearances.values()) > 1  # groups larger than a page are split across pages
    sync_id, rotation_id = tenant["sync_group"]["id"], tenant["rotation_group"]["id"]
    newcomer = entra.control.create_user(tid, "Nguyễn", "Văn An")
    leaver = sorted(u for u in expected[sync_id] if u in directory.users)[0]
    deleted_member = sorted(u for u in expected[rotation_id] if u in directory.users and u != leaver)[0]
    entra.control.add_member(tid, sync_id, newcomer["id"])
    entra.control.remove_member(tid, sync_id, leaver)
    entra.control.delete_user(tid, deleted_member)  # group delta does not report this one
    extra = entra.control.create_group(tid, "Delta Newcomers", members=[newcomer["id"]])
    doomed = entra.control.create_group(tid, "Short-lived")
    second, delta_link, _ = await _round(graph.groups.delta, graph.groups.delta.with_url(delta_link))
    by_id: dict[str, list[Any]] = {}
    for entry in second:
        by_id.setdefault(entry.id, []).append(entry)
    sync_links = [link for e in by_id[sync_id] for link in e.additional_data.get("members@delta", [])]
    assert {(str(link["id"]), "@removed" in link) for link in sync_links} == {(newcomer["id"], False), (leaver, True)}
    assert rotation_id not in by_id  # its member was deleted: group delta stays silent
    assert by_id[extra["id"]][0].display_name == "Delta Newcomers"
    entra.control.delete_group(tid, doomed["id"])
    entra.control.restore_user(tid, deleted_member)
    third, _, _ = await _round(graph.groups.delta, graph.groups.delta.with_url(delta_link))
    third_by_id: dict[str, list[Any]] = {}
    for entry in third:
        third_by_id.setdefault(entry.id, []).append(entry)
    assert _removed(third_by_id[doomed["id"]][0]) == "deleted"
    assert rotation_id not in third_by_id  # the restored user kept its membership: no link changed
    assert deleted_member in directory.groups[rotation_id].member_ids()


async def test_deltatoken_latest_and_filter_by_ids(
    entra: EntraEmulator, tenant: dict[str, Any], http: httpx.AsyncClient, graph_token: str
) -> None:
    auth = {"Authorization": f"Bearer {graph_token}"}
    latest = (await http.get("/v1.0/users/delta", params={"$deltatoken": "latest"}, headers=auth)).json()
    assert latest["value"] == []
    assert "@odata.nextLink" not in latest
    ids = sorted(_active(entra, tenant["id"]))
    entra.control.update_user(tenant["id"], ids[5], jobTitle="After latest")
    after = (await http.get(latest["@odata.deltaLink"], headers=auth)).json()
    assert [row["id"] for row in after["value"]] == [ids[5]]
    chosen = ids[:3]
    filtered = (
        await http.get(
            "/v1.0/users/delta", params={"$filter": " or ".join(f"id eq '{i}'" for i in chosen)}, headers=auth
        )
    ).json()
    assert sorted(row["id"] for row in filtered["value"]) == chosen
    fifty = " or ".join(f"id eq '{i:08d}-0000-0000-0000-000000000000'" for i in range(50))
    assert (await http.get("/v1.0/users/delta", params={"$filter": fifty}, headers=auth)).status_code == 200
    fifty_one = fifty + " or id eq 'ffffffff-0000-0000-0000-000000000000'"
    response = await http.get("/v1.0/users/delta", params={"$filter": fifty_one}, headers=auth)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "Request_UnsupportedQuery"


@pytest.mark.parametrize("option", ["$top", "$orderby", "$expand"])
async def test_unsupported_options_on_delta(http: httpx.AsyncClient, graph_token: str, option: str) -> None:
    response = await http.get(
        "/v1.0/users/delta",
        params={option: "5" if option == "$top" else "displayName"},
        headers={"Authorization": f"Bearer {graph_token}"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "Request_UnsupportedQuery"


@pytest.mark.parametrize("path", ["/v1.0/users/delta()", "/v1.0//users//delta", "/v1.0/groups/delta()"])
async def test_delta_path_forms(http: httpx.AsyncClient, graph_token: str, path: str) -> None:
    response = await http.get(
        path, params={"$deltatoken": "latest"}, headers={"Authorization": f"Bearer {graph_token}"}
    )
    assert response.status_code == 200
    assert "$deltatoken=" in response.json()["@odata.deltaLink"]


async def test_expired_token_is_sync_state_not_found(entra: EntraEmulator, graph: Any) -> None:
    _, delta_link, _ = await _round(graph.users.delta, graph.users.delta)
    entra.control.advance_clock(SEVEN_DAYS - 60)
    await graph.users.delta.with_url(delta_link).get()  # still valid just before the edge
    entra.control.advance_clock(120)
    options = [RetryHandlerOption(delay=0, max_retries=0)]
    with pytest.raises(ODataError) as caught:
        await graph.users.delta.with_url(delta_link).get(request_configuration=RequestConfiguration(options=options))
    assert caught.value.response_status_code == 400
    assert caught.value.error.code == "syncStateNotFound"


async def test_forced_reset_is_410_with_location(
    entra: EntraEmulator, tenant: dict[str, Any], http: httpx.AsyncClient, graph_token: str
) -> None:
    auth = {"Authorization": f"Bearer {graph_token}"}
    first = (
        await http.get(
            "/v1.0/groups/delta", params={"$select": "displayName,members", "$deltatoken": "latest"}, headers=auth
        )
    ).json()
    entra.control.force_delta_reset(tenant["id"])
    response = await http.get(first["@odata.deltaLink"], headers=auth)
    assert response.status_code == 410
    assert response.json()["error"]["code"] == "resyncRequired"
    location = response.headers["Location"]
    assert location.startswith(entra.graph_url + "/groups/delta?$select=displayName,members")
    restart = await http.get(location, headers=auth)
    assert restart.status_code == 200
    assert (await http.get(first["@odata.deltaLink"], headers=auth)).status_code == 200  # used once


async def test_duplicate_switch_repeats_entries(
    entra: EntraEmulator, tenant: dict[str, Any], http: httpx.AsyncClient, graph_token: str
) -> None:
    entra.control.set_delta_duplicates(tenant["id"], True)
    page = (await http.get("/v1.0/users/delta", headers={"Authorization": f"Bearer {graph_token}"})).json()
    ids = [row["id"] for row in page["value"]]
    assert len(ids) > len(set(ids))


# -- what users/delta reports (Learn: "user: delta" response notes; "Use delta query to track changes") ------------
async def _raw_round(http: httpx.AsyncClient, url: str, auth: dict[str, str]) -> tuple[list[dict[str, Any]], str]:
    rows: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        page = (await http.get(next_url, headers=auth)).json()
        rows += page["value"]
        next_url = page.get("@odata.nextLink")
        delta = page.get("@odata.deltaLink")
    return rows, delta


def _cloud_users(entra: EntraEmulator, tenant_id: str, n: int) -> list[str]:
    users = entra.world.tenants[tenant_id].directory.users
    return [
        uid
        for uid, u in sorted(users.items())
        if u.state == "active" and not u.props.get("onPremisesSyncEnabled") and not u.roles
    ][:n]


async def test_users_delta_tracks_only_the_selected_properties(
    entra: EntraEmulator, tenant: dict[str, Any], graph: Any, http: httpx.AsyncClient, graph_token: str
) -> None:
    tid = tenant["id"]
    config = RequestConfiguration(
        query_parameters=UsersDelta.DeltaRequestBuilderGetQueryParameters(select=["displayName", "jobTitle"])
    )
    _, delta_link, _ = await _round(graph.users.delta, graph.users.delta, config)
    reset, unselected, selected = _cloud_users(entra, tid, 3)
    patch = await http.patch(
        f"/v1.0/users/{reset}",
        json={"passwordProfile": {"password": "Delta-Quiet-9x!Pumpkin-Orbit", "forceChangePasswordNextSignIn": False}},
        headers={"Authorization": f"Bearer {graph_token}"},
    )
    assert patch.status_code == 204
    entra.control.update_user(tid, unselected, department="Not Selected Dept")
    entra.control.update_user(tid, selected, jobTitle="Selected Change")
    entries, _, _ = await _round(graph.users.delta, graph.users.delta.with_url(delta_link))
    assert [(e.id, e.job_title) for e in entries] == [(selected, "Selected Change")]


async def test_users_delta_leaves_out_properties_never_set(
    entra: EntraEmulator, tenant: dict[str, Any], http: httpx.AsyncClient, graph_token: str
) -> None:
    tid = tenant["id"]
    auth = {"Authorization": f"Bearer {graph_token}"}
    created = entra.control.create_user(tid, "Nev", "Erset")  # mobilePhone and officeLocation never set
    select = "displayName,mobilePhone,officeLocation,jobTitle"
    rows, delta_link = await _raw_round(http, f"/v1.0/users/delta?$select={select}", auth)
    row = next(r for r in rows if r["id"] == created["id"])
    assert set(row) == {"id", "displayName", "jobTitle"}
    assert all(None not in r.values() for r in rows)  # nothing unset comes back as null
    entra.control.update_user(tid, created["id"], mobilePhone="+31 20 555 0100")
    rows, delta_link = await _raw_round(http, delta_link, auth)
    assert rows == [
        {"id": created["id"], "displayName": "Nev Erset", "jobTitle": "Engineer", "mobilePhone": "+31 20 555 0100"}
    ]
    entra.control.update_user(tid, created["id"], mobilePhone=None)  # set to null: reported as null
    rows, _ = await _raw_round(http, delta_link, auth)
    assert rows == [{"id": created["id"], "displayName": "Nev Erset", "jobTitle": "Engineer", "mobilePhone": None}]


async def test_prefer_return_minimal_returns_only_changed_properties(
    entra: EntraEmulator, tenant: dict[str, Any], graph: Any, http: httpx.AsyncClient, graph_token: str
) -> None:
    tid = tenant["id"]
    auth = {"Authorization": f"Bearer {graph_token}"}
    _, delta_link = await _raw_round(http, "/v1.0/users/delta?$select=displayName,jobTitle,department", auth)
    first, second = _cloud_users(entra, tid, 2)
    entra.control.update_user(tid, first, jobTitle="Minimal Title")
    entra.control.update_user(tid, second, department="Minimal Dept", displayName="Minimal Name")
    minimal, _ = await _raw_round(http, delta_link, {**auth, "Prefer": "return=minimal"})
    assert sorted(minimal, key=lambda r: r["id"] != first) == [
        {"id": first, "jobTitle": "Minimal Title"},
        {"id": second, "department": "Minimal Dept", "displayName": "Minimal Name"},
    ]
    full, _ = await _raw_round(http, delta_link, auth)  # the same round without the header: every selected property
    assert all(set(r) == {"id", "displayName", "jobTitle", "department"} for r in full)
    config = RequestConfiguration()
    config.headers.add("Prefer", "return=minimal")
    result = await graph.users.delta.with_url(delta_link).get(request_configuration=config)
    by_id = {u.id: u for u in result.value}
    assert by_id[first].job_title == "Minimal Title" and by_id[first].department is None
