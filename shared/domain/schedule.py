"""When a connection's scheduled sync is due: the latest scheduled slot in the admin's time zone, and quarantine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.domain.connection import WEEKDAYS, Schedule

TOKEN_REFRESH_AGE = timedelta(days=5)  # delta links die after 7 days: a weekly schedule refreshes them before


def parse_time(value: str) -> tuple[int, int]:
    hours, minutes = value.split(":")
    h, m = int(hours), int(minutes)
    if not (0 <= h < 24 and 0 <= m < 60):
        raise ValueError(f"{value!r} is not a time of day (HH:MM)")
    return h, m


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone") from None


def _instant(year: int, month: int, day: int, h: int, m: int, tz: ZoneInfo) -> datetime:
    """The UTC instant of a local time. Compared as instants: two aware datetimes of one zone compare by wall time,
    which put a slot in the spring-forward gap at the jump (03:00) while its instant is later (03:30).
    A local time that does not exist (spring forward) is read with the offset before the jump, so 02:30 in a gap
    from 02:00 to 03:00 is 03:30 new time; one that happens twice (fall back) is its first occurrence
    (PEP 495 `fold=0` both times)."""
    return datetime(year, month, day, h, m, tzinfo=tz, fold=0).astimezone(UTC)


def _days(schedule: Schedule) -> set[str]:
    """The weekdays a schedule runs on: every day when daily (whatever weekdays an older row was stored with)."""
    return set(WEEKDAYS) if schedule.frequency == "daily" else set(schedule.weekdays)


def latest_slot(schedule: Schedule, now: datetime) -> datetime | None:
    """The most recent scheduled moment at or before `now` (UTC), or None if no weekday is chosen."""
    tz = zone(schedule.timezone)
    h, m = parse_time(schedule.time_of_day)
    local_now = now.astimezone(tz)
    days = _days(schedule)
    for back in range(8):
        day = local_now.date() - timedelta(days=back)
        if WEEKDAYS[day.weekday()] not in days:
            continue
        slot = _instant(day.year, day.month, day.day, h, m, tz)
        if slot <= now:
            return slot
    return None


def next_slot(schedule: Schedule, now: datetime) -> datetime | None:
    tz = zone(schedule.timezone)
    h, m = parse_time(schedule.time_of_day)
    local_now = now.astimezone(tz)
    for ahead in range(8):
        day = local_now.date() + timedelta(days=ahead)
        if WEEKDAYS[day.weekday()] not in _days(schedule):
            continue
        slot = _instant(day.year, day.month, day.day, h, m, tz)
        if slot > now:
            return slot
    return None


def quarantine_until(failures: int, now: datetime) -> datetime | None:
    """Repeated failures back off: after 3 in a row, retry hourly; after 6, daily."""
    if failures >= 6:
        return now + timedelta(days=1)
    if failures >= 3:
        return now + timedelta(hours=1)
    return None


def due_reason(
    schedule: Schedule,
    now: datetime,
    last_slot_done: datetime | None,
    delta_obtained_at: datetime | None,
    retry_after: datetime | None,
) -> str | None:
    """'schedule', 'token_refresh' or None. Quarantine (retry_after in the future) holds everything back."""
    if retry_after is not None and retry_after > now:
        return None
    slot = latest_slot(schedule, now)
    if slot is not None and (last_slot_done is None or slot > last_slot_done):
        return "schedule"
    if delta_obtained_at is not None and now - delta_obtained_at > TOKEN_REFRESH_AGE:
        return "token_refresh"
    return None
