"""Login endpoints with the real azure-identity credentials, and every AADSTS error the connector must handle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError

from emulators.entra.server import EntraEmulator
from tests.support.entra import (
    GRAPH_SCOPE,
    VAULT_SCOPE,
    app_of,
    certificate_credential,
    jwt_claims,
    secret_credential,
)

CUSTOMER_ROLES = ["GroupMember.Read.All", "User-PasswordProfile.ReadWrite.All", "User.Read.All"]


def _aadsts(response: httpx.Response, code: int) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert {"timestamp", "trace_id", "correlation_id"} <= set(body)
    return body


def _form(client_id: str, secret: str, scope: str = GRAPH_SCOPE) -> dict[str, str]:
    return {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret, "scope": scope}


# -- discovery --------------------------------------------------------------------------------------
async def test_openid_configuration_by_guid_and_domain(
    entra: EntraEmulator, tenant: dict[str, Any], http: httpx.AsyncClient
) -> None:
    for key in (tenant["id"], tenant["domains"][0], tenant["domains"][1].upper()):
        response = await http.get(f"/{key}/v2.0/.well-known/openid-configuration")
        assert response.status_code == 200
        config = response.json()
        assert config["issuer"] == f"{entra.login_url}/{tenant['id']}/v2.0"
        assert config["token_endpoint"].endswith("/oauth2/v2.0/token")
        assert config["jwks_uri"] == f"{entra.login_url}/{tenant['id']}/discovery/v2.0/keys"
        assert config["cloud_instance_name"] == "microsoftonline.com"
        assert {"authorization_endpoint", "msgraph_host", "tenant_region_scope"} <= set(config)


async def test_v1_and_v2_discovery_documents_have_their_own_issuers(
    entra: EntraEmulator, tenant: dict[str, Any], http: httpx.AsyncClient
) -> None:
    """Learn "OpenID Connect on the Microsoft identity platform": v1 metadata at /{tenant}/.well-known/...,
    issuer https://sts.windows.net/{tid}/; v2 metadata at /{tenant}/v2.0/.well-known/..., issuer .../{tid}/v2.0."""
    for key in (tenant["id"], tenant["domains"][1]):
        v1 = (await http.get(f"/{key}/.well-known/openid-configuration")).json()
        v2 = (await http.get(f"/{key}/v2.0/.well-known/openid-configuration")).json()
        assert v1["issuer"] == f"https://sts.windows.net/{tenant['id']}/"
        assert v2["issuer"] == f"{entra.login_url}/{tenant['id']}/v2.0"
        assert v1["token_endpoint"] == f"{entra.login_url}/{tenant['id']}/oauth2/token"
        assert v2["token_endpoint"] == f"{entra.login_url}/{tenant['id']}/oauth2/v2.0/token"
        assert v1["jwks_uri"] == f"{entra.login_url}/{tenant['id']}/discovery/keys"
        assert (await http.get(v1["jwks_uri"])).json()["keys"][0]["kid"] == entra.signer.kid
    common = (await http.get("/common/.well-known/openid-configuration")).json()
    assert common["issuer"] == "https://sts.windows.net/{tenantid}/"


async def test_graph_and_vault_tokens_are_v1(
    entra: EntraEmulator, tenant: dict[str, Any], customer_app: dict[str, Any]
) -> None:
    """Learn "Access token claims reference": v1.0 app tokens carry iss https://sts.windows.net/{tid}/, ver 1.0,
    appid and appidacr (not the v2.0-only azp/azpacr), idtyp app, oid, tid and, for Graph, roles."""
    args = (entra, tenant["id"], customer_app["client_id"], customer_app["client_secret"])
    async with secret_credential(*args) as credential:
        graph = jwt_claims((await credential.get_token(GRAPH_SCOPE)).token)
        vault = jwt_claims((await credential.get_token(VAULT_SCOPE)).token)
    sp_id = entra.world.tenants[tenant["id"]].service_principals[customer_app["client_id"]].id
    for claims in (graph, vault):
        assert claims["iss"] == f"https://sts.windows.net/{tenant['id']}/"
        assert (claims["ver"], claims["idtyp"], claims["appidacr"]) == ("1.0", "app", "1")
        assert (claims["appid"], claims["tid"], claims["oid"]) == (customer_app["client_id"], tenant["id"], sp_id)
        assert not {"azp", "azpacr"} & set(claims)
    assert graph["roles"] == CUSTOMER_ROLES
    assert "roles" not in vault


