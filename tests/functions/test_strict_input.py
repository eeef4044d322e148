"""Strict input at the HTTP edge: route ids that are not GUIDs are 404 before any storage request (proved with the
storage endpoints pointing at a closed port), users and groups the connection does not hold are 404, JSON bodies
with a repeated key are refused and change nothing, and error bodies never echo the raw input."""

from __future__ import annotations

import json
import re
import socket
import uuid
from typing import Any

import azure.functions as func
import pytest

from emulators.stack import LocalStack
from scripts import host
from shared import storage_names as names
from shared.composition import Container
from tests.functions.invoke import create_customer_connection, registered_functions

MARKER = "zz<b>marker</b>"
BAD_IDS = ("../x", "nope", MARKER, f"{uuid.uuid4()}\n", f"{uuid.uuid4()}x", "", "%2e%2e%2fx")


def _id_routes() -> list[tuple[str, str, str]]:
    """(function, method, route) of every HTTP function with a route parameter."""
    found = []
    for fn in registered_functions():
        binding = json.loads(fn.get_function_json())["bindings"][0]
        route = binding.get("route") or ""
        if binding["type"] == "httpTrigger" and "{" in route:
            found.append((fn.get_function_name(), binding["methods"][0].upper(), route))
    return sorted(found)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def dead_storage(stack_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Every storage endpoint points at a closed port: any storage request fails (503), it can never give 404."""
    port = _closed_port()
    dead = re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{port}", stack_env["AzureWebJobsStorage"])
    monkeypatch.setenv("AzureWebJobsStorage", dead)


def _request(method: str, route: dict[str, str], body: bytes = b"") -> func.HttpRequest:
    return func.HttpRequest(method, "http://localhost:7071/api/x", body=body, params={}, route_params=route)


def test_every_id_route_is_covered() -> None:
    assert {name for name, _, _ in _id_routes()} >= {
        "connections_get",
        "connections_update",
        "connections_delete",
        "connections_verify",
        "rotate_user",
        "group_members",
        "sync_status",
    }


@pytest.mark.parametrize("bad", BAD_IDS)
async def test_a_route_id_that_is_not_a_guid_is_404_without_touching_storage(dead_storage: None, bad: str) -> None:
    for name, method, route in _id_routes():
        for param in re.findall(r"\{(\w+)\}", route):
            params = {p: str(uuid.uuid4()) for p in re.findall(r"\{(\w+)\}", route)} | {param: bad}
            if param != "id":
                continue  # a bad user or group id under a real-looking connection: below
            response = await host.acall(name, _request(method, params, b"{}"))
            text = response.get_body().decode()
            assert response.status_code == 404, (name, bad, text)
            if response.mimetype == "text/html":  # a console page (docs/console.md): before the session is read
                assert name.startswith("console_") and "No such connection" in text, (name, text)
            else:
                assert json.loads(text)["code"] == "not_found"
            assert bad.strip() not in text or not bad.strip(), (name, text)


@pytest.mark.parametrize("bad", ["../x", MARKER, "nope"])
async def test_a_user_or_group_id_that_is_not_a_guid_is_404_without_touching_storage(
    dead_storage: None, bad: str
) -> None:
    cid = str(uuid.uuid4())
    for name, param in (("rotate_user", "userId"), ("group_members", "groupId")):
        response = await host.acall(name, _request("POST", {"id": cid, param: bad}))
        text = response.get_body().decode()
        assert response.status_code == 404 and bad not in text, (name, text)


async def _connection(stack: LocalStack, **extra: Any) -> str:
    return await create_customer_connection(stack, "Strict input", **extra)


async def _rows(table: str, partition: str) -> list[dict[str, Any]]:
    async with Container.from_env() as container:
        return [dict(r) async for r in container.tables().query(table, "PartitionKey eq @pk", {"pk": partition})]


async def test_rotate_user_is_404_for_a_user_the_connection_does_not_hold(
    stack: LocalStack, stack_env: dict[str, str]
) -> None:
    control, tid = stack.entra.control, stack.tenant["id"]
    group = control.create_group(tid, f"strict-rotation-{uuid.uuid4().hex[:6]}")["id"]
    outsider = control.create_user(tid, "Strict", f"outside{uuid.uuid4().hex[:6]}", password="Start-Aa1!-x9z")["id"]
    cid = await _connection(stack, features={"sync": True, "rotation": True}, rotation_group_id=group)
    for user in (str(uuid.uuid4()), outsider):
        url, route = f"/api/connections/{cid}/users/{user}/rotate", {"id": cid, "userId": user}
        status, body, _ = await host.http("rotate_user", "POST", url, route=route)
        assert status == 404 and body["code"] == "not_found", body
    assert await _rows(names.ROTATION_STATE, cid) == []


async def test_group_members_is_404_for_a_group_the_connection_does_not_hold(
    stack: LocalStack, stack_env: dict[str, str]
) -> None:
    cid = await _connection(stack)
    gid = str(uuid.uuid4())
    url, route = f"/api/connections/{cid}/groups/{gid}/members", {"id": cid, "groupId": gid}
    status, body, _ = await host.http("group_members", "GET", url, route=route)
    assert status == 404 and body["code"] == "not_found", body


async def test_a_body_with_a_repeated_key_is_refused_and_changes_nothing(
    stack: LocalStack, stack_env: dict[str, str]
) -> None:
    tenant = stack.tenant
    raw = (
        '{"display_name": "first", "display_name": "second", "tenant": "' + tenant["id"] + '",'
        ' "credential_mode": "admin_consent", "allow_second_connection": true}'
    ).encode()
    async with Container.from_env() as container:
        before = [r async for r in container.tables().query(names.CONNECTIONS)]
    response = await host.acall("connections_create", _request("POST", {}, raw))
    body = json.loads(response.get_body())
    assert response.status_code == 400 and body["code"] == "validation_error" and "body" in body["problems"], body
    async with Container.from_env() as container:
        assert len([r async for r in container.tables().query(names.CONNECTIONS)]) == len(before)

    cid = await _connection(stack)
    patch = b'{"display_name": "one", "display_name": "two"}'
    response = await host.acall("connections_update", _request("PATCH", {"id": cid}, patch))
    assert response.status_code == 400
    status, shown, _ = await host.http("connections_get", "GET", f"/api/connections/{cid}", route={"id": cid})
    assert status == 200 and shown["display_name"] == "Strict input"


async def test_error_bodies_never_echo_raw_input(stack: LocalStack, stack_env: dict[str, str]) -> None:
    cid = await _connection(stack)
    bodies = [
        {MARKER: 1},
        {"features": {MARKER: True}},
        {"schedule": {MARKER: "x"}},
        {"user_defaults": {MARKER: "x"}},
    ]
    for body in bodies:
        response = await host.acall("connections_update", _request("PATCH", {"id": cid}, json.dumps(body).encode()))
        text = response.get_body().decode()
        assert response.status_code == 400 and "marker" not in text, text
    status, plain, _ = await host.http("connections_update", "PATCH", "/x", body={"bogus": 1}, route={"id": cid})
    assert status == 400 and plain["problems"] == {"bogus": "unknown field"}  # a plain name is shown: it helps
