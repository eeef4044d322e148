"""The agent's one door to a domain controller: ldap3 over LDAPS (or StartTLS) with the certificate checked, a
simple bind never sent in clear, paged searches at Windows AD's 1,000-row page, and LDAP results mapped to clear
errors."""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from agent.errors import LdapBindError, LdapConfigError, LdapError

# Windows AD's default MaxPageSize (LDAP policies, ntdsutil): a search returns at most this many entries per page
# and an unpaged one stops there with sizeLimitExceeded. Samba has no such limit; the agent always pages.
WINDOWS_PAGE_SIZE = 1000
SHOW_DELETED = "1.2.840.113556.1.4.417"  # LDAP_SERVER_SHOW_DELETED_OID: tombstones in search results
IN_CHAIN = "1.2.840.113556.1.4.1941"  # LDAP_MATCHING_RULE_IN_CHAIN: transitive group membership
TRANSPORTS = ("ldaps", "starttls")
# LDAP_SERVER_POLICY_HINTS_OID (Windows Server 2012 R2+; older: ..._DEPRECATED_OID 1.2.840.113556.1.4.2066): its value
# is the BER SEQUENCE { INTEGER 1 }. Samba does not offer it (unavailableCriticalExtension), so it is asked only when
# the rootDSE lists it in supportedControl.
POLICY_HINTS = "1.2.840.113556.1.4.2239"
POLICY_HINTS_ON = b"\x30\x03\x02\x01\x01"


@dataclass(frozen=True)
class LdapSettings:
    """Where and how the agent reaches one domain. `server_name` is the name the DC's certificate carries when
    `host` is an address; `ca_file` the CA the agent trusts for it (the system store when empty). The password
    is read at use time from the agent's protected file (agent/secrets.py) and never printed."""

    host: str
    base_dn: str
    bind_user: str
    password: str = field(repr=False)
    transport: str = "ldaps"
    port: int | None = None
    ca_file: str | None = None
    server_name: str | None = None
    page_size: int = WINDOWS_PAGE_SIZE
    timeout_s: int = 30

    def check(self) -> None:
        if self.transport == "plain":
            raise LdapConfigError(
                "transport",
                "a simple bind over plain LDAP sends the password in clear and Active Directory refuses it "
                "(strongerAuthRequired): use ldaps (port 636) or starttls (port 389)",
            )
        if self.transport not in TRANSPORTS:
            raise LdapConfigError("transport", f"must be one of {', '.join(TRANSPORTS)}")
        if not 1 <= self.page_size <= WINDOWS_PAGE_SIZE:
            raise LdapConfigError("page_size", f"must be 1..{WINDOWS_PAGE_SIZE} (Windows AD's MaxPageSize)")


def guid_text(raw: bytes) -> str:
    """objectGUID as AD writes it (the little-endian byte order of the binary attribute)."""
    return str(uuid.UUID(bytes_le=bytes(raw)))


def result_error(result: dict[str, Any], what: str) -> LdapError:
    code = str(result.get("description") or result.get("result"))
    message = str(result.get("message") or "").strip()
    if code == "strongerAuthRequired":
        return LdapBindError(code, "the domain controller requires TLS for a simple bind: use ldaps or starttls")
    if code == "invalidCredentials":
        # AD's data code (e.g. 52e bad password, 533 disabled, 775 locked) is in the message; no password is.
        return LdapBindError(code, f"the domain controller refused the service account's login ({message})")
    return LdapError(code, f"{what} failed: {code} {message}".strip())


