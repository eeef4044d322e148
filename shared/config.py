"""Settings: one registry of every setting the app reads, loaded lazily, every problem reported at once by name."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar
from urllib.parse import urlparse

from shared.errors import ConfigurationError

Where = Literal["both", "local", "azure"]
T = TypeVar("T")


@dataclass(frozen=True)
class SettingSpec:
    """One app setting. `where`: set locally (local.settings.json), in Azure (Bicep) or both.
    `reader`: 'app' when this code reads it, 'host' when only the Functions host or a binding does."""

    name: str
    description: str
    where: Where = "both"
    reader: Literal["app", "host"] = "app"
    default: str | None = None


SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec(
        "FUNCTIONS_WORKER_RUNTIME", "Language worker (python). Flex Consumption sets it itself.", "local", "host"
    ),
    SettingSpec("AzureWebJobsStorage", "Storage connection string (local runs with Azurite only).", "local"),
    SettingSpec(
        "AzureWebJobsStorage__credential",
        "managedidentity: the host reaches storage as the app's identity.",
        "azure",
        "host",
    ),
    SettingSpec("AzureWebJobsStorage__clientId", "Client id of the user-assigned identity used for storage.", "azure"),
    SettingSpec(
        "AzureWebJobsStorage__blobServiceUri", "Blob endpoint (host internals, deployment package).", "azure", "host"
    ),
    SettingSpec("AzureWebJobsStorage__queueServiceUri", "Queue endpoint (change feed, sync jobs).", "azure"),
    SettingSpec("AzureWebJobsStorage__tableServiceUri", "Table endpoint (connections, directory copy, runs).", "azure"),
    SettingSpec("AZURE_CLIENT_ID", "The app's own identity: the managed identity (Azure) or a local app.", "both"),
    SettingSpec(
        "AZURE_TENANT_ID", "Local only: tenant of the local identity standing in for the managed one.", "local"
    ),
    SettingSpec("AZURE_CLIENT_SECRET", "Local only: secret of that local identity (never set in Azure).", "local"),
    SettingSpec("KEY_VAULT_URL", "Key Vault holding every secret (credentials, signing key, passwords)."),
    SettingSpec(
        "OPERATOR_CLIENT_ID",
        "Client id of the operator's multi-tenant app in the global cloud (admin-consent onboarding).",
    ),
    SettingSpec(
        "OPERATOR_CREDENTIAL_SECRET_NAME",
        "Key Vault secret with the operator app's client secret or certificate PEM.",
        default="operator-app-credential",
    ),
    SettingSpec(
        "OPERATOR_CLIENT_ID_USGOV",
        "Client id of the operator's app registered in Azure US Government (portal.azure.us): admin-consent "
        "connections of the usgov (L4) and usgov-dod (L5) clouds. Needed only by such connections.",
    ),
    SettingSpec(
        "OPERATOR_CREDENTIAL_SECRET_NAME_USGOV",
        "Key Vault secret with the US Government operator app's client secret or certificate PEM.",
        default="operator-app-credential-usgov",
    ),
    SettingSpec(
        "OPERATOR_CLIENT_ID_CHINA",
        "Client id of the operator's app registered in Azure China (portal.azure.cn): admin-consent connections of "
        "the china cloud. Needed only by such connections.",
    ),
    SettingSpec(
        "OPERATOR_CREDENTIAL_SECRET_NAME_CHINA",
        "Key Vault secret with the China operator app's client secret or certificate PEM.",
        default="operator-app-credential-china",
    ),
    SettingSpec(
        "PUBLIC_BASE_URL",
        "Public https base URL of this app; the consent callback is {PUBLIC_BASE_URL}/api/consent/callback.",
    ),
    SettingSpec(
        "ENTRA_LOGIN_URL_OVERRIDE", "Local only: login host to use instead of the cloud's (the emulator).", "local"
    ),
    SettingSpec("GRAPH_URL_OVERRIDE", "Local only: Graph host to use instead of the cloud's (the emulator).", "local"),
    SettingSpec("TLS_CA_BUNDLE", "Local only: CA bundle for the emulators' HTTPS.", "local"),
    SettingSpec(
        "SYNC_TIME_BUDGET_SECONDS",
        "Seconds one sync invocation may run before it checkpoints and continues in a new one.",
        default="480",
    ),
    SettingSpec(
        "SIGNIN_RETURN_URLS",
        "Comma-separated return URLs of the product for end-user sign-in (docs/signin.md); a return_to must match "
        "one in scheme, host, port and path. Empty: sign-in refuses every return_to.",
        default="",
    ),
    SettingSpec(
        "SIGNIN_SCOPES",
        "Space-separated scopes end-user sign-in asks for (delegated permissions of the app).",
        default="openid profile email User.ReadBasic.All",
    ),
    SettingSpec(
        "CONSOLE_TENANT_ID",
        "Tenant whose accounts sign in to the admin console (the operator's own; app roles Connector.Admin and "
        "Connector.Reader on the operator app). Empty: AZURE_TENANT_ID. Bicep sets the deployment's tenant.",
    ),
    SettingSpec(
        "CHANGE_NOTIFICATIONS",
        "Graph change notifications for near-real-time sync: auto (on when the notification URL is https), on, off.",
        default="auto",
    ),
    SettingSpec(
        "NOTIFICATION_BASE_URL",
        "Local only: base URL where Graph reaches this app's notification endpoint, when not PUBLIC_BASE_URL.",
        "local",
    ),
    SettingSpec(
        "AGENT_LEASE_SECONDS",
        "Seconds an on-prem agent's job lease lasts after its last heartbeat; another agent takes the job after it.",
        default="60",
    ),
    SettingSpec("APPLICATIONINSIGHTS_CONNECTION_STRING", "Where the host sends telemetry.", "azure", "host"),
    SettingSpec(
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING", "Entra auth for telemetry (local auth is off).", "azure", "host"
    ),
)

SETTING_NAMES = frozenset(spec.name for spec in SETTINGS)


PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY")  # the process's proxy, not app settings of ours


@dataclass(frozen=True)
class StorageSettings:
    """Either a connection string (Azurite) or identity-based endpoints (Azure)."""

    connection_string: str | None
    table_uri: str | None
    queue_uri: str | None
    client_id: str | None
    proxy_from_env: bool = False  # HTTPS_PROXY / HTTP_PROXY / ALL_PROXY set: the storage clients use it


@dataclass(frozen=True)
class IdentitySettings:
    """The app's own identity (for Key Vault and storage): managed identity in Azure, an app secret locally."""

    client_id: str | None
    tenant_id: str | None
    client_secret: str | None = field(repr=False, default=None)


