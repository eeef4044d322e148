"""The console's pages and actions called as the host calls them, on the local stack: the session decides (no
session: sign-in; Reader: reads, no buttons, POSTs refused with 403; Admin: acts), every POST needs the CSRF token,
a refused form shows its problems by field and changes nothing, changes answer 303 and are audited with the
console user, and no secret ever reaches a page."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

from emulators.stack import LocalStack
from shared import storage_names as names
from shared.adapters.sync_state import SyncState
from shared.composition import Container
from shared.config import load_settings
from shared.services import audit
from shared.services.connections import PARTITION
from tests.functions.console_client import ADMIN_ROLES, NOBODY, READER_ROLES, Browser, sign_in
from tests.functions.invoke import create_customer_connection

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
async def admin(stack_env: dict[str, str]) -> Browser:
    return await sign_in(stack_env, f"Ada {EVIL}", ADMIN_ROLES)


@pytest.fixture
async def reader(stack_env: dict[str, str]) -> Browser:
    return await sign_in(stack_env, "Rita Reader", READER_ROLES)


async def connection_ids(stack: LocalStack) -> set[str]:
    async with Container(load_settings(stack.env())) as container:
        rows = container.tables().query(names.CONNECTIONS, "PartitionKey eq @pk", {"pk": PARTITION})
        return {str(r["RowKey"]) async for r in rows}


async def stored(stack: LocalStack, cid: str) -> dict[str, Any] | None:
    async with Container(load_settings(stack.env())) as container:
        row = await container.tables().get(names.CONNECTIONS, PARTITION, cid)
        return None if row is None else dict(row)


async def trail(stack: LocalStack, cid: str) -> list[dict[str, Any]]:
    async with Container(load_settings(stack.env())) as container:
        return await audit.trail(container.tables(), cid)


def create_fields(stack: LocalStack, **changes: str) -> list[tuple[str, str]]:
    tenant, app = stack.tenant, stack.app("customer")
    fields = {
        "display_name": f"Contoso {EVIL}",
        "tenant": tenant["id"],
        "cloud": "global",
        "credential_mode": "customer_app",
        "client_id": app["client_id"],
        "credential_kind": "secret",
        "client_secret": app["client_secret"],
        "sync_group_id": tenant["sync_group"]["id"],
    }
    fields.update(changes)
    return list(fields.items())


def actions_of(page: str) -> list[str]:
    """The page's action forms and buttons (the header's sign-out form aside)."""
    forms = re.findall(r'<form method="post" action="([^"]+)"', page)
    buttons = page.count("<button") - page.count("Sign out</button>")
    return [f for f in forms if f != "/api/console/signout"] + ["button"] * buttons


def assert_page(answer: Any, status: int = 200) -> None:
    assert answer.status == status, answer.text[:500]
    assert "default-src 'none'" in answer.headers["Content-Security-Policy"]
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


async def test_without_a_session_every_page_sends_to_sign_in(stack: LocalStack, stack_env: dict[str, str]) -> None:
    before = await connection_ids(stack)
    for name, url in (("console_home", "/api/console"), ("console_new", "/api/console/new")):
        answer = await NOBODY.get(name, url)
        assert answer.status == 302 and answer.location.startswith("/api/console/signin?return=")
    posted = await NOBODY.post("console_create", "/api/console/connections", fields=create_fields(stack), csrf=False)
    assert posted.status == 302 and await connection_ids(stack) == before


async def test_admin_adds_a_connection_sees_it_and_the_secret_only_as_its_hint(
    stack: LocalStack, admin: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = stack.app("customer")["client_secret"]
    created = await admin.post("console_create", "/api/console/connections", fields=create_fields(stack))
    assert created.status == 303, created.text[:800]
    match = re.fullmatch(r"/api/console/connections/([0-9a-f-]{36})\?done=created", created.location)
    assert match
    cid = match.group(1)
    page = await admin.get("console_connection", created.location, {"id": cid})
    assert_page(page)
    assert "Connection added" in page.text and "Contoso &lt;script&gt;" in page.text and "<img" not in page.text
    assert f"secret ...{secret[-3:]}" in page.text and secret not in page.text
    listing = await admin.get("console_home", "/api/console")
    assert_page(listing)
    assert f"/api/console/connections/{cid}" in listing.text and secret not in listing.text
    rows = await trail(stack, cid)
    assert {r["action"] for r in rows} >= {"connection.create", "credential.set"}
    assert all(r["who"] == f"console {admin.oid} ({admin.name})" for r in rows)
    assert secret not in caplog.text and admin.cookie and admin.cookie not in caplog.text


async def test_a_refused_add_form_shows_the_problem_by_field_and_changes_nothing(
    stack: LocalStack, admin: Browser
) -> None:
    secret = stack.app("customer")["client_secret"]
    before = await connection_ids(stack)
    answer = await admin.post(
        "console_create", "/api/console/connections", fields=create_fields(stack, tenant="not a tenant!", client_id="")
    )
    assert_page(answer, 400)
    assert 'id="tenant-error">must be a tenant id (GUID) or a verified domain' in answer.text
    assert 'id="client_id-error">required for credential_mode customer_app' in answer.text
    assert secret not in answer.text and 'value="not a tenant!"' in answer.text
    assert await connection_ids(stack) == before


async def test_a_reader_reads_without_buttons_and_every_post_is_refused(
    stack: LocalStack, stack_env: dict[str, str], admin: Browser, reader: Browser
) -> None:
    cid = await create_customer_connection(stack, "Readable")
    route = {"id": cid}
    page = await reader.get("console_connection", f"/api/console/connections/{cid}", route)
    assert_page(page)
    assert actions_of(page.text) == [] and "Connector.Admin" in page.text
    for name in ("console_settings", "console_runs", "console_rotation", "console_users", "console_groups"):
        suffix = name.removeprefix("console_")
        shown = await reader.get(name, f"/api/console/connections/{cid}/{suffix}", route)
        assert_page(shown)
        assert actions_of(shown.text) == []
    before = await stored(stack, cid)
    posts = [
        ("console_sync", "sync", [("mode", "incremental")]),
        ("console_verify", "verify", []),
        ("console_settings_save", "settings", [("display_name", "Renamed")]),
        ("console_delete", "delete", [("confirm_name", "Readable")]),
        ("console_approve", "approve", [("confirm", "yes")]),
    ]
    for name, path, fields in posts:
        refused = await reader.post(name, f"/api/console/connections/{cid}/{path}", route, fields)
        assert_page(refused, 403)
        assert "Readers cannot act" in refused.text
    created = await reader.post("console_create", "/api/console/connections", fields=create_fields(stack))
    assert created.status == 403
    assert await stored(stack, cid) == before
    assert [r for r in await trail(stack, cid) if "Rita" in r["who"]] == []


async def test_a_post_without_or_with_a_wrong_csrf_token_is_refused(stack: LocalStack, admin: Browser) -> None:
    cid = await create_customer_connection(stack, "Guarded")
    route = {"id": cid}
    before = await stored(stack, cid)
    url = f"/api/console/connections/{cid}/delete"
    missing = await admin.post("console_delete", url, route, [("confirm_name", "Guarded")], csrf=False)
    assert_page(missing, 403)
    assert "anti-forgery" in missing.text
    wrong = await admin.post(
        "console_delete", url, route, [("csrf", "x" * 43), ("confirm_name", "Guarded")], csrf=False
    )
    assert wrong.status == 403
    assert await stored(stack, cid) == before


async def test_test_permissions_sync_now_and_dry_run(stack: LocalStack, admin: Browser) -> None:
    cid = await create_customer_connection(stack, "Syncing")
    route, base = {"id": cid}, f"/api/console/connections/{cid}"
    report = await admin.post("console_verify", f"{base}/verify", route)
    assert_page(report)
    assert "10-60 seconds" in report.text and '<span class="badge bad">' not in report.text
    assert "All checks passed" in report.text or "Ready, with warnings" in report.text, report.text
    queued = await admin.post("console_sync", f"{base}/sync", route, [("mode", "incremental")])
    assert queued.status == 303 and queued.location == f"{base}?done=sync_queued"
    bad_mode = await admin.post("console_sync", f"{base}/sync", route, [("mode", "everything")])
    assert_page(bad_mode, 400)
    assert "mode: must be one of" in bad_mode.text
    dry = await admin.post("console_dry_run", f"{base}/dry-run", route, [("mode", "full")])
    assert_page(dry)
    assert "Planned changes (" in dry.text and "user.created" in dry.text
    actions = [r["action"] for r in await trail(stack, cid)]
    assert actions.count("sync.start") == 2 and "connection.verify" in actions


async def test_settings_saved_refused_and_group_search(stack: LocalStack, admin: Browser) -> None:
    cid = await create_customer_connection(stack, "Settled")
    route, url = {"id": cid}, f"/api/console/connections/{cid}/settings"
    page = await admin.get("console_settings", url, route)
    assert_page(page)
    group = stack.tenant["sync_group"]
    found = await admin.get("console_settings", f"{url}?group_search={group['name'][:4]}", route)
    assert_page(found)
    assert group["id"] in found.text and f"?sync_group={group['id']}" in found.text
    fields = [
        ("display_name", "Settled"),
        ("sync_enabled", "on"),
        ("sync_group_id", group["id"]),
        ("removal_behaviour", "delete"),
        ("deletion_threshold", "7"),
        ("deletion_threshold_percent", ""),
        ("frequency", "weekly"),
        ("weekdays", "tue"),
        ("time_of_day", "05:15"),
        ("timezone", "Europe/Paris"),
        ("user_defaults", "sso_enabled = true"),
        ("rotation_interval_days", "30"),
        ("rotation_group_id", ""),
    ]
    saved = await admin.post("console_settings_save", url, route, fields)
    assert saved.status == 303 and saved.location == f"{url}?done=saved"
    row = await stored(stack, cid)
    assert row is not None and row["removal_behaviour"] == "delete" and row["deletion_threshold"] == 7
    refused = await admin.post(
        "console_settings_save", url, route, [(k, "99:99" if k == "time_of_day" else v) for k, v in fields]
    )
    assert_page(refused, 400)
    assert 'id="schedule-error">time_of_day must be HH:MM' in refused.text
    assert await stored(stack, cid) == row


async def test_held_removals_need_an_explicit_approval(stack: LocalStack, admin: Browser) -> None:
    cid = await create_customer_connection(stack, "Held")
    route, base = {"id": cid}, f"/api/console/connections/{cid}"
    async with Container(load_settings(stack.env())) as container:
        await SyncState(container.tables(), cid).save_approval("run-held", [("user.deleted", "u-1", "deleted")])
    page = await admin.get("console_connection", base, route)
    assert "Approve deletions" in page.text and "u-1" in page.text and "run-held" in page.text
    unconfirmed = await admin.post("console_approve", f"{base}/approve", route)
    assert_page(unconfirmed, 400)
    assert "tick the box" in unconfirmed.text
    assert "sync.approve" not in [r["action"] for r in await trail(stack, cid)]
    approved = await admin.post("console_approve", f"{base}/approve", route, [("confirm", "yes")])
    assert approved.status == 303 and approved.location == f"{base}?done=approved"
    assert "sync.approve" in [r["action"] for r in await trail(stack, cid)]


async def test_delete_needs_the_name_typed(stack: LocalStack, admin: Browser) -> None:
    cid = await create_customer_connection(stack, "Doomed")
    route, url = {"id": cid}, f"/api/console/connections/{cid}/delete"
    wrong = await admin.post("console_delete", url, route, [("confirm_name", "doomed")])
    assert_page(wrong, 400)
    assert await stored(stack, cid) is not None
    gone = await admin.post("console_delete", url, route, [("confirm_name", "Doomed")])
    assert gone.status == 303 and gone.location == "/api/console/?done=deleted"
    assert await stored(stack, cid) is None


async def test_unknown_connection_and_bad_ids_are_404_pages(admin: Browser) -> None:
    for cid in ("6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f", "../x", "<b>"):
        answer = await admin.get("console_connection", f"/api/console/connections/{cid}", {"id": cid})
        assert_page(answer, 404)
        assert "<b>" not in answer.text


async def test_progress_json_needs_a_session(stack: LocalStack, admin: Browser) -> None:
    cid = await create_customer_connection(stack, "Polled")
    url = f"/api/console/connections/{cid}/progress"
    assert (await NOBODY.get("console_progress", url, {"id": cid})).status == 401
    answer = await admin.get("console_progress", url, {"id": cid})
    assert answer.status == 200 and '"running": false' in answer.text


async def test_admin_consent_connection_grant_permissions_and_invite(stack: LocalStack, admin: Browser) -> None:
    tenant = stack.tenant
    fields = [("display_name", "By domain"), ("tenant", tenant["domains"][0]), ("credential_mode", "admin_consent")]
    created = await admin.post("console_create", "/api/console/connections", fields=fields)
    assert created.status == 303, created.text[:500]
    cid = created.location.split("/")[-1].split("?")[0]
    route, base = {"id": cid}, f"/api/console/connections/{cid}"
    page = await admin.get("console_connection", base, route)
    assert "pending consent" in page.text and "Grant permissions" in page.text and "Invite" in page.text
    granted = await admin.post("console_consent", f"{base}/consent", route)
    assert_page(granted)
    onward = re.search(r'<a href="([^"]+)" class="button" id="continue" data-follow="true">', granted.text)
    assert onward and onward.group(1).startswith(f"{stack.entra.login_url}/{tenant['id']}/v2.0/adminconsent?")
    invited = await admin.post("console_invite", f"{base}/invitations", route)
    assert_page(invited)
    link = re.search(r'id="invitation-url" readonly value="([^"]+)"', invited.text)
    assert link and link.group(1).startswith("http://localhost:7071/api/consent/invite/")
    assert "Cache-Control" in invited.headers and invited.headers["Cache-Control"] == "no-store"
    actions = [r["action"] for r in await trail(stack, cid)]
    assert {"connection.create", "consent.start", "consent.invite"} <= set(actions)


async def test_a_running_sync_shows_its_phase_and_counts(stack: LocalStack, admin: Browser) -> None:
    from datetime import UTC, datetime

    from shared.adapters.sync_state import Checkpoint, Status

    cid = await create_customer_connection(stack, "Running")
    route, base = {"id": cid}, f"/api/console/connections/{cid}"
    async with Container(load_settings(stack.env())) as container:
        state = SyncState(container.tables(), cid)
        checkpoint = Checkpoint(
            "run-7", "full", "manual", datetime.now(UTC), phase="users", counts={"users.created": 40}
        )
        await state.save_checkpoint(checkpoint)
        await state.save_status(Status(state="running"))
    page = await admin.get("console_connection", base, route)
    assert_page(page)
    assert 'data-progress-url="' + f'{base}/progress"' in page.text and "users.created: 40" in page.text
    assert "connect-src 'self'" in page.headers["Content-Security-Policy"]
    polled = await admin.get("console_progress", f"{base}/progress", route)
    assert polled.status == 200
    assert (
        '"phase": "users"' in polled.text and '"users.created": 40' in polled.text and '"running": true' in polled.text
    )


async def test_run_history_rotation_users_groups_and_audit_pages(stack: LocalStack, admin: Browser) -> None:
    cid = await create_customer_connection(stack, "Listed", verify=True)
    route, base = {"id": cid}, f"/api/console/connections/{cid}"
    from shared.services import sync_api

    async with Container(load_settings(stack.env())) as container:
        await sync_api.start_sync(container, cid, "full", True)  # a dry run: one run in the history
    runs = await admin.get("console_runs", f"{base}/runs", route)
    assert_page(runs)
    assert "dry run" in runs.text and "full (dry_run)" in runs.text
    rotation = await admin.get("console_rotation", f"{base}/rotation", route)
    assert_page(rotation)
    assert "Rotation is off" in rotation.text
    for name in ("console_users", "console_groups"):
        shown = await admin.get(name, f"{base}/{name.removeprefix('console_')}", route)
        assert_page(shown)
    audit_page = await admin.get("console_connection_audit", f"{base}/audit", route)
    assert_page(audit_page)
    assert "connection.verify" in audit_page.text and "sync.start" in audit_page.text
    everything = await admin.get("console_audit", "/api/console/audit")
    assert_page(everything)
    assert "connection.create" in everything.text
