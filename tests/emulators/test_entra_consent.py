"""Admin consent onboarding: accept, decline, cancel, mismatched redirect URIs and unknown apps."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from emulators.entra.server import EntraEmulator
from tests.support.entra import app_of, jwt_claims, token_for

REDIRECT = "http://localhost:7071/api/consent/callback"


@pytest.fixture
def fresh_tenant(entra: EntraEmulator) -> Iterator[dict[str, Any]]:
    """The second tenant, with the operator's app not consented before and after the test."""
    tenant = entra.tenants[1]
    client_id = app_of(tenant, "multi_tenant")["client_id"]
    entra.control.remove_service_principal(tenant["id"], client_id)
    yield tenant
    entra.control.remove_service_principal(tenant["id"], client_id)


def _consent_url(tenant_key: str, client_id: str, redirect: str = REDIRECT, **extra: str) -> str:
    query = httpx.QueryParams(
        {
            "client_id": client_id,
            "scope": "https://graph.microsoft.com/.default",
            "redirect_uri": redirect,
            "state": "s-123",
            **extra,
        }
    )
    return f"/{tenant_key}/v2.0/adminconsent?{query}"


def _callback(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def test_accept_creates_service_principal_with_requested_roles(
    entra: EntraEmulator, fresh_tenant: dict[str, Any], http: httpx.AsyncClient
) -> None:
    operator = app_of(fresh_tenant, "multi_tenant")
    response = await http.get(_consent_url(fresh_tenant["domains"][1], operator["client_id"]))
    params = _callback(response)
    granted = " ".join(f"https://graph.microsoft.com/{p}" for p in sorted(operator["requested_permissions"]))
    assert params == {"admin_consent": "True", "tenant": fresh_tenant["id"], "scope": granted, "state": "s-123"}
    token = await token_for(http, fresh_tenant["id"], operator["client_id"], operator["client_secret"])
    claims = jwt_claims(token)
    assert claims["tid"] == fresh_tenant["id"]
    assert claims["roles"] == sorted(operator["requested_permissions"])


async def test_cancel_and_decline_redirect_with_errors(
    entra: EntraEmulator, fresh_tenant: dict[str, Any], http: httpx.AsyncClient
) -> None:
    operator = app_of(fresh_tenant, "multi_tenant")
    entra.control.set_consent_decision(fresh_tenant["id"], "cancel")
    cancel = _callback(await http.get(_consent_url(fresh_tenant["id"], operator["client_id"])))
    assert cancel["error"] == "access_denied"
    assert cancel["error_subcode"] == "cancel"
    assert cancel["state"] == "s-123"
    assert "admin_consent" not in cancel
    declined = _callback(
        await http.get(_consent_url(fresh_tenant["id"], operator["client_id"], emulator_decision="decline"))
    )
    assert declined["error"] == "consent_required"  # Learn's documented decline
    assert declined["error_description"].startswith("AADSTS65004")
    assert declined["admin_consent"] == "True" and declined["tenant"] == fresh_tenant["id"]  # the error wins
    # Nothing was granted: the app still has no service principal there.
    response = await http.post(
        f"/{fresh_tenant['id']}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": operator["client_id"],
            "client_secret": operator["client_secret"],
            "scope": "https://graph.microsoft.com/.default",
        },
    )
    assert response.json()["error_codes"] == [700016]
    # The decision is used once: the next consent is accepted again.
    assert "admin_consent" in _callback(await http.get(_consent_url(fresh_tenant["id"], operator["client_id"])))


async def test_redirect_mismatch_and_unknown_app_show_an_error_page(
    entra: EntraEmulator, fresh_tenant: dict[str, Any], http: httpx.AsyncClient
) -> None:
    operator = app_of(fresh_tenant, "multi_tenant")
    mismatch = await http.get(_consent_url(fresh_tenant["id"], operator["client_id"], redirect=REDIRECT + "/"))
    assert mismatch.status_code == 400
    assert "Location" not in mismatch.headers
    assert "AADSTS50011" in mismatch.text
    unknown = await http.get(_consent_url(fresh_tenant["id"], "00000000-0000-0000-0000-000000000000"))
    assert unknown.status_code == 400
    assert "AADSTS700016" in unknown.text
    foreign = app_of(fresh_tenant, "customer")  # single-tenant app of tenant 1, consent asked in tenant 0
    other = await http.get(_consent_url(entra.tenants[0]["id"], foreign["client_id"]))
    assert other.status_code == 400
    assert "AADSTS700016" in other.text


async def test_unknown_tenant_consent_is_90002_page(http: httpx.AsyncClient, customer_app: dict[str, Any]) -> None:
    response = await http.get(_consent_url("nosuch.example.com", customer_app["client_id"]))
    assert response.status_code == 400
    assert "AADSTS90002" in response.text


async def test_only_a_consent_admin_signed_in_to_the_tenant_can_grant(
    entra: EntraEmulator, fresh_tenant: dict[str, Any], http: httpx.AsyncClient
) -> None:
    operator = app_of(fresh_tenant, "multi_tenant")
    user = entra.control.create_user(fresh_tenant["id"], "Una", "Member")
    entra.control.sign_in_browser(fresh_tenant["id"], user["id"])
    refused = _callback(await http.get(_consent_url(fresh_tenant["id"], operator["client_id"])))
    assert refused["error"] == "consent_required" and refused["error_description"].startswith("AADSTS90094")
    assert operator["client_id"] not in entra.world.tenants[fresh_tenant["id"]].service_principals
    entra.control.assign_user_role(fresh_tenant["id"], user["id"], "Privileged Role Administrator")
    assert _callback(await http.get(_consent_url(fresh_tenant["id"], operator["client_id"])))["admin_consent"]
    entra.control.sign_in_browser(entra.tenants[0]["id"], entra.tenants[0]["admin"]["id"])
    foreign = await http.get(_consent_url(fresh_tenant["id"], operator["client_id"]))
    assert foreign.status_code == 400 and "AADSTS50020" in foreign.text
