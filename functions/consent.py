"""Admin consent: GET /api/consent/start (function key) redirects to Entra; GET /api/consent/callback (anonymous)."""

from __future__ import annotations

import azure.functions as func

from functions.http_util import error_response, internal_response
from shared.errors import ConnectorError

bp = func.Blueprint()  # type: ignore[no-untyped-call]
HTML_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'", "Cache-Control": "no-store"}


@bp.function_name("consent_start")
@bp.route(route="consent/start", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def start(req: func.HttpRequest) -> func.HttpResponse:
    from shared.composition import Container
    from shared.services.consent import consent_url

    try:
        async with Container.from_env() as container:
            url = await consent_url(container, req.params.get("connection", ""))
        return func.HttpResponse(status_code=302, headers={"Location": url, "Cache-Control": "no-store"})
    except ConnectorError as exc:
        return error_response(exc)
    except Exception as exc:  # noqa: BLE001 (the edge: recorded, answered 500 internal_error)
        return await internal_response("consent_start", exc, req.params.get("connection"))


@bp.function_name("consent_callback")
@bp.route(route="consent/callback", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def callback(req: func.HttpRequest) -> func.HttpResponse:
    from shared.composition import Container
    from shared.domain.consent_page import render_page
    from shared.services.consent import handle_callback

    try:
        async with Container.from_env() as container:
            result = await handle_callback(container, {k: str(v)[:2048] for k, v in req.params.items()})
        checks = result.report.to_dict()["checks"] if result.report else None
        page = render_page(result.title, result.message, checks)
        return func.HttpResponse(page, status_code=result.status, mimetype="text/html", headers=HTML_HEADERS)
    except ConnectorError as exc:
        page = render_page("Something went wrong", f"{exc.message} Try again later.")
        return func.HttpResponse(
            page, status_code=min(exc.http_status, 503), mimetype="text/html", headers=HTML_HEADERS
        )
    except Exception as exc:  # noqa: BLE001 (the edge: recorded; the page never shows the exception's message)
        from shared.services import incidents

        error = await incidents.record_now("consent_callback", exc)
        page = render_page("Something went wrong", f"{error.message} Try again later.")
        return func.HttpResponse(page, status_code=500, mimetype="text/html", headers=HTML_HEADERS)
