"""What every HTTP trigger shares: JSON responses, typed errors mapped to statuses, query flags."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import azure.functions as func

from shared.errors import ConnectorError

log = logging.getLogger(__name__)


def json_response(body: Any, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body, default=str), status_code=status, mimetype="application/json")


def flag(req: func.HttpRequest, name: str) -> bool:
    return req.params.get(name, "").strip().lower() in ("1", "true", "yes")


async def respond(work: Callable[[], Awaitable[tuple[int, Any]]]) -> func.HttpResponse:
    """Run the service call; a ConnectorError becomes its status with {code, message, ...}, never a 500 page."""
    try:
        status, body = await work()
    except ConnectorError as exc:
        if exc.http_status >= 500:
            log.warning("request failed: %s", exc.code)
        return json_response(exc.to_dict(), exc.http_status)
    return json_response(body, status)
