"""The development host: a small stand-in for `func start` on machines without Azure Functions Core Tools (it is
not the Functions host). It serves the app's HTTP functions on 127.0.0.1 as the host routes them (host.json
routePrefix, route templates with constraints, methods, auth levels with function/master keys from `code` or
`x-functions-key`), drives the queue functions from Azurite and the timer functions on their schedules, and runs
any non-HTTP function on demand through the host's admin API (`POST /admin/functions/{name}`, master key).

    python -m scripts.devhost [--port 7071] [--settings local.settings.json] [--function-key K] [--master-key K]
                              [--no-queues] [--no-timers]

Tests: `async with serve(env, port=0) as host: host.url ...; await host.run_timer("sync_scheduler")`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import inspect
import json
import logging
import os
import secrets
import sys
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.functions as func
from aiohttp import web
from azure.functions.queue import QueueMessage

from scripts.devhost_routes import Route, Schedule
from scripts.devhost_triggers import HostOptions, QueueListener, TriggerStats, run_timer_once, timer_loop

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("devhost")
KEY_HEADER = "x-functions-key"


@dataclass(frozen=True)
class Function:
    """One indexed function, from the SDK's metadata (get_functions(): bindings, route, methods, auth level)."""

    name: str
    kind: str  # httpTrigger, queueTrigger, timerTrigger
    arg: str
    target: Any
    binding: Mapping[str, Any]
    route: Route | None = None
    methods: frozenset[str] = frozenset()
    auth: str = "function"

    @classmethod
    def of(cls, sdk_function: Any, prefix: str) -> Function:
        bindings = [b.get_dict_repr() for b in sdk_function.get_bindings()]
        trigger = next(b for b in bindings if str(b["type"]).endswith("Trigger"))
        extra = [b for b in bindings if b is not trigger and not (b["type"] == "http" and b["name"] == "$return")]
        name = sdk_function.get_function_name()
        if extra:
            raise ValueError(f"{name}: the development host supports no extra bindings ({[b['type'] for b in extra]})")
        kind = str(trigger["type"])
        common = {
            "name": name,
            "kind": kind,
            "arg": trigger["name"],
            "target": sdk_function.get_user_function(),
            "binding": trigger,
        }
        if kind != "httpTrigger":
            return cls(**common)
        methods = frozenset(str(getattr(m, "value", m)).upper() for m in trigger.get("methods") or [])
        auth = str(getattr(trigger.get("authLevel"), "value", trigger.get("authLevel") or "function")).lower()
        return cls(**common, route=Route.parse(prefix, trigger.get("route") or name), methods=methods, auth=auth)


@dataclass
class DevHost:
    """A running development host: its URL, keys, and what its triggers did."""

    url: str
    function_key: str
    master_key: str
    functions: dict[str, Function]
    options: HostOptions
    stats: TriggerStats = field(default_factory=TriggerStats)
    listeners: list[QueueListener] = field(default_factory=list)  # one per queue function (tests look at tasks)
    _background: set[asyncio.Task[Any]] = field(default_factory=set)

    async def invoke(self, name: str, kwargs: dict[str, Any]) -> Any:
        target = self.functions[name].target
        if inspect.iscoroutinefunction(target):
            return await target(**kwargs)
        return await asyncio.to_thread(target, **kwargs)  # the host runs sync functions on a thread pool

    async def run_timer(self, name: str) -> None:
        """Run a timer function now and wait for it (its exception, if any, is raised)."""
        fn = self.functions[name]
        if fn.kind != "timerTrigger":
            raise ValueError(f"{name} is a {fn.kind} function, not a timer")
        await run_timer_once(name, fn.arg, Schedule.parse(fn.binding["schedule"], os.environ), self.invoke, self.stats)

    def key_level(self, request: web.Request) -> str | None:
        given = request.headers.get(KEY_HEADER) or request.query.get("code") or ""
        if given and hmac.compare_digest(given.encode(), self.master_key.encode()):
            return "admin"
        if given and hmac.compare_digest(given.encode(), self.function_key.encode()):
            return "function"
        return None

    def find(self, method: str, path: str) -> tuple[Function, dict[str, str]] | None:
        candidates = [f for f in self.functions.values() if f.route is not None]
        for fn in sorted(candidates, key=lambda f: f.route.precedence() if f.route else ()):
            values = fn.route.match(path) if fn.route else None
            if values is not None and (not fn.methods or method in fn.methods):
                return fn, values
        return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.path.lower().startswith("/admin/functions/"):
            return await self._admin_run(request)
        found = self.find(request.method.upper(), request.rel_url.raw_path)
        if found is None:
            return web.Response(status=404)
        fn, route_values = found
        level = self.key_level(request)
        if (fn.auth == "function" and level is None) or (fn.auth == "admin" and level != "admin"):
            return web.Response(status=401)
        http_request = func.HttpRequest(
            method=request.method.upper(),
            url=str(request.url),
            headers=_joined(request.headers.items(), headers=True),
            params=_joined(request.query.items()),
            route_params=route_values,
            body=await request.read(),
        )
        try:
            response = await self.invoke(fn.name, {fn.arg: http_request})
        except Exception:
            log.exception("Executed 'Functions.%s' (Failed)", fn.name)
            return web.Response(status=500)
        log.info(
            "Executed 'Functions.%s' (Succeeded) %s %s -> %s",
            fn.name,
            request.method,
            request.path,
            response.status_code,
        )
        return _to_aiohttp(response)

    async def _admin_run(self, request: web.Request) -> web.Response:
        """Learn: functions-manually-run-non-http. POST /admin/functions/{name} {"input": "..."}, master key: 202."""
        name = request.path.split("/", 3)[3]
        if request.method != "POST" or self.key_level(request) != "admin":
            return web.Response(status=401 if request.method == "POST" else 404)
        fn = self.functions.get(name) or next(
            (f for f in self.functions.values() if f.name.lower() == name.lower()), None
        )
        if fn is None or fn.kind == "httpTrigger":
            return web.Response(status=404)
        try:
            given = json.loads(await request.read() or b"{}").get("input", "")
        except (ValueError, AttributeError):
            return web.Response(status=400)
        if fn.kind == "timerTrigger":
            task = asyncio.create_task(self.run_timer(fn.name))
        else:
            message = QueueMessage(id="manual", body=str(given).encode(), dequeue_count=1)  # type: ignore[no-untyped-call]
            task = asyncio.create_task(self.invoke(fn.name, {fn.arg: message}))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return web.Response(status=202)


