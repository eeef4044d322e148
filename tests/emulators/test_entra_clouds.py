"""National clouds at the emulator: a tenant in the US Government (L4, L5/DoD) or China cloud names its cloud in
its discovery documents, gets tokens only for its own cloud's Graph (the global scope gets AADSTS500011, and vice
versa), and only apps registered in its cloud work there (consent, sign-in, tokens)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError

from emulators.entra.server import EntraEmulator
from tests.support.entra import app_of, jwt_claims, secret_credential, start_entra

REDIRECT = "http://localhost:7071/api/consent/callback"
GRAPH = {
    "global": "https://graph.microsoft.com",
    "usgov": "https://graph.microsoft.us",
    "usgov-dod": "https://dod-graph.microsoft.us",
    "china": "https://microsoftgraph.chinacloudapi.cn",
}


@pytest.fixture(scope="module")
def clouds() -> Iterator[EntraEmulator]:
    """Four tenants: global, US Gov L4, US Gov L5 (DoD), China."""
    with start_entra(seed="clouds", size=12, tenants=4, clouds=["global", "usgov", "usgov-dod", "china"]) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _reset(clouds: EntraEmulator) -> Iterator[None]:
    yield
    clouds.control.reset_behaviour()


@pytest.fixture
async def login(clouds: EntraEmulator) -> AsyncIterator[httpx.AsyncClient]:
    context = ssl.create_default_context(cafile=clouds.ca_path)
    async with httpx.AsyncClient(verify=context, base_url=clouds.login_url) as client:
        yield client


def tenant_in(emulator: EntraEmulator, cloud: str) -> dict[str, Any]:
    return next(t for t in emulator.tenants if t["cloud"] == cloud)


async def _token(http: httpx.AsyncClient, tenant: dict[str, Any], app: dict[str, Any], scope: str) -> httpx.Response:
    form = {
        "grant_type": "client_credentials",
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "scope": scope,
    }
    return await http.post(f"/{tenant['id']}/oauth2/v2.0/token", data=form)


EXPECTED_DISCOVERY = {
    "global": ("microsoftonline.com", "graph.microsoft.com", None),
    "usgov": ("microsoftonline.us", "graph.microsoft.us", "DODCON"),
    "usgov-dod": ("microsoftonline.us", "dod-graph.microsoft.us", "DOD"),
    "china": ("partner.microsoftonline.cn", "microsoftgraph.chinacloudapi.cn", None),
}


@pytest.mark.parametrize("cloud", sorted(EXPECTED_DISCOVERY))
async def test_discovery_documents_name_the_tenants_cloud(
    clouds: EntraEmulator, login: httpx.AsyncClient, cloud: str
) -> None:
    tenant = tenant_in(clouds, cloud)
    instance, graph_host, sub_scope = EXPECTED_DISCOVERY[cloud]
    for path in (
        f"/{tenant['domains'][1]}/v2.0/.well-known/openid-configuration",
        f"/{tenant['id']}/.well-known/openid-configuration",
    ):
        document = (await login.get(path)).json()
        assert document["cloud_instance_name"] == instance
        assert document["msgraph_host"] == graph_host
        assert document.get("tenant_region_sub_scope") == sub_scope
        assert (document["tenant_region_scope"] == "USGov") == cloud.startswith("usgov")
    v1 = (await login.get(f"/{tenant['id']}/.well-known/openid-configuration")).json()
    sts = "sts.chinacloudapi.cn" if cloud == "china" else "sts.windows.net"
    assert v1["issuer"] == f"https://{sts}/{tenant['id']}/"


@pytest.mark.parametrize("cloud", sorted(GRAPH))
async def test_tokens_only_for_the_tenants_own_graph(
    clouds: EntraEmulator, login: httpx.AsyncClient, cloud: str
) -> None:
    """Real SDK (azure-identity) for the right scope; every other cloud's Graph is AADSTS500011."""
    tenant = tenant_in(clouds, cloud)
    customer = app_of(tenant, "customer")
    credential = secret_credential(clouds, tenant["id"], customer["client_id"], customer["client_secret"])
    async with credential:
        access = await credential.get_token(f"{GRAPH[cloud]}/.default")
        claims = jwt_claims(access.token)
        assert claims["aud"] == GRAPH[cloud] and claims["tid"] == tenant["id"]
        assert set(claims["roles"]) == set(customer["consented_permissions"])
        for other in sorted(set(GRAPH) - {cloud}):
            with pytest.raises(ClientAuthenticationError) as refused:
                await credential.get_token(f"{GRAPH[other]}/.default")
            assert "AADSTS500011" in str(refused.value)
    by_app_id = await _token(login, tenant, customer, "00000003-0000-0000-c000-000000000000/.default")
    assert jwt_claims(by_app_id.json()["access_token"])["aud"] == GRAPH[cloud]  # Graph's app id: the tenant's own


async def test_graph_takes_a_token_of_the_tenants_cloud_only(clouds: EntraEmulator, login: httpx.AsyncClient) -> None:
    tenant = tenant_in(clouds, "usgov")
    customer = app_of(tenant, "customer")
    token = (await _token(login, tenant, customer, f"{GRAPH['usgov']}/.default")).json()["access_token"]
    users = await login.get("/v1.0/users", params={"$select": "id"}, headers={"Authorization": f"Bearer {token}"})
    assert users.status_code == 200 and users.json()["value"]
    # A token of the global Graph naming this tenant (Entra would never issue it): refused.
    forged = clouds.signer.issue({**jwt_claims(token), "aud": GRAPH["global"]})
    refused = await login.get("/v1.0/users", headers={"Authorization": f"Bearer {forged}"})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "InvalidAuthenticationToken"


