"""Every log line of a rotation run names its connection and run id (the run id the report and the state rows
carry), from the service and from the adapters and SDKs it calls."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from emulators.stack import LocalStack
from shared.composition import Container
from shared.services.password_rotation import run_rotation
from tests.support.rotation import RotationWorld, make_world, remove_world


@pytest.fixture
async def container(stack_env: dict[str, str]) -> AsyncIterator[Container]:
    async with Container.from_env() as c:
        yield c


@pytest.fixture
async def world(stack: LocalStack, container: Container) -> AsyncIterator[RotationWorld]:
    made = await make_world(stack, container, kinds=("ok1", "privileged"))
    yield made
    remove_world(made)


async def test_each_line_of_a_rotation_run_carries_connection_and_run(
    world: RotationWorld, container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    report = await run_rotation(container, world.connection.id)
    assert report.rotated and report.skipped  # a run with work and a refusal to log about
    records = [r for r in caplog.records if getattr(r, "connection_id", None) or r.name.startswith("shared.services")]
    assert any(r.name == "shared.services.password_rotation" and "rotated" in r.getMessage() for r in records)
    for record in records:
        assert record.connection_id == world.connection.id, record.getMessage()  # type: ignore[attr-defined]
        assert record.run_id == report.run_id, record.getMessage()  # type: ignore[attr-defined]
        assert record.getMessage().startswith(f"[connection {world.connection.id} run {report.run_id}] ")
