"""The emulated directory's records: users, groups, other member objects (devices, service principals, contacts),
membership links, app registrations and service principals."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

ObjectState = Literal["active", "soft_deleted", "hard_deleted"]
MemberKind = Literal["user", "group", "device", "servicePrincipal", "orgContact"]
OtherKind = Literal["device", "servicePrincipal", "orgContact"]
OTHER_KINDS: tuple[OtherKind, ...] = ("device", "servicePrincipal", "orgContact")

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
GLOBAL_ADMIN = "Global Administrator"
PRIVILEGED_ROLE_ADMIN = "Privileged Role Administrator"
# Built-in role template ids (Learn: "Microsoft Entra built-in roles"); tokens list them in `wids`.
DIRECTORY_ROLE_TEMPLATES: dict[str, str] = {
    GLOBAL_ADMIN: "62e90394-69f5-4237-9190-012177145e10",
    PRIVILEGED_ROLE_ADMIN: "e8611ab8-c189-46e8-94e1-60213ab1f814",
    USER_ADMIN: "fe930be7-5e62-47db-91af-98c3a49a38b1",
    PRIVILEGED_AUTH_ADMIN: "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
    "Helpdesk Administrator": "729827e3-9c14-49f7-bb1b-9608f156bbb8",
    "Password Administrator": "966707d0-3269-4727-9be2-8c3a10f19b9d",
    "Application Administrator": "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
    "Cloud Application Administrator": "158c047a-c907-4556-b7ef-446551a6b5f7",
    "Global Reader": "f2ef992c-3afb-46b9-b7cf-a126ee74c451",
    "Groups Administrator": "fdd7a751-b60b-444a-984c-02652fe8fa1c",
    "Directory Readers": "88d8e3e3-8f55-4a1e-953a-9b9898b8876b",
}
MEMBER_ROLE_TEMPLATE = "b79fbf4d-3ef9-4689-8143-76b194e85509"  # every member user's default role, also in `wids`
# Who may grant tenant-wide admin consent to Microsoft Graph application permissions.
CONSENT_ADMIN_ROLES = frozenset({GLOBAL_ADMIN, PRIVILEGED_ROLE_ADMIN})
# The manifest's groupMembershipClaims values; DirectoryRole and All put `wids` into tokens.
GROUP_MEMBERSHIP_CLAIMS = ("None", "SecurityGroup", "DirectoryRole", "ApplicationGroup", "All")


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
    # users/delta reports what changed in the $select: the last change of each property ever set (a property
    # never set is absent), and of the object's life (created, deleted, restored: the whole object is reported)
    prop_seq: dict[str, int] = field(default_factory=dict)
    life_seq: int = 0

    def stamp(self, seq: int, changed: Iterable[str] = (), life: bool = False) -> None:
        for name in changed:
            self.prop_seq[name] = seq
        if life:
            self.life_seq = seq
            self.prop_seq.update({k: seq for k, v in self.props.items() if v is not None and k not in self.prop_seq})

    @property
    def privileged(self) -> bool:
        return bool(self.roles)


@dataclass(slots=True)
class DirectoryObject:
    """A group member that is neither a user nor a group: a device, a service principal (as a directory object, not
    the consent record below) or an organizational contact. Graph lists them in members, transitiveMembers and
    members@delta with their own @odata.type (Learn: "List group members", "group: delta")."""

    id: str
    kind: OtherKind
    props: dict[str, Any]  # the type's own Graph properties (always includes "id")
    state: ObjectState = "active"
    json_cache: dict[tuple[str, ...], str] = field(default_factory=dict)


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
    group_membership_claims: str = "None"  # the manifest's groupMembershipClaims
    cloud: str = "global"  # the cloud it is registered in (global, usgov, china): usable only in tenants of it

    def usable_in(self, tenant_id: str, registry: str) -> bool:
        """A multi-tenant app in any tenant of its cloud; a single-tenant one in its home tenant only."""
        return self.cloud == registry and (self.multi_tenant or self.home_tenant == tenant_id)


@dataclass(slots=True)
class AuthCode:
    """A one-time authorization code: what it was issued for, and whether it was redeemed."""

    client_id: str
    redirect_uri: str
    tenant_id: str  # the signed-in user's tenant: the tokens' tid
    user_id: str
    scope: str
    nonce: str | None
    challenge: str | None
    challenge_method: str
    issued_at: float  # emulator clock
    redeemed: bool = False


@dataclass(slots=True)
class ServicePrincipal:
    """An app's presence in one tenant: its id, what is consented, and which directory roles it holds."""

    id: str
    client_id: str
    consented: bool = True
    permissions: set[str] = field(default_factory=set)
    directory_roles: set[str] = field(default_factory=set)
    consented_at: float = 0.0