async def test_unknown_tenant_is_aadsts90002(http: httpx.AsyncClient) -> None:
    response = await http.get("/nosuch.onmicrosoft.com/v2.0/.well-known/openid-configuration")
    assert response.status_code == 400
    _aadsts(response, 90002)
    token = await http.post("/nosuch.onmicrosoft.com/oauth2/v2.0/token", data=_form("x", "y"))
    assert token.status_code == 400
    _aadsts(token, 90002)


async def test_unknown_tenant_through_credentials(entra: EntraEmulator, customer_app: dict[str, Any]) -> None:
    args = (entra, "nosuch.onmicrosoft.com", customer_app["client_id"], customer_app["client_secret"])
    # MSAL (sync) fails tenant discovery and says so without the body, as against the real service...
    with pytest.raises(ClientAuthenticationError, match="Unable to get authority configuration"):
        secret_credential(*args, aio=False).get_token(GRAPH_SCOPE)
    # ...the async credentials post straight to the token endpoint and surface the AADSTS code.
    async with secret_credential(*args) as credential:
        with pytest.raises(ClientAuthenticationError, match="AADSTS90002"):
            await credential.get_token(GRAPH_SCOPE)


async def test_jwks_verifies_issued_tokens(
    entra: EntraEmulator, tenant: dict[str, Any], customer_app: dict[str, Any], http: httpx.AsyncClient
) -> None:
    from emulators.common.tokens import verifier_from_jwks, verify_with_key

    for path in (f"/{tenant['id']}/discovery/v2.0/keys", "/common/discovery/v2.0/keys"):
        keys = (await http.get(path)).json()
        assert keys["keys"][0]["kid"] == entra.signer.kid
    token = (
        await http.post(
            f"/{tenant['id']}/oauth2/v2.0/token",
            data=_form(customer_app["client_id"], customer_app["client_secret"], VAULT_SCOPE),
        )
    ).json()
    claims = verify_with_key(token["access_token"], verifier_from_jwks(keys), "https://vault.azure.net")
    assert claims["tid"] == tenant["id"]
    assert "roles" not in claims  # Key Vault uses RBAC: app roles are for Graph
    assert token["token_type"] == "Bearer"
    assert 3000 < token["expires_in"] <= 3600


# -- real credentials ------------------------------------------------------------------------------------
def test_sync_secret_and_certificate_credentials(
    entra: EntraEmulator, tenant: dict[str, Any], customer_app: dict[str, Any]
) -> None:
    secret = secret_credential(entra, tenant["id"], customer_app["client_id"], customer_app["client_secret"], aio=False)
    claims = jwt_claims(secret.get_token(GRAPH_SCOPE).token)
    assert claims["roles"] == CUSTOMER_ROLES
    assert (claims["tid"], claims["aud"], claims["appid"]) == (
        tenant["id"],
        "https://graph.microsoft.com",
        customer_app["client_id"],
    )
    assert claims["appidacr"] == "1"
    cert = certificate_credential(
        entra, tenant["domains"][1], customer_app["client_id"], customer_app["certificate_path"], aio=False
    )
    cert_claims = jwt_claims(cert.get_token(GRAPH_SCOPE).token)
    assert cert_claims["roles"] == CUSTOMER_ROLES
    assert cert_claims["appidacr"] == "2"
    assert cert_claims["oid"] == claims["oid"]


async def test_async_secret_and_certificate_credentials(
    entra: EntraEmulator, tenant: dict[str, Any], customer_app: dict[str, Any]
) -> None:
    async with secret_credential(entra, tenant["id"], customer_app["client_id"], customer_app["client_secret"]) as cred:
        assert jwt_claims((await cred.get_token(GRAPH_SCOPE)).token)["roles"] == CUSTOMER_ROLES
    async with certificate_credential(
        entra, tenant["id"], customer_app["client_id"], customer_app["certificate_path"]
    ) as cert:
        claims = jwt_claims((await cert.get_token(GRAPH_SCOPE)).token)
    assert claims["roles"] == CUSTOMER_ROLES
    assert claims["appidacr"] == "2"


