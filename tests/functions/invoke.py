"""Call registered functions directly, as the host would (the helpers live in scripts.host, shared with the demo)."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from scripts.host import acall, registered_functions, user_function

__all__ = ["acall", "call_http", "create_customer_connection", "registered_functions", "user_function"]


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


async def create_customer_connection(stack: Any, display_name: str, *, verify: bool = False, **extra: Any) -> str:
    """A customer-app connection of the shared stack's first tenant over its sync group, created through the real
    function (and verified, when asked); its id."""
    from scripts import host

    tenant, app = stack.tenant, stack.app("customer")
    body = {
        "display_name": display_name,
        "tenant": tenant["id"],
        "credential_mode": "customer_app",
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "sync_group_id": tenant["sync_group"]["id"],
        **extra,
    }
    status, created, _ = await host.http("connections_create", "POST", "/api/connections", body=body)
    assert status == 201, created
    cid = str(created["id"])
    if verify:
        status, report, _ = await host.http(
            "connections_verify", "POST", f"/api/connections/{cid}/verify", route={"id": cid}
        )
        assert status == 200, report
    return cid
