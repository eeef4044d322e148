"""Password resets through Graph: permission and role rules, on-premises users, the cloud password policy."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_http.middleware.options import RetryHandlerOption
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.password_profile import PasswordProfile
from msgraph.generated.models.user import User as GraphUser

from emulators.entra.model import PRIVILEGED_AUTH_ADMIN, USER_ADMIN, User
from emulators.entra.passwords import COMPLEXITY, REUSED, password_problem
from emulators.entra.server import EntraEmulator
from tests.support.entra import app_of, token_for

NO_RETRY = RequestConfiguration(options=[RetryHandlerOption(delay=0, max_retries=0)])
STRONG = "Rotated-Secret-Is-Long-Enough-42!"


def _pick(
    entra: EntraEmulator, tenant_id: str, *, privileged: bool = False, on_prem: bool = False, skip: int = 0
) -> User:
    users = sorted(entra.world.tenants[tenant_id].directory.users.values(), key=lambda u: u.id)
    matches = [
        u
        for u in users
        if u.state == "active" and u.privileged == privileged and bool(u.props.get("onPremisesSyncEnabled")) == on_prem
    ]
    return matches[skip]


def _patch(http: httpx.AsyncClient, token: str, user_id: str, password: str) -> Any:
    return http.patch(
        f"/v1.0/users/{user_id}",
        headers={"Authorization": f"Bearer {token}"},
        json={"passwordProfile": {"password": password, "forceChangePasswordNextSignIn": False}},
    )


async def test_sdk_patch_rotates_the_password(entra: EntraEmulator, tenant: dict[str, Any], graph: Any) -> None:
    user = _pick(entra, tenant["id"], skip=1)
    body = GraphUser(password_profile=PasswordProfile(password=STRONG + "1", force_change_password_next_sign_in=False))
    await graph.users.by_user_id(user.id).patch(body)
    assert entra.control.get_password(tenant["id"], user.id) == STRONG + "1"
    await graph.users.by_user_id(user.props["userPrincipalName"]).patch(
        GraphUser(password_profile=PasswordProfile(password=STRONG + "2"))
    )
    assert entra.control.get_password(tenant["id"], user.id) == STRONG + "2"


async def test_privileged_user_needs_privileged_authentication_administrator(
    entra: EntraEmulator, tenant: dict[str, Any], customer_app: dict[str, Any], graph: Any
) -> None:
    admin = _pick(entra, tenant["id"], privileged=True)
    body = GraphUser(password_profile=PasswordProfile(password=STRONG))
    with pytest.raises(ODataError) as caught:
        await graph.users.by_user_id(admin.id).patch(body, request_configuration=NO_RETRY)
    assert caught.value.response_status_code == 403
    assert caught.value.error.code == "Authorization_RequestDenied"
    assert entra.control.get_password(tenant["id"], admin.id) != STRONG
    entra.control.assign_directory_role(tenant["id"], customer_app["client_id"], PRIVILEGED_AUTH_ADMIN)
    try:
        await graph.users.by_user_id(admin.id).patch(body)
        assert entra.control.get_password(tenant["id"], admin.id) == STRONG
    finally:
        entra.control.remove_directory_role(tenant["id"], customer_app["client_id"], PRIVILEGED_AUTH_ADMIN)


async def test_on_premises_user_is_refused(
    entra: EntraEmulator, tenant: dict[str, Any], http: httpx.AsyncClient, graph_token: str
) -> None:
    synced = _pick(entra, tenant["id"], on_prem=True)
    response = await _patch(http, graph_token, synced.id, STRONG)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "Request_BadRequest"
    assert "on-premises mastered Directory Sync objects" in error["message"]


@pytest.mark.parametrize(
    "weak", ["Sh0rt!", "alllowercaseandlong", "NoDigitsNoSymbols", "Ünïcødé-Passw0rd-1", "MyPassword123!x"]
)
async def test_weak_password_is_400(
    entra: EntraEmulator, tenant: dict[str, Any], http: httpx.AsyncClient, graph_token: str, weak: str
) -> None:
    user = _pick(entra, tenant["id"], skip=2)
    response = await _patch(http, graph_token, user.id, weak)
    assert response.status_code == 400
    assert response.json()["error"] == {**response.json()["error"], "code": "Request_BadRequest", "message": COMPLEXITY}


async def test_previous_password_is_400(
    entra: EntraEmulator, tenant: dict[str, Any], http: httpx.AsyncClient, graph_token: str
) -> None:
    user = _pick(entra, tenant["id"], skip=3)
    assert (await _patch(http, graph_token, user.id, STRONG + "A")).status_code == 204
    again = await _patch(http, graph_token, user.id, STRONG + "A")
    assert (again.status_code, again.json()["error"]["message"]) == (400, REUSED)
    assert (await _patch(http, graph_token, user.id, STRONG + "B")).status_code == 204
    back = await _patch(http, graph_token, user.id, STRONG + "A")
    assert (back.status_code, back.json()["error"]["message"]) == (400, REUSED)
    assert entra.control.get_password(tenant["id"], user.id) == STRONG + "B"


async def test_user_readwrite_all_alone_is_403_and_needs_a_role(
    entra: EntraEmulator, tenant: dict[str, Any], http: httpx.AsyncClient
) -> None:
    identity = app_of(tenant, "connector_identity")
    user = _pick(entra, tenant["id"], skip=4)
    entra.control.grant_permissions(tenant["id"], identity["client_id"], ["User.ReadWrite.All"])
    try:
        token = await token_for(http, tenant["id"], identity["client_id"], identity["client_secret"])
        denied = await _patch(http, token, user.id, STRONG)
        assert denied.status_code == 403
        assert denied.json()["error"]["code"] == "Authorization_RequestDenied"
        entra.control.assign_directory_role(tenant["id"], identity["client_id"], USER_ADMIN)
        assert (await _patch(http, token, user.id, STRONG)).status_code == 204
    finally:
        entra.control.revoke_permissions(tenant["id"], identity["client_id"], ["User.ReadWrite.All"])
        entra.control.remove_directory_role(tenant["id"], identity["client_id"], USER_ADMIN)


async def test_role_requirement_switch(
    entra: EntraEmulator, tenant: dict[str, Any], http: httpx.AsyncClient, graph_token: str
) -> None:
    entra.control.set_password_reset_requires_role(tenant["id"], True)
    user = _pick(entra, tenant["id"], skip=5)
    assert (await _patch(http, graph_token, user.id, STRONG)).status_code == 403


@given(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=20, max_size=60))
def test_long_four_class_passwords_pass(core: str) -> None:
    candidate = "aA1!" + core.replace("password", "x").replace("qwerty", "x")
    lowered = candidate.lower()
    if any(
        word in lowered
        for word in (
            "passw0rd",
            "p@ssw0rd",
            "welcome",
            "letmein",
            "123456",
            "contoso",
            "summer2024",
            "password",
            "qwerty",
        )
    ):
        return
    assert password_problem(candidate, None, None) is None


def test_policy_edges() -> None:
    assert password_problem("Abcdef1!", None, None) is None  # 8 characters, 4 classes
    assert password_problem("Abcdef1", None, None) == COMPLEXITY  # 7 characters
    assert password_problem("A" * 250 + "bc1!x!", None, None) is None
    assert password_problem("A" * 255 + "b1", None, None) == COMPLEXITY  # 257 characters
    assert password_problem("abcdefgh12", None, None) == COMPLEXITY  # 2 classes
    assert password_problem("abcdefgh12!", None, None) is None  # 3 classes
    assert password_problem("Same-0ld-Secret", "Same-0ld-Secret", None) == REUSED
