"""A rotation run ends with one `connector.signal` record (shared/telemetry.py): what it rotated, resolved, left
pending, skipped or failed, its Graph requests and 429s, its duration and outcome; a run that finds the app without
the directory role for resets says blocked (the alert 'rotation blocked' reads it). Never a password."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from emulators.stack import LocalStack
from shared import telemetry
from shared.composition import Container
from shared.services.password_rotation import run_rotation
from tests.support.rotation import RotationWorld, make_world, remove_world


@pytest.fixture
async def container(stack_env: dict[str, str]) -> AsyncIterator[Container]:
    async with Container.from_env() as c:
        yield c


@pytest.fixture
async def world(stack: LocalStack, container: Container) -> AsyncIterator[RotationWorld]:
    made = await make_world(stack, container, kinds=("ok1", "ok2", "onprem"))
    yield made
    remove_world(made)


def _rotation_signals(caplog: pytest.LogCaptureFixture) -> list[tuple[logging.LogRecord, dict[str, object]]]:
    pairs = [(r, telemetry.parse(r.getMessage())) for r in caplog.records]
    return [(r, f) for r, f in pairs if f is not None and f["signal"] == "rotation.run"]


async def test_a_rotation_run_ends_with_one_signal_holding_its_figures(
    world: RotationWorld, container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    world.stack.entra.control.set_fault("429", rate=1.0, count=1, retry_after=0, endpoint="users.update")
    try:
        report = await run_rotation(container, world.connection.id)
    finally:
        world.stack.entra.control.clear_faults()
    [(record, fields)] = _rotation_signals(caplog)
    assert fields["outcome"] == "succeeded" and fields["run_id"] == report.run_id
    assert fields["rotated"] == len(report.rotated) == 2 and fields["objects_written"] == 2
    assert fields["skipped"] == len(report.skipped) == 1  # the on-premises user
    assert fields["graph_429"] == 1 and int(str(fields["graph_requests"])) > 2
    assert record.levelno == logging.INFO
    for uid in report.rotated:
        assert str(world.entra_password(uid)) not in record.getMessage()


async def test_a_blocked_rotation_is_a_warning_signal(
    world: RotationWorld, container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    control, app = world.stack.entra.control, world.stack.app("customer")
    control.remove_directory_role(world.tid, app["client_id"], "User Administrator")
    caplog.set_level(logging.INFO)
    try:
        report = await run_rotation(container, world.connection.id)
    finally:
        control.assign_directory_role(world.tid, app["client_id"], "User Administrator")
    assert report.blocked
    [(record, fields)] = _rotation_signals(caplog)
    assert fields["outcome"] == "blocked" and fields["blocked_reason"] == "reset_role_missing"
    assert record.levelno == logging.WARNING
