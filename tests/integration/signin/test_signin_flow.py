"""End-user sign-in end to end over HTTP (scripted browser, real MSAL, the Entra emulator, Azurite): a first
sign-in creates the user just in time with its groups and events, a stored user signs in as stored, the hand-off
code works once, and the next incremental sync writes nothing for a user the sign-in created."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit

import pytest

from shared.storage_names import CONSENT_STATES
from tests.integration.connections.conftest import call, request
from tests.integration.connections.consent_helpers import audit_rows, remember_browser_secrets
from tests.integration.signin.conftest import HANDOFF_CODES, Connected


@pytest.fixture(autouse=True)
def _collect_browser_secrets() -> Iterator[None]:
    yield
    remember_browser_secrets()


def code_of(url: str) -> str:
    code = dict(parse_qsl(urlsplit(url).query))["code"]
    HANDOFF_CODES.add(code)
    return code


async def exchange(code: str) -> tuple[int, dict[str, object]]:
    status, body, _ = await call("signin_exchange", request("POST", "signin/exchange", {"code": code}))
    return status, body


async def test_first_sign_in_creates_the_user_just_in_time_and_the_next_delta_writes_nothing(
    connected: Connected,
) -> None:
    control = connected.stack.entra.control
    nested = control.create_group(connected.tid, "Signin nested team")
    assert control.add_member(connected.tid, connected.connection.sync_group_id, nested["id"])
    user = connected.new_user("Jit", groups=[nested["id"]])
    assert await connected.user_row(user["id"]) is None

    page = await connected.sign_in(user["id"])
    assert page.status == 0, page.text
    status, identity = await exchange(code_of(page.url))
    assert status == 200, identity
    assert identity["tenant_id"] == connected.tid and identity["object_id"] == user["id"]
    assert identity["user_principal_name"] == user["userPrincipalName"]
    assert identity["mail"] == user["userPrincipalName"] and identity["display_name"] == "Jit Signin"
    assert identity["groups"] == [{"id": nested["id"], "display_name": "Signin nested team"}]
    row = await connected.user_row(user["id"])
    assert row is not None and row["status"] == "active" and row["in_scope"] is True

    events = [e for e in await connected.events() if e["object_id"] in (user["id"], nested["id"])]
    kinds = [e["type"] for e in events]
    assert kinds == ["group.created", "membership.added", "user.created", "user.signed_in"], kinds
    assert events[1]["group_id"] == nested["id"]
    rows = await audit_rows(connected.container, connected.connection.id)
    ok = [r for r in rows if r["action"] == "signin.callback" and r["result"] == "ok"]
    assert ok and "created just in time" in ok[0]["detail"] and ok[0]["who"] == f"user {user['id']}"

    result = await connected.sync("incremental")
    assert result.outcome == "succeeded", result
    later = [e for e in await connected.events() if e["object_id"] in (user["id"], nested["id"])]
    assert later == [], later  # the delta shows the new user and its link: both already stored
    assert await connected.user_row(user["id"]) == row  # not rewritten either


async def test_a_stored_user_signs_in_as_stored(connected: Connected) -> None:
    truth = connected.stack.entra.control.ground_truth(connected.tid, connected.connection.sync_group_id)
    uid = sorted(truth["users"])[0]
    before = await connected.user_row(uid)
    assert before is not None
    page = await connected.sign_in(uid)
    assert page.status == 0, page.text
    status, identity = await exchange(code_of(page.url))
    assert status == 200 and identity["object_id"] == uid
    assert identity["display_name"] == before["displayName"]
    assert {g["id"] for g in identity["groups"]} == {gid for gid, member in truth["memberships"] if member == uid}  # type: ignore[union-attr]
    assert [e["type"] for e in await connected.events()] == ["user.signed_in"]
    assert (await connected.user_row(uid) or {})["hash"] == before["hash"]


async def test_the_hand_off_code_works_once_and_not_after_it_expired(connected: Connected) -> None:
    truth = connected.stack.entra.control.ground_truth(connected.tid, connected.connection.sync_group_id)
    uid = sorted(truth["users"])[1]
    code = code_of((await connected.sign_in(uid)).url)
    assert (await exchange(code))[0] == 200
    status, replay = await exchange(code)
    assert status == 400 and replay["code"] == "validation_error" and "code" in replay["problems"], replay
    assert code not in str(replay)

    late = code_of((await connected.sign_in(uid)).url)
    tables = connected.container.tables()
    stored = [r async for r in tables.query(CONSENT_STATES, "PartitionKey eq @p", {"p": "handoff"})]
    assert stored and all(late not in str(dict(r)) for r in stored)  # only the hash is stored
    for row in stored:
        await tables.upsert(CONSENT_STATES, {**row, "expires_at": 1})  # as if 60 seconds had gone by
    assert (await exchange(late))[0] == 400
    for bad in ("", "x" * 43, "not a code"):
        status, body = await exchange(bad)
        assert status == 400 and body["code"] == "validation_error"


async def test_a_replayed_answer_is_refused(connected: Connected) -> None:
    truth = connected.stack.entra.control.ground_truth(connected.tid, connected.connection.sync_group_id)
    uid = sorted(truth["users"])[2]
    connected.stack.entra.control.sign_in_browser(connected.tid, uid)
    from emulators.stack import SIGNIN_RETURN_URL
    from tests.integration.connections.consent_helpers import browser
    from tests.integration.signin.conftest import START

    walker = browser(connected.stack)
    start = f"{START}?connection={connected.connection.id}&return_to={SIGNIN_RETURN_URL}"
    answer = await walker.open(start, stop_at=lambda u: "/api/signin/callback" in u)
    assert answer.status == 0
    first = await walker.open(answer.url, stop_at=lambda u: u.startswith(SIGNIN_RETURN_URL))
    assert first.status == 0 and "code=" in first.url
    code_of(first.url)
    again = await walker.open(answer.url, stop_at=lambda u: u.startswith(SIGNIN_RETURN_URL))
    assert again.status == 400, again.text  # the state was used up (and its browser cookie cleared)


async def test_the_groups_claim_and_its_overage_form_are_handled(connected: Connected) -> None:
    """The exchange's groups come from the directory copy whatever the ID token says; the token's form is reported."""
    control = connected.stack.entra.control
    operator = connected.stack.app("multi_tenant")
    user = connected.new_user("Groupy", groups=[connected.connection.sync_group_id or ""])
    control.set_group_membership_claims(operator["client_id"], "All")
    try:
        status, identity = await exchange(code_of((await connected.sign_in(user["id"])).url))
        assert status == 200 and identity["groups_claim"] == "listed"
        assert identity["groups"] == [
            {"id": connected.connection.sync_group_id, "display_name": "Connector Sync Scope"}
        ]
        for n in range(201):
            control.add_member(connected.tid, control.create_group(connected.tid, f"Overage {n}")["id"], user["id"])
        status, identity = await exchange(code_of((await connected.sign_in(user["id"])).url))
        assert status == 200 and identity["groups_claim"] == "overage"
        assert [g["id"] for g in identity["groups"]] == [connected.connection.sync_group_id]  # the copy, unchanged
    finally:
        control.set_group_membership_claims(operator["client_id"], operator["group_membership_claims"])
