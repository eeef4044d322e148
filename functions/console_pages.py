"""The console's pages (GET, anonymous auth level: the session decides): connections list, add connection, a
connection's page and settings, run history, rotation, users, groups, audit log, and a running sync's progress
(JSON for console.js). Each gathers from the services and renders with shared/console (pure)."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func

from functions.console_pages_base import Page, message, serve
from functions.console_web import console_user
from functions.http_util import route_id
from shared.console.forms import Form
from shared.console.widgets import Viewer

bp = func.Blueprint()  # type: ignore[no-untyped-call]
ANON = func.AuthLevel.ANONYMOUS
CONNECTION = "console/connections/{id}"


@bp.function_name("console_home")
@bp.route(route="console", methods=["GET"], auth_level=ANON)
async def home(req: func.HttpRequest) -> func.HttpResponse:
    from shared.console import views
    from shared.console.render_list import connections_page

    async def work(viewer: Viewer, container: Any, form: Form) -> Page:
        return Page(connections_page(viewer, await views.connections_list(container), message(req)))

    return await serve(req, "console_home", work)


@bp.function_name("console_new")
@bp.route(route="console/new", methods=["GET"], auth_level=ANON)
async def new(req: func.HttpRequest) -> func.HttpResponse:
    from shared.console.render_list import new_connection_page

    async def work(viewer: Viewer, container: Any, form: Form) -> Page:
        return Page(new_connection_page(viewer, {}, {}))

    return await serve(req, "console_new", work)


@bp.function_name("console_connection")
@bp.route(route=CONNECTION, methods=["GET"], auth_level=ANON)
async def connection(req: func.HttpRequest) -> func.HttpResponse:
    from shared.console import views
    from shared.console.render_connection import connection_page

    async def work(viewer: Viewer, container: Any, form: Form) -> Page:
        model = await views.connection_model(container, route_id(req))
        return Page(connection_page(viewer, model, message(req)), polls=model["progress"] is not None)

    return await serve(req, "console_connection", work)


@bp.function_name("console_settings")
@bp.route(route=f"{CONNECTION}/settings", methods=["GET"], auth_level=ANON)
async def settings(req: func.HttpRequest) -> func.HttpResponse:
    """The settings form; `group_search` lists groups by name, `sync_group` / `rotation_group` put a found group
    into the form (links of the search results: works without JavaScript)."""
    from shared.console.render_settings import settings_page
    from shared.domain.secret_names import GUID_PATTERN
    from shared.errors import ValidationError
    from shared.services.connections import get_connection
    from shared.services.group_search import search_groups

    async def work(viewer: Viewer, container: Any, form: Form) -> Page:
        view = await get_connection(container, route_id(req))
        picked: dict[str, Any] = {}
        for param, field in (("sync_group", "sync_group_id"), ("rotation_group", "rotation_group_id")):
            if GUID_PATTERN.fullmatch(req.params.get(param, "")):
                picked[field] = req.params[param].lower()
        search, found, problem = req.params.get("group_search", ""), None, ""
        if search and viewer.can_act:
            try:
                found = await search_groups(container, view["id"], search)
            except ValidationError as exc:
                problem = exc.problems.get("group_search", exc.message)
        page = settings_page(
            viewer, view, values=picked, search=search[:120], found=found, search_error=problem, message=message(req)
        )
        return Page(page, 400 if problem else 200)

    return await serve(req, "console_settings", work)


async def _listing(req: func.HttpRequest, what: str) -> func.HttpResponse:
    from shared.console import render_tables
    from shared.services import sync_api
    from shared.services.connections import get_connection
    from shared.services.rotation_admin import user_status

    async def work(viewer: Viewer, container: Any, form: Form) -> Page:
        view = await get_connection(container, route_id(req))
        continuation = req.params.get("continuation") or None
        if what == "runs":
            from shared.services.agent_overview import overview

            _, data = await sync_api.runs(container, view["id"], 50)
            jobs = (await overview(container, view["id"]))["jobs"] if view.get("source") == "ad" else []
            return Page(render_tables.runs_page(viewer, view, data["runs"], jobs))
        if what == "rotation":
            return Page(
                render_tables.rotation_page(viewer, view, await user_status(container, view["id"], 100, continuation))
            )
        if what == "audit":
            from shared.console import views

            data = await views.audit_page(container, view["id"], continuation)
            path = f"/api/console/connections/{view['id']}/audit"
            return Page(render_tables.audit_page(viewer, f"Audit log: {view.get('display_name')}", path, data))
        _, data = await sync_api.listing(container, view["id"], what, continuation, 100)
        render = render_tables.users_page if what == "users" else render_tables.groups_page
        return Page(render(viewer, view, data))

    return await serve(req, f"console_{what}", work)


@bp.function_name("console_runs")
@bp.route(route=f"{CONNECTION}/runs", methods=["GET"], auth_level=ANON)
async def runs(req: func.HttpRequest) -> func.HttpResponse:
    return await _listing(req, "runs")


@bp.function_name("console_rotation")
@bp.route(route=f"{CONNECTION}/rotation", methods=["GET"], auth_level=ANON)
async def rotation(req: func.HttpRequest) -> func.HttpResponse:
    return await _listing(req, "rotation")


@bp.function_name("console_users")
@bp.route(route=f"{CONNECTION}/users", methods=["GET"], auth_level=ANON)
async def users(req: func.HttpRequest) -> func.HttpResponse:
    return await _listing(req, "users")


@bp.function_name("console_groups")
@bp.route(route=f"{CONNECTION}/groups", methods=["GET"], auth_level=ANON)
async def groups(req: func.HttpRequest) -> func.HttpResponse:
    return await _listing(req, "groups")


@bp.function_name("console_connection_audit")
@bp.route(route=f"{CONNECTION}/audit", methods=["GET"], auth_level=ANON)
async def connection_audit(req: func.HttpRequest) -> func.HttpResponse:
    return await _listing(req, "audit")


@bp.function_name("console_audit")
@bp.route(route="console/audit", methods=["GET"], auth_level=ANON)
async def audit_log(req: func.HttpRequest) -> func.HttpResponse:
    from shared.console import views
    from shared.console.render_tables import audit_page

    async def work(viewer: Viewer, container: Any, form: Form) -> Page:
        data = await views.audit_page(container, None, req.params.get("continuation") or None)
        return Page(audit_page(viewer, "Audit log", "/api/console/audit", data))

    return await serve(req, "console_audit", work)


@bp.function_name("console_progress")
@bp.route(route=f"{CONNECTION}/progress", methods=["GET"], auth_level=ANON)
async def progress(req: func.HttpRequest) -> func.HttpResponse:
    """JSON for console.js: {running, phase, counts}; 401 without a session (the script then stops polling)."""
    from functions.console_web import SECURITY_HEADERS
    from functions.http_util import error_response, internal_response
    from shared.composition import Container
    from shared.errors import ConnectorError
    from shared.services import sync_api

    headers = dict(SECURITY_HEADERS)
    try:
        cid = route_id(req)  # a bad id: 404 before the session or anything else is read
        user = await console_user(req)
        if user is None or not user.can_read:
            body = json.dumps({"code": "unauthenticated", "message": "Sign in to the console."})
            return func.HttpResponse(body, status_code=401, mimetype="application/json", headers=headers)
        async with Container.from_env() as container:
            data = await sync_api.progress(container, cid)
    except ConnectorError as exc:
        return error_response(exc)
    except Exception as exc:  # noqa: BLE001 (the edge: recorded, answered 500 internal_error)
        return await internal_response("console_progress", exc)
    return func.HttpResponse(json.dumps(data), mimetype="application/json", headers=headers)
