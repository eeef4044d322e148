"""The alert rules read what the code writes: each query takes the fields out of a signal message exactly as
shared/telemetry.py writes it (prefix and offset) and filters on signal names and outcomes the code emits; the
poison-queue rule matches the queue names the app uses. (Every rule on and notifying the action group: checkov's
CKV_CONN_8.)"""

from __future__ import annotations

import re

from shared import storage_names as names
from shared import telemetry
from tests.infra.bicep import INFRA, parse, resources

ALERTS = INFRA / "app" / "alerts.bicep"
RULE = "Microsoft.Insights/scheduledQueryRules"


def _queries() -> dict[str, str]:
    text = ALERTS.read_text()
    signals = re.search(r"var signals = '(.*)'", text)
    assert signals is not None
    rules = resources(parse(ALERTS), RULE)
    out = {}
    for name in rules:
        match = re.search(rf"resource {name} .*?query: '(.*?)'\n", text, re.S)
        assert match is not None, name
        out[name] = match.group(1).replace("${signals}", signals.group(1))
    return out


def test_the_queries_read_the_signal_as_the_code_writes_it() -> None:
    queries = _queries()
    assert set(queries) == {"quarantined", "deletionHeld", "rotationBlocked", "poisonQueues"}
    reading = f'substring(message, indexof(message, "{telemetry.PREFIX}") + {len(telemetry.PREFIX)})'
    for name in ("quarantined", "deletionHeld", "rotationBlocked"):
        assert f'message contains "{telemetry.PREFIX}"' in queries[name] and reading in queries[name]
    assert 'tostring(s.signal) == "connection.quarantined"' in queries["quarantined"]
    assert 'tostring(s.signal) == "sync.run" and tostring(s.outcome) == "awaiting_approval"' in queries["deletionHeld"]
    assert 'tostring(s.signal) == "rotation.run" and tostring(s.outcome) == "blocked"' in queries["rotationBlocked"]


def test_the_signals_the_queries_name_are_the_ones_emitted() -> None:
    fields = telemetry.quarantined("c", 3, "2026-01-01T00:00:00+00:00", "graph_unavailable")
    assert (fields["signal"], fields["outcome"]) == ("connection.quarantined", "quarantined")
    assert {"connection_id", "error_code"} <= set(fields)
    assert "awaiting_approval" in telemetry.ATTENTION and "blocked" in telemetry.ATTENTION


def test_the_poison_rule_matches_every_queue_of_the_app() -> None:
    pattern = re.search(r'extract\(@"(.*?)"', _queries()["poisonQueues"])
    assert pattern is not None
    for queue in (names.SYNC_JOBS, names.ROTATION_JOBS, names.PURGE_JOBS, names.SYNC_FANOUT):
        line = f"Message has reached MaxDequeueCount of 5. Moving message to queue '{queue}-poison'."
        found = re.search(pattern.group(1), line)
        assert found is not None and found.group(1) == f"{queue}-poison"
