"""The Key Vault emulator plus a token endpoint it trusts, sharing one test CA: what integration tests need."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emulators.common.tls import LoopbackTLS, make_loopback_tls
from emulators.keyvault.control import Control
from emulators.keyvault.rules import CREATE_LIMIT, CREATE_WINDOW_S, DELETE_DELAY_S
from emulators.keyvault.server import KeyVaultEmulator
from tests.support.token_stub import TokenStub

if TYPE_CHECKING:
    import azure.identity
    import azure.identity.aio
    from azure.keyvault.secrets import SecretClient as SyncSecretClient
    from azure.keyvault.secrets.aio import SecretClient

TENANT = "7f1b0c2e-5d4a-4c1e-9a57-0b9e8c1d2e3f"


@dataclass(frozen=True)
class KeyVaultStack:
    """A running vault, the identity endpoint that issues its tokens, and one app registration allowed to use it."""

    emulator: KeyVaultEmulator
    identity: TokenStub
    tls: LoopbackTLS
    tenant: str
    client_id: str
    client_secret: str
    object_id: str

    @property
    def vault_url(self) -> str:
        return self.emulator.vault_url

    @property
    def ca_path(self) -> str:
        return self.tls.ca_path

    @property
    def control(self) -> Control:
        return self.emulator.control

    def reset(self) -> None:
        """Back to an empty vault with default settings (between tests)."""
        control = self.control
        control.reset()
        control.authorize([self.client_id])
        control.set_page_size(25)
        control.set_create_limit(CREATE_LIMIT, CREATE_WINDOW_S)
        control.set_delete_delay(DELETE_DELAY_S)
        control.set_purge_protection(False)

    async def sleep_on_vault_clock(self, seconds: float) -> None:
        """A `sleep=` for adapters under test: the vault's clock moves instead of the test waiting (deletes
        complete, rate windows pass), exactly as if that much time had passed."""
        self.control.advance_clock(seconds)

    def credential(
        self, client_id: str | None = None, secret: str | None = None
    ) -> azure.identity.aio.ClientSecretCredential:
        from azure.identity.aio import ClientSecretCredential

        return ClientSecretCredential(
            self.tenant,
            client_id or self.client_id,
            secret or self.client_secret,
            authority=self.identity.authority,
            disable_instance_discovery=True,
            connection_verify=self.ca_path,
        )

    def sync_credential(self) -> azure.identity.ClientSecretCredential:
        from azure.identity import ClientSecretCredential

        return ClientSecretCredential(
            self.tenant,
            self.client_id,
            self.client_secret,
            authority=self.identity.authority,
            disable_instance_discovery=True,
            connection_verify=self.ca_path,
        )

    def secret_client(self, credential: Any = None, **kwargs: Any) -> SecretClient:
        from azure.keyvault.secrets.aio import SecretClient

        return SecretClient(
            self.vault_url,
            credential or self.credential(),
            verify_challenge_resource=False,
            connection_verify=self.ca_path,
            **kwargs,
        )

    def sync_secret_client(self, **kwargs: Any) -> SyncSecretClient:
        from azure.keyvault.secrets import SecretClient as SyncSecretClient

        return SyncSecretClient(
            self.vault_url,
            self.sync_credential(),
            verify_challenge_resource=False,
            connection_verify=self.ca_path,
            **kwargs,
        )


@contextlib.contextmanager
def start_keyvault_stack(tenant: str = TENANT) -> Iterator[KeyVaultStack]:
    """Start the token endpoint and the vault (RBAC on: only the registered app is allowed); stop both on exit."""
    folder = tempfile.mkdtemp(prefix="kv-stack-")
    try:
        tls = make_loopback_tls(folder)
        with TokenStub(tls=tls, tenant=tenant) as identity:
            client_id, client_secret, object_id = identity.register_client()
            emulator = KeyVaultEmulator(
                tenant=tenant, signer=identity.signer, tls=tls, login_url=identity.authority, authorized=[client_id]
            )
            with emulator:
                yield KeyVaultStack(emulator, identity, tls, tenant, client_id, client_secret, object_id)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
