"""The run's state and its checkpoint form: what a continued invocation restores is what the last one saved."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from shared.adapters.sync_state import Checkpoint, checkpoint_data, checkpoint_of
from shared.services.sync_run_state import RunState


def _busy_checkpoint() -> Checkpoint:
    return Checkpoint(
        run_id="r1",
        mode="groups",
        trigger="schedule",
        started_at=datetime(2026, 3, 29, 1, 30, 0, 123000, tzinfo=UTC),
        phase="removals",
        users_next="https://graph.example/v1.0/users?$skiptoken=abc",
        new_users_delta="https://graph.example/v1.0/users/delta?$deltatoken=u",
        new_groups_delta="https://graph.example/v1.0/groups/delta?$deltatoken=g",
        counts={"user.created": 3, "membership.added": 7},
        graph_requests=12,
        errors=["a user without an id was skipped"],
        invocations=2,
        table_writes=40,
        scope_dirty=True,
        stale_groups=["g2", "g1"],
    )


def test_a_state_round_trips_through_the_checkpoint_form() -> None:
    state = RunState.resume(_busy_checkpoint())
    state.scope_dirty = True
    state.stale_groups = ["g9"]
    restored = RunState.resume(checkpoint_of(checkpoint_data(state.cp)))
    assert restored.cp == state.cp
    assert restored.scope_dirty is True and restored.stale_groups == ["g9"]
    assert restored.checkpointed  # a resumed run knows a checkpoint row exists (the commit deletes it)


def test_the_working_set_is_not_carried_and_a_new_run_starts_empty() -> None:
    state = RunState.resume(replace(_busy_checkpoint(), invocations=0, scope_dirty=False, stale_groups=[]))
    state.scope.add("u1")
    restored = RunState.resume(checkpoint_of(checkpoint_data(state.cp)))
    assert restored.scope == set() and not restored.checkpointed
    assert restored.scope_complete and not restored.scope_dirty and restored.stale_groups == []


def test_a_checkpoint_from_an_older_or_newer_version_still_loads() -> None:
    old = '{"run_id": "r0", "mode": "full", "trigger": "t", "started_at": "2026-01-01T00:00:00Z", "phase": "groups"}'
    cp = checkpoint_of(old)
    assert (cp.phase, cp.scope_dirty, cp.stale_groups) == ("groups", False, [])
    newer = old[:-1] + ', "a_field_from_later": 1}'
    assert checkpoint_of(newer) == cp
