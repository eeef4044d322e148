"""Admin consent: GET /api/consent/start (function key) redirects to Entra; GET /api/consent/callback (anonymous)
takes both legs of the flow (the admin-consent answer, then the administrator's sign-in)."""

from __future__ import annotations

import azure.functions as func

from functions.http_util import cookies_of, error_response, html_failure, internal_response, who
from shared.errors import ConnectorError

bp = func.Blueprint()  # type: ignore[no-untyped-call]
HTML_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'", "Cache-Control": "no-store"}


@bp.function_name("consent_start")
@bp.route(route="consent/start", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def start(req: func.HttpRequest) -> func.HttpResponse:
    from shared.services.audit import acting_as

    with acting_as(who(req)):
        return await _start(req)


async def _start(req: func.HttpRequest) -> func.HttpResponse:
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
    """Audit rows name the caller `consent-callback` (the tenant administrator's browser, anonymous; the consenting
    administrator is named in the sign-in row's detail)."""
    from shared.services.audit import acting_as

    with acting_as(who(req, "consent-callback")):
        return await _callback(req)


async def _callback(req: func.HttpRequest) -> func.HttpResponse:
    from shared.composition import Container
    from shared.domain.consent_page import render_page
    from shared.services.consent import handle_callback

    try:
        async with Container.from_env() as container:
            query = {k: str(v)[:2048] for k, v in req.params.items()}
            result = await handle_callback(container, query, cookies=cookies_of(req.headers.get("Cookie")))
        headers = dict(HTML_HEADERS)
        if result.set_cookie:
            headers["Set-Cookie"] = result.set_cookie
        if result.location:
            return func.HttpResponse(status_code=302, headers={**headers, "Location": result.location})
        checks = result.report.to_dict()["checks"] if result.report else None
        page = render_page(result.title, result.message, checks, result.details)
        return func.HttpResponse(page, status_code=result.status, mimetype="text/html", headers=headers)
    except Exception as exc:  # noqa: BLE001 (the edge: typed errors shown, others recorded and never shown)
        return await html_failure("consent_callback", exc, HTML_HEADERS)
