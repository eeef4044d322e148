"""JSON $batch: up to 20 requests, each answered (and throttled) on its own inside one 200 response."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from multidict import CIMultiDict

from emulators.entra.calls import GraphCall, GraphResult, ok
from emulators.entra.errors import GraphError

MAX_REQUESTS = 20
Handler = Callable[[str, str, Mapping[str, str], Mapping[str, str], bytes, str], Awaitable[GraphResult]]


async def run_batch(call: GraphCall, handle: Handler) -> GraphResult:
    if call.method != "POST":
        raise GraphError(405, "BadRequest", "$batch accepts POST only.")
    requests = call.json_body().get("requests")
    if not isinstance(requests, list) or not requests:
        raise GraphError(400, "BadRequest", "Invalid batch payload format: 'requests' must be a non-empty array.")
    if len(requests) > MAX_REQUESTS:
        raise GraphError(
            400, "BadRequest", f"Number of requests in the batch ({len(requests)}) exceeds the limit of {MAX_REQUESTS}."
        )
    ids = [str(r.get("id", "")) if isinstance(r, dict) else "" for r in requests]
    if any(not i for i in ids) or len(set(ids)) != len(ids):
        raise GraphError(400, "BadRequest", "Each request in a batch needs a unique, non-empty 'id'.")
    auth = {"Authorization": call.headers.get("Authorization", "")}
    results = await asyncio.gather(*(_one(r, auth, call.base, handle) for r in requests))
    return ok({"responses": results})


async def _one(request: dict[str, Any], auth: dict[str, str], base: str, handle: Handler) -> dict[str, Any]:
    url = str(request.get("url", ""))
    parts = urlsplit(url if url.startswith("/") else "/" + url)
    headers = CIMultiDict({str(k): str(v) for k, v in (request.get("headers") or {}).items()})
    headers.update(auth)
    body = request.get("body")
    raw = json.dumps(body).encode() if body is not None else b""
    result = await handle(
        str(request.get("method", "GET")).upper(), parts.path, dict(parse_qsl(parts.query)), headers, raw, base
    )
    response: dict[str, Any] = {
        "id": str(request["id"]),
        "status": result.status,
        "headers": {
            k: v for k, v in result.headers.items() if k.lower() in ("content-type", "retry-after", "location")
        },
    }
    if result.body:
        response["body"] = json.loads(result.body)
    return response