# Per app registry (shared.domain.clouds.REGISTRIES): the settings naming the operator app and its credential there.
OPERATOR_SETTINGS: dict[str, tuple[str, str]] = {
    "global": ("OPERATOR_CLIENT_ID", "OPERATOR_CREDENTIAL_SECRET_NAME"),
    "usgov": ("OPERATOR_CLIENT_ID_USGOV", "OPERATOR_CREDENTIAL_SECRET_NAME_USGOV"),
    "china": ("OPERATOR_CLIENT_ID_CHINA", "OPERATOR_CREDENTIAL_SECRET_NAME_CHINA"),
}


@dataclass(frozen=True)
class OperatorApp:
    """The operator's app in one cloud's registry: its client id (None: not configured) and credential secret."""

    registry: str
    client_id: str | None
    secret_name: str

    @property
    def client_id_setting(self) -> str:
        return OPERATOR_SETTINGS[self.registry][0]

    @property
    def secret_setting(self) -> str:
        return OPERATOR_SETTINGS[self.registry][1]


@dataclass(frozen=True)
class Settings:
    storage: StorageSettings
    identity: IdentitySettings
    key_vault_url: str
    operator_apps: Mapping[str, OperatorApp]  # by registry: global, usgov, china
    public_base_url: str
    login_url_override: str | None
    graph_url_override: str | None
    ca_bundle: str | None
    sync_time_budget_s: float
    signin_return_urls: tuple[str, ...] = ()
    signin_scopes: str = "openid profile email User.ReadBasic.All"

    @property
    def signin_redirect_uri(self) -> str:
        return f"{self.public_base_url}/api/signin/callback"

    console_tenant_id: str | None = None

    @property
    def console_redirect_uri(self) -> str:
        return f"{self.public_base_url}/api/console/callback"

    change_notifications: str = "auto"  # auto | on | off
    notification_base_url: str | None = None  # default: public_base_url
    agent_lease_s: float = 60.0  # AGENT_LEASE_SECONDS

    @property
    def notifications_url_base(self) -> str:
        return self.notification_base_url or self.public_base_url

    @property
    def notifications_on(self) -> bool:
        """Subscribe at all? auto: only where Graph can deliver (an https notification URL)."""
        if self.change_notifications == "auto":
            return self.notifications_url_base.startswith("https://")
        return self.change_notifications == "on"

    @property
    def consent_redirect_uri(self) -> str:
        return f"{self.public_base_url}/api/consent/callback"

    @property
    def operator_client_id(self) -> str | None:
        return self.operator_apps["global"].client_id

    @property
    def operator_credential_secret_name(self) -> str:
        return self.operator_apps["global"].secret_name

    def operator_app(self, registry: str) -> OperatorApp:
        """The operator app of a cloud's registry, configured; ConfigurationError naming its setting otherwise
        (reported only when a connection of that cloud needs it)."""
        app = self.operator_apps[registry]
        if not app.client_id:
            where = {"global": "the global cloud", "usgov": "the US Government clouds (usgov, usgov-dod)"}.get(
                registry, f"the {registry} cloud"
            )
            raise ConfigurationError(
                {app.client_id_setting: f"missing: needed for admin-consent connections in {where}"}
            )
        return app


