"""End-user sign-in refusals over HTTP: each a clear page (with the remedy an administrator can act on), audited,
and nothing stored: out of scope, deactivated, unregistered return_to, user consent disabled, app not consented,
user cancelled, an account of another tenant, a mismatched nonce, a state from another browser."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from emulators.stack import SIGNIN_RETURN_URL
from shared.adapters.directory_store import DirectoryStore
from shared.domain.directory import INACTIVE
from shared.storage_names import CONSENT_STATES
from tests.integration.connections.consent_helpers import audit_rows, browser, remember_browser_secrets
from tests.integration.signin.conftest import START, Connected


@pytest.fixture(autouse=True)
def _collect_browser_secrets() -> Iterator[None]:
    yield
    remember_browser_secrets()


async def _signin_rows(connected: Connected) -> list[dict[str, object]]:
    tables = connected.container.tables()
    rows = tables.query(CONSENT_STATES, "connection_id eq @c", {"c": connected.connection.id})
    return [dict(r) async for r in rows]


async def _last_callback_audit(connected: Connected) -> dict[str, object]:
    rows = await audit_rows(connected.container, connected.connection.id)
    return sorted((r for r in rows if r["action"] == "signin.callback"), key=lambda r: str(r["RowKey"]))[0]


async def _refused(connected: Connected, page_status: int, text: str, outcome: str) -> None:
    assert page_status not in (0, 200, 302), text
    assert "<script" not in text
    assert (await _last_callback_audit(connected))["result"] == outcome
    assert await _signin_rows(connected) == []  # the state is used up and no hand-off code exists


async def test_an_out_of_scope_user_is_refused_and_nothing_is_stored(connected: Connected) -> None:
    user = connected.new_user("Outside")  # in no group of the sync scope
    page = await connected.sign_in(user["id"])
    assert page.status == 403 and "not in the group of users" in page.text
    await _refused(connected, page.status, page.text, "out_of_scope")
    assert await connected.user_row(user["id"]) is None
    assert await connected.events() == []


async def test_a_deactivated_user_is_refused(connected: Connected) -> None:
    truth = connected.stack.entra.control.ground_truth(connected.tid, connected.connection.sync_group_id)
    uid = sorted(truth["users"])[3]
    store = DirectoryStore(connected.container.tables(), connected.connection.id)
    await store.mark_users([uid], status=INACTIVE, in_scope=False, reason="left_scope")
    page = await connected.sign_in(uid)
    assert page.status == 403 and "deactivated or disabled" in page.text
    await _refused(connected, page.status, page.text, "deactivated")
    assert await connected.events() == []


@pytest.mark.parametrize(
    "return_to",
    [
        "https://evil.example/signed-in",
        "http://localhost:3001/signed-in",  # another port
        "http://localhost:3000/signed-in/more",  # another path
        "https://localhost:3000/signed-in",  # another scheme
        "http://localhost:3000/signed-in#x",
        "http://user@localhost:3000/signed-in",
        "",
    ],
)
async def test_an_unregistered_return_to_is_refused_and_nothing_is_stored(connected: Connected, return_to: str) -> None:
    page = await connected.sign_in(None, return_to=return_to)
    assert page.status == 400 and "return_to" in page.text and "registered return URLs" in page.text, page.text
    assert await _signin_rows(connected) == []
    rows = await audit_rows(connected.container, connected.connection.id)
    assert not [r for r in rows if r["action"].startswith("signin.")]


async def test_start_by_tenant_domain_and_guid(connected: Connected) -> None:
    truth = connected.stack.entra.control.ground_truth(connected.tid, connected.connection.sync_group_id)
    uid = sorted(truth["users"])[4]
    for tenant in (connected.tenant["domains"][1], connected.tid):
        page = await connected.sign_in(uid, connection="", tenant=tenant)
        assert page.status == 0 and "code=" in page.url, page.text
    page = await connected.sign_in(uid, connection="", tenant="nowhere.example")
    assert page.status >= 400


async def test_user_consent_disabled_shows_the_remedy(connected: Connected) -> None:
    control = connected.stack.entra.control
    control.set_user_consent(connected.tid, "disabled")
    user = connected.new_user("Consentless", groups=[connected.connection.sync_group_id or ""])
    page = await connected.sign_in(user["id"])
    assert page.status == 403 and "An administrator must approve this app" in page.text
    assert "Grant admin consent" in page.text and "Permission classifications" in page.text
    await _refused(connected, page.status, page.text, "user_consent_disabled")
    assert await connected.user_row(user["id"]) is None
    # the remedy works: the administrator consents for the delegated permissions
    control.grant_delegated(
        connected.tid,
        connected.stack.app("multi_tenant")["client_id"],
        ["openid", "profile", "email", "User.ReadBasic.All"],
    )
    page = await connected.sign_in(user["id"])
    assert page.status == 0 and "code=" in page.url


async def test_an_app_not_consented_in_the_tenant_is_explained(connected: Connected) -> None:
    control = connected.stack.entra.control
    control.set_user_consent(connected.tid, "disabled")
    control.remove_service_principal(connected.tid, connected.stack.app("multi_tenant")["client_id"])
    try:
        user = connected.new_user("NoApp", groups=[connected.connection.sync_group_id or ""])
        page = await connected.sign_in(user["id"])
        assert page.status == 403 and "not set up in your organisation" in page.text
        await _refused(connected, page.status, page.text, "app_not_consented")
    finally:
        control.grant_consent(connected.tid, connected.stack.app("multi_tenant")["client_id"])


async def test_a_cancelled_sign_in_is_explained(connected: Connected) -> None:
    connected.stack.entra.control.set_consent_answer(connected.tid, "cancel")
    user = connected.new_user("Cancel", groups=[connected.connection.sync_group_id or ""])
    page = await connected.sign_in(user["id"])
    assert page.status == 400 and "cancelled" in page.text
    await _refused(connected, page.status, page.text, "cancelled")
    assert await connected.user_row(user["id"]) is None


def _rewrite(param: str, value: str | None = None, tenant: str | None = None) -> object:
    def rewrite(url: str) -> str:
        parts = urlsplit(url)
        if "/oauth2/v2.0/authorize" not in parts.path:
            return url
        query = dict(parse_qsl(parts.query))
        if value is not None:
            query[param] = value
        path = parts.path
        if tenant is not None:
            path = f"/{tenant}/oauth2/v2.0/authorize"
        return urlunsplit((parts.scheme, parts.netloc, path, urlencode(query), ""))

    return rewrite


async def _walk(connected: Connected, rewrite: object) -> tuple[int, str]:
    query = {"connection": connected.connection.id, "return_to": SIGNIN_RETURN_URL}
    walker = browser(connected.stack, rewrite=rewrite)
    page = await walker.open(f"{START}?{urlencode(query)}", stop_at=lambda u: u.startswith(SIGNIN_RETURN_URL))
    return page.status, page.text


async def test_an_account_of_another_tenant_is_refused(connected: Connected) -> None:
    other = connected.stack.entra.tenants[0]
    connected.stack.entra.control.sign_in_browser(other["id"], other["admin"]["id"])
    status, text = await _walk(connected, _rewrite("tenant", tenant=other["id"]))  # the address bar edited
    assert status == 403 and "Wrong organisation" in text, text
    await _refused(connected, status, text, "wrong_tenant")


async def test_a_mismatched_nonce_is_refused(connected: Connected) -> None:
    truth = connected.stack.entra.control.ground_truth(connected.tid, connected.connection.sync_group_id)
    connected.stack.entra.control.sign_in_browser(connected.tid, sorted(truth["users"])[5])
    status, text = await _walk(connected, _rewrite("nonce", "an-attackers-nonce-value-123456"))
    assert status == 400 and "could not be verified" in text, text
    await _refused(connected, status, text, "id_token_invalid")
    audit = await _last_callback_audit(connected)
    assert "nonce" in str(audit["detail"])


async def test_an_answer_in_another_browser_is_refused(connected: Connected) -> None:
    truth = connected.stack.entra.control.ground_truth(connected.tid, connected.connection.sync_group_id)
    connected.stack.entra.control.sign_in_browser(connected.tid, sorted(truth["users"])[6])
    query = {"connection": connected.connection.id, "return_to": SIGNIN_RETURN_URL}
    answer = await browser(connected.stack).open(
        f"{START}?{urlencode(query)}", stop_at=lambda u: "/signin/callback" in u
    )
    page = await browser(connected.stack).open(answer.url)  # a fresh browser: no binding cookie
    assert page.status == 400 and "another browser" in page.text
    assert (await _last_callback_audit(connected))["result"] == "wrong_browser"


async def test_an_expired_authorization_code_is_refused(connected: Connected) -> None:
    truth = connected.stack.entra.control.ground_truth(connected.tid, connected.connection.sync_group_id)
    connected.stack.entra.control.sign_in_browser(connected.tid, sorted(truth["users"])[7])
    query = {"connection": connected.connection.id, "return_to": SIGNIN_RETURN_URL}
    walker = browser(connected.stack)
    answer = await walker.open(f"{START}?{urlencode(query)}", stop_at=lambda u: "/signin/callback" in u)
    connected.stack.entra.control.advance_clock(601)  # Entra's codes live about 10 minutes
    page = await walker.open(answer.url, stop_at=lambda u: u.startswith(SIGNIN_RETURN_URL))
    assert page.status == 502 and "did not complete the sign-in" in page.text, page.text
    await _refused(connected, page.status, page.text, "signin_failed")
    assert "70008" in str((await _last_callback_audit(connected))["detail"])


async def test_a_connection_disabled_meanwhile_signs_nobody_in(connected: Connected) -> None:
    from shared.domain.connection import from_entity, to_entity
    from shared.storage_names import CONNECTIONS

    truth = connected.stack.entra.control.ground_truth(connected.tid, connected.connection.sync_group_id)
    connected.stack.entra.control.sign_in_browser(connected.tid, sorted(truth["users"])[8])
    query = {"connection": connected.connection.id, "return_to": SIGNIN_RETURN_URL}
    walker = browser(connected.stack)
    answer = await walker.open(f"{START}?{urlencode(query)}", stop_at=lambda u: "/signin/callback" in u)
    tables = connected.container.tables()
    row = await tables.get(CONNECTIONS, "connection", connected.connection.id)
    assert row is not None
    disabled = from_entity(row).with_changes(state="disabled", state_reason="disabled by the operator")
    await tables.update_if_match(CONNECTIONS, to_entity(disabled), row.metadata["etag"])
    page = await walker.open(answer.url, stop_at=lambda u: u.startswith(SIGNIN_RETURN_URL))
    assert page.status == 403 and "not connected" in page.text
    await _refused(connected, page.status, page.text, "not_connected")
    again = await connected.sign_in(sorted(truth["users"])[8])
    assert again.status == 400 and "not active" in again.text


async def test_the_consent_callback_refuses_a_sign_in_state(connected: Connected) -> None:
    from tests.integration.connections.consent_helpers import callback

    query = {"connection": connected.connection.id, "return_to": SIGNIN_RETURN_URL}
    answer = await browser(connected.stack).open(
        f"{START}?{urlencode(query)}", stop_at=lambda u: "/signin/callback" in u
    )
    state = dict(parse_qsl(urlsplit(answer.url).query))["state"]
    status, text, _ = await callback({"state": state, "admin_consent": "True", "tenant": connected.tid})
    assert status == 400 and "Connected" not in text
