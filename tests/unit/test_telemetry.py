"""The run signals' pure parts: one record's message is `connector.signal <JSON>` and parses back (also behind a
job's log prefix, as Application Insights stores it); outcomes needing an operator are warnings; a rotation
report maps to its outcome; RunWatch counts only what happened since it started."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import pytest

from shared import telemetry
from shared.domain.rotation import RotationReport
from shared.logging_context import job_context


@dataclass
class FakeStats:
    throttled: int = 0
    total: int = 0


@dataclass
class FakeGraph:
    stats: FakeStats = field(default_factory=FakeStats)


def test_a_signal_parses_back_behind_the_job_prefix(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with job_context("c-1", "r-1"):
        sent = telemetry.emit("sync.run", "succeeded", objects_written=3)
    [record] = caplog.records
    assert record.getMessage().startswith("[connection c-1 run r-1] connector.signal {")
    assert (
        telemetry.parse(record.getMessage())
        == sent
        == {"signal": "sync.run", "outcome": "succeeded", "objects_written": 3}
    )
    assert telemetry.parse("sync full: succeeded") is None


@pytest.mark.parametrize(
    ("outcome", "level"),
    [("succeeded", logging.INFO), ("continued", logging.INFO), ("failed", logging.WARNING),
     ("awaiting_approval", logging.WARNING), ("blocked", logging.WARNING), ("quarantined", logging.WARNING)],
)  # fmt: skip
def test_outcomes_an_operator_must_see_are_warnings(caplog: pytest.LogCaptureFixture, outcome: str, level: int) -> None:
    caplog.set_level(logging.INFO)
    telemetry.emit("x", outcome)
    assert caplog.records[-1].levelno == level


def _report(**kw: object) -> RotationReport:
    report = RotationReport("c-1", "r-1")
    for key, value in kw.items():
        setattr(report, key, value)
    return report


@pytest.mark.parametrize(
    ("report", "error", "outcome"),
    [
        (_report(rotated={"u": "v"}), "", "succeeded"),
        (_report(pending={"u": "uncertain"}), "", "partial"),
        (_report(failed={"u": "graph_error"}), "", "partial"),
        (_report(blocked={"reason": "reset_role_missing"}), "", "blocked"),
        (_report(), "storage_unavailable", "failed"),
    ],
)
def test_a_rotation_report_maps_to_its_outcome(report: RotationReport, error: str, outcome: str) -> None:
    fields = telemetry.rotation_run(telemetry.RunWatch(None), report, error)
    assert fields["outcome"] == outcome and fields["error_code"] == error


def test_run_watch_counts_only_since_it_started() -> None:
    graph = FakeGraph(FakeStats(throttled=5, total=40))
    watch = telemetry.RunWatch(graph)
    graph.stats.throttled, graph.stats.total = 7, 52
    figures = watch.figures()
    assert figures["graph_429"] == 2 and figures["graph_requests"] == 12 and figures["duration_ms"] >= 0
    assert telemetry.RunWatch(None).figures()["graph_requests"] == 0
