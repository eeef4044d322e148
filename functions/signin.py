"""End-user sign-in (docs/signin.md): GET /api/signin/start and GET /api/signin/callback (anonymous, browser
pages), POST /api/signin/exchange (function key: the product's backend trades the one-time code for the identity)."""

from __future__ import annotations

import azure.functions as func

from functions.consent import HTML_HEADERS
from functions.http_util import answer, cookies_of, html_failure, json_body, who

bp = func.Blueprint()  # type: ignore[no-untyped-call]


def _page(outcome: str, details: list[str] | None = None, problems: dict[str, str] | None = None) -> func.HttpResponse:
    from shared.domain.consent_page import render_page
    from shared.domain.signin import OUTCOMES

    fixed = OUTCOMES[outcome]
    lines = [f"{name}: {why}" for name, why in (problems or {}).items()] + list(details or [])
    return func.HttpResponse(
        render_page(fixed.title, fixed.message, None, lines), status_code=fixed.status, mimetype="text/html",
        headers=dict(HTML_HEADERS),
    )  # fmt: skip


@bp.function_name("signin_start")
@bp.route(route="signin/start", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def start(req: func.HttpRequest) -> func.HttpResponse:
    from shared.composition import Container
    from shared.errors import ValidationError
    from shared.services.audit import acting_as
    from shared.services.signin import start as start_signin

    with acting_as(who(req, "signin-browser")):
        try:
            async with Container.from_env() as container:
                params = {k: str(v)[:2048] for k, v in req.params.items()}
                result = await start_signin(container, params)
        except ValidationError as exc:
            return _page("bad_request", problems=exc.problems)
        except Exception as exc:  # noqa: BLE001 (the edge: typed errors shown, others recorded and never shown)
            return await html_failure("signin_start", exc, HTML_HEADERS)
    headers = {**HTML_HEADERS, "Location": result.location or "", "Set-Cookie": result.set_cookie or ""}
    return func.HttpResponse(status_code=302, headers=headers)


@bp.function_name("signin_callback")
@bp.route(route="signin/callback", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def callback(req: func.HttpRequest) -> func.HttpResponse:
    from shared.composition import Container
    from shared.services.audit import acting_as
    from shared.services.signin import callback as signin_callback

    with acting_as(who(req, "signin-callback")):
        try:
            async with Container.from_env() as container:
                query = {k: str(v)[:2048] for k, v in req.params.items()}
                result = await signin_callback(container, query, cookies_of(req.headers.get("Cookie")))
        except Exception as exc:  # noqa: BLE001 (the edge: typed errors shown, others recorded and never shown)
            return await html_failure("signin_callback", exc, HTML_HEADERS)
    if result.location:
        headers = {**HTML_HEADERS, "Location": result.location, "Set-Cookie": result.set_cookie or ""}
        return func.HttpResponse(status_code=302, headers=headers)
    response = _page(result.outcome, result.details)
    if result.set_cookie:
        response.headers["Set-Cookie"] = result.set_cookie
    return response


@bp.function_name("signin_exchange")
@bp.route(route="signin/exchange", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def exchange(req: func.HttpRequest) -> func.HttpResponse:
    from shared.composition import Container
    from shared.services.signin_handoff import exchange as exchange_code

    async def work() -> tuple[int, object]:
        body = json_body(req)
        async with Container.from_env() as container:
            return 200, await exchange_code(container, body)

    return await answer(work, "signin_exchange", req=req)
