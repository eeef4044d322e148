"""The tests' hands on the Samba domain: create, rename, disable, move, delete and restore users and groups as the
domain's administrator over LDAPS (ldap3), and read the domain's ground truth to compare a sync against."""

from __future__ import annotations

import ssl
import uuid
from typing import Any

import ldap3
from ldap3.utils.dn import escape_rdn

from tests.support.samba import SambaDC

IN_CHAIN = "1.2.840.113556.1.4.1941"
SHOW_DELETED = "1.2.840.113556.1.4.417"
UF_NORMAL = 512
UF_DISABLED = 2


class DomainAdmin:
    def __init__(self, dc: SambaDC) -> None:
        self.dc = dc
        tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=dc.ca_file, valid_names=[dc.server_name])
        server = ldap3.Server(dc.host, port=636, use_ssl=True, tls=tls, get_info=ldap3.NONE)
        self.conn = ldap3.Connection(server, dc.admin_user, dc.admin_password, auto_bind=True, raise_exceptions=True)

    def close(self) -> None:
        self.conn.unbind()

    def ou(self, name: str) -> str:
        dn = f"OU={escape_rdn(name)},{self.dc.base_dn}"
        self.conn.add(dn, "organizationalUnit")
        return dn

    def add_user(
        self, ou: str, sam: str, given: str, surname: str, password: str, *, enabled: bool = True, **extra: Any
    ) -> str:
        dn = f"CN={escape_rdn(f'{given} {surname}')},{ou}"
        attrs = {
            "sAMAccountName": sam,
            "userPrincipalName": f"{sam}@{self.dc.realm.lower()}",
            "givenName": given,
            "sn": surname,
            "displayName": f"{given} {surname}",
            **extra,
        }
        self.conn.add(dn, ["top", "person", "organizationalPerson", "user"], attrs)
        self.set_password(dn, password)
        self.modify(dn, userAccountControl=UF_NORMAL | (0 if enabled else UF_DISABLED))
        return dn

    def set_password(self, dn: str, password: str) -> None:
        value = f'"{password}"'.encode("utf-16-le")
        self.conn.modify(dn, {"unicodePwd": [(ldap3.MODIFY_REPLACE, [value])]})

    def add_group(self, ou: str, name: str, description: str = "") -> str:
        dn = f"CN={escape_rdn(name)},{ou}"
        attrs: dict[str, Any] = {"sAMAccountName": name}
        if description:
            attrs["description"] = description
        self.conn.add(dn, ["top", "group"], attrs)
        return dn

    def add_member(self, group: str, member: str) -> None:
        self.conn.modify(group, {"member": [(ldap3.MODIFY_ADD, [member])]})

    def remove_member(self, group: str, member: str) -> None:
        self.conn.modify(group, {"member": [(ldap3.MODIFY_DELETE, [member])]})

    def modify(self, dn: str, **values: Any) -> None:
        self.conn.modify(dn, {k: [(ldap3.MODIFY_REPLACE, [v])] for k, v in values.items()})

    def disable(self, dn: str) -> None:
        self.modify(dn, userAccountControl=UF_NORMAL | UF_DISABLED)

    def rename(self, dn: str, new_cn: str) -> str:
        self.conn.modify_dn(dn, f"CN={escape_rdn(new_cn)}")
        return f"CN={escape_rdn(new_cn)},{dn.split(',', 1)[1]}"

    def delete(self, dn: str) -> str:
        """Delete; returns the objectGUID (to restore the tombstone)."""
        guid = self.guid(dn)
        self.conn.delete(dn)
        return guid

    def restore(self, guid: str, dn: str) -> None:
        """Reanimate a tombstone (as Restore-ADObject does): one modify of the deleted object, read with the Show
        Deleted control, that deletes isDeleted and replaces distinguishedName with the DN it gets back. Without the
        Recycle Bin the object comes back without its group links."""
        escaped = "".join(f"\\{b:02x}" for b in uuid.UUID(guid).bytes_le)
        self.conn.search(
            self.dc.base_dn, f"(objectGUID={escaped})", ldap3.SUBTREE, attributes=["isDeleted"],
            controls=[(SHOW_DELETED, True, None)],
        )  # fmt: skip
        (tombstone,) = [e for e in self.conn.response if e.get("type") == "searchResEntry"]
        changes = {"isDeleted": [(ldap3.MODIFY_DELETE, [])], "distinguishedName": [(ldap3.MODIFY_REPLACE, [dn])]}
        self.conn.modify(tombstone["dn"], changes, controls=[(SHOW_DELETED, True, None)])

    def guid(self, dn: str) -> str:
        self.conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["objectGUID"])
        return str(uuid.UUID(bytes_le=self.conn.response[0]["raw_attributes"]["objectGUID"][0]))

    def ground_truth(self, group_dn: str) -> dict[str, Any]:
        """The scope as the domain has it: transitive user members of the group, their enabled flag and name."""
        found = self.conn.extend.standard.paged_search(
            self.dc.base_dn,
            f"(&(objectCategory=person)(objectClass=user)(memberOf:{IN_CHAIN}:={group_dn}))",
            attributes=["objectGUID", "displayName", "userAccountControl"],
            paged_size=500,
            generator=False,
        )
        users = {}
        for entry in found:
            if entry.get("type") != "searchResEntry":
                continue
            raw = entry["raw_attributes"]
            guid = str(uuid.UUID(bytes_le=raw["objectGUID"][0]))
            users[guid] = {
                "displayName": raw["displayName"][0].decode() if raw.get("displayName") else None,
                "enabled": not int(raw["userAccountControl"][0]) & UF_DISABLED,
            }
        return users
