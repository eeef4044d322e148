"""What the agent reads from AD for a sync job: the sync group's transitive scope, the groups of its tree and their
direct links, and for an incremental run only what changed since a uSNChanged watermark (tombstones included);
a full run when the domain controller's invocationId is not the one the watermark belongs to."""

from __future__ import annotations

from typing import Any

from agent.errors import LdapError
from agent.ldap_conn import IN_CHAIN, Directory, guid_text

USER_CLASS = "(objectCategory=person)(objectClass=user)"
USER_ATTRIBUTES = [
    "objectGUID", "sAMAccountName", "userPrincipalName", "mail", "displayName", "givenName", "sn", "title",
    "department", "userAccountControl", "mobile", "physicalDeliveryOfficeName",
]  # fmt: skip
GROUP_ATTRIBUTES = ["objectGUID", "sAMAccountName", "cn", "description", "mail", "groupType"]
INT_ATTRIBUTES = {"userAccountControl", "groupType"}


def _text(entry: dict[str, Any], name: str) -> Any:
    values = entry.get(name) or []
    if not values:
        return None
    if name == "objectGUID":
        return guid_text(values[0])
    value = values[0].decode("utf-8")
    return int(value) if name in INT_ATTRIBUTES else value


def _record(entry: dict[str, Any], attributes: list[str]) -> dict[str, Any]:
    out = {name: _text(entry, name) for name in attributes}
    out["distinguishedName"] = entry["dn"]
    return out


def _escape(value: str) -> str:
    """RFC 4515 escaping of a value inside a filter (a DN may hold parentheses, asterisks, backslashes)."""
    out = []
    for char in value:
        out.append(f"\\{ord(char):02x}" if char in "\\*()\x00" else char)
    return "".join(out)


def dc_identity(directory: Directory) -> dict[str, Any]:
    """The DC's name, invocationId (changes when its database is restored) and highestCommittedUSN."""
    root = directory.read("", ["dsServiceName", "dnsHostName", "highestCommittedUSN"])
    if root is None:
        raise LdapError("rootDSE", "the domain controller returned no rootDSE")
    service = root["dsServiceName"][0].decode()
    ntds = directory.read(service, ["invocationId"])
    if ntds is None or not ntds.get("invocationId"):
        raise LdapError("invocationId", f"cannot read invocationId of {service}")
    return {
        "host": root["dnsHostName"][0].decode(),
        "invocation_id": guid_text(ntds["invocationId"][0]),
        "highest_usn": int(root["highestCommittedUSN"][0]),
    }


def _group_dn(directory: Directory, group_guid: str, missing: str = "syncGroupNotFound") -> str:
    entry = directory.read(f"<GUID={group_guid}>", ["objectGUID", "objectClass"])
    if entry is None:
        what = "sync" if missing == "syncGroupNotFound" else "rotation"
        raise LdapError(missing, f"the {what} group {group_guid} does not exist in the domain")
    return str(entry["dn"])


def _users(directory: Directory, base: str, extra: str, attributes: list[str]) -> list[dict[str, Any]]:
    return [_record(e, attributes) for e in directory.search(base, f"(&{USER_CLASS}{extra})", attributes)]


def _tree(directory: Directory, base: str, group_dn: str) -> list[dict[str, Any]]:
    """The sync group and every group nested in it (transitively)."""
    top = directory.read(group_dn, GROUP_ATTRIBUTES)
    nested = directory.search(
        base, f"(&(objectClass=group)(memberOf:{IN_CHAIN}:={_escape(group_dn)}))", GROUP_ATTRIBUTES
    )
    return [_record(e, GROUP_ATTRIBUTES) for e in ([top] if top else []) + list(nested)]


def _direct_links(directory: Directory, base: str, group_dn: str) -> list[str]:
    """objectGUIDs of a group's direct user and group members, by a paged search on memberOf (never the ranged
    `member` attribute: Windows returns at most 1,500 values of it per read)."""
    dn = _escape(group_dn)
    found = directory.search(base, f"(&(|(&{USER_CLASS})(objectClass=group))(memberOf={dn}))", ["objectGUID"])
    return sorted(guid_text(e["objectGUID"][0]) for e in found)


def read_directory(
    directory: Directory, sync_group: str, cursor: dict[str, Any] | None, rotation_group: str | None = None
) -> dict[str, Any]:
    """One sync job's answer. `cursor` is what the last completed run returned (`dc`); None, or a cursor of
    another DC database (invocationId), means a full read. The watermark is taken before any search, so a change
    made while the run reads is read again by the next run, never missed."""
    base = directory.settings.base_dn
    dc = dc_identity(directory)
    group_dn = _group_dn(directory, sync_group)
    reason = None
    if cursor is None:
        reason = "first_run"
    elif cursor.get("invocation_id") != dc["invocation_id"] or cursor.get("host") != dc["host"]:
        reason = "invocation_id_changed"  # a restored DC, or another DC: its USNs are not comparable
    scope_filter = f"(memberOf:{IN_CHAIN}:={_escape(group_dn)})"
    groups = _tree(directory, base, group_dn)
    scope = sorted(str(u["objectGUID"]) for u in _users(directory, base, scope_filter, ["objectGUID"]))
    answer: dict[str, Any] = {"dc": dc, "mode": "full" if reason else "incremental", "full_reason": reason}
    if reason:
        users = _users(directory, base, scope_filter, USER_ATTRIBUTES)
        linked = groups
        deleted: list[str] = []
    else:
        assert cursor is not None
        since = int(cursor["highest_usn"]) + 1
        changed = {u["objectGUID"]: u for u in _users(directory, base, f"(uSNChanged>={since})", USER_ATTRIBUTES)}
        known = set(cursor.get("groups") or [])
        linked = [g for g in groups if g["objectGUID"] not in known or _usn_since(directory, g, since)]
        for group in linked:  # users of a changed group may have entered scope without a change of their own
            inner = f"(memberOf:{IN_CHAIN}:={_escape(group['distinguishedName'])})"
            for user in _users(directory, base, inner, USER_ATTRIBUTES):
                changed.setdefault(user["objectGUID"], user)
        users = sorted(changed.values(), key=lambda u: str(u["objectGUID"]))
        tombstones = directory.search(
            base, f"(&(isDeleted=TRUE)(uSNChanged>={since}))", ["objectGUID"], show_deleted=True
        )
        deleted = sorted(guid_text(e["objectGUID"][0]) for e in tombstones)
    answer.update(
        users=users,
        scope=scope,
        groups=groups,
        links={g["objectGUID"]: _direct_links(directory, base, g["distinguishedName"]) for g in linked},
        deleted=deleted,
        cursor={**dc, "groups": sorted(str(g["objectGUID"]) for g in groups)},
    )
    if rotation_group:  # who the hourly rotation may pick: the rotation group's transitive members, every run
        rotation_dn = _group_dn(directory, rotation_group, "rotationGroupNotFound")
        inner = f"(memberOf:{IN_CHAIN}:={_escape(rotation_dn)})"
        members = _users(directory, base, inner, ["objectGUID"])
        answer["rotation_members"] = sorted(str(u["objectGUID"]) for u in members)
    return answer


def _usn_since(directory: Directory, group: dict[str, Any], since: int) -> bool:
    entry = directory.read(group["distinguishedName"], ["uSNChanged"])
    return entry is not None and int(entry["uSNChanged"][0]) >= since
