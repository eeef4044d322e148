"""Run an aiohttp application on its own thread and event loop, so sync and async clients in tests can both call it."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from aiohttp import web

T = TypeVar("T")


class ThreadedAiohttpServer:
    """Serves `app` on host:port (0 = a free port) over TLS when `ssl_context` is given; `start()` returns the port."""

    def __init__(
        self,
        app: web.Application,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        name: str = "aiohttp-server",
    ) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._ssl = ssl_context
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    def start(self, timeout_s: float = 10.0) -> int:
        if self._thread is not None:
            raise RuntimeError(f"{self._name} is already running")
        loop = asyncio.new_event_loop()
        self._loop = loop
        ready: Future[int] = Future()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                port = loop.run_until_complete(self._serve())
            except (OSError, RuntimeError) as exc:  # report a start failure to the caller, then end the thread
                ready.set_exception(exc)
                loop.close()
                return
            ready.set_result(port)
            loop.run_forever()
            loop.run_until_complete(self._cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name=self._name, daemon=True)
        self._thread.start()
        self.port = ready.result(timeout=timeout_s)
        return self.port

    async def _serve(self) -> int:
        self._runner = web.AppRunner(self._app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, ssl_context=self._ssl)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        if not sockets:
            raise RuntimeError(f"{self._name} did not open a listening socket")
        port: int = sockets[0].getsockname()[1]
        return port

    async def _cleanup(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def call(self, func: Callable[[], Coroutine[Any, Any, T]], timeout_s: float = 10.0) -> T:
        """Run a coroutine on the server's loop (for state that belongs to it) and wait for its result."""
        if self._loop is None:
            raise RuntimeError(f"{self._name} is not running")
        return asyncio.run_coroutine_threadsafe(func(), self._loop).result(timeout=timeout_s)

    def stop(self, timeout_s: float = 10.0) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=timeout_s)
        self._loop = None
        self._thread = None
