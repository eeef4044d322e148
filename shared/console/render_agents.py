"""The on-premises AD agents of a connection (pure): the section on the connection's page (the agents with their
host, last contact and online state, Remove confirmed by the agent's name, sync and rotation through the agent,
recent jobs) and the answer page that shows a new registration code once, with the exact command to run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.console.html import Child, Markup, badge, h, layout, notice, table
from shared.console.render_list import when
from shared.console.widgets import Viewer, button, checkbox, post_form, select

STATUS_TONE = {"online": "ok", "offline": "warn"}
JOB_TONE = {"queued": "idle", "running": "info", "stalled": "warn", "succeeded": "ok", "failed": "bad"}
CODE_VALIDITY = (("60", "1 hour"), ("1440", "1 day"), ("10080", "7 days"))
LINUX_CONFIG = "/etc/connector-agent/agent.json"
WINDOWS_CONFIG = r"C:\ProgramData\ConnectorAgent\agent.json"


def agents_path(cid: str) -> str:
    return f"/api/console/connections/{cid}/agents"


def job_label(job: Mapping[str, Any]) -> str:
    if job.get("kind") == "sync":
        return f"AD sync, {job.get('mode') or 'incremental'}" + (" (dry run)" if job.get("dry_run") else "")
    if job.get("kind") == "rotate":
        return f"Password rotation, {job.get('users')} user(s)"
    return str(job.get("kind") or "job")


def job_state(job: Mapping[str, Any]) -> Markup:
    """Queued; running on an agent; stalled (its agent stopped heartbeating: another agent takes it over after the
    lease); done with its outcome."""
    state, agent = str(job.get("state")), str(job.get("agent") or "")
    if state == "done":
        outcome = str(job.get("outcome") or "done")
        return h("span", {}, badge(outcome, JOB_TONE.get(outcome, "info")), f" by {agent}" if agent else "")
    if state == "running":
        return h("span", {}, badge("running", "info"), f" on {agent}")
    if state == "stalled":
        return h("span", {}, badge("stalled", "warn"), f" {agent} stopped answering: another agent takes it over")
    return badge("queued", "idle")


def active(jobs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [j for j in jobs if j.get("state") != "done"]


def _remove_form(viewer: Viewer, cid: str, agent: Mapping[str, Any]) -> Markup:
    field = f"confirm-{agent['id']}"
    return post_form(
        viewer,
        f"{agents_path(cid)}/{agent['id']}/remove",
        h("label", {"for": field}, f"Type {agent.get('name')} to remove"),
        h(
            "input",
            {"type": "text", "id": field, "name": "confirm_name", "autocomplete": "off", "required": True},
        ),
        button("Remove", tone="danger"),
        cls="inline remove-agent",
    )


def agents_table(viewer: Viewer, cid: str, agents: Sequence[Mapping[str, Any]]) -> Markup:
    headers = ["Name", "Host", "Version", "Registered", "Last contact", "Status"]
    rows: list[list[Child]] = []
    for a in agents:
        status = str(a.get("status"))
        row: list[Child] = [
            a.get("name") or "—",
            a.get("host") or "—",
            a.get("version") or "—",
            when(a.get("registered_at")),
            when(a.get("last_seen")),
            badge(status, STATUS_TONE.get(status, "idle")),
        ]
        if viewer.can_act:
            row.append(_remove_form(viewer, cid, a))
        rows.append(row)
    if viewer.can_act:
        headers.append("Remove")
    return table(headers, rows, empty="No agent registered yet.", cls="agents")


def jobs_table(jobs: Sequence[Mapping[str, Any]]) -> Markup:
    rows = [
        [when(j.get("created_at")), job_label(j), job_state(j), j.get("error_code") or "—", when(j.get("done_at"))]
        for j in jobs[:10]
    ]
    return table(("Requested", "Job", "State", "Error", "Done"), rows, empty="No agent jobs yet.", cls="agent-jobs")


def agent_actions(viewer: Viewer, cid: str, agents: Sequence[Mapping[str, Any]]) -> Markup:
    """Admin only (a Reader gets nothing: post_form renders no form for them)."""
    if not viewer.can_act:
        return Markup("")
    path = agents_path(cid)
    code = post_form(
        viewer,
        f"{path}/codes",
        h("label", {"for": "expires_in_minutes"}, "Valid for "),
        select("expires_in_minutes", CODE_VALIDITY, "60"),
        " ",
        button("Make a registration code", tone="primary"),
        cls="inline",
    )
    if not agents:
        return h("div", {"class": "agent-actions"}, code)
    dry = h("input", {"type": "hidden", "name": "dry_run", "value": "yes"})
    rotate = post_form(
        viewer,
        f"{path}/rotate",
        checkbox(
            "confirm_rotation", "Yes, set new passwords for every active synced user", False, "yes", required=True
        ),
        " ",
        button("Rotate passwords through the agent", tone="danger"),
        cls="inline",
    )
    return h(
        "div",
        {"class": "agent-actions"},
        code,
        post_form(viewer, f"{path}/sync", button("Sync through the agent", "mode", "incremental")),
        post_form(viewer, f"{path}/sync", button("Full sync through the agent", "mode", "full")),
        post_form(viewer, f"{path}/sync", dry, button("Dry run through the agent", "mode", "incremental")),
        rotate,
    )


def agents_section(viewer: Viewer, cid: str, agents: Sequence[Mapping[str, Any]], jobs: Sequence[Any]) -> Markup:
    """The connection page's "On-premises AD agents": the list (Reader and Admin), the actions (Admin only), the
    latest jobs with a Refresh link while one is under way (no polling: the page stays without connect-src)."""
    running = active(jobs)
    return h(
        "section",
        {"class": "ad-agents", "id": "agents"},
        h("h2", {}, "On-premises AD agents"),
        h(
            "p",
            {"class": "note"},
            "Agents run in the customer's network and only dial out (HTTPS 443). An agent is online when it was in "
            "contact within the last 2 minutes.",
        ),
        agents_table(viewer, cid, agents),
        agent_actions(viewer, cid, agents),
        h("h3", {}, "Agent jobs") if jobs else "",
        jobs_table(jobs) if jobs else "",
        h("p", {}, h("a", {"href": f"/api/console/connections/{cid}#agents"}, "Refresh")) if running else "",
    )


def command(code: str, config: str = LINUX_CONFIG) -> str:
    return f"python -m agent --config {config} register --code {code}"


def code_page(viewer: Viewer, view: Mapping[str, Any], answer: Mapping[str, Any], service_url: str) -> Markup:
    """A new registration code, shown only in this answer (the service keeps its SHA-256 only): the code, the
    command for Linux and Windows, the service URL the agent's configuration names, and the expiry."""
    cid, name = str(view["id"]), str(view.get("display_name") or view["id"])
    code = str(answer.get("code", ""))

    def copy_box(box_id: str, label: str, value: str, multiline: bool = False) -> Markup:
        return h(
            "div",
            {"class": "field wide"},
            h("label", {"for": box_id}, label),
            h("textarea", {"id": box_id, "readonly": True, "rows": 2, "class": "copy", "spellcheck": "false"}, value)
            if multiline
            else h("input", {"type": "text", "id": box_id, "readonly": True, "value": value, "class": "copy"}),
            h("button", {"type": "button", "class": "copy-button", "data-copy": box_id, "hidden": True}, "Copy"),
        )

    body = [
        notice(
            f"Registration code made; valid until {when(answer.get('expires_at'))}, for one agent. It is shown only "
            "now: copy it before leaving this page.",
            "ok",
        ),
        copy_box("agent-code", "Registration code", code),
        copy_box("agent-command", "On the agent's machine (Linux)", command(code), True),
        copy_box("agent-command-windows", "On Windows", command(code, WINDOWS_CONFIG), True),
        h(
            "p",
            {},
            "The agent's configuration names this service as ",
            h("code", {}, "service_url"),
            ": ",
            h("code", {"id": "service-url"}, service_url),
            ". Installing the agent (systemd unit or Windows service) and the AD account it needs: docs/ad-agent.md.",
        ),
        h("p", {}, h("a", {"href": f"/api/console/connections/{cid}#agents"}, f"Back to {name}")),
    ]
    return layout(f"Register an agent: {name}", body, viewer=viewer)
