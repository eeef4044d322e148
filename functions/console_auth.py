"""The console's sign-in routes (anonymous: the browser holds no function key): GET /api/console/signin redirects
to Entra, GET /api/console/callback takes the answer and starts a session, POST /api/console/signout ends it,
GET /api/console/account says who is signed in."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl

import azure.functions as func

from functions.console_web import console_user, cookies_of, csrf_ok, html_response, sign_in_redirect
from functions.http_util import who
from shared.domain.console_session import SESSION_COOKIE, SIGNIN_PATH, safe_return_path
from shared.domain.console_signin_page import render_account_page, render_signin_page
from shared.errors import ConnectorError

bp = func.Blueprint()  # type: ignore[no-untyped-call]
MAX_FORM_BYTES = 16 * 1024


@bp.function_name("console_signin")
@bp.route(route="console/signin", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def signin(req: func.HttpRequest) -> func.HttpResponse:
    from shared.composition import Container
    from shared.services.console_signin import sign_in_start

    try:
        async with Container.from_env() as container:
            url, cookie = await sign_in_start(container, safe_return_path(req.params.get("return")), time.time())
    except Exception as exc:  # noqa: BLE001 (the edge: typed errors shown, others recorded and never shown)
        return await _failure("console_signin", exc)
    response = html_response("", 302, {"Set-Cookie": cookie})
    response.headers["Location"] = url
    return response


@bp.function_name("console_callback")
@bp.route(route="console/callback", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def callback(req: func.HttpRequest) -> func.HttpResponse:
    from shared.composition import Container
    from shared.services.audit import acting_as
    from shared.services.console_signin import sign_in_callback

    query = {k: str(v)[:4096] for k, v in req.params.items()}
    try:
        with acting_as(who(req, "console-signin")):
            async with Container.from_env() as container:
                page = await sign_in_callback(container, query, cookies_of(req), time.time())
    except Exception as exc:  # noqa: BLE001
        return await _failure("console_callback", exc)
    again = None if page.continue_to else SIGNIN_PATH
    body = render_signin_page(page.title, page.message, page.details, continue_to=page.continue_to, link=again)
    return html_response(body, page.status, {"Set-Cookie": "\n".join(page.cookies)})


@bp.function_name("console_signout")
@bp.route(route="console/signout", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def signout(req: func.HttpRequest) -> func.HttpResponse:
    """Needs the session's CSRF token (form field `csrf` or header X-CSRF-Token); without a live session it only
    clears the cookie."""
    from shared.composition import Container
    from shared.services.audit import acting_as
    from shared.services.console_session import as_user, session_of
    from shared.services.console_signin import sign_out

    raw = (req.get_body() or b"")[:MAX_FORM_BYTES].decode("utf-8", "replace")
    form = dict(parse_qsl(raw, max_num_fields=20))
    cookie = cookies_of(req).get(SESSION_COOKIE)
    try:
        async with Container.from_env() as container:
            session = await session_of(container, cookie, time.time())
            if session is not None and not csrf_ok(await as_user(container, session), form, req.headers):
                body = render_signin_page(
                    "Request refused",
                    "The form's security token is missing or wrong.",
                    ("Reload the page and try again.",),
                )
                return html_response(body, 403)
            with acting_as(f"console user {session.oid}" if session else who(req, "console")):
                cookies = await sign_out(container, session.sid if session else None)
    except Exception as exc:  # noqa: BLE001
        return await _failure("console_signout", exc)
    body = render_signin_page("Signed out", "You are signed out of the console.", link=SIGNIN_PATH)
    return html_response(body, 200, {"Set-Cookie": "\n".join(cookies)})


@bp.function_name("console_account")
@bp.route(route="console/account", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def account(req: func.HttpRequest) -> func.HttpResponse:
    """Who is signed in, with which app roles, and the sign-out button; the sign-in for a browser without a session."""
    try:
        user = await console_user(req)
    except Exception as exc:  # noqa: BLE001
        return await _failure("console_account", exc)
    if user is None:
        return sign_in_redirect(req)
    return html_response(render_account_page(user.name, sorted(user.roles), user.can_act, user.csrf))


@bp.function_name("console_favicon")
@bp.route(route="console/favicon.svg", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def favicon(req: func.HttpRequest) -> func.HttpResponse:
    from shared.domain.console_signin_page import FAVICON_SVG

    headers = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}
    return func.HttpResponse(FAVICON_SVG, mimetype="image/svg+xml", headers=headers)


async def _failure(where: str, exc: Exception) -> func.HttpResponse:
    """A typed error's words on a page (a 4xx/503 status), or an unexpected one recorded and never shown."""
    if isinstance(exc, ConnectorError):
        status = exc.http_status if exc.http_status < 500 or exc.http_status == 503 else 500
        return html_response(render_signin_page("Sign-in unavailable", exc.message), status)
    from shared.services import incidents

    error = await incidents.record_now(where, exc)
    return html_response(render_signin_page("Something went wrong", f"{error.message} Try again later."), 500)