def _joined(items: Iterable[tuple[str, str]], *, headers: bool = False) -> dict[str, str]:
    """Repeated query keys and headers reach the function as one comma-joined value, as ASP.NET gives them
    (cookies joined by '; ', as one Cookie header)."""
    out: dict[str, str] = {}
    for key, value in items:
        name = key.lower() if headers else key
        if name in out:
            out[name] += ("; " if headers and name == "cookie" else ", ") + value
        else:
            out[name] = value
    return out


def _to_aiohttp(response: func.HttpResponse) -> web.Response:
    out = web.Response(status=response.status_code, body=response.get_body())
    for key, value in response.headers.items():  # multi-value headers (Set-Cookie) kept, one line each
        out.headers.add(key, value)
    if "content-type" not in {k.lower() for k in out.headers}:
        out.headers["Content-Type"] = f"{response.mimetype}; charset={response.charset}"
    return out


def app_functions() -> tuple[Any, ...]:
    from scripts.host import registered_functions

    return registered_functions()


@contextlib.contextmanager
def _environment(env: Mapping[str, str]) -> Any:
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.asynccontextmanager
async def serve(
    env: Mapping[str, str],
    *,
    port: int = 7071,
    functions: Iterable[Any] | None = None,
    queues: bool = True,
    timers: bool = True,
    function_key: str | None = None,
    master_key: str | None = None,
    host_json: Path = REPO / "host.json",
    **options: Any,
) -> AsyncIterator[DevHost]:
    """Serve the app (or the given SDK functions) for as long as the block runs; env is set in os.environ meanwhile
    (the functions read their settings from it), and restored after. options override host.json values."""
    opts = HostOptions.from_host_json(host_json, **options)
    with _environment(env):
        indexed = {f.name: f for f in (Function.of(s, opts.route_prefix) for s in (functions or app_functions()))}
        host = DevHost(
            "", function_key or secrets.token_urlsafe(32), master_key or secrets.token_urlsafe(32), indexed, opts
        )
        app = web.Application(client_max_size=100 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", host.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        host.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        listeners = [
            QueueListener(
                f.name,
                f.arg,
                str(f.binding["queueName"]),
                os.environ[f.binding.get("connection") or "AzureWebJobsStorage"],
                opts,
                host.invoke,
                host.stats,
            )
            for f in indexed.values()
            if queues and f.kind == "queueTrigger"
        ]
        host.listeners = listeners
        loops = [asyncio.create_task(listener.run()) for listener in listeners]
        loops += [
            asyncio.create_task(
                timer_loop(
                    f.name,
                    f.arg,
                    Schedule.parse(f.binding["schedule"], os.environ),
                    bool(f.binding.get("runOnStartup")),
                    host.invoke,
                    host.stats,
                )
            )
            for f in indexed.values()
            if timers and f.kind == "timerTrigger"
        ]
        try:
            yield host
        finally:
            for task in loops + list(host._background):
                task.cancel()
            await asyncio.gather(*loops, *host._background, return_exceptions=True)
            for listener in listeners:
                await listener.close()
            await runner.cleanup()


def _settings(path: Path) -> dict[str, str]:
    """local.settings.json's Values; a variable already in the environment wins (decision, see docs)."""
    values = json.loads(path.read_text())["Values"] if path.exists() else {}
    return {k: str(v) for k, v in values.items() if k not in os.environ}


async def _main(args: argparse.Namespace) -> None:
    from shared.client_pool import close_pool

    env = _settings(Path(args.settings))
    async with serve(
        env,
        port=args.port,
        queues=not args.no_queues,
        timers=not args.no_timers,
        function_key=args.function_key,
        master_key=args.master_key,
    ) as host:
        print(f"Development host (not Core Tools) on {host.url}/{host.options.route_prefix}/")
        print(f"  function key: {host.function_key}\n  master key:   {host.master_key}")
        for fn in sorted(host.functions.values(), key=lambda f: f.name):
            where = f"{sorted(fn.methods) or 'ALL'} /{fn.route.template if fn.route else ''} ({fn.auth})"
            print(f"  {fn.name}: {where if fn.kind == 'httpTrigger' else fn.kind}")
        print(
            f"Run a timer now: curl -X POST -H 'x-functions-key: {host.master_key}' -H 'content-type: "
            f"application/json' -d '{{}}' {host.url}/admin/functions/sync_scheduler"
        )
        try:
            await asyncio.Event().wait()
        finally:
            await close_pool()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--settings", default=str(REPO / "local.settings.json"))
    parser.add_argument("--function-key", default=os.environ.get("DEVHOST_FUNCTION_KEY"))
    parser.add_argument("--master-key", default=os.environ.get("DEVHOST_MASTER_KEY"))
    parser.add_argument("--no-queues", action="store_true", help="do not drive the queue functions")
    parser.add_argument("--no-timers", action="store_true", help="do not run the timer functions on schedule")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
