"""A tiny in-process stand-in for the Functions host: find a registered function by name and invoke it with an
HTTP request or a queue message, the way the host would (used by the demo and the function tests)."""

from __future__ import annotations

import functools
import inspect
import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func


@functools.cache
def registered_functions() -> tuple[Any, ...]:
    """The app's functions; the SDK allows get_functions() only once per app object, so it is asked once."""
    import function_app

    return tuple(function_app.app.get_functions())


def user_function(name: str) -> Any:
    for fn in registered_functions():
        if fn.get_function_name() == name:
            return fn.get_user_function()
    raise LookupError(f"no function named {name!r} is registered")


async def acall(name: str, *args: Any, **kwargs: Any) -> Any:
    result = user_function(name)(*args, **kwargs)
    if inspect.isawaitable(result):
        return await result
    return result


async def http(name: str, method: str, url: str, *, body: Any = None, route: dict[str, str] | None = None) -> Any:
    """Call an HTTP function; returns (status, parsed JSON or text, headers)."""
    parts = urlsplit(url)
    request = func.HttpRequest(
        method=method,
        url=url,
        params=dict(parse_qsl(parts.query)),
        route_params=route or {},
        body=json.dumps(body).encode() if body is not None else b"",
        headers={"content-type": "application/json"},
    )
    response = await acall(name, request)
    raw = response.get_body().decode()
    try:
        parsed: Any = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw
    return response.status_code, parsed, dict(response.headers)


async def queue(name: str, message: dict[str, Any]) -> None:
    await acall(name, func.QueueMessage(body=json.dumps(message).encode()))
