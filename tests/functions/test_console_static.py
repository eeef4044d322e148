"""The console's CSS and JS are served from the deployment: the known files only, with their content types, nosniff,
a day's caching and an ETag (304 when it matches); every file of functions/console_static/ is one of them, and the
script inserts values as text only."""

from __future__ import annotations

import re

import azure.functions as func

from functions.console_pages_static import FILES, FOLDER
from tests.functions.invoke import call_http


def _get(name: str, etag: str | None = None) -> func.HttpResponse:
    headers = {"If-None-Match": etag} if etag else {}
    request = func.HttpRequest(
        "GET",
        f"http://localhost:7071/api/console/static/{name}",
        route_params={"name": name},
        headers=headers,
        body=b"",
    )
    response: func.HttpResponse = call_http("console_static", request)
    return response


def test_known_files_with_type_caching_and_etag() -> None:
    for name, mimetype in (
        ("console.css", "text/css"),
        ("console.js", "text/javascript"),
    ):
        response = _get(name)
        assert response.status_code == 200 and response.mimetype == mimetype
        assert response.get_body() == (FOLDER / name).read_bytes()
        assert response.headers["Cache-Control"] == "public, max-age=86400"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        etag = response.headers["ETag"]
        assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
        again = _get(name, etag)
        assert again.status_code == 304 and again.get_body() == b""


def test_anything_else_is_404() -> None:
    for name in ("../console_web.py", "console.CSS", "..%2Fopenapi.yaml", "", "console_pages.py", "x.js"):
        response = _get(name)
        assert response.status_code == 404 and response.headers["Cache-Control"] == "no-store"


def test_the_folder_holds_exactly_the_served_files() -> None:
    assert sorted(p.name for p in FOLDER.iterdir()) == sorted(FILES)


def test_the_script_inserts_values_as_text_only() -> None:
    script = (FOLDER / "console.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in script
    assert "textContent" in script
