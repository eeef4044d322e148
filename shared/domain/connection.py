"""A connection: one customer tenant joined to the product, with its credentials mode, features and sync policy."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from shared.domain.timestamps import from_iso, to_iso

CredentialMode = Literal["admin_consent", "customer_app", "agent"]  # agent: source ad, the password stays with it
CredentialKind = Literal["secret", "certificate"]
RemovalBehaviour = Literal["keep", "deactivate", "delete"]
ConnectionState = Literal[
    "pending_consent", "pending_verification", "pending_agent", "active", "disabled", "error", "purging"
]
Source = Literal["entra", "ad"]

CREDENTIAL_MODES: tuple[str, ...] = ("admin_consent", "customer_app")
CREDENTIAL_KINDS: tuple[str, ...] = ("secret", "certificate")
REMOVAL_BEHAVIOURS: tuple[str, ...] = ("keep", "deactivate", "delete")
STATES: tuple[str, ...] = (
    "pending_consent",
    "pending_verification",
    "pending_agent",
    "active",
    "disabled",
    "error",
    "purging",
)
SOURCES: tuple[str, ...] = ("entra", "ad")
FREQUENCIES: tuple[str, ...] = ("daily", "weekly")
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

DEFAULT_DELETION_THRESHOLD = 500


@dataclass(frozen=True)
class Schedule:
    """When scheduled syncs run, in the admin's own time zone. Weekly runs on the chosen weekdays."""

    frequency: Literal["daily", "weekly"] = "daily"
    weekdays: tuple[str, ...] = WEEKDAYS
    time_of_day: str = "02:00"  # HH:MM, local to `timezone`
    timezone: str = "UTC"  # IANA name


@dataclass(frozen=True)
class CredentialInfo:
    """What may be shown about a stored credential: that it is set, a hint and its expiry. Never the value."""

    kind: CredentialKind
    hint: str  # last three characters of a secret, or the certificate thumbprint's last three
    expires_on: datetime | None = None
    secret_name: str = ""  # the Key Vault secret holding it (a name, not a value)
    version: str = ""  # the Key Vault version this row describes; "" on rows written before versions were kept


@dataclass(frozen=True)
class Connection:
    id: str
    tenant_id: str  # always the GUID ("" for source ad)
    display_name: str
    credential_mode: CredentialMode
    cloud: str = "global"
    tenant_domain: str | None = None  # what the admin typed, when it was a domain
    client_id: str | None = None  # the customer's own app (credential_mode customer_app)
    credential: CredentialInfo | None = None
    sync_enabled: bool = True
    rotation_enabled: bool = False
    notifications_enabled: bool = True  # Graph change notifications, where the deployment can receive them
    sync_group_id: str | None = None  # None: the whole directory is in scope
    rotation_group_id: str | None = None
    rotation_interval_days: int = 30
    schedule: Schedule = field(default_factory=Schedule)
    removal_behaviour: RemovalBehaviour = "deactivate"
    deletion_threshold: int = DEFAULT_DELETION_THRESHOLD  # objects
    deletion_threshold_percent: int | None = None  # when set, the smaller of the two limits applies
    user_defaults: dict[str, Any] = field(default_factory=dict)  # applied to imported users, e.g. sso_enabled
    state: ConnectionState = "pending_consent"
    state_reason: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    consented_at: datetime | None = None
    # The last failure a worker or trigger met that is not the admin's to fix by input: code, where, at, run_id,
    # exception_type (never an exception's message). Written alone (merge) by shared/services/incidents.py.
    last_error: dict[str, str] | None = None
    # Where the directory comes from: "entra" (Graph, tenant_id) or "ad" (on-prem AD through the connection's
    # agents, docs/ad-agent.md): an AD connection has `domain` (its DNS name) and no tenant (tenant_id "").
    source: Source = "entra"
    domain: str | None = None

    @property
    def is_ad(self) -> bool:
        return self.source == "ad"

    def with_changes(self, **changes: Any) -> Connection:
        return replace(self, updated_at=datetime.now(UTC), **changes)

    def public_view(self) -> dict[str, Any]:
        """The API shape: everything an admin may see; the credential only as set/hint/expiry."""
        view = asdict(self)
        view["schedule"]["weekdays"] = list(self.schedule.weekdays)
        credential = view.pop("credential")
        view["credential"] = (
            {
                "set": True,
                "kind": credential["kind"],
                "hint": f"...{credential['hint']}",
                "expires_on": _iso(self.credential.expires_on) if self.credential else None,
            }
            if credential
            else {"set": False}
        )
        for key in ("created_at", "updated_at", "consented_at"):
            view[key] = _iso(getattr(self, key))
        return view


