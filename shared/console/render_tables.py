"""Read-only pages of a connection: run history, rotation per user, users, groups, and the audit log (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from shared.console.html import Child, Markup, badge, h, layout, table
from shared.console.render_agents import job_label, job_state
from shared.console.render_connection import base, counts_list
from shared.console.render_list import RUN_TONE, when
from shared.console.render_results import back
from shared.console.widgets import Viewer


def _more(path: str, continuation: str | None) -> Markup:
    if not continuation:
        return Markup("")
    return h("p", {}, h("a", {"href": f"{path}?{urlencode({'continuation': continuation})}"}, "Next page"))


EXHAUSTED = "agent_attempts_exhausted"  # the one agent failure that records no run (docs/ad-agent.md)


def runs_page(
    viewer: Viewer,
    view: Mapping[str, Any],
    runs: Sequence[Mapping[str, Any]],
    jobs: Sequence[Mapping[str, Any]] = (),
) -> Markup:
    """Entra and AD runs alike; `jobs` (the connection's agent jobs) add the AD syncs not finished yet (queued,
    running on an agent, stalled) at the top, and the one failure no run is recorded for (a job leased too often
    without an answer), and name the agent that answered a finished AD run."""
    cid, name = str(view["id"]), str(view.get("display_name") or view["id"])
    syncs = [j for j in jobs if j.get("kind") == "sync"]
    by_run = {str(j.get("run_id")): j for j in syncs}
    pending = [j for j in syncs if j.get("state") != "done" or j.get("error_code") == EXHAUSTED]
    rows: list[list[Child]] = [
        [
            when(j.get("created_at")),
            when(j.get("done_at")),
            job_label(j),
            job_state(j),
            j.get("error_code") or "—",
            "",
        ]
        for j in pending
    ]
    for r in runs:
        job = by_run.get(str(r.get("run_id")))
        through = f" through agent {job.get('agent')}" if job and job.get("agent") else ""
        rows.append(
            [
                when(r.get("started_at")),
                when(r.get("ended_at")),
                f"{r.get('mode')} ({r.get('trigger')}){through}",
                badge(str(r.get("outcome")).replace("_", " "), RUN_TONE.get(str(r.get("outcome")), "info")),
                r.get("error_code") or "—",
                counts_list(r.get("counts") or {}),
            ]
        )
    body = [
        table(("Started", "Ended", "Mode", "Outcome", "Error", "Counts"), rows, empty="No runs yet.", cls="runs"),
        h("p", {}, h("a", {"href": f"{base(cid)}/runs"}, "Refresh")) if pending else "",
        back(cid, name),
    ]
    return layout(f"Run history: {name}", body, viewer=viewer)


def rotation_page(viewer: Viewer, view: Mapping[str, Any], data: Mapping[str, Any]) -> Markup:
    """Per user: last rotated, next due, last outcome or skip reason. There is never a password to show."""
    cid, name = str(view["id"]), str(view.get("display_name") or view["id"])
    state = data.get("state") or {}
    rows = [
        [
            u.get("user_id"),
            when(u.get("last_rotated_at")),
            when(u.get("next_due_at")),
            u.get("last_outcome") or "—",
            u.get("skip_reason") or u.get("last_reason") or "—",
            "yes" if u.get("pending") else "",
        ]
        for u in data.get("users") or []
    ]
    summary = (
        h("p", {}, badge("blocked", "bad"), " ", state.get("detail", ""), " ", state.get("remedy", ""))
        if state.get("state") == "blocked"
        else h(
            "p",
            {},
            f"Rotation is {'on' if data.get('rotation_enabled') else 'off'}; every {data.get('interval_days')} day(s).",
        )
    )
    body = [
        summary,
        table(
            ("User", "Last rotated", "Next due", "Last outcome", "Reason", "Pending"), rows, empty="No rotation yet."
        ),
        _more(f"{base(cid)}/rotation", data.get("continuation")),
        back(cid, name),
    ]
    return layout(f"Rotation: {name}", body, viewer=viewer)


def users_page(viewer: Viewer, view: Mapping[str, Any], data: Mapping[str, Any]) -> Markup:
    cid, name = str(view["id"]), str(view.get("display_name") or view["id"])
    rows = [
        [
            u.get("displayName") or "—",
            u.get("userPrincipalName") or "—",
            u.get("mail") or "—",
            u.get("status") or ("disabled" if u.get("accountEnabled") is False else "active"),
            u.get("id"),
        ]
        for u in data.get("value") or []
    ]
    body = [
        table(
            ("Name", "User principal name", "Mail", "Status", "Object ID"),
            rows,
            empty="No users synced yet.",
            cls="users",
        ),
        _more(f"{base(cid)}/users", data.get("continuation")),
        back(cid, name),
    ]
    return layout(f"Users: {name}", body, viewer=viewer)


def groups_page(viewer: Viewer, view: Mapping[str, Any], data: Mapping[str, Any]) -> Markup:
    cid, name = str(view["id"]), str(view.get("display_name") or view["id"])
    rows = [[g.get("displayName") or "—", g.get("id")] for g in data.get("value") or []]
    body = [
        table(("Name", "Object ID"), rows, empty="No groups synced yet."),
        _more(f"{base(cid)}/groups", data.get("continuation")),
        back(cid, name),
    ]
    return layout(f"Groups: {name}", body, viewer=viewer)


def audit_page(viewer: Viewer, title: str, path: str, data: Mapping[str, Any]) -> Markup:
    rows: list[list[Any]] = [
        [
            when(r.get("at")),
            r.get("who"),
            r.get("action"),
            r.get("connection_id") or "—",
            r.get("outcome"),
            r.get("detail"),
        ]
        for r in data.get("value") or []
    ]
    body = [
        table(("When", "Who", "Action", "Connection", "Outcome", "Detail"), rows, empty="No entries."),
        _more(path, data.get("continuation")),
    ]
    return layout(title, body, viewer=viewer)
