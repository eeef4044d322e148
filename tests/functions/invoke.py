"""Call registered functions directly, as the host would (the helpers live in scripts.host, shared with the demo)."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from scripts.host import acall, registered_functions, user_function

__all__ = ["acall", "call_http", "registered_functions", "user_function"]


def call_http(name: str, request: Any, **kwargs: Any) -> Any:
    result = user_function(name)(request, **kwargs)
    if inspect.isawaitable(result):
        return asyncio.run(_await(result))
    return result


async def _await(awaitable: Any) -> Any:
    """Await on this asyncio.run's loop, then close the clients the function pooled on it (the loop ends here)."""
    from shared.client_pool import close_pool

    try:
        return await awaitable
    finally:
        await close_pool()
