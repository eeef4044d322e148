"""The connections list and the add-connection form (pure: views in, HTML out)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.console.html import Child, Markup, badge, h, layout, notice, table
from shared.console.widgets import (
    Viewer,
    button,
    error_of,
    labelled,
    post_form,
    problems_summary,
    select,
    text_input,
)
from shared.domain.clouds import CLOUDS

STATE_TONE = {
    "active": "ok",
    "pending_consent": "warn",
    "pending_verification": "warn",
    "pending_agent": "warn",
    "error": "bad",
    "disabled": "idle",
    "purging": "idle",
}
RUN_TONE = {"succeeded": "ok", "failed": "bad", "awaiting_approval": "warn", "continued": "info", "dry_run": "info"}


def state_badge(state: str) -> Markup:
    return badge(state.replace("_", " "), STATE_TONE.get(state, "info"))


def run_badge(outcome: str) -> Markup:
    return badge(outcome.replace("_", " "), RUN_TONE.get(outcome, "info"))


def when(value: object) -> str:
    """An ISO time as the tables show it (minutes, UTC), or a dash."""
    text = str(value or "")
    return f"{text[:16].replace('T', ' ')} UTC" if len(text) >= 16 else "—"


def connection_link(view: Mapping[str, Any]) -> Markup:
    return h("a", {"href": f"/api/console/connections/{view['id']}"}, view.get("display_name") or view["id"])


def _row(item: Mapping[str, Any]) -> list[Child]:
    view, status = item["connection"], item.get("status") or {}
    tenant = (
        f"{view.get('domain')} (AD)"
        if view.get("source") == "ad"
        else view.get("tenant_domain") or view.get("tenant_id")
    )
    last = status.get("last_run") or {}
    result = run_badge(str(last.get("outcome")))
    quarantine = view.get("quarantine") or {}
    rotation = status.get("rotation") or {}
    return [
        connection_link(view),
        tenant,
        state_badge(str(view.get("state"))),
        [when(last.get("ended_at") or status.get("last_run_at")), " ", result if last else ""],
        when(status.get("next_due")),
        badge(f"until {when(quarantine.get('until'))}", "bad") if view.get("quarantined") else "—",
        badge(str(status.get("pending_removals")), "warn") if status.get("pending_removals") else "—",
        badge("blocked", "bad") if rotation.get("state") == "blocked" else "—",
    ]


def connections_page(viewer: Viewer, items: Sequence[Mapping[str, Any]], message: str = "") -> Markup:
    headers = (
        "Connection",
        "Tenant",
        "State",
        "Last sync",
        "Next due",
        "Quarantine",
        "Pending approvals",
        "Rotation",
    )
    add = (
        h("p", {}, h("a", {"href": "/api/console/new", "class": "button"}, "Add connection")) if viewer.can_act else ""
    )
    body = [
        notice(message, "ok") if message else "",
        add,
        table(headers, [_row(i) for i in items], empty="No connections yet.", cls="connections"),
    ]
    return layout("Connections", body, viewer=viewer)


def new_connection_page(viewer: Viewer, values: Mapping[str, str], errors: Mapping[str, str]) -> Markup:
    """The add-connection form; after a refusal, the values typed (never the secret or the certificate) and each
    problem next to its field. Below it, the On-premises AD form (its own values and problems)."""
    ad_values, ad_errors = (values, errors) if values.get("source") == "ad" else ({}, {})
    if ad_values:  # the refusal was of the AD form: the Entra form stays empty
        values, errors = {}, {}
    mode = values.get("credential_mode") or "admin_consent"
    kind = values.get("credential_kind") or "secret"

    def value(name: str) -> str:
        return values.get(name, "")

    own_app = h(
        "fieldset",
        {"class": "own-app"},
        h("legend", {}, "The customer's own app registration"),
        labelled(
            "Application (client) ID", "client_id", text_input("client_id", value("client_id"), errors=errors), errors
        ),
        h(
            "div",
            {"class": "field"},
            checkbox_radio("credential_kind", "secret", "Client secret", kind == "secret"),
            checkbox_radio(
                "credential_kind", "certificate", "Certificate (PEM with its private key)", kind == "certificate"
            ),
        ),
        labelled(
            "Client secret (its Value, not its ID)",
            "client_secret",
            text_input("client_secret", "", kind="password", errors=errors, autocomplete="off"),
            errors,
            "Write-only: afterwards only its last characters are shown.",
        ),
        labelled(
            "Certificate",
            "certificate",
            h("textarea", {"id": "certificate", "name": "certificate", "rows": 4, "autocomplete": "off"}),
            errors,
            "Write-only, like the secret.",
        ),
        labelled(
            "Credential expires on",
            "credential_expires_on",
            text_input("credential_expires_on", value("credential_expires_on"), kind="date", errors=errors),
            errors,
        ),
    )
    form = post_form(
        viewer,
        "/api/console/connections",
        problems_summary(errors),
        labelled("Name", "display_name", text_input("display_name", value("display_name"), errors=errors), errors),
        labelled(
            "Directory (tenant) ID or verified domain",
            "tenant",
            text_input("tenant", value("tenant"), errors=errors, placeholder="contoso.onmicrosoft.com"),
            errors,
        ),
        labelled("Cloud", "cloud", select("cloud", [(c, c) for c in CLOUDS], value("cloud") or "global"), errors),
        h(
            "fieldset",
            {},
            h("legend", {}, "How the connector signs in"),
            checkbox_radio(
                "credential_mode", "admin_consent", "Admin consent to the operator's app", mode == "admin_consent"
            ),
            checkbox_radio("credential_mode", "customer_app", "The customer's own app", mode == "customer_app"),
            h("span", {"class": "error"}, errors.get("credential_mode")) if "credential_mode" in errors else "",
        ),
        own_app,
        labelled(
            "Sync group (object ID, optional)",
            "sync_group_id",
            text_input("sync_group_id", value("sync_group_id"), errors=errors),
            errors,
            "Leave empty to sync every user; choose a group by name on the connection's settings later.",
        ),
        button("Configure", tone="primary"),
    )
    if not viewer.can_act:
        return layout("Add connection", notice("Readers cannot add connections.", "warn"), viewer=viewer)
    return layout("Add connection", h("div", {}, form, _ad_form(viewer, ad_values, ad_errors)), viewer=viewer)


def _ad_form(viewer: Viewer, values: Mapping[str, str], errors: Mapping[str, str]) -> Markup:
    """On-premises AD: a domain and its sync group; no tenant, consent or credential (its agents hold that). Its
    inputs have ids of their own (`ad-...`): the Entra form above has fields of the same names."""

    def field(label: str, name: str, hint: str = "", **extra: str) -> Markup:
        control = text_input(name, values.get(name, ""), errors=errors, id=f"ad-{name}", **extra)
        return h(
            "div",
            {"class": "field invalid" if name in errors else "field"},
            h("label", {"for": f"ad-{name}"}, label),
            control,
            h("small", {}, hint) if hint else "",
            error_of(errors, name),
        )

    return post_form(
        viewer,
        "/api/console/connections",
        h("h2", {}, "On-premises AD"),
        problems_summary(errors),
        h("input", {"type": "hidden", "name": "source", "value": "ad"}),
        field("Name", "display_name"),
        field("AD domain (DNS name)", "domain", placeholder="corp.example.com"),
        field(
            "Sync group (the AD group's objectGUID)",
            "sync_group_id",
            "Its members, nested groups included, are synced; an agent in the domain's network reads them.",
        ),
        button("Add AD connection", tone="primary"),
    )


def checkbox_radio(name: str, value: str, label: str, checked: bool) -> Markup:
    return h(
        "label",
        {"class": "check"},
        h("input", {"type": "radio", "name": name, "value": value, "checked": checked}),
        " ",
        label,
    )
