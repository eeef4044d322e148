"""The Entra emulator for tests and the demo, plus real-SDK clients (azure-identity, msgraph-sdk) pointed at it."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import secrets
import ssl
from collections.abc import Iterator
from typing import Any

from emulators.entra.server import EntraEmulator

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
VAULT_SCOPE = "https://vault.azure.net/.default"


@contextlib.contextmanager
def start_entra(seed: str = "demo", size: int = 60, tenants: int = 2, **kwargs: Any) -> Iterator[EntraEmulator]:
    """A running emulator (its own thread and loop); always stopped on exit."""
    emulator = EntraEmulator(seed=seed, size=size, tenants=tenants, **kwargs)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


def pkce() -> tuple[str, str]:
    """A fresh PKCE verifier and its S256 challenge (RFC 7636 4.2), as a client makes them."""
    verifier = secrets.token_urlsafe(48)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


def app_of(tenant: dict[str, Any], kind: str = "customer") -> dict[str, Any]:
    """One of a seeded tenant's apps: "customer", "multi_tenant" or "connector_identity"."""
    return next(a for a in tenant["apps"] if a["kind"] == kind)


def jwt_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


async def token_for(http: Any, tenant_id: str, client_id: str, secret: str, scope: str = GRAPH_SCOPE) -> str:
    """A token straight from the token endpoint (`http`: an httpx.AsyncClient based at the login URL)."""
    response = await http.post(
        f"/{tenant_id}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "scope": scope,
        },
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def _common(entra: EntraEmulator) -> dict[str, Any]:
    return {"authority": entra.login_url, "disable_instance_discovery": True, "connection_verify": entra.ca_path}


def secret_credential(
    entra: EntraEmulator, tenant: str, client_id: str, secret: str, *, aio: bool = True, **kwargs: Any
) -> Any:
    if aio:
        from azure.identity.aio import ClientSecretCredential as AsyncSecret

        return AsyncSecret(tenant, client_id, secret, **_common(entra), **kwargs)
    from azure.identity import ClientSecretCredential

    return ClientSecretCredential(tenant, client_id, secret, **_common(entra), **kwargs)


def certificate_credential(
    entra: EntraEmulator, tenant: str, client_id: str, certificate_path: str, *, aio: bool = True, **kwargs: Any
) -> Any:
    if aio:
        from azure.identity.aio import CertificateCredential as AsyncCertificate

        return AsyncCertificate(tenant, client_id, certificate_path=certificate_path, **_common(entra), **kwargs)
    from azure.identity import CertificateCredential

    return CertificateCredential(tenant, client_id, certificate_path=certificate_path, **_common(entra), **kwargs)


def graph_client(entra: EntraEmulator, credential: Any) -> Any:
    """A GraphServiceClient on the emulator (async credential), trusting the emulator's CA only."""
    import httpx
    from kiota_authentication_azure.azure_identity_authentication_provider import (
        AzureIdentityAuthenticationProvider,
    )
    from msgraph import GraphServiceClient
    from msgraph.graph_request_adapter import GraphRequestAdapter
    from msgraph_core import GraphClientFactory

    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(verify=ssl.create_default_context(cafile=entra.ca_path))
    )
    auth = AzureIdentityAuthenticationProvider(credential, scopes=[GRAPH_SCOPE], allowed_hosts=["127.0.0.1"])
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = entra.graph_url
    return GraphServiceClient(request_adapter=adapter)
