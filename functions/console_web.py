"""What every console page uses (the interface h-cpages builds on): the signed-in user from the session cookie,
the CSRF check for anything that changes state, HTML responses with the console's security headers, and the
redirect to sign-in. The sign-in routes themselves are functions/console_auth.py; docs/console.md tells the design."""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping
from http.cookies import CookieError, SimpleCookie
from urllib.parse import quote, urlsplit

import azure.functions as func

from shared.domain.console_session import (
    ADMIN_ROLE,
    READER_ROLE,
    SESSION_COOKIE,
    SIGNIN_PATH,
    ConsoleUser,
    safe_return_path,
)

__all__ = [
    "ADMIN_ROLE",
    "READER_ROLE",
    "SECURITY_HEADERS",
    "ConsoleUser",
    "console_user",
    "cookies_of",
    "csrf_ok",
    "html_response",
    "sign_in_redirect",
]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"


def cookies_of(req: func.HttpRequest) -> dict[str, str]:
    """The request's cookies (a malformed or oversized Cookie header counts as none)."""
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load((req.headers.get("Cookie") or "")[:8192])
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


async def console_user(req: func.HttpRequest) -> ConsoleUser | None:
    """The signed-in console user, or None when the session cookie is absent, forged, expired or signed out."""
    cookie = cookies_of(req).get(SESSION_COOKIE)
    if not cookie:
        return None
    from shared.composition import Container
    from shared.services.console_session import user_of

    async with Container.from_env() as container:
        return await user_of(container, cookie, time.time())


def csrf_ok(user: ConsoleUser, form: Mapping[str, str], headers: Mapping[str, str] | None = None) -> bool:
    """True when the request carries the session's CSRF token: hidden form field `csrf`, or header `X-CSRF-Token`
    (pass `req.headers` for script-sent requests)."""
    given = form.get(CSRF_FIELD) or (headers.get(CSRF_HEADER) if headers is not None else None) or ""
    return bool(user.csrf) and hmac.compare_digest(given.encode(), user.csrf.encode())


def html_response(body: str, status: int = 200, headers: Mapping[str, str] | None = None) -> func.HttpResponse:
    """An HTML page with the console's security headers (strict CSP, nosniff, no-referrer, no-store); `headers`
    add to them (a `Set-Cookie` value may hold several cookies separated by newlines)."""
    response = func.HttpResponse(body, status_code=status, mimetype="text/html", charset="utf-8")
    for name, value in {**SECURITY_HEADERS, **(headers or {})}.items():
        for line in value.split("\n") if name.lower() == "set-cookie" else [value]:
            response.headers.add_header(name, line)
    return response


def sign_in_redirect(req: func.HttpRequest) -> func.HttpResponse:
    """302 to the console's sign-in, remembering where to come back to (a local /api/console path only)."""
    parts = urlsplit(req.url)
    here = parts.path + (f"?{parts.query}" if parts.query else "")
    back = safe_return_path(here if req.method == "GET" else None)
    location = f"{SIGNIN_PATH}?return={quote(back, safe='')}"
    response = func.HttpResponse(status_code=302, headers={"Location": location})
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    return response
