"""Password rotation against the emulators: Entra ends equal to Key Vault's current version after a run and after
a crash at any step; unrotatable users are skipped with their reason; no password leaks anywhere."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from emulators.stack import LocalStack
from shared import storage_names as names
from shared.client_pool import close_pool
from shared.composition import Container
from shared.domain import rotation as rules
from shared.domain.connection import CredentialInfo, to_entity
from shared.domain.rotation_versions import newest_with
from shared.domain.secret_names import client_secret_ref, password_name
from shared.services.audit import trail as audit_trail
from shared.services.password_rotation import STEPS, run_rotation
from shared.services.rotation_state import RotationState
from tests.integration.connections.conftest import call, request
from tests.support.rotation import RotationWorld, make_world, remove_world, texts_of


class Crash(Exception):
    """Stands for the process dying right after a step."""


@pytest.fixture
async def container(stack_env: dict[str, str]) -> AsyncIterator[Container]:
    async with Container.from_env() as c:
        yield c


@pytest.fixture
async def world(stack: LocalStack, container: Container) -> AsyncIterator[RotationWorld]:
    made = await make_world(stack, container)
    yield made
    remove_world(made)


async def _assert_vault_equals_entra(world: RotationWorld, container: Container, user_id: str) -> str:
    value, tags = await world.vault_current(container, user_id)
    assert tags["status"] == rules.CURRENT
    assert world.entra_password(user_id) == value
    return value


async def test_a_run_rotates_the_due_users_and_skips_the_rest_with_reasons(
    world: RotationWorld, container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="azure.core.pipeline.policies.http_logging_policy")  # the worker quiets it
    for name in ("azure", "httpx", "httpcore", "shared"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    report = await run_rotation(container, world.connection.id)
    u = world.users
    assert set(report.rotated) == {u["ok1"], u["ok2"]}
    assert report.skipped == {
        u["onprem"]: rules.Skip.ON_PREMISES,
        u["disabled"]: rules.Skip.DISABLED,
        u["privileged"]: rules.Skip.PRIVILEGED,
    }
    assert u["outside"] not in report.to_dict()["rotated"] and report.considered == 5
    passwords = []
    for kind in ("ok1", "ok2"):
        value = await _assert_vault_equals_entra(world, container, u[kind])
        assert value != world.initial[u[kind]]
        passwords.append(value)
    for kind in ("onprem", "disabled", "privileged", "outside"):
        assert world.entra_password(u[kind]) == world.initial[u[kind]]  # untouched

    # a second run finds nobody due; ?all=true rotates again
    again = await run_rotation(container, world.connection.id)
    assert again.rotated == {} and again.not_due == 5  # skipped users are looked at again tomorrow
    forced = await run_rotation(container, world.connection.id, all=True)
    assert set(forced.rotated) == {u["ok1"], u["ok2"]}
    for kind in ("ok1", "ok2"):
        passwords.append(await _assert_vault_equals_entra(world, container, u[kind]))

    # history, state, events and logs never carry a password
    state = RotationState(container.tables(), world.connection.id)
    history = await state.history(u["ok1"])
    assert [h["result"] for h in history] == ["rotated", "rotated"]
    assert all(h["version"] for h in history)
    states = list((await state.all()).values())
    events = [
        e
        for e in await container.queues().receive_events(names.DIRECTORY_CHANGES)
        if e.get("connection_id") == world.connection.id
    ]
    assert sorted(e["object_id"] for e in events if e["type"] == "password.rotated") == sorted([u["ok1"], u["ok2"]] * 2)
    everything = " ".join(
        [
            texts_of(history),
            texts_of(states),
            json.dumps(events),
            json.dumps(report.to_dict()),
            json.dumps(forced.to_dict()),
            caplog.text,
        ]
    )
    for secret in passwords + list(world.initial.values()):
        assert secret not in everything


async def test_privileged_refusal_leaves_vault_and_entra_equal(world: RotationWorld, container: Container) -> None:
    uid = world.users["privileged"]
    first = await run_rotation(container, world.connection.id, user_id=world.users["ok1"])
    assert first.rotated and first.skipped == {}
    # give the privileged user a known current version, then let Graph refuse the next change
    control = world.stack.entra.control
    control.update_user(world.tid, uid, roles=[])
    assert await run_rotation(container, world.connection.id, user_id=uid)
    known = await _assert_vault_equals_entra(world, container, uid)
    control.update_user(world.tid, uid, roles=["Global Administrator"])
    report = await run_rotation(container, world.connection.id, user_id=uid)
    assert report.skipped == {uid: rules.Skip.PRIVILEGED}
    assert await _assert_vault_equals_entra(world, container, uid) == known


async def test_a_user_outside_the_rotation_scope_is_not_touched(world: RotationWorld, container: Container) -> None:
    uid = world.users["outside"]
    report = await run_rotation(container, world.connection.id, user_id=uid)
    assert report.skipped == {uid: rules.Skip.NOT_IN_SCOPE}
    assert world.entra_password(uid) == world.initial[uid]


async def test_a_held_lock_makes_the_user_busy(world: RotationWorld, container: Container) -> None:
    uid = world.users["ok1"]
    state = RotationState(container.tables(), world.connection.id)
    assert await state.lock(uid, "someone-else", datetime.now(UTC))
    report = await run_rotation(container, world.connection.id, user_id=uid)
    assert report.skipped == {uid: rules.Skip.BUSY}
    assert world.entra_password(uid) == world.initial[uid]


@pytest.mark.parametrize("step", STEPS)
async def test_a_crash_after_any_step_is_finished_by_the_next_run(
    step: str, world: RotationWorld, container: Container
) -> None:
    uid = world.users["ok1"]
    await run_rotation(container, world.connection.id, user_id=uid)  # a known current version first
    before = await _assert_vault_equals_entra(world, container, uid)

    async def crash(done: str, user_id: str) -> None:
        if done == step:
            raise Crash(step)

    with pytest.raises(Crash):
        await run_rotation(container, world.connection.id, user_id=uid, after_step=crash)
    # the crashed run's lock is still held: a restart before it expires leaves the user alone
    busy = await run_rotation(container, world.connection.id)
    assert busy.skipped.get(uid) == rules.Skip.BUSY
    later = datetime.now(UTC) + rules.LOCK_TTL
    report = await run_rotation(container, world.connection.id, now=lambda: later)
    assert uid in report.resolved or uid in report.rotated
    after = await _assert_vault_equals_entra(world, container, uid)
    assert after != before
    if step != "marked_current":
        assert uid in report.resolved


async def test_without_a_directory_role_rotation_is_blocked_with_the_remedy_and_nobody_is_called_privileged(
    world: RotationWorld, container: Container
) -> None:
    """Learn: app-only resets need a permission AND a directory role. The token looks fine; every reset is 403."""
    control = world.stack.entra.control
    app = world.stack.app("customer")
    control.remove_directory_role(world.tid, app["client_id"], "User Administrator")
    try:
        report = await run_rotation(container, world.connection.id)
        u = world.users
        assert report.blocked and report.blocked["reason"] == "reset_role_missing"
        assert "User Administrator" in report.blocked["remedy"]
        assert rules.Skip.PRIVILEGED not in report.skipped.values()  # nobody marked privileged
        assert report.failed == {u[k]: "reset_role_missing" for k in ("ok1", "ok2", "privileged")}
        for kind in ("ok1", "ok2", "privileged"):
            assert world.entra_password(u[kind]) == world.initial[u[kind]]
        _, status, _ = await _sync_status(world)
        assert status["rotation"]["state"] == "blocked" and "User Administrator" in status["rotation"]["remedy"]
        actions = [r["action"] for r in await audit_trail(container.tables(), world.connection.id)]
        assert "rotation.blocked" in actions
    finally:
        control.assign_directory_role(world.tid, app["client_id"], "User Administrator")
    # with the role back, the same run rotates and Key Vault equals Entra; the status clears
    report = await run_rotation(container, world.connection.id)
    assert set(report.rotated) == {world.users["ok1"], world.users["ok2"]} and not report.blocked
    assert report.skipped[world.users["privileged"]] == rules.Skip.PRIVILEGED
    for kind in ("ok1", "ok2"):
        await _assert_vault_equals_entra(world, container, world.users[kind])
    _, status, _ = await _sync_status(world)
    assert status["rotation"]["state"] == "ok"


async def test_a_role_known_to_be_missing_blocks_before_any_reset_is_sent(
    world: RotationWorld, container: Container
) -> None:
    """With the optional RoleManagement.Read.Directory the connector reads its own role and sends no doomed reset."""
    control = world.stack.entra.control
    app = world.stack.app("customer")
    control.grant_permissions(world.tid, app["client_id"], ["RoleManagement.Read.Directory"])
    control.remove_directory_role(world.tid, app["client_id"], "User Administrator")
    await close_pool()  # a token taken from now on carries the new permission (a cached one would not)
    try:
        before = control.counters().get("users.update", 0)
        report = await run_rotation(container, world.connection.id)
        assert report.blocked["reason"] == "reset_role_missing"
        assert control.counters().get("users.update", 0) == before  # not one PATCH
        assert report.skipped == {} and report.rotated == {}
        control.assign_directory_role(world.tid, app["client_id"], "User Administrator")
        ready = await run_rotation(container, world.connection.id)
        assert set(ready.rotated) == {world.users["ok1"], world.users["ok2"]}
    finally:
        control.revoke_permissions(world.tid, app["client_id"], ["RoleManagement.Read.Directory"])
        control.assign_directory_role(world.tid, app["client_id"], "User Administrator")
        await close_pool()


async def _sync_status(world: RotationWorld) -> tuple[int, dict[str, Any], Any]:
    """GET /api/connections/{id}/status, called as the host would."""
    return await call("sync_status", request("GET", "s", route={"id": world.connection.id}))


async def test_two_connections_of_one_tenant_never_rotate_the_same_user(
    world: RotationWorld, container: Container
) -> None:
    """One rotation owner per user: a second connection to the tenant (the API refuses it unless asked, and then
    not with the same rotation group; nested groups can still overlap) skips the users the first one rotates."""
    first = world.connection
    ref = client_secret_ref(f"{first.id}b")
    await container.secrets().set(ref.name, world.stack.app("customer")["client_secret"], tags=ref.tags)
    credential = CredentialInfo(kind="secret", hint="x", secret_name=ref.name)
    second = first.with_changes(id=f"{first.id}b", credential=credential)
    await container.tables().upsert(names.CONNECTIONS, to_entity(second), replace=True)
    u = world.users
    rotatable = {u["ok1"], u["ok2"]}
    a = await run_rotation(container, first.id)
    b = await run_rotation(container, second.id, all=True)
    assert set(a.rotated) == rotatable and b.rotated == {}
    considered = {u[k] for k in ("ok1", "ok2", "onprem", "disabled", "privileged")}  # all claimed by the first
    assert {uid for uid, why in b.skipped.items() if why == rules.Skip.OTHER_OWNER} == considered
    for uid in rotatable:
        await _assert_vault_equals_entra(world, container, uid)  # the first connection's current is Entra's
    # once the first connection stops rotating, the second takes the users over
    stopped = first.with_changes(rotation_enabled=False)
    await container.tables().upsert(names.CONNECTIONS, to_entity(stopped), replace=True)
    taken = await run_rotation(container, second.id, all=True)
    assert set(taken.rotated) == rotatable
    for uid in rotatable:
        name = password_name(second.id, uid)
        current = newest_with(await container.secrets().versions(name), rules.CURRENT)
        assert current is not None
        assert (await container.secrets().get(name, current.version)).value.reveal() == world.entra_password(uid)
