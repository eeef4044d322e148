"""The console pages' helpers (functions/console_web.py): security headers, the CSRF check, the sign-in redirect."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import azure.functions as func

from functions.console_web import ConsoleUser, cookies_of, csrf_ok, html_response, sign_in_redirect

USER = ConsoleUser("o", "t", "n", frozenset({"Connector.Admin"}), "token-123")


def _req(url: str, method: str = "GET", cookie: str | None = None) -> func.HttpRequest:
    headers = {"Cookie": cookie} if cookie else {}
    return func.HttpRequest(method=method, url=url, headers=headers, body=b"")


def test_html_responses_carry_the_security_headers_and_several_cookies() -> None:
    response = html_response("<p>x</p>", 403, {"Set-Cookie": "a=1; Path=/\nb=2; Path=/", "X-Extra": "y"})
    assert response.status_code == 403
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers.get_all("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/"]
    assert response.mimetype == "text/html"


def test_csrf_from_the_form_or_the_header() -> None:
    assert csrf_ok(USER, {"csrf": "token-123"})
    assert csrf_ok(USER, {}, {"X-CSRF-Token": "token-123"})
    assert not csrf_ok(USER, {})
    assert not csrf_ok(USER, {"csrf": "token-12"})
    assert not csrf_ok(USER, {"csrf": "token-1234"}, {"X-CSRF-Token": "token-123"})


def test_sign_in_redirect_keeps_a_local_return_path_only() -> None:
    response = sign_in_redirect(_req("http://127.0.0.1:7071/api/console/connections/x?tab=runs"))
    location = urlsplit(response.headers["Location"])
    assert response.status_code == 302 and location.path == "/api/console/signin" and not location.netloc
    assert parse_qs(location.query)["return"] == ["/api/console/connections/x?tab=runs"]
    posted = sign_in_redirect(_req("http://127.0.0.1:7071/api/console/connections", "POST"))
    assert parse_qs(urlsplit(posted.headers["Location"]).query)["return"] == ["/api/console/"]


def test_cookies_of_a_header() -> None:
    assert cookies_of(_req("http://h/api/console/", cookie="a=1; b=2")) == {"a": "1", "b": "2"}
