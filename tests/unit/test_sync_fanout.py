"""The scheduler's fan-out messages, pure: what a message carries (ids, reasons and slots only), chunks of at most
FANOUT_CHUNK, and malformed messages refused by name."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared import storage_names as names
from shared.errors import ValidationError
from shared.services.sync_fanout import FANOUT_CHUNK, Due, chunks, fanout_message, parse_fanout

SLOT = "2026-12-01T00:00:00+00:00"


def _due(n: int) -> list[Due]:
    return [Due(f"00000000-0000-4000-8000-{i:012d}", "schedule" if i % 3 else "token_refresh", SLOT) for i in range(n)]


def test_a_message_round_trips_as_json_and_names_nothing_but_ids_reasons_and_slots() -> None:
    due = _due(7)
    message = fanout_message(due)
    assert parse_fanout(json.dumps(message).encode()) == due
    assert set(message) == {"due"} and all(len(entry) == 3 for entry in message["due"])


def test_chunks_hold_at_most_the_chunk_size_and_keep_the_order() -> None:
    due = _due(2 * FANOUT_CHUNK + 1)
    parts = chunks(due)
    assert [len(p) for p in parts] == [FANOUT_CHUNK, FANOUT_CHUNK, 1]
    assert [d for p in parts for d in p] == due
    assert chunks([]) == []


def test_a_job_and_its_marker_are_what_the_worker_and_the_scan_read() -> None:
    (due,) = _due(1)
    assert due.job() == {"connection_id": due.connection_id, "mode": "incremental", "trigger": "token_refresh"}
    assert due.marker() == {"PartitionKey": names.SCHEDULER_SLOTS, "RowKey": due.connection_id, "last_slot": SLOT}


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        {},
        {"due": []},
        {"due": "x"},
        {"due": [["a", "schedule"]]},
        {"due": [["a", "schedule", ""]]},
        {"due": [["a", "someday", SLOT]]},
        {"due": [["a", "schedule", 5]]},
        {"due": [["c", "schedule", SLOT]] * (FANOUT_CHUNK + 1)},
    ],
)
def test_a_malformed_message_is_refused_naming_the_field(body: Any) -> None:
    with pytest.raises(ValidationError) as refused:
        parse_fanout(body)
    assert set(refused.value.problems) <= {"due", "body"}
