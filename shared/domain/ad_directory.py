"""Active Directory entries (as the agent reads them) in the connector's directory model, pure: users and groups
under the same attribute names and hashes as Entra's, so the same planner, store and change feed take them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.domain.directory import GroupRecord, UserRecord, group_record, user_record

UF_ACCOUNTDISABLE = 0x2  # userAccountControl: the account is disabled
GROUP_SECURITY = 0x80000000  # groupType: a security group (otherwise distribution)


def graph_shaped_user(entry: Mapping[str, Any]) -> dict[str, Any]:
    """An AD user under the attribute names the store keeps (docs/ad-agent.md lists the mapping)."""
    uac = int(entry.get("userAccountControl") or 0)
    return {
        "id": str(entry["objectGUID"]),
        "userPrincipalName": entry.get("userPrincipalName"),
        "mail": entry.get("mail"),
        "displayName": entry.get("displayName"),
        "givenName": entry.get("givenName"),
        "surname": entry.get("sn"),
        "jobTitle": entry.get("title"),
        "department": entry.get("department"),
        "accountEnabled": not uac & UF_ACCOUNTDISABLE,
        "onPremisesSyncEnabled": None,
        "mobilePhone": entry.get("mobile"),
        "officeLocation": entry.get("physicalDeliveryOfficeName"),
        "userType": "Member",
    }


def graph_shaped_group(entry: Mapping[str, Any]) -> dict[str, Any]:
    group_type = int(entry.get("groupType") or 0) & 0xFFFFFFFF
    return {
        "id": str(entry["objectGUID"]),
        "displayName": entry.get("cn") or entry.get("sAMAccountName"),
        "description": entry.get("description"),
        "mail": entry.get("mail"),
        "mailEnabled": bool(entry.get("mail")),
        "securityEnabled": bool(group_type & GROUP_SECURITY),
    }


@dataclass(frozen=True)
class AdAnswer:
    """One sync job's answer from the agent, checked and in the directory model."""

    mode: str  # full | incremental
    full_reason: str | None
    users: list[UserRecord]
    scope: frozenset[str]
    groups: list[GroupRecord]
    links: dict[str, frozenset[str]]  # group id -> its direct user members (nested groups left out)
    deleted: frozenset[str]
    cursor: dict[str, Any]
    rotation_members: frozenset[str] | None = None  # transitive members of the rotation group, when one was asked


class BadAnswer(ValueError):
    pass


def _ids(values: Any, what: str) -> frozenset[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise BadAnswer(f"{what} must be a list of ids")
    return frozenset(values)


def parse_answer(raw: Any, defaults: dict[str, Any]) -> AdAnswer:
    if not isinstance(raw, dict) or raw.get("mode") not in ("full", "incremental"):
        raise BadAnswer("mode must be full or incremental")
    for name in ("users", "groups"):
        if not isinstance(raw.get(name), list) or not all(
            isinstance(e, dict) and e.get("objectGUID") for e in raw[name]
        ):
            raise BadAnswer(f"{name} must be a list of entries with an objectGUID")
    if not isinstance(raw.get("links"), dict) or not isinstance(raw.get("cursor"), dict):
        raise BadAnswer("links and cursor must be objects")
    scope = _ids(raw.get("scope"), "scope")
    groups = [group_record(graph_shaped_group(g)) for g in raw["groups"]]
    group_ids = {g.id for g in groups}
    links = {
        str(gid): _ids(members, f"links of {gid}") - group_ids
        for gid, members in raw["links"].items()
        if gid in group_ids
    }
    return AdAnswer(
        mode=raw["mode"],
        full_reason=raw.get("full_reason"),
        users=[user_record(graph_shaped_user(u), defaults) for u in raw["users"]],
        scope=scope,
        groups=groups,
        links=links,
        deleted=_ids(raw.get("deleted", []), "deleted"),
        cursor=dict(raw["cursor"]),
        rotation_members=_ids(raw["rotation_members"], "rotation_members") if "rotation_members" in raw else None,
    )


def link_changes(
    wanted: Mapping[str, frozenset[str]], stored: Mapping[str, set[str]], scope: Iterable[str]
) -> list[tuple[str, set[str], set[str]]]:
    """(group id, links to add, links to remove) for each group the answer lists: its direct members in scope."""
    in_scope = set(scope)
    out = []
    for gid in sorted(wanted):
        want = set(wanted[gid]) & in_scope
        have = stored.get(gid, set())
        if want != have:
            out.append((gid, want - have, have - want))
    return out
