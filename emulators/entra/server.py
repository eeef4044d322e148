"""EntraEmulator: builds the state, serves login, Graph and control on one loopback HTTPS port, on its own thread."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from emulators.common.tls import LoopbackTLS, make_loopback_tls
from emulators.common.tokens import TokenSigner
from emulators.entra.control import Control, ControlError
from emulators.entra.directory import DirectoryError
from emulators.entra.faults import Faults
from emulators.entra.graph import DropConnection, GraphService
from emulators.entra.login import LoginService
from emulators.entra.notifier import Notifier
from emulators.entra.seed import seed_world
from emulators.entra.state import World


def build_app(
    world: World, signer: TokenSigner, faults: Faults, control: Control, notifier: Notifier | None = None
) -> web.Application:
    graph = GraphService(world, signer, faults, notifier)
    login = LoginService(world, signer, faults)

    async def graph_handler(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        base = f"https://{request.host}/v1.0"
        try:
            result = await graph.handle(
                request.method, "/" + request.match_info["tail"], request.query, request.headers, body, base
            )
        except DropConnection:
            if request.transport is not None:
                request.transport.abort()  # the client sees the connection close without an answer
            return web.Response(status=500)  # never written: aiohttp drops writes to an aborted transport
        return web.Response(status=result.status, body=result.body, headers=result.headers)

    async def control_handler(request: web.Request) -> web.Response:
        operation = request.match_info["operation"]
        arguments: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            payload = await request.json()
            if not isinstance(payload, dict):
                return web.json_response({"error": "the body must be a JSON object"}, status=400)
            arguments.update(payload)
        try:
            result = control.call(operation, arguments)
        except (ControlError, DirectoryError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"result": result}, dumps=lambda v: json.dumps(v, ensure_ascii=False))

    async def control_index(_: web.Request) -> web.Response:
        return web.json_response({"operations": sorted(Control.OPERATIONS)})

    app = web.Application(client_max_size=8 * 1024 * 1024)
    app.add_routes(
        [
            web.get("/_control", control_index),
            web.route("*", "/_control/{operation}", control_handler),
            web.route("*", "/v1.0/{tail:.*}", graph_handler),
            *login.routes(),
        ]
    )
    return app


class EntraEmulator:
    """Start with `start()` (or `with EntraEmulator() as entra:`); every URL is known once it has started."""

    def __init__(
        self,
        seed: str = "demo",
        size: int = 60,
        tenants: int = 1,
        port: int = 0,
        workdir: str | None = None,
        redirect_uris: list[str] | None = None,
        fault_seed: int = 0,
        clouds: list[str] | None = None,
    ) -> None:
        self._seed, self._size, self._tenant_count, self._port = seed, size, tenants, port
        self._clouds = clouds  # the cloud of each tenant by index (global for the rest)
        self._workdir_arg = workdir
        self._redirect_uris = redirect_uris
        self._fault_seed = fault_seed
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._tls: LoopbackTLS | None = None
        self._workdir = ""
        self.port = 0
        self.world = World()
        self.signer = TokenSigner()
        self.faults = Faults(seed=fault_seed)
        self.tenants: list[dict[str, Any]] = []
        self.notifier = Notifier(self.world)  # change notifications (emulators/entra/notifier.py)
        self._notifier_task: asyncio.Task[None] | None = None
        self.control = Control(self.world, self.faults, self.tenants, self.notifier)

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> EntraEmulator:
        if self._thread is not None:
            raise RuntimeError("the emulator is already running")
        self._workdir = self._workdir_arg or tempfile.mkdtemp(prefix="entra-emulator-")
        self._tls = make_loopback_tls(Path(self._workdir) / "tls")
        self.tenants[:] = seed_world(
            self.world,
            self._seed,
            self._size,
            self._tenant_count,
            Path(self._workdir) / "certs",
            self._redirect_uris,
            self._clouds,
        )
        self._thread = threading.Thread(target=self._run, name="entra-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=30) or self._error is not None:
            self.stop()
            raise RuntimeError(f"the Entra emulator did not start: {self._error}")
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        except Exception as exc:  # noqa: BLE001 - reported to start(), which raises it
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            if self._notifier_task is not None:
                self._notifier_task.cancel()
                loop.run_until_complete(asyncio.gather(self._notifier_task, return_exceptions=True))
            if self._runner is not None:
                loop.run_until_complete(self._runner.cleanup())
            loop.close()

    async def _serve(self) -> None:
        assert self._tls is not None
        app = build_app(self.world, self.signer, self.faults, self.control, self.notifier)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port, ssl_context=self._tls.server_context)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        self.port = server.sockets[0].getsockname()[1]
        self._notifier_task = asyncio.get_running_loop().create_task(self.notifier.run())

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=15)
        self._thread = None
        self._loop = None
        if self._workdir and not self._workdir_arg:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> EntraEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- what clients need -----------------------------------------------------------------------------
    @property
    def login_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def graph_url(self) -> str:
        return f"{self.login_url}/v1.0"

    @property
    def control_url(self) -> str:
        return f"{self.login_url}/_control"

    @property
    def ca_path(self) -> str:
        assert self._tls is not None, "start() first"
        return self._tls.ca_path

    @property
    def bundle_path(self) -> str:
        assert self._tls is not None, "start() first"
        return self._tls.bundle_path

    def description(self) -> dict[str, Any]:
        """The one-line JSON the CLI prints when ready."""
        return {
            "login_url": self.login_url,
            "graph_url": self.graph_url,
            "control_url": self.control_url,
            "ca_path": self.ca_path,
            "bundle_path": self.bundle_path,
            "tenants": self.tenants,
            "operator_apps": self.operator_apps(),
        }

    def operator_apps(self) -> dict[str, dict[str, str]]:
        """The operator's app in each cloud it is registered in: {"global"|"usgov"|"china": {client_id, secret}}."""
        with self.world.lock:
            return {
                app.cloud: {"client_id": app.client_id, "client_secret": app.secrets[0].value}
                for app in self.world.apps.values()
                if app.kind == "multi_tenant"
            }
