"""Composition root: builds the real adapters from settings. Storage, Key Vault, the app's credential, the HTTP
client and the sync's Graph credentials come from the process's client pool (shared/client_pool.py: made once,
reused by every invocation); what a Container makes for itself alone (fresh credentials) it closes. Tests build
the same objects against Azurite and the emulators, or pass fakes to the services directly."""

from __future__ import annotations

import ssl
from types import TracebackType
from typing import Any, Self

from shared.client_pool import ClientPool, current_pool, fingerprint
from shared.config import Settings, load_settings
from shared.domain.clouds import Cloud, cloud_named
from shared.domain.connection import Connection
from shared.logging_context import configure_logging

AZURITE_DEFAULT = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
    "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)


def _closer(client: Any) -> Any:
    return getattr(client, "aclose", None) or client.close


class Container:
    """The clients of one invocation, lazily. `async with Container.from_env() as c:`."""

    def __init__(self, settings: Settings, pool: ClientPool | None = None) -> None:
        configure_logging()  # the worker's first invocation: SDK HTTP logging to WARNING, job ids on log lines
        self.settings = settings
        self._pool = pool
        self._closers: list[Any] = []

    @property
    def pool(self) -> ClientPool:
        if self._pool is None:
            self._pool = current_pool()
        return self._pool

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

    def _app_key(self) -> tuple[Any, ...]:
        identity = self.settings.identity
        secret = fingerprint(identity.client_secret) if identity.client_secret else ""
        return ("app", identity.tenant_id, identity.client_id, secret, self.cloud().login_url, self.settings.ca_bundle)

    def app_credential(self) -> Any:
        """The app's own identity, shared by the process: a client secret when set (locally), otherwise the
        azure-identity chain (the managed identity in Azure, the admin's `az login` for the CLI elsewhere)."""
        return self.pool.get(self._app_key(), self._make_app_credential, _closer)

    def _make_app_credential(self) -> Any:
        from shared.adapters.app_credential import build_app_credential, choose_app_credential

        identity = self.settings.identity
        choice = choose_app_credential(
            identity, login_url=self.cloud().login_url, ca_path=self.settings.ca_bundle, emulated=self.emulated
        )
        return build_app_credential(choice, identity)

    # -- storage and secrets ----------------------------------------------------------------------
    def _storage_connection_string(self) -> str | None:
        conn = self.settings.storage.connection_string
        return AZURITE_DEFAULT if conn == "UseDevelopmentStorage=true" else conn

    def tables(self) -> Any:
        from shared.adapters.table_store import TableStore

        return self._storage("tables", TableStore, self.settings.storage.table_uri)

    def queues(self) -> Any:
        from shared.adapters.queues import QueueSender

        return self._storage("queues", QueueSender, self.settings.storage.queue_uri)

    def cursor_memo(self) -> Any:
        """This worker's last committed sync cursor of each connection, per storage account: the next run of a
        connection starts its delta reads beside its sync state's (shared/services/sync_start.py)."""
        from shared.services.sync_start import CursorMemo

        account = self._storage_connection_string() or self.settings.storage.table_uri
        return self.pool.get(("cursor-memo", account), CursorMemo, lambda memo: memo.close)

    def _storage(self, kind: str, adapter: Any, uri: str | None) -> Any:
        """A storage adapter from the pool: by connection string (Azurite, or a key) or by endpoint and identity."""
        conn = self._storage_connection_string()
        proxy = self.settings.storage.proxy_from_env
        key = (kind, conn) if conn else (kind, uri, self._app_key())
        return self.pool.get(
            key,
            lambda: (
                adapter.from_connection_string(conn, trust_env=proxy)
                if conn
                else adapter.from_endpoint(uri or "", self.app_credential(), trust_env=proxy)
            ),
            _closer,
        )

    def secrets(self) -> Any:
        key = ("secrets", self.settings.key_vault_url, self.settings.ca_bundle, self.emulated, self._app_key())
        return self.pool.get(key, self._make_secrets, _closer)

    def _make_secrets(self) -> Any:
        from shared.adapters.keyvault_secrets import KeyVaultSecretStore

        return KeyVaultSecretStore.create(
            self.settings.key_vault_url,
            self.app_credential(),
            ca_path=self.settings.ca_bundle,
            verify_challenge_resource=not self.emulated,
        )

    # -- Graph for a connection -------------------------------------------------------------------
    def http(self) -> Any:
        """The HTTP client for Graph and Entra (kept: its TLS connections serve later invocations too)."""
        return self.pool.get(("http", self.settings.ca_bundle), self._make_http, _closer)

    def _make_http(self) -> Any:
        import httpx

        verify: Any = ssl.create_default_context(cafile=self.settings.ca_bundle) if self.settings.ca_bundle else True
        return httpx.AsyncClient(
            verify=verify,
            timeout=httpx.Timeout(60.0, connect=10.0),
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
        )

    async def _credential_material(self, connection: Connection) -> tuple[str, str]:
        """(client id, secret or PEM) of the app a connection signs in with; read from Key Vault every time, so a
        rotated or replaced credential is used from the next invocation on. A customer app's credential is read at
        the exact Key Vault version its row describes (the latest only for rows older than versioned rows), so the
        row and the credential used never disagree, whatever a concurrent or failed update left in Key Vault."""
        version: str | None = None
        if connection.credential_mode == "admin_consent":  # the operator app registered in the connection's cloud
            operator = self.settings.operator_app(self.cloud(connection.cloud).registry)  # ConfigurationError
            client_id, secret_name = operator.client_id or "", operator.secret_name
        else:
            client_id = connection.client_id or ""
            secret_name = connection.credential.secret_name if connection.credential else ""
            version = (connection.credential.version if connection.credential else "") or None
        return client_id, (await self.secrets().get(secret_name, version)).value.reveal()

    def _make_connection_credential(self, connection: Connection, client_id: str, material: str) -> Any:
        from shared.adapters.entra_auth import make_credential

        pem = material.encode() if material.lstrip().startswith("-----BEGIN") else None
        return make_credential(
            tenant_id=connection.tenant_id,
            client_id=client_id,
            login_url=self.cloud(connection.cloud).login_url,
            secret=None if pem else material,
            certificate_pem=pem,
            ca_path=self.settings.ca_bundle,
            emulated=self.emulated,
        )

    async def connection_credential(self, connection: Connection) -> Any:
        """A fresh async credential for the connection's app in its tenant (no cached token: verification and
        consent must see the roles granted now). Closed with this Container."""
        client_id, material = await self._credential_material(connection)
        credential = self._make_connection_credential(connection, client_id, material)
        self._closers.append(credential.close)
        return credential

    async def operator_sign_in(self, connection: Connection) -> Any:
        """The operator app as a confidential client of the connection's tenant, for the administrator's sign-in
        during consent (its credential read from Key Vault now, like every credential)."""
        from shared.adapters.entra_signin import OperatorSignIn

        client_id, material = await self._credential_material(connection)
        login_url = self.cloud(connection.cloud).login_url
        return OperatorSignIn(
            client_id, material, login_url, connection.tenant_id, self.http(), self.settings.ca_bundle
        )

    async def console_sign_in(self) -> Any:
        """The operator app (global cloud) as a confidential client of the console's tenant (CONSOLE_TENANT_ID), for
        the operator admins' sign-in to the console; its credential read from Key Vault now."""
        from shared.adapters.entra_signin import OperatorSignIn
        from shared.errors import ConfigurationError

        operator = self.settings.operator_app("global")  # ConfigurationError naming OPERATOR_CLIENT_ID
        tenant_id = self.settings.console_tenant_id
        if not tenant_id:
            raise ConfigurationError({"CONSOLE_TENANT_ID": "missing: the tenant whose admins sign in to the console"})
        material = (await self.secrets().get(operator.secret_name)).value.reveal()
        login_url = self.cloud().login_url
        return OperatorSignIn(
            operator.client_id or "", material, login_url, tenant_id, self.http(), self.settings.ca_bundle
        )

    async def graph_for(self, connection: Connection, retry: Any = None) -> Any:
        """Graph for the sync and rotation jobs: the connection's credential is kept by the process pool (keyed by
        tenant, app and a fingerprint of the material), so its token serves later invocations until near expiry.
        `retry`: a RetryPolicy other than the default (tests that inject many faults)."""
        from shared.adapters.entra_auth import CredentialTokens
        from shared.adapters.graph import GraphClient
        from shared.domain.ad_source import require_entra

        require_entra(connection, "graph")  # an AD connection has no tenant and no credential in the cloud
        cloud = self.cloud(connection.cloud)
        client_id, material = await self._credential_material(connection)
        key = ("graph-credential", connection.tenant_id, client_id, cloud.login_url, fingerprint(material))
        credential = self.pool.get(
            key, lambda: self._make_connection_credential(connection, client_id, material), _closer
        )
        tokens = CredentialTokens(credential, cloud.graph_scope)
        return GraphClient(self.http(), tokens, cloud.graph_v1, retry=retry)
