"""A connection's settings form: sync group (chosen by searching group names), removal behaviour, threshold,
schedule (daily or weekly with weekdays, time, time zone from a list), default settings for imported users, rotation
group and interval, and the customer's own app credential (write-only, shown only as its hint). Pure."""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from shared.console.forms import user_defaults_text
from shared.console.html import Markup, h, layout, notice
from shared.console.render_connection import base, credential_text
from shared.console.render_results import back
from shared.console.widgets import (
    Viewer,
    button,
    checkbox,
    error_of,
    labelled,
    post_form,
    problems_summary,
    select,
    text_input,
)
from shared.domain.connection import REMOVAL_BEHAVIOURS, WEEKDAYS

REMOVAL_TEXT = {
    "keep": "keep (report only)",
    "deactivate": "deactivate the user",
    "delete": "delete the user",
}


@functools.cache
def time_zones() -> tuple[str, ...]:
    """The IANA zones this Python knows (tzdata), UTC first."""
    return (
        "UTC",
        *sorted(z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/"))),
    )


def group_search_section(cid: str, search: str, found: Sequence[Mapping[str, str]] | None, error: str) -> Markup:
    """A GET form: the groups whose name starts with the text, each with links that put it into the form below."""
    results: Any = ""
    if found is not None:
        items = [
            h(
                "li",
                {},
                h("strong", {}, g["name"]),
                " ",
                h("code", {}, g["id"]),
                " ",
                h("a", {"href": f"{base(cid)}/settings?{urlencode({'sync_group': g['id']})}"}, "use as sync group"),
                " · ",
                h(
                    "a",
                    {"href": f"{base(cid)}/settings?{urlencode({'rotation_group': g['id']})}"},
                    "use as rotation group",
                ),
            )
            for g in found
        ]
        results = (
            h("ul", {"class": "groups"}, items)
            if items
            else h("p", {"class": "empty"}, "No group name starts with that.")
        )
    return h(
        "section",
        {"class": "group-search"},
        h("h2", {}, "Find a group"),
        h(
            "form",
            {"method": "get", "action": f"{base(cid)}/settings"},
            labelled(
                "Group name starts with",
                "group_search",
                text_input("group_search", search),
                {"group_search": error} if error else {},
            ),
            button("Search"),
        ),
        results,
    )


def settings_page(
    viewer: Viewer,
    view: Mapping[str, Any],
    *,
    errors: Mapping[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
    search: str = "",
    found: Sequence[Mapping[str, str]] | None = None,
    search_error: str = "",
    message: str = "",
) -> Markup:
    """`values` override the stored view (a refused form shows what was typed; a group picked from the search)."""
    errors = errors or {}
    cid, name = str(view["id"]), str(view.get("display_name") or view["id"])
    v = {**view, **(values or {})}
    schedule = {**(view.get("schedule") or {}), **(v.get("schedule") or {})}
    days = set(schedule.get("weekdays") or WEEKDAYS)
    readonly = not viewer.can_act
    weekday_boxes = h("div", {"class": "weekdays"}, [checkbox("weekdays", d.title(), d in days, d) for d in WEEKDAYS])
    credential: Any = ""
    if view.get("credential_mode") == "customer_app":
        credential = h(
            "fieldset",
            {},
            h("legend", {}, "Credential of the customer's app"),
            h("p", {}, "Now: ", credential_text(view), ". Give a new one to replace it (write-only)."),
            checkbox_radio("credential_kind", "secret", "Client secret", True),
            checkbox_radio("credential_kind", "certificate", "Certificate (PEM)", False),
            labelled(
                "New client secret",
                "client_secret",
                text_input("client_secret", "", kind="password", autocomplete="off"),
                errors,
            ),
            labelled(
                "New certificate",
                "certificate",
                h("textarea", {"id": "certificate", "name": "certificate", "rows": 3}),
                errors,
            ),
            labelled(
                "Expires on", "credential_expires_on", text_input("credential_expires_on", "", kind="date"), errors
            ),
        )
    fields = [
        problems_summary(errors),
        labelled("Name", "display_name", text_input("display_name", v.get("display_name"), errors=errors), errors),
        h(
            "fieldset",
            {},
            h("legend", {}, "Directory sync"),
            checkbox("sync_enabled", "Sync users and groups", bool(v.get("sync_enabled"))),
            labelled(
                "Sync group (object ID; empty: every user)",
                "sync_group_id",
                text_input("sync_group_id", v.get("sync_group_id") or "", errors=errors),
                errors,
                "Find it by name above.",
            ),
            labelled(
                "When a user leaves the scope",
                "removal_behaviour",
                select(
                    "removal_behaviour",
                    [(b, REMOVAL_TEXT.get(b, b)) for b in REMOVAL_BEHAVIOURS],
                    str(v.get("removal_behaviour")),
                ),
                errors,
            ),
            labelled(
                "Deletion threshold (removals held for approval above this many)",
                "deletion_threshold",
                text_input("deletion_threshold", v.get("deletion_threshold"), kind="number", errors=errors, min="0"),
                errors,
            ),
            labelled(
                "... or above this percentage of the stored objects (optional)",
                "deletion_threshold_percent",
                text_input(
                    "deletion_threshold_percent",
                    v.get("deletion_threshold_percent") or "",
                    kind="number",
                    errors=errors,
                ),
                errors,
            ),
        ),
        h(
            "fieldset",
            {"class": "invalid" if "schedule" in errors else None},
            h("legend", {}, "Schedule"),
            select("frequency", [("daily", "daily"), ("weekly", "weekly")], str(schedule.get("frequency"))),
            weekday_boxes,
            labelled(
                "Time", "time_of_day", text_input("time_of_day", schedule.get("time_of_day"), kind="time"), errors
            ),
            labelled(
                "Time zone",
                "timezone",
                select("timezone", [(z, z) for z in time_zones()], str(schedule.get("timezone"))),
                errors,
            ),
            error_of(errors, "schedule"),
        ),
        labelled(
            "Default settings for imported users (one name = value a line, e.g. sso_enabled = true)",
            "user_defaults",
            h(
                "textarea",
                {"id": "user_defaults", "name": "user_defaults", "rows": 3},
                user_defaults_text(v.get("user_defaults") or {}),
            ),
            errors,
        ),
        h(
            "fieldset",
            {},
            h("legend", {}, "Password rotation"),
            checkbox("rotation_enabled", "Rotate passwords of the rotation group", bool(v.get("rotation_enabled"))),
            labelled(
                "Rotation group (object ID)",
                "rotation_group_id",
                text_input("rotation_group_id", v.get("rotation_group_id") or "", errors=errors),
                errors,
            ),
            labelled(
                "Interval (days)",
                "rotation_interval_days",
                text_input("rotation_interval_days", v.get("rotation_interval_days"), kind="number", errors=errors),
                errors,
            ),
        ),
        error_of(errors, "features"),
        credential,
        button("Save settings", tone="primary"),
    ]
    form = post_form(viewer, f"{base(cid)}/settings", *fields, cls="settings") if not readonly else _read_only(view)
    body = [
        notice(message, "ok") if message else "",
        group_search_section(cid, search, found, search_error) if viewer.can_act else "",
        form,
        back(cid, name),
    ]
    return layout(f"Settings: {name}", body, viewer=viewer)


def checkbox_radio(name: str, value: str, label: str, checked: bool) -> Markup:
    return h(
        "label",
        {"class": "check"},
        h("input", {"type": "radio", "name": name, "value": value, "checked": checked}),
        " ",
        label,
    )


def _read_only(view: Mapping[str, Any]) -> Markup:
    schedule = view.get("schedule") or {}
    rows = [
        ("Sync", "on" if view.get("sync_enabled") else "off"),
        ("Sync group", view.get("sync_group_id") or "every user"),
        ("Removal behaviour", view.get("removal_behaviour")),
        ("Deletion threshold", view.get("deletion_threshold")),
        (
            "Schedule",
            " ".join(
                str(part)
                for part in (
                    schedule.get("frequency"),
                    ",".join(schedule.get("weekdays") or []),
                    schedule.get("time_of_day"),
                    schedule.get("timezone"),
                )
            ),
        ),
        ("Defaults for imported users", user_defaults_text(view.get("user_defaults") or {}) or "none"),
        (
            "Rotation",
            f"{'on' if view.get('rotation_enabled') else 'off'}, group {view.get('rotation_group_id') or '—'}, "
            f"every {view.get('rotation_interval_days')} day(s)",
        ),
    ]
    return h("dl", {"class": "facts"}, [[h("dt", {}, k), h("dd", {}, str(val))] for k, val in rows])
