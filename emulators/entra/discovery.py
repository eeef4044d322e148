"""The v1.0 OpenID discovery document and the v1.0 issuer: what `/{tenant}/.well-known/openid-configuration` serves.

Learn: "OpenID Connect on the Microsoft identity platform" (the v1 and v2 metadata documents, each with its own issuer)
and "Access tokens in the Microsoft identity platform" (v1.0 tokens carry `iss` https://sts.windows.net/{tid}/).
The v2.0 document (`/{tenant}/v2.0/.well-known/openid-configuration`, issuer on the login host) is in login.py.
"""

from __future__ import annotations

from typing import Any

from emulators.entra.clouds import CLOUDS, discovery_fields

V1_ISSUER_HOST = "https://sts.windows.net"


def v1_issuer(tenant: str, cloud: str = "global") -> str:
    """The issuer of v1.0 tokens (and of the v1 metadata document) of a tenant; keeps the trailing slash. China's
    STS has its own host (sts.chinacloudapi.cn); global and US Government tokens name sts.windows.net."""
    return f"https://{CLOUDS[cloud].sts_host}/{tenant}/"


def v1_document(base: str, segment: str, issuer_tenant: str, cloud: str = "global") -> dict[str, Any]:
    """The v1 metadata: v1 endpoints (`/oauth2/token`, `/oauth2/authorize`, `/discovery/keys`), v1 issuer."""
    return {
        "token_endpoint": f"{base}/{segment}/oauth2/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": f"{base}/{segment}/discovery/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{base}/{segment}/oauth2/logout",
        "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
        "scopes_supported": ["openid"],
        "issuer": v1_issuer(issuer_tenant, cloud),
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid", "roles", "appid", "appidacr", "oid", "ver"],
        "microsoft_multi_refresh_token": True,
        "check_session_iframe": f"{base}/{segment}/oauth2/checksession",
        "userinfo_endpoint": f"{base}/{segment}/openid/userinfo",
        "authorization_endpoint": f"{base}/{segment}/oauth2/authorize",
        "device_authorization_endpoint": f"{base}/{segment}/oauth2/devicecode",
        "kerberos_endpoint": f"{base}/{segment}/kerberos",
        **discovery_fields(cloud),
        "cloud_graph_host_name": "graph.windows.net",
        "rbac_url": "https://pas.windows.net",
    }
