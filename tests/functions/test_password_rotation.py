"""The rotation triggers, called as the host would: HTTP rotate (connection, one user), the timer, the worker."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from emulators.stack import LocalStack
from shared import storage_names as names
from shared.composition import Container
from shared.domain.connection import to_entity
from tests.functions.invoke import acall
from tests.support.rotation import RotationWorld, make_world, remove_world

KINDS = ("ok1", "disabled")


@pytest.fixture
async def world(stack: LocalStack, stack_env: dict[str, str]) -> AsyncIterator[RotationWorld]:
    async with Container.from_env() as container:
        made = await make_world(stack, container, kinds=KINDS)
    yield made
    remove_world(made)


def _post(url: str, route_params: dict[str, str], params: dict[str, str] | None = None) -> func.HttpRequest:
    return func.HttpRequest(method="POST", url=url, route_params=route_params, params=params or {}, body=b"")


async def test_rotate_connection_answers_the_report_without_passwords(world: RotationWorld) -> None:
    cid = world.connection.id
    response = await acall("rotate_connection", _post(f"/api/connections/{cid}/rotate", {"id": cid}))
    assert response.status_code == 200
    body = json.loads(response.get_body())
    uid = world.users["ok1"]
    assert list(body["rotated"]) == [uid]
    assert body["skipped"] == {world.users["disabled"]: "account_disabled"}
    password = world.entra_password(uid)
    assert password and password not in response.get_body().decode()

    again = await acall("rotate_connection", _post(f"/api/connections/{cid}/rotate", {"id": cid}, {"all": "true"}))
    assert list(json.loads(again.get_body())["rotated"]) == [uid]
    assert world.entra_password(uid) != password


async def test_rotate_user_and_unknown_connection(world: RotationWorld) -> None:
    cid, uid = world.connection.id, world.users["ok1"]
    url = f"/api/connections/{cid}/users/{uid}/rotate"
    response = await acall("rotate_user", _post(url, {"id": cid, "userId": uid}))
    assert response.status_code == 200
    assert list(json.loads(response.get_body())["rotated"]) == [uid]
    missing = await acall("rotate_connection", _post("/api/connections/nope/rotate", {"id": "nope"}))
    assert missing.status_code == 404


async def test_rotation_off_is_a_conflict(world: RotationWorld) -> None:
    cid = world.connection.id
    async with Container.from_env() as container:
        await container.tables().upsert(
            names.CONNECTIONS, to_entity(world.connection.with_changes(rotation_enabled=False)), replace=True
        )
    response = await acall("rotate_connection", _post(f"/api/connections/{cid}/rotate", {"id": cid}))
    assert response.status_code == 409


async def test_timer_enqueues_and_worker_rotates(world: RotationWorld) -> None:
    await acall("rotation_timer", TimerRequest(past_due=False))
    async with Container.from_env() as container:
        jobs = await container.queues().receive_all(names.ROTATION_JOBS)
    ours = [job for job in jobs if job["connection_id"] == world.connection.id]
    assert ours == [{"connection_id": world.connection.id}]
    uid = world.users["ok1"]
    before = world.entra_password(uid)
    await acall("rotation_worker", func.QueueMessage(body=json.dumps(ours[0]).encode()))
    assert world.entra_password(uid) != before
    async with Container.from_env() as container:
        value, tags = await world.vault_current(container, uid)
    assert value == world.entra_password(uid) and tags["status"] == "current"
