"""Composition root: builds the real adapters from settings, per invocation, and closes them. Tests build the same
objects against Azurite and the emulators, or pass fakes to the services directly."""

from __future__ import annotations

import ssl
from types import TracebackType
from typing import Any, Self

from shared.config import Settings, load_settings
from shared.domain.clouds import Cloud, cloud_named
from shared.domain.connection import Connection

AZURITE_DEFAULT = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
    "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)


class Container:
    """Lazily made clients for one invocation. `async with Container.from_env() as c:`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._closers: list[Any] = []
        self._tables: Any = None
        self._queues: Any = None
        self._secrets: Any = None
        self._app_credential: Any = None
        self._http: Any = None

    @classmethod
    def from_env(cls) -> Container:
        return cls(load_settings())

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        for closer in reversed(self._closers):
            await closer()
        self._closers.clear()

    # -- the app's own identity ------------------------------------------------------------------
    @property
    def emulated(self) -> bool:
        return bool(self.settings.login_url_override)

    def cloud(self, name: str = "global") -> Cloud:
        return cloud_named(name, self.settings.login_url_override, self.settings.graph_url_override)

    def app_credential(self) -> Any:
        if self._app_credential is None:
            identity = self.settings.identity
            if identity.client_secret:
                from shared.adapters.entra_auth import make_credential

                self._app_credential = make_credential(
                    tenant_id=identity.tenant_id or "",
                    client_id=identity.client_id or "",
                    secret=identity.client_secret,
                    login_url=self.cloud().login_url,
                    ca_path=self.settings.ca_bundle,
                    emulated=self.emulated,
                )
            else:
                from azure.identity.aio import ManagedIdentityCredential

                self._app_credential = ManagedIdentityCredential(client_id=identity.client_id)
            self._closers.append(self._app_credential.close)
        return self._app_credential

    # -- storage and secrets ----------------------------------------------------------------------
    def _storage_connection_string(self) -> str | None:
        conn = self.settings.storage.connection_string
        return AZURITE_DEFAULT if conn == "UseDevelopmentStorage=true" else conn

    def tables(self) -> Any:
        if self._tables is None:
            from shared.adapters.table_store import TableStore

            conn = self._storage_connection_string()
            self._tables = (
                TableStore.from_connection_string(conn)
                if conn
                else TableStore.from_endpoint(self.settings.storage.table_uri or "", self.app_credential())
            )
            self._closers.append(self._tables.close)
        return self._tables

    def queues(self) -> Any:
        if self._queues is None:
            from shared.adapters.queues import QueueSender

            conn = self._storage_connection_string()
            self._queues = (
                QueueSender.from_connection_string(conn)
                if conn
                else QueueSender.from_endpoint(self.settings.storage.queue_uri or "", self.app_credential())
            )
            self._closers.append(self._queues.close)
        return self._queues

    def secrets(self) -> Any:
        if self._secrets is None:
            from shared.adapters.keyvault_secrets import KeyVaultSecretStore

            self._secrets = KeyVaultSecretStore.create(
                self.settings.key_vault_url,
                self.app_credential(),
                ca_path=self.settings.ca_bundle,
                verify_challenge_resource=not self.emulated,
            )
            self._closers.append(self._secrets.close)
        return self._secrets

    # -- Graph for a connection -------------------------------------------------------------------
    def http(self) -> Any:
        if self._http is None:
            import httpx

            verify: Any = (
                ssl.create_default_context(cafile=self.settings.ca_bundle) if self.settings.ca_bundle else True
            )
            self._http = httpx.AsyncClient(
                verify=verify,
                timeout=httpx.Timeout(60.0, connect=10.0),
                limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
            )
            self._closers.append(self._http.aclose)
        return self._http

    async def connection_credential(self, connection: Connection) -> Any:
        """An async credential for the connection's app in its tenant; the material is read from Key Vault now."""
        from shared.adapters.entra_auth import make_credential
        from shared.errors import ConfigurationError

        if connection.credential_mode == "admin_consent":
            if not self.settings.operator_client_id:
                raise ConfigurationError({"OPERATOR_CLIENT_ID": "missing: needed for admin-consent connections"})
            client_id = self.settings.operator_client_id
            secret_name = self.settings.operator_credential_secret_name
        else:
            client_id = connection.client_id or ""
            secret_name = connection.credential.secret_name if connection.credential else ""
        material = (await self.secrets().get(secret_name)).value.reveal()
        pem = material.encode() if material.lstrip().startswith("-----BEGIN") else None
        credential = make_credential(
            tenant_id=connection.tenant_id,
            client_id=client_id,
            login_url=self.cloud(connection.cloud).login_url,
            secret=None if pem else material,
            certificate_pem=pem,
            ca_path=self.settings.ca_bundle,
            emulated=self.emulated,
        )
        self._closers.append(credential.close)
        return credential

    async def graph_for(self, connection: Connection) -> Any:
        from shared.adapters.entra_auth import CredentialTokens
        from shared.adapters.graph import GraphClient

        cloud = self.cloud(connection.cloud)
        tokens = CredentialTokens(await self.connection_credential(connection), cloud.graph_scope)
        return GraphClient(self.http(), tokens, cloud.graph_v1)
