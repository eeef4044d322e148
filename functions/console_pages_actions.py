"""The console's actions (POST, Admin role and CSRF token required; the session decides): add a connection, save
settings, Grant permissions (redirect to admin consent), Invite, Test permissions, Sync now / full / groups, Dry
run, Approve deletions, Remove grant / Delete. Each calls the same service function as the JSON API; a refused
form comes back with each problem next to its field and nothing changed; a change answers 303 (POST-redirect-GET)."""

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
CONNECTION = "console/connections/{id}"
SECRET_FIELDS = ("client_secret", "certificate", "csrf")  # never put back into a page


def _back(cid: str, done: str = "") -> Redirect:
    return Redirect(f"/api/console/connections/{cid}" + (f"?done={done}" if done else ""))


@bp.function_name("console_create")
@bp.route(route="console/connections", methods=["POST"], auth_level=ANON)
async def create(req: func.HttpRequest) -> func.HttpResponse:
    from shared.console.forms import create_body
    from shared.console.render_list import new_connection_page
    from shared.services.connections import create_connection

    async def work(viewer: Viewer, container: Any, form: Form) -> Answer:
        try:
            created = await create_connection(container, create_body(form))
        except ValidationError as exc:
            typed = {k: v for k, v in form.single().items() if k not in SECRET_FIELDS}
            return Page(new_connection_page(viewer, typed, exc.problems), 400)
        return _back(created["id"], "created")

    return await serve(req, "console_create", work, acts=True)


@bp.function_name("console_settings_save")
@bp.route(route=f"{CONNECTION}/settings", methods=["POST"], auth_level=ANON)
async def save_settings(req: func.HttpRequest) -> func.HttpResponse:
    from shared.console.forms import settings_body, user_defaults_of
    from shared.console.render_settings import settings_page
    from shared.services.connections import get_connection, update_connection

    async def work(viewer: Viewer, container: Any, form: Form) -> Answer:
        view = await get_connection(container, route_id(req))
        try:
            await update_connection(container, view["id"], settings_body(form, view))
        except ValidationError as exc:
            return Page(settings_page(viewer, view, errors=exc.problems, values=_typed(form, user_defaults_of)), 400)
        return Redirect(f"/api/console/connections/{view['id']}/settings?done=saved")

    return await serve(req, "console_settings_save", work, acts=True)


def _typed(form: Form, defaults: Any) -> dict[str, Any]:
    """What the admin typed, to show again on a refused settings form (never a secret)."""
    values: dict[str, Any] = {k: v for k, v in form.single().items() if k not in SECRET_FIELDS and k != "weekdays"}
    values["sync_enabled"] = form.has("sync_enabled")
    values["rotation_enabled"] = form.has("rotation_enabled")
    values["schedule"] = {
        "frequency": form.get("frequency"),
        "weekdays": form.all("weekdays"),
        "time_of_day": form.get("time_of_day"),
        "timezone": form.get("timezone"),
    }
    try:
        values["user_defaults"] = defaults(form.get("user_defaults"))
    except ValidationError:
        values.pop("user_defaults", None)
    return values


@bp.function_name("console_consent")
@bp.route(route=f"{CONNECTION}/consent", methods=["POST"], auth_level=ANON)
async def consent(req: func.HttpRequest) -> func.HttpResponse:
    """Grant permissions: a page whose link leads on to the tenant's admin-consent page (the same signed state as
    /api/consent/start; a link because the CSP's form-action 'self' stops a POST redirected to another site)."""
    from shared.console.render_results import consent_page
    from shared.services.connections import get_connection
    from shared.services.consent import consent_url

    async def work(viewer: Viewer, container: Any, form: Form) -> Answer:
        cid = route_id(req)
        url = await consent_url(container, cid)
        return Page(consent_page(viewer, await get_connection(container, cid), url))

    return await serve(req, "console_consent", work, acts=True)


