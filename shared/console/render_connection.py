"""A connection's page: its state and the last run at the top, a running sync's progress, the actions as plain
buttons, the removals held back by the threshold with one explicit approval, and Remove grant / Delete (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.console.html import Child, Markup, badge, h, layout, notice, table
from shared.console.render_agents import agents_section
from shared.console.render_list import run_badge, state_badge, when
from shared.console.widgets import Viewer, button, checkbox, labelled, post_form, text_input

PHASE_NAMES = {"start": "starting", "users": "users", "groups": "groups and memberships", "commit": "finishing"}
AD_DELETE_TEXT = (
    "Removes the connection: its agents get no more jobs. Uninstall them and remove the AD account's password file "
    "on their machines (the password was never stored here)."
)


def base(cid: str) -> str:
    return f"/api/console/connections/{cid}"


def facts(rows: Sequence[tuple[str, Child]]) -> Markup:
    return h("dl", {"class": "facts"}, [[h("dt", {}, k), h("dd", {}, v)] for k, v in rows])


def credential_text(view: Mapping[str, Any]) -> str:
    if view.get("source") == "ad":
        return "its on-premises agents (the AD account's password stays on the agent's machine)"
    credential = view.get("credential") or {}
    if view.get("credential_mode") == "admin_consent":
        return "admin consent to the operator's app"
    if not credential.get("set"):
        return "the customer's own app: no credential stored"
    expiry = f", expires {when(credential.get('expires_on'))}" if credential.get("expires_on") else ""
    return (
        f"the customer's own app ({view.get('client_id')}): {credential.get('kind')} {credential.get('hint')}{expiry}"
    )


def where(view: Mapping[str, Any]) -> tuple[str, Child]:
    """The tenant of an Entra connection; the domain of an on-premises AD one."""
    if view.get("source") == "ad":
        return ("Domain", f"{view.get('domain')} (on-premises Active Directory)")
    return ("Tenant", f"{view.get('tenant_domain') or ''} {view.get('tenant_id')}".strip())


def counts_list(counts: Mapping[str, Any]) -> Markup:
    if not counts:
        return h("span", {}, "no changes counted yet")
    return h("ul", {"class": "counts"}, [h("li", {}, f"{k}: {v}") for k, v in sorted(counts.items())])


def progress_section(cid: str, progress: Mapping[str, Any] | None) -> Markup:
    """A running sync: phase and counts, refreshed by console.js from the progress URL; without JavaScript, the
    Refresh link shows the same (no meta refresh)."""
    if not progress:
        return Markup("")
    phase = str(progress.get("phase") or "start")
    return h(
        "section",
        {"class": "progress", "id": "progress", "data-progress-url": f"{base(cid)}/progress", "aria-live": "polite"},
        h("h2", {}, "Sync running"),
        h("p", {}, "Phase: ", h("strong", {"data-field": "phase"}, PHASE_NAMES.get(phase, phase))),
        h("div", {"data-field": "counts"}, counts_list(progress.get("counts") or {})),
        h("p", {}, h("a", {"href": base(cid)}, "Refresh")),
    )


def actions(viewer: Viewer, view: Mapping[str, Any]) -> Markup:
    if not viewer.can_act:
        return notice("You can read this connection; acting on it needs the Connector.Admin role.", "info")
    cid = str(view["id"])
    consent = view.get("credential_mode") == "admin_consent"
    if view.get("source") == "ad":  # AD: sync, dry run and rotation are the agents' section's (below)
        return h(
            "section",
            {"class": "actions"},
            h("h2", {}, "Actions"),
            post_form(viewer, f"{base(cid)}/verify", button("Test permissions")),
        )
    return h(
        "section",
        {"class": "actions"},
        h("h2", {}, "Actions"),
        post_form(viewer, f"{base(cid)}/consent", button("Grant permissions", tone="primary")) if consent else "",
        post_form(viewer, f"{base(cid)}/invitations", button("Invite the tenant's administrator")) if consent else "",
        post_form(viewer, f"{base(cid)}/verify", button("Test permissions")),
        post_form(viewer, f"{base(cid)}/sync", button("Sync now", "mode", "incremental")),
        post_form(viewer, f"{base(cid)}/sync", button("Full sync", "mode", "full")),
        post_form(viewer, f"{base(cid)}/sync", button("Sync groups", "mode", "groups")),
        post_form(viewer, f"{base(cid)}/dry-run", button("Dry run")),
    )


def held_section(viewer: Viewer, cid: str, held: Mapping[str, Any], errors: Mapping[str, str]) -> Markup:
    items = held.get("items") or []
    if not items:
        return Markup("")
    rows = [[kind.replace(".", " "), object_id, reason or "—"] for kind, object_id, reason in items[:500]]
    approve = post_form(
        viewer,
        f"{base(cid)}/approve",
        labelled(
            "Confirm",
            "confirm",
            checkbox("confirm", f"Yes, apply these {len(items)} removal(s)", False, "yes", required=True),
            errors,
        ),
        button("Approve deletions", tone="danger"),
    )
    return h(
        "section",
        {"class": "held"},
        h("h2", {}, f"Removals held back by the deletion threshold ({len(items)})"),
        h("p", {}, f"Run {held.get('run_id')} would remove these; nothing happens until an admin approves."),
        table(("Change", "Object ID", "Reason"), rows),
        approve,
    )


def danger_section(viewer: Viewer, view: Mapping[str, Any], errors: Mapping[str, str]) -> Markup:
    if not viewer.can_act:
        return Markup("")
    cid = str(view["id"])
    return h(
        "section",
        {"class": "danger"},
        h("h2", {}, "Remove grant / Delete"),
        h(
            "p",
            {},
            AD_DELETE_TEXT
            if view.get("source") == "ad"
            else "Removes the connection and soft-deletes its credentials in Key Vault. To revoke the consent itself, "
            "the tenant's administrator deletes the enterprise application in their tenant.",
        ),
        post_form(
            viewer,
            f"{base(cid)}/delete",
            checkbox("purge", "Also purge everything stored for it (directory copy, runs, secrets)", False, "yes"),
            labelled(
                f"Type the connection's name ({view.get('display_name')}) to confirm",
                "confirm_name",
                text_input("confirm_name", "", errors=errors, autocomplete="off", required=True),
                errors,
            ),
            button("Delete connection", tone="danger"),
        ),
    )


def agents_of(viewer: Viewer, cid: str, agents: Mapping[str, Any] | None) -> Markup:
    """The on-prem AD agents section (none for a purging connection, whose model has no agents)."""
    if agents is None:
        return Markup("")
    return agents_section(viewer, cid, agents.get("agents") or [], agents.get("jobs") or [])


def connection_page(
    viewer: Viewer,
    model: Mapping[str, Any],
    message: str = "",
    errors: Mapping[str, str] | None = None,
) -> Markup:
    """model: view (the API's connection view), status (the sync status), progress (or None), held, agents (the
    agents and their recent jobs, shared/services/agent_overview.py)."""
    errors = errors or {}
    view, status = model["view"], model.get("status") or {}
    cid = str(view["id"])
    quarantine = view.get("quarantine") or {}
    last = status.get("last_run") or {}
    rotation = status.get("rotation") or {}
    held_items = (model.get("held") or {}).get("items") or []
    summary = facts(
        [
            where(view),
            ("State", [state_badge(str(view.get("state"))), " ", view.get("state_reason") or ""]),
            ("Signs in with", credential_text(view)),
            (
                "Last sync",
                [
                    when(last.get("ended_at")),
                    " ",
                    run_badge(str(last.get("outcome"))) if last else "",
                ],
            ),
            ("Last success", when(status.get("last_success_at"))),
            ("Next due", when(status.get("next_due"))),
            ("Last error", status.get("last_error") or "—"),
            (
                "Quarantine",
                f"until {when(quarantine.get('until'))}: {quarantine.get('reason', '')}" if quarantine else "—",
            ),
            ("Pending approvals", str(max(int(status.get("pending_removals") or 0), len(held_items)))),
            (
                "Rotation",
                [badge("blocked", "bad"), " ", rotation.get("detail", ""), " ", rotation.get("remedy", "")]
                if rotation.get("state") == "blocked"
                else ("on" if view.get("rotation_enabled") else "off"),
            ),
        ]
    )
    links = h(
        "nav",
        {"class": "sub"},
        [
            h("a", {"href": f"{base(cid)}/{path}"}, text)
            for path, text in (
                ("settings", "Settings"),
                ("runs", "Run history"),
                ("rotation", "Rotation"),
                ("users", "Users"),
                ("groups", "Groups"),
                ("audit", "Audit log"),
            )
        ],
    )
    body = [
        notice(message, "ok") if message else "",
        notice("Nothing was changed: " + "; ".join(errors.values()), "bad") if errors else "",
        summary,
        links,
        progress_section(cid, model.get("progress")),
        actions(viewer, view),
        held_section(viewer, cid, model.get("held") or {}, errors),
        agents_of(viewer, cid, model.get("agents")) if view.get("source") == "ad" else "",
        danger_section(viewer, view, errors),
    ]
    return layout(str(view.get("display_name") or cid), body, viewer=viewer)
