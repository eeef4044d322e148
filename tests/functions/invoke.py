"""Call a registered function the way the host would: find it by name in the app and run its user function."""

from __future__ import annotations

import asyncio
import functools
import inspect
from typing import Any


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


def call_http(name: str, request: Any, **kwargs: Any) -> Any:
    result = user_function(name)(request, **kwargs)
    if inspect.isawaitable(result):
        return asyncio.run(_await(result))
    return result


async def _await(awaitable: Any) -> Any:
    return await awaitable


async def acall(name: str, *args: Any, **kwargs: Any) -> Any:
    result = user_function(name)(*args, **kwargs)
    if inspect.isawaitable(result):
        return await result
    return result
