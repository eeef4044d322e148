"""The emulator's sign-in page and app roles: /authorize shows a username and password form (when switched on),
AADSTS50126 on a wrong password, a session cookie afterwards; app roles defined on an app and assigned to users
come back as the ID token's `roles` claim."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from emulators.entra.server import EntraEmulator
from tests.support.entra import app_of, jwt_claims, pkce

REDIRECT = "http://localhost:7071/api/consent/callback"
ROLES = [{"value": "Connector.Admin", "displayName": "Admin"}, {"value": "Connector.Reader", "displayName": "Reader"}]


@pytest.fixture
def operator(tenant: dict[str, Any]) -> dict[str, Any]:
    return app_of(tenant, "multi_tenant")


@pytest.fixture
def page_on(entra: EntraEmulator) -> None:
    entra.control.use_sign_in_page(True)  # reset_behaviour turns it off after the test


def _authorize(tenant_key: str, client_id: str, challenge: str, **extra: str) -> str:
    query = httpx.QueryParams(
        {
            "client_id": client_id,
            "response_type": "code",
            "redirect_uri": REDIRECT,
            "scope": "openid profile",
            "state": "st",
            "nonce": "nonce-1",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            **extra,
        }
    )
    return f"/{tenant_key}/oauth2/v2.0/authorize?{query}"


def _user(entra: EntraEmulator, tenant: dict[str, Any], password: str = "Corr3ct-horse!") -> dict[str, Any]:
    user = entra.control.create_user(tenant["id"], "Pia", "Page", password=password)
    return dict(user)


async def _id_token(http: httpx.AsyncClient, tenant: dict[str, Any], app: dict[str, Any], code: str, v: str) -> Any:
    form = {
        "grant_type": "authorization_code",
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": v,
    }
    answer = await http.post(f"/{tenant['id']}/oauth2/v2.0/token", data=form)
    assert answer.status_code == 200, answer.text
    return jwt_claims(answer.json()["id_token"])


@pytest.mark.usefixtures("page_on")
async def test_the_page_signs_a_user_in_with_a_password_and_remembers_the_session(
    entra: EntraEmulator, tenant: dict[str, Any], operator: dict[str, Any], http: httpx.AsyncClient
) -> None:
    user = _user(entra, tenant)
    verifier, challenge = pkce()
    url = _authorize(tenant["id"], operator["client_id"], challenge, prompt="select_account")
    page = await http.get(url)
    assert page.status_code == 200 and 'name="passwd"' in page.text and 'method="post"' in page.text
    assert re.search(r'action="[^"]*oauth2/v2.0/authorize\?', page.text)
    form = {"login": user["userPrincipalName"].upper(), "passwd": "Corr3ct-horse!"}
    answer = await http.post(url, data=form)
    assert answer.status_code == 302, answer.text
    back = dict(parse_qsl(urlsplit(answer.headers["Location"]).query))
    assert back["state"] == "st" and back["code"]
    assert "ESTSAUTH=" in answer.headers["Set-Cookie"] and "HttpOnly" in answer.headers["Set-Cookie"]
    claims = await _id_token(http, tenant, operator, back["code"], verifier)
    assert claims["oid"] == user["id"] and claims["tid"] == tenant["id"] and claims["nonce"] == "nonce-1"
    assert "roles" not in claims  # none assigned
    silent = await http.get(_authorize(tenant["id"], operator["client_id"], challenge))  # the cookie jar has it
    assert silent.status_code == 302 and "code=" in silent.headers["Location"]
    forced = await http.get(_authorize(tenant["id"], operator["client_id"], challenge, prompt="login"))
    assert forced.status_code == 200 and 'name="passwd"' in forced.text


@pytest.mark.usefixtures("page_on")
async def test_a_wrong_password_shows_aadsts50126_on_the_page_and_issues_nothing(
    entra: EntraEmulator, tenant: dict[str, Any], operator: dict[str, Any], http: httpx.AsyncClient
) -> None:
    user = _user(entra, tenant)
    _, challenge = pkce()
    url = _authorize(tenant["id"], operator["client_id"], challenge, login_hint=user["userPrincipalName"])
    before = len(entra.control.issued_secrets())
    shown = await http.get(url)
    assert f'value="{user["userPrincipalName"]}"' in shown.text  # login_hint pre-fills the username
    wrong = await http.post(url, data={"login": user["userPrincipalName"], "passwd": "wrong-password"})
    assert wrong.status_code == 200 and wrong.headers["x-ms-ests-error"] == "AADSTS50126"
    assert "Error validating credentials due to invalid username or password." in wrong.text
    assert "AADSTS50126" in wrong.text and 'name="passwd"' in wrong.text and "Set-Cookie" not in wrong.headers
    unknown = await http.post(url, data={"login": "nobody@example.com", "passwd": "x"})
    assert "AADSTS50034" in unknown.text
    entra.control.update_user(tenant["id"], user["id"], accountEnabled=False)
    disabled = await http.post(url, data={"login": user["userPrincipalName"], "passwd": "Corr3ct-horse!"})
    assert "AADSTS50057" in disabled.text
    assert len(entra.control.issued_secrets()) == before


@pytest.mark.usefixtures("page_on")
async def test_the_page_refuses_an_account_of_another_tenant_and_unknown_apps_first(
    entra: EntraEmulator, operator: dict[str, Any], http: httpx.AsyncClient
) -> None:
    first, second = entra.tenants[0], entra.tenants[1]
    stranger = _user(entra, second)
    _, challenge = pkce()
    url = _authorize(first["id"], operator["client_id"], challenge)
    refused = await http.post(url, data={"login": stranger["userPrincipalName"], "passwd": "Corr3ct-horse!"})
    assert "AADSTS50020" in refused.text
    bad_app = await http.get(_authorize(first["id"], "00000000-0000-4000-8000-000000000000", challenge))
    assert bad_app.status_code == 400 and "AADSTS700016" in bad_app.text and "passwd" not in bad_app.text


def test_the_seeded_admin_has_a_deterministic_password() -> None:
    from emulators.entra.seed import seeded_admin_password
    from tests.support.entra import start_entra

    with start_entra(seed="passwords", size=2, tenants=2) as fresh:  # other tests change the shared one's passwords
        for tenant in fresh.tenants:
            password = fresh.control.get_password(tenant["id"], tenant["admin"]["id"])
            assert password == seeded_admin_password("passwords", tenant["id"])
        assert len({seeded_admin_password("passwords", t["id"]) for t in fresh.tenants}) == 2


@pytest.mark.usefixtures("page_on")
async def test_assigned_app_roles_come_back_as_the_roles_claim(
    entra: EntraEmulator, tenant: dict[str, Any], operator: dict[str, Any], http: httpx.AsyncClient
) -> None:
    defined = entra.control.define_app_roles(operator["client_id"], ROLES)
    assert [r["value"] for r in defined] == ["Connector.Admin", "Connector.Reader"]
    assert entra.control.define_app_roles(operator["client_id"], ROLES) == defined  # ids are stable
    user = _user(entra, tenant)
    entra.control.assign_app_role(tenant["id"], user["userPrincipalName"], operator["client_id"], "Connector.Reader")
    entra.control.assign_app_role(tenant["id"], user["id"], operator["client_id"], defined[0]["id"])
    verifier, challenge = pkce()
    url = _authorize(tenant["id"], operator["client_id"], challenge)
    answer = await http.post(url, data={"login": user["userPrincipalName"], "passwd": "Corr3ct-horse!"})
    code = dict(parse_qsl(urlsplit(answer.headers["Location"]).query))["code"]
    claims = await _id_token(http, tenant, operator, code, verifier)
    assert claims["roles"] == ["Connector.Admin", "Connector.Reader"]
    entra.control.remove_app_role_assignment(tenant["id"], user["id"], operator["client_id"], "Connector.Admin")
    assert entra.control.app_role_claims(tenant["id"], user["id"], operator["client_id"]) == ["Connector.Reader"]


def test_app_role_control_refuses_what_entra_would(entra: EntraEmulator, tenant: dict[str, Any]) -> None:
    from emulators.entra.control import ControlError

    operator = app_of(tenant, "multi_tenant")
    with pytest.raises(ControlError, match="without spaces"):
        entra.control.call("define_app_roles", {"client_id": operator["client_id"], "roles": [{"value": "a b"}]})
    with pytest.raises(ControlError, match="twice"):
        entra.control.call("define_app_roles", {"client_id": operator["client_id"], "roles": [ROLES[0], ROLES[0]]})
    entra.control.define_app_roles(operator["client_id"], ROLES)
    args = {"tenant": tenant["id"], "user": tenant["admin"]["id"], "client_id": operator["client_id"]}
    with pytest.raises(ControlError, match="no user-assignable app role"):
        entra.control.call("assign_app_role", {**args, "role": "Connector.Owner"})
    with pytest.raises(ControlError, match="8-256"):
        entra.control.call(
            "set_user_password", {"tenant": tenant["id"], "user": tenant["admin"]["id"], "password": "x"}
        )


async def test_without_the_page_authorize_signs_in_as_before(
    tenant: dict[str, Any], operator: dict[str, Any], http: httpx.AsyncClient
) -> None:
    _, challenge = pkce()
    answer = await http.get(_authorize(tenant["id"], operator["client_id"], challenge))
    assert answer.status_code == 302 and "code=" in answer.headers["Location"]
