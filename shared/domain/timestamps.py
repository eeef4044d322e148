"""Timestamps as the connector stores and shows them: UTC, ISO 8601 with a trailing Z."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def from_iso(value: Any) -> datetime | None:
    """A stored timestamp back as an aware datetime; None for empty. Naive values are taken as UTC."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
