"""Tenant discovery: a tenant id or verified domain resolved to the tenant GUID through its OpenID configuration."""

from __future__ import annotations

import re
from typing import Any

import httpx

from shared.domain.aadsts import explain
from shared.errors import TransientError, ValidationError

ISSUER_GUID = re.compile(r"/([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})/")


async def resolve_tenant(http: Any, login_url: str, key: str) -> str:
    """GET {login}/{key}/v2.0/.well-known/openid-configuration; the issuer holds the tenant GUID.
    Unknown tenant: ValidationError naming AADSTS90002. Login host unreachable: TransientError."""
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
        issuer = str(response.json().get("issuer", ""))
    except ValueError:
        issuer = ""
    match = ISSUER_GUID.search(issuer + "/")
    if not match:
        raise TransientError("The tenant's OpenID configuration has no tenant id in its issuer")
    return match.group(1).lower()
