"""The development host (scripts/devhost.py) over real sockets: routing as the Functions host does it, keys, cookies,
queue functions driven from Azurite (retries, poison queue) and timers on demand."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import azure.functions as func
import pytest

from emulators.azurite import Azurite
from emulators.stack import LocalStack
from scripts.devhost import DevHost, serve
from scripts.devhost_triggers import HostOptions
from shared.adapters.queues import QueueSender

GUID = "6a1c0f5e-1111-4222-8333-444455556666"


def sample_app(ok_queue: str, bad_queue: str, seen: list[tuple[str, Any]]) -> func.FunctionApp:
    """A small app with the shapes the connector's functions use (the real app has no route constraints yet)."""
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

    def reply(data: Any, **kw: Any) -> func.HttpResponse:
        return func.HttpResponse(json.dumps(data), mimetype="application/json", **kw)

    @app.route(route="items/{id:guid}", methods=["GET"])
    def item_by_guid(req: func.HttpRequest) -> func.HttpResponse:
        return reply({"by": "guid", **req.route_params})

    @app.route(route="items/{n:int}", methods=["GET"])
    def item_by_number(req: func.HttpRequest) -> func.HttpResponse:
        return reply({"by": "int", **req.route_params})

    @app.route(route="items/{name}", methods=["GET"])
    def item_by_name(req: func.HttpRequest) -> func.HttpResponse:
        return reply({"by": "name", **req.route_params})

    @app.route(route="items/special", methods=["GET"])
    def item_special(req: func.HttpRequest) -> func.HttpResponse:
        return reply({"by": "literal"})

    @app.route(route="items/{id:guid}", methods=["DELETE"], auth_level=func.AuthLevel.ADMIN)
    def item_delete(req: func.HttpRequest) -> func.HttpResponse:
        return reply({"deleted": req.route_params["id"]})

    @app.route(route="echo/{*rest}", methods=["POST", "PUT"], auth_level=func.AuthLevel.ANONYMOUS)
    async def echo(req: func.HttpRequest) -> func.HttpResponse:
        return reply(
            {
                "method": req.method,
                "rest": req.route_params.get("rest"),
                "query": dict(req.params),
                "cookie": req.headers.get("cookie"),
                "custom": req.headers.get("x-custom"),
                "body": req.get_body().decode(),
            },
            status_code=201,
        )

    @app.route(route="cookies", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    def cookies(req: func.HttpRequest) -> func.HttpResponse:
        response = func.HttpResponse("ok", status_code=302, headers={"Location": "/api/next"})
        response.headers.add("Set-Cookie", "a=1; Path=/; HttpOnly")
        response.headers.add("Set-Cookie", "b=2; Path=/; Secure")
        return response

    @app.queue_trigger(arg_name="msg", queue_name=ok_queue, connection="AzureWebJobsStorage")
    async def queue_ok(msg: func.QueueMessage) -> None:
        seen.append(("ok", json.loads(msg.get_body())))

    @app.queue_trigger(arg_name="msg", queue_name=bad_queue, connection="AzureWebJobsStorage")
    async def queue_bad(msg: func.QueueMessage) -> None:
        seen.append(("bad", msg.dequeue_count))
        raise RuntimeError("this message always fails")

    @app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer", run_on_startup=False)
    async def yearly(timer: func.TimerRequest) -> None:
        seen.append(("timer", timer.past_due))

    return app


@pytest.fixture
async def sample(azurite: Azurite) -> AsyncIterator[tuple[DevHost, dict[str, str], list[tuple[str, Any]]]]:
    suffix = uuid.uuid4().hex[:8]
    queues = {"ok": f"devhost-ok-{suffix}", "bad": f"devhost-bad-{suffix}"}
    seen: list[tuple[str, Any]] = []
    app = sample_app(queues["ok"], queues["bad"], seen)
    env = {"AzureWebJobsStorage": azurite.connection_string}
    async with serve(env, port=0, functions=app.get_functions(), visibility_timeout_s=0) as host:
        yield host, queues, seen


async def fetch(method: str, url: str, **kw: Any) -> tuple[int, Any, Any]:
    async with aiohttp.ClientSession() as session, session.request(method, url, allow_redirects=False, **kw) as r:
        text = await r.text()
        try:
            body: Any = json.loads(text)
        except ValueError:
            body = text
        return r.status, body, r.headers


async def test_routes_match_with_parameters_constraints_and_literal_precedence(sample: Any) -> None:
    host, _, _ = sample
    key = {"x-functions-key": host.function_key}
    assert (await fetch("GET", f"{host.url}/api/items/{GUID}", headers=key))[1] == {"by": "guid", "id": GUID}
    assert (await fetch("GET", f"{host.url}/api/items/42", headers=key))[1] == {"by": "int", "n": "42"}
    assert (await fetch("GET", f"{host.url}/api/items/some-name", headers=key))[1] == {
        "by": "name",
        "name": "some-name",
    }
    assert (await fetch("GET", f"{host.url}/API/Items/SPECIAL", headers=key))[1] == {"by": "literal"}
    # no route prefix, a method no function takes, a path no template matches: 404 as the host answers
    assert (await fetch("GET", f"{host.url}/items/42", headers=key))[0] == 404
    assert (await fetch("PATCH", f"{host.url}/api/items/42", headers=key))[0] == 404
    assert (await fetch("GET", f"{host.url}/api/items/42/more", headers=key))[0] == 404


async def test_function_level_routes_need_a_key_and_admin_routes_the_master_key(sample: Any) -> None:
    host, _, _ = sample
    url = f"{host.url}/api/items/42"
    assert (await fetch("GET", url))[0] == 401
    assert (await fetch("GET", url, headers={"x-functions-key": "wrong"}))[0] == 401
    assert (await fetch("GET", url, params={"code": host.function_key}))[0] == 200
    assert (await fetch("GET", url, headers={"x-functions-key": host.master_key}))[0] == 200
    delete = f"{host.url}/api/items/{GUID}"
    assert (await fetch("DELETE", delete, headers={"x-functions-key": host.function_key}))[0] == 401
    assert (await fetch("DELETE", delete, params={"code": host.master_key}))[1] == {"deleted": GUID}


async def test_anonymous_route_gets_method_query_headers_cookies_and_body(sample: Any) -> None:
    host, _, _ = sample
    status, body, _ = await fetch(
        "PUT",
        f"{host.url}/api/echo/a/b%20c?x=1&y=2",
        headers={"x-custom": "yes", "Cookie": "s=1; t=2"},
        data=b'{"hello": "world"}',
    )
    assert status == 201
    assert body == {
        "method": "PUT",
        "rest": "a/b c",
        "query": {"x": "1", "y": "2"},
        "cookie": "s=1; t=2",
        "custom": "yes",
        "body": '{"hello": "world"}',
    }


async def test_every_set_cookie_header_reaches_the_client(sample: Any) -> None:
    host, _, _ = sample
    status, _, headers = await fetch("GET", f"{host.url}/api/cookies")
    assert status == 302
    assert headers["Location"] == "/api/next"
    assert headers.getall("Set-Cookie") == ["a=1; Path=/; HttpOnly", "b=2; Path=/; Secure"]


async def test_a_queue_message_is_processed_and_deleted(sample: Any, azurite: Azurite) -> None:
    host, queues, seen = sample
    sender = QueueSender.from_connection_string(azurite.connection_string)
    try:
        await sender.send(queues["ok"], {"job": 1})
        await host.stats.wait(lambda c: c["queue_ok:succeeded"] >= 1)
        assert seen == [("ok", {"job": 1})]
        assert await sender.receive_all(queues["ok"]) == []
    finally:
        await sender.close()


async def test_a_failing_message_is_retried_then_moved_to_the_poison_queue(sample: Any, azurite: Azurite) -> None:
    host, queues, seen = sample
    sender = QueueSender.from_connection_string(azurite.connection_string)
    try:
        await sender.send(queues["bad"], {"job": "poison"})
        await host.stats.wait(lambda c: c["queue_bad:poisoned"] >= 1)
        attempts = [count for kind, count in seen if kind == "bad"]
        assert attempts == list(range(1, host.options.max_dequeue_count + 1)) == [1, 2, 3, 4, 5]
        assert await sender.receive_all(f"{queues['bad']}-poison") == [{"job": "poison"}]
        assert await sender.receive_all(queues["bad"]) == []
    finally:
        await sender.close()


async def test_a_timer_runs_on_demand_directly_and_through_the_admin_api(sample: Any) -> None:
    host, _, seen = sample
    await host.run_timer("yearly")
    assert seen == [("timer", False)]
    admin = f"{host.url}/admin/functions/yearly"
    assert (await fetch("POST", admin, json={}))[0] == 401
    assert (await fetch("POST", admin, json={}, headers={"x-functions-key": host.master_key}))[0] == 202
    await host.stats.wait(lambda c: c["yearly:succeeded"] >= 2)
    assert seen == [("timer", False), ("timer", False)]


def test_host_options_come_from_host_json() -> None:
    options = HostOptions.from_host_json(Path(__file__).resolve().parents[2] / "host.json")
    assert (options.route_prefix, options.max_dequeue_count, options.visibility_timeout_s) == ("api", 5, 30.0)
    assert (options.batch_size, options.new_batch_threshold, options.message_encoding) == (4, 2, "base64")


async def test_the_real_app_anonymous_health_open_and_keyed_routes_closed(stack: LocalStack) -> None:
    async with serve(stack.env(), port=0, queues=False, timers=False) as host:
        assert (await fetch("GET", f"{host.url}/api/health"))[0] == 200
        assert (await fetch("GET", f"{host.url}/api/connections"))[0] == 401
        status, body, _ = await fetch(
            "GET", f"{host.url}/api/connections", headers={"x-functions-key": host.function_key}
        )
        assert status == 200, body
        assert "sync_worker" in host.functions and "sync_scheduler" in host.functions
