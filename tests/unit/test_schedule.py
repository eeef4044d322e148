"""Schedule decisions with literal times: daily/weekly slots in the admin's zone, token refresh, quarantine."""

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.connection import Schedule
from shared.domain.schedule import due_reason, latest_slot, next_slot, quarantine_until

NOW = datetime(2026, 11, 18, 9, 30, tzinfo=UTC)  # a Wednesday


def test_daily_slot_is_today_after_the_time_and_yesterday_before() -> None:
    schedule = Schedule(time_of_day="02:00", timezone="UTC")
    assert latest_slot(schedule, NOW) == datetime(2026, 11, 18, 2, 0, tzinfo=UTC)
    assert latest_slot(schedule, datetime(2026, 11, 18, 1, 0, tzinfo=UTC)) == datetime(2026, 11, 17, 2, 0, tzinfo=UTC)


def test_time_zone_is_honoured() -> None:
    schedule = Schedule(time_of_day="09:00", timezone="America/New_York")  # 14:00 UTC in November
    assert latest_slot(schedule, NOW) == datetime(2026, 11, 17, 14, 0, tzinfo=UTC)
    assert next_slot(schedule, NOW) == datetime(2026, 11, 18, 14, 0, tzinfo=UTC)


def test_weekly_runs_only_on_chosen_days() -> None:
    schedule = Schedule(frequency="weekly", weekdays=("mon",), time_of_day="03:00", timezone="Europe/Berlin")
    assert latest_slot(schedule, NOW) == datetime(2026, 11, 16, 2, 0, tzinfo=UTC)
    assert next_slot(schedule, NOW) == datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def test_due_once_per_slot() -> None:
    schedule = Schedule(time_of_day="02:00")
    assert due_reason(schedule, NOW, None, None, None) == "schedule"
    done = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)
    assert due_reason(schedule, NOW, done, NOW - timedelta(hours=7), None) is None


def test_weekly_schedule_refreshes_delta_links_before_they_expire() -> None:
    schedule = Schedule(frequency="weekly", weekdays=("mon",))
    slot = datetime(2026, 11, 16, 2, 0, tzinfo=UTC)
    assert due_reason(schedule, NOW, slot, NOW - timedelta(days=2), None) is None
    assert due_reason(schedule, NOW, slot, NOW - timedelta(days=5, hours=1), None) == "token_refresh"


def test_quarantine_holds_back_then_backs_off_hourly_then_daily() -> None:
    assert quarantine_until(2, NOW) is None
    assert quarantine_until(3, NOW) == NOW + timedelta(hours=1)
    assert quarantine_until(6, NOW) == NOW + timedelta(days=1)
    assert due_reason(Schedule(), NOW, None, None, NOW + timedelta(minutes=5)) is None


def test_bad_zone_and_time_are_named() -> None:
    with pytest.raises(ValueError, match="IANA"):
        latest_slot(Schedule(timezone="Mars/Olympus"), NOW)
    with pytest.raises(ValueError, match="time of day"):
        latest_slot(Schedule(time_of_day="25:00"), NOW)


def test_a_daily_schedule_runs_every_day_whatever_weekdays_it_was_stored_with() -> None:
    """A contradictory schedule stored before input refused them (issue 14, defect 10) runs as its frequency says."""
    stored = Schedule(frequency="daily", weekdays=("mon",), time_of_day="02:00", timezone="UTC")
    assert latest_slot(stored, NOW) == datetime(2026, 11, 18, 2, 0, tzinfo=UTC)  # a Wednesday
    assert next_slot(stored, NOW) == datetime(2026, 11, 19, 2, 0, tzinfo=UTC)


BERLIN_0230 = Schedule(time_of_day="02:30", timezone="Europe/Berlin")


def test_a_slot_in_the_spring_forward_gap_runs_when_next_due_says() -> None:
    """Issue 14, defect 11: 02:30 does not exist on 2026-03-29 in Berlin (02:00 CET jumps to 03:00 CEST). The rule
    (docs/sync.md): read with the offset before the jump, i.e. 03:30 CEST (01:30 UTC), for both the run and next_due."""
    at_three = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00 CEST, the clocks just jumped
    yesterday = datetime(2026, 3, 28, 1, 30, tzinfo=UTC)  # 02:30 CET
    assert latest_slot(BERLIN_0230, at_three) == yesterday
    assert due_reason(BERLIN_0230, at_three, yesterday, None, None) is None
    assert next_slot(BERLIN_0230, at_three) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    at_slot = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert latest_slot(BERLIN_0230, at_slot) == at_slot
    assert due_reason(BERLIN_0230, at_slot, yesterday, None, None) == "schedule"
    for now in (at_three, at_slot, at_slot + timedelta(minutes=1)):
        slot = latest_slot(BERLIN_0230, now)
        assert slot is not None and slot <= now, "the slot marker never lies in the future"


def test_a_repeated_local_time_in_the_fall_back_hour_runs_once_at_its_first_occurrence() -> None:
    """On 2026-10-25 Berlin's 02:30 happens twice (CEST 00:30 UTC, then CET 01:30 UTC): the first one counts."""
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert next_slot(BERLIN_0230, first - timedelta(minutes=1)) == first
    second = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert latest_slot(BERLIN_0230, second + timedelta(minutes=1)) == first
    assert due_reason(BERLIN_0230, second + timedelta(minutes=1), first, None, None) is None
    assert next_slot(BERLIN_0230, first) == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)
