"""The rotation admin surface: GET /api/connections/{id}/rotation (per user: last rotated, next due, last outcome or
skip reason, pending; never a password or a Key Vault version), the CLI's `rotation run` / `rotation status`, and
"rotate now" audited with who and the outcome."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import azure.functions as func
import pytest

from emulators.stack import LocalStack
from scripts.cli import main
from shared.composition import Container
from shared.services.audit import trail
from tests.functions.invoke import acall
from tests.support.rotation import RotationWorld, make_world, remove_world

KINDS = ("ok1", "disabled")


@pytest.fixture
async def world(stack: LocalStack, stack_env: dict[str, str]) -> AsyncIterator[RotationWorld]:
    async with Container.from_env() as container:
        made = await make_world(stack, container, kinds=KINDS)
    yield made
    remove_world(made)


def _req(method: str, url: str, route: dict[str, str], params: dict[str, str] | None = None) -> func.HttpRequest:
    headers = {"X-Forwarded-For": "203.0.113.7, 10.0.0.1"}
    return func.HttpRequest(method, url, route_params=route, params=params or {}, body=b"", headers=headers)


async def _status(cid: str, **params: str) -> tuple[int, Any]:
    response = await acall("rotation_status", _req("GET", f"/api/connections/{cid}/rotation", {"id": cid}, params))
    return response.status_code, json.loads(response.get_body())


async def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, json.loads(out or err)


async def test_rotation_status_shows_each_user_without_passwords(world: RotationWorld) -> None:
    cid, ok, disabled = world.connection.id, world.users["ok1"], world.users["disabled"]
    status, before = await _status(cid)
    assert status == 200 and before["users"] == [] and before["state"] is None
    response = await acall("rotate_connection", _req("POST", f"/api/connections/{cid}/rotate", {"id": cid}))
    assert response.status_code == 200
    rotated = json.loads(response.get_body())["rotated"]

    status, shown = await _status(cid)
    assert status == 200 and shown["rotation_enabled"] is True and shown["state"]["state"] == "ok"
    users = {u["user_id"]: u for u in shown["users"]}
    assert users[ok]["last_outcome"] == "rotated" and users[ok]["pending"] is False
    assert users[ok]["last_rotated_at"] and users[ok]["next_due_at"] > users[ok]["last_rotated_at"]
    assert users[disabled]["last_outcome"] == "skipped" and users[disabled]["skip_reason"] == "account_disabled"
    assert users[disabled]["last_rotated_at"] is None and users[disabled]["next_due_at"]
    text = json.dumps(shown)
    password = world.entra_password(ok)
    assert password and password not in text and rotated[ok] not in text  # no password, no version id

    status, page = await _status(cid, top="1")
    assert status == 200 and len(page["users"]) == 1 and page["continuation"]
    status, bad = await _status(cid, top="0")
    assert status == 400 and "top" in bad["problems"]
    status, missing = await _status("../x")
    assert status == 404 and "../x" not in json.dumps(missing)


async def test_rotate_now_is_audited_with_who_and_outcome(world: RotationWorld) -> None:
    cid, ok = world.connection.id, world.users["ok1"]
    url = f"/api/connections/{cid}/users/{ok}/rotate"
    response = await acall("rotate_user", _req("POST", url, {"id": cid, "userId": ok}))
    assert response.status_code == 200
    response = await acall("rotate_connection", _req("POST", f"/api/connections/{cid}/rotate", {"id": cid}))
    assert response.status_code == 200
    async with Container.from_env() as container:
        rows = await trail(container.tables(), cid)
    mine = [(r["action"], r["result"], r["who"]) for r in rows if r["action"].startswith("rotation.")]
    assert mine == [
        ("rotation.run", "ok", "function-key from 203.0.113.7"),
        ("rotation.user", "ok", "function-key from 203.0.113.7"),
    ]
    assert f"user {ok}: rotated 1" in next(r["detail"] for r in rows if r["action"] == "rotation.user")
    password = world.entra_password(ok)
    assert password and password not in json.dumps(rows, default=str)


async def test_the_cli_rotates_and_shows_the_rotation(world: RotationWorld, capsys: pytest.CaptureFixture[str]) -> None:
    cid, ok, disabled = world.connection.id, world.users["ok1"], world.users["disabled"]
    code, report = await _cli(capsys, "rotation", "run", cid, "--user", ok)
    assert code == 0 and list(report["rotated"]) == [ok]
    code, shown = await _cli(capsys, "rotation", "status", cid)
    assert code == 0 and [u["user_id"] for u in shown["users"]] == [ok]
    assert shown["users"][0]["last_outcome"] == "rotated"
    code, report = await _cli(capsys, "rotation", "run", cid, "--all")
    assert code == 0 and list(report["rotated"]) == [ok] and report["skipped"] == {disabled: "account_disabled"}
    code, missing = await _cli(capsys, "rotation", "run", cid, "--user", "0" * 8 + "-0000-4000-8000-" + "0" * 12)
    assert code == 1 and missing["code"] == "not_found"
    async with Container.from_env() as container:
        rows = await trail(container.tables(), cid)
    assert {r["who"] for r in rows if r["action"].startswith("rotation.")} == {rows[0]["who"]}
    assert rows[0]["who"].startswith("cli")
    assert world.entra_password(ok) not in capsys.readouterr().out