class Directory:
    """An open, bound connection to one DC (a context manager)."""

    def __init__(self, settings: LdapSettings) -> None:
        settings.check()
        self.settings = settings
        self._conn: Any = None
        self.pages = 0  # search result pages read (tests check that paging happens)

    def __enter__(self) -> Directory:
        import ldap3
        from ldap3.core.exceptions import LDAPException

        s = self.settings
        tls = ldap3.Tls(
            validate=ssl.CERT_REQUIRED,
            ca_certs_file=s.ca_file,
            valid_names=[s.server_name] if s.server_name else None,
            version=ssl.PROTOCOL_TLS_CLIENT,
        )
        port = s.port or (636 if s.transport == "ldaps" else 389)
        server = ldap3.Server(
            s.host, port=port, use_ssl=s.transport == "ldaps", tls=tls, get_info=ldap3.NONE,
            connect_timeout=s.timeout_s,
        )  # fmt: skip
        conn = ldap3.Connection(
            server, user=s.bind_user, password=s.password, authentication=ldap3.SIMPLE,
            receive_timeout=s.timeout_s, raise_exceptions=False, auto_referrals=False,
        )  # fmt: skip
        try:
            conn.open()
            if s.transport == "starttls" and not conn.start_tls():
                raise LdapError("startTLS", f"StartTLS failed: {conn.result.get('description')}")
            if not conn.bind():
                raise result_error(conn.result, "bind")
        except LDAPException as exc:
            conn.unbind()
            # ldap3's message names the certificate problem or the socket error; it never holds the password.
            raise LdapError(type(exc).__name__, f"cannot reach {s.host}:{port} over {s.transport}: {exc}") from exc
        except LdapError:
            conn.unbind()
            raise
        self._conn = conn
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            self._conn.unbind()
            self._conn = None

    def search(
        self,
        base: str,
        search_filter: str,
        attributes: list[str],
        *,
        scope: str = "SUBTREE",
        show_deleted: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """Every entry, page by page (RFC 2696 paged results at `page_size`), as ldap3's raw attribute dict plus
        `dn`. Referrals and continuation references are ignored (one naming context)."""
        import ldap3

        controls = [(SHOW_DELETED, True, None)] if show_deleted else None
        cookie: bytes | None = None
        while True:
            ok = self._conn.search(
                base, search_filter, search_scope=getattr(ldap3, scope), attributes=attributes,
                controls=controls, paged_size=self.settings.page_size, paged_cookie=cookie,
            )  # fmt: skip
            if not ok and self._conn.result.get("description") != "success":
                if self._conn.result.get("description") == "noSuchObject":
                    return
                raise result_error(self._conn.result, f"search {search_filter}")
            self.pages += 1
            for entry in self._conn.response or []:
                if entry.get("type") != "searchResEntry":
                    continue
                yield {"dn": entry["dn"], **entry["raw_attributes"]}
            ctrl = (self._conn.result.get("controls") or {}).get("1.2.840.113556.1.4.319") or {}
            cookie = (ctrl.get("value") or {}).get("cookie")
            if not cookie:
                return

    def read(self, dn: str, attributes: list[str]) -> dict[str, Any] | None:
        entries = list(self.search(dn, "(objectClass=*)", attributes, scope="BASE"))
        return entries[0] if entries else None

    def supports(self, control_oid: str) -> bool:
        root = self.read("", ["supportedControl"])
        return control_oid.encode() in (root or {}).get("supportedControl", [])

    def modify_password(self, dn: str, new_password: str, *, policy_hints: bool) -> dict[str, Any]:
        """Admin reset of `unicodePwd` (the quoted password, UTF-16-LE, REPLACE); the LDAP result, no password.
        With `policy_hints` the DC applies history and minimum age to the reset as to a user's own change."""
        import ldap3

        value = f'"{new_password}"'.encode("utf-16-le")
        controls = [(POLICY_HINTS, True, POLICY_HINTS_ON)] if policy_hints else None
        self._conn.modify(dn, {"unicodePwd": [(ldap3.MODIFY_REPLACE, [value])]}, controls=controls)
        return {k: v for k, v in dict(self._conn.result).items() if k in ("result", "description", "message")}

    def binds_as(self, dn: str, password: str) -> bool:
        """Whether `dn` can bind with `password` now (a separate connection; the answer only)."""
        import ldap3

        probe = ldap3.Connection(self._conn.server, user=dn, password=password, authentication=ldap3.SIMPLE,
                                 receive_timeout=self.settings.timeout_s)  # fmt: skip
        try:
            return bool(probe.bind())
        finally:
            probe.unbind()