def _consent(tenant: dict[str, Any], client_id: str, scope: str) -> str:
    query = httpx.QueryParams({"client_id": client_id, "scope": scope, "redirect_uri": REDIRECT, "state": "s-1"})
    return f"/{tenant['id']}/v2.0/adminconsent?{query}"


def _answer(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    return dict(parse_qsl(urlsplit(response.headers["Location"]).query))


@pytest.mark.parametrize("cloud", ["usgov", "usgov-dod"])
async def test_us_government_consent_takes_the_us_government_app_and_scope(
    clouds: EntraEmulator, login: httpx.AsyncClient, cloud: str
) -> None:
    tenant = tenant_in(clouds, cloud)
    operator = app_of(tenant, "multi_tenant")  # the operator's app registered in Azure US Government
    assert operator["client_id"] == clouds.operator_apps()["usgov"]["client_id"]
    global_operator = clouds.operator_apps()["global"]
    clouds.control.remove_service_principal(tenant["id"], operator["client_id"])
    # The global registration does not exist in a US Government tenant: an error page, never a redirect.
    page = await login.get(_consent(tenant, global_operator["client_id"], f"{GRAPH[cloud]}/.default"))
    assert page.status_code == 400 and "AADSTS700016" in page.text
    # The right app asking for the global Graph: an error redirect (AADSTS500011), nothing granted.
    wrong = _answer(await login.get(_consent(tenant, operator["client_id"], f"{GRAPH['global']}/.default")))
    assert wrong["error"] == "invalid_resource" and wrong["error_description"].startswith("AADSTS500011")
    assert wrong["state"] == "s-1" and "admin_consent" not in wrong
    assert (await _token(login, tenant, operator, f"{GRAPH[cloud]}/.default")).json()["error_codes"] == [700016]
    granted = _answer(await login.get(_consent(tenant, operator["client_id"], f"{GRAPH[cloud]}/.default")))
    expected = " ".join(f"{GRAPH[cloud]}/{p}" for p in sorted(operator["requested_permissions"]))
    assert granted == {"admin_consent": "True", "tenant": tenant["id"], "scope": expected, "state": "s-1"}
    token = await _token(login, tenant, operator, f"{GRAPH[cloud]}/.default")
    assert jwt_claims(token.json()["access_token"])["roles"] == sorted(operator["requested_permissions"])
    # The global app's secret is no good here either: no service principal, whatever the scope.
    assert (await _token(login, tenant, global_operator, f"{GRAPH[cloud]}/.default")).json()["error_codes"] == [700016]


async def test_sign_in_at_a_us_government_tenant_needs_its_own_registration(
    clouds: EntraEmulator, login: httpx.AsyncClient
) -> None:
    tenant = tenant_in(clouds, "usgov")
    query = {"response_type": "code", "redirect_uri": REDIRECT, "scope": "openid profile", "state": "st"}
    global_app = clouds.operator_apps()["global"]["client_id"]
    page = await login.get(f"/{tenant['id']}/oauth2/v2.0/authorize", params={**query, "client_id": global_app})
    assert page.status_code == 400 and "AADSTS700016" in page.text
    operator = app_of(tenant, "multi_tenant")
    answer = _answer(
        await login.get(f"/{tenant['id']}/oauth2/v2.0/authorize", params={**query, "client_id": operator["client_id"]})
    )
    form = {
        "grant_type": "authorization_code",
        "client_id": operator["client_id"],
        "client_secret": operator["client_secret"],
        "code": answer["code"],
        "redirect_uri": REDIRECT,
    }
    body = (await login.post(f"/{tenant['id']}/oauth2/v2.0/token", data=form)).json()
    assert jwt_claims(body["access_token"])["aud"] == GRAPH["usgov"]
    assert jwt_claims(body["id_token"])["tid"] == tenant["id"]


async def test_a_tenant_moved_to_another_cloud_through_control(clouds: EntraEmulator, login: httpx.AsyncClient) -> None:
    tenant = tenant_in(clouds, "global")
    customer = app_of(tenant, "customer")
    try:
        moved = clouds.control.set_tenant_cloud(tenant["id"], "china")
        assert moved["cloud"] == "china"
        assert app_of(moved, "multi_tenant")["client_id"] == clouds.operator_apps()["china"]["client_id"]
        refused = await _token(login, tenant, customer, f"{GRAPH['global']}/.default")
        assert refused.json()["error_codes"] == [500011]
        china = await _token(login, tenant, customer, f"{GRAPH['china']}/.default")
        assert jwt_claims(china.json()["access_token"])["iss"] == f"https://sts.chinacloudapi.cn/{tenant['id']}/"
        document = (await login.get(f"/{tenant['id']}/v2.0/.well-known/openid-configuration")).json()
        assert document["cloud_instance_name"] == "partner.microsoftonline.cn"
        with pytest.raises(Exception, match="cloud must be one of"):
            clouds.control.call("set_tenant_cloud", {"tenant": tenant["id"], "cloud": "mars"})
    finally:
        clouds.control.set_tenant_cloud(tenant["id"], "global")
    assert (await _token(login, tenant, customer, f"{GRAPH['global']}/.default")).status_code == 200
