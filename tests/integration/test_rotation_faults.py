"""Rotation under the faults a real tenant produces: a password PATCH applied but answered late (the connection
drops, or a gateway answers 504 after the commit), plain 5xx, and crashes between steps. Whatever happens, one
ordinary run later Key Vault's current version equals Entra's password for every user and nothing is left pending."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from emulators.stack import LocalStack
from shared.adapters.graph import RetryPolicy
from shared.composition import Container
from shared.domain import rotation as rules
from shared.domain.connection import Connection
from shared.domain.rotation_versions import newest_with
from shared.domain.secret_names import password_name
from shared.services.password_rotation import STEPS, deps_for, rotate_connection
from tests.support.rotation import RotationWorld, make_world, remove_world

USERS = 200


class Crash(Exception):
    """Stands for the process dying right after a step."""


async def _no_sleep(_: float) -> None:
    return None


FAST = RetryPolicy(max_attempts=3, base_delay_s=0.0, sleep=_no_sleep)


@pytest.fixture
async def container(stack_env: dict[str, str]) -> AsyncIterator[Container]:
    async with Container.from_env() as c:
        yield c


@pytest.fixture
async def world(stack: LocalStack, container: Container) -> AsyncIterator[RotationWorld]:
    made = await make_world(stack, container, kinds=("ok1",))
    control = stack.entra.control
    for i in range(USERS - 1):
        user = control.create_user(
            made.tid,
            "Fault",
            f"u{i}{uuid.uuid4().hex[:6]}",
            password=f"Start-{uuid.uuid4().hex[:12]}-Aa1!",
            groups=[made.connection.rotation_group_id or "", made.connection.sync_group_id or ""],
        )
        made.users[f"u{i}"] = str(user["id"])
    yield made
    control.clear_faults()
    remove_world(made)


async def _run(
    container: Container, connection: Connection, *, at: datetime, crash_at: dict[str, str] | None = None, **kw: bool
) -> rules.RotationReport:
    async def crash(step: str, uid: str) -> None:
        if crash_at and crash_at.get(uid) == step:
            raise Crash(step)

    deps = await deps_for(container, connection, now=lambda: at, after_step=crash)
    deps.graph = await container.graph_for(connection, retry=FAST)
    return await rotate_connection(deps, connection, **kw)


async def _mismatches(world: RotationWorld, container: Container) -> list[str]:
    """Users whose newest current version (what a reader takes) differs from Entra's password."""
    wrong = []
    for uid in world.users.values():
        name = password_name(world.connection.id, uid)
        current = newest_with(await container.secrets().versions(name), rules.CURRENT)
        value = (await container.secrets().get(name, current.version)).value.reveal() if current else None
        if value != world.entra_password(uid):
            wrong.append(uid)
    return wrong


async def _pending_users(world: RotationWorld, container: Container) -> list[str]:
    left = []
    for uid in world.users.values():
        versions = await container.secrets().versions(password_name(world.connection.id, uid))
        if any(rules.status_of(v) == rules.PENDING and v.enabled for v in versions):
            left.append(uid)
    return left


@pytest.mark.slow
async def test_a_faulted_rotation_then_one_ordinary_run_leaves_key_vault_equal_to_entra(
    world: RotationWorld, container: Container
) -> None:
    control = world.stack.entra.control
    rng = random.Random(7)
    start = datetime.now(UTC)
    await _run(container, world.connection, at=start)  # every user has a known current version first
    assert await _mismatches(world, container) == []

    for kind, rate in (("apply_then_drop", 0.25), ("apply_then_504", 0.25), ("504", 0.1), ("503", 0.05)):
        control.set_fault(kind, rate=rate, endpoint="users.update", tenant=world.tid)
    ids = sorted(world.users.values())
    outcomes: dict[str, int] = {"pending": 0, "crashed_runs": 0}
    for round_no in range(5):  # forced runs; four of them killed by a crash right after some step of some user
        crash_at = {rng.choice(ids): STEPS[round_no % len(STEPS)]} if round_no < 4 else {}
        at = start + timedelta(hours=round_no + 1)
        try:
            report = await _run(container, world.connection, at=at, crash_at=crash_at, all=True)
            outcomes["pending"] += len(report.pending)
        except Crash:
            outcomes["crashed_runs"] += 1
    faults = {rule["kind"]: rule["fired"] for rule in control.faults()}
    control.clear_faults()
    assert faults["apply_then_drop"] > 0 and faults["apply_then_504"] > 0
    assert outcomes["crashed_runs"] > 0
    wrong_before = await _mismatches(world, container)
    assert await _pending_users(world, container), "the faults left nothing pending: the test proves nothing"

    # one ordinary (timer) run, after the crashed runs' locks expired: nobody is due, yet every pending is resolved
    later = start + timedelta(hours=5)
    final = await _run(container, world.connection, at=later)
    assert final.failed == {} and final.pending == {}
    wrong = await _mismatches(world, container)
    assert wrong == [], f"{len(wrong)} of {USERS} users: Key Vault current differs from Entra"
    assert await _pending_users(world, container) == []
    print(
        f"faults fired {faults}, runs crashed {outcomes['crashed_runs']}, left pending by the last faulted run "
        f"{outcomes['pending']}, users whose current differed from Entra before the ordinary run "
        f"{len(wrong_before)}, resolved by it {len(final.resolved)}, differing after it 0 of {USERS}"
    )


async def test_a_forced_rotation_that_failed_transiently_is_resolved_by_the_next_run_whatever_the_due_date(
    stack: LocalStack, container: Container
) -> None:
    world = await make_world(stack, container, kinds=("ok1", "ok2"))
    try:
        control = stack.entra.control
        start = datetime.now(UTC)
        await _run(container, world.connection, at=start)  # rotated: next due in 30 days
        uid = world.users["ok1"]
        control.set_fault("apply_then_504", rate=1.0, endpoint="users.update", tenant=world.tid)
        forced = await _run(container, world.connection, at=start + timedelta(hours=1), all=True)
        control.clear_faults()
        assert set(forced.pending) == set(world.users.values())  # no definite answer for anyone
        assert uid not in forced.failed
        ordinary = await _run(container, world.connection, at=start + timedelta(hours=2))
        assert set(ordinary.resolved) == set(world.users.values()) and ordinary.not_due == 0
        for user in world.users.values():
            value, tags = await world.vault_current(container, user)
            assert tags["status"] == rules.CURRENT and value == world.entra_password(user)
        assert await _pending_users(world, container) == []
    finally:
        control.clear_faults()
        remove_world(world)
