"""Pages that show an action's one-time answer: the Test permissions report, a dry run's planned changes, a new
invitation link (pure). They are the POST's own answer (nothing stored to redirect to; docs/console.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.console.html import Child, Markup, badge, h, layout, notice, table
from shared.console.render_connection import base, counts_list
from shared.console.widgets import Viewer

CHECK_TONE = {"pass": "ok", "warn": "warn", "fail": "bad"}
CONSENT_NOTE = (
    "Right after admin consent, Entra ID needs 10-60 seconds (sometimes a few minutes) before the new permissions "
    "show in the app's tokens: if a check fails just after consent, wait and test again."
)


def back(cid: str, name: str) -> Markup:
    return h("p", {}, h("a", {"href": base(cid)}, f"Back to {name}"))


def verify_page(viewer: Viewer, view: Mapping[str, Any], report: Mapping[str, Any]) -> Markup:
    cid, name = str(view["id"]), str(view.get("display_name") or view["id"])
    overall = str(report.get("status"))
    headline = {
        "pass": notice("All checks passed: the connection is ready.", "ok"),
        "warn": notice("Ready, with warnings: see the remedies below.", "warn"),
    }.get(overall, notice("Not ready: fix the failing checks below, then test again.", "bad"))
    rows = [
        [
            badge(str(c.get("status")), CHECK_TONE.get(str(c.get("status")), "info")),
            c.get("name"),
            c.get("detail"),
            c.get("remedy") or "—",
        ]
        for c in report.get("checks") or []
    ]
    body = [
        headline,
        table(("Result", "Check", "Detail", "Remedy"), rows, cls="checks"),
        h("p", {"class": "note"}, CONSENT_NOTE),
        back(cid, name),
    ]
    return layout(f"Test permissions: {name}", body, viewer=viewer)


def planned_row(change: Mapping[str, Any]) -> list[Child]:
    return [
        str(change.get("type", "")),
        str(change.get("object_id", "")),
        str(change.get("group_id", "") or "—"),
        "held for approval" if change.get("held") else "",
    ]


def dry_run_page(viewer: Viewer, view: Mapping[str, Any], result: Mapping[str, Any]) -> Markup:
    cid, name = str(view["id"]), str(view.get("display_name") or view["id"])
    planned = result.get("planned") or []
    partial = result.get("partial")
    body = [
        notice("A dry run changes nothing: these are the changes a sync would make now.", "info"),
        notice(f"Stopped early in phase {partial.get('phase')}: the list covers only that far.", "warn")
        if isinstance(partial, Mapping)
        else "",
        h("h2", {}, "Counts"),
        counts_list(result.get("counts") or {}),
        h("h2", {}, f"Planned changes ({len(planned)})"),
        table(
            ("Change", "Object ID", "Group", ""), [planned_row(p) for p in planned], empty="No changes.", cls="planned"
        ),
        back(cid, name),
    ]
    return layout(f"Dry run: {name}", body, viewer=viewer)


def invitation_page(viewer: Viewer, view: Mapping[str, Any], invitation: Mapping[str, Any]) -> Markup:
    cid, name = str(view["id"]), str(view.get("display_name") or view["id"])
    url = str(invitation.get("url", ""))
    body = [
        notice(f"Invitation made; it expires {invitation.get('expires_at')}. It is shown only now.", "ok"),
        h(
            "div",
            {"class": "field"},
            h("label", {"for": "invitation-url"}, "Send this link to the tenant's administrator"),
            h("input", {"type": "text", "id": "invitation-url", "readonly": True, "value": url, "class": "copy"}),
            h(
                "button",
                {"type": "button", "class": "copy-button", "data-copy": "invitation-url", "hidden": True},
                "Copy",
            ),
        ),
        back(cid, name),
    ]
    return layout(f"Invite: {name}", body, viewer=viewer)


def consent_page(viewer: Viewer, view: Mapping[str, Any], url: str) -> Markup:
    """Grant permissions: the way on to the tenant's admin-consent page. A link, not a redirect of the POST: the
    console's CSP (`form-action 'self'`) rightly stops a form whose answer redirects to another site; console.js
    follows the link at once, and without JavaScript the admin clicks it."""
    cid, name = str(view["id"]), str(view.get("display_name") or view["id"])
    body = [
        notice("Sign in there as a Global Administrator (or Privileged Role Administrator) of the tenant.", "info"),
        h(
            "p",
            {},
            h(
                "a",
                {"href": url, "class": "button", "id": "continue", "data-follow": "true"},
                "Continue to Microsoft Entra ID",
            ),
        ),
        h("p", {"class": "note"}, "The link works once and for 10 minutes."),
        back(cid, name),
    ]
    return layout(f"Grant permissions: {name}", body, viewer=viewer)


def message_page(viewer: Viewer | None, title: str, text: str, status_tone: str = "bad") -> Markup:
    """A refusal or failure: fixed words only."""
    return layout(
        title,
        [notice(text, status_tone), h("p", {}, h("a", {"href": "/api/console"}, "Connections"))],
        viewer=viewer,
    )
