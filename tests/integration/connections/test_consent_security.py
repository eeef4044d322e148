"""The consent callback proves the tenant in this flow: what an attacker holding a valid state cannot do, single use
under concurrency, one signing key for racing workers, disabled connections, fixed texts, strict states."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import azure.functions as func
import pytest

from emulators.stack import LocalStack
from shared.client_pool import ClientPool
from shared.composition import Container
from shared.config import load_settings
from shared.domain.connection import from_entity, to_entity
from shared.domain.secret_names import consent_signing_key_ref
from shared.services.consent import handle_callback
from shared.storage_names import CONNECTIONS, CONSENT_STATES
from tests.functions.invoke import call_http
from tests.integration.connections.conftest import call, request
from tests.integration.connections.consent_helpers import (
    CALLBACK,
    audit_rows,
    browser,
    callback,
    create_admin_consent,
    query_of,
    remember_browser_secrets,
    start_consent,
    state_of,
    stored,
)


@pytest.fixture(autouse=True)
def _collect_browser_secrets() -> Iterator[None]:
    yield
    remember_browser_secrets()


@pytest.fixture
async def preconsented(stack: LocalStack, container: Container, tenant: dict[str, Any]) -> AsyncIterator[str]:
    """The operator app already consented in the tenant (by someone, some time ago): app-only tokens work there."""
    operator = stack.app("multi_tenant")
    stack.entra.control.grant_consent(tenant["id"], operator["client_id"])
    yield operator["client_id"]
    stack.entra.control.sign_out_browser()


def results(rows: list[dict[str, Any]], action: str = "consent.callback") -> list[str]:
    return [r["result"] for r in rows if r["action"] == action]


def with_query(url: str, **extra: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=urlencode({**dict(parse_qsl(parts.query)), **extra})))


async def test_a_valid_state_alone_does_not_activate_an_already_consented_tenant(
    container: Container, tenant: dict[str, Any], preconsented: str
) -> None:
    created = await create_admin_consent(tenant)
    for given in ({"admin_consent": "False"}, {}, {"admin_consent": "true "}):
        state = state_of(await start_consent(created["id"]))
        status, page, _ = await callback({**given, "tenant": tenant["id"], "state": state})
        assert status == 400, page
        assert "was not granted" in page
    row = await stored(container, created["id"])
    assert row is not None and row["state"] == "pending_consent" and not row["consented_at"]
    assert results(await audit_rows(container, created["id"])).count("not_granted") == 3


async def test_admin_consent_without_the_sign_in_leg_activates_nothing(
    stack: LocalStack, container: Container, tenant: dict[str, Any], preconsented: str
) -> None:
    created = await create_admin_consent(tenant)
    state = state_of(await start_consent(created["id"]))
    status, page, response = await callback({"admin_consent": "True", "tenant": tenant["id"], "state": state})
    assert status == 302, page  # on to the tenant's sign-in: consent alone proves nothing
    location = response.headers["Location"]
    assert location.startswith(f"{stack.entra.login_url}/{tenant['id']}/oauth2/v2.0/authorize?")
    authorize = query_of(location)
    assert authorize["response_type"] == "code" and authorize["scope"] == "openid profile"
    assert authorize["code_challenge_method"] == "S256" and authorize["nonce"] and authorize["prompt"]
    assert authorize["redirect_uri"] == CALLBACK and authorize["state"] != state
    row = await stored(container, created["id"])
    assert row is not None and row["state"] == "pending_consent"
    # The sign-in leg never happens; a made-up answer (no code) and the consent state again are both refused.
    status, page, _ = await callback({"state": authorize["state"]}, cookies=_cookies(response))
    assert status == 400 and "did not sign in" in page
    status, page, _ = await callback({"admin_consent": "True", "tenant": tenant["id"], "state": state})
    assert status == 400 and "already used" in page
    row = await stored(container, created["id"])
    assert row is not None and row["state"] == "pending_consent" and not row["consented_at"]


def _cookies(response: func.HttpResponse) -> dict[str, str]:
    header = response.headers.get("Set-Cookie", "")
    name, value = header.split(";", 1)[0].split("=", 1)
    return {name: value}


async def _forge_consent_then_sign_in(stack: LocalStack, tenant: dict[str, Any], created: dict[str, Any], **kw: Any):
    """An attacker's path: skip the consent page (the app is consented already), then sign in as someone."""
    state = state_of(await start_consent(created["id"]))
    forged = f"{CALLBACK}?{urlencode({'admin_consent': 'True', 'tenant': tenant['id'], 'state': state})}"
    return await browser(stack, **kw).open(forged)


async def test_a_signed_in_non_admin_of_the_tenant_is_refused(
    stack: LocalStack, container: Container, tenant: dict[str, Any], preconsented: str
) -> None:
    user = stack.entra.control.create_user(tenant["id"], "Nora", "Nonadmin")
    created = await create_admin_consent(tenant)
    page = await _forge_consent_then_sign_in(
        stack, tenant, created, rewrite=lambda url: with_query(url, login_hint=user["userPrincipalName"])
    )
    assert page.status == 403, page.text
    assert "Global Administrator" in page.text and "Privileged Role Administrator" in page.text
    row = await stored(container, created["id"])
    assert row is not None and row["state"] == "pending_consent" and not row["consented_at"]
    assert "not_admin" in results(await audit_rows(container, created["id"]), "consent.signin")


