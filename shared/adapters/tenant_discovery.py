"""Tenant discovery: a tenant id or verified domain resolved to the tenant GUID and its cloud through its OpenID
configuration (whose `msgraph_host` / `cloud_instance_name` name the tenant's cloud, whichever login host answers)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

from shared.domain.aadsts import explain
from shared.domain.clouds import discovered_cloud
from shared.errors import TransientError, ValidationError

ISSUER_GUID = re.compile(r"/([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})/")


@dataclass(frozen=True)
class DiscoveredTenant:
    tenant_id: str  # the GUID, lower case
    cloud: str | None  # the cloud its document names (shared.domain.clouds), None when it names none


async def resolve_tenant(http: Any, login_url: str, key: str) -> DiscoveredTenant:
    """GET {login}/{key}/v2.0/.well-known/openid-configuration; the issuer holds the tenant GUID, the cloud fields
    its cloud. Unknown tenant: ValidationError naming AADSTS90002. Login host unreachable: TransientError."""
    url = f"{login_url.rstrip('/')}/{key}/v2.0/.well-known/openid-configuration"
    try:
        response = await http.get(url)
    except httpx.HTTPError as exc:
        raise TransientError(f"The sign-in service could not be reached: {type(exc).__name__}") from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise TransientError(f"The sign-in service answered {response.status_code}; try again later")
    if response.status_code != 200:
        cause, fix = explain(90002)
        raise ValidationError({"tenant": f"AADSTS90002: {cause} {fix}"})
    try:
        document = response.json()
    except ValueError:
        document = None
    if not isinstance(document, dict):
        document = {}
    match = ISSUER_GUID.search(str(document.get("issuer", "")) + "/")
    if not match:
        raise TransientError("The tenant's OpenID configuration has no tenant id in its issuer")
    return DiscoveredTenant(match.group(1).lower(), discovered_cloud(document))
