"""Settings: one registry of every setting the app reads, loaded lazily, every problem reported at once by name."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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
    SettingSpec("AZURE_CLIENT_ID", "Client id of the app's user-assigned managed identity.", "azure"),
    SettingSpec("APPLICATIONINSIGHTS_CONNECTION_STRING", "Where the host sends telemetry.", "azure", "host"),
    SettingSpec(
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING", "Entra auth for telemetry (local auth is off).", "azure", "host"
    ),
)

SETTING_NAMES = frozenset(spec.name for spec in SETTINGS)


@dataclass(frozen=True)
class StorageSettings:
    """Either a connection string (Azurite) or identity-based endpoints (Azure)."""

    connection_string: str | None
    table_uri: str | None
    queue_uri: str | None
    client_id: str | None


@dataclass(frozen=True)
class Settings:
    storage: StorageSettings


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
    return StorageSettings(connection_string=conn, table_uri=table_uri, queue_uri=queue_uri, client_id=client_id)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and check every setting now (never at import time); raise ConfigurationError listing all problems."""
    reader = _Reader(os.environ if environ is None else environ)
    settings = Settings(storage=_storage(reader))
    if reader.problems:
        raise ConfigurationError(reader.problems)
    return settings
