"""The run signals an operator's alerts read (shared/telemetry.py, docs/infra.md Signals): a sync job's end is one
`connector.signal` record with its figures (objects written, Graph requests and 429s, duration, outcome); a run
held by the deletion threshold says awaiting_approval; a connection that keeps failing says quarantined. Each
record carries the job's ids and parses back to the fields the KQL queries read; none holds a secret or token."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from shared import storage_names as names
from shared import telemetry
from shared.adapters.sync_state import SyncState
from shared.errors import GraphUnavailable
from shared.services.sync_jobs import JobMessage, record_failure, run_job
from tests.integration.sync.conftest import SyncWorld


def _signals(caplog: pytest.LogCaptureFixture, name: str) -> list[tuple[logging.LogRecord, dict[str, object]]]:
    found = []
    for record in caplog.records:
        fields = telemetry.parse(record.getMessage())
        if fields is not None and fields["signal"] == name:
            found.append((record, fields))
    return found


async def test_a_sync_job_ends_with_one_signal_holding_its_figures(
    world: SyncWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    world.entra.control.set_fault("429", rate=1.0, count=2, retry_after=0, path_prefix="/v1.0")
    job = JobMessage(world.connection.id, "full", "t")
    result = await run_job(world.deps(), None, world.connection, job, budget_s=480)
    assert result is not None and result.outcome == "succeeded"
    [(record, fields)] = _signals(caplog, "sync.run")
    assert fields["outcome"] == "succeeded" and fields["mode"] == "full"
    assert fields["run_id"] == result.run_id and fields["connection_id"] == world.connection.id
    assert fields["objects_written"] == result.table_writes > 0
    assert fields["graph_requests"] == result.graph_requests > 0
    assert fields["graph_429"] == 2  # the two injected throttles, each retried
    assert isinstance(fields["duration_ms"], int) and fields["duration_ms"] >= 0
    assert record.levelno == logging.INFO
    assert getattr(record, "run_id", None) == result.run_id  # with the job's ids, like every line of the job
    token = await world.tokens.token()
    secret = next(a for a in world.tenant["apps"] if a["kind"] == "customer")["client_secret"]
    assert token not in record.getMessage() and secret not in record.getMessage()
    await world.queues.receive_events(names.DIRECTORY_CHANGES)


async def test_a_run_held_by_the_deletion_threshold_is_a_warning_signal(
    world: SyncWorld, caplog: pytest.LogCaptureFixture
) -> None:
    held = dataclasses.replace(world.connection, deletion_threshold=0)
    await run_job(world.deps(), None, held, JobMessage(held.id, "full", "t"), budget_s=480)
    truth = world.entra.control.ground_truth(world.tid, held.sync_group_id)
    world.entra.control.delete_user(world.tid, sorted(truth["users"])[0])
    caplog.set_level(logging.INFO)
    result = await run_job(world.deps(), None, held, JobMessage(held.id, "incremental", "t"), budget_s=480)
    assert result is not None and result.outcome == "awaiting_approval"
    [(record, fields)] = _signals(caplog, "sync.run")
    assert fields["outcome"] == "awaiting_approval" and fields["removals_pending"] == 1
    assert record.levelno == logging.WARNING
    await world.queues.receive_events(names.DIRECTORY_CHANGES)


async def test_the_failure_that_quarantines_a_connection_is_signalled_once_quarantined(
    world: SyncWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    state = SyncState(world.tables, world.connection.id)
    for _ in range(3):
        await record_failure(state, GraphUnavailable("Graph could not be reached", code="graph_unavailable"))
    [(record, fields)] = _signals(caplog, "connection.quarantined")  # the third failure quarantines
    assert fields["failures"] == 3 and fields["error_code"] == "graph_unavailable"
    assert fields["connection_id"] == world.connection.id and str(fields["until"]) > ""
    assert record.levelno == logging.WARNING


async def test_a_sync_job_that_fails_signals_failed_with_its_code_and_throttles(
    world: SyncWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    world.entra.control.set_fault("429", rate=1.0, retry_after=None, path_prefix="/v1.0")  # every Graph request
    with pytest.raises(GraphUnavailable):
        await run_job(world.deps(), None, world.connection, JobMessage(world.connection.id, "full", "t"), budget_s=480)
    [(record, fields)] = _signals(caplog, "sync.run")
    assert fields["outcome"] == "failed" and fields["error_code"] == "graph_unavailable"
    assert fields["graph_429"] == fields["graph_requests"] > 0  # every request was throttled
    assert fields["run_id"] == getattr(record, "run_id", None) != ""
    assert record.levelno == logging.WARNING