@bp.function_name("console_invite")
@bp.route(route=f"{CONNECTION}/invitations", methods=["POST"], auth_level=ANON)
async def invite(req: func.HttpRequest) -> func.HttpResponse:
    """A copyable invitation link, shown once in this answer (it is not stored anywhere it could be shown again)."""
    from shared.console.render_results import invitation_page
    from shared.services.connections import get_connection
    from shared.services.invitations import create_invitation

    async def work(viewer: Viewer, container: Any, form: Form) -> Answer:
        view = await get_connection(container, route_id(req))
        _, invitation = await create_invitation(container, view["id"], None)
        return Page(invitation_page(viewer, view, invitation))

    return await serve(req, "console_invite", work, acts=True)


@bp.function_name("console_verify")
@bp.route(route=f"{CONNECTION}/verify", methods=["POST"], auth_level=ANON)
async def verify(req: func.HttpRequest) -> func.HttpResponse:
    """Test permissions: each check with its remedy (the report is this answer; the connection's state it sets
    shows on the connection's page)."""
    from shared.console.render_results import verify_page
    from shared.services.connections import get_connection
    from shared.services.verification import verify_connection

    async def work(viewer: Viewer, container: Any, form: Form) -> Answer:
        cid = route_id(req)
        report = (await verify_connection(container, cid)).to_dict()
        return Page(verify_page(viewer, await get_connection(container, cid), report))

    return await serve(req, "console_verify", work, acts=True)


@bp.function_name("console_sync")
@bp.route(route=f"{CONNECTION}/sync", methods=["POST"], auth_level=ANON)
async def sync(req: func.HttpRequest) -> func.HttpResponse:
    from shared.services import sync_api

    async def work(viewer: Viewer, container: Any, form: Form) -> Answer:
        cid = route_id(req)
        await sync_api.start_sync(container, cid, form.get("mode", "incremental"), False)
        return _back(cid, "sync_queued")

    return await serve(req, "console_sync", work, acts=True)


@bp.function_name("console_dry_run")
@bp.route(route=f"{CONNECTION}/dry-run", methods=["POST"], auth_level=ANON)
async def dry_run(req: func.HttpRequest) -> func.HttpResponse:
    from shared.console.render_results import dry_run_page
    from shared.services import sync_api
    from shared.services.connections import get_connection

    async def work(viewer: Viewer, container: Any, form: Form) -> Answer:
        cid = route_id(req)
        _, result = await sync_api.start_sync(container, cid, form.get("mode", "incremental"), True)
        return Page(dry_run_page(viewer, await get_connection(container, cid), result))

    return await serve(req, "console_dry_run", work, acts=True)


@bp.function_name("console_approve")
@bp.route(route=f"{CONNECTION}/approve", methods=["POST"], auth_level=ANON)
async def approve(req: func.HttpRequest) -> func.HttpResponse:
    """Approve deletions: only with the explicit confirmation box ticked."""
    from shared.console import views
    from shared.console.render_connection import connection_page
    from shared.services import sync_api

    async def work(viewer: Viewer, container: Any, form: Form) -> Answer:
        cid = route_id(req)
        try:
            if form.get("confirm") != "yes":
                raise ValidationError({"confirm": "tick the box to confirm these removals"})
            await sync_api.approve(container, cid)
        except ValidationError as exc:
            model = await views.connection_model(container, cid)
            return Page(connection_page(viewer, model, errors=exc.problems), 400)
        return _back(cid, "approved")

    return await serve(req, "console_approve", work, acts=True)


@bp.function_name("console_delete")
@bp.route(route=f"{CONNECTION}/delete", methods=["POST"], auth_level=ANON)
async def delete(req: func.HttpRequest) -> func.HttpResponse:
    """Remove grant / Delete: only when the connection's name is typed exactly; `purge` removes everything."""
    from shared.console import views
    from shared.console.render_connection import connection_page
    from shared.services.connections import delete_connection

    async def work(viewer: Viewer, container: Any, form: Form) -> Answer:
        model = await views.connection_model(container, route_id(req))
        view = model["view"]
        if form.get("confirm_name").strip() != str(view.get("display_name")):
            problems = {"confirm_name": "type the connection's name exactly to confirm"}
            return Page(connection_page(viewer, model, errors=problems), 400)
        purge = form.get("purge") == "yes"
        await delete_connection(container, view["id"], purge)
        return Redirect(f"/api/console/?done={'purging' if purge else 'deleted'}")

    return await serve(req, "console_delete", work, acts=True)