async def test_identity_app_token_has_no_roles_claim(entra: EntraEmulator, tenant: dict[str, Any]) -> None:
    identity = app_of(tenant, "connector_identity")
    async with secret_credential(entra, tenant["id"], identity["client_id"], identity["client_secret"]) as cred:
        graph_claims = jwt_claims((await cred.get_token(GRAPH_SCOPE)).token)
        vault_claims = jwt_claims((await cred.get_token(VAULT_SCOPE)).token)
    assert "roles" not in graph_claims
    assert vault_claims["aud"] == "https://vault.azure.net"
    assert vault_claims["tid"] == tenant["id"]


# -- AADSTS errors -----------------------------------------------------------------------------------------
async def test_app_not_in_tenant_is_700016(entra: EntraEmulator, http: httpx.AsyncClient) -> None:
    first, second = entra.tenants[0], entra.tenants[1]
    foreign = app_of(second, "customer")  # a single-tenant app of the other tenant
    response = await http.post(
        f"/{first['id']}/oauth2/v2.0/token", data=_form(foreign["client_id"], foreign["client_secret"])
    )
    assert response.status_code == 400
    assert _aadsts(response, 700016)["error"] == "unauthorized_client"
    operator = app_of(first, "multi_tenant")  # not consented yet in the seed
    response = await http.post(
        f"/{first['id']}/oauth2/v2.0/token", data=_form(operator["client_id"], operator["client_secret"])
    )
    _aadsts(response, 700016)


async def test_wrong_secret_is_7000215_and_expired_secret_7000222(
    tenant: dict[str, Any], customer_app: dict[str, Any], http: httpx.AsyncClient
) -> None:
    url = f"/{tenant['id']}/oauth2/v2.0/token"
    wrong = await http.post(url, data=_form(customer_app["client_id"], "not-the-secret"))
    assert wrong.status_code == 401
    assert _aadsts(wrong, 7000215)["error"] == "invalid_client"
    expired = await http.post(url, data=_form(customer_app["client_id"], customer_app["expired_client_secret"]))
    assert expired.status_code == 401
    _aadsts(expired, 7000222)


async def test_secret_added_with_expiry_expires_on_the_emulator_clock(
    entra: EntraEmulator, tenant: dict[str, Any], customer_app: dict[str, Any], http: httpx.AsyncClient
) -> None:
    added = entra.control.add_secret(customer_app["client_id"], expires_in_s=3600)
    url = f"/{tenant['id']}/oauth2/v2.0/token"
    assert (await http.post(url, data=_form(customer_app["client_id"], added["value"]))).status_code == 200
    entra.control.advance_clock(3601)
    _aadsts(await http.post(url, data=_form(customer_app["client_id"], added["value"])), 7000222)
    assert (
        await http.post(url, data=_form(customer_app["client_id"], customer_app["client_secret"]))
    ).status_code == 200


async def test_revoked_consent_is_65001(entra: EntraEmulator, http: httpx.AsyncClient) -> None:
    other = entra.tenants[1]
    app = app_of(other, "connector_identity")
    entra.control.revoke_consent(other["id"], app["client_id"])
    try:
        response = await http.post(
            f"/{other['id']}/oauth2/v2.0/token", data=_form(app["client_id"], app["client_secret"])
        )
        assert response.status_code == 400
        assert _aadsts(response, 65001)["error"] == "invalid_grant"
    finally:
        entra.control.grant_consent(other["id"], app["client_id"], permissions=[])


async def test_unknown_resource_is_500011(
    tenant: dict[str, Any], customer_app: dict[str, Any], http: httpx.AsyncClient
) -> None:
    response = await http.post(
        f"/{tenant['id']}/oauth2/v2.0/token",
        data=_form(customer_app["client_id"], customer_app["client_secret"], "https://graph.microsoft.us/.default"),
    )
    assert response.status_code == 400
    assert _aadsts(response, 500011)["error"] == "invalid_resource"


async def test_certificate_not_registered_is_700027(
    entra: EntraEmulator, tenant: dict[str, Any], customer_app: dict[str, Any]
) -> None:
    identity = app_of(tenant, "connector_identity")  # sign with another app's certificate
    async with certificate_credential(
        entra, tenant["id"], customer_app["client_id"], identity["certificate_path"]
    ) as cred:
        with pytest.raises(ClientAuthenticationError, match="AADSTS700027"):
            await cred.get_token(GRAPH_SCOPE)


def _read(path: str) -> bytes:
    return Path(path).read_bytes()


