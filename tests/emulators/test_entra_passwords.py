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

from emulators.entra.model import User
from emulators.entra.passwords import COMPLEXITY, password_problem
from emulators.entra.reset_rights import (
    HELPDESK_ADMIN,
    PASSWORD_ADMIN,
    PRIVILEGED_AUTH_ADMIN,
    USER_ADMIN,
    may_reset,
    within_user_admin_reach,
)
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
        if u.state == "active"
        and u.privileged == privileged
        and (not privileged or not within_user_admin_reach(u.roles))  # beyond a User Administrator's reach
        and bool(u.props.get("onPremisesSyncEnabled")) == on_prem
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


async def test_an_admin_reset_may_set_the_current_or_a_previous_password_again(
    entra: EntraEmulator, tenant: dict[str, Any], http: httpx.AsyncClient, graph_token: str
) -> None:
    """Password history binds users changing their own password, not resets (no invented "used previously")."""
    user = _pick(entra, tenant["id"], skip=3)
    assert (await _patch(http, graph_token, user.id, STRONG + "A")).status_code == 204
    assert (await _patch(http, graph_token, user.id, STRONG + "A")).status_code == 204  # the same one again
    assert (await _patch(http, graph_token, user.id, STRONG + "B")).status_code == 204
    assert (await _patch(http, graph_token, user.id, STRONG + "A")).status_code == 204  # the previous one
    assert entra.control.get_password(tenant["id"], user.id) == STRONG + "A"


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


async def test_the_dedicated_permission_without_a_directory_role_is_403(
    entra: EntraEmulator, tenant: dict[str, Any], customer_app: dict[str, Any], http: httpx.AsyncClient
) -> None:
    """Learn, "Update user": app-only, a supported permission AND at least User Administrator on the app."""
    user = _pick(entra, tenant["id"], skip=5)
    entra.control.remove_directory_role(tenant["id"], customer_app["client_id"], USER_ADMIN)
    try:
        token = await token_for(http, tenant["id"], customer_app["client_id"], customer_app["client_secret"])
        denied = await _patch(http, token, user.id, STRONG)
        assert (denied.status_code, denied.json()["error"]["code"]) == (403, "Authorization_RequestDenied")
        assert entra.control.get_password(tenant["id"], user.id) != STRONG
        entra.control.set_password_reset_requires_role(tenant["id"], False)  # the older rule, on request only
        assert (await _patch(http, token, user.id, STRONG)).status_code == 204
    finally:
        entra.control.set_password_reset_requires_role(tenant["id"], True)
        entra.control.assign_directory_role(tenant["id"], customer_app["client_id"], USER_ADMIN)


def test_each_role_resets_within_its_documented_reach() -> None:
    write = ["User-PasswordProfile.ReadWrite.All"]
    assert may_reset(write, [USER_ADMIN], []) and may_reset(write, [HELPDESK_ADMIN], [])
    assert may_reset(write, [PASSWORD_ADMIN], [])
    assert not may_reset(write, [], [])  # a permission alone is not enough
    assert not may_reset([], [USER_ADMIN], [])  # nor a role alone
    assert may_reset(["User.ReadWrite.All"], [USER_ADMIN], [])
    assert may_reset(write, [USER_ADMIN], [USER_ADMIN])  # another User Administrator
    assert not may_reset(write, [HELPDESK_ADMIN], [USER_ADMIN])
    assert may_reset(write, [HELPDESK_ADMIN], [PASSWORD_ADMIN])
    assert not may_reset(write, [PASSWORD_ADMIN], [HELPDESK_ADMIN])
    for admin in ("Global Administrator", "Privileged Role Administrator", PRIVILEGED_AUTH_ADMIN):
        assert not may_reset(write, [USER_ADMIN], [admin])
        assert may_reset(write, [PRIVILEGED_AUTH_ADMIN], [admin])
        assert may_reset(write, ["Global Administrator"], [admin])


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
    assert password_problem(candidate) is None


def test_policy_edges() -> None:
    assert password_problem("Abcdef1!") is None  # 8 characters, 4 classes
    assert password_problem("Abcdef1") == COMPLEXITY  # 7 characters
    assert password_problem("A" * 250 + "bc1!x!") is None
    assert password_problem("A" * 255 + "b1") == COMPLEXITY  # 257 characters
    assert password_problem("abcdefgh12") == COMPLEXITY  # 2 classes
    assert password_problem("abcdefgh12!") is None  # 3 classes


@pytest.mark.parametrize("kind", ["apply_then_504", "apply_then_drop"])
async def test_a_write_can_be_applied_and_its_answer_lost(
    entra: EntraEmulator, tenant: dict[str, Any], http: httpx.AsyncClient, graph_token: str, kind: str
) -> None:
    """The fault a real tenant produces: the PATCH is committed, then the connection drops or a gateway says 504."""
    user = _pick(entra, tenant["id"], skip=6)
    entra.control.set_fault(kind, nth=1, count=1, endpoint="users.update", tenant=tenant["id"])
    try:
        if kind == "apply_then_504":
            response = await _patch(http, graph_token, user.id, STRONG + "x")
            assert (response.status_code, response.json()["error"]["code"]) == (504, "UnknownError")
        else:
            with pytest.raises(httpx.RemoteProtocolError):
                await _patch(http, graph_token, user.id, STRONG + "x")
        assert entra.control.get_password(tenant["id"], user.id) == STRONG + "x"  # applied all the same
        assert (await _patch(http, graph_token, user.id, STRONG + "x")).status_code == 204  # re-sending is fine
    finally:
        entra.control.clear_faults()
