"""Reading an app-only access token's claims (tenant, app, roles) in v1.0 or v2.0 format; the token is never kept.

Microsoft Graph and Key Vault accept v1.0 tokens, so that is what Entra issues for them even from the v2.0 token
endpoint (Learn: "Access tokens in the Microsoft identity platform", "Access token claims reference"):
v1.0 carries `iss` https://sts.windows.net/{tid}/, `appid`, `appidacr`; v2.0 carries `iss` .../{tid}/v2.0, `azp`,
`azpacr`. Both carry `tid`, `oid`, `roles` and `ver`. Nothing here may depend on one format only."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# v1.0: https://sts.windows.net/{tid}/ (or the cloud's own STS host); v2.0: https://{login host}/{tid}/v2.0
ISSUER = re.compile(rf"^https://[^/]+/(?P<tid>{_GUID})/(?:v2\.0)?$")


def claims_of(token: str) -> dict[str, Any]:
    """The JWT payload, unverified: only for tokens this app just received from the token endpoint over TLS."""
    try:
        payload = token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, binascii.Error, ValueError, UnicodeError):
        return {}
    return data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class AppToken:
    """What an app-only token says, whichever format it has."""

    tenant_id: str  # lower case; "" when the token names no tenant or its `iss` names another one than `tid`
    app_id: str  # `appid` (v1.0) or `azp` (v2.0); "" when neither is there
    roles: frozenset[str]
    version: str  # "1.0", "2.0" or "" (unknown)


def _tenant(claims: dict[str, Any]) -> str:
    tid = str(claims.get("tid") or "").lower()
    issuer = claims.get("iss")
    if issuer is None:
        return tid
    match = ISSUER.match(str(issuer))
    if match is None or match.group("tid").lower() != tid:
        return ""  # an issuer that is not a tenant's, or another tenant's: nothing is proven
    return tid


def read_app_token(token: str) -> AppToken:
    claims = claims_of(token)
    roles = claims.get("roles") or []
    return AppToken(
        tenant_id=_tenant(claims),
        app_id=str(claims.get("appid") or claims.get("azp") or ""),
        roles=frozenset(str(r) for r in roles) if isinstance(roles, list) else frozenset(),
        version=str(claims.get("ver") or ""),
    )


def roles_of(token: str) -> set[str]:
    return set(read_app_token(token).roles)


def tenant_of(token: str) -> str:
    return read_app_token(token).tenant_id
