"""GET /api/openapi.yaml (function key): the OpenAPI description of this HTTP API, read from the file next to this
module at request time (nothing at import time)."""

from __future__ import annotations

from pathlib import Path

import azure.functions as func

bp = func.Blueprint()  # type: ignore[no-untyped-call]
DESCRIPTION = Path(__file__).with_name("openapi.yaml")


@bp.function_name("openapi")
@bp.route(route="openapi.yaml", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def openapi(req: func.HttpRequest) -> func.HttpResponse:
    """Behind the function key like the API it describes: the description helps only a caller who holds a key, and
    the anonymous surface stays the health probe and the consent callback."""
    return func.HttpResponse(
        DESCRIPTION.read_bytes(), status_code=200, mimetype="application/yaml", headers={"Cache-Control": "no-cache"}
    )
