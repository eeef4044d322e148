"""Every log line of a sync job names its connection and run (attributes and message prefix), including the
lines of the adapters it calls and of a run that restarts as a full sync; the SDK's per-request HTTP logging is
at WARNING once the worker has started, so its INFO lines never appear."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from shared import storage_names as names
from shared.logging_context import HTTP_LOGGER, PER_REQUEST_LOGGERS, job_context
from shared.services.sync_jobs import JobMessage, run_job
from tests.integration.sync.conftest import SyncWorld


def _job_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return list(caplog.records)  # every logger: ours, the SDKs', httpx


async def test_each_line_of_a_sync_job_carries_connection_and_run(
    world: SyncWorld, caplog: pytest.LogCaptureFixture
) -> None:
    control = world.entra.control
    await world.sync(mode="full")  # a delta link to expire
    control.force_delta_reset(world.tid)  # the incremental run restarts as a full one (a warning line)
    control.set_fault("429", rate=1.0, count=2, retry_after=0, path_prefix="/v1.0")  # retry lines (info)
    caplog.set_level(logging.INFO)
    for name in PER_REQUEST_LOGGERS:  # as in a fresh worker (other tests turn them up for their leak checks)
        logging.getLogger(name).setLevel(logging.NOTSET)
    caplog.clear()
    result = await run_job(
        world.deps(), None, world.connection, JobMessage(world.connection.id, "incremental", "t"), budget_s=480
    )
    assert result is not None and result.outcome == "succeeded"
    records = _job_records(caplog)
    assert any(r.levelno == logging.WARNING and "delta token expired" in r.getMessage() for r in records)
    assert any("retrying" in r.getMessage() for r in records)
    summary = records[-1].getMessage()  # the job's summary line, with the ids like every other
    assert "] sync full: succeeded, " in summary and " Graph requests, " in summary
    restart = next(n for n, r in enumerate(records) if "delta token expired" in r.getMessage())
    abandoned = records[restart].run_id  # the incremental run that found its delta token gone
    assert abandoned != result.run_id
    for number, record in enumerate(records):
        run = abandoned if number <= restart else result.run_id  # the full run that replaced it has its own id
        assert getattr(record, "connection_id", None) == world.connection.id, record.getMessage()
        assert getattr(record, "run_id", None) == run, record.getMessage()
        assert record.getMessage().startswith(f"[connection {world.connection.id} run {run}] ")
    assert len(records) - restart > 1, "lines of the replacing run were seen too"
    assert not [r for r in records if r.name in PER_REQUEST_LOGGERS and r.levelno < logging.WARNING]
    await world.queues.receive_events(names.DIRECTORY_CHANGES)


async def test_lines_outside_a_job_are_left_alone(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("shared.test")
    with caplog.at_level(logging.INFO), job_context("c-1", "r-1"):
        log.info("inside %s%%", 50)
    log.warning("outside")
    inside, outside = caplog.records[-2:]
    assert inside.getMessage() == "[connection c-1 run r-1] inside 50%"
    assert outside.getMessage() == "outside" and not hasattr(outside, "connection_id")


def test_the_http_logging_level_is_set_at_first_use_not_at_import() -> None:
    code = (
        "import logging, function_app, shared.composition\n"
        f"http = logging.getLogger({HTTP_LOGGER!r})\n"
        "before = http.level\n"
        "from shared.config import load_settings\n"
        "env = {'AzureWebJobsStorage': 'UseDevelopmentStorage=true', 'KEY_VAULT_URL': 'https://kv.example',"
        " 'PUBLIC_BASE_URL': 'http://localhost:7071'}\n"
        "shared.composition.Container(load_settings(env))\n"
        "print(before, http.level)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(logging.NOTSET), str(logging.WARNING)]
