"""The console's static assets, from the deployment (functions/console_static/): only the known files, each with
its content type, an ETag and a day's caching; nothing is fetched at run time and no CDN is used."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import azure.functions as func

bp = func.Blueprint()  # type: ignore[no-untyped-call]
FOLDER = Path(__file__).resolve().parent / "console_static"
FILES = {"console.css": "text/css", "console.js": "text/javascript"}
CACHE = "public, max-age=86400"


@functools.cache
def asset(name: str) -> tuple[bytes, str]:
    """The file's bytes and its ETag (read once per worker)."""
    data = (FOLDER / name).read_bytes()
    return data, '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


@bp.function_name("console_static")
@bp.route(route="console/static/{name}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def static(req: func.HttpRequest) -> func.HttpResponse:
    from functions.console_web import SECURITY_HEADERS

    name = req.route_params.get("name") or ""
    headers = {**SECURITY_HEADERS, "Cache-Control": CACHE}
    if name not in FILES:
        return func.HttpResponse("Not found", status_code=404, mimetype="text/plain", headers=dict(SECURITY_HEADERS))
    data, etag = asset(name)
    headers["ETag"] = etag
    if etag in [t.strip() for t in (req.headers.get("If-None-Match") or "").split(",")]:
        return func.HttpResponse(status_code=304, headers=headers)
    return func.HttpResponse(data, status_code=200, mimetype=FILES[name], charset="utf-8", headers=headers)
