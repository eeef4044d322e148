"""JSON $batch as Learn documents it ("Combine multiple HTTP requests using JSON batching"): at most 20 requests;
ids are strings, unique without regard to case (else the whole batch is 400); `dependsOn` runs a request after the
ones it names, and a request whose dependency failed answers 424 Failed Dependency without running; responses come
in any order (a seeded shuffle, so clients cannot lean on request order), each with its own status and headers
(a throttled request is a 429 with its own Retry-After inside the 200)."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from multidict import CIMultiDict

from emulators.entra.calls import GraphCall, GraphResult, ok
from emulators.entra.errors import GRAPH_CONTENT_TYPE, GraphError, utc_stamp

MAX_REQUESTS = 20
INNER_HEADERS = ("content-type", "retry-after", "location", "cache-control", "odata-version")
Handler = Callable[[str, str, Mapping[str, str], Mapping[str, str], bytes, str], Awaitable[GraphResult]]


def _invalid(message: str) -> GraphError:
    return GraphError(400, "BadRequest", f"Invalid batch payload format: {message}")


def parse_requests(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Validate the batch body; return its requests with `dependsOn` resolved to the ids as given. 400 otherwise."""
    requests = payload.get("requests")
    if not isinstance(requests, list) or not requests:
        raise _invalid("'requests' must be a non-empty array.")
    if len(requests) > MAX_REQUESTS:
        raise GraphError(
            400, "BadRequest", f"Number of requests in the batch ({len(requests)}) exceeds the limit of {MAX_REQUESTS}."
        )
    by_key: dict[str, str] = {}  # case-folded id -> id as sent
    for request in requests:
        if not isinstance(request, dict):
            raise _invalid("each request must be a JSON object.")
        rid = request.get("id")
        if not isinstance(rid, str) or not rid:
            raise _invalid("each request needs an 'id' that is a non-empty string.")
        if rid.casefold() in by_key:
            raise _invalid(f"the request id '{rid}' is used more than once (ids are compared without regard to case).")
        by_key[rid.casefold()] = rid
        for name in ("method", "url"):
            if not isinstance(request.get(name), str) or not request[name]:
                raise _invalid(f"request '{rid}' needs a '{name}'.")
        headers = request.get("headers")
        if headers is not None and not isinstance(headers, dict):
            raise _invalid(f"the 'headers' of request '{rid}' must be a JSON object.")
        if request.get("body") is not None and not any(str(k).lower() == "content-type" for k in headers or {}):
            raise _invalid(f"request '{rid}' has a body but no Content-Type header.")
    out = []
    for request in requests:
        depends = request.get("dependsOn", [])
        if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
            raise _invalid(f"the 'dependsOn' of request '{request['id']}' must be an array of request ids.")
        resolved = []
        for dep in depends:
            target = by_key.get(dep.casefold())
            if target is None or target == request["id"]:
                raise _invalid(f"request '{request['id']}' depends on '{dep}', not on another request of the batch.")
            resolved.append(target)
        out.append({**request, "dependsOn": resolved})
    _refuse_cycles(out)
    return out


def _refuse_cycles(requests: list[dict[str, Any]]) -> None:
    graph = {r["id"]: r["dependsOn"] for r in requests}
    done: set[str] = set()
    for start, first in graph.items():
        stack = [(start, iter(first))]
        on_path = {start}
        while stack:
            node, deps = stack[-1]
            dep = next(deps, None)
            if dep is None:
                stack.pop()
                on_path.discard(node)
                done.add(node)
                continue
            if dep in on_path:
                chain = " -> ".join([n for n, _ in stack] + [dep])
                raise _invalid(f"the dependsOn chain {chain} is a cycle.")
            if dep not in done:
                stack.append((dep, iter(graph[dep])))
                on_path.add(dep)


async def run_batch(call: GraphCall, handle: Handler, order: random.Random) -> GraphResult:
    if call.method != "POST":
        raise GraphError(405, "BadRequest", "$batch accepts POST only.")
    requests = parse_requests(call.json_body())
    auth = {"Authorization": call.headers.get("Authorization", "")}
    now = call.world.clock.now()
    tasks: dict[str, asyncio.Task[dict[str, Any]]] = {}

    async def run(request: dict[str, Any]) -> dict[str, Any]:
        for dep in request["dependsOn"]:
            if not 200 <= (await tasks[dep])["status"] < 400:
                return _failed_dependency(request["id"], dep, now)
        return await _one(request, auth, call.base, handle)

    for request in requests:  # every task exists before any runs: a dependency later in the array is found
        tasks[request["id"]] = asyncio.ensure_future(run(request))
    responses = list(await asyncio.gather(*tasks.values()))
    order.shuffle(responses)
    return ok({"responses": responses})


def _failed_dependency(rid: str, dep: str, now: float) -> dict[str, Any]:
    return {
        "id": rid,
        "status": 424,
        "headers": {"Content-Type": GRAPH_CONTENT_TYPE},
        "body": {
            "error": {
                "code": "FailedDependency",
                "message": f"The request depends on request '{dep}', which failed; it was not run.",
                "innerError": {"date": utc_stamp(now)},
            }
        },
    }


async def _one(request: dict[str, Any], auth: dict[str, str], base: str, handle: Handler) -> dict[str, Any]:
    url = str(request["url"])
    parts = urlsplit(url if url.startswith("/") else "/" + url)
    headers = CIMultiDict({str(k): str(v) for k, v in (request.get("headers") or {}).items()})
    headers.update(auth)
    body = request.get("body")
    raw = json.dumps(body).encode() if body is not None else b""
    method = str(request["method"]).upper()
    if parts.path.strip("/") == "$batch":
        nested = {"error": {"code": "BadRequest", "message": "A batch cannot contain another batch."}}
        result = GraphResult(400, json.dumps(nested).encode(), {"Content-Type": GRAPH_CONTENT_TYPE})
    else:
        result = await handle(method, parts.path, dict(parse_qsl(parts.query)), headers, raw, base)
    response: dict[str, Any] = {
        "id": request["id"],
        "status": result.status,
        "headers": {k: v for k, v in result.headers.items() if k.lower() in INNER_HEADERS},
    }
    if result.body:
        response["body"] = json.loads(result.body)
    return response
