"""The console's pure rendering with literal data: directory values are text (markup shows as text, attributes
stay quoted), a Reader gets no action, forms carry the CSRF token, refused forms show each problem by its field
and never the secret typed, and pages load only the app's own CSS and JS."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest

from shared.console.html import SIGNOUT, Markup, h, layout
from shared.console.render_connection import connection_page
from shared.console.render_list import connections_page, new_connection_page
from shared.console.render_results import dry_run_page, invitation_page, verify_page
from shared.console.render_settings import settings_page
from shared.console.render_tables import audit_page, groups_page, rotation_page, runs_page, users_page
from shared.console.widgets import Viewer

ADMIN = Viewer("Ada <Admin>", can_act=True, csrf="csrf-token-abc")
READER = Viewer("Rita", can_act=False, csrf="csrf-token-reader")
EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'
CID = "6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
VIEW: dict[str, Any] = {
    "id": CID,
    "display_name": f"Contoso {EVIL}",
    "tenant_id": "11111111-2222-3333-4444-555555555555",
    "tenant_domain": "contoso.onmicrosoft.com",
    "state": "active",
    "state_reason": None,
    "credential_mode": "customer_app",
    "client_id": "99999999-8888-7777-6666-555555555555",
    "credential": {"set": True, "kind": "secret", "hint": "...Xy1", "expires_on": "2027-01-31T00:00:00Z"},
    "sync_enabled": True,
    "rotation_enabled": False,
    "sync_group_id": None,
    "rotation_group_id": None,
    "rotation_interval_days": 30,
    "removal_behaviour": "deactivate",
    "deletion_threshold": 500,
    "deletion_threshold_percent": None,
    "schedule": {"frequency": "weekly", "weekdays": ["mon", "thu"], "time_of_day": "02:00", "timezone": "Europe/Paris"},
    "user_defaults": {"sso_enabled": True},
    "quarantined": False,
    "quarantine": None,
}
STATUS = {
    "last_success_at": "2026-12-01T10:00:00Z",
    "next_due": "2026-12-03T01:00:00Z",
    "pending_removals": 2,
    "last_error": None,
    "last_run": {"outcome": "awaiting_approval", "ended_at": "2026-12-01T10:00:05Z"},
    "rotation": None,
}
HELD = {"run_id": "run-1", "items": [["user.deleted", "u-1", "deleted"], ["user.deactivated", EVIL, "left_scope"]]}


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> Elements:
    parser = Elements()
    parser.feed(page)
    return parser


def assert_no_injected_markup(page: str) -> None:
    parsed = parse(page)
    assert not [t for t, _ in parsed.tags if t == "img"], "a directory value became an element"
    scripts = [a for t, a in parsed.tags if t == "script"]
    assert scripts == [{"src": "/api/console/static/console.js", "defer": None}]
    assert not any(name.startswith("on") for _, attrs in parsed.tags for name in attrs), "an event handler attribute"
    assert "style" not in {t for t, _ in parsed.tags} and not any("style" in a for _, a in parsed.tags)


def test_builder_escapes_text_and_attributes() -> None:
    out = h("a", {"href": '"><script>', "title": "x'y"}, EVIL)
    assert out == (
        '<a href="&quot;&gt;&lt;script&gt;" title="x&#x27;y">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'
        "&lt;img src=x onerror=alert(1)&gt;</a>"
    )
    assert h("p", {}, Markup("<b>built</b>")) == "<p><b>built</b></p>"
    with pytest.raises(ValueError, match="bad tag"):
        h("p onclick=x")
    with pytest.raises(ValueError, match="bad attribute"):
        h("p", {"onclick x": "1"})


def test_layout_loads_only_the_apps_css_and_js() -> None:
    page = layout("T", "body", viewer=ADMIN)
    parsed = parse(page)
    links = [a["href"] for t, a in parsed.tags if t == "link"]
    assert links == ["/api/console/static/console.css", "/api/console/favicon.svg"]
    assert page.startswith("<!DOCTYPE html>") and "Ada &lt;Admin&gt;" in page and "(Admin)" in page
    assert [a["action"] for t, a in parsed.tags if t == "form"] == ["/api/console/signout"]


def test_markup_in_a_display_name_shows_as_text_on_every_page() -> None:
    pages = [
        connections_page(ADMIN, [{"connection": VIEW, "status": STATUS}]),
        connection_page(ADMIN, {"view": VIEW, "status": STATUS, "progress": None, "held": HELD}),
        settings_page(ADMIN, VIEW, found=[{"id": "g-1", "name": EVIL}], search="x"),
        verify_page(
            ADMIN,
            VIEW,
            {"status": "fail", "checks": [{"name": "token", "status": "fail", "detail": EVIL, "remedy": EVIL}]},
        ),
        dry_run_page(ADMIN, VIEW, {"planned": [{"type": "user.created", "object_id": EVIL}], "counts": {"users": 1}}),
        runs_page(ADMIN, VIEW, [{"outcome": "failed", "error_code": EVIL, "counts": {EVIL: 1}}]),
        rotation_page(ADMIN, VIEW, {"users": [{"user_id": EVIL, "skip_reason": EVIL}], "interval_days": 30}),
        users_page(ADMIN, VIEW, {"value": [{"id": "u", "displayName": EVIL, "userPrincipalName": EVIL}]}),
        groups_page(ADMIN, VIEW, {"value": [{"id": "g", "displayName": EVIL}]}),
        audit_page(ADMIN, "Audit", "/api/console/audit", {"value": [{"who": EVIL, "detail": EVIL, "action": "a"}]}),
    ]
    for page in pages:
        assert_no_injected_markup(page)
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
        assert EVIL in "".join(parse(page).text)  # the browser shows it, as text


def test_the_connections_list_shows_state_in_colour_and_the_columns() -> None:
    quarantined = {**VIEW, "state": "error", "quarantined": True, "quarantine": {"until": "2026-12-01T12:00:00Z"}}
    rotation = {**STATUS, "rotation": {"state": "blocked"}}
    page = connections_page(
        ADMIN, [{"connection": VIEW, "status": STATUS}, {"connection": quarantined, "status": rotation}]
    )
    for header in ("Tenant", "State", "Last sync", "Next due", "Quarantine", "Pending approvals", "Rotation"):
        assert f">{header}</th>" in page
    assert '<span class="badge ok">active</span>' in page and '<span class="badge bad">error</span>' in page
    assert "awaiting approval" in page and "2026-12-03 01:00 UTC" in page and "until 2026-12-01 12:00 UTC" in page
    assert '<span class="badge bad">blocked</span>' in page
    assert "No connections yet." in connections_page(ADMIN, [])


def _forms(page: str) -> list[dict[str, str | None]]:
    """The page's action forms (the header's sign-out form is on every page)."""
    return [a for t, a in parse(page).tags if t == "form" and a.get("method") == "post" and a["action"] != SIGNOUT]


def _buttons(page: str) -> int:
    return page.count("<button") - page.count('<button type="submit">Sign out</button>')


def test_a_reader_sees_no_action_and_no_csrf_token() -> None:
    model = {"view": VIEW, "status": STATUS, "progress": None, "held": HELD}
    pages = [
        connection_page(READER, model),
        connections_page(READER, [{"connection": VIEW, "status": STATUS}]),
        settings_page(READER, VIEW),
        new_connection_page(READER, {}, {}),
    ]
    for page in pages:
        assert _forms(page) == [] and _buttons(page) == 0
        assert page.count(READER.csrf) == 1  # the sign-out form's
    assert "Connector.Admin" in pages[0]


def test_every_admin_form_posts_with_the_csrf_token() -> None:
    page = connection_page(
        ADMIN, {"view": {**VIEW, "credential_mode": "admin_consent"}, "status": STATUS, "progress": None, "held": HELD}
    )
    actions = {a["action"] for a in _forms(page)}
    base = f"/api/console/connections/{CID}"
    assert actions == {
        f"{base}/{p}" for p in ("consent", "invitations", "verify", "sync", "dry-run", "approve", "delete")
    }
    tokens = [a for t, a in parse(page).tags if t == "input" and a.get("name") == "csrf"]
    assert len(tokens) - 1 == len(_forms(page)) == 9 and {t["value"] for t in tokens} == {ADMIN.csrf}
    assert "Approve deletions" in page and "u-1" in page and "left_scope" in page


def test_customer_app_connection_has_no_consent_buttons_and_shows_only_the_hint() -> None:
    page = connection_page(ADMIN, {"view": VIEW, "status": STATUS, "progress": None, "held": {}})
    assert "Grant permissions" not in page and "Invite" not in page
    assert "secret ...Xy1" in page and "Approve deletions" not in page


def test_a_running_sync_shows_its_phase_and_counts_with_a_refresh_link() -> None:
    progress = {"phase": "users", "counts": {"users.created": 12}}
    page = connection_page(ADMIN, {"view": VIEW, "status": STATUS, "progress": progress, "held": {}})
    section = next(a for t, a in parse(page).tags if t == "section" and a.get("id") == "progress")
    assert section["data-progress-url"] == f"/api/console/connections/{CID}/progress"
    assert "users.created: 12" in page and f'href="/api/console/connections/{CID}">Refresh</a>' in page
    assert "http-equiv" not in page


def test_a_refused_add_form_shows_problems_by_field_and_never_the_secret() -> None:
    values = {"display_name": "Fabrikam", "tenant": "not a tenant", "credential_mode": "customer_app"}
    errors = {
        "tenant": "must be a tenant id (GUID) or a verified domain",
        "client_secret": "customer_app needs a client_secret",
    }
    page = new_connection_page(ADMIN, values, errors)
    assert 'id="tenant-error">must be a tenant id (GUID) or a verified domain</span>' in page
    assert 'id="client_secret-error"' in page and "Nothing was changed" in page
    secret_input = next(a for t, a in parse(page).tags if t == "input" and a.get("name") == "client_secret")
    assert secret_input["type"] == "password" and secret_input["value"] == ""
    assert 'value="not a tenant"' in page and 'aria-invalid="true"' in page


def test_verify_page_all_green_and_the_consent_wait_note() -> None:
    checks = [{"name": "token", "status": "pass", "detail": "ok", "remedy": ""}]
    page = verify_page(ADMIN, VIEW, {"status": "pass", "checks": checks})
    assert "All checks passed" in page and '<span class="badge ok">pass</span>' in page
    assert "10-60 seconds" in page
    failing = verify_page(
        ADMIN,
        VIEW,
        {
            "status": "fail",
            "checks": [{"name": "token", "status": "fail", "detail": "d", "remedy": "Paste the secret's Value"}],
        },
    )
    assert "Not ready" in failing and "Paste the secret&#x27;s Value" in failing


def test_dry_run_table_lists_each_planned_change() -> None:
    planned = [
        {"type": "user.created", "object_id": "u-1"},
        {"type": "membership.added", "object_id": "u-1", "group_id": "g-1"},
    ]
    page = dry_run_page(ADMIN, VIEW, {"planned": planned, "counts": {"users.created": 1}})
    rows = re.findall(r"<tr><td>(.*?)</td>", page)
    assert rows == ["user.created", "membership.added"] and "Planned changes (2)" in page
    assert "No changes." in dry_run_page(ADMIN, VIEW, {"planned": [], "counts": {}})


def test_invitation_link_is_copyable() -> None:
    page = invitation_page(
        ADMIN, VIEW, {"url": "https://app.example/api/consent/invite/abc", "expires_at": "2026-12-08"}
    )
    box = next(a for t, a in parse(page).tags if t == "input" and a.get("id") == "invitation-url")
    assert box["value"] == "https://app.example/api/consent/invite/abc" and "readonly" in box
    assert 'data-copy="invitation-url"' in page


def test_settings_form_schedule_time_zones_and_group_search_links() -> None:
    page = settings_page(ADMIN, VIEW, found=[{"id": "g-1", "name": "Sales"}], search="Sa")
    assert '<option value="Europe/Paris" selected>' in page and '<option value="UTC">' in page
    checked = {
        a["value"] for t, a in parse(page).tags if t == "input" and a.get("name") == "weekdays" and "checked" in a
    }
    assert checked == {"mon", "thu"}
    assert f"/api/console/connections/{CID}/settings?sync_group=g-1" in page and "sso_enabled = true" in page
    assert 'name="client_secret"' in page and "secret ...Xy1" in page
    picked = settings_page(ADMIN, VIEW, values={"sync_group_id": "abc"})
    assert 'name="sync_group_id" value="abc"' in picked
    errors = settings_page(ADMIN, VIEW, errors={"schedule": "weekdays must be a non-empty list"})
    assert 'id="schedule-error">weekdays must be a non-empty list' in errors