async def test_tampered_assertion_is_700027(
    tenant: dict[str, Any], customer_app: dict[str, Any], http: httpx.AsyncClient
) -> None:
    import jwt
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    pem = _read(customer_app["certificate_path"])
    key = serialization.load_pem_private_key(pem, password=None)
    cert = x509.load_pem_x509_certificate(pem[pem.index(b"-----BEGIN CERTIFICATE") :])
    thumb = jwt.utils.base64url_encode(cert.fingerprint(hashes.SHA256())).decode()
    url = f"/{tenant['id']}/oauth2/v2.0/token"
    claims = {
        "aud": str(http.base_url).rstrip("/") + url,
        "iss": customer_app["client_id"],
        "sub": customer_app["client_id"],
        "exp": 4102444800,
        "nbf": 0,
        "jti": "x",
    }
    good = jwt.encode(claims, key, algorithm="PS256", headers={"x5t#S256": thumb})  # type: ignore[arg-type]
    form = {
        "grant_type": "client_credentials",
        "client_id": customer_app["client_id"],
        "scope": GRAPH_SCOPE,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    }
    assert (await http.post(url, data={**form, "client_assertion": good})).status_code == 200
    head, _, sig = good.split(".")
    forged = jwt.encode({**claims, "sub": "someone-else"}, "k" * 32, algorithm="HS256").split(".")[1]
    response = await http.post(url, data={**form, "client_assertion": f"{head}.{forged}.{sig}"})
    assert response.status_code == 401
    _aadsts(response, 700027)
    wrong_aud = jwt.encode(
        {**claims, "aud": "https://login.microsoftonline.com/x/oauth2/v2.0/token"},
        key,  # type: ignore[arg-type]
        algorithm="PS256",
        headers={"x5t#S256": thumb},
    )
    _aadsts(await http.post(url, data={**form, "client_assertion": wrong_aud}), 700027)


async def test_consent_propagation_delay_withholds_roles(entra: EntraEmulator, http: httpx.AsyncClient) -> None:
    other = entra.tenants[1]
    operator = app_of(other, "multi_tenant")
    entra.control.set_propagation_delay(60)
    entra.control.grant_consent(other["id"], operator["client_id"])
    try:
        form = _form(operator["client_id"], operator["client_secret"])
        early = (await http.post(f"/{other['id']}/oauth2/v2.0/token", data=form)).json()
        assert "roles" not in jwt_claims(early["access_token"])
        entra.control.advance_clock(61)
        later = (await http.post(f"/{other['id']}/oauth2/v2.0/token", data=form)).json()
        assert jwt_claims(later["access_token"])["roles"] == CUSTOMER_ROLES
    finally:
        entra.control.remove_service_principal(other["id"], operator["client_id"])


async def test_token_endpoint_faults_and_counters(
    entra: EntraEmulator, tenant: dict[str, Any], customer_app: dict[str, Any], http: httpx.AsyncClient
) -> None:
    entra.control.counters(reset=True)
    entra.control.set_fault("429", nth=1, count=1, endpoint="token", retry_after=3, tenant=tenant["id"])
    form = _form(customer_app["client_id"], customer_app["client_secret"])
    throttled = await http.post(f"/{tenant['id']}/oauth2/v2.0/token", data=form)
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "3"
    assert (await http.post(f"/{tenant['id']}/oauth2/v2.0/token", data=form)).status_code == 200
    assert entra.control.counters()["token"] == 2


async def test_every_fault_kind_works_on_the_token_endpoint(
    entra: EntraEmulator, tenant: dict[str, Any], customer_app: dict[str, Any], http: httpx.AsyncClient
) -> None:
    """A token request has nothing to commit: a fault after the work loses the answer like its plain kind (504, a
    dropped connection). Every kind the control API takes must work here (found by the reliability suite)."""
    form = _form(customer_app["client_id"], customer_app["client_secret"])
    url = f"/{tenant['id']}/oauth2/v2.0/token"
    try:
        entra.control.set_fault("apply_then_504", nth=1, count=1, endpoint="token", tenant=tenant["id"])
        gateway = await http.post(url, data=form)
        assert gateway.status_code == 504 and gateway.json()["error"] == "temporarily_unavailable"
        entra.control.set_fault("apply_then_drop", nth=1, count=1, endpoint="token", tenant=tenant["id"])
        with pytest.raises(httpx.TransportError):
            await http.post(url, data=form)
        assert (await http.post(url, data=form)).status_code == 200
    finally:
        entra.control.clear_faults()
