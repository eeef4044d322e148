"""Consent by invitation: an operator's signed, expiring, revocable link that needs no function key starts the same
admin-consent flow; it is used up when the flow activates the connection; forged, junk-appended, expired, revoked
and used links get a fixed page and change nothing."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import azure.functions as func
import pytest

from emulators.stack import LocalStack
from shared.client_pool import ClientPool
from shared.composition import Container
from shared.config import load_settings
from shared.domain.invitation import INVITE_PARTITION
from shared.services.invitations import open_invitation
from shared.storage_names import AUDIT, CONSENT_STATES
from tests.integration.connections.conftest import call, request
from tests.integration.connections.consent_helpers import (
    audit_rows,
    browser,
    create_admin_consent,
    recording_invoke,
    remember_browser_secrets,
    stored,
)

INVITE = "http://localhost:7071/api/consent/invite/"


@pytest.fixture(autouse=True)
def _collect_browser_secrets() -> Iterator[None]:
    yield
    remember_browser_secrets()


async def invite(connection_id: str, body: Any = None) -> tuple[int, Any]:
    status, answer, _ = await call(
        "invitations_create", request("POST", "x/invitations", body, route={"id": connection_id})
    )
    return status, answer


async def open_link(url: str) -> tuple[int, str, Any]:
    """The administrator's browser opens the link: anonymous, no key, the token only in the path."""
    assert url.startswith(INVITE)
    token = url.removeprefix(INVITE)
    req = func.HttpRequest("GET", url, params={}, headers={}, body=b"", route_params={"token": token})
    response = await recording_invoke("consent_invite", req)
    return response.status_code, response.get_body().decode("utf-8", "replace"), response


async def consent_rows(container: Container, connection_id: str) -> list[dict[str, Any]]:
    rows = container.tables().query(CONSENT_STATES, "connection_id eq @c", {"c": connection_id})
    return [dict(r) async for r in rows]


async def invitation_row(container: Container, invitation_id: str) -> dict[str, Any]:
    row = await container.tables().get(CONSENT_STATES, INVITE_PARTITION, invitation_id)
    assert row is not None
    return dict(row)


