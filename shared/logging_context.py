"""Logging of the worker, set up at first use (never at import). A job (a sync or a rotation of one connection)
runs inside `job_context`; every log record made meanwhile, by our code or an SDK, in that task or a task it
starts, carries `connection_id` and `run_id` attributes and begins with `[connection C run R]`, so one run can be
followed in Application Insights by searching its ids. Also: the Azure SDK's per-request HTTP logging
(azure.core.pipeline.policies.http_logging_policy, INFO for every request and response) goes to WARNING in the
Python worker: host.json's `Azure.Core` filter applies to the host's own logs and does not reach the worker
(httpx's per-request INFO line too)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

HTTP_LOGGER = "azure.core.pipeline.policies.http_logging_policy"
# httpx (the Graph adapter's client) also writes one INFO line per request: at Graph's volume, the same noise
PER_REQUEST_LOGGERS = (HTTP_LOGGER, "httpx")
NO_RUN = "-"  # before the run is known (a sync finds its run in the checkpoint it resumes)


@dataclass
class JobLog:
    """The ids a job's log lines carry; the run id is filled in once the job knows it."""

    connection_id: str
    run_id: str = NO_RUN

    @property
    def prefix(self) -> str:
        return f"[connection {self.connection_id} run {self.run_id}] "


_job: ContextVar[JobLog | None] = ContextVar("job_log", default=None)
_installed: list[Callable[..., logging.LogRecord]] = []  # the factory we wrapped, once installed


def configure_logging() -> None:
    """Idempotent: quiet the SDK's HTTP logging (unless someone chose a level for it) and install the record
    factory that stamps job ids. Called when the first Container or job starts."""
    for name in PER_REQUEST_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)
    if not _installed:
        previous = logging.getLogRecordFactory()
        _installed.append(previous)
        logging.setLogRecordFactory(_stamping(previous))


def _stamping(previous: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        job = _job.get()
        if job is not None and not hasattr(record, "connection_id"):
            record.connection_id = job.connection_id
            record.run_id = job.run_id
            prefix = job.prefix.replace("%", "%%") if record.args else job.prefix
            record.msg = prefix + str(record.msg)
        return record

    return factory


@contextlib.contextmanager
def job_context(connection_id: str, run_id: str = NO_RUN) -> Iterator[JobLog]:
    """Log lines inside carry the connection and run; an inner job of the same connection (a worker calling the
    job function) shares the outer one's ids, so a run id found inside shows on the outer lines too."""
    configure_logging()
    current = _job.get()
    if current is not None and current.connection_id == connection_id:
        if run_id != NO_RUN:
            current.run_id = run_id
        yield current
        return
    token = _job.set(JobLog(connection_id, run_id))
    try:
        job = _job.get()
        assert job is not None
        yield job
    finally:
        _job.reset(token)


def bind_run(run_id: str) -> None:
    """The current job's run id, once known (no effect outside a job, e.g. a dry run from the API)."""
    job = _job.get()
    if job is not None:
        job.run_id = run_id


def current_run() -> str:
    """The current job's run id ("" outside a job or before the run is known)."""
    job = _job.get()
    return job.run_id if job is not None and job.run_id != NO_RUN else ""