async def test_a_global_administrator_of_another_tenant_is_refused(
    stack: LocalStack, container: Container, tenant: dict[str, Any], preconsented: str
) -> None:
    other_admin = stack.entra.tenants[0]["admin"]["user_principal_name"]
    created = await create_admin_consent(tenant)

    def elsewhere(url: str) -> str:  # the attacker edits the sign-in address: any organization, their own admin
        return with_query(url.replace(f"/{tenant['id']}/oauth2/", "/organizations/oauth2/"), login_hint=other_admin)

    page = await _forge_consent_then_sign_in(stack, tenant, created, rewrite=elsewhere)
    assert page.status == 400, page.text
    row = await stored(container, created["id"])
    assert row is not None and row["state"] == "pending_consent" and not row["consented_at"]
    assert set(results(await audit_rows(container, created["id"]), "consent.signin")) <= {
        "signin_failed",
        "tenant_mismatch",
    }
    # Signing in at the tenant's own address with the other tenant's admin fails at Entra (AADSTS50020).
    page = await _forge_consent_then_sign_in(
        stack, tenant, created, rewrite=lambda url: with_query(url, login_hint=other_admin)
    )
    assert page.status == 400 and "AADSTS50020" in page.text and page.url.startswith(stack.entra.login_url)


async def test_sixteen_parallel_callbacks_for_one_state_exactly_one_wins(
    stack: LocalStack, container: Container, tenant: dict[str, Any]
) -> None:
    created = await create_admin_consent(tenant)
    page = await browser(stack).open(await start_consent(created["id"]), stop_at=lambda u: u.startswith(CALLBACK))
    consent_answer = query_of(page.url)
    first = await asyncio.gather(*(callback(consent_answer) for _ in range(16)))
    winners = [r for r in first if "already used" not in r[1]]
    assert len(winners) == 1, [r[0] for r in first]
    assert winners[0][0] == 302
    cookies = _cookies(winners[0][2])
    signin = await browser(stack).open(winners[0][2].headers["Location"], stop_at=lambda u: u.startswith(CALLBACK))
    second = await asyncio.gather(*(callback(query_of(signin.url), cookies) for _ in range(16)))
    connected = [r for r in second if "already used" not in r[1]]
    assert len(connected) == 1 and connected[0][0] == 200 and "Connected" in connected[0][1]
    row = await stored(container, created["id"])
    assert row is not None and row["state"] == "active"


def _in_a_fresh_worker(name: str, req: func.HttpRequest) -> Any:
    """Run a function on its own loop in a thread: a worker with nothing cached (its own client pool)."""
    return asyncio.to_thread(call_http, name, req)


def _start_request(connection_id: str) -> func.HttpRequest:
    params = {"connection": connection_id}
    url = f"http://localhost:7071/api/consent/start?{urlencode(params)}"
    return func.HttpRequest("GET", url, params=params, headers={}, body=b"", route_params={})


async def test_two_concurrent_first_consent_links_both_work(
    stack: LocalStack, container: Container, tenant: dict[str, Any]
) -> None:
    name = consent_signing_key_ref().name
    created = await create_admin_consent(tenant)
    await start_consent(created["id"])  # the key exists; remember it to put it back afterwards
    record = await container.tables().get(CONSENT_STATES, "signing-key", "current")
    old = await container.secrets().get(name, record["version"] if record else None)
    try:
        await container.secrets().delete(name)
        await container.secrets().purge(name)
        await container.tables().delete(CONSENT_STATES, "signing-key", "current")
        two_workers = (_in_a_fresh_worker("consent_start", _start_request(created["id"])) for _ in (1, 2))
        answers = await asyncio.gather(*two_workers)
        links = [a.headers["Location"] for a in answers]
        assert all(a.status_code == 302 for a in answers) and links[0] != links[1]
        for link in links:
            page = await browser(stack, invoke=_in_a_fresh_worker).open(link)
            assert page.status == 200 and "Connected" in page.text, page.text
    finally:
        await container.secrets().delete(name)
        await container.secrets().purge(name)
        restored = await container.secrets().set(name, old.value, tags=consent_signing_key_ref().with_tags())
        await container.tables().upsert(
            CONSENT_STATES, {"PartitionKey": "signing-key", "RowKey": "current", "version": restored.version}
        )


async def test_a_connection_disabled_since_the_link_was_made_is_not_reactivated(
    stack: LocalStack, container: Container, tenant: dict[str, Any]
) -> None:
    created = await create_admin_consent(tenant)
    link = await start_consent(created["id"])
    row = await container.tables().get(CONNECTIONS, "connection", created["id"])
    disabled = from_entity(row).with_changes(state="disabled", state_reason="disabled by the operator")
    await container.tables().update_if_match(CONNECTIONS, to_entity(disabled), row.metadata["etag"])
    page = await browser(stack).open(link)
    assert page.status == 409 and "disabled" in page.text
    after = await stored(container, created["id"])
    assert after is not None and after["state"] == "disabled" and not after["consented_at"]
    assert "disabled" in results(await audit_rows(container, created["id"]))
    status, body, _ = await call("consent_start", request("GET", "consent/start", params={"connection": created["id"]}))
    assert status == 400 and body["problems"] == {"connection": "is disabled: enable it before connecting it again"}