async def test_an_invitation_walks_both_legs_activates_and_is_used_up(
    stack: LocalStack, container: Container, tenant: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    created = await create_admin_consent(tenant)
    status, made = await invite(created["id"])
    assert status == 201, made
    assert set(made) == {"id", "connection_id", "url", "expires_at"} and made["connection_id"] == created["id"]
    row = await invitation_row(container, made["id"])
    assert row["state"] == "open" and row["connection_id"] == created["id"]
    assert 7 * 86400 - 60 < row["expires_at"] - time.time() <= 7 * 86400  # the default: seven days
    status, _, response = await open_link(made["url"])
    assert status == 302
    location = response.headers["Location"]
    assert location.startswith(f"{stack.entra.login_url}/{tenant['id']}/v2.0/adminconsent?")
    page = await browser(stack).open(location)
    assert page.status == 200 and "Connected" in page.text, page.text
    connection = await stored(container, created["id"])
    assert connection is not None and connection["state"] == "active"
    assert (await invitation_row(container, made["id"]))["state"] == "used"
    actions = [(r["action"], r["result"]) for r in await audit_rows(container, created["id"])]
    assert ("consent.invite", "ok") in actions and ("consent.invite_used", "ok") in actions
    status, text, _ = await open_link(made["url"])  # reopening a used one
    assert status == 410 and "already used" in text
    assert not [r for r in await consent_rows(container, created["id"]) if r["PartitionKey"] == "state"]
    token = made["url"].removeprefix(INVITE)
    mac = token.split(".")[1]
    stored_text = [str(dict(r)) async for r in container.tables().query(CONSENT_STATES)]
    stored_text += [str(dict(r)) async for r in container.tables().query(AUDIT)]
    logged = [r.getMessage() for r in caplog.records]
    for text in (*stored_text, *logged, page.text):
        assert token not in text and mac not in text


async def test_revoked_expired_forged_and_junk_links_get_a_page_and_change_nothing(
    container: Container, tenant: dict[str, Any]
) -> None:
    created = await create_admin_consent(tenant)
    _, revoked = await invite(created["id"], {"expires_in_days": 30})
    _, expired = await invite(created["id"], {"expires_in_days": 1})
    status, answer, _ = await call(
        "invitations_revoke",
        request("DELETE", "x", route={"id": created["id"], "invitationId": revoked["id"]}),
    )
    assert status == 200 and answer["state"] == "revoked"
    row = await invitation_row(container, expired["id"])
    await container.tables().upsert(CONSENT_STATES, {**row, "expires_at": int(time.time()) - 1})
    good_token = expired["url"].removeprefix(INVITE)
    forged = [
        INVITE + revoked["id"] + "." + "A" * 43,  # a real id, a made-up MAC
        INVITE + good_token + "A",
        INVITE + good_token + "==",
        INVITE + good_token + ".",
        INVITE + "junk",
        INVITE + "",
    ]
    before_states = await consent_rows(container, created["id"])
    before_audit = await audit_rows(container, created["id"])
    for url in forged:
        status, text, _ = await open_link(url)
        assert status == 400 and "not valid" in text, (url, text)
    assert await audit_rows(container, created["id"]) == before_audit  # forged links name no connection
    for made, words in ((revoked, "withdrawn"), (expired, "expired")):
        status, text, _ = await open_link(made["url"])
        assert status == 410 and words in text, text
        assert made["url"].removeprefix(INVITE) not in text
    assert await consent_rows(container, created["id"]) == before_states  # no consent state was issued
    connection = await stored(container, created["id"])
    assert connection is not None and connection["state"] == "pending_consent"


async def test_expiry_outside_one_to_thirty_days_is_refused_and_makes_nothing(
    container: Container, tenant: dict[str, Any]
) -> None:
    created = await create_admin_consent(tenant)
    for body in ({"expires_in_days": 0}, {"expires_in_days": 31}, {"expires_in_days": "7"}, {"days": 3}):
        status, answer = await invite(created["id"], body)
        assert status == 400 and answer["code"] == "validation_error", answer
        assert answer["problems"], answer
    assert (await invite(created["id"], {"expires_in_days": 0}))[1]["problems"] == {
        "expires_in_days": "must be a whole number of days from 1 to 30"
    }
    assert not await consent_rows(container, created["id"])
    assert "consent.invite" not in {r["action"] for r in await audit_rows(container, created["id"])}


async def test_revoking_twice_is_the_same_and_a_used_or_foreign_invitation_is_refused(
    container: Container, tenant: dict[str, Any]
) -> None:
    created = await create_admin_consent(tenant)
    other = await create_admin_consent(
        tenant, allow_second_connection=True, features={"sync": True, "rotation": False}, rotation_group_id=None
    )
    _, made = await invite(created["id"])
    route = {"id": created["id"], "invitationId": made["id"]}
    for _ in range(2):
        status, answer, _ = await call("invitations_revoke", request("DELETE", "x", route=route))
        assert status == 200 and answer["state"] == "revoked"
    assert [r["action"] for r in await audit_rows(container, created["id"])].count("consent.invite_revoke") == 1
    status, _, _ = await call("invitations_revoke", request("DELETE", "x", route={**route, "id": other["id"]}))
    assert status == 404
    status, _, _ = await call("invitations_revoke", request("DELETE", "x", route={**route, "invitationId": "nope"}))
    assert status == 404
    _, used = await invite(created["id"])
    row = await invitation_row(container, used["id"])
    await container.tables().upsert(CONSENT_STATES, {**row, "state": "used"})
    status, answer, _ = await call(
        "invitations_revoke", request("DELETE", "x", route={"id": created["id"], "invitationId": used["id"]})
    )
    assert status == 409, answer


async def test_a_bad_shape_token_is_refused_without_reading_key_vault(
    stack: LocalStack, stack_env: dict[str, str]
) -> None:
    async with Container(load_settings(stack_env), pool=ClientPool()) as worker:  # a fresh worker: nothing cached
        try:
            before = stack.keyvault.control.counters().get("requests", 0)
            for bad in (None, "", "abc", "x" * 600, "A" * 22 + "." + "A" * 42, "A" * 22 + "." + "A" * 43 + "!"):
                assert await open_invitation(worker, bad) == ("invite_invalid", None)
            assert stack.keyvault.control.counters().get("requests", 0) == before
            assert await open_invitation(worker, "A" * 22 + "." + "A" * 43) == ("invite_invalid", None)
            assert stack.keyvault.control.counters().get("requests", 0) > before  # a well-shaped one needs the key
        finally:
            await worker.pool.close()
