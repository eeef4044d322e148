"""Purge rules, pure: every table has a scope (a new table without one fails here), scopes select only the
connection's rows, progress round-trips, and job messages are checked."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared import storage_names as names
from shared.domain.purge import PurgeProgress, history_user, parse_purge_message, purge_message, row_scopes
from shared.errors import ValidationError

CID = "2b1f0c3e-5d4a-4c1e-9a57-0b9e8c1d2e3f"


def test_every_table_of_the_app_is_covered_and_the_connection_row_goes_last() -> None:
    scopes = row_scopes(CID)
    covered = [scope.table for scope in scopes]
    assert len(covered) == len(set(covered))
    assert {*covered, names.CONNECTIONS} == set(names.TABLES)  # connections: its own row, removed after all
    assert covered[-1] == names.SYNC_STATE  # the purge's lease lives there: it goes last


def _selects(scope_table: str, partition: str, row: dict[str, str] | None = None) -> bool:
    """Evaluate a scope's filter on one row's keys, as Table Storage would (the few forms the scopes use)."""
    (scope,) = [s for s in row_scopes(CID) if s.table == scope_table]
    values = {"PartitionKey": partition, **(row or {})}
    p = scope.parameters
    if scope.filter == "PartitionKey eq @pk":
        return values["PartitionKey"] == p["pk"]
    if scope.filter == "PartitionKey ge @lo and PartitionKey lt @hi":
        return p["lo"] <= values["PartitionKey"] < p["hi"]
    if scope.filter == "PartitionKey eq @pk or ( PartitionKey eq @shared and RowKey eq @pk )":
        return values["PartitionKey"] == p["pk"] or (
            values["PartitionKey"] == p["shared"] and values.get("RowKey") == p["pk"]
        )
    if scope.filter == "connection_id eq @cid":
        return values.get("connection_id") == p["cid"]
    raise AssertionError(f"unexpected filter {scope.filter}")


@pytest.mark.parametrize(
    ("table", "partition", "row", "selected"),
    [
        (names.DIRECTORY_USERS, CID, None, True),
        (names.DIRECTORY_USERS, "another-connection", None, False),
        (names.DIRECTORY_MEMBERS, f"{CID}_group-1", None, True),
        (names.DIRECTORY_MEMBERS, f"{CID}x_group-1", None, False),
        (names.DIRECTORY_MEMBERS, CID, None, False),
        (names.ROTATION_HISTORY, f"{CID}_user-1", None, True),
        (names.ROTATION_HISTORY, f"{CID[:-1]}0_user-1", None, False),
        (names.CONSENT_STATES, "state", {"connection_id": CID}, True),
        (names.CONSENT_STATES, "state", {"connection_id": "someone-else"}, False),
        (names.AUDIT, CID, {"connection_id": CID}, True),
        (names.AUDIT, "all", {"connection_id": CID}, True),  # the deployment-wide copy goes too
        (names.AUDIT, "all", {"connection_id": "another-connection"}, False),
        (names.AUDIT, "deployment", {"connection_id": ""}, False),
        (names.SYNC_STATE, CID, {"RowKey": "cursor-users"}, True),
        (names.SYNC_STATE, names.SCHEDULER_SLOTS, {"RowKey": CID}, True),  # the scheduler's marker of its slot
        (names.SYNC_STATE, names.SCHEDULER_SLOTS, {"RowKey": "another-connection"}, False),
        (names.SYNC_STATE, "another-connection", {"RowKey": CID}, False),
        (names.AGENTS, "agent", {"connection_id": CID}, True),
        (names.AGENTS, f"jobs_{CID}", {"connection_id": CID}, True),
        (names.AGENTS, "code", {"connection_id": "another-connection"}, False),
        (names.AGENT_NONCES, "0123456789abcdef0123456789abcdef", {"connection_id": CID}, True),
        (names.AGENT_NONCES, "0123456789abcdef0123456789abcdef", {"connection_id": "x"}, False),
    ],
)
def test_scopes_select_the_connections_rows_only(
    table: str, partition: str, row: dict[str, str] | None, selected: bool
) -> None:
    assert _selects(table, partition, row) is selected


def test_history_partitions_name_their_user() -> None:
    assert history_user(CID, f"{CID}_user-1") == "user-1"
    assert history_user(CID, f"{CID}_") is None
    assert history_user(CID, "other_user-1") is None


def test_progress_round_trips_and_counts_rows() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    progress = PurgeProgress(job_id="j1", requested_at=at, updated_at=at).with_rows("dirusers", 3)
    progress = progress.with_rows("dirusers", 2).advanced(phase="tables", secrets_purged=7, detail="x")
    again = PurgeProgress.from_json(progress.to_json())
    assert again == progress
    assert again.public_view()["rows_removed"] == {"dirusers": 5}
    assert again.public_view()["requested_at"] == "2026-01-02T03:04:05Z"


def test_messages_carry_ids_only_and_bad_ones_are_refused() -> None:
    assert parse_purge_message(purge_message(CID, "j1")) == (CID, "j1")
    for bad in (None, [], {}, {"connection_id": CID}, {"connection_id": 1, "job_id": "j"}, {"job_id": "j"}):
        with pytest.raises(ValidationError):
            parse_purge_message(bad)
