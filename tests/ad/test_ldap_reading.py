"""The agent's reads against a real DC: transitive scope by the in-chain rule, paging, incremental by uSNChanged
with tombstones (Show Deleted), and a full read when the DC's invocationId is not the cursor's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from agent.ad_reader import read_directory
from agent.ldap_conn import Directory
from tests.ad.conftest import agent_settings
from tests.ad.directory_admin import DomainAdmin
from tests.support.samba import SambaDC

PASSWORD = "Start-Pass-123!"


@dataclass
class Layout:
    ou: str
    group: str  # the sync group's DN
    nested: str
    users: dict[str, str]  # name -> DN

    def guid(self, admin: DomainAdmin, name: str) -> str:
        return admin.guid(self.users[name])


@pytest.fixture
def layout(domain_admin: DomainAdmin, test_ou: str) -> Layout:
    """Sync group G with a nested group N; ann and dan (disabled) in G, bob in N, carl in neither."""
    a = domain_admin
    group = a.add_group(test_ou, f"sync-{test_ou[5:13]}", "the sync group")
    nested = a.add_group(test_ou, f"nested-{test_ou[5:13]}")
    a.add_member(group, nested)
    users = {
        "ann": a.add_user(test_ou, f"ann{test_ou[5:11]}", "Ann", "Archer", PASSWORD, mail="ann@corp.example.test"),
        "bob": a.add_user(test_ou, f"bob{test_ou[5:11]}", "Bob", "Baker", PASSWORD),
        "carl": a.add_user(test_ou, f"carl{test_ou[5:11]}", "Carl", "Cook", PASSWORD),
        "dan": a.add_user(test_ou, f"dan{test_ou[5:11]}", "Dan", "Dyer", PASSWORD, enabled=False),
    }
    for name in ("ann", "dan"):
        a.add_member(group, users[name])
    a.add_member(nested, users["bob"])
    return Layout(test_ou, group, nested, users)


def read(dc: SambaDC, group_guid: str, cursor: dict[str, Any] | None, **settings: Any) -> dict[str, Any]:
    with Directory(agent_settings(dc, **settings)) as directory:
        answer = read_directory(directory, group_guid, cursor)
        answer["pages"] = directory.pages
    return answer


def by_guid(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {u["objectGUID"]: u for u in answer["users"]}


def test_a_full_read_equals_the_domains_transitive_scope(
    samba_dc: SambaDC, domain_admin: DomainAdmin, layout: Layout
) -> None:
    answer = read(samba_dc, domain_admin.guid(layout.group), None)
    truth = domain_admin.ground_truth(layout.group)
    assert answer["mode"] == "full" and answer["full_reason"] == "first_run"
    assert set(answer["scope"]) == set(truth) == {layout.guid(domain_admin, n) for n in ("ann", "bob", "dan")}
    users = by_guid(answer)
    assert set(users) == set(truth)
    ann = users[layout.guid(domain_admin, "ann")]
    assert ann["mail"] == "ann@corp.example.test" and ann["givenName"] == "Ann" and ann["sn"] == "Archer"
    assert users[layout.guid(domain_admin, "dan")]["userAccountControl"] & 2
    groups = {g["objectGUID"]: g for g in answer["groups"]}
    g, n = domain_admin.guid(layout.group), domain_admin.guid(layout.nested)
    assert set(groups) == {g, n} and groups[g]["description"] == "the sync group"
    assert answer["links"][g] == sorted([n, layout.guid(domain_admin, "ann"), layout.guid(domain_admin, "dan")])
    assert answer["links"][n] == [layout.guid(domain_admin, "bob")]
    assert answer["deleted"] == []


def test_every_search_is_paged_at_the_clients_page_size(
    samba_dc: SambaDC, domain_admin: DomainAdmin, test_ou: str
) -> None:
    """Windows AD returns at most MaxPageSize (1,000) entries per page; Samba has no such limit, so the client's
    page size is forced small here to make the DC page, and the scope must still be complete."""
    group = domain_admin.add_group(test_ou, f"big-{test_ou[5:13]}")
    for n in range(23):
        domain_admin.add_member(
            group, domain_admin.add_user(test_ou, f"p{n}{test_ou[5:11]}", "P", f"User{n}", PASSWORD)
        )
    answer = read(samba_dc, domain_admin.guid(group), None, page_size=5)
    assert len(answer["scope"]) == len(answer["users"]) == 23
    assert answer["pages"] >= 2 * 5  # scope ids and full records, five pages each at least


def test_an_incremental_read_returns_only_what_changed_with_tombstones(
    samba_dc: SambaDC, domain_admin: DomainAdmin, layout: Layout
) -> None:
    a = domain_admin
    group_guid = a.guid(layout.group)
    first = read(samba_dc, group_guid, None)
    guid = {name: layout.guid(a, name) for name in layout.users}

    new = a.add_user(layout.ou, f"eve{layout.ou[5:11]}", "Eve", "Evans", PASSWORD)
    a.add_member(layout.nested, new)  # new, in scope through the nested group
    a.modify(layout.users["ann"], displayName="Ann Renamed")  # renamed
    a.disable(layout.users["bob"])  # disabled
    a.remove_member(layout.group, layout.users["dan"])  # moved out of the group
    a.add_member(layout.group, layout.users["carl"])  # moved into the group, no change of its own
    second = read(samba_dc, group_guid, first["cursor"])

    assert second["mode"] == "incremental"
    users = by_guid(second)
    eve = a.guid(new)
    assert users[guid["ann"]]["displayName"] == "Ann Renamed"
    assert users[guid["bob"]]["userAccountControl"] & 2
    assert {eve, guid["carl"]} <= set(users)
    assert set(second["scope"]) == set(a.ground_truth(layout.group)) == {guid["ann"], guid["bob"], guid["carl"], eve}

    third = read(samba_dc, group_guid, second["cursor"])
    assert third["users"] == [] and third["deleted"] == [] and third["links"] == {}  # nothing changed: nothing read

    gone = a.delete(layout.users["carl"])
    fourth = read(samba_dc, group_guid, third["cursor"])
    assert gone in fourth["deleted"] and gone not in fourth["scope"]

    a.restore(gone, layout.users["carl"])  # restored: the same objectGUID, read again by its uSNChanged
    a.add_member(layout.group, layout.users["carl"])  # its links did not survive the deletion
    fifth = read(samba_dc, group_guid, fourth["cursor"])
    assert gone in by_guid(fifth) and gone in fifth["scope"] and gone not in fifth["deleted"]


def test_another_invocation_id_means_a_full_read(samba_dc: SambaDC, domain_admin: DomainAdmin, layout: Layout) -> None:
    group_guid = domain_admin.guid(layout.group)
    first = read(samba_dc, group_guid, None)
    restored_dc = {**first["cursor"], "invocation_id": "00000000-0000-0000-0000-000000000001"}
    again = read(samba_dc, group_guid, restored_dc)
    assert again["mode"] == "full" and again["full_reason"] == "invocation_id_changed"
    assert set(by_guid(again)) == set(first["scope"])
