"""The agent API's functions served over HTTPS on loopback (aiohttp, the tests' own CA), the way the Functions host
hands requests to them: the agent under test talks to it over a real socket, as it would to Azure."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import azure.functions as func
from aiohttp import web

from emulators.common.tls import LoopbackTLS
from scripts.host import acall

ROUTES = (
    ("POST", re.compile(r"^/api/agent/register$"), "agent_register"),
    ("POST", re.compile(r"^/api/agent/poll$"), "agent_poll"),
    ("POST", re.compile(r"^/api/agent/jobs/(?P<jobId>[^/]+)/heartbeat$"), "agent_heartbeat"),
    ("POST", re.compile(r"^/api/agent/jobs/(?P<jobId>[^/]+)/result$"), "agent_result"),
    ("POST", re.compile(r"^/api/agent/jobs/(?P<jobId>[^/]+)/result/parts/(?P<n>[^/]+)$"), "agent_result_part"),
)


@dataclass(frozen=True)
class AppServer:
    url: str
    ca_file: str


async def _handle(request: web.Request) -> web.Response:
    for method, pattern, name in ROUTES:
        match = pattern.match(request.path)
        if match and request.method == method:
            http_request = func.HttpRequest(
                method=request.method,
                url=str(request.url),
                headers=dict(request.headers),
                params=dict(request.query),
                route_params=match.groupdict(),
                body=await request.read(),
            )
            response = await acall(name, http_request)
            return web.Response(
                body=response.get_body(), status=response.status_code, content_type=response.mimetype or None
            )
    return web.Response(status=404)


@asynccontextmanager
async def serve_agent_api(tls: LoopbackTLS) -> AsyncIterator[AppServer]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls.server_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield AppServer(f"https://localhost:{port}", tls.ca_path)
    finally:
        await runner.cleanup()
