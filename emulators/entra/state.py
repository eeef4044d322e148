"""Everything the emulator knows: tenants (directory, service principals, switches), app registrations, clock."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from emulators.entra.clock import Clock
from emulators.entra.clouds import CLOUDS, GRAPH_APP_ID
from emulators.entra.consistency import Replica
from emulators.entra.delegated import DelegatedConsent
from emulators.entra.directory import DELETED_ITEMS_RETENTION_S, Directory
from emulators.entra.model import App, AuthCode, ServicePrincipal
from emulators.entra.throttle import Throttle

GRAPH_RESOURCE = "https://graph.microsoft.com"
VAULT_RESOURCE = "https://vault.azure.net"
KNOWN_RESOURCES = {  # Graph by its app id or any cloud's host: the tenant's cloud decides (issuance.resource_of)
    GRAPH_APP_ID: GRAPH_APP_ID,
    **{c.graph_resource: c.graph_resource for c in CLOUDS.values()},
    VAULT_RESOURCE: VAULT_RESOURCE,
    "https://vault.azure.net/": VAULT_RESOURCE,
    "cfa8b339-82a2-471a-a3c9-0fc0be7a4093": VAULT_RESOURCE,
}


@dataclass
class Tenant:
    id: str
    display_name: str
    domains: list[str]  # verified domains; [0] the initial *.onmicrosoft.com one, [1] the default custom one
    directory: Directory = field(default_factory=Directory)
    service_principals: dict[str, ServicePrincipal] = field(default_factory=dict)  # by client id
    sync_group_id: str = ""
    rotation_group_id: str = ""
    consent_decision: str | None = None  # the next admin-consent decision (used once)
    delta_reset_pending: bool = False  # the next delta call answers 410 Gone
    delta_duplicates: bool = False  # delta pages repeat entries (clients must be idempotent)
    password_reset_requires_role: bool = True  # app-only resets need a directory role on the SP (Learn)
    sp_roles_on_consent: dict[str, set[str]] = field(default_factory=dict)  # client id -> roles given at consent
    admin_user_id: str = ""  # the seeded Global Administrator (the browser's account by default)
    replica: Replica = field(default_factory=Replica)  # what eventually consistent reads see (off: the directory)
    cloud: str = "global"  # global | usgov | usgov-dod | china (emulators/entra/clouds.py)
    delegated: DelegatedConsent = field(default_factory=DelegatedConsent)  # users' sign-in consent (delegated.py)

    @property
    def graph_resource(self) -> str:
        """The only Graph resource this tenant's tokens are issued for: its cloud's."""
        return CLOUDS[self.cloud].graph_resource

    @property
    def registry(self) -> str:
        """Where apps usable in this tenant are registered (US Gov L4 and L5 share one)."""
        return CLOUDS[self.cloud].registry

    def settle(self, now: float, retention_s: float) -> None:
        """Time-driven changes due by `now`: soft-deleted users past the deleted-items window are purged."""
        if self.directory.deleted_items:
            self.directory.purge_deleted(now, retention_s)

    def eventual(self, now: float) -> Directory:
        """The directory as advanced queries and delta rounds see it now (lagging when a lag is set)."""
        return self.replica.view(self.directory, now)


@dataclass
class Settings:
    """Service-wide knobs the control API can turn."""

    delta_page_objects: int = 200
    delta_page_links: int = 500
    delta_max_age_s: float = 7 * 24 * 3600
    consent_propagation_s: float = 0.0
    token_lifetime_s: int = 3599
    deleted_items_retention_s: float = DELETED_ITEMS_RETENTION_S
    sign_in_page: bool = False  # /authorize shows the password sign-in page (emulators/entra/signin_page.py)


@dataclass
class World:
    tenants: dict[str, Tenant] = field(default_factory=dict)  # by tenant id (GUID)
    apps: dict[str, App] = field(default_factory=dict)  # by client id
    clock: Clock = field(default_factory=Clock)
    settings: Settings = field(default_factory=Settings)
    lock: threading.RLock = field(default_factory=threading.RLock)
    seed: str = ""  # the seed the directory was built from (also seeds the order of $batch responses)
    throttle: Throttle = field(default_factory=Throttle)  # resource-unit limits per app and tenant (on by default)
    codes: dict[str, AuthCode] = field(default_factory=dict)  # authorization codes by value
    browser_user: str | None = None  # the account the browser is signed in with (a user id), if chosen
    issued: deque[str] = field(default_factory=lambda: deque(maxlen=2000))  # code-flow secrets, for leak tests
    app_roles: dict[str, list[Any]] = field(default_factory=dict)  # client id -> AppRole (emulators/entra/app_roles.py)
    app_role_assignments: dict[tuple[str, str, str], set[str]] = field(default_factory=dict)  # (tid, app, user)
    sign_in_sessions: dict[str, str] = field(default_factory=dict)  # the sign-in page's session cookie -> user id

    def find_tenant(self, key: str) -> Tenant | None:
        """A tenant by GUID or by one of its verified domains (case-insensitive)."""
        tenant = self.tenants.get(key.lower())
        if tenant is not None:
            return tenant
        lowered = key.lower()
        for candidate in self.tenants.values():
            if lowered in (d.lower() for d in candidate.domains):
                return candidate
        return None
