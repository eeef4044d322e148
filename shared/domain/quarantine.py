"""Whether a connection is quarantined (repeated sync failures hold its scheduled runs back) and how to show it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.domain.timestamps import to_iso


def quarantine_view(
    retry_after: datetime | None, last_error: str, failures: int, now: datetime
) -> dict[str, Any] | None:
    """`{"until", "reason", "consecutive_failures"}` while the quarantine lasts, None otherwise. The reason is the
    last failure as recorded (its code and plain message, never a secret)."""
    if retry_after is None or retry_after <= now:
        return None
    return {"until": to_iso(retry_after), "reason": last_error or "repeated failures", "consecutive_failures": failures}
