"""Every run that started is in the run history with its outcome: succeeded, failed with the error code, continued,
awaiting approval, dry run (issue 14, defect 4); a run continued over several invocations records the table writes
of all of them (defect 9)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from shared import storage_names as names
from shared.errors import ConnectorError
from shared.services.directory_sync import run_sync
from shared.services.sync_jobs import JobMessage, run_job
from tests.integration.sync.conftest import SyncWorld


async def _history(world: SyncWorld) -> list[dict[str, Any]]:
    return [
        row async for row in world.tables.query(names.SYNC_RUNS, "PartitionKey eq @pk", {"pk": world.connection.id})
    ]


async def test_a_failed_run_is_in_the_history_with_its_error_code(world: SyncWorld) -> None:
    world.entra.control.set_fault("503", rate=1.0, count=1000, path_prefix="/v1.0")
    with pytest.raises(ConnectorError) as caught:
        await run_job(world.deps(), world.queues, world.connection, JobMessage(world.connection.id), budget_s=60)
    world.entra.control.clear_faults()
    [row] = await _history(world)
    assert row["outcome"] == "failed"
    assert row["error_code"] == caught.value.code
    assert row["ended_at"]
    ok = await run_job(world.deps(), world.queues, world.connection, JobMessage(world.connection.id), budget_s=60)
    assert ok is not None and ok.outcome == "succeeded"
    assert sorted(r["outcome"] for r in await _history(world)) == ["failed", "succeeded"]


async def test_dry_runs_and_continued_runs_are_in_the_history(world: SyncWorld) -> None:
    dry = await world.sync(mode="full", dry_run=True)
    assert [(r["run_id"], r["outcome"]) for r in await _history(world)] == [(dry.run_id, "dry_run")]
    first = await world.sync(budget_s=0)
    assert first.outcome == "continued"
    rows = {r["run_id"]: r for r in await _history(world)}
    assert rows[first.run_id]["outcome"] == "continued"
    while (await world.sync(budget_s=0.3)).outcome == "continued":
        pass
    rows = {r["run_id"]: r for r in await _history(world)}
    assert len(rows) == 2 and rows[first.run_id]["outcome"] == "succeeded"


async def test_a_run_continued_over_invocations_records_every_invocations_table_writes(world: SyncWorld) -> None:
    """Each invocation reports its own table writes through the progress callback; the run's record holds them all."""
    last: dict[str, int] = {}

    def progress(phase: str, counts: dict[str, int]) -> None:
        last["table_writes"] = counts["table_writes"]

    ticks = itertools.count()

    def clock() -> float:  # each look at the clock is 0.1 s later: the budget runs out after the same steps every time
        return next(ticks) * 0.1

    async def invoke(budget_s: float) -> Any:
        last.clear()
        result = await run_sync(world.deps(progress=progress, clock=clock), world.connection, budget_s=budget_s)
        return result, last.get("table_writes", 0)

    result, writes = await invoke(0)
    invocations = 1
    while result.outcome == "continued":
        result, own = await invoke(0.25)
        writes += own
        invocations += 1
    assert invocations > 2, "the run must span several invocations for this test to mean anything"
    [row] = await _history(world)
    assert row["invocations"] == invocations
    assert row["table_writes"] == writes == result.table_writes > own
    assert sum(json.loads(row["counts_json"]).values()) > 0
