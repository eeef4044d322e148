"""Run signals for operators: one structured log record at the end of every sync and rotation run (objects
written, Graph requests and 429s, duration, outcome) and one when a connection is quarantined. The Functions host's
Application Insights integration sends each as a `traces` row whose message holds `connector.signal <JSON>` (after
the job's `[connection C run R] ` prefix), which KQL reads with `parse_json(substring(message, indexof(message,
"connector.signal ") + 17))` (docs/infra.md, Signals; the host drops logging's `extra`, so the fields travel in
the message). Never a secret: only ids, counts, codes and durations."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("connector.signals")
PREFIX = "connector.signal "
# outcomes an operator must look at are logged at WARNING (they also stand out in the portal's log view)
ATTENTION = frozenset({"failed", "awaiting_approval", "blocked", "quarantined"})


def emit(signal: str, outcome: str, **fields: Any) -> dict[str, Any]:
    """Log one signal record; returns its fields (what the message carries)."""
    payload = {"signal": signal, "outcome": outcome, **fields}
    level = logging.WARNING if outcome in ATTENTION else logging.INFO
    log.log(level, "%s%s", PREFIX, json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str))
    return payload


def parse(message: str) -> dict[str, Any] | None:
    """The fields of a signal message (what the KQL queries do), or None for any other message."""
    at = message.find(PREFIX)
    if at < 0:
        return None
    value = json.loads(message[at + len(PREFIX) :])
    return value if isinstance(value, dict) else None


@dataclass
class RunWatch:
    """Started when a run's invocation starts: its duration, and the Graph client's 429s and requests since."""

    graph: Any = None  # a GraphClient (its `stats`), or None
    started: float = field(default_factory=time.monotonic)
    throttled_before: int = 0
    requests_before: int = 0

    def __post_init__(self) -> None:
        stats = getattr(self.graph, "stats", None)
        self.throttled_before = int(getattr(stats, "throttled", 0)) if stats is not None else 0
        self.requests_before = int(getattr(stats, "total", 0)) if stats is not None else 0

    def figures(self) -> dict[str, Any]:
        stats = getattr(self.graph, "stats", None)
        throttled = int(getattr(stats, "throttled", 0)) - self.throttled_before if stats is not None else 0
        requests = int(getattr(stats, "total", 0)) - self.requests_before if stats is not None else 0
        return {
            "duration_ms": round((time.monotonic() - self.started) * 1000),
            "graph_requests": requests,
            "graph_429": throttled,
        }


def sync_run(watch: RunWatch, connection_id: str, result: Any) -> dict[str, Any]:
    """A sync invocation ended with a RunResult (succeeded, continued, awaiting_approval)."""
    figures = watch.figures()
    figures["graph_requests"] = int(getattr(result, "graph_requests", 0)) or figures["graph_requests"]
    counts = dict(getattr(result, "counts", {}) or {})
    return emit(
        "sync.run",
        str(result.outcome),
        connection_id=connection_id,
        run_id=str(result.run_id),
        mode=str(result.mode),
        objects_written=int(result.table_writes),
        removals_pending=int(counts.get("removals.pending", 0)),
        errors=len(result.errors),
        **figures,
    )


def sync_failed(watch: RunWatch, connection_id: str, code: str) -> dict[str, Any]:
    """A sync invocation ended with a typed error (recorded on the connection's status); the run id is the job's."""
    from shared.logging_context import current_run

    run_id = current_run()
    return emit("sync.run", "failed", connection_id=connection_id, run_id=run_id, error_code=code, **watch.figures())


def quarantined(connection_id: str, failures: int, until: str, code: str) -> dict[str, Any]:
    """Repeated failures held the connection's schedule back until `until`."""
    return emit(
        "connection.quarantined",
        "quarantined",
        connection_id=connection_id,
        failures=failures,
        until=until,
        error_code=code,
    )


def rotation_run(watch: RunWatch, report: Any, error_code: str = "") -> dict[str, Any]:
    """A rotation run ended: its report's figures (never a password), or the error that ended it."""
    if error_code:
        outcome = "failed"
    elif report.blocked:
        outcome = "blocked"
    elif report.failed or report.pending:
        outcome = "partial"
    else:
        outcome = "succeeded"
    return emit(
        "rotation.run",
        outcome,
        connection_id=str(report.connection_id),
        run_id=str(report.run_id),
        rotated=len(report.rotated),
        resolved=len(report.resolved),
        pending=len(report.pending),
        failed=len(report.failed),
        skipped=len(report.skipped),
        not_due=int(report.not_due),
        objects_written=len(report.rotated) + len(report.resolved),
        blocked_reason=str((report.blocked or {}).get("reason", "")),
        error_code=error_code,
        **watch.figures(),
    )
