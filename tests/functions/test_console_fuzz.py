"""Fuzzed console forms (hypothesis), posted by a signed-in Admin with the CSRF token: never a 5xx, a refused form
(4xx) changes nothing (connection rows, audit log, consent states, the connection's sync state), and no page shows
the client secret or certificate that was typed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulators.stack import LocalStack
from shared import storage_names as names
from shared.composition import Container
from shared.config import load_settings
from tests.functions.console_client import ADMIN_ROLES, Browser, sign_in
from tests.functions.invoke import create_customer_connection

T = TypeVar("T")
FUZZ = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SECRET = "Fz~s3cret-value-never-shown"  # a made-up value the fuzz types into the secret fields
PEM = (
    "-----BEGIN CERTIFICATE-----\nMIIfuzz\n-----END CERTIFICATE-----\n"
    "-----BEGIN PRIVATE KEY-----\nMIIkey\n-----END PRIVATE KEY-----"
)
CREATE_FIELDS = (
    "display_name",
    "tenant",
    "cloud",
    "credential_mode",
    "client_id",
    "credential_kind",
    "credential_expires_on",
    "sync_group_id",
)
SETTINGS_FIELDS = (
    "display_name",
    "sync_enabled",
    "sync_group_id",
    "removal_behaviour",
    "deletion_threshold",
    "deletion_threshold_percent",
    "frequency",
    "weekdays",
    "time_of_day",
    "timezone",
    "user_defaults",
    "rotation_enabled",
    "rotation_group_id",
    "rotation_interval_days",
    "credential_kind",
    "credential_expires_on",
)
LIKELY = [
    "",
    "x",
    "weekly",
    "daily",
    "mon",
    "sun",
    "99:99",
    "05:30",
    "Europe/Paris",
    "Mars/Olympus",
    "delete",
    "keep",
    "customer_app",
    "admin_consent",
    "global",
    "certificate",
    "secret",
    "on",
    "-1",
    "0",
    "7",
    "101",
    "99999999999999",
    "2027-01-31",
    "not-a-date",
    "6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f",
    "contoso.onmicrosoft.com",
    "a = b\nbad line",
    "sso_enabled = true",
    "<script>alert(1)</script>",
    "x" * 300,
    "\x00\x01",
    "../../etc",
]
values = st.one_of(st.sampled_from(LIKELY), st.text(max_size=40))


def run(coro: Coroutine[Any, Any, T]) -> T:
    async def inner() -> T:
        from shared.client_pool import close_pool

        try:
            return await coro
        finally:
            await close_pool()

    return asyncio.run(inner())


def form_of(names_: tuple[str, ...]) -> st.SearchStrategy[list[tuple[str, str]]]:
    pair = st.tuples(st.sampled_from([*names_, "junk_field", "csrf"]), values)
    secret = st.sampled_from([[], [("client_secret", SECRET)], [("certificate", PEM)]])
    return st.tuples(st.lists(pair, max_size=12), secret).map(lambda t: t[0] + t[1])


async def snapshot(env: dict[str, str], cid: str) -> dict[str, Any]:
    def rows(found: list[Any]) -> list[str]:
        return sorted(json.dumps({k: v for k, v in dict(r).items() if k != "Timestamp"}, default=str) for r in found)

    async with Container(load_settings(env)) as c:
        t = c.tables()
        return {
            "connections": rows([r async for r in t.query(names.CONNECTIONS)]),
            "audit": len([r async for r in t.query(names.AUDIT, "PartitionKey eq @pk", {"pk": "all"})]),
            "consent": len(
                [r async for r in t.query(names.CONSENT_STATES, "PartitionKey ne @pk", {"pk": "console-session"})]
            ),
            "sync": rows([r async for r in t.query(names.SYNC_STATE, "PartitionKey eq @pk", {"pk": cid})]),
            "agents": rows([r async for r in t.query(names.AGENTS, "connection_id eq @cid", {"cid": cid})]),
        }


@pytest.fixture
def target(stack: LocalStack, stack_env: dict[str, str]) -> tuple[str, Browser]:
    cid = run(create_customer_connection(stack, "Fuzzed console"))
    return cid, run(sign_in(stack_env, "Fuzz Admin", ADMIN_ROLES))


ACTIONS = [
    ("console_create", "/api/console/connections", CREATE_FIELDS, False),
    ("console_settings_save", "settings", SETTINGS_FIELDS, True),
    ("console_sync", "sync", ("mode",), True),
    ("console_approve", "approve", ("confirm",), True),
    ("console_delete", "delete", ("confirm_name", "purge"), True),
    ("console_agent_code", "agents/codes", ("expires_in_minutes",), True),
    ("console_ad_sync", "agents/sync", ("mode", "dry_run"), True),
    ("console_ad_rotate", "agents/rotate", ("confirm_rotation",), True),
]


@pytest.mark.parametrize(("name", "path", "fields", "per_connection"), ACTIONS, ids=[a[0] for a in ACTIONS])
def test_fuzzed_forms_get_clear_answers_and_refusals_change_nothing(
    name: str,
    path: str,
    fields: tuple[str, ...],
    per_connection: bool,
    target: tuple[str, Browser],
    stack_env: dict[str, str],
    stack: LocalStack,
) -> None:
    cid, admin = target
    url = f"/api/console/connections/{cid}/{path}" if per_connection else path
    route = {"id": cid} if per_connection else {}
    real_secret = stack.app("customer")["client_secret"]

    @FUZZ
    @given(form=form_of(fields))
    def one(form: list[tuple[str, str]]) -> None:
        if name == "console_delete":  # the fuzz never types the connection's name, so the delete is refused
            form = [(k, v) for k, v in form if k != "confirm_name" or v != "Fuzzed console"]
        before = run(snapshot(stack_env, cid))
        answer = run(admin.post(name, url, route, form))
        assert answer.status < 500, (name, form, answer.text[:400])
        assert SECRET not in answer.text and "MIIkey" not in answer.text and real_secret not in answer.text
        if answer.status >= 400:
            assert run(snapshot(stack_env, cid)) == before, ("a refused form changed something", name, form)

    one()


def test_raw_bodies_are_refused_as_a_bad_form(target: tuple[str, Browser], stack_env: dict[str, str]) -> None:
    cid, admin = target
    before = run(snapshot(stack_env, cid))
    for raw in (b"\xff\xfe", b"a=%zz&" * 10, b"f=1&" * 300):
        answer = run(admin.post("console_sync", f"/api/console/connections/{cid}/sync", {"id": cid}, raw=raw))
        assert answer.status in (400, 403), answer.text[:300]
    assert run(snapshot(stack_env, cid)) == before
