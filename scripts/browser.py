"""A scripted browser for the consent flow (demo and tests): follows redirects between Entra (the emulator, over
HTTPS) and this app's HTTP functions (invoked in-process, the way the Functions host calls them), and keeps the
app's cookies as a browser does. Nothing here decides anything: it only goes where the redirects say."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func
import httpx

APP_ROUTES = {
    "/api/consent/callback": "consent_callback",
    "/api/consent/start": "consent_start",
    "/api/signin/start": "signin_start",
    "/api/signin/callback": "signin_callback",
}
REDIRECTS = (301, 302, 303, 307, 308)
Invoke = Callable[[str, func.HttpRequest], Awaitable[Any]]
# True while the browser itself talks to Entra: the codes in the redirects it receives are the browser's to see
# (its address bar), so log scans that look for leaks by the app leave out what its HTTP client logs then.
IN_BROWSER: ContextVar[bool] = ContextVar("in_browser", default=False)


@dataclass
class Page:
    """Where the browser stopped: the last URL, its status and body, and every URL it went through."""

    url: str
    status: int
    text: str
    trail: list[str] = field(default_factory=list)


async def _host_invoke(name: str, request: func.HttpRequest) -> Any:
    from scripts.host import acall

    return await acall(name, request)


class Browser:
    """`await Browser(ca_bundle).open(url)`: GETs `url` and follows every redirect (at most `max_hops`).

    `rewrite` may change an Entra URL before it is requested (an attacker editing the address bar); `stop_at`
    stops before requesting a URL it returns True for (the page is then that URL, status 0)."""

    def __init__(
        self,
        ca_bundle: str,
        *,
        app_base: str = "http://localhost:7071",
        invoke: Invoke = _host_invoke,
        rewrite: Callable[[str], str] | None = None,
    ) -> None:
        self.ca_bundle = ca_bundle
        self.app_base = app_base.rstrip("/")
        self.invoke = invoke
        self.rewrite = rewrite
        self.cookies: dict[str, str] = {}
        self.cookies_set: dict[str, str] = {}  # every cookie the app ever set here, cleared or not

    async def open(self, url: str, *, max_hops: int = 10, stop_at: Callable[[str], bool] | None = None) -> Page:
        trail: list[str] = []
        verify = ssl.create_default_context(cafile=self.ca_bundle)
        async with httpx.AsyncClient(verify=verify, follow_redirects=False) as http:
            for _ in range(max_hops):
                if not url.startswith(self.app_base) and self.rewrite is not None:
                    url = self.rewrite(url)
                if stop_at is not None and stop_at(url):
                    return Page(url, 0, "", trail)
                trail.append(url)
                if url.startswith(self.app_base + "/"):
                    status, headers, text = await self._app(url)
                else:
                    token = IN_BROWSER.set(True)
                    try:
                        answer = await http.get(url)
                    finally:
                        IN_BROWSER.reset(token)
                    status, headers, text = answer.status_code, dict(answer.headers), answer.text
                location = headers.get("Location") or headers.get("location")
                if status in REDIRECTS and location:
                    url = location
                    continue
                return Page(url, status, text, trail)
        raise RuntimeError(f"more than {max_hops} redirects: {trail}")

    async def _app(self, url: str) -> tuple[int, dict[str, str], str]:
        parts = urlsplit(url)
        name = APP_ROUTES.get(parts.path)
        if name is None:
            return 404, {}, "no such route"
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        request = func.HttpRequest(
            "GET", url, params=dict(parse_qsl(parts.query)), headers=headers, body=b"", route_params={}
        )
        response = await self.invoke(name, request)
        answer_headers = dict(response.headers)
        self._remember(answer_headers.get("Set-Cookie") or answer_headers.get("set-cookie") or "")
        return response.status_code, answer_headers, response.get_body().decode("utf-8", "replace")

    def _remember(self, header: str) -> None:
        if not header or "=" not in header:
            return
        first, *attributes = (part.strip() for part in header.split(";"))
        name, value = first.split("=", 1)
        expired = any(a.lower() in ("max-age=0", "max-age=-1") for a in attributes)
        if expired or not value:
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = self.cookies_set[name] = value
