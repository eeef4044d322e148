"""Users signing in at the emulator (emulators/entra/delegated.py): delegated consent per tenant (user consent
allowed or disabled, admin-granted scopes, a cancelled prompt), ID token claims (email, groups, the overage form
above 200 groups) and POST /users/{id}/checkMemberGroups (transitive, the documented limits)."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import jwt
import pytest

from emulators.entra.server import EntraEmulator
from tests.emulators.test_entra_authorize import _authorize_url, _redeem, operator, pkce  # noqa: F401 (fixtures)
from tests.support.entra import app_of, token_for

REDIRECT = "http://localhost:7071/api/consent/callback"


def _answer(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    return dict(httpx.URL(response.headers["Location"]).params)


async def _id_token(http: httpx.AsyncClient, tenant: dict[str, Any], app: dict[str, Any], pair: tuple[str, str],
                    scope: str = "openid profile email") -> dict[str, Any]:  # fmt: skip
    back = _answer(await http.get(_authorize_url(tenant["id"], app["client_id"], pair[1], scope=scope)))
    assert "code" in back, back
    body = (await _redeem(http, tenant["id"], app, back["code"], pair[0])).json()
    return dict(jwt.decode(body["id_token"], options={"verify_signature": False}))


async def test_user_consent_disabled_needs_an_administrator(
    entra: EntraEmulator, tenant: dict[str, Any], operator: dict[str, Any], http: httpx.AsyncClient,  # noqa: F811
    pkce: tuple[str, str],  # noqa: F811
) -> None:  # fmt: skip
    control = entra.control
    user = control.create_user(tenant["id"], "Delegated", "One", password="Pa55word!-long")
    control.sign_in_browser(tenant["id"], user["id"])
    control.grant_consent(tenant["id"], operator["client_id"])  # the app is set up in the tenant
    control.set_user_consent(tenant["id"], "disabled")
    try:
        url = _authorize_url(tenant["id"], operator["client_id"], pkce[1], scope="openid User.ReadBasic.All")
        back = _answer(await http.get(url))
        assert back["error"] == "consent_required" and back["error_description"].startswith("AADSTS90094")
        assert back["state"] == "st-1" and "code" not in back
        control.grant_delegated(tenant["id"], operator["client_id"], ["openid", "User.ReadBasic.All"])
        assert "code" in _answer(await http.get(url))
        control.remove_service_principal(tenant["id"], operator["client_id"])
        back = _answer(await http.get(url))
        assert back["error"] == "consent_required" and back["error_description"].startswith("AADSTS65001")
    finally:
        control.set_user_consent(tenant["id"], "allowed")
        control.revoke_delegated(tenant["id"], operator["client_id"])


async def test_a_user_consents_once_or_cancels(
    entra: EntraEmulator, tenant: dict[str, Any], operator: dict[str, Any], http: httpx.AsyncClient,  # noqa: F811
    pkce: tuple[str, str],  # noqa: F811
) -> None:  # fmt: skip
    control = entra.control
    user = control.create_user(tenant["id"], "Delegated", "Two", password="Pa55word!-long")
    control.sign_in_browser(tenant["id"], user["id"])
    control.set_consent_answer(tenant["id"], "cancel")
    url = _authorize_url(tenant["id"], operator["client_id"], pkce[1], scope="openid email")
    back = _answer(await http.get(url))
    assert back["error"] == "access_denied" and back["error_description"].startswith("AADSTS65004")
    assert "code" in _answer(await http.get(url))  # the answer is used once; the user consents now
    grants = control.delegated_consent(tenant["id"])["user_grants"]
    assert grants[f"{operator['client_id']}|{user['id']}"] == ["email", "openid"]
    control.grant_consent(tenant["id"], operator["client_id"])  # the app is set up in the tenant
    control.set_user_consent(tenant["id"], "disabled")
    try:
        assert "code" in _answer(await http.get(url))  # what the user consented to stays consented
    finally:
        control.remove_service_principal(tenant["id"], operator["client_id"])  # as seeded: never consented
        control.set_user_consent(tenant["id"], "allowed")
        control.revoke_delegated(tenant["id"], operator["client_id"])


async def test_id_tokens_carry_email_and_groups_or_the_overage_claim(
    entra: EntraEmulator, tenant: dict[str, Any], operator: dict[str, Any], http: httpx.AsyncClient,  # noqa: F811
    pkce: tuple[str, str],  # noqa: F811
) -> None:  # fmt: skip
    control = entra.control
    outer = control.create_group(tenant["id"], "Outer")
    inner = control.create_group(tenant["id"], "Inner")
    user = control.create_user(tenant["id"], "Claims", "User", password="Pa55word!-long", groups=[inner["id"]])
    control.add_member(tenant["id"], outer["id"], inner["id"])
    control.sign_in_browser(tenant["id"], user["id"])
    claims = await _id_token(http, tenant, operator, pkce)
    assert claims["email"] == user["mail"] and claims["oid"] == user["id"] and claims["tid"] == tenant["id"]
    assert claims["preferred_username"] == user["userPrincipalName"] and "groups" not in claims
    control.set_group_membership_claims(operator["client_id"], "All")
    try:
        claims = await _id_token(http, tenant, operator, pkce)
        assert claims["groups"] == sorted([outer["id"], inner["id"]])  # nested included
        for n in range(200):
            control.add_member(tenant["id"], control.create_group(tenant["id"], f"Many {n}")["id"], user["id"])
        claims = await _id_token(http, tenant, operator, pkce)
        assert "groups" not in claims and claims["_claim_names"] == {"groups": "src1"}
        assert claims["_claim_sources"]["src1"]["endpoint"].endswith(f"/users/{user['id']}/getMemberObjects")
        assert "email" not in await _id_token(http, tenant, operator, pkce, scope="openid profile")
    finally:
        control.set_group_membership_claims(operator["client_id"], operator["group_membership_claims"])


async def test_check_member_groups_is_transitive(entra: EntraEmulator, tenant: dict[str, Any]) -> None:
    control = entra.control
    outer = control.create_group(tenant["id"], "Check outer")
    inner = control.create_group(tenant["id"], "Check inner")
    user = control.create_user(tenant["id"], "Check", "Member", groups=[inner["id"]])
    control.add_member(tenant["id"], outer["id"], inner["id"])
    app = app_of(tenant, "customer")
    verify = ssl.create_default_context(cafile=entra.ca_path)
    async with httpx.AsyncClient(base_url=entra.login_url, verify=verify) as login:
        token = await token_for(login, tenant["id"], app["client_id"], app["client_secret"])
    async with httpx.AsyncClient(base_url=entra.graph_url + "/", verify=verify) as graph:
        headers = {"Authorization": f"Bearer {token}"}
        url = f"users/{user['id']}/checkMemberGroups"
        other = tenant["rotation_group"]["id"]
        answer = await graph.post(url, json={"groupIds": [outer["id"], other, inner["id"]]}, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["value"] == [outer["id"], inner["id"]]
        too_many = await graph.post(url, json={"groupIds": [outer["id"]] * 21}, headers=headers)
        assert too_many.status_code == 400
        missing = await graph.post("users/00000000-0000-0000-0000-000000000001/checkMemberGroups",
                                   json={"groupIds": [outer["id"]]}, headers=headers)  # fmt: skip
        assert missing.status_code == 404


@pytest.mark.parametrize("setting", ["sometimes", ""])
def test_the_control_api_refuses_unknown_settings(entra: EntraEmulator, tenant: dict[str, Any], setting: str) -> None:
    from emulators.entra.control import ControlError

    with pytest.raises(ControlError):
        entra.control.call("set_user_consent", {"tenant": tenant["id"], "setting": setting})
