"""The emulated directory's records: users, groups, membership links, app registrations and service principals."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ObjectState = Literal["active", "soft_deleted", "hard_deleted"]
MemberKind = Literal["user", "group"]

# Properties /users returns when no $select is given (Graph's default projection).
USER_DEFAULT_SELECT: tuple[str, ...] = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)
GROUP_DEFAULT_SELECT: tuple[str, ...] = (
    "id",
    "createdDateTime",
    "description",
    "displayName",
    "groupTypes",
    "mail",
    "mailEnabled",
    "mailNickname",
    "securityEnabled",
    "visibility",
)
PRIVILEGED_AUTH_ADMIN = "Privileged Authentication Administrator"
USER_ADMIN = "User Administrator"
PASSWORD_RESET_ROLES = frozenset(
    {USER_ADMIN, PRIVILEGED_AUTH_ADMIN, "Helpdesk Administrator", "Password Administrator"}
)


@dataclass(slots=True)
class User:
    id: str
    props: dict[str, Any]  # Graph property names -> current values (always includes "id")
    roles: tuple[str, ...] = ()  # directory roles held; any role makes the user privileged
    password: str | None = None  # current password, only readable through the control API
    previous_password: str | None = None
    seq: int = 0  # change sequence of the last change
    state: ObjectState = "active"
    json_cache: dict[tuple[str, ...], str] = field(default_factory=dict)

    @property
    def privileged(self) -> bool:
        return bool(self.roles)


@dataclass(slots=True)
class Link:
    """One membership edge as delta sees it: alive, or removed (a tombstone kept for delta)."""

    kind: MemberKind
    seq: int
    alive: bool = True


@dataclass(slots=True)
class Group:
    id: str
    props: dict[str, Any]
    seq: int = 0  # last change of properties or membership
    props_seq: int = 0  # last change of properties only
    state: ObjectState = "active"
    links: dict[str, Link] = field(default_factory=dict)  # member id -> link (alive or removed)
    json_cache: dict[tuple[str, ...], str] = field(default_factory=dict)
    # (group seq when built, [(link seq, member id, kind, alive)] sorted): delta pages bisect into it
    sorted_links: tuple[int, list[tuple[int, str, MemberKind, bool]]] | None = None
    sorted_members: tuple[int, list[str]] | None = None  # (group seq, alive member ids sorted)

    def member_ids(self) -> list[str]:
        return [mid for mid, link in self.links.items() if link.alive]


@dataclass(slots=True)
class Secret:
    key_id: str
    value: str
    end: float  # expiry, emulator clock seconds
    hint: str = ""


@dataclass(slots=True)
class Certificate:
    sha1: bytes  # thumbprints of the DER certificate (x5t, x5t#S256)
    sha256: bytes
    public_pem: bytes
    path: str = ""  # PEM with private key + certificate (what CertificateCredential takes)


@dataclass(slots=True)
class App:
    client_id: str
    name: str
    multi_tenant: bool
    home_tenant: str | None  # None for the operator's multi-tenant app (its home is not emulated)
    required_permissions: tuple[str, ...]  # application permissions it requests (admin consent grants these)
    redirect_uris: list[str] = field(default_factory=list)
    secrets: list[Secret] = field(default_factory=list)
    certificates: list[Certificate] = field(default_factory=list)
    kind: str = "app"  # multi_tenant | customer | connector_identity | custom


@dataclass(slots=True)
class ServicePrincipal:
    """An app's presence in one tenant: its id, what is consented, and which directory roles it holds."""

    id: str
    client_id: str
    consented: bool = True
    permissions: set[str] = field(default_factory=set)
    directory_roles: set[str] = field(default_factory=set)
    consented_at: float = 0.0
