"""OpenID Connect sign-in at the emulator: /authorize (account choice, error pages, redirects) and the
authorization_code grant (one-time codes bound to client, redirect URI, PKCE and nonce; ID token claims)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import jwt
import pytest

from emulators.entra.server import EntraEmulator
from tests.support.entra import app_of, jwt_claims
from tests.support.entra import pkce as make_pkce

REDIRECT = "http://localhost:7071/api/consent/callback"
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
MEMBER = "b79fbf4d-3ef9-4689-8143-76b194e85509"


@pytest.fixture
def operator(tenant: dict[str, Any]) -> dict[str, Any]:
    return app_of(tenant, "multi_tenant")


@pytest.fixture
def pkce() -> Iterator[tuple[str, str]]:
    yield make_pkce()


def _authorize_url(tenant_key: str, client_id: str, challenge: str, **extra: str) -> str:
    query = httpx.QueryParams(
        {
            "client_id": client_id,
            "response_type": "code",
            "redirect_uri": REDIRECT,
            "response_mode": "query",
            "scope": "openid profile",
            "state": "st-1",
            "nonce": "no-1",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "prompt": "select_account",
            **extra,
        }
    )
    return f"/{tenant_key}/oauth2/v2.0/authorize?{query}"


def _back(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    return dict(parse_qsl(urlsplit(location).query))


async def _redeem(
    http: httpx.AsyncClient, tenant_key: str, app: dict[str, Any], code: str, verifier: str | None, **extra: str
) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "code": code,
        "redirect_uri": REDIRECT,
        "scope": "openid profile",
        **({"code_verifier": verifier} if verifier is not None else {}),
        **extra,
    }
    return await http.post(f"/{tenant_key}/oauth2/v2.0/token", data=form)


async def test_the_seeded_admin_signs_in_and_the_id_token_says_who_and_where(
    entra: EntraEmulator,
    tenant: dict[str, Any],
    operator: dict[str, Any],
    http: httpx.AsyncClient,
    pkce: tuple[str, str],
) -> None:
    verifier, challenge = pkce
    back = _back(await http.get(_authorize_url(tenant["domains"][0], operator["client_id"], challenge)))
    assert back["state"] == "st-1" and back["code"] and "session_state" in back
    answer = await _redeem(http, tenant["id"], operator, back["code"], verifier)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "Bearer" and "openid" in body["scope"] and "refresh_token" not in body
    keys = (await http.get(f"/{tenant['id']}/discovery/v2.0/keys")).json()
    header = jwt.get_unverified_header(body["id_token"])
    key = next(k for k in keys["keys"] if k["kid"] == header["kid"])
    claims = jwt.decode(body["id_token"], jwt.PyJWK(key).key, algorithms=["RS256"], audience=operator["client_id"])
    issuer = (await http.get(f"/{tenant['id']}/v2.0/.well-known/openid-configuration")).json()["issuer"]
    assert claims["iss"] == issuer and claims["tid"] == tenant["id"] and claims["nonce"] == "no-1"
    assert claims["oid"] == tenant["admin"]["id"]
    assert claims["preferred_username"] == tenant["admin"]["user_principal_name"]
    assert claims["ver"] == "2.0" and claims["sub"] and claims["exp"] > claims["iat"]
    assert set(claims["wids"]) == {GLOBAL_ADMIN, MEMBER}
    assert jwt_claims(body["access_token"])["idtyp"] == "user"  # a delegated token: no app roles
    assert "roles" not in jwt_claims(body["access_token"])


async def test_a_code_is_used_once_and_expires(
    entra: EntraEmulator,
    tenant: dict[str, Any],
    operator: dict[str, Any],
    http: httpx.AsyncClient,
    pkce: tuple[str, str],
) -> None:
    verifier, challenge = pkce
    code = _back(await http.get(_authorize_url(tenant["id"], operator["client_id"], challenge)))["code"]
    assert (await _redeem(http, tenant["id"], operator, code, verifier)).status_code == 200
    again = await _redeem(http, tenant["id"], operator, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert again.json()["error_codes"] == [54005]
    late = _back(await http.get(_authorize_url(tenant["id"], operator["client_id"], challenge)))["code"]
    entra.control.advance_clock(601)
    expired = await _redeem(http, tenant["id"], operator, late, verifier)
    assert expired.json()["error_codes"] == [70008]
    unknown = await _redeem(http, tenant["id"], operator, "1.Anot-a-code", verifier)
    assert unknown.json()["error"] == "invalid_grant" and unknown.json()["error_codes"] == [9002313]


async def test_a_code_is_bound_to_pkce_redirect_uri_client_and_tenant(
    entra: EntraEmulator,
    tenant: dict[str, Any],
    operator: dict[str, Any],
    http: httpx.AsyncClient,
    pkce: tuple[str, str],
) -> None:
    verifier, challenge = pkce
    other = entra.tenants[1]

    async def fresh() -> str:
        return _back(await http.get(_authorize_url(tenant["id"], operator["client_id"], challenge)))["code"]

    code = await fresh()
    assert (await _redeem(http, tenant["id"], operator, code, verifier + "x")).json()["error_codes"] == [50148]
    assert (await _redeem(http, tenant["id"], operator, code, None)).json()["error_codes"] == [501481]
    wrong_uri = await _redeem(http, tenant["id"], operator, code, verifier, redirect_uri=REDIRECT + "/x")
    assert wrong_uri.json()["error"] == "invalid_grant" and wrong_uri.json()["error_codes"] == [50011]
    elsewhere = await _redeem(http, other["id"], operator, code, verifier)
    assert elsewhere.json()["error_codes"] == [700005]
    customer = app_of(tenant, "customer")
    entra.control.set_redirect_uris(customer["client_id"], [REDIRECT])
    stolen = await _redeem(http, tenant["id"], customer, code, verifier)
    assert stolen.json()["error"] == "invalid_grant"
    bad_secret = await _redeem(http, tenant["id"], {**operator, "client_secret": "nope"}, code, verifier)
    assert bad_secret.status_code == 401 and bad_secret.json()["error_codes"] == [7000215]
    assert (await _redeem(http, tenant["id"], operator, code, verifier)).status_code == 200  # still unused


async def test_who_signs_in_login_hint_control_and_refusals(
    entra: EntraEmulator,
    tenant: dict[str, Any],
    operator: dict[str, Any],
    http: httpx.AsyncClient,
    pkce: tuple[str, str],
) -> None:
    verifier, challenge = pkce
    user = entra.control.create_user(tenant["id"], "Ivo", "Ordinary")
    by_hint = _back(
        await http.get(
            _authorize_url(tenant["id"], operator["client_id"], challenge, login_hint=user["userPrincipalName"])
        )
    )
    claims = jwt_claims((await _redeem(http, tenant["id"], operator, by_hint["code"], verifier)).json()["id_token"])
    assert claims["oid"] == user["id"] and claims["wids"] == [MEMBER]  # a member: no admin role
    entra.control.assign_user_role(tenant["id"], user["id"], "Privileged Role Administrator")
    entra.control.sign_in_browser(tenant["id"], user["userPrincipalName"])
    chosen = _back(await http.get(_authorize_url(tenant["id"], operator["client_id"], challenge)))
    claims = jwt_claims((await _redeem(http, tenant["id"], operator, chosen["code"], verifier)).json()["id_token"])
    assert claims["oid"] == user["id"] and "e8611ab8-c189-46e8-94e1-60213ab1f814" in claims["wids"]
    foreign = await http.get(_authorize_url(entra.tenants[1]["id"], operator["client_id"], challenge))
    assert foreign.status_code == 400 and "AADSTS50020" in foreign.text and "Location" not in foreign.headers
    anywhere = _back(await http.get(_authorize_url("organizations", operator["client_id"], challenge)))
    claims = jwt_claims((await _redeem(http, "organizations", operator, anywhere["code"], verifier)).json()["id_token"])
    assert claims["tid"] == tenant["id"]  # an organizations sign-in: the user's own tenant
    entra.control.update_user(tenant["id"], user["id"], accountEnabled=False)
    disabled = await http.get(_authorize_url(tenant["id"], operator["client_id"], challenge))
    assert disabled.status_code == 400 and "AADSTS50057" in disabled.text
    missing = await http.get(_authorize_url(tenant["id"], operator["client_id"], challenge, login_hint="no@x.test"))
    assert missing.status_code == 400 and "AADSTS50034" in missing.text


async def test_wids_only_with_group_membership_claims(
    entra: EntraEmulator,
    tenant: dict[str, Any],
    operator: dict[str, Any],
    http: httpx.AsyncClient,
    pkce: tuple[str, str],
) -> None:
    verifier, challenge = pkce
    entra.control.set_group_membership_claims(operator["client_id"], "SecurityGroup")
    try:
        code = _back(await http.get(_authorize_url(tenant["id"], operator["client_id"], challenge)))["code"]
        claims = jwt_claims((await _redeem(http, tenant["id"], operator, code, verifier)).json()["id_token"])
        assert "wids" not in claims
    finally:
        entra.control.set_group_membership_claims(operator["client_id"], "DirectoryRole")


async def test_error_pages_and_error_redirects(
    entra: EntraEmulator,
    tenant: dict[str, Any],
    operator: dict[str, Any],
    http: httpx.AsyncClient,
    pkce: tuple[str, str],
) -> None:
    _, challenge = pkce
    mismatch = await http.get(
        _authorize_url(tenant["id"], operator["client_id"], challenge, redirect_uri=REDIRECT + "/")
    )
    assert mismatch.status_code == 400 and "AADSTS50011" in mismatch.text and "Location" not in mismatch.headers
    unknown = await http.get(_authorize_url(tenant["id"], "00000000-0000-0000-0000-000000000000", challenge))
    assert unknown.status_code == 400 and "AADSTS700016" in unknown.text
    nowhere = await http.get(_authorize_url("nosuch.example.com", operator["client_id"], challenge))
    assert nowhere.status_code == 400 and "AADSTS90002" in nowhere.text
    token_type = _back(
        await http.get(_authorize_url(tenant["id"], operator["client_id"], challenge, response_type="token"))
    )
    assert token_type["error"] == "unsupported_response_type" and token_type["state"] == "st-1"
    bad_method = _back(
        await http.get(_authorize_url(tenant["id"], operator["client_id"], challenge, code_challenge_method="S512"))
    )
    assert bad_method["error"] == "invalid_request" and "code" not in bad_method
    counters = entra.control.counters()
    assert counters.get("authorize", 0) >= 5


async def test_the_code_flow_secrets_are_listed_for_leak_checks(
    entra: EntraEmulator,
    tenant: dict[str, Any],
    operator: dict[str, Any],
    http: httpx.AsyncClient,
    pkce: tuple[str, str],
) -> None:
    verifier, challenge = pkce
    code = _back(await http.get(_authorize_url(tenant["id"], operator["client_id"], challenge)))["code"]
    body = (await _redeem(http, tenant["id"], operator, code, verifier)).json()
    issued = set(entra.control.issued_secrets())
    assert {code, verifier, body["id_token"], body["access_token"]} <= issued


def test_msal_redeems_a_code_with_the_operator_certificate(
    entra: EntraEmulator, tenant: dict[str, Any], operator: dict[str, Any], pkce: tuple[str, str]
) -> None:
    """The real MSAL ConfidentialClientApplication (certificate credential) against the token endpoint."""
    import msal
    import requests

    verifier, challenge = pkce
    with httpx.Client(verify=entra.ca_path, base_url=entra.login_url) as http:
        back = _back(http.get(_authorize_url(tenant["id"], operator["client_id"], challenge)))
    with open(operator["certificate_path"]) as handle:
        pem = handle.read()
    session = requests.Session()
    session.verify, session.trust_env = entra.ca_path, False  # REQUESTS_CA_BUNDLE would win over `verify`
    app = msal.ConfidentialClientApplication(
        operator["client_id"],
        client_credential={"private_key": pem, "public_certificate": pem},
        authority=f"{entra.login_url}/{tenant['id']}",
        instance_discovery=False,
        http_client=session,
        exclude_scopes=["offline_access"],
    )
    result = app.acquire_token_by_authorization_code(
        back["code"], scopes=[], redirect_uri=REDIRECT, data={"code_verifier": verifier}
    )
    assert "error" not in result, result.get("error_description")
    assert jwt_claims(result["id_token"])["tid"] == tenant["id"]
