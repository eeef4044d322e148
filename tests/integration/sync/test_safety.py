"""Removal behaviours, the deletion threshold and approval, dry runs, expired delta tokens, injected faults,
a run killed midway, and the lease that keeps two workers off one connection."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest

from shared.adapters.sync_state import SyncState
from shared.services.directory_sync import run_sync
from shared.services.sync_jobs import JobMessage, run_job
from tests.integration.sync.conftest import SyncWorld
from tests.integration.sync.test_changes import _nested_groups


@contextlib.asynccontextmanager
async def _shrunk_scope(world: SyncWorld) -> AsyncIterator[set[str]]:
    """Cut a nested group out of the scope tree (put back afterwards); yield the users that leave scope."""
    control, tid, sync_group = world.entra.control, world.tid, world.connection.sync_group_id
    assert sync_group
    before = set(control.ground_truth(tid)["users"])
    nested = (await _nested_groups(world, sync_group))[0]
    control.remove_member(tid, sync_group, nested)
    try:
        left = before - set(control.ground_truth(tid)["users"])
        assert left, "removing the nested group must take users out of scope"
        yield left
    finally:
        control.add_member(tid, sync_group, nested)


@pytest.mark.parametrize("behaviour", ["keep", "deactivate", "delete"])
async def test_each_removal_behaviour(world: SyncWorld, behaviour: str) -> None:
    world.connection = dataclasses.replace(world.connection, removal_behaviour=behaviour)
    await world.sync()
    async with _shrunk_scope(world) as left:
        result = await world.sync()
        assert result.outcome == "succeeded"
        users = await world.stored_users()
        if behaviour == "delete":
            assert not left & set(users)
        elif behaviour == "deactivate":
            assert {users[u]["status"] for u in left} == {"inactive"}
        else:
            assert all(users[u]["status"] in ("active", "disabled") and users[u]["in_scope"] is False for u in left)
        if behaviour != "keep":
            await world.assert_matches_ground_truth()


async def test_threshold_stops_before_any_removal_then_approval_applies(world: SyncWorld) -> None:
    world.connection = dataclasses.replace(world.connection, deletion_threshold=1)
    await world.sync()
    await world.events()
    async with _shrunk_scope(world) as left:
        assert len(left) > 1
        held = await world.sync()
        assert held.outcome == "awaiting_approval"
        users = await world.stored_users()
        assert all(users[u]["status"] != "inactive" for u in left), "nothing may be removed before approval"
        assert not [e for e in await world.events() if e["type"] in ("user.deactivated", "user.deleted")]
        _, items = await SyncState(world.tables, world.connection.id).approval()
        assert {i[1] for i in items if i[0] == "user.deactivated"} == left

        approved = await run_job(
            world.deps(), world.queues, world.connection, JobMessage(world.connection.id, approved=True), budget_s=60
        )
        assert approved is not None and approved.outcome == "succeeded"
        await world.assert_matches_ground_truth()
    status = await SyncState(world.tables, world.connection.id).status()
    assert status.state == "idle"
    assert (await SyncState(world.tables, world.connection.id).approval())[1] == []


async def test_dry_run_plans_and_writes_nothing(world: SyncWorld) -> None:
    dry = await world.sync(mode="full", dry_run=True)
    assert dry.outcome == "dry_run"
    truth = world.entra.control.ground_truth(world.tid)
    assert dry.counts["user.created"] == len(truth["users"])
    assert any(p["type"] == "user.created" for p in dry.planned)
    assert await world.stored_users() == {}
    assert await world.stored_links() == set()
    assert await world.events() == []
    assert await SyncState(world.tables, world.connection.id).checkpoint() is None


async def test_expired_delta_token_leads_to_full_resync_without_spurious_removals(world: SyncWorld) -> None:
    await world.sync()
    await world.events()
    world.entra.control.set_delta_max_age(3600)
    world.entra.control.advance_clock(7200)
    result = await world.sync()
    assert result.mode == "full"
    await world.assert_matches_ground_truth()
    kinds = {e["type"] for e in await world.events()}
    assert not kinds & {"user.deactivated", "user.deleted", "group.deleted", "membership.removed"}


async def test_injected_429_and_503_give_the_same_result(world: SyncWorld) -> None:
    control = world.entra.control
    control.set_fault("429", rate=1.0, count=3, retry_after=1, path_prefix="/v1.0")
    control.set_fault("503", rate=1.0, count=2, path_prefix="/v1.0")
    result = await world.sync()
    assert world.graph.stats.retries >= 5
    assert result.outcome == "succeeded"
    control.clear_faults()
    await world.assert_matches_ground_truth()


class _Killed(BaseException):
    """The worker process dying: nothing in the connector catches a BaseException."""


def _dying_at(die_at: int) -> Callable[[str, dict[str, int]], None]:
    """A progress callback that kills the run at its die_at-th report."""
    ticks = 0

    def die(phase: str, counts: dict[str, int]) -> None:
        nonlocal ticks
        ticks += 1
        if ticks == die_at:
            raise _Killed(phase)

    return die


@pytest.mark.parametrize("die_at", [1, 2, 3, 4])
async def test_a_run_killed_midway_converges_after_restart(world: SyncWorld, die_at: int) -> None:
    with pytest.raises(_Killed):
        await run_sync(world.deps(progress=_dying_at(die_at)), world.connection, budget_s=60)
    resumed = await world.sync()
    assert resumed.outcome == "succeeded"
    await world.assert_matches_ground_truth()
    truth = world.entra.control.ground_truth(world.tid)
    created = [e for e in await world.events() if e["type"] == "user.created"]
    assert {e["object_id"] for e in created} == set(truth["users"]), "every creation is announced, none lost"


async def test_a_run_out_of_budget_continues_in_the_next_invocation(world: SyncWorld) -> None:
    first = await world.sync(budget_s=0)
    assert first.outcome == "continued"
    rounds = 1
    while (result := await world.sync(budget_s=0.3)).outcome == "continued":
        rounds += 1
        assert rounds < 50
    assert result.outcome == "succeeded"
    await world.assert_matches_ground_truth()


async def test_two_workers_on_one_connection_one_runs_the_other_skips(world: SyncWorld) -> None:
    state = SyncState(world.tables, world.connection.id)
    assert await state.acquire_lease("worker-a", timedelta(minutes=5))
    skipped = await run_job(
        world.deps(), world.queues, world.connection, JobMessage(world.connection.id), budget_s=60, owner="worker-b"
    )
    assert skipped is None
    assert await world.stored_users() == {}
    await state.release_lease("worker-a")
    ran = await run_job(
        world.deps(), world.queues, world.connection, JobMessage(world.connection.id), budget_s=60, owner="worker-b"
    )
    assert ran is not None and ran.outcome == "succeeded"


async def test_repeated_failures_are_recorded_and_quarantine_the_connection(world: SyncWorld) -> None:
    from shared.adapters.entra_auth import CredentialTokens, make_credential
    from shared.adapters.graph import GraphClient
    from shared.errors import AuthenticationFailed
    from shared.services.directory_sync import SyncDeps

    app = next(a for a in world.tenant["apps"] if a["kind"] == "customer")
    wrong = make_credential(
        tenant_id=world.tid,
        client_id=app["client_id"],
        secret="not-the-secret",
        login_url=world.entra.login_url,
        ca_path=world.entra.ca_path,
        emulated=True,
    )
    tokens = CredentialTokens(wrong, "https://graph.microsoft.com/.default")
    graph = GraphClient(world.http, tokens, world.entra.graph_url)
    deps = SyncDeps(graph=graph, tables=world.tables, queues=world.queues)
    state = SyncState(world.tables, world.connection.id)
    try:
        for attempt in range(1, 4):
            with pytest.raises(AuthenticationFailed) as caught:
                await run_job(deps, world.queues, world.connection, JobMessage(world.connection.id), budget_s=60)
            assert caught.value.aadsts == 7000215
            status = await state.status()
            assert status.state == "failing" and status.consecutive_failures == attempt
            assert "7000215" in status.last_error
        assert status.retry_after is not None  # three in a row: retried hourly from now on
    finally:
        await tokens.close()
    ok = await run_job(world.deps(), world.queues, world.connection, JobMessage(world.connection.id), budget_s=60)
    assert ok is not None and ok.outcome == "succeeded"
    healed = await state.status()
    assert healed.consecutive_failures == 0 and healed.retry_after is None and healed.state == "idle"


@pytest.mark.parametrize("die_at", [1, 2, 3])
async def test_an_incremental_run_killed_midway_converges_and_announces_every_change(
    world: SyncWorld, die_at: int
) -> None:
    """An incremental run holds its user writes to send them with the membership writes: killed before, between or
    after them, the next run still writes and announces every change (same event ids when replayed)."""
    assert (await world.sync(mode="full")).outcome == "succeeded"
    await world.events()  # the full run's feed, read and dropped
    control, tid = world.entra.control, world.tid
    truth = control.ground_truth(tid)
    users = sorted(truth["users"])
    for uid in users[:3]:
        control.update_user(tid, uid, jobTitle=f"Killed run {die_at}")
    groups = sorted(g for g in truth["groups"] if g != world.connection.sync_group_id)
    members = {u for g, u in truth["memberships"] if g == groups[0]}
    newcomer = next(u for u in users if u not in members)
    control.add_member(tid, groups[0], newcomer)
    with pytest.raises(_Killed):
        await run_sync(world.deps(progress=_dying_at(die_at)), world.connection, budget_s=60)
    resumed = await world.sync()
    assert resumed.outcome == "succeeded" and resumed.mode == "incremental"
    await world.assert_matches_ground_truth()
    events = await world.events()
    assert {e["object_id"] for e in events if e["type"] == "user.updated"} >= set(users[:3])
    assert any(e["type"] == "membership.added" and e["object_id"] == newcomer for e in events)