def _iso(value: datetime | None) -> str | None:
    return to_iso(value) if value else None


PARTITION = "connection"


def to_entity(connection: Connection) -> dict[str, Any]:
    """Table row: scalar columns plus JSON for nested parts. Holds no secret (only the Key Vault secret's name)."""
    cred = connection.credential
    return {
        "PartitionKey": PARTITION,
        "RowKey": connection.id,
        "tenant_id": connection.tenant_id,
        "tenant_domain": connection.tenant_domain or "",
        "cloud": connection.cloud,
        "display_name": connection.display_name,
        "credential_mode": connection.credential_mode,
        "client_id": connection.client_id or "",
        "credential_json": json.dumps(
            {
                "kind": cred.kind,
                "hint": cred.hint,
                "expires_on": _iso(cred.expires_on),
                "secret_name": cred.secret_name,
                "version": cred.version,
            }
        )
        if cred
        else "",
        "sync_enabled": connection.sync_enabled,
        "rotation_enabled": connection.rotation_enabled,
        "notifications_enabled": connection.notifications_enabled,
        "sync_group_id": connection.sync_group_id or "",
        "rotation_group_id": connection.rotation_group_id or "",
        "rotation_interval_days": connection.rotation_interval_days,
        "schedule_json": json.dumps(asdict(connection.schedule)),
        "removal_behaviour": connection.removal_behaviour,
        "deletion_threshold": connection.deletion_threshold,
        "deletion_threshold_percent": -1
        if connection.deletion_threshold_percent is None
        else connection.deletion_threshold_percent,
        "user_defaults_json": json.dumps(connection.user_defaults, sort_keys=True),
        "state": connection.state,
        "state_reason": connection.state_reason or "",
        "created_at": _iso(connection.created_at),
        "updated_at": _iso(connection.updated_at),
        "consented_at": _iso(connection.consented_at) or "",
        "last_error_json": json.dumps(connection.last_error, sort_keys=True) if connection.last_error else "",
        "source": connection.source,
        "domain": connection.domain or "",
    }


def from_entity(row: dict[str, Any]) -> Connection:
    cred_raw = json.loads(row["credential_json"]) if row.get("credential_json") else None
    schedule_raw = json.loads(row.get("schedule_json") or "{}")
    percent = int(row.get("deletion_threshold_percent", -1))
    return Connection(
        id=str(row["RowKey"]),
        tenant_id=str(row["tenant_id"]),
        tenant_domain=row.get("tenant_domain") or None,
        cloud=str(row.get("cloud", "global")),
        display_name=str(row["display_name"]),
        credential_mode=row["credential_mode"],
        client_id=row.get("client_id") or None,
        credential=CredentialInfo(
            kind=cred_raw["kind"],
            hint=cred_raw["hint"],
            expires_on=from_iso(cred_raw.get("expires_on")),
            secret_name=cred_raw.get("secret_name", ""),
            version=cred_raw.get("version", ""),
        )
        if cred_raw
        else None,
        sync_enabled=bool(row.get("sync_enabled", True)),
        rotation_enabled=bool(row.get("rotation_enabled", False)),
        notifications_enabled=bool(row.get("notifications_enabled", True)),
        sync_group_id=row.get("sync_group_id") or None,
        rotation_group_id=row.get("rotation_group_id") or None,
        rotation_interval_days=int(row.get("rotation_interval_days", 30)),
        schedule=Schedule(
            frequency=schedule_raw.get("frequency", "daily"),
            weekdays=tuple(schedule_raw.get("weekdays", WEEKDAYS)),
            time_of_day=schedule_raw.get("time_of_day", "02:00"),
            timezone=schedule_raw.get("timezone", "UTC"),
        ),
        removal_behaviour=row.get("removal_behaviour", "deactivate"),
        deletion_threshold=int(row.get("deletion_threshold", DEFAULT_DELETION_THRESHOLD)),
        deletion_threshold_percent=None if percent < 0 else percent,
        user_defaults=json.loads(row.get("user_defaults_json") or "{}"),
        state=row.get("state", "pending_consent"),
        state_reason=row.get("state_reason") or None,
        created_at=from_iso(row.get("created_at")) or datetime.now(UTC),
        updated_at=from_iso(row.get("updated_at")) or datetime.now(UTC),
        consented_at=from_iso(row.get("consented_at")),
        last_error=json.loads(row["last_error_json"]) if row.get("last_error_json") else None,
        source="ad" if row.get("source") == "ad" else "entra",  # rows written before sources were kept: entra
        domain=row.get("domain") or None,
    )
