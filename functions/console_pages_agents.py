"""The console's actions for a connection's on-prem AD agents (POST, Admin role and CSRF token required): make a
registration code (shown once, in this answer only), remove an agent (its name typed to confirm), sync and rotate
passwords through the agents. Each calls the same service function as the JSON API (functions/agent_api.py); a
refused form shows the connection's page with the problem and nothing changed; a change answers 303."""

from __future__ import annotations

from typing import Any

import azure.functions as func

from functions.console_pages_base import Answer, Page, Redirect, serve
from functions.http_util import route_id
from shared.console.forms import Form
from shared.console.widgets import Viewer
from shared.errors import ValidationError

bp = func.Blueprint()  # type: ignore[no-untyped-call]
ANON = func.AuthLevel.ANONYMOUS
AGENTS = "console/connections/{id}/agents"


def _back(cid: str, done: str) -> Redirect:
    return Redirect(f"/api/console/connections/{cid}?done={done}#agents")


async def _refused(viewer: Viewer, container: Any, cid: str, exc: ValidationError) -> Page:
    """The connection's page with the problem named (nothing was changed)."""
    from shared.console import views
    from shared.console.render_connection import connection_page

    model = await views.connection_model(container, cid)
    return Page(connection_page(viewer, model, errors=exc.problems), 400)


@bp.function_name("console_agent_code")
@bp.route(route=f"{AGENTS}/codes", methods=["POST"], auth_level=ANON)
async def code(req: func.HttpRequest) -> func.HttpResponse:
    """A one-time registration code: shown on this answer only (never stored but as its hash, never logged)."""
    from shared.console.render_agents import code_page
    from shared.services.agent_registry import create_code
    from shared.services.connections import get_connection

    async def work(viewer: Viewer, container: Any, form: Form) -> Answer:
        cid = route_id(req)
        minutes = form.get("expires_in_minutes", "60")
        try:
            if not (minutes.isascii() and minutes.isdigit()) or len(minutes) > 6:
                raise ValidationError({"expires_in_minutes": "must be a whole number of minutes"})
            _, made = await create_code(container, cid, {"expires_in_minutes": int(minutes)})
        except ValidationError as exc:
            return await _refused(viewer, container, cid, exc)
        view = await get_connection(container, cid)
        return Page(code_page(viewer, view, made, container.settings.public_base_url))

    return await serve(req, "console_agent_code", work, acts=True)


@bp.function_name("console_agent_remove")
@bp.route(route=f"{AGENTS}/{{agentId}}/remove", methods=["POST"], auth_level=ANON)
async def remove(req: func.HttpRequest) -> func.HttpResponse:
    """Remove an agent, only when its name is typed exactly: its requests are refused from then on and a job it
    held goes back to the queue for another agent."""
    from shared.errors import NotFound
    from shared.services.agent_registry import list_agents, remove_agent

    async def work(viewer: Viewer, container: Any, form: Form) -> Answer:
        cid, agent_id = route_id(req), (req.route_params.get("agentId") or "").lower()
        _, listed = await list_agents(container, cid)
        agent = next((a for a in listed["agents"] if a["id"] == agent_id), None)
        if agent is None:
            raise NotFound("No such agent (it may have been removed already).")
        if form.get("confirm_name").strip() != str(agent["name"]):
            problem = ValidationError({"confirm_agent_name": "type the agent's name exactly to remove it"})
            return await _refused(viewer, container, cid, problem)
        await remove_agent(container, cid, agent_id)
        return _back(cid, "agent_removed")

    return await serve(req, "console_agent_remove", work, acts=True)


@bp.function_name("console_ad_sync")
@bp.route(route=f"{AGENTS}/sync", methods=["POST"], auth_level=ANON)
async def ad_sync(req: func.HttpRequest) -> func.HttpResponse:
    """Sync through the agent: incremental or full, `dry_run=yes` for a dry run (its outcome in the run history)."""
    from shared.services.ad_sync import start_ad_sync

    async def work(viewer: Viewer, container: Any, form: Form) -> Answer:
        cid = route_id(req)
        dry_run = form.get("dry_run") == "yes"
        try:
            await start_ad_sync(container, cid, form.get("mode", "incremental"), dry_run)
        except ValidationError as exc:
            return await _refused(viewer, container, cid, exc)
        return _back(cid, "ad_dry_run_queued" if dry_run else "ad_sync_queued")

    return await serve(req, "console_ad_sync", work, acts=True)


@bp.function_name("console_ad_rotate")
@bp.route(route=f"{AGENTS}/rotate", methods=["POST"], auth_level=ANON)
async def ad_rotate(req: func.HttpRequest) -> func.HttpResponse:
    """Rotate passwords through the agent (every active synced user, as the API's default), with the box ticked."""
    from shared.services.ad_rotation import start_ad_rotation

    async def work(viewer: Viewer, container: Any, form: Form) -> Answer:
        cid = route_id(req)
        try:
            if form.get("confirm_rotation") != "yes":
                raise ValidationError({"confirm_rotation": "tick the box to confirm the new passwords"})
            await start_ad_rotation(container, cid, None)
        except ValidationError as exc:
            return await _refused(viewer, container, cid, exc)
        return _back(cid, "ad_rotation_queued")

    return await serve(req, "console_ad_rotate", work, acts=True)
