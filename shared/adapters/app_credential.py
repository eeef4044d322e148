"""The app's own credential (Key Vault, storage), chosen from settings: a client secret when one is set (a local
stand-in for the managed identity, e.g. the emulated tenant's connector identity); otherwise azure-identity's
chain (DefaultAzureCredential; its async form has no interactive browser step). In Azure the chain finds the
user-assigned managed identity named by AZURE_CLIENT_ID; on an admin's machine, outside Azure and without a
secret, it signs in as the admin: environment, Azure CLI (`az login`), Azure Developer CLI, VS Code, PowerShell."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from shared.config import IdentitySettings


@dataclass(frozen=True)
class CredentialChoice:
    """Which credential the settings call for, and with what; decided without touching the network."""

    kind: Literal["client_secret", "chain"]
    tenant_id: str | None
    client_id: str | None
    authority: str
    ca_path: str | None = None
    emulated: bool = False


def choose_app_credential(
    identity: IdentitySettings, *, login_url: str, ca_path: str | None = None, emulated: bool = False
) -> CredentialChoice:
    if identity.client_secret:
        return CredentialChoice("client_secret", identity.tenant_id, identity.client_id, login_url, ca_path, emulated)
    return CredentialChoice("chain", identity.tenant_id, identity.client_id, login_url, ca_path, emulated)


def build_app_credential(choice: CredentialChoice, identity: IdentitySettings) -> Any:
    """The async azure-identity credential for a choice (the secret is read from the settings here, at use)."""
    if choice.kind == "client_secret":
        from shared.adapters.entra_auth import make_credential

        return make_credential(
            tenant_id=choice.tenant_id or "",
            client_id=choice.client_id or "",
            secret=identity.client_secret,
            login_url=choice.authority,
            ca_path=choice.ca_path,
            emulated=choice.emulated,
        )
    from azure.identity.aio import DefaultAzureCredential

    options: dict[str, Any] = {
        "authority": choice.authority,
        # passed explicitly, so the chain never falls back to reading the process environment for them
        "managed_identity_client_id": choice.client_id,
        "workload_identity_client_id": choice.client_id,
        "workload_identity_tenant_id": choice.tenant_id,
        "shared_cache_tenant_id": choice.tenant_id,
    }
    return DefaultAzureCredential(**options)
