"""Claims of app-only tokens in both formats Entra issues: v1.0 (what Graph and Key Vault get) and v2.0."""

from __future__ import annotations

import base64
import json
from typing import Any

from shared.domain.token_claims import read_app_token, roles_of, tenant_of

TID = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
OTHER = "11111111-2222-4333-8444-555555555555"
APP = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"


def _token(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2ln"


V1 = {
    "aud": "https://graph.microsoft.com",
    "iss": f"https://sts.windows.net/{TID}/",
    "tid": TID,
    "appid": APP,
    "appidacr": "1",
    "idtyp": "app",
    "roles": ["User.Read.All", "GroupMember.Read.All"],
    "ver": "1.0",
}
V2 = {
    "aud": "00000003-0000-0000-c000-000000000000",
    "iss": f"https://login.microsoftonline.com/{TID}/v2.0",
    "tid": TID,
    "azp": APP,
    "azpacr": "1",
    "roles": ["User.Read.All"],
    "ver": "2.0",
}


def test_v1_token_gives_tenant_app_and_roles() -> None:
    token = read_app_token(_token(V1))
    assert (token.tenant_id, token.app_id, token.version) == (TID, APP, "1.0")
    assert token.roles == {"User.Read.All", "GroupMember.Read.All"}
    assert tenant_of(_token({**V1, "tid": TID.upper(), "iss": f"https://sts.windows.net/{TID.upper()}/"})) == TID


def test_v2_token_gives_the_same() -> None:
    token = read_app_token(_token(V2))
    assert (token.tenant_id, token.app_id, token.version) == (TID, APP, "2.0")
    assert roles_of(_token(V2)) == {"User.Read.All"}


def test_sovereign_cloud_issuers_are_read() -> None:
    assert tenant_of(_token({**V1, "iss": f"https://sts.chinacloudapi.cn/{TID}/"})) == TID
    assert tenant_of(_token({**V2, "iss": f"https://login.microsoftonline.us/{TID}/v2.0"})) == TID


def test_issuer_naming_another_tenant_proves_nothing() -> None:
    assert tenant_of(_token({**V1, "iss": f"https://sts.windows.net/{OTHER}/"})) == ""
    assert tenant_of(_token({**V2, "iss": "https://login.microsoftonline.com/common/v2.0"})) == ""
    assert tenant_of(_token({**V1, "tid": ""})) == ""


def test_no_roles_and_garbage() -> None:
    assert roles_of(_token({k: v for k, v in V1.items() if k != "roles"})) == set()
    assert roles_of(_token({**V1, "roles": "User.Read.All"})) == set()  # not a list: nothing granted
    assert read_app_token("not-a-jwt").tenant_id == ""
    assert read_app_token("a.%%%.c").roles == frozenset()