class _Reader:
    """Collects every problem instead of stopping at the first."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        if name not in SETTING_NAMES:
            raise KeyError(f"{name} is not in shared.config.SETTINGS; add it there first")
        value = self.environ.get(name)
        if value is None or not value.strip():
            spec = next(s for s in SETTINGS if s.name == name)
            return spec.default
        return value.strip()

    def parsed(self, name: str, parse: Callable[[str], T]) -> T | None:
        raw = self.get(name)
        if raw is None:
            return None
        try:
            return parse(raw)
        except ValueError as exc:
            self.problems[name] = str(exc)
            return None

    def problem(self, name: str, why: str) -> None:
        self.problems.setdefault(name, why)


def https_url(raw: str) -> str:
    parts = urlparse(raw)
    if parts.scheme != "https" or not parts.netloc:
        raise ValueError(f"must be an https:// URL, got {raw!r}")
    return raw.rstrip("/")


def _storage(reader: _Reader) -> StorageSettings:
    conn = reader.get("AzureWebJobsStorage")
    table_uri = reader.parsed("AzureWebJobsStorage__tableServiceUri", https_url)
    queue_uri = reader.parsed("AzureWebJobsStorage__queueServiceUri", https_url)
    client_id = reader.get("AzureWebJobsStorage__clientId") or reader.get("AZURE_CLIENT_ID")
    if conn is None:
        for name, value in (
            ("AzureWebJobsStorage__tableServiceUri", table_uri),
            ("AzureWebJobsStorage__queueServiceUri", queue_uri),
        ):
            if value is None and name not in reader.problems:
                reader.problem(name, "missing: set it (Azure, with a managed identity) or AzureWebJobsStorage (local)")
    elif "AccountName=" not in conn and conn != "UseDevelopmentStorage=true":
        reader.problem("AzureWebJobsStorage", "not a storage connection string (expected AccountName=...)")
    proxy = any(reader.environ.get(n) or reader.environ.get(n.lower()) for n in PROXY_VARIABLES)
    return StorageSettings(
        connection_string=conn, table_uri=table_uri, queue_uri=queue_uri, client_id=client_id, proxy_from_env=proxy
    )


def _positive(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


def _base_url(raw: str) -> str:
    parts = urlparse(raw)
    local = parts.hostname in ("localhost", "127.0.0.1")
    if parts.scheme not in ("https", "http") or not parts.netloc or (parts.scheme == "http" and not local):
        raise ValueError(f"must be an https:// URL (http only for localhost), got {raw!r}")
    return raw.rstrip("/")


def _return_urls(raw: str) -> tuple[str, ...]:
    """Registered return URLs: absolute https (http only for localhost), no query or fragment."""
    urls = tuple(u.strip() for u in raw.split(",") if u.strip())
    for url in urls:
        parts = urlparse(url)
        local = parts.hostname in ("localhost", "127.0.0.1")
        if parts.scheme not in ("https", "http") or not parts.netloc or (parts.scheme == "http" and not local):
            raise ValueError(f"each URL must be https:// (http only for localhost), got {url!r}")
        if parts.query or parts.fragment:
            raise ValueError(f"a registered return URL has no query or fragment, got {url!r}")
    return urls


def _scopes(raw: str) -> str:
    scopes = raw.split()
    if "openid" not in scopes:
        raise ValueError("must include openid (sign-in needs an ID token)")
    return " ".join(scopes)


def _tenant_guid(raw: str) -> str:
    from shared.domain.secret_names import GUID_PATTERN

    if not GUID_PATTERN.match(raw):
        raise ValueError(f"must be a tenant id (a GUID), got {raw[:40]!r}")
    return raw.lower()


def _switch(raw: str) -> str:
    if raw.lower() not in ("auto", "on", "off"):
        raise ValueError(f"must be auto, on or off, got {raw!r}")
    return raw.lower()


def _required(reader: _Reader, name: str, value: str | None) -> str:
    if value is None and name not in reader.problems:
        reader.problem(name, "missing")
    return value or ""


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and check every setting now (never at import time); raise ConfigurationError listing all problems."""
    reader = _Reader(os.environ if environ is None else environ)
    settings = Settings(
        storage=_storage(reader),
        identity=IdentitySettings(
            reader.get("AZURE_CLIENT_ID"), reader.get("AZURE_TENANT_ID"), reader.get("AZURE_CLIENT_SECRET")
        ),
        key_vault_url=_required(reader, "KEY_VAULT_URL", reader.parsed("KEY_VAULT_URL", https_url)),
        operator_apps={
            "global": OperatorApp(
                "global",
                reader.get("OPERATOR_CLIENT_ID"),
                reader.get("OPERATOR_CREDENTIAL_SECRET_NAME") or "operator-app-credential",
            ),
            "usgov": OperatorApp(
                "usgov",
                reader.get("OPERATOR_CLIENT_ID_USGOV"),
                reader.get("OPERATOR_CREDENTIAL_SECRET_NAME_USGOV") or "operator-app-credential-usgov",
            ),
            "china": OperatorApp(
                "china",
                reader.get("OPERATOR_CLIENT_ID_CHINA"),
                reader.get("OPERATOR_CREDENTIAL_SECRET_NAME_CHINA") or "operator-app-credential-china",
            ),
        },
        public_base_url=_required(reader, "PUBLIC_BASE_URL", reader.parsed("PUBLIC_BASE_URL", _base_url)),
        login_url_override=reader.parsed("ENTRA_LOGIN_URL_OVERRIDE", https_url),
        graph_url_override=reader.parsed("GRAPH_URL_OVERRIDE", https_url),
        ca_bundle=reader.get("TLS_CA_BUNDLE"),
        sync_time_budget_s=reader.parsed("SYNC_TIME_BUDGET_SECONDS", _positive) or 480.0,
        signin_return_urls=reader.parsed("SIGNIN_RETURN_URLS", _return_urls) or (),
        signin_scopes=reader.parsed("SIGNIN_SCOPES", _scopes) or "openid profile email User.ReadBasic.All",
        console_tenant_id=reader.parsed("CONSOLE_TENANT_ID", _tenant_guid) or reader.get("AZURE_TENANT_ID"),
        change_notifications=reader.parsed("CHANGE_NOTIFICATIONS", _switch) or "auto",
        notification_base_url=reader.parsed("NOTIFICATION_BASE_URL", _base_url),
        agent_lease_s=reader.parsed("AGENT_LEASE_SECONDS", _positive) or 60.0,
    )
    if reader.problems:
        raise ConfigurationError(reader.problems)
    return settings
