"""Consent invitations: POST/DELETE /api/connections/{id}/invitations[/{invitationId}] (function key) make and
revoke them; GET /api/consent/invite/{token} (anonymous) starts the admin-consent flow or shows a fixed page."""

from __future__ import annotations

import azure.functions as func

from functions.http_util import answer, html_failure, json_body, route_id, safe_id, who

bp = func.Blueprint()  # type: ignore[no-untyped-call]
HTML_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'", "Cache-Control": "no-store"}


@bp.function_name("invitations_create")
@bp.route(route="connections/{id}/invitations", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def create(req: func.HttpRequest) -> func.HttpResponse:
    from shared.composition import Container
    from shared.services.invitations import create_invitation

    async def work() -> tuple[int, object]:
        connection_id = route_id(req)
        body = json_body(req) if (req.get_body() or b"").strip() else None
        async with Container.from_env() as container:
            return await create_invitation(container, connection_id, body)

    return await answer(work, "invitations_create", safe_id(req), req=req)


@bp.function_name("invitations_revoke")
@bp.route(route="connections/{id}/invitations/{invitationId}", methods=["DELETE"], auth_level=func.AuthLevel.FUNCTION)
async def revoke(req: func.HttpRequest) -> func.HttpResponse:
    from shared.composition import Container
    from shared.services.invitations import revoke_invitation

    async def work() -> tuple[int, object]:
        connection_id = route_id(req)
        async with Container.from_env() as container:
            return await revoke_invitation(container, connection_id, req.route_params.get("invitationId") or "")

    return await answer(work, "invitations_revoke", safe_id(req), req=req)


@bp.function_name("consent_invite")
@bp.route(route="consent/invite/{token}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def invite(req: func.HttpRequest) -> func.HttpResponse:
    """The customer's administrator opens the link: the same 302 as consent/start, or a page with a fixed text."""
    from shared.services.audit import acting_as

    with acting_as(who(req, "consent-invitation")):
        return await _invite(req)


async def _invite(req: func.HttpRequest) -> func.HttpResponse:
    from shared.composition import Container
    from shared.domain.consent_outcomes import OUTCOMES
    from shared.domain.consent_page import render_page
    from shared.services.invitations import open_invitation

    try:
        async with Container.from_env() as container:
            outcome, location = await open_invitation(container, req.route_params.get("token"))
        if location is not None:
            return func.HttpResponse(status_code=302, headers={**HTML_HEADERS, "Location": location})
        fixed = OUTCOMES[outcome]
        page = render_page(fixed.title, fixed.message)
        return func.HttpResponse(page, status_code=fixed.status, mimetype="text/html", headers=HTML_HEADERS)
    except Exception as exc:  # noqa: BLE001 (the edge: typed errors shown, others recorded and never shown)
        return await html_failure("consent_invite", exc, HTML_HEADERS)