@pytest.mark.parametrize("error", ["server_error", "access_denied", "invalid_request", "temporarily_unavailable"])
async def test_error_description_from_the_query_is_never_shown(
    container: Container, tenant: dict[str, Any], error: str
) -> None:
    created = await create_admin_consent(tenant)
    state = state_of(await start_consent(created["id"]))
    spoof = "Your tenant is locked. Call +1-800-555-0100 or visit https://evil.example/unlock"
    status, page, _ = await callback({"error": error, "error_description": spoof, "state": state})
    assert status < 500
    assert "evil.example" not in page and "555-0100" not in page and "locked" not in page
    assert error not in page or error == "access_denied"  # the code itself is not echoed either (fixed texts only)


async def test_junk_after_the_mac_is_refused_and_uses_nothing_up(
    stack: LocalStack, container: Container, tenant: dict[str, Any]
) -> None:
    created = await create_admin_consent(tenant)
    link = await start_consent(created["id"])
    page = await browser(stack).open(link, stop_at=lambda u: u.startswith(CALLBACK))
    answer = query_of(page.url)
    for junk in ("!!", "==", "%00", " ", ".", "A"):
        status, text, _ = await callback({**answer, "state": answer["state"] + junk})
        assert status == 400 and "not valid" in text, (junk, text)
    status, text, _ = await callback(answer)  # the untouched state still works: the junk used nothing up
    assert status in (200, 302), text


async def test_a_bad_shape_state_is_refused_without_reading_key_vault(
    stack: LocalStack, stack_env: dict[str, str], tenant: dict[str, Any]
) -> None:
    async with Container(load_settings(stack_env), pool=ClientPool()) as worker:  # a fresh worker: nothing cached
        try:
            before = stack.keyvault.control.counters().get("requests", 0)
            for bad in ("", "abc", "a.b.c", "x" * 600, "!!.??", "e30.AAAA", "e30." + "A" * 43 + "!"):
                result = await handle_callback(worker, {"state": bad, "admin_consent": "True"})
                assert result.status == 400 and result.outcome == "bad_state"
            assert stack.keyvault.control.counters().get("requests", 0) == before
            raw = (
                b'{"c":"00000000-0000-4000-8000-000000000000","n":"nnnnnnnnnnnnnnnnnnnn","e":9999999999,"l":"consent"}'
            )
            forged = base64.urlsafe_b64encode(raw).decode().rstrip("=")  # the right shape, a made-up MAC
            result = await handle_callback(worker, {"state": f"{forged}.{'A' * 43}"})
            assert result.outcome == "bad_state"
            read_once = stack.keyvault.control.counters().get("requests", 0)
            assert read_once > before  # a well-shaped state needs the key: the counter does see Key Vault reads
            await handle_callback(worker, {"state": f"{forged}.{'B' * 43}"})
            assert stack.keyvault.control.counters().get("requests", 0) == read_once  # cached for the worker's life
        finally:
            await worker.pool.close()


@pytest.mark.parametrize(("decision", "error"), [("decline", "consent_required"), ("cancel", "access_denied")])
async def test_decline_and_cancel_are_shown_and_audited_as_declined(
    stack: LocalStack, container: Container, tenant: dict[str, Any], decision: str, error: str
) -> None:
    created = await create_admin_consent(tenant)
    stack.entra.control.set_consent_decision(tenant["id"], decision)
    link = await start_consent(created["id"])
    answer = query_of((await browser(stack).open(link, stop_at=lambda u: u.startswith(CALLBACK))).url)
    assert answer["error"] == error and answer["error_description"].startswith("AADSTS65004")
    status, page, _ = await callback(answer)
    assert status == 200 and "declined" in page
    row = await stored(container, created["id"])
    assert row is not None and row["state"] == "pending_consent"
    assert results(await audit_rows(container, created["id"])) == ["declined"]


async def test_without_wids_in_the_id_token_the_remedy_is_named(
    stack: LocalStack, container: Container, tenant: dict[str, Any]
) -> None:
    operator = stack.app("multi_tenant")["client_id"]
    created = await create_admin_consent(tenant)
    stack.entra.control.set_group_membership_claims(operator, "None")
    try:
        page = await browser(stack).open(await start_consent(created["id"]))
    finally:
        stack.entra.control.set_group_membership_claims(operator, "DirectoryRole")
    assert page.status == 403 and "groupMembershipClaims" in page.text and "DirectoryRole" in page.text
    row = await stored(container, created["id"])
    assert row is not None and row["state"] == "pending_consent"
    assert "roles_missing" in results(await audit_rows(container, created["id"]), "consent.signin")
