"""Non-user members (devices, service principals, contacts, groups) in members, transitiveMembers and
members@delta, each with its @odata.type; seeded in the sync tree and the rotation group at every size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from msgraph.generated.models.device import Device
from msgraph.generated.models.group import Group
from msgraph.generated.models.org_contact import OrgContact
from msgraph.generated.models.service_principal import ServicePrincipal
from msgraph.generated.models.user import User

from emulators.entra.seed import seed_world
from emulators.entra.server import EntraEmulator
from emulators.entra.state import World

NON_USER = ("#microsoft.graph.device", "#microsoft.graph.servicePrincipal", "#microsoft.graph.orgContact")


def _types(rows: list[dict[str, Any]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for row in rows:
        out.setdefault(row["@odata.type"], set()).add(row["id"])
    return out


async def _all(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        page = (await http.get(next_url, headers=headers)).json()
        rows += page["value"]
        next_url = page.get("@odata.nextLink")
    return rows


@pytest.mark.parametrize("size", [5, 60, 1200])
def test_seed_has_each_non_user_kind_in_the_sync_tree_and_rotation_group(tmp_path: Path, size: int) -> None:
    world = World()
    described = seed_world(world, "members", size, 1, tmp_path)
    tenant = world.tenants[described[0]["id"]]
    directory = tenant.directory
    for scope in (tenant.sync_group_id, tenant.rotation_group_id):
        below = directory.transitive_all(scope)
        kinds = {directory.objects[oid].kind for oid in below if oid in directory.objects}
        assert kinds == {"device", "servicePrincipal", "orgContact"}
        users, groups = directory.transitive(scope)
        assert not set(users) & set(directory.objects)  # never counted as users...
        assert not set(groups) & set(directory.objects)  # ...nor followed as groups
    assert described[0]["user_count"] == size + 1  # what the seed always made, plus the tenant's administrator
    truth = directory.ground_truth(tenant.sync_group_id)
    assert not set(truth["users"]) & set(directory.objects)


async def test_members_carry_their_type_through_the_sdk(
    entra: EntraEmulator, tenant: dict[str, Any], graph: Any
) -> None:
    result = await graph.groups.by_group_id(tenant["sync_group"]["id"]).members.get()
    kinds = {type(member) for member in result.value}
    assert {User, Group, Device, ServicePrincipal, OrgContact} <= kinds
    device = next(m for m in result.value if isinstance(m, Device))
    assert device.display_name and device.operating_system == "Windows"


async def test_transitive_members_list_every_type_and_casts_pick_one(
    entra: EntraEmulator, tenant: dict[str, Any], http: httpx.AsyncClient, graph_token: str
) -> None:
    auth = {"Authorization": f"Bearer {graph_token}"}
    directory = entra.world.tenants[tenant["id"]].directory
    sync_id = tenant["sync_group"]["id"]
    rows = await _all(http, f"/v1.0/groups/{sync_id}/transitiveMembers?$top=50&$select=id,displayName", auth)
    by_type = _types(rows)
    expected = {
        f"#microsoft.graph.{obj.kind}": oid
        for oid in directory.transitive_all(sync_id)
        if (obj := directory.objects.get(oid)) is not None
    }
    for odata_type in NON_USER:
        assert by_type[odata_type] & set(expected.values())
    assert by_type["#microsoft.graph.user"] == set(directory.transitive(sync_id)[0])
    device = next(r for r in rows if r["@odata.type"] == "#microsoft.graph.device")
    assert set(device) == {"@odata.type", "id", "displayName"}  # a device has no userPrincipalName to be null
    advanced = {**auth, "ConsistencyLevel": "eventual"}
    devices = await _all(http, f"/v1.0/groups/{sync_id}/transitiveMembers/microsoft.graph.device?$count=true", advanced)
    assert _types(devices).keys() == {"#microsoft.graph.device"}
    assert {r["id"] for r in devices} == by_type["#microsoft.graph.device"]
    users = await _all(http, f"/v1.0/groups/{sync_id}/transitiveMembers/microsoft.graph.user?$count=true", advanced)
    assert _types(users).keys() == {"#microsoft.graph.user"}


async def test_members_delta_types_non_user_links(
    entra: EntraEmulator, tenant: dict[str, Any], http: httpx.AsyncClient, graph_token: str
) -> None:
    auth = {"Authorization": f"Bearer {graph_token}"}
    rotation_id = tenant["rotation_group"]["id"]
    first = await http.get(
        "/v1.0/groups/delta",
        params={"$select": "displayName,members", "$filter": f"id eq '{rotation_id}'"},
        headers=auth,
    )
    body = first.json()
    links = [link for entry in body["value"] for link in entry.get("members@delta", [])]
    assert {"#microsoft.graph.device", "#microsoft.graph.servicePrincipal", "#microsoft.graph.group"} <= {
        link["@odata.type"] for link in links
    }
    printer = entra.control.create_directory_object(tenant["id"], "device", "PRINTER-ROTATION", groups=[rotation_id])
    assert printer["@odata.type"] == "#microsoft.graph.device"
    entra.control.remove_member(tenant["id"], rotation_id, printer["id"])
    again = (await http.get(body["@odata.deltaLink"], headers=auth)).json()
    changed = [link for entry in again["value"] for link in entry.get("members@delta", [])]
    assert changed == [
        {"@odata.type": "#microsoft.graph.device", "id": printer["id"], "@removed": {"reason": "deleted"}}
    ]


async def test_create_directory_object_rejects_unknown_kinds(entra: EntraEmulator, tenant: dict[str, Any]) -> None:
    from emulators.entra.control import ControlError

    with pytest.raises(ControlError, match="kind must be one of"):
        entra.control.create_directory_object(tenant["id"], "printer", "X")
    contact = entra.control.create_directory_object(tenant["id"], "orgContact", "Alex Auditor")
    assert contact["mail"].endswith("@partner.example.net")
    assert contact["id"] in entra.world.tenants[tenant["id"]].directory.objects
