"""The whole local stack wired together: Azurite, the Entra/Graph emulator and a Key Vault emulator that trusts it,
one CA bundle for both, and the app settings a function invocation would see. Used by tests and the demo."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulators.azurite import Azurite, start_azurite
from emulators.common.tls import SYSTEM_BUNDLE_CANDIDATES, make_loopback_tls
from emulators.entra.server import EntraEmulator
from emulators.keyvault.server import KeyVaultEmulator

CONSENT_REDIRECT = "http://localhost:7071/api/consent/callback"
SIGNIN_REDIRECT = "http://localhost:7071/api/signin/callback"
SIGNIN_RETURN_URL = "http://localhost:3000/signed-in"  # the product's page end-user sign-in returns to (tests, demo)


@dataclass
class LocalStack:
    azurite: Azurite
    entra: EntraEmulator
    keyvault: KeyVaultEmulator
    ca_bundle: str  # system roots + both emulators' CAs

    @property
    def tenant(self) -> dict[str, Any]:
        return self.entra.tenants[0]

    def app(self, kind: str, tenant: dict[str, Any] | None = None) -> dict[str, Any]:
        """A seeded app: 'multi_tenant' (the operator's), 'customer' or 'connector_identity'."""
        return next(a for a in (tenant or self.tenant)["apps"] if a["kind"] == kind)

    def env(self, public_base_url: str = "http://localhost:7071") -> dict[str, str]:
        """Exactly the settings of local.settings.json.example, with this stack's values."""
        identity = self.app("connector_identity")
        operators = self.entra.operator_apps()  # one registration per cloud
        return {
            "FUNCTIONS_WORKER_RUNTIME": "python",
            "AzureWebJobsStorage": self.azurite.connection_string,
            "AZURE_CLIENT_ID": identity["client_id"],
            "AZURE_TENANT_ID": self.tenant["id"],
            "AZURE_CLIENT_SECRET": identity["client_secret"],
            "KEY_VAULT_URL": self.keyvault.vault_url,
            "OPERATOR_CLIENT_ID": self.app("multi_tenant")["client_id"],
            "OPERATOR_CREDENTIAL_SECRET_NAME": "operator-app-credential",
            "OPERATOR_CLIENT_ID_USGOV": operators["usgov"]["client_id"],
            "OPERATOR_CREDENTIAL_SECRET_NAME_USGOV": "operator-app-credential-usgov",
            "OPERATOR_CLIENT_ID_CHINA": operators["china"]["client_id"],
            "OPERATOR_CREDENTIAL_SECRET_NAME_CHINA": "operator-app-credential-china",
            "PUBLIC_BASE_URL": public_base_url,
            "ENTRA_LOGIN_URL_OVERRIDE": self.entra.login_url,
            "GRAPH_URL_OVERRIDE": self.entra.graph_url.removesuffix("/v1.0"),
            "TLS_CA_BUNDLE": self.ca_bundle,
            "SYNC_TIME_BUDGET_SECONDS": "480",
            "SIGNIN_RETURN_URLS": SIGNIN_RETURN_URL,
            "SIGNIN_SCOPES": "openid profile email User.ReadBasic.All",
            "CONSOLE_TENANT_ID": self.tenant["id"],  # the console's operator tenant: the demo tenant
            "CHANGE_NOTIFICATIONS": "auto",  # off here: PUBLIC_BASE_URL is http (tests of notifications turn it on)
            "NOTIFICATION_BASE_URL": "",
            "AGENT_LEASE_SECONDS": "60",  # on-prem AD agents' job lease (tests of failover shorten it)
        }


@dataclass(frozen=True)
class StackPorts:
    """Fixed loopback ports (`make local`, so that Core Tools and a browser find the same stack every time)."""

    storage: Azurite
    entra: int
    keyvault: int


@contextlib.contextmanager
def start_local_stack(
    *,
    seed: str = "demo",
    size: int = 60,
    tenants: int = 2,
    azurite: Azurite | None = None,
    redirect_uris: list[str] | None = None,
    clouds: list[str] | None = None,
    ports: StackPorts | None = None,
) -> Iterator[LocalStack]:
    """Start what is not given, on free ports unless `ports` says; stop everything it started, also on failure.
    `clouds`: each tenant's cloud by index (tenant 0, whose connector identity reaches Key Vault, should stay
    global)."""
    with contextlib.ExitStack() as stack:
        workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="local-stack-"))
        storage = azurite or stack.enter_context(start_azurite(log_dir=workdir, ports=ports.storage if ports else None))
        entra = EntraEmulator(
            seed=seed,
            size=size,
            tenants=tenants,
            redirect_uris=redirect_uris or [CONSENT_REDIRECT, SIGNIN_REDIRECT],
            port=ports.entra if ports else 0,
            clouds=clouds,
        )
        entra.start()
        stack.callback(entra.stop)
        tenant = entra.tenants[0]
        identity = next(a for a in tenant["apps"] if a["kind"] == "connector_identity")
        kv_tls = make_loopback_tls(os.path.join(workdir, "kv-tls"))
        vault = KeyVaultEmulator(
            tenant=tenant["id"],
            signer=entra.signer,
            authorized=[identity["client_id"]],
            login_url=entra.login_url,
            tls=kv_tls,
            port=ports.keyvault if ports else 0,
        )
        vault.start()
        stack.callback(vault.stop)
        bundle = Path(workdir) / "ca-bundle.pem"
        system = next((p for p in SYSTEM_BUNDLE_CANDIDATES if os.path.exists(p)), None)
        parts = [Path(system).read_bytes()] if system else []
        parts += [Path(entra.ca_path).read_bytes(), Path(kv_tls.ca_path).read_bytes()]
        bundle.write_bytes(b"\n".join(parts))
        yield LocalStack(azurite=storage, entra=entra, keyvault=vault, ca_bundle=str(bundle))
